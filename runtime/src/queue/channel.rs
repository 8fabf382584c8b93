//! `Channel`: an unbuffered rendezvous between coroutines (gevent's
//! `queue.Channel`, Go's unbuffered `chan`).
//!
//! A capacity-0 queue: `send` parks until a receiver has taken the item
//! (C24), `recv` parks until a sender offers one. The hand-off itself is
//! the base queue's.

use std::fmt;
use std::time::{Duration, Instant};

use super::base::BaseQueue;
use super::buffer::Fifo;

/// A rendezvous channel; share it between coroutines with `Rc`.
///
/// ```
/// use std::rc::Rc;
/// let ch = Rc::new(green::queue::Channel::new());
/// let c = ch.clone();
/// let h = green::spawn(move || c.recv());
/// ch.send("hi").unwrap(); // returns once the receiver has it
/// assert_eq!(h.join().unwrap(), Some("hi"));
/// ```
pub struct Channel<T> {
    q: BaseQueue<T, Fifo<T>>,
}

impl<T> crate::waitable::sealed::Sealed for Channel<T> {}

impl<T> crate::waitable::Waitable for Channel<T> {
    /// A sender is waiting (or the channel is closed): `recv` would not
    /// park.
    fn is_ready(&self) -> bool {
        self.q.readable()
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        crate::waitable::Waitable::watch(&self.q, watch);
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> Channel<T> {
    /// A new, open channel.
    pub fn new() -> Channel<T> {
        Channel {
            q: BaseQueue::bounded(0),
        }
    }

    /// Park until a receiver takes `item`. `Err(item)` if the channel is
    /// (or gets) closed first. Unwinds on kill and on an enclosing
    /// `green::timeout`; from `main`, a send nobody can receive is reported
    /// as a deadlock.
    ///
    /// If a receiver that was handed the item is killed before it resumes,
    /// the item goes to the next `recv` instead; it is never lost.
    pub fn send(&self, item: T) -> Result<(), T> {
        self.q.put(item)
    }

    /// Send only if a receiver is waiting right now.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        self.q.try_put(item)
    }

    /// Like [`send`](Self::send), giving up after `d` (`Err(item)`).
    pub fn send_timeout(&self, item: T, d: Duration) -> Result<(), T> {
        self.q.put_timeout(item, d)
    }

    /// Park until a sender offers an item. `None` once closed (and any item
    /// a killed receiver gave back is drained).
    pub fn recv(&self) -> Option<T> {
        self.q.get()
    }

    /// Take an item only if a sender is waiting right now.
    pub fn try_recv(&self) -> Option<T> {
        self.q.try_get()
    }

    /// Like [`recv`](Self::recv), giving up after `d` (`None`).
    pub fn recv_timeout(&self, d: Duration) -> Option<T> {
        self.q.get_timeout(d)
    }

    /// Like [`recv`](Self::recv), giving up at `deadline` (`None`).
    pub fn recv_deadline(&self, deadline: Option<Instant>) -> Option<T> {
        self.q.get_deadline(deadline)
    }

    /// Close: parked and later senders fail, receivers get `None`.
    pub fn close(&self) {
        self.q.close()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.q.is_closed()
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("closed", &self.q.is_closed())
            .finish_non_exhaustive()
    }
}
