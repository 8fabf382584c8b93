//! `UdpSocket`: datagrams whose blocking-style calls park only the calling
//! coroutine. Never blocks the hub thread (names resolve off it).

use std::fmt;
use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::time::Duration;

use super::dns::{each_addr, no_addresses, ToSocketAddrs};
use super::fd::{recv, send, GreenFd};

/// A UDP socket, shaped like [`std::net::UdpSocket`].
///
/// `recv*` park until a datagram arrives (within the read timeout); `send*`
/// park only while the socket buffer is full. Not `Send` (see
/// [`TcpStream`](super::TcpStream)).
///
/// ```
/// let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = a.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], b.local_addr().unwrap()));
/// ```
pub struct UdpSocket {
    io: GreenFd<net::UdpSocket>,
}

impl UdpSocket {
    /// Bind to the first of `addr`'s addresses that works.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let s = each_addr(&addr, |a| net::UdpSocket::bind(a))?;
        Ok(UdpSocket {
            io: GreenFd::new(s)?,
        })
    }

    /// Receive one datagram and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_op(|s| s.recv_from(buf))
    }

    /// Like `recv_from` without consuming the datagram.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_op(|s| s.peek_from(buf))
    }

    /// Send one datagram to the first address `addr` names.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let target = *addr.to_socket_addrs()?.first().ok_or_else(no_addresses)?;
        self.io.write_op(|s| s.send_to(buf, target))
    }

    /// Set the default peer: `send`/`recv` use it, and datagrams from others
    /// are dropped.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let s = self.io.get()?;
        each_addr(&addr, |a| s.connect(a))
    }

    /// Send to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.write_op(|_| send(fd, buf))
    }

    /// Receive from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.read_op(|_| recv(fd, buf, false))
    }

    /// Like `recv` without consuming the datagram.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.io.fd();
        self.io.read_op(|_| recv(fd, buf, true))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get()?.peer_addr()
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.raw().local_addr()
    }

    /// Close now: parked coroutines wake with an error, later calls fail.
    pub fn close(&self) {
        self.io.close();
    }

    /// A second handle (a `dup` of the fd), with this one's timeouts.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let s = self.io.get()?.try_clone()?;
        Ok(UdpSocket {
            io: self.io.clone_with(s),
        })
    }

    /// Fail receives that wait longer than `d` with `TimedOut`.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(d)
    }

    /// Fail sends that wait longer than `d` with `TimedOut`.
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

    /// Allow sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get()?.set_broadcast(on)
    }

    /// Whether broadcast is allowed.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get()?.broadcast()
    }

    /// Set the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get()?.set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get()?.ttl()
    }

    /// Join an IPv4 multicast group.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.io.get()?.join_multicast_v4(group, interface)
    }

    /// Leave an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.io.get()?.leave_multicast_v4(group, interface)
    }

    /// Join an IPv6 multicast group.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get()?.join_multicast_v6(group, interface)
    }

    /// Leave an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get()?.leave_multicast_v6(group, interface)
    }

    /// Whether multicast datagrams loop back (IPv4).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get()?.set_multicast_loop_v4(on)
    }

    /// Multicast time-to-live (IPv4).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get()?.set_multicast_ttl_v4(ttl)
    }

    /// Take the pending socket error, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.raw().take_error()
    }

    /// Turn back into a std socket (with this socket's timeouts),
    /// unregistered from the hub.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        let (r, w) = (self.io.read_timeout(), self.io.write_timeout());
        let s = self.io.into_inner();
        s.set_read_timeout(r)?;
        s.set_write_timeout(w)?;
        Ok(s)
    }
}

impl From<net::UdpSocket> for UdpSocket {
    /// Adopt a std socket (switching it to non-blocking mode).
    ///
    /// # Panics
    /// If the fd's flags cannot be changed (not a valid socket).
    fn from(s: net::UdpSocket) -> UdpSocket {
        match GreenFd::new(s) {
            Ok(io) => UdpSocket { io },
            Err(e) => panic!("green: cannot make the UdpSocket non-blocking: {e}"),
        }
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.raw().as_fd()
    }
}

impl IntoRawFd for UdpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.io.into_inner().into_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.io.raw().local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.io.fd())
            .field("closed", &self.io.is_closed())
            .finish()
    }
}
