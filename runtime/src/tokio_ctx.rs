//! The tokio runtime context that `block_on` lends the futures it polls
//! (feature `tokio`; without it, a context that does nothing).
//!
//! tokio's I/O and timer types find their driver through a thread-local
//! "current runtime" set by `Handle::enter`. A coroutine is not a tokio task,
//! so `block_on` enters a handle around every poll and around the drop of
//! the future, and leaves it before it parks: the context is thread-local
//! and other coroutines run on the thread while this one is parked, and
//! tokio's enter guards must be released in the order they were taken.
//!
//! Which runtime: the caller's, when the thread is inside one's context
//! already (`Handle::try_current`); otherwise one process-wide
//! multi-thread runtime, started on first use, whose worker threads
//! (`green-tokio-N`, one by default, see `Runtime::tokio_threads`) drive the
//! I/O and timers of every hub's futures. Its wakes reach a hub as
//! cross-thread wakes.
//!
//! This module owns that shared runtime and its settings. It never touches
//! a hub, and its threads never run coroutines (so every monkey hook passes
//! straight through on them).

#[cfg(feature = "tokio")]
pub(crate) use with_tokio::{set_shared_threads, TokioCtx};

#[cfg(not(feature = "tokio"))]
pub(crate) use without_tokio::TokioCtx;

#[cfg(feature = "tokio")]
mod with_tokio {
    use std::io;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    use tokio::runtime::{Builder, EnterGuard, Handle, Runtime};

    /// Worker threads for the shared runtime; read once, when it starts.
    static SHARED_THREADS: AtomicUsize = AtomicUsize::new(1);
    /// The shared runtime, once started. Never dropped: its threads live as
    /// long as the process (futures on any hub may hold its resources).
    static SHARED: OnceLock<Runtime> = OnceLock::new();

    /// Ask for `n` worker threads in the shared runtime. Fails once it has
    /// started with a different number (it cannot be resized).
    pub(crate) fn set_shared_threads(n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "green: Runtime::tokio_threads must be at least 1",
            ));
        }
        SHARED_THREADS.store(n, Ordering::Relaxed);
        let started = SHARED.get().map(|rt| rt.metrics().num_workers());
        match started {
            Some(k) if k != n => Err(io::Error::other(format!(
                "green: the shared tokio runtime already runs with {k} worker thread(s); \
                 set Runtime::tokio_threads before the first block_on"
            ))),
            _ => Ok(()),
        }
    }

    fn shared() -> &'static Handle {
        SHARED
            .get_or_init(|| {
                let n = SHARED_THREADS.load(Ordering::Relaxed).max(1);
                let next = AtomicUsize::new(0);
                Builder::new_multi_thread()
                    .worker_threads(n)
                    .thread_name_fn(move || {
                        format!("green-tokio-{}", next.fetch_add(1, Ordering::Relaxed))
                    })
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| {
                        panic!("green: could not start the shared tokio runtime: {e}")
                    })
            })
            .handle()
    }

    /// The runtime one `block_on` call lends its future.
    pub(crate) enum TokioCtx {
        /// The caller was in this runtime's context already.
        Callers(Handle),
        /// The shared background runtime (static: no reference count to
        /// bump per call).
        Shared(&'static Handle),
    }

    impl TokioCtx {
        /// The caller's runtime if the thread is in one's context, else the
        /// shared one (started now if need be).
        #[inline]
        pub(crate) fn for_caller() -> TokioCtx {
            match Handle::try_current() {
                Ok(h) => TokioCtx::Callers(h),
                Err(_) => TokioCtx::Shared(shared()),
            }
        }

        /// Whether the thread is inside this context right now without
        /// entering it (true for the caller's own, until the first park).
        #[inline]
        pub(crate) fn is_callers(&self) -> bool {
            matches!(self, TokioCtx::Callers(_))
        }

        /// Enter the runtime's context until the guard drops. Never hold
        /// the guard across a park.
        #[inline]
        pub(crate) fn enter(&self) -> EnterGuard<'_> {
            match self {
                TokioCtx::Callers(h) => h.enter(),
                TokioCtx::Shared(h) => h.enter(),
            }
        }
    }
}

#[cfg(not(feature = "tokio"))]
mod without_tokio {
    /// Without feature `tokio` there is no runtime to lend: a no-op.
    pub(crate) struct TokioCtx;

    /// Stands where tokio's `EnterGuard` would: nothing to leave.
    pub(crate) struct NotEntered;

    impl Drop for NotEntered {
        #[inline(always)]
        fn drop(&mut self) {}
    }

    impl TokioCtx {
        #[inline(always)]
        pub(crate) fn for_caller() -> TokioCtx {
            TokioCtx
        }

        #[inline(always)]
        pub(crate) fn is_callers(&self) -> bool {
            true
        }

        #[inline(always)]
        pub(crate) fn enter(&self) -> NotEntered {
            NotEntered
        }
    }
}
