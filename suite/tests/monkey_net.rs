//! Unmodified `std::net` (and raw libc sockets and pipes) in coroutines
//! under `patch_all`: concurrency, socket timeouts, the user's non-blocking
//! view, `dup`, `poll`/`select`, DNS, and the faults — fd closed while
//! parked, peer reset, kill and `green::timeout` inside a blocking call.
//! Patched process-wide, so its own test binary.

mod common;
mod monkey_support;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use common::net::{echo_upper, set_linger_zero, setsockopt};
use monkey_support::{errno, real_flags};

fn listener() -> Rc<TcpListener> {
    Rc::new(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
}

/// `patch_all`, then a listener on an ephemeral loopback port.
fn patched_listener() -> (Rc<TcpListener>, SocketAddr) {
    green::monkey::patch_all();
    let l = listener();
    let addr = l.local_addr().expect("listener address");
    (l, addr)
}

/// What a reader from [`fd_reader`] returns: bytes read, or the raw errno.
type ReadResult = Result<usize, Option<i32>>;

/// A coroutine that connects to `addr` and parks in a read; the fd number
/// it reads from appears in the cell once it runs. ManuallyDrop: the test
/// closes or replaces that fd number itself, so the reader never closes it.
fn fd_reader(addr: SocketAddr) -> (Rc<Cell<i32>>, green::JoinHandle<ReadResult>) {
    let fd_cell = Rc::new(Cell::new(-1));
    let fc = fd_cell.clone();
    let reader = green::spawn(move || {
        let mut s = ManuallyDrop::new(TcpStream::connect(addr).expect("connect"));
        fc.set(s.as_raw_fd());
        s.read(&mut [0u8; 8]).map_err(|e| e.raw_os_error())
    });
    (fd_cell, reader)
}

/// Accept one connection in a coroutine (the root context is not a
/// coroutine: a blocking accept there would block the whole thread).
fn accept_one(l: &Rc<TcpListener>) -> green::JoinHandle<TcpStream> {
    let l = l.clone();
    green::spawn(move || l.accept().expect("accept").0)
}

/// A coroutine that counts ticks of `green::sleep(5 ms)` until stopped:
/// proof that the thread was not blocked meanwhile.
struct Ticker {
    stop: Rc<Cell<bool>>,
    h: green::JoinHandle<u32>,
}

impl Ticker {
    fn start() -> Self {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let h = green::spawn(move || {
            let mut n = 0;
            while !s.get() {
                green::sleep(Duration::from_millis(5));
                n += 1;
            }
            n
        });
        Ticker { stop, h }
    }

    /// Stop counting and return the number of ticks.
    fn stop(self) -> u32 {
        self.stop.set(true);
        self.h.join().expect("ticker coroutine")
    }
}

// C37
#[test]
fn c37_std_net_server_and_clients_run_concurrently() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        const CLIENTS: usize = 50;
        let server = green::spawn(move || {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let s = accept_one(&l).join().unwrap();
                conns.push(green::spawn(move || echo_upper(s)));
            }
            for r in green::joinall(conns) {
                r.unwrap();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                green::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    // Unmodified blocking code: each client dawdles 100 ms.
                    std::thread::sleep(Duration::from_millis(100));
                    let msg = format!("hello {i}");
                    s.write_all(msg.as_bytes()).unwrap();
                    let mut buf = vec![0u8; msg.len()];
                    s.read_exact(&mut buf).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    String::from_utf8(buf).unwrap()
                })
            })
            .collect();
        let replies: Vec<String> = green::joinall(clients)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        server.join().unwrap();
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(r, &format!("HELLO {i}"));
        }
        let took = start.elapsed();
        // Sequential would be 5 s.
        assert!(
            took < Duration::from_millis(2500),
            "not concurrent: {took:?}"
        );
    });
}

// C37
#[test]
fn c37_set_read_timeout_is_honoured_and_parks_only_the_reader() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let tick = Ticker::start();
        let reader = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(200)));
            let t = Instant::now();
            let e = s.read(&mut [0u8; 8]).unwrap_err();
            (e.kind(), t.elapsed())
        });
        let _quiet = accept_one(&l).join().unwrap(); // never writes
        let (kind, took) = reader.join().unwrap();
        let ticks = tick.stop();
        // std reports a read timeout as WouldBlock on Unix (EAGAIN).
        assert_eq!(kind, ErrorKind::WouldBlock);
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert!(ticks >= 10, "the thread was blocked: only {ticks} ticks");
    });
}

#[test]
fn write_timeout_is_honoured() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let writer = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_write_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let chunk = vec![7u8; 1 << 16];
            let t = Instant::now();
            loop {
                if let Err(e) = s.write(&chunk) {
                    return (e.kind(), t.elapsed());
                }
            }
        });
        let _peer_never_reads = accept_one(&l).join().unwrap();
        let (kind, took) = writer.join().unwrap();
        assert_eq!(kind, ErrorKind::WouldBlock);
        assert!(took >= Duration::from_millis(90), "{took:?}");
    });
}

#[test]
fn fd_closed_while_parked_wakes_the_reader_with_ebadf() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let (fd_cell, reader) = fd_reader(addr);
        let _peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(50)); // the reader is parked now
                                                 // SAFETY: closes the reader's fd on purpose; the reader never uses
                                                 // or drops it afterwards.
        assert_eq!(unsafe { libc::close(fd_cell.get()) }, 0);
        assert_eq!(reader.join().unwrap(), Err(Some(libc::EBADF)));
    });
}

#[test]
fn peer_reset_reaches_the_parked_reader() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let reader = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.read(&mut [0u8; 8]).map_err(|e| e.kind())
        });
        let peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(50));
        // SO_LINGER 0: close sends RST.
        set_linger_zero(peer.as_raw_fd());
        drop(peer);
        assert_eq!(reader.join().unwrap(), Err(ErrorKind::ConnectionReset));
    });
}

#[test]
fn user_nonblocking_sockets_keep_their_view_and_get_eagain_at_once() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let h = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let fd = s.as_raw_fd();
            // SAFETY: F_GETFL takes no argument.
            let getfl = || unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // Blocking to the user, non-blocking for real.
            assert_eq!(getfl() & libc::O_NONBLOCK, 0);
            assert_ne!(real_flags(fd) & libc::O_NONBLOCK, 0);
            // set_nonblocking (ioctl FIONBIO): EAGAIN at once.
            s.set_nonblocking(true).unwrap();
            assert_ne!(getfl() & libc::O_NONBLOCK, 0);
            let t = Instant::now();
            assert_eq!(
                s.read(&mut [0u8; 8]).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert!(t.elapsed() < Duration::from_millis(50));
            // fcntl(F_SETFL) back to blocking: the view follows, the fd
            // stays non-blocking for real.
            // SAFETY: F_SETFL with an int of flags.
            let r = unsafe { libc::fcntl(fd, libc::F_SETFL, getfl() & !libc::O_NONBLOCK) };
            assert_eq!(r, 0);
            assert_eq!(getfl() & libc::O_NONBLOCK, 0);
            assert_ne!(real_flags(fd) & libc::O_NONBLOCK, 0);
            // ... and a blocking read parks until data comes.
            let mut b = [0u8; 5];
            s.read_exact(&mut b).unwrap();
            b
        });
        let mut peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(50));
        peer.write_all(b"later").unwrap();
        assert_eq!(&h.join().unwrap(), b"later");
    });
}

#[test]
fn socket_made_nonblocking_at_creation_stays_nonblocking() {
    watchdog(60, || {
        green::monkey::patch_all();
        let h = green::spawn(|| {
            // SAFETY: plain socket creation.
            let fd = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                )
            };
            assert!(fd >= 0);
            // SAFETY: F_GETFL takes no argument.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // SAFETY: an all-zero sockaddr_in is a valid value.
            let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
            // SAFETY: a valid listen-ready socket and address.
            unsafe {
                libc::bind(
                    fd,
                    (&raw const addr).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                );
                libc::listen(fd, 8);
            }
            // SAFETY: null address pointers are allowed.
            let a = unsafe { libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut()) };
            let e = errno();
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
            (fl & libc::O_NONBLOCK != 0, a, e)
        });
        assert_eq!(h.join().unwrap(), (true, -1, libc::EAGAIN));
    });
}

#[test]
fn dup_keeps_the_fd_table_consistent() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let h = green::spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            let d = s.try_clone().unwrap(); // F_DUPFD_CLOEXEC
                                            // SAFETY: F_GETFL takes no argument.
            let view = unsafe { libc::fcntl(d.as_raw_fd(), libc::F_GETFL) };
            // SAFETY: plain dup of an open fd.
            let d2 = unsafe { libc::dup(s.as_raw_fd()) };
            // SAFETY: d2 is ours from here on.
            let mut d2 = unsafe { TcpStream::from_raw_fd(d2) };
            drop(s);
            let mut b = [0u8; 3];
            d2.read_exact(&mut b).unwrap(); // parks on the dup
            (view & libc::O_NONBLOCK, b, d)
        });
        let mut peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(30));
        peer.write_all(b"dup").unwrap();
        let (nb, b, _d) = h.join().unwrap();
        assert_eq!(nb, 0);
        assert_eq!(&b, b"dup");
    });
}

#[test]
fn dup2_over_a_parked_fd_wakes_its_reader() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let (fd_cell, reader) = fd_reader(addr);
        let _peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(30));
        let f = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: replaces the reader's fd on purpose; the reader never uses
        // it again.
        let r = unsafe { libc::dup2(f.as_raw_fd(), fd_cell.get()) };
        assert_eq!(r, fd_cell.get());
        assert_eq!(reader.join().unwrap(), Err(Some(libc::EBADF)));
        // SAFETY: closes the /dev/null copy we made.
        unsafe { libc::close(fd_cell.get()) };
    });
}

#[test]
fn poll_and_select_park_until_ready_or_timeout() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let tick = Ticker::start();
        let h = green::spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            let fd = s.as_raw_fd();
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // Timeout with nothing to read.
            let t = Instant::now();
            // SAFETY: one valid pollfd.
            let r0 = unsafe { libc::poll(&mut p, 1, 100) };
            let t0 = t.elapsed();
            // Ready once the peer writes (it does after 50 ms).
            // SAFETY: one valid pollfd.
            let r1 = unsafe { libc::poll(&mut p, 1, 5000) };
            let rev = p.revents;
            // select on the same fd: readable now.
            // SAFETY: a zeroed fd_set is empty; fd < FD_SETSIZE.
            let (r2, isset) = unsafe {
                let mut set: libc::fd_set = std::mem::zeroed();
                libc::FD_SET(fd, &mut set);
                let mut tv = libc::timeval {
                    tv_sec: 5,
                    tv_usec: 0,
                };
                let r = libc::select(
                    fd + 1,
                    &mut set,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut tv,
                );
                (r, libc::FD_ISSET(fd, &set))
            };
            // select timing out on writability of nothing (empty sets).
            let t = Instant::now();
            // SAFETY: null sets and a valid timeval.
            let r3 = unsafe {
                let mut tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 80_000,
                };
                libc::select(
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut tv,
                )
            };
            let t3 = t.elapsed();
            // poll(NULL, 0, ms) is a sleep.
            let t = Instant::now();
            // SAFETY: no fds.
            let r4 = unsafe { libc::poll(std::ptr::null_mut(), 0, 60) };
            let t4 = t.elapsed();
            (r0, t0, r1, rev, r2, isset, r3, t3, r4, t4)
        });
        let mut peer = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(150));
        peer.write_all(b"x").unwrap();
        let (r0, t0, r1, rev, r2, isset, r3, t3, r4, t4) = h.join().unwrap();
        let ticks = tick.stop();
        assert_eq!(r0, 0);
        assert!(t0 >= Duration::from_millis(95), "{t0:?}");
        assert_eq!(r1, 1);
        assert_ne!(rev & libc::POLLIN, 0);
        assert_eq!((r2, isset), (1, true));
        assert_eq!(r3, 0);
        assert!(t3 >= Duration::from_millis(75), "{t3:?}");
        assert_eq!(r4, 0);
        assert!(t4 >= Duration::from_millis(55), "{t4:?}");
        assert!(ticks >= 20, "the thread was blocked: only {ticks} ticks");
    });
}

#[test]
fn connect_timeout_and_dns_work_in_coroutines() {
    watchdog(60, || {
        green::monkey::patch_all();
        let l = listener();
        let port = l.local_addr().unwrap().port();
        let tick = Ticker::start();
        let h = green::spawn(move || {
            // getaddrinfo on the blocking pool.
            let addrs: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
            assert!(!addrs.is_empty());
            let v4 = addrs
                .iter()
                .find(|a| a.is_ipv4())
                .copied()
                .expect("localhost has an IPv4 address");
            // connect_timeout: non-blocking connect + poll.
            let s = TcpStream::connect_timeout(&v4, Duration::from_secs(5)).unwrap();
            // An unknown name fails cleanly.
            let bad = ("no-such-host.invalid", 80).to_socket_addrs();
            (s.peer_addr().unwrap().port(), bad.is_err())
        });
        let _c = accept_one(&l).join().unwrap();
        let (p, bad) = h.join().unwrap();
        tick.stop();
        assert_eq!(p, port);
        assert!(bad);
    });
}

#[test]
fn kill_and_timeout_inside_a_blocking_read_become_errno() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let seen = Rc::new(RefCell::new(None));
        let s2 = seen.clone();
        let victim = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let r = s.read(&mut [0u8; 8]);
            *s2.borrow_mut() = Some(r.map_err(|e| e.raw_os_error()));
            green::sleep(Duration::ZERO); // the kill unwinds here
            "survived"
        });
        let _p1 = accept_one(&l).join().unwrap();
        green::sleep(Duration::from_millis(30));
        victim.kill();
        assert!(matches!(victim.join(), Err(green::JoinError::Killed)));
        assert_eq!(*seen.borrow(), Some(Err(Some(libc::ECANCELED))));

        let timed = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let t = Instant::now();
            let seen = Cell::new(None);
            let r = green::timeout(Duration::from_millis(80), || {
                seen.set(Some(s.read(&mut [0u8; 8]).map_err(|e| e.raw_os_error())))
            });
            (r, seen.get(), t.elapsed())
        });
        let _p2 = accept_one(&l).join().unwrap();
        let (r, seen, took) = timed.join().unwrap();
        // The read fails with ETIMEDOUT, and the deadline that fired inside
        // is the timeout's to report (C87).
        assert_eq!(seen, Some(Err(Some(libc::ETIMEDOUT))));
        assert_eq!(r, Err(green::Elapsed));
        assert!(took >= Duration::from_millis(75) && took < Duration::from_secs(3));
    });
}

#[test]
fn managed_fd_used_outside_a_coroutine_still_blocks_for_its_user() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        // Created in a coroutine (so managed and non-blocking for real) ...
        let mut s = green::spawn(move || TcpStream::connect(addr).unwrap())
            .join()
            .unwrap();
        let mut peer = accept_one(&l).join().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            peer.write_all(b"hi").unwrap();
            peer
        });
        // ... read from the root context: blocks as the user expects.
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hi");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let e = s.read(&mut b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        drop(writer.join().unwrap());
    });
}

#[test]
fn udp_and_pipes_are_cooperative() {
    watchdog(60, || {
        green::monkey::patch_all();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a_addr = a.local_addr().unwrap();
        let rx = green::spawn(move || {
            let mut buf = [0u8; 16];
            let (n, _) = a.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        let mut fds = [0; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (r, w) = (fds[0], fds[1]);
        let pipe_rx = green::spawn(move || {
            let mut f = std::fs::File::from(unsafe {
                // SAFETY: the read end is ours from here on.
                std::os::fd::OwnedFd::from_raw_fd(r)
            });
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            s
        });
        let tx = green::spawn(move || {
            green::sleep(Duration::from_millis(30));
            b.send_to(b"dgram", a_addr).unwrap();
            // SAFETY: the write end is ours from here on.
            let mut f = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(w) });
            f.write_all(b"through the pipe").unwrap();
        });
        tx.join().unwrap();
        assert_eq!(rx.join().unwrap(), b"dgram");
        assert_eq!(pipe_rx.join().unwrap(), "through the pipe");
    });
}

/// Writes a farewell on its (managed) socket when its thread's TLS is torn
/// down, after the coroutines and maybe the hub are gone.
struct FarewellOnExit(Option<TcpStream>);

impl Drop for FarewellOnExit {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(1));
        if let Some(mut s) = self.0.take() {
            let _ = s.write_all(b"bye");
        }
    }
}

thread_local! {
    static FAREWELL: RefCell<Option<FarewellOnExit>> = const { RefCell::new(None) };
}

#[test]
fn hooks_during_thread_local_teardown_pass_through() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let t = std::thread::spawn(move || {
            green::spawn(move || {
                let s = TcpStream::connect(addr).unwrap();
                FAREWELL.with(|f| *f.borrow_mut() = Some(FarewellOnExit(Some(s))));
            })
            .join()
            .unwrap();
        });
        let mut peer = accept_one(&l).join().unwrap();
        t.join().unwrap();
        let mut got = String::new();
        peer.read_to_string(&mut got).unwrap_or_default();
        assert_eq!(got, "bye");
    });
}

#[test]
fn io_copy_through_sendfile_and_splice_is_cooperative_and_complete() {
    watchdog(60, || {
        green::monkey::patch_all();
        const FILE_LEN: usize = 1 << 20;
        const PIPE_LEN: usize = 256 << 10;
        let path = std::env::temp_dir().join(format!("green-monkey-copy-{}", std::process::id()));
        std::fs::write(&path, vec![b'f'; FILE_LEN]).unwrap();
        let l = listener();
        let addr = l.local_addr().unwrap();

        // file -> socket: std uses sendfile; the peer drains slowly.
        let p2 = path.clone();
        let sender = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut f = std::fs::File::open(&p2).unwrap();
            std::io::copy(&mut f, &mut s).unwrap()
        });
        let mut peer = accept_one(&l).join().unwrap();
        let drain = green::spawn(move || {
            let mut got = 0;
            let mut buf = vec![0u8; 16 << 10];
            while got < FILE_LEN {
                std::thread::sleep(Duration::from_micros(200));
                let n = peer.read(&mut buf).unwrap();
                assert!(n > 0);
                got += n;
            }
            got
        });
        assert_eq!(sender.join().unwrap(), FILE_LEN as u64);
        assert_eq!(drain.join().unwrap(), FILE_LEN);
        let _ = std::fs::remove_file(&path);

        // pipe -> socket: std uses splice; the pipe fills slowly.
        let mut fds = [0; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (r, w) = (fds[0], fds[1]);
        let filler = green::spawn(move || {
            // SAFETY: the write end is ours from here on.
            let mut f = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(w) });
            for _ in 0..PIPE_LEN / 4096 {
                f.write_all(&[b'p'; 4096]).unwrap();
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        let copier = green::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            // SAFETY: the read end is ours from here on.
            let mut f = std::fs::File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) });
            std::io::copy(&mut f, &mut s).unwrap()
        });
        let mut peer = accept_one(&l).join().unwrap();
        let reader = green::spawn(move || {
            let mut v = Vec::new();
            peer.read_to_end(&mut v).unwrap();
            v.len()
        });
        filler.join().unwrap();
        assert_eq!(copier.join().unwrap(), PIPE_LEN as u64);
        assert_eq!(reader.join().unwrap(), PIPE_LEN);
    });
}

#[test]
fn recv_waitall_gathers_everything_cooperatively() {
    watchdog(60, || {
        let (l, addr) = patched_listener();
        let h = green::spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            let mut buf = [0u8; 12];
            // SAFETY: a valid buffer of the given length.
            let n = unsafe {
                libc::recv(
                    s.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_WAITALL,
                )
            };
            (n, buf)
        });
        let mut peer = accept_one(&l).join().unwrap();
        for part in [&b"hel"[..], b"lo, ", b"world"] {
            peer.write_all(part).unwrap();
            green::sleep(Duration::from_millis(10));
        }
        drop(peer); // EOF after 12 bytes
        let (n, buf) = h.join().unwrap();
        assert_eq!(n, 12);
        assert_eq!(&buf, b"hello, world");
    });
}

#[test]
fn accept_honours_so_rcvtimeo_set_with_setsockopt() {
    watchdog(60, || {
        green::monkey::patch_all();
        let l = listener();
        let tick = Ticker::start();
        let l2 = l.clone();
        let h = green::spawn(move || {
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 150_000,
            };
            let r = setsockopt(l2.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv);
            assert_eq!(r, 0);
            let t = Instant::now();
            let e = l2.accept().unwrap_err();
            (e.kind(), t.elapsed())
        });
        let (kind, took) = h.join().unwrap();
        let ticks = tick.stop();
        assert_eq!(kind, ErrorKind::WouldBlock);
        assert!(took >= Duration::from_millis(140), "{took:?}");
        assert!(ticks >= 8, "the thread was blocked: only {ticks} ticks");
    });
}

#[test]
fn fds_closed_behind_our_back_leave_nothing_stale_for_new_pipes_and_pairs() {
    watchdog(60, || {
        green::monkey::patch_all();
        // Other tests in this binary open fds concurrently and may take the
        // freed number first: try until the number is reused.
        let h = green::spawn(|| {
            for _ in 0..50 {
                let mut fds = [0; 2];
                // SAFETY: a valid two-int array.
                let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
                assert_eq!(rc, 0);
                // Looked at in a coroutine: managed, non-blocking to the user.
                // SAFETY: an empty non-blocking pipe; a valid buffer.
                let r = unsafe { libc::read(fds[0], [0u8; 1].as_mut_ptr().cast(), 1) };
                assert_eq!((r, errno()), (-1, libc::EAGAIN));
                // Closed with the raw syscall: no hook sees it.
                // SAFETY: our fds.
                unsafe {
                    libc::syscall(libc::SYS_close, fds[0]);
                    libc::syscall(libc::SYS_close, fds[1]);
                }
                let mut pair = [0; 2];
                // SAFETY: a valid two-int array.
                let r = unsafe {
                    libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr())
                };
                assert_eq!(r, 0);
                let reused = pair.contains(&fds[0]);
                // SAFETY: F_GETFL takes no argument.
                let fl: Vec<i32> = pair
                    .iter()
                    .map(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK)
                    .collect();
                // SAFETY: our fds.
                unsafe {
                    libc::close(pair[0]);
                    libc::close(pair[1]);
                }
                if reused {
                    return Some(fl);
                }
            }
            None
        });
        let fl = h.join().unwrap().expect("the fd number was never reused");
        assert_eq!(
            fl,
            [0, 0],
            "a blocking socketpair must not look non-blocking"
        );
    });
}
