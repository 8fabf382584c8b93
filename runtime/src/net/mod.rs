//! Cooperative networking: TCP, UDP and Unix-domain sockets whose
//! blocking-style calls park only the calling coroutine, so plain
//! sequential server code handles thousands of connections on one hub.
//!
//! The types mirror `std::net` and `std::os::unix::net`: [`TcpListener`],
//! [`TcpStream`], [`UdpSocket`], [`UnixListener`], [`UnixStream`], plus
//! [`StreamServer`] (gevent's: a listener with a handler coroutine per
//! connection). Host names are resolved off the hub thread ([`resolve`]).
//!
//! ```
//! use std::io::{Read, Write};
//! use green::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! // One coroutine per connection, each written as blocking code.
//! green::spawn(move || {
//!     while let Ok((mut conn, _peer)) = listener.accept() {
//!         green::spawn(move || {
//!             let mut buf = [0; 64];
//!             while let Ok(n @ 1..) = conn.read(&mut buf) {
//!                 if conn.write_all(&buf[..n]).is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//! let clients: Vec<_> = (0..3)
//!     .map(|i| green::spawn(move || -> std::io::Result<String> {
//!         let mut c = TcpStream::connect(addr)?;
//!         c.write_all(format!("hello {i}").as_bytes())?;
//!         let mut buf = [0; 64];
//!         let n = c.read(&mut buf)?;
//!         Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
//!     }))
//!     .collect();
//! for (i, r) in green::joinall(clients).into_iter().enumerate() {
//!     assert_eq!(r.unwrap()?, format!("hello {i}"));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Rules every type keeps:
//! - One reader and one writer on a socket, in two coroutines, never block
//!   each other. Several concurrent readers (or writers, or acceptors) are
//!   allowed: each byte, datagram or connection goes to exactly one of
//!   them, and nobody waits for ever.
//! - `close()` (or dropping the last owner) wakes every coroutine parked on
//!   the socket with an error; a new socket that gets the same descriptor
//!   number never inherits them.
//! - Timeouts (`set_read_timeout`, `set_write_timeout`, `connect_timeout`)
//!   fail an operation with `io::ErrorKind::TimedOut`. Kill and
//!   [`green::timeout`](crate::timeout) end a parked operation too.
//! - Sockets are [`ThreadBound`](crate::marker::ThreadBound): their registrations
//!   live in the hub of the thread that made them. `into_std()` hands a
//!   socket over for another thread.

// Contributor note: every operation tries its syscall on a non-blocking fd
// and parks on `EAGAIN` (`fd.rs`); the fd is registered with the hub's
// reactor once, edge-triggered, on its first `EAGAIN`, and forgotten
// before it is closed. The hub remembers its readiness: after `EAGAIN`, a
// short stream write or a short TCP read, the next operation parks before
// its syscall until an event says the fd is ready. Names resolve on the
// blocking pool (`dns.rs`), never on the hub thread. This module never
// touches the reactor directly: it reads and clears readiness through
// `green::rt::fd_readiness` and parks through `green::rt::wait_fd` (or the
// snapshot's `wait`).

mod dns;
mod fd;
mod impls;
mod reuseport;
mod server;
mod sockaddr;
mod tcp_listener;
mod tcp_stream;
mod udp;
mod unix;

pub use dns::{resolve, ToSocketAddrs};
pub use server::StreamServer;
pub use std::net::{Shutdown, SocketAddr};
pub use tcp_listener::{Incoming, TcpListener};
pub use tcp_stream::TcpStream;
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};
