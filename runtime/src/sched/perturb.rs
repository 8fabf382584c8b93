//! Test-only schedule perturbation (`GREEN_PERTURB=<seed>`): woken tasks
//! enter the ready queue at seeded random places and may be delayed once
//! more right after a wake, so stress tests explore many interleavings
//! instead of the one FIFO order. Off (one branch per wake) unless the
//! variable is set when the hub is created.

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

pub(super) fn perturb_seed() -> u64 {
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

    /// Perturbation: a woken task enters the ready queue at a random place
    /// one time in four, instead of at the back.
    #[cold]
    pub(super) fn push_perturbed(&self, task: TaskRef) {
        let r = self.perturb_next();
        let n = self.ready.len();
        if r & 3 == 0 && n > 0 {
            self.ready.insert((r >> 8) as usize % (n + 1), task);
        } else {
            self.ready.push(task);
        }
    }

    /// Perturbation: a task just woken by a notification may be delayed
    /// once more (one time in three), as if it had been queued later: other
    /// ready tasks run before it goes on. No interruption is checked here (a
    /// kill or an expired frame stays pending for its next park), so a task
    /// that was just handed something (a lock, an item) never loses it.
    ///
    /// Yields are injected only *after* a wake: a yield between a caller's
    /// condition check and its registration on a wait-list would lose the
    /// wake that the check was about.
    #[cold]
    pub(super) fn perturb_after_wake(&self, task: &Task) {
        if self.perturb_next() % 3 >= 1 {
            return;
        }
        task.state.set(State::Ready);
        task.wake.set(WakeReason::Notified);
        if task.is_root() {
            self.ready.push(self.root.clone());
        }
        self.switch_out(task);
    }
}
