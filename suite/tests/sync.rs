//! Integration tests for `green::sync`: C9, C12, C16–C22 and the shared
//! rules (FIFO, timeouts, kill, guards released on unwind).

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::sync::{
    AsyncResult, Barrier, BoundedSemaphore, Condvar, Event, Mutex, ReentrantMutex, RwLock,
    Semaphore, WaitGroup,
};

use common::hang::{expect_deadlock, watchdog};
use common::spawn_with;

// ---------------------------------------------------------------- Event

/// Spawn `n` coroutines that wait on `ev` and then count themselves in the
/// returned cell.
fn event_waiters(ev: &Rc<Event>, n: usize) -> (Rc<Cell<usize>>, Vec<green::JoinHandle<()>>) {
    let woke = Rc::new(Cell::new(0));
    let hs = (0..n)
        .map(|_| {
            let woke = woke.clone();
            spawn_with(ev, move |ev| {
                ev.wait();
                woke.set(woke.get() + 1);
            })
        })
        .collect();
    (woke, hs)
}

#[test]
fn event_set_wakes_waiters_and_wait_returns_at_once_when_set() {
    watchdog(10, || {
        let ev = Rc::new(Event::new());
        assert!(!ev.is_set());
        let (woke, hs) = event_waiters(&ev, 3);
        green::yield_now();
        assert_eq!(woke.get(), 0);
        ev.set();
        assert!(ev.is_set());
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(woke.get(), 3);
        ev.wait(); // already set: no park
        ev.clear();
        assert!(!ev.is_set());
    });
}

// C17
#[test]
fn c17_event_set_then_clear_still_wakes_all_waiters() {
    watchdog(20, || {
        for n in [1usize, 100, 1000] {
            let ev = Rc::new(Event::new());
            let (woke, hs) = event_waiters(&ev, n);
            green::yield_now(); // all park
            ev.set();
            ev.clear();
            for r in green::joinall(hs) {
                r.unwrap();
            }
            assert_eq!(woke.get(), n);
        }
    });
}

#[test]
fn event_wait_timeout_reports_timeout_and_set() {
    watchdog(10, || {
        let ev = Rc::new(Event::new());
        let t = Instant::now();
        assert!(!ev.wait_timeout(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        let e = ev.clone();
        green::spawn(move || {
            green::sleep(Duration::from_millis(10));
            e.set();
        });
        assert!(ev.wait_timeout(Duration::from_secs(5)));
        assert!(ev.wait_timeout(Duration::ZERO)); // set: true without parking
    });
}

// C12
#[test]
fn c12_event_wait_from_main_reports_deadlock() {
    expect_deadlock(|| Event::new().wait());
}

// ---------------------------------------------------------------- AsyncResult

// C18
#[test]
fn c18_async_result_delivers_value_and_error_to_every_waiter() {
    watchdog(10, || {
        let r: Rc<AsyncResult<u32, String>> = Rc::new(AsyncResult::new());
        assert_eq!(r.try_get(), None); // empty says so
        assert!(!r.is_ready());
        assert_eq!(r.get_timeout(Duration::from_millis(10)), None);
        let hs: Vec<_> = (0..5)
            .map(|_| {
                let r = r.clone();
                green::spawn(move || r.get())
            })
            .collect();
        green::yield_now();
        r.set(7);
        for h in hs {
            assert_eq!(h.join().unwrap(), Ok(7));
        }
        assert_eq!(r.try_get(), Some(Ok(7)));

        let e: Rc<AsyncResult<u32, String>> = Rc::new(AsyncResult::new());
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let e = e.clone();
                green::spawn(move || e.get_timeout(Duration::from_secs(5)))
            })
            .collect();
        green::yield_now();
        e.set_error("boom".into());
        for h in hs {
            assert_eq!(h.join().unwrap(), Some(Err("boom".to_string())));
        }
    });
}

// C12
#[test]
fn c12_async_result_get_from_main_reports_deadlock() {
    expect_deadlock(|| {
        let _ = AsyncResult::<u8, ()>::new().get();
    });
}

// ---------------------------------------------------------------- Mutex

#[test]
fn mutex_counter_stays_exact_with_yields_inside() {
    watchdog(20, || {
        let m = Rc::new(Mutex::new(0i64));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let m = m.clone();
                green::spawn(move || {
                    for _ in 0..200 {
                        let mut g = m.lock();
                        let v = *g;
                        green::yield_now();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(*m.lock(), 2000);
        assert!(!m.is_locked());
    });
}

#[test]
fn mutex_try_lock_and_lock_timeout() {
    watchdog(10, || {
        let m = Rc::new(Mutex::new(1));
        let g = m.lock();
        assert!(m.try_lock().is_none());
        let t = Instant::now();
        assert!(m.lock_timeout(Duration::from_millis(20)).is_none());
        assert!(t.elapsed() >= Duration::from_millis(20));
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 1);
        assert!(m.lock_timeout(Duration::ZERO).is_some());
    });
}

// C20
#[test]
fn c20_mutex_released_on_kill_and_panic_next_waiter_gets_it() {
    watchdog(10, || {
        let m = Rc::new(Mutex::new(Vec::new()));
        // A holder that parks while holding, then gets killed.
        let holder = spawn_with(&m, move |m1| {
            let mut g = m1.lock();
            g.push("holder");
            green::sleep(Duration::from_secs(60));
        });
        let waiter = spawn_with(&m, move |m2| m2.lock().push("waiter"));
        green::yield_now();
        assert!(m.is_locked());
        holder.kill();
        waiter.join().unwrap();
        assert_eq!(*m.lock(), ["holder", "waiter"]);

        // A holder that panics.
        let p = spawn_with(&m, move |m3| {
            let _g = m3.lock();
            green::yield_now();
            panic!("inside the lock");
        });
        let w = spawn_with(&m, move |m4| m4.lock().push("after panic"));
        assert!(p.join().is_err());
        w.join().unwrap();
        assert_eq!(m.lock().last(), Some(&"after panic"));
        assert!(!m.is_locked());
    });
}

// C20 (the hand-off subtlety): a waiter that was handed the lock but killed
// before it resumed passes the lock on instead of leaking it.
#[test]
fn c20_mutex_waiter_killed_after_handoff_passes_lock_on() {
    watchdog(10, || {
        let m = Rc::new(Mutex::new(0));
        let g = m.lock();
        let a = spawn_with(&m, move |m1| *m1.lock() += 1);
        let b = spawn_with(&m, move |m2| *m2.lock() += 10);
        green::yield_now(); // both parked, a first
        drop(g); // hands the lock to a (queued to run)
        a.kill_nowait(); // a is killed before it resumes
        b.join().unwrap();
        assert!(a.join().unwrap_err().is_killed());
        assert_eq!(*m.lock(), 10);
    });
}

// C9
#[test]
fn c9_kill_parked_in_mutex_lock_unwinds_and_runs_drops() {
    watchdog(10, || {
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let m = Rc::new(Mutex::new(()));
        let g = m.lock();
        let dropped = Rc::new(Cell::new(false));
        let (m1, d1) = (m.clone(), dropped.clone());
        let h = green::spawn(move || {
            let _f = Flag(d1);
            let _g = m1.lock();
            unreachable!("never gets the lock");
        });
        green::yield_now();
        h.kill();
        assert!(dropped.get(), "Drop ran before kill returned");
        drop(g);
        assert!(m.try_lock().is_some(), "the killed waiter left the queue");
    });
}

// C16-style for locks: a timed-out waiter leaves the line.
#[test]
fn mutex_timed_out_waiter_does_not_take_a_later_unlock() {
    watchdog(10, || {
        let m = Rc::new(Mutex::new(()));
        let g = m.lock();
        let h = spawn_with(&m, move |m1| {
            m1.lock_timeout(Duration::from_millis(10)).is_some()
        });
        assert!(!h.join().unwrap());
        drop(g);
        assert!(!m.is_locked(), "nobody holds it after the unlock");
    });
}

#[test]
fn mutex_lock_obeys_green_timeout() {
    watchdog(10, || {
        let m = Rc::new(Mutex::new(()));
        let _g = m.lock();
        let h = spawn_with(&m, move |m1| {
            green::timeout(Duration::from_millis(20), || {
                let _g = m1.lock();
            })
        });
        assert_eq!(h.join().unwrap(), Err(green::Elapsed));
    });
}

// C12
#[test]
fn c12_mutex_relock_from_main_reports_deadlock() {
    expect_deadlock(|| {
        let m = Mutex::new(());
        let _g = m.lock();
        let _g2 = m.lock();
    });
}

// ---------------------------------------------------------------- Semaphore

// C19
#[test]
fn c19_semaphore_acquire_timeout_and_fifo_order() {
    watchdog(10, || {
        let s = Rc::new(Semaphore::new(1));
        let p = s.acquire();
        assert_eq!(s.available(), 0);
        assert!(s.try_acquire().is_none());
        assert!(s.acquire_timeout(Duration::from_millis(10)).is_none());
        let order = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let (s, order) = (s.clone(), order.clone());
                green::spawn(move || {
                    let _p = s.acquire();
                    order.borrow_mut().push(i);
                    green::yield_now();
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(s.waiters(), 5);
        drop(p);
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        assert_eq!(s.available(), 1);
    });
}

// C19: two coroutines releasing and re-acquiring in a loop cannot keep a
// third waiter out forever.
#[test]
fn c19_no_ping_pong_past_a_waiter() {
    watchdog(10, || {
        let s = Rc::new(Semaphore::new(1));
        let stop = Rc::new(Cell::new(false));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let (s, stop) = (s.clone(), stop.clone());
                green::spawn(move || {
                    while !stop.get() {
                        let _p = s.acquire();
                        green::yield_now();
                    }
                })
            })
            .collect();
        green::yield_now();
        let got = s.acquire_timeout(Duration::from_secs(2));
        assert!(got.is_some(), "a waiter was starved by ping-pong");
        stop.set(true);
        drop(got);
        for r in green::joinall(spinners) {
            r.unwrap();
        }
    });
}

#[test]
fn semaphore_release_add_permits_and_bounded() {
    watchdog(10, || {
        let s = Semaphore::new(0);
        s.release();
        s.add_permits(2);
        assert_eq!(s.available(), 3);
        let p = s.acquire();
        p.forget();
        assert_eq!(s.available(), 2);

        let b = BoundedSemaphore::new(2);
        assert!(b.release().is_err(), "cannot go above the start count");
        let p = b.acquire();
        assert_eq!(b.available(), 1);
        p.forget();
        assert!(b.release().is_ok());
        assert!(b.release().is_err());
        assert_eq!(b.available(), 2);
    });
}

#[test]
fn semaphore_limits_concurrency() {
    watchdog(10, || {
        let s = Rc::new(Semaphore::new(3));
        let inside = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let (s, inside, peak) = (s.clone(), inside.clone(), peak.clone());
                green::spawn(move || {
                    let _p = s.acquire();
                    inside.set(inside.get() + 1);
                    peak.set(peak.get().max(inside.get()));
                    green::sleep(Duration::from_millis(2));
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(peak.get(), 3);
    });
}

#[test]
fn semaphore_waiter_killed_after_handoff_passes_permit_on() {
    watchdog(10, || {
        let s = Rc::new(Semaphore::new(1));
        let p = s.acquire();
        let a = spawn_with(&s, move |s1| drop(s1.acquire()));
        let b = spawn_with(&s, move |s2| s2.acquire().forget());
        green::yield_now();
        drop(p);
        a.kill_nowait();
        b.join().unwrap();
        assert_eq!(s.available(), 0, "b holds the single permit");
    });
}

// C12
#[test]
fn c12_semaphore_acquire_from_main_reports_deadlock() {
    expect_deadlock(|| {
        let s = Semaphore::new(0);
        let _p = s.acquire();
    });
}

// ---------------------------------------------------------------- RwLock

#[test]
fn rwlock_readers_share_writers_exclusive_fifo() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let r1 = l.read();
        let r2 = l.read();
        assert_eq!(l.reader_count(), 2);
        assert!(l.try_write().is_none());
        let (l1, log1) = (l.clone(), log.clone());
        let w = green::spawn(move || {
            *l1.write() += 1;
            log1.borrow_mut().push("w");
        });
        green::yield_now();
        // A reader arriving after a waiting writer queues behind it.
        assert!(l.try_read().is_none());
        let (l2, log2) = (l.clone(), log.clone());
        let r = green::spawn(move || {
            let v = *l2.read();
            log2.borrow_mut().push("r");
            v
        });
        green::yield_now();
        assert!(log.borrow().is_empty());
        drop((r1, r2));
        w.join().unwrap();
        assert_eq!(r.join().unwrap(), 1);
        assert_eq!(*log.borrow(), ["w", "r"]);
        assert!(l.read_timeout(Duration::ZERO).is_some());
        assert!(l.write_timeout(Duration::ZERO).is_some());
    });
}

#[test]
fn rwlock_writer_timing_out_lets_queued_readers_in() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(()));
        let r0 = l.read();
        let w = spawn_with(&l, move |l1| {
            l1.write_timeout(Duration::from_millis(20)).is_some()
        });
        green::yield_now();
        let r = spawn_with(&l, move |l2| {
            l2.read_timeout(Duration::from_secs(5)).is_some()
        });
        assert!(!w.join().unwrap());
        assert!(r.join().unwrap(), "reader got in once the writer gave up");
        drop(r0);
    });
}

#[test]
fn rwlock_write_guard_released_on_kill() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(0));
        let h = spawn_with(&l, move |l1| {
            let _w = l1.write();
            green::sleep(Duration::from_secs(60));
        });
        green::yield_now();
        assert!(l.is_write_locked());
        h.kill();
        assert!(!l.is_write_locked());
        assert!(l.try_write().is_some());
    });
}

// C12
#[test]
fn c12_rwlock_write_while_reading_from_main_reports_deadlock() {
    expect_deadlock(|| {
        let l = RwLock::new(());
        let _r = l.read();
        let _w = l.write();
    });
}

// ---------------------------------------------------------------- ReentrantMutex

// C21
#[test]
fn c21_reentrant_owner_relocks_others_wait_for_zero() {
    watchdog(10, || {
        let m = Rc::new(ReentrantMutex::new(RefCell::new(Vec::new())));
        let log = Rc::new(RefCell::new(Vec::new()));
        let (m1, log1) = (m.clone(), log.clone());
        let owner = green::spawn(move || {
            let a = m1.lock();
            let b = m1.lock();
            assert_eq!(m1.lock_count(), 2);
            b.borrow_mut().push(1);
            green::yield_now();
            drop(b);
            log1.borrow_mut().push("owner still holds");
            green::yield_now();
            drop(a);
        });
        let (m2, log2) = (m.clone(), log.clone());
        let other = green::spawn(move || {
            let g = m2.lock();
            log2.borrow_mut().push("other got it");
            g.borrow_mut().push(2);
        });
        owner.join().unwrap();
        other.join().unwrap();
        assert_eq!(*log.borrow(), ["owner still holds", "other got it"]);
        assert_eq!(*m.lock().borrow(), [1, 2]);
        assert_eq!(m.lock_count(), 0);
    });
}

#[test]
fn reentrant_try_and_timeout() {
    watchdog(10, || {
        let m = Rc::new(ReentrantMutex::new(()));
        let g = m.lock();
        assert!(m.try_lock().is_some(), "owner may re-lock");
        let h = spawn_with(&m, move |m1| {
            (
                m1.try_lock().is_none(),
                m1.lock_timeout(Duration::from_millis(10)).is_none(),
            )
        });
        assert_eq!(h.join().unwrap(), (true, true));
        drop(g);
        let m2 = m.clone();
        assert!(green::spawn(move || m2.try_lock().is_some())
            .join()
            .unwrap());
    });
}

// C12
#[test]
fn c12_reentrant_lock_held_by_dead_end_reports_deadlock() {
    expect_deadlock(|| {
        let m = Rc::new(ReentrantMutex::new(()));
        let h = spawn_with(&m, move |m1| {
            let g = m1.lock();
            std::mem::forget(g); // never released
        });
        h.join().unwrap();
        let _g = m.lock();
    });
}

// ---------------------------------------------------------------- Condvar

// C22
#[test]
fn c22_condvar_releases_and_retakes_mutex_notify_one_wakes_one() {
    watchdog(10, || {
        let pair = Rc::new((Mutex::new(0), Condvar::new()));
        let woke = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (pair, woke) = (pair.clone(), woke.clone());
                green::spawn(move || {
                    let mut g = pair.0.lock();
                    while *g == 0 {
                        g = pair.1.wait(g);
                    }
                    *g -= 1;
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        green::yield_now();
        // Every waiter released the mutex while waiting.
        assert!(!pair.0.is_locked());
        *pair.0.lock() += 1;
        assert!(pair.1.notify_one());
        green::sleep(Duration::from_millis(5));
        assert_eq!(woke.get(), 1, "notify_one woke exactly one");
        *pair.0.lock() += 2;
        assert_eq!(pair.1.notify_all(), 2);
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(woke.get(), 3);
        assert!(!pair.1.notify_one());
    });
}

#[test]
fn condvar_wait_timeout_retakes_mutex() {
    watchdog(10, || {
        let m = Mutex::new(5);
        let cv = Condvar::new();
        let g = m.lock();
        let (g, r) = cv.wait_timeout(g, Duration::from_millis(10));
        assert!(r.timed_out());
        assert!(m.is_locked());
        assert_eq!(*g, 5);
    });
}

#[test]
fn condvar_notified_waiter_killed_passes_notification_on() {
    watchdog(10, || {
        let pair = Rc::new((Mutex::new(()), Condvar::new()));
        let a = spawn_with(&pair, move |p1| {
            let g = p1.0.lock();
            let _g = p1.1.wait(g);
        });
        let b = spawn_with(&pair, move |p2| {
            let g = p2.0.lock();
            let _g = p2.1.wait(g);
        });
        green::yield_now();
        pair.1.notify_one(); // goes to a
        a.kill_nowait();
        assert!(
            b.join_timeout(Duration::from_secs(2)),
            "b got the notification"
        );
        assert!(a.join().unwrap_err().is_killed());
    });
}

// C12
#[test]
fn c12_condvar_wait_from_main_reports_deadlock() {
    expect_deadlock(|| {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let _g = cv.wait(m.lock());
    });
}

// ---------------------------------------------------------------- Barrier, WaitGroup

#[test]
fn barrier_releases_all_one_leader_reusable() {
    watchdog(10, || {
        let b = Rc::new(Barrier::new(4));
        for _round in 0..2 {
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let b = b.clone();
                    green::spawn(move || b.wait().is_leader())
                })
                .collect();
            green::yield_now();
            assert!(hs.iter().all(|h| !h.is_finished()));
            let me = b.wait().is_leader();
            let leaders = green::joinall(hs)
                .into_iter()
                .filter(|r| *r.as_ref().unwrap())
                .count()
                + me as usize;
            assert_eq!(leaders, 1);
        }
    });
}

#[test]
fn barrier_killed_waiter_takes_its_arrival_back() {
    watchdog(10, || {
        let b = Rc::new(Barrier::new(2));
        let h = spawn_with(&b, move |b1| {
            b1.wait();
        });
        green::yield_now();
        h.kill();
        let h2 = spawn_with(&b, move |b2| b2.wait().is_leader());
        green::yield_now();
        assert!(!h2.is_finished(), "the killed arrival does not count");
        assert!(b.wait().is_leader());
        assert!(!h2.join().unwrap());
    });
}

#[test]
fn wait_group_counts_down() {
    watchdog(10, || {
        let wg = Rc::new(WaitGroup::new());
        wg.wait(); // zero: no park
        wg.add(3);
        for i in 0..3u64 {
            let wg = wg.clone();
            green::spawn(move || {
                green::sleep(Duration::from_millis(i * 5));
                wg.done();
            });
        }
        assert!(!wg.wait_timeout(Duration::ZERO));
        wg.wait();
        assert_eq!(wg.count(), 0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.done()));
        assert!(r.is_err(), "done below zero is a clear error");
    });
}

// C12
#[test]
fn c12_barrier_and_wait_group_from_main_report_deadlock() {
    expect_deadlock(|| {
        Barrier::new(2).wait();
    });
    expect_deadlock(|| {
        let wg = WaitGroup::new();
        wg.add(1);
        wg.wait();
    });
}

// C12 for a wait inside a coroutine that `main` joins: still reported.
#[test]
fn c12_main_joining_a_coroutine_stuck_on_a_lock_reports_deadlock() {
    expect_deadlock(|| {
        let m = Rc::new(Mutex::new(()));
        let g = m.lock();
        let h = spawn_with(&m, move |m1| drop(m1.lock()));
        let _ = h.join();
        drop(g);
    });
}

// ---------------------------------------------------------------- local!

green::local! {
    static COUNTER: Cell<u32> = Cell::new(0);
    static TRACKED: RefCell<Option<DropCount>> = RefCell::new(None);
}

struct DropCount(Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn local_values_are_per_coroutine_and_survive_parks() {
    watchdog(10, || {
        let hs: Vec<_> = (1..=3u32)
            .map(|i| {
                green::spawn(move || {
                    for _ in 0..i {
                        COUNTER.with(|c| c.set(c.get() + 1));
                        green::yield_now(); // others touch their own copy
                    }
                    COUNTER.with(|c| c.get())
                })
            })
            .collect();
        let got: Vec<u32> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
        assert_eq!(got, [1, 2, 3]);
        COUNTER.with(|c| c.set(99)); // main has its own
        let h = green::spawn(|| COUNTER.with(|c| c.get()));
        assert_eq!(h.join().unwrap(), 0);
        assert_eq!(COUNTER.with(|c| c.get()), 99);
    });
}

#[test]
fn local_values_dropped_when_the_coroutine_ends_however_it_ends() {
    watchdog(10, || {
        let drops = Rc::new(Cell::new(0));
        let normal = spawn_with(&drops, move |d| {
            TRACKED.with(|t| *t.borrow_mut() = Some(DropCount(d)));
            green::yield_now();
        });
        let killed = spawn_with(&drops, move |d| {
            TRACKED.with(|t| *t.borrow_mut() = Some(DropCount(d)));
            green::sleep(Duration::from_secs(60));
        });
        let d = drops.clone();
        let go = Rc::new(Event::new());
        let panicked = spawn_with(&go, move |g| {
            TRACKED.with(|t| *t.borrow_mut() = Some(DropCount(d)));
            g.wait();
            panic!("boom");
        });
        green::yield_now();
        assert_eq!(drops.get(), 0);
        normal.join().unwrap();
        assert_eq!(drops.get(), 1);
        killed.kill();
        assert_eq!(drops.get(), 2);
        go.set();
        assert!(panicked.join().is_err());
        assert_eq!(drops.get(), 3);
    });
}
