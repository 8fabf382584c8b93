//! Fault injection for green::net: resets, half-close, refused and timed-out
//! connects, EPIPE without SIGPIPE, kill while parked in I/O.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::net::{TcpListener, TcpStream, UnixStream};

use common::hang::watchdog;
use common::net::{set_linger_zero, tcp_pair};

#[test]
fn peer_reset_mid_read_is_an_error() {
    watchdog(20, || {
        let (c, s) = tcp_pair();
        let reader = green::spawn(move || {
            let mut first = [0u8; 5];
            (&s).read_exact(&mut first).unwrap();
            // Parks here until the reset arrives.
            (&s).read(&mut [0u8; 64])
        });
        (&c).write_all(b"hello").unwrap();
        green::sleep(Duration::from_millis(30));
        set_linger_zero(c.as_raw_fd());
        drop(c);
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    });
}

#[test]
fn half_close_reads_eof_and_can_still_reply() {
    watchdog(20, || {
        let (mut c, s) = tcp_pair();
        let server = green::spawn(move || {
            let mut req = Vec::new();
            (&s).read_to_end(&mut req).unwrap(); // ends at the client's FIN
            (&s).write_all(&req.to_ascii_uppercase()).unwrap();
        });
        c.write_all(b"half closed").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "HALF CLOSED");
        server.join().unwrap();
        // Writing after our own shutdown(Write) is EPIPE, not a signal.
        assert_eq!(c.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn connect_refused_is_connection_refused() {
    watchdog(20, || {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let e = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // Through the resolver, every address refuses: the last error.
        let e = TcpStream::connect(format!("localhost:{port}")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn connect_timeout_on_a_full_backlog_times_out() {
    watchdog(30, || {
        // A listener with the smallest backlog that nobody accepts from:
        // once its queue is full the kernel drops further SYNs, so those
        // connects stay in progress until our deadline.
        // SAFETY: plain socket syscalls on a fresh fd we own.
        let l = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
                },
                sin_zero: [0; 8],
            };
            let r = libc::bind(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert_eq!(r, 0);
            assert_eq!(libc::listen(fd, 0), 0);
            std::net::TcpListener::from_raw_fd(fd)
        };
        let addr = l.local_addr().unwrap();
        let t = Instant::now();
        let mut kinds = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..6 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => keep.push(s),
                Err(e) => kinds.push(e.kind()),
            }
        }
        assert!(
            kinds.contains(&ErrorKind::TimedOut),
            "no connect timed out: {kinds:?}, {} connected",
            keep.len()
        );
        assert!(kinds.iter().all(|k| *k == ErrorKind::TimedOut), "{kinds:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn kill_of_a_coroutine_parked_in_io() {
    watchdog(20, || {
        let (c, s) = tcp_pair();
        let c = Rc::new(c);
        struct Flag(Rc<std::cell::Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(std::cell::Cell::new(false));
        let (r, d) = (c.clone(), dropped.clone());
        let victim = green::spawn(move || {
            let _f = Flag(d);
            (&*r).read(&mut [0u8; 16])
        });
        green::sleep(Duration::from_millis(20));
        victim.kill();
        assert!(dropped.get(), "destructors ran during the kill");
        assert!(victim.join().unwrap_err().is_killed());
        // The socket is intact: the next reader gets the data.
        let r = c.clone();
        let next = green::spawn(move || {
            let mut b = [0u8; 4];
            (&*r).read_exact(&mut b).map(|_| b)
        });
        (&s).write_all(b"data").unwrap();
        assert_eq!(&next.join().unwrap().unwrap(), b"data");
        // Killing a parked connect/accept is just as clean.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let acc = green::spawn(move || l.accept().map(|_| ()));
        green::sleep(Duration::from_millis(10));
        acc.kill();
        assert!(acc.join().unwrap_err().is_killed());
    });
}

/// Entry point for the child processes below: does nothing unless the
/// parent test set `GREEN_NET_FAULT_CHILD`.
#[test]
fn child_process_entry() {
    if std::env::var("GREEN_NET_FAULT_CHILD").as_deref() == Ok("epipe") {
        epipe_child();
    }
}

fn epipe_child() {
    // Default SIGPIPE disposition: a write that raised SIGPIPE would kill
    // this process instead of returning an error.
    // SAFETY: setting a signal disposition to SIG_DFL.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (c, s) = tcp_pair();
    drop(s);
    let mut kinds = Vec::new();
    for _ in 0..100 {
        match (&c).write_all(&[0u8; 1024]) {
            Ok(()) => green::sleep(Duration::from_millis(2)),
            Err(e) => {
                kinds.push(e.kind());
                break;
            }
        }
    }
    let (u, v) = UnixStream::pair().unwrap();
    drop(v);
    kinds.push((&u).write(b"x").unwrap_err().kind());
    let iov = [std::io::IoSlice::new(b"y")];
    kinds.push((&u).write_vectored(&iov).unwrap_err().kind());
    println!("CHILD-RESULT {kinds:?}");
}

#[test]
fn write_to_closed_peer_is_epipe_not_sigpipe() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GREEN_NET_FAULT_CHILD", "epipe")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child died: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("CHILD-RESULT"))
        .unwrap_or_else(|| panic!("no result line in {stdout}"));
    // TCP: EPIPE or a reset; Unix (write and sendmsg): EPIPE.
    assert!(
        line.contains("[BrokenPipe, BrokenPipe, BrokenPipe]")
            || line.contains("[ConnectionReset, BrokenPipe, BrokenPipe]"),
        "{line}"
    );
}
