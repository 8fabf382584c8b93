//! `spawn_later`: two timers are scheduled; the first is cancelled (killed)
//! before it fires and never runs, the second fires.
//!
//! ```text
//! scheduled timer 1 (200 ms) and timer 2 (100 ms)
//! cancelled timer 1
//! timer 2 fired
//! timer 1 cancelled: true
//! ```
use std::time::{Duration, Instant};

fn main() {
    let start = Instant::now();
    let t1 = green::spawn_later(Duration::from_millis(200), || {
        println!("timer 1 fired");
    });
    let t2 = green::spawn_later(Duration::from_millis(100), move || {
        println!("timer 2 fired");
        start.elapsed()
    });
    println!("scheduled timer 1 (200 ms) and timer 2 (100 ms)");

    green::sleep(Duration::from_millis(50));
    t1.kill();
    println!("cancelled timer 1");

    let fired_after = match t2.join() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("timer 2: {e}");
            std::process::exit(1);
        }
    };
    // Wait past timer 1's original time: it must stay silent.
    green::sleep(Duration::from_millis(200));
    let cancelled = matches!(t1.join(), Err(e) if e.is_killed());
    println!("timer 1 cancelled: {cancelled}");
    eprintln!("(timer 2 fired after {} ms)", fired_after.as_millis());
}
