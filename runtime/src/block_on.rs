//! `green::block_on`: run a future to completion on the calling coroutine
//! (or the thread's root context), parking only the caller between polls.
//!
//! The future is polled on the calling thread, pinned in the heap (the
//! thread's arena, see `HeapPin`), never on the stack: a parked coroutine's
//! stack bytes may be copied out of their region and back
//! (copy-on-contention), and futures that link themselves into wait lists
//! (tokio timers, channels) are written to through such links while their
//! owner is parked.
//!
//! Its `Waker` is the scheduler's [`ParkWord`]: a "woken" flag and, while
//! the caller is parked, the wake-up right for that park's generation, in
//! two halves (`sched/park_word.rs`): one that only the caller's thread
//! touches, with plain loads and stores, and one atomic word for wakes and
//! references from other threads. A wake sets the flag or takes the right
//! if one is armed; the caller arms only when the flag is clear, right
//! before it parks, and takes the right back however the park ends. So a
//! wake that comes during a poll makes the caller poll again instead of
//! parking; a wake with no right armed (early, duplicate, or after
//! `block_on` returned) resumes nothing; and a right, being for one park
//! generation, can never resume a later park. A wake on the caller's own
//! thread goes straight to the scheduler, with no atomic operation; one
//! from another thread is queued on the hub, whose poller it pokes, and
//! the hub's loop delivers it on the caller's thread.
//!
//! A wake during the poll is a self-wake (`tokio::task::yield_now`,
//! cooperative budgets, spin-waits): the caller yields to the hub (to the
//! back of the ready queue, as `yield_now`) before it polls again, so such
//! a future never starves the hub's other coroutines, timers or I/O.
//!
//! A future whose poll leaves no clone of its waker anywhere can never be
//! woken: the caller then parks with no right at all, so a root waiting on
//! it is reported as a deadlock instead of hanging.
//!
//! kill and `green::timeout` unwind from the park; the future is dropped
//! right there, on its own thread (inside the tokio context with feature
//! `tokio`), before the unwind goes on. A panic from the future's `Drop`
//! during that unwind is caught and reported, never a double panic.
//!
//! This module parks through the scheduler's functions only and never
//! touches a task's fields.

use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::sched::{self, ParkWord};
use crate::task::ParkedOn;
use crate::tokio_ctx::ensure_context;

// The waker is a `ParkWord` reference behind a raw vtable, so that
// `block_on` can lend its own handle's reference for the polls without
// counting: only clones count, and a count of one after a poll proves that
// no clone escaped. The word's protocol (and its `Send + Sync` check) is
// the scheduler's (`sched/park_word.rs`).

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

/// # Safety
/// `p` comes from `ParkWord::as_ptr` of a live word.
unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: `p` points to a live word (caller's contract).
    unsafe { ParkWord::clone_raw(p) };
    RawWaker::new(p, &VTABLE)
}

/// # Safety
/// `p` is an owned reference made by `clone_raw`.
unsafe fn wake_raw(p: *const ()) {
    // SAFETY: this waker owns one reference (it was made by `clone_raw`).
    unsafe { ParkWord::wake_raw(p) }
}

/// # Safety
/// `p` points to a live word.
unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: the waker (owned or lent) keeps the word alive during the call.
    unsafe { ParkWord::wake_by_ref_raw(p) }
}

/// # Safety
/// `p` is an owned reference made by `clone_raw`.
unsafe fn drop_raw(p: *const ()) {
    // SAFETY: this waker owns one reference (it was made by `clone_raw`);
    // the lent waker of `block_on` is never dropped.
    unsafe { ParkWord::drop_raw(p) }
}

thread_local! {
    /// A word nobody else references, kept for the next `block_on` on
    /// this thread: the ready path then allocates only the future's block.
    static SPARE: Cell<Option<ParkWord>> = const { Cell::new(None) };
}

#[inline]
fn take_signal() -> ParkWord {
    SPARE
        .try_with(Cell::take)
        .ok()
        .flatten()
        .filter(ParkWord::is_for_this_hub)
        .unwrap_or_else(ParkWord::new)
}

#[inline]
fn keep_signal(s: ParkWord) {
    // Only a word no waker clone refers to may serve another call.
    if s.is_unique() {
        if let Ok(Some(old)) = SPARE.try_with(|spare| spare.replace(Some(s))) {
            drop(old);
        }
    }
}

/// Run `f` to completion and return its output, parking only the caller
/// while it is pending: other coroutines on this thread run meanwhile.
///
/// Works in a coroutine and on any thread's root context (`main`, a plain
/// thread), which runs the hub inline while it waits, as `join` does. The
/// future is polled on the calling thread, so it need not be `Send` (an
/// `Rc` inside is fine). Its waker is `Send + Sync` and may be woken from
/// any thread, any number of times, before or after the caller parks; a
/// late or duplicate wake never resumes a later, unrelated park.
///
/// `kill` and `green::timeout` interrupt a caller parked here: the future
/// is dropped on this thread (its destructors run) and the unwind goes on.
/// A future that is ready at once never parks. A future that wakes itself
/// while it is polled (`tokio::task::yield_now`, a cooperative budget, a
/// spin-wait) is polled again only after a yield, as
/// [`yield_now`](crate::spawn::yield_now): every other ready coroutine runs first,
/// and timers, I/O and enclosing timeouts keep their turn.
///
/// With the crate feature `tokio`, the future also gets a tokio runtime
/// context, so `tokio::net`, `tokio::time` and crates built on them
/// (reqwest, hyper) work: the caller's own runtime if the thread is in one's
/// context, else a small shared background runtime, whose context the
/// thread then keeps for good (so `Handle::current()` finds it there
/// afterwards). Every wake from that runtime's driver crosses a thread.
/// Make tokio resources inside the async block: their constructors need
/// the context, which the argument expression does not have yet.
///
/// A future that blocks the thread inside `poll` blocks the whole hub, as
/// any blocking call would.
///
/// ```
/// use std::rc::Rc;
/// let h = green::spawn(|| {
///     let shared = Rc::new(20);
///     green::block_on(async move { *shared + 1 })
/// });
/// assert_eq!(h.join().unwrap(), 21);
/// ```
///
/// A wake from another thread:
/// ```
/// use std::future::poll_fn;
/// use std::task::Poll;
/// let mut started = false;
/// let v = green::block_on(poll_fn(move |cx| {
///     if started {
///         return Poll::Ready(7);
///     }
///     started = true;
///     let waker = cx.waker().clone();
///     std::thread::spawn(move || waker.wake());
///     Poll::Pending
/// }));
/// assert_eq!(v, 7);
/// ```
pub fn block_on<F: Future>(f: F) -> F::Output {
    // Declared first, so on every exit it drops last: after the right below
    // is taken back.
    let mut fut = Owned {
        fut: Some(HeapPin::new(f)),
    };
    let signal = take_signal();
    // SAFETY: the vtable's contract holds for the pointer of a live word;
    // `signal` outlives this lent waker, which is never dropped (so it
    // never gives back a reference it does not own).
    let waker =
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(signal.as_ptr(), &VTABLE)) });
    let mut cx = Context::from_waker(&waker);
    let mut parked = Parked {
        signal: &signal,
        armed: false,
    };
    loop {
        // Checked before every poll: the caller's own context, if it had
        // one, may have been left while this coroutine was parked.
        let ready = {
            // The guard (only on a thread that drives a tokio current_thread
            // runtime) is held for this poll alone, never across a park.
            let _ctx = ensure_context();
            signal.clear();
            match fut.poll(&mut cx) {
                Poll::Ready(v) => {
                    // Dropped here, still inside the context it was polled in.
                    fut.fut = None;
                    Some(v)
                }
                Poll::Pending => None,
            }
        };
        if let Some(v) = ready {
            drop(parked);
            keep_signal(signal);
            return v;
        }
        if !parked.arm() {
            // Woken during its own poll: a self-wake (tokio's `yield_now`,
            // a spent cooperative budget, a spin-wait) asks to be polled
            // again *after the others had a turn*. Re-polling at once would
            // loop here for ever without the hub ever running: no sibling,
            // timer, I/O or enclosing timeout. So yield as `yield_now`
            // does (kill and expired timeouts unwind from here), then poll.
            crate::spawn::yield_now();
            continue;
        }
        // Ends by a wake (poll again), or by kill or an enclosing timeout
        // (unwinds from here). Inside a destructor during an unwind, a kill
        // ends it early: poll again and keep waiting, as destructors finish.
        let _ = sched::park(None, ParkedOn::Remote);
        parked.disarm();
    }
}

/// The pinned future; dropped inside the tokio context, and never by a
/// second panic while an unwind is under way.
struct Owned<F> {
    fut: Option<HeapPin<F>>,
}

impl<F: Future> Owned<F> {
    #[inline(always)]
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.fut {
            Some(f) => f.as_mut().poll(cx),
            // Never: it is taken only on the way out.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Owned<F> {
    fn drop(&mut self) {
        let Some(fut) = self.fut.take() else { return };
        let _ctx = ensure_context();
        if !std::thread::panicking() {
            drop(fut);
            return;
        }
        // Unwinding (a kill, a timeout, a panic in `poll`): a panic out of
        // the future's own `Drop` now would abort the process.
        let mark = sched::unwind_mark();
        let r = panic::catch_unwind(AssertUnwindSafe(move || drop(fut)));
        // A panic caught here ended its unwind; the enclosing one goes on.
        sched::unwinds_caught_since(mark);
        if let Err(p) = r {
            let msg = crate::task::payload_text(&*p).unwrap_or("<non-string payload>");
            eprintln!(
                "green: a future dropped by an unwinding block_on panicked in its Drop: {msg}"
            );
        }
    }
}

/// A future pinned in the heap: in this thread's arena (task-record size
/// classes, no global allocator on the small path) when it is small and
/// at most 16-byte aligned, else in a `Box`. Never leaves its thread: the
/// arena is per thread, and `block_on` drops it before it returns.
enum HeapPin<F> {
    Arena(std::ptr::NonNull<F>),
    Boxed(Pin<Box<F>>),
}

impl<F> HeapPin<F> {
    #[inline(always)]
    fn new(f: F) -> HeapPin<F> {
        if std::mem::align_of::<F>() > 16 {
            return HeapPin::Boxed(Box::pin(f));
        }
        let p = crate::arena::alloc(std::mem::size_of::<F>()).cast::<F>();
        // SAFETY: a fresh block of `F`'s size, 16-aligned (enough: checked
        // above), owned by this value alone.
        unsafe { p.write(f) };
        // SAFETY: `arena::alloc` never returns null.
        HeapPin::Arena(unsafe { std::ptr::NonNull::new_unchecked(p) })
    }

    #[inline(always)]
    fn as_mut(&mut self) -> Pin<&mut F> {
        match self {
            // SAFETY: the value stays at this heap address until `drop`
            // below, and is only reached through this pinned reference.
            HeapPin::Arena(p) => unsafe { Pin::new_unchecked(p.as_mut()) },
            HeapPin::Boxed(b) => b.as_mut(),
        }
    }
}

impl<F> Drop for HeapPin<F> {
    fn drop(&mut self) {
        if let HeapPin::Arena(p) = self {
            // Freed even if the future's Drop panics.
            struct Free(*mut u8, usize);
            impl Drop for Free {
                #[inline(always)]
                fn drop(&mut self) {
                    // SAFETY: the block came from `arena::alloc` of this size
                    // on this thread, and its value has been dropped.
                    unsafe { crate::arena::free(self.0, self.1) }
                }
            }
            let _free = Free(p.as_ptr().cast(), std::mem::size_of::<F>());
            // SAFETY: the value was written in `new` and is dropped once,
            // here, in place (it is pinned).
            unsafe { std::ptr::drop_in_place(p.as_ptr()) };
        }
    }
}

/// The caller's wake-up right, armed for one park and always taken back
/// (by `disarm`, or by `Drop` when the park unwinds).
struct Parked<'a> {
    signal: &'a ParkWord,
    /// Between an `arm` that armed the word and `disarm`.
    armed: bool,
}

impl Parked<'_> {
    /// Get ready to park. False when a wake came during the poll: poll
    /// again instead.
    #[inline(always)]
    fn arm(&mut self) -> bool {
        // Only ours (the lent waker holds no count): no clone escaped, so
        // nothing can wake this park; with no right armed, the hub may
        // report a deadlock rather than wait for ever.
        let wakeable = !self.signal.is_unique();
        if !self.signal.arm(wakeable) {
            return false;
        }
        self.armed = wakeable;
        true
    }

    /// The park ended: take its right back if no wake took it.
    #[inline(always)]
    fn disarm(&mut self) {
        if std::mem::take(&mut self.armed) {
            self.signal.disarm();
        }
    }
}

impl Drop for Parked<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.disarm();
    }
}
