//! Building blocks for cooperative I/O and for code that must not unwind.
//!
//! Most programs never need this module: [`green::net`](crate::net) and
//! the monkey layer (`green::monkey`) already make sockets and blocking
//! calls cooperative. It is for wrapping a file descriptor green does not
//! know about (a device, an `inotify` or `signalfd` descriptor, an fd
//! handed out by a C library) so that waiting on it parks only the calling
//! coroutine:
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::os::fd::AsRawFd;
//! use std::os::unix::net::UnixStream;
//! use green::rt::{self, Interest};
//!
//! let (mut a, mut b) = UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! let reader = green::spawn(move || -> io::Result<Vec<u8>> {
//!     let mut buf = [0u8; 16];
//!     let n = loop {
//!         let ready = rt::fd_readiness(a.as_raw_fd(), Interest::Read);
//!         if ready.may_be_ready() {
//!             match a.read(&mut buf) {
//!                 Ok(n) => break n,
//!                 Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear(),
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!         // Parks this coroutine only, until the fd is readable.
//!         ready.wait(a.as_raw_fd(), None)?;
//!     };
//!     // A descriptor that was waited on is closed through the hub.
//!     rt::close_fd(a.into());
//!     Ok(buf[..n].to_vec())
//! });
//! green::spawn(move || b.write_all(b"ping")).join().unwrap()?;
//! assert_eq!(reader.join().unwrap()?, b"ping");
//! # Ok::<(), io::Error>(())
//! ```
//!
//! Every wait here parks the calling coroutine (or, on a thread's root,
//! runs the hub until the wait ends) and obeys kill and
//! [`timeout`](crate::timeout). The `*_no_unwind` variants report those
//! interruptions as errors instead of unwinding, for code running under an
//! `extern "C"` frame, which a panic must never cross; begun with one
//! already pending (reported before, and the caller went on), they park
//! for a short back-off first ([`backoff_if_interrupted`]), so a caller
//! that retries never spins.

// Contributor note: everything here parks through the scheduler's
// functions (`sched`); the only hub state read directly is what the
// scheduler hands out as plain numbers (whether a coroutine runs, the stack
// counters). Never a task's fields.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::interrupt::{Interrupt, Interrupted};
use crate::marker::{Bound, ThreadBound, THREAD_BOUND};
use crate::reactor::{READABLE, WRITABLE};
use crate::sched::{hub, try_hub, FdEntry, Hub};
use crate::wait_list::WaitResult;

// Used by greenhub-monkey; not a stable API.
#[doc(hidden)]
pub use crate::blocking::spawn_blocking_no_unwind;
// The scheduler's park/unpark primitives. Used by greenhub's own tests and
// benchmarks; not a stable API.
#[doc(hidden)]
pub use crate::sched::{park, park_no_unwind, remote_unparker, unparker, Park, RemoteUnparker};
// `Unparker` goes with `unparker`. Not a stable API.
#[doc(hidden)]
pub use crate::task::Unparker;
/// `ParkedOn` is documented at the crate root (it is what run-info
/// reports); this name is kept for `park`'s callers.
// An alias rather than a re-export: crates that re-export this one (the
// `green` facade) would show a re-export of a documented type again here.
// Not a stable API.
#[doc(hidden)]
pub type ParkedOn = crate::task::ParkedOn;

/// Which readiness to wait for: [`wait_fd`], [`fd_readiness`].
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
///
/// A snapshot belongs to the thread that took it
/// ([`ThreadBound`]).
pub struct FdReadiness {
    entry: Option<Bound<Rc<FdEntry>>>,
    mask: u8,
    tick: u32,
    ready: bool,
    _thread: PhantomData<ThreadBound>,
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
        if !unwind && self.entry.is_some() {
            // (With no entry, `wait_fd_inner` below does this.)
            let hub = hub();
            if let Some(i) = hub.pending_interrupt() {
                return Err(back_off(hub, i, None));
            }
        }
        match &self.entry {
            Some(_) if hub().foreign() => Ok(wait_fd_thread(fd, interest, deadline)),
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
/// on `EAGAIN`, or when the fd was known not ready, park with
/// [`FdReadiness::wait`] (or [`wait_fd`]) and start over. The
/// [module example](self) shows it.
#[inline]
pub fn fd_readiness(fd: RawFd, interest: Interest) -> FdReadiness {
    let mask = interest.mask();
    let entry = try_hub().and_then(|h| h.fd_lookup(fd));
    let (ready, tick) = match &entry {
        Some(e) => e.readiness.snapshot(mask),
        None => (true, 0),
    };
    FdReadiness {
        entry: entry.map(Bound),
        mask,
        tick,
        ready,
        _thread: THREAD_BOUND,
    }
}

/// True when called from inside a coroutine; false on a thread's root
/// context (`main`, a plain thread) and on threads that never used green.
/// Never creates a hub.
///
/// ```
/// assert!(!green::rt::in_coroutine());
/// assert!(green::spawn(green::rt::in_coroutine).join().unwrap());
/// ```
#[inline]
pub fn in_coroutine() -> bool {
    // A forked child's copy of the hub is not a hub to park on: the process
    // forked from a coroutine passes straight through.
    try_hub().is_some_and(|h| h.in_coroutine() && !h.foreign())
}

/// Whether a blocking call made here should wait cooperatively instead of
/// blocking the thread: inside a coroutine; and on a thread's root context
/// (`main`, a plain thread that used green) when its hub has something to
/// run meanwhile or a deadline to keep — a live coroutine, or a
/// [`timeout`](crate::timeout) around the root — so that the root waits
/// by running the hub inline, as [`sleep`](crate::spawn::sleep) there does.
/// False inside the hub's own loop (a destructor or callback it runs), in a
/// process forked from a thread with a hub, and on a thread without a hub;
/// never creates one. The monkey layer's hooks take their cooperative path
/// only when this is true.
///
/// ```
/// assert!(!green::rt::cooperative()); // no coroutine on this thread yet
/// let h = green::spawn(green::rt::cooperative);
/// assert!(green::rt::cooperative()); // the root has a coroutine to run
/// assert!(h.join().unwrap()); // and a coroutine always waits cooperatively
/// assert!(!green::rt::cooperative());
/// ```
#[inline]
pub fn cooperative() -> bool {
    try_hub().is_some_and(|h| {
        if h.in_coroutine() {
            !h.foreign()
        } else {
            h.root_may_park()
        }
    })
}

/// How long a wait that must not unwind parks when it begins with a kill or
/// an expired [`timeout`](crate::timeout) already pending, before it
/// reports it ([`backoff_if_interrupted`]).
pub const INTERRUPT_BACKOFF: Duration = Duration::from_millis(10);

/// For code that cannot unwind and must not spin: if a kill or an expired
/// enclosing [`timeout`](crate::timeout) is pending for the caller (it was
/// reported before, and the caller went on), park for
/// [`INTERRUPT_BACKOFF`] — the hub runs the other coroutines meanwhile, and
/// the interruption stays pending (a kill that comes meanwhile ends the
/// park early) — and return it; else return `Ok` at once, without
/// switching. Every `*_no_unwind` wait of this module does this first, so a
/// loop that retries a failing wait after a kill gives the hub the CPU
/// instead of spinning on it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use green::{rt, Interrupted};
/// let r = green::timeout(Duration::from_millis(5), || {
///     // The deadline cuts this wait short ...
///     assert_eq!(rt::sleep_until_no_unwind(None), Err(Interrupted::Elapsed));
///     // ... and every later wait backs off before it fails.
///     let t = Instant::now();
///     assert_eq!(rt::backoff_if_interrupted(), Err(Interrupted::Elapsed));
///     assert!(t.elapsed() >= rt::INTERRUPT_BACKOFF);
///     7
/// });
/// // The deadline fired inside: the closure's value is dropped.
/// assert!(r.is_err());
/// assert_eq!(rt::backoff_if_interrupted(), Ok(()));
/// ```
pub fn backoff_if_interrupted() -> Result<(), Interrupted> {
    let Some(hub) = try_hub() else {
        return Ok(());
    };
    match hub.pending_interrupt() {
        None => Ok(()),
        Some(i) => Err(back_off(hub, i, None)),
    }
}

/// Park `hub`'s running task (or its root) for the back-off, or until
/// `until` if that comes first, while `i` is pending; return what is
/// pending then, as reported (a kill stays pending, a timeout counts as
/// fired).
#[cold]
#[inline(never)]
fn back_off(hub: &Hub, i: Interrupt, until: Option<Instant>) -> Interrupted {
    let cap = crate::clock::now() + INTERRUPT_BACKOFF;
    hub.park_backoff(until.map_or(cap, |u| u.min(cap)));
    hub.interrupted(hub.pending_interrupt().unwrap_or(i))
}

/// Park until `fd` is ready for `interest` or `deadline` passes (`None`:
/// no deadline).
///
/// `fd` must be in non-blocking mode. Call this only after an operation on
/// it returned `EAGAIN`/`WouldBlock`, or when [`fd_readiness`] said it is
/// known not to be ready: the first wait registers the fd with the hub's
/// event loop, edge-triggered, so only the next change is reported, and
/// the wait parks even if the fd is ready now. A descriptor that was
/// waited on must be closed with [`close_fd`].
///
/// # Errors
/// `ErrorKind::TimedOut` at the deadline; `ErrorKind::NotConnected` if the
/// fd was closed (with [`close_fd`], or by a `green::net` type) while this
/// waited; the event loop's own error if the fd cannot be polled (a
/// regular file: use [`spawn_blocking`](crate::blocking::spawn_blocking) for those).
/// Unwinds on kill and on an expiring [`timeout`](crate::timeout).
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

/// Like [`wait_fd`] but never unwinds: a kill fails the wait with the OS
/// error `ECANCELED` (and the coroutine unwinds at its next ordinary park),
/// an expiring enclosing [`timeout`](crate::timeout) with `ETIMEDOUT` (see
/// [`Interrupted::errno`]); begun with one of those pending already, it
/// fails that way after the [back-off](backoff_if_interrupted). For code
/// under an `extern "C"` frame.
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
    let hub = hub();
    if !unwind {
        if let Some(i) = hub.pending_interrupt() {
            return Err(back_off(hub, i, None));
        }
    }
    if hub.foreign() {
        // Registering would change the parent's epoll set.
        return Ok(wait_fd_thread(fd, interest, deadline));
    }
    let entry = match hub.fd_entry(fd) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    wait_entry(&entry, fd, interest, deadline, unwind)
}

/// A wait in a forked child, whose copy of the hub must not run: the
/// thread polls `fd` itself.
#[cold]
fn wait_fd_thread(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let ms = match deadline {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(crate::clock::now());
                i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
            }
        };
        match crate::sys::poll_one(fd, events, ms) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "green: I/O timed out",
                ))
            }
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
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
// Used by greenhub-monkey; not a stable API.
#[doc(hidden)]
pub fn note_monkey_patched() {
    crate::monitor::set_monkey_patched();
}

/// Forget everything about `fd` before closing it: deregister it and wake
/// its waiters with an error. Safe to call for fds never waited on.
// Used by greenhub-monkey and `green::net`; users close through
// `close_fd`. Not a stable API.
#[doc(hidden)]
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
// Used by greenhub-monkey and `green::net`; users close through
// `close_fd`. Not a stable API.
#[doc(hidden)]
#[inline]
pub fn fd_renewed(fd: RawFd) {
    crate::reactor::fd_renewed(fd);
}

/// Close `fd`, a descriptor that coroutines on this thread may have waited
/// on with [`wait_fd`] or [`FdReadiness::wait`].
///
/// The hub registers a descriptor with its event loop the first time a
/// coroutine waits on it, and keeps the registration under its number.
/// Closing through this function drops the registration, wakes every
/// coroutine still waiting on the descriptor (their waits fail with
/// `ErrorKind::NotConnected`), closes it, and tells every thread's hub
/// that the number is free, so a descriptor that gets the same number
/// later starts afresh. Closing it any other way (dropping its owner)
/// leaves the registration behind, unless `green::monkey` is patched in
/// (its `close` hook does the same as this function): a later descriptor
/// with that number could then wait for ever.
///
/// `green::net` types need none of this: they close themselves this way.
pub fn close_fd(fd: OwnedFd) {
    let raw = fd.as_raw_fd();
    forget_fd(raw);
    drop(fd);
    // After the close: a registration racing with it is then seen as stale.
    fd_renewed(raw);
}

/// Park until `deadline` (`None`: until interrupted) without unwinding.
///
/// `Ok` when the time came; `Err` when a kill or an enclosing
/// [`timeout`](crate::timeout) cut the sleep short. A kill reported this
/// way stays pending: the coroutine unwinds at its next ordinary park.
/// Begun with one pending already, the sleep lasts the
/// [back-off](backoff_if_interrupted) at most: `Ok` if that reached
/// `deadline`, else `Err`.
/// For code under an `extern "C"` frame, which a panic must never cross;
/// elsewhere use [`sleep`](crate::spawn::sleep).
///
/// ```
/// use std::time::{Duration, Instant};
/// let at = Instant::now() + Duration::from_millis(5);
/// assert_eq!(green::rt::sleep_until_no_unwind(Some(at)), Ok(()));
/// assert!(Instant::now() >= at);
/// ```
pub fn sleep_until_no_unwind(deadline: Option<Instant>) -> Result<(), Interrupted> {
    let hub = hub();
    if let Some(i) = hub.pending_interrupt() {
        let r = back_off(hub, i, deadline);
        if deadline.is_some_and(|at| crate::clock::now() >= at) {
            return Ok(());
        }
        return Err(r);
    }
    crate::spawn::sleep_until(deadline, false)
}

/// [`yield_now`](crate::spawn::yield_now) without unwinding: `Err` instead of
/// unwinding when a kill or an expired enclosing
/// [`timeout`](crate::timeout) is pending (a kill stays pending, as for
/// [`sleep_until_no_unwind`]); with one pending as it begins, it parks for
/// the [back-off](backoff_if_interrupted) instead of yielding.
pub fn yield_no_unwind() -> Result<(), Interrupted> {
    let hub = hub();
    if let Some(i) = hub.pending_interrupt() {
        return Err(back_off(hub, i, None));
    }
    hub.yield_inner().map_err(|i| hub.interrupted(i))
}

/// Counters of this thread's stack regions (see [`stack_stats`]).
///
/// Coroutine stacks live in *regions* (each a memory mapping with a guard
/// page). While regions are free, each running coroutine has one of its
/// own; past the budget (`Runtime::max_regions`),
/// coroutines share regions and the hub copies each one's used stack bytes
/// out and back in as they take turns.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StackStats {
    /// Regions mapped so far (each costs two kernel mappings).
    pub regions_mapped: usize,
    /// Bytes copied out of and back into shared regions so far.
    pub bytes_copied: u64,
}

/// Stack-region counters of this thread's hub (zeros if it has none):
/// how many regions it mapped, and how many bytes sharing them has copied.
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

/// Now, on this thread's clock: `Instant::now()`, or, while the thread
/// runs on a virtual clock (`Runtime::virtual_time`),
/// that clock's reading. Every deadline green computes is on this clock;
/// code that must agree with it without `green::monkey::patch_all` (which
/// makes `Instant::now()` itself answer with it) reads it here.
///
/// ```
/// use std::time::Duration;
/// green::Runtime::new().virtual_time().run(|| {
///     let t = green::rt::now();
///     green::sleep(Duration::from_secs(30));
///     assert_eq!(green::rt::now() - t, Duration::from_secs(30));
/// }).unwrap();
/// ```
#[inline]
pub fn now() -> Instant {
    crate::clock::now()
}

/// Whether any thread of the process ever ran on a virtual clock: one
/// relaxed load, the first check of the monkey layer's clock hooks.
// Used by greenhub-monkey; not a stable API.
#[doc(hidden)]
#[inline]
pub fn virtual_time_used() -> bool {
    crate::clock::ever_virtual()
}

/// This thread's virtual clock read as the C library's clock `clock_id`
/// (a duration since that clock's epoch), for the monkey layer's
/// `clock_gettime` hook, which asks whenever some thread used virtual time
/// and says whether it is `patched`; `None` when the hook must give the
/// real reading (the thread's clock is real, the clock is not one the
/// virtual clock stands in for, or the hook is not patched).
// Used by greenhub-monkey; not a stable API.
#[doc(hidden)]
pub fn virtual_clock(clock_id: libc::clockid_t, patched: bool) -> Option<std::time::Duration> {
    crate::clock::c_clock(clock_id, patched)
}

/// Whether a sleep on this thread's root context should park the root on
/// its virtual clock instead of sleeping the thread: the thread's clock is
/// virtual and the root may wait on its hub here (not inside the hub's own
/// loop, not in a forked child). For the monkey layer's sleep hooks.
// Used by greenhub-monkey; not a stable API.
#[doc(hidden)]
pub fn root_sleeps_virtually() -> bool {
    crate::clock::is_virtual() && crate::sched::root_may_wait()
}

/// Small runtime allocations (task records, saved stack bytes) in use on
/// this thread. A diagnostic for leak tests: after every coroutine of a
/// batch has finished and its handle is gone, it returns to where it was.
// Used by greenhub's own tests; not a stable API.
#[doc(hidden)]
pub fn live_records() -> usize {
    crate::arena::live_blocks()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;

    /// `close_fd` wakes a coroutine waiting on the descriptor with
    /// `NotConnected`, and the number, when a new descriptor gets it, waits
    /// afresh (no stale registration).
    #[test]
    fn close_fd_wakes_waiters_and_frees_the_number() -> io::Result<()> {
        let (a, _b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let fd = a.as_raw_fd();
        let waiter = crate::spawn(move || wait_fd(fd, Interest::Read, None));
        crate::spawn::yield_now(); // it registers the fd and parks
        close_fd(OwnedFd::from(a));
        let r = waiter.join().map_err(io::Error::other)?;
        assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::NotConnected));

        // The lowest free number: usually `fd` again (another test thread
        // may take it first, which only makes this part less interesting).
        let (c, mut d) = UnixStream::pair()?;
        c.set_nonblocking(true)?;
        let reader = crate::spawn(move || -> io::Result<usize> {
            let mut buf = [0u8; 4];
            loop {
                match (&c).read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait_fd(c.as_raw_fd(), Interest::Read, None)?
                    }
                    r => return r,
                }
            }
        });
        crate::spawn::yield_now(); // it parks on the new descriptor
        d.write_all(b"hi")?;
        assert_eq!(reader.join().map_err(io::Error::other)?.ok(), Some(2));
        Ok(())
    }
}
