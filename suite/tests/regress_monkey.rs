//! Regressions in the monkey layer and the reactor under it, each named
//! after its symptom: a reused fd number that inherited a stale hub
//! registration, `EINTR` leaking out of a hooked read in a plain thread,
//! and a socket left non-blocking for a child process.
//! Patched process-wide, so its own test binary; every test takes the
//! `serial` lock (fd numbers and signal dispositions are process-wide).

mod common;
mod monkey_support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::os::unix::thread::JoinHandleExt;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use common::net::setsockopt;
use monkey_support::{
    ignore_signal, install_handler, parked_reader, serial, signal_thread, wait_handled,
    SIGNALS_HANDLED,
};

/// Close `fd` on a fresh OS thread, through the hooked `close` (`raw`:
/// the raw syscall, which no hook sees).
fn close_elsewhere(fd: i32, raw: bool) {
    std::thread::spawn(move || {
        // SAFETY: the test owns this number; nobody closes it again.
        let r = unsafe {
            if raw {
                libc::syscall(libc::SYS_close, fd) as i32
            } else {
                libc::close(fd)
            }
        };
        assert_eq!(r, 0, "close");
    })
    .join()
    .expect("closing thread");
}

/// Connect to `addr` from a plain thread after `after`.
fn connect_later(addr: std::net::SocketAddr, after: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let c = TcpStream::connect(addr).expect("late connect");
        std::thread::sleep(Duration::from_millis(100));
        drop(c);
    })
}

#[test]
fn accept_on_a_reused_fd_number_closed_on_another_thread_does_not_park_until_its_timeout() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let l0 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (n, reader) = parked_reader(l0.local_addr().expect("addr"));
        close_elsewhere(n, false);
        // The root is not a coroutine: this socket is made outside one.
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        assert_eq!(l.as_raw_fd(), n, "precondition: the freed number is reused");
        let tv = libc::timeval {
            tv_sec: 10,
            tv_usec: 0,
        };
        assert_eq!(
            setsockopt(l.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv),
            0
        );
        let addr = l.local_addr().expect("addr");
        let acc = green::spawn(move || {
            let t = Instant::now();
            let r = l.accept().map(|_| ()).map_err(|e| e.kind());
            (r, t.elapsed())
        });
        let c = connect_later(addr, Duration::from_millis(100));
        let (r, took) = acc.join().expect("acceptor");
        assert_eq!(r, Ok(()));
        assert!(
            took < Duration::from_secs(5),
            "accept was only woken by its 10 s SO_RCVTIMEO ({took:?})"
        );
        c.join().expect("client");
        reader.join().expect("reader");
    })
}

#[test]
fn green_net_accept_on_a_number_closed_by_a_raw_syscall_elsewhere_does_not_hang() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let l0 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr0 = l0.local_addr().expect("addr");
        let fd = Rc::new(Cell::new(-1));
        let fc = fd.clone();
        let reader = green::spawn(move || {
            let s = green::net::TcpStream::connect(addr0).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            fc.set(s.as_raw_fd());
            let _ = (&s).read(&mut [0u8; 8]);
            // Its number now belongs to someone else: never close it.
            std::mem::forget(s);
        });
        let t = Instant::now();
        while fd.get() < 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "reader never ran");
            green::sleep(Duration::from_millis(1));
        }
        green::sleep(Duration::from_millis(20));
        let n = fd.get();
        // No hook sees this close: only the new owner can renew the number.
        close_elsewhere(n, true);
        let l = green::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        assert_eq!(l.as_raw_fd(), n, "precondition: the freed number is reused");
        let addr = l.local_addr().expect("addr");
        let acc = green::spawn(move || {
            let t = Instant::now();
            let r = green::timeout(Duration::from_secs(10), || l.accept().map(|_| ()));
            (r.map(|r| r.map_err(|e| e.kind())), t.elapsed())
        });
        let c = connect_later(addr, Duration::from_millis(100));
        let (r, took) = acc.join().expect("acceptor");
        assert_eq!(r.ok(), Some(Ok(())), "accept never completed");
        assert!(took < Duration::from_secs(5), "accept took {took:?}");
        c.join().expect("client");
        reader.join().expect("reader");
    })
}

/// A connected pair whose accepted side a coroutine has used (the hooks
/// manage it: the real fd is non-blocking, the user's view blocking).
fn coroutine_used_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let client = TcpStream::connect(addr).expect("connect");
    let acc = green::spawn(move || l.accept().expect("accept").0);
    let server = acc.join().expect("acceptor");
    (client, server)
}

#[test]
fn plain_thread_read_on_a_coroutine_used_socket_is_not_interrupted_by_an_sa_restart_signal() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        install_handler(libc::SIGUSR1, true);
        let (mut client, mut server) = coroutine_used_pair();
        let before = SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16];
            let r = server.read(&mut buf).map(|n| buf[..n].to_vec());
            let _ = tx.send(r.map_err(|e| e.kind()));
        });
        std::thread::sleep(Duration::from_millis(100)); // blocked in the read
        signal_thread(reader.as_pthread_t(), libc::SIGUSR1);
        wait_handled(before + 1);
        std::thread::sleep(Duration::from_millis(30));
        client.write_all(b"hello").expect("write");
        let r = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("reader stuck");
        assert_eq!(
            r,
            Ok(b"hello".to_vec()),
            "unpatched, the kernel restarts it"
        );
        reader.join().expect("reader");
        ignore_signal(libc::SIGUSR1);
    })
}

/// Accept a connection in a coroutine and read its first two bytes there;
/// the client sends "hello" once `go` fires and 300 ms have passed, so
/// whoever reads it next must block for it.
fn coroutine_read_socket() -> (TcpStream, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (go, go_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.write_all(b"ab").expect("write ab");
        let _ = go_rx.recv_timeout(Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        c.write_all(b"hello").expect("write hello");
        std::thread::sleep(Duration::from_millis(200));
    });
    let acc = green::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut b = [0u8; 2];
        s.read_exact(&mut b).expect("read ab");
        assert_eq!(&b, b"ab");
        s
    });
    let s = acc.join().expect("acceptor");
    // SAFETY: F_GETFL on an open fd (through the hook: the user's view).
    let fl = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
    assert_eq!(fl & libc::O_NONBLOCK, 0, "the user's view is blocking");
    (s, go, client)
}

fn head_5(s: TcpStream, fork_path: bool) -> std::process::Output {
    let mut cmd = Command::new("head");
    cmd.args(["-c", "5"]).stdin(Stdio::from(OwnedFd::from(s)));
    if fork_path {
        // A pre_exec closure makes std fork and dup2 in the child itself
        // instead of using posix_spawn.
        // SAFETY: the closure does nothing.
        unsafe { cmd.pre_exec(|| Ok(())) };
    }
    cmd.output().expect("run head")
}

#[test]
fn socket_read_by_a_coroutine_then_given_to_a_child_is_not_nonblocking_in_the_child() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        for fork_path in [false, true] {
            let (s, go, client) = coroutine_read_socket();
            let _ = go.send(());
            let out = head_5(s, fork_path);
            assert!(
                out.status.success(),
                "head failed (fork path: {fork_path}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, b"hello", "fork path: {fork_path}");
            client.join().expect("client");
        }
    })
}
