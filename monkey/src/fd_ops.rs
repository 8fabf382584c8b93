//! Hooks that change what an fd number means or how it behaves: `close`,
//! `close_range`, `closefrom`, `dup`/`dup2`/`dup3`, `fcntl`
//! (`F_GETFL`/`F_SETFL`/`F_DUPFD*`), `ioctl(FIONBIO)` (what
//! `set_nonblocking` in std calls), and `pipe`, `pipe2`, `socketpair`, whose
//! new fds start with a clean entry (their numbers may have been closed
//! behind our back) and are looked at lazily.
//!
//! `close` (and `close_range`/`closefrom` for every number they close) clears
//! the fd's entry and has the hub forget the fd *before* the real close, so
//! coroutines parked on it wake with `EBADF` and a reused fd number never
//! inherits stale state; the last number of a description we made
//! non-blocking gives it its blocking mode back (`fd_table::closing`). A dup
//! names its source's description (`desc.rs`: `O_NONBLOCK` and the socket
//! timeouts shared). `fcntl`/`ioctl` keep the user's view of `O_NONBLOCK`
//! for managed fds while the real fd stays non-blocking; they check first
//! that the number still names the file recorded for it (`retry::fresh`),
//! and meet a number no hook recorded that names a managed socket or pipe
//! (`fd_table::known_dup`).
//!
//! Every close and every `dup2`/`dup3` onto a number, patched or not and on
//! whatever thread, renews that number's close generation after the real
//! call (`green::rt::fd_renewed`), and so does every fd handed out while
//! patched: a hub on another thread that still holds a registration for the
//! old file under that number registers again instead of waiting forever.
//!
//! An fd crossing into a child process gets the blocking mode the user asked
//! for back (see `fd_table::hand_to_child`): through `posix_spawn`'s file
//! actions (what std's `Command` uses when it can), and through a `dup2` or
//! `dup3` onto 0–2 (what std's fork-and-exec path does in the child). The
//! `dup2` onto 0–2 path does only raw syscalls and atomic stores: in a forked
//! child nothing else is safe.
//!
//! `fcntl` and `ioctl` are variadic in C. Every command passes at most one
//! word (an int or a pointer), and on the Linux ABIs we support (x86-64
//! System V, AArch64 AAPCS) a variadic word travels exactly like a third
//! fixed argument, so they are defined here with a fixed third parameter.

use green_runtime::rt;
use libc::{c_int, c_uint, c_ulong};

use crate::fd_table;
use crate::patch::{enabled, Patch};
use crate::real;

crate::hook::hooks! {
    family: SOCKET;
    /// `close(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `close`.
    unguarded fn close(fd: c_int) -> c_int => close_body;
    /// `close_range(2)`: every number it closes is forgotten and renewed,
    /// as `close` does for one.
    ///
    /// # Safety
    /// Same contract as libc's `close_range`.
    unguarded fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int
        => close_range_body;
    /// `closefrom(3)` (glibc closes through an internal `close_range`, which
    /// no hook sees): as `close_range(lowfd, ~0, 0)`.
    ///
    /// # Safety
    /// Same contract as glibc's `closefrom`.
    unguarded fn closefrom(lowfd: c_int) -> () => closefrom_body,
        unchecked("not in the libc crate");
    /// `dup(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `dup`.
    unguarded fn dup(fd: c_int) -> c_int => dup_body;
    /// `dup2(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `dup2`.
    unguarded fn dup2(fd: c_int, newfd: c_int) -> c_int => dup2_body;
    /// `dup3(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `dup3`.
    unguarded fn dup3(fd: c_int, newfd: c_int, flags: c_int) -> c_int => dup3_body;
    /// `fcntl(2)` (variadic in C: see the module docs).
    ///
    /// # Safety
    /// Same contract as libc's `fcntl`.
    patched fn fcntl(fd: c_int, cmd: c_int, ...arg: usize) -> c_int => fcntl_body;
    /// `ioctl(2)`: `FIONBIO` on a managed fd changes only the user's view
    /// (variadic in C: see the module docs).
    ///
    /// # Safety
    /// Same contract as libc's `ioctl`.
    patched fn ioctl(fd: c_int, request: c_ulong, ...arg: usize) -> c_int => ioctl_body;
    /// `pipe(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `pipe`.
    unguarded fn pipe(fds: *mut c_int) -> c_int => pipe_body;
    /// `pipe2(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `pipe2`.
    unguarded fn pipe2(fds: *mut c_int, flags: c_int) -> c_int => pipe2_body;
    /// `socketpair(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `socketpair`.
    unguarded fn socketpair(domain: c_int, ty: c_int, proto: c_int, fds: *mut c_int) -> c_int
        => socketpair_body;
    /// `posix_spawn_file_actions_adddup2(3)`: std's `Command` records here,
    /// in the parent and before the child exists, which fd becomes the
    /// child's stdin/stdout/stderr. A managed fd the user wants blocking gets
    /// its blocking mode back now (see `fd_table::hand_to_child`): the child
    /// shares the open file description and must not see `EAGAIN`.
    ///
    /// # Safety
    /// Same contract as libc's `posix_spawn_file_actions_adddup2`.
    patched fn posix_spawn_file_actions_adddup2(
        actions: *mut libc::posix_spawn_file_actions_t,
        fd: c_int,
        newfd: c_int,
    ) -> c_int => posix_spawn_file_actions_adddup2_body;
}

/// `close`, patched or not: the entry cleared and the hub told first
/// when patched, the number renewed after.
///
/// # Safety
/// Same contract as libc's `close`.
#[inline]
unsafe fn close_body(fd: c_int) -> c_int {
    if enabled(Patch::SOCKET) {
        fd_table::closing(fd);
        rt::forget_fd(fd);
    }
    // SAFETY: the caller's contract is close's.
    let r = unsafe { real::close(fd) };
    // Even when it failed: Linux may have closed it anyway (EINTR), and a
    // spurious renewal only costs a re-registration.
    rt::fd_renewed(fd);
    r
}

/// Forget every number in `first..=last` the hooks know, before a call
/// closes them all; the numbers to renew after it, as a range.
fn before_close_range(first: c_uint, last: c_uint) -> (c_int, c_int) {
    let first = c_int::try_from(first).unwrap_or(c_int::MAX);
    let last = c_int::try_from(last).unwrap_or(c_int::MAX);
    if enabled(Patch::SOCKET) {
        for fd in fd_table::known_in(first, last) {
            fd_table::closing(fd);
            rt::forget_fd(fd);
        }
    }
    (first, last.min(fd_table::highest()))
}

/// `close_range`, patched or not.
///
/// # Safety
/// Same contract as libc's `close_range`.
#[inline]
unsafe fn close_range_body(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    let closes = flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0
        && flags & !((libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE) as c_int) == 0
        && first <= last;
    if !closes {
        // Marks close-on-exec only, or fails with EINVAL: nothing closes.
        // SAFETY: the caller's contract is close_range's.
        return unsafe { real::close_range(first, last, flags) };
    }
    let (from, to) = before_close_range(first, last);
    // SAFETY: the caller's contract is close_range's.
    let r = unsafe { real::close_range(first, last, flags) };
    for fd in from..=to {
        rt::fd_renewed(fd);
    }
    r
}

/// `closefrom`, patched or not.
///
/// # Safety
/// Same contract as glibc's `closefrom`.
#[inline]
unsafe fn closefrom_body(lowfd: c_int) {
    let Ok(first) = c_uint::try_from(lowfd) else {
        // SAFETY: the caller's contract (glibc ignores a negative lowfd
        // or reports it as it does).
        return unsafe { real::closefrom(lowfd) };
    };
    let (from, to) = before_close_range(first, c_uint::MAX);
    // SAFETY: the caller's contract is closefrom's.
    unsafe { real::closefrom(lowfd) };
    for fd in from..=to {
        rt::fd_renewed(fd);
    }
}

/// The stand-in for a hooked function this glibc lacks (`close_range`
/// and `closefrom` came in 2.34), made with the raw system call; null for
/// any other name.
pub(crate) fn without_glibc(name: &[u8]) -> *mut std::ffi::c_void {
    match name {
        b"close_range\0" => sys_close_range as *mut std::ffi::c_void,
        b"closefrom\0" => sys_closefrom as *mut std::ffi::c_void,
        _ => std::ptr::null_mut(),
    }
}

/// `close_range` as the system call (`ENOSYS` before Linux 5.9).
extern "C" fn sys_close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    // SAFETY: plain integer arguments.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) as c_int }
}

/// `closefrom` as glibc makes it: `close_range`, or, before Linux 5.9,
/// every number up to the fd limit closed one by one.
extern "C" fn sys_closefrom(lowfd: c_int) {
    let Ok(first) = c_uint::try_from(lowfd) else {
        return;
    };
    if sys_close_range(first, c_uint::MAX, 0) == 0 {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    let cur = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as c_int
    } else {
        1 << 16
    };
    for fd in lowfd..cur {
        // SAFETY: closing numbers the caller gave up; raw, so no hook.
        unsafe { libc::syscall(libc::SYS_close, fd) };
    }
}

/// `newfd` is about to name what `oldfd` names (or stop naming anything).
fn before_replace(newfd: c_int) {
    fd_table::closing(newfd);
    rt::forget_fd(newfd);
}

/// `dup`, patched or not: the new fd gets its source's entry when patched.
///
/// # Safety
/// Same contract as libc's `dup`.
#[inline]
unsafe fn dup_body(fd: c_int) -> c_int {
    // SAFETY: the caller's contract is dup's.
    let new = unsafe { real::dup(fd) };
    if new >= 0 && enabled(Patch::SOCKET) {
        rt::forget_fd(new);
        rt::fd_renewed(new);
        fd_table::copy(fd, new);
    }
    new
}

/// `dup2`, patched or not.
///
/// # Safety
/// Same contract as libc's `dup2`.
#[inline]
unsafe fn dup2_body(fd: c_int, newfd: c_int) -> c_int {
    if !enabled(Patch::SOCKET) || fd == newfd {
        // SAFETY: the caller's contract is dup2's.
        let r = unsafe { real::dup2(fd, newfd) };
        if r >= 0 && fd != newfd {
            rt::fd_renewed(r);
        }
        return r;
    }
    if newfd <= 2 {
        // SAFETY: the caller's contract is dup2's.
        return unsafe { onto_std_fd(fd, newfd, || real::dup2(fd, newfd)) };
    }
    if fd_valid(fd) {
        before_replace(newfd);
    }
    // SAFETY: the caller's contract is dup2's.
    let r = unsafe { real::dup2(fd, newfd) };
    if r >= 0 {
        rt::fd_renewed(r);
        fd_table::copy(fd, r);
    }
    r
}

/// A dup onto 0–2: std's `Command` does this in a forked child right before
/// `exec`, so only async-signal-safe work is allowed (raw syscalls, atomic
/// stores; no hub, no allocation). Fds 0–2 are never made non-blocking by
/// the hooks, so their entry only needs clearing (and the number renewing,
/// for a hub that waited on the old one); the source, if we made it
/// non-blocking behind the user, gets its blocking mode back first, because
/// 0–2 are shared with whatever runs next.
///
/// # Safety
/// `call` is the real dup call with the caller's (valid) arguments.
unsafe fn onto_std_fd(fd: c_int, newfd: c_int, call: impl FnOnce() -> c_int) -> c_int {
    fd_table::hand_to_child(fd);
    let r = call();
    if r >= 0 {
        fd_table::clear(newfd);
        rt::fd_renewed(newfd);
    }
    r
}

/// `dup3`, patched or not.
///
/// # Safety
/// Same contract as libc's `dup3`.
#[inline]
unsafe fn dup3_body(fd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if !enabled(Patch::SOCKET) || fd == newfd {
        // SAFETY: the caller's contract is dup3's (EINVAL for equal fds).
        let r = unsafe { real::dup3(fd, newfd, flags) };
        if r >= 0 {
            rt::fd_renewed(r);
        }
        return r;
    }
    if newfd <= 2 {
        // SAFETY: the caller's contract is dup3's.
        return unsafe { onto_std_fd(fd, newfd, || real::dup3(fd, newfd, flags)) };
    }
    if fd_valid(fd) {
        before_replace(newfd);
    }
    // SAFETY: the caller's contract is dup3's.
    let r = unsafe { real::dup3(fd, newfd, flags) };
    if r >= 0 {
        rt::fd_renewed(r);
        fd_table::copy(fd, r);
    }
    r
}

/// Whether `fd` is open (a failing dup2 must not disturb `newfd`).
fn fd_valid(fd: c_int) -> bool {
    // SAFETY: F_GETFD takes no argument and touches no memory.
    unsafe { real::fcntl(fd, libc::F_GETFD, 0) >= 0 }
}

/// Whether `fd` is managed and still names the file recorded for it (see
/// `retry::fresh`: one `fstat` for a managed fd, on these calls that are
/// rare next to reads and writes).
fn managed_now(fd: c_int) -> bool {
    fd_table::get(fd).managed() && crate::retry::fresh(fd)
}

/// Whether `fd`, not recorded yet, turns out to be another name of a
/// managed socket (see `fd_table::known_dup`).
fn known_dup(fd: c_int) -> bool {
    fd_table::get(fd).kind == fd_table::Kind::Unknown && fd_table::known_dup(fd).managed()
}

/// The patched `fcntl`: the user's view of `O_NONBLOCK` on managed fds.
///
/// # Safety
/// Same contract as libc's `fcntl`.
unsafe fn fcntl_body(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    match cmd {
        libc::F_GETFL => {
            // SAFETY: F_GETFL takes no argument.
            let r = unsafe { real::fcntl(fd, cmd, arg) };
            if r < 0 || !(managed_now(fd) || (r & libc::O_NONBLOCK != 0 && known_dup(fd))) {
                return r;
            }
            let st = fd_table::get(fd);
            let user = if st.user_nonblock {
                libc::O_NONBLOCK
            } else {
                0
            };
            (r & !libc::O_NONBLOCK) | user
        }
        libc::F_SETFL if managed_now(fd) || known_dup(fd) => {
            let flags = arg as c_int;
            // SAFETY: F_SETFL takes an int of flags.
            let r = unsafe { real::fcntl(fd, cmd, (flags | libc::O_NONBLOCK) as usize) };
            if r >= 0 {
                fd_table::set_user_nonblock(fd, flags & libc::O_NONBLOCK != 0);
            }
            r
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            // SAFETY: F_DUPFD* take an int (the lowest new fd).
            let new = unsafe { real::fcntl(fd, cmd, arg) };
            if new >= 0 {
                rt::forget_fd(new);
                rt::fd_renewed(new);
                fd_table::copy(fd, new);
            }
            new
        }
        // SAFETY: the caller's contract is fcntl's.
        _ => unsafe { real::fcntl(fd, cmd, arg) },
    }
}

/// The patched `ioctl`.
///
/// # Safety
/// Same contract as libc's `ioctl`.
unsafe fn ioctl_body(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    if request == libc::FIONBIO && arg != 0 && (managed_now(fd) || known_dup(fd)) {
        // SAFETY: FIONBIO's argument is a pointer to an int; checked non-null.
        let on = unsafe { std::ptr::read_unaligned(arg as *const c_int) } != 0;
        fd_table::set_user_nonblock(fd, on);
        return 0;
    }
    // SAFETY: the caller's contract is ioctl's.
    unsafe { real::ioctl(fd, request, arg) }
}

/// Forget whatever was recorded for two fresh fds.
///
/// # Safety
/// `fds` points at two ints the real call just filled.
unsafe fn fresh_pair(fds: *const c_int) {
    // SAFETY: the caller's contract.
    let (a, b) = unsafe { (*fds, *fds.add(1)) };
    for fd in [a, b] {
        fd_table::clear(fd);
        rt::forget_fd(fd);
        rt::fd_renewed(fd);
    }
}

/// `pipe`, patched or not.
///
/// # Safety
/// Same contract as libc's `pipe`.
#[inline]
unsafe fn pipe_body(fds: *mut c_int) -> c_int {
    // SAFETY: the caller's contract is pipe's.
    let r = unsafe { real::pipe(fds) };
    if r == 0 && enabled(Patch::SOCKET) {
        // SAFETY: the call succeeded, so it filled two ints.
        unsafe { fresh_pair(fds) };
    }
    r
}

/// `pipe2`, patched or not.
///
/// # Safety
/// Same contract as libc's `pipe2`.
#[inline]
unsafe fn pipe2_body(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's contract is pipe2's.
    let r = unsafe { real::pipe2(fds, flags) };
    if r == 0 && enabled(Patch::SOCKET) {
        // SAFETY: the call succeeded, so it filled two ints.
        unsafe { fresh_pair(fds) };
    }
    r
}

/// `socketpair`, patched or not.
///
/// # Safety
/// Same contract as libc's `socketpair`.
#[inline]
unsafe fn socketpair_body(domain: c_int, ty: c_int, proto: c_int, fds: *mut c_int) -> c_int {
    // SAFETY: the caller's contract is socketpair's.
    let r = unsafe { real::socketpair(domain, ty, proto, fds) };
    if r == 0 && enabled(Patch::SOCKET) {
        // SAFETY: the call succeeded, so it filled two ints.
        unsafe { fresh_pair(fds) };
    }
    r
}

/// The patched `posix_spawn_file_actions_adddup2`.
///
/// # Safety
/// Same contract as libc's `posix_spawn_file_actions_adddup2`.
unsafe fn posix_spawn_file_actions_adddup2_body(
    actions: *mut libc::posix_spawn_file_actions_t,
    fd: c_int,
    newfd: c_int,
) -> c_int {
    fd_table::hand_to_child(fd);
    // SAFETY: the caller's contract is posix_spawn_file_actions_adddup2's.
    unsafe { real::posix_spawn_file_actions_adddup2(actions, fd, newfd) }
}
