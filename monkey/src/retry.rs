//! The loop every socket/pipe hook shares: try the real non-blocking call,
//! and on `EAGAIN` wait for readiness and try again — parking the coroutine
//! inside one, polling the thread outside one — until it succeeds, fails
//! otherwise, or the fd's own timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`) passes.
//!
//! Outside coroutines this is only reached for fds we made non-blocking
//! behind a user who wants them blocking (an fd created in a coroutine and
//! used from a plain thread): a real `poll` then gives back the blocking
//! behaviour the user asked for, signals included. The kernel never restarts
//! an interrupted `poll`, but it would restart the blocking `read` the user
//! asked for when the handler has `SA_RESTART` (and no socket timeout is
//! set): so an `EINTR` from our `poll` is passed on only when libc's call
//! would have failed with it too (see `restarted_by_kernel`).
//!
//! Inside a coroutine, an `EAGAIN` is remembered by the hub
//! (`rt::fd_readiness`), so the next call on that fd parks before its
//! syscall until an event reports it ready; what the user's call returns
//! is the same either way, only the useless `EAGAIN` round trip is saved.
//!
//! Before its first wait a call checks that the fd number still names the
//! file recorded for it ([`fresh`]): a number closed and reused behind the
//! hooks' back starts over as what it is now, instead of parking on a
//! registration of a file that is gone.
//!
//! Never unwinds: kill and an enclosing `green::timeout` come back as errno
//! values from `green::rt::wait_fd_no_unwind`. errno is set last.

use std::io;
use std::time::Instant;

use green_runtime::rt::{self, Interest};
use libc::{c_int, ssize_t};

use crate::fd_table::{self, FdState, Kind, Timeout};
use crate::real;

/// A libc return type whose failure value is -1 (with errno).
pub(crate) trait Ret: Copy {
    const FAIL: Self;
    fn failed(self) -> bool;
}

impl Ret for ssize_t {
    const FAIL: Self = -1;
    #[inline]
    fn failed(self) -> bool {
        self < 0
    }
}

impl Ret for c_int {
    const FAIL: Self = -1;
    #[inline]
    fn failed(self) -> bool {
        self < 0
    }
}

/// The fd's state for a hook running now: looked at (and managed if it is a
/// socket or pipe) inside a coroutine; only read outside one.
#[inline]
pub(crate) fn state(fd: c_int, coop: bool) -> FdState {
    if coop {
        fd_table::classify(fd)
    } else {
        fd_table::get(fd)
    }
}

/// Run `op` (the real call) on `fd` with blocking semantics for a
/// blocking-mode managed fd; pass straight through otherwise.
#[inline]
pub(crate) fn io<R: Ret>(fd: c_int, dir: Interest, which: Timeout, mut op: impl FnMut() -> R) -> R {
    let coop = rt::cooperative();
    let st = state(fd, coop);
    if !st.waits() {
        if coop && st.kind == Kind::Shared {
            return shared_io(fd, dir, op);
        }
        let r = op();
        if !(st.kind == Kind::Unknown && r.failed() && real::errno() == libc::EAGAIN) {
            return r;
        }
        // A plain thread's fd no hook recorded, non-blocking for real: maybe
        // another name of a socket a coroutine made non-blocking behind a
        // user who wants it blocking.
        if !fd_table::known_dup(fd).waits() {
            real::set_errno(libc::EAGAIN);
            return r;
        }
    }
    let mut deadline: Option<Option<Instant>> = None;
    let mut checked = false;
    loop {
        // Inside a coroutine the hub remembers the fd's readiness: when the
        // last call here saw `EAGAIN` and no event came since, park first
        // instead of asking the kernel for the same answer again. (Outside
        // one, the thread polls; there is no hub knowledge to use.)
        let ready = coop.then(|| rt::fd_readiness(fd, dir));
        if ready.as_ref().is_none_or(rt::FdReadiness::may_be_ready) {
            let r = op();
            if !r.failed() {
                return r;
            }
            let e = real::errno();
            if e != libc::EAGAIN && e != libc::EWOULDBLOCK {
                return r; // errno is the real call's
            }
            if let Some(ready) = &ready {
                ready.clear();
            }
        }
        if !checked {
            checked = true;
            if !fresh(fd) {
                // Another file now: start over with what the number names.
                return io(fd, dir, which, op);
            }
        }
        let at = *deadline.get_or_insert_with(|| deadline_for(fd, which));
        // In a coroutine, park on the entry the snapshot already holds.
        let waited = match &ready {
            Some(ready) => ready.wait_no_unwind(fd, at).map_err(|e| errno_of(&e)),
            None => wait(fd, dir, at, coop),
        };
        if let Err(e) = waited {
            real::set_errno(e);
            return R::FAIL;
        }
    }
}

/// Before the first wait of a call on managed `fd`: whether the number still
/// names the file recorded for it. When it does not (closed and reused
/// behind the hooks' back: a raw `close`, a library's internal close),
/// everything recorded for it is dropped, here and in every hub, and the
/// caller starts the call over with what the number names now. One `fstat`,
/// on the path that is about to park anyway.
pub(crate) fn fresh(fd: c_int) -> bool {
    if fd_table::same_file(fd) {
        return true;
    }
    fd_table::forget_stale(fd);
    false
}

/// `op` on a `Shared` fd (stdin, a terminal, a pipe on 0–2) from a
/// coroutine: its mode stays what its owners made it, so rather than
/// `EAGAIN`, readiness is asked first (a real `poll` that does not wait) and
/// the coroutine parks until it comes. A ready fd costs that one `poll`
/// more than the call. A blocking-mode call is made only once the fd is
/// ready; another process reading the same fd in between can still make it
/// block the thread (it would block any reader). The mode is read whenever
/// the fd is not ready (another process may have changed it): a
/// non-blocking one gets the call, and its `EAGAIN`, at once.
pub(crate) fn shared_io<R: Ret>(fd: c_int, dir: Interest, mut op: impl FnMut() -> R) -> R {
    loop {
        if poll_fd(fd, dir, 0) != 0 {
            return op(); // ready, hung up, or an error the call will report
        }
        // SAFETY: F_GETFL takes no argument.
        let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
        if flags < 0 || flags & libc::O_NONBLOCK != 0 {
            return op(); // closed (the call reports it) or non-blocking for real
        }
        match rt::wait_fd_no_unwind(fd, dir, None) {
            Ok(()) => {}
            Err(e) => match errno_of(&e) {
                code @ (libc::ECANCELED | libc::ETIMEDOUT | libc::EBADF) => {
                    real::set_errno(code);
                    return R::FAIL;
                }
                // The hub cannot watch it (not pollable after all): block
                // the thread, as before.
                _ => return op(),
            },
        }
    }
}

/// When the fd's own timeout of kind `which` runs out, counted from now.
pub(crate) fn deadline_for(fd: c_int, which: Timeout) -> Option<Instant> {
    fd_table::timeout(fd, which).and_then(|d| Instant::now().checked_add(d))
}

/// Wait until `fd` is ready for `dir` or `deadline` passes. `Err(errno)`:
/// `EAGAIN` when the fd's own deadline passed (what the kernel reports for a
/// socket timeout), `ECANCELED` when killed, `ETIMEDOUT` when an enclosing
/// `green::timeout` expired, `EBADF` when the fd was closed meanwhile.
pub(crate) fn wait(
    fd: c_int,
    dir: Interest,
    deadline: Option<Instant>,
    coop: bool,
) -> Result<(), c_int> {
    if coop {
        rt::wait_fd_no_unwind(fd, dir, deadline).map_err(|e| errno_of(&e))
    } else {
        poll_thread(fd, dir, deadline)
    }
}

/// The errno a failed cooperative wait reports.
pub(crate) fn errno_of(e: &io::Error) -> c_int {
    if let Some(code) = e.raw_os_error() {
        return code;
    }
    match e.kind() {
        io::ErrorKind::TimedOut => libc::EAGAIN,
        io::ErrorKind::NotConnected => libc::EBADF,
        _ => libc::EIO,
    }
}

/// The real `poll` of one fd for `dir`, waiting up to `ms` (`0`: never,
/// `-1`: for ever): its result, errno set by it.
pub(crate) fn poll_fd(fd: c_int, dir: Interest, ms: c_int) -> c_int {
    let events = match dir {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
    };
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { real::poll(&mut p, 1, ms) }
}

/// Block the thread in the real `poll` (outside coroutines).
fn poll_thread(fd: c_int, dir: Interest, deadline: Option<Instant>) -> Result<(), c_int> {
    loop {
        let ms = match deadline {
            None => -1,
            Some(at) => ms_until(at),
        };
        let r = poll_fd(fd, dir, ms);
        return match r {
            0 => Err(libc::EAGAIN),
            n if n > 0 => Ok(()),
            _ => {
                let e = real::errno();
                // A socket with its own timeout is never restarted by the
                // kernel (signal(7)): the deadline is that timeout.
                if e == libc::EINTR && deadline.is_none() && restarted_by_kernel() {
                    continue;
                }
                Err(e)
            }
        };
    }
}

/// Whether the kernel would have restarted a blocking `read`/`write`/
/// `accept` interrupted by the signal that just interrupted our `poll`.
///
/// The signal is not known, only that a handler ran; so: restarted when
/// every signal that can reach this thread (not blocked, not a fault of the
/// thread itself) and has a handler has `SA_RESTART`. With no such handler lacking it this is exact, and when
/// one lacks it the program must already cope with `EINTR` from blocking
/// calls. Costs about 64 `sigaction` queries, on the `EINTR` path only.
fn restarted_by_kernel() -> bool {
    // SAFETY: an all-zero sigset_t is a valid value to overwrite.
    let mut blocked: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads the mask into `blocked`.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut blocked) } != 0 {
        return false;
    }
    for sig in 1..=libc::SIGRTMAX() {
        if matches!(
            sig,
            libc::SIGKILL
                | libc::SIGSTOP
                // Raised by a fault of the thread itself, which cannot happen
                // while it sleeps in `poll` (std and the runtime catch
                // SIGSEGV/SIGBUS for stack overflows, without SA_RESTART).
                | libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGILL
                | libc::SIGFPE
                | libc::SIGTRAP
        ) {
            continue;
        }
        // SAFETY: `blocked` is an initialised set; `sig` is in range.
        if unsafe { libc::sigismember(&blocked, sig) } == 1 {
            continue;
        }
        // SAFETY: an all-zero sigaction is a valid value to overwrite.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the disposition; glibc
        // refuses its own internal signals with EINVAL, skipped below.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut act) } != 0 {
            continue;
        }
        if act.sa_sigaction == libc::SIG_DFL || act.sa_sigaction == libc::SIG_IGN {
            continue; // no handler runs, so it cannot have interrupted us
        }
        if act.sa_flags & libc::SA_RESTART == 0 {
            return false;
        }
    }
    true
}

/// Milliseconds from now to `at`, rounded up, clamped to `c_int`.
pub(crate) fn ms_until(at: Instant) -> c_int {
    let d = at.saturating_duration_since(Instant::now());
    let ms = d.as_nanos().div_ceil(1_000_000);
    c_int::try_from(ms).unwrap_or(c_int::MAX)
}
