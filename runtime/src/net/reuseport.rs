//! Listening sockets with `SO_REUSEPORT`, so each hub of a multi-threaded
//! `Runtime` can accept on its own socket bound to the same address and the
//! kernel spreads connections across them.
//!
//! Owns only socket creation (socket, options, bind, listen); accepting is
//! `TcpListener`'s business. Never blocks.

use std::io;
use std::mem;
use std::net::{self, SocketAddr};
use std::os::fd::{FromRawFd, RawFd};

/// Backlog for listeners made here (the kernel caps it at `somaxconn`).
const BACKLOG: libc::c_int = 1024;

/// A listening socket bound to `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub(crate) fn reuseport_listener(addr: SocketAddr) -> io::Result<net::TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2) call; the result is checked.
    let fd: RawFd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own; the std listener takes over
    // closing it, also on the error paths below.
    let listener = unsafe { net::TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: setsockopt with a c_int option value of the right size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let (sa, len) = super::sockaddr::to_raw(&addr);
    // SAFETY: `sa` holds a complete sockaddr of `len` bytes for `addr`.
    let rc = unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen(2) on our bound socket.
    if unsafe { libc::listen(fd, BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}
