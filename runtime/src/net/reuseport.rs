//! Listening sockets with `SO_REUSEPORT`, so each hub of a multi-threaded
//! `Runtime` can accept on its own socket bound to the same address and the
//! kernel spreads connections across them.
//!
//! Owns only socket creation (socket, options, bind, listen); accepting is
//! `TcpListener`'s business. Never blocks.

use std::io;
use std::net::{self, SocketAddr};
use std::os::fd::AsRawFd;

use crate::sys;

/// Backlog for listeners made here (the kernel caps it at `somaxconn`).
const BACKLOG: libc::c_int = 1024;

/// A listening socket bound to `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub(crate) fn reuseport_listener(addr: SocketAddr) -> io::Result<net::TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // The std listener owns the fd from here on, also on the error paths.
    let listener = net::TcpListener::from(sys::socket(family, ty, 0)?);
    let fd = listener.as_raw_fd();
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, opt, 1)?;
    }
    let (sa, len) = super::sockaddr::to_raw(&addr);
    sys::bind(fd, &sa, len)?;
    sys::listen(fd, BACKLOG)?;
    Ok(listener)
}
