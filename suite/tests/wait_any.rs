//! `green::wait`, `green::iwait` and `green::joinall_timeout` over any
//! waitables: coroutines of different result types, events, one-shot
//! results, queues, channels, cross-thread channels and signals, mixed;
//! nothing consumed, no wake stolen from a real taker, kill and timeout of
//! the waiter, the root, and a seeded random mix checked against a model.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::queue::{Channel, Queue};
use green::sync::{AsyncResult, Event};
use green::{iwait, joinall_timeout, wait, Waitable};

#[test]
fn the_first_of_a_handle_and_an_event() {
    let ev = Rc::new(Event::new());
    let worker = green::spawn(|| {
        green::sleep(Duration::from_secs(60));
        7
    });
    let e = ev.clone();
    green::spawn(move || {
        green::sleep(Duration::from_millis(10));
        e.set();
    });
    assert_eq!(wait(&[&worker, &*ev], 1, None), [1]);
    worker.kill();
    // And the other way round: the handle first.
    let quick = green::spawn(|| "done".to_string());
    let never = Event::new();
    assert_eq!(wait(&[&never, &quick], 1, None), [1]);
    assert_eq!(quick.join().unwrap(), "done", "the result is still there");
}

#[test]
fn handles_of_different_result_types_together() {
    let a = green::spawn(|| 1u8);
    let b = green::spawn(|| {
        green::sleep(Duration::from_millis(5));
        String::from("b")
    });
    let c = green::spawn(|| vec![1.5f64]);
    assert_eq!(wait(&[&a, &b, &c], usize::MAX, None), [0, 1, 2]);
    assert_eq!(
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap()),
        (1, "b".into(), vec![1.5])
    );
}

#[test]
fn a_queue_is_ready_when_get_would_not_park_and_keeps_its_item() {
    let q = Rc::new(Queue::unbounded());
    let q2 = q.clone();
    green::spawn(move || {
        green::sleep(Duration::from_millis(5));
        q2.put(9).unwrap();
    });
    let never = Event::new();
    assert_eq!(wait(&[&never, &*q], 1, None), [1]);
    assert_eq!(q.try_get(), Some(9), "the wait consumed nothing");
    // Closed counts as ready (a get returns None at once).
    let closed: Queue<u8> = Queue::bounded(1);
    closed.close();
    assert_eq!(wait(&[&closed], 1, Some(Duration::from_secs(5))), [0]);
}

#[test]
fn a_waiter_on_a_queue_never_takes_an_item_from_a_parked_getter() {
    let q: Rc<Queue<u32>> = Rc::new(Queue::unbounded());
    let ev = Rc::new(Event::new());
    let q1 = q.clone();
    let getter = green::spawn(move || q1.get());
    green::yield_now(); // the getter parks first
    let (q2, e2) = (q.clone(), ev.clone());
    let waiter = green::spawn(move || wait(&[&*q2, &*e2], 1, None));
    green::yield_now();
    q.put(1).unwrap(); // handed straight to the parked getter
    green::yield_now();
    assert_eq!(getter.join().unwrap(), Some(1));
    assert!(!waiter.is_finished(), "the queue never held an item");
    ev.set();
    assert_eq!(waiter.join().unwrap(), [1]);
}

#[test]
fn a_channel_is_ready_when_a_sender_waits() {
    let ch = Rc::new(Channel::new());
    let c = ch.clone();
    let sender = green::spawn(move || c.send("x"));
    assert_eq!(wait(&[&*ch], 1, Some(Duration::from_secs(5))), [0]);
    assert_eq!(ch.recv(), Some("x"));
    sender.join().unwrap().unwrap();
}

#[test]
fn an_async_result_and_a_timeout() {
    let r: Rc<AsyncResult<u32>> = Rc::new(AsyncResult::new());
    let t = Instant::now();
    assert!(wait(&[&*r], 1, Some(Duration::from_millis(20))).is_empty());
    assert!(t.elapsed() >= Duration::from_millis(15));
    let r2 = r.clone();
    green::spawn(move || r2.set(5));
    assert_eq!(wait(&[&*r], 1, Some(Duration::from_secs(5))), [0]);
    assert_eq!(r.try_get(), Some(Ok(5)));
}

#[test]
fn a_cross_thread_channel_wakes_the_root_and_passes_wakes_on() {
    let (tx, rx) = green::xchan::channel::<u32>();
    let rx = Rc::new(rx);
    // On the root, with only another thread able to make it ready: no
    // deadlock report, and the item stays for recv.
    let t = tx.clone();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        t.send(1).unwrap();
    });
    assert_eq!(wait(&[&*rx], 1, None), [0]);
    assert_eq!(rx.try_recv(), Some(1));
    th.join().unwrap();
    // A real receiver and a multi-waiter parked together: one send, and
    // the receiver gets the item whichever of them the send woke.
    let r1 = rx.clone();
    let receiver = green::spawn(move || r1.recv());
    let r2 = rx.clone();
    let waiter = green::spawn(move || wait(&[&*r2], 1, Some(Duration::from_millis(200))));
    green::yield_now();
    let t = tx.clone();
    std::thread::spawn(move || t.send(2).unwrap())
        .join()
        .unwrap();
    assert!(
        receiver.join_timeout(Duration::from_secs(5)),
        "the receiver lost its wake"
    );
    assert_eq!(receiver.join().unwrap(), Some(2));
    let _ = waiter.join().unwrap();
    // Every sender gone: ready (recv returns None at once).
    drop(tx);
    assert_eq!(wait(&[&*rx], 1, Some(Duration::from_secs(5))), [0]);
    assert_eq!(rx.recv(), None);
}

#[test]
fn a_signal_subscription_is_waitable() {
    let sig = green::signal::Signal::new(libc::SIGUSR2).unwrap();
    let never = Event::new();
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(10));
        // SAFETY: kill on our own pid; SIGUSR2 has green's handler.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
    });
    assert_eq!(wait(&[&never, &sig], 1, Some(Duration::from_secs(5))), [1]);
    assert!(sig.try_recv(), "the delivery is still there");
}

#[test]
fn count_and_timeout_give_what_was_ready() {
    let hs: Vec<_> = [1u64, 2, 3000]
        .into_iter()
        .map(|ms| green::spawn(move || green::sleep(Duration::from_millis(ms))))
        .collect();
    let refs: Vec<&dyn Waitable> = hs.iter().map(|h| h as &dyn Waitable).collect();
    assert_eq!(wait(&refs, 2, None), [0, 1]);
    assert_eq!(
        wait(&refs, usize::MAX, Some(Duration::from_millis(20))),
        [0, 1]
    );
    assert_eq!(wait(&refs, 0, None), [0, 1], "count 0: what is ready now");
    hs[2].kill();
    assert_eq!(wait(&refs, usize::MAX, None), [0, 1, 2]);
    assert!(wait(&[], 1, None).is_empty(), "nothing to wait for");
}

#[test]
fn kill_and_timeout_of_a_waiter_leave_nothing_behind() {
    let ev = Rc::new(Event::new());
    let q: Rc<Queue<u8>> = Rc::new(Queue::unbounded());
    let (e, q2) = (ev.clone(), q.clone());
    let waiter = green::spawn(move || wait(&[&*e, &*q2], 1, None));
    green::yield_now();
    waiter.kill();
    assert!(waiter.join().unwrap_err().is_killed());
    let (e, q2) = (ev.clone(), q.clone());
    let timed = green::spawn(move || {
        green::timeout(Duration::from_millis(10), || wait(&[&*e, &*q2], 1, None))
    });
    assert!(
        timed.join().unwrap().is_err(),
        "the enclosing timeout fired"
    );
    // The lists still work for a real waiter afterwards.
    let (e, q2) = (ev.clone(), q.clone());
    let next = green::spawn(move || wait(&[&*e, &*q2], 1, None));
    green::yield_now();
    q.put(1).unwrap();
    assert_eq!(next.join().unwrap(), [1]);
    assert_eq!(q.try_get(), Some(1));
}

#[test]
fn waiting_from_main_on_what_nothing_can_make_ready_is_a_deadlock_report() {
    let r = std::thread::spawn(|| {
        let ev = Event::new();
        let q: Queue<u8> = Queue::unbounded();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait(&[&ev, &q], 1, None)))
    })
    .join()
    .unwrap();
    let msg = match r {
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
        Ok(v) => panic!("returned {v:?}"),
    };
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn iwait_yields_each_as_it_becomes_ready() {
    let slow = green::spawn(|| green::sleep(Duration::from_millis(30)));
    let ev = Rc::new(Event::new());
    let e = ev.clone();
    green::spawn(move || {
        green::sleep(Duration::from_millis(10));
        e.set();
    });
    let fast = green::spawn(|| ());
    let order: Vec<usize> = iwait(&[&slow, &*ev, &fast], None).collect();
    assert_eq!(order, [2, 1, 0]);
    // With a timeout, it ends at the timeout with what came so far.
    let never = Event::new();
    let done = green::spawn(|| ());
    let t = Instant::now();
    let got: Vec<usize> = iwait(&[&never, &done], Some(Duration::from_millis(20))).collect();
    assert_eq!(got, [1]);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn joinall_timeout_gives_results_or_the_handles_back() {
    let hs: Vec<_> = (0..5).map(|i| green::spawn(move || i * 2)).collect();
    let all = joinall_timeout(hs, Duration::from_secs(5)).unwrap();
    assert_eq!(
        all.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [0, 2, 4, 6, 8]
    );
    let quick = green::spawn(|| 1);
    let slow = green::spawn(|| {
        green::sleep(Duration::from_secs(60));
        2
    });
    let t = Instant::now();
    let back = joinall_timeout(vec![quick, slow], Duration::from_millis(20)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(back.len(), 2);
    back[1].kill();
    let mut back = back.into_iter();
    assert_eq!(
        back.next().unwrap().join().unwrap(),
        1,
        "nothing was joined on Err"
    );
}

/// A seeded random mix: a driver changes readiness one step at a time
/// (set or clear an event, put to or take from a queue, finish a
/// coroutine), yielding after each step; a waiter with a random count
/// must return exactly at the first step after which the model says
/// enough are ready, with the model's ready set.
#[test]
fn seeded_random_mixes_match_a_model() {
    let seeds: u64 = std::env::var("GREEN_WAIT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for seed in 1..=seeds {
        one_mix(seed);
    }
}

fn one_mix(seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    const EVENTS: usize = 3;
    const QUEUES: usize = 2;
    const TASKS: usize = 2;
    let events: Vec<Rc<Event>> = (0..EVENTS).map(|_| Rc::new(Event::new())).collect();
    let queues: Vec<Rc<Queue<u8>>> = (0..QUEUES).map(|_| Rc::new(Queue::unbounded())).collect();
    let gos: Vec<Rc<Event>> = (0..TASKS).map(|_| Rc::new(Event::new())).collect();
    let tasks: Vec<Rc<green::JoinHandle<()>>> = gos
        .iter()
        .map(|g| {
            let g = g.clone();
            Rc::new(green::spawn(move || g.wait()))
        })
        .collect();
    let n = EVENTS + QUEUES + TASKS;
    let count = 1 + next(n as u64) as usize;
    let result: Rc<Cell<Option<Vec<usize>>>> = Rc::default();
    let (evs, qs, ts, res) = (
        events.clone(),
        queues.clone(),
        tasks.clone(),
        result.clone(),
    );
    let waiter = green::spawn(move || {
        let mut objs: Vec<&dyn Waitable> = Vec::new();
        objs.extend(evs.iter().map(|e| &**e as &dyn Waitable));
        objs.extend(qs.iter().map(|q| &**q as &dyn Waitable));
        objs.extend(ts.iter().map(|t| &**t as &dyn Waitable));
        res.set(Some(wait(&objs, count, None)));
    });
    green::yield_now();
    // The model: which objects are ready.
    let mut model = vec![false; n];
    let mut lens = [0usize; QUEUES];
    for step in 0..40 {
        let what = next(5);
        match what {
            0 => {
                let i = next(EVENTS as u64) as usize;
                events[i].set();
                model[i] = true;
            }
            1 => {
                let i = next(EVENTS as u64) as usize;
                events[i].clear();
                model[i] = false;
            }
            2 => {
                let i = next(QUEUES as u64) as usize;
                queues[i].put(1).unwrap();
                lens[i] += 1;
                model[EVENTS + i] = true;
            }
            3 => {
                let i = next(QUEUES as u64) as usize;
                if queues[i].try_get().is_some() {
                    lens[i] -= 1;
                }
                model[EVENTS + i] = lens[i] > 0;
            }
            _ => {
                let i = next(TASKS as u64) as usize;
                gos[i].set();
                model[EVENTS + QUEUES + i] = true;
            }
        }
        // Give the waiter its turn (a few, since schedule perturbation
        // may delay a woken coroutine).
        let mut got = None;
        for _ in 0..20 {
            green::yield_now();
            got = result.take();
            if got.is_some() {
                break;
            }
        }
        let ready: Vec<usize> = (0..n).filter(|&i| model[i]).collect();
        if ready.len() >= count {
            assert_eq!(
                got.as_deref(),
                Some(&ready[..]),
                "seed {seed} step {step}: count {count}"
            );
            break;
        }
        assert!(
            got.is_none(),
            "seed {seed} step {step}: returned {got:?} with {ready:?} ready, count {count}"
        );
    }
    waiter.kill();
    for g in &gos {
        g.set();
    }
    for t in &tasks {
        let _ = t.join_timeout(Duration::from_secs(5));
    }
}
