//! Runs the synchronisation examples as programs and checks what they
//! print: boss_worker, connect_retry, timer, counter_lock, semaphore,
//! producer_consumer, queues, pool_map.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// The example's binary, next to this test's own binary. Rebuilt through
/// cargo first (a no-op when fresh), since `cargo test --test examples_sync`
/// alone does not rebuild examples.
fn example_bin(name: &str) -> PathBuf {
    green_suite::cargo::example(name)
}

/// Run an example with a watchdog; return its stdout lines.
fn run(name: &'static str) -> Vec<String> {
    let bin = example_bin(name);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Command::new(bin).output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("example {name} hung"))
        .expect("spawn example");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn boss_worker() {
    let lines = run("boss_worker");
    let mut want = vec!["I'm boss, waiting for U".to_string()];
    want.extend(std::iter::repeat_n("make 1 cup".to_string(), 10));
    want.push("Good Job.".into());
    assert_eq!(lines, want);
}

#[test]
fn connect_retry() {
    assert_eq!(
        run("connect_retry"),
        [
            "attempt 1 failed",
            "attempt 2 failed",
            "attempt 3 failed",
            "server not up",
            "server started"
        ]
    );
}

#[test]
fn timer() {
    let lines = run("timer");
    assert_eq!(
        lines,
        [
            "scheduled timer 1 (200 ms) and timer 2 (100 ms)",
            "cancelled timer 1",
            "timer 2 fired",
            "timer 1 cancelled: true"
        ]
    );
    assert!(!lines.iter().any(|l| l == "timer 1 fired"));
}

#[test]
fn counter_lock() {
    assert_eq!(
        run("counter_lock"),
        [
            "with lock, yielding inside: 0",
            "without lock, no yield inside: 0"
        ]
    );
}

#[test]
fn semaphore() {
    let lines = run("semaphore");
    // Replay the log: never more than 5 inside.
    let mut inside = 0;
    let mut max = 0;
    for l in &lines {
        if l.contains("got a connection") {
            inside += 1;
            max = max.max(inside);
        } else if l.ends_with("released it") {
            inside -= 1;
        }
    }
    assert_eq!(max, 5, "{lines:?}");
    assert_eq!(inside, 0);
    assert_eq!(lines.iter().filter(|l| l.contains("got a")).count(), 10);
    assert!(lines.iter().any(|l| l == "max in use: 5"));
    let total: u64 = lines
        .last()
        .and_then(|l| l.strip_prefix("total: "))
        .and_then(|l| l.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .expect("total line");
    // Two waves of 100 ms: concurrent, not 1 s serial.
    assert!((200..900).contains(&total), "total {total} ms");
}

#[test]
fn producer_consumer() {
    let lines = run("producer_consumer");
    let mut want = Vec::new();
    for d in 1..=4 {
        want.push(format!("cooked dish {d}"));
        want.push(format!("ate dish {d}"));
    }
    want.push("all eaten".into());
    assert_eq!(lines, want);
}

#[test]
fn queues() {
    assert_eq!(
        run("queues"),
        [
            "Queue (FIFO): 1 2 3",
            "LifoQueue: 3 2 1",
            r#"PriorityQueue: (1, "urgent") (2, "normal a") (2, "normal b") (3, "later")"#
        ]
    );
}

#[test]
fn pool_map() {
    let lines = run("pool_map");
    assert_eq!(lines[0], "imap (input order): 0 1 2 3 4 5 6 7 8 9");
    // Delays 100 150 25 25 25 125 150 200 175 150 ms with 3 slots finish
    // in this order, each at least 25 ms after the previous one.
    assert_eq!(
        lines[1],
        "imap_unordered (completion order): 2 3 4 0 1 5 6 7 8 9"
    );
    assert_eq!(lines[2], "max running at once: 3");
}
