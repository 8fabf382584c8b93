//! `UdpSocket`: datagrams whose blocking-style calls park only the calling
//! coroutine. Never blocks the hub thread (names resolve off it).

use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::dns::{each_addr, no_addresses, ToSocketAddrs};
use super::fd::GreenFd;
use super::impls::{data_socket, ip_ttl};

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
        self.io.recv_from(buf, false)
    }

    /// Like `recv_from` without consuming the datagram.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.recv_from(buf, true)
    }

    /// Send one datagram to the first address `addr` names.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let target = *addr.to_socket_addrs()?.first().ok_or_else(no_addresses)?;
        self.io.send_to(buf, &target)
    }

    /// Set the default peer: `send`/`recv` use it, and datagrams from others
    /// are dropped.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let s = self.io.get()?;
        each_addr(&addr, |a| s.connect(a))
    }

    /// Send to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.send(buf)
    }

    /// Receive from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.recv(buf, false)
    }

    /// Like `recv` without consuming the datagram.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.recv(buf, true)
    }

    /// Close now: parked coroutines wake with an error, later calls fail.
    pub fn close(&self) {
        self.io.close();
    }

    /// Allow sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get()?.set_broadcast(on)
    }

    /// Whether broadcast is allowed.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get()?.broadcast()
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
}

data_socket! {
    UdpSocket(net::UdpSocket),
    addr: SocketAddr,
    kind: "socket",
    reads: "receives",
    writes: "sends",
    debug: { "addr": local_addr },
}
ip_ttl!(UdpSocket, set_doc: "Set the IP time-to-live.");
