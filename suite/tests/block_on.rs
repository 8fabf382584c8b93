//! `green::block_on` without tokio: plain futures in coroutines and on the
//! root, wakes from other threads, stale and duplicate wakes, overlap of
//! many parked callers, and kill/timeout of a caller parked in it (C41..C43).

mod common;

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use common::hang::{expect_deadlock, watchdog};

/// A one-shot completion another party fills in, with the waker of whoever
/// waits on it.
#[derive(Clone, Default)]
struct Slot<T>(Arc<Mutex<(Option<T>, Option<Waker>)>>);

impl<T> Slot<T> {
    fn complete(&self, v: T) {
        let w = {
            let mut g = self.0.lock().unwrap();
            g.0 = Some(v);
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = T> + '_ {
        poll_fn(move |cx| {
            let mut g = self.0.lock().unwrap();
            match g.0.take() {
                Some(v) => Poll::Ready(v),
                None => {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A future that never completes but keeps its waker (a clone escapes, so
/// the park is not a provable deadlock) and owns a `DropFlag`.
fn pending_with_flag(flag: Rc<Cell<bool>>) -> impl Future<Output = ()> {
    let guard = DropFlag(flag);
    let kept: RefCell<Option<Waker>> = RefCell::new(None);
    poll_fn(move |cx| {
        let _ = &guard;
        *kept.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    })
}

#[test]
fn ready_future_in_coroutine_and_main() {
    watchdog(10, || {
        assert_eq!(green::block_on(async { 1 + 1 }), 2);
        let h = green::spawn(|| green::block_on(std::future::ready(5)));
        assert_eq!(h.join().unwrap(), 5);
    });
}

#[test]
fn not_send_future_holding_an_rc() {
    watchdog(10, || {
        let shared = Rc::new(RefCell::new(Vec::new()));
        let s2 = shared.clone();
        let h = green::spawn(move || {
            green::block_on(async move {
                let rc = s2.clone();
                // Pending once, then ready: the Rc lives across the park.
                let mut first = true;
                poll_fn(|cx| {
                    if first {
                        first = false;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                })
                .await;
                rc.borrow_mut().push(1);
                Rc::strong_count(&rc)
            })
        });
        assert!(h.join().unwrap() >= 2);
        assert_eq!(*shared.borrow(), [1]);
    });
}

#[test]
fn woken_from_another_thread_in_coroutine_and_main() {
    watchdog(10, || {
        let slot: Slot<u32> = Slot::default();
        let s = slot.clone();
        // The other thread completes the future only once a coroutine of
        // this hub has ticked five times: main's block_on must let it run.
        let ticks = Arc::new(AtomicUsize::new(0));
        let tk = ticks.clone();
        let t = std::thread::spawn(move || {
            while tk.load(Ordering::Acquire) < 5 {
                std::thread::sleep(Duration::from_millis(1));
            }
            s.complete(7);
        });
        let tk = ticks.clone();
        let ticker = green::spawn(move || {
            for _ in 0..5 {
                green::sleep(Duration::from_millis(1));
                tk.fetch_add(1, Ordering::AcqRel);
            }
        });
        assert_eq!(green::block_on(slot.wait()), 7);
        assert_eq!(ticks.load(Ordering::Acquire), 5);
        ticker.join().unwrap();
        t.join().unwrap();

        let slot: Slot<u32> = Slot::default();
        let s = slot.clone();
        let h = green::spawn(move || green::block_on(slot.wait()));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            s.complete(9);
        });
        assert_eq!(h.join().unwrap(), 9);
        t.join().unwrap();
    });
}

/// C42: a waker kept after `block_on` returned, cloned across threads and
/// woken a thousand times, never ends a later, unrelated park early.
#[test]
fn stale_and_duplicate_wakes_never_resume_a_later_park() {
    watchdog(30, || {
        let h = green::spawn(|| {
            let mut leaked: Option<Waker> = None;
            let mut n = 0;
            let leaked_ref = &mut leaked;
            green::block_on(poll_fn(|cx| {
                n += 1;
                *leaked_ref = Some(cx.waker().clone());
                if n < 3 {
                    // Wake many times during the poll: one more poll, no more.
                    for _ in 0..10 {
                        cx.waker().wake_by_ref();
                    }
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            }));
            assert_eq!(n, 3);
            let w = leaked.expect("waker kept");
            let go = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let w = w.clone();
                    let go = go.clone();
                    let done = done.clone();
                    std::thread::spawn(move || {
                        while !go.load(Ordering::Acquire) {
                            std::hint::spin_loop();
                        }
                        for _ in 0..250 {
                            // An owned clone, consumed by `wake`.
                            let owned = w.clone();
                            owned.wake();
                            w.wake_by_ref();
                        }
                        done.fetch_add(1, Ordering::AcqRel);
                    })
                })
                .collect();
            go.store(true, Ordering::Release);
            // Unrelated parks while the stale wakes pour in: each must last
            // its full time.
            for _ in 0..5 {
                let t0 = Instant::now();
                green::sleep(Duration::from_millis(20));
                assert!(
                    t0.elapsed() >= Duration::from_millis(20),
                    "a stale wake cut a sleep short"
                );
            }
            // And a second block_on is not resumed by the first one's waker.
            let slot: Slot<u8> = Slot::default();
            let s = slot.clone();
            let t0 = Instant::now();
            let filler = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                s.complete(1);
            });
            let mut polls = 0;
            let v = green::block_on(poll_fn(|cx| {
                polls += 1;
                w.wake_by_ref();
                std::pin::pin!(slot.wait()).poll(cx)
            }));
            assert_eq!(v, 1);
            assert!(t0.elapsed() >= Duration::from_millis(45));
            assert!(polls <= 3, "stale wakes made {polls} polls");
            for t in threads {
                t.join().unwrap();
            }
            filler.join().unwrap();
            done.load(Ordering::Acquire)
        });
        assert_eq!(h.join().unwrap(), 4);
    });
}

/// C42: the same from a sibling coroutine on the hub's own thread, whose
/// wakes take the direct path (no cross-thread queue): a stale waker woken
/// while its owner sleeps or parks in another `block_on` never
/// resumes those parks early.
#[test]
fn stale_wakes_from_a_sibling_coroutine_never_resume_a_later_park() {
    watchdog(30, || {
        let kept: Rc<RefCell<Option<Waker>>> = Rc::default();
        let second: Rc<RefCell<Option<Waker>>> = Rc::default();
        let done = Rc::new(Cell::new(false));
        let (k, w2, d) = (kept.clone(), second.clone(), done.clone());
        let owner = green::spawn(move || {
            let mut first = true;
            green::block_on(poll_fn(|cx| {
                *k.borrow_mut() = Some(cx.waker().clone());
                if std::mem::take(&mut first) {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            }));
            // Unrelated parks while the sibling keeps waking the old waker.
            for _ in 0..5 {
                let t0 = Instant::now();
                green::sleep(Duration::from_millis(20));
                assert!(
                    t0.elapsed() >= Duration::from_millis(20),
                    "a stale same-thread wake cut a sleep short"
                );
            }
            // A second block_on, ended only by `ender` below: every poll
            // beyond the first and the real wake's would be a stale wake's.
            let mut polls = 0;
            green::block_on(poll_fn(|cx| {
                polls += 1;
                if d.get() {
                    return Poll::Ready(());
                }
                *w2.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }));
            polls
        });
        let k = kept.clone();
        let waker = green::spawn(move || {
            // The first wake ends the owner's first block_on, as it should.
            while k.borrow().is_none() {
                green::sleep(Duration::ZERO);
            }
            let w = k.borrow().clone().expect("waker kept");
            w.wake_by_ref();
            let t0 = Instant::now();
            let mut wakes = 0u64;
            while t0.elapsed() < Duration::from_millis(300) {
                w.wake_by_ref();
                // An owned clone, consumed by `wake`.
                let owned = w.clone();
                owned.wake();
                wakes += 2;
                green::sleep(Duration::from_millis(1));
            }
            wakes
        });
        let ender = green::spawn(move || {
            green::sleep(Duration::from_millis(250));
            done.set(true);
            let w = second.borrow_mut().take().expect("second block_on parked");
            w.wake();
        });
        assert!(waker.join().unwrap() > 10);
        ender.join().unwrap();
        assert_eq!(
            owner.join().unwrap(),
            2,
            "stale wakes polled the second future"
        );
    });
}

/// C41: a hundred coroutines parked in block_on at once overlap.
#[test]
fn hundred_coroutines_overlap_on_one_thread() {
    watchdog(30, || {
        // Half are completed by a timer coroutine, half by another thread.
        let slots: Vec<Slot<usize>> = (0..100).map(|_| Slot::default()).collect();
        let t0 = Instant::now();
        let hs: Vec<_> = slots
            .iter()
            .cloned()
            .map(|s| green::spawn(move || green::block_on(s.wait())))
            .collect();
        let mine: Vec<_> = slots[..50].to_vec();
        let completer = green::spawn(move || {
            green::sleep(Duration::from_millis(100));
            for (i, s) in mine.iter().enumerate() {
                s.complete(i);
            }
        });
        let theirs: Vec<_> = slots[50..].to_vec();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            for (i, s) in theirs.iter().enumerate() {
                s.complete(50 + i);
            }
        });
        let out: Vec<usize> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
        completer.join().unwrap();
        t.join().unwrap();
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        let el = t0.elapsed();
        assert!(
            el < Duration::from_secs(2),
            "100 x 100 ms waits took {el:?}"
        );
    });
}

/// C43: kill drops the future on its thread; other destructors run.
#[test]
fn kill_drops_the_future_and_runs_other_destructors() {
    watchdog(10, || {
        let fut_dropped = Rc::new(Cell::new(false));
        let local_dropped = Rc::new(Cell::new(false));
        let (fd, ld) = (fut_dropped.clone(), local_dropped.clone());
        let h = green::spawn(move || {
            let _local = DropFlag(ld);
            green::block_on(pending_with_flag(fd));
        });
        green::sleep(Duration::from_millis(5));
        assert!(!h.is_finished());
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert!(fut_dropped.get(), "the future was dropped");
        assert!(local_dropped.get(), "the coroutine's own destructors ran");
    });
}

#[test]
fn timeout_drops_the_future_in_coroutine_and_main() {
    watchdog(10, || {
        let flag = Rc::new(Cell::new(false));
        let t0 = Instant::now();
        let r = green::timeout(Duration::from_millis(30), || {
            green::block_on(pending_with_flag(flag.clone()))
        });
        assert!(r.is_err());
        assert!(flag.get());
        assert!(t0.elapsed() >= Duration::from_millis(25));

        let flag2 = Rc::new(Cell::new(false));
        let f2 = flag2.clone();
        let h = green::spawn(move || {
            green::timeout(Duration::from_millis(20), || {
                green::block_on(pending_with_flag(f2.clone()))
            })
            .is_err()
        });
        assert!(h.join().unwrap());
        assert!(flag2.get());
    });
}

/// A future whose own `Drop` parks (a sleep) or panics: a kill that drops
/// it must neither abort nor lose the kill.
#[test]
fn kill_while_the_future_drop_parks_or_panics() {
    struct ParksInDrop(Rc<Cell<u32>>);
    impl Drop for ParksInDrop {
        fn drop(&mut self) {
            green::sleep(Duration::from_millis(10));
            self.0.set(self.0.get() + 1);
        }
    }
    struct PanicsInDrop(Rc<Cell<u32>>);
    impl Drop for PanicsInDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic!("drop of the future panics");
        }
    }
    watchdog(10, || {
        let n = Rc::new(Cell::new(0));
        let n1 = n.clone();
        let h = green::spawn(move || {
            let guard = ParksInDrop(n1);
            green::block_on(async move {
                let _g = guard;
                std::future::pending::<()>().await
            })
        });
        // `pending()` keeps no waker: it is killed, not reported.
        green::sleep(Duration::from_millis(5));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_eq!(n.get(), 1, "the future's Drop slept and finished");

        let n2 = n.clone();
        let after = Rc::new(Cell::new(false));
        let a2 = after.clone();
        let h = green::spawn(move || {
            let _after = DropFlag(a2);
            let guard = PanicsInDrop(n2);
            let kept: RefCell<Option<Waker>> = RefCell::new(None);
            green::block_on(poll_fn(move |cx| {
                let _ = &guard;
                *kept.borrow_mut() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }))
        });
        green::sleep(Duration::from_millis(5));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_eq!(n.get(), 2, "the panicking Drop ran");
        assert!(after.get(), "destructors past the future still ran");

        // A second kill while the future's Drop is parked.
        let n3 = n.clone();
        let h = green::spawn(move || {
            let guard = ParksInDrop(n3);
            green::block_on(async move {
                let _g = guard;
                std::future::pending::<()>().await
            })
        });
        green::sleep(Duration::from_millis(2));
        h.kill();
        green::sleep(Duration::from_millis(2));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_eq!(n.get(), 3);
    });
}

/// block_on inside a Drop that runs while a killed coroutine unwinds.
#[test]
fn block_on_nested_in_a_drop_during_unwind() {
    struct FlushOnDrop(Rc<Cell<u32>>);
    impl Drop for FlushOnDrop {
        fn drop(&mut self) {
            let slot: Slot<u32> = Slot::default();
            let s = slot.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                s.complete(42);
            });
            self.0.set(green::block_on(slot.wait()));
            t.join().unwrap();
        }
    }
    watchdog(10, || {
        let v = Rc::new(Cell::new(0));
        let v1 = v.clone();
        let h = green::spawn(move || {
            let _f = FlushOnDrop(v1);
            green::sleep(Duration::from_secs(60));
        });
        green::sleep(Duration::from_millis(5));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_eq!(
            v.get(),
            42,
            "block_on in the Drop completed during the unwind"
        );

        // And when a timeout unwinds into it.
        let v2 = v.clone();
        let r = green::timeout(Duration::from_millis(5), move || {
            let _f = FlushOnDrop(v2);
            green::sleep(Duration::from_secs(60));
        });
        assert!(r.is_err());
    });
}

#[test]
fn block_on_from_main_with_coroutines_running() {
    watchdog(10, || {
        let (tx, rx) = green::xchan::channel::<u32>();
        let sum = Rc::new(Cell::new(0));
        let s = sum.clone();
        let workers: Vec<_> = (0..10)
            .map(|i| {
                let tx = tx.clone();
                green::spawn(move || {
                    green::sleep(Duration::from_millis(i));
                    tx.send(i as u32).unwrap();
                })
            })
            .collect();
        drop(tx);
        // main awaits a future fed by another coroutine, which itself waits
        // on the channel the workers fill.
        let slot: Slot<u32> = Slot::default();
        let s2 = slot.clone();
        let collector = green::spawn(move || {
            let mut total = 0;
            while let Some(v) = rx.recv() {
                total += v;
            }
            s.set(total);
            s2.complete(total);
        });
        assert_eq!(green::block_on(slot.wait()), 45);
        assert_eq!(sum.get(), 45);
        green::joinall(workers);
        collector.join().unwrap();
    });
}

/// C41: a future that can never be woken (no waker clone kept) is a
/// deadlock on the root, reported, not a hang.
#[test]
fn unwakeable_future_on_root_is_a_reported_deadlock() {
    expect_deadlock(|| green::block_on(std::future::pending::<()>()));
}

/// A panic in poll unwinds out of block_on and drops the future.
#[test]
fn panic_in_poll_propagates_and_drops_the_future() {
    watchdog(10, || {
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        let h = green::spawn(move || {
            let g = DropFlag(f);
            green::block_on(async move {
                let _g = g;
                panic!("boom in poll");
            })
        });
        match h.join() {
            Err(green::JoinError::Panicked(p)) => {
                assert_eq!(p.message(), Some("boom in poll"))
            }
            _ => panic!("expected the poll's panic"),
        }
        assert!(flag.get());
    });
}

/// Ping-pong through wakers between two coroutines on one hub: every
/// hand-off is a same-thread wake.
#[test]
fn ping_pong_between_coroutines() {
    watchdog(20, || {
        let a: Slot<u32> = Slot::default();
        let b: Slot<u32> = Slot::default();
        let (a2, b2) = (a.clone(), b.clone());
        let pong = green::spawn(move || {
            for _ in 0..1000 {
                let v = green::block_on(a2.wait());
                b2.complete(v + 1);
            }
        });
        let mut v = 0;
        for _ in 0..1000 {
            a.complete(v);
            v = green::block_on(b.wait());
        }
        assert_eq!(v, 1000);
        pong.join().unwrap();
    });
}

/// Kill racing a wake from another thread: whichever wins, the coroutine
/// either returns the value or is killed, its future is dropped exactly
/// once, and nothing hangs.
#[test]
fn kill_racing_a_cross_thread_wake() {
    watchdog(60, || {
        let drops = Rc::new(Cell::new(0u32));
        let (mut done, mut killed) = (0, 0);
        for i in 0..200u64 {
            let slot: Slot<u64> = Slot::default();
            let s = slot.clone();
            let d = drops.clone();
            let h = green::spawn(move || {
                struct Count(Rc<Cell<u32>>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.set(self.0.get() + 1);
                    }
                }
                let c = Count(d);
                green::block_on(async move {
                    let _c = c;
                    slot.wait().await
                })
            });
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(i % 7 * 50));
                s.complete(i);
            });
            green::sleep(Duration::from_micros(i % 5 * 60));
            h.kill();
            match h.join() {
                Ok(v) => {
                    assert_eq!(v, i);
                    done += 1;
                }
                Err(green::JoinError::Killed) => killed += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
            t.join().unwrap();
        }
        assert_eq!(drops.get(), 200, "every future dropped exactly once");
        assert_eq!(done + killed, 200);
    });
}

/// Coroutines sharing one stack region (their stack bytes are copied out
/// and back at every switch) wait in block_on on futures completed from
/// another thread: the future lives in the heap, so the copies never tear it.
#[test]
fn block_on_with_shared_stack_regions() {
    watchdog(60, || {
        green::Runtime::new()
            .max_regions(1)
            .run(|| {
                let (txs, hs): (Vec<_>, Vec<_>) = (0..50)
                    .map(|_| {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
                        let h = green::spawn(move || {
                            let local = [7u64; 16];
                            let v = green::block_on(async move {
                                let mut sum = 0;
                                for _ in 0..3 {
                                    sum += rx.recv().await.unwrap_or(0);
                                }
                                sum
                            });
                            v + local.iter().sum::<u64>()
                        });
                        (tx, h)
                    })
                    .unzip();
                let t = std::thread::spawn(move || {
                    for round in 0..3u64 {
                        std::thread::sleep(Duration::from_millis(5));
                        for tx in &txs {
                            tx.send(round + 1).unwrap();
                        }
                    }
                });
                let out: Vec<u64> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
                t.join().unwrap();
                assert!(out.iter().all(|&v| v == 6 + 112), "{out:?}");
                assert!(green::rt::stack_stats().bytes_copied > 0);
            })
            .unwrap();
    });
}

/// A waker that outlives its hub's thread may still be woken: nothing
/// happens, nothing crashes.
#[test]
fn waker_woken_after_its_thread_ended() {
    let kept: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let k = kept.clone();
    std::thread::spawn(move || {
        let slot: Slot<u8> = Slot::default();
        let s = slot.clone();
        let h = green::spawn(move || {
            green::block_on(poll_fn(|cx| {
                k.lock().unwrap().push(cx.waker().clone());
                std::pin::pin!(slot.wait()).poll(cx)
            }))
        });
        let filler = green::spawn(move || s.complete(3));
        assert_eq!(h.join().unwrap(), 3);
        filler.join().unwrap();
    })
    .join()
    .unwrap();
    let wakers = std::mem::take(&mut *kept.lock().unwrap());
    assert!(!wakers.is_empty());
    for w in wakers {
        w.wake_by_ref();
        w.wake();
    }
}

/// A future that wakes itself during every poll and returns `Pending`
/// until `done` holds (a spin-wait, tokio's `yield_now`, a spent
/// cooperative budget).
fn self_waking_until(done: impl Fn() -> bool) -> impl Future<Output = u32> {
    let mut polls = 0;
    poll_fn(move |cx| {
        polls += 1;
        if done() {
            return Poll::Ready(polls);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// Issue 19, fault 1: a future that wakes itself during its poll was
/// re-polled at once, for ever: no sibling coroutine, timer or enclosing
/// timeout ever ran. Each self-wake must yield to the hub first (C2, C41).
// C64
#[test]
fn self_waking_future_in_block_on_starved_siblings_timers_and_timeouts() {
    watchdog(20, || {
        // A sibling coroutine gets its turn.
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        let a = green::spawn(move || green::block_on(self_waking_until(move || f.get())));
        green::spawn(move || flag.set(true));
        let polls = a.join().unwrap();
        assert!(polls >= 2, "polled {polls} times");

        // A timer fires meanwhile (a sibling's sleep), in a coroutine...
        let slept = Rc::new(Cell::new(false));
        let s = slept.clone();
        let sleeper = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            s.set(true);
        });
        let s = slept.clone();
        let a = green::spawn(move || green::block_on(self_waking_until(move || s.get())));
        a.join().unwrap();
        sleeper.join().unwrap();

        // ... and on the root, which waits on a coroutine's timer.
        let slept = Rc::new(Cell::new(false));
        let s = slept.clone();
        let sleeper = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            s.set(true);
        });
        let s = slept.clone();
        green::block_on(self_waking_until(move || s.get()));
        sleeper.join().unwrap();

        // A wake from another thread (cross-thread work) is seen meanwhile.
        let (tx, rx) = green::xchan::channel::<u32>();
        let got = Rc::new(Cell::new(0));
        let g = got.clone();
        let receiver = green::spawn(move || g.set(rx.recv().unwrap_or(0)));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
        });
        let g = got.clone();
        green::block_on(self_waking_until(move || g.get() == 9));
        receiver.join().unwrap();
        t.join().unwrap();
    });
}

/// Issue 19, fault 1: `green::timeout` around a future that wakes itself
/// for ever fires, in a coroutine and on the root; kill ends it too.
// C64
#[test]
fn timeout_around_a_forever_self_waking_future_fires() {
    watchdog(20, || {
        let t0 = Instant::now();
        let r = green::timeout(Duration::from_millis(20), || {
            green::block_on(self_waking_until(|| false))
        });
        assert!(r.is_err(), "the timeout on the root fired");
        assert!(t0.elapsed() >= Duration::from_millis(15));

        let h = green::spawn(|| {
            green::timeout(Duration::from_millis(20), || {
                green::block_on(self_waking_until(|| false))
            })
            .is_err()
        });
        assert!(h.join().unwrap(), "the timeout in a coroutine fired");

        let dropped = Rc::new(Cell::new(false));
        let d = dropped.clone();
        let h = green::spawn(move || {
            let _flag = DropFlag(d);
            green::block_on(self_waking_until(|| false))
        });
        green::sleep(Duration::from_millis(5));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert!(dropped.get());
    });
}

/// A self-waking future is still polled promptly, and a ready one never
/// switches: the fix yields only when a poll woke itself.
// C64
#[test]
fn self_waking_future_takes_turns_with_a_yielding_sibling() {
    watchdog(20, || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let sibling = green::spawn(move || {
            for _ in 0..3 {
                l.borrow_mut().push('s');
                green::yield_now();
            }
        });
        let l = log.clone();
        let n = Rc::new(Cell::new(0));
        let polls = green::block_on(self_waking_until(move || {
            l.borrow_mut().push('f');
            n.set(n.get() + 1);
            n.get() > 3
        }));
        sibling.join().unwrap();
        assert_eq!(polls, 4);
        let log: String = log.borrow().iter().collect();
        // Each self-wake yields once: the sibling runs between polls.
        assert_eq!(log, "fsfsfsf");

        // Ready at once: no switch, the sibling has not run yet.
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = green::spawn(move || r.set(true));
        assert_eq!(green::block_on(async { 5 }), 5);
        assert!(!ran.get(), "a ready future never yields");
        h.join().unwrap();
    });
}

/// What the helper thread of `wakes_from_afar_racing_the_owners_poll` does
/// with a waker it receives.
enum Afar {
    /// Set the flag after `spin` turns, then wake by value.
    Wake(Waker, Arc<AtomicBool>, u32),
    /// Set the flag, wake by reference twice, then drop it.
    WakeByRefTwice(Waker, Arc<AtomicBool>, u32),
    /// Clone it there, drop the original (made on the owner's thread), set
    /// the flag and wake the clone.
    CloneDropWake(Waker, Arc<AtomicBool>, u32),
    /// Only drop it (a clone made at home, given back abroad).
    Drop(Waker),
}

/// A future ready with `v` once `flag` is set, which on its first poll
/// hands its waker to `first` (to arrange for the flag and a wake).
fn ready_when_flagged<T: Copy>(
    flag: Arc<AtomicBool>,
    v: T,
    first: impl FnOnce(&Waker),
) -> impl Future<Output = T> {
    let mut first = Some(first);
    poll_fn(move |cx| {
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(v);
        }
        if let Some(f) = first.take() {
            f(cx.waker());
        }
        Poll::Pending
    })
}

fn spin(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// A seeded random mix of wakes from another thread racing the owner's
/// poll, its arm and its park, with wakes on the owner's thread and
/// clones made at home but dropped abroad: every `block_on` ends with the
/// value its flag promised, on coroutines and on the root alike. A wake
/// from afar that lands between the owner's poll and its park is never
/// lost (it is queued for the owner's loop), and references given back on
/// either side balance (a word freed too early or twice would crash).
#[test]
fn wakes_from_afar_racing_the_owners_poll_are_never_lost() {
    const ROUNDS: u64 = 400;
    const WORKERS: u64 = 6;
    for seed in [1u64, 0x9e37_79b9, 0xdead_beef] {
        watchdog(120, move || {
            let (tx, rx) = std::sync::mpsc::channel::<Afar>();
            let helper = std::thread::spawn(move || {
                for job in rx {
                    match job {
                        Afar::Wake(w, f, n) => {
                            spin(n);
                            f.store(true, Ordering::Release);
                            w.wake();
                        }
                        Afar::WakeByRefTwice(w, f, n) => {
                            spin(n);
                            f.store(true, Ordering::Release);
                            w.wake_by_ref();
                            w.wake_by_ref();
                        }
                        Afar::CloneDropWake(w, f, n) => {
                            let c = w.clone();
                            drop(w);
                            spin(n);
                            f.store(true, Ordering::Release);
                            c.wake();
                        }
                        Afar::Drop(w) => drop(w),
                    }
                }
            });
            // One round: a future that hands its waker to the helper on its
            // first poll (sometimes waking itself at home as well, or
            // handing over an extra clone to be dropped there) and is ready
            // once the helper set its flag.
            let round = |tx: &std::sync::mpsc::Sender<Afar>, rng: &mut u64, i: u64| -> u64 {
                let r = next(rng);
                let flag = Arc::new(AtomicBool::new(false));
                let f = flag.clone();
                green::block_on(ready_when_flagged(flag, i, |waker| {
                    let w = waker.clone();
                    let n = (r >> 8) as u32 % 2000;
                    let job = match r % 3 {
                        0 => Afar::Wake(w, f, n),
                        1 => Afar::WakeByRefTwice(w, f, n),
                        _ => Afar::CloneDropWake(w, f, n),
                    };
                    tx.send(job).unwrap();
                    if r & 0x10000 != 0 {
                        tx.send(Afar::Drop(waker.clone())).unwrap();
                    }
                    if r & 0x20000 != 0 {
                        // A wake at home during the poll as well.
                        waker.wake_by_ref();
                    }
                }))
            };
            let hs: Vec<_> = (0..WORKERS)
                .map(|k| {
                    let tx = tx.clone();
                    green::spawn(move || {
                        let mut rng = seed ^ (k + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                        (0..ROUNDS).map(|i| round(&tx, &mut rng, i)).sum::<u64>()
                    })
                })
                .collect();
            let mut rng = seed ^ 0x5555;
            let on_root: u64 = (0..ROUNDS).map(|i| round(&tx, &mut rng, i)).sum();
            let expected = ROUNDS * (ROUNDS - 1) / 2;
            assert_eq!(on_root, expected, "seed {seed:#x}: the root");
            for (k, r) in green::joinall(hs).into_iter().enumerate() {
                assert_eq!(r.unwrap(), expected, "seed {seed:#x}: coroutine {k}");
            }
            drop(tx);
            helper.join().unwrap();
        });
    }
}

/// xorshift64: a small seeded generator for the random mixes above.
fn next(s: &mut u64) -> u64 {
    let mut x = (*s).max(1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

/// The first `block_on` of fresh threads, whose hub does not exist yet when
/// the future hands its waker to another thread: the wake from afar races
/// the making of the hub at the first park, and is never lost.
#[test]
fn a_wake_from_afar_racing_a_threads_first_park_is_never_lost() {
    watchdog(120, || {
        let (tx, rx) = std::sync::mpsc::channel::<(Waker, Arc<AtomicBool>, u32)>();
        let helper = std::thread::spawn(move || {
            for (w, f, n) in rx {
                spin(n);
                f.store(true, Ordering::Release);
                w.wake();
            }
        });
        let mut rng = 0x1234_5678u64;
        for i in 0..300u64 {
            let tx = tx.clone();
            let n = (next(&mut rng) % 4000) as u32;
            let v = std::thread::spawn(move || {
                let flag = Arc::new(AtomicBool::new(false));
                let f = flag.clone();
                green::block_on(ready_when_flagged(flag, i, |waker| {
                    tx.send((waker.clone(), f, n)).unwrap();
                }))
            })
            .join()
            .unwrap();
            assert_eq!(v, i);
        }
        drop(tx);
        helper.join().unwrap();
    });
}
