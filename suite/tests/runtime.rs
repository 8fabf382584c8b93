//! `green::Runtime`: settings, and N hubs on N threads.

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use green::rt::RemoteUnparker;
use green::{Runtime, RuntimeError};

/// What one hub thread saw of its own coroutines.
#[derive(Debug)]
struct HubReport {
    thread: ThreadId,
    thread_name: String,
    coroutine_threads: Vec<ThreadId>,
    ids: Vec<u64>,
    parked_at_once: usize,
}

#[test]
fn each_thread_runs_its_own_hub_and_coroutines() {
    let t = Instant::now();
    let reports = Runtime::new()
        .threads(2)
        .run_threads(|_| {
            let hs: Vec<_> = (0..50)
                .map(|_| {
                    green::spawn(|| {
                        green::sleep(Duration::from_millis(50));
                        (std::thread::current().id(), green::current().unwrap().id())
                    })
                })
                .collect();
            green::sleep(Duration::from_millis(10));
            // All 50 are parked in their sleep on this hub, none elsewhere.
            let parked_at_once = green::run_info().len();
            let (coroutine_threads, ids) =
                green::joinall(hs).into_iter().map(Result::unwrap).unzip();
            HubReport {
                thread: std::thread::current().id(),
                thread_name: std::thread::current().name().unwrap_or("").to_string(),
                coroutine_threads,
                ids,
                parked_at_once,
            }
        })
        .unwrap();
    // 2 x 50 sleeps of 50 ms overlap: far below the 5 s a serial run takes.
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(reports.len(), 2);
    assert_ne!(reports[0].thread, reports[1].thread);
    assert_ne!(reports[0].thread, std::thread::current().id());
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.thread_name, format!("green-hub-{i}"));
        assert!(r.coroutine_threads.iter().all(|t| *t == r.thread), "{r:?}");
        // Ids are per hub: each hub numbered its own coroutines from 1.
        assert_eq!(r.ids, (1..=50).collect::<Vec<u64>>());
        assert_eq!(r.parked_at_once, 50);
    }
}

/// A tiny cross-thread channel for this test only: a locked queue plus the
/// receiver's `RemoteUnparker`, so a coroutine can wait for another hub's
/// thread without blocking its own hub.
struct Remote<T> {
    q: Mutex<(VecDeque<T>, Option<RemoteUnparker>, bool)>,
}

impl<T> Remote<T> {
    fn new() -> Self {
        Remote {
            q: Mutex::new((VecDeque::new(), None, false)),
        }
    }

    fn send(&self, v: T) {
        let waiter = {
            let mut g = self.q.lock().unwrap();
            g.0.push_back(v);
            g.1.take()
        };
        if let Some(w) = waiter {
            w.unpark();
        }
    }

    fn close(&self) {
        let waiter = {
            let mut g = self.q.lock().unwrap();
            g.2 = true;
            g.1.take()
        };
        if let Some(w) = waiter {
            w.unpark();
        }
    }

    /// Park the calling coroutine until a value (or close) arrives.
    fn recv(&self) -> Option<T> {
        loop {
            {
                let mut g = self.q.lock().unwrap();
                if let Some(v) = g.0.pop_front() {
                    return Some(v);
                }
                if g.2 {
                    return None;
                }
                g.1 = Some(green::rt::remote_unparker());
            }
            green::rt::park(None, green::rt::ParkedOn::Remote);
        }
    }
}

#[test]
fn coroutines_on_two_hubs_exchange_values_across_threads() {
    // Hub 0 -> hub 1 over std::sync::mpsc (received through spawn_blocking);
    // hub 1 -> hub 0 over the tiny remote channel above.
    let (tx, rx) = mpsc::channel::<u32>();
    let tx = Mutex::new(Some(tx));
    let rx = Mutex::new(Some(rx));
    let back = Arc::new(Remote::<u32>::new());

    let results = Runtime::new()
        .threads(2)
        .run_threads(|i| {
            // A ticker proves the hub keeps running while a coroutine waits
            // for the other thread.
            let ticks = Rc::new(RefCell::new(0u32));
            let t = ticks.clone();
            let ticker = green::spawn(move || loop {
                green::sleep(Duration::from_millis(1));
                *t.borrow_mut() += 1;
            });
            let got: Vec<u32> = if i == 0 {
                let tx = tx.lock().unwrap().take().unwrap();
                let back = back.clone();
                green::spawn(move || {
                    let mut got = Vec::new();
                    for v in 0..100 {
                        tx.send(v).unwrap();
                        got.push(back.recv().unwrap());
                    }
                    drop(tx);
                    assert_eq!(back.recv(), None);
                    got
                })
                .join()
                .unwrap()
            } else {
                let mut rx = rx.lock().unwrap().take().unwrap();
                let back = back.clone();
                green::spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        let (r, v) = green::spawn_blocking(move || {
                            let v = rx.recv();
                            (rx, v)
                        });
                        rx = r;
                        match v {
                            Ok(v) => {
                                seen.push(v);
                                back.send(v * 2);
                            }
                            Err(_) => break,
                        }
                    }
                    back.close();
                    seen
                })
                .join()
                .unwrap()
            };
            ticker.kill();
            let _ = ticker.join();
            let ticks = *ticks.borrow();
            (got, ticks)
        })
        .unwrap();
    assert_eq!(results[0].0, (0..100).map(|v| v * 2).collect::<Vec<_>>());
    assert_eq!(results[1].0, (0..100).collect::<Vec<_>>());
    assert!(results[0].1 > 0 && results[1].1 > 0, "{results:?}");
}

#[test]
fn run_threads_reports_a_panicking_thread() {
    let done = Mutex::new(Vec::new());
    let r = Runtime::new().threads(3).run_threads(|i| {
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(20));
            if i == 1 {
                panic!("boom on {i}");
            }
        });
        if h.join().is_err() {
            panic!("coroutine on {i} failed");
        }
        done.lock().unwrap().push(i);
    });
    let e = r.unwrap_err();
    assert!(
        matches!(e, RuntimeError::ThreadPanicked { index: 1, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("hub thread 1 panicked: coroutine on 1 failed"),
        "{e}"
    );
    let mut d = done.into_inner().unwrap();
    d.sort();
    assert_eq!(d, [0, 2], "the other threads ran to the end");
}

#[test]
fn bad_settings_are_clear_errors() {
    let e = Runtime::new().threads(0).run_threads(|_| ()).unwrap_err();
    assert!(
        matches!(e, RuntimeError::ZeroCount { setting: "threads" }),
        "{e:?}"
    );
    assert_eq!(io::Error::from(e).kind(), ErrorKind::InvalidInput);
    let e = Runtime::new().threads(0).run_threads(|_| ()).unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");

    let e = Runtime::new().threads(2).run(|| ()).unwrap_err();
    assert!(
        matches!(e, RuntimeError::RunWithThreads { threads: 2 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("run_threads"), "{e}");

    let e = Runtime::new()
        .monitor(Duration::ZERO)
        .run_threads(|_| ())
        .unwrap_err();
    assert!(matches!(e, RuntimeError::ZeroMonitorThreshold), "{e:?}");
    assert!(e.to_string().contains("monitor threshold"), "{e}");

    let e = Runtime::new().stack_size(1).run(|| ()).unwrap_err();
    assert!(matches!(e, RuntimeError::StackSize { size: 1 }), "{e:?}");

    let e = Runtime::new()
        .stack_size(usize::MAX)
        .threads(2)
        .run_threads(|_| unreachable!())
        .unwrap_err();
    assert!(matches!(e, RuntimeError::StackSize { .. }), "{e:?}");
}

#[test]
fn run_on_a_thread_that_already_has_a_hub_fails() {
    std::thread::spawn(|| {
        green::spawn(|| ()).join().unwrap();
        let e = Runtime::new().run(|| ()).unwrap_err();
        assert!(e.to_string().contains("already running"), "{e}");
    })
    .join()
    .unwrap();
}

#[test]
fn region_and_stack_settings_work_on_every_hub() {
    // One region per hub: 20 coroutines that all stay parked share it by
    // copying their stacks, on both hubs.
    let sums = Runtime::new()
        .threads(2)
        .max_regions(1)
        .stack_size(64 * 1024)
        .run_threads(|i| {
            let hs: Vec<_> = (0..20u64)
                .map(|k| {
                    green::spawn(move || {
                        let buf = [k as u8; 512];
                        green::sleep(Duration::from_millis(5));
                        buf.iter().map(|&b| u64::from(b)).sum::<u64>() + i as u64
                    })
                })
                .collect();
            green::joinall(hs)
                .into_iter()
                .map(Result::unwrap)
                .sum::<u64>()
        })
        .unwrap();
    let base: u64 = (0..20u64).map(|k| k * 512).sum();
    assert_eq!(sums, [base, base + 20]);
}

#[test]
fn default_thread_count_is_one_per_cpu() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = Runtime::new().run_threads(|i| i).unwrap();
    assert_eq!(r, (0..n).collect::<Vec<_>>());
}

/// Regression (runtime core, `spawn_blocking`): a wake of the caller's park
/// that does not come from the job (a stray `Unparker`, or a queued wake left
/// by an earlier `spawn_blocking` whose job finished before its caller
/// parked) used to consume the park the job's wake was made for; the job's
/// wake was then ignored and the caller hung (seen as a deadlock report).
#[test]
fn spawn_blocking_survives_a_stray_wake_of_its_park() {
    let h = green::spawn(|| {
        // Valid for this coroutine's next park: the one in spawn_blocking.
        let stray = green::rt::unparker();
        green::spawn(move || {
            stray.unpark();
        });
        green::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        })
    });
    assert_eq!(h.join().unwrap(), 7);
}

#[test]
fn back_to_back_spawn_blocking_calls_never_lose_a_wake() {
    let h = green::spawn(|| {
        let mut sum = 0u64;
        for i in 0..2000u64 {
            sum += green::spawn_blocking(move || i);
        }
        sum
    });
    assert_eq!(h.join().unwrap(), (0..2000u64).sum::<u64>());
}

#[test]
fn two_hubs_talk_over_green_xchan() {
    // Hub 0's coroutines send to hub 1 over one cross-thread channel; hub
    // 1's coroutine answers over another. Each receiver parks only its own
    // coroutine and is woken through its hub's waker.
    let out = common::hang::watchdog(30, exchange_over_xchan);
    let expected: Vec<(u32, String)> = (0..10u32)
        .map(|k| (k * k + 1, "green-hub-1".to_string()))
        .collect();
    assert_eq!(out, expected);
}

/// Hub 0 sends squares to hub 1, which answers with value + 1 and its
/// thread's name; returns what hub 0 received, sorted.
fn exchange_over_xchan() -> Vec<(u32, String)> {
    let (to_1, from_0) = green::xchan::channel::<u32>();
    let (to_0, from_1) = green::xchan::channel::<(u32, String)>();
    let ends = Mutex::new((Some(to_1), Some(from_0), Some(to_0), Some(from_1)));
    let mut out = green::Runtime::new()
        .threads(2)
        .run_threads(|i| {
            let mut e = ends.lock().unwrap();
            if i == 0 {
                let tx = e.0.take().unwrap();
                let rx = e.3.take().unwrap();
                drop(e);
                let senders: Vec<_> = (0..10u32)
                    .map(|k| {
                        let tx = tx.clone();
                        green::spawn(move || tx.send(k * k).unwrap())
                    })
                    .collect();
                drop(tx);
                green::joinall(senders);
                let mut got: Vec<(u32, String)> = std::iter::from_fn(|| rx.recv()).collect();
                got.sort();
                got
            } else {
                let rx = e.1.take().unwrap();
                let tx = e.2.take().unwrap();
                drop(e);
                let me = std::thread::current().name().unwrap_or("?").to_string();
                green::spawn(move || {
                    while let Some(v) = rx.recv() {
                        tx.send((v + 1, me.clone())).unwrap();
                    }
                })
                .join()
                .unwrap();
                Vec::new()
            }
        })
        .unwrap();
    out.swap_remove(0)
}
