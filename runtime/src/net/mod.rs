//! Cooperative networking: sockets whose blocking-style calls park only the
//! calling coroutine, so plain sequential server code handles thousands of
//! connections on one hub.
//!
//! The types mirror `std::net` and `std::os::unix::net`. Every operation
//! tries its syscall on a non-blocking fd and parks on `EAGAIN` (`fd.rs`);
//! the fd is registered with the hub's reactor once, edge-triggered, on its
//! first `EAGAIN`, and forgotten before it is closed. The hub remembers its
//! readiness: after `EAGAIN`, a short stream write or a short TCP read, the
//! next operation parks before its syscall until an event says the fd is
//! ready.
//! Names resolve on the blocking pool (`dns.rs`), never on the hub thread.
//!
//! Sharing rules, the same for every type:
//! - One reader and one writer on a socket from two coroutines never block
//!   each other. Several concurrent readers (or writers, or acceptors) are
//!   allowed: each readiness wakes them all, each retries its syscall, and
//!   the ones that find nothing park again. Each byte, datagram or
//!   connection goes to exactly one caller; nobody waits forever.
//! - `close()` (or dropping the last owner) wakes every coroutine parked on
//!   the socket with an error; a reused fd number never inherits them.
//! - Timeouts fail an operation with `io::ErrorKind::TimedOut`. Kill and
//!   `green::timeout` end a parked operation too.
//! - Sockets are not `Send`: their registrations live in the creating
//!   thread's hub. `into_std()` hands a socket over for another thread.
//!
//! This module never touches the reactor directly: it reads and clears
//! readiness through `green::rt::fd_readiness` and parks through
//! `green::rt::wait_fd` (or the snapshot's `wait`).

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
