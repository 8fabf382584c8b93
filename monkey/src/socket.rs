//! Hooks that create or set up sockets: `socket`, `connect`, `accept`,
//! `accept4`, and `setsockopt` (for `SO_RCVTIMEO`/`SO_SNDTIMEO`).
//!
//! Inside a coroutine a new socket is created non-blocking and recorded in
//! the fd table with the user's view (`SOCK_NONBLOCK` or not). Outside, the
//! real call runs and the fd's table entry is reset (its number may have
//! belonged to something closed behind our back); it is looked at lazily if
//! a coroutine ever uses it. Either way the number's close generation is
//! renewed, so no hub keeps a registration made for an earlier file. `getsockopt` needs no hook: the kernel keeps the
//! real option values because `setsockopt` always passes through.

use std::time::Instant;

use green_runtime::rt::{self, Interest};
use libc::{c_int, c_void, sockaddr, socklen_t};

use crate::fd_table::{self, Kind, Timeout};
use crate::patch::{enabled, Patch};
use crate::{real, retry};

crate::hook::hooks! {
    family: SOCKET;
    /// `socket(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `socket` (none beyond valid arguments).
    patched fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int => socket_body;
    /// `connect(2)`: a blocking-mode socket parks until the connection is
    /// made or fails, or `SO_SNDTIMEO` passes (then `EINPROGRESS`, as the
    /// kernel). A connect repeated while an earlier one is under way waits
    /// for that one, as the kernel's blocking connect does.
    ///
    /// # Safety
    /// Same contract as libc's `connect`.
    patched fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int => connect_body;
    /// `accept(2)`: `accept4` with no flags.
    ///
    /// # Safety
    /// Same contract as libc's `accept`.
    unguarded fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int => accept_body;
    /// `accept4(2)`: a blocking-mode listener parks until a connection
    /// arrives or `SO_RCVTIMEO` passes (then `EAGAIN`). Inside a coroutine the
    /// accepted socket is managed too.
    ///
    /// # Safety
    /// Same contract as libc's `accept4`.
    patched fn accept4(
        fd: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
        flags: c_int,
    ) -> c_int => accept4_body;
    /// `setsockopt(2)`: always passes through; a socket timeout set on a
    /// managed socket is also recorded, because its real fd is non-blocking
    /// and the kernel no longer applies it.
    ///
    /// # Safety
    /// Same contract as libc's `setsockopt`.
    unguarded fn setsockopt(
        fd: c_int,
        level: c_int,
        name: c_int,
        val: *const c_void,
        len: socklen_t,
    ) -> c_int => setsockopt_body;
}

/// A brand-new fd made by a hook inside a coroutine: drop any stale hub
/// registration for its number, then record it as a managed socket.
pub(crate) fn adopt_socket(fd: c_int, user_nonblock: bool) {
    rt::forget_fd(fd);
    rt::fd_renewed(fd);
    fd_table::set_new(fd, Kind::Socket, user_nonblock);
}

/// The patched `socket`.
///
/// # Safety
/// Same contract as libc's `socket`.
unsafe fn socket_body(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    if !rt::cooperative() {
        // SAFETY: plain arguments.
        let fd = unsafe { real::socket(domain, ty, proto) };
        if fd >= 0 {
            fd_table::clear(fd);
            // Hubs may hold a registration for a file this number named
            // before (closed behind their back): make them register again.
            rt::fd_renewed(fd);
        }
        return fd;
    }
    // SAFETY: plain arguments.
    let fd = unsafe { real::socket(domain, ty | libc::SOCK_NONBLOCK, proto) };
    if fd >= 0 {
        adopt_socket(fd, ty & libc::SOCK_NONBLOCK != 0);
    }
    fd
}

/// The patched `connect`.
///
/// # Safety
/// Same contract as libc's `connect`.
unsafe fn connect_body(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let coop = rt::cooperative();
    if !retry::state(fd, coop).waits() {
        // SAFETY: the caller's contract is connect's.
        return unsafe { real::connect(fd, addr, len) };
    }
    let mut deadline: Option<Option<Instant>> = None;
    let mut checked = false;
    loop {
        // SAFETY: the caller's contract is connect's.
        let r = unsafe { real::connect(fd, addr, len) };
        if r == 0 {
            return 0;
        }
        let e = real::errno();
        // EINPROGRESS: a TCP handshake is under way; EAGAIN: a Unix socket's
        // listener backlog is full (retry the connect once writable);
        // EALREADY: an earlier connect, cut short (kill, timeout, a signal),
        // is still under way, and the kernel's blocking connect waits for
        // that one and reports its result.
        if e != libc::EINPROGRESS && e != libc::EAGAIN && e != libc::EALREADY {
            return r;
        }
        if !std::mem::replace(&mut checked, true) && !retry::fresh(fd) {
            // Another socket now, not ours: what its own call said stands
            // (it is non-blocking for real, as its user made it).
            if retry::state(fd, coop).waits() {
                // SAFETY: the caller's contract is connect's.
                return unsafe { connect_body(fd, addr, len) };
            }
            real::set_errno(e);
            return -1;
        }
        let at = *deadline.get_or_insert_with(|| retry::deadline_for(fd, Timeout::Send));
        if let Err(w) = retry::wait(fd, Interest::Write, at, coop) {
            // Our own SO_SNDTIMEO passing reads as the kernel's: EINPROGRESS
            // for a fresh connect, EALREADY for a repeated one.
            real::set_errno(if w == libc::EAGAIN {
                if e == libc::EALREADY {
                    libc::EALREADY
                } else {
                    libc::EINPROGRESS
                }
            } else {
                w
            });
            return -1;
        }
        if e == libc::EAGAIN {
            continue;
        }
        let mut err: c_int = 0;
        let mut elen = std::mem::size_of::<c_int>() as socklen_t;
        // SAFETY: valid out-pointers of the given size; getsockopt is not
        // hooked.
        let g = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut err).cast(),
                &raw mut elen,
            )
        };
        if g != 0 {
            return -1; // errno from getsockopt
        }
        if err != 0 {
            real::set_errno(err);
            return -1;
        }
        return 0;
    }
}

/// `accept`, patched or not: the `accept4` hook's.
///
/// # Safety
/// Same contract as libc's `accept`.
#[inline]
unsafe fn accept_body(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's contract is accept's, which is accept4's with 0.
    unsafe { accept4(fd, addr, len, 0) }
}

/// The patched `accept4`.
///
/// # Safety
/// Same contract as libc's `accept4`.
unsafe fn accept4_body(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let coop = rt::cooperative();
    let real_flags = if coop {
        flags | libc::SOCK_NONBLOCK
    } else {
        flags
    };
    // SAFETY: the caller's contract is accept4's, for every retry.
    let new = retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
        real::accept4(fd, addr, len, real_flags)
    });
    if new >= 0 {
        if coop {
            adopt_socket(new, flags & libc::SOCK_NONBLOCK != 0);
            // Linux copies socket timeouts to accepted sockets: re-read them
            // when the listener has any.
            for (which, opt) in [
                (Timeout::Recv, libc::SO_RCVTIMEO),
                (Timeout::Send, libc::SO_SNDTIMEO),
            ] {
                if fd_table::timeout(fd, which).is_some() {
                    fd_table::set_timeout(new, which, fd_table::socket_timeout(new, opt));
                }
            }
        } else {
            fd_table::clear(new);
            rt::fd_renewed(new);
        }
    }
    new
}

/// `setsockopt`, patched or not: the real call, then the timeout recorded
/// when patched.
///
/// # Safety
/// Same contract as libc's `setsockopt`.
#[inline]
unsafe fn setsockopt_body(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's contract is setsockopt's.
    let r = unsafe { real::setsockopt(fd, level, name, val, len) };
    if r == 0
        && enabled(Patch::SOCKET)
        && level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
        && fd_table::known_dup(fd).managed()
    {
        // The kernel accepted it, so `val` holds a full timeval.
        // SAFETY: setsockopt succeeded with these arguments, so `val` points
        // at `len >= size_of::<timeval>()` readable bytes.
        let tv = unsafe { std::ptr::read_unaligned(val.cast::<libc::timeval>()) };
        let which = if name == libc::SO_RCVTIMEO {
            Timeout::Recv
        } else {
            Timeout::Send
        };
        fd_table::set_timeout(fd, which, fd_table::timeval_to_duration(&tv));
    }
    r
}
