//! Queues between coroutines of one thread (gevent's `queue` module):
//! [`Queue`] (first in, first out), [`LifoQueue`], [`PriorityQueue`]
//! (smallest first, ties in insertion order) and [`Channel`] (an unbuffered
//! rendezvous).
//!
//! A queue is unbounded or bounded: `put` parks while a bounded queue is
//! full, `get` parks while the queue is empty, each with `try_` and
//! timeout variants. Every waiter is served first come, first served; an
//! item is handed straight to the first parked getter; and no item is lost
//! or delivered twice when a waiter is killed or times out (a getter that
//! gave up never consumes a later `put`). `task_done`/`join` track
//! processing (gevent's `JoinableQueue`); `close` ends the queue: later
//! `put`s fail, and `get` drains what is left, then returns `None`.
//!
//! ```
//! use std::rc::Rc;
//! let q = Rc::new(green::queue::Queue::bounded(2));
//! let producer = {
//!     let q = q.clone();
//!     green::spawn(move || {
//!         for i in 0..5 {
//!             q.put(i).unwrap(); // parks while 2 items wait
//!         }
//!         q.close();
//!     })
//! };
//! let got: Vec<i32> = std::iter::from_fn(|| q.get()).collect();
//! assert_eq!(got, [0, 1, 2, 3, 4]);
//! producer.join().unwrap();
//! ```
//!
//! These types are [`ThreadBound`](crate::marker::ThreadBound); to feed coroutines
//! from other OS threads use `green::xchan`.

// Contributor note: all four share one implementation (`base.rs`) over
// three storage orders (`buffer.rs`); `put`/`get` park through the hub with
// optional deadlines and report a wait from `main` that nothing can end as
// a deadlock.

mod base;
mod buffer;
mod channel;

pub use base::BaseQueue;
pub use buffer::{Buffer, Fifo, Lifo, Priority};
pub use channel::Channel;

/// First in, first out.
///
/// ```
/// let q = green::queue::Queue::unbounded();
/// for i in 1..=3 { q.put(i).unwrap(); }
/// assert_eq!([q.get(), q.get(), q.get()], [Some(1), Some(2), Some(3)]);
/// assert_eq!(q.try_get(), None);
/// ```
pub type Queue<T> = BaseQueue<T, Fifo<T>>;

/// Last in, first out.
///
/// ```
/// let q = green::queue::LifoQueue::unbounded();
/// for i in 1..=3 { q.put(i).unwrap(); }
/// assert_eq!([q.get(), q.get(), q.get()], [Some(3), Some(2), Some(1)]);
/// ```
pub type LifoQueue<T> = BaseQueue<T, Lifo<T>>;

/// Smallest item first; equal items in insertion order.
///
/// ```
/// let q = green::queue::PriorityQueue::unbounded();
/// for (k, v) in [(2, "b"), (1, "x"), (2, "a"), (1, "y")] { q.put((k, v)).unwrap(); }
/// let order: Vec<_> = std::iter::from_fn(|| q.try_get()).collect();
/// assert_eq!(order, [(1, "x"), (1, "y"), (2, "a"), (2, "b")]);
/// ```
pub type PriorityQueue<T> = BaseQueue<T, Priority<T>>;
