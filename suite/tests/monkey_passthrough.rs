//! C38: where the hooks do not wait cooperatively — the root context of a
//! thread whose hub has nothing to run (C84 makes a root with live
//! coroutines cooperative), and threads that never made a hub — patched
//! calls behave exactly as unpatched: same results, same errno, same
//! blocking, and fds left untouched.
//!
//! One test, in its own binary: it records the unpatched behaviour first,
//! then patches the process and compares.

mod common;
mod monkey_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::hang::watchdog;
use monkey_support::{errno, real_flags};

#[derive(Debug, PartialEq)]
struct Observed {
    bad_read: (isize, i32),
    bad_close: (i32, i32),
    bad_nanosleep: (i32, i32),
    bad_clock: i32,
    refused: (i32, i32),
    pipe_roundtrip: Vec<u8>,
    getfl_nonblock: bool,
    real_nonblock: bool,
    recv_timeout_kind: ErrorKind,
    recv_timeout_waited: bool,
    poll_timeout: i32,
    dns_localhost: bool,
    dup_getfl_same: bool,
    echo: Vec<u8>,
}

fn observe() -> Observed {
    let mut buf = [0u8; 4];
    // SAFETY: an invalid fd with a valid buffer.
    let r = unsafe { libc::read(-1, buf.as_mut_ptr().cast(), 4) };
    let bad_read = (r, errno());
    // SAFETY: an fd number far above anything open.
    let c = unsafe { libc::close(1_000_000) };
    let bad_close = (c, errno());
    let bad = libc::timespec {
        tv_sec: 0,
        tv_nsec: -5,
    };
    // SAFETY: valid pointer to an invalid value.
    let n = unsafe { libc::nanosleep(&bad, std::ptr::null_mut()) };
    let bad_nanosleep = (n, errno());
    // SAFETY: as above.
    let bad_clock =
        unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &bad, std::ptr::null_mut()) };

    // A port with no listener: ECONNREFUSED through the raw call.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // SAFETY: plain socket calls with a valid address.
    let refused = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_port = port.to_be();
        a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let r = libc::connect(
            fd,
            (&raw const a).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let e = errno();
        libc::close(fd);
        (r, e)
    };

    let mut fds = [0; 2];
    // SAFETY: a valid two-int array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: valid buffers on the pipe's ends.
    let pipe_roundtrip = unsafe {
        libc::write(fds[1], b"pipe".as_ptr().cast(), 4);
        let mut b = [0u8; 4];
        let n = libc::read(fds[0], b.as_mut_ptr().cast(), 4);
        libc::close(fds[0]);
        libc::close(fds[1]);
        b[..n.max(0) as usize].to_vec()
    };

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    // SAFETY: F_GETFL takes no argument.
    let getfl = unsafe { libc::fcntl(c.as_raw_fd(), libc::F_GETFL) };
    let getfl_nonblock = getfl & libc::O_NONBLOCK != 0;
    let real_nonblock = real_flags(c.as_raw_fd()) & libc::O_NONBLOCK != 0;
    let d = c.try_clone().unwrap();
    // SAFETY: F_GETFL takes no argument.
    let dup_getfl_same = unsafe { libc::fcntl(d.as_raw_fd(), libc::F_GETFL) } == getfl;
    c.set_read_timeout(Some(Duration::from_millis(60))).unwrap();
    let t = Instant::now();
    let e = c.read(&mut buf).unwrap_err();
    let recv_timeout_kind = e.kind();
    let recv_timeout_waited = t.elapsed() >= Duration::from_millis(55);
    s.write_all(b"echo").unwrap();
    let mut echo = vec![0u8; 4];
    c.read_exact(&mut echo).unwrap();

    let mut p = libc::pollfd {
        fd: c.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let poll_timeout = unsafe { libc::poll(&mut p, 1, 30) };
    let dns_localhost = ("localhost", 80)
        .to_socket_addrs()
        .map(|mut a| a.any(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    Observed {
        bad_read,
        bad_close,
        bad_nanosleep,
        bad_clock,
        refused,
        pipe_roundtrip,
        getfl_nonblock,
        real_nonblock,
        recv_timeout_kind,
        recv_timeout_waited,
        poll_timeout,
        dns_localhost,
        dup_getfl_same,
        echo,
    }
}

/// Results of hooked calls made by a constructor, before `main`.
static EARLY: [AtomicI64; 3] = [AtomicI64::new(7), AtomicI64::new(7), AtomicI64::new(7)];

extern "C" fn before_main() {
    let mut b = [0u8; 1];
    // SAFETY: an invalid fd with a valid buffer, then a plain usleep.
    let (r, e, u) = unsafe {
        let r = libc::read(-1, b.as_mut_ptr().cast(), 1);
        let e = *libc::__errno_location();
        (r, e, libc::usleep(1))
    };
    EARLY[0].store(r as i64, Ordering::Relaxed);
    EARLY[1].store(i64::from(e), Ordering::Relaxed);
    EARLY[2].store(i64::from(u), Ordering::Relaxed);
}

#[used]
#[link_section = ".init_array"]
static BEFORE_MAIN: extern "C" fn() = before_main;

#[test]
fn hooks_called_before_main_pass_through() {
    let got: Vec<i64> = EARLY.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    assert_eq!(got, [-1, i64::from(libc::EBADF), 0]);
}

// C38
#[test]
fn c38_outside_coroutines_patched_calls_behave_as_unpatched() {
    watchdog(60, || {
        assert!(!green::monkey::is_patched());
        let before = observe();
        assert_eq!(before.bad_read, (-1, libc::EBADF));
        assert_eq!(before.refused, (-1, libc::ECONNREFUSED));
        assert!(!before.real_nonblock);

        green::monkey::patch_all();
        // The root context of a thread that has a hub with nothing to run.
        let _ = green::spawn(|| ()).join();
        assert!(!green::rt::cooperative());
        let on_root = observe();
        assert_eq!(on_root, before);
        // A thread that never made a hub.
        let on_plain_thread = std::thread::spawn(observe).join().unwrap();
        assert_eq!(on_plain_thread, before);
        // Blocking sleep outside a coroutine still blocks the thread.
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
    });
}
