//! A million coroutines on a stock kernel: the workloads W2–W4 of
//! docs/peers.md, each in a fresh child process so peak RSS does not mix.
//!
//! ```text
//! cargo run --release --example million            # all workloads, 1M each
//! cargo run --release --example million -- 100000  # smaller N
//! million --child breakdown 1000000                # where a parked coroutine's bytes go
//! ```
//! Prints a table of time, ns/op, CPU ns/op (the thread's own run time, which
//! excludes waiting for a CPU on a shared machine) and peak RSS (VmHWM) per
//! workload.
//!
//! The closures are a user's typical ones, not `|| ()`: in W2 each captures
//! an `Rc` clone it updates; in W3 alive each captures two `Rc` clones,
//! updates one, yields once, then updates the other. Each workload checks
//! the counts afterwards, so a skipped coroutine shows as a failure.
use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A `/proc/self/status` field in KiB (`VmHWM:`, `VmRSS:`, `VmPTE:`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`): on
/// a machine shared with other work, wall time includes waiting for a CPU,
/// CPU time does not.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Where a W3 coroutine's bytes go: RSS and page-table growth per
/// coroutine once `n` are spawned (not started) and once all have run and
/// yielded once (parked in the ready queue), and the saved stack bytes of
/// one parked in a shared region (from the copy counter: each coroutine
/// past the dedicated regions is saved exactly once by then).
fn breakdown(n: usize) {
    let (rss0, pte0) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
    let before = Rc::new(Cell::new(0usize));
    let after = Rc::new(Cell::new(0usize));
    let hs = spawn_alive(n, &before, &after);
    let (rss1, pte1) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
    let s0 = green::rt::stack_stats();
    // The root goes to the back of the queue: when it runs again, every
    // coroutine has run once and is parked in the queue behind it.
    green::yield_now();
    let (rss2, pte2) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
    let s1 = green::rt::stack_stats();
    check("breakdown", before.get() + after.get(), n);
    for h in hs {
        let _ = h.join();
    }
    check("breakdown", after.get(), n);
    let per = |kib: u64| kib as f64 * 1024.0 / n as f64;
    let shared = n.saturating_sub(s1.regions_mapped).max(1);
    println!(
        "{n} coroutines: spawned, not started: {:.0} B each of RSS ({:.1} B page tables); \
         all parked after one yield: {:.0} B each ({:.1} B page tables); \
         saved stack of one parked in a shared region: {:.0} B; {} dedicated regions",
        per(rss1 - rss0),
        per(pte1.saturating_sub(pte0)),
        per(rss2 - rss0),
        per(pte2.saturating_sub(pte0)),
        (s1.bytes_copied - s0.bytes_copied) as f64 / shared as f64,
        s1.regions_mapped,
    );
}

/// Exit with an error if a workload's coroutines did not all run.
fn check(workload: &str, got: usize, want: usize) {
    if got != want {
        eprintln!("{workload}: counted {got}, expected {want}");
        std::process::exit(1);
    }
}

/// Runs one workload in this process; returns (elapsed, operations).
fn run(workload: &str, n: usize) -> (Duration, usize) {
    match workload {
        "spawn_join" => {
            let count = Rc::new(Cell::new(0usize));
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let c = count.clone();
                    green::spawn(move || c.set(c.get() + 1))
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
            let d = t.elapsed();
            check("spawn_join", count.get(), n);
            (d, n)
        }
        "alive" => {
            let before = Rc::new(Cell::new(0usize));
            let after = Rc::new(Cell::new(0usize));
            let t = Instant::now();
            let hs = spawn_alive(n, &before, &after);
            for h in hs {
                let _ = h.join();
            }
            let d = t.elapsed();
            check("alive", before.get() + after.get(), 2 * n);
            (d, n)
        }
        "sleeping" => {
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| green::spawn(|| green::sleep(Duration::from_secs(1))))
                .collect();
            for h in hs {
                let _ = h.join();
            }
            (t.elapsed(), n)
        }
        "yield" => {
            let rounds = n.max(1000);
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
            (t.elapsed(), rounds * 2)
        }
        other => {
            eprintln!("unknown workload {other}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 4 && args[1] == "--child" {
        let n: usize = args[3].parse().unwrap_or(1_000_000);
        if args[2] == "breakdown" {
            breakdown(n);
            return;
        }
        let cpu0 = cpu_ns();
        let (d, ops) = run(&args[2], n);
        let cpu = cpu_ns().saturating_sub(cpu0);
        println!("{} {} {} {}", d.as_nanos(), ops, peak_rss_kib(), cpu);
        return;
    }
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find own executable: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{:<34} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "workload", "n", "time", "ns/op", "CPU ns/op", "peak RSS"
    );
    let rows = [
        ("spawn_join", "W2 spawn + join"),
        ("alive", "W3 all alive (each yields once)"),
        ("sleeping", "W3 all sleeping 1 s"),
        ("yield", "W4 yield ping-pong (per switch)"),
    ];
    for (w, label) in rows {
        let out = Command::new(&exe)
            .args(["--child", w, &n.to_string()])
            .output();
        let out = match out {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                println!(
                    "{label:<34} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                continue;
            }
            Err(e) => {
                println!("{label:<34} could not start: {e}");
                continue;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<u64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() != 4 {
            println!("{label:<34} bad child output: {text}");
            continue;
        }
        let (ns, ops, kib, cpu) = (f[0], f[1], f[2], f[3]);
        println!(
            "{:<34} {:>10} {:>8.3} s {:>12.1} {:>12.1} {:>7} MiB",
            label,
            ops,
            ns as f64 / 1e9,
            ns as f64 / ops as f64,
            cpu as f64 / ops as f64,
            kib / 1024
        );
    }
}

/// W3 alive's coroutines (also measured by the breakdown): each captures two
/// `Rc` clones, counts itself in `before`, yields once, then counts itself
/// in `after`.
fn spawn_alive(
    n: usize,
    before: &Rc<Cell<usize>>,
    after: &Rc<Cell<usize>>,
) -> Vec<green::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (b, a) = (before.clone(), after.clone());
            green::spawn(move || {
                b.set(b.get() + 1);
                green::yield_now();
                a.set(a.get() + 1);
            })
        })
        .collect()
}
