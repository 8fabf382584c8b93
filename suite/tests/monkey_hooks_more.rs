//! The hooks that widen the monkey layer's reach: `recvmmsg`/`sendmmsg`,
//! `pselect` (with and without a signal mask), reads on stdin, on pipes made
//! outside coroutines and on terminals (parked without changing the fd's
//! mode), and `connect`/`SO_ERROR` agreeing with the kernel's blocking
//! connect. Patched process-wide, so its own binary; every test takes the
//! `serial` lock (fd 0, signal masks and dispositions are process-wide) and
//! runs under a watchdog.

mod common;
mod monkey_support;

use std::cell::Cell;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use monkey_support::{errno, install_handler, real_flags, serial, with_ticker, SIGNALS_HANDLED};

fn patch() {
    green::monkey::patch_all();
}

/// A stall of the hub longer than this means a call blocked the thread.
const STALL: Duration = Duration::from_millis(250);

// ---- recvmmsg / sendmmsg --------------------------------------------------

/// Receive buffers and headers for `n` datagrams of up to 64 bytes.
struct Batch {
    bufs: Vec<[u8; 64]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new(n: usize) -> Box<Batch> {
        let mut b = Box::new(Batch {
            bufs: vec![[0u8; 64]; n],
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        });
        for i in 0..n {
            let base = b.bufs[i].as_mut_ptr().cast();
            b.iovs.push(libc::iovec {
                iov_base: base,
                iov_len: 64,
            });
        }
        for i in 0..n {
            // SAFETY: an all-zero mmsghdr is valid; we point it at one iovec.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            b.hdrs.push(h);
        }
        b
    }

    fn got(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.hdrs[i].msg_len as usize]
    }
}

fn udp_pair() -> (UdpSocket, UdpSocket, SocketAddr) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = rx.local_addr().expect("addr");
    (rx, tx, to)
}

/// Send `msgs` to `to`, each after its delay from the start.
fn send_later(tx: UdpSocket, to: SocketAddr, msgs: Vec<(u64, &'static [u8])>) {
    green::spawn(move || {
        let t = Instant::now();
        for (at, m) in msgs {
            let due = Duration::from_millis(at);
            green::sleep(due.saturating_sub(t.elapsed()));
            tx.send_to(m, to).expect("send_to");
        }
    });
}

#[test]
fn recvmmsg_parks_for_the_first_datagram_and_waitforone_takes_the_batch() {
    let _s = serial();
    patch();
    let ((r, took, got), gap) = watchdog(30, || {
        with_ticker(|| {
            let (rx, tx, to) = udp_pair();
            send_later(tx, to, vec![(100, b"a"), (100, b"bb"), (100, b"ccc")]);
            let mut b = Batch::new(8);
            let t = Instant::now();
            // SAFETY: 8 valid headers, each with one 64-byte buffer.
            let r = unsafe {
                libc::recvmmsg(
                    rx.as_raw_fd(),
                    b.hdrs.as_mut_ptr(),
                    8,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            let got: Vec<Vec<u8>> = (0..r.max(0) as usize).map(|i| b.got(i).to_vec()).collect();
            (r, t.elapsed(), got)
        })
    });
    assert_eq!(r, 3, "the three datagrams queued together");
    assert_eq!(got, vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]);
    assert!(
        took >= Duration::from_millis(90),
        "returned before data: {took:?}"
    );
    assert!(gap < STALL, "hub stalled {gap:?}");
}

#[test]
fn recvmmsg_without_waitforone_fills_vlen_and_honours_its_timeout_like_the_kernel() {
    let _s = serial();
    patch();
    let ((full, partial, left), gap) = watchdog(30, || {
        with_ticker(|| {
            let (rx, tx, to) = udp_pair();
            // Blocking semantics: one call collects all three, spread out.
            send_later(tx, to, vec![(20, b"1"), (60, b"2"), (100, b"3")]);
            let mut b = Batch::new(3);
            // SAFETY: 3 valid headers.
            let full = unsafe {
                libc::recvmmsg(
                    rx.as_raw_fd(),
                    b.hdrs.as_mut_ptr(),
                    3,
                    0,
                    std::ptr::null_mut(),
                )
            };
            // The timeout is looked at after each datagram: two arrive, the
            // second after the 50 ms have passed, and the call ends there.
            let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
            send_later(tx, to, vec![(20, b"4"), (150, b"5")]);
            let mut b = Batch::new(5);
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            // SAFETY: 5 valid headers and a valid timespec.
            let partial =
                unsafe { libc::recvmmsg(rx.as_raw_fd(), b.hdrs.as_mut_ptr(), 5, 0, &mut ts) };
            (full, partial, (ts.tv_sec, ts.tv_nsec))
        })
    });
    assert_eq!(full, 3);
    assert_eq!(partial, 2);
    assert_eq!(left, (0, 0), "the time left is written back");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

#[test]
fn sendmmsg_sends_every_message_parking_while_the_socket_is_full() {
    let _s = serial();
    patch();
    let (sent, got) = watchdog(30, || {
        let mut sv = [0; 2];
        // SAFETY: a valid out-array of two fds.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr()) };
        assert_eq!(rc, 0);
        let small: libc::c_int = 4096;
        common::net::setsockopt(sv[0], libc::SOL_SOCKET, libc::SO_SNDBUF, &small);
        let got = Rc::new(Cell::new(0usize));
        let reader = {
            let got = got.clone();
            green::spawn(move || {
                let mut buf = [0u8; 2048];
                for i in 0..100usize {
                    green::sleep(Duration::from_millis(1));
                    // SAFETY: a valid buffer.
                    let n = unsafe { libc::read(sv[1], buf.as_mut_ptr().cast(), buf.len()) };
                    assert_eq!(n, 1000);
                    assert_eq!(buf[0] as usize, i, "in order");
                    got.set(got.get() + 1);
                }
            })
        };
        let sender = green::spawn(move || {
            let mut bufs: Vec<[u8; 1000]> = (0..100).map(|i| [i as u8; 1000]).collect();
            let mut iovs: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: 1000,
                })
                .collect();
            let mut hdrs: Vec<libc::mmsghdr> = iovs
                .iter_mut()
                .map(|iov| {
                    // SAFETY: an all-zero mmsghdr is valid.
                    let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    h.msg_hdr.msg_iov = iov;
                    h.msg_hdr.msg_iovlen = 1;
                    h
                })
                .collect();
            // SAFETY: 100 valid headers over live buffers.
            unsafe { libc::sendmmsg(sv[0], hdrs.as_mut_ptr(), 100, 0) }
        });
        let sent = sender.join().expect("sender");
        reader.join().expect("reader");
        for fd in sv {
            // SAFETY: ours.
            unsafe { libc::close(fd) };
        }
        (sent, got.get())
    });
    // A thread-blocking sendmmsg would never let the reader run: the
    // watchdog would fire instead.
    assert_eq!((sent, got), (100, 100));
}

#[test]
fn kill_while_parked_in_recvmmsg_is_ecanceled() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let seen = Rc::new(Cell::new((0, 0)));
        let h = {
            let seen = seen.clone();
            green::spawn(move || {
                let (rx, _tx, _) = udp_pair();
                let mut b = Batch::new(2);
                // SAFETY: 2 valid headers.
                let r = unsafe {
                    libc::recvmmsg(
                        rx.as_raw_fd(),
                        b.hdrs.as_mut_ptr(),
                        2,
                        0,
                        std::ptr::null_mut(),
                    )
                };
                seen.set((r, errno()));
                green::sleep(Duration::from_secs(10));
            })
        };
        green::sleep(Duration::from_millis(30));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_eq!(seen.get(), (-1, libc::ECANCELED));
    });
}

// ---- pselect ---------------------------------------------------------------

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a valid out-array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn close(fd: i32) {
    // SAFETY: the caller owns fd.
    unsafe { libc::close(fd) };
}

fn write_later(fd: i32, after: Duration, data: &'static [u8]) {
    green::spawn(move || {
        green::sleep(after);
        // SAFETY: a valid buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        assert_eq!(n, data.len() as isize);
    });
}

/// `pselect` for reading `fd`, with `timeout` and `mask`: (result, errno,
/// whether `fd` is still in the set, the timespec afterwards).
fn pselect_read(
    fd: i32,
    timeout: Option<Duration>,
    mask: Option<&libc::sigset_t>,
) -> (i32, i32, bool, Option<(i64, i64)>) {
    // SAFETY: an all-zero fd_set is valid; FD_SET on fd < FD_SETSIZE.
    let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::FD_SET(fd, &mut set) };
    let mut ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    // SAFETY: valid set, timespec and mask pointers or null.
    let r = unsafe {
        libc::pselect(
            fd + 1,
            &mut set,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            ts.as_mut().map_or(std::ptr::null(), |t| t),
            mask.map_or(std::ptr::null(), |m| m),
        )
    };
    let e = errno();
    // SAFETY: a valid set.
    let still = unsafe { libc::FD_ISSET(fd, &set) };
    (r, e, still, ts.map(|t| (t.tv_sec, t.tv_nsec)))
}

#[test]
fn pselect_without_a_mask_is_select_with_its_timespec_left_untouched() {
    let _s = serial();
    patch();
    let ((ready, timed_out, took), gap) = watchdog(30, || {
        with_ticker(|| {
            let (r, w) = pipe();
            write_later(w, Duration::from_millis(50), b"x");
            let ready = pselect_read(r, Some(Duration::from_secs(5)), None);
            let mut b = [0u8; 1];
            // SAFETY: a valid buffer; the pipe holds one byte.
            assert_eq!(unsafe { libc::read(r, b.as_mut_ptr().cast(), 1) }, 1);
            let t = Instant::now();
            let timed_out = pselect_read(r, Some(Duration::from_millis(60)), None);
            let took = t.elapsed();
            close(r);
            close(w);
            (ready, timed_out, took)
        })
    });
    assert_eq!(ready, (1, ready.1, true, Some((5, 0))));
    assert_eq!(
        (timed_out.0, timed_out.2, timed_out.3),
        (0, false, Some((0, 60_000_000)))
    );
    assert!(took >= Duration::from_millis(55), "{took:?}");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

/// This thread's signal mask.
fn thread_mask() -> libc::sigset_t {
    // SAFETY: all-zero is valid to overwrite; a null new set only reads.
    unsafe {
        let mut m: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut m);
        m
    }
}

fn block(sig: i32, on: bool) {
    // SAFETY: a valid set built here.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::sigaddset(&mut s, sig);
        let how = if on {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        assert_eq!(libc::pthread_sigmask(how, &s, std::ptr::null_mut()), 0);
    }
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        s
    }
}

fn handled() -> usize {
    SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn pselect_with_a_mask_ends_with_eintr_when_a_signal_it_lets_in_arrives() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR1, true);
    let ((res, took, ran, still_blocked), gap) = watchdog(30, || {
        block(libc::SIGUSR1, true);
        // SAFETY: this thread's id, valid while the test runs.
        let me = unsafe { libc::pthread_self() } as usize;
        let out = with_ticker(move || {
            let (r, w) = pipe();
            let before = handled();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                // SAFETY: the watchdog thread is alive (it waits in pselect).
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            });
            let t = Instant::now();
            let res = pselect_read(r, Some(Duration::from_secs(5)), Some(&empty_set()));
            let took = t.elapsed();
            let ran = handled() - before;
            // SAFETY: a valid set.
            let still = unsafe { libc::sigismember(&thread_mask(), libc::SIGUSR1) } == 1;
            close(r);
            close(w);
            (res, took, ran, still)
        });
        block(libc::SIGUSR1, false);
        out
    });
    assert_eq!((res.0, res.1), (-1, libc::EINTR));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(ran, 1, "the handler ran once, inside pselect");
    assert!(still_blocked, "the thread's own mask is back");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

/// Block SIGUSR1 on this thread and send it there: it stays pending until
/// unblocked or let in by a mask.
fn make_sigusr1_pending() {
    block(libc::SIGUSR1, true);
    // SAFETY: signals this thread.
    unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) };
}

/// Whether SIGUSR1 is pending on this thread.
fn sigusr1_pending() -> bool {
    // SAFETY: all-zero is valid to overwrite.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-set.
    unsafe { libc::sigpending(&mut pending) };
    // SAFETY: a valid set.
    unsafe { libc::sigismember(&pending, libc::SIGUSR1) == 1 }
}

/// A pending signal the mask lets in, and a readable fd: what pselect
/// returns, whether the signal is still pending after it, and how many
/// handler runs it caused — the same in a coroutine as libc's in a plain
/// thread.
fn pending_signal_and_ready_fd() -> (i32, bool, usize) {
    let (r, w) = pipe();
    // SAFETY: a valid buffer.
    unsafe { libc::write(w, b"y".as_ptr().cast(), 1) };
    make_sigusr1_pending();
    let before = handled();
    let res = pselect_read(r, Some(Duration::from_secs(1)), Some(&empty_set()));
    let ran = handled() - before;
    let still = sigusr1_pending();
    block(libc::SIGUSR1, false); // delivers it now if still pending
    close(r);
    close(w);
    (res.0, still, ran)
}

#[test]
fn pselect_with_a_ready_fd_and_a_pending_signal_reports_the_fd_like_libc() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR1, true);
    let plain = std::thread::spawn(pending_signal_and_ready_fd)
        .join()
        .expect("plain");
    let green = watchdog(30, || {
        green::spawn(pending_signal_and_ready_fd)
            .join()
            .expect("coroutine")
    });
    assert_eq!(plain, (1, true, 0), "libc's");
    assert_eq!(green, plain);
}

#[test]
fn pselect_with_a_signal_already_pending_and_nothing_ready_is_eintr_at_once() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR1, true);
    let run = || {
        let (r, w) = pipe();
        make_sigusr1_pending();
        let before = handled();
        let t = Instant::now();
        let res = pselect_read(r, Some(Duration::from_secs(3)), Some(&empty_set()));
        let out = (
            res.0,
            res.1,
            handled() - before,
            t.elapsed() < Duration::from_secs(1),
        );
        block(libc::SIGUSR1, false);
        close(r);
        close(w);
        out
    };
    let plain = std::thread::spawn(run).join().expect("plain");
    let green = watchdog(30, move || green::spawn(run).join().expect("coroutine"));
    assert_eq!(plain, (-1, libc::EINTR, 1, true), "libc's");
    assert_eq!(green, plain);
}

// ---- ppoll with a signal mask -------------------------------------------------

/// `ppoll` for input on `fd`, with `timeout` and `mask`: (result, errno,
/// `revents`).
fn ppoll_read(
    fd: i32,
    timeout: Option<Duration>,
    mask: Option<&libc::sigset_t>,
) -> (i32, i32, i16) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    // SAFETY: one valid pollfd; timespec and mask pointers valid or null.
    let r = unsafe {
        libc::ppoll(
            &mut p,
            1,
            ts.as_ref().map_or(std::ptr::null(), |t| t),
            mask.map_or(std::ptr::null(), |m| m),
        )
    };
    (r, errno(), p.revents)
}

#[test]
fn ppoll_with_a_mask_parks_and_ends_with_eintr_when_a_signal_it_lets_in_arrives() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR1, true);
    let ((ready, res, took, ran, still_blocked), gap) = watchdog(30, || {
        block(libc::SIGUSR1, true);
        // SAFETY: this thread's id, valid while the test runs.
        let me = unsafe { libc::pthread_self() } as usize;
        let out = with_ticker(move || {
            let (r, w) = pipe();
            // Data first: a masked ppoll parks (the ticker keeps going: a
            // blocked thread would stall it longer than STALL) and reports
            // the fd.
            write_later(w, Duration::from_millis(400), b"z");
            let ready = ppoll_read(r, Some(Duration::from_secs(5)), Some(&empty_set()));
            let mut b = [0u8; 1];
            // SAFETY: a valid buffer; the pipe holds one byte.
            assert_eq!(unsafe { libc::read(r, b.as_mut_ptr().cast(), 1) }, 1);
            // Then a signal the mask lets in, nothing to read.
            let before = handled();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                // SAFETY: the watchdog thread is alive (it waits in ppoll).
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            });
            let t = Instant::now();
            let res = ppoll_read(r, Some(Duration::from_secs(5)), Some(&empty_set()));
            let took = t.elapsed();
            let ran = handled() - before;
            // SAFETY: a valid set.
            let still = unsafe { libc::sigismember(&thread_mask(), libc::SIGUSR1) } == 1;
            close(r);
            close(w);
            (ready, res, took, ran, still)
        });
        block(libc::SIGUSR1, false);
        out
    });
    assert_eq!((ready.0, ready.2), (1, libc::POLLIN));
    assert_eq!((res.0, res.1), (-1, libc::EINTR));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(ran, 1, "the handler ran once, inside ppoll");
    assert!(still_blocked, "the thread's own mask is back");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

/// With a readable fd: (result, revents, signal still pending, handler runs).
type WithFd = (i32, i16, bool, usize);
/// Nothing ready: (result, errno, handler runs, returned at once).
type NothingReady = (i32, i32, usize, bool);

/// ppoll with a pending signal its mask lets in: with a readable fd, and
/// with nothing ready and a timeout — results, whether the signal is still
/// pending, and handler runs, the same in a coroutine as libc's in a plain
/// thread.
fn ppoll_with_pending_signal() -> (WithFd, NothingReady) {
    let (r, w) = pipe();
    // SAFETY: a valid buffer.
    unsafe { libc::write(w, b"y".as_ptr().cast(), 1) };
    make_sigusr1_pending();
    let before = handled();
    let res = ppoll_read(r, Some(Duration::from_secs(1)), Some(&empty_set()));
    let ran = handled() - before;
    let still = sigusr1_pending();
    let with_fd = (res.0, res.2, still, ran);
    // Drain the byte: nothing ready now, the signal still pending.
    let mut b = [0u8; 1];
    // SAFETY: a valid buffer; the pipe holds one byte.
    unsafe { libc::read(r, b.as_mut_ptr().cast(), 1) };
    let before = handled();
    let t = Instant::now();
    let res = ppoll_read(r, Some(Duration::from_secs(3)), Some(&empty_set()));
    let without = (
        res.0,
        res.1,
        handled() - before,
        t.elapsed() < Duration::from_secs(1),
    );
    block(libc::SIGUSR1, false);
    close(r);
    close(w);
    (with_fd, without)
}

#[test]
fn ppoll_with_a_pending_signal_behaves_like_libc() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR1, true);
    let plain = std::thread::spawn(ppoll_with_pending_signal)
        .join()
        .expect("plain");
    let green = watchdog(30, || {
        green::spawn(ppoll_with_pending_signal)
            .join()
            .expect("coroutine")
    });
    assert_eq!(
        plain,
        ((1, libc::POLLIN, true, 0), (-1, libc::EINTR, 1, true)),
        "libc's"
    );
    assert_eq!(green, plain);
}

// ---- stdin, pipes made elsewhere, terminals ---------------------------------

/// In a coroutine, read `fd` while another writes `data` to `w` after 50 ms;
/// what was read and the hub's largest stall.
fn read_parks(fd: i32, w: i32, data: &'static [u8]) -> (Vec<u8>, Duration) {
    with_ticker(move || {
        write_later(w, Duration::from_millis(50), data);
        let mut buf = [0u8; 64];
        // SAFETY: a valid buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        assert!(n > 0, "read: {n}, errno {}", errno());
        buf[..n as usize].to_vec()
    })
}

#[test]
fn a_read_on_a_pipe_dup2ed_onto_a_fresh_fd_parks() {
    let _s = serial();
    patch();
    let (r, w) = pipe();
    let fresh = 300;
    // SAFETY: plain fds.
    assert_eq!(unsafe { libc::dup2(r, fresh) }, fresh);
    close(r);
    let (got, gap) = watchdog(30, move || read_parks(fresh, w, b"dup2ed"));
    assert_eq!(got, b"dup2ed");
    assert!(gap < STALL, "hub stalled {gap:?}");
    close(fresh);
    close(w);
}

#[test]
fn a_read_on_a_pipe_made_before_any_hub_parks() {
    let _s = serial();
    patch();
    let (got, gap) = watchdog(30, || {
        // This thread has no hub yet: the pipe predates it.
        let (r, w) = pipe();
        let out = read_parks(r, w, b"older than the hub");
        close(r);
        close(w);
        out
    });
    assert_eq!(got, b"older than the hub");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

/// A pty pair (master, slave).
fn openpty() -> (i32, i32) {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: valid out-pointers; null name, termios and winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", errno());
    (m, s)
}

#[test]
fn reads_on_both_ends_of_a_pty_park_and_leave_them_blocking() {
    let _s = serial();
    patch();
    let (m, s) = openpty();
    let flags = (real_flags(m), real_flags(s));
    assert_eq!(flags.0 & libc::O_NONBLOCK, 0, "precondition: blocking");
    // The terminal side reads a line the master side types...
    let (line, gap1) = watchdog(30, move || read_parks(s, m, b"typed\n"));
    // ...and the master side reads what the terminal side prints (the echo
    // of the typed line first, then the output).
    let (out, gap2) = watchdog(30, move || {
        with_ticker(move || {
            write_later(s, Duration::from_millis(50), b"printed\n");
            let mut all = Vec::new();
            while !all.ends_with(b"printed\r\n") {
                let mut buf = [0u8; 64];
                // SAFETY: a valid buffer.
                let n = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
                assert!(n > 0, "read: {n}, errno {}", errno());
                all.extend_from_slice(&buf[..n as usize]);
            }
            all
        })
    });
    assert_eq!(line, b"typed\n");
    assert!(out.ends_with(b"printed\r\n"), "{out:?}");
    assert_eq!((real_flags(m), real_flags(s)), flags, "modes untouched");
    assert!(
        gap1 < STALL && gap2 < STALL,
        "hub stalled {gap1:?} {gap2:?}"
    );
    close(m);
    close(s);
}

/// Put a fresh pipe's read end on fd 0 for the duration of `f` (given the
/// write end), then the old stdin back.
fn with_pipe_on_stdin<T>(f: impl FnOnce(i32) -> T) -> T {
    // SAFETY: plain fd calls.
    let saved = unsafe { libc::dup(0) };
    assert!(saved >= 0);
    let (r, w) = pipe();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(r, 0) }, 0);
    close(r);
    let out = f(w);
    close(w);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(saved, 0) }, 0);
    close(saved);
    out
}

#[test]
fn a_read_on_stdin_parks_and_leaves_it_blocking() {
    let _s = serial();
    patch();
    let (got, gap, flags) = with_pipe_on_stdin(|w| {
        let (got, gap) = watchdog(30, move || read_parks(0, w, b"from stdin"));
        (got, gap, real_flags(0))
    });
    assert_eq!(got, b"from stdin");
    assert_eq!(flags & libc::O_NONBLOCK, 0, "stdin stays blocking");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

#[test]
fn kill_while_parked_on_stdin_is_ecanceled_and_loses_nothing() {
    let _s = serial();
    patch();
    with_pipe_on_stdin(|w| {
        watchdog(30, move || {
            let seen = Rc::new(Cell::new((0, 0)));
            let h = {
                let seen = seen.clone();
                green::spawn(move || {
                    let mut b = [0u8; 8];
                    // SAFETY: a valid buffer.
                    let n = unsafe { libc::read(0, b.as_mut_ptr().cast(), 8) };
                    seen.set((n, errno()));
                    green::sleep(Duration::from_secs(10));
                })
            };
            green::sleep(Duration::from_millis(30));
            h.kill();
            assert!(matches!(h.join(), Err(green::JoinError::Killed)));
            assert_eq!(seen.get(), (-1, libc::ECANCELED));
            // SAFETY: a valid buffer.
            assert_eq!(unsafe { libc::write(w, b"kept".as_ptr().cast(), 4) }, 4);
            // A plain thread reads it, blocking as libc would.
            let got = std::thread::spawn(|| {
                let mut b = [0u8; 8];
                // SAFETY: a valid buffer.
                let n = unsafe { libc::read(0, b.as_mut_ptr().cast(), 8) };
                b[..n.max(0) as usize].to_vec()
            })
            .join()
            .expect("thread");
            assert_eq!(got, b"kept");
        });
    });
}

#[test]
fn a_user_nonblocking_stdin_still_gives_eagain() {
    let _s = serial();
    patch();
    with_pipe_on_stdin(|_w| {
        // SAFETY: plain fcntl calls on fd 0.
        unsafe {
            let fl = libc::fcntl(0, libc::F_GETFL);
            libc::fcntl(0, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        let r = watchdog(30, || {
            green::spawn(|| {
                let mut b = [0u8; 8];
                // SAFETY: a valid buffer.
                let n = unsafe { libc::read(0, b.as_mut_ptr().cast(), 8) };
                (n, errno())
            })
            .join()
            .expect("coroutine")
        });
        assert_eq!(r, (-1, libc::EAGAIN));
    });
}

// ---- connect and SO_ERROR ----------------------------------------------------

fn so_error(fd: i32) -> i32 {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid out-pointers of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut v).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt: {}", errno());
    v
}

fn sockaddr_of(a: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(a) = a else {
        panic!("IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn tcp_socket(nonblock: bool) -> i32 {
    let ty = libc::SOCK_STREAM | if nonblock { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, ty, 0) };
    assert!(fd >= 0);
    fd
}

fn connect(fd: i32, to: SocketAddr) -> (i32, i32) {
    let sa = sockaddr_of(to);
    // SAFETY: a valid sockaddr_in of the size given.
    let r = unsafe {
        libc::connect(
            fd,
            (&raw const sa).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    (r, errno())
}

/// A port nothing listens on.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Blocking connects (refused, then accepted), each followed by SO_ERROR,
/// and a non-blocking refused connect finished by `poll`.
fn connect_outcomes() -> Vec<(i32, i32, i32)> {
    let mut out = Vec::new();
    let refused = closed_port();
    let fd = tcp_socket(false);
    let (r, e) = connect(fd, refused);
    out.push((r, e, so_error(fd)));
    close(fd);
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let fd = tcp_socket(false);
    let (r, _) = connect(fd, l.local_addr().expect("addr"));
    out.push((r, 0, so_error(fd)));
    close(fd);
    let fd = tcp_socket(true);
    let (r, e) = connect(fd, refused);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 5000) };
    assert_eq!(n, 1);
    out.push((r, e, so_error(fd)));
    out.push((0, 0, so_error(fd))); // read once: cleared
    close(fd);
    out
}

#[test]
fn so_error_after_connects_green_finished_matches_the_kernels() {
    let _s = serial();
    patch();
    let plain = std::thread::spawn(connect_outcomes).join().expect("plain");
    let green = watchdog(30, || {
        green::spawn(connect_outcomes).join().expect("coroutine")
    });
    assert_eq!(
        plain,
        vec![
            (-1, libc::ECONNREFUSED, 0),
            (0, 0, 0),
            (-1, libc::EINPROGRESS, libc::ECONNREFUSED),
            (0, 0, 0),
        ],
        "the kernel's"
    );
    assert_eq!(green, plain);
}

/// A listener whose accept queue is full (backlog 0, one connection
/// queued): a further connect stays in SYN_SENT until the queue has room
/// and the SYN is sent again (about 1 s later). Returns the listener and
/// the queued client.
fn full_listener() -> (i32, SocketAddr, std::net::TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    let fd = std::os::fd::IntoRawFd::into_raw_fd(l);
    // SAFETY: a listening socket; backlog 0 leaves room for one.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let queued = std::net::TcpStream::connect(a).expect("first connect");
    std::thread::sleep(Duration::from_millis(20));
    (fd, a, queued)
}

fn accept_one(l: i32) {
    // SAFETY: null address out-pointers are allowed.
    let c = unsafe { libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut()) };
    assert!(c >= 0, "accept: {}", errno());
    close(c);
}

/// With a full listener: a blocking connect cut short by `SO_SNDTIMEO`,
/// repeated once under the same timeout, then (timeout cleared, the queue
/// given room) repeated again: (first, second, third, SO_ERROR after).
fn repeated_connects() -> ((i32, i32), (i32, i32), i32, i32) {
    let (l, a, _q) = full_listener();
    let fd = tcp_socket(false);
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    common::net::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv);
    let first = connect(fd, a);
    let second = connect(fd, a);
    let none = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    common::net::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &none);
    accept_one(l);
    let third = connect(fd, a).0;
    let out = (first, second, third, so_error(fd));
    close(fd);
    close(l);
    out
}

#[test]
fn a_connect_repeated_after_a_cut_short_one_waits_for_it_like_the_kernel() {
    let _s = serial();
    patch();
    let plain = std::thread::spawn(repeated_connects).join().expect("plain");
    assert_eq!(
        plain,
        ((-1, libc::EINPROGRESS), (-1, libc::EALREADY), 0, 0),
        "the kernel's"
    );
    let (green, gap) = watchdog(30, || with_ticker(repeated_connects));
    assert_eq!(green, plain);
    assert!(gap < STALL, "hub stalled {gap:?}");
    // Cut short by green::timeout instead: the repeated connect parks until
    // the handshake completes.
    let (first, again, err, gap) = watchdog(30, || {
        let (l, a, _q) = full_listener();
        let ((first, again, err), gap) = with_ticker(move || {
            let fd = tcp_socket(false);
            let seen = std::cell::Cell::new((0, 0));
            // C87: the deadline fired inside, so `timeout` reports it; the
            // connect itself failed with ETIMEDOUT.
            let r = green::timeout(Duration::from_millis(100), || seen.set(connect(fd, a)));
            assert_eq!(r, Err(green::Elapsed));
            let first = seen.get();
            accept_one(l);
            let again = connect(fd, a);
            let err = so_error(fd);
            close(fd);
            (first, again, err)
        });
        close(l);
        (first, again, err, gap)
    });
    assert_eq!(first, (-1, libc::ETIMEDOUT));
    assert_eq!((again.0, err), (0, 0), "waited for the first connect");
    assert!(gap < STALL, "hub stalled {gap:?}");
}

#[test]
fn a_pipe_given_back_its_blocking_mode_for_stdin_still_parks_its_readers() {
    let _s = serial();
    patch();
    let (r, w) = pipe();
    // A coroutine reads it once: managed, non-blocking for real.
    let first = watchdog(30, move || read_parks(r, w, b"managed").0);
    assert_eq!(first, b"managed");
    assert_ne!(real_flags(r) & libc::O_NONBLOCK, 0, "precondition: managed");
    // SAFETY: plain fd calls.
    let saved = unsafe { libc::dup(0) };
    // Onto stdin, where whoever runs next shares it: blocking again...
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(r, 0) }, 0);
    assert_eq!(real_flags(r) & libc::O_NONBLOCK, 0, "given back");
    // ...and a coroutine reading it (under either number) still parks: the
    // writer runs on the same thread.
    let (got, gap) = watchdog(30, move || read_parks(r, w, b"shared"));
    assert_eq!(got, b"shared");
    let (got0, _) = watchdog(30, move || read_parks(0, w, b"stdin"));
    assert_eq!(got0, b"stdin");
    assert_eq!(real_flags(r) & libc::O_NONBLOCK, 0, "left blocking");
    assert!(gap < STALL, "hub stalled {gap:?}");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(saved, 0) }, 0);
    close(saved);
    close(r);
    close(w);
}
