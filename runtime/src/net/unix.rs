//! `UnixListener` and `UnixStream`: Unix-domain stream sockets whose
//! blocking-style calls park only the calling coroutine. Never blocks the
//! hub thread.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::fd::GreenFd;
use super::impls::{byte_stream, data_socket, listener};

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
                    crate::spawn::sleep(pause);
                    pause = (pause * 2).min(FULL_BACKLOG_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn finish_connect(self, deadline: Option<Instant>) -> io::Result<UnixStream> {
        self.io.wait_connected(
            deadline,
            net::UnixStream::take_error,
            net::UnixStream::peer_addr,
        )?;
        Ok(self)
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
}

data_socket! {
    UnixStream(net::UnixStream),
    addr: SocketAddr,
    kind: "stream",
    reads: "reads",
    writes: "writes",
    debug: {},
}
byte_stream!(UnixStream);

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

    /// Stop listening: parked acceptors wake with an error.
    pub fn close(&self) {
        self.io.close();
    }
}

listener! {
    UnixListener(net::UnixListener),
    addr: SocketAddr,
    accepts: UnixStream,
    incoming: UnixIncoming,
    debug: {  },
}
