//! A channel from OS threads into coroutines: any thread sends, and a
//! coroutine (or a thread's root) receives, parking only itself while the
//! channel is empty.
//!
//! The [`Sender`] is `Send` and `Clone`, and sending never blocks. The
//! [`Receiver`] is `Send + Sync` and [`recv`](Receiver::recv) takes `&self`,
//! so any number of coroutines, on any number of hub threads, may wait on
//! it at once (share it in an `Arc`): each item goes to exactly one of
//! them, the longest-waiting first, and a waiter that times out or is
//! killed never swallows an item meant for another. Once every sender is
//! gone, receivers drain what is left and then get `None`. While a
//! receiver waits and a sender is alive, its hub does not report a
//! deadlock: another thread may still send.
//!
//! ```
//! let (tx, rx) = green::xchan::channel();
//! let t = std::thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! let h = green::spawn(move || std::iter::from_fn(|| rx.recv()).sum::<i32>());
//! assert_eq!(h.join().unwrap(), 3);
//! t.join().unwrap();
//! ```
//!
//! For channels between coroutines of one thread, [`green::queue`](crate::queue)
//! is cheaper.

// Contributor note: the shared state is a `std::sync::Mutex`ed deque plus
// a FIFO of parked receivers' wake-up rights (`RemoteUnparker`s, which wake
// the receiver's hub through its mio `Waker`). Every waiter has its own
// entry; a send wakes the oldest one, and a waiter that leaves without an
// item (timeout, kill) takes its entry out and, if items are still queued,
// passes the wake on. This module never touches hub internals: it parks
// through the scheduler (`sched`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::interrupt::Interrupted;
use crate::lock::lock;
use crate::sched::{self, Park, RemoteUnparker};
use crate::task::ParkedOn;

struct State<T> {
    items: VecDeque<T>,
    /// Parked receivers in arrival order, each with the wake-up right for
    /// its current park, keyed so that the owner can take its own entry out.
    waiters: VecDeque<(u64, RemoteUnparker)>,
    next_key: u64,
    receiver_alive: bool,
}

impl<T> State<T> {
    /// Take waiter `key`'s entry out, if no sender has taken it yet.
    fn leave(&mut self, key: u64) -> Option<RemoteUnparker> {
        let i = self.waiters.iter().position(|(k, _)| *k == key)?;
        self.waiters.remove(i).map(|(_, w)| w)
    }

    /// The waiter to wake so that queued items do not sit unseen while
    /// receivers sleep: the oldest one, if any item is left.
    fn next_to_wake(&mut self) -> Option<RemoteUnparker> {
        if self.items.is_empty() {
            return None;
        }
        self.waiters.pop_front().map(|(_, w)| w)
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    senders: AtomicUsize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock (items are dropped outside it).
        lock(&self.state)
    }
}

/// The sending half; `Send + Clone` when `T: Send`. Sending never blocks.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half. It is `Send + Sync` when `T: Send`: share it (e.g.
/// in an `Arc`) and several coroutines, on one or several threads, may
/// `recv` at once; each item goes to exactly one of them.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// Returned by [`Sender::send`] when the receiver is gone; holds the item.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// A new cross-thread channel.
///
/// ```
/// let (tx, rx) = green::xchan::channel();
/// let t = std::thread::spawn(move || for i in 0..3 { tx.send(i).unwrap(); });
/// let h = green::spawn(move || std::iter::from_fn(|| rx.recv()).collect::<Vec<_>>());
/// assert_eq!(h.join().unwrap(), [0, 1, 2]);
/// t.join().unwrap();
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waiters: VecDeque::new(),
            next_key: 0,
            receiver_alive: true,
        }),
        senders: AtomicUsize::new(1),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queue `item` and wake the oldest waiting receiver. Never blocks;
    /// `Err` if the receiver was dropped.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let waiter = {
            let mut st = self.shared.lock();
            if !st.receiver_alive {
                return Err(SendError(item));
            }
            st.items.push_back(item);
            st.waiters.pop_front().map(|(_, w)| w)
        };
        // Woken outside the lock: the wake is a syscall on the hub's waker.
        if let Some(w) = waiter {
            w.unpark();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Last sender: wake every waiter so each sees the end.
            let all = std::mem::take(&mut self.shared.lock().waiters);
            for (_, w) in all {
                w.unpark();
            }
        }
    }
}

impl<T> Receiver<T> {
    /// Take the next item, parking the current coroutine while there is
    /// none. `None` once every sender is gone and the channel is drained.
    /// Unwinds on kill and on an enclosing `green::timeout`.
    pub fn recv(&self) -> Option<T> {
        self.recv_deadline(None)
    }

    /// Take an item if one is there, without parking.
    pub fn try_recv(&self) -> Option<T> {
        self.shared.lock().items.pop_front()
    }

    /// Like [`recv`](Self::recv), giving up after `d` (`None`).
    pub fn recv_timeout(&self, d: Duration) -> Option<T> {
        self.recv_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`recv`](Self::recv), giving up at `deadline` (`None`).
    pub fn recv_deadline(&self, deadline: Option<Instant>) -> Option<T> {
        match self.recv_as(deadline, true) {
            Ok(item) => item,
            // With `unwind`, interruptions unwind instead of returning.
            Err(i) => unreachable!("green: an unwinding recv returned {i}"),
        }
    }

    /// The one receive path. With `unwind`, kill and an expiring
    /// `green::timeout` unwind; without, they are returned (the blocking
    /// pool's no-unwind variant for `extern "C"` hooks uses that).
    pub(crate) fn recv_as(
        &self,
        deadline: Option<Instant>,
        unwind: bool,
    ) -> Result<Option<T>, Interrupted> {
        loop {
            let key = {
                let mut st = self.shared.lock();
                if let Some(item) = st.items.pop_front() {
                    return Ok(Some(item));
                }
                if self.shared.senders.load(Ordering::Acquire) == 0 {
                    return Ok(None);
                }
                // Registered under the lock: a send after this wakes us.
                let key = st.next_key;
                st.next_key = key.wrapping_add(1);
                st.waiters.push_back((key, sched::remote_unparker()));
                key
            };
            let mut waiting = Waiting {
                shared: &self.shared,
                key,
                done: false,
            };
            let r = if unwind {
                sched::park(deadline, ParkedOn::Remote)
            } else {
                // An `Err` here drops `waiting`, which leaves the list.
                sched::park_no_unwind(deadline, ParkedOn::Remote)?
            };
            let item = waiting.finish();
            if item.is_some() || r == Park::TimedOut {
                return Ok(item);
            }
        }
    }

    /// Items waiting to be received.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// True when no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One receiver's registration for one park. However the park ends (woken,
/// timed out, killed, an enclosing timeout), the entry leaves the waiter
/// list, so the hub stops counting it as pending cross-thread work and no
/// later send spends its wake on it. A sender may already have taken the
/// entry and woken this waiter for an item: if the waiter then leaves
/// without an item (unwinding) while items remain, it wakes the next one.
struct Waiting<'a, T> {
    shared: &'a Shared<T>,
    key: u64,
    /// Set by `finish`; the drop then has nothing left to do.
    done: bool,
}

impl<T> Waiting<'_, T> {
    /// After a normal return from the park: leave the list and take an item
    /// if one is there. No wake is passed on here: a parked waiter
    /// registered only while the deque was empty, and every item queued
    /// since woke a waiter of its own, so the items left are all spoken for.
    fn finish(&mut self) -> Option<T> {
        let (own, item) = {
            let mut st = self.shared.lock();
            (st.leave(self.key), st.items.pop_front())
        };
        // Dropped outside the lock: it pokes a hub's waker.
        drop(own);
        self.done = true;
        item
    }
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (own, next) = {
            let mut st = self.shared.lock();
            let own = st.leave(self.key);
            // Leaving without an item: whatever wake we may have been given
            // belongs to the next waiter.
            (own, st.next_to_wake())
        };
        drop(own);
        if let Some(w) = next {
            w.unpark();
        }
    }
}

impl<T> crate::waitable::sealed::Sealed for Receiver<T> {}

impl<T> crate::waitable::Waitable for Receiver<T> {
    /// An item is waiting, or every sender is gone (`recv` would return).
    fn is_ready(&self) -> bool {
        !self.shared.lock().items.is_empty() || self.shared.senders.load(Ordering::Acquire) == 0
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        // Registered like a receiver: the next send wakes us, and dropping
        // the registration without taking the item passes that wake on to
        // the next receiver (`Waiting`'s drop), so no receiver loses it.
        let key = {
            let mut st = self.shared.lock();
            let key = st.next_key;
            st.next_key = key.wrapping_add(1);
            st.waiters.push_back((key, sched::remote_unparker()));
            key
        };
        watch.hold(Box::new(Waiting {
            shared: &self.shared,
            key,
            done: false,
        }));
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut st = self.shared.lock();
            st.receiver_alive = false;
            std::mem::take(&mut st.items)
        };
        drop(items); // user destructors run outside the lock
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("xchan::Sender")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("xchan::Receiver")
    }
}
