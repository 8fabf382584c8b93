//! Helpers shared by the monkey test binaries only (raw flags, errno,
//! timed blocking sleeps);
//! the watchdog they use lives in `common`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The fd's real file status flags, read with the raw syscall (no hook).
pub fn real_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL takes no argument.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) as i32 }
}

/// This thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Wall time for `n` coroutines that each call the unmodified, blocking
/// `std::thread::sleep(d)`, spawned together and all joined: about `d` when
/// sleep is cooperative, `n * d` when it blocks the thread.
pub fn time_blocking_sleeps(n: usize, d: Duration) -> Duration {
    let start = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| green::spawn(move || std::thread::sleep(d)))
        .collect();
    for r in green::joinall(hs) {
        r.unwrap();
    }
    start.elapsed()
}
