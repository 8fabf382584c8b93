//! `ParkWord`: a task's wake-up right across its repeated parks, and the
//! count of references to it (what `block_on`'s waker is built on, as a
//! tokio task's state word is for its waker).
//!
//! A word has two halves, so that the common case, where every waker is
//! cloned, woken and dropped on the owner's own thread, costs no atomic
//! read-modify-write at all:
//!
//! - **The owner's half**, plain cells that only the owner's thread ever
//!   touches: a reference count, `ARMED` with the generation of the park
//!   it was armed for, `NOTIFIED` (woken while not armed), and the owner's
//!   record. A waker knows it is on the owner's thread when this thread's
//!   hub is the word's hub (a hub belongs to one thread).
//! - **The shared half**, one atomic word for every other thread:
//!
//!   ```text
//!     63                          2   1        0
//!     [ references (two's complement) ][ FOLDED ][ NOTIFIED ]
//!   ```
//!
//! References: the owner's handle and every waker clone. A clone or drop on
//! the owner's thread moves the owner's count; anywhere else, the shared
//! count, which may go below zero (a clone made at home, dropped abroad).
//! Only the sum means anything, and while the owner's handle lives it is at
//! least one, so nothing but the handle's own drop can free the word then.
//! That drop *folds* the owner's count into the shared one (and sets
//! `FOLDED`) in one atomic step; from then on every reference goes through
//! the shared count, and whichever goes last frees the word.
//!
//! Wakes on the owner's thread read and write the owner's half only: take
//! `ARMED` and make the owner ready (the generation makes sure it ends the
//! park it was armed for and no later one), or set `NOTIFIED` so that its
//! next `arm` fails and it polls again.
//!
//! A wake from any other thread cannot see the owner's half. It sets the
//! shared `NOTIFIED`, and the first such wake since the owner last cleared
//! it queues a reference to the word on the owner's hub and pokes its
//! poller; the loop then, on the owner's thread, wakes the owner if it is
//! armed (`WordRef::deliver`). So the owner's `arm` needs no fence against
//! other threads: if its plain read of the shared `NOTIFIED` misses such a
//! wake, that wake's queued reference has not been delivered yet and will
//! end the park; once it has been delivered, the queue's lock makes the
//! flag visible. (Only the very first `arm` of a word made on a thread
//! without a hub, which names the hub just then, pairs a fence with the
//! remote waker's, so that one of the two sees the other.) Later wakes from
//! other threads while the flag is still set need not queue anything: the
//! owner clears the flag with an atomic step before its next poll, which
//! therefore sees what they announced.
//!
//! While armed with a waker out there, the owner counts as waiting on
//! another thread, so the hub keeps polling rather than report a deadlock.
//!
//! This module owns the word's protocol only; it never polls, never parks
//! by itself and never runs user code.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::remote::{Remote, RemoteWake};
use super::{hub, try_hub, Hub};
use crate::task::{Task, WakeReason};

/// Shared half: woken from another thread since the owner last cleared it.
const NOTIFIED: u64 = 1;
/// Shared half: the owner's handle is gone and its count folded in.
const FOLDED: u64 = 2;
/// Shared half: one reference.
const REF_ONE: u64 = 4;
/// Owner's half: woken while not armed.
const OWN_NOTIFIED: u64 = 1;
/// Owner's half: the owner's current park (generation in the high half)
/// ends on a wake.
const ARMED: u64 = 2;
/// More references than this, in either half, abort (as `Arc` does on
/// overflow) before the shared count could wrap into the flags. The halves
/// drift apart by one per waker made on one side and given back on the
/// other, which a long-lived word may do without end (a waker cloned at
/// home and woken from tokio's driver thread, at every wait): at a million
/// a second, reaching this takes some 36,000 years; only a runaway count
/// (wakers leaked by the billion) gets here.
const MAX_REFS: i64 = 1 << 60;

/// The shared half's reference count (negative before the fold when
/// clones made at home were dropped abroad).
#[inline(always)]
fn shared_refs(shared: u64) -> i64 {
    (shared as i64) >> 2
}

/// The word and who it wakes. `Send` and `Sync`: wakes may come from any
/// thread (the owner's half is reached on the owner's thread only).
struct Word {
    shared: AtomicU64,
    /// The owner's hub: this thread's when the word is made on a thread
    /// that has one, else fixed at the first `arm` (so a word that never
    /// parks never makes a hub); the same for the word's life.
    remote: OnceLock<Arc<Remote>>,
    own: OwnersHalf,
}

/// The fields only the owner's thread touches.
struct OwnersHalf {
    /// References counted at home (the handle's among them).
    refs: Cell<i64>,
    /// `OWN_NOTIFIED`, `ARMED` and, while armed, the park's generation in
    /// the high half.
    state: Cell<u64>,
    /// The owner's record while armed (the root's, or one the task table
    /// holds).
    task: Cell<*const Task>,
    /// The handle is gone (its count is in the shared half).
    folded: Cell<bool>,
}

// SAFETY: `OwnersHalf` is read and written only on the owner's thread: by
// the handle (which is not `Send`) and by wakers and queued wakes that
// first checked that this thread's hub is the word's hub (`at_home`).
// Other threads reach the word through `shared` and `remote` only.
unsafe impl Sync for OwnersHalf {}
// SAFETY: as above; the raw task pointer is only dereferenced at home.
unsafe impl Send for OwnersHalf {}

// A waker may go to any thread: what it points to must allow that.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Word>();
};

/// This thread's hub if it is the word's hub and the handle still lives:
/// then the owner's half may be used (and the handle's reference keeps the
/// word alive).
#[inline(always)]
fn at_home(w: &Word) -> Option<&'static Hub> {
    let r = w.remote.get()?;
    let hub = try_hub()?;
    // The owner's half is read only once the hub proved this is its thread.
    (Arc::ptr_eq(&hub.remote, r) && !w.own.folded.get()).then_some(hub)
}

/// The owner's counted handle to a word (like an `Arc`, and kept on the
/// owner's thread). Wakers hold further references through the raw
/// functions below.
pub(crate) struct ParkWord(NonNull<Word>);

impl ParkWord {
    /// A word for tasks of this thread (of its hub, once one parks on it),
    /// with one reference: this handle's.
    pub(crate) fn new() -> ParkWord {
        let remote = OnceLock::new();
        if let Some(hub) = try_hub() {
            let _ = remote.set(hub.remote.clone());
        }
        let w = Box::new(Word {
            shared: AtomicU64::new(0),
            remote,
            own: OwnersHalf {
                refs: Cell::new(1),
                state: Cell::new(0),
                task: Cell::new(std::ptr::null()),
                folded: Cell::new(false),
            },
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
    ///
    /// A stale read of the shared count can only make this say false
    /// wrongly (a reference given back elsewhere, not seen yet), never
    /// true: a waker elsewhere was cloned from one counted already.
    #[inline(always)]
    pub(crate) fn is_unique(&self) -> bool {
        let w = self.word();
        let total = w.own.refs.get() + shared_refs(w.shared.load(Ordering::Relaxed));
        let unique = total == 1;
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
    /// which sees whatever they announced. Plain loads when there were
    /// none (the common case: the wake that ended the park left none).
    #[inline(always)]
    pub(crate) fn clear(&self) {
        let w = self.word();
        let s = w.own.state.get();
        debug_assert_eq!(s & ARMED, 0, "cleared while armed");
        w.own.state.set(s & !OWN_NOTIFIED);
        if w.shared.load(Ordering::Relaxed) & NOTIFIED != 0 {
            // Acquire: this poll sees what every wake from afar that set
            // or found the flag announced.
            w.shared.fetch_and(!NOTIFIED, Ordering::Acquire);
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
        if w.own.state.get() & OWN_NOTIFIED != 0 {
            return false;
        }
        if !wakeable {
            // No clone of the waker exists: only the owner's own poll could
            // have woken it, on this thread.
            return w.shared.load(Ordering::Relaxed) & NOTIFIED == 0;
        }
        let hub = hub();
        if w.remote.get().is_none() {
            name_the_hub(w, hub);
        }
        debug_assert!(
            w.remote.get().is_some_and(|r| Arc::ptr_eq(r, &hub.remote)),
            "a word serves one hub"
        );
        // A wake from afar not seen here is still queued (module docs).
        if w.shared.load(Ordering::Relaxed) & NOTIFIED != 0 {
            return false;
        }
        let task = hub.current();
        w.own.task.set(task);
        w.own.state.set((u64::from(task.gen.get()) << 32) | ARMED);
        hub.word_parked.set(hub.word_parked.get() + 1);
        true
    }

    /// The park that `arm(true)` prepared is over (a wake, a kill, a
    /// timeout, or it never parked): take the right back if no wake took
    /// it.
    #[inline(always)]
    pub(crate) fn disarm(&self) {
        let w = self.word();
        w.own.state.set(w.own.state.get() & !ARMED);
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
        if at_home(w).is_some() {
            let n = w.own.refs.get();
            if n >= MAX_REFS {
                std::process::abort();
            }
            w.own.refs.set(n + 1);
            return;
        }
        let old = w.shared.fetch_add(REF_ONE, Ordering::Relaxed);
        if shared_refs(old) >= MAX_REFS {
            // A runaway count: it would wrap into the flags.
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
        if at_home(w).is_some() {
            // The handle's reference remains: never the last.
            w.own.refs.set(w.own.refs.get() - 1);
            return;
        }
        // SAFETY: the caller's reference, given up.
        unsafe { release_shared(p) }
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
        let w = self.word();
        // Fold: from now on every reference is counted in the shared half.
        w.own.folded.set(true);
        let rest = w.own.refs.get() - 1;
        let delta = (rest as u64).wrapping_mul(REF_ONE) | FOLDED;
        // The flag bit is clear before (the handle drops once), so adding
        // it sets it; AcqRel: ordered with every other reference's release
        // (and, if this is the last, after all their accesses).
        let old = w.shared.fetch_add(delta, Ordering::AcqRel);
        if shared_refs(old) + rest == 0 {
            // SAFETY: that was the last reference.
            unsafe { free(self.as_ptr()) };
        }
    }
}

/// The first `arm` of a word made on a thread without a hub: name the hub,
/// then look at the shared flag only after a fence that pairs with the one
/// of a waker from afar, which sets the flag and then looks for the hub.
/// One of the two sees the other's write: either the waker queues its
/// wake, or this `arm` sees the flag.
#[cold]
fn name_the_hub(w: &Word, hub: &Hub) {
    let _ = w.remote.set(hub.remote.clone());
    fence(Ordering::SeqCst);
}

/// Give back one reference through the shared count, freeing the word if
/// it was the last.
///
/// # Safety
/// `p` points to a live word and the caller gives up one reference.
#[inline]
unsafe fn release_shared(p: *const ()) {
    // SAFETY: alive until this reference goes (the caller's contract).
    let w = unsafe { &*p.cast::<Word>() };
    let old = w.shared.fetch_sub(REF_ONE, Ordering::Release);
    if old & FOLDED != 0 && shared_refs(old) == 1 {
        // SAFETY: folded, so the shared count is the whole count, and that
        // was its last reference.
        unsafe { free(p) };
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

/// The one wake; with `by_val` the caller gives up one reference.
///
/// # Safety
/// `p` points to a live word; with `by_val` the caller gives up one
/// reference.
#[inline(always)]
unsafe fn wake(p: *const (), by_val: bool) {
    // SAFETY: alive while the caller's reference is (the caller's contract).
    let w = unsafe { &*p.cast::<Word>() };
    let Some(hub) = at_home(w) else {
        // SAFETY: passed on as received.
        return unsafe { wake_from_afar(p, by_val) };
    };
    if by_val {
        // The handle's reference remains: never the last.
        w.own.refs.set(w.own.refs.get() - 1);
    }
    wake_at_home(w, hub);
}

/// Deliver a wake on the owner's thread: end the armed park, or make the
/// next `arm` fail.
#[inline(always)]
fn wake_at_home(w: &Word, hub: &Hub) {
    let s = w.own.state.get();
    if s & ARMED == 0 {
        w.own.state.set(s | OWN_NOTIFIED);
        return;
    }
    w.own.state.set(s & !ARMED);
    let task = w.own.task.get();
    // SAFETY: `ARMED` was set, which the owner sets in `arm` and takes back
    // in `disarm` (on every way out of the park): so the owner is still
    // between the two, unfinished, and its record is alive. Same thread:
    // it is not being changed under us.
    hub.wake(unsafe { &*task }, (s >> 32) as u32, WakeReason::Notified);
}

/// The wake from another thread (or from this one when its hub is not the
/// word's, or after the handle is gone): set the shared flag and, if it
/// was clear, queue a reference on the owner's hub for its loop to deliver.
///
/// # Safety
/// As `wake`.
#[cold]
unsafe fn wake_from_afar(p: *const (), by_val: bool) {
    // SAFETY: alive while the caller's reference is (the caller's contract).
    let w = unsafe { &*p.cast::<Word>() };
    let mut cur = w.shared.load(Ordering::Relaxed);
    let mut first;
    loop {
        // Once folded, nobody waits on the word any more.
        first = cur & (NOTIFIED | FOLDED) == 0;
        let mut new = cur | NOTIFIED;
        if first && !by_val {
            // The queued wake's own reference.
            new = new.wrapping_add(REF_ONE);
        } else if !first && by_val {
            new = new.wrapping_sub(REF_ONE);
        }
        // Release: the owner's clear (or the loop, through the queue) sees
        // what the waker did before the wake.
        match w
            .shared
            .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(c) => cur = c,
        }
    }
    if !first {
        if by_val && cur & FOLDED != 0 && shared_refs(cur) == 1 {
            // SAFETY: folded, and that was the last reference.
            unsafe { free(p) };
        }
        return;
    }
    // Pairs with `name_the_hub`.
    fence(Ordering::SeqCst);
    let wake = RemoteWake::Word(WordRef(p));
    match w.remote.get() {
        // A wake the closed queue of an ended hub hands back gives its
        // reference back as it drops.
        Some(remote) => drop(remote.push(wake)),
        // Never armed: its first `arm` sees the flag.
        None => drop(wake),
    }
}

/// A reference to a word held by a queued wake from afar.
pub(super) struct WordRef(*const ());

// SAFETY: a counted reference to a `Send + Sync` word; given back through
// the shared count (any thread) unless delivered on the owner's thread.
unsafe impl Send for WordRef {}

impl WordRef {
    /// On the owner's hub, draining its queue: end the owner's armed park.
    pub(super) fn deliver(self, hub: &Hub) {
        let p = std::mem::ManuallyDrop::new(self).0;
        // SAFETY: this queued wake holds a reference.
        let w = unsafe { &*p.cast::<Word>() };
        match at_home(w) {
            Some(h) => {
                debug_assert!(std::ptr::eq(h, hub));
                wake_at_home(w, h);
                // The handle's reference remains: never the last.
                w.own.refs.set(w.own.refs.get() - 1);
            }
            // SAFETY: the queued wake's reference, given up.
            None => unsafe { release_shared(p) },
        }
    }
}

impl Drop for WordRef {
    fn drop(&mut self) {
        // SAFETY: the wake's reference, given up (never queued, or its
        // hub ended before draining it).
        unsafe { release_shared(self.0) }
    }
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

    /// A wake on the owner's thread gives its reference back at once; one
    /// from another thread hands it to the wake it queues, given back when
    /// the owner's loop delivers it. Either way the count ends where it
    /// began.
    #[test]
    fn clones_and_wakes_balance_the_count() {
        std::thread::spawn(|| {
            let w = ParkWord::new();
            let p = w.as_ptr();
            let refs_now = || {
                let word = w.word();
                word.own.refs.get() + shared_refs(word.shared.load(Ordering::Relaxed))
            };
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
            // The wake from afar holds its reference until the owner's
            // loop delivers it.
            assert_eq!(refs_now(), 2);
            assert!(!w.is_unique());
            hub().drain_remote();
            assert!(w.is_unique());
            assert!(!w.arm(false), "the wake from afar was seen");
            w.clear();
            assert!(w.arm(false));
        })
        .join()
        .expect("test thread");
    }

    /// References made on one side and given back on the other move the
    /// two halves apart (the owner's count up, the shared one below zero,
    /// or the other way); their sum still says when the word is unique,
    /// and the handle's fold frees the word exactly when the last goes.
    #[test]
    fn halves_that_drift_apart_still_count_right() {
        std::thread::spawn(|| {
            let base = words_alive_plus_base();
            let w = ParkWord::new();
            assert_eq!(words_alive_plus_base(), base + 1, "named this hub");
            let q = w.as_ptr() as usize;
            let own = || w.word().own.refs.get();
            for _ in 0..1000 {
                // SAFETY: `w` keeps the word alive; given up just below.
                unsafe { ParkWord::clone_raw(q as *const ()) };
                std::thread::spawn(move || {
                    // SAFETY: the clone made just above, given up once.
                    unsafe { ParkWord::drop_raw(q as *const ()) }
                })
                .join()
                .expect("dropper");
            }
            assert_eq!(own(), 1001, "made at home, given back abroad");
            assert!(w.is_unique());
            for _ in 0..2000 {
                std::thread::spawn(move || {
                    // SAFETY: `w` keeps the word alive; given up below.
                    unsafe { ParkWord::clone_raw(q as *const ()) }
                })
                .join()
                .expect("cloner");
                // SAFETY: the clone made abroad just above, given up once.
                unsafe { ParkWord::drop_raw(q as *const ()) };
            }
            assert_eq!(own(), -999, "made abroad, given back at home");
            assert!(w.is_unique());
            // One waker outlives the handle, on another thread.
            // SAFETY: `w` keeps the word alive; given up by the thread below.
            unsafe { ParkWord::clone_raw(q as *const ()) };
            assert!(!w.is_unique());
            drop(w);
            assert_eq!(words_alive_plus_base(), base + 1, "the waker keeps it");
            std::thread::spawn(move || {
                // SAFETY: the clone made before the handle went, given up.
                unsafe { ParkWord::wake_raw(q as *const ()) }
            })
            .join()
            .expect("waker");
            assert_eq!(
                words_alive_plus_base(),
                base,
                "freed with the last reference"
            );
        })
        .join()
        .expect("test thread");
    }
}
