//! Name resolution that never blocks the hub: `resolve` and the
//! `ToSocketAddrs` trait every green constructor takes.
//!
//! Numeric addresses are parsed in place. Host names go to glibc's
//! `getaddrinfo` on the blocking pool (`spawn_blocking`), so only the
//! asking coroutine waits; asked from a pool thread (inside a
//! `spawn_blocking` job) the lookup runs right there, since a pool thread
//! must never wait on the pool. This module must never call `getaddrinfo`
//! (or std's `ToSocketAddrs` on a host name) on a hub thread other than a
//! pool thread, and must not route lookups around `spawn_blocking`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Resolve `host` (a name or a numeric address) and `port` to socket
/// addresses, running the system resolver on the blocking pool so other
/// coroutines keep running.
///
/// Composes with `green::timeout` and `kill`: the caller stops waiting at
/// once; the lookup finishes on its pool thread and is discarded.
///
/// ```
/// let addrs = green::net::resolve("localhost", 80).unwrap();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// ```
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_ip(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "green: cannot resolve an empty host name",
        ));
    }
    let host = host.to_owned();
    let addrs = crate::blocking::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(|i| i.collect())
    })?;
    non_empty(addrs)
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    // "[::1]" as in URLs.
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

fn non_empty(addrs: Vec<SocketAddr>) -> io::Result<Vec<SocketAddr>> {
    if addrs.is_empty() {
        return Err(no_addresses());
    }
    Ok(addrs)
}

pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

fn split_host_port(s: &str) -> io::Result<(&str, u16)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port = port
        .parse::<u16>()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"))?;
    Ok((host, port))
}

mod sealed {
    pub trait Sealed {}
}

/// Things that name one or more socket addresses: the same set of types as
/// `std::net::ToSocketAddrs` (`SocketAddr`, `(IpAddr, u16)`, `(&str, u16)`,
/// `"host:port"`, `&[SocketAddr]`, ...). Host names are resolved with
/// [`resolve`], off the hub thread.
pub trait ToSocketAddrs: sealed::Sealed {
    /// The addresses, resolved without blocking the hub.
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

macro_rules! direct {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl ToSocketAddrs for $t {
            fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
                Ok(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
direct!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve(&self.0, self.1)
    }
}

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(vec![a]);
        }
        let (host, port) = split_host_port(self)?;
        resolve(host, port)
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl sealed::Sealed for [SocketAddr] {}
impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl sealed::Sealed for Vec<SocketAddr> {}
impl ToSocketAddrs for Vec<SocketAddr> {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.clone())
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// Try `f` on each address in turn; the first success wins, else the last
/// error (std's rule).
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let addrs = addr.to_socket_addrs()?;
    let mut last = None;
    for a in &addrs {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}
