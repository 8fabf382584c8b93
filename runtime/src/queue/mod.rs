//! Queues between coroutines of one hub: [`Queue`] (FIFO), [`LifoQueue`],
//! [`PriorityQueue`] (smallest first, ties FIFO) and [`Channel`]
//! (unbuffered rendezvous).
//!
//! All share one implementation (`base.rs`) over three storage orders
//! (`buffer.rs`). `put`/`get` park through the hub with optional
//! deadlines, hand items directly to the first parked waiter, never lose or
//! duplicate an item when a waiter is killed or times out, and report a
//! wait from `main` that nothing can end as a deadlock. `task_done`/`join`
//! and `close` follow gevent's `JoinableQueue` and `shutdown`.
//!
//! For feeding coroutines from other OS threads use [`crate::xchan`]; these
//! types are `!Send`.

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
