//! Wakes from other threads: a `RemoteUnparker` (or a `block_on` waker,
//! see `park_word.rs`) queues its wake here and pokes the reactor's waker;
//! the loop drains the queue. While a right is outstanding (or its wake is
//! queued) the hub keeps polling and never reports a deadlock. When the hub
//! ends, the queue closes: wakes queued after that are dropped at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::park_word::WordRef;
use super::{hub, try_hub, Hub};
use crate::lock::lock;
use crate::task::{TaskRef, TaskSlot, WakeReason};

/// One queued wake.
pub(super) enum RemoteWake {
    /// A `RemoteUnparker`'s: which task (its slot and id, since a slot is
    /// reused once its task ends) and which of its parks.
    Task { slot: TaskSlot, id: u64, gen: u32 },
    /// A `block_on` waker's: a reference to its word, whose owner the loop
    /// wakes if it is parked on it (`park_word.rs`).
    Word(WordRef),
}

/// The queue proper; `closed` once the hub has ended (nothing drains it
/// any more, so a wake that holds a reference must not wait in it).
#[derive(Default)]
pub(super) struct Queue {
    pub(super) wakes: Vec<RemoteWake>,
    pub(super) closed: bool,
}

/// Cross-thread wakes: filled by other threads, drained by the loop.
pub(crate) struct Remote {
    pub(super) queue: Mutex<Queue>,
    pub(super) waker: Arc<mio::Waker>,
    /// Outstanding `RemoteUnparker`s (work another thread may still
    /// finish) plus wakes queued and not drained yet.
    pub(super) pending: AtomicUsize,
}

/// A wake-up right for the current park that may be sent to another thread.
///
/// While one exists, the hub will not report a deadlock (the other thread may
/// still deliver). Dropping it without `unpark` also wakes the hub's poller so
/// it can re-check.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
pub struct RemoteUnparker {
    remote: Arc<Remote>,
    slot: TaskSlot,
    id: u64,
    gen: u32,
    /// The wake sits in the hub's queue: the hub, not this right's `Drop`,
    /// ends its pending count when it drains the queue. Until then the loop
    /// keeps polling (a busy loop that stopped polling once the right was
    /// gone used to strand the queued wake).
    queued: bool,
}

impl RemoteUnparker {
    /// Wake the task from any thread. Returns false if its hub is gone.
    ///
    /// On the hub's own thread (a future's waker woken by a sibling
    /// coroutine, say) the wake is made at once, with no queue and no poke
    /// of the poller: the same as a local `Unparker`.
    pub fn unpark(mut self) -> bool {
        if let Some(hub) = this_threads_hub(&self.remote) {
            if let Ok(task) = hub.task_of(self.slot, self.id) {
                self.remote.pending.fetch_sub(1, Ordering::AcqRel);
                // Spent: `Drop` must neither count it again nor poke.
                self.queued = true;
                if let Some(t) = task {
                    hub.wake(&t, self.gen, WakeReason::Notified);
                }
                return true;
            }
        }
        self.queued = true;
        self.remote
            .push(RemoteWake::Task {
                slot: self.slot,
                id: self.id,
                gen: self.gen,
            })
            .is_ok()
    }
}

impl Drop for RemoteUnparker {
    fn drop(&mut self) {
        if self.queued {
            return;
        }
        self.remote.pending.fetch_sub(1, Ordering::AcqRel);
        // Let the loop re-evaluate (deliver the wake or report a deadlock).
        let _ = self.remote.waker.wake();
    }
}

/// A `Send` unparker for the current task's next park.
// Public for greenhub-monkey and greenhub's own tests (hidden where it is
// exported, so docs of crates that re-export this one hide it too); not a
// stable API.
#[doc(hidden)]
pub fn remote_unparker() -> RemoteUnparker {
    let hub = hub();
    let task = hub.current();
    hub.remote.pending.fetch_add(1, Ordering::AcqRel);
    RemoteUnparker {
        remote: hub.remote.clone(),
        slot: task.slot(),
        id: task.id,
        gen: task.gen.get(),
        queued: false,
    }
}

impl Hub {
    pub(super) fn drain_remote(&self) {
        let items = std::mem::take(&mut lock(&self.remote.queue).wakes);
        // Each queued wake kept its right counted as pending until now, so
        // the loop kept polling for it (see `RemoteUnparker::unpark`).
        if !items.is_empty() {
            self.remote.pending.fetch_sub(items.len(), Ordering::AcqRel);
        }
        for item in items {
            match item {
                RemoteWake::Task { slot, id, gen } => {
                    // The loop drains between resumes, never while the
                    // table is being changed.
                    let t = self
                        .task_of(slot, id)
                        .expect("green: task table borrowed while draining cross-thread wakes");
                    if let Some(t) = t {
                        self.wake(&t, gen, WakeReason::Notified);
                    }
                }
                RemoteWake::Word(w) => w.deliver(self),
            }
        }
    }

    /// The task a right was made for, `Ok(None)` if it has ended; `Err`
    /// when the task table is being changed right now (a wake from inside
    /// the hub's own bookkeeping), so the caller queues the wake instead.
    fn task_of(&self, slot: TaskSlot, id: u64) -> Result<Option<TaskRef>, ()> {
        match slot {
            TaskSlot::Root => Ok(Some(self.root.clone())),
            TaskSlot::Table(i) => {
                let tasks = self.tasks.try_borrow().map_err(|_| ())?;
                Ok(tasks.get(i).filter(|t| t.id == id).cloned())
            }
        }
    }
}

impl Remote {
    /// Queue a wake for the hub's loop and poke its poller. Once the hub
    /// has ended (the queue is closed) nothing drains the queue: the wake
    /// comes back as `Err`, for the caller to drop.
    pub(super) fn push(&self, wake: RemoteWake) -> Result<(), RemoteWake> {
        {
            let mut q = lock(&self.queue);
            if q.closed {
                return Err(wake);
            }
            if let RemoteWake::Word(_) = wake {
                // Counted until the drain (a `RemoteUnparker`'s wake has
                // been counted since its right was made).
                self.pending.fetch_add(1, Ordering::AcqRel);
            }
            q.wakes.push(wake);
        }
        // An error means the poller is gone with its hub: nobody to wake.
        let _ = self.waker.wake();
        Ok(())
    }

    /// The hub has ended: nothing will drain the queue again. Wakes still
    /// in it are dropped here (giving back the references they hold), and
    /// `push` hands later ones back to their wakers.
    pub(super) fn close(&self) {
        let left = {
            let mut q = lock(&self.queue);
            q.closed = true;
            std::mem::take(&mut q.wakes)
        };
        drop(left);
    }
}

/// This thread's hub, if `remote` is its queue (a right woken on the thread
/// that made it). `None` on any other thread, and once the thread's hub is
/// gone (its TLS cleared at exit).
fn this_threads_hub(remote: &Arc<Remote>) -> Option<&'static Hub> {
    try_hub().filter(|hub| Arc::ptr_eq(&hub.remote, remote))
}
