//! `patch_all()`, then plain `std::thread::sleep(100 ms)` in 100 coroutines:
//! they sleep at the same time, so the whole run takes about 100 ms, not 10 s.
//!
//! ```text
//! 100 coroutines each called std::thread::sleep(100 ms)
//! all 100 finished
//! total: ~100 ms (sequential would be 10000 ms)
//! ```
use std::time::{Duration, Instant};

fn main() {
    green::monkey::patch_all();
    let start = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            green::spawn(move || {
                // Unmodified blocking code: no green API in here.
                std::thread::sleep(Duration::from_millis(100));
                i
            })
        })
        .collect();
    let done = green::joinall(handles)
        .into_iter()
        .filter(|r| r.is_ok())
        .count();
    let ms = start.elapsed().as_millis();
    println!("100 coroutines each called std::thread::sleep(100 ms)");
    println!("all {done} finished");
    println!("total: {ms} ms (sequential would be 10000 ms)");
}
