//! `TcpStream`: a connected TCP socket whose blocking-style calls park only
//! the calling coroutine.
//!
//! Owns connecting (non-blocking `connect`, then waiting for writability),
//! and the stream's reads and writes through [`GreenFd`]. Never blocks the
//! hub thread: not in `connect`, not in name resolution.

use std::io;
use std::net::{self, SocketAddr};
use std::time::{Duration, Instant};

use super::dns::{each_addr, ToSocketAddrs};
use super::fd::GreenFd;
use super::impls::{byte_stream, data_socket, ip_ttl};

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
        connect_addr(addr, crate::clock::now().checked_add(timeout))
    }

    pub(crate) fn from_accepted(s: net::TcpStream) -> TcpStream {
        TcpStream {
            io: GreenFd::from_nonblocking(s),
        }
    }

    /// Receive into `buf` without consuming the data.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.recv(buf, true)
    }

    /// Disable (true) or enable Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get()?.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is disabled.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get()?.nodelay()
    }
}

/// Non-blocking connect to one address, then park until it completes.
fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let s: net::TcpStream = mio::net::TcpStream::connect(*addr)?.into();
    let stream = TcpStream {
        io: GreenFd::from_nonblocking(s),
    };
    stream.io.wait_connected(
        deadline,
        net::TcpStream::take_error,
        net::TcpStream::peer_addr,
    )?;
    Ok(stream)
}

data_socket! {
    TcpStream(net::TcpStream),
    addr: SocketAddr,
    kind: "stream",
    reads: "reads",
    writes: "writes",
    debug: { "addr": local_addr, "peer": peer_addr },
}
byte_stream!(TcpStream);
ip_ttl!(TcpStream, set_doc: "Set the IP time-to-live.");
