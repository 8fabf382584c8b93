//! The blocked-loop monitor: a watchdog thread that notices when a hub has
//! been stuck inside one coroutine for longer than a threshold (a coroutine
//! called blocking code, or computes without yielding) and says which one.
//!
//! How it stays off the switch path: every hub owns a [`HubDiag`] shared
//! (`Arc`) with a process-wide registry. Its `word` is the hub's heartbeat:
//! `(resume sequence << 32) | running coroutine's id` (low 32 bits, never 0),
//! written with one plain load + store by the hub thread on each resume
//! ([`beat`]) — the only cost on the switch path, monitor on or off. When the
//! loop leaves coroutines for possibly long (it blocks in `epoll_wait`, or
//! returns to the root context) it writes the id 0 ([`idle`]), so a quiet
//! hub is never mistaken for a stuck one.
//!
//! The watchdog thread runs only if some hub is monitored. It samples each
//! monitored hub's word every quarter threshold; a word that stays the same
//! with a non-zero id for longer than the threshold is a stall, reported once
//! on stderr with the coroutine's name, id, how long so far, its thread and
//! where it was spawned, and what the stuck thread is doing: the hub records
//! its kernel thread id and its epoll fd when it is made, and the report
//! reads `/proc/self/task/<tid>/syscall` (see [`syscall`]) to name the
//! system call the thread sleeps in (or that it is running) with the advice
//! that fits it. Names and spawn locations come from `cards`, a
//! `Send` copy of each live task's identity that monitored hubs keep at spawn
//! and finish (never on the switch path; nothing at all when unmonitored).
//!
//! The registry also lets another thread ask every hub to print its
//! run-info (`run_info::run_info_on_signal`): `request_dumps` raises a flag
//! and wakes the hub's poller; the hub prints at its next loop maintenance.
//!
//! This module never touches a hub's tasks from another thread, never sends
//! signals to hub threads (that would cut short the very blocking call it
//! reports, e.g. `sleep(3)` returns early on `EINTR`), and never blocks a hub.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::lock::{lock, wait};
use crate::task::Task;

mod syscall;

/// The environment variable that sets the blocked-loop monitor for every
/// hub: a threshold in whole milliseconds, `0` for off. Unset, the monitor
/// is on with a 1 s threshold in debug builds (a silent hang while learning
/// is worse than a line on stderr) and off in release builds. It is read
/// once, when the process makes its first hub; `Runtime::monitor` overrides
/// it for the hubs it starts (`Runtime::monitor(None)` turns it off).
///
/// When a coroutine keeps its hub from switching for longer than the
/// threshold (it called blocking code, or computes without yielding), a
/// watchdog thread prints one line per stall on stderr:
///
/// ```text
/// green: monitor: coroutine 'fetcher' (#12) has blocked the hub of thread 'main' for 100 ms so far
/// (threshold 100 ms), spawned at src/main.rs:31:10; the thread is in the system call `futex`
/// (a thread-level lock, channel or park: ...): use green's own primitives (...), green::xchan
/// to talk to other threads, the library's async API through green::block_on when it waits
/// for a worker thread of its own (...), or green::spawn_blocking
/// ```
///
/// (one line; wrapped here). After the spawn location comes what the hub's
/// thread is doing, read from Linux's `/proc/self/task/<tid>/syscall`, and
/// the advice that fits it:
///
/// | the thread is in | means | advice |
/// |---|---|---|
/// | `futex` | a thread-level lock, channel, condition variable, park or join (also a library waiting for its own worker thread, e.g. `reqwest::blocking`) | green's primitives, `green::xchan`, the library's async API through `green::block_on`, or `spawn_blocking` |
/// | `epoll_wait`/`epoll_pwait` on an epoll set not the hub's | a library running its own event loop (e.g. a blocking client built on tokio) | its async API through `green::block_on`, or `spawn_blocking` |
/// | `read`/`write`/`pread64`/`fsync`/... on a regular file, `openat` | disk I/O | `spawn_blocking` |
/// | `flock`, `fcntl(F_SETLKW)` | a file lock | `spawn_blocking` |
/// | running | CPU-bound code | `green::sleep(Duration::ZERO)` now and then, or `spawn_blocking` |
/// | any other call (unknown numbers print as `syscall <n>`) | a blocking call | `green::monkey::patch_all` if it is off; if it is on, the call is named as one the hooks do not reach |
///
/// A coroutine that was killed and has not ended is reported as such
/// first: `kill pending since <N> ms` (the time since the kill), with what
/// that means — its code never reaches a green park, where a kill unwinds,
/// so it must stop on the errors its calls report after a kill — instead of
/// the advice for CPU-bound code (after it, for a system call).
///
/// Where the file cannot be read (not Linux), the report ends with the
/// general advice: a coroutine must not make blocking calls (use
/// `green::spawn_blocking`, green's own I/O, or `green::monkey::patch_all`).
///
/// A hub waiting for I/O or timers, and code blocking outside any coroutine
/// (e.g. `main` between waits), are never reported. The only cost when off
/// is the heartbeat store every hub makes per switch anyway.
pub const MONITOR_ENV: &str = "GREEN_MONITOR_MS";

/// The monitor's threshold when neither `GREEN_MONITOR_MS` nor
/// `Runtime::monitor` says: on in debug builds, where the watchdog's costs
/// (a lock per spawn, a sampling thread) do not matter and a hang that
/// explains itself saves the most time; off in release builds.
const DEFAULT_THRESHOLD: Option<Duration> = if cfg!(debug_assertions) {
    Some(Duration::from_secs(1))
} else {
    None
};

/// Shortest and longest sampling period of the watchdog.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(250);

/// What a hub shares with other threads for diagnostics.
pub(crate) struct HubDiag {
    /// `(resume sequence << 32) | (running coroutine id as u32).max(1)`; the
    /// id part is 0 while no coroutine runs. Written only by the hub thread.
    word: AtomicU64,
    /// Set by another thread: print run-info at the next maintenance.
    dump: AtomicBool,
    waker: Arc<mio::Waker>,
    /// The hub thread's name, for reports.
    thread: String,
    /// The hub thread's kernel id (recorded once, at creation).
    tid: i32,
    /// The hub's epoll fd, to tell its own poll from a library's.
    epoll_fd: i32,
    /// Present when this hub is monitored.
    watch: Option<Watch>,
}

struct Watch {
    threshold: Duration,
    /// Live tasks by the id part of `word`.
    cards: Mutex<HashMap<u32, Card>>,
}

/// A `Send` copy of what a report says about a task.
struct Card {
    id: u64,
    name: Option<Box<str>>,
    spawned_at: &'static Location<'static>,
    /// When the task was first asked to die, while it has not ended: a
    /// stall then means code the kill cannot unwind.
    killed_at: Option<Instant>,
}

/// One registered hub and the watchdog's view of it.
struct Entry {
    hub: Weak<HubDiag>,
    seen: u64,
    since: Instant,
    reported: bool,
}

struct Registry {
    hubs: Mutex<Vec<Entry>>,
    /// Signalled when a monitored hub registers (the watchdog sleeps on it
    /// while nothing is monitored).
    cv: Condvar,
    watchdog_started: AtomicBool,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry {
        hubs: Mutex::new(Vec::new()),
        cv: Condvar::new(),
        watchdog_started: AtomicBool::new(false),
    })
}

/// The threshold from `GREEN_MONITOR_MS`, read once per process. A value that
/// is not a number is reported once and leaves the monitor off.
fn env_threshold() -> Option<Duration> {
    static ENV: OnceLock<Option<Duration>> = OnceLock::new();
    *ENV.get_or_init(|| {
        let Some(v) = std::env::var_os(MONITOR_ENV) else {
            return DEFAULT_THRESHOLD;
        };
        let s = v.to_string_lossy();
        match s.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                write_stderr(&format!(
                    "green: {MONITOR_ENV}={s:?} is not a whole number of milliseconds; \
                     the blocked-loop monitor stays off\n"
                ));
                None
            }
        }
    })
}

/// Register a new hub (called once by the hub thread when its hub is made).
/// `monitor` is the `Runtime` setting; `None` falls back to the environment.
/// `epoll_fd` is the hub's poller.
pub(crate) fn register(
    monitor: Option<Duration>,
    waker: Arc<mio::Waker>,
    epoll_fd: i32,
) -> Arc<HubDiag> {
    let threshold = monitor.or_else(env_threshold).filter(|d| !d.is_zero());
    let thread = std::thread::current();
    let diag = Arc::new(HubDiag {
        word: AtomicU64::new(0),
        dump: AtomicBool::new(false),
        waker,
        thread: match thread.name() {
            Some(n) => n.to_string(),
            None => format!("{:?}", thread.id()),
        },
        tid: crate::sys::gettid(),
        epoll_fd,
        watch: threshold.map(|threshold| Watch {
            threshold,
            cards: Mutex::new(HashMap::new()),
        }),
    });
    let reg = registry();
    let mut hubs = lock(&reg.hubs);
    hubs.retain(|e| e.hub.strong_count() > 0);
    hubs.push(Entry {
        hub: Arc::downgrade(&diag),
        seen: 0,
        since: Instant::now(),
        reported: false,
    });
    drop(hubs);
    if diag.watch.is_some() {
        reg.cv.notify_all();
        start_watchdog(reg);
    }
    diag
}

fn start_watchdog(reg: &'static Registry) {
    if reg.watchdog_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let r = std::thread::Builder::new()
        .name("green-monitor".into())
        .spawn(move || watchdog(reg));
    if let Err(e) = r {
        reg.watchdog_started.store(false, Ordering::Release);
        write_stderr(&format!(
            "green: cannot start the blocked-loop monitor thread: {e}; the monitor is off\n"
        ));
    }
}

/// The hub resumes the coroutine `id`: one plain load and store.
#[inline(always)]
pub(crate) fn beat(d: &HubDiag, id: u64) {
    let seq = (d.word.load(Ordering::Relaxed) >> 32).wrapping_add(1);
    d.word
        .store((seq << 32) | u64::from(id_key(id)), Ordering::Relaxed);
}

/// The hub is about to leave coroutines for possibly long (blocking poll, or
/// back to the root context): no coroutine is running.
#[inline]
pub(crate) fn idle(d: &HubDiag) {
    // Clearing the id changes the word whenever a coroutine was marked
    // running, which is all the watchdog needs; the sequence keeps counting
    // resumes only.
    let w = d.word.load(Ordering::Relaxed);
    d.word.store(w & !u64::from(u32::MAX), Ordering::Relaxed);
}

/// The id part of the heartbeat word for a task id (never 0, which means
/// "no coroutine").
#[inline(always)]
fn id_key(id: u64) -> u32 {
    (id as u32).max(1)
}

/// A task was added to a hub: monitored hubs remember its identity.
#[inline]
pub(crate) fn task_spawned(d: &HubDiag, task: &Task) {
    if let Some(w) = &d.watch {
        let card = Card {
            id: task.id,
            name: task.name().map(|n| Box::from(n.as_str())),
            spawned_at: task.spawned_at,
            killed_at: None,
        };
        lock(&w.cards).insert(id_key(task.id), card);
    }
}

/// A task of a hub was asked to die (it unwinds at its next green park):
/// monitored hubs note when, for a report of a stall that follows.
#[inline]
pub(crate) fn kill_requested(d: &HubDiag, task: &Task) {
    if let Some(w) = &d.watch {
        if let Some(c) = lock(&w.cards).get_mut(&id_key(task.id)) {
            if c.id == task.id && c.killed_at.is_none() {
                c.killed_at = Some(Instant::now());
            }
        }
    }
}

/// A task of a hub ended.
#[inline]
pub(crate) fn task_ended(d: &HubDiag, task: &Task) {
    if let Some(w) = &d.watch {
        let mut cards = lock(&w.cards);
        if cards.get(&id_key(task.id)).is_some_and(|c| c.id == task.id) {
            cards.remove(&id_key(task.id));
        }
    }
}

impl HubDiag {
    /// True (once) if another thread asked this hub to print its run-info.
    #[inline]
    pub(crate) fn take_dump_request(&self) -> bool {
        self.dump.load(Ordering::Relaxed) && self.dump.swap(false, Ordering::AcqRel)
    }

    /// Coroutine resumes so far on this hub.
    pub(crate) fn switches(&self) -> u64 {
        self.word.load(Ordering::Relaxed) >> 32
    }

    /// The monitor threshold of this hub, if monitored.
    pub(crate) fn threshold(&self) -> Option<Duration> {
        self.watch.as_ref().map(|w| w.threshold)
    }
}

/// Whether `green::monkey` has patched blocking calls in this process: it
/// changes the advice for a blocking call a hook could have reached.
static MONKEY_PATCHED: AtomicBool = AtomicBool::new(false);

/// Record that `green::monkey` patched blocking calls (called by
/// `rt::note_monkey_patched`).
pub(crate) fn set_monkey_patched() {
    MONKEY_PATCHED.store(true, Ordering::Release);
}

/// Ask every live hub to print its run-info on stderr at its next loop
/// maintenance (safe to call from any thread, never blocks a hub).
pub(crate) fn request_dumps() {
    let hubs: Vec<Arc<HubDiag>> = lock(&registry().hubs)
        .iter()
        .filter_map(|e| e.hub.upgrade())
        .collect();
    for h in hubs {
        h.dump.store(true, Ordering::Release);
        // A failed wake means the poller is gone with its hub: nothing to do.
        let _ = h.waker.wake();
    }
}

fn watchdog(reg: &'static Registry) {
    let mut hubs = lock(&reg.hubs);
    loop {
        hubs.retain(|e| e.hub.strong_count() > 0);
        let now = Instant::now();
        let mut tick: Option<Duration> = None;
        let mut reports = Vec::new();
        for e in hubs.iter_mut() {
            let Some(h) = e.hub.upgrade() else { continue };
            let Some(w) = &h.watch else { continue };
            let t = (w.threshold / 4).clamp(MIN_TICK, MAX_TICK);
            tick = Some(tick.map_or(t, |x| x.min(t)));
            let word = h.word.load(Ordering::Relaxed);
            if word != e.seen {
                e.seen = word;
                e.since = now;
                e.reported = false;
                continue;
            }
            let key = word as u32;
            let stuck = now.saturating_duration_since(e.since);
            if key != 0 && !e.reported && stuck >= w.threshold {
                e.reported = true;
                reports.push((h.clone(), key, stuck));
            }
        }
        match tick {
            None => {
                // Nothing monitored (all monitored hubs are gone): sleep
                // until a monitored hub registers.
                hubs = wait(&reg.cv, hubs);
            }
            Some(t) => {
                drop(hubs);
                for (h, key, stuck) in reports {
                    write_stderr(&stall_message(&h, key, stuck));
                }
                std::thread::sleep(t);
                hubs = lock(&reg.hubs);
            }
        }
    }
}

fn stall_message(h: &HubDiag, key: u32, stuck: Duration) -> String {
    let Some(w) = &h.watch else {
        return String::new();
    };
    let (who, at, killed_at) = match lock(&w.cards).get(&key) {
        Some(c) => (
            format!(
                "coroutine '{}' (#{})",
                c.name.as_deref().unwrap_or("<unnamed>"),
                c.id
            ),
            format!(", spawned at {}", c.spawned_at),
            c.killed_at,
        ),
        None => (format!("coroutine #{key}"), String::new(), None),
    };
    format!(
        "green: monitor: {who} has blocked the hub of thread '{}' for {} ms so far \
         (threshold {} ms){at}; {}\n",
        h.thread,
        stuck.as_millis(),
        w.threshold.as_millis(),
        doing(h, killed_at)
    )
}

/// What the hub's thread is doing now, with the advice that fits it. For a
/// coroutine killed at `killed_at` that keeps running code the kill cannot
/// unwind, that comes first: code that computes without ever reaching a
/// green park is not "CPU-bound work to move elsewhere", it is a loop that
/// ignores the errors its calls report after the kill.
fn doing(h: &HubDiag, killed_at: Option<Instant>) -> String {
    let cause = syscall::read(h.tid).map(|sample| {
        let ctx = syscall::Context {
            hub_epoll_fd: h.epoll_fd,
            fd_kind: &syscall::fd_kind,
        };
        syscall::classify(sample, &ctx)
    });
    let Some(at) = killed_at else {
        return match cause {
            Some(c) => c
                .explain(MONKEY_PATCHED.load(Ordering::Acquire))
                .to_string(),
            None => String::from(syscall::GENERAL_ADVICE),
        };
    };
    let pending = format!(
        "kill pending since {} ms: the coroutine was killed but runs code that never reaches \
         a green park (where a kill unwinds); a kill cannot unwind unmodified code, whose \
         hooked calls fail with ECANCELED instead: make its loop stop on errors, or call \
         green::sleep(Duration::ZERO) now and then",
        at.elapsed().as_millis()
    );
    match cause {
        Some(syscall::Cause::Cpu) | None => pending,
        Some(c) => format!(
            "{pending}; {}",
            c.explain(MONKEY_PATCHED.load(Ordering::Acquire))
        ),
    }
}

/// Write all of `s` to fd 2 without taking std's stderr lock (a blocked
/// coroutine might hold it).
fn write_stderr(s: &str) {
    let mut b = s.as_bytes();
    while !b.is_empty() {
        match crate::sys::write(2, b) {
            Ok(0) => return,
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
