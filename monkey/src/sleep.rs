//! Hooks for the sleep family — `clock_nanosleep` (what `std::thread::sleep`
//! calls), `nanosleep`, `usleep`, `sleep` — and `sched_yield`
//! (`std::thread::yield_now`).
//!
//! Inside a coroutine, a sleep parks it on the hub's timer and a zero sleep
//! yields; on a thread's root context whose hub has coroutines (or a
//! `green::timeout` around the root), the root parks the same way and runs
//! the hub meanwhile, as `green::sleep` there does. Elsewhere the real
//! function runs, except on the root of a thread running on a virtual
//! clock, where a sleep parks the root on that clock (the hub runs
//! meanwhile) so that time passes for the thread's timers and clock reads
//! alike. Arguments the kernel would reject
//! (a bad clock, a malformed timespec) go to the real function so the error
//! is exactly libc's.
//!
//! A kill or an enclosing `green::timeout` that expires cuts a sleep short
//! the way a signal would, with one difference: the call fails with `EINTR`
//! (`sleep` returns the seconds it did not sleep) but reports nothing left
//! to resume (`rem` is zero), because the interruption cancels the rest
//! rather than pausing it. A resume-on-`EINTR` loop — std's
//! `thread::sleep` is one — therefore ends instead of sleeping on, and never
//! sees a success it did not get. A sleep begun with the interruption
//! already pending lasts the runtime's back-off (10 ms) at most, then fails
//! the same way (`green::rt::sleep_until_no_unwind`): code that sleeps in a
//! loop after a kill goes on, without spinning, until it reaches a green
//! park (where the kill unwinds) or returns.

use std::time::Duration;

use green_runtime::rt;
use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use crate::real;

crate::hook::hooks! {
    family: SLEEP;
    /// `clock_nanosleep(3)`, relative and `TIMER_ABSTIME`, on the realtime,
    /// monotonic and boot-time clocks. Returns the error number (no errno),
    /// as libc does.
    ///
    /// # Safety
    /// Same contract as libc's `clock_nanosleep`.
    timed fn clock_nanosleep(
        clock: clockid_t,
        flags: c_int,
        req: *const timespec,
        rem: *mut timespec,
    ) -> c_int => clock_nanosleep_body;
    /// `nanosleep(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `nanosleep`.
    timed fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int => nanosleep_body;
    /// `usleep(3)`.
    ///
    /// # Safety
    /// None beyond libc's.
    timed fn usleep(us: useconds_t) -> c_int => usleep_body;
    /// `sleep(3)`: returns the seconds left unslept: 0, unless a kill or an
    /// expired `green::timeout` cut it short (see the module docs).
    ///
    /// # Safety
    /// None beyond libc's.
    timed fn sleep(secs: c_uint) -> c_uint => sleep_body;
    /// `sched_yield(2)`: inside a coroutine, to the back of the ready queue.
    ///
    /// # Safety
    /// None.
    coroutine fn sched_yield() -> c_int => sched_yield_body;
}

/// The longest single park of a sleep (about 136 years; a longer sleep is
/// several): every park keeps a deadline, so a root sleeping while its
/// coroutines wait for ever is never taken for a deadlock.
const LONGEST: Duration = Duration::from_secs(1 << 32);

/// How a cooperative sleep ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Slept {
    /// The whole time passed.
    Full,
    /// A kill or an expired `green::timeout` cut it short, with this much
    /// of it not slept.
    Cut(Duration),
}

/// Park the caller (a coroutine, or the root running its hub) for `d`;
/// yield for zero. Never unwinds.
fn park_for(d: Duration) -> Slept {
    if d.is_zero() {
        // A zero sleep always completes (after the back-off, if an
        // interruption is pending).
        let _ = rt::yield_no_unwind();
        return Slept::Full;
    }
    let mut left = d;
    while !left.is_zero() {
        let step = left.min(LONGEST);
        left -= step;
        // On the hub's clock, virtual on a virtual-time thread.
        let Some(at) = rt::now().checked_add(step) else {
            return Slept::Full; // unreachable on a monotonic clock
        };
        if rt::sleep_until_no_unwind(Some(at)).is_err() {
            return Slept::Cut(left + at.saturating_duration_since(rt::now()));
        }
    }
    Slept::Full
}

/// Report a sleep cut short in `rem` (if given): nothing left to resume.
///
/// # Safety
/// `rem` is null or points at a writable timespec.
unsafe fn cancel_rem(rem: *mut timespec) {
    if !rem.is_null() {
        // SAFETY: non-null, and writable per the caller's contract.
        unsafe {
            rem.write(timespec {
                tv_sec: 0,
                tv_nsec: 0,
            })
        };
    }
}

/// A valid relative duration, or `None` for what the kernel rejects
/// (`EINVAL`): the timespec check of every hook that takes one.
pub(crate) fn duration_of(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Now on `clock`, as a duration since its epoch.
fn clock_now(clock: clockid_t) -> Option<Duration> {
    let mut ts = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer. The call reaches our own
    // `clock_gettime` hook, which gives the virtual clock on a virtual-time
    // thread: the clock an absolute deadline there was computed on.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    duration_of(&ts)
}

/// The cooperative `clock_nanosleep`; a clock it does not know or an
/// argument the kernel rejects goes to the real one.
///
/// # Safety
/// Same contract as libc's `clock_nanosleep`.
unsafe fn clock_nanosleep_body(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let known_clock = matches!(
        clock,
        libc::CLOCK_MONOTONIC | libc::CLOCK_REALTIME | libc::CLOCK_BOOTTIME
    );
    if !known_clock || req.is_null() {
        // SAFETY: the caller's contract is clock_nanosleep's.
        return unsafe { real::clock_nanosleep(clock, flags, req, rem) };
    }
    // SAFETY: non-null, and the caller promises it points at a timespec.
    let ts = unsafe { std::ptr::read(req) };
    let Some(d) = duration_of(&ts) else {
        // SAFETY: as above; libc reports EINVAL without sleeping.
        return unsafe { real::clock_nanosleep(clock, flags, req, rem) };
    };
    let abs = flags & libc::TIMER_ABSTIME != 0;
    let d = if abs {
        match clock_now(clock) {
            Some(now) => d.saturating_sub(now),
            // SAFETY: as above.
            None => return unsafe { real::clock_nanosleep(clock, flags, req, rem) },
        }
    } else {
        d
    };
    match park_for(d) {
        Slept::Full => 0,
        Slept::Cut(_) => {
            if !abs {
                // SAFETY: the caller's contract: null or writable.
                unsafe { cancel_rem(rem) };
            }
            libc::EINTR
        }
    }
}

/// The cooperative `nanosleep`.
///
/// # Safety
/// Same contract as libc's `nanosleep`.
unsafe fn nanosleep_body(req: *const timespec, rem: *mut timespec) -> c_int {
    if req.is_null() {
        // SAFETY: the caller's contract is nanosleep's.
        return unsafe { real::nanosleep(req, rem) };
    }
    // SAFETY: non-null, and the caller promises it points at a timespec.
    let ts = unsafe { std::ptr::read(req) };
    let Some(d) = duration_of(&ts) else {
        // SAFETY: as above; libc reports EINVAL without sleeping.
        return unsafe { real::nanosleep(req, rem) };
    };
    match park_for(d) {
        Slept::Full => 0,
        Slept::Cut(_) => {
            // SAFETY: the caller's contract: null or writable.
            unsafe { cancel_rem(rem) };
            real::set_errno(libc::EINTR);
            -1
        }
    }
}

/// The cooperative `usleep`.
///
/// # Safety
/// None.
unsafe fn usleep_body(us: useconds_t) -> c_int {
    match park_for(Duration::from_micros(u64::from(us))) {
        Slept::Full => 0,
        Slept::Cut(_) => {
            real::set_errno(libc::EINTR);
            -1
        }
    }
}

/// The cooperative `sleep`.
///
/// # Safety
/// None.
unsafe fn sleep_body(secs: c_uint) -> c_uint {
    match park_for(Duration::from_secs(u64::from(secs))) {
        Slept::Full => 0,
        // The seconds not slept, rounded up: never 0, which would say it
        // completed.
        Slept::Cut(left) => {
            let up = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            c_uint::try_from(up.max(1)).unwrap_or(c_uint::MAX)
        }
    }
}

/// The cooperative `sched_yield`.
///
/// # Safety
/// None.
unsafe fn sched_yield_body() -> c_int {
    let _ = rt::yield_no_unwind();
    0
}
