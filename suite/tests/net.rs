//! green::net: sockets that park only the calling coroutine (C32–C34 and
//! the std-shaped API).

mod common;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::net::{TcpStream, UdpSocket, UnixListener, UnixStream};

use common::hang::watchdog;
use common::net::{echo_upper, listener, tcp_pair};

/// Write `msg` into `from` and check that `to` reads exactly `msg`.
fn assert_passes(mut from: impl Write, mut to: impl Read, msg: &[u8]) {
    from.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    to.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

#[test]
fn many_clients_on_one_hub() {
    watchdog(60, || {
        let (l, addr) = listener();
        let server = green::spawn(move || {
            let mut handlers = Vec::new();
            for _ in 0..500 {
                let s = l.accept().unwrap().0;
                handlers.push(green::spawn(move || echo_upper(s)));
            }
            for r in green::joinall(handlers) {
                r.unwrap();
            }
        });
        let clients: Vec<_> = (0..500)
            .map(|i| {
                green::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    for k in 0..5 {
                        let msg = format!("client {i} msg {k}\n");
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut got = vec![0u8; msg.len()];
                        c.read_exact(&mut got).unwrap();
                        assert_eq!(got, msg.to_uppercase().as_bytes());
                    }
                })
            })
            .collect();
        for r in green::joinall(clients) {
            r.unwrap();
        }
        server.join().unwrap();
    });
}

// C32: a read with a timeout fails with TimedOut after about the timeout.
#[test]
fn c32_read_timeout() {
    watchdog(20, || {
        let (c, _s) = tcp_pair();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(200)));
        let t = Instant::now();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        let took = t.elapsed();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        // Other coroutines ran meanwhile: the timeout parks, not blocks.
        let ticks = Rc::new(RefCell::new(0));
        let t2 = ticks.clone();
        let ticker = green::spawn(move || {
            for _ in 0..5 {
                green::sleep(Duration::from_millis(10));
                *t2.borrow_mut() += 1;
            }
        });
        assert_eq!(
            (&c).read(&mut [0u8; 8]).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        ticker.join().unwrap();
        assert_eq!(*ticks.borrow(), 5);
    });
}

// C32: a write with a timeout fails with TimedOut too (peer never reads).
#[test]
fn c32_write_timeout() {
    watchdog(20, || {
        let (c, _s) = tcp_pair();
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let t = Instant::now();
        let mut sent = 0usize;
        let err = loop {
            match (&c).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(sent < 1 << 30, "the socket buffer never filled");
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(sent > 0);
        assert!(t.elapsed() >= Duration::from_millis(200));
    });
}

#[test]
fn zero_timeouts_are_invalid_input_like_std() {
    watchdog(20, || {
        let (c, _s) = tcp_pair();
        let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = c.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let e = TcpStream::connect_timeout(&a, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // A huge timeout is simply "very long", not an overflow.
        c.set_read_timeout(Some(Duration::MAX)).unwrap();
        c.set_nonblocking(true).unwrap();
        assert_eq!(
            (&c).read(&mut [0u8; 1]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    });
}

// C32: socket waits compose with green::timeout.
#[test]
fn c32_composes_with_green_timeout() {
    watchdog(20, || {
        let (c, _s) = tcp_pair();
        let t = Instant::now();
        let r = green::timeout(Duration::from_millis(150), || (&c).read(&mut [0u8; 4]));
        assert!(r.is_err(), "expected Elapsed, got {r:?}");
        assert!(t.elapsed() >= Duration::from_millis(150));
        // The earlier of socket timeout and green::timeout wins.
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let r = green::timeout(Duration::from_secs(5), || (&c).read(&mut [0u8; 4]));
        assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
        // The stream still works afterwards.
        c.set_read_timeout(None).unwrap();
        assert_passes(&_s, &c, b"ok");
    });
}

// C33: a reader and a writer on the same socket from two coroutines do not
// deadlock.
#[test]
fn c33_reader_and_writer_on_one_socket() {
    watchdog(30, || {
        let (c, s) = tcp_pair();
        // Peer: echo everything back.
        let echo = green::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = (&s).read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                (&s).write_all(&buf[..n]).unwrap();
            }
        });
        let c = Rc::new(c);
        const TOTAL: usize = 4 << 20; // far more than the socket buffers
        let r = c.clone();
        let reader = green::spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 65536];
            while got < TOTAL {
                let n = (&*r).read(&mut buf).unwrap();
                assert!(n > 0);
                assert!(buf[..n].iter().all(|&b| b == 0x5a));
                got += n;
            }
            got
        });
        let w = c.clone();
        let writer = green::spawn(move || {
            let chunk = vec![0x5au8; 65536];
            for _ in 0..TOTAL / chunk.len() {
                (&*w).write_all(&chunk).unwrap();
            }
            w.shutdown(Shutdown::Write).unwrap();
        });
        writer.join().unwrap();
        assert_eq!(reader.join().unwrap(), TOTAL);
        echo.join().unwrap();
    });
}

// Concurrent readers on one socket: documented semantics are "both may
// wait; each read gets what the next recv returns; nobody hangs".
#[test]
fn two_concurrent_readers_share_the_data_and_both_see_eof() {
    watchdog(20, || {
        let (c, s) = tcp_pair();
        let c = Rc::new(c);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                green::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 1];
                    loop {
                        match (&*c).read(&mut buf).unwrap() {
                            0 => return got,
                            n => got.extend_from_slice(&buf[..n]),
                        }
                    }
                })
            })
            .collect();
        for b in b"abcdef" {
            (&s).write_all(&[*b]).unwrap();
            green::sleep(Duration::from_millis(5));
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut all: Vec<u8> = green::joinall(readers)
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect();
        all.sort();
        assert_eq!(all, b"abcdef");
    });
}

// C34: closing a socket another coroutine is blocked reading wakes that
// reader with an error.
#[test]
fn c34_close_wakes_parked_reader_with_error() {
    watchdog(20, || {
        let (c, _s) = tcp_pair();
        let c = Rc::new(c);
        let r = c.clone();
        let reader = green::spawn(move || (&*r).read(&mut [0u8; 16]));
        let w = c.clone();
        let writer_blocked = green::spawn(move || -> std::io::Result<()> {
            let chunk = vec![1u8; 1 << 20];
            loop {
                (&*w).write_all(&chunk)?;
            }
        });
        green::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished() && !writer_blocked.is_finished());
        c.close();
        let e = reader.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        let e: std::io::Error = writer_blocked.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        // Later calls fail at once, and close is idempotent.
        assert!((&*c).read(&mut [0u8; 1]).is_err());
        assert!((&*c).write(b"x").is_err());
        c.close();
    });
}

// C34: the same for a parked accept, and for UDP.
#[test]
fn c34_close_wakes_parked_accept_and_recv() {
    watchdog(20, || {
        let (l, _) = listener();
        let l = Rc::new(l);
        let l2 = l.clone();
        let acc = green::spawn(move || l2.accept().map(|_| ()));
        let u = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let u2 = u.clone();
        let rx = green::spawn(move || u2.recv_from(&mut [0u8; 8]).map(|_| ()));
        green::sleep(Duration::from_millis(20));
        l.close();
        u.close();
        assert!(acc.join().unwrap().is_err());
        assert!(rx.join().unwrap().is_err());
    });
}

// A reused fd number never receives a stale wakeup meant for the old one.
#[test]
fn reused_fd_number_gets_no_stale_wakeup() {
    watchdog(20, || {
        let (a, a_peer) = UnixStream::pair().unwrap();
        let old_fd = a.as_raw_fd();
        let a = Rc::new(a);
        let r = a.clone();
        let parked = green::spawn(move || (&*r).read(&mut [0u8; 4]));
        green::sleep(Duration::from_millis(10));
        a.close();
        assert!(parked.join().unwrap().is_err());
        drop(a);
        drop(a_peer);
        // New sockets now likely reuse the same numbers.
        let (b, b_peer) = UnixStream::pair().unwrap();
        let (b, b_peer) = if b.as_raw_fd() == old_fd {
            (b, b_peer)
        } else {
            (b_peer, b)
        };
        b.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        // Nothing was written: the only right outcome is TimedOut.
        let e = (&b).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert_passes(&b_peer, &b, b"new!");
    });
}

#[test]
fn connect_and_resolve_localhost_through_the_blocking_pool() {
    watchdog(30, || {
        let (l, addr) = listener();
        let port = addr.port();
        let acc = green::spawn(move || l.accept().unwrap().1);
        let c = TcpStream::connect(format!("localhost:{port}")).unwrap();
        assert!(c.peer_addr().unwrap().ip().is_loopback());
        assert_eq!(acc.join().unwrap(), c.local_addr().unwrap());
        let addrs = green::net::resolve("localhost", port).unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == port));
        // Numeric forms need no lookup; bad input is a clear error.
        assert_eq!(
            green::net::resolve("127.0.0.1", 5).unwrap(),
            ["127.0.0.1:5".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            green::net::resolve("[::1]", 5).unwrap(),
            ["[::1]:5".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            green::net::resolve("", 5).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            TcpStream::connect("localhost:notaport").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            TcpStream::connect("no-port-here").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // Resolution from several coroutines at once, each parked on the pool.
        let hs: Vec<_> = (0..20)
            .map(|_| green::spawn(move || green::net::resolve("localhost", port).unwrap()))
            .collect();
        for r in green::joinall(hs) {
            assert!(!r.unwrap().is_empty());
        }
    });
}

#[test]
fn tcp_std_shaped_api() {
    watchdog(20, || {
        let (mut c, s) = tcp_pair();
        assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_ttl(33).unwrap();
        assert_eq!(c.ttl().unwrap(), 33);
        assert!(c.take_error().unwrap().is_none());
        // peek does not consume.
        (&s).write_all(b"peekaboo").unwrap();
        let mut p = [0u8; 4];
        assert_eq!(c.peek(&mut p).unwrap(), 4);
        assert_eq!(&p, b"peek");
        let mut all = [0u8; 8];
        c.read_exact(&mut all).unwrap();
        assert_eq!(&all, b"peekaboo");
        // try_clone shares the connection.
        let c2 = c.try_clone().unwrap();
        assert_ne!(c2.as_raw_fd(), c.as_raw_fd());
        assert_passes(&c2, &s, b"from clone");
        // Vectored I/O.
        let n = c
            .write_vectored(&[std::io::IoSlice::new(b"ab"), std::io::IoSlice::new(b"cd")])
            .unwrap();
        assert_eq!(n, 4);
        let mut b4 = [0u8; 4];
        (&s).read_exact(&mut b4).unwrap();
        assert_eq!(&b4, b"abcd");
        // into_std gives a working blocking std stream; From brings it back.
        c.set_read_timeout(Some(Duration::from_secs(7))).unwrap();
        let std_c: std::net::TcpStream = c.into_std().unwrap();
        assert_eq!(std_c.read_timeout().unwrap(), Some(Duration::from_secs(7)));
        let mut c = TcpStream::from(std_c);
        (&s).write_all(b"back").unwrap();
        c.read_exact(&mut b4).unwrap();
        assert_eq!(&b4, b"back");
        // shutdown(Write) is EOF for the peer.
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!((&s).read(&mut b4).unwrap(), 0);
        // Debug shows the addresses.
        assert!(format!("{c:?}").contains("peer"));
    });
}

// A clone handed to std (which makes the shared file blocking again) must
// not make the green handle block the hub.
#[test]
fn green_handle_stays_cooperative_after_a_clone_goes_to_std() {
    watchdog(20, || {
        let (c, s) = tcp_pair();
        let std_clone = c.try_clone().unwrap().into_std().unwrap();
        let ticks = Rc::new(RefCell::new(0));
        let t2 = ticks.clone();
        let ticker = green::spawn(move || {
            for _ in 0..5 {
                green::sleep(Duration::from_millis(10));
                *t2.borrow_mut() += 1;
            }
            (&s).write_all(b"late").unwrap();
            s
        });
        let mut buf = [0u8; 4];
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
        assert_eq!(*ticks.borrow(), 5);
        let s = ticker.join().unwrap();
        // The std clone is a working blocking stream on another thread.
        std::thread::spawn(move || {
            let mut std_clone = std_clone;
            std_clone.write_all(b"std!").unwrap();
        })
        .join()
        .unwrap();
        (&s).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"std!");
    });
}

#[test]
fn incoming_and_bufread_from_main_context() {
    // Outside any coroutine: `main`-style code runs the hub while it waits.
    watchdog(20, || {
        let (l, addr) = listener();
        let clients: Vec<_> = (0..3)
            .map(|i| {
                green::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    writeln!(c, "line {i}").unwrap();
                })
            })
            .collect();
        let mut lines = Vec::new();
        for s in l.incoming().take(3) {
            let s = s.unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            lines.push(line);
        }
        for r in green::joinall(clients) {
            r.unwrap();
        }
        lines.sort();
        assert_eq!(lines, ["line 0\n", "line 1\n", "line 2\n"]);
    });
}

#[test]
fn udp_send_recv_timeout_and_connect() {
    watchdog(20, || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let aa = a.local_addr().unwrap();
        let ba = b.local_addr().unwrap();
        let recv = green::spawn(move || {
            let mut buf = [0u8; 32];
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!(from, ba);
            a.send_to(&buf[..n].to_ascii_uppercase(), from).unwrap();
            a.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            a.recv_from(&mut buf).unwrap_err().kind()
        });
        b.connect(aa).unwrap();
        assert_eq!(b.peer_addr().unwrap(), aa);
        b.send(b"datagram").unwrap();
        let mut buf = [0u8; 32];
        let (n, _) = b.peek_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"DATAGRAM");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"DATAGRAM");
        assert_eq!(recv.join().unwrap(), ErrorKind::TimedOut);
        let s: std::net::UdpSocket = b.into_std().unwrap();
        let _b = UdpSocket::from(s);
    });
}

#[test]
fn unix_listener_and_stream() {
    watchdog(20, || {
        let dir = std::env::temp_dir().join(format!("green-net-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("echo.sock");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let server = green::spawn(move || {
            for s in l.incoming().take(2) {
                let mut s = s.unwrap();
                green::spawn(move || {
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).unwrap();
                    s.write_all(&buf[..n].to_ascii_uppercase()).unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..2)
            .map(|i| {
                let path = path.clone();
                green::spawn(move || {
                    let mut c = UnixStream::connect(&path).unwrap();
                    write!(c, "unix {i}").unwrap();
                    let mut s = String::new();
                    c.read_to_string(&mut s).unwrap();
                    s
                })
            })
            .collect();
        let mut got: Vec<String> = green::joinall(clients)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        got.sort();
        assert_eq!(got, ["UNIX 0", "UNIX 1"]);
        server.join().unwrap();
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
        // Connecting to nothing is a clear error.
        assert!(UnixStream::connect(dir.join("missing.sock")).is_err());
    });
}

#[test]
fn spawn_blocking_parks_only_the_caller() {
    watchdog(30, || {
        let ticks = Rc::new(RefCell::new(0u32));
        let t = ticks.clone();
        let ticker = green::spawn(move || {
            for _ in 0..10 {
                green::sleep(Duration::from_millis(10));
                *t.borrow_mut() += 1;
            }
        });
        let v = green::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(300));
            std::thread::current().name().map(str::to_owned)
        });
        assert_eq!(v.as_deref(), Some("green-blocking"));
        assert_eq!(*ticks.borrow(), 10, "the hub kept running meanwhile");
        ticker.join().unwrap();
        // More jobs than pool threads: all finish (queued, bounded pool).
        let t = Instant::now();
        let hs: Vec<_> = (0..40)
            .map(|i| {
                green::spawn(move || {
                    green::spawn_blocking(move || {
                        std::thread::sleep(Duration::from_millis(50));
                        i * 2
                    })
                })
            })
            .collect();
        let sum: i32 = green::joinall(hs).into_iter().map(|r| r.unwrap()).sum();
        assert_eq!(sum, (0..40).map(|i| i * 2).sum());
        // 40 x 50 ms ran in parallel on several threads, not one by one.
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
    });
}

#[test]
fn spawn_blocking_panic_propagates_to_the_caller() {
    watchdog(20, || {
        let h = green::spawn(|| green::spawn_blocking(|| -> u32 { panic!("boom in pool") }));
        let e = h.join().unwrap_err();
        assert_eq!(e.panic_message(), Some("boom in pool"));
        // From main as well.
        let r = std::panic::catch_unwind(|| green::spawn_blocking(|| -> u8 { panic!("again") }));
        assert!(r.is_err());
        // The pool still works afterwards.
        assert_eq!(green::spawn_blocking(|| 5), 5);
    });
}

#[test]
fn spawn_blocking_caller_killed_or_timed_out() {
    watchdog(20, || {
        let t = Instant::now();
        let r = green::timeout(Duration::from_millis(50), || {
            green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(400)))
        });
        assert!(r.is_err());
        assert!(t.elapsed() < Duration::from_millis(300));
        let h = green::spawn(|| {
            green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)))
        });
        green::sleep(Duration::from_millis(20));
        h.kill();
        assert!(h.join().unwrap_err().is_killed());
    });
}

#[test]
fn reuseport_listeners_share_an_address_and_both_accept() {
    use std::io::{Read, Write};
    let a = green::net::TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
    let addr = a.local_addr().unwrap();
    let b = green::net::TcpListener::bind_reuseport(addr).unwrap();
    // A plain bind on the same address is still refused.
    assert!(green::net::TcpListener::bind(addr).is_err());
    let accepted = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut servers = Vec::new();
    for l in [a, b] {
        let n = accepted.clone();
        servers.push(green::spawn(move || {
            while let Ok((mut s, _)) = l.accept() {
                n.set(n.get() + 1);
                let mut buf = [0u8; 1];
                if s.read_exact(&mut buf).is_ok() {
                    let _ = s.write_all(&buf);
                }
            }
        }));
    }
    for i in 0..40u8 {
        let mut c = green::net::TcpStream::connect(addr).unwrap();
        c.write_all(&[i]).unwrap();
        let mut buf = [0u8; 1];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf[0], i);
    }
    assert_eq!(accepted.get(), 40);
    for s in servers {
        s.kill();
    }
}

#[test]
fn udp_recv_from_never_blocks_the_hub_after_a_clone_went_back_to_std() {
    // A clone converted with into_std makes the shared fd blocking again;
    // the green handle must still park, not block the thread. Run on a
    // watched thread: a regression would block its hub for good.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        let std_clone = a.try_clone().unwrap().into_std().unwrap();
        assert!(std_clone.set_nonblocking(false).is_ok());
        let ticked = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticked.clone();
        let ticker = green::spawn(move || {
            for _ in 0..5 {
                green::sleep(std::time::Duration::from_millis(5));
                t.set(t.get() + 1);
            }
        });
        let sender = green::spawn(move || {
            green::sleep(std::time::Duration::from_millis(40));
            let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            b.send_to(b"late", addr).unwrap();
        });
        let mut buf = [0u8; 8];
        let (n, _) = a.recv_from(&mut buf).unwrap();
        ticker.join().unwrap();
        sender.join().unwrap();
        let _ = done_tx.send((buf[..n].to_vec(), ticked.get()));
    });
    let (got, ticks) = done_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("recv_from blocked the hub thread");
    assert_eq!(got, b"late");
    assert_eq!(ticks, 5, "other coroutines ran while recv_from waited");
}
