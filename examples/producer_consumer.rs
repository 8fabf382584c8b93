//! A bounded `Queue` between a cook and an eater: the cook puts 4 dishes
//! with random (seeded) delays; the eater takes each as soon as it is ready.
//!
//! ```text
//! cooked dish 1
//! ate dish 1
//! cooked dish 2
//! ...
//! ```
use std::rc::Rc;
use std::time::Duration;

use green::queue::Queue;

/// A tiny deterministic generator (xorshift64), so every run prints the
/// same thing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let table = Rc::new(Queue::bounded(2));

    let t = table.clone();
    let cook = green::spawn(move || {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for dish in 1..=4 {
            green::sleep(Duration::from_millis(10 + rng.next() % 50));
            println!("cooked dish {dish}");
            if t.put(dish).is_err() {
                return;
            }
        }
        t.close(); // no more dishes: the eater's get returns None
    });

    let t = table.clone();
    let eater = green::spawn(move || {
        while let Some(dish) = t.get() {
            println!("ate dish {dish}");
        }
        println!("all eaten");
    });

    for r in green::joinall([cook, eater]) {
        if let Err(e) = r {
            eprintln!("producer_consumer: {e}");
            std::process::exit(1);
        }
    }
}
