//! Timeout conformance (C2, C13–C15) and timer behaviour.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::Elapsed;

// C2
#[test]
fn c2_yield_loop_inside_timeout_is_interrupted() {
    let t = Instant::now();
    let r = green::timeout(Duration::from_millis(10), || loop {
        green::sleep(Duration::ZERO);
    });
    assert_eq!(r, Err(Elapsed));
    assert!(t.elapsed() < Duration::from_secs(2));
}

// C2
#[test]
fn c2_yield_loops_cannot_starve_timers() {
    let spinning = Rc::new(Cell::new(true));
    let spinners: Vec<_> = (0..3)
        .map(|_| {
            let s = spinning.clone();
            green::spawn(move || {
                while s.get() {
                    green::yield_now();
                }
            })
        })
        .collect();
    let s = spinning.clone();
    let sleeper = green::spawn(move || {
        green::sleep(Duration::from_millis(20));
        s.set(false);
    });
    assert!(sleeper.join_timeout(Duration::from_secs(5)));
    green::joinall(spinners);
}

// C13
#[test]
fn c13_timeout_fires_when_a_park_outlives_it_and_never_after_return() {
    let t = Instant::now();
    let r = green::timeout(Duration::from_millis(20), || {
        green::sleep(Duration::from_secs(10));
    });
    assert_eq!(r, Err(Elapsed));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(20) && took < Duration::from_secs(2),
        "{took:?}"
    );

    let r = green::timeout(Duration::from_millis(20), || 5);
    assert_eq!(r, Ok(5));
    // Well past the old deadline: nothing fires.
    green::sleep(Duration::from_millis(40));
    let r = green::timeout(Duration::from_millis(200), || {
        green::sleep(Duration::from_millis(5));
        6
    });
    assert_eq!(r, Ok(6));
}

// C13
#[test]
fn c13_timeout_inside_a_coroutine_interrupts_join_and_runs_drops() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let h = green::spawn(move || {
        green::timeout(Duration::from_millis(10), || {
            let _f = Flag(d);
            let slow = green::spawn(|| green::sleep(Duration::from_secs(5)));
            let r = slow.join_timeout(Duration::from_secs(10));
            slow.kill();
            r
        })
    });
    assert_eq!(h.join().unwrap(), Err(Elapsed));
    assert!(dropped.get());
}

// C14
#[test]
fn c14_shorter_outer_escapes_through_longer_inner() {
    let inner_saw = Rc::new(Cell::new(false));
    let s = inner_saw.clone();
    let r = green::timeout(Duration::from_millis(10), || {
        let inner = green::timeout(Duration::from_secs(5), || {
            green::sleep(Duration::from_secs(10))
        });
        s.set(true); // never reached: the outer frame owns the expiry
        inner
    });
    assert_eq!(r, Err(Elapsed));
    assert!(!inner_saw.get());

    // The inner, shorter one is reported by the inner frame.
    let r = green::timeout(Duration::from_secs(5), || {
        green::timeout(Duration::from_millis(10), || {
            green::sleep(Duration::from_secs(10))
        })
    });
    assert_eq!(r, Ok(Err(Elapsed)));
}

// C15
#[test]
fn c15_zero_timeout_fires_at_the_first_park() {
    let step = Rc::new(Cell::new(0));
    let s = step.clone();
    let r = green::timeout(Duration::ZERO, || {
        s.set(1);
        green::sleep(Duration::from_millis(1));
        s.set(2);
    });
    assert_eq!(r, Err(Elapsed));
    assert_eq!(step.get(), 1);
    // No park at all: the closure completes.
    assert_eq!(green::timeout(Duration::ZERO, || 9), Ok(9));
}

#[test]
fn huge_timeout_means_no_deadline() {
    assert_eq!(
        green::timeout(Duration::MAX, || {
            green::sleep(Duration::from_millis(1));
            1
        }),
        Ok(1)
    );
}

#[test]
fn explicit_deadline_wins_when_earlier_than_frame() {
    // join_timeout has its own error channel: it returns false rather than
    // unwinding when its deadline is the earlier one.
    let h = green::spawn(|| green::sleep(Duration::from_secs(5)));
    let r = green::timeout(Duration::from_secs(5), || {
        h.join_timeout(Duration::from_millis(10))
    });
    assert_eq!(r, Ok(false));
    h.kill();
}

#[test]
fn timers_fire_in_deadline_order() {
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let hs: Vec<_> = [30u64, 10, 20, 10]
        .into_iter()
        .enumerate()
        .map(|(i, ms)| {
            let o = order.clone();
            green::spawn(move || {
                green::sleep(Duration::from_millis(ms));
                o.borrow_mut().push(i);
            })
        })
        .collect();
    green::joinall(hs);
    assert_eq!(*order.borrow(), [1, 3, 2, 0]);
}

#[test]
fn many_cancelled_timers_do_not_pile_up_or_misfire() {
    // Arm-then-cancel many times (join_timeout that succeeds early).
    for _ in 0..5000 {
        let h = green::spawn(|| 1);
        assert!(h.join_timeout(Duration::from_secs(30)));
    }
    let t = Instant::now();
    green::sleep(Duration::from_millis(5));
    assert!(t.elapsed() < Duration::from_secs(1));
}
