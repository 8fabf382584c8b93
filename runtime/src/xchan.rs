//! A channel from OS threads into coroutines: the `Sender` is `Send` and
//! `Clone`, and a `Receiver::recv` parks only the receiving coroutine (or
//! runs the hub, from `main`); a send wakes it through the hub's mio
//! `Waker` (a `RemoteUnparker`).
//!
//! The shared state is a `std::sync::Mutex`ed deque plus the receiver's
//! current wake-up right. While a receiver waits and a sender is alive the
//! hub does not report a deadlock (another thread may still send); once
//! every sender is gone the receiver drains what is left and then gets
//! `None`. This module never touches hub internals: it parks through `hub`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cancel::Interrupted;
use crate::hub::{self, Park, RemoteUnparker};
use crate::task::ParkedOn;

struct State<T> {
    items: VecDeque<T>,
    /// The receiver's wake-up right for its current park.
    waiter: Option<RemoteUnparker>,
    receiver_alive: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    senders: AtomicUsize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock, so a poisoned one is intact.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half; `Send + Clone` when `T: Send`. Sending never blocks.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half, used from coroutines (or `main`) of one thread.
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
            waiter: None,
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
    /// Queue `item` and wake the receiver. Never blocks; `Err` if the
    /// receiver was dropped.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let waiter = {
            let mut st = self.shared.lock();
            if !st.receiver_alive {
                return Err(SendError(item));
            }
            st.items.push_back(item);
            st.waiter.take()
        };
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
            // Last sender: wake the receiver so it sees the end.
            let w = self.shared.lock().waiter.take();
            if let Some(w) = w {
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
        self.recv_deadline(Instant::now().checked_add(d))
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
            {
                let mut st = self.shared.lock();
                if let Some(item) = st.items.pop_front() {
                    return Ok(Some(item));
                }
                if self.shared.senders.load(Ordering::Acquire) == 0 {
                    return Ok(None);
                }
                // Registered under the lock: a send after this wakes us.
                st.waiter = Some(hub::remote_unparker());
            }
            let clear = ClearWaiter(&self.shared);
            let r = if unwind {
                hub::park(deadline, ParkedOn::Remote)
            } else {
                hub::park_no_unwind(deadline, ParkedOn::Remote)?
            };
            drop(clear);
            if r == Park::TimedOut {
                return Ok(self.try_recv());
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

/// Drops a stale wake-up right after a park (woken, timed out or unwinding),
/// so the hub stops counting it as pending cross-thread work.
struct ClearWaiter<'a, T>(&'a Shared<T>);

impl<T> Drop for ClearWaiter<'_, T> {
    fn drop(&mut self) {
        let w = self.0.lock().waiter.take();
        drop(w);
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
