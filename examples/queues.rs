//! The three queue orders: FIFO, LIFO and priority (smallest first, ties in
//! insertion order).
//!
//! ```text
//! Queue (FIFO): 1 2 3
//! LifoQueue: 3 2 1
//! PriorityQueue: (1, "urgent") (2, "normal a") (2, "normal b") (3, "later")
//! ```
use green::queue::{LifoQueue, PriorityQueue, Queue};

fn drain<T>(mut get: impl FnMut() -> Option<T>, show: impl Fn(T) -> String) -> String {
    std::iter::from_fn(|| get().map(&show))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let fifo = Queue::unbounded();
    let lifo = LifoQueue::unbounded();
    for i in 1..=3 {
        let _ = fifo.put(i);
        let _ = lifo.put(i);
    }
    println!(
        "Queue (FIFO): {}",
        drain(|| fifo.try_get(), |v| v.to_string())
    );
    println!("LifoQueue: {}", drain(|| lifo.try_get(), |v| v.to_string()));

    let prio = PriorityQueue::unbounded();
    for job in [
        (3, "later"),
        (2, "normal a"),
        (1, "urgent"),
        (2, "normal b"),
    ] {
        let _ = prio.put(job);
    }
    println!(
        "PriorityQueue: {}",
        drain(|| prio.try_get(), |v| format!("{v:?}"))
    );
}
