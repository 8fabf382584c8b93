//! Hooks for the sleep family — `clock_nanosleep` (what `std::thread::sleep`
//! calls), `nanosleep`, `usleep`, `sleep` — and `sched_yield`
//! (`std::thread::yield_now`).
//!
//! Inside a coroutine, a sleep parks it on the hub's timer and a zero sleep
//! yields; outside, the real function runs, except on the root of a thread
//! running on a virtual clock, where a sleep parks the root on that clock
//! (the hub runs meanwhile) so that time passes for the thread's timers and
//! clock reads alike. Arguments the kernel would reject
//! (a bad clock, a malformed timespec) go to the real function so the error
//! is exactly libc's.
//!
//! Kill and an enclosing `green::timeout` end a sleep early and successfully
//! (return 0): the kill unwinds at the coroutine's next green park. Reporting
//! `EINTR` instead would make every retry-on-EINTR loop (std's included) spin
//! forever, since the kill is still pending when it calls again.

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
    /// `sleep(3)`: returns the seconds left unslept, always 0 in a coroutine
    /// (an interrupted cooperative sleep ends early, see the module docs).
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

/// Park the current coroutine for `d` (yield for zero). Never unwinds.
fn park_for(d: Duration) {
    if d.is_zero() {
        let _ = rt::yield_no_unwind();
        return;
    }
    // A sleep too long for the clock has no deadline: it ends by kill or
    // timeout only, as the real one would (in ~292 billion years).
    // On the hub's clock, virtual on a virtual-time thread.
    let _ = rt::sleep_until_no_unwind(rt::now().checked_add(d));
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
    let d = if flags & libc::TIMER_ABSTIME != 0 {
        match clock_now(clock) {
            Some(now) => d.saturating_sub(now),
            // SAFETY: as above.
            None => return unsafe { real::clock_nanosleep(clock, flags, req, rem) },
        }
    } else {
        d
    };
    park_for(d);
    0
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
    park_for(d);
    0
}

/// The cooperative `usleep`.
///
/// # Safety
/// None.
unsafe fn usleep_body(us: useconds_t) -> c_int {
    park_for(Duration::from_micros(u64::from(us)));
    0
}

/// The cooperative `sleep`.
///
/// # Safety
/// None.
unsafe fn sleep_body(secs: c_uint) -> c_uint {
    park_for(Duration::from_secs(u64::from(secs)));
    0
}

/// The cooperative `sched_yield`.
///
/// # Safety
/// None.
unsafe fn sched_yield_body() -> c_int {
    let _ = rt::yield_no_unwind();
    0
}
