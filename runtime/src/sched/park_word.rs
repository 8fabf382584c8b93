//! `ParkWord`: one atomic word that carries a task's wake-up right across
//! its repeated parks, and counts the references to itself (what
//! `block_on`'s waker is built on, as a tokio task's state word is for its
//! waker).
//!
//! ```text
//!   63            32 31                2   1        0
//!   [ generation   ][ references       ][ ARMED ][ NOTIFIED ]
//! ```
//!
//! - `NOTIFIED`: woken while not armed (during the owner's poll); the
//!   owner's next `arm` fails and it polls again instead of parking.
//! - `ARMED`, with the generation of the park it was armed for: the owner
//!   is parked (or about to park) and a wake should end that park. The
//!   waker that takes `ARMED` (clearing it in the same atomic step that
//!   reads the generation) delivers the wake for that generation, so a wake
//!   can only ever end the park it was armed for: the scheduler ignores a
//!   generation that is over. The wake that ends a park is the one the
//!   owner's next poll sees, so it leaves `NOTIFIED` clear, and the owner
//!   has nothing to clear before that poll.
//! - References: the owner's handle and every waker clone. A wake by value
//!   gives its reference back in the same atomic step as the wake, so a
//!   hand-off on one thread costs three atomic operations in all: the
//!   waker's clone, its wake, and the owner's `arm`.
//!
//! Delivery: on the owner's own thread the wake goes straight to the
//! scheduler (no queue, no poke of the poller, no lookup: the owner is
//! parked, so its record is alive, and it cannot run before the wake
//! returns); from any other thread it is queued on the owner hub's
//! cross-thread queue and the poller is poked, and that waker keeps its
//! reference until it is done. While armed with a waker out there, the
//! owner counts as waiting on another thread, so the hub keeps polling
//! rather than report a deadlock.
//!
//! This module owns the word's protocol only; it never polls, never parks
//! by itself and never runs user code.

use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::remote::{Remote, RemoteWake};
use super::{hub, try_hub, Hub};
use crate::lock::lock;
use crate::task::{Task, TaskSlot, WakeReason};

/// Woken while not armed.
const NOTIFIED: u64 = 1;
/// The owner's current park (generation in the high half) ends on a wake.
const ARMED: u64 = 2;
/// One reference.
const REF_ONE: u64 = 4;
/// The reference count's bits.
const REFS: u64 = 0xFFFF_FFFC;
/// More references than this abort (as `Arc` does on overflow).
const MAX_REFS: u64 = (REFS >> 2) / 2;

#[inline(always)]
fn refs(state: u64) -> u64 {
    (state & REFS) >> 2
}

/// The word and who it wakes. `Send` and `Sync`: wakes may come from any
/// thread.
struct Word {
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

// A waker may go to any thread: what it points to must allow that.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Word>();
};

/// The owner's counted handle to a word (like an `Arc`, and kept on the
/// owner's thread). Wakers hold further references through the raw
/// functions below.
pub(crate) struct ParkWord(NonNull<Word>);

impl ParkWord {
    /// A word for tasks of this thread (of its hub, once one parks on it),
    /// with one reference: this handle's.
    pub(crate) fn new() -> ParkWord {
        let w = Box::new(Word {
            state: AtomicU64::new(REF_ONE),
            remote: OnceLock::new(),
            task: AtomicPtr::new(std::ptr::null_mut()),
            slot: AtomicU32::new(u32::MAX),
            id: AtomicU64::new(0),
        });
        ParkWord(NonNull::from(Box::leak(w)))
    }

    #[inline(always)]
    fn word(&self) -> &Word {
        // SAFETY: this handle holds a reference, so the word is alive.
        unsafe { self.0.as_ref() }
    }

    /// The pointer a waker carries (for the raw functions below); it
    /// borrows this handle's reference.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const () {
        self.0.as_ptr().cast()
    }

    /// Whether no waker refers to the word: nothing can wake the owner
    /// but its own poll, and the word may serve another call.
    #[inline(always)]
    pub(crate) fn is_unique(&self) -> bool {
        let unique = refs(self.word().state.load(Ordering::Relaxed)) == 1;
        if unique {
            // Every waker's last access happened before its reference
            // went (as `Arc::get_mut` orders it).
            fence(Ordering::Acquire);
        }
        unique
    }

    /// Whether the word may serve this thread's hub (a word kept for reuse
    /// must not outlive the hub it was first armed on).
    #[inline]
    pub(crate) fn is_for_this_hub(&self) -> bool {
        match self.word().remote.get() {
            None => true,
            Some(r) => try_hub().is_some_and(|h| Arc::ptr_eq(&h.remote, r)),
        }
    }

    /// Forget wakes that came while not armed: the owner is about to poll,
    /// which sees whatever they announced. A plain load when there were
    /// none (the common case: the wake that ended the park left none).
    #[inline(always)]
    pub(crate) fn clear(&self) {
        let w = self.word();
        let s = w.state.load(Ordering::Relaxed);
        debug_assert_eq!(s & ARMED, 0, "cleared while armed");
        if s & NOTIFIED != 0 {
            w.state.fetch_and(!NOTIFIED, Ordering::Relaxed);
        }
    }

    /// Get the running task ready to park on this word. False when a wake
    /// came since `clear`: poll again instead. `wakeable` says a waker
    /// exists outside the owner's own poll; without one nothing can end the
    /// park (a root then reports a deadlock), so nothing is armed.
    ///
    /// Every `arm(true)` that returns true is followed by one `disarm` (on
    /// every way out of the park, unwinding included).
    #[inline(always)]
    pub(crate) fn arm(&self, wakeable: bool) -> bool {
        let w = self.word();
        if !wakeable {
            // No clone of the waker exists: only the owner's own poll could
            // have woken it, on this thread.
            return w.state.load(Ordering::Relaxed) & NOTIFIED == 0;
        }
        let hub = hub();
        let remote = w.remote.get_or_init(|| hub.remote.clone());
        debug_assert!(Arc::ptr_eq(remote, &hub.remote), "a word serves one hub");
        let task = hub.current();
        w.task
            .store(task as *const Task as *mut Task, Ordering::Relaxed);
        let slot = match task.slot() {
            TaskSlot::Root => u32::MAX,
            TaskSlot::Table(i) => i as u32,
        };
        w.slot.store(slot, Ordering::Relaxed);
        w.id.store(task.id, Ordering::Relaxed);
        let armed = (u64::from(task.gen.get()) << 32) | ARMED;
        let mut cur = w.state.load(Ordering::Relaxed);
        loop {
            if cur & NOTIFIED != 0 {
                return false;
            }
            // Release: a waker that takes `ARMED` sees the owner fields
            // above. (A failure is a clone or drop meanwhile, or a wake.)
            match w.state.compare_exchange_weak(
                cur,
                (cur & REFS) | armed,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
        hub.word_parked.set(hub.word_parked.get() + 1);
        true
    }

    /// The park that `arm(true)` prepared is over (a wake, a kill, a
    /// timeout, or it never parked): take the right back if no wake took
    /// it. One plain load when a wake ended the park.
    #[inline(always)]
    pub(crate) fn disarm(&self) {
        let w = self.word();
        if w.state.load(Ordering::Relaxed) & ARMED != 0 {
            w.state.fetch_and(!ARMED, Ordering::Relaxed);
        }
        let hub = hub();
        hub.word_parked.set(hub.word_parked.get() - 1);
    }

    /// A waker's clone: one more reference.
    ///
    /// # Safety
    /// `p` comes from `as_ptr` of a live word (a handle's or a waker's
    /// reference keeps it alive during the call).
    #[inline(always)]
    pub(crate) unsafe fn clone_raw(p: *const ()) {
        // SAFETY: alive (the caller's contract).
        let w = unsafe { &*p.cast::<Word>() };
        let old = w.state.fetch_add(REF_ONE, Ordering::Relaxed);
        if refs(old) >= MAX_REFS {
            // Billions of live wakers: the count would wrap into the flags.
            std::process::abort();
        }
    }

    /// A waker dropped without waking: one reference less, freeing the
    /// word with the last one.
    ///
    /// # Safety
    /// `p` carries one reference (from `clone_raw`), given up here.
    #[inline(always)]
    pub(crate) unsafe fn drop_raw(p: *const ()) {
        // SAFETY: alive until this reference goes (the caller's contract).
        let w = unsafe { &*p.cast::<Word>() };
        let old = w.state.fetch_sub(REF_ONE, Ordering::Release);
        if refs(old) == 1 {
            // SAFETY: that was the last reference.
            unsafe { free(p) };
        }
    }

    /// Wake the owner and give up the waker's reference: end its current
    /// park if it is armed, else make its next `arm` fail (it polls again).
    ///
    /// # Safety
    /// `p` carries one reference (from `clone_raw`), given up here.
    #[inline]
    pub(crate) unsafe fn wake_raw(p: *const ()) {
        // SAFETY: alive until this reference goes (the caller's contract).
        unsafe { wake(p, true) }
    }

    /// Wake the owner, keeping the waker's reference.
    ///
    /// # Safety
    /// `p` comes from `as_ptr` of a live word, kept alive by the caller.
    #[inline]
    pub(crate) unsafe fn wake_by_ref_raw(p: *const ()) {
        // SAFETY: alive (the caller's contract); no reference is given up.
        unsafe { wake(p, false) }
    }
}

impl Drop for ParkWord {
    fn drop(&mut self) {
        // SAFETY: the handle's own reference, given up once, here.
        unsafe { ParkWord::drop_raw(self.as_ptr()) }
    }
}

/// Free a word whose last reference just went.
///
/// # Safety
/// No reference to the word is left; it came from `ParkWord::new`.
#[cold]
unsafe fn free(p: *const ()) {
    // Every other reference's last access happened before its release.
    fence(Ordering::Acquire);
    // SAFETY: made by `Box::leak` in `new`; nobody refers to it any more.
    drop(unsafe { Box::from_raw(p.cast::<Word>().cast_mut()) });
}

/// The one wake: take `ARMED` (or set `NOTIFIED`) and, if `by_val`, give
/// the reference back, in one atomic step where the owner's thread makes
/// that safe.
///
/// # Safety
/// `p` points to a live word; with `by_val` the caller gives up one
/// reference.
#[inline(always)]
unsafe fn wake(p: *const (), by_val: bool) {
    // SAFETY: alive while the caller's reference is (the caller's contract).
    let w = unsafe { &*p.cast::<Word>() };
    // On the owner's thread the owner cannot run (and drop its reference)
    // before this returns, so the reference may go with the wake itself.
    // Elsewhere a waker that takes `ARMED` keeps it until it has queued the
    // wake: the owner's may be the only other one, and a kill could end the
    // park and drop it meanwhile. (No hub remembered yet: never armed.)
    let here = w
        .remote
        .get()
        .and_then(|r| try_hub().filter(|h| Arc::ptr_eq(&h.remote, r)));
    let mut cur = w.state.load(Ordering::Relaxed);
    let mut gave_back;
    loop {
        let took = cur & ARMED != 0;
        let mut new = if took { cur & REFS } else { cur | NOTIFIED };
        gave_back = by_val && (!took || here.is_some());
        if gave_back {
            new -= REF_ONE;
        }
        match w
            .state
            .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(c) => cur = c,
        }
    }
    if cur & ARMED != 0 {
        let gen = (cur >> 32) as u32;
        match here {
            Some(hub) => wake_here(w, hub, gen),
            None => wake_from_afar(w, gen),
        }
    }
    if by_val {
        if !gave_back {
            // SAFETY: the caller's reference, kept for the queueing above.
            unsafe { ParkWord::drop_raw(p) };
        } else if refs(cur) == 1 {
            // SAFETY: that was the last reference (never when it took
            // `ARMED`: the parked owner holds one).
            unsafe { free(p) };
        }
    }
}

/// The wake on the owner's own thread.
#[inline(always)]
fn wake_here(w: &Word, hub: &Hub, gen: u32) {
    let p = w.task.load(Ordering::Relaxed);
    // SAFETY: this wake took `ARMED`, which the owner sets in `arm` and
    // takes back in `disarm` (on every way out of the park): so the owner
    // is still between the two, unfinished, and its record (the root's, or
    // one the task table holds) is alive. Same thread: it is not being
    // changed under us.
    hub.wake(unsafe { &*p }, gen, WakeReason::Notified);
}

/// The wake from another thread (or from this one after its hub ended):
/// queue it on the owner's hub and poke its poller.
#[cold]
fn wake_from_afar(w: &Word, gen: u32) {
    // Set before `ARMED` was (see `arm`).
    let Some(remote) = w.remote.get() else {
        return;
    };
    let slot = match w.slot.load(Ordering::Relaxed) {
        u32::MAX => TaskSlot::Root,
        i => TaskSlot::Table(i as usize),
    };
    let id = w.id.load(Ordering::Relaxed);
    // The drain counts every queued wake off `pending`.
    remote.pending.fetch_add(1, Ordering::AcqRel);
    lock(&remote.queue).push(RemoteWake { slot, id, gen });
    // An error means the hub is gone: nobody left to wake.
    let _ = remote.waker.wake();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    use std::task::{Poll, Waker};

    /// Every armed word holds a clone of its hub's queue handle, so the
    /// handle's count says how many words of this hub are alive.
    fn words_alive_plus_base() -> usize {
        Arc::strong_count(&hub().remote)
    }

    /// The reference count in the word: clones, drops and wakes by value
    /// from other threads racing the owner's wake-up, its kill and its
    /// return; each word is freed by whichever reference goes last (none
    /// leaks, none is freed twice: valgrind finds no invalid access here).
    #[test]
    fn the_last_reference_frees_the_word_on_any_thread() {
        std::thread::spawn(|| {
            let base = words_alive_plus_base();
            for i in 0..600u32 {
                let kept: Arc<Mutex<Vec<Waker>>> = Arc::default();
                let done = Arc::new(AtomicBool::new(false));
                let (k, d) = (kept.clone(), done.clone());
                let h = crate::spawn(move || {
                    crate::block_on(poll_fn(move |cx| {
                        if d.load(Ordering::Acquire) {
                            return Poll::Ready(());
                        }
                        let mut k = k.lock().unwrap_or_else(|e| e.into_inner());
                        k.push(cx.waker().clone());
                        k.push(cx.waker().clone());
                        Poll::Pending
                    }))
                });
                crate::spawn::yield_now(); // it polls once and parks
                let wakers = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
                assert_eq!(wakers.len(), 2);
                let t = std::thread::spawn(move || {
                    done.store(true, Ordering::Release);
                    for (j, w) in wakers.into_iter().enumerate() {
                        match (i + j as u32) % 3 {
                            0 => w.wake(),
                            1 => {
                                w.wake_by_ref();
                                drop(w);
                            }
                            _ => drop(w),
                        }
                    }
                });
                if i % 2 == 0 {
                    h.kill();
                }
                let r = h.join();
                assert!(r.is_ok() || i % 2 == 0, "only a kill may end it early");
                t.join().expect("waker thread");
            }
            // Every word is gone but the one kept for reuse.
            assert!(
                words_alive_plus_base() <= base + 1,
                "words leaked: {} references to the hub's queue, {base} before",
                words_alive_plus_base()
            );
        })
        .join()
        .expect("test thread");
    }

    /// A wake on the owner's thread gives its reference back in the same
    /// step as the wake; one from another thread after the wake it queued.
    /// Either way the count ends where it began.
    #[test]
    fn clones_and_wakes_balance_the_count() {
        std::thread::spawn(|| {
            let w = ParkWord::new();
            let p = w.as_ptr();
            let refs_now = || refs(w.word().state.load(Ordering::Relaxed));
            assert!(w.is_unique());
            // SAFETY: `p` is `w`'s pointer, alive while `w` is; each clone
            // is given up once below.
            unsafe {
                ParkWord::clone_raw(p);
                ParkWord::clone_raw(p);
                assert_eq!(refs_now(), 3);
                ParkWord::wake_by_ref_raw(p);
                assert_eq!(refs_now(), 3);
                ParkWord::wake_raw(p);
                assert_eq!(refs_now(), 2);
                // Woken while not armed: the next arm fails, once.
                assert!(!w.arm(true));
                w.clear();
                let q = p as usize;
                std::thread::spawn(move || ParkWord::wake_raw(q as *const ()))
                    .join()
                    .expect("waker thread");
            }
            assert!(w.is_unique());
            assert!(!w.arm(false), "the wake from afar was seen");
            w.clear();
            assert!(w.arm(false));
        })
        .join()
        .expect("test thread");
    }
}
