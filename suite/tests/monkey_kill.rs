//! Kill and timeout reach unmodified code (C85–C88): a hooked call that
//! waits fails when a kill or an expiring `green::timeout` cuts it short, in
//! a way no std retry loop turns into a spin; once one is pending, every
//! hooked call that would wait backs off cooperatively before failing, so a
//! killed coroutine that keeps calling unmodified code never freezes its
//! hub; `timeout` reports `Elapsed` whenever its own deadline fired inside
//! the closure; the monitor calls a killed coroutine that keeps running
//! "kill pending".
//!
//! The CPU bounds read `getrusage` for the whole process, so every test
//! here takes one lock and they run one at a time. Patched process-wide,
//! so its own test binary.

mod common;
mod monkey_support;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use monkey_support::{errno, serial};

/// The runtime's back-off for a wait begun with an interruption pending.
const BACKOFF: Duration = green::rt::INTERRUPT_BACKOFF;

/// A little less than the back-off, for lower bounds (timer rounding).
fn about_backoff() -> Duration {
    BACKOFF - Duration::from_millis(2)
}

fn patched() {
    green::monkey::patch_all();
}

/// CPU time (user + system) this process has used so far.
fn cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid out-value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A coroutine ticking every 10 ms; `gap` is the longest time between two
/// ticks since the last `reset`.
struct Ticker {
    stop: Rc<Cell<bool>>,
    gap: Rc<Cell<Duration>>,
    h: green::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Ticker {
        let stop = Rc::new(Cell::new(false));
        let gap = Rc::new(Cell::new(Duration::ZERO));
        let (s, g) = (stop.clone(), gap.clone());
        let h = green::spawn(move || {
            let mut last = Instant::now();
            while !s.get() {
                green::sleep(Duration::from_millis(10));
                let now = Instant::now();
                g.set(g.get().max(now - last));
                last = now;
            }
        });
        Ticker { stop, gap, h }
    }

    fn reset(&self) {
        self.gap.set(Duration::ZERO);
    }

    fn gap(&self) -> Duration {
        self.gap.get()
    }

    fn stop(self) {
        self.stop.set(true);
        self.h.join().expect("ticker");
    }
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// How long `f` took, and what it returned.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

// C86
#[test]
fn c86_a_killed_coroutine_looping_on_std_sleep_keeps_its_sibling_ticking_and_never_spins() {
    let _s = serial();
    watchdog(60, || {
        patched();
        let loops = Rc::new(Cell::new(0u64));
        let leave = Rc::new(Cell::new(false));
        let (n, out) = (loops.clone(), leave.clone());
        let looper = green::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            n.set(n.get() + 1);
            if out.get() {
                // A green park: where the pending kill unwinds.
                green::sleep(Duration::ZERO);
            }
        });
        let ticker = Ticker::start();
        green::sleep(Duration::from_millis(250));
        assert!(loops.get() >= 1, "the looper runs before the kill");

        looper.kill_nowait();
        ticker.reset();
        let (cpu0, t0, n0) = (cpu(), Instant::now(), loops.get());
        // The join parks the root; the hub must keep running both.
        let finished = looper.join_timeout(Duration::from_secs(2));
        let (wall, used) = (t0.elapsed(), cpu() - cpu0);
        assert!(!finished, "unmodified code cannot be unwound");
        assert!(wall >= Duration::from_secs(2), "{wall:?}");
        let gap = ticker.gap();
        assert!(
            gap < Duration::from_millis(100),
            "the hub froze for {gap:?}"
        );
        assert!(
            used < wall / 2,
            "used {used:?} of CPU in {wall:?}: the killed coroutine spins"
        );
        // Each hooked sleep after the kill waits the back-off, never 0.
        let after = loops.get() - n0;
        let most = (wall.as_millis() / about_backoff().as_millis()) as u64 + 2;
        assert!(
            after <= most,
            "{after} sleeps in {wall:?}: some did not wait"
        );

        leave.set(true);
        assert!(matches!(looper.join(), Err(green::JoinError::Killed)));
        ticker.stop();
    });
}

/// What the sleep calls of a killed coroutine returned.
#[derive(Debug, Default, Clone, Copy)]
struct Sleeps {
    /// The `nanosleep` the kill cut short: (ret, errno, rem secs, rem ns, took).
    cut: (i32, i32, i64, i64, Duration),
    /// The next `nanosleep`, begun with the kill pending.
    next: (i32, i32, i64, i64, Duration),
    usleep: (i32, i32),
    sleep_left: u32,
    clock: (i32, i64),
    /// A 2 ms `nanosleep`, which fits in the back-off.
    short: i32,
    /// Three `sched_yield`s.
    yields: Duration,
}

// C85, C86
#[test]
fn c85_a_kill_cuts_hooked_sleeps_with_eintr_and_nothing_left_to_resume() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let out = Rc::new(Cell::new(Sleeps::default()));
        let o = out.clone();
        let h = green::spawn(move || {
            let req = libc::timespec {
                tv_sec: 10,
                tv_nsec: 0,
            };
            let mut seen = Sleeps::default();
            let nano = || {
                let mut rem = libc::timespec {
                    tv_sec: 99,
                    tv_nsec: 9,
                };
                let t = Instant::now();
                // SAFETY: valid timespecs.
                let r = unsafe { libc::nanosleep(&req, &mut rem) };
                (r, errno(), rem.tv_sec, rem.tv_nsec, t.elapsed())
            };
            seen.cut = nano();
            seen.next = nano();
            // SAFETY: plain calls.
            seen.usleep = (unsafe { libc::usleep(5_000_000) }, errno());
            // SAFETY: a plain call.
            seen.sleep_left = unsafe { libc::sleep(5) };
            let mut rem = libc::timespec {
                tv_sec: 99,
                tv_nsec: 0,
            };
            // SAFETY: valid timespecs.
            let c = unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &req, &mut rem) };
            seen.clock = (c, rem.tv_sec);
            let short = libc::timespec {
                tv_sec: 0,
                tv_nsec: 2_000_000,
            };
            // SAFETY: a valid timespec.
            seen.short = unsafe { libc::nanosleep(&short, std::ptr::null_mut()) };
            let t = Instant::now();
            for _ in 0..3 {
                std::thread::yield_now();
            }
            seen.yields = t.elapsed();
            o.set(seen);
            green::sleep(Duration::ZERO); // the kill unwinds here
            unreachable!("a pending kill unwinds at a green park");
        });
        green::sleep(Duration::from_millis(30));
        h.kill_nowait();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        let s = out.get();
        let (r, e, sec, ns, took) = s.cut;
        assert_eq!((r, e, sec, ns), (-1, libc::EINTR, 0, 0), "{s:?}");
        assert!(took < Duration::from_secs(5), "{s:?}");
        let (r, e, sec, ns, took) = s.next;
        assert_eq!((r, e, sec, ns), (-1, libc::EINTR, 0, 0), "{s:?}");
        assert!(
            took >= about_backoff() && took < Duration::from_secs(2),
            "{s:?}"
        );
        assert_eq!(s.usleep, (-1, libc::EINTR), "{s:?}");
        assert_eq!(
            s.sleep_left, 5,
            "sleep(3) says what it did not sleep: {s:?}"
        );
        assert_eq!(s.clock, (libc::EINTR, 0), "{s:?}");
        assert_eq!(s.short, 0, "{s:?}");
        assert!(s.yields >= about_backoff() * 3, "yields spin: {s:?}");
    });
}

/// What the socket calls of a killed coroutine returned (raw errno or Ok).
#[derive(Debug, Default)]
struct Sockets {
    cut_read: Option<Result<usize, Option<i32>>>,
    ready_read: Option<Result<usize, Option<i32>>>,
    empty_read: Option<(Result<usize, Option<i32>>, Duration)>,
    write: Option<Result<usize, Option<i32>>>,
    read_exact: Option<Option<i32>>,
    accept: Option<(Option<i32>, Duration)>,
    poll: Option<(i32, i32, Duration)>,
    child_wait: Option<Option<i32>>,
}

// C85, C86
#[test]
fn c85_a_kill_fails_waiting_socket_poll_and_wait_calls_with_ecanceled_only_when_they_wait() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let (mut c, mut peer) = pair();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let out: Rc<RefCell<Sockets>> = Rc::default();
        let o = out.clone();
        let h = green::spawn(move || {
            let mut buf = [0u8; 8];
            let mut seen = Sockets {
                cut_read: Some(c.read(&mut buf).map_err(|e| e.raw_os_error())),
                ..Sockets::default()
            };
            // Kill pending from here on. Data waits: the read completes.
            seen.ready_read = Some(c.read(&mut buf).map_err(|e| e.raw_os_error()));
            let (r, took) = timed(|| c.read(&mut buf).map_err(|e| e.raw_os_error()));
            seen.empty_read = Some((r, took));
            seen.write = Some(c.write(b"room").map_err(|e| e.raw_os_error()));
            seen.read_exact = Some(c.read_exact(&mut buf).err().and_then(|e| e.raw_os_error()));
            let (r, took) = timed(|| l.accept().err().and_then(|e| e.raw_os_error()));
            seen.accept = Some((r, took));
            let mut p = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&c),
                events: libc::POLLIN,
                revents: 0,
            };
            let t = Instant::now();
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, 5000) };
            seen.poll = Some((r, errno(), t.elapsed()));
            let mut child = Command::new("sleep")
                .arg("5")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep");
            seen.child_wait = Some(child.wait().err().and_then(|e| e.raw_os_error()));
            let _ = child.kill();
            // Reaped by a plain wait once the kill is no longer ours.
            let _ = std::thread::spawn(move || child.wait()).join();
            *o.borrow_mut() = seen;
            green::sleep(Duration::ZERO);
            unreachable!("a pending kill unwinds at a green park");
        });
        green::sleep(Duration::from_millis(30));
        peer.write_all(b"data").expect("peer write");
        h.kill_nowait(); // before the reader ran again: its read is cut
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        let s = out.borrow();
        let ecanceled = Some(libc::ECANCELED);
        assert_eq!(s.cut_read, Some(Err(ecanceled)), "{s:?}");
        assert_eq!(
            s.ready_read,
            Some(Ok(4)),
            "a read that need not wait: {s:?}"
        );
        let (r, took) = s.empty_read.expect("empty read");
        assert_eq!(r, Err(ecanceled), "{s:?}");
        assert!(took >= about_backoff(), "{s:?}");
        assert_eq!(s.write, Some(Ok(4)), "a write with room: {s:?}");
        assert_eq!(
            s.read_exact,
            Some(ecanceled),
            "std does not retry it: {s:?}"
        );
        let (r, took) = s.accept.expect("accept");
        assert_eq!(r, ecanceled, "{s:?}");
        assert!(took >= about_backoff(), "{s:?}");
        let (r, e, took) = s.poll.expect("poll");
        assert_eq!((r, e), (-1, libc::ECANCELED), "{s:?}");
        assert!(
            took >= about_backoff() && took < Duration::from_secs(4),
            "{s:?}"
        );
        assert_eq!(s.child_wait, Some(ecanceled), "{s:?}");
    });
}

// C85, C86
#[test]
fn c85_an_expired_timeout_fails_waits_with_etimedout_and_polls_with_zero() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let h = green::spawn(|| {
            let (mut c, _peer) = pair();
            let mut buf = [0u8; 4];
            let seen = Rc::new(RefCell::new(Vec::new()));
            let s2 = seen.clone();
            let r = green::timeout(Duration::from_millis(30), move || {
                let (r, took) = timed(|| c.read(&mut buf).map_err(|e| e.raw_os_error()));
                s2.borrow_mut().push((r, took));
                // The deadline has passed: this read backs off, then fails.
                let (r, took) = timed(|| c.read(&mut buf).map_err(|e| e.raw_os_error()));
                s2.borrow_mut().push((r, took));
                let mut p = libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&c),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let (r, took) = timed(|| {
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 5000) }
                });
                s2.borrow_mut().push((Ok(r as usize), took));
            });
            (r, seen.take())
        });
        let (r, seen) = h.join().expect("coroutine");
        assert_eq!(r, Err(green::Elapsed));
        let etimedout = Err(Some(libc::ETIMEDOUT));
        assert_eq!(seen[0].0, etimedout, "{seen:?}");
        assert!(seen[0].1 >= Duration::from_millis(29), "{seen:?}");
        assert_eq!(seen[1].0, etimedout, "{seen:?}");
        assert!(seen[1].1 >= about_backoff(), "{seen:?}");
        assert_eq!(seen[2].0, Ok(0), "poll reports nothing ready: {seen:?}");
        assert!(seen[2].1 >= about_backoff(), "{seen:?}");
        assert!(seen[2].1 < Duration::from_secs(4), "{seen:?}");
    });
}

// C85, C87
#[test]
fn c87_timeout_around_std_sleep_returns_elapsed_at_its_deadline_in_a_coroutine_and_on_the_root() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let ticker = Ticker::start();
        let (r, took) = green::spawn(|| {
            timed(|| {
                green::timeout(Duration::from_millis(30), || {
                    std::thread::sleep(Duration::from_millis(500))
                })
            })
        })
        .join()
        .expect("coroutine");
        assert_eq!(r, Err(green::Elapsed));
        assert!(
            took >= Duration::from_millis(30) && took < Duration::from_millis(400),
            "{took:?}"
        );
        // The same on the root (C84), while the ticker lives.
        let (r, took) = timed(|| {
            green::timeout(Duration::from_millis(30), || {
                std::thread::sleep(Duration::from_millis(500))
            })
        });
        ticker.stop();
        assert_eq!(r, Err(green::Elapsed));
        assert!(
            took >= Duration::from_millis(30) && took < Duration::from_millis(400),
            "{took:?}"
        );
    });
}

/// Counts its drops.
struct Dropped(Rc<Cell<u32>>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

// C87
#[test]
fn c87_a_value_returned_after_the_deadline_fired_is_dropped_and_elapsed_reported() {
    let _s = serial();
    watchdog(30, || {
        patched();
        for on_root in [false, true] {
            let drops = Rc::new(Cell::new(0));
            let d = drops.clone();
            let body = move || {
                let r = green::timeout(Duration::from_millis(20), move || {
                    std::thread::sleep(Duration::from_secs(5));
                    Dropped(d)
                });
                r.map(|_| ()).map_err(|_| ())
            };
            let r = if on_root {
                body()
            } else {
                green::spawn(body).join().expect("coroutine")
            };
            assert_eq!(r, Err(()), "on root: {on_root}");
            assert_eq!(drops.get(), 1, "the value is dropped (root: {on_root})");
        }
        // An enclosing timeout that fires is not this one's: the inner one
        // returns what its closure returned, the outer reports Elapsed.
        let inner_seen = Rc::new(Cell::new(None));
        let i2 = inner_seen.clone();
        let outer = green::timeout(Duration::from_millis(20), move || {
            let inner = green::timeout(Duration::from_secs(10), || {
                std::thread::sleep(Duration::from_secs(5));
                5
            });
            i2.set(Some(inner));
            6
        });
        assert_eq!(outer, Err(green::Elapsed));
        assert_eq!(inner_seen.get(), Some(Ok(5)));
        // A closure that never waited past its deadline keeps its value.
        let r = green::timeout(Duration::from_millis(1), || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(10) {
                std::hint::spin_loop();
            }
            7
        });
        assert_eq!(r, Ok(7));
    });
}

// C86, C87
#[test]
fn c86_after_its_deadline_a_root_loop_of_std_sleeps_backs_off_without_spinning() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let (cpu0, t0) = (cpu(), Instant::now());
        let r = green::timeout(Duration::from_millis(20), || {
            let mut n = 0u32;
            while t0.elapsed() < Duration::from_millis(400) {
                std::thread::sleep(Duration::from_millis(50));
                n += 1;
            }
            n
        });
        let (wall, used) = (t0.elapsed(), cpu() - cpu0);
        assert_eq!(r, Err(green::Elapsed));
        assert!(used < wall / 2, "used {used:?} of CPU in {wall:?}");
    });
}

// C86
#[test]
fn c86_a_killed_coroutine_retrying_a_failing_read_for_ever_does_not_freeze_the_hub() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let (mut c, _peer) = pair();
        let leave = Rc::new(Cell::new(false));
        let out = leave.clone();
        let tries = Rc::new(Cell::new(0u32));
        let n = tries.clone();
        // Code that ignores every error and tries again.
        let stubborn = green::spawn(move || loop {
            let _ = c.read(&mut [0u8; 4]);
            n.set(n.get() + 1);
            if out.get() {
                green::sleep(Duration::ZERO);
            }
        });
        let ticker = Ticker::start();
        green::sleep(Duration::from_millis(30));
        stubborn.kill_nowait();
        ticker.reset();
        let (cpu0, t0) = (cpu(), Instant::now());
        green::sleep(Duration::from_millis(500));
        let (wall, used) = (t0.elapsed(), cpu() - cpu0);
        assert!(
            ticker.gap() < Duration::from_millis(100),
            "{:?}",
            ticker.gap()
        );
        assert!(used < wall / 2, "used {used:?} of CPU in {wall:?}");
        let most = (wall.as_millis() / about_backoff().as_millis()) as u32 + 2;
        assert!(tries.get() <= most, "{} reads in {wall:?}", tries.get());
        leave.set(true);
        assert!(matches!(stubborn.join(), Err(green::JoinError::Killed)));
        ticker.stop();
    });
}

/// On drop (typically during an unwind), a hooked `nanosleep` of `ms`,
/// recording (return value, errno, how long it took).
struct SleepOnDrop {
    ms: i64,
    out: Rc<Cell<Option<(i32, i32, Duration)>>>,
}

impl Drop for SleepOnDrop {
    fn drop(&mut self) {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: self.ms * 1_000_000,
        };
        let t = Instant::now();
        // SAFETY: a valid timespec.
        let r = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        self.out.set(Some((r, errno(), t.elapsed())));
    }
}

// C85, C86
#[test]
fn c85_hooked_sleeps_in_destructors_during_an_unwind_sleep_in_full_unless_killed_again() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let ticker = Ticker::start();
        let full = Duration::from_millis(60);
        // Unwinding from a kill: the kill was delivered, nothing is pending.
        let out = Rc::new(Cell::new(None));
        let o = out.clone();
        let h = green::spawn(move || {
            let _g = SleepOnDrop { ms: 60, out: o };
            green::sleep(Duration::from_secs(10));
        });
        green::sleep(Duration::from_millis(10));
        h.kill();
        let (r, _, took) = out.get().expect("the destructor ran");
        assert_eq!(r, 0);
        assert!(took >= full, "{took:?}");
        // Unwinding to an expired timeout, in a coroutine and on the root:
        // the frame the unwind goes to is not pending inside it.
        for on_root in [false, true] {
            let out = Rc::new(Cell::new(None));
            let o = out.clone();
            let body = move || {
                green::timeout(Duration::from_millis(20), move || {
                    let _g = SleepOnDrop { ms: 60, out: o };
                    green::sleep(Duration::from_secs(10));
                })
            };
            let r = if on_root {
                body()
            } else {
                green::spawn(body).join().expect("coroutine")
            };
            assert_eq!(r, Err(green::Elapsed));
            let (r, _, took) = out.get().expect("the destructor ran");
            assert_eq!(r, 0, "root: {on_root}");
            assert!(took >= full, "root: {on_root}: {took:?}");
        }
        // A second kill ends the destructor's sleep, as the interrupted
        // call would: EINTR.
        let out = Rc::new(Cell::new(None));
        let o = out.clone();
        let h = green::spawn(move || {
            let _g = SleepOnDrop { ms: 900, out: o };
            green::sleep(Duration::from_secs(10));
        });
        green::sleep(Duration::from_millis(10));
        h.kill_nowait();
        green::sleep(Duration::from_millis(30)); // it sleeps in its destructor
        h.kill();
        let (r, e, took) = out.get().expect("the destructor ran");
        assert_eq!((r, e), (-1, libc::EINTR));
        assert!(took < Duration::from_millis(800), "{took:?}");
        // Every one of those sleeps parked: the ticker never stalled.
        let gap = ticker.gap();
        assert!(gap < Duration::from_millis(100), "{gap:?}");
        ticker.stop();
    });
}

/// A server that accepts, then answers nothing for `secs` seconds.
fn silent_server(secs: u64) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(2) {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(secs));
    });
    addr
}

// C87
#[test]
fn c87_timeout_around_a_ureq_call_reports_elapsed_in_a_coroutine_and_on_the_root() {
    let _s = serial();
    watchdog(30, || {
        patched();
        let addr = silent_server(5);
        let url = format!("http://{addr}/");
        let call = move || {
            let url = url.clone();
            timed(move || {
                green::timeout(Duration::from_millis(50), move || {
                    ureq::get(&url)
                        .call()
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
        };
        let c2 = call.clone();
        let (in_coroutine, took) = green::spawn(c2).join().expect("coroutine");
        assert!(in_coroutine.is_err(), "{in_coroutine:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let (on_root, took) = call();
        assert!(on_root.is_err(), "{on_root:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    });
}

const CHILD_ENV: &str = "GREEN_MONKEY_KILL_CHILD";

/// Run in a child process by the monitor test: a coroutine killed while in
/// a hooked sleep computes for 600 ms without reaching a green park.
#[test]
#[ignore = "helper: run in a child process by the monitor test"]
fn child_killed_then_computing() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    patched();
    let h = green::Builder::new()
        .name("stubborn")
        .spawn(|| {
            std::thread::sleep(Duration::from_secs(10));
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(600) {
                std::hint::spin_loop();
            }
            green::sleep(Duration::ZERO);
        })
        .expect("spawn");
    green::sleep(Duration::from_millis(20));
    h.kill_nowait();
    assert!(matches!(h.join(), Err(green::JoinError::Killed)));
}

// C88
#[test]
fn c88_the_monitor_reports_a_killed_coroutine_that_keeps_running_as_kill_pending() {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            "child_killed_then_computing",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env(green::MONITOR_ENV, "100")
        .stdin(Stdio::null())
        .output()
        .expect("run child");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{err}");
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("green: monitor:"))
        .collect();
    assert_eq!(reports.len(), 1, "{err}");
    let r = reports[0];
    assert!(r.contains("coroutine 'stubborn' (#"), "{r}");
    assert!(r.contains("kill pending since "), "{r}");
    assert!(!r.contains("CPU-bound"), "{r}");
}
