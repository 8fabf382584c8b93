//! The tokio runtime context that `block_on` lends the futures it polls
//! (feature `tokio`; without it, nothing to do).
//!
//! tokio's I/O and timer types find their driver through a thread-local
//! "current runtime". A coroutine is not a tokio task, so before `block_on`
//! polls (or drops) a future it makes sure the thread has one: the caller's,
//! when the thread is inside a runtime's context already
//! (`Handle::try_current`); otherwise one process-wide multi-thread
//! runtime, started on first use, whose worker threads (`green-tokio-N`,
//! one by default, see `Runtime::tokio_threads`) drive the I/O and timers of
//! every hub's futures. Its wakes reach a hub as cross-thread wakes.
//!
//! The shared runtime's context is entered once per thread and kept for the
//! thread's life, not entered around each poll: a coroutine may park in the
//! middle of a poll (a `green::sleep` or a patched std call inside an async
//! block), other coroutines then poll theirs, and tokio's enter guards must
//! be released in the reverse order they were taken, which coroutines
//! resuming in any order would break. Entered for good, at the bottom of
//! the thread's context stack, nothing is ever released out of order; guards
//! the user takes later nest above it as usual.
//!
//! This module owns that shared runtime and its settings. It never touches
//! a hub, and its threads never run coroutines (so every monkey hook passes
//! straight through on them).

#[cfg(feature = "tokio")]
pub(crate) use with_tokio::{ensure_context, set_shared_threads};

/// Without feature `tokio` there is no runtime to lend, and nothing to
/// hold.
#[cfg(not(feature = "tokio"))]
pub(crate) struct ContextGuard;

/// Without feature `tokio` there is no runtime to lend.
#[cfg(not(feature = "tokio"))]
#[inline(always)]
pub(crate) fn ensure_context() -> ContextGuard {
    ContextGuard
}

#[cfg(feature = "tokio")]
mod with_tokio {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    use tokio::runtime::{Builder, EnterGuard, Handle, Runtime, RuntimeFlavor};

    /// The shared runtime's context, entered for one poll on a thread
    /// whose own runtime is a `current_thread` one (see `ensure_context`);
    /// empty everywhere else.
    pub(crate) struct ContextGuard(#[allow(dead_code)] Option<EnterGuard<'static>>);

    /// Worker threads for the shared runtime; read once, when it starts.
    static SHARED_THREADS: AtomicUsize = AtomicUsize::new(1);
    /// The shared runtime, once started. Never dropped: its threads live as
    /// long as the process (futures on any hub may hold its resources).
    static SHARED: OnceLock<Runtime> = OnceLock::new();

    /// Ask for `n` (at least 1) worker threads in the shared runtime.
    /// Once it has started with a different number it cannot be resized:
    /// `Err` then carries the number it runs with.
    pub(crate) fn set_shared_threads(n: usize) -> Result<(), usize> {
        debug_assert!(n > 0, "checked by Runtime");
        SHARED_THREADS.store(n, Ordering::Relaxed);
        let started = SHARED.get().map(|rt| rt.metrics().num_workers());
        match started {
            Some(k) if k != n => Err(k),
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

    thread_local! {
        /// This thread entered the shared runtime's context for good: some
        /// context is current from now on, whatever the user enters above it.
        static ENTERED_FOR_GOOD: Cell<bool> = const { Cell::new(false) };
    }

    /// Make sure the thread is inside a tokio runtime's context: the
    /// caller's if it has one, else the shared runtime's, entered for the
    /// rest of the thread's life (see the module docs).
    ///
    /// A caller's `current_thread` runtime is the exception: its timers
    /// and I/O are driven only by the thread that runs it — typically this
    /// very thread, inside `#[tokio::main(flavor = "current_thread")]` or
    /// `#[tokio::test]`, which green's `block_on` now blocks — so futures
    /// created under it would never be woken. There the shared runtime's
    /// context is entered for the poll (the returned guard) instead, so the
    /// future's timers and sockets are driven by the shared runtime's
    /// threads. Futures created before `block_on` on such a thread stay
    /// bound to the thread's own runtime (documented in `block_on`).
    #[inline]
    pub(crate) fn ensure_context() -> ContextGuard {
        if ENTERED_FOR_GOOD.try_with(Cell::get).unwrap_or(false) {
            return ContextGuard(None);
        }
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::CurrentThread => {
                ContextGuard(Some(shared().enter()))
            }
            Ok(_) => ContextGuard(None),
            Err(_) => {
                enter_shared_for_good();
                ContextGuard(None)
            }
        }
    }

    #[cold]
    fn enter_shared_for_good() {
        // A thread being torn down has no thread-locals left to enter into.
        if ENTERED_FOR_GOOD.try_with(|e| e.replace(true)).is_err() {
            return;
        }
        // Forgotten, never dropped: the shared runtime lives as long as the
        // process, and the context stays the bottom one of this thread.
        std::mem::forget(shared().enter());
    }
}
