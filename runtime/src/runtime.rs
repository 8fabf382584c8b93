//! `Runtime`: explicit settings for hubs (stack size, region budget,
//! blocked-loop monitor), and running a closure on N OS threads, each with
//! its own hub.
//!
//! This module only configures and starts hubs; it never schedules, and it
//! shares nothing between the hubs it starts (cross-thread traffic is the
//! user's explicit channels).

use std::io;
use std::time::Duration;

use crate::sched::{self, HubConfig};

/// Settings for the hub(s) that run a closure.
///
/// One hub, on the calling thread:
/// ```
/// # use green_runtime as green;
/// let v = green::Runtime::new().max_regions(4).run(|| {
///     let hs: Vec<_> = (0..100).map(|i| green::spawn(move || i)).collect();
///     green::joinall(hs).into_iter().map(Result::unwrap).sum::<i32>()
/// });
/// assert_eq!(v.unwrap(), 4950);
/// ```
///
/// N hubs on N new threads (each thread runs the closure with its index):
/// ```
/// # use green_runtime as green;
/// let sums = green::Runtime::new().threads(2).run_threads(|i| {
///     let hs: Vec<_> = (0..10).map(|k| green::spawn(move || k * (i + 1))).collect();
///     green::joinall(hs).into_iter().map(Result::unwrap).sum::<usize>()
/// });
/// assert_eq!(sums.unwrap(), [45, 90]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    cfg: HubConfig,
    threads: Option<usize>,
    /// Worker threads of the shared tokio runtime behind `block_on`.
    #[cfg(feature = "tokio")]
    tokio_threads: Option<usize>,
}

impl Runtime {
    /// Default settings: 256 KiB stacks, region budget from the kernel's
    /// mapping limit, monitor as set by `GREEN_MONITOR_MS`, and (for
    /// [`run_threads`](Self::run_threads)) one thread per CPU.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    /// Default usable stack size for coroutines on this hub.
    pub fn stack_size(mut self, bytes: usize) -> Runtime {
        self.cfg.stack_size = bytes;
        self
    }

    /// At most this many stack regions (each costs two kernel mappings);
    /// coroutines beyond it share regions by copying their used stack bytes.
    /// With several threads, each hub has this budget.
    pub fn max_regions(mut self, n: usize) -> Runtime {
        self.cfg.max_regions = Some(n.max(1));
        self
    }

    /// Debugging aid: after every copy of a coroutine's saved stack back into
    /// a shared region, overwrite the rest of the region with a poison
    /// pattern, so any frame that was not saved crashes at once instead of
    /// reading stale bytes. Also on with `GREEN_STACK_POISON=1`.
    pub fn poison_stacks(mut self, on: bool) -> Runtime {
        self.cfg.poison_stacks = on;
        self
    }

    /// Turn the blocked-loop monitor on for these hubs: a coroutine that
    /// keeps its hub from switching for longer than `threshold` is reported
    /// on stderr with its name, id, how long, and where it was spawned.
    /// Overrides `GREEN_MONITOR_MS`. A zero threshold is rejected by `run`.
    pub fn monitor(mut self, threshold: Duration) -> Runtime {
        self.cfg.monitor = Some(threshold);
        self
    }

    /// Number of threads (hubs) for [`run_threads`](Self::run_threads);
    /// default: the number of CPUs. Zero is rejected by `run_threads`.
    pub fn threads(mut self, n: usize) -> Runtime {
        self.threads = Some(n);
        self
    }

    /// Worker threads of the shared background tokio runtime that drives
    /// the I/O and timers of futures in [`block_on`](crate::block_on) when
    /// the caller has no tokio context of its own (feature `tokio`; default
    /// one). Applied by `run`/`run_threads`, which fail if that runtime
    /// already started with another number, or if `n` is zero.
    ///
    /// ```
    /// # use green_runtime as green;
    /// let v = green::Runtime::new().tokio_threads(1).run(|| green::block_on(async { 3 }));
    /// assert_eq!(v.unwrap(), 3);
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio_threads(mut self, n: usize) -> Runtime {
        self.tokio_threads = Some(n);
        self
    }

    fn check(&self) -> io::Result<()> {
        if !(crate::MIN_STACK_SIZE..=crate::MAX_STACK_SIZE).contains(&self.cfg.stack_size) {
            return Err(invalid(format!(
                "green: stack size {} is out of range ({}..={})",
                self.cfg.stack_size,
                crate::MIN_STACK_SIZE,
                crate::MAX_STACK_SIZE
            )));
        }
        if self.cfg.monitor.is_some_and(|d| d.is_zero()) {
            return Err(invalid(
                "green: the monitor threshold must be greater than zero".into(),
            ));
        }
        #[cfg(feature = "tokio")]
        if let Some(n) = self.tokio_threads {
            crate::tokio_ctx::set_shared_threads(n)?;
        }
        Ok(())
    }

    /// Run `f` on the current thread with a hub made from these settings.
    /// Coroutines still alive when `f` returns are killed, and `run` waits
    /// until they have unwound (their destructors ran) before it returns.
    ///
    /// Fails if this thread already has a hub (it was used before), if the
    /// settings are invalid, or if `threads(n)` asked for more than one
    /// thread (use [`run_threads`](Self::run_threads) for that).
    pub fn run<T>(self, f: impl FnOnce() -> T) -> io::Result<T> {
        self.check()?;
        if self.threads.is_some_and(|n| n != 1) {
            return Err(invalid(
                "green: Runtime::run uses the calling thread only; use run_threads for threads(n)"
                    .into(),
            ));
        }
        sched::configure(self.cfg)?;
        let v = f();
        // Unwind what is left while the thread's thread-locals still live
        // (at thread exit the hub can only abandon them).
        sched::kill_all();
        Ok(v)
    }

    /// Run `f(index)` on `threads(n)` new OS threads (`index` in `0..n`),
    /// each with its own hub made from these settings, and wait for all of
    /// them. Coroutines stay on the thread that spawned them; threads share
    /// nothing unless `f` shares it (`f` is `Sync` and may borrow).
    ///
    /// Returns the results in thread order. If a thread panics, the others
    /// still run to the end and the error names the lowest-numbered thread that
    /// panicked. Fails without running anything on invalid settings.
    pub fn run_threads<F, T>(self, f: F) -> io::Result<Vec<T>>
    where
        F: Fn(usize) -> T + Sync,
        T: Send,
    {
        self.check()?;
        let n = match self.threads {
            Some(0) => return Err(invalid("green: Runtime::threads must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let f = &f;
        let cfg = &self.cfg;
        std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(n);
            let mut spawn_err = None;
            for i in 0..n {
                let r = std::thread::Builder::new()
                    .name(format!("green-hub-{i}"))
                    .spawn_scoped(s, move || {
                        sched::configure(cfg.clone())?;
                        let v = f(i);
                        sched::kill_all();
                        Ok::<T, io::Error>(v)
                    });
                match r {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        // The threads already started still finish (the
                        // scope joins them); report why the rest did not.
                        spawn_err = Some(io::Error::new(
                            e.kind(),
                            format!("green: could not start hub thread {i} of {n}: {e}"),
                        ));
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
                        first_err.get_or_insert_with(|| {
                            io::Error::other(format!(
                                "green: hub thread {i} panicked: {}",
                                crate::task::payload_text(&*p)
                                    .unwrap_or("<non-string panic payload>")
                            ))
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

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
