//! Fault injection in the monkey layer: signals with and without
//! `SA_RESTART` (one-shot `pthread_kill` and thread-directed interval
//! timers), `EAGAIN` for a user-non-blocking fd, short reads and writes,
//! peer resets, and fd numbers reused across threads — inside coroutines and
//! in plain threads. Outside coroutines every result is compared with what
//! libc gives for the same socket the hooks never touched.
//! Patched process-wide, so its own test binary; every test takes the
//! `serial` lock (signals, dispositions and fd numbers are process-wide) and
//! runs under a watchdog.

mod common;
mod monkey_support;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::thread::JoinHandleExt;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use common::net::{set_linger_zero, setsockopt};
use monkey_support::{
    gettid, ignore_signal, install_handler, parked_reader, real_flags, serial, signal_thread,
    wait_handled, ThreadTimer, SIGNALS_HANDLED,
};

type Got = Result<Vec<u8>, ErrorKind>;

fn handled() -> usize {
    SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst)
}

fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

/// (client, server), both made outside coroutines: the hooks never manage
/// them, so they show what libc does.
fn plain_pair() -> (TcpStream, TcpStream) {
    let (l, a) = bind();
    let c = TcpStream::connect(a).expect("connect");
    let s = l.accept().expect("accept").0;
    (c, s)
}

/// (client, server) where a coroutine accepted the server side: managed
/// (really non-blocking, blocking in the user's view).
fn managed_pair() -> (TcpStream, TcpStream) {
    let (l, a) = bind();
    let c = TcpStream::connect(a).expect("connect");
    let s = green::spawn(move || l.accept().expect("accept").0)
        .join()
        .expect("acceptor");
    assert_ne!(
        real_flags(s.as_raw_fd()) & libc::O_NONBLOCK,
        0,
        "precondition: managed"
    );
    (c, s)
}

/// How signals reach the blocked reader.
#[derive(Copy, Clone, Debug)]
enum Delivery {
    /// One `pthread_kill`.
    Once,
    /// A thread-directed interval timer every 2 ms for the whole wait.
    Storm,
}

/// A plain thread blocks in `read` on `server`; `sig` reaches it (see
/// [`Delivery`]); 150 ms later the client sends "hello". What the read gave.
fn plain_read_under(
    mut client: TcpStream,
    mut server: TcpStream,
    sig: libc::c_int,
    how: Delivery,
    timeout: Option<Duration>,
) -> Got {
    server.set_read_timeout(timeout).expect("read timeout");
    let before = handled();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let _ = tid_tx.send(gettid());
        let mut buf = [0u8; 16];
        let r = server.read(&mut buf).map(|n| buf[..n].to_vec());
        let _ = tx.send(r.map_err(|e| e.kind()));
    });
    let tid = tid_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reader tid");
    std::thread::sleep(Duration::from_millis(50)); // blocked in the read
    let timer = match how {
        Delivery::Once => {
            signal_thread(reader.as_pthread_t(), sig);
            None
        }
        Delivery::Storm => Some(ThreadTimer::start(tid, sig, Duration::from_millis(2))),
    };
    wait_handled(before + 1);
    std::thread::sleep(Duration::from_millis(150));
    client.write_all(b"hello").expect("write");
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reader stuck");
    drop(timer);
    reader.join().expect("reader");
    r
}

/// The same scenario on a socket libc handles alone and on one the hooks
/// manage: both results, after checking they are equal.
fn libc_and_hooked(sig: libc::c_int, how: Delivery, timeout: Option<Duration>) -> Got {
    let (c, s) = plain_pair();
    let libc_got = plain_read_under(c, s, sig, how, timeout);
    let (c, s) = managed_pair();
    let hooked = plain_read_under(c, s, sig, how, timeout);
    assert_eq!(
        hooked, libc_got,
        "hooked read differs from libc ({how:?}, timeout {timeout:?})"
    );
    hooked
}

#[test]
fn plain_thread_read_with_sa_restart_handler_returns_the_data_like_libc() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        install_handler(libc::SIGUSR1, true);
        for how in [Delivery::Once, Delivery::Storm] {
            let got = libc_and_hooked(libc::SIGUSR1, how, None);
            assert_eq!(got, Ok(b"hello".to_vec()), "{how:?}");
        }
        ignore_signal(libc::SIGUSR1);
    })
}

#[test]
fn plain_thread_read_without_sa_restart_fails_with_eintr_like_libc() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        install_handler(libc::SIGUSR2, false);
        let got = libc_and_hooked(libc::SIGUSR2, Delivery::Once, None);
        assert_eq!(got, Err(ErrorKind::Interrupted));
        ignore_signal(libc::SIGUSR2);
    })
}

#[test]
fn plain_thread_read_with_socket_timeout_fails_with_eintr_even_with_sa_restart() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        install_handler(libc::SIGUSR1, true);
        let got = libc_and_hooked(libc::SIGUSR1, Delivery::Once, Some(Duration::from_secs(5)));
        assert_eq!(got, Err(ErrorKind::Interrupted), "signal(7): not restarted");
        ignore_signal(libc::SIGUSR1);
    })
}

#[test]
fn coroutine_parked_in_a_read_is_not_disturbed_by_signals_with_or_without_sa_restart() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        for restart in [true, false] {
            install_handler(libc::SIGUSR2, restart);
            let (mut c, mut s) = managed_pair();
            let before = handled();
            let reader = green::spawn(move || {
                let mut buf = [0u8; 16];
                s.read(&mut buf)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|e| e.kind())
            });
            // Signals hit the hub thread while the reader is parked and the
            // hub sleeps in epoll_wait.
            let timer = ThreadTimer::start(gettid(), libc::SIGUSR2, Duration::from_millis(2));
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                c.write_all(b"hello").expect("write");
                c
            });
            let got = reader.join().expect("reader");
            drop(timer);
            assert!(handled() > before, "no signal arrived");
            assert_eq!(got, Ok(b"hello".to_vec()), "SA_RESTART: {restart}");
            writer.join().expect("writer");
        }
        ignore_signal(libc::SIGUSR2);
    })
}

#[test]
fn user_nonblocking_read_gives_would_block_in_coroutines_and_plain_threads() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let (_c, s) = managed_pair();
        s.set_nonblocking(true).expect("nonblocking");
        let s = Rc::new(s);
        let s2 = s.clone();
        let t = Instant::now();
        let r = green::spawn(move || (&*s2).read(&mut [0u8; 4]).map_err(|e| e.kind()))
            .join()
            .expect("reader");
        assert_eq!(r, Err(ErrorKind::WouldBlock));
        let s = Rc::try_unwrap(s).expect("sole owner");
        let r = std::thread::spawn(move || (&s).read(&mut [0u8; 4]).map_err(|e| e.kind()))
            .join()
            .expect("plain reader");
        assert_eq!(r, Err(ErrorKind::WouldBlock));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a non-blocking read waited"
        );
    })
}

#[test]
fn short_reads_return_what_is_there_and_read_exact_collects_dribbles_in_order() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let (mut c, s) = managed_pair();
        c.write_all(b"abc").expect("write");
        std::thread::sleep(Duration::from_millis(20));
        let s = green::spawn(move || {
            let mut s = s;
            let mut buf = [0u8; 100];
            let n = s.read(&mut buf).expect("read");
            assert_eq!(&buf[..n], b"abc", "a read returns what is there");
            s
        })
        .join()
        .expect("reader");
        let writer = std::thread::spawn(move || {
            for i in 0..50u8 {
                c.write_all(&[i; 7]).expect("dribble");
                std::thread::sleep(Duration::from_millis(2));
            }
            c
        });
        let (s, got) = green::spawn(move || {
            let mut s = s;
            let mut got = vec![0u8; 350];
            s.read_exact(&mut got).expect("read_exact");
            (s, got)
        })
        .join()
        .expect("collector");
        let want: Vec<u8> = (0..50u8).flat_map(|i| [i; 7]).collect();
        assert_eq!(got, want);
        // The same from a plain thread on the managed fd: one short read.
        let mut c = writer.join().expect("writer");
        c.write_all(b"xy").expect("write");
        let r = std::thread::spawn(move || {
            let mut s = s;
            let mut buf = [0u8; 64];
            s.read(&mut buf).map(|n| buf[..n].to_vec())
        })
        .join()
        .expect("plain reader")
        .expect("read");
        assert_eq!(r, b"xy");
    })
}

/// A deterministic stream of `len` bytes that shows any loss or reorder.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Read everything from `s` in small, slow pieces.
fn drain_slowly(mut s: TcpStream, slow: impl Fn()) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = s.read(&mut buf).expect("drain read");
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&buf[..n]);
        if all.len() % 7 == 0 {
            slow();
        }
    }
}

#[test]
fn short_writes_with_a_tiny_sndbuf_deliver_every_byte_in_order() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        // Only the sender's buffer is shrunk: a tiny receive window too makes
        // loopback TCP crawl on delayed ACKs (seconds per 64 KiB).
        let data = pattern(256 << 10);
        // In a coroutine: std's write_all over the hooked write, the reader
        // another coroutine on the same hub.
        let (c, s) = managed_pair();
        let one: libc::c_int = 1; // the kernel rounds it up to its minimum
        assert_eq!(
            setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, &one),
            0
        );
        let c = green::spawn(move || {
            // Managed too once a coroutine reads it.
            drain_slowly(c, || green::sleep(Duration::from_millis(1)))
        });
        let d = data.clone();
        let w = green::spawn(move || {
            let mut s = s;
            s.write_all(&d).expect("write_all");
        });
        w.join().expect("writer");
        assert_eq!(c.join().expect("drainer"), data, "coroutine writer");
        // In a plain thread, on a fd the hooks manage (real EAGAIN, polled).
        let (c, s) = managed_pair();
        assert_eq!(
            setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, &one),
            0
        );
        let d = data.clone();
        let w = std::thread::spawn(move || {
            let mut s = s;
            s.write_all(&d).expect("plain write_all");
        });
        let got = std::thread::spawn(move || {
            drain_slowly(c, || std::thread::sleep(Duration::from_millis(1)))
        })
        .join()
        .expect("plain drainer");
        w.join().expect("plain writer");
        assert_eq!(got, data, "plain-thread writer");
    })
}

#[test]
fn peer_reset_gives_connection_reset_in_a_coroutine_and_a_plain_thread() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        // Coroutine parked in the read when the reset arrives.
        let (c, s) = managed_pair();
        let reader = green::spawn(move || {
            let mut s = s;
            s.read(&mut [0u8; 8]).map_err(|e| e.kind())
        });
        let resetter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            set_linger_zero(c.as_raw_fd());
            drop(c);
        });
        assert_eq!(
            reader.join().expect("reader"),
            Err(ErrorKind::ConnectionReset)
        );
        resetter.join().expect("resetter");
        // Plain thread blocked (polling) on a managed fd.
        let (c, s) = managed_pair();
        let reader = std::thread::spawn(move || {
            let mut s = s;
            s.read(&mut [0u8; 8]).map_err(|e| e.kind())
        });
        std::thread::sleep(Duration::from_millis(100));
        set_linger_zero(c.as_raw_fd());
        drop(c);
        assert_eq!(
            reader.join().expect("plain reader"),
            Err(ErrorKind::ConnectionReset)
        );
    })
}

/// Close `fd` on a fresh OS thread (through the hooked `close`).
fn close_on_other_thread(fd: i32) {
    std::thread::spawn(move || {
        // SAFETY: the test owns this number and never closes it again.
        assert_eq!(unsafe { libc::close(fd) }, 0);
    })
    .join()
    .expect("closer");
}

/// A managed client socket whose number the test will close behind the
/// hub's back; `setup` shapes its state in the coroutine that made it.
fn doomed_socket(addr: SocketAddr, setup: impl FnOnce(&TcpStream) + 'static) -> i32 {
    let fd = Rc::new(Cell::new(-1));
    let fc = fd.clone();
    green::spawn(move || {
        let s = ManuallyDrop::new(TcpStream::connect(addr).expect("connect"));
        setup(&s);
        fc.set(s.as_raw_fd());
    })
    .join()
    .expect("maker");
    fd.get()
}

/// A socket connected to `addr`, made on another OS thread (outside any
/// coroutine), expected to get the number `n`.
fn new_socket_elsewhere(addr: SocketAddr, n: i32) -> TcpStream {
    let s = std::thread::spawn(move || TcpStream::connect(addr).expect("connect"))
        .join()
        .expect("maker thread");
    assert_eq!(s.as_raw_fd(), n, "precondition: the freed number is reused");
    s
}

#[test]
fn reused_fd_number_does_not_inherit_the_user_nonblocking_view() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let (l, a) = bind();
        let n = doomed_socket(a, |s| s.set_nonblocking(true).expect("nonblocking"));
        let _old_peer = l.accept().expect("accept old");
        close_on_other_thread(n);
        let s = new_socket_elsewhere(a, n);
        let mut peer = l.accept().expect("accept").0;
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            peer.write_all(b"late").expect("write");
            peer
        });
        let r = green::spawn(move || {
            let mut s = s;
            // SAFETY: F_GETFL on an open fd (the hook: the user's view).
            let fl = unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) };
            let mut buf = [0u8; 8];
            let r = s.read(&mut buf).map(|n| buf[..n].to_vec());
            (fl & libc::O_NONBLOCK, r.map_err(|e| e.kind()))
        })
        .join()
        .expect("reader");
        assert_eq!(r, (0, Ok(b"late".to_vec())), "blocking, not WouldBlock");
        writer.join().expect("writer");
    })
}

#[test]
fn reused_fd_number_does_not_inherit_a_socket_timeout() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let (l, a) = bind();
        let n = doomed_socket(a, |s| {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout")
        });
        let _old_peer = l.accept().expect("accept old");
        close_on_other_thread(n);
        let s = new_socket_elsewhere(a, n);
        let mut peer = l.accept().expect("accept").0;
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            peer.write_all(b"late").expect("write");
            peer
        });
        let r = green::spawn(move || {
            let mut s = s;
            let mut buf = [0u8; 8];
            s.read(&mut buf)
                .map(|n| buf[..n].to_vec())
                .map_err(|e| e.kind())
        })
        .join()
        .expect("reader");
        assert_eq!(r, Ok(b"late".to_vec()), "the old 50 ms timeout leaked");
        writer.join().expect("writer");
    })
}

#[test]
fn number_replaced_by_dup2_on_another_thread_is_registered_afresh() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let (l0, a0) = bind();
        // A coroutine parks in a read on `n`: the hub registers it.
        let (n, parked) = parked_reader(a0);
        // Another thread puts a listener at `n` with dup2 (no close seen by
        // this hub, and the number never was free).
        let (l, a) = bind();
        let lfd = l.as_raw_fd();
        std::thread::spawn(move || {
            // SAFETY: `n` is the test's to replace; `lfd` stays open.
            assert_eq!(unsafe { libc::dup2(lfd, n) }, n);
        })
        .join()
        .expect("dup2 thread");
        drop(l);
        let acc = green::spawn(move || {
            // SAFETY: `n` now names the listener, owned here alone.
            let l = unsafe { TcpListener::from_raw_fd(n) };
            let t = Instant::now();
            let r = l.accept().map(|_| ()).map_err(|e| e.kind());
            (r, t.elapsed())
        });
        let client = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            TcpStream::connect(a).expect("connect")
        });
        let (r, took) = acc.join().expect("acceptor");
        assert_eq!(r, Ok(()));
        assert!(took < Duration::from_secs(2), "accept took {took:?}");
        drop(client.join().expect("client"));
        parked.join().expect("parked reader");
        drop(l0);
    })
}
