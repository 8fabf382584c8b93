//! `spawn_blocking`: run a blocking closure on a small pool of OS threads
//! and park only the calling coroutine until it is done.
//!
//! The pool is process-wide, started lazily, bounded (`Runtime::blocking_threads`,
//! else `GREEN_BLOCKING_THREADS`, default 16; further jobs queue), and its
//! idle threads exit after 10 s (`GREEN_BLOCKING_IDLE_MS` overrides; the
//! variables are read once, at first use). A
//! finished job sends its result over a `green::xchan` channel, whose
//! receiver wakes the caller's hub through the hub's mio `Waker`. This module
//! never touches a hub's internals from a pool thread.
//!
//! Where a job runs depends on who submits it:
//!
//! - From a pool worker (a job that itself calls `spawn_blocking`, directly
//!   or through `green::net` resolving a host name, or from a coroutine the
//!   job started on the worker's own hub): inline, on that worker, at once.
//!   A worker must never wait on the pool: once every worker held an outer
//!   job, nothing would be left to run the inner ones and all would wait for
//!   ever. The worker is a blocking thread already, so running the job there
//!   costs nothing; such a call cannot be cut short by `kill` or
//!   `green::timeout` (nothing else runs on that thread meanwhile) and
//!   `spawn_blocking_no_unwind` then always returns `Ok`.
//! - From any other thread, coroutine or root context (`main`, a plain
//!   `std::thread`): on the pool, parking the caller. That thread is not a
//!   pool worker, so its wait can never starve the pool; and parking keeps
//!   its hub's other coroutines running, lets `kill` and `green::timeout`
//!   end the wait, and shows the wait in run-info and deadlock reports.
//!
//! This module must never make a pool worker wait for another pool job.

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::interrupt::Interrupted;
use crate::lock::{lock, wait_timeout};

type Job = Box<dyn FnOnce() + Send>;

const IDLE_EXIT: Duration = Duration::from_secs(10);

/// Pool threads when neither `Runtime::blocking_threads` nor
/// `GREEN_BLOCKING_THREADS` says otherwise.
const DEFAULT_MAX: usize = 16;

/// The environment variable that caps the pool's threads.
const THREADS_ENV: &str = "GREEN_BLOCKING_THREADS";

/// The environment variable that sets how long an idle pool thread stays.
const IDLE_ENV: &str = "GREEN_BLOCKING_IDLE_MS";

/// The cap set with `Runtime::blocking_threads`; 0 while none was set. It
/// wins over the environment, and may change while the pool runs.
static CONFIGURED_MAX: AtomicUsize = AtomicUsize::new(0);

/// Cap the pool at `n` threads (at least 1; `Runtime` checks), from now on.
/// Raising it lets queued jobs start more threads at the next submission;
/// lowering it lets threads above the cap exit once their job is done.
pub(crate) fn set_max_threads(n: usize) {
    CONFIGURED_MAX.store(n.max(1), Ordering::Relaxed);
}

thread_local! {
    /// Set on the pool's own threads: jobs they submit run inline.
    static POOL_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is one of the blocking pool's workers.
fn on_pool_worker() -> bool {
    POOL_WORKER.with(|w| w.get())
}

struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
    /// The cap from the environment (or the default).
    env_max: usize,
    idle_exit: Duration,
}

impl Pool {
    /// The cap in force: the one `Runtime` set, else the environment's.
    fn max(&self) -> usize {
        match CONFIGURED_MAX.load(Ordering::Relaxed) {
            0 => self.env_max,
            n => n,
        }
    }
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        cv: Condvar::new(),
        env_max: std::env::var(THREADS_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(DEFAULT_MAX),
        idle_exit: std::env::var(IDLE_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(IDLE_EXIT),
    })
}

fn submit(job: Job) {
    let p = pool();
    let mut st = lock(&p.state);
    st.jobs.push_back(job);
    if st.idle > 0 {
        p.cv.notify_one();
    }
    // Idle workers take queued jobs; start another thread only for jobs
    // that no idle worker will pick up.
    if st.jobs.len() > st.idle && st.threads < p.max() {
        st.threads += 1;
        let spawned = thread::Builder::new()
            .name("green-blocking".into())
            .spawn(worker);
        if spawned.is_err() {
            st.threads -= 1;
            if st.threads == 0 {
                // No thread at all: run it here rather than never.
                let job = st.jobs.pop_back();
                drop(st);
                if let Some(job) = job {
                    job();
                }
            }
        }
    }
}

fn worker() {
    POOL_WORKER.with(|w| w.set(true));
    let p = pool();
    let mut st = lock(&p.state);
    loop {
        if let Some(job) = st.jobs.pop_front() {
            drop(st);
            job();
            st = lock(&p.state);
            // The cap was lowered meanwhile: leave (the others, at least
            // the cap's worth, take what is queued).
            if st.threads > p.max() {
                st.threads -= 1;
                return;
            }
            continue;
        }
        st.idle += 1;
        let (guard, timed_out) = wait_timeout(&p.cv, st, p.idle_exit);
        st = guard;
        st.idle -= 1;
        if timed_out && st.jobs.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

/// Run `f` on the blocking thread pool and park the caller until it returns.
///
/// For work that would block the thread: CPU-heavy computation, file I/O,
/// a blocking library call that no monkey hook reaches. Other coroutines
/// keep running meanwhile, and `main` (or any thread's root context) may
/// call it too. `f` and its result must be `Send`: they cross to a pool
/// thread and back.
///
/// A panic in `f` resumes in the caller. If the caller is killed or its
/// [`timeout`](crate::timeout) expires first, it unwinds at once; `f` still
/// runs to the end on its thread (a thread cannot be interrupted) and its
/// result is dropped there.
///
/// Called on a pool thread (from inside another `spawn_blocking` job), `f`
/// runs inline on that thread instead: a pool thread never waits on the
/// pool, so nested jobs cannot deadlock it.
///
/// # The pool
///
/// One pool serves the whole process. It starts its threads (named
/// `green-blocking`) on demand, up to a cap; further jobs wait in a queue,
/// first come first served. A thread that stays idle exits.
///
/// | setting | default | set with |
/// |---|---|---|
/// | most threads at once | 16 | `Runtime::blocking_threads`, else the environment variable `GREEN_BLOCKING_THREADS` (a positive whole number) |
/// | how long an idle thread stays | 10 s | the environment variable `GREEN_BLOCKING_IDLE_MS` (whole milliseconds) |
///
/// The environment variables are read once, when the pool is first used;
/// a value that is not a number (or a zero cap) is ignored. A cap set with
/// `Runtime::blocking_threads` wins over `GREEN_BLOCKING_THREADS`, whenever
/// it is set.
///
/// ```
/// let n = green::spawn_blocking(|| std::fs::read_to_string("/proc/self/stat").map(|s| s.len()));
/// assert!(n.unwrap() > 0);
/// ```
///
/// Coroutines keep running while a job blocks (here the job waits for a
/// message that only another coroutine sends):
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// let job = green::spawn(move || green::spawn_blocking(move || rx.recv().unwrap()));
/// let other = green::spawn(move || tx.send("from a coroutine").unwrap());
/// assert_eq!(job.join().unwrap(), "from a coroutine");
/// other.join().unwrap();
/// ```
pub fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match run_on_pool(f, false) {
        Ok(v) => v,
        // Unreachable: with `unwind` the park raises kills and timeouts.
        Err(i) => panic!("green: spawn_blocking was interrupted: {i}"),
    }
}

/// Like [`spawn_blocking`], but never unwinds: a kill or an expiring
/// `green::timeout` while waiting returns `Err` (the kill is remembered and
/// unwinds at the next ordinary park); `f` still runs to the end on its
/// thread and its result is dropped there. For `extern "C"` hooks.
///
/// A panic in `f` resumes in the caller, so a caller that must not unwind
/// passes an `f` that cannot panic.
// Used by greenhub-monkey (hooks that run a call on the pool); not a
// stable API.
#[doc(hidden)]
pub fn spawn_blocking_no_unwind<F, T>(f: F) -> Result<T, Interrupted>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_on_pool(f, true)
}

/// Submit `f` and park until its result arrives over a cross-thread
/// channel (whose receiver registers a fresh wake-up right for every park,
/// so a stray or early wake can never swallow the job's).
fn run_on_pool<F, T>(f: F, no_unwind: bool) -> Result<T, Interrupted>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if on_pool_worker() {
        // Queuing here could wait for ever on workers that all wait the same
        // way; this thread may block, so do the work now. A panic in `f`
        // unwinds straight into the caller, as a forwarded one would.
        return Ok(f());
    }
    let (tx, rx) = crate::xchan::channel();
    submit(Box::new(move || {
        // If the caller left (killed, timed out), the result is dropped here.
        let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(f)));
    }));
    match rx.recv_as(None, !no_unwind)? {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => crate::sched::resume_unwind(p),
        None => panic!("green: the blocking pool dropped a job without running it"),
    }
}
