//! `run_info()`: a snapshot of every live coroutine on this thread's hub —
//! id, name, state (running, ready, parked on what), where it was spawned and
//! how long ago it last ran — for humans (`Display`) and for tests.
//!
//! Also the opt-in "print run-info on a signal" switch: a signal handler
//! that only writes one byte to a pipe, a helper thread that reads it and
//! asks every hub (through `monitor::request_dumps`) to print its own
//! run-info on stderr at its next loop maintenance. Hubs are single-threaded,
//! so each one must print itself; nothing here reads a hub from another
//! thread.
//!
//! This module only reads task records; it never parks, wakes or changes
//! them.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use crate::lock::lock;
use crate::report::{thread_label, RunInfo};
use crate::sched;

/// Every live coroutine on this thread's hub (empty if it has none).
///
/// Call it from `main` or from a coroutine (which then shows as
/// [`CoroutineState::Running`](crate::CoroutineState::Running)); `Display`
/// prints one line per coroutine.
pub fn run_info() -> RunInfo {
    if let Some(info) = sched::snapshot() {
        info
    } else {
        RunInfo {
            thread: thread_label(),
            switches: 0,
            monitor: None,
            coroutines: Vec::new(),
        }
    }
}

/// Write end of the self-pipe the signal handler writes to; -1 until set up.
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

/// Opt in: when the process receives `signal` (e.g. `libc::SIGUSR1`), every
/// hub prints its [`run_info`] on stderr at its next loop maintenance (a hub
/// whose thread is blocked, or not waiting in green, prints once it comes
/// back to the loop).
///
/// The handler only writes a byte to a pipe; a helper thread does the rest.
/// It is installed with `SA_RESTART`, but as with any handler some blocking
/// calls elsewhere in the process may see `EINTR` when the signal arrives.
/// Calling it again (with the same or another signal) is harmless. Fails
/// for signals that cannot or must not be caught (`SIGKILL`, `SIGSTOP`,
/// `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, out of range).
///
/// ```no_run
/// # use green_runtime as green;
/// green::run_info_on_signal(libc::SIGUSR1)?;
/// // later, from a shell: kill -USR1 <pid>
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_info_on_signal(signal: i32) -> io::Result<()> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if signal <= 0 || signal > libc::SIGRTMAX() || forbidden.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("green: signal {signal} cannot be used to print run-info"),
        ));
    }
    ensure_pipe_thread()?;
    // SAFETY: installs an async-signal-safe handler (it only calls write(2)
    // on an fd that stays open for the life of the process) with a zeroed,
    // then filled, sigaction.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signal, &sa, std::ptr::null_mut())
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Create the pipe and its reader thread once.
fn ensure_pipe_thread() -> io::Result<()> {
    static SETUP: Mutex<()> = Mutex::new(());
    let _g = lock(&SETUP);
    if PIPE_W.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (r, w) = (fds[0], fds[1]);
    // The handler must never block: make the write end non-blocking (a full
    // pipe already means a dump is pending).
    // SAFETY: fcntl on an fd we just created.
    unsafe {
        let fl = libc::fcntl(w, libc::F_GETFL);
        libc::fcntl(w, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let spawned = std::thread::Builder::new()
        .name("green-run-info".into())
        .spawn(move || reader(r));
    if let Err(e) = spawned {
        // SAFETY: closing the fds we created and nobody else knows.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        return Err(e);
    }
    PIPE_W.store(w, Ordering::Release);
    Ok(())
}

fn reader(fd: RawFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reads into a live buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            crate::monitor::request_dumps();
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = PIPE_W.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: write(2) is async-signal-safe; errno is saved and restored so
    // the interrupted code never sees ours.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        let b = 1u8;
        libc::write(fd, (&b as *const u8).cast(), 1);
        *errno = saved;
    }
}
