//! Fd waits: the reactor entry (readiness wait-lists) of an fd, and
//! forgetting an fd that is being closed (its waiters wake with an error).

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use super::Hub;
use crate::reactor::FdWaiters;
use crate::task::WaitList;

/// What waits on one registered fd.
#[derive(Default)]
pub(crate) struct FdEntry {
    /// This hub closed the fd: waiters must not retry it.
    pub(crate) closed: Cell<bool>,
    pub(crate) readers: WaitList,
    pub(crate) writers: WaitList,
}

impl FdWaiters for FdEntry {
    fn renewed(&self) {
        self.readers.notify_all();
        self.writers.notify_all();
    }

    fn closed(&self) {
        self.closed.set(true);
    }
}

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
