//! Tests that must fail, never hang: run a body on its own thread (its own
//! hub) with a time limit, or require that it reports a deadlock (C12).
//! Owns only the thread and the timeout; never any runtime state.

use std::sync::mpsc;
use std::time::Duration;

/// Run `f` on a fresh thread (its own hub) and fail the test if it does not
/// finish within `secs`: a bug must fail the test, not hang it. A panic in
/// `f` is re-raised here; otherwise its result is returned.
pub fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match t.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for {secs} s"),
    }
}

/// C12: run `f` from a thread's root context; it must panic with the hub's
/// deadlock report instead of hanging or returning.
pub fn expect_deadlock(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let msg = match r {
            Ok(()) => "returned normally".to_string(),
            Err(p) => p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        };
        let _ = tx.send(msg);
    });
    let msg = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a wait nothing can satisfy hung instead of reporting a deadlock");
    t.join().expect("deadlock test thread");
    assert!(msg.contains("green: deadlock"), "got: {msg}");
}
