//! `Event::wait_timeout`: a client tries three times, 100 ms each, to reach
//! a server that needs 500 ms to start, then gives up.
//!
//! ```text
//! attempt 1 failed
//! attempt 2 failed
//! attempt 3 failed
//! server not up
//! server started
//! ```
use std::rc::Rc;
use std::time::Duration;

use green::sync::Event;

fn main() {
    let up = Rc::new(Event::new());

    let ev = up.clone();
    let server = green::spawn(move || {
        green::sleep(Duration::from_millis(500));
        ev.set();
        println!("server started");
    });

    let ev = up.clone();
    let client = green::spawn(move || {
        for attempt in 1..=3 {
            if ev.wait_timeout(Duration::from_millis(100)) {
                println!("attempt {attempt}: connected");
                return true;
            }
            println!("attempt {attempt} failed");
        }
        println!("server not up");
        false
    });

    let connected = client.join().unwrap_or(false);
    if server.join().is_err() {
        std::process::exit(1);
    }
    assert!(!connected);
}
