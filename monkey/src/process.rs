//! Hooks for waiting on child processes: `wait`, `waitpid`, `wait4` and
//! `waitid` (std's `Child::wait`, `Command::status` and `Command::output`
//! end in `waitpid`; with a pidfd, in `waitid(P_PIDFD, ..)`).
//!
//! Inside a coroutine a wait that would block parks only the caller:
//!
//! - One child by pid, waiting for its exit: the real call with `WNOHANG`
//!   first; if the child is still running, a pidfd is opened for it
//!   (`pidfd_open`, Linux 5.3+), the coroutine parks until the pidfd is
//!   readable (the child exited) in the hub's reactor, and the real call
//!   with `WNOHANG` reaps it. The pidfd is closed on every path.
//! - `waitid(P_PIDFD, fd, ..)`: the same, parked on the caller's own pidfd.
//! - Any child (`pid == -1`, `wait`, `P_ALL`), a process group (`pid == 0`
//!   or `< -1`, `P_PGID`), a wait for stops or continues (`WUNTRACED`,
//!   `WSTOPPED`, `WCONTINUED`: a pidfd only reports exits), or no pidfd to be
//!   had (`ENOSYS` on an old kernel, `EMFILE`, ...): the real call with
//!   `WNOHANG`, repeated between short green sleeps (1 ms growing to 16 ms).
//!   Why not the blocking pool: a pool thread blocked in `waitpid` would reap
//!   the child itself, and one blocked in `waitid(.., WNOWAIT)` cannot be
//!   called back when the waiter is killed, so every kill would leave a pool
//!   thread stuck until some child changes state (possibly never), starving
//!   `getaddrinfo` and `spawn_blocking`. The poll loop leaves nothing behind,
//!   reaps only in the caller's own call, and needs no `SIGCHLD` handler.
//!
//! Every reap is the caller's own real call, so the status, the `rusage`
//! and the `siginfo_t` are exactly libc's. A `WNOHANG` call passes straight
//! through. A kill or an expiring `green::timeout` while parked returns -1
//! with `ECANCELED` / `ETIMEDOUT` and reaps nothing: the child stays
//! waitable and a later wait gets its status (std's `Child::wait` then
//! returns that error and keeps the child un-reaped for the next call;
//! std retries only `EINTR`, which is why an `EINTR` is never made up here).
//! Signals arriving while a coroutine is parked do not end the wait (as for
//! every parked hook); outside coroutines the hooks are the real calls,
//! `EINTR` and `SA_RESTART` included.
//!
//! This module never reaps a child on a path the caller did not ask for,
//! and never blocks the thread inside a coroutine.

use std::time::{Duration, Instant};

use green_runtime::rt::{self, Interest};
use libc::{c_int, id_t, idtype_t, pid_t, siginfo_t};

use crate::fd_table::PrivateFd;
use crate::{real, retry};

crate::hook::hooks! {
    family: PROCESS;
    /// `wait(2)`: `waitpid(-1, status, 0)`.
    ///
    /// # Safety
    /// Same contract as libc's `wait`.
    coroutine fn wait(status: *mut c_int) -> pid_t => wait_body;
    /// `waitpid(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `waitpid`.
    coroutine fn waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t => waitpid_body;
    /// `wait4(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `wait4`.
    coroutine fn wait4(
        pid: pid_t,
        status: *mut c_int,
        options: c_int,
        rusage: *mut libc::rusage,
    ) -> pid_t => wait4_body;
    /// `waitid(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `waitid`.
    coroutine fn waitid(idtype: idtype_t, id: id_t, infop: *mut siginfo_t, options: c_int) -> c_int
        => waitid_body;
}

/// What a wait waits for.
#[derive(Copy, Clone)]
enum Target {
    /// One child, by pid, and only its exit: a pidfd can tell.
    Exit(pid_t),
    /// One child's exit, through the caller's own pidfd.
    PidFd(c_int),
    /// Anything else (any child, a group, stops): poll with `WNOHANG`.
    Poll,
}

/// One non-blocking attempt: `Some(ret)` when the call is over (a child
/// reaped or reported, or an error, errno being the real call's), `None`
/// when no child has changed state yet.
type Attempt<'a> = &'a mut dyn FnMut() -> Option<c_int>;

/// The first and the largest pause of the poll loop.
const TICK_MIN: Duration = Duration::from_millis(1);
const TICK_MAX: Duration = Duration::from_millis(16);

/// `pidfd_open(pid, 0)`, or `None` when the kernel gives none (too old,
/// out of fds, the process already gone).
fn pidfd_open(pid: pid_t) -> Option<PrivateFd> {
    // SAFETY: a plain system call with integer arguments; it is not hooked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    PrivateFd::adopt(c_int::try_from(fd).ok()?)
}

/// Fail with `e`, setting errno last.
fn fail(e: c_int) -> c_int {
    real::set_errno(e);
    -1
}

/// Park the calling coroutine until `attempt` finds the wait over.
fn park_until_done(target: Target, attempt: Attempt<'_>) -> c_int {
    if let Some(r) = attempt() {
        return r;
    }
    // Told of a kill or timeout before and called again: fail after the
    // back-off (the poll loop's short sleeps would not report it).
    if let Err(i) = rt::backoff_if_interrupted() {
        return fail(i.errno());
    }
    match target {
        Target::Exit(pid) => {
            if let Some(pfd) = pidfd_open(pid) {
                // The child may have exited (and been reaped elsewhere, its
                // pid reused) between the attempt and the open: look again
                // now that the pidfd pins what we wait for.
                if let Some(r) = attempt() {
                    return r;
                }
                if let Err(e) = rt::wait_fd_no_unwind(pfd.0, Interest::Read, None) {
                    return fail(retry::errno_of(&e)); // dropping `pfd` keeps errno
                }
                drop(pfd);
                if let Some(r) = attempt() {
                    return r;
                }
            }
        }
        Target::PidFd(fd) => {
            if let Err(e) = rt::wait_fd_no_unwind(fd, Interest::Read, None) {
                return fail(retry::errno_of(&e));
            }
            if let Some(r) = attempt() {
                return r;
            }
        }
        Target::Poll => {}
    }
    // No pidfd, or it said "exited" and the child was still not waitable
    // (reaped by another thread meanwhile: the next attempt reports it).
    let mut tick = TICK_MIN;
    loop {
        if let Err(i) = rt::sleep_until_no_unwind(Some(Instant::now() + tick)) {
            return fail(i.errno());
        }
        if let Some(r) = attempt() {
            return r;
        }
        tick = (tick * 2).min(TICK_MAX);
    }
}

/// The target of a `waitpid`/`wait4`.
fn pid_target(pid: pid_t, options: c_int) -> Target {
    if pid > 0 && options & (libc::WUNTRACED | libc::WCONTINUED) == 0 {
        Target::Exit(pid)
    } else {
        Target::Poll
    }
}

/// `Some(r)` from a `waitpid`-style return: a pid or an error ends the
/// wait, 0 (nothing yet under `WNOHANG`) does not.
fn pid_done(r: pid_t) -> Option<c_int> {
    (r != 0).then_some(r)
}

/// The cooperative `wait`.
///
/// # Safety
/// Same contract as libc's `wait`.
unsafe fn wait_body(status: *mut c_int) -> pid_t {
    // SAFETY: wait(status) is waitpid(-1, status, 0).
    unsafe { waitpid_body(-1, status, 0) }
}

/// The cooperative `waitpid`.
///
/// # Safety
/// Same contract as libc's `waitpid`.
unsafe fn waitpid_body(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t {
    if options & libc::WNOHANG != 0 {
        // SAFETY: the caller's contract is waitpid's.
        return unsafe { real::waitpid(pid, status, options) };
    }
    // SAFETY: the caller's contract is waitpid's; WNOHANG never blocks.
    let mut attempt = || pid_done(unsafe { real::waitpid(pid, status, options | libc::WNOHANG) });
    park_until_done(pid_target(pid, options), &mut attempt)
}

/// The cooperative `wait4`.
///
/// # Safety
/// Same contract as libc's `wait4`.
unsafe fn wait4_body(
    pid: pid_t,
    status: *mut c_int,
    options: c_int,
    rusage: *mut libc::rusage,
) -> pid_t {
    if options & libc::WNOHANG != 0 {
        // SAFETY: the caller's contract is wait4's.
        return unsafe { real::wait4(pid, status, options, rusage) };
    }
    let mut attempt = || {
        // SAFETY: the caller's contract is wait4's; WNOHANG never blocks.
        pid_done(unsafe { real::wait4(pid, status, options | libc::WNOHANG, rusage) })
    };
    park_until_done(pid_target(pid, options), &mut attempt)
}

/// The cooperative `waitid`.
///
/// # Safety
/// Same contract as libc's `waitid`.
unsafe fn waitid_body(idtype: idtype_t, id: id_t, infop: *mut siginfo_t, options: c_int) -> c_int {
    if options & libc::WNOHANG != 0 {
        // SAFETY: the caller's contract is waitid's.
        return unsafe { real::waitid(idtype, id, infop, options) };
    }
    let exits_only =
        options & libc::WEXITED != 0 && options & (libc::WSTOPPED | libc::WCONTINUED) == 0;
    let target = match idtype {
        libc::P_PID if exits_only && id > 0 && pid_t::try_from(id).is_ok() => {
            Target::Exit(id as pid_t)
        }
        libc::P_PIDFD if exits_only => match c_int::try_from(id) {
            Ok(fd) => Target::PidFd(fd),
            Err(_) => Target::Poll,
        },
        _ => Target::Poll,
    };
    let mut attempt = || {
        // Linux lets `infop` be null; a private record tells whether a child
        // was found (`si_pid != 0`) either way, and is copied out only then.
        // SAFETY: an all-zero siginfo_t is a valid value.
        let mut info: siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer; WNOHANG never blocks.
        let r = unsafe { real::waitid(idtype, id, &mut info, options | libc::WNOHANG) };
        if r != 0 {
            return Some(r);
        }
        // SAFETY: waitid filled (or left zeroed) a SIGCHLD record.
        if unsafe { info.si_pid() } == 0 {
            return None;
        }
        if !infop.is_null() {
            // SAFETY: a non-null `infop` is a writable siginfo_t (caller's
            // contract).
            unsafe { infop.write(info) };
        }
        Some(0)
    };
    park_until_done(target, &mut attempt)
}
