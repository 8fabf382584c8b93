//! Hooks for reading the time — `clock_gettime` (what `Instant::now()` and
//! `SystemTime::now()` call), `gettimeofday` and `time` — so that code on a
//! thread running on a virtual clock (`green::Runtime::virtual_time`) sees
//! that clock, as the thread's green timers do.
//!
//! They belong to the sleep family ([`Patch::SLEEP`](crate::Patch::SLEEP)):
//! a virtual clock that sleeps jump over but `Instant::now()` did not see
//! would be no use. Everywhere else (no thread ever went virtual, the
//! family is not patched, another thread, a clock the virtual clock does
//! not stand in for) they pass the call straight through; the first check
//! is one relaxed load of a flag that stays false until some thread uses
//! virtual time.
//!
//! The virtual reading comes from the runtime (`green::rt::virtual_clock`),
//! which computes it from the thread's clock state and never calls
//! `clock_gettime` itself in virtual mode, so the virtual offset is applied
//! exactly once whoever reads. These hooks never park and never touch errno
//! on the virtual path (a successful read leaves it alone, as libc's does).

use std::time::Duration;

use green_runtime::rt;
use libc::{c_int, c_long, clockid_t, time_t, timespec, timeval, timezone};

use crate::patch::{enabled, Patch};
use crate::real;

crate::hook::hooks! {
    family: SLEEP;
    /// `clock_gettime(2)`: the virtual clock on a virtual-time thread for
    /// the monotonic, realtime and boot-time clocks, else libc's.
    ///
    /// # Safety
    /// Same contract as libc's `clock_gettime`.
    unguarded fn clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int => clock_gettime_body;
    /// `gettimeofday(2)`: the virtual realtime clock on a virtual-time
    /// thread (the time zone, if asked for, is libc's), else libc's.
    ///
    /// # Safety
    /// Same contract as libc's `gettimeofday`.
    unguarded fn gettimeofday(tv: *mut timeval, tz: *mut timezone) -> c_int => gettimeofday_body;
    /// `time(2)`: the virtual realtime clock's seconds on a virtual-time
    /// thread, else libc's.
    ///
    /// # Safety
    /// Same contract as libc's `time`.
    unguarded fn time(t: *mut time_t) -> time_t => time_body;
}

/// The virtual reading of `clock` for this thread, if it must be given.
/// Asked even unpatched (the runtime then only pairs its clock with ours
/// as a virtual clock starts, and answers `None` otherwise).
#[inline]
fn virtual_now(clock: clockid_t) -> Option<Duration> {
    if !rt::virtual_time_used() {
        return None;
    }
    rt::virtual_clock(clock, enabled(Patch::SLEEP))
}

/// The virtual `clock_gettime`.
///
/// # Safety
/// Same contract as libc's `clock_gettime`.
#[inline]
unsafe fn clock_gettime_body(clock: clockid_t, tp: *mut timespec) -> c_int {
    if !tp.is_null() {
        if let Some(d) = virtual_now(clock) {
            // SAFETY: non-null, and the caller promises it points at a
            // writable timespec.
            unsafe {
                tp.write(timespec {
                    tv_sec: d.as_secs() as time_t,
                    tv_nsec: d.subsec_nanos() as c_long,
                })
            };
            return 0;
        }
    }
    // SAFETY: the caller's contract is clock_gettime's.
    unsafe { real::clock_gettime(clock, tp) }
}

/// The virtual `gettimeofday`.
///
/// # Safety
/// Same contract as libc's `gettimeofday`.
#[inline]
unsafe fn gettimeofday_body(tv: *mut timeval, tz: *mut timezone) -> c_int {
    if !tv.is_null() {
        if let Some(d) = virtual_now(libc::CLOCK_REALTIME) {
            if !tz.is_null() {
                let mut real_tv = timeval {
                    tv_sec: 0,
                    tv_usec: 0,
                };
                // SAFETY: `real_tv` is writable; `tz` is the caller's,
                // valid per its contract. Only the zone is kept.
                if unsafe { real::gettimeofday(&mut real_tv, tz) } != 0 {
                    return -1;
                }
            }
            // SAFETY: non-null, and the caller promises it points at a
            // writable timeval.
            unsafe {
                tv.write(timeval {
                    tv_sec: d.as_secs() as time_t,
                    tv_usec: d.subsec_micros() as libc::suseconds_t,
                })
            };
            return 0;
        }
    }
    // SAFETY: the caller's contract is gettimeofday's.
    unsafe { real::gettimeofday(tv, tz) }
}

/// The virtual `time`.
///
/// # Safety
/// Same contract as libc's `time`.
#[inline]
unsafe fn time_body(t: *mut time_t) -> time_t {
    if let Some(d) = virtual_now(libc::CLOCK_REALTIME) {
        let secs = d.as_secs() as time_t;
        if !t.is_null() {
            // SAFETY: non-null, and the caller promises it points at a
            // writable time_t.
            unsafe { t.write(secs) };
        }
        return secs;
    }
    // SAFETY: the caller's contract is time's.
    unsafe { real::time(t) }
}
