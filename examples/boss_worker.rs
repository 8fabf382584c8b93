//! `Event`: the boss waits until the worker has made 10 cups.
//!
//! ```text
//! I'm boss, waiting for U
//! make 1 cup
//! ... (10 lines)
//! Good Job.
//! ```
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use green::sync::Event;

fn main() {
    let done = Rc::new(Event::new());
    let cups = Rc::new(Cell::new(0));

    let ev = done.clone();
    let boss = green::spawn(move || {
        println!("I'm boss, waiting for U");
        ev.wait();
        println!("Good Job.");
    });

    let (ev, count) = (done.clone(), cups.clone());
    let worker = green::spawn(move || loop {
        green::sleep(Duration::from_millis(50));
        println!("make 1 cup");
        count.set(count.get() + 1);
        if count.get() == 10 {
            ev.set();
            break;
        }
    });

    for r in green::joinall([boss, worker]) {
        if let Err(e) = r {
            eprintln!("boss_worker: {e}");
            std::process::exit(1);
        }
    }
}
