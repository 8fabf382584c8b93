//! Lifecycle conformance: ordering, joining, state, panics, kill, spawn_later,
//! links and deadlock reports (C1–C12).

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::JoinError;

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

// C1
#[test]
fn c1_two_coroutines_interleave_in_gevent_order() {
    let l = log();
    let mk = |tag: &'static str, l: Log| {
        move || {
            l.borrow_mut().push(format!("{tag}A"));
            green::sleep(Duration::ZERO);
            l.borrow_mut().push(format!("{tag}B"));
        }
    };
    let a = green::spawn(mk("1", l.clone()));
    let b = green::spawn(mk("2", l.clone()));
    green::joinall([a, b]);
    assert_eq!(*l.borrow(), ["1A", "2A", "1B", "2B"]);
}

#[test]
fn spawn_only_queues_and_spawn_order_is_run_order() {
    let l = log();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let l = l.clone();
            green::spawn(move || l.borrow_mut().push(i.to_string()))
        })
        .collect();
    assert!(l.borrow().is_empty(), "spawn must not run the coroutine");
    green::yield_now();
    assert_eq!(*l.borrow(), ["0", "1", "2", "3", "4"]);
    green::joinall(hs);
}

#[test]
fn yield_sends_caller_to_back_of_ready_queue() {
    let l = log();
    let l2 = l.clone();
    let h = green::spawn(move || {
        for i in 0..3 {
            l2.borrow_mut().push(format!("c{i}"));
            green::yield_now();
        }
    });
    for i in 0..3 {
        l.borrow_mut().push(format!("m{i}"));
        green::sleep(Duration::ZERO);
    }
    h.join().unwrap();
    assert_eq!(*l.borrow(), ["m0", "c0", "m1", "c1", "m2", "c2"]);
}

// C3
#[test]
fn c3_waiting_on_the_same_handle_twice_neither_hangs_nor_panics() {
    let h = green::spawn(|| {
        green::sleep(Duration::from_millis(5));
        7
    });
    let done = green::wait(&[&h, &h], 2, Some(Duration::from_secs(5)));
    assert_eq!(done, vec![0, 1]);
    assert_eq!(h.join().unwrap(), 7);
    // joinall over owned handles, each once, after they finished.
    let hs: Vec<_> = (0..3).map(|i| green::spawn(move || i)).collect();
    green::yield_now();
    let r: Vec<i32> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
    assert_eq!(r, [0, 1, 2]);
}

// C4
#[test]
fn c4_wait_with_count_returns_after_count_finish_and_others_keep_running() {
    let hs: Vec<_> = [30u64, 1, 2, 400]
        .into_iter()
        .map(|ms| green::spawn(move || green::sleep(Duration::from_millis(ms))))
        .collect();
    let refs: Vec<&dyn green::Waitable> = hs.iter().map(|h| h as &dyn green::Waitable).collect();
    let done = green::wait(&refs, 2, None);
    assert_eq!(done, vec![1, 2]);
    assert!(!hs[0].is_finished() && !hs[3].is_finished());
    let done = green::wait(&refs, 3, None);
    assert_eq!(done, vec![0, 1, 2]);
    assert!(!hs[3].is_finished(), "the slow one keeps running");
    hs[3].kill();
}

// C5
#[test]
fn c5_join_timeout_reports_not_finished_and_leaves_it_running() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = green::spawn(move || {
        green::sleep(Duration::from_millis(200));
        r.set(true);
    });
    let t = Instant::now();
    assert!(!h.join_timeout(Duration::from_millis(30)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(30),
        "returned early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(190),
        "waited for the task: {waited:?}"
    );
    assert!(!h.is_finished());
    assert!(h.join_timeout(Duration::from_secs(5)));
    assert!(ran.get());
}

// C6
#[test]
fn c6_state_over_a_life_and_name_and_id() {
    let h = green::Builder::new()
        .name("worker-1")
        .spawn(|| {
            let me = green::current().expect("inside a coroutine");
            green::sleep(Duration::from_millis(5));
            (me.id(), me.name().map(String::from))
        })
        .unwrap();
    assert_eq!(h.name(), Some("worker-1"));
    assert!(!h.is_started() && !h.is_finished(), "not started yet");
    green::yield_now();
    assert!(
        h.is_started() && !h.is_finished(),
        "running (parked in sleep)"
    );
    let id = h.id();
    assert!(h.join_timeout(Duration::from_secs(5)));
    assert!(h.is_finished());
    let (seen_id, seen_name) = h.join().unwrap();
    assert_eq!(seen_id, id);
    assert_eq!(seen_name.as_deref(), Some("worker-1"));
    assert!(green::current().is_none(), "main is not a coroutine");
    let other = green::spawn(|| ());
    assert_ne!(other.id(), id, "ids are unique");
    other.join().unwrap();
}

// C7
#[test]
fn c7_panic_is_returned_by_join_and_hub_keeps_running() {
    let h = green::spawn(|| -> u8 { panic!("boom {}", 42) });
    let ok = green::spawn(|| {
        green::sleep(Duration::from_millis(2));
        5
    });
    match h.join() {
        Err(e @ JoinError::Panicked(_)) => assert_eq!(e.panic_message(), Some("boom 42")),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(ok.join().unwrap(), 5);
    assert_eq!(green::spawn(|| 1).join().unwrap(), 1);
}

// C7
#[test]
fn c7_unjoined_panic_is_reported_once_on_stderr() {
    if common::is_child() {
        let h = green::Builder::new()
            .name("doomed")
            .spawn(|| panic!("nobody joins me"))
            .unwrap();
        drop(h);
        green::sleep(Duration::from_millis(5));
        let joined = green::spawn(|| -> () { panic!("joined panic") });
        assert!(joined.join().is_err());
        return;
    }
    let out = common::run_child("c7_unjoined_panic_is_reported_once_on_stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {err}");
    assert_eq!(err.matches("nobody joins me").count(), 1, "stderr: {err}");
    assert!(
        err.contains("green: coroutine 'doomed' (#"),
        "stderr: {err}"
    );
    assert!(
        !err.contains("joined panic"),
        "a joined panic is the joiner's: {err}"
    );
}

struct Mark(&'static str, Log);
impl Drop for Mark {
    fn drop(&mut self) {
        self.1.borrow_mut().push(self.0.to_string());
    }
}

// C8
#[test]
fn c8_kill_before_start_never_runs_and_twice_is_harmless() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let l = log();
    let m = Mark("closure dropped", l.clone());
    let h = green::spawn(move || {
        let _m = &m;
        r.set(true);
    });
    h.kill();
    h.kill();
    assert!(h.is_finished());
    assert_eq!(*l.borrow(), ["closure dropped"]);
    green::sleep(Duration::from_millis(2));
    assert!(!ran.get());
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

// C9
#[test]
fn c9_kill_parked_in_sleep_unwinds_and_drops_before_kill_returns() {
    let l = log();
    let l2 = l.clone();
    let h = green::spawn(move || {
        let _m = Mark("dropped", l2.clone());
        green::sleep(Duration::from_secs(3600));
        l2.borrow_mut().push("after sleep".into());
    });
    green::yield_now();
    assert!(h.is_started());
    h.kill();
    assert_eq!(*l.borrow(), ["dropped"], "drops ran before kill returned");
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

// C9
#[test]
fn c9_kill_parked_on_a_wait_list_and_in_join() {
    let l = log();
    let list = Rc::new(green::wait_list::WaitList::new());
    let (l2, list2) = (l.clone(), list.clone());
    let waiter = green::spawn(move || {
        let _m = Mark("waiter dropped", l2);
        list2.wait(None);
    });
    let l3 = l.clone();
    let forever = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    let joiner = green::spawn(move || {
        let _m = Mark("joiner dropped", l3);
        let _ = forever.join();
    });
    green::yield_now();
    waiter.kill();
    joiner.kill();
    assert_eq!(*l.borrow(), ["waiter dropped", "joiner dropped"]);
    assert!(!list.notify_one(), "the killed waiter left the list");
}

#[test]
fn kill_of_a_ready_coroutine_unwinds_at_its_next_park() {
    let l = log();
    let l2 = l.clone();
    let h = green::spawn(move || {
        let _m = Mark("dropped", l2.clone());
        green::yield_now();
        l2.borrow_mut().push("resumed".into());
        green::yield_now();
        l2.borrow_mut().push("never".into());
    });
    green::yield_now(); // h runs until its first yield; it is ready again
    h.kill();
    assert!(matches!(h.join(), Err(JoinError::Killed)));
    assert_eq!(*l.borrow(), ["dropped"]);
}

// C10
#[test]
fn c10_child_of_finished_coroutine_still_runs() {
    let l = log();
    let l2 = l.clone();
    let parent = green::spawn(move || {
        green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            l2.borrow_mut().push("child".into());
        })
    });
    let child = parent.join().unwrap();
    assert!(child.join_timeout(Duration::from_secs(5)));
    assert_eq!(*l.borrow(), ["child"]);
}

// C10
#[test]
fn c10_spawn_later_runs_after_delay_and_can_be_cancelled() {
    let t = Instant::now();
    let h = green::spawn_later(Duration::from_millis(30), move || t.elapsed());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let cancelled = green::spawn_later(Duration::from_millis(10), move || r.set(true));
    cancelled.kill();
    let at = h.join().unwrap();
    assert!(at >= Duration::from_millis(30), "ran too early: {at:?}");
    green::sleep(Duration::from_millis(20));
    assert!(!ran.get());
    assert!(cancelled.join().unwrap_err().is_killed());
}

// C11
#[test]
fn c11_links_run_in_order_also_after_finish() {
    let l = log();
    let h = green::spawn(|| {
        green::sleep(Duration::from_millis(2));
        10
    });
    for tag in ["a", "b"] {
        let l = l.clone();
        h.on_finish(move |r| l.borrow_mut().push(format!("{tag}{}", r.unwrap())));
    }
    assert!(h.join_timeout(Duration::from_secs(5)));
    let l2 = l.clone();
    h.on_finish(move |r| l2.borrow_mut().push(format!("c{}", r.unwrap())));
    assert_eq!(*l.borrow(), ["a10", "b10", "c10"]);
    // A killed-before-start coroutine runs its links too.
    let k = green::spawn(|| 1);
    let l3 = l.clone();
    k.on_finish(move |r| l3.borrow_mut().push(format!("killed={}", r.is_err())));
    k.kill();
    assert_eq!(l.borrow().last().map(String::as_str), Some("killed=true"));
}

// C12
#[test]
fn c12_blocking_main_with_nothing_to_wake_it_reports_deadlock() {
    let h = green::spawn(|| {
        let list = green::wait_list::WaitList::new();
        list.wait(None); // nobody will ever notify
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.join()));
    let msg = r.expect_err("must panic, not hang");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("green: deadlock"), "{msg}");
    assert!(msg.contains("parked on wait-list"), "{msg}");
    // The hub still works after the report.
    assert_eq!(green::spawn(|| 3).join().unwrap(), 3);
}

// C12
#[test]
fn c12_root_waiting_on_an_empty_list_reports_deadlock() {
    let list = green::wait_list::WaitList::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| list.wait(None)));
    assert!(r.is_err());
}

#[test]
fn stale_unparker_never_wakes_a_later_park() {
    let slot: Rc<RefCell<Option<green::rt::Unparker>>> = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let h = green::spawn(move || {
        *s2.borrow_mut() = Some(green::rt::unparker());
        // First park ends by timeout, so the unparker above is stale.
        let r = green::rt::park(
            Some(Instant::now() + Duration::from_millis(5)),
            green::rt::ParkedOn::WaitList,
        );
        assert_eq!(r, green::rt::Park::TimedOut);
        let t = Instant::now();
        green::sleep(Duration::from_millis(40));
        t.elapsed()
    });
    green::sleep(Duration::from_millis(15));
    let stale = slot.borrow_mut().take().unwrap();
    assert!(!stale.unpark(), "a stale unparker must not wake anything");
    let slept = h.join().unwrap();
    assert!(
        slept >= Duration::from_millis(40),
        "sleep was cut short: {slept:?}"
    );
}

#[test]
fn many_sleepers_run_concurrently() {
    let t = Instant::now();
    let hs: Vec<_> = (0..100)
        .map(|_| green::spawn(|| green::sleep(Duration::from_millis(50))))
        .collect();
    green::joinall(hs);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn huge_sleep_is_a_park_until_killed() {
    let h = green::spawn(|| green::sleep(Duration::MAX));
    green::yield_now();
    assert!(!h.is_finished());
    h.kill();
    assert!(h.join().unwrap_err().is_killed());
}

#[test]
fn builder_rejects_bad_stack_sizes() {
    let e = green::Builder::new()
        .stack_size(1)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = green::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert!(e.to_string().contains("stack size"));
}

#[test]
fn stack_overflow_is_reported_with_name_id_and_size() {
    if common::is_child() {
        fn recurse(n: u64) -> u64 {
            let buf = [n as u8; 1024];
            std::hint::black_box(&buf);
            if n == u64::MAX {
                return 0; // never: the stack runs out first
            }
            recurse(n + 1) + buf[0] as u64
        }
        let h = green::Builder::new()
            .name("deep")
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .unwrap();
        let _ = h.join();
        return;
    }
    let out = common::run_child("stack_overflow_is_reported_with_name_id_and_size");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("green: coroutine 'deep' (#1) overflowed its 64 KiB stack"),
        "stderr: {err}"
    );
}

#[test]
fn runtime_settings_apply_before_the_hub_starts() {
    let v = std::thread::spawn(|| {
        green::Runtime::new()
            .max_regions(2)
            .stack_size(32 * 1024)
            .run(|| {
                let hs: Vec<_> = (0..50u64)
                    .map(|i| {
                        green::spawn(move || {
                            green::yield_now();
                            i
                        })
                    })
                    .collect();
                green::joinall(hs)
                    .into_iter()
                    .map(Result::unwrap)
                    .sum::<u64>()
            })
    })
    .join()
    .unwrap();
    assert_eq!(v.unwrap(), 1225);
    // Once the hub exists it is too late.
    green::yield_now();
    assert!(green::Runtime::new().run(|| ()).is_err());
}
