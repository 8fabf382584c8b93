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
    /// Wake the waiters of the fds one poll found ready, in three passes
    /// over the batch so that the cache misses of many coroutines overlap
    /// instead of coming one at a time: first the records of the tasks
    /// about to be woken are loaded, then they are woken, then the tops of
    /// their stacks are loaded ahead of the resumes. With thousands of
    /// connections, every one of those lines is cold by the time its next
    /// request comes (the entries themselves were loaded by the poll).
    pub(super) fn wake_fd_batch(&self, ready: &mut Vec<(Rc<FdEntry>, bool, bool)>) {
        if ready.len() > 1 {
            for (e, r, w) in ready.iter() {
                if *r {
                    e.readers.prefetch_front();
                }
                if *w {
                    e.writers.prefetch_front();
                }
            }
        }
        let from = self.ready.len();
        for (e, r, w) in ready.drain(..) {
            e.wake_ready(r, w);
        }
        if self.ready.len() > from + 1 {
            self.ready.prefetch_stacks_from(from);
        }
    }

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
