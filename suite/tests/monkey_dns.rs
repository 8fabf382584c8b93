//! `getaddrinfo` under `patch_all` runs on the blocking pool: the thread
//! stays free while a lookup waits, and a kill while waiting comes back as
//! `EAI_SYSTEM` with errno `ECANCELED` (std: an io error with that code).
//! Own binary: it sizes the process-wide pool to one thread to make the
//! lookup wait.

mod common;
mod monkey_support;

use std::cell::{Cell, RefCell};
use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

use common::hang::watchdog;

#[test]
fn lookups_wait_on_the_pool_and_a_kill_there_is_ecanceled() {
    // Before anything starts the pool (this is the binary's only test).
    std::env::set_var("GREEN_BLOCKING_THREADS", "1");
    watchdog(60, || {
        green::monkey::patch_all();
        // Occupy the only pool thread for 400 ms: the lookup queues behind.
        let busy = green::spawn(|| {
            green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(400)))
        });
        let seen = Rc::new(RefCell::new(None));
        let s2 = seen.clone();
        let victim = green::spawn(move || {
            let r = ("localhost", 80).to_socket_addrs();
            *s2.borrow_mut() = Some(r.err().and_then(|e| e.raw_os_error()));
            green::sleep(Duration::ZERO); // the kill unwinds here
        });
        // The thread is free meanwhile.
        let ticks = Rc::new(Cell::new(0));
        let t2 = ticks.clone();
        let ticker = green::spawn(move || {
            for _ in 0..10 {
                green::sleep(Duration::from_millis(5));
                t2.set(t2.get() + 1);
            }
        });
        ticker.join().unwrap();
        assert_eq!(ticks.get(), 10);
        assert!(!victim.is_finished(), "the lookup should still be queued");
        victim.kill();
        assert!(matches!(victim.join(), Err(green::JoinError::Killed)));
        assert_eq!(*seen.borrow(), Some(Some(libc::ECANCELED)));
        busy.join().unwrap();
        // The pool is free again: a lookup completes.
        let n = green::spawn(|| ("localhost", 80).to_socket_addrs().map(|a| a.count()))
            .join()
            .unwrap()
            .unwrap();
        assert!(n > 0);
    });
}
