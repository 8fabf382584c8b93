//! The clock every deadline of the runtime is measured on: the real
//! monotonic clock (`Instant::now()`), or, on a thread in virtual-time mode
//! (`Runtime::virtual_time`), that thread's virtual clock.
//!
//! A virtual clock stands still while coroutines run; the scheduler moves
//! it (`advance_to`) when its hub is idle, straight to the next deadline.
//! This module owns the process-wide flag "virtual time was ever used" (the
//! one check every other thread pays: one relaxed load), each thread's
//! virtual clock, and the mapping of that clock onto the C library's clocks
//! that `green::rt::virtual_clock` hands the monkey layer's `clock_gettime`
//! hook, so unmodified code on the thread sees the same time.
//!
//! The offset is applied in one place per reader, never twice: the
//! runtime's reads in virtual mode are computed from this thread's state
//! and never touch `clock_gettime`; the hook answers from the same state;
//! the real clocks read here (the bases, real time spent waiting) go
//! through the raw system call (`sys::clock_raw`), which no hook sees. The
//! monotonic base and the `Instant` base are one reading ("pairing", see
//! `start_virtual`), so an `Instant` the hook made and one the runtime made
//! compare exactly.
//!
//! This module must never park, never name the scheduler, and never read
//! the real clock through `clock_gettime` while the thread is virtual.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// Some thread has used virtual time: from then on clock reads check this
/// thread's state. Never cleared (a stale `true` costs one thread-local
/// read).
static EVER: AtomicBool = AtomicBool::new(false);

/// Whether the monotonic base and the `Instant` base are one reading.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Pairing {
    /// `start_virtual` is reading the `Instant` base: a hook read now
    /// answers with the monotonic base and pairs them.
    Pending,
    /// The hook made the `Instant` base from the monotonic base: it may
    /// answer for this clock (once patched).
    Paired,
    /// No hook answered (none is linked): the `Instant` base is a real
    /// reading, and a hook must not answer for this clock.
    Unpaired,
}

/// A thread's virtual clock.
#[derive(Copy, Clone, Debug)]
struct Virtual {
    /// The clock's start.
    base: Instant,
    /// Its reading now (never before `base`).
    now: Instant,
    /// The real C clocks when it started: monotonic, realtime, boot time.
    mono: Duration,
    real: Duration,
    boot: Duration,
    pairing: Pairing,
}

thread_local! {
    // `const` and without a destructor: usable from signal handlers and
    // during TLS teardown (the hook may run there).
    static CLOCK: Cell<Option<Virtual>> = const { Cell::new(None) };
}

fn get() -> Option<Virtual> {
    CLOCK.try_with(Cell::get).ok().flatten()
}

fn set(v: Option<Virtual>) {
    let _ = CLOCK.try_with(|c| c.set(v));
}

/// Now, on this thread's clock: real, or virtual in virtual-time mode.
#[inline]
pub(crate) fn now() -> Instant {
    if !EVER.load(Ordering::Relaxed) {
        return Instant::now();
    }
    now_checked()
}

#[cold]
#[inline(never)]
fn now_checked() -> Instant {
    match get() {
        Some(v) => v.now,
        None => Instant::now(),
    }
}

/// Whether virtual time was ever used in this process (one relaxed load).
#[inline]
pub(crate) fn ever_virtual() -> bool {
    EVER.load(Ordering::Relaxed)
}

/// Whether this thread's clock is virtual.
#[inline]
pub(crate) fn is_virtual() -> bool {
    ever_virtual() && get().is_some()
}

/// Ends this thread's virtual clock when dropped (`start_virtual`).
#[must_use = "the clock is virtual only while the guard lives"]
pub(crate) struct VirtualGuard {
    /// The thread's clock was virtual already (an inner start): leave it.
    nested: bool,
}

impl Drop for VirtualGuard {
    fn drop(&mut self) {
        if !self.nested {
            set(None);
        }
    }
}

/// Make this thread's clock virtual, starting at the real now, until the
/// guard drops. Already virtual: it stays as it is.
pub(crate) fn start_virtual() -> VirtualGuard {
    if is_virtual() {
        return VirtualGuard { nested: true };
    }
    EVER.store(true, Ordering::SeqCst);
    let read = |c| sys::clock_raw(c).unwrap_or_default();
    let (mono, real, boot) = (
        read(libc::CLOCK_MONOTONIC),
        read(libc::CLOCK_REALTIME),
        read(libc::CLOCK_BOOTTIME),
    );
    // Not virtual yet: a real reading (the hook passes it through).
    let placeholder = Instant::now();
    set(Some(Virtual {
        base: placeholder,
        now: placeholder,
        mono,
        real,
        boot,
        pairing: Pairing::Pending,
    }));
    // Through the hook if one is linked (patched or not): it answers with
    // `mono` exactly (`c_clock`, base == now) and marks the clock paired.
    // Else a real reading.
    let base = Instant::now();
    if let Some(mut v) = get() {
        if v.pairing == Pairing::Pending {
            v.pairing = Pairing::Unpaired;
        }
        v.base = base;
        v.now = base;
        set(Some(v));
    }
    VirtualGuard { nested: false }
}

/// Move this thread's virtual clock on to `at` (never back). Nothing on a
/// real clock.
pub(crate) fn advance_to(at: Instant) {
    if let Some(mut v) = get() {
        if at > v.now {
            v.now = at;
            set(Some(v));
        }
    }
}

/// This thread's virtual clock read as the C library's clock `clock`, as a
/// duration since that clock's epoch, for a hook that would `serve` it
/// (its family is patched): `None` when the thread's clock is real, when
/// `clock` is not one the virtual clock stands in for (CPU-time clocks,
/// `CLOCK_TAI`), when no hook paired the clock at its start, or when the
/// hook is not to serve it. A hook asks even unpatched, so that the clock
/// is paired whenever a hook is linked: `patch_all` made later in the run
/// then gives unmodified code the same clock at once. The monotonic
/// clocks (`CLOCK_MONOTONIC`, `_RAW`, `_COARSE`) share one reading, as do
/// the realtime ones (`CLOCK_REALTIME`, `_COARSE`, `_ALARM`) and the
/// boot-time ones.
pub(crate) fn c_clock(clock: libc::clockid_t, serve: bool) -> Option<Duration> {
    if !ever_virtual() {
        return None;
    }
    let mut v = get()?;
    match v.pairing {
        Pairing::Unpaired => return None,
        Pairing::Paired if !serve => return None,
        Pairing::Paired => {}
        // Pairing answers whether patched or not: `start_virtual`'s one
        // read, a reading taken a moment before.
        Pairing::Pending => {
            v.pairing = Pairing::Paired;
            set(Some(v));
        }
    }
    let base = match clock {
        libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_MONOTONIC_COARSE => v.mono,
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_REALTIME_ALARM => v.real,
        libc::CLOCK_BOOTTIME | libc::CLOCK_BOOTTIME_ALARM => v.boot,
        _ => return None,
    };
    Some(base + v.now.saturating_duration_since(v.base))
}

/// The real monotonic clock, read past any hook: for measuring real time
/// spent while the thread's clock is virtual.
pub(crate) fn real_monotonic() -> Duration {
    sys::clock_raw(libc::CLOCK_MONOTONIC).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_stands_still_moves_forward_only_and_ends_with_its_guard() {
        std::thread::spawn(|| {
            assert!(!is_virtual());
            let g = start_virtual();
            assert!(is_virtual());
            let t0 = now();
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(now(), t0, "a virtual clock stands still");
            advance_to(t0 + Duration::from_secs(3600));
            assert_eq!(now(), t0 + Duration::from_secs(3600));
            advance_to(t0);
            assert_eq!(now(), t0 + Duration::from_secs(3600), "never back");
            {
                let inner = start_virtual();
                drop(inner);
                assert!(is_virtual(), "an inner start leaves the clock alone");
            }
            drop(g);
            assert!(!is_virtual());
            let real = now();
            assert!(real < t0 + Duration::from_secs(3600));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn other_threads_keep_the_real_clock() {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            let _g = start_virtual();
            advance_to(now() + Duration::from_secs(1000));
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        });
        rx.recv().unwrap();
        assert!(!is_virtual());
        let a = now();
        std::thread::sleep(Duration::from_millis(1));
        assert!(now() > a, "this thread's clock still runs");
        h.join().unwrap();
    }
}
