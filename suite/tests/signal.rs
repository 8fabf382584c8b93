//! `green::signal`: waiting for signals in coroutines and on the root,
//! handlers that run in coroutines, several hubs on one signal, the
//! previous action put back, cancellation, bad signals; and the
//! `graceful_shutdown` example stopped by a real `SIGINT`.
//!
//! Signals are process-wide, so the tests here take one lock each and run
//! one at a time.

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use green::signal::{self, Signal};

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Send `sig` to this process (any thread may take it).
fn send(sig: libc::c_int) {
    // SAFETY: kill on our own pid with a signal that has a handler.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(rc, 0);
}

/// The handler address installed for `sig` now.
fn action_of(sig: libc::c_int) -> libc::sighandler_t {
    // SAFETY: all-zero is a valid sigaction to fill; a null new action only
    // queries.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut cur), 0);
        cur.sa_sigaction
    }
}

#[test]
fn a_coroutine_waits_for_a_signal_while_its_siblings_run() {
    let _g = one_at_a_time();
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = green::spawn(move || loop {
        green::sleep(Duration::from_millis(5));
        t.set(t.get() + 1);
    });
    let waiter = green::spawn(|| signal::wait(libc::SIGUSR1));
    green::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished(), "woke without a signal");
    send(libc::SIGUSR1);
    assert!(waiter.join_timeout(Duration::from_secs(5)), "never woke");
    waiter.join().expect("joined").expect("wait");
    assert!(
        ticks.get() >= 3,
        "the hub kept running: {} ticks",
        ticks.get()
    );
    ticker.kill();
}

#[test]
fn the_root_waits_for_a_signal_sent_from_another_thread() {
    let _g = one_at_a_time();
    let sub = Signal::new(libc::SIGUSR2).expect("subscribe");
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        send(libc::SIGUSR2);
    });
    let t = Instant::now();
    assert!(sub.recv_timeout(Duration::from_secs(5)), "no signal");
    assert!(t.elapsed() >= Duration::from_millis(40));
    sender.join().expect("sender");
    assert!(!sub.try_recv(), "one delivery, received once");
}

#[test]
fn the_root_blocks_on_a_signal_with_nothing_else_to_run_and_is_no_deadlock() {
    let _g = one_at_a_time();
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        send(libc::SIGUSR2);
    });
    // No coroutine, no timer: only the signal can end this wait, and it
    // comes from another thread; that must not be called a deadlock.
    signal::wait(libc::SIGUSR2).expect("wait");
    sender.join().expect("sender");
}

#[test]
fn a_handler_runs_in_a_coroutine_for_every_delivery() {
    let _g = one_at_a_time();
    let runs = Rc::new(Cell::new(0u32));
    let r = runs.clone();
    let h = signal::handler(libc::SIGUSR1, move || {
        assert!(green::current().is_some(), "in a coroutine");
        green::sleep(Duration::from_millis(1)); // may park like any coroutine
        r.set(r.get() + 1);
    })
    .expect("handler");
    for want in 1..=3 {
        send(libc::SIGUSR1);
        let t = Instant::now();
        while runs.get() < want {
            assert!(t.elapsed() < Duration::from_secs(5), "run {want} missing");
            green::sleep(Duration::from_millis(2));
        }
    }
    h.kill();
    assert_eq!(action_of(libc::SIGUSR1), libc::SIG_DFL, "default put back");
}

#[test]
fn every_hub_waiting_for_a_signal_gets_it() {
    let _g = one_at_a_time();
    const HUBS: usize = 4;
    let ready = Arc::new(Barrier::new(HUBS + 1));
    let threads: Vec<_> = (0..HUBS)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                let sub = Signal::new(libc::SIGUSR2).expect("subscribe");
                ready.wait();
                let h = green::spawn(move || sub.recv_timeout(Duration::from_secs(5)));
                h.join().expect("joined")
            })
        })
        .collect();
    ready.wait();
    send(libc::SIGUSR2);
    for t in threads {
        assert!(t.join().expect("hub thread"), "a hub missed the signal");
    }
}

#[test]
fn the_previous_action_comes_back_with_the_last_subscription() {
    let _g = one_at_a_time();
    // SAFETY: SIG_IGN is a valid disposition for SIGUSR1.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };
    let a = Signal::new(libc::SIGUSR1).expect("a");
    let b = Signal::new(libc::SIGUSR1).expect("b");
    assert_ne!(
        action_of(libc::SIGUSR1),
        libc::SIG_IGN,
        "ours while subscribed"
    );
    drop(a);
    assert_ne!(action_of(libc::SIGUSR1), libc::SIG_IGN, "b still listens");
    send(libc::SIGUSR1);
    assert!(b.recv_timeout(Duration::from_secs(5)));
    drop(b);
    assert_eq!(
        action_of(libc::SIGUSR1),
        libc::SIG_IGN,
        "the ignore is back"
    );
    send(libc::SIGUSR1); // ignored, as before: the process lives on
                         // SAFETY: back to the default for the other tests.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
}

#[test]
fn deliveries_before_a_subscription_are_not_seen_by_it() {
    let _g = one_at_a_time();
    let early = Signal::new(libc::SIGUSR2).expect("early");
    send(libc::SIGUSR2);
    assert!(early.recv_timeout(Duration::from_secs(5)));
    let late = Signal::new(libc::SIGUSR2).expect("late");
    assert!(!late.recv_timeout(Duration::from_millis(50)));
}

#[test]
fn timeout_and_kill_end_a_signal_wait_and_drop_the_subscription() {
    let _g = one_at_a_time();
    let t = Instant::now();
    let r = green::timeout(Duration::from_millis(30), || signal::wait(libc::SIGUSR1));
    assert!(r.is_err(), "the timeout fired");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(action_of(libc::SIGUSR1), libc::SIG_DFL, "unsubscribed");

    let h = green::spawn(|| signal::wait(libc::SIGUSR1));
    green::sleep(Duration::from_millis(10));
    assert_ne!(action_of(libc::SIGUSR1), libc::SIG_DFL, "subscribed");
    h.kill();
    assert!(h.join().unwrap_err().is_killed());
    assert_eq!(action_of(libc::SIGUSR1), libc::SIG_DFL, "unsubscribed");
}

#[test]
fn signals_that_cannot_be_caught_are_clear_errors() {
    let _g = one_at_a_time();
    for sig in [0, -1, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 1000] {
        let e = Signal::new(sig).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}: {e}");
        assert!(signal::handler(sig, || ()).is_err());
    }
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_on_sigint() {
    let _g = one_at_a_time();
    let bin = green_suite::cargo::example("graceful_shutdown");
    let mut child = Command::new(bin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .strip_prefix("graceful_shutdown listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    // A request in flight (the server takes 300 ms per request) ...
    let mut c = std::net::TcpStream::connect(&addr).expect("connect");
    c.write_all(b"hello\n").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    // ... when Ctrl-C comes.
    // SAFETY: kill on our own child's pid, which is not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reply = String::new();
    c.read_to_string(&mut reply).expect("reply");
    assert_eq!(reply, "HELLO\n", "the request in flight was answered");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("rest");
    assert_eq!(rest.trim(), "stopped after 1 connection(s)");
    // A clean stop: nothing is reported as left alive when `main` returns,
    // though the example's signal handlers (coroutines, waiting for ever)
    // are still installed then.
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(!err.contains("still alive"), "stderr: {err}");
    // New connections are refused once it stopped.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

/// A signal handler left installed when a thread other than `main` ends is
/// a leftover (its signal stays caught): the thread's exit note counts it
/// and says so. (When `main` returns, it is not: see the test above.)
#[test]
fn a_handler_left_on_an_ending_thread_is_named_in_its_exit_note() {
    if common::is_child() {
        std::thread::Builder::new()
            .name("with-handler".into())
            .spawn(|| {
                let h = green::signal::handler(libc::SIGUSR2, || {}).expect("handler");
                green::sleep(Duration::from_millis(10)); // it starts and waits
                drop(h);
            })
            .expect("thread")
            .join()
            .expect("thread ended");
        return;
    }
    let _g = one_at_a_time();
    let out = common::run_child("a_handler_left_on_an_ending_thread_is_named_in_its_exit_note");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {err}");
    assert!(
        err.contains("thread 'with-handler' ended with 1 coroutine(s) still alive")
            && err.contains("1 of them green::signal handlers, whose signals stay caught"),
        "stderr: {err}"
    );
}
