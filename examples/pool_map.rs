//! `Pool::new(3)` runs 10 jobs of varying length: `imap` yields results in
//! input order, `imap_unordered` in completion order, and never more than 3
//! jobs run at once.
//!
//! ```text
//! imap (input order): 0 1 2 3 4 5 6 7 8 9
//! imap_unordered (completion order): 2 3 4 0 1 5 6 7 8 9
//! max running at once: 3
//! ```
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use green::pool::Pool;

/// Chosen so consecutive completions are at least 25 ms apart: the
/// completion order is the same on every run, even on a busy machine.
const DELAYS_MS: [u64; 10] = [100, 150, 25, 25, 25, 125, 150, 200, 175, 150];

fn main() {
    let pool = Pool::new(3);
    let running = Rc::new(Cell::new(0));
    let max = Rc::new(Cell::new(0));

    let job = {
        let (running, max) = (running.clone(), max.clone());
        move |i: usize| {
            running.set(running.get() + 1);
            max.set(max.get().max(running.get()));
            green::sleep(Duration::from_millis(DELAYS_MS[i]));
            running.set(running.get() - 1);
            i
        }
    };

    let ordered: Vec<String> = pool
        .imap(job.clone(), 0..DELAYS_MS.len())
        .map(|r| r.map_or_else(|e| format!("err({e})"), |i| i.to_string()))
        .collect();
    println!("imap (input order): {}", ordered.join(" "));

    let unordered: Vec<String> = pool
        .imap_unordered(job, 0..DELAYS_MS.len())
        .map(|r| r.map_or_else(|e| format!("err({e})"), |i| i.to_string()))
        .collect();
    println!("imap_unordered (completion order): {}", unordered.join(" "));
    println!("max running at once: {}", max.get());
}
