//! `Runtime`: explicit settings for hubs (stack size, region budget,
//! blocked-loop monitor, virtual time, a seeded schedule, the process-wide
//! pools' sizes), and running a
//! closure on N OS threads, each with its own hub; `RuntimeError`, what
//! goes wrong doing so.
//!
//! This module only configures and starts hubs; it never schedules, and it
//! shares nothing between the hubs it starts (cross-thread traffic is the
//! user's explicit channels).

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::clock;
use crate::sched::{self, HubConfig};

/// Settings for the hub(s) that run a closure.
///
/// Every thread gets a hub with default settings the first time it uses
/// green (`spawn`, `sleep`, a queue...); no setup call is needed. A
/// `Runtime` is for when the defaults do not fit, and for running hubs on
/// several threads. Its settings apply to the hubs it starts: the calling
/// thread's with [`run`](Self::run), new threads' with
/// [`run_threads`](Self::run_threads). A hub's settings are fixed when it
/// is made, so `run` must come before anything else on that thread uses
/// green.
///
/// One hub, on the calling thread:
/// ```
/// let v = green::Runtime::new().max_regions(4).run(|| {
///     let hs: Vec<_> = (0..100).map(|i| green::spawn(move || i)).collect();
///     green::joinall(hs).into_iter().map(Result::unwrap).sum::<i32>()
/// });
/// assert_eq!(v.unwrap(), 4950);
/// ```
///
/// N hubs on N new threads (each thread runs the closure with its index):
/// ```
/// let sums = green::Runtime::new().threads(2).run_threads(|i| {
///     let hs: Vec<_> = (0..10).map(|k| green::spawn(move || k * (i + 1))).collect();
///     green::joinall(hs).into_iter().map(Result::unwrap).sum::<usize>()
/// });
/// assert_eq!(sums.unwrap(), [45, 90]);
/// ```
///
/// Settings that do not make sense are refused before anything runs:
/// ```
/// let e = green::Runtime::new().threads(0).run_threads(|_| ()).unwrap_err();
/// assert!(matches!(e, green::RuntimeError::ZeroCount { setting: "threads" }));
/// ```
///
/// # Environment variables
///
/// The runtime reads these, each once per process (when first needed). A
/// setting made on a `Runtime` wins over the variable for the hubs (or
/// pools) it applies to.
///
/// | variable | meaning | `Runtime` setting that wins over it |
/// |---|---|---|
/// | `GREEN_MONITOR_MS` ([`MONITOR_ENV`](crate::monitor::MONITOR_ENV)) | the blocked-loop monitor's threshold for every hub, in whole milliseconds; `0`: off; unset: 1 s in debug builds, off in release builds | [`monitor`](Self::monitor) |
/// | `GREEN_BLOCKING_THREADS` | most threads of the [`spawn_blocking`](crate::blocking::spawn_blocking) pool (default 16) | [`blocking_threads`](Self::blocking_threads) |
/// | `GREEN_BLOCKING_IDLE_MS` | how long an idle `spawn_blocking` thread stays before it exits, in whole milliseconds (default 10 000) | none |
/// | `GREEN_STACK_POISON` | set to anything: poison shared stack regions, a debugging aid (see [`poison_stacks`](Self::poison_stacks)) | [`poison_stacks`](Self::poison_stacks) |
/// | `GREEN_PERTURB` | a seed (whole number): shuffle where woken coroutines enter the ready queue, in every hub of the process, so stress tests see many interleavings. A testing aid, never for production: it breaks the first-in-first-out order of wakes | [`seed`](Self::seed) |
/// | `GREEN_SEED` | read by `green::test::explore` only: run just that seed's schedule (the replay line an exploration prints) | none |
///
/// A value that cannot be parsed is ignored (`GREEN_MONITOR_MS` says so
/// once on stderr).
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    cfg: HubConfig,
    threads: Option<usize>,
    blocking_threads: Option<usize>,
    /// `monitor(Duration::ZERO)` was asked for: refused by `check`.
    monitor_zero: bool,
    /// The hubs' threads run on a virtual clock while the closure runs.
    virtual_time: bool,
    /// Worker threads of the shared tokio runtime behind `block_on`.
    #[cfg(feature = "tokio")]
    tokio_threads: Option<usize>,
}

impl Runtime {
    /// Default settings: 256 KiB stacks, region budget from the kernel's
    /// mapping limit, monitor and pool sizes as the environment variables
    /// say (see [the table above](Self#environment-variables)), and (for
    /// [`run_threads`](Self::run_threads)) one thread per CPU.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    /// Default usable stack size for coroutines on these hubs, in bytes
    /// (rounded up to whole pages). It must be within
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE)`..=`[`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE)
    /// (16 KiB to 1 GiB), else `run` fails with
    /// [`RuntimeError::StackSize`]. [`Builder::stack_size`](crate::spawn::Builder::stack_size)
    /// sets it per coroutine.
    pub fn stack_size(mut self, bytes: usize) -> Runtime {
        self.cfg.stack_size = bytes;
        self
    }

    /// At most this many stack regions (each costs two kernel mappings);
    /// coroutines beyond it share regions by copying their used stack bytes.
    /// With several threads, each hub has this budget. Zero counts as one.
    pub fn max_regions(mut self, n: usize) -> Runtime {
        self.cfg.max_regions = Some(n.max(1));
        self
    }

    /// Debugging aid: after every copy of a coroutine's saved stack back into
    /// a shared region, overwrite the rest of the region with a poison
    /// pattern, so any frame that was not saved crashes at once instead of
    /// reading stale bytes. Without this setting, the environment variable
    /// `GREEN_STACK_POISON` (set to anything) turns it on; this setting, on
    /// or off, wins over it.
    pub fn poison_stacks(mut self, on: bool) -> Runtime {
        self.cfg.poison_stacks = Some(on);
        self
    }

    /// Set the blocked-loop monitor for these hubs: with a threshold, a
    /// coroutine that keeps its hub from switching for longer than it is
    /// reported on stderr with its name, id, how long, where it was spawned
    /// and what its thread is doing (see [`MONITOR_ENV`](crate::monitor::MONITOR_ENV)
    /// for the report); `None` turns it off. Wins over the environment
    /// variable `GREEN_MONITOR_MS` and over the default (on, 1 s, in debug
    /// builds; off in release builds). A zero threshold is refused by `run`
    /// with [`RuntimeError::ZeroMonitorThreshold`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let on = green::Runtime::new().monitor(Duration::from_millis(100));
    /// let off = green::Runtime::new().monitor(None);
    /// # let _ = (on, off);
    /// ```
    pub fn monitor(mut self, threshold: impl Into<Option<Duration>>) -> Runtime {
        match threshold.into() {
            Some(d) => {
                self.monitor_zero = d.is_zero();
                self.cfg.monitor = Some(d);
            }
            None => {
                // The hub's configuration knows only "a threshold or the
                // environment's": a zero threshold there means off (the
                // monitor drops zero thresholds), and `check` refuses a zero
                // only when the user asked for one.
                self.monitor_zero = false;
                self.cfg.monitor = Some(Duration::ZERO);
            }
        }
        self
    }

    /// Run on a virtual clock (a testing mode; see `docs/testing.md`): while
    /// the closure runs, the thread's clock stands still while coroutines
    /// run and, when nothing is ready and only timers are pending, jumps at
    /// once to the next deadline. Every green timed wait uses it (`sleep`,
    /// `timeout`, `spawn_later`, `join_timeout`, every `*_timeout` and
    /// `*_deadline` wait, socket timeouts), and so does
    /// `green::rt::now`. With `green::monkey::patch_all()`
    /// (before `run` or during it), unmodified code on the thread sees the
    /// same clock:
    /// `Instant::now()`, `SystemTime::now()` and `std::thread::sleep`
    /// (also outside coroutines). Other threads keep the real clock.
    ///
    /// The clock may jump while coroutines wait on file descriptors (a
    /// poll that does not block runs first, so readiness that is already
    /// there wins): a peer outside the hub gets no real time to answer. While
    /// a wake from another thread is pending (a `spawn_blocking` job, an
    /// `xchan` receive, a `block_on` future), the clock follows real time
    /// instead. `run` ends the mode when the closure has returned and its
    /// leftover coroutines have unwound.
    ///
    /// An hour of sleeps in milliseconds:
    /// ```
    /// use std::time::Duration;
    /// let slept = green::Runtime::new().virtual_time().run(|| {
    ///     let t = green::rt::now();
    ///     let hs: Vec<_> = (1..=60u64)
    ///         .map(|m| green::spawn(move || green::sleep(Duration::from_secs(60 * m))))
    ///         .collect();
    ///     green::joinall(hs);
    ///     green::rt::now() - t
    /// });
    /// assert_eq!(slept.unwrap(), Duration::from_secs(3600));
    /// ```
    pub fn virtual_time(mut self) -> Runtime {
        self.virtual_time = true;
        self
    }

    /// Make every choice the scheduler is free to make from `seed` (a
    /// testing mode; see `docs/testing.md`): where a woken coroutine enters
    /// the ready queue, whether it waits one more turn, the order of timers
    /// due at the same instant and of the fd events of one poll. The
    /// documented orders stay: spawn order is run order, a yield goes to the
    /// back of the ready queue, waiters are served first come, first served.
    /// The same seed and the same code give the same schedule; with
    /// [`virtual_time`](Self::virtual_time) too, the same run, as far as
    /// the code does not depend on real I/O or other threads.
    /// `green::test::explore` runs a body under many seeds.
    ///
    /// A seed set here wins over `GREEN_PERTURB` for these hubs; each of
    /// [`run_threads`](Self::run_threads)'s hubs gets the seed plus its
    /// index.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// // The order in which eight coroutines woken together run, on a new
    /// // thread (a thread's hub is made once).
    /// let order = |seed| std::thread::spawn(move || {
    ///     green::Runtime::new().virtual_time().seed(seed).run(|| {
    ///         let log = Rc::new(RefCell::new(Vec::new()));
    ///         let ev = Rc::new(green::sync::Event::new());
    ///         let hs: Vec<_> = (0..8)
    ///             .map(|i| {
    ///                 let (log, ev) = (log.clone(), ev.clone());
    ///                 green::spawn(move || { ev.wait(); log.borrow_mut().push(i) })
    ///             })
    ///             .collect();
    ///         green::yield_now();
    ///         ev.set();
    ///         green::joinall(hs);
    ///         log.take()
    ///     }).unwrap()
    /// }).join().unwrap();
    /// assert_eq!(order(7), order(7), "one seed, one schedule");
    /// ```
    pub fn seed(mut self, seed: u64) -> Runtime {
        self.cfg.seed = Some(seed);
        self
    }

    /// Number of threads (hubs) for [`run_threads`](Self::run_threads);
    /// default: the number of CPUs. Zero is refused with
    /// [`RuntimeError::ZeroCount`]; [`run`](Self::run) refuses anything but
    /// one ([`RuntimeError::RunWithThreads`]).
    pub fn threads(mut self, n: usize) -> Runtime {
        self.threads = Some(n);
        self
    }

    /// Most threads of the process-wide pool behind
    /// [`spawn_blocking`](crate::blocking::spawn_blocking) (default 16). Wins over
    /// the environment variable `GREEN_BLOCKING_THREADS`.
    ///
    /// The pool serves the whole process, so the setting is process-wide:
    /// `run`/`run_threads` apply it before they run anything, and it holds
    /// from then on (a later `Runtime` with another number changes it
    /// again). Raising it lets more jobs run at once from the next one
    /// submitted; lowering it lets threads above the cap exit once their
    /// current job is done. Zero is refused with [`RuntimeError::ZeroCount`].
    ///
    /// ```
    /// let v = green::Runtime::new()
    ///     .blocking_threads(2)
    ///     .run(|| green::spawn_blocking(|| 40 + 2))
    ///     .unwrap();
    /// assert_eq!(v, 42);
    /// ```
    pub fn blocking_threads(mut self, n: usize) -> Runtime {
        self.blocking_threads = Some(n);
        self
    }

    /// Worker threads of the shared background tokio runtime that drives
    /// the I/O and timers of futures in [`block_on`](crate::block_on) when
    /// the caller has no tokio context of its own (default one). That
    /// runtime serves the whole process and cannot be resized once it has
    /// started: `run`/`run_threads` fail with
    /// [`RuntimeError::TokioThreads`] if it already runs with another
    /// number, and with [`RuntimeError::ZeroCount`] if `n` is zero.
    ///
    /// ```
    /// let v = green::Runtime::new().tokio_threads(1).run(|| green::block_on(async { 3 }));
    /// assert_eq!(v.unwrap(), 3);
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn tokio_threads(mut self, n: usize) -> Runtime {
        self.tokio_threads = Some(n);
        self
    }

    /// Check what can be checked without touching anything.
    fn check(&self) -> Result<(), RuntimeError> {
        let size = self.cfg.stack_size;
        if !(crate::stack::MIN_STACK_SIZE..=crate::stack::MAX_STACK_SIZE).contains(&size) {
            return Err(RuntimeError::StackSize { size });
        }
        if self.monitor_zero {
            return Err(RuntimeError::ZeroMonitorThreshold);
        }
        if self.threads == Some(0) {
            return Err(RuntimeError::ZeroCount { setting: "threads" });
        }
        if self.blocking_threads == Some(0) {
            return Err(RuntimeError::ZeroCount {
                setting: "blocking_threads",
            });
        }
        #[cfg(feature = "tokio")]
        if self.tokio_threads == Some(0) {
            return Err(RuntimeError::ZeroCount {
                setting: "tokio_threads",
            });
        }
        Ok(())
    }

    /// Apply the process-wide settings (the pools every hub shares).
    fn apply_process_wide(&self) -> Result<(), RuntimeError> {
        #[cfg(feature = "tokio")]
        if let Some(n) = self.tokio_threads {
            if let Err(running) = crate::tokio_ctx::set_shared_threads(n) {
                return Err(RuntimeError::TokioThreads {
                    running,
                    requested: n,
                });
            }
        }
        if let Some(n) = self.blocking_threads {
            crate::blocking::set_max_threads(n);
        }
        Ok(())
    }

    /// Run `f` on the current thread with a hub made from these settings.
    /// Coroutines still alive when `f` returns are killed, and `run` waits
    /// until they have unwound (their destructors ran) before it returns.
    /// If `f` panics, the same happens before the panic goes on out of
    /// `run`: no coroutine of the hub keeps running afterwards.
    ///
    /// # Errors
    /// Without running `f`: [`RuntimeError::HubAlreadyRunning`] if this
    /// thread already has a hub (it used green before);
    /// [`RuntimeError::RunWithThreads`] if [`threads`](Self::threads) asked
    /// for more than one (use [`run_threads`](Self::run_threads)); any
    /// other variant for a setting that cannot be used.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = green::Runtime::new().stack_size(64 * 1024).run(|| {
    ///     // Left running: `run` kills it (and waits for it) at the end.
    ///     green::spawn(|| green::sleep(Duration::from_secs(3600)));
    ///     "done"
    /// });
    /// assert_eq!(r.unwrap(), "done");
    /// ```
    pub fn run<T>(self, f: impl FnOnce() -> T) -> Result<T, RuntimeError> {
        self.check()?;
        if let Some(n) = self.threads.filter(|&n| n != 1) {
            return Err(RuntimeError::RunWithThreads { threads: n });
        }
        if sched::has_hub() {
            return Err(RuntimeError::HubAlreadyRunning);
        }
        self.apply_process_wide()?;
        let virtual_time = self.virtual_time;
        if !sched::configure(self.cfg) {
            return Err(RuntimeError::HubAlreadyRunning);
        }
        Ok(run_then_unwind_leftovers(virtual_time, f))
    }

    /// Run `f(index)` on `threads(n)` new OS threads (`index` in `0..n`,
    /// threads named `green-hub-<index>`), each with its own hub made from
    /// these settings, and wait for all of them. Coroutines stay on the
    /// thread that spawned them; threads share nothing unless `f` shares it
    /// (`f` is `Sync` and may borrow from the caller).
    ///
    /// Returns the results in thread order. Each thread kills and unwinds
    /// the coroutines still alive when its `f` returns or panics, as
    /// [`run`](Self::run) does.
    ///
    /// # Errors
    /// Without running anything, on a setting that cannot be used (see the
    /// variants of [`RuntimeError`]). After running: if a thread panicked,
    /// the others still run to the end and the error is
    /// [`RuntimeError::ThreadPanicked`] for the lowest-numbered thread that
    /// did; if the system refused to start a thread,
    /// [`RuntimeError::Io`] (the threads already started still run to the
    /// end).
    pub fn run_threads<F, T>(self, f: F) -> Result<Vec<T>, RuntimeError>
    where
        F: Fn(usize) -> T + Sync,
        T: Send,
    {
        self.check()?;
        let n = match self.threads {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        self.apply_process_wide()?;
        let f = &f;
        let cfg = &self.cfg;
        let virtual_time = self.virtual_time;
        std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(n);
            let mut spawn_err = None;
            for i in 0..n {
                let r = std::thread::Builder::new()
                    .name(format!("green-hub-{i}"))
                    .spawn_scoped(s, move || {
                        // A new thread has no hub yet. Each hub its own
                        // schedule, reproducible per index.
                        let mut cfg = cfg.clone();
                        cfg.seed = cfg.seed.map(|s| s.wrapping_add(i as u64));
                        if !sched::configure(cfg) {
                            return Err(RuntimeError::HubAlreadyRunning);
                        }
                        Ok(run_then_unwind_leftovers(virtual_time, || f(i)))
                    });
                match r {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        // The threads already started still finish (the
                        // scope joins them); report why the rest did not.
                        spawn_err = Some(RuntimeError::Io(io::Error::new(
                            e.kind(),
                            format!("green: could not start hub thread {i} of {n}: {e}"),
                        )));
                        break;
                    }
                }
            }
            let mut out = Vec::with_capacity(handles.len());
            let mut first_err = spawn_err;
            for (i, h) in handles.into_iter().enumerate() {
                match h.join() {
                    Ok(Ok(v)) => out.push(v),
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(p) => {
                        first_err.get_or_insert_with(|| RuntimeError::ThreadPanicked {
                            index: i,
                            message: crate::task::payload_text(&*p).map(String::from),
                        });
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok(out),
            }
        })
    }
}

/// Run `f` on this thread's hub, then kill the coroutines still alive and
/// wait until they have unwound, while the thread's thread-locals still
/// live (at thread exit the hub can only abandon them). Also when `f`
/// panics: the panic is held while they unwind (so their destructors are
/// ordinary code, not cleanup inside a panic), then goes on unchanged.
/// With `virtual_time`, the thread's clock is virtual until then.
fn run_then_unwind_leftovers<T>(virtual_time: bool, f: impl FnOnce() -> T) -> T {
    let _clock = virtual_time.then(VirtualRun::start);
    let mark = sched::unwind_mark();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => {
            sched::kill_all();
            v
        }
        Err(p) => {
            // The closure's unwind is over; the root no longer unwinds.
            sched::unwinds_caught_since(mark);
            // A failure here (a destructor that waits for ever is a
            // reported deadlock) must not hide the closure's own panic.
            if let Err(e) = panic::catch_unwind(sched::kill_all) {
                let msg = crate::task::payload_text(&*e).unwrap_or("<non-string payload>");
                eprintln!(
                    "green: the coroutines left when the closure panicked could not all be \
                     unwound: {msg}"
                );
            }
            // Through the hub, which then knows the root unwinds again.
            sched::resume_unwind(p)
        }
    }
}

/// The thread's clock is virtual while this lives; when it ends, the hub
/// (which outlives `run`) goes back to the real clock.
struct VirtualRun(Option<clock::VirtualGuard>);

impl VirtualRun {
    fn start() -> VirtualRun {
        VirtualRun(Some(clock::start_virtual()))
    }
}

impl Drop for VirtualRun {
    fn drop(&mut self) {
        drop(self.0.take());
        sched::clock_changed();
    }
}

/// What can go wrong in [`Runtime::run`] and [`Runtime::run_threads`]: a
/// setting the runtime cannot use, a thread that already has a hub, a hub
/// thread that panicked, or the operating system refusing a resource.
///
/// Configuration mistakes have a variant each (they are found before
/// anything runs); failures of the operating system are
/// [`Io`](RuntimeError::Io). The `Display` text says what happened and
/// what to do. `Send + Sync + 'static`, an [`Error`](std::error::Error),
/// and convertible into `io::Error` (configuration mistakes become
/// `ErrorKind::InvalidInput`), so `?` works in functions returning
/// `io::Result` as well as `Box<dyn Error + Send + Sync>`.
///
/// ```
/// use green::{Runtime, RuntimeError};
/// match Runtime::new().stack_size(1).run(|| ()) {
///     Err(RuntimeError::StackSize { size }) => assert_eq!(size, 1),
///     other => panic!("unexpected {other:?}"),
/// }
/// let io: std::io::Error = RuntimeError::ZeroMonitorThreshold.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The stack size ([`Runtime::stack_size`]) is outside
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE)`..=`[`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE).
    StackSize {
        /// The size asked for, in bytes.
        size: usize,
    },
    /// A count that must be at least 1 was zero: `setting` is the name of
    /// the [`Runtime`] method (`"threads"`, `"blocking_threads"` or
    /// `"tokio_threads"`).
    ZeroCount {
        /// The `Runtime` method whose argument was zero.
        setting: &'static str,
    },
    /// The blocked-loop monitor's threshold ([`Runtime::monitor`]) was zero.
    ZeroMonitorThreshold,
    /// [`Runtime::run`] runs one hub, on the calling thread, but
    /// [`Runtime::threads`] asked for another number: use
    /// [`Runtime::run_threads`].
    RunWithThreads {
        /// The number of threads asked for.
        threads: usize,
    },
    /// The calling thread already has a hub (something on it used green
    /// before `run`), and a hub's settings are fixed when it is made. Call
    /// `run` first on that thread, or on a new thread.
    HubAlreadyRunning,
    /// The shared tokio runtime behind `block_on` already runs with
    /// another number of worker threads, and it cannot be resized: set
    /// `Runtime::tokio_threads` before the first `block_on` (feature
    /// `tokio`).
    TokioThreads {
        /// The worker threads it runs with.
        running: usize,
        /// The number asked for.
        requested: usize,
    },
    /// A thread of [`Runtime::run_threads`] panicked (the lowest-numbered
    /// one, if several did); the others ran to the end.
    ThreadPanicked {
        /// The thread's index (the argument its closure got).
        index: usize,
        /// The panic message, if the payload was a string.
        message: Option<String>,
    },
    /// The operating system refused something the runtime needed (such as
    /// starting a thread).
    Io(io::Error),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::StackSize { size } => write!(
                f,
                "green: stack size {size} is out of range ({}..={} bytes)",
                crate::stack::MIN_STACK_SIZE,
                crate::stack::MAX_STACK_SIZE
            ),
            RuntimeError::ZeroCount { setting } => {
                write!(f, "green: Runtime::{setting} must be at least 1")
            }
            RuntimeError::ZeroMonitorThreshold => {
                f.write_str("green: the monitor threshold must be greater than zero")
            }
            RuntimeError::RunWithThreads { threads } => write!(
                f,
                "green: Runtime::run uses the calling thread only; use run_threads for \
                 threads({threads})"
            ),
            RuntimeError::HubAlreadyRunning => f.write_str(
                "green: this thread's hub is already running; configure it before the first \
                 spawn (call Runtime::run first on this thread, or use a new thread)",
            ),
            RuntimeError::TokioThreads { running, requested } => write!(
                f,
                "green: the shared tokio runtime already runs with {running} worker thread(s) \
                 and cannot be resized to {requested}; set Runtime::tokio_threads before the \
                 first block_on"
            ),
            RuntimeError::ThreadPanicked { index, message } => write!(
                f,
                "green: hub thread {index} panicked: {}",
                message.as_deref().unwrap_or("<non-string panic payload>")
            ),
            RuntimeError::Io(e) => fmt::Display::fmt(e, f),
        }
    }
}

// `Io`'s text is shown by `Display`, so it is not also given as the source.
impl std::error::Error for RuntimeError {}

impl From<RuntimeError> for io::Error {
    /// Configuration mistakes become `ErrorKind::InvalidInput`, `Io` its
    /// own error, the rest `ErrorKind::Other`; the text is kept.
    fn from(e: RuntimeError) -> io::Error {
        let kind = match e {
            RuntimeError::Io(inner) => return inner,
            RuntimeError::StackSize { .. }
            | RuntimeError::ZeroCount { .. }
            | RuntimeError::ZeroMonitorThreshold
            | RuntimeError::RunWithThreads { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `?` into `Box<dyn Error + Send + Sync>` needs all four.
    const _: fn() = || {
        fn error_send_sync_static<E: std::error::Error + Send + Sync + 'static>() {}
        error_send_sync_static::<RuntimeError>();
    };

    #[test]
    fn settings_are_checked_before_anything_runs() {
        let ran = std::cell::Cell::new(false);
        let e = Runtime::new()
            .blocking_threads(0)
            .run(|| ran.set(true))
            .unwrap_err();
        assert!(matches!(
            e,
            RuntimeError::ZeroCount {
                setting: "blocking_threads"
            }
        ));
        assert_eq!(
            e.to_string(),
            "green: Runtime::blocking_threads must be at least 1"
        );
        let e = Runtime::new().threads(3).run(|| ran.set(true)).unwrap_err();
        assert!(matches!(e, RuntimeError::RunWithThreads { threads: 3 }));
        assert!(!ran.get());
        assert_eq!(
            io::Error::from(e).kind(),
            io::ErrorKind::InvalidInput,
            "configuration mistakes are InvalidInput as io::Error"
        );
        let e = io::Error::from(RuntimeError::Io(io::Error::from_raw_os_error(libc::EAGAIN)));
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EAGAIN),
            "OS errors pass through"
        );
    }
}
