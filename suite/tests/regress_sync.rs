//! Regressions from adversarial testing: `RwLock` timed-out waiters, an
//! `xchan::Receiver` shared by several waiters, `Pool::kill` racing parked
//! spawners, and `spawn_blocking` jobs that resolve host names. Each test is
//! named after the symptom it guards against.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use green::pool::Pool;
use green::sync::RwLock;

use common::hang::watchdog;

// ---- RwLock: a waiter that times out must not unlock a lock it never held.

#[test]
fn rwlock_timed_out_write_waiter_does_not_unlock_the_held_write_lock() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(0u32));
        let mut g = l.write();
        let l2 = l.clone();
        let h = green::spawn(move || l2.write_timeout(Duration::from_millis(5)).is_none());
        assert!(h.join().unwrap(), "the write wait should time out");
        assert!(l.is_write_locked(), "the held write lock was released");
        assert!(
            l.try_read().is_none(),
            "a read guard coexists with the write guard"
        );
        assert!(l.try_write().is_none(), "two write guards at once");
        *g += 1;
        drop(g);
        assert!(!l.is_write_locked());
        assert_eq!(*l.try_write().expect("lock free after release"), 1);
    });
}

#[test]
fn rwlock_timed_out_read_waiter_leaves_the_reader_count_alone() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(()));
        let g = l.write();
        let l2 = l.clone();
        let h = green::spawn(move || l2.read_timeout(Duration::from_millis(5)).is_none());
        assert!(h.join().unwrap(), "the read wait should time out");
        assert_eq!(
            l.reader_count(),
            0,
            "a reader that never got in was counted out"
        );
        assert!(l.is_write_locked());
        drop(g);
        // Would park for ever with a wrapped-around reader count.
        let w = l
            .write_timeout(Duration::from_secs(2))
            .expect("the writer got in after the timed-out reader");
        drop(w);
        let (a, b) = (l.read(), l.read());
        assert_eq!(l.reader_count(), 2);
        drop((a, b));
        assert_eq!(l.reader_count(), 0);
    });
}

#[test]
fn rwlock_timed_out_writer_behind_readers_leaves_them_counted() {
    watchdog(10, || {
        let l = Rc::new(RwLock::new(()));
        let r = l.read();
        let l2 = l.clone();
        let h = green::spawn(move || l2.write_timeout(Duration::from_millis(5)).is_none());
        assert!(h.join().unwrap());
        assert_eq!(l.reader_count(), 1);
        assert!(!l.is_write_locked());
        assert!(
            l.try_write().is_none(),
            "a writer got in past a live reader"
        );
        drop(r);
        assert!(l.try_write().is_some());
    });
}

// ---- xchan: every waiter on a shared Receiver gets its wake-up.

#[test]
fn xchan_second_waiter_does_not_steal_the_first_waiters_wake() {
    watchdog(20, || {
        let (tx, rx) = green::xchan::channel::<u32>();
        let rx = Arc::new(rx);
        let t0 = Instant::now();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                green::spawn(move || rx.recv_timeout(Duration::from_secs(8)))
            })
            .collect();
        green::yield_now(); // both park
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            // Keep the channel open: only a wake can end the waits early.
            std::thread::sleep(Duration::from_secs(3));
        });
        let mut got: Vec<u32> = green::joinall(hs)
            .into_iter()
            .map(|r| r.unwrap().expect("a receiver waited out its timeout"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "a receiver slept while its item sat in the channel ({:?})",
            t0.elapsed()
        );
        sender.join().unwrap();
    });
}

/// Receive until every sender is gone; the items received.
fn drain(rx: &green::xchan::Receiver<u64>) -> Vec<u64> {
    std::iter::from_fn(|| rx.recv()).collect()
}

fn start_senders(
    tx: green::xchan::Sender<u64>,
    threads: u64,
    each: u64,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..each {
                    tx.send(t * each + i).unwrap();
                    if i % 16 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect()
}

fn assert_each_once(mut all: Vec<u64>, n: u64) {
    all.sort_unstable();
    assert_eq!(all.len() as u64, n, "items lost or duplicated");
    assert!(all.iter().copied().eq(0..n), "items lost or duplicated");
}

#[test]
fn xchan_four_receivers_eight_senders_no_false_deadlock_each_item_once() {
    watchdog(30, || {
        for _round in 0..5 {
            let (tx, rx) = green::xchan::channel::<u64>();
            let rx = Arc::new(rx);
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    green::spawn(move || drain(&rx))
                })
                .collect();
            let senders = start_senders(tx, 8, 500);
            // From the root: a lost wake shows up as a deadlock report.
            let all: Vec<u64> = green::joinall(hs)
                .into_iter()
                .flat_map(|r| r.unwrap())
                .collect();
            for s in senders {
                s.join().unwrap();
            }
            assert_each_once(all, 8 * 500);
        }
    });
}

#[test]
fn xchan_receivers_on_two_threads_are_all_woken_each_item_once() {
    watchdog(30, || {
        let (tx, rx) = green::xchan::channel::<u64>();
        let rx = Arc::new(rx);
        let ready = Arc::new(Barrier::new(3));
        let hubs: Vec<_> = (0..2)
            .map(|_| {
                let (rx, ready) = (rx.clone(), ready.clone());
                std::thread::spawn(move || {
                    let hs: Vec<_> = (0..3)
                        .map(|_| {
                            let rx = rx.clone();
                            green::spawn(move || drain(&rx))
                        })
                        .collect();
                    green::yield_now(); // all park first
                    ready.wait();
                    green::joinall(hs)
                        .into_iter()
                        .flat_map(|r| r.unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        ready.wait();
        let senders = start_senders(tx, 4, 1000);
        for s in senders {
            s.join().unwrap();
        }
        let mut all = Vec::new();
        let mut per_thread = Vec::new();
        for h in hubs {
            let got = h.join().unwrap();
            per_thread.push(got.len());
            all.extend(got);
        }
        assert_each_once(all, 4 * 1000);
        assert_eq!(per_thread.len(), 2);
    });
}

#[test]
fn xchan_timed_out_waiter_does_not_consume_a_later_wake() {
    watchdog(20, || {
        let (tx, rx) = green::xchan::channel::<u32>();
        let rx = Arc::new(rx);
        let r = rx.clone();
        let patient = green::spawn(move || r.recv_timeout(Duration::from_secs(8)));
        let r = rx.clone();
        let hasty = green::spawn(move || r.recv_timeout(Duration::from_millis(10)));
        assert_eq!(hasty.join().unwrap(), None);
        let t0 = Instant::now();
        let sender = std::thread::spawn(move || {
            tx.send(7).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        assert_eq!(patient.join().unwrap(), Some(7));
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the waiter left waiting was never woken"
        );
        sender.join().unwrap();
    });
}

#[test]
fn xchan_killed_waiter_passes_its_wake_to_the_next_waiter() {
    watchdog(20, || {
        let (tx, rx) = green::xchan::channel::<u32>();
        let rx = Arc::new(rx);
        // Parks first, so a send wakes it first.
        let r = rx.clone();
        let doomed = green::spawn(move || r.recv());
        green::yield_now();
        let r = rx.clone();
        let other = green::spawn(move || r.recv_timeout(Duration::from_secs(8)));
        green::yield_now();
        let t0 = Instant::now();
        // The wake for this item goes to `doomed`, which dies before it can
        // take the item: `other` must get it.
        tx.send(5).unwrap();
        doomed.kill();
        assert!(doomed.join().unwrap_err().is_killed());
        assert_eq!(other.join().unwrap(), Some(5));
        assert!(t0.elapsed() < Duration::from_secs(2), "the item sat unseen");

        // And a waiter killed before any send leaves no stale entry behind.
        let r = rx.clone();
        let doomed = green::spawn(move || r.recv());
        green::yield_now();
        let r = rx.clone();
        let other = green::spawn(move || r.recv_timeout(Duration::from_secs(8)));
        green::yield_now();
        doomed.kill();
        assert!(doomed.join().unwrap_err().is_killed());
        let t0 = Instant::now();
        let sender = std::thread::spawn(move || {
            tx.send(6).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        assert_eq!(other.join().unwrap(), Some(6));
        assert!(t0.elapsed() < Duration::from_secs(2), "the item sat unseen");
        sender.join().unwrap();
    });
}

// ---- Pool::kill with a spawner parked for a slot.

#[test]
fn pool_kill_leaves_no_member_started_by_a_parked_spawner() {
    watchdog(20, || {
        let pool = Rc::new(Pool::new(2));
        let started = Rc::new(Cell::new(0u32));
        let a = pool.spawn(|| green::sleep(Duration::from_secs(100)));
        let b = pool.spawn(|| green::sleep(Duration::from_secs(100)));
        let (p, s) = (pool.clone(), started.clone());
        let producer = green::spawn(move || {
            (0..3)
                .map(|_| {
                    let s = s.clone();
                    p.spawn(move || {
                        s.set(s.get() + 1);
                        green::sleep(Duration::from_secs(100));
                    })
                })
                .collect::<Vec<_>>()
        });
        green::yield_now(); // members park; the producer parks for a slot
        assert_eq!(pool.len(), 2);
        pool.kill();
        assert_eq!(pool.len(), 0, "a slot is still held after kill");
        assert!(pool.is_empty());
        assert!(a.join().unwrap_err().is_killed());
        assert!(b.join().unwrap_err().is_killed());
        for h in producer.join().unwrap() {
            assert!(h.join().unwrap_err().is_killed());
        }
        green::sleep(Duration::from_millis(20));
        assert_eq!(pool.len(), 0, "members appeared after kill");
        assert_eq!(started.get(), 0, "a member started during kill ran");
        // The pool still works afterwards.
        assert_eq!(pool.spawn(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn pool_kill_from_a_member_waits_for_granted_spawners_too() {
    watchdog(20, || {
        let pool = Rc::new(Pool::new(2));
        let ran = Rc::new(Cell::new(false));
        let _long = pool.spawn(|| green::sleep(Duration::from_secs(100)));
        let (p, r) = (pool.clone(), ran.clone());
        let spawner = green::spawn(move || {
            p.spawn(move || {
                r.set(true);
                green::sleep(Duration::from_secs(100));
            })
        });
        let p = pool.clone();
        let killer = pool.spawn(move || {
            green::yield_now(); // let the spawner park
            p.kill();
            p.len() // only the killer's own slot
        });
        assert_eq!(killer.join().unwrap(), 1);
        assert!(spawner.join().unwrap().join().unwrap_err().is_killed());
        assert!(!ran.get(), "a member started during kill ran");
        assert!(pool.is_empty());
    });
}

// ---- spawn_blocking from inside the blocking pool.

#[test]
fn spawn_blocking_jobs_resolving_host_names_do_not_hang() {
    watchdog(60, || {
        let hs: Vec<_> = (0..40)
            .map(|_| {
                green::spawn(|| {
                    green::spawn_blocking(|| {
                        std::thread::sleep(Duration::from_millis(50));
                        green::net::resolve("localhost", 80)
                    })
                })
            })
            .collect();
        for r in green::joinall(hs) {
            let addrs = r.unwrap().expect("localhost resolves");
            assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
        }
    });
}

#[test]
fn spawn_blocking_jobs_connecting_to_a_host_name_do_not_hang() {
    watchdog(60, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        const N: usize = 24;
        let acceptor = std::thread::spawn(move || {
            (0..N)
                .map(|_| listener.accept().map(|(s, _)| s))
                .collect::<Result<Vec<_>, _>>()
        });
        let hs: Vec<_> = (0..N)
            .map(|_| {
                green::spawn(move || {
                    green::spawn_blocking(move || {
                        std::thread::sleep(Duration::from_millis(50));
                        // "localhost" may list ::1 first; connect tries each.
                        green::net::TcpStream::connect(("localhost", port)).map(|_| ())
                    })
                })
            })
            .collect();
        for r in green::joinall(hs) {
            r.unwrap()
                .expect("connect by host name from a blocking job");
        }
        assert_eq!(acceptor.join().unwrap().unwrap().len(), N);
    });
}

#[test]
fn nested_spawn_blocking_runs_inline_on_its_pool_thread() {
    watchdog(30, || {
        let (outer, inner) = green::spawn_blocking(|| {
            let me = std::thread::current().id();
            let inner = green::spawn_blocking(|| std::thread::current().id());
            (me, inner)
        });
        assert_eq!(
            outer, inner,
            "a pool thread queued work and waited on the pool"
        );
        let name = green::spawn_blocking(|| {
            green::spawn_blocking(|| std::thread::current().name().map(str::to_owned))
        });
        assert_eq!(name.as_deref(), Some("green-blocking"));
        // A panic in a nested job still reaches the outer caller.
        let r = std::panic::catch_unwind(|| {
            green::spawn_blocking(|| green::spawn_blocking(|| -> u8 { panic!("inner boom") }))
        });
        assert!(r.is_err());
        // A thread outside the pool still hands its job to the pool.
        let here = std::thread::current().id();
        let there = green::spawn_blocking(|| std::thread::current().id());
        assert_ne!(here, there, "a caller outside the pool ran the job itself");
    });
}

#[test]
fn nested_spawn_blocking_under_a_saturated_pool_completes() {
    watchdog(60, || {
        let ids: HashSet<_> = green::joinall((0..40).map(|i| {
            green::spawn(move || {
                green::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    green::spawn_blocking(move || i * 2)
                })
            })
        }))
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
        assert_eq!(ids, (0..40).map(|i| i * 2).collect());
    });
}
