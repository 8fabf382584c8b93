//! The hub's spare coroutine: a closure that returns in its first run
//! without ever suspending leaves its coroutine idle, and the next first
//! run of a task of the same stack size runs on it instead of making one
//! (`runtime/src/sched/lifecycle.rs`). These tests try to break that:
//! tasks that take the spare and then park (the coroutine and its region
//! become theirs) while regions are shared and poisoned, panics and kills
//! around it, other stack sizes, tiny region budgets, and an overflow on
//! it.

mod common;

use std::cell::Cell;
use std::rc::Rc;

/// A small deterministic PRNG (xorshift64*), so failures replay.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs `f` on a fresh thread whose hub has `regions` stack regions and
/// stack poisoning on.
fn with_budget<T: Send + 'static>(regions: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        green::Runtime::new()
            .max_regions(regions)
            .poison_stacks(true)
            .run(f)
            .expect("fresh thread has no hub yet")
    })
    .join()
    .expect("test thread panicked")
}

/// Recurse `depth` frames holding arrays and references into the caller's,
/// yielding `yields` times at the bottom; returns a checksum that changes
/// if any frame was torn while parked.
fn frames(depth: u32, seed: u64, parent: &[u64; 4], yields: u32) -> u64 {
    let mut local = [0u64; 4];
    for (i, v) in local.iter_mut().enumerate() {
        *v = seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(i as u64 + u64::from(depth));
    }
    let up = &parent[(depth % 4) as usize];
    let inner = if depth > 0 {
        frames(depth - 1, seed ^ u64::from(depth), &local, yields)
    } else {
        for _ in 0..yields {
            green::yield_now();
        }
        0
    };
    std::hint::black_box(&local);
    local.iter().fold(inner ^ *up, |a, v| a.rotate_left(7) ^ v)
}

/// Quick tasks (which leave and take the spare) mixed with tasks that take
/// it and then park and yield with live frames, on three poisoned regions
/// shared by hundreds: every frame survives, every result is right.
#[test]
fn tasks_that_take_the_spare_and_park_keep_their_frames_while_regions_are_shared() {
    let (sum, want) = with_budget(3, || {
        let mut rng = Rng(0x5EED_0001);
        let quick = Rc::new(Cell::new(0u64));
        let mut hs = Vec::new();
        let mut want = 0u64;
        for round in 0..40u64 {
            for i in 0..(1 + rng.below(6)) {
                let q = quick.clone();
                hs.push(green::spawn(move || {
                    q.set(q.get() + 1);
                    round * 100 + i
                }));
                want += round * 100 + i;
            }
            for i in 0..(1 + rng.below(4)) {
                let (depth, seed, yields) = (rng.below(6) as u32, rng.next(), rng.below(3) as u32);
                let expect = frames(depth, seed, &[seed; 4], 0);
                hs.push(green::spawn(move || {
                    let got = frames(depth, seed, &[seed; 4], yields);
                    assert_eq!(got, expect, "frames torn (round {round}, task {i})");
                    1
                }));
                want += 1;
            }
            if rng.below(2) == 0 {
                green::yield_now();
            }
        }
        let sum: u64 = green::joinall(hs)
            .into_iter()
            .map(|r| r.expect("task"))
            .sum();
        assert!(green::rt::stack_stats().regions_mapped <= 3);
        assert!(
            green::rt::stack_stats().bytes_copied > 0,
            "regions were shared"
        );
        (sum, want)
    });
    assert_eq!(sum, want);
}

/// A panic in a first run on the spare, a kill before one, and a task that
/// parks on it: the tasks after each still run, each on a sound coroutine,
/// and no region is lost (the first batch of regions serves them all).
#[test]
fn panics_and_kills_around_the_spare_leave_the_next_tasks_intact() {
    let mapped = std::thread::spawn(|| {
        green::Runtime::new()
            .run(|| {
                for round in 0..300u64 {
                    let a = green::spawn(move || round);
                    let b = green::spawn(move || -> u64 {
                        if round % 3 == 0 {
                            panic!("on the spare {round}");
                        }
                        round + 1
                    });
                    let c = green::spawn(move || round + 2);
                    if round % 4 == 0 {
                        c.kill();
                    }
                    let d = green::spawn(move || {
                        green::yield_now();
                        round + 3
                    });
                    assert_eq!(a.join().unwrap(), round);
                    match b.join() {
                        Ok(v) => assert_eq!(v, round + 1),
                        Err(e) => {
                            assert_eq!(round % 3, 0);
                            assert_eq!(
                                e.panic_message(),
                                Some(format!("on the spare {round}").as_str())
                            );
                        }
                    }
                    match c.join() {
                        Ok(v) => assert_eq!(v, round + 2),
                        Err(e) => assert!(e.is_killed() && round % 4 == 0),
                    }
                    assert_eq!(d.join().unwrap(), round + 3);
                }
                green::rt::stack_stats().regions_mapped
            })
            .expect("fresh thread")
    })
    .join()
    .expect("test thread");
    assert!(
        mapped <= 16,
        "{mapped} regions mapped for four live tasks at a time"
    );
}

/// A task with a larger stack never runs on a spare left by a default-size
/// task (it would overflow the smaller region), and the other way round.
#[test]
fn a_task_with_a_larger_stack_never_runs_on_a_smaller_spare() {
    let r = std::thread::spawn(|| {
        green::Runtime::new()
            .run(|| {
                // Needs ~600 KiB: more than the default 256 KiB.
                fn big(n: u32) -> u64 {
                    let buf = [n as u8; 8 * 1024];
                    std::hint::black_box(&buf);
                    if n == 0 {
                        return buf[0] as u64;
                    }
                    big(n - 1) + buf[1] as u64
                }
                let mut total = 0;
                for i in 0..20u32 {
                    let small = green::spawn(move || i);
                    total += u64::from(small.join().unwrap());
                    let large = green::Builder::new()
                        .stack_size(2 << 20)
                        .spawn(move || big(75) + u64::from(i))
                        .unwrap();
                    total += large.join().unwrap();
                }
                total
            })
            .expect("fresh thread")
    })
    .join()
    .expect("test thread");
    // Each large task returns 1 + 2 + .. + 75 plus its index.
    let want: u64 = (0..20u64).map(|i| i + (1..=75u64).sum::<u64>() + i).sum();
    assert_eq!(r, want);
}

/// With one region there is no spare (it would keep the only region from
/// the tasks that share it); with two, the spare keeps one and the rest
/// share the other. Parked and quick tasks both finish either way.
#[test]
fn one_or_two_regions_serve_quick_and_parked_tasks_alike() {
    for regions in [1usize, 2] {
        let done = with_budget(regions, move || {
            let n = Rc::new(Cell::new(0u32));
            let hs: Vec<_> = (0..200u32)
                .map(|i| {
                    let n = n.clone();
                    green::spawn(move || {
                        if i % 2 == 0 {
                            let v = frames(3, u64::from(i), &[7; 4], 1);
                            std::hint::black_box(v);
                        }
                        n.set(n.get() + 1);
                    })
                })
                .collect();
            green::joinall(hs);
            assert_eq!(green::rt::stack_stats().regions_mapped, regions);
            n.get()
        });
        assert_eq!(done, 200, "with {regions} region(s)");
    }
}

/// An overflow in a task running on the spare names that task and its
/// stack size (its region's guard page is the spare's).
#[test]
fn stack_overflow_on_the_spare_names_the_task() {
    if common::is_child() {
        fn recurse(n: u64) -> u64 {
            let buf = [n as u8; 1024];
            std::hint::black_box(&buf);
            if n == u64::MAX {
                return 0; // never: the stack runs out first
            }
            recurse(n + 1) + buf[0] as u64
        }
        // Leaves the spare.
        green::spawn(|| ()).join().unwrap();
        let h = green::Builder::new()
            .name("deep-on-spare")
            .spawn(|| recurse(0))
            .unwrap();
        let _ = h.join();
        return;
    }
    let out = common::run_child("stack_overflow_on_the_spare_names_the_task");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("green: coroutine 'deep-on-spare' (#2) overflowed its 256 KiB stack"),
        "stderr: {err}"
    );
}
