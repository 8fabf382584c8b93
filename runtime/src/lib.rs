//! # green-runtime
//!
//! gevent for Rust: stackful coroutines ("green threads") on one
//! single-threaded event loop per OS thread. This crate is the runtime; use
//! it through the `green` facade.
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
//! ## Soundness rule
//! Nothing in the runtime keeps a pointer into a parked coroutine's stack:
//! wait-lists, results and buffers live in the heap, and every API that runs
//! code while its caller is parked takes `'static` closures. That is what
//! lets a parked coroutine's stack bytes be moved out of its region and back
//! (copy-on-contention) without anyone noticing. There is deliberately no
//! scoped spawn.

mod arch;
mod arena;
mod block_on;
mod blocking;
mod interrupt;
mod join;
pub mod local;
mod lock;
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
mod spawn;
mod stack;
pub mod sync;
mod sys;
mod task;
mod timeout;
mod timer;
mod tokio_ctx;
pub mod wait_list;
pub mod xchan;

pub use block_on::block_on;
pub use blocking::spawn_blocking;
pub use interrupt::{Elapsed, Interrupted};
pub use join::{joinall, wait, JoinError, JoinHandle};
pub use monitor::MONITOR_ENV;
pub use report::{CoroutineState, CoroutineStatus, RunInfo};
pub use run_info::{run_info, run_info_on_signal};
pub use runtime::Runtime;
pub use sched::PERTURB_ENV;
pub use spawn::{current, sleep, spawn, spawn_later, yield_now, Builder, CoroutineInfo};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use timeout::timeout;

#[cfg(test)]
mod size_tests {
    #[test]
    fn task_record_stays_small() {
        let n = std::mem::size_of::<crate::task::Task>();
        assert!(n <= 128, "Task grew to {n} bytes");
    }
}
