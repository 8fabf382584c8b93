//! Seeded schedules: the choices the scheduler is free to make, drawn from
//! a seeded generator instead of always taken the first-in-first-out way.
//!
//! Two ways in, one mechanism: `Runtime::seed(s)` (one hub, one schedule:
//! the same seed gives the same schedule, see `docs/testing.md`) and the
//! test aid `GREEN_PERTURB=<seed>` (every hub of the process, each with its
//! own stream). Off, the hub's generator state is 0 and each wake pays one
//! branch.
//!
//! The choices, all within the documented ordering promises (spawn order
//! is run order; a yield goes to the back of the ready queue; waiters are
//! served first come, first served — none of these is touched here):
//! - where a woken task enters the ready queue (at the back, or at a random
//!   place);
//! - whether a task just woken is delayed once more, as if its wake had
//!   come later (other ready tasks run first);
//! - with `Runtime::seed` only: the order of timers due at the same instant
//!   and of the fd events one poll returns.
//!
//! How often the first two happen is part of the seed too (a schedule's
//! *profile*), so a run over many seeds tries gentle and wild mixes alike.
//! `GREEN_PERTURB` keeps its fixed profile (a random place one wake in
//! four, a delay one wake in three, no shuffles).
//!
//! This module never reorders yields or spawns, and never injects a yield
//! anywhere but right after a wake (see `perturb_after_wake`).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Hub;
use crate::task::{State, Task, TaskRef, WakeReason};

/// Environment variable that turns on schedule perturbation: a seed
/// (decimal). Test-only: it randomises where woken tasks enter the ready
/// queue and injects yields right after wakes, so stress tests explore many
/// interleavings instead of the one FIFO order.
// A testing aid (documented in `Runtime`'s table of environment
// variables); hidden where it is exported, not a stable API.
#[doc(hidden)]
pub const PERTURB_ENV: &str = "GREEN_PERTURB";

/// How a hub with a seeded generator uses it (see the module docs).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Schedule {
    /// Out of 256: how often a woken task enters the ready queue at a
    /// random place instead of at the back.
    insert: u32,
    /// Out of 256: how often a woken task is delayed once more.
    delay: u32,
    /// Shuffle timers due at the same instant and one poll's fd events.
    shuffle: bool,
    /// `GREEN_PERTURB`'s draws, kept as they were so that a seed CI
    /// printed replays the same schedule.
    legacy: bool,
}

impl Schedule {
    /// From the draw `r`: does a woken task enter at a random place?
    fn inserts(&self, r: u64) -> bool {
        if self.legacy {
            r & 3 == 0
        } else {
            ((r & 0xff) as u32) < self.insert
        }
    }

    /// From the draw `r`: is a task just woken delayed once more?
    fn delays(&self, r: u64) -> bool {
        if self.legacy {
            r % 3 == 0
        } else {
            ((r & 0xff) as u32) < self.delay
        }
    }
}

/// The generator's first state (0: no perturbation) and the profile for a
/// hub made with `seed` (`Runtime::seed`), or, without one, from
/// `GREEN_PERTURB`.
pub(super) fn initial(seed: Option<u64>) -> (u64, Schedule) {
    if let Some(s) = seed {
        let mut x = s;
        let state = splitmix64(&mut x) | 1;
        let p = splitmix64(&mut x);
        let schedule = Schedule {
            insert: [32, 64, 128, 256][(p & 3) as usize],
            delay: [0, 32, 85, 128][((p >> 2) & 3) as usize],
            shuffle: true,
            legacy: false,
        };
        return (state, schedule);
    }
    (perturb_seed(), PERTURB_PROFILE)
}

/// `GREEN_PERTURB`'s fixed profile.
const PERTURB_PROFILE: Schedule = Schedule {
    insert: 64,
    delay: 85,
    shuffle: false,
    legacy: true,
};

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn perturb_seed() -> u64 {
    let Some(v) = std::env::var_os(PERTURB_ENV) else {
        return 0;
    };
    let seed: u64 = v.to_str().and_then(|s| s.trim().parse().ok()).unwrap_or(1);
    // Each hub its own stream, reproducible per thread creation order.
    static HUBS: AtomicUsize = AtomicUsize::new(0);
    let n = HUBS.fetch_add(1, Ordering::Relaxed) as u64;
    (seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

impl Hub {
    /// Next number of the perturbation PRNG (xorshift64).
    #[cold]
    pub(super) fn perturb_next(&self) -> u64 {
        let mut x = self.perturb.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.perturb.set(x);
        x
    }

    /// A number below `n` (which is not 0), from the generator.
    #[cold]
    fn perturb_below(&self, n: usize) -> usize {
        ((self.perturb_next() >> 8) % n as u64) as usize
    }

    /// Perturbation: a woken task enters the ready queue at a random place
    /// (as often as the profile says) instead of at the back.
    #[cold]
    pub(super) fn push_perturbed(&self, task: TaskRef) {
        let r = self.perturb_next();
        let n = self.ready.len();
        if self.schedule.inserts(r) && n > 0 {
            self.ready.insert((r >> 8) as usize % (n + 1), task);
        } else {
            self.ready.push(task);
        }
    }

    /// Perturbation: a task just woken by a notification may be delayed
    /// once more (as often as the profile says), as if it had been queued
    /// later: other ready tasks run before it goes on. No interruption is
    /// checked here (a kill or an expired frame stays pending for its next
    /// park), so a task that was just handed something (a lock, an item)
    /// never loses it.
    ///
    /// Yields are injected only *after* a wake: a yield between a caller's
    /// condition check and its registration on a wait-list would lose the
    /// wake that the check was about.
    #[cold]
    pub(super) fn perturb_after_wake(&self, task: &Task) {
        if !self.schedule.delays(self.perturb_next()) {
            return;
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        if task.is_root() {
            self.ready.push(self.root.clone());
        }
        self.switch_out(task);
    }

    /// Whether this hub's seed also orders simultaneous timers and one
    /// poll's fd events.
    #[inline]
    pub(super) fn shuffles(&self) -> bool {
        self.perturb.get() != 0 && self.schedule.shuffle
    }

    /// Shuffle `items` in place (Fisher–Yates) with the generator.
    #[cold]
    pub(super) fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.perturb_below(i + 1);
            items.swap(i, j);
        }
    }

    /// Shuffle each run of entries with equal keys, keeping the runs in
    /// order: timers due at one instant may fire in any order, never
    /// before an earlier one.
    #[cold]
    pub(super) fn shuffle_ties<K: PartialEq, T>(&self, items: &mut [(K, T)]) {
        let mut start = 0;
        while start < items.len() {
            let mut end = start + 1;
            while end < items.len() && items[end].0 == items[start].0 {
                end += 1;
            }
            self.shuffle(&mut items[start..end]);
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_pick_profiles_and_streams_reproducibly() {
        let (a, pa) = initial(Some(7));
        let (b, pb) = initial(Some(7));
        assert_eq!(a, b);
        assert_eq!(
            (pa.insert, pa.delay, pa.shuffle),
            (pb.insert, pb.delay, pb.shuffle)
        );
        assert_ne!(a, 0, "a seeded hub is perturbed");
        let states: std::collections::HashSet<u64> = (0..64).map(|s| initial(Some(s)).0).collect();
        assert_eq!(states.len(), 64, "different seeds, different streams");
        let profiles: std::collections::HashSet<(u32, u32)> = (0..64)
            .map(|s| {
                let p = initial(Some(s)).1;
                (p.insert, p.delay)
            })
            .collect();
        assert!(profiles.len() > 4, "seeds vary the profile too");
    }
}
