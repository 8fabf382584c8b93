//! Testing green code: run a test body under many replayable schedules,
//! on a virtual clock.
//!
//! Two settings of [`Runtime`] make a test deterministic:
//! [`virtual_time`](Runtime::virtual_time) (sleeps, timeouts and back-offs
//! take no real time: an idle hub jumps to its next deadline) and
//! [`seed`](Runtime::seed) (every choice the scheduler is free to make comes
//! from the seed: one seed, one schedule). [`explore`] runs a body under
//! many seeds with both on, and on the first failure says which seed
//! failed and how to run just that one again.
//!
//! ```
//! use std::{cell::Cell, rc::Rc, time::Duration};
//! // A counter updated by two coroutines woken at the same instant; this
//! // one is correct, so every schedule passes.
//! green::test::explore(50, || {
//!     let n = Rc::new(Cell::new(0));
//!     let hs: Vec<_> = (0..2)
//!         .map(|_| {
//!             let n = n.clone();
//!             green::spawn(move || {
//!                 green::sleep(Duration::from_secs(1));
//!                 n.set(n.get() + 1);
//!             })
//!         })
//!         .collect();
//!     green::joinall(hs);
//!     assert_eq!(n.get(), 2);
//! });
//! ```
//!
//! `docs/testing.md` is the guide: what is deterministic and what is not
//! (real I/O, other threads), and how the clock moves while fds or other
//! threads are waited for.
//!
//! # Exploration strategy
//!
//! A random walk, one walk per seed, over the choices the documented
//! ordering promises leave free: where each woken coroutine enters the
//! ready queue, whether it waits one more turn after its wake, the order of
//! timers due at the same instant and of the fd events of one poll. Each
//! seed also draws how often the first two happen (its *profile*), so a run
//! mixes schedules close to first-in-first-out with wild ones. Spawn order
//! stays run order and a yield still goes to the back of the queue, so a
//! body made only of spawns and yields has one schedule; the walk finds
//! bugs that depend on the order of wakes, timers and I/O. (Probabilistic
//! concurrency testing, as `shuttle` does it, needs the freedom to run any
//! ready task next, which those promises take away.)
//!
//! Seeds are `1..=schedules`, the same in every run, so a failure in CI
//! fails on a laptop too. [`DEFAULT_SCHEDULES`] is a good budget for a
//! test; `GREEN_SCHEDULES=<n>` changes it for one run (a deeper search),
//! and `GREEN_SEED=<s>` runs just seed `s`.

// Contributor note: this module only configures and runs hubs through
// `Runtime` and ends them between schedules; it never schedules.

use std::panic::{self, AssertUnwindSafe};

use crate::runtime::Runtime;
use crate::sched;

/// Schedules [`explore`] tries per test, a budget that keeps a small body
/// under a second or so in a debug build: `explore(DEFAULT_SCHEDULES, body)`.
pub const DEFAULT_SCHEDULES: usize = 1000;

/// Environment variable: a seed (a whole number). Set, [`explore`] runs
/// that seed's schedule only: the replay line an exploration prints.
pub const SEED_ENV: &str = "GREEN_SEED";

/// Environment variable: a number of schedules that [`explore`] runs
/// instead of the one its caller gave (for a deeper search in one run).
pub const SCHEDULES_ENV: &str = "GREEN_SCHEDULES";

/// Run `body` once per schedule, `schedules` times, each on a fresh hub of
/// the calling thread with a virtual clock and its own seed
/// (`Runtime::new().virtual_time().seed(s).run(&body)` for `s` in
/// `1..=schedules`; see the [module docs](self) for the strategy). Returns
/// when every schedule passed.
///
/// Coroutines `body` leaves behind are killed and unwound at the end of
/// each schedule, and its hub is dropped before the next one starts:
/// nothing carries over but what `body` itself keeps outside (keep green
/// values, such as handles or primitives, inside it).
///
/// # Panics
/// On the first schedule in which `body` panics, with the panic's message,
/// the seed, and the line that runs that schedule alone, such as
///
/// ```text
/// green::test::explore: schedule 17 of 1000 failed (seed 17): lost an update: 1 != 2
///   replay: GREEN_SEED=17 cargo test lost_update
///   (or green::Runtime::new().virtual_time().seed(17).run(body))
/// ```
///
/// A deadlock report (a wait nothing can end) counts as a failure too.
/// Also panics, running nothing, when the calling thread already has a
/// hub (it used green before, or this is a coroutine: call `explore` from
/// a test's own thread), when `schedules` is 0, and when `GREEN_SEED` or
/// `GREEN_SCHEDULES` is set to something that is not a whole number.
pub fn explore<F: Fn() + 'static>(schedules: usize, body: F) {
    let (first, count) = match env_number(SEED_ENV) {
        Some(seed) => {
            eprintln!("green::test::explore: {SEED_ENV}={seed}: running that schedule only");
            (seed, 1)
        }
        None => {
            let n = env_number(SCHEDULES_ENV).map_or(schedules as u64, |n| n);
            assert!(
                n > 0,
                "green::test::explore: zero schedules would test nothing; pass a number such as \
                 green::test::DEFAULT_SCHEDULES"
            );
            (1, n)
        }
    };
    assert!(
        !sched::has_hub(),
        "green::test::explore: this thread already has a hub (it used green before, or this is \
         a coroutine), and every schedule needs a fresh one: call explore first on the thread, \
         or from a new thread (each #[test] runs on its own)"
    );
    for k in 0..count {
        let seed = first.wrapping_add(k);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            Runtime::new().virtual_time().seed(seed).run(&body)
        }));
        // A fresh hub for the next schedule (and no hub left for the
        // caller): the closure and its leftovers are over.
        sched::end_hub();
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("green::test::explore: cannot run a schedule: {e}"),
            Err(p) => {
                let msg = crate::task::payload_text(&*p).unwrap_or("<non-string panic payload>");
                let name = std::thread::current()
                    .name()
                    .filter(|n| *n != "main")
                    .unwrap_or("<test name>")
                    .to_string();
                panic!(
                    "green::test::explore: schedule {} of {count} failed (seed {seed}): {msg}\n  \
                     replay: {SEED_ENV}={seed} cargo test {name}\n  \
                     (or green::Runtime::new().virtual_time().seed({seed}).run(body))",
                    k + 1
                );
            }
        }
    }
}

/// A whole number from the environment variable `name`; `None` when it is
/// unset or empty. Panics, saying so, when it is set to anything else.
fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var_os(name)?;
    let s = v.to_str().map(str::trim).unwrap_or("?");
    if s.is_empty() {
        return None;
    }
    match s.parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("green::test::explore: {name}={v:?} is not a whole number"),
    }
}
