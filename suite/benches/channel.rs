//! Channel hand-off ping-pong: green's `Channel` between two coroutines,
//! against `std::sync::mpsc` between two OS threads, in the same run.
//!
//! One iteration = one hand-off (a message moving from one side to the
//! other). After criterion, a small table of medians (7 runs of 200k
//! hand-offs each) with the ratio. Goal: ≤ 40 ns per green hand-off (Go's
//! unbuffered channel: ~105 ns on this kind of machine).
//!
//! `cargo bench -p green-suite --bench channel`

mod common;

use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};
use green::queue::{Channel, Queue};

/// A two-way hand-off primitive the ping-pong benches run over.
trait HandOff: 'static {
    /// Hand `v` over; false when the other side is gone.
    fn give(&self, v: u64) -> bool;
    /// Take the next value; `None` when the other side is gone.
    fn take(&self) -> Option<u64>;
}

impl HandOff for Channel<u64> {
    fn give(&self, v: u64) -> bool {
        self.send(v).is_ok()
    }
    fn take(&self) -> Option<u64> {
        self.recv()
    }
}

impl HandOff for Queue<u64> {
    fn give(&self, v: u64) -> bool {
        self.put(v).is_ok()
    }
    fn take(&self) -> Option<u64> {
        self.get()
    }
}

/// `n` hand-offs between two coroutines, there over `a` and back over `b`.
fn ping_pong<C: HandOff>(a: C, b: C, n: u64) -> Duration {
    let (a, b) = (Rc::new(a), Rc::new(b));
    let (a2, b2) = (a.clone(), b.clone());
    let rounds = n / 2;
    let pong = green::spawn(move || {
        for _ in 0..rounds {
            let Some(v) = a2.take() else { return };
            if !b2.give(v) {
                return;
            }
        }
    });
    let ping = green::spawn(move || {
        let t = Instant::now();
        for i in 0..rounds {
            if !a.give(black_box(i)) {
                break;
            }
            black_box(b.take());
        }
        t.elapsed()
    });
    let d = ping.join().unwrap_or_default();
    let _ = pong.join();
    d
}

/// `n` hand-offs between two coroutines over two rendezvous channels.
fn green_channel(n: u64) -> Duration {
    ping_pong(Channel::new(), Channel::new(), n)
}

/// `n` hand-offs between two coroutines over two unbounded queues.
fn green_queue(n: u64) -> Duration {
    ping_pong(Queue::unbounded(), Queue::unbounded(), n)
}

/// The floor under any hand-off: two coroutines waking each other with
/// the raw `rt::park` / `Unparker` pair (one park, one wake, one switch per
/// hand-off, no primitive around it).
fn green_park_floor(n: u64) -> Duration {
    use std::cell::RefCell;
    let slot: Rc<RefCell<Option<green::rt::Unparker>>> = Rc::new(RefCell::new(None));
    let side = move |slot: Rc<RefCell<Option<green::rt::Unparker>>>, rounds: u64| {
        move || {
            let t = Instant::now();
            for i in 0..rounds {
                let me = green::rt::unparker();
                let other = slot.borrow_mut().replace(me);
                if let Some(o) = other {
                    o.unpark();
                }
                if i + 1 < rounds {
                    green::rt::park(None, green::rt::ParkedOn::WaitList);
                }
            }
            t.elapsed()
        }
    };
    let a = green::spawn(side(slot.clone(), n / 2));
    let b = green::spawn(side(slot, n / 2));
    let _ = a.join();
    b.join().unwrap_or_default()
}

/// `n` hand-offs between two OS threads over two `std::sync::mpsc`
/// channels.
fn std_mpsc_threads(n: u64) -> Duration {
    let (to_pong, from_ping) = mpsc::channel::<u64>();
    let (to_ping, from_pong) = mpsc::channel::<u64>();
    let rounds = n / 2;
    let pong = std::thread::spawn(move || {
        for _ in 0..rounds {
            let Ok(v) = from_ping.recv() else { return };
            if to_ping.send(v).is_err() {
                return;
            }
        }
    });
    let t = Instant::now();
    for i in 0..rounds {
        if to_pong.send(black_box(i)).is_err() {
            break;
        }
        let _ = black_box(from_pong.recv());
    }
    let d = t.elapsed();
    let _ = pong.join();
    d
}

fn median_ns(f: fn(u64) -> Duration, n: u64) -> f64 {
    common::median((0..7).map(|_| f(n).as_nanos() as f64 / n as f64).collect())
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("handoff");
        g.bench_function("green_channel", |b| b.iter_custom(green_channel));
        g.bench_function("green_queue", |b| b.iter_custom(green_queue));
        g.bench_function("green_park_floor", |b| b.iter_custom(green_park_floor));
        g.bench_function("std_mpsc_threads", |b| b.iter_custom(std_mpsc_threads));
        g.finish();
    }
    c.final_summary();

    const N: u64 = 200_000;
    let ch = median_ns(green_channel, N);
    let q = median_ns(green_queue, N);
    let floor = median_ns(green_park_floor, N);
    let th = median_ns(std_mpsc_threads, N);
    println!();
    println!("hand-off ping-pong, median of 7 x {N} hand-offs (ns per hand-off)");
    println!("  green Channel (coroutines)      {ch:8.1}");
    println!("  green Queue   (coroutines)      {q:8.1}");
    println!("  hub floor: rt::park/Unparker    {floor:8.1}");
    println!("  std mpsc      (two OS threads)  {th:8.1}");
    println!("  std mpsc / green Channel        {:8.1}x", th / ch);
    println!("  goal <= 40 ns (Go unbuffered chan ~105 ns)");
}
