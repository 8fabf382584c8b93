//! The one queue implementation behind `Queue`, `LifoQueue`,
//! `PriorityQueue` and `Channel`: a buffer in some order, a capacity, and
//! two hand-off wait queues (getters, putters).
//!
//! Invariants: getters wait only while the buffer is empty; putters wait
//! only while the queue is full (always, for capacity 0). An item given to
//! a parked getter goes straight into its waiter record and stays *in
//! flight* until the getter resumes and takes it: in a bounded queue it
//! counts against the capacity meanwhile (stored plus in flight never
//! exceeds it), so a getter killed after being handed an item can put it
//! back at the front (or hand it to the next getter) without ever going
//! over the bound. Capacity 0 stores nothing: there an item whose getter
//! was killed is offered to the next getter ahead of every parked putter
//! (`returned`), as a parked putter's item would be. When room appears (an
//! item taken, a hand-off completed), the first parked putter's item moves
//! in. No item is ever lost or delivered twice; a getter or putter that
//! timed out leaves the line and never consumes a later item (C16).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::buffer::Buffer;
use crate::sync::waiter::WaitQueue;
use crate::sync::WaitGroup;
use crate::wait_list::WaitList;

/// A queue of `T` stored in order `B`; use it through the aliases
/// [`Queue`](super::Queue), [`LifoQueue`](super::LifoQueue) and
/// [`PriorityQueue`](super::PriorityQueue).
///
/// [`ThreadBound`](crate::marker::ThreadBound): share it between the coroutines of
/// one thread with `Rc`; use `green::xchan` to feed
/// coroutines from other threads.
/// Every blocking method parks through the hub, obeys `green::timeout` and
/// `kill`, serves waiters first-in-first-out, and from `main` reports a
/// wait that nothing can end as a deadlock.
pub struct BaseQueue<T, B: Buffer<T>> {
    buf: RefCell<B>,
    cap: usize,
    /// Items handed to getters that have not resumed to take them yet.
    in_flight: Cell<usize>,
    /// Capacity 0 only: items handed to getters that were killed before
    /// taking them, when no other getter waited; served before parked
    /// putters, front first.
    returned: RefCell<VecDeque<T>>,
    getters: WaitQueue<T>,
    putters: WaitQueue<T>,
    closed: Cell<bool>,
    /// Items put and not yet marked done; `join` waits for zero.
    unfinished: WaitGroup,
    /// `green::wait` callers waiting for the queue to become readable
    /// (woken, all of them, whenever a `get` may no longer park).
    watchers: WaitList,
    _t: PhantomData<T>,
}

impl<T, B: Buffer<T>> BaseQueue<T, B> {
    /// A queue without a size limit: `put` never parks.
    pub fn unbounded() -> Self {
        Self::with_capacity(usize::MAX)
    }

    /// A queue holding at most `n` items: `put` parks while it is full.
    /// `bounded(0)` is a rendezvous: each `put` waits for a `get`.
    pub fn bounded(n: usize) -> Self {
        Self::with_capacity(n)
    }

    fn with_capacity(cap: usize) -> Self {
        BaseQueue {
            buf: RefCell::new(B::default()),
            cap,
            in_flight: Cell::new(0),
            returned: RefCell::new(VecDeque::new()),
            getters: WaitQueue::new(),
            putters: WaitQueue::new(),
            closed: Cell::new(false),
            unfinished: WaitGroup::new(),
            watchers: WaitList::new(),
            _t: PhantomData,
        }
    }

    /// Items stored now: never more than the capacity (always 0 for
    /// capacity 0). Not counted: items of parked putters, and items handed
    /// to parked getters that have not resumed yet (which do count against
    /// the capacity while in flight, see [`is_full`](Self::is_full)).
    pub fn len(&self) -> usize {
        self.buf.borrow().len()
    }

    /// True when no item is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a `put` would park: stored items plus items handed to
    /// getters that have not taken them yet fill the capacity (for
    /// capacity 0: no getter is parked).
    pub fn is_full(&self) -> bool {
        if self.cap == 0 {
            return !self.getters.has_waiters();
        }
        !self.has_room()
    }

    /// Room for one more item: stored plus in flight below the capacity.
    fn has_room(&self) -> bool {
        self.buf.borrow().len().saturating_add(self.in_flight.get()) < self.cap
    }

    /// The size limit (`None` for an unbounded queue).
    pub fn capacity(&self) -> Option<usize> {
        (self.cap != usize::MAX).then_some(self.cap)
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Coroutines parked in `get` right now (O(n)).
    pub fn getters(&self) -> usize {
        self.getters.count()
    }

    /// Coroutines parked in `put` right now (O(n)).
    pub fn putters(&self) -> usize {
        self.putters.count()
    }

    /// Add an item, parking while the queue is full.
    ///
    /// `Err(item)` only if the queue is (or gets, while this waits) closed.
    pub fn put(&self, item: T) -> Result<(), T> {
        self.put_deadline(item, None)
    }

    /// Add an item if that needs no parking; `Err(item)` when full or
    /// closed. Wakes a parked getter, also when called from `main`.
    pub fn try_put(&self, item: T) -> Result<(), T> {
        if self.closed.get() {
            return Err(item);
        }
        // A hand-off is in flight until the getter resumes: in a bounded
        // queue it needs room like a stored item (capacity 0 hands off
        // only, and has its own place for an item a killed getter gives
        // back).
        if self.cap != 0 && !self.has_room() {
            return Err(item);
        }
        let item = match self.hand_to_getter(item) {
            Ok(()) => {
                self.added();
                return Ok(());
            }
            Err(item) => item,
        };
        if self.has_room() {
            self.buf.borrow_mut().push(item);
            self.added();
            self.watchers.notify_all();
            return Ok(());
        }
        Err(item)
    }

    /// Like [`put`](Self::put), giving up after `d`: `Err(item)` on timeout
    /// or when closed.
    pub fn put_timeout(&self, item: T, d: Duration) -> Result<(), T> {
        self.put_deadline(item, crate::clock::now().checked_add(d))
    }

    /// Like [`put`](Self::put), giving up at `deadline`.
    pub fn put_deadline(&self, item: T, deadline: Option<Instant>) -> Result<(), T> {
        let item = match self.try_put(item) {
            Ok(()) => return Ok(()),
            Err(item) if self.closed.get() => return Err(item),
            Err(item) => item,
        };
        // The getter that takes our item leaves `None` in the slot; `close`
        // leaves the item there (refused). After a grant there is nothing
        // to undo if we are killed: the item is already in the queue.
        // A parked putter makes a `get` succeed when no getter is ahead.
        self.watchers.notify_all();
        match self.putters.wait(0, Some(item), deadline, |_, _| {}) {
            Ok(None) => Ok(()),
            Ok(Some(item)) => Err(item),
            Err(Some(item)) => Err(item),
            Err(None) => unreachable!("green: a putter that timed out keeps its item"),
        }
    }

    /// Take the next item, parking while the queue is empty.
    ///
    /// `None` only once the queue is closed and drained.
    pub fn get(&self) -> Option<T> {
        self.get_deadline(None)
    }

    /// Take the next item if there is one, without parking. Wakes a parked
    /// putter, also when called from `main`.
    pub fn try_get(&self) -> Option<T> {
        // Capacity 0: an item a killed getter gave back goes first.
        let returned = self.returned.borrow_mut().pop_front();
        if returned.is_some() {
            return returned;
        }
        let popped = self.buf.borrow_mut().pop();
        if let Some(item) = popped {
            self.refill();
            return Some(item);
        }
        // Empty buffer with parked putters (capacity 0, or every place in
        // flight to getters that took their turn already): take directly,
        // unless parked getters are owed the next item first.
        if self.getters.has_waiters() {
            return None;
        }
        let mut got = None;
        self.putters.grant_with(|slot| got = slot.take());
        if got.is_some() {
            self.added();
        }
        got
    }

    /// Like [`get`](Self::get), giving up after `d` (`None`).
    pub fn get_timeout(&self, d: Duration) -> Option<T> {
        self.get_deadline(crate::clock::now().checked_add(d))
    }

    /// Like [`get`](Self::get), giving up at `deadline` (`None`).
    pub fn get_deadline(&self, deadline: Option<Instant>) -> Option<T> {
        if let Some(item) = self.try_get() {
            return Some(item);
        }
        if self.closed.get() {
            return None;
        }
        let r = self.getters.wait(0, None, deadline, |granted, slot| {
            if granted {
                if let Some(item) = slot {
                    self.unget(item);
                }
            }
        });
        match r {
            Ok(Some(item)) => {
                // The hand-off is complete: its room is free again.
                self.in_flight.set(self.in_flight.get() - 1);
                self.refill();
                Some(item)
            }
            // Closed while we waited; or timed out.
            Ok(None) | Err(_) => None,
        }
    }

    /// Mark one item taken with `get` as processed (see [`join`](Self::join)).
    ///
    /// # Panics
    /// If called more times than items were put: a bug in the caller.
    pub fn task_done(&self) {
        assert!(
            self.unfinished.try_done(),
            "green: task_done called more times than items were put"
        );
    }

    /// Items put but not yet marked with [`task_done`](Self::task_done).
    pub fn unfinished(&self) -> usize {
        self.unfinished.count()
    }

    /// Park until every item ever put was marked with `task_done`. Returns
    /// at once, without switching, when none is outstanding.
    ///
    /// ```
    /// use std::rc::Rc;
    /// let q = Rc::new(green::queue::Queue::unbounded());
    /// let worker = { let q = q.clone(); green::spawn(move || while let Some(_job) = q.get() { q.task_done(); }) };
    /// for job in 0..3 { q.put(job).unwrap(); }
    /// q.join(); // all three processed
    /// assert_eq!(q.unfinished(), 0);
    /// q.close();
    /// worker.join().unwrap();
    /// ```
    pub fn join(&self) {
        self.unfinished.wait()
    }

    /// Like [`join`](Self::join), giving up after `d`; true when done.
    pub fn join_timeout(&self, d: Duration) -> bool {
        self.unfinished.wait_timeout(d)
    }

    /// Shut the queue: later `put`s fail (parked putters get their item
    /// back as `Err`), `get` drains what is stored and then returns `None`
    /// (parked getters wake with `None`). Idempotent.
    pub fn close(&self) {
        self.closed.set(true);
        while self.getters.grant_with(|_| ()) {}
        while self.putters.grant_with(|_| ()) {}
        self.watchers.notify_all();
    }

    fn added(&self) {
        self.unfinished.add(1);
    }

    /// Hand `item` to the first parked getter, if any: it is in flight
    /// until that getter resumes.
    fn hand_to_getter(&self, item: T) -> Result<(), T> {
        self.getters.try_grant(item)?;
        self.in_flight.set(self.in_flight.get() + 1);
        Ok(())
    }

    /// Room appeared in a bounded queue: move parked putters' items in, to
    /// parked getters first, else into the buffer, while room lasts.
    /// (Capacity 0 has no room: its putters wait for getters directly.)
    fn refill(&self) {
        while self.has_room() {
            let mut moved = None;
            if !self.putters.grant_with(|slot| moved = slot.take()) {
                return;
            }
            // A parked putter always holds its item; `None` only if closed
            // (then it was refused, and nothing moves).
            let Some(item) = moved else { continue };
            self.added();
            if let Err(item) = self.hand_to_getter(item) {
                self.buf.borrow_mut().push(item);
                self.watchers.notify_all();
            }
        }
    }

    /// A getter was handed `item` but cannot take it (killed first): give
    /// it to the next getter (still in flight), or put it back at the
    /// front, in the room its hand-off held (capacity 0, which has none,
    /// keeps it in `returned`). It stays counted as unfinished.
    fn unget(&self, item: T) {
        if let Err(item) = self.getters.try_grant(item) {
            self.in_flight.set(self.in_flight.get() - 1);
            if self.cap == 0 {
                self.returned.borrow_mut().push_front(item);
            } else {
                self.buf.borrow_mut().unpop(item);
            }
            self.watchers.notify_all();
        }
    }
}

impl<T, B: Buffer<T>> BaseQueue<T, B> {
    /// Whether a `get` would end without parking: an item is there (or a
    /// parked putter with no getter ahead), or the queue is closed.
    pub(crate) fn readable(&self) -> bool {
        self.closed.get()
            || !self.returned.borrow().is_empty()
            || !self.buf.borrow().is_empty()
            || (!self.getters.has_waiters() && self.putters.has_waiters())
    }
}

impl<T, B: Buffer<T>> crate::waitable::sealed::Sealed for BaseQueue<T, B> {}

impl<T, B: Buffer<T>> crate::waitable::Waitable for BaseQueue<T, B> {
    fn is_ready(&self) -> bool {
        self.readable()
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        watch.on_list(&self.watchers);
    }
}

impl<T, B: Buffer<T>> fmt::Debug for BaseQueue<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.closed.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Queue;

    /// The shared counter must keep the queue's own misuse message and leave
    /// the count at zero (not wrap) after the refused call.
    #[test]
    fn task_done_past_zero_names_task_done_and_keeps_count() {
        let q = Queue::unbounded();
        q.put(1).unwrap_or_else(|_| panic!("unbounded put refused"));
        assert_eq!(q.get(), Some(1));
        q.task_done();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done()));
        let msg = r.expect_err("a second task_done must panic");
        let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("task_done called more times"), "{msg}");
        assert_eq!(q.unfinished(), 0);
        q.join(); // nothing outstanding: returns at once
    }
}
