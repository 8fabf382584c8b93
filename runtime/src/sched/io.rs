//! Fd waits: the reactor entry (readiness wait-lists) of an fd, and
//! forgetting an fd that is being closed (its waiters wake with an error).

use std::io;
use std::rc::Rc;

use super::Hub;
use crate::reactor::FdEntry;

impl Hub {
    pub(crate) fn fd_entry(&self, fd: i32) -> io::Result<Rc<FdEntry>> {
        self.reactor.borrow_mut().entry(fd)
    }

    pub(crate) fn forget_fd(&self, fd: i32) {
        let e = self.reactor.borrow_mut().forget(fd);
        if let Some(e) = e {
            e.readers.notify_all();
            e.writers.notify_all();
        }
    }
}
