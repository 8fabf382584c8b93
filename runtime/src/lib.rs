//! # greenhub-runtime: the runtime behind `green`
//!
//! gevent for Rust: stackful coroutines ("green threads") on one
//! single-threaded event loop, a *hub*, per OS thread. This crate is the
//! runtime; depend on it through the **`greenhub`** package, whose library
//! is named `green` and re-exports everything here (plus the optional
//! `green::monkey` layer, which makes unmodified blocking code
//! cooperative):
//!
//! ```toml
//! [dependencies]
//! green = { package = "greenhub", version = "0.1" }
//! ```
//!
//! The examples in these docs are written against `green`, as your code
//! will be.
//!
//! ```
//! use std::time::Duration;
//! fn f(tag: &'static str) -> Vec<String> {
//!     (0..2).map(|i| { let s = format!("{tag}{i}"); green::sleep(Duration::ZERO); s }).collect()
//! }
//! let a = green::spawn(|| f("a"));
//! let b = green::spawn(|| f("b"));
//! for r in green::joinall([a, b]) { assert_eq!(r.unwrap().len(), 2); }
//! ```
//!
//! ## What is where
//!
//! - Coroutines: [`spawn`], [`spawn_later`], [`Builder`], [`JoinHandle`]
//!   (join, kill, `on_finish`), [`joinall`], [`wait`], [`current`].
//! - Giving up the CPU and time: [`sleep`], [`yield_now`], [`timeout`].
//! - Work that would block the thread: [`spawn_blocking`]; futures:
//!   [`block_on`].
//! - Between coroutines of one thread: [`sync`] (events, locks,
//!   semaphores...), [`queue`], [`pool`], [`local!`] (coroutine-local
//!   storage). From other threads: [`xchan`].
//! - Sockets: [`net`]. Waiting on other file descriptors: [`rt`].
//! - Settings, several hubs on several threads, and the environment
//!   variables the runtime reads: [`Runtime`].
//! - Diagnostics: [`run_info`], the blocked-loop monitor
//!   ([`MONITOR_ENV`], [`Runtime::monitor`]).
//! - Deterministic tests: a virtual clock ([`Runtime::virtual_time`]),
//!   seeded schedules ([`Runtime::seed`]) and [`test::explore`].
//!
//! ## Rules every API here keeps
//!
//! - A hub is made on a thread's first use; no setup call is needed.
//!   `spawn` only queues: the new coroutine first runs when the spawner
//!   parks or yields, and spawn order is run order.
//! - Waiting on the thread's root context (`main`, a plain thread) runs the
//!   hub until the wait is over. A wait there that nothing can ever end
//!   panics with a report starting `green: deadlock` instead of hanging.
//! - Coroutines stay on the thread that spawned them; closures need
//!   `'static` but not `Send`, so `Rc` and `RefCell` are fine. Handles and
//!   primitives are [`ThreadBound`].
//! - Every blocking call parks only the calling coroutine, obeys
//!   [`JoinHandle::kill`] and [`timeout`] (by unwinding from the park, so
//!   destructors and guards run), and serves waiters first come, first
//!   served.
//! - No API lends a coroutine a reference into another coroutine's stack:
//!   everything that runs while its caller is parked takes `'static`
//!   closures, and there is deliberately no scoped spawn. That is what lets
//!   a million parked coroutines share a few stack regions.
//!
//! ## Feature flags
//!
//! - `tokio` (off by default): futures run by [`block_on`] get a tokio
//!   runtime context, so tokio-based crates (reqwest, hyper, `tokio::net`)
//!   work from coroutines; adds `Runtime::tokio_threads`.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Contributor note: one concept per file, in layers (platform; records and
// leaves; the scheduler, `sched`; the API); a file imports only from its
// own layer or the ones below, and the API never touches a task's fields.

mod arch;
mod arena;
mod block_on;
mod blocking;
mod clock;
mod interrupt;
mod join;
pub mod local;
mod lock;
mod marker;
mod monitor;
pub mod net;
mod overflow;
pub mod pool;
pub mod queue;
mod reactor;
mod report;
pub mod rt;
mod run_info;
mod runtime;
mod sched;
pub mod signal;
mod spawn;
mod stack;
pub mod sync;
mod sys;
mod task;
pub mod test;
mod timeout;
mod timer;
mod tokio_ctx;
// The wait-list every primitive parks on. Used by greenhub-monkey and
// greenhub's own tests; not a stable API.
#[doc(hidden)]
pub mod wait_list;
mod waitable;
pub mod xchan;

pub use block_on::block_on;
pub use blocking::spawn_blocking;
pub use interrupt::{Elapsed, Interrupted};
pub use join::{joinall, joinall_timeout, JoinError, JoinHandle, Panic};
pub use marker::ThreadBound;
pub use monitor::MONITOR_ENV;
pub use report::{CoroutineState, CoroutineStatus, RunInfo};
pub use run_info::{run_info, run_info_on_signal};
pub use runtime::{Runtime, RuntimeError};
pub use waitable::{iwait, wait, Iwait, Waitable};
// A testing aid for greenhub's own stress tests (see `Runtime`'s table of
// environment variables); not a stable API.
#[doc(hidden)]
pub use sched::PERTURB_ENV;
pub use spawn::{current, sleep, spawn, spawn_later, yield_now, Builder, CoroutineInfo};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use task::ParkedOn;
pub use timeout::timeout;

#[cfg(test)]
mod size_tests {
    #[test]
    fn task_record_stays_small() {
        let n = std::mem::size_of::<crate::task::Task>();
        assert!(n <= 128, "Task grew to {n} bytes");
    }
}
