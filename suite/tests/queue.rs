//! Integration tests for `green::queue` and `green::xchan`: C9, C12, C16,
//! C23–C28, plus hand-off safety when a getter is killed.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::queue::{Channel, LifoQueue, PriorityQueue, Queue};

use common::hang::{expect_deadlock, watchdog};
use common::spawn_with;

#[test]
fn queue_basic_fifo_len_try_and_timeouts() {
    watchdog(10, || {
        let q = Queue::bounded(2);
        assert!(q.is_empty());
        assert_eq!(q.capacity(), Some(2));
        q.put(1).unwrap();
        assert_eq!(q.try_put(2), Ok(()));
        assert!(q.is_full());
        assert_eq!(q.try_put(3), Err(3));
        let t = Instant::now();
        assert_eq!(q.put_timeout(3, Duration::from_millis(20)), Err(3));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(q.len(), 2);
        assert_eq!(q.get(), Some(1));
        assert_eq!(q.try_get(), Some(2));
        assert_eq!(q.try_get(), None);
        assert_eq!(q.get_timeout(Duration::from_millis(10)), None);
        let u: Queue<u8> = Queue::unbounded();
        assert_eq!(u.capacity(), None);
    });
}

// C23
#[test]
fn c23_bounded_put_blocks_at_capacity_each_getter_gets_one() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(2));
        let progress = Rc::new(Cell::new(0));
        let (q1, p1) = (q.clone(), progress.clone());
        let producer = green::spawn(move || {
            for i in 0..5 {
                q1.put(i).unwrap();
                p1.set(i + 1);
            }
        });
        green::yield_now();
        assert_eq!(progress.get(), 2, "third put parked at capacity 2");
        assert_eq!(q.putters(), 1);
        let got = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = (0..5)
            .map(|_| {
                let (q, got) = (q.clone(), got.clone());
                green::spawn(move || {
                    let v = q.get().unwrap();
                    got.borrow_mut().push(v);
                })
            })
            .collect();
        producer.join().unwrap();
        for r in green::joinall(getters) {
            r.unwrap();
        }
        assert_eq!(*got.borrow(), [0, 1, 2, 3, 4]);
        assert!(q.is_empty());

        // Several getters parked on an empty queue each receive exactly one.
        let got = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = (0..3)
            .map(|i| {
                let (q, got) = (q.clone(), got.clone());
                green::spawn(move || {
                    let v = q.get().unwrap();
                    got.borrow_mut().push((i, v));
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(q.getters(), 3);
        for v in [10, 11, 12] {
            q.put(v).unwrap();
        }
        for r in green::joinall(getters) {
            r.unwrap();
        }
        // Handed out in arrival order; they may resume in another one
        // (under GREEN_PERTURB).
        got.borrow_mut().sort();
        assert_eq!(*got.borrow(), [(0, 10), (1, 11), (2, 12)]);
    });
}

// C16
#[test]
fn c16_timed_out_getter_does_not_consume_a_later_put() {
    watchdog(10, || {
        let q: Rc<Queue<u32>> = Rc::new(Queue::unbounded());
        let g = spawn_with(&q, move |q1| q1.get_timeout(Duration::from_millis(10)));
        assert_eq!(g.join().unwrap(), None);
        q.put(7).unwrap();
        assert_eq!(q.len(), 1, "the item stayed in the queue");
        assert_eq!(q.try_get(), Some(7));

        // Same inside green::timeout, and with a live getter behind it.
        let dead = spawn_with(&q, move |q2| {
            green::timeout(Duration::from_millis(10), || q2.get())
        });
        let live = spawn_with(&q, move |q3| q3.get());
        assert!(dead.join().unwrap().is_err());
        q.put(8).unwrap();
        assert_eq!(live.join().unwrap(), Some(8));
    });
}

// C16 for putters: a timed-out putter's item never enters the queue.
#[test]
fn c16_timed_out_putter_keeps_its_item() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(1));
        q.put("a").unwrap();
        let p = spawn_with(&q, move |q1| {
            q1.put_timeout("late", Duration::from_millis(10))
        });
        assert_eq!(p.join().unwrap(), Err("late"));
        assert_eq!(q.get(), Some("a"));
        assert_eq!(q.try_get(), None);
    });
}

// C9 + hand-off: a getter killed after being handed an item gives it back.
#[test]
fn c9_getter_killed_after_handoff_loses_no_item() {
    watchdog(10, || {
        let q = Rc::new(Queue::unbounded());
        let a = spawn_with(&q, move |q1| q1.get());
        let b = spawn_with(&q, move |q2| q2.get());
        green::yield_now();
        q.put(1).unwrap(); // handed to a
        a.kill_nowait(); // a dies before it resumes
        q.put(2).unwrap(); // b is the first live getter now
        assert_eq!(b.join().unwrap(), Some(2));
        assert!(a.join().unwrap_err().is_killed());
        assert_eq!(q.try_get(), Some(1), "a's item went back into the queue");
        assert_eq!(q.try_get(), None);

        // Handed to a, a killed, b still waiting: b gets a's item.
        let a = spawn_with(&q, move |q1| q1.get());
        let b = spawn_with(&q, move |q2| q2.get());
        green::yield_now();
        q.put(3).unwrap();
        a.kill_nowait();
        assert_eq!(b.join().unwrap(), Some(3), "a's item went to b");
        assert_eq!(q.try_get(), None);
    });
}

// C9
#[test]
fn c9_kill_parked_in_queue_get_runs_drops() {
    watchdog(10, || {
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let q: Rc<Queue<u8>> = Rc::new(Queue::unbounded());
        let dropped = Rc::new(Cell::new(false));
        let (q1, d1) = (q.clone(), dropped.clone());
        let h = green::spawn(move || {
            let _f = Flag(d1);
            q1.get()
        });
        green::yield_now();
        h.kill();
        assert!(dropped.get());
        q.put(1).unwrap();
        assert_eq!(q.len(), 1, "the killed getter left the line");
    });
}

// C24
#[test]
fn c24_channel_send_returns_only_after_recv_took_it() {
    watchdog(10, || {
        let ch = Rc::new(Channel::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let (c1, l1) = (ch.clone(), log.clone());
        let sender = green::spawn(move || {
            l1.borrow_mut().push("send start");
            c1.send(5).unwrap();
            l1.borrow_mut().push("send done");
        });
        green::sleep(Duration::from_millis(10));
        assert_eq!(*log.borrow(), ["send start"], "send waits for a receiver");
        assert_eq!(ch.recv(), Some(5));
        log.borrow_mut().push("received");
        sender.join().unwrap();
        assert_eq!(*log.borrow(), ["send start", "received", "send done"]);

        // Receiver first.
        let r = spawn_with(&ch, move |c2| c2.recv_timeout(Duration::from_secs(5)));
        green::yield_now();
        assert_eq!(ch.try_send(9), Ok(()));
        assert_eq!(r.join().unwrap(), Some(9));
        assert_eq!(ch.try_send(1), Err(1), "nobody waiting");
        assert_eq!(ch.try_recv(), None);
        assert_eq!(ch.recv_timeout(Duration::from_millis(5)), None);
        assert_eq!(ch.send_timeout(3, Duration::from_millis(5)), Err(3));
    });
}

// C25
#[test]
fn c25_task_done_join() {
    watchdog(10, || {
        let q = Rc::new(Queue::unbounded());
        // Empty queue: join returns without switching.
        let ran = Rc::new(Cell::new(false));
        let h = spawn_with(&ran, move |r1| r1.set(true));
        q.join();
        assert!(!ran.get(), "join on an empty queue did not switch");
        h.join().unwrap();

        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert_eq!(q.unfinished(), 3);
        let done = Rc::new(Cell::new(0));
        let (q1, d1) = (q.clone(), done.clone());
        green::spawn(move || {
            while let Some(_item) = q1.get_timeout(Duration::from_millis(50)) {
                green::sleep(Duration::from_millis(2));
                d1.set(d1.get() + 1);
                q1.task_done();
            }
        });
        q.join();
        assert_eq!(done.get(), 3);
        assert_eq!(q.unfinished(), 0);
        assert!(q.join_timeout(Duration::ZERO));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done()));
        assert!(r.is_err(), "too many task_done is a clear error");
    });
}

// C26
#[test]
fn c26_lifo_and_priority_order() {
    watchdog(10, || {
        let l = LifoQueue::unbounded();
        for i in 1..=3 {
            l.put(i).unwrap();
        }
        assert_eq!([l.get(), l.get(), l.get()], [Some(3), Some(2), Some(1)]);

        let p = PriorityQueue::unbounded();
        for item in [(3, 'a'), (1, 'b'), (2, 'c'), (1, 'a'), (3, 'b')] {
            p.put((item.0, item.1 as u32)).unwrap();
        }
        // Ties in insertion order: compare only by key.
        #[derive(Debug)]
        struct K(u32, &'static str);
        impl PartialEq for K {
            fn eq(&self, o: &Self) -> bool {
                self.0 == o.0
            }
        }
        impl Eq for K {}
        impl PartialOrd for K {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for K {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                self.0.cmp(&o.0)
            }
        }
        let p2 = PriorityQueue::bounded(10);
        for (k, v) in [(2, "x"), (1, "first"), (2, "y"), (1, "second"), (0, "z")] {
            p2.put(K(k, v)).unwrap();
        }
        let out: Vec<&str> = std::iter::from_fn(|| p2.try_get()).map(|k| k.1).collect();
        assert_eq!(out, ["z", "first", "second", "x", "y"]);
        let keys: Vec<u32> = std::iter::from_fn(|| p.try_get()).map(|k| k.0).collect();
        assert_eq!(keys, [1, 1, 2, 3, 3]);
    });
}

// C27
#[test]
fn c27_try_put_try_get_from_main_wake_coroutines() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(1));
        let getter = spawn_with(&q, move |q1| q1.get());
        green::yield_now();
        assert_eq!(q.try_put(4), Ok(()), "handed to the parked getter");
        assert_eq!(getter.join().unwrap(), Some(4));

        q.put(1).unwrap();
        let putter = spawn_with(&q, move |q2| q2.put(2));
        green::yield_now();
        assert_eq!(q.try_get(), Some(1));
        assert_eq!(
            putter.join().unwrap(),
            Ok(()),
            "the parked putter was woken"
        );
        assert_eq!(q.try_get(), Some(2));
    });
}

// C28
#[test]
fn c28_closed_queue_put_fails_get_drains_then_fails() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(2));
        let q0 = q.clone();
        let waiting_getter_q: Rc<Queue<i32>> = Rc::new(Queue::unbounded());
        let g = spawn_with(&waiting_getter_q, move |wg| wg.get());
        q.put(1).unwrap();
        q.put(2).unwrap();
        let p = green::spawn(move || q0.put(3));
        green::yield_now();
        q.close();
        waiting_getter_q.close();
        assert!(q.is_closed());
        assert_eq!(p.join().unwrap(), Err(3), "parked putter refused");
        assert_eq!(g.join().unwrap(), None, "parked getter woken with None");
        assert_eq!(q.put(4), Err(4));
        assert_eq!(q.try_put(5), Err(5));
        assert_eq!(q.get(), Some(1));
        assert_eq!(q.get(), Some(2));
        assert_eq!(q.get(), None);
        assert_eq!(q.get_timeout(Duration::from_secs(5)), None);
        q.close(); // idempotent

        let ch: Channel<u8> = Channel::new();
        ch.close();
        assert_eq!(ch.send(1), Err(1));
        assert_eq!(ch.recv(), None);
    });
}

#[test]
fn queue_obeys_green_timeout_and_put_kill() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(0));
        let h = spawn_with(&q, move |q1| {
            green::timeout(Duration::from_millis(10), || q1.put(1))
        });
        assert!(h.join().unwrap().is_err());
        assert_eq!(q.try_get(), None, "the timed-out putter's item is gone");
        let h = spawn_with(&q, move |q2| q2.put(2));
        green::yield_now();
        h.kill();
        assert_eq!(q.try_get(), None);
        assert_eq!(q.putters(), 0);
    });
}

// C12
#[test]
fn c12_queue_waits_from_main_report_deadlock() {
    expect_deadlock(|| {
        let q: Queue<u8> = Queue::unbounded();
        let _ = q.get();
    });
    expect_deadlock(|| {
        let q = Queue::bounded(1);
        q.put(1).unwrap();
        let _ = q.put(2);
    });
    expect_deadlock(|| {
        let q = Queue::unbounded();
        q.put(1).unwrap();
        q.join();
    });
    expect_deadlock(|| {
        let _ = LifoQueue::<u8>::unbounded().get();
    });
    expect_deadlock(|| {
        let _ = PriorityQueue::<u8>::unbounded().get();
    });
    expect_deadlock(|| {
        let _ = Channel::new().send(1);
    });
    expect_deadlock(|| {
        let _ = Channel::<u8>::new().recv();
    });
}

// ---------------------------------------------------------------- xchan

#[test]
fn xchan_threads_feed_coroutines_without_blocking_the_hub() {
    watchdog(20, || {
        let (tx, rx) = green::xchan::channel::<u32>();
        let senders: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        tx.send(t * 1000 + i).unwrap();
                        if i % 50 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // Another coroutine keeps running while the receiver waits.
        let ticks = Rc::new(Cell::new(0));
        let ticker = spawn_with(&ticks, move |t1| {
            for _ in 0..5 {
                green::sleep(Duration::from_millis(1));
                t1.set(t1.get() + 1);
            }
        });
        let recv = green::spawn(move || {
            let mut got = Vec::new();
            while let Some(v) = rx.recv() {
                got.push(v);
            }
            got
        });
        let mut got = recv.join().unwrap();
        ticker.join().unwrap();
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(ticks.get(), 5);
        got.sort_unstable();
        let mut want: Vec<u32> = (0..4)
            .flat_map(|t| (0..250).map(move |i| t * 1000 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want, "every item exactly once");
    });
}

#[test]
fn xchan_timeout_disconnect_and_main_receiver() {
    watchdog(10, || {
        let (tx, rx) = green::xchan::channel::<u8>();
        assert_eq!(rx.recv_timeout(Duration::from_millis(10)), None);
        assert_eq!(rx.try_recv(), None);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(1).unwrap();
        });
        assert_eq!(rx.recv(), Some(1)); // from main
        t.join().unwrap();
        assert_eq!(rx.recv(), None, "all senders gone");
        let (tx, rx) = green::xchan::channel::<u8>();
        drop(rx);
        assert!(tx.send(1).is_err());
    });
}

#[test]
fn xchan_killed_receiver_does_not_stop_deadlock_detection() {
    expect_deadlock(|| {
        let (tx, rx) = green::xchan::channel::<u8>();
        let h = green::spawn(move || rx.recv());
        green::yield_now();
        h.kill();
        // The killed receiver's wake-up right is gone; with no other work,
        // waiting on an event is a deadlock even though `tx` is alive.
        let _keep = tx;
        green::sync::Event::new().wait();
    });
}

#[test]
fn zero_and_huge_durations_are_handled() {
    watchdog(10, || {
        let q = Rc::new(Queue::bounded(1));
        // Zero: an immediate answer, no park.
        assert_eq!(q.get_timeout(Duration::ZERO), None);
        assert_eq!(q.put_timeout(1, Duration::ZERO), Ok(()));
        assert_eq!(q.put_timeout(2, Duration::ZERO), Err(2));
        assert_eq!(q.get_timeout(Duration::ZERO), Some(1));
        // Huge: no overflow, just "no deadline".
        let q1 = q.clone();
        green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            q1.put(3).unwrap();
        });
        assert_eq!(q.get_timeout(Duration::MAX), Some(3));
        let m = green::sync::Mutex::new(0);
        assert!(m.lock_timeout(Duration::MAX).is_some());
        let ev = green::sync::Event::new();
        ev.set();
        assert!(ev.wait_timeout(Duration::MAX));
    });
}
