//! Selective patching: `patch(Patch::SLEEP)` makes sleeps cooperative and
//! leaves sockets alone. Own binary: patching is process-wide.

mod common;
mod monkey_support;

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use green::monkey::Patch;
use monkey_support::{real_flags, time_blocking_sleeps};

#[test]
fn only_the_patched_family_is_cooperative() {
    watchdog(60, || {
        green::monkey::patch(Patch::SLEEP);
        assert!(green::monkey::is_patched());
        assert_eq!(green::monkey::patched(), Patch::SLEEP);

        // Sleeps overlap.
        let took = time_blocking_sleeps(10, Duration::from_millis(100));
        assert!(took < Duration::from_millis(900), "sleeps: {took:?}");

        // Socket reads do not: two 150 ms read timeouts run one after the
        // other, and the fds stay blocking for real.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c1 = TcpStream::connect(addr).unwrap();
        let c2 = TcpStream::connect(addr).unwrap();
        let _s1 = l.accept().unwrap();
        let _s2 = l.accept().unwrap();
        let start = Instant::now();
        let hs: Vec<_> = [c1, c2]
            .into_iter()
            .map(|mut c| {
                green::spawn(move || {
                    c.set_read_timeout(Some(Duration::from_millis(150)))
                        .unwrap();
                    let e = c.read(&mut [0u8; 4]).unwrap_err().kind();
                    (e, real_flags(c.as_raw_fd()) & libc::O_NONBLOCK)
                })
            })
            .collect();
        for r in green::joinall(hs) {
            assert_eq!(r.unwrap(), (ErrorKind::WouldBlock, 0));
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290), "sockets: {took:?}");

        // Patching more later adds to what is patched.
        green::monkey::patch(Patch::SOCKET);
        assert_eq!(green::monkey::patched(), Patch::SLEEP | Patch::SOCKET);
    });
}
