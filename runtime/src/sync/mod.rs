//! Synchronisation between coroutines of one thread (gevent's toolbox):
//! [`Event`], [`AsyncResult`], [`Mutex`], [`RwLock`], [`ReentrantMutex`],
//! [`Condvar`], [`Semaphore`], [`BoundedSemaphore`], [`Barrier`],
//! [`WaitGroup`].
//!
//! The shapes follow `std::sync` where it has a counterpart, and gevent's
//! where it has none. What every type here guarantees:
//! - Blocking methods park the calling coroutine, never the thread (on a
//!   thread's root, `main`, they run the hub until the wait ends), with
//!   `_timeout` variants where a deadline makes sense.
//! - They obey [`JoinHandle::kill`](crate::join::JoinHandle::kill) and
//!   [`timeout`](crate::timeout): the waiter unwinds, and guards it holds
//!   are released on the way.
//! - Waiters are served first come, first served; a waiter that timed out
//!   or was killed leaves the line and never consumes a later wake, and a
//!   lock or permit handed to a waiter killed before it resumed passes to
//!   the next one.
//! - Waiting on the root for something that nothing can ever release
//!   panics with a `green: deadlock` report instead of hanging.
//!
//! The types are [`ThreadBound`](crate::marker::ThreadBound): share them between the
//! coroutines of one thread with `Rc`, and use [`green::xchan`](crate::xchan)
//! to talk to other threads.
//!
//! ```
//! use std::rc::Rc;
//! use green::sync::{Event, Mutex};
//!
//! let ready = Rc::new(Event::new());
//! let total = Rc::new(Mutex::new(0));
//! let workers: Vec<_> = (1..=3)
//!     .map(|i| {
//!         let (ready, total) = (ready.clone(), total.clone());
//!         green::spawn(move || {
//!             ready.wait(); // parks until set
//!             *total.lock() += i;
//!         })
//!     })
//!     .collect();
//! ready.set();
//! green::joinall(workers);
//! assert_eq!(*total.lock(), 6);
//! ```

// Contributor note: broadcast primitives (events, results, barriers, wait
// groups) park on the wait-list (`crate::wait_list::WaitList`); those that
// hand ownership to one waiter (locks, permits, notifications) use the
// hand-off queue in `waiter.rs`, which adds a per-waiter grant flag to the
// same FIFO so a grant is never lost to a waiter killed between its wake
// and its resumption. This module never touches timers or the reactor.

mod async_result;
mod barrier;
mod condvar;
mod event;
mod mutex;
mod reentrant;
mod rwlock;
mod semaphore;
mod wait_group;
pub(crate) mod waiter;

pub use async_result::AsyncResult;
pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use reentrant::{ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit, TooManyReleases};
pub use wait_group::WaitGroup;
