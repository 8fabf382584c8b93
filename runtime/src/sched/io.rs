//! Fd waits: the reactor entry (readiness record and wait-lists) of an fd,
//! waking its waiters when an event arrives, and forgetting an fd that is
//! being closed (its waiters wake with an error).

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use super::Hub;
use crate::reactor::{FdWaiters, Readiness};
use crate::task::WaitList;

/// What waits on one registered fd.
#[derive(Default)]
pub(crate) struct FdEntry {
    /// This hub closed the fd: waiters must not retry it.
    pub(crate) closed: Cell<bool>,
    /// What is known of the fd's readiness (set by events, cleared by
    /// callers that saw it not ready).
    pub(crate) readiness: Readiness,
    pub(crate) readers: WaitList,
    pub(crate) writers: WaitList,
}

impl FdWaiters for FdEntry {
    fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    fn renewed(&self) {
        self.readers.notify_all();
        self.writers.notify_all();
    }

    fn closed(&self) {
        self.closed.set(true);
    }
}

impl FdEntry {
    /// An event arrived (the reactor already recorded it in `readiness`):
    /// wake every waiter of each ready direction, so each retries its own
    /// call; the ones that find nothing clear the bit and park again.
    ///
    /// Kept out of line: the run loop inlines the event loop, and with this
    /// wake loop inlined too the loop compiled slower for every hand-off
    /// (`benches/channel.rs`: 103–138 ns against 96–100 ns out of line).
    #[inline(never)]
    pub(crate) fn wake_ready(&self, r: bool, w: bool) {
        if r {
            self.readers.notify_all();
        }
        if w {
            self.writers.notify_all();
        }
    }
}

impl Hub {
    /// The registered entry of `fd`, if any, without registering it.
    #[inline]
    pub(crate) fn fd_lookup(&self, fd: i32) -> Option<Rc<FdEntry>> {
        self.reactor.borrow().lookup(fd)
    }

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
