//! File-descriptor readiness: the mio `Poll`, one registration per fd, and
//! readiness → wake of the tasks waiting on that fd.
//!
//! Registrations live in a table indexed by fd (O(1)); each is registered with
//! mio once, edge-triggered, for both directions. The mio token carries the fd
//! *and* a generation, so an event for a closed fd whose number was reused
//! never wakes the new owner's waiters. Closing goes through [`Reactor::forget`],
//! which wakes every waiter of that fd so nobody hangs on a dead fd.
//!
//! This module never parks and never runs user code: waiting is done by the
//! caller on the entry's wait-lists through `hub`.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::wait::WaitList;

/// Token of the cross-thread waker.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// One registered fd.
pub(crate) struct FdEntry {
    pub(crate) closed: std::cell::Cell<bool>,
    pub(crate) readers: WaitList,
    pub(crate) writers: WaitList,
}

pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    fds: Vec<Option<(u32, Rc<FdEntry>)>>,
    next_gen: u32,
    registered: usize,
    pub(crate) waker: Arc<Waker>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            fds: Vec::new(),
            next_gen: 1,
            registered: 0,
            waker,
        })
    }

    /// Number of fds registered now.
    pub(crate) fn registered(&self) -> usize {
        self.registered
    }

    /// The entry for `fd`, registering it with the poller on first use.
    pub(crate) fn entry(&mut self, fd: RawFd) -> io::Result<Rc<FdEntry>> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let i = fd as usize;
        if let Some(Some((_, e))) = self.fds.get(i) {
            return Ok(e.clone());
        }
        if self.fds.len() <= i {
            self.fds.resize_with(i + 1, || None);
        }
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let token = Token(((gen as usize) << 32) | i);
        self.poll.registry().register(
            &mut SourceFd(&fd),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let e = Rc::new(FdEntry {
            closed: std::cell::Cell::new(false),
            readers: WaitList::new(),
            writers: WaitList::new(),
        });
        self.fds[i] = Some((gen, e.clone()));
        self.registered += 1;
        Ok(e)
    }

    /// Forget `fd` before it is closed: deregister, and hand back its entry so
    /// the caller can wake its waiters (they see `closed`).
    pub(crate) fn forget(&mut self, fd: RawFd) -> Option<Rc<FdEntry>> {
        let slot = self.fds.get_mut(fd as usize)?;
        let (_, e) = slot.take()?;
        self.registered -= 1;
        // The fd may already be gone from epoll (closed elsewhere); either
        // way it is no longer ours, so the error is irrelevant.
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        e.closed.set(true);
        Some(e)
    }

    /// Wait for events up to `timeout`, returning the entries to wake
    /// (readers, writers) and whether the cross-thread waker fired.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(Rc<FdEntry>, bool, bool)>,
    ) -> io::Result<bool> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut woke = false;
        for ev in self.events.iter() {
            if ev.token() == WAKER_TOKEN {
                woke = true;
                continue;
            }
            let t = ev.token().0;
            let fd = t & 0xFFFF_FFFF;
            let gen = (t >> 32) as u32;
            if let Some(Some((g, e))) = self.fds.get(fd) {
                if *g != gen {
                    continue; // stale: that fd number belongs to someone else now
                }
                let err = ev.is_error();
                let r = ev.is_readable() || ev.is_read_closed() || err;
                let w = ev.is_writable() || ev.is_write_closed() || err;
                ready.push((e.clone(), r, w));
            }
        }
        Ok(woke)
    }
}
