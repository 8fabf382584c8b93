//! Low-level hooks for code that builds on the runtime without being part of
//! it: the `monkey` layer and the networking types. "Am I in a coroutine",
//! "wait for this fd", "sleep until", "yield", with variants that never
//! unwind (for `extern "C"` frames).
//!
//! Every wait here parks through the scheduler's functions (`sched`), and
//! the only hub state it reads is what the scheduler hands out as plain
//! numbers: whether a coroutine runs, and the stack counters of
//! [`stack_stats`] (read through the scheduler's `stack_counters`). It never
//! touches a task's fields.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use crate::interrupt::Interrupted;
use crate::reactor::{READABLE, WRITABLE};
use crate::sched::{hub, try_hub, FdEntry};
use crate::wait_list::WaitResult;

pub use crate::blocking::spawn_blocking_no_unwind;
pub use crate::sched::RemoteUnparker;
pub use crate::sched::{park, park_no_unwind, remote_unparker, unparker, Park};
pub use crate::task::{ParkedOn, Unparker};

/// Which readiness to wait for.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Interest {
    /// Data to read, a connection to accept, or the peer closed.
    Read,
    /// Room to write, or a connect finished.
    Write,
}

impl Interest {
    #[inline]
    fn mask(self) -> u8 {
        match self {
            Interest::Read => READABLE,
            Interest::Write => WRITABLE,
        }
    }
}

/// What this thread's hub knew about an fd's readiness for one direction
/// just before an I/O attempt (see [`fd_readiness`]).
///
/// The hub remembers readiness per registered fd: events set it, and
/// [`clear`](Self::clear) after an attempt that found the fd not ready
/// unsets it, so the next attempt can park at once instead of making a
/// syscall that would only say `EAGAIN`. A clear is dropped if an event
/// arrived after this snapshot was taken, so it never hides newer data.
pub struct FdReadiness {
    entry: Option<Rc<FdEntry>>,
    mask: u8,
    tick: u32,
    ready: bool,
}

impl FdReadiness {
    /// False only when the fd is known not to be ready: the last attempt
    /// saw `EAGAIN` (or a short stream transfer) and no event came since.
    /// Then park with [`wait_fd`] before trying. True means ready or not
    /// known (an fd never registered, a renewed number, another thread):
    /// try the call.
    #[inline]
    pub fn may_be_ready(&self) -> bool {
        self.ready
    }

    /// Record that the attempt made after this snapshot found the fd not
    /// ready: it failed with `EAGAIN`, or it was a *stream* read or write
    /// that moved fewer bytes than asked (and more than zero: a read of 0
    /// is EOF, which stays readable). Never call it for results that do
    /// not prove the kernel queue was empty (datagrams, peeks, accepts that
    /// succeeded). An unregistered fd has nothing to clear.
    #[inline]
    pub fn clear(&self) {
        if let Some(e) = &self.entry {
            e.readiness.clear(self.mask, self.tick);
        }
    }

    /// [`wait_fd`] for the fd and direction of this snapshot, taken since
    /// with no park in between: parks on the entry the snapshot already
    /// holds instead of looking it up again.
    #[inline]
    pub fn wait(&self, fd: RawFd, deadline: Option<Instant>) -> io::Result<()> {
        unwound(self.wait_inner(fd, deadline, true))
    }

    /// [`wait_fd_no_unwind`] on this snapshot's entry, as [`wait`](Self::wait)
    /// is `wait_fd`'s.
    #[inline]
    pub fn wait_no_unwind(&self, fd: RawFd, deadline: Option<Instant>) -> io::Result<()> {
        no_unwind(self.wait_inner(fd, deadline, false))
    }

    #[inline]
    fn wait_inner(
        &self,
        fd: RawFd,
        deadline: Option<Instant>,
        unwind: bool,
    ) -> Result<io::Result<()>, Interrupted> {
        let interest = if self.mask == READABLE {
            Interest::Read
        } else {
            Interest::Write
        };
        match &self.entry {
            Some(e) => wait_entry(e, fd, interest, deadline, unwind),
            None => wait_fd_inner(fd, interest, deadline, unwind),
        }
    }
}

/// Snapshot what this thread's hub knows about `fd`'s readiness for
/// `interest`, before trying a non-blocking call on it. Never registers the
/// fd and never makes a syscall; outside a hub, or for an fd this hub has
/// not registered (or whose number was closed and reused since), the
/// readiness is unknown and [`FdReadiness::may_be_ready`] is true.
///
/// The loop every cooperative I/O call runs:
/// take the snapshot; if the fd may be ready, try the call, and on
/// `EAGAIN` (or a short stream transfer) [`clear`](FdReadiness::clear);
/// on `EAGAIN`, or when the fd was known not ready, park with [`wait_fd`]
/// and start over.
#[inline]
pub fn fd_readiness(fd: RawFd, interest: Interest) -> FdReadiness {
    let mask = interest.mask();
    let entry = try_hub().and_then(|h| h.fd_lookup(fd));
    let (ready, tick) = match &entry {
        Some(e) => e.readiness.snapshot(mask),
        None => (true, 0),
    };
    FdReadiness {
        entry,
        mask,
        tick,
        ready,
    }
}

/// True when called from inside a coroutine on this thread.
#[inline]
pub fn in_coroutine() -> bool {
    try_hub().is_some_and(|h| h.in_coroutine())
}

/// Park until `fd` is ready for `interest` or `deadline` passes.
///
/// Call it only after the operation returned `EAGAIN`/`WouldBlock`, or when
/// [`fd_readiness`] said the fd is known not to be ready (the fd is
/// registered edge-triggered on first use, so the next change is reported).
/// It parks even if the fd's readiness is set: it waits for the next event.
/// Errors: `TimedOut` at the deadline; `EBADF`-kind if the fd is forgotten
/// (closed) while waiting, or cannot be polled. Unwinds on kill or an
/// expiring `green::timeout`.
pub fn wait_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    unwound(wait_fd_inner(fd, interest, deadline, true))
}

/// The outcome of an unwinding wait (kill unwinds from here).
#[inline]
fn unwound(r: Result<io::Result<()>, Interrupted>) -> io::Result<()> {
    match r {
        Ok(r) => r,
        Err(i) => match i {
            Interrupted::Killed => crate::sched::raise(crate::interrupt::Interrupt::Killed),
            // Unreachable with `unwind = true`; map defensively.
            Interrupted::Elapsed => Err(io::Error::from(io::ErrorKind::TimedOut)),
        },
    }
}

/// Like [`wait_fd`] but never unwinds: kill becomes `ECANCELED` and an
/// expiring enclosing timeout becomes `ETIMEDOUT`.
pub fn wait_fd_no_unwind(
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    no_unwind(wait_fd_inner(fd, interest, deadline, false))
}

/// The outcome of a non-unwinding wait: an interruption as its errno.
#[inline]
fn no_unwind(r: Result<io::Result<()>, Interrupted>) -> io::Result<()> {
    r.unwrap_or_else(|i| Err(io::Error::from_raw_os_error(i.errno())))
}

fn wait_fd_inner(
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
    unwind: bool,
) -> Result<io::Result<()>, Interrupted> {
    let entry = match hub().fd_entry(fd) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    wait_entry(&entry, fd, interest, deadline, unwind)
}

/// Park on `entry`, the registered entry of `fd`.
#[inline]
fn wait_entry(
    entry: &FdEntry,
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
    unwind: bool,
) -> Result<io::Result<()>, Interrupted> {
    let list = match interest {
        Interest::Read => &entry.readers,
        Interest::Write => &entry.writers,
    };
    let r = list.wait_as(deadline, ParkedOn::Fd(fd), unwind)?;
    if entry.closed.get() {
        return Ok(Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "green: the fd was closed while this coroutine waited on it",
        )));
    }
    Ok(match r {
        WaitResult::Notified => Ok(()),
        WaitResult::TimedOut => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "green: I/O timed out",
        )),
    })
}

/// Tell the blocked-loop monitor that `green::monkey` has patched blocking
/// calls in this process: from then on, a report about a blocking call a
/// hook could reach names it as one the hooks do not make cooperative,
/// instead of advising `patch_all`. Called by `patch_all`; idempotent.
pub fn note_monkey_patched() {
    crate::monitor::set_monkey_patched();
}

/// Forget everything about `fd` before closing it: deregister it and wake
/// its waiters with an error. Safe to call for fds never waited on.
pub fn forget_fd(fd: RawFd) {
    if let Some(h) = try_hub() {
        h.forget_fd(fd);
    }
}

/// Tell every hub that the number `fd` was just closed, replaced (`dup2`,
/// `dup3`) or handed out fresh, on any thread: a registration any hub still
/// holds for it belongs to a file that is gone (the kernel drops closed files
/// from epoll by itself), and the next wait on that number registers again.
///
/// Cheap (one atomic add) and safe anywhere: it allocates nothing, takes no
/// lock and touches no thread-local, so a `close` hook may call it before
/// `main`, during thread teardown or in a forked child. Call it *after* the
/// close: a registration racing with it is then seen as stale, never kept.
/// A spurious call only costs the next waiter a re-registration.
#[inline]
pub fn fd_renewed(fd: RawFd) {
    crate::reactor::fd_renewed(fd);
}

/// Park until `deadline` without unwinding. `Ok` when the time came.
pub fn sleep_until_no_unwind(deadline: Option<Instant>) -> Result<(), Interrupted> {
    crate::spawn::sleep_until(deadline, false)
}

/// Yield without unwinding.
pub fn yield_no_unwind() -> Result<(), Interrupted> {
    let hub = hub();
    hub.yield_inner().map_err(|i| hub.interrupted(i))
}

/// Counters of this thread's stack regions (see [`stack_stats`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StackStats {
    /// Regions mapped so far (each costs two kernel mappings).
    pub regions_mapped: usize,
    /// Bytes copied out of and back into shared regions so far.
    pub bytes_copied: u64,
}

/// Stack-region counters of this thread's hub (zeros if it has none).
///
/// ```
/// let s = green::Runtime::new().max_regions(1).run(|| {
///     let hs: Vec<_> = (0..3).map(|_| green::spawn(green::yield_now)).collect();
///     green::joinall(hs);
///     green::rt::stack_stats()
/// }).unwrap();
/// assert_eq!(s.regions_mapped, 1);
/// assert!(s.bytes_copied > 0, "three coroutines shared one region");
/// ```
pub fn stack_stats() -> StackStats {
    let (regions_mapped, bytes_copied) = crate::sched::stack_counters();
    StackStats {
        regions_mapped,
        bytes_copied,
    }
}

/// Small runtime allocations (task records, saved stack bytes) in use on
/// this thread. A diagnostic for leak tests: after every coroutine of a
/// batch has finished and its handle is gone, it returns to where it was.
#[doc(hidden)]
pub fn live_records() -> usize {
    crate::arena::live_blocks()
}
