//! Integration tests for `green::pool`: C12, C29–C31, kill, and slots
//! released however a member ends.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use green::pool::{Group, Pool};

use common::hang::watchdog;

// C29
#[test]
fn c29_spawn_blocks_when_full_try_spawn_fails() {
    watchdog(10, || {
        let pool = Rc::new(Pool::new(2));
        assert_eq!(pool.free_count(), 2);
        let a = pool.spawn(|| green::sleep(Duration::from_millis(30)));
        let b = pool.spawn(|| green::sleep(Duration::from_millis(30)));
        assert_eq!(pool.free_count(), 0);
        assert!(pool.is_full());
        let c = pool.try_spawn(|| 1);
        assert!(c.is_err(), "non-blocking add on a full pool fails");
        let t = Instant::now();
        let d = pool.spawn(|| 2); // parks until a or b finishes
        assert!(t.elapsed() >= Duration::from_millis(25));
        assert!(a.is_finished() || b.is_finished());
        assert_eq!(d.join().unwrap(), 2);
        assert!(pool.spawn_timeout(Duration::from_secs(5), || ()).is_ok());
        pool.join();
        assert_eq!(pool.free_count(), 2);
        a.join().unwrap();
        b.join().unwrap();
        // With a member parked forever, spawn_timeout gives the closure back.
        let small = Pool::new(1);
        let stuck = small.spawn(|| green::sleep(Duration::from_secs(60)));
        assert!(small
            .spawn_timeout(Duration::from_millis(10), || ())
            .is_err());
        small.kill();
        assert!(stuck.join().unwrap_err().is_killed());
        assert_eq!(small.free_count(), 1);
    });
}

#[test]
fn pool_never_runs_more_than_n_and_spawners_are_fifo() {
    watchdog(10, || {
        let pool = Rc::new(Pool::new(3));
        let inside = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let spawners: Vec<_> = (0..12)
            .map(|i| {
                let (pool, inside, peak, order) =
                    (pool.clone(), inside.clone(), peak.clone(), order.clone());
                green::spawn(move || {
                    let h = pool.spawn(move || {
                        order.borrow_mut().push(i);
                        inside.set(inside.get() + 1);
                        peak.set(peak.get().max(inside.get()));
                        green::sleep(Duration::from_millis(3));
                        inside.set(inside.get() - 1);
                    });
                    h.join().unwrap();
                })
            })
            .collect();
        for r in green::joinall(spawners) {
            r.unwrap();
        }
        assert_eq!(peak.get(), 3);
        assert_eq!(*order.borrow(), (0..12).collect::<Vec<_>>());
    });
}

// C30
#[test]
fn c30_imap_input_order_unordered_completion_order_panic_at_item() {
    watchdog(10, || {
        let pool = Pool::new(3);
        let delays = [40u64, 10, 30, 0, 20];
        let ordered: Vec<u64> = pool
            .imap(
                |ms: u64| {
                    green::sleep(Duration::from_millis(ms));
                    ms
                },
                delays,
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(ordered, delays);

        let unordered: Vec<u64> = pool
            .imap_unordered(
                |ms: u64| {
                    green::sleep(Duration::from_millis(ms));
                    ms
                },
                [60u64, 10, 30],
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(unordered, [10, 30, 60], "completion order");

        let results: Vec<_> = pool
            .imap(
                |i: u32| {
                    if i == 2 {
                        panic!("bad item {i}");
                    }
                    i * 10
                },
                0..5,
            )
            .collect();
        assert_eq!(results.len(), 5);
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i as u32 * 10),
                Err(e) => {
                    assert_eq!(i, 2);
                    assert_eq!(e.panic_message(), Some("bad item 2"));
                }
            }
        }
        assert!(results[2].is_err());

        let m = pool.map(|x: i32| x * x, vec![1, 2, 3]);
        let m: Vec<i32> = m.into_iter().map(Result::unwrap).collect();
        assert_eq!(m, [1, 4, 9]);
        assert_eq!(pool.free_count(), 3);
    });
}

#[test]
fn imap_keeps_the_pool_full() {
    watchdog(10, || {
        // One slow job first: the others must keep flowing past it.
        let pool = Pool::new(2);
        let t = Instant::now();
        let mut delays = vec![200u64];
        delays.extend(std::iter::repeat_n(10, 10));
        let out: Vec<u64> = pool
            .imap(
                |ms: u64| {
                    green::sleep(Duration::from_millis(ms));
                    ms
                },
                delays.clone(),
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, delays);
        // Serial behind the slow job would be 300 ms; kept full: ~200 ms.
        assert!(
            t.elapsed() < Duration::from_millis(290),
            "{:?}",
            t.elapsed()
        );
    });
}

// C31
#[test]
fn c31_join_on_empty_pool_returns_at_once() {
    watchdog(10, || {
        let pool = Pool::new(4);
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let other = green::spawn(move || r.set(true));
        pool.join();
        assert!(!ran.get(), "join on an empty pool did not switch");
        assert!(pool.join_timeout(Duration::ZERO));
        other.join().unwrap();
        let g = Group::new();
        g.join();
        assert!(g.is_empty());
    });
}

#[test]
fn slots_released_on_panic_kill_and_kill_before_start() {
    watchdog(10, || {
        let pool = Pool::new(1);
        let p = pool.spawn(|| panic!("member panics"));
        assert!(p.join().is_err());
        assert_eq!(pool.free_count(), 1);

        let never = pool.spawn(|| unreachable!("killed before it ran"));
        never.kill();
        assert!(never.join().unwrap_err().is_killed());
        assert_eq!(pool.free_count(), 1);

        let parked = pool.spawn(|| green::sleep(Duration::from_secs(60)));
        green::yield_now();
        parked.kill();
        assert_eq!(pool.free_count(), 1);
        assert!(pool.is_empty());
    });
}

#[test]
fn pool_and_group_kill_all_members() {
    watchdog(10, || {
        let dropped = Rc::new(Cell::new(0));
        struct D(Rc<Cell<i32>>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let g = Group::new();
        let hs: Vec<_> = (0..5)
            .map(|_| {
                let d = D(dropped.clone());
                g.spawn(move || {
                    let _d = d;
                    green::sleep(Duration::from_secs(60));
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(g.len(), 5);
        g.kill();
        assert_eq!(dropped.get(), 5, "destructors ran before kill returned");
        assert!(g.is_empty());
        for r in green::joinall(hs) {
            assert!(r.unwrap_err().is_killed());
        }
        let out: Vec<i32> = g
            .imap_unordered(|x: i32| x + 1, [1])
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, [2]);
        assert_eq!(g.map(|x: i32| x, [5]).pop().unwrap().unwrap(), 5);
    });
}

#[test]
fn pool_new_zero_is_a_clear_error() {
    let r = std::panic::catch_unwind(|| Pool::new(0));
    let msg = r.unwrap_err();
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or("");
    assert!(msg.contains("at least one slot"), "{msg}");
}

// C12
#[test]
fn c12_pool_spawn_and_join_from_main_report_deadlock() {
    for case in 0..2 {
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| {
                let pool = Pool::new(1);
                let ev = Rc::new(green::sync::Event::new());
                let e = ev.clone();
                let _stuck = pool.spawn(move || e.wait());
                if case == 0 {
                    pool.spawn(|| ());
                } else {
                    pool.join();
                }
            });
            let msg = r
                .err()
                .and_then(|p| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let _ = tx.send(msg);
        });
        let msg = rx.recv_timeout(Duration::from_secs(10)).expect("hung");
        t.join().unwrap();
        assert!(msg.contains("green: deadlock"), "case {case}: {msg}");
    }
}

#[test]
fn kill_also_kills_members_started_by_parked_spawners() {
    watchdog(10, || {
        let pool = Rc::new(Pool::new(1));
        let first = pool.spawn(|| green::sleep(Duration::from_secs(60)));
        let p = pool.clone();
        let spawner = green::spawn(move || {
            let h = p.spawn(|| green::sleep(Duration::from_secs(60)));
            h.join()
        });
        green::yield_now(); // the spawner parks: the pool is full
        pool.kill();
        assert!(pool.is_empty(), "nothing left running after kill");
        assert!(first.join().unwrap_err().is_killed());
        assert!(spawner.join().unwrap().unwrap_err().is_killed());
    });
}
