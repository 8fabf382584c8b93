//! Synchronisation between coroutines of one hub (gevent's toolbox):
//! [`Event`], [`AsyncResult`], [`Mutex`], [`RwLock`], [`ReentrantMutex`],
//! [`Condvar`], [`Semaphore`], [`BoundedSemaphore`], [`Barrier`],
//! [`WaitGroup`].
//!
//! Every type is `!Send`/`!Sync` and shared between coroutines with `Rc`.
//! Every blocking method parks through the hub (never the thread), with an
//! optional deadline, obeys `green::timeout` and `kill` (guards are released
//! while unwinding), serves waiters first-in-first-out, and removes a waiter
//! that timed out or was killed so it never consumes a later wake. Waiting
//! from `main` on something nothing can ever release panics with a
//! `green: deadlock` report instead of hanging.
//!
//! Broadcast primitives (events, results, barriers, wait groups) park on
//! [`crate::wait_list::WaitList`]; those that hand ownership to one waiter (locks,
//! permits, notifications) use the hand-off queue in `waiter.rs`, which adds
//! a per-waiter grant flag to the same FIFO so a grant is never lost to a
//! waiter killed between its wake and its resumption.
//!
//! This module never touches timers or the reactor, and none of its types
//! may be used from another OS thread (see `green::xchan` for that).

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
