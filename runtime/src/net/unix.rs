//! `UnixListener` and `UnixStream`: Unix-domain stream sockets whose
//! blocking-style calls park only the calling coroutine. Never blocks the
//! hub thread.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::fd::{recv, recv_vectored, send, send_vectored, GreenFd};

/// A Unix-domain stream, shaped like [`std::os::unix::net::UnixStream`];
/// same concurrency, timeout and close rules as
/// [`TcpStream`](super::TcpStream).
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
/// a.write_all(b"hi").unwrap();
/// let mut buf = [0; 2];
/// b.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// ```
pub struct UnixStream {
    io: GreenFd<net::UnixStream>,
}

/// Longest wait between connect retries while the listener's backlog is
/// full (a non-blocking Unix connect reports that as `EAGAIN`).
const FULL_BACKLOG_RETRY_MAX: Duration = Duration::from_millis(50);

impl UnixStream {
    /// Connect to the socket at `path`. If the listener's backlog is full,
    /// retries with a short back-off until it is not.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let mut pause = Duration::from_millis(1);
        loop {
            match mio::net::UnixStream::connect(path) {
                Ok(s) => {
                    let stream = UnixStream {
                        io: GreenFd::from_nonblocking(s.into()),
                    };
                    return stream.finish_connect(None);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::sleep(pause);
                    pause = (pause * 2).min(FULL_BACKLOG_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn finish_connect(self, deadline: Option<Instant>) -> io::Result<UnixStream> {
        loop {
            if let Some(e) = self.io.raw().take_error()? {
                return Err(e);
            }
            match self.io.raw().peer_addr() {
                Ok(_) => return Ok(self),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
            self.io.wait(crate::rt::Interest::Write, deadline)?;
        }
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((
            UnixStream {
                io: GreenFd::new(a)?,
            },
            UnixStream {
                io: GreenFd::new(b)?,
            },
        ))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get()?.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.raw().local_addr()
    }

    /// Shut down one or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get()?.shutdown(how)
    }

    /// Close now: parked coroutines wake with an error, later calls fail,
    /// the peer sees EOF.
    pub fn close(&self) {
        if !self.io.is_closed() {
            let _ = self.io.raw().shutdown(Shutdown::Both);
        }
        self.io.close();
    }

    /// A second handle (a `dup` of the fd), with this one's timeouts.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let s = self.io.get()?.try_clone()?;
        Ok(UnixStream {
            io: self.io.clone_with(s),
        })
    }

    /// Fail reads that wait longer than `d` with `TimedOut`.
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

    /// In non-blocking mode calls return `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.io.get()?;
        self.io.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Take the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.raw().take_error()
    }

    /// Turn back into a std stream (with this stream's timeouts),
    /// unregistered from the hub.
    pub fn into_std(self) -> io::Result<net::UnixStream> {
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

impl From<net::UnixStream> for UnixStream {
    /// Adopt a std stream (switching it to non-blocking mode).
    ///
    /// # Panics
    /// If the fd's flags cannot be changed.
    fn from(s: net::UnixStream) -> UnixStream {
        match GreenFd::new(s) {
            Ok(io) => UnixStream { io },
            Err(e) => panic!("green: cannot make the UnixStream non-blocking: {e}"),
        }
    }
}

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_vectored_impl(bufs)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_vectored_impl(bufs)
    }
}

impl Write for UnixStream {
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

impl Write for &UnixStream {
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

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.raw().as_fd()
    }
}

impl IntoRawFd for UnixStream {
    fn into_raw_fd(self) -> RawFd {
        self.io.into_inner().into_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.io.fd())
            .field("closed", &self.io.is_closed())
            .finish()
    }
}

/// A Unix-domain server socket, shaped like
/// [`std::os::unix::net::UnixListener`]; `accept` parks the caller.
pub struct UnixListener {
    io: GreenFd<net::UnixListener>,
}

impl UnixListener {
    /// Bind to `path` and listen.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let l = net::UnixListener::bind(path)?;
        Ok(UnixListener {
            io: GreenFd::new(l)?,
        })
    }

    /// Wait for the next connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let fd = self.io.fd();
        self.io.read_op(|_| {
            // SAFETY: the mio listener borrows our fd only for this call and
            // is never dropped (ManuallyDrop), so it cannot close it.
            let l = ManuallyDrop::new(unsafe { mio::net::UnixListener::from_raw_fd(fd) });
            let (s, peer) = l.accept()?;
            Ok((
                UnixStream {
                    io: GreenFd::from_nonblocking(s.into()),
                },
                peer,
            ))
        })
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.raw().local_addr()
    }

    /// Stop listening: parked acceptors wake with an error.
    pub fn close(&self) {
        self.io.close();
    }

    /// A second handle (a `dup` of the fd).
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let l = self.io.get()?.try_clone()?;
        Ok(UnixListener {
            io: self.io.clone_with(l),
        })
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.io.get()?;
        self.io.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Take the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.raw().take_error()
    }

    /// Turn back into a std listener, unregistered from the hub.
    pub fn into_std(self) -> net::UnixListener {
        self.io.into_inner()
    }
}

/// Iterator returned by [`UnixListener::incoming`]; never yields `None`.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl From<net::UnixListener> for UnixListener {
    /// Adopt a std listener (switching it to non-blocking mode).
    ///
    /// # Panics
    /// If the fd's flags cannot be changed.
    fn from(l: net::UnixListener) -> UnixListener {
        match GreenFd::new(l) {
            Ok(io) => UnixListener { io },
            Err(e) => panic!("green: cannot make the UnixListener non-blocking: {e}"),
        }
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.raw().as_fd()
    }
}

impl IntoRawFd for UnixListener {
    fn into_raw_fd(self) -> RawFd {
        self.io.into_inner().into_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.io.fd())
            .field("closed", &self.io.is_closed())
            .finish()
    }
}
