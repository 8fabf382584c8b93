//! Socket fixtures for the network tests: a loopback listener, a connected
//! TCP pair on the current hub, an upper-casing echo loop and raw socket
//! options. Servers bind 127.0.0.1 only.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use green::net::{TcpListener, TcpStream};

/// A green listener on an ephemeral loopback port, with its address.
pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let a = l.local_addr().expect("listener address");
    (l, a)
}

/// A connected pair on one hub: (client side, accepted side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let (l, a) = listener();
    let acc = green::spawn(move || l.accept().expect("accept").0);
    let c = TcpStream::connect(a).expect("connect");
    (c, acc.join().expect("accepting coroutine"))
}

/// Echo everything read from `s` back upper-cased until EOF. Works for any
/// blocking-shaped stream: green sockets, or std sockets under `monkey`.
pub fn echo_upper<S: Read + Write>(mut s: S) {
    let mut buf = [0u8; 64];
    loop {
        let n = s.read(&mut buf).expect("echo read");
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n].to_ascii_uppercase())
            .expect("echo write");
    }
}

/// `setsockopt(fd, level, name, val)` with a typed option value; returns
/// what the call returned (0 on success) so tests can assert failures too.
pub fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> libc::c_int {
    // SAFETY: `val` points to a live `T` and the length passed is its size.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

/// Make the socket `fd` send RST instead of FIN when closed (SO_LINGER 0).
pub fn set_linger_zero(fd: RawFd) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    assert_eq!(setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &lg), 0);
}
