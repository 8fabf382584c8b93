//! The `Patch::PROCESS` family alone decides whether child waits are
//! cooperative: 20 coroutines each running `sleep 0.3` through
//! `Command::status` are timed with every other family patched, then again
//! once `PROCESS` is patched too, in the same run. Own binary: patching is
//! process-wide and cannot be undone.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use green::monkey::Patch;

/// Wall time for `n` coroutines that each wait for a `sleep 0.3` child.
fn children(n: usize) -> Duration {
    let t = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| green::spawn(|| Command::new("sleep").arg("0.3").status()))
        .collect();
    for r in green::joinall(hs) {
        assert!(r.expect("coroutine").expect("status").success());
    }
    t.elapsed()
}

#[test]
fn child_waits_overlap_only_once_the_process_family_is_patched() {
    watchdog(60, || {
        green::monkey::patch(Patch::SLEEP | Patch::SOCKET | Patch::POLL | Patch::DNS);
        let before = children(20);
        green::monkey::patch(Patch::PROCESS);
        assert_eq!(green::monkey::patched(), Patch::ALL);
        let after = children(20);
        eprintln!(
            "20 x `sleep 0.3` children: {before:?} without Patch::PROCESS, {after:?} with it \
             ({:.1}x)",
            before.as_secs_f64() / after.as_secs_f64()
        );
        // One after another: 6 s. Together: about 0.3 s plus spawning.
        assert!(before >= Duration::from_millis(4800), "before: {before:?}");
        assert!(after < Duration::from_millis(1500), "after: {after:?}");
    });
}
