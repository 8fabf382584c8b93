//! The gevent classic: two coroutines take turns, yielding with
//! `sleep(Duration::ZERO)` between lines.
//!
//! ```text
//! run func: f1, index: 0
//! run func: f2, index: 0
//! run func: f1, index: 1
//! run func: f2, index: 1
//! run func: f1, index: 2
//! run func: f2, index: 2
//! ```
use std::time::Duration;

fn f1() {
    for i in 0..3 {
        println!("run func: f1, index: {i}");
        green::sleep(Duration::ZERO);
    }
}

fn f2() {
    for i in 0..3 {
        println!("run func: f2, index: {i}");
        green::sleep(Duration::ZERO);
    }
}

fn main() {
    let t1 = green::spawn(f1);
    let t2 = green::spawn(f2);
    green::joinall([t1, t2]);
}
