//! green::spawn_blocking: the bounded, lazily started OS-thread pool whose
//! idle threads exit. One test per concern that needs process-wide pool
//! settings lives here, alone in its process, so the settings apply.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Pool threads alive now (threads named "green-blocking").
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "green-blocking")
        .count()
}

#[test]
fn pool_is_lazy_bounded_and_idle_threads_exit() {
    // Read once when the pool starts: this test is the only one in the
    // process that uses the pool.
    std::env::set_var("GREEN_BLOCKING_THREADS", "3");
    std::env::set_var("GREEN_BLOCKING_IDLE_MS", "200");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        assert_eq!(pool_threads(), 0, "started lazily");
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..12)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                green::spawn(move || {
                    green::spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                })
            })
            .collect();
        let got: Vec<i32> = green::joinall(hs).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, (0..12).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=3).contains(&peak), "peak concurrency {peak}, bound 3");
        assert!(pool_threads() <= 3);
        // Idle threads exit after ~200 ms.
        let t = Instant::now();
        while pool_threads() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "idle pool threads never exited"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // And the pool starts again on demand.
        assert_eq!(green::spawn_blocking(|| 7), 7);

        // A finished job's wake is consumed by its own caller: it never
        // wakes a later, unrelated park early.
        for _ in 0..200 {
            assert_eq!(green::spawn_blocking(|| 1), 1);
            let at = Instant::now() + Duration::from_millis(1);
            let r = green::rt::park(Some(at), green::rt::ParkedOn::Timer);
            assert_eq!(r, green::rt::Park::TimedOut, "a stale wake arrived");
        }
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("test hung or failed");
}
