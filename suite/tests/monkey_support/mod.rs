//! Helpers shared by the monkey test binaries only (raw flags, errno,
//! timed blocking sleeps);
//! the watchdog they use lives in `common`.
#![allow(dead_code)]

use std::cell::Cell;
use std::io::Read;
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::rc::Rc;
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

/// Signals and fd numbers are process-wide: tests that send signals, change
/// dispositions or need a specific fd number to be reused take this lock so
/// they cannot disturb each other.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many times [`install_handler`]'s handler ran, process-wide.
pub static SIGNALS_HANDLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_HANDLED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Install a counting handler for `sig`, with or without `SA_RESTART`.
pub fn install_handler(sig: libc::c_int, restart: bool) {
    // SAFETY: an all-zero sigaction is valid; we fill handler, flags, mask.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = count_signal as *const () as usize;
    act.sa_flags = if restart { libc::SA_RESTART } else { 0 };
    // SAFETY: `act.sa_mask` is a valid set to initialise; the handler only
    // touches an atomic (async-signal-safe).
    let r = unsafe {
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, std::ptr::null_mut())
    };
    assert_eq!(r, 0, "sigaction");
}

/// Send `sig` to one thread.
pub fn signal_thread(t: libc::pthread_t, sig: libc::c_int) {
    // SAFETY: `t` names a live thread (the caller keeps its JoinHandle).
    assert_eq!(unsafe { libc::pthread_kill(t, sig) }, 0, "pthread_kill");
}

/// Wait until the handler has run at least `n` times in all (bounded).
pub fn wait_handled(n: usize) {
    let t = Instant::now();
    while SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst) < n {
        assert!(t.elapsed() < Duration::from_secs(5), "signal never handled");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread-directed repeating timer (the setitimer kind, but aimed at one
/// thread so other test threads never see it): `sig` every `every` to the
/// kernel thread `tid`. Deleted on drop.
pub struct ThreadTimer(libc::timer_t);

impl ThreadTimer {
    pub fn start(tid: libc::pid_t, sig: libc::c_int, every: Duration) -> ThreadTimer {
        // SAFETY: an all-zero sigevent is valid; we fill the fields used.
        let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
        ev.sigev_notify = libc::SIGEV_THREAD_ID;
        ev.sigev_signo = sig;
        ev.sigev_notify_thread_id = tid;
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: valid sigevent and out-pointer.
        let r = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut id) };
        assert_eq!(r, 0, "timer_create");
        let ts = libc::timespec {
            tv_sec: every.as_secs() as libc::time_t,
            tv_nsec: every.subsec_nanos() as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        // SAFETY: `id` was just created; `spec` is a valid itimerspec.
        let r = unsafe { libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) };
        assert_eq!(r, 0, "timer_settime");
        ThreadTimer(id)
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: created in `start`, deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// This thread's kernel id (for [`ThreadTimer`]).
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Give `sig` back to "ignored" (a pending one is dropped), so a test's
/// handler does not outlive it: the hooks look at every disposition when a
/// plain thread's wait is interrupted.
pub fn ignore_signal(sig: libc::c_int) {
    // SAFETY: an all-zero sigaction is valid; SIG_IGN needs nothing else.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = libc::SIG_IGN;
    // SAFETY: valid action, no old action wanted.
    let rc = unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
    assert_eq!(rc, 0);
}

/// A coroutine connected to `addr` and parked in a read (so the hub holds a
/// registration for its fd), and that fd's number. The stream is never
/// closed by the coroutine: the test closes the number behind its back.
pub fn parked_reader(addr: std::net::SocketAddr) -> (i32, green::JoinHandle<()>) {
    let fd = Rc::new(Cell::new(-1));
    let fc = fd.clone();
    let h = green::spawn(move || {
        let mut s = ManuallyDrop::new(TcpStream::connect(addr).expect("connect"));
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("read timeout");
        fc.set(s.as_raw_fd());
        // Woken by the timeout or spuriously once its number is reused: the
        // outcome does not matter, only that the new owner is not stuck.
        let _ = s.read(&mut [0u8; 8]);
    });
    let t = Instant::now();
    while fd.get() < 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "reader never ran");
        green::sleep(Duration::from_millis(1));
    }
    green::sleep(Duration::from_millis(20)); // now parked: registered
    (fd.get(), h)
}

/// Run `body` in a coroutine while another coroutine ticks every 5 ms;
/// returns the body's result and the ticker's largest gap between ticks
/// (small when `body` only ever parks, the whole wait when it blocks the
/// thread).
pub fn with_ticker<T: 'static>(body: impl FnOnce() -> T + 'static) -> (T, Duration) {
    let done = Rc::new(Cell::new(false));
    let gap = Rc::new(Cell::new(Duration::ZERO));
    let ticker = {
        let (done, gap) = (done.clone(), gap.clone());
        green::spawn(move || {
            let mut last = Instant::now();
            while !done.get() {
                green::sleep(Duration::from_millis(5));
                let now = Instant::now();
                gap.set(gap.get().max(now - last));
                last = now;
            }
        })
    };
    let h = green::spawn(move || {
        let r = body();
        done.set(true);
        r
    });
    let r = h.join().expect("body");
    ticker.join().expect("ticker");
    (r, gap.get())
}
