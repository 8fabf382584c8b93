//! `green::run_info()`: what every coroutine on this thread is doing.
//!
//! Starts coroutines that park on different things (a timer, a wait-list, a
//! join, an fd, another thread), one that has not started yet, and prints the
//! snapshot taken from inside a coroutine:
//!
//! ```text
//! green run-info: thread 'main', 7 coroutine(s), 6 switches
//!   #1 'sleeper' parked on timer (with deadline), last ran 0 ms ago, spawned at examples/run_info.rs:..
//!   #2 'waiter' parked on wait-list (queue, lock, event or join), last ran 0 ms ago, spawned at ..
//!   #3 'joiner' parked on wait-list (queue, lock, event or join), last ran 0 ms ago, spawned at ..
//!   #4 'reader' parked on fd 4, last ran 0 ms ago, spawned at ..
//!   #5 'offloaded' parked on another thread (blocking pool or channel), last ran 0 ms ago, spawned at ..
//!   #6 'reporter' running, spawned at ..
//!   #7 'late' ready, not started, spawned at ..
//! ```
//!
//! With `--signal` it also opts in to `run_info_on_signal(SIGUSR1)` and sends
//! itself that signal: the hub then prints the same kind of report on stderr
//! (in a real program: `kill -USR1 <pid>`).
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use green::wait_list::WaitList;
use green::Builder;

fn main() -> std::io::Result<()> {
    let signal = std::env::args().any(|a| a == "--signal");
    if signal {
        green::run_info_on_signal(libc::SIGUSR1)?;
    }

    let sleeper = Builder::new()
        .name("sleeper")
        .spawn(|| green::sleep(Duration::from_millis(300)))?;

    let list = Rc::new(WaitList::new());
    let l = list.clone();
    let waiter = Builder::new().name("waiter").spawn(move || l.wait(None))?;

    let sleeper_id = sleeper.id();
    let joiner = Builder::new()
        .name("joiner")
        .spawn(move || sleeper.join().is_ok())?;

    let (mut mine, theirs) = UnixStream::pair()?;
    mine.set_nonblocking(true)?;
    let reader = Builder::new().name("reader").spawn(move || {
        let mut b = [0u8; 16];
        loop {
            match mine.read(&mut b) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    green::rt::wait_fd(mine.as_raw_fd(), green::rt::Interest::Read, None)?
                }
                r => return r,
            }
        }
    })?;

    let (tx, rx) = mpsc::channel::<u32>();
    let offloaded = Builder::new()
        .name("offloaded")
        .spawn(move || green::spawn_blocking(move || rx.recv().ok()))?;

    // The reporter runs after all of the above have parked; it spawns one
    // more coroutine that will not have started when the snapshot is taken.
    let reporter = Builder::new().name("reporter").spawn(|| {
        let late = green::Builder::new().name("late").spawn(|| ());
        let info = green::run_info();
        println!("{info}");
        late.map(|h| h.join().is_ok()).unwrap_or(false)
    })?;
    assert!(reporter.join().unwrap_or(false));

    if signal {
        // SAFETY: raise(3) with a signal whose handler we installed above.
        unsafe { libc::raise(libc::SIGUSR1) };
        // Let the hub's loop run so it can print the requested report.
        green::sleep(Duration::from_millis(200));
    }

    // Wind everything down so each coroutine ends cleanly.
    tx.send(7).map_err(std::io::Error::other)?;
    drop(theirs); // the reader sees end-of-file
    list.notify_all();
    let _ = waiter.join();
    let _ = reader.join();
    let _ = offloaded.join();
    green::joinall([joiner])
        .into_iter()
        .for_each(|r| assert_eq!(r.ok(), Some(true)));
    println!("done: sleeper #{sleeper_id} and the rest finished");
    Ok(())
}
