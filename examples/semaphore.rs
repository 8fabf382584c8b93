//! `Semaphore::new(5)` guards a pretend connection pool; 10 coroutines each
//! hold a connection for 100 ms. Never more than 5 are inside at once, so
//! the whole run takes about 200 ms.
//!
//! ```text
//! worker 0 got a connection (in use: 1)
//! ... (5 at a time)
//! worker 9 released it
//! max in use: 5
//! total: 20x ms
//! ```
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::sync::Semaphore;

fn main() {
    let sem = Rc::new(Semaphore::new(5));
    let in_use = Rc::new(Cell::new(0));
    let max = Rc::new(Cell::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..10)
        .map(|i| {
            let (sem, in_use, max) = (sem.clone(), in_use.clone(), max.clone());
            green::spawn(move || {
                let _conn = sem.acquire();
                in_use.set(in_use.get() + 1);
                max.set(max.get().max(in_use.get()));
                println!("worker {i} got a connection (in use: {})", in_use.get());
                green::sleep(Duration::from_millis(100));
                in_use.set(in_use.get() - 1);
                println!("worker {i} released it");
            })
        })
        .collect();
    for r in green::joinall(hs) {
        if let Err(e) = r {
            eprintln!("semaphore: {e}");
            std::process::exit(1);
        }
    }
    println!("max in use: {}", max.get());
    println!("total: {} ms", start.elapsed().as_millis());
}
