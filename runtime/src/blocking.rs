//! `spawn_blocking`: run a blocking closure on a small pool of OS threads
//! and park only the calling coroutine until it is done.
//!
//! The pool is process-wide, started lazily, bounded (`GREEN_BLOCKING_THREADS`,
//! default 16; further jobs queue), and its idle threads exit after 10 s
//! (`GREEN_BLOCKING_IDLE_MS` overrides; both are read once, at first use). A
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
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::interrupt::Interrupted;
use crate::lock::{lock, wait_timeout};

type Job = Box<dyn FnOnce() + Send>;

const IDLE_EXIT: Duration = Duration::from_secs(10);

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
    max: usize,
    idle_exit: Duration,
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
        max: std::env::var("GREEN_BLOCKING_THREADS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(16),
        idle_exit: std::env::var("GREEN_BLOCKING_IDLE_MS")
            .ok()
            .and_then(|s| s.parse().ok())
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
    if st.jobs.len() > st.idle && st.threads < p.max {
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
/// Other coroutines keep running meanwhile. A panic in `f` resumes in the
/// caller. If the caller is killed or its `green::timeout` expires first, it
/// unwinds at once; `f` still runs to the end on its thread and its result is
/// dropped there.
///
/// Called on a pool thread (from inside another `spawn_blocking` job), `f`
/// runs inline on that thread instead: a pool thread never waits on the
/// pool, so nested jobs cannot deadlock it (see the module docs).
///
/// ```
/// let n = green::spawn_blocking(|| std::fs::read_to_string("/proc/self/stat").map(|s| s.len()));
/// assert!(n.unwrap() > 0);
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
