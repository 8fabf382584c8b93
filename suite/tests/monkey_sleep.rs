//! The sleep family under `patch_all`: `std::thread::sleep`, `nanosleep`,
//! `usleep`, `sleep`, `clock_nanosleep` (relative and absolute),
//! `sched_yield`; zero, huge and invalid sleeps; kill and timeout inside a
//! sleep; signals (EINTR). Patched process-wide, so its own test binary.

mod common;
mod monkey_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use monkey_support::{errno, time_blocking_sleeps};

fn patched() {
    green::monkey::patch_all();
}

// C36
#[test]
fn c36_std_thread_sleep_in_coroutines_overlaps() {
    watchdog(30, || {
        patched();
        let start = Instant::now();
        let hs: Vec<_> = (0..100)
            .map(|i| {
                green::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    i
                })
            })
            .collect();
        let r: Vec<usize> = green::joinall(hs).into_iter().map(|r| r.unwrap()).collect();
        let took = start.elapsed();
        assert_eq!(r, (0..100).collect::<Vec<_>>());
        assert!(
            took >= Duration::from_millis(50),
            "slept too little: {took:?}"
        );
        // Sequential would be 5 s.
        assert!(
            took < Duration::from_millis(2500),
            "not concurrent: {took:?}"
        );
    });
}

fn overlaps(n: usize, each: Duration, f: impl Fn() + Clone + 'static) -> Duration {
    let start = Instant::now();
    let hs: Vec<_> = (0..n).map(|_| green::spawn(f.clone())).collect();
    for r in green::joinall(hs) {
        r.unwrap();
    }
    let took = start.elapsed();
    assert!(took >= each, "returned before the sleep ended: {took:?}");
    took
}

#[test]
fn every_sleep_function_parks_only_the_coroutine() {
    watchdog(30, || {
        patched();
        let ms100 = Duration::from_millis(100);
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        // nanosleep
        let t = overlaps(10, ms100, move || {
            // SAFETY: valid timespec, null rem.
            assert_eq!(unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) }, 0);
        });
        assert!(t < Duration::from_millis(900), "nanosleep: {t:?}");
        // usleep
        let t = overlaps(10, ms100, || {
            // SAFETY: plain call.
            assert_eq!(unsafe { libc::usleep(100_000) }, 0);
        });
        assert!(t < Duration::from_millis(900), "usleep: {t:?}");
        // clock_nanosleep, relative, both clocks
        for clock in [libc::CLOCK_MONOTONIC, libc::CLOCK_REALTIME] {
            let t = overlaps(10, ms100, move || {
                // SAFETY: valid timespec, null rem.
                let r = unsafe { libc::clock_nanosleep(clock, 0, &ts, std::ptr::null_mut()) };
                assert_eq!(r, 0);
            });
            assert!(t < Duration::from_millis(900), "clock_nanosleep: {t:?}");
        }
        // clock_nanosleep, absolute
        let t = overlaps(10, ms100, || {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid out-pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
            let mut at = now;
            at.tv_nsec += 100_000_000;
            if at.tv_nsec >= 1_000_000_000 {
                at.tv_nsec -= 1_000_000_000;
                at.tv_sec += 1;
            }
            // SAFETY: valid timespec, null rem.
            let r = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &at,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(r, 0);
        });
        assert!(t < Duration::from_millis(900), "clock_nanosleep abs: {t:?}");
        // sleep(1): 3 coroutines, 1 s each
        let t = overlaps(3, Duration::from_secs(1), || {
            // SAFETY: plain call.
            assert_eq!(unsafe { libc::sleep(1) }, 0);
        });
        assert!(t < Duration::from_millis(2500), "sleep: {t:?}");
    });
}

/// Two coroutines take turns at each `step` call.
fn interleaves(step: fn()) -> Vec<(char, i32)> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let hs: Vec<_> = ['a', 'b']
        .into_iter()
        .map(|c| {
            let log = log.clone();
            green::spawn(move || {
                for i in 0..3 {
                    log.borrow_mut().push((c, i));
                    step();
                }
            })
        })
        .collect();
    green::joinall(hs);
    let v = log.borrow().clone();
    v
}

#[test]
fn yield_now_and_zero_sleeps_yield_to_the_next_coroutine() {
    watchdog(30, || {
        patched();
        let want = vec![('a', 0), ('b', 0), ('a', 1), ('b', 1), ('a', 2), ('b', 2)];
        assert_eq!(interleaves(std::thread::yield_now), want);
        assert_eq!(
            interleaves(|| {
                let z = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: valid timespec.
                assert_eq!(unsafe { libc::nanosleep(&z, std::ptr::null_mut()) }, 0);
            }),
            want
        );
        assert_eq!(
            interleaves(|| {
                // SAFETY: plain call.
                let rc = unsafe { libc::usleep(0) };
                assert_eq!(rc, 0)
            }),
            want
        );
    });
}

#[test]
fn invalid_sleeps_fail_like_libc() {
    watchdog(30, || {
        patched();
        let h = green::spawn(|| {
            let bad = libc::timespec {
                tv_sec: 0,
                tv_nsec: 2_000_000_000,
            };
            // SAFETY: valid pointers; the value is what is invalid.
            let r = unsafe { libc::nanosleep(&bad, std::ptr::null_mut()) };
            let e = errno();
            let neg = libc::timespec {
                tv_sec: -1,
                tv_nsec: 0,
            };
            // SAFETY: as above.
            let c = unsafe {
                libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &neg, std::ptr::null_mut())
            };
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 1000,
            };
            // SAFETY: as above; a CPU-time clock is not a sleeping clock.
            let cpu = unsafe {
                libc::clock_nanosleep(libc::CLOCK_THREAD_CPUTIME_ID, 0, &ts, std::ptr::null_mut())
            };
            (r, e, c, cpu)
        });
        let (r, e, c, cpu) = h.join().unwrap();
        assert_eq!((r, e), (-1, libc::EINVAL));
        assert_eq!(c, libc::EINVAL);
        assert_eq!(cpu, libc::EINVAL);
    });
}

#[test]
fn huge_sleep_ends_by_kill_or_timeout() {
    watchdog(30, || {
        patched();
        let start = Instant::now();
        let sleeper = green::spawn(|| {
            std::thread::sleep(Duration::MAX);
            // The kill unwinds at the next green park.
            green::sleep(Duration::ZERO);
            "not killed"
        });
        green::sleep(Duration::from_millis(50));
        sleeper.kill();
        assert!(matches!(sleeper.join(), Err(green::JoinError::Killed)));
        let t = green::spawn(|| {
            let t0 = Instant::now();
            let _ = green::timeout(Duration::from_millis(50), || {
                std::thread::sleep(Duration::from_secs(3600));
            });
            // The sleep ends at the timeout's deadline (returning normally:
            // no green park follows it inside the closure).
            t0.elapsed()
        })
        .join()
        .unwrap();
        assert!(
            t >= Duration::from_millis(50) && t < Duration::from_secs(3),
            "{t:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn kill_inside_std_sleep_surfaces_at_next_green_park() {
    watchdog(30, || {
        patched();
        let reached = Rc::new(RefCell::new(false));
        let r2 = reached.clone();
        let start = Instant::now();
        let h = green::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            *r2.borrow_mut() = true;
            green::sleep(Duration::from_secs(10));
            "finished"
        });
        green::sleep(Duration::from_millis(20));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert!(*reached.borrow(), "the sleep should end early and return");
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

extern "C" fn on_signal(_: libc::c_int) {}

fn install_handler_without_restart() {
    // SAFETY: a zeroed sigaction with a valid handler and no SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

/// Signal `thread` every 5 ms until told to stop; join the handle before
/// `thread` ends.
fn pester(
    thread: libc::pthread_t,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = thread as usize;
    let h = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            // SAFETY: the target thread outlives this loop (it stops and
            // joins it before it ends) and has a handler installed.
            unsafe { libc::pthread_kill(t as libc::pthread_t, libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (stop, h)
}

#[test]
fn eintr_signals_do_not_cut_cooperative_sleeps_and_pass_through_outside() {
    use std::sync::atomic::Ordering;
    watchdog(30, || {
        patched();
        install_handler_without_restart();
        // SAFETY: plain call.
        let me = unsafe { libc::pthread_self() };
        let (stop, pest) = pester(me);
        // Outside a coroutine the real nanosleep runs: a signal ends it
        // with EINTR, as unpatched.
        let ts = libc::timespec {
            tv_sec: 2,
            tv_nsec: 0,
        };
        let t = Instant::now();
        // SAFETY: valid timespec.
        let r = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        let e = errno();
        assert_eq!((r, e), (-1, libc::EINTR));
        assert!(t.elapsed() < Duration::from_secs(1));
        // Inside coroutines the hub absorbs the signals: full-length sleeps.
        let took = time_blocking_sleeps(10, Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        pest.join().unwrap();
        assert!(took >= Duration::from_millis(200), "cut short: {took:?}");
        assert!(
            took < Duration::from_millis(1500),
            "not concurrent: {took:?}"
        );
    });
}
