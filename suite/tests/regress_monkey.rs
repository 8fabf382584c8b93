//! Regressions in the monkey layer and the reactor under it, each named
//! after its symptom: a reused fd number that inherited a stale hub
//! registration, `EINTR` leaking out of a hooked read in a plain thread,
//! a socket left non-blocking for a child process; and the third round's:
//! a forked child that ran the parent's hub (C74), `O_NONBLOCK` kept per
//! fd number instead of per open file (C75), socket state outliving a
//! close no hook saw (C76), and stdio over a coroutine's socket failing
//! with `EAGAIN` (C77).
//! Patched process-wide, so its own test binary; every test takes the
//! `serial` lock (fd numbers and signal dispositions are process-wide).

mod common;
mod monkey_support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
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
        // Made outside any coroutine: on a plain thread (the root, with a
        // coroutine alive, would make it cooperatively, C84).
        let l = std::thread::spawn(|| TcpListener::bind("127.0.0.1:0").expect("bind"))
            .join()
            .expect("plain thread");
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

// ------------------------------------------------------------ round three

/// The user's view of `fd`'s `O_NONBLOCK` (through the hooked `fcntl`).
fn user_nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(fl >= 0, "F_GETFL");
    fl & libc::O_NONBLOCK != 0
}

/// How `clone` (a second fd of the same open file) is made non-blocking.
#[derive(Copy, Clone, Debug)]
enum SetNonblocking {
    /// std: `try_clone` (F_DUPFD_CLOEXEC) then `set_nonblocking` (FIONBIO).
    StdClone,
    /// `dup` then `fcntl(F_SETFL, O_NONBLOCK)`.
    DupFcntl,
    /// `dup2` onto a free number then `ioctl(FIONBIO)`.
    Dup2Ioctl,
}

/// A second fd of `s`'s open file, made non-blocking (or back) by `how`.
fn nonblocking_clone(s: &UnixStream, how: SetNonblocking, on: bool) -> OwnedFd {
    let fd = s.as_raw_fd();
    // SAFETY: plain fd calls on an fd the caller owns; every new fd is
    // wrapped in an OwnedFd at once.
    unsafe {
        let new = match how {
            SetNonblocking::StdClone => {
                let c = s.try_clone().expect("try_clone");
                c.set_nonblocking(on).expect("set_nonblocking");
                return OwnedFd::from(c);
            }
            SetNonblocking::DupFcntl => libc::dup(fd),
            SetNonblocking::Dup2Ioctl => libc::dup2(fd, 900 + i32::from(on)),
        };
        assert!(new >= 0, "dup");
        match how {
            SetNonblocking::DupFcntl => {
                let fl = libc::fcntl(new, libc::F_GETFL);
                let fl = if on {
                    fl | libc::O_NONBLOCK
                } else {
                    fl & !libc::O_NONBLOCK
                };
                assert_eq!(libc::fcntl(new, libc::F_SETFL, fl), 0);
            }
            _ => {
                let mut v: libc::c_int = on.into();
                assert_eq!(libc::ioctl(new, libc::FIONBIO, &mut v), 0);
            }
        }
        OwnedFd::from_raw_fd(new)
    }
}

// C75
#[test]
fn read_on_the_original_after_a_clone_is_made_nonblocking_parks_instead_of_would_block() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        for how in [
            SetNonblocking::StdClone,
            SetNonblocking::DupFcntl,
            SetNonblocking::Dup2Ioctl,
        ] {
            for in_coroutine in [true, false] {
                // The original is used by a coroutine (managed: the real fd
                // non-blocking, the user's view blocking) before the clone
                // exists.
                let (a, b) = green::spawn(|| {
                    let (a, mut b) = UnixStream::pair().expect("pair");
                    b.write_all(b"x").expect("write");
                    (&a).read_exact(&mut [0u8; 1]).expect("read x");
                    (a, b)
                })
                .join()
                .expect("setup");
                let body = move || {
                    let mut one = [0u8; 1];
                    let clone = nonblocking_clone(&a, how, true);
                    let seen = user_nonblocking(a.as_raw_fd());
                    let t = Instant::now();
                    let r = (&a).read(&mut one).map_err(|e| e.kind());
                    let took = t.elapsed();
                    // And back: blocking again through the clone.
                    drop(nonblocking_clone(&a, how, false));
                    let back = user_nonblocking(a.as_raw_fd());
                    drop(clone);
                    drop(b);
                    (seen, r, took, back)
                };
                let (seen, r, took, back) = if in_coroutine {
                    // A bound, so a read that parks fails the test instead
                    // of hanging it (the peer stays open, never writing).
                    green::spawn(move || green::timeout(Duration::from_secs(3), body))
                        .join()
                        .expect("coroutine")
                        .expect("the read on the original parked")
                } else {
                    body()
                };
                let ctx = format!("{how:?}, in a coroutine: {in_coroutine}");
                assert!(seen, "F_GETFL of the original shows no O_NONBLOCK ({ctx})");
                assert_eq!(r, Err(std::io::ErrorKind::WouldBlock), "{ctx}");
                assert!(took < Duration::from_secs(2), "{ctx}: took {took:?}");
                assert!(!back, "cleared through the clone, still set ({ctx})");
            }
        }
    })
}

/// How an fd is closed without the `close` hook.
#[derive(Copy, Clone, Debug)]
enum CloseBehind {
    /// `fclose` of an `fdopen`ed stream (glibc closes through an alias).
    Fclose,
    /// `close_range(n, n, 0)`.
    CloseRange,
    /// `closefrom(n)` (`n` is the highest open number in these tests).
    Closefrom,
    /// The raw system call, which no hook can see.
    RawSyscall,
}

/// A new file that no hook creates, for the number a closed socket left.
#[derive(Copy, Clone, Debug)]
enum Unhooked {
    /// `eventfd(0, 0)`, written 10 ms later by a thread.
    Eventfd,
    /// `eventfd(0, EFD_NONBLOCK)`, never written: a read fails at once.
    EventfdNonblocking,
    /// `timerfd_create`, expiring after 10 ms.
    Timerfd,
    /// A FIFO opened read-write, written 10 ms later by a thread.
    Fifo,
}

/// The number the stale-state tests use: far above anything else this
/// test binary has open, so `closefrom` closes only it.
const HIGH_FD: i32 = 1000;

/// Put a fresh file of kind `what` on number `n` without any hook seeing
/// it (made, then moved with the raw `dup3` system call), and arrange for
/// it to become readable in 10 ms (except the non-blocking eventfd).
fn unhooked_file_on(n: i32, what: Unhooked) -> Option<std::thread::JoinHandle<()>> {
    // SAFETY: plain fd calls; every fd made here is either moved onto `n`
    // (which the caller owns) or closed.
    unsafe {
        let fd = match what {
            Unhooked::Eventfd => libc::eventfd(0, 0),
            Unhooked::EventfdNonblocking => libc::eventfd(0, libc::EFD_NONBLOCK),
            Unhooked::Timerfd => {
                let t = libc::timerfd_create(libc::CLOCK_MONOTONIC, 0);
                let spec = libc::itimerspec {
                    it_interval: libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                    it_value: libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 10_000_000,
                    },
                };
                assert_eq!(libc::timerfd_settime(t, 0, &spec, std::ptr::null_mut()), 0);
                t
            }
            Unhooked::Fifo => {
                let path = format!("/tmp/green-regress-fifo-{}\0", std::process::id());
                libc::unlink(path.as_ptr().cast());
                assert_eq!(libc::mkfifo(path.as_ptr().cast(), 0o600), 0, "mkfifo");
                let f = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
                libc::unlink(path.as_ptr().cast());
                f
            }
        };
        assert!(fd >= 0, "make {what:?}");
        assert_eq!(libc::syscall(libc::SYS_dup3, fd, n, 0) as i32, n, "dup3");
        libc::syscall(libc::SYS_close, fd);
    }
    match what {
        Unhooked::Eventfd | Unhooked::Fifo => Some(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a valid buffer; raw, so no hook
            // is involved.
            let w = unsafe { libc::syscall(libc::SYS_write, n, one.as_ptr(), 8usize) };
            assert_eq!(w, 8, "write to {what:?}");
        })),
        _ => None,
    }
}

/// A socket on `HIGH_FD`, with a 5 s read timeout, that a coroutine has
/// waited on (the hub holds its registration, its readiness cleared) and
/// then closed by `how`, which no `close` hook sees.
fn waited_socket_closed_behind(how: CloseBehind) {
    let (a, mut b) = UnixStream::pair().expect("pair");
    // SAFETY: dup2 onto a number nothing else in this binary uses.
    assert_eq!(unsafe { libc::dup2(a.as_raw_fd(), HIGH_FD) }, HIGH_FD);
    drop(a);
    // SAFETY: HIGH_FD was just made and is owned here.
    let mut s = ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(HIGH_FD) });
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let peer = green::spawn(move || {
        green::sleep(Duration::from_millis(10));
        b.write_all(b"x").expect("write");
        b
    });
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).expect("parked read"), 1);
    let b = peer.join().expect("peer");
    // SAFETY: closes HIGH_FD (owned here), through no `close` hook.
    unsafe {
        match how {
            CloseBehind::Fclose => {
                let fp = libc::fdopen(HIGH_FD, c"r".as_ptr());
                assert!(!fp.is_null(), "fdopen");
                assert_eq!(libc::fclose(fp), 0);
            }
            CloseBehind::CloseRange => {
                assert_eq!(libc::close_range(HIGH_FD as u32, HIGH_FD as u32, 0), 0);
            }
            CloseBehind::Closefrom => closefrom(HIGH_FD),
            CloseBehind::RawSyscall => {
                assert_eq!(libc::syscall(libc::SYS_close, HIGH_FD), 0);
            }
        }
    }
    drop(b);
}

extern "C" {
    /// glibc's `closefrom(3)` (2.34+; not in the libc crate).
    fn closefrom(lowfd: libc::c_int);
}

// C76
#[test]
fn read_on_a_new_fd_reusing_the_number_of_a_socket_closed_behind_the_hooks_never_hangs() {
    let _g = serial();
    watchdog(60, || {
        green::monkey::patch_all();
        for how in [
            CloseBehind::Fclose,
            CloseBehind::CloseRange,
            CloseBehind::Closefrom,
            CloseBehind::RawSyscall,
        ] {
            for what in [
                Unhooked::Eventfd,
                Unhooked::EventfdNonblocking,
                Unhooked::Timerfd,
                Unhooked::Fifo,
            ] {
                let ctx = format!("closed by {how:?}, then a {what:?}");
                let r = green::spawn(move || {
                    waited_socket_closed_behind(how);
                    let writer = unhooked_file_on(HIGH_FD, what);
                    // SAFETY: F_GETFL takes no argument.
                    let seen = unsafe { libc::fcntl(HIGH_FD, libc::F_GETFL) };
                    let flags = monkey_support::real_flags(HIGH_FD);
                    let t = Instant::now();
                    let r = green::timeout(Duration::from_secs(3), || {
                        let mut buf = [0u8; 8];
                        // SAFETY: reads into a valid 8-byte buffer.
                        let n = unsafe { libc::read(HIGH_FD, buf.as_mut_ptr().cast(), 8) };
                        if n < 0 {
                            Err(monkey_support::errno())
                        } else {
                            Ok(n)
                        }
                    });
                    let took = t.elapsed();
                    if let Some(w) = writer {
                        w.join().expect("writer");
                    }
                    // SAFETY: HIGH_FD is ours; the hooked close.
                    unsafe { libc::close(HIGH_FD) };
                    (r, took, seen, flags)
                })
                .join()
                .expect("coroutine");
                let (r, took, seen, flags) = r;
                assert_eq!(seen, flags, "{ctx}: F_GETFL shows the old socket's flags");
                let r = r.unwrap_or_else(|_| panic!("{ctx}: the read parked for 3 s"));
                match what {
                    Unhooked::EventfdNonblocking => {
                        assert_eq!(r, Err(libc::EAGAIN), "{ctx}");
                        assert!(
                            took < Duration::from_secs(2),
                            "{ctx}: waited {took:?}, the old socket's read timeout"
                        );
                    }
                    _ => assert_eq!(r, Ok(8), "{ctx}"),
                }
            }
        }
    })
}

/// `fgets` through `fdopen(fd, "r")` on `s`, then `fclose`: the line, or
/// the errno of a failed `fgets`.
fn fgets_line(s: UnixStream) -> Result<String, i32> {
    use std::os::fd::IntoRawFd;
    let fd = s.into_raw_fd();
    // SAFETY: `fd` is owned here and handed to the stream, which closes it.
    unsafe {
        let fp = libc::fdopen(fd, c"r".as_ptr());
        assert!(!fp.is_null(), "fdopen");
        assert_eq!(libc::fileno(fp), fd, "fileno of the stream");
        let mut buf = [0 as libc::c_char; 64];
        *libc::__errno_location() = 0;
        let p = libc::fgets(buf.as_mut_ptr(), 64, fp);
        let r = if p.is_null() {
            Err(monkey_support::errno())
        } else {
            Ok(std::ffi::CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .into_owned())
        };
        assert_eq!(libc::fclose(fp), 0, "fclose");
        assert_eq!(libc::fcntl(fd, libc::F_GETFD), -1, "fclose closed the fd");
        r
    }
}

// C77
#[test]
fn fgets_on_an_fdopened_socket_in_a_coroutine_waits_for_the_line_instead_of_failing_with_eagain() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        for in_coroutine in [true, false] {
            // Used by a coroutine first: the real fd is non-blocking.
            let (a, b) = green::spawn(|| {
                let (a, mut b) = UnixStream::pair().expect("pair");
                b.write_all(b"x").expect("write");
                (&a).read_exact(&mut [0u8; 1]).expect("read x");
                (a, b)
            })
            .join()
            .expect("setup");
            let peer = std::thread::spawn(move || {
                let mut b = b;
                std::thread::sleep(Duration::from_millis(200));
                // Fails (EPIPE) only when the reader gave up early.
                let _ = b.write_all(b"hello\n");
                b
            });
            let (line, gap) = if in_coroutine {
                monkey_support::with_ticker(move || fgets_line(a))
            } else {
                (fgets_line(a), Duration::ZERO)
            };
            drop(peer.join().expect("peer"));
            assert_eq!(
                line,
                Ok("hello\n".to_string()),
                "in a coroutine: {in_coroutine}"
            );
            assert!(
                gap < Duration::from_millis(150),
                "fgets blocked the hub for {gap:?}"
            );
        }
    })
}

/// Bytes readable from `fd` now (non-blocking, raw: no hook involved).
fn drain_raw(fd: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; reads into a valid buffer.
        unsafe {
            if libc::syscall(libc::SYS_poll, &mut p, 1, 0) != 1 {
                return out;
            }
            let n = libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
    }
}

// C74
#[test]
fn child_forked_from_a_coroutine_does_not_run_the_parents_coroutines_or_take_its_events() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let parent = std::process::id();
        // The parent's reader parks on `pa` throughout; a thread writes to
        // `pb` while the child sleeps.
        let (pa, mut pb) = UnixStream::pair().expect("pair");
        // The child's socket, used by a coroutine of the parent first (the
        // real fd non-blocking, the user's view blocking); a thread writes
        // "hello" to `cb` 400 ms after the fork, and the child's blocking
        // read must wait for it.
        let (ca, mut cb) = green::spawn(|| {
            let (a, mut b) = UnixStream::pair().expect("pair");
            b.write_all(b"x").expect("write");
            (&a).read_exact(&mut [0u8; 1]).expect("read x");
            (a, b)
        })
        .join()
        .expect("setup");
        let ca_fd = ca.as_raw_fd();
        // Every run of the ticker writes the pid it runs in here.
        let mut ends = [0i32; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
        let [tr, tw] = ends;
        // A child that runs the ticker must not block on a full pipe.
        // SAFETY: raw fcntl on our own pipe end.
        unsafe { libc::syscall(libc::SYS_fcntl, tw, libc::F_SETFL, libc::O_NONBLOCK) };
        let done = Rc::new(Cell::new(false));
        let ticker = {
            let done = done.clone();
            green::spawn(move || {
                while !done.get() {
                    let pid = std::process::id().to_ne_bytes();
                    // SAFETY: writes 4 bytes from a valid buffer (raw).
                    unsafe { libc::syscall(libc::SYS_write, tw, pid.as_ptr(), 4usize) };
                    green::sleep(Duration::from_millis(5));
                }
            })
        };
        let reader = green::spawn(move || {
            let mut buf = [0u8; 8];
            (&pa).read(&mut buf).map(|n| buf[..n].to_vec())
        });
        let forker = green::spawn(move || {
            // SAFETY: the child makes only hooked calls and raw system
            // calls, then `_exit`s.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // Whatever goes wrong, the child must not outlive the test
                // (it holds the test binary's stdout).
                // SAFETY: alarm has no preconditions; SIGALRM's default
                // action ends the process.
                unsafe { libc::alarm(10) };
                let mut code = 0;
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(200));
                if t.elapsed() < Duration::from_millis(200) {
                    code |= 1;
                }
                let mut buf = [0u8; 8];
                // SAFETY: reads into a valid buffer.
                let n = unsafe { libc::read(ca_fd, buf.as_mut_ptr().cast(), 8) };
                if n != 5 {
                    code |= 2;
                }
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(code) };
            }
            assert!(pid > 0, "fork");
            let mut status = 0;
            // SAFETY: a valid out-pointer.
            let waited = green::timeout(Duration::from_secs(8), || unsafe {
                libc::waitpid(pid, &mut status, 0)
            });
            if waited != Ok(pid) {
                // SAFETY: our own child; reaped right after.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("the child never exited");
            }
            status
        });
        let writers = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            pb.write_all(b"ping").expect("write ping");
            std::thread::sleep(Duration::from_millis(300));
            cb.write_all(b"hello").expect("write hello");
            (pb, cb)
        });
        let status = forker.join().expect("forker");
        let got = green::timeout(Duration::from_secs(5), move || reader.join())
            .expect("the parent's reader never woke: the child took its event")
            .expect("reader");
        done.set(true);
        ticker.join().expect("ticker");
        drop(writers.join().expect("writers"));
        let pids = drain_raw(tr);
        // SAFETY: both ends are ours.
        unsafe {
            libc::close(tr);
            libc::close(tw);
        }
        drop(ca);
        assert_eq!(got.expect("read"), b"ping");
        let foreign: Vec<u32> = pids
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .filter(|&p| p != parent)
            .collect();
        assert!(
            foreign.is_empty(),
            "the parent's ticker ran in the child ({} times)",
            foreign.len()
        );
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        let code = libc::WEXITSTATUS(status);
        assert_eq!(code & 1, 0, "the child's sleep did not sleep");
        assert_eq!(code & 2, 0, "the child's blocking read did not wait");
    })
}

// C76
#[test]
fn coroutine_parked_on_a_socket_closed_by_close_range_closefrom_or_fclose_wakes_with_ebadf() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        for how in [
            CloseBehind::Fclose,
            CloseBehind::CloseRange,
            CloseBehind::Closefrom,
        ] {
            let (a, b) = UnixStream::pair().expect("pair");
            // SAFETY: dup2 onto a number nothing else in this binary uses.
            assert_eq!(unsafe { libc::dup2(a.as_raw_fd(), HIGH_FD) }, HIGH_FD);
            drop(a);
            let reader = green::spawn(|| {
                let mut buf = [0u8; 8];
                // SAFETY: reads into a valid buffer.
                let n = unsafe { libc::read(HIGH_FD, buf.as_mut_ptr().cast(), 8) };
                (n, monkey_support::errno())
            });
            green::sleep(Duration::from_millis(20)); // parked in the read
                                                     // SAFETY: closes HIGH_FD, owned here.
            unsafe {
                match how {
                    CloseBehind::Fclose => {
                        let fp = libc::fdopen(HIGH_FD, c"r".as_ptr());
                        assert!(!fp.is_null(), "fdopen");
                        assert_eq!(libc::fclose(fp), 0);
                    }
                    CloseBehind::CloseRange => {
                        assert_eq!(libc::close_range(HIGH_FD as u32, HIGH_FD as u32, 0), 0);
                    }
                    _ => closefrom(HIGH_FD),
                }
            }
            let r = green::timeout(Duration::from_secs(3), move || reader.join())
                .unwrap_or_else(|_| panic!("{how:?}: the parked reader never woke"))
                .expect("reader");
            assert_eq!(r, (-1, libc::EBADF), "{how:?}");
            drop(b);
        }
    })
}

// C75
#[test]
fn a_dup_made_before_a_coroutine_used_the_socket_keeps_its_blocking_view() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        // Made and cloned on the root, before any hook managed them.
        let (a, mut b) = UnixStream::pair().expect("pair");
        let c = a.try_clone().expect("try_clone");
        let r = green::spawn(move || {
            // The coroutine's first read manages `a` (non-blocking for
            // real); `c` names the same open file.
            let peer = green::spawn(move || {
                green::sleep(Duration::from_millis(20));
                b.write_all(b"12").expect("write");
                green::sleep(Duration::from_millis(20));
                b.write_all(b"34").expect("write");
                b
            });
            let mut buf = [0u8; 2];
            (&a).read_exact(&mut buf).expect("read a");
            let blocking = !user_nonblocking(c.as_raw_fd());
            let second = green::timeout(Duration::from_secs(3), || {
                (&c).read_exact(&mut buf).map_err(|e| e.kind())
            });
            drop(peer.join().expect("peer"));
            (blocking, second, buf)
        })
        .join()
        .expect("coroutine");
        assert!(r.0, "F_GETFL of the earlier dup shows O_NONBLOCK");
        assert_eq!(r.1, Ok(Ok(())), "the earlier dup's read did not wait");
        assert_eq!(&r.2, b"34");
    })
}

// C75
#[test]
fn a_read_timeout_set_through_a_dup_bounds_a_read_on_the_original() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let r = green::spawn(|| {
            let (a, b) = UnixStream::pair().expect("pair");
            let mut b2 = b.try_clone().expect("clone b");
            b2.write_all(b"x").expect("write");
            (&a).read_exact(&mut [0u8; 1]).expect("read x"); // managed
            let d = a.try_clone().expect("try_clone");
            d.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let t = Instant::now();
            let r = green::timeout(Duration::from_secs(3), || {
                (&a).read(&mut [0u8; 1]).map_err(|e| e.kind())
            });
            (r, t.elapsed(), a.read_timeout().ok().flatten())
        })
        .join()
        .expect("coroutine");
        assert_eq!(r.0, Ok(Err(std::io::ErrorKind::WouldBlock)));
        // The kernel keeps it in clock ticks: about 50 ms.
        let seen = r.2.expect("the original sees the dup's read timeout");
        assert!(seen >= Duration::from_millis(50) && seen < Duration::from_millis(100));
    })
}

/// Fork; the child runs `child` (with `alarm(10)`, so it cannot outlive
/// the test) and `_exit`s with its result; the parent waits (parking, in a
/// coroutine) and returns the raw wait status.
fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child makes hooked calls, green calls on its copy of the
    // hub and raw system calls, then `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: alarm and _exit have no preconditions.
        unsafe {
            libc::alarm(10);
            libc::_exit(child())
        }
    }
    assert!(pid > 0, "fork");
    let mut status = 0;
    // SAFETY: a valid out-pointer; our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

/// Spawn a coroutine that ticks every 2 ms until `done`, writing the pid it
/// runs in to `tw` (raw, non-blocking) on every tick.
fn pid_ticker(tw: i32, done: Rc<Cell<bool>>) -> green::JoinHandle<()> {
    green::spawn(move || {
        while !done.get() {
            let pid = std::process::id().to_ne_bytes();
            // SAFETY: writes 4 bytes from a valid buffer (raw).
            unsafe { libc::syscall(libc::SYS_write, tw, pid.as_ptr(), 4usize) };
            green::sleep(Duration::from_millis(2));
        }
    })
}

// C74
#[test]
fn green_waits_in_a_forked_child_block_the_child_instead_of_running_the_parents_hub() {
    let _g = serial();
    watchdog(30, || {
        green::monkey::patch_all();
        let parent = std::process::id();
        let mut ends = [0i32; 2];
        // SAFETY: a valid two-int array; raw fcntl on our own pipe end.
        unsafe {
            assert_eq!(libc::pipe(ends.as_mut_ptr()), 0);
            libc::syscall(libc::SYS_fcntl, ends[1], libc::F_SETFL, libc::O_NONBLOCK);
        }
        let [tr, tw] = ends;
        let done = Rc::new(Cell::new(false));
        let ticker = pid_ticker(tw, done.clone());
        // The child's fd wait: `ca` becomes readable 150 ms after the fork.
        let (ca, cb) = UnixStream::pair().expect("pair");
        ca.set_nonblocking(true).expect("nonblocking");
        let ca_fd = ca.as_raw_fd();
        let child = move || {
            let mut code = 0;
            let t = Instant::now();
            green::sleep(Duration::from_millis(50));
            if t.elapsed() < Duration::from_millis(50) {
                code |= 1;
            }
            let q = green::queue::Queue::<u32>::unbounded();
            let t = Instant::now();
            if green::timeout(Duration::from_millis(50), || q.get()).is_ok()
                || t.elapsed() < Duration::from_millis(50)
            {
                code |= 2;
            }
            if green::rt::wait_fd(ca_fd, green::rt::Interest::Read, None).is_err() {
                code |= 4;
            }
            green::yield_now(); // returns at once, running nothing
            code
        };
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            let mut cb = cb;
            cb.write_all(b"x").expect("write");
            cb
        });
        // From a coroutine, and from the root while coroutines live.
        let from_coroutine = green::spawn(move || fork_and_wait(child))
            .join()
            .expect("forker");
        drop(writer.join().expect("writer"));
        drop(ca);
        let (ra, mut rb) = UnixStream::pair().expect("pair");
        ra.set_nonblocking(true).expect("nonblocking");
        let ra_fd = ra.as_raw_fd();
        let feeder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            rb.write_all(b"x").expect("write");
            rb
        });
        let from_root = fork_and_wait(move || {
            let mut code = 0;
            let t = Instant::now();
            green::sleep(Duration::from_millis(50));
            if t.elapsed() < Duration::from_millis(50) {
                code |= 1;
            }
            if green::rt::wait_fd(ra_fd, green::rt::Interest::Read, None).is_err() {
                code |= 4;
            }
            code
        });
        drop(feeder.join().expect("feeder"));
        drop(ra);
        done.set(true);
        ticker.join().expect("ticker");
        let pids = drain_raw(tr);
        // SAFETY: both ends are ours.
        unsafe {
            libc::close(tr);
            libc::close(tw);
        }
        for (from, status) in [("a coroutine", from_coroutine), ("the root", from_root)] {
            assert!(
                libc::WIFEXITED(status),
                "forked from {from}: status {status:#x}"
            );
            assert_eq!(
                libc::WEXITSTATUS(status),
                0,
                "forked from {from}: 1 = green::sleep, 2 = a timed queue get, 4 = wait_fd"
            );
        }
        let foreign = pids
            .chunks_exact(4)
            .filter(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) != parent)
            .count();
        assert_eq!(foreign, 0, "the parent's ticker ran in a child");
    })
}

// C74
#[test]
fn a_green_wait_nothing_can_end_in_a_forked_child_stops_it_with_a_message() {
    let _g = serial();
    watchdog(30, || {
        let mut ends = [0i32; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0);
        let [er, ew] = ends;
        let status = green::spawn(move || {
            fork_and_wait(move || {
                // SAFETY: the child's stderr becomes the pipe (raw dup2).
                unsafe { libc::syscall(libc::SYS_dup2, ew, 2) };
                let q = green::queue::Queue::<u32>::unbounded();
                let _ = q.get();
                0
            })
        })
        .join()
        .expect("forker");
        // SAFETY: our own pipe end.
        unsafe { libc::close(ew) };
        let err = String::from_utf8_lossy(&drain_raw(er)).into_owned();
        // SAFETY: our own pipe end.
        unsafe { libc::close(er) };
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT,
            "status {status:#x}, stderr: {err}"
        );
        assert!(err.contains("forked from a thread that had a hub"), "{err}");
    })
}
