//! What green prints on stderr: panics of coroutines nobody joined, and
//! deadlock reports.
//!
//! A panic inside a coroutine is not printed when it is raised: a wrapping
//! panic hook records where it happened (the hook itself lives with the
//! scheduler, in `sched/diag.rs`), and the panic is kept in the join result.
//! It is printed once, as `green: coroutine '<name>' (#<id>) panicked at
//! <file:line:col>:\n<message>`, only if nobody joins the coroutine.
//!
//! Also the run-info snapshot types (`RunInfo`, `CoroutineStatus`) and how
//! they print. This module works on finished snapshots and task records
//! only: it never parks and never names the scheduler.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::task::{ParkedOn, Task};

/// Print a finished task's panic if nobody will join it (the caller makes
/// sure that is decided once: when the handle goes, or when a detached
/// task ends).
pub(crate) fn report_unjoined(task: &Task) {
    if let Some(report) = task.panic_report() {
        eprintln!(
            "green: coroutine '{}' (#{}) {report}",
            task.display_name(),
            task.id
        );
    }
}

/// The message of the panic raised when the root waits and nothing can
/// ever wake it: what happened, then the run-info of every parked coroutine
/// (at most 20 lines).
pub(crate) fn deadlock_message(info: &RunInfo) -> String {
    let mut s = format!(
        "green: deadlock: this thread is blocked outside a coroutine and nothing can wake it \
         (no coroutine is ready, no timer is pending, no I/O or cross-thread work is \
         outstanding); {} coroutine(s) parked\n",
        info.len()
    );
    let _ = info.write_limited(&mut s, 20);
    s
}

/// What a coroutine is doing at the moment of the snapshot.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum CoroutineState {
    /// It is the coroutine that called `green::run_info`.
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
/// assert_eq!(napper.state, green::CoroutineState::Parked(green::ParkedOn::Timer));
/// println!("{info}");
/// h.kill();
/// ```
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub(crate) thread: String,
    pub(crate) switches: u64,
    pub(crate) monitor: Option<Duration>,
    pub(crate) coroutines: Vec<CoroutineStatus>,
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

pub(crate) fn thread_label() -> String {
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_string(),
        None => format!("{:?}", t.id()),
    }
}
