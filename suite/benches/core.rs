//! Core runtime benchmarks, with peers measured in the same run:
//! spawn + join (each closure captures a counter it updates, as a user's
//! closure would: an `Rc` for green, an `Arc` for the peers, whose closures
//! must be `Send`), yield ping-pong (dedicated regions and shared regions with
//! copying), and the memory of a parked coroutine. Peers: `std::thread` and
//! `may` (1 worker, the single-threaded comparison).
//!
//! `cargo bench -p green-suite --bench core` prints criterion's numbers, then one ratio line
//! per peer from the medians of this run.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};

const SPAWN_BATCH: usize = 1000;
const YIELD_ROUNDS: usize = 10_000;

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    let count = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let shared = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    g.bench_function("green", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..SPAWN_BATCH)
                .map(|_| {
                    let c = count.clone();
                    green::spawn(move || c.set(c.get() + 1))
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
        })
    });
    g.bench_function("may", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..SPAWN_BATCH)
                .map(|_| {
                    let c = shared.clone();
                    // SAFETY: the closure uses no thread-local state, which
                    // is what may's unsafe spawn asks of its callers.
                    unsafe {
                        may::coroutine::spawn(move || {
                            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        })
                    }
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
        })
    });
    g.bench_function("std_thread", |b| {
        b.iter(|| {
            // Threads are ~1000x dearer; batch 10 so an iteration stays short,
            // and scale to the same per-iteration count below.
            let hs: Vec<_> = (0..SPAWN_BATCH / 100)
                .map(|_| {
                    let c = shared.clone();
                    std::thread::spawn(move || {
                        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
        })
    });
    g.finish();
    assert!(count.get() > 0 && shared.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

fn green_pingpong(rounds: usize) -> Duration {
    let a = green::spawn(move || {
        for _ in 0..rounds {
            green::yield_now();
        }
    });
    let b = green::spawn(move || {
        for _ in 0..rounds {
            green::yield_now();
        }
    });
    let t = Instant::now();
    let _ = a.join();
    let _ = b.join();
    t.elapsed()
}

fn yields(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    g.bench_function("green", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| green_pingpong(YIELD_ROUNDS)).sum())
    });
    g.bench_function("green_shared_region", |b| {
        // Both coroutines home in one region: every switch copies stacks.
        b.iter_custom(|iters| {
            std::thread::spawn(move || {
                green::Runtime::new()
                    .max_regions(1)
                    .run(|| (0..iters).map(|_| green_pingpong(YIELD_ROUNDS)).sum())
                    .unwrap_or_default()
            })
            .join()
            .unwrap_or_default()
        })
    });
    g.bench_function("may", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // SAFETY: no thread-locals are used by these closures.
                let (a, bb) = unsafe {
                    (
                        may::coroutine::spawn(move || {
                            for _ in 0..YIELD_ROUNDS {
                                may::coroutine::yield_now();
                            }
                        }),
                        may::coroutine::spawn(move || {
                            for _ in 0..YIELD_ROUNDS {
                                may::coroutine::yield_now();
                            }
                        }),
                    )
                };
                let t = Instant::now();
                let _ = a.join();
                let _ = bb.join();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// `n` coroutines parked on one wait-list, until [`Parked::release`].
struct Parked {
    gate: std::rc::Rc<green::wait_list::WaitList>,
    hs: Vec<green::JoinHandle<()>>,
}

impl Parked {
    /// Spawn `n` coroutines and let them all park on the gate.
    fn new(n: usize) -> Self {
        let gate = std::rc::Rc::new(green::wait_list::WaitList::new());
        let hs = (0..n)
            .map(|_| {
                let g = gate.clone();
                green::spawn(move || {
                    g.wait(None);
                })
            })
            .collect();
        green::yield_now();
        Parked { gate, hs }
    }

    /// Wake them all and join them.
    fn release(self) {
        self.gate.notify_all();
        for h in self.hs {
            let _ = h.join();
        }
    }
}

fn parked(c: &mut Criterion) {
    let mut g = c.benchmark_group("park_10k");
    g.sample_size(10);
    const N: usize = 10_000;
    g.bench_function(BenchmarkId::new("green", N), |b| {
        b.iter(|| {
            let parked = Parked::new(N);
            parked.release();
        })
    });
    g.finish();
}

/// Bytes per parked coroutine, from RSS growth while `n` are parked.
fn memory_report() {
    const N: usize = 100_000;
    let before = common::rss_bytes();
    let parked = Parked::new(N);
    let during = common::rss_bytes();
    parked.release();
    println!(
        "memory: green {:.0} B per parked coroutine ({N} parked, RSS growth)",
        during.saturating_sub(before) as f64 / N as f64
    );
    // may: each coroutine owns a stack mapping; stay under the map limit.
    const M: usize = 10_000;
    let before = common::rss_bytes();
    let hs: Vec<_> = (0..M)
        .map(|_| {
            // SAFETY: no thread-locals are used by this closure.
            unsafe { may::coroutine::spawn(may::coroutine::park) }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let during = common::rss_bytes();
    for h in &hs {
        h.coroutine().unpark();
    }
    for h in hs {
        let _ = h.join();
    }
    println!(
        "memory: may {:.0} B per parked coroutine ({M} parked, RSS growth)",
        during.saturating_sub(before) as f64 / M as f64
    );
}

fn main() {
    may::config().set_workers(1);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    spawn_join(&mut c);
    yields(&mut c);
    parked(&mut c);
    c.final_summary();
    println!();
    println!("== ratios (medians of this run) ==");
    common::report("spawn_join", SPAWN_BATCH as f64, "green", &["may"]);
    if let (Some(g), Some(t)) = (
        common::median_ns("spawn_join", "green"),
        common::median_ns("spawn_join", "std_thread"),
    ) {
        let per_thread = t / (SPAWN_BATCH / 100) as f64;
        let per_green = g / SPAWN_BATCH as f64;
        println!(
            "spawn_join:   std_thread {per_thread:.0} ns/op -> green is {:.0}x faster",
            per_thread / per_green
        );
    }
    // Each ping-pong round is two switches.
    common::report("yield", (2 * YIELD_ROUNDS) as f64, "green", &["may"]);
    if let (Some(g), Some(s)) = (
        common::median_ns("yield", "green"),
        common::median_ns("yield", "green_shared_region"),
    ) {
        println!(
            "yield: green with copying {:.1} ns/switch ({:.2}x the dedicated-region cost)",
            s / (2 * YIELD_ROUNDS) as f64,
            s / g
        );
    }
    memory_report();
}
