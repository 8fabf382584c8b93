//! The root is a greenlet (C84): after `patch_all`, unmodified blocking
//! calls made on a thread's root context (`main`, outside any coroutine)
//! while its hub has coroutines, or inside a `green::timeout` on the root,
//! park the root and run the hub inline, as `green::sleep` there does.
//! Threads without a hub, a root whose hub has nothing to run, and the
//! blocking pool's threads pass straight through (C38).
//!
//! Each test runs on its own thread (`watchdog`), whose root is the one
//! under test. Patched process-wide, so its own test binary.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;

fn patched() {
    green::monkey::patch_all();
}

/// A coroutine that records the time of each 10 ms tick until stopped.
struct Ticker {
    stop: Rc<Cell<bool>>,
    ticks: Rc<RefCell<Vec<Instant>>>,
    h: green::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Ticker {
        let stop = Rc::new(Cell::new(false));
        let ticks = Rc::new(RefCell::new(Vec::new()));
        let (s, t) = (stop.clone(), ticks.clone());
        let h = green::spawn(move || {
            while !s.get() {
                green::sleep(Duration::from_millis(10));
                t.borrow_mut().push(Instant::now());
            }
        });
        Ticker { stop, ticks, h }
    }

    /// Stop, and return how many ticks fell inside `from..to`.
    fn stop_and_count(self, from: Instant, to: Instant) -> usize {
        self.stop.set(true);
        self.h.join().expect("ticker");
        let n = self
            .ticks
            .borrow()
            .iter()
            .filter(|&&t| t > from && t < to)
            .count();
        n
    }
}

// C84
#[test]
fn c84_a_coroutine_spawned_before_main_sleeps_runs_during_that_sleep() {
    watchdog(30, || {
        patched();
        let ran_at = Rc::new(Cell::new(None));
        let r = ran_at.clone();
        let h = green::spawn(move || r.set(Some(Instant::now())));
        let ticker = Ticker::start();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        let t1 = Instant::now();
        assert!(t1 - t0 >= Duration::from_millis(200), "slept too little");
        let ran = ran_at.get().expect("the coroutine ran during the sleep");
        assert!(ran > t0 && ran < t1, "it ran outside the sleep");
        h.join().expect("coroutine");
        let n = ticker.stop_and_count(t0, t1);
        assert!(n >= 5, "only {n} ticks of 10 ms during a 200 ms sleep");
    });
}

// C84
#[test]
fn c84_timeout_around_std_sleep_on_the_root_fires_without_any_coroutine() {
    watchdog(30, || {
        patched();
        let t = Instant::now();
        let r = green::timeout(Duration::from_millis(30), || {
            std::thread::sleep(Duration::from_millis(300))
        });
        let took = t.elapsed();
        assert_eq!(r, Err(green::Elapsed));
        assert!(
            took >= Duration::from_millis(30) && took < Duration::from_millis(250),
            "{took:?}"
        );
        // And with coroutines alive.
        let ticker = Ticker::start();
        let t = Instant::now();
        let r = green::timeout(Duration::from_millis(30), || {
            std::thread::sleep(Duration::from_millis(300))
        });
        let took = t.elapsed();
        ticker.stop_and_count(t, Instant::now());
        assert_eq!(r, Err(green::Elapsed));
        assert!(took < Duration::from_millis(250), "{took:?}");
    });
}

// C84
#[test]
fn c84_a_std_net_read_on_the_root_lets_the_coroutine_serving_it_run() {
    watchdog(30, || {
        patched();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        // The server is a coroutine of this very thread: if the root's
        // read blocked the thread, it could never answer.
        let server = green::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut b = [0u8; 4];
            s.read_exact(&mut b).expect("server read");
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(b"pong").expect("server write");
        });
        let ticker = Ticker::start();
        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).expect("connect");
        c.write_all(b"ping").expect("write");
        let mut b = [0u8; 4];
        c.read_exact(&mut b).expect("read");
        let t1 = Instant::now();
        assert_eq!(&b, b"pong");
        server.join().expect("server");
        let n = ticker.stop_and_count(t0, t1);
        assert!(n >= 3, "only {n} ticks while the root waited ~100 ms");
    });
}

// C84
#[test]
fn c84_a_root_read_under_timeout_fails_with_etimedout_and_reports_elapsed() {
    watchdog(30, || {
        patched();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (_peer, _) = l.accept().expect("accept");
        let seen = Rc::new(Cell::new(None));
        let s2 = seen.clone();
        let t = Instant::now();
        let r = green::timeout(Duration::from_millis(50), move || {
            let e = c.read(&mut [0u8; 8]).map_err(|e| e.raw_os_error());
            s2.set(Some(e));
            e
        });
        assert_eq!(r, Err(green::Elapsed));
        assert_eq!(seen.get(), Some(Err(Some(libc::ETIMEDOUT))));
        assert!(t.elapsed() < Duration::from_secs(2));
    });
}

// C84
#[test]
fn c84_a_child_wait_and_a_name_lookup_on_the_root_run_the_hub_meanwhile() {
    watchdog(30, || {
        patched();
        let ticker = Ticker::start();
        let t0 = Instant::now();
        // Parked on the child's pidfd: the ticker runs while it sleeps.
        let st = std::process::Command::new("sh")
            .args(["-c", "sleep 0.2; exit 3"])
            .status()
            .expect("status");
        let t1 = Instant::now();
        assert_eq!(st.code(), Some(3));
        // On the blocking pool, woken from there (a cross-thread wake).
        let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80))
            .expect("resolve localhost")
            .collect();
        assert!(!addrs.is_empty());
        let n = ticker.stop_and_count(t0, t1);
        assert!(
            n >= 5,
            "only {n} ticks while the root waited 200 ms for its child"
        );
    });
}

// C84
#[test]
fn c84_a_root_waiting_in_a_hook_while_every_coroutine_waits_for_ever_is_no_deadlock() {
    watchdog(30, || {
        patched();
        let ev = Rc::new(green::sync::Event::new());
        let e = ev.clone();
        let waiter = green::spawn(move || e.wait());
        green::yield_now(); // it parks on the event: nothing can wake it
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        assert!(t.elapsed() >= Duration::from_millis(50));
        // poll with no fds: a sleep too.
        // SAFETY: no fds, a plain timeout.
        let r = unsafe { libc::poll(std::ptr::null_mut(), 0, 30) };
        assert_eq!(r, 0);
        ev.set();
        waiter.join().expect("waiter");
    });
}

// C84
#[test]
fn c84_cooperative_is_true_exactly_where_the_root_may_run_its_hub() {
    watchdog(30, || {
        patched();
        assert!(!green::rt::cooperative(), "no hub yet");
        let h = green::spawn(green::rt::cooperative);
        assert!(green::rt::cooperative(), "a coroutine lives");
        assert!(h.join().expect("coroutine"), "inside a coroutine");
        assert!(!green::rt::cooperative(), "the hub has nothing to run");
        let inside = green::timeout(Duration::from_secs(5), green::rt::cooperative);
        assert_eq!(
            inside,
            Ok(true),
            "a timeout around the root is a deadline to keep"
        );
        assert!(!green::rt::cooperative());
        let later = green::spawn_later(Duration::from_secs(60), || ());
        assert!(green::rt::cooperative(), "a coroutine waits to start");
        later.kill();
        assert!(!green::rt::cooperative());
    });
}

// C84, C38
#[test]
fn c84_plain_threads_and_the_blocking_pool_pass_through_and_make_no_hub() {
    watchdog(30, || {
        patched();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        // Coroutines live on this thread; the other threads are unaffected.
        let ticker = Ticker::start();
        let plain = std::thread::spawn(move || {
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(30));
            let slept = t.elapsed();
            let mut c = TcpStream::connect(addr).expect("connect");
            c.set_read_timeout(Some(Duration::from_millis(30)))
                .expect("timeout");
            let kind = c.read(&mut [0u8; 4]).map_err(|e| e.kind());
            // None of that made a hub: a runtime may still start here.
            let fresh = green::Runtime::new().run(|| 7);
            (slept, kind, fresh.ok())
        });
        let (_peer, _) = l.accept().expect("accept");
        let (slept, kind, fresh) = plain.join().expect("plain thread");
        assert!(slept >= Duration::from_millis(30));
        assert_eq!(kind, Err(ErrorKind::WouldBlock));
        assert_eq!(fresh, Some(7));
        let pooled = green::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(10));
            green::Runtime::new().run(|| 8).ok()
        });
        assert_eq!(pooled, Some(8));
        ticker.stop_and_count(Instant::now(), Instant::now());
    });
}
