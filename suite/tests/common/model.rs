//! Harness for the model-based randomized tests (`tests/model_*.rs`): a
//! seeded PRNG, seed and op-count selection from the environment, and a
//! driver that runs a family's actor coroutines while randomly killing and
//! respawning them, checking the family's invariants after every step.
//!
//! `GREEN_SEED` picks the first seed (several consecutive seeds run per
//! test); `GREEN_MODEL_OPS` the total number of operations per test. Both
//! are printed at start and, with the failing seed, on failure. Owns no
//! runtime state: every run gets its own thread and hub.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::{JoinError, JoinHandle};

use crate::common::hang::watchdog;

/// SplitMix64: tiny, seedable, good enough to pick operations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Seeds run per test when `GREEN_SEED` is not given (it is the first).
pub const SEEDS_PER_RUN: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={v:?} is not a number: {e}"),
    }
}

/// Total operations per test: `GREEN_MODEL_OPS`, or `default`.
pub fn total_ops(default: usize) -> usize {
    env_u64("GREEN_MODEL_OPS").map_or(default, |n| n as usize)
}

/// First seed: `GREEN_SEED`, or a fixed one derived from the test name so
/// that runs are repeatable by default.
pub fn first_seed(name: &str) -> u64 {
    env_u64("GREEN_SEED").unwrap_or_else(|| {
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }) % 1_000_000
    })
}

/// Run `body(seed, ops)` for `SEEDS_PER_RUN` consecutive seeds, each on a
/// fresh thread (its own hub) under a watchdog, inside a coroutine. On
/// failure the seed and op count to reproduce it are printed.
pub fn run_model(name: &str, default_ops: usize, body: fn(u64, usize)) {
    let total = total_ops(default_ops).max(1);
    let first = first_seed(name);
    let each = (total as u64).div_ceil(SEEDS_PER_RUN) as usize;
    eprintln!(
        "model {name}: GREEN_SEED={first} GREEN_MODEL_OPS={total} ({SEEDS_PER_RUN} seeds x {each} ops)"
    );
    let t = Instant::now();
    // Generous: a debug build under load does about 20k ops/s.
    let limit = 60 + (each as u64) / 500;
    for seed in first..first + SEEDS_PER_RUN {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            watchdog(limit, move || {
                let h = green::spawn(move || body(seed, each));
                if let Err(JoinError::Panicked(p)) = h.join() {
                    p.resume_unwind();
                }
            })
        }));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!(
                "model {name} FAILED at seed {seed} ({msg}): reproduce with GREEN_SEED={seed} GREEN_MODEL_OPS={}",
                each as u64 * SEEDS_PER_RUN
            );
            panic::resume_unwind(p);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "model {name}: {} ops in {secs:.2} s ({:.0} ops/s)",
        each as u64 * SEEDS_PER_RUN,
        (each as u64 * SEEDS_PER_RUN) as f64 / secs.max(1e-9)
    );
}

/// Shared state of one run on one hub: the PRNG and the op budget.
pub struct World {
    rng: RefCell<Rng>,
    budget: Cell<usize>,
    /// Operations done so far (for messages).
    pub step: Cell<u64>,
    pub seed: u64,
}

impl World {
    pub fn new(seed: u64, ops: usize) -> Rc<World> {
        Rc::new(World {
            rng: RefCell::new(Rng::new(seed)),
            budget: Cell::new(ops),
            step: Cell::new(0),
            seed,
        })
    }
    /// Take one operation from the budget; false once it is spent.
    pub fn tick(&self) -> bool {
        let b = self.budget.get();
        if b == 0 {
            return false;
        }
        self.budget.set(b - 1);
        self.step.set(self.step.get() + 1);
        true
    }
    pub fn done(&self) -> bool {
        self.budget.get() == 0
    }
    pub fn below(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }
    pub fn chance(&self, pct: u64) -> bool {
        self.rng.borrow_mut().chance(pct)
    }
    /// A short wait for timed operations: mostly zero or microseconds, so
    /// both immediate and real timeouts happen.
    pub fn short(&self) -> Duration {
        match self.below(8) {
            0..=2 => Duration::ZERO,
            3..=5 => Duration::from_micros(50),
            6 => Duration::from_micros(400),
            _ => Duration::from_millis(2),
        }
    }
    /// Let others run for a random while: not at all, a yield or two, or
    /// a short sleep (which also makes timers fire).
    pub fn pause(&self) {
        match self.below(10) {
            0..=2 => {}
            3..=6 => green::yield_now(),
            7 | 8 => {
                green::yield_now();
                green::yield_now();
            }
            _ => green::sleep(Duration::from_micros(30)),
        }
    }
    /// Where a failing check happened, for assertion messages.
    pub fn at(&self) -> String {
        format!("seed {} step {}", self.seed, self.step.get())
    }
}

/// Runs its closure when dropped, also while unwinding (kill, timeout):
/// how actors keep the reference model in step with a kill.
pub struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// How the driver treats one family.
pub struct Plan {
    /// Actor coroutines alive at any time.
    pub actors: usize,
    /// Percent of driver steps that kill (and respawn) a random actor.
    pub kill_pct: u64,
    /// After the budget is spent and `unblock` ran, every actor must end
    /// by itself (a stuck one is a lost wake-up); otherwise leftovers are
    /// killed.
    pub must_finish: bool,
    /// Also kill with `kill_nowait` (the respawned actor may then run
    /// before the old one has unwound).
    pub nowait: bool,
    /// Actors with an index below this are never killed.
    pub immune: usize,
}

fn join_checked(h: JoinHandle<()>, world: &World, what: &str) {
    match h.join() {
        Ok(()) | Err(JoinError::Killed) => {}
        Err(JoinError::Panicked(p)) => {
            eprintln!("{what} panicked at {}", world.at());
            p.resume_unwind()
        }
    }
}

/// Run `plan.actors` actors made by `make(index)` until the budget is
/// spent, killing and respawning random ones (blocking `kill` or
/// `kill_nowait`), calling `check` after every driver step. Then `unblock`,
/// wait for the actors, and `check` again. An actor's panic (a failed
/// invariant) fails the run.
pub fn drive(
    world: &Rc<World>,
    plan: Plan,
    make: impl Fn(usize) -> Box<dyn FnOnce()>,
    check: impl Fn(),
    unblock: impl Fn(),
) {
    let spawn = |i: usize| {
        let f = make(i);
        green::spawn(f)
    };
    let mut hs: Vec<JoinHandle<()>> = (0..plan.actors).map(spawn).collect();
    let mut dead: Vec<JoinHandle<()>> = Vec::new();
    while world.tick() {
        world.pause();
        check();
        if plan.actors > plan.immune && world.chance(plan.kill_pct) {
            let i = plan.immune + world.below((plan.actors - plan.immune) as u64) as usize;
            let old = std::mem::replace(&mut hs[i], spawn(i));
            if !plan.nowait || world.chance(50) {
                old.kill();
                assert!(
                    old.is_finished(),
                    "kill returned before the end ({})",
                    world.at()
                );
                check();
                join_checked(old, world, "killed actor");
            } else {
                old.kill_nowait();
                dead.push(old);
            }
        }
        if dead.len() > 16 {
            let (fin, live): (Vec<_>, Vec<_>) = dead.drain(..).partition(|h| h.is_finished());
            dead = live;
            for h in fin {
                join_checked(h, world, "killed actor");
            }
        }
    }
    unblock();
    let limit = Instant::now() + Duration::from_secs(10);
    for h in hs.into_iter().chain(dead) {
        if plan.must_finish {
            let left = limit.saturating_duration_since(Instant::now());
            assert!(
                h.join_timeout(left),
                "an actor is still parked after the run ended and was unblocked: \
                 lost wake-up or leaked resource ({})",
                world.at()
            );
        } else if !h.join_timeout(Duration::from_millis(20)) {
            h.kill();
        }
        join_checked(h, world, "actor");
    }
    check();
}
