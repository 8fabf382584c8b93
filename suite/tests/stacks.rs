//! Copy-on-contention under pressure: a tiny region budget forces thousands
//! of coroutines to share regions, with the poison pattern written below
//! every restored stack. Pointer-rich frames must survive every switch.
//! CI runs this file in both debug and release builds (the save margin
//! differs per build).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
/// stack poisoning on; the thread is joined with its result.
fn with_tiny_budget<T: Send + 'static>(
    regions: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
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

/// Recurse `depth` frames, each holding an array, a reference into a
/// caller's array and a Vec; yield at the bottom (and on the way back up)
/// and verify every frame's contents after each resume.
fn deep(depth: u32, seed: u64, parent: &[u64; 8], yields: &mut Rng) -> u64 {
    let mut local = [0u64; 8];
    for (i, v) in local.iter_mut().enumerate() {
        *v = seed.wrapping_mul(31).wrapping_add(i as u64 + depth as u64);
    }
    let up: &u64 = &parent[(depth % 8) as usize];
    let heap: Vec<u64> = local.iter().map(|v| v ^ 0xABCD).collect();
    let inner = if depth > 0 {
        deep(depth - 1, seed.wrapping_add(1), &local, yields)
    } else {
        0
    };
    if yields.below(3) == 0 {
        green::yield_now();
    }
    // Everything on this frame and the parent's must be intact.
    for (i, v) in local.iter().enumerate() {
        assert_eq!(
            *v,
            seed.wrapping_mul(31).wrapping_add(i as u64 + depth as u64)
        );
    }
    assert_eq!(*up, parent[(depth % 8) as usize]);
    for (h, v) in heap.iter().zip(local.iter()) {
        assert_eq!(*h, v ^ 0xABCD);
    }
    inner
        .wrapping_add(local.iter().sum::<u64>())
        .wrapping_add(*up)
}

fn expected(depth: u32, seed: u64, parent: &[u64; 8]) -> u64 {
    let mut local = [0u64; 8];
    for (i, v) in local.iter_mut().enumerate() {
        *v = seed.wrapping_mul(31).wrapping_add(i as u64 + depth as u64);
    }
    let up = parent[(depth % 8) as usize];
    let inner = if depth > 0 {
        expected(depth - 1, seed.wrapping_add(1), &local)
    } else {
        0
    };
    inner
        .wrapping_add(local.iter().sum::<u64>())
        .wrapping_add(up)
}

#[test]
fn ten_thousand_coroutines_share_four_regions_with_intact_frames() {
    let (ok, stats) = with_tiny_budget(4, || {
        let done = Rc::new(Cell::new(0usize));
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| {
                let done = done.clone();
                green::spawn(move || {
                    let mut rng = Rng(i * 7919 + 1);
                    let depth = 1 + rng.below(50) as u32;
                    let root = [i; 8];
                    for round in 0..3 {
                        let got = deep(depth, i + round, &root, &mut rng);
                        assert_eq!(got, expected(depth, i + round, &root));
                        green::yield_now();
                    }
                    done.set(done.get() + 1);
                })
            })
            .collect();
        for h in hs {
            h.join().expect("coroutine frames corrupted");
        }
        (done.get(), green::rt::stack_stats())
    });
    assert_eq!(ok, 10_000);
    assert_eq!(stats.regions_mapped, 4);
    assert!(
        stats.bytes_copied > 10_000 * 100,
        "copying really happened: {stats:?}"
    );
}

#[test]
fn sleeping_and_random_order_resumes_keep_frames() {
    let ok = with_tiny_budget(2, || {
        let hs: Vec<_> = (0..500u64)
            .map(|i| {
                green::spawn(move || {
                    let mut rng = Rng(i + 99);
                    let mut v: Vec<u64> = (0..64).map(|k| k * i).collect();
                    let arr = [i; 32];
                    let r = &arr[(i % 32) as usize];
                    for _ in 0..5 {
                        green::sleep(Duration::from_micros(rng.below(2000)));
                        assert_eq!(*r, i);
                        v.push(*r);
                    }
                    v.iter().sum::<u64>()
                })
            })
            .collect();
        hs.into_iter().enumerate().all(|(i, h)| {
            h.join().unwrap() == (0..64).map(|k| k * i as u64).sum::<u64>() + 5 * i as u64
        })
    });
    assert!(ok);
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn kill_panic_and_timeout_of_non_resident_coroutines_run_drops() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let results = with_tiny_budget(2, move || {
        let mk = |kind: u32, d: Arc<AtomicUsize>| {
            green::spawn(move || {
                let _c = Counted(d.clone());
                let pad = [kind as u8; 300];
                std::hint::black_box(&pad);
                match kind {
                    0 => green::sleep(Duration::from_secs(3600)),
                    1 => {
                        green::yield_now();
                        panic!("planned panic");
                    }
                    _ => {
                        let r = green::timeout(Duration::from_millis(5), || {
                            let _inner = Counted(d.clone());
                            green::sleep(Duration::from_secs(3600))
                        });
                        assert!(r.is_err());
                    }
                }
            })
        };
        let hs: Vec<_> = (0..60).map(|i| mk(i % 3, d.clone())).collect();
        // Let every coroutine park; with 2 regions most are non-resident.
        green::sleep(Duration::from_millis(20));
        let mut killed = 0;
        let mut panicked = 0;
        let mut ok = 0;
        for (i, h) in hs.into_iter().enumerate() {
            if i % 3 == 0 {
                h.kill();
            }
            match h.join() {
                Err(e) if e.is_killed() => killed += 1,
                Err(_) => panicked += 1,
                Ok(()) => ok += 1,
            }
        }
        (killed, panicked, ok)
    });
    assert_eq!(results, (20, 20, 20));
    // One guard per coroutine plus the inner guard of each timeout one.
    assert_eq!(drops.load(Ordering::SeqCst), 60 + 20);
}

#[test]
fn thread_exit_unwinds_parked_non_resident_coroutines() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    with_tiny_budget(2, move || {
        for _ in 0..50 {
            let d = d.clone();
            let h = green::spawn(move || {
                let _c = Counted(d);
                green::sleep(Duration::from_secs(3600));
            });
            drop(h);
        }
        green::yield_now(); // all started and parked
    });
    assert_eq!(
        drops.load(Ordering::SeqCst),
        50,
        "thread exit ran every coroutine's drops"
    );
}

#[test]
fn closures_holding_rc_state_survive_sharing() {
    let total = with_tiny_budget(3, || {
        let shared = Rc::new(RefCell::new(Vec::new()));
        let hs: Vec<_> = (0..300)
            .map(|i| {
                let s = shared.clone();
                green::spawn(move || {
                    let local: Vec<i32> = std::iter::repeat_n(i, 10).collect();
                    green::yield_now();
                    s.borrow_mut().push(local.iter().sum::<i32>());
                })
            })
            .collect();
        green::joinall(hs);
        let v = shared.borrow();
        v.iter().sum::<i32>()
    });
    assert_eq!(total, (0..300).map(|i| i * 10).sum::<i32>());
}
