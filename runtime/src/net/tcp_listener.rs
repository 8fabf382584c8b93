//! `TcpListener`: a listening TCP socket whose `accept` parks only the
//! calling coroutine.
//!
//! Owns binding and accepting (`accept4` with `SOCK_NONBLOCK`, so accepted
//! streams need no extra syscall). Never blocks the hub thread.

use std::io;
use std::mem::ManuallyDrop;
use std::net::{self, SocketAddr};
use std::os::fd::FromRawFd;

use super::dns::{each_addr, ToSocketAddrs};
use super::fd::GreenFd;
use super::impls::{ip_ttl, listener};
use super::TcpStream;

/// A TCP server socket, shaped like [`std::net::TcpListener`].
///
/// `accept` parks the calling coroutine until a connection arrives.
/// Several coroutines may accept on one listener at once; each connection
/// goes to exactly one of them. [`close`](Self::close) wakes every parked
/// acceptor with an error. Not `Send` (see [`TcpStream`]).
///
/// ```no_run
/// use std::io::{Read, Write};
/// let listener = green::net::TcpListener::bind("127.0.0.1:1688").unwrap();
/// for stream in listener.incoming() {
///     let mut stream = stream.unwrap();
///     green::spawn(move || {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf) {
///             if stream.write_all(&buf[..n]).is_err() { break; }
///         }
///     });
/// }
/// ```
pub struct TcpListener {
    io: GreenFd<net::TcpListener>,
}

impl TcpListener {
    /// Bind to the first of `addr`'s addresses that works and listen.
    /// Host names are resolved off the hub thread.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let l = each_addr(&addr, |a| net::TcpListener::bind(a))?;
        Ok(TcpListener {
            io: GreenFd::new(l)?,
        })
    }

    /// Bind with `SO_REUSEPORT` (and `SO_REUSEADDR`) and listen, so several
    /// listeners — typically one per hub of a multi-threaded
    /// [`Runtime`](crate::runtime::Runtime) — can share one address; the kernel
    /// spreads incoming connections across them.
    ///
    /// ```
    /// let a = green::net::TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    /// let addr = a.local_addr().unwrap();
    /// let b = green::net::TcpListener::bind_reuseport(addr).unwrap();
    /// assert_eq!(b.local_addr().unwrap(), addr);
    /// ```
    pub fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let l = each_addr(&addr, |a| super::reuseport::reuseport_listener(*a))?;
        Ok(TcpListener {
            io: GreenFd::new(l)?,
        })
    }

    /// Wait for the next connection. Transient kernel errors are returned as
    /// they are (e.g. `EMFILE` when out of fds), never retried in a loop.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.io.fd();
        self.io.read_op(|_| {
            // SAFETY: the mio listener borrows our fd only for this call and
            // is never dropped (ManuallyDrop), so it cannot close it.
            let l = ManuallyDrop::new(unsafe { mio::net::TcpListener::from_raw_fd(fd) });
            let (s, peer) = l.accept()?;
            Ok((TcpStream::from_accepted(s.into()), peer))
        })
    }

    /// Stop listening for good: parked acceptors wake with an error, every
    /// later `accept` fails, and new connection attempts are refused. (The
    /// fd and its bound address are released on drop.)
    pub fn close(&self) {
        if !self.io.is_closed() {
            // On Linux, shutting down a listening socket takes it out of the
            // LISTEN state: pending and future connects are refused.
            // Errors are irrelevant here: the fd is closed next anyway.
            let _ = crate::sys::shutdown(self.io.fd(), libc::SHUT_RDWR);
        }
        self.io.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.io.is_closed()
    }
}

listener! {
    TcpListener(net::TcpListener),
    addr: SocketAddr,
    accepts: TcpStream,
    incoming: Incoming,
    debug: { "addr": local_addr },
}
ip_ttl!(TcpListener, set_doc: "Set the IP time-to-live of accepted sockets.");
