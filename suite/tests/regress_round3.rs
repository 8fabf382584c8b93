//! Regression tests for the third round of adversarial testing (issue 19,
//! faults 2 to 5), each named after the symptom it used to show: timeouts
//! made inside destructors during an unwind that never fired, coroutines
//! left running or abandoned after a `Runtime::run` closure panicked,
//! `add_permits` looping once per permit, bounded queues holding more than
//! their capacity after a killed getter gave its item back. (Fault 1,
//! `block_on` and self-waking futures, is in `block_on.rs` and
//! `block_on_tokio.rs`.)
//!
//! Every body runs under a watchdog: a regression must fail, never hang.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hang::watchdog;

// ---- fault 2: a timeout made inside a destructor during an unwind ----

/// What a `Goodbye` destructor saw: whether its own timeout fired, and how
/// long its cleanup took.
#[derive(Default)]
struct Seen {
    elapsed: Cell<Option<bool>>,
    took: Cell<Duration>,
}

/// A destructor that bounds its own cleanup (a 3 s "goodbye") with a
/// 20 ms `green::timeout`.
struct Goodbye(Rc<Seen>);

impl Drop for Goodbye {
    fn drop(&mut self) {
        let t0 = Instant::now();
        let r = green::timeout(Duration::from_millis(20), || {
            green::sleep(Duration::from_secs(3))
        });
        self.0.took.set(t0.elapsed());
        self.0.elapsed.set(Some(r.is_err()));
    }
}

fn assert_fired(seen: &Seen, what: &str) {
    assert_eq!(
        seen.elapsed.get(),
        Some(true),
        "{what}: the destructor's own timeout did not fire"
    );
    assert!(
        seen.took.get() < Duration::from_secs(2),
        "{what}: the destructor waited {:?} for its whole cleanup",
        seen.took.get()
    );
}

// C65
#[test]
fn timeout_made_in_a_destructor_during_a_kill_never_fired() {
    watchdog(20, || {
        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let h = green::spawn(move || {
            let _g = Goodbye(s);
            green::sleep(Duration::from_secs(60));
        });
        green::sleep(Duration::from_millis(5));
        let t0 = Instant::now();
        h.kill();
        assert!(t0.elapsed() < Duration::from_secs(2), "kill waited");
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert_fired(&seen, "kill");

        // Killed while still parked in the destructor's bounded cleanup:
        // the second kill ends the cleanup early, nothing aborts.
        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let h = green::spawn(move || {
            let _g = Goodbye(s);
            green::sleep(Duration::from_secs(60));
        });
        green::sleep(Duration::from_millis(5));
        h.kill_nowait();
        green::yield_now();
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert!(seen.elapsed.get().is_some());
    });
}

// C65
#[test]
fn timeout_made_in_a_destructor_during_a_panic_never_fired() {
    watchdog(20, || {
        // In a coroutine.
        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let h = green::spawn(move || {
            let _g = Goodbye(s);
            green::sleep(Duration::from_millis(1));
            panic!("boom");
        });
        assert!(matches!(h.join(), Err(green::JoinError::Panicked(_))));
        assert_fired(&seen, "panic in a coroutine");

        // On the root (`main`), with a coroutine keeping the hub busy.
        let busy = green::spawn(|| green::sleep(Duration::from_secs(60)));
        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _g = Goodbye(s);
            panic!("boom on the root");
        }));
        assert!(r.is_err());
        assert_fired(&seen, "panic on the root");
        busy.kill();
    });
}

// C65
#[test]
fn timeout_made_in_a_destructor_during_an_enclosing_timeouts_unwind_never_fired() {
    watchdog(20, || {
        // The enclosing timeout (10 ms) unwinds into the destructor; the
        // destructor's own (20 ms) must still fire, and the enclosing one
        // must not fire again inside it.
        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let r = green::timeout(Duration::from_millis(10), move || {
            let _g = Goodbye(s);
            green::sleep(Duration::from_secs(60));
        });
        assert!(r.is_err());
        assert_fired(&seen, "enclosing timeout, on the root");

        let seen = Rc::new(Seen::default());
        let s = seen.clone();
        let h = green::spawn(move || {
            green::timeout(Duration::from_millis(10), move || {
                let _g = Goodbye(s);
                green::sleep(Duration::from_secs(60));
            })
            .is_err()
        });
        assert!(h.join().unwrap());
        assert_fired(&seen, "enclosing timeout, in a coroutine");
    });
}

/// Nested: a destructor's own timeout fires, and while its unwind runs,
/// a destructor inside it bounds its own cleanup the same way; the outer
/// bound (made in the first destructor) is ignored in the inner unwind and
/// reported by its own frame afterwards only if it expired.
// C65
#[test]
fn nested_timeouts_made_in_destructors_during_unwinds_never_fired() {
    struct Outer(Rc<Seen>, Rc<Seen>, Rc<Cell<Option<bool>>>);
    impl Drop for Outer {
        fn drop(&mut self) {
            let inner_seen = self.1.clone();
            let outer = green::timeout(Duration::from_secs(5), || {
                green::timeout(Duration::from_millis(20), || {
                    let _g = Goodbye(inner_seen);
                    green::sleep(Duration::from_secs(3))
                })
                .is_err()
            });
            self.2.set(outer.ok());
            // And a plain bounded cleanup afterwards, still unwinding.
            let _g = Goodbye(self.0.clone());
        }
    }
    watchdog(20, || {
        for how in ["kill", "panic"] {
            let (a, b) = (Rc::new(Seen::default()), Rc::new(Seen::default()));
            let mid = Rc::new(Cell::new(None));
            let (a1, b1, m1) = (a.clone(), b.clone(), mid.clone());
            let t0 = Instant::now();
            let h = green::spawn(move || {
                let _o = Outer(a1, b1, m1);
                green::sleep(Duration::from_millis(2));
                if how == "panic" {
                    panic!("boom");
                }
                green::sleep(Duration::from_secs(60));
            });
            green::sleep(Duration::from_millis(10));
            if how == "kill" {
                h.kill();
            }
            assert!(h.join().is_err());
            assert!(t0.elapsed() < Duration::from_secs(4), "{how}: too slow");
            assert_eq!(mid.get(), Some(true), "{how}: the 20 ms bound fired");
            assert_fired(&b, how);
            assert_fired(&a, how);
        }
    });
}

/// A `yield_now` loop and a `block_on` inside a destructor's own timeout
/// are interrupted too.
// C65
#[test]
fn yield_loop_under_a_timeout_made_in_a_destructor_during_a_kill_never_ended() {
    struct Spins(Rc<Cell<u32>>);
    impl Drop for Spins {
        fn drop(&mut self) {
            if green::timeout(Duration::from_millis(10), || loop {
                green::yield_now()
            })
            .is_err()
            {
                self.0.set(self.0.get() + 1);
            }
            let never = std::future::pending::<()>();
            if green::timeout(Duration::from_millis(10), || {
                // A clone of the waker escapes: not a provable deadlock.
                let mut kept = None;
                green::block_on(std::future::poll_fn(|cx| {
                    kept = Some(cx.waker().clone());
                    let _ = &never;
                    std::task::Poll::<()>::Pending
                }))
            })
            .is_err()
            {
                self.0.set(self.0.get() + 1);
            }
        }
    }
    watchdog(20, || {
        let n = Rc::new(Cell::new(0));
        let n1 = n.clone();
        let h = green::spawn(move || {
            let _s = Spins(n1);
            green::sleep(Duration::from_secs(60));
        });
        green::sleep(Duration::from_millis(5));
        h.kill();
        assert_eq!(n.get(), 2, "both bounded waits in the destructor fired");
    });
}

// ---- fault 3: a panicking Runtime::run / run_threads closure ----

/// A coroutine that counts its steps and whose destructor (which parks)
/// records that it ran.
fn spawn_stepper(steps: Rc<Cell<u32>>, unwound: Rc<Cell<bool>>) -> green::JoinHandle<()> {
    struct Unwound(Rc<Cell<bool>>);
    impl Drop for Unwound {
        fn drop(&mut self) {
            green::sleep(Duration::from_millis(1));
            self.0.set(true);
        }
    }
    green::spawn(move || {
        let _u = Unwound(unwound);
        loop {
            steps.set(steps.get() + 1);
            green::sleep(Duration::from_millis(1));
        }
    })
}

// C66
#[test]
fn panicking_run_closure_left_its_coroutines_running() {
    watchdog(20, || {
        let steps = Rc::new(Cell::new(0));
        let unwound = Rc::new(Cell::new(false));
        let (s, u) = (steps.clone(), unwound.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            green::Runtime::new().run(move || {
                let _h = spawn_stepper(s, u);
                green::sleep(Duration::from_millis(5));
                panic!("the closure panics");
            })
        }));
        let p = r.expect_err("the closure's panic goes on out of run");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"the closure panics"));
        assert!(
            unwound.get(),
            "the coroutine was unwound before run returned"
        );
        let at = steps.get();
        green::sleep(Duration::from_millis(20));
        assert_eq!(steps.get(), at, "the coroutine still runs after run");
        assert!(green::run_info().is_empty(), "no coroutine is left");
    });
}

// C66
#[test]
fn panicking_run_threads_closure_abandoned_its_coroutines() {
    if common::is_child() {
        let unwound = Arc::new(AtomicUsize::new(0));
        let u = unwound.clone();
        let r = green::Runtime::new().threads(2).run_threads(move |i| {
            struct Count(Arc<AtomicUsize>);
            impl Drop for Count {
                fn drop(&mut self) {
                    // Parks during the unwind, as cleanup may.
                    green::sleep(Duration::from_millis(1));
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let c = Count(u.clone());
            let _h = green::spawn(move || {
                let _c = c;
                green::sleep(Duration::from_secs(60));
            });
            green::sleep(Duration::from_millis(5));
            if i == 1 {
                panic!("hub thread 1 panics");
            }
            // Thread 0 ends normally: its coroutine is unwound by `run`.
        });
        assert!(
            matches!(r, Err(green::RuntimeError::ThreadPanicked { index: 1, .. })),
            "{r:?}"
        );
        assert_eq!(
            unwound.load(Ordering::SeqCst),
            2,
            "both threads' coroutines ran their destructors"
        );
        println!("child done");
        return;
    }
    let out = common::run_child("panicking_run_threads_closure_abandoned_its_coroutines");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(stdout.contains("child done"), "{stdout}");
    assert!(
        !stderr.contains("abandoned without unwinding"),
        "coroutines were abandoned: {stderr}"
    );
}

// ---- fault 4: counts that looped once per unit ----

// C67
#[test]
fn semaphore_add_permits_usize_max_never_returned() {
    watchdog(10, || {
        let sem = Rc::new(green::sync::Semaphore::new(0));
        let got = Rc::new(Cell::new(0));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let (sem, got) = (sem.clone(), got.clone());
                green::spawn(move || {
                    sem.acquire().forget();
                    got.set(got.get() + 1);
                })
            })
            .collect();
        green::yield_now();
        assert_eq!(sem.waiters(), 3);
        sem.add_permits(usize::MAX);
        for r in green::joinall(hs) {
            r.unwrap();
        }
        assert_eq!(got.get(), 3, "every waiter was served first");
        assert_eq!(sem.available(), usize::MAX - 3);
        // More saturates, as documented: never a wrap or a hang.
        sem.add_permits(usize::MAX);
        sem.release();
        assert_eq!(sem.available(), usize::MAX);
        assert!(sem.try_acquire().is_some());
    });
}

// C67
#[test]
fn bounded_semaphore_release_while_permits_are_held_went_over_its_limit() {
    watchdog(10, || {
        let s = green::sync::BoundedSemaphore::new(2);
        let p = s.acquire();
        assert!(
            s.release().is_err(),
            "the held permit is not missing: releasing would make 3"
        );
        drop(p);
        assert_eq!(s.available(), 2);
        // A permit given up with `forget` may come back, once.
        s.acquire().forget();
        assert_eq!(s.available(), 1);
        assert!(s.release().is_ok());
        assert!(s.release().is_err());
        assert_eq!(s.available(), 2);

        // A permit handed to a parked waiter counts as held.
        let s = Rc::new(green::sync::BoundedSemaphore::new(1));
        let p = s.acquire();
        let s2 = s.clone();
        let h = green::spawn(move || drop(s2.acquire()));
        green::yield_now();
        drop(p); // handed to the waiter, which has not run yet
        assert!(s.release().is_err(), "the handed permit is not missing");
        h.join().unwrap();
        assert_eq!(s.available(), 1);
    });
}

// C67
#[test]
fn wait_group_add_past_usize_max_is_a_clear_error() {
    watchdog(10, || {
        let wg = green::sync::WaitGroup::new();
        wg.add(usize::MAX);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.add(1)));
        let p = r.expect_err("an overflowing add must not pass silently");
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(msg.contains("WaitGroup"), "{msg}");
        assert_eq!(wg.count(), usize::MAX, "the count is unchanged");
    });
}

// ---- fault 5: bounded queues over their capacity ----

/// A getter parked in `get`; returns its handle and what it got.
fn parked_getter<B: green::queue::Buffer<u32> + 'static>(
    q: &Rc<green::queue::BaseQueue<u32, B>>,
) -> (green::JoinHandle<()>, Rc<Cell<Option<u32>>>) {
    let got = Rc::new(Cell::new(None));
    let (q2, g) = (q.clone(), got.clone());
    let h = green::spawn(move || g.set(q2.get()));
    green::yield_now();
    assert_eq!(q.getters(), 1);
    (h, got)
}

fn handed_getter_killed_keeps_the_bound<B: green::queue::Buffer<u32> + 'static>(
    q: green::queue::BaseQueue<u32, B>,
    cap: usize,
) -> Vec<u32> {
    let q = Rc::new(q);
    let (g, got) = parked_getter(&q);
    // Item 1 goes straight to the parked getter, which has not run yet.
    assert!(q.try_put(1).is_ok());
    // The hand-off is in flight: it counts against the capacity.
    let mut refused = Vec::new();
    for i in 2..(2 + cap as u32 + 1) {
        if let Err(v) = q.try_put(i) {
            refused.push(v);
        }
        assert!(q.len() <= cap, "len {} over capacity {cap}", q.len());
    }
    assert!(!refused.is_empty(), "capacity {cap} took every try_put");
    g.kill();
    assert_eq!(got.get(), None);
    assert!(
        q.len() <= cap,
        "capacity {cap}: holds {} after the killed getter gave item 1 back",
        q.len()
    );
    let mut out = Vec::new();
    while let Some(v) = q.try_get() {
        out.push(v);
        assert!(q.len() <= cap);
    }
    out
}

// C68
#[test]
fn bounded_queue_held_more_than_its_capacity_after_a_handed_getter_was_killed() {
    use green::queue::{LifoQueue, PriorityQueue, Queue};
    watchdog(10, || {
        // bounded(1): item 1 comes back first, nothing lost.
        assert_eq!(
            handed_getter_killed_keeps_the_bound(Queue::bounded(1), 1),
            [1]
        );
        assert_eq!(
            handed_getter_killed_keeps_the_bound(Queue::bounded(2), 2),
            [1, 2]
        );
        assert_eq!(
            handed_getter_killed_keeps_the_bound(LifoQueue::bounded(1), 1),
            [1]
        );
        assert_eq!(
            handed_getter_killed_keeps_the_bound(PriorityQueue::bounded(1), 1),
            [1]
        );
        // bounded(0) stores nothing: the item is still offered to the
        // next getter.
        assert_eq!(
            handed_getter_killed_keeps_the_bound(Queue::bounded(0), 0),
            [1]
        );
    });
}

/// The same with a blocking `put` instead of `try_put`: it parks while the
/// hand-off is in flight, and every item arrives once, in order.
// C68
#[test]
fn bounded_queue_put_parks_while_a_hand_off_is_in_flight() {
    use green::queue::Queue;
    watchdog(10, || {
        for cap in [0usize, 1, 2] {
            let q = Rc::new(Queue::bounded(cap));
            let (g, _) = parked_getter(&q);
            let max_len = Rc::new(Cell::new(0));
            let q2 = q.clone();
            let m = max_len.clone();
            let putter = green::spawn(move || {
                for i in 1..=5 {
                    q2.put(i).unwrap();
                    m.set(m.get().max(q2.len()));
                }
            });
            green::yield_now(); // the putter hands 1 to the getter, then parks or stores
            assert!(q.len() <= cap);
            g.kill();
            assert!(q.len() <= cap, "cap {cap}: len {}", q.len());
            let mut out = Vec::new();
            while out.len() < 5 {
                out.push(q.get().unwrap());
                assert!(q.len() <= cap, "cap {cap}: len {}", q.len());
            }
            putter.join().unwrap();
            assert_eq!(out, [1, 2, 3, 4, 5], "cap {cap}");
            assert!(max_len.get() <= cap);
        }
    });
}

/// A Channel (capacity 0) gives an item whose receiver was killed to the
/// next receiver, and `close` does not lose it.
// C68
#[test]
fn channel_item_of_a_killed_receiver_goes_to_the_next_receiver() {
    watchdog(10, || {
        let ch = Rc::new(green::queue::Channel::new());
        let c = ch.clone();
        let r1 = green::spawn(move || c.recv());
        green::yield_now();
        assert!(ch.try_send(7).is_ok());
        r1.kill();
        let c = ch.clone();
        let r2 = green::spawn(move || c.recv());
        assert_eq!(r2.join().unwrap(), Some(7));

        let c = ch.clone();
        let r1 = green::spawn(move || c.recv());
        green::yield_now();
        assert!(ch.try_send(8).is_ok());
        r1.kill();
        ch.close();
        assert_eq!(ch.try_recv(), Some(8), "close keeps the returned item");
        assert_eq!(ch.recv(), None);
    });
}

// ---- C74: a forked child closing a socket the parent's hub registered ----

/// The epoll set is shared across `fork`: a child that closes (through
/// green, so its copy of the hub forgets the fd) a socket the parent's hub
/// has registered must not remove the parent's registration, or the
/// parent's reader would never hear of data again. The reader here is
/// parked on the socket while the child closes its copy.
#[test]
fn a_forked_childs_close_leaves_the_parents_registration() {
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    watchdog(30, || {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().expect("pair");
        a.set_nonblocking(true).expect("nonblocking");
        let a_fd = a.as_raw_fd();
        let reader = green::spawn(move || {
            let a = a;
            let mut got = Vec::new();
            while got.len() < 2 {
                green::rt::wait_fd(a.as_raw_fd(), green::rt::Interest::Read, None)
                    .expect("wait for the socket");
                let mut buf = [0u8; 8];
                match (&a).read(&mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
            got
        });
        b.write_all(b"1").expect("write 1");
        // The reader takes "1" and parks on the socket again, registered.
        green::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished());
        // SAFETY: the child closes one fd through green and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: the child's own copy of the descriptor, closed once.
            green::rt::close_fd(unsafe { OwnedFd::from_raw_fd(a_fd) });
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork");
        let mut status = 0;
        // SAFETY: a valid out-pointer; the child exits at once.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        b.write_all(b"2").expect("write 2");
        let got = green::timeout(Duration::from_secs(5), || reader.join())
            .expect("the parent's reader heard of the data the child's close must not hide")
            .expect("reader");
        assert_eq!(got, b"12");
    });
}
