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

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::hub::{has_hub, hub, Hub};
use crate::task::{ParkedOn, State};

/// What a coroutine is doing at the moment of the snapshot.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum CoroutineState {
    /// It is the coroutine that called [`run_info`].
    Running,
    /// Queued to run (spawned and not started yet, woken, or yielded).
    Ready,
    /// Suspended until something wakes it.
    Parked(ParkedOn),
}

/// One coroutine in a [`RunInfo`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CoroutineStatus {
    /// The coroutine's id (as in `JoinHandle::id`).
    pub id: u64,
    /// The name given with `Builder::name`.
    pub name: Option<String>,
    /// Running, ready, or parked on what.
    pub state: CoroutineState,
    /// True while a deadline (a timed wait, `sleep`, or an enclosing
    /// `green::timeout`) will wake it.
    pub has_deadline: bool,
    /// Where `spawn` / `spawn_later` / `Builder::spawn` was called.
    pub spawned_at: &'static Location<'static>,
    /// How long ago it last gave up the CPU; `None` if it has not run yet
    /// (or is running now). Measured with the loop's clock, which is
    /// refreshed at every poll and at least every 128 switches, so this may
    /// overstate by that much.
    pub since_last_run: Option<Duration>,
}

/// A snapshot of the live coroutines on this thread's hub.
///
/// ```
/// # use green_runtime as green;
/// use std::time::Duration;
/// let h = green::Builder::new().name("napper")
///     .spawn(|| green::sleep(Duration::from_secs(60))).unwrap();
/// green::sleep(Duration::ZERO); // let it start and park
/// let info = green::run_info();
/// let napper = info.get(h.id()).unwrap();
/// assert_eq!(napper.name.as_deref(), Some("napper"));
/// assert_eq!(napper.state, green::CoroutineState::Parked(green::rt::Reason::Timer));
/// println!("{info}");
/// h.kill();
/// ```
#[derive(Clone, Debug)]
pub struct RunInfo {
    thread: String,
    switches: u64,
    monitor: Option<Duration>,
    coroutines: Vec<CoroutineStatus>,
}

impl RunInfo {
    /// Every live coroutine, by id.
    pub fn coroutines(&self) -> &[CoroutineStatus] {
        &self.coroutines
    }

    /// The coroutine with this id, if it is alive.
    pub fn get(&self, id: u64) -> Option<&CoroutineStatus> {
        self.coroutines
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.coroutines[i])
    }

    /// Number of live coroutines.
    pub fn len(&self) -> usize {
        self.coroutines.len()
    }

    /// True when the hub has no live coroutine.
    pub fn is_empty(&self) -> bool {
        self.coroutines.is_empty()
    }

    /// Coroutine resumes so far on this hub.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Name of the hub's thread (or its id when unnamed).
    pub fn thread(&self) -> &str {
        &self.thread
    }

    /// Snapshot of `hub` (which must be this thread's).
    pub(crate) fn collect(hub: &Hub) -> RunInfo {
        let now = Instant::now();
        let (_, epoch) = hub.clock_and_epoch();
        let current = hub.current();
        let mut coroutines: Vec<CoroutineStatus> = hub
            .live_tasks()
            .iter()
            .map(|t| {
                let running = std::ptr::eq(&**t, current);
                let state = match t.state.get() {
                    _ if running => CoroutineState::Running,
                    State::Parked => CoroutineState::Parked(t.parked_on()),
                    _ => CoroutineState::Ready,
                };
                CoroutineStatus {
                    id: t.id,
                    name: t.name.as_ref().map(|n| n.to_string()),
                    state,
                    has_deadline: t.timer_armed(),
                    spawned_at: t.spawned_at,
                    since_last_run: match (running, t.last_run(epoch)) {
                        (false, Some(at)) => Some(now.saturating_duration_since(at)),
                        _ => None,
                    },
                }
            })
            .collect();
        coroutines.sort_by_key(|c| c.id);
        RunInfo {
            thread: thread_label(),
            switches: hub.diag.switches(),
            monitor: hub.diag.threshold(),
            coroutines,
        }
    }

    /// Write the header and at most `limit` coroutine lines.
    pub(crate) fn write_limited(&self, f: &mut dyn fmt::Write, limit: usize) -> fmt::Result {
        write!(
            f,
            "green run-info: thread '{}', {} coroutine(s), {} switches",
            self.thread,
            self.coroutines.len(),
            self.switches
        )?;
        if let Some(m) = self.monitor {
            write!(f, ", monitor at {} ms", m.as_millis())?;
        }
        for c in self.coroutines.iter().take(limit) {
            write!(f, "\n  {c}")?;
        }
        if self.coroutines.len() > limit {
            write!(f, "\n  ... and {} more", self.coroutines.len() - limit)?;
        }
        Ok(())
    }
}

impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_limited(f, usize::MAX)
    }
}

impl fmt::Display for CoroutineStatus {
    /// `#3 'reader' parked on fd 7 (with deadline), last ran 12 ms ago, spawned at src/main.rs:9:5`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ", self.id)?;
        match &self.name {
            Some(n) => write!(f, "'{n}' ")?,
            None => f.write_str("<unnamed> ")?,
        }
        match self.state {
            CoroutineState::Running => f.write_str("running")?,
            CoroutineState::Ready => f.write_str("ready")?,
            CoroutineState::Parked(on) => write!(f, "parked on {on}")?,
        }
        if self.has_deadline {
            f.write_str(" (with deadline)")?;
        }
        match self.since_last_run {
            Some(d) => write!(f, ", last ran {} ago", HumanDuration(d))?,
            None if self.state != CoroutineState::Running => f.write_str(", not started")?,
            None => {}
        }
        write!(f, ", spawned at {}", self.spawned_at)
    }
}

impl fmt::Display for ParkedOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParkedOn::Timer => f.write_str("timer"),
            ParkedOn::Fd(fd) => write!(f, "fd {fd}"),
            ParkedOn::WaitList => f.write_str("wait-list (queue, lock, event or join)"),
            ParkedOn::Remote => f.write_str("another thread (blocking pool or channel)"),
            ParkedOn::Yield => f.write_str("yield"),
        }
    }
}

struct HumanDuration(Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_millis(1) {
            write!(f, "{} µs", d.as_micros())
        } else if d < Duration::from_secs(10) {
            write!(f, "{} ms", d.as_millis())
        } else {
            write!(f, "{} s", d.as_secs())
        }
    }
}

fn thread_label() -> String {
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_string(),
        None => format!("{:?}", t.id()),
    }
}

/// Every live coroutine on this thread's hub (empty if it has none).
///
/// Call it from `main` or from a coroutine (which then shows as
/// [`CoroutineState::Running`]); `Display` prints one line per coroutine.
pub fn run_info() -> RunInfo {
    if has_hub() {
        RunInfo::collect(hub())
    } else {
        RunInfo {
            thread: thread_label(),
            switches: 0,
            monitor: None,
            coroutines: Vec::new(),
        }
    }
}

/// Called by a hub's loop when another thread asked for its run-info.
pub(crate) fn print_requested(hub: &Hub) {
    eprintln!("{}", RunInfo::collect(hub));
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
    let _g = SETUP.lock().unwrap_or_else(|e| e.into_inner());
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
