//! A `Mutex` counter shared by 10 coroutines, each doing 1,000 increments
//! and 1,000 decrements with a yield *inside* the critical section: the
//! lock keeps every read-yield-write step whole, so the result is exactly 0.
//!
//! Without the lock, the same code with no yield between read and write is
//! also correct: coroutines are never preempted, so a step that does not
//! park cannot be interleaved. Only a park (yield, sleep, I/O) between read
//! and write needs the lock.
//!
//! ```text
//! with lock, yielding inside: 0
//! without lock, no yield inside: 0
//! ```
use std::cell::Cell;
use std::rc::Rc;

use green::sync::Mutex;

const WORKERS: usize = 10;
const ROUNDS: usize = 1_000;

fn locked() -> i64 {
    let counter = Rc::new(Mutex::new(0i64));
    let hs: Vec<_> = (0..WORKERS)
        .map(|_| {
            let c = counter.clone();
            green::spawn(move || {
                for _ in 0..ROUNDS {
                    for delta in [1, -1] {
                        let mut g = c.lock();
                        let v = *g;
                        green::yield_now(); // others run, but cannot enter
                        *g = v + delta;
                    }
                }
            })
        })
        .collect();
    for r in green::joinall(hs) {
        if let Err(e) = r {
            eprintln!("counter_lock: {e}");
            std::process::exit(1);
        }
    }
    let v = *counter.lock();
    v
}

fn unlocked() -> i64 {
    let counter = Rc::new(Cell::new(0i64));
    let hs: Vec<_> = (0..WORKERS)
        .map(|_| {
            let c = counter.clone();
            green::spawn(move || {
                for _ in 0..ROUNDS {
                    c.set(c.get() + 1);
                    green::yield_now(); // between steps, never inside one
                    c.set(c.get() - 1);
                }
            })
        })
        .collect();
    green::joinall(hs);
    counter.get()
}

fn main() {
    println!("with lock, yielding inside: {}", locked());
    println!("without lock, no yield inside: {}", unlocked());
}
