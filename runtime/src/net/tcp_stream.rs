//! `TcpStream`: a connected TCP socket whose blocking-style calls park only
//! the calling coroutine.
//!
//! Owns connecting (non-blocking `connect`, then waiting for writability),
//! and the stream's reads and writes through [`GreenFd`]. Never blocks the
//! hub thread: not in `connect`, not in name resolution.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};

use super::dns::{each_addr, ToSocketAddrs};
use super::fd::{recv, recv_vectored, send, send_vectored, GreenFd};
use crate::rt::Interest;

/// A TCP connection, shaped like [`std::net::TcpStream`].
///
/// Reads, writes and `connect` park the calling coroutine (or run the hub,
/// from `main`) until the socket is ready, so a thread serves thousands of
/// connections with plain sequential code.
///
/// - Timeouts (`set_read_timeout`, `set_write_timeout`) fail an operation
///   with [`io::ErrorKind::TimedOut`]; an enclosing `green::timeout` ends it
///   too.
/// - Several coroutines may use one stream at once (through `&TcpStream`):
///   a reader and a writer never block each other, and concurrent readers
///   each get whatever the next `recv` returns, as with std sockets shared
///   by threads. Nobody waits forever: every readiness wakes all of them.
/// - [`close`](Self::close) (or drop) wakes every coroutine parked on the
///   stream with an error.
/// - The stream is bound to the thread (hub) that made it: it is not
///   `Send`. Use [`into_std`](Self::into_std) to move it.
///
/// ```
/// use std::io::{Read, Write};
/// let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = green::spawn(move || {
///     let (mut s, _) = listener.accept().unwrap();
///     let mut buf = [0; 5];
///     s.read_exact(&mut buf).unwrap();
///     s.write_all(&buf.to_ascii_uppercase()).unwrap();
/// });
/// let mut c = green::net::TcpStream::connect(addr).unwrap();
/// c.write_all(b"hello").unwrap();
/// let mut reply = String::new();
/// c.read_to_string(&mut reply).unwrap();
/// assert_eq!(reply, "HELLO");
/// server.join().unwrap();
/// ```
pub struct TcpStream {
    pub(crate) io: GreenFd<net::TcpStream>,
}

impl TcpStream {
    /// Connect to the first of `addr`'s addresses that accepts. Host names
    /// are resolved off the hub thread.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |a| connect_addr(a, None))
    }

    /// Connect to `addr`, failing with `TimedOut` after `timeout`. A zero
    /// timeout is an `InvalidInput` error, as in std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        connect_addr(addr, Instant::now().checked_add(timeout))
    }

    pub(crate) fn from_accepted(s: net::TcpStream) -> TcpStream {
        TcpStream {
            io: GreenFd::from_nonblocking(s),
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get()?.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.raw().local_addr()
    }

    /// Shut down the read, write or both halves (the peer sees EOF on
    /// `Write`/`Both`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get()?.shutdown(how)
    }

    /// Close the stream now, even while other coroutines use it: they wake
    /// with an error (`NotConnected`), and every later operation fails. The
    /// peer sees EOF. The fd itself is released on drop.
    pub fn close(&self) {
        if !self.io.is_closed() {
            let _ = self.io.raw().shutdown(Shutdown::Both);
        }
        self.io.close();
    }

    /// A second handle to the same connection (a `dup` of the fd). It copies
    /// this handle's timeouts and non-blocking setting; later changes are
    /// per handle.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let s = self.io.get()?.try_clone()?;
        Ok(TcpStream {
            io: self.io.clone_with(s),
        })
    }

    /// Receive into `buf` without consuming the data.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.read_op(|_| recv(fd, buf, true))
    }

    /// Disable (true) or enable Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get()?.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is disabled.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get()?.nodelay()
    }

    /// Set the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get()?.set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get()?.ttl()
    }

    /// Take the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.raw().take_error()
    }

    /// Fail reads that wait longer than `d` with `TimedOut` (`None`: wait
    /// forever). A zero duration is an `InvalidInput` error, as in std.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(d)
    }

    /// Fail writes that wait longer than `d` with `TimedOut`.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.io.set_write_timeout(d)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.io.read_timeout())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.io.write_timeout())
    }

    /// In non-blocking mode operations return `WouldBlock` instead of
    /// parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.io.get()?;
        self.io.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Turn back into a std stream (blocking unless `set_nonblocking(true)`
    /// was called, with this stream's timeouts), unregistered from the hub,
    /// so it can move to another thread.
    pub fn into_std(self) -> io::Result<net::TcpStream> {
        let (r, w) = (self.io.read_timeout(), self.io.write_timeout());
        let s = self.io.into_inner();
        s.set_read_timeout(r)?;
        s.set_write_timeout(w)?;
        Ok(s)
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.read_op(|_| recv(fd, buf, false))
    }

    fn read_vectored_impl(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.read_op(|_| recv_vectored(fd, bufs))
    }

    fn write_impl(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.write_op(|_| send(fd, buf))
    }

    fn write_vectored_impl(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.write_op(|_| send_vectored(fd, bufs))
    }
}

/// Non-blocking connect to one address, then park until it completes.
fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let s: net::TcpStream = mio::net::TcpStream::connect(*addr)?.into();
    let stream = TcpStream {
        io: GreenFd::from_nonblocking(s),
    };
    loop {
        // Connected when the peer address is known; failed when SO_ERROR
        // says so; otherwise still in progress.
        if let Some(e) = stream.io.raw().take_error()? {
            return Err(e);
        }
        match stream.io.raw().peer_addr() {
            Ok(_) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => return Err(e),
        }
        stream.io.wait(Interest::Write, deadline)?;
    }
}

impl From<net::TcpStream> for TcpStream {
    /// Adopt a connected std stream (switching it to non-blocking mode).
    ///
    /// # Panics
    /// If the fd's flags cannot be changed (not a valid socket).
    fn from(s: net::TcpStream) -> TcpStream {
        match GreenFd::new(s) {
            Ok(io) => TcpStream { io },
            Err(e) => panic!("green: cannot make the TcpStream non-blocking: {e}"),
        }
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_vectored_impl(bufs)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_vectored_impl(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_vectored_impl(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_vectored_impl(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.raw().as_fd()
    }
}

impl IntoRawFd for TcpStream {
    /// Unregister from the hub and hand over the fd (blocking unless
    /// `set_nonblocking(true)` was called).
    fn into_raw_fd(self) -> RawFd {
        self.io.into_inner().into_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.io.raw().local_addr() {
            d.field("addr", &a);
        }
        if let Ok(a) = self.io.raw().peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.io.fd())
            .field("closed", &self.io.is_closed())
            .finish()
    }
}
