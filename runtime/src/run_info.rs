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
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use crate::lock::lock;
use crate::report::{thread_label, RunInfo};
use crate::sched;
use crate::sys;

/// Every live coroutine on this thread's hub (empty if it has none).
///
/// Call it from `main` or from a coroutine (which then shows as
/// [`CoroutineState::Running`](crate::report::CoroutineState::Running)); `Display`
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
    // SAFETY: `on_signal` is a plain handler (no SA_SIGINFO) and
    // async-signal-safe: it only calls write(2) on an fd that stays open for
    // the life of the process.
    unsafe { sys::set_signal_action(signal, on_signal as *const () as usize, libc::SA_RESTART)? };
    Ok(())
}

/// Create the pipe and its reader thread once.
fn ensure_pipe_thread() -> io::Result<()> {
    static SETUP: Mutex<()> = Mutex::new(());
    let _g = lock(&SETUP);
    if PIPE_W.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let (r, w) = sys::pipe_cloexec()?;
    // The handler must never block: make the write end non-blocking (a full
    // pipe already means a dump is pending).
    sys::set_nonblocking(w.as_raw_fd(), true)?;
    // On failure both ends close as they drop.
    std::thread::Builder::new()
        .name("green-run-info".into())
        .spawn(move || reader(r))?;
    // The write end stays open for the life of the process: the signal
    // handler may use it at any time.
    PIPE_W.store(w.into_raw_fd(), Ordering::Release);
    Ok(())
}

fn reader(fd: OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        match sys::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return,
            Ok(_) => crate::monitor::request_dumps(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = PIPE_W.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // All async-signal-safe; errno is saved and restored so the
    // interrupted code never sees ours.
    let saved = sys::errno();
    let _ = sys::write(fd, &[1]);
    sys::set_errno(saved);
}
