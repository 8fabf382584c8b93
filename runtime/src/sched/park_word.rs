//! `ParkWord`: one atomic word that carries a task's wake-up right across
//! its repeated parks (what `block_on`'s waker is built on, as a tokio
//! task's state word is for its waker).
//!
//! The word holds a `NOTIFIED` bit (woken since the owner last cleared it),
//! an `ARMED` bit (the owner is parked, or about to park, and a wake should
//! end that park) and, while armed, the generation of that park. The owner
//! arms with one compare-and-swap, which fails if a wake came first (then
//! it polls again instead of parking); a wake is one swap, and the waker
//! that takes `ARMED` delivers the wake for the generation it read, so a
//! wake can only ever end the park it was armed for (the scheduler ignores
//! a generation that is over). A disarm after a park that a wake ended is
//! one plain load.
//!
//! Delivery: on the owner's own thread the wake goes straight to the
//! scheduler (no queue, no poke of the poller, no lookup: the owner is
//! parked, so its record is alive); from any other thread it is queued on
//! the owner hub's cross-thread queue and the poller is poked. While armed
//! with a waker out there, the owner counts as waiting on another thread,
//! so the hub keeps polling rather than report a deadlock.
//!
//! This module owns the word's protocol only; it never polls, never parks
//! by itself and never runs user code.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::remote::{Remote, RemoteWake};
use super::{hub, try_hub, Hub};
use crate::lock::lock;
use crate::task::{Task, TaskRef, TaskSlot, WakeReason};

/// Woken since the owner last cleared the word.
const NOTIFIED: u64 = 1;
/// The owner's current park (generation in the high half) ends on a wake.
const ARMED: u64 = 2;

/// The wake-up state of one owner task for its parks on this word. `Send`
/// and `Sync`: wakes may come from any thread.
pub(crate) struct ParkWord {
    state: AtomicU64,
    /// The owner's hub, fixed at the first `arm` (so a word that never
    /// parks never makes a hub) for the word's life.
    remote: OnceLock<Arc<Remote>>,
    /// The owner: its record (for wakes on its own thread), its table slot
    /// (`u32::MAX`: the root) and id (for wakes from other threads, which
    /// look it up, since it may have ended by the time the hub drains).
    /// Written when arming, read by the waker that takes `ARMED`.
    task: AtomicPtr<Task>,
    slot: AtomicU32,
    id: AtomicU64,
}

impl ParkWord {
    /// A word for tasks of this thread (of its hub, once one parks on it).
    pub(crate) fn new() -> ParkWord {
        ParkWord {
            state: AtomicU64::new(0),
            remote: OnceLock::new(),
            task: AtomicPtr::new(std::ptr::null_mut()),
            slot: AtomicU32::new(u32::MAX),
            id: AtomicU64::new(0),
        }
    }

    /// Whether the word may serve this thread's hub (a word kept for reuse
    /// must not outlive the hub it was first armed on).
    #[inline]
    pub(crate) fn is_for_this_hub(&self) -> bool {
        match self.remote.get() {
            None => true,
            Some(r) => try_hub().is_some_and(|h| Arc::ptr_eq(&h.remote, r)),
        }
    }

    /// Forget earlier wakes: the owner is about to poll, which sees
    /// whatever they announced. Never called while armed.
    #[inline(always)]
    pub(crate) fn clear(&self) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed) & ARMED, 0);
        self.state.store(0, Ordering::Relaxed);
    }

    /// Get the running task ready to park on this word. False when a wake
    /// came since `clear`: poll again instead. `wakeable` says a waker
    /// exists outside the owner's own poll; without one nothing can end the
    /// park (a root then reports a deadlock), so nothing is armed.
    ///
    /// Every `arm` that returns true for a wakeable park is followed by one
    /// `disarm(true)` (on every way out of the park, unwinding included).
    #[inline(always)]
    pub(crate) fn arm(&self, wakeable: bool) -> bool {
        if !wakeable {
            // No clone of the waker exists: only the owner's own poll could
            // have woken it, on this thread.
            return self.state.load(Ordering::Relaxed) & NOTIFIED == 0;
        }
        let hub = hub();
        let remote = self.remote.get_or_init(|| hub.remote.clone());
        debug_assert!(Arc::ptr_eq(remote, &hub.remote), "a word serves one hub");
        let task = hub.current();
        self.task
            .store(task as *const Task as *mut Task, Ordering::Relaxed);
        self.slot.store(
            match task.slot() {
                TaskSlot::Root => u32::MAX,
                TaskSlot::Table(i) => i as u32,
            },
            Ordering::Relaxed,
        );
        self.id.store(task.id, Ordering::Relaxed);
        let armed = (u64::from(task.gen.get()) << 32) | ARMED;
        // Release: a waker that takes `ARMED` sees the owner fields above.
        if self
            .state
            .compare_exchange(0, armed, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        hub.word_parked.set(hub.word_parked.get() + 1);
        true
    }

    /// The park that `arm(true)` prepared is over (a wake, a kill, a
    /// timeout, or it never parked): take the right back if no wake took it.
    #[inline(always)]
    pub(crate) fn disarm(&self) {
        if self.state.load(Ordering::Relaxed) & ARMED != 0 {
            self.state.fetch_and(!ARMED, Ordering::Relaxed);
        }
        let hub = hub();
        hub.word_parked.set(hub.word_parked.get() - 1);
    }

    /// Wake the owner from any thread: end its current park if it is armed,
    /// else make its next `arm` fail (it polls again).
    #[inline]
    pub(crate) fn wake(&self) {
        let prev = self.state.swap(NOTIFIED, Ordering::AcqRel);
        if prev & ARMED == 0 {
            return;
        }
        let gen = (prev >> 32) as u32;
        // Set before `ARMED` was (see `arm`).
        let Some(remote) = self.remote.get() else {
            return;
        };
        match try_hub() {
            Some(h) if Arc::ptr_eq(&h.remote, remote) => self.wake_here(h, gen),
            _ => self.wake_from_afar(remote, gen),
        }
    }

    /// The wake on the owner's own thread.
    #[inline(always)]
    fn wake_here(&self, hub: &Hub, gen: u32) {
        let p = self.task.load(Ordering::Relaxed);
        // SAFETY: this wake took `ARMED`, which the owner sets in `arm` and
        // takes back in `disarm` (on every way out of the park): so the
        // owner is still between the two, unfinished, and its record (the
        // root's, or one the task table holds) is alive. Same thread: the
        // record is not being changed under us.
        let task = TaskRef::from_task(unsafe { &*p });
        hub.wake(&task, gen, WakeReason::Notified);
    }

    /// The wake from another thread (or from this one after its hub ended):
    /// queue it on the owner's hub and poke its poller.
    #[cold]
    fn wake_from_afar(&self, remote: &Remote, gen: u32) {
        let slot = match self.slot.load(Ordering::Relaxed) {
            u32::MAX => TaskSlot::Root,
            i => TaskSlot::Table(i as usize),
        };
        let id = self.id.load(Ordering::Relaxed);
        // The drain counts every queued wake off `pending`.
        remote.pending.fetch_add(1, Ordering::AcqRel);
        lock(&remote.queue).push(RemoteWake { slot, id, gen });
        // An error means the hub is gone: nobody left to wake.
        let _ = remote.waker.wake();
    }
}
