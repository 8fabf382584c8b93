//! File-descriptor readiness: the mio `Poll`, one registration per fd, and
//! readiness → wake of the tasks waiting on that fd.
//!
//! Registrations live in a table indexed by fd (O(1)); each is registered with
//! mio once, edge-triggered, for both directions. The mio token carries the fd
//! *and* a generation, so an event for a closed fd whose number was reused
//! never wakes the new owner's waiters. Closing goes through [`Reactor::forget`],
//! which wakes every waiter of that fd so nobody hangs on a dead fd.
//!
//! The kernel drops a closed file from every epoll set by itself, so an fd
//! closed on *another* thread (or by code that never told this hub) leaves a
//! stale entry behind, and a new file that later gets the same number would
//! inherit it without ever being registered. Hence the process-wide close
//! generations ([`fd_renewed`]): every path that closes, replaces or hands
//! out an fd number bumps its generation, each entry remembers the generation
//! it was registered under, and [`Reactor::entry`] re-registers an entry
//! whose generation moved on. The check is two atomic loads, no syscall.
//!
//! Each entry also remembers the fd's readiness ([`Readiness`]): events set
//! it, and a caller that saw `EAGAIN` or a short stream read/write clears
//! it, so the next operation on an fd known not to be ready parks at once
//! instead of asking the kernel again. Every event delivery bumps the
//! entry's tick, and a clear counts only if the tick it read before its
//! syscall is still current: a clear never hides a newer event.
//!
//! This module never parks, never runs user code and never names the
//! scheduler: it is generic over what waits on an fd (`FdWaiters`), which
//! the scheduler supplies and wakes.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

/// Token of the cross-thread waker.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// Readiness bit for reading (data, a connection, EOF or an error).
pub(crate) const READABLE: u8 = 1;
/// Readiness bit for writing (room, a finished connect, or an error).
pub(crate) const WRITABLE: u8 = 2;
/// The read side is closed for good (EOF from the peer, hang-up, error).
/// Never cleared: after a short read that left an EOF queued, no new edge
/// will come, so readers must always try (and see the 0 or the error).
const READ_CLOSED: u8 = 4;
/// The write side is closed for good (hang-up, error); never cleared.
const WRITE_CLOSED: u8 = 8;

/// The final (closed) bit that goes with a direction's readiness bit.
#[inline]
fn closed_bit(mask: u8) -> u8 {
    (mask & (READABLE | WRITABLE)) << 2
}

/// What this hub knows about one registered fd's readiness.
///
/// A bit set means "ready, or not known": the caller tries its syscall. A
/// bit cleared means the last attempt found the fd not ready and no event
/// came since: the caller may park without a syscall, because the
/// edge-triggered registration reports the next change.
///
/// The tick counts event deliveries. A caller reads it (with the bits)
/// before its syscall and clears with that value; if an event was delivered
/// in between, the tick moved on and the clear is dropped, so the newer
/// event is never lost.
pub(crate) struct Readiness {
    tick: Cell<u32>,
    bits: Cell<u8>,
}

impl Default for Readiness {
    /// A new registration knows nothing yet: both directions "try".
    fn default() -> Readiness {
        Readiness {
            tick: Cell::new(0),
            bits: Cell::new(READABLE | WRITABLE),
        }
    }
}

impl Readiness {
    /// An event for this fd: bump the tick and set the bits in `mask`
    /// (`READABLE`/`WRITABLE`, plus the final closed bits for EOF, hang-up
    /// and errors).
    #[inline]
    pub(crate) fn event(&self, mask: u8) {
        self.tick.set(self.tick.get().wrapping_add(1));
        self.bits.set(self.bits.get() | mask);
    }

    /// Before a syscall: whether the direction(s) in `mask` may be ready
    /// (ready, unknown, or closed for good), and the tick to clear with
    /// afterwards.
    #[inline]
    pub(crate) fn snapshot(&self, mask: u8) -> (bool, u32) {
        let want = mask | closed_bit(mask);
        (self.bits.get() & want != 0, self.tick.get())
    }

    /// After `EAGAIN` or a short stream read/write: clear `mask`, unless an
    /// event was delivered since `tick` was read. A closed side stays
    /// ready: it is final, and no later event would report it again.
    #[inline]
    pub(crate) fn clear(&self, mask: u8, tick: u32) {
        if self.tick.get() == tick {
            self.bits.set(self.bits.get() & !mask);
        }
    }
}

/// What the reactor keeps per registered fd: whatever waits on it. The
/// scheduler supplies it (its wait-lists); the reactor only creates one per
/// registration, records readiness in it, and says when its fd stops being
/// what it was.
pub(crate) trait FdWaiters: Default {
    /// The entry's readiness record, updated by every event.
    fn readiness(&self) -> &Readiness;
    /// The fd number was closed or replaced behind this hub's back: wake
    /// every waiter so it retries and sees what the number means now.
    fn renewed(&self);
    /// The fd is being closed by this hub (`Reactor::forget`).
    fn closed(&self);
}

/// One slot of the reactor's table: the token generation, the fd's close
/// generation when it was registered, and the entry.
struct Slot<E> {
    token_gen: u32,
    close_gen: u32,
    entry: Rc<E>,
}

/// The poller and the table of registered fds, each with its waiters `E`.
pub(crate) struct Reactor<E> {
    poll: Poll,
    events: Events,
    fds: Vec<Option<Slot<E>>>,
    next_gen: u32,
    registered: usize,
    /// The fork count when the epoll set was made: a forked child shares
    /// that set with its parent and must never remove the parent's
    /// registrations. (A count, not the pid: `getpid` is a system call,
    /// and every close of a registered fd checks.)
    forks: u32,
    pub(crate) waker: Arc<Waker>,
}

impl<E: FdWaiters> Reactor<E> {
    pub(crate) fn new() -> io::Result<Reactor<E>> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            fds: Vec::new(),
            next_gen: 1,
            registered: 0,
            forks: crate::sys::fork_generation(),
            waker,
        })
    }

    /// The epoll fd the poller waits in (the monitor tells it from a
    /// library's own event loop).
    pub(crate) fn epoll_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    /// Number of fds registered now.
    pub(crate) fn registered(&self) -> usize {
        self.registered
    }

    /// The entry for `fd`, registering it with the poller on first use, and
    /// again when the fd number was closed or replaced anywhere in the
    /// process since (its close generation moved on).
    pub(crate) fn entry(&mut self, fd: RawFd) -> io::Result<Rc<E>> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let i = fd as usize;
        if let Some(Some(slot)) = self.fds.get(i) {
            if close_gen(fd).unwrap_or(0) == slot.close_gen {
                return Ok(slot.entry.clone());
            }
            self.drop_stale(fd);
        }
        if self.fds.len() <= i {
            self.fds.resize_with(i + 1, || None);
        }
        // Read the generation before registering: a close racing with the
        // registration bumps it after the real close, so the entry is seen
        // as stale next time instead of silently watching a dead file.
        let close_gen = close_gen_slot(fd).map_or(0, |g| g.load(Ordering::Acquire));
        let token_gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let token = Token(((token_gen as usize) << 32) | i);
        let interest = Interest::READABLE | Interest::WRITABLE;
        let reg = self.poll.registry();
        match reg.register(&mut SourceFd(&fd), token, interest) {
            Ok(()) => {}
            // Registered already under an older token (a generation bump
            // without a real close): take it over with the new token.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                reg.reregister(&mut SourceFd(&fd), token, interest)?
            }
            Err(e) => return Err(e),
        }
        let e = Rc::new(E::default());
        self.fds[i] = Some(Slot {
            token_gen,
            close_gen,
            entry: e.clone(),
        });
        self.registered += 1;
        Ok(e)
    }

    /// The entry for `fd` if it is registered and still names the same file
    /// (its close generation has not moved on); never registers. An fd with
    /// no entry has unknown readiness.
    #[inline]
    pub(crate) fn lookup(&self, fd: RawFd) -> Option<Rc<E>> {
        let slot = self.fds.get(usize::try_from(fd).ok()?)?.as_ref()?;
        (close_gen(fd).unwrap_or(0) == slot.close_gen).then(|| slot.entry.clone())
    }

    /// Drop the entry of `fd` whose number was closed or replaced since it
    /// was registered. Its waiters are woken as if the fd became ready: each
    /// retries its own call and sees what the number means now (or parks
    /// again on a fresh entry). A close error would be wrong when the bump
    /// raced with a registration of the new file.
    fn drop_stale(&mut self, fd: RawFd) {
        let Some(slot) = self.fds.get_mut(fd as usize).and_then(Option::take) else {
            return;
        };
        self.registered -= 1;
        // Usually ENOENT (the kernel dropped the dead file); if the number
        // names a file we still have registered, remove it so the fresh
        // registration starts clean.
        self.deregister(fd);
        // Waking only queues tasks (ready queue, timers); it never touches
        // the reactor, so doing it under the caller's borrow is fine.
        slot.entry.renewed();
    }

    /// Forget `fd` before it is closed: deregister, and hand back its entry so
    /// the caller can wake its waiters (they see `closed`).
    pub(crate) fn forget(&mut self, fd: RawFd) -> Option<Rc<E>> {
        let slot = self.fds.get_mut(fd as usize)?;
        let e = slot.take()?.entry;
        self.registered -= 1;
        self.deregister(fd);
        e.closed();
        Some(e)
    }

    /// Remove `fd` from the epoll set, unless this is a forked child: the
    /// set is its parent's too (`close` or `dup2` in a child between `fork`
    /// and `exec` would otherwise unregister the parent's live fds).
    fn deregister(&self, fd: RawFd) {
        if crate::sys::forked_since(self.forks) {
            return;
        }
        // The fd may already be gone from epoll (closed elsewhere); either
        // way it is no longer ours, so the error is irrelevant.
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
    }

    /// Wait for events up to `timeout`, returning the entries to wake
    /// (readers, writers) and whether the cross-thread waker fired.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(Rc<E>, bool, bool)>,
    ) -> io::Result<bool> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
            Err(e) => return Err(e),
        }
        // Load every reported entry first, so that their cache misses (each
        // fd's entry is cold when thousands are registered) overlap rather
        // than come one at a time in the loop below.
        if !self.events.is_empty() {
            for ev in self.events.iter() {
                let fd = ev.token().0 & 0xFFFF_FFFF;
                if let Some(Some(slot)) = self.fds.get(fd) {
                    // The counts sit just before the value (the `Rc` box).
                    let p = Rc::as_ptr(&slot.entry).cast::<u8>().wrapping_sub(16);
                    crate::arch::prefetch_range(p, 16 + std::mem::size_of::<E>());
                }
            }
        }
        let mut woke = false;
        for ev in self.events.iter() {
            if ev.token() == WAKER_TOKEN {
                woke = true;
                continue;
            }
            let t = ev.token().0;
            let fd = t & 0xFFFF_FFFF;
            let gen = (t >> 32) as u32;
            if let Some(Some(slot)) = self.fds.get(fd) {
                let e = &slot.entry;
                if slot.token_gen != gen {
                    continue; // stale: that fd number belongs to someone else now
                }
                // EOF, hang-up and errors make both directions ready, so a
                // reader sees the EOF or error and a writer its error.
                let err = ev.is_error();
                let r = ev.is_readable() || ev.is_read_closed() || err;
                let w = ev.is_writable() || ev.is_write_closed() || err;
                let mut mask = if r { READABLE } else { 0 } | if w { WRITABLE } else { 0 };
                if ev.is_read_closed() || err {
                    mask |= READ_CLOSED;
                }
                if ev.is_write_closed() || err {
                    mask |= WRITE_CLOSED;
                }
                e.readiness().event(mask);
                ready.push((e.clone(), r, w));
            }
        }
        Ok(woke)
    }
}

/// Close generations: one counter per fd number, process-wide, in chunks
/// allocated on first registration and never freed (like fds, they are
/// shared by every thread).
const GEN_CHUNK_BITS: u32 = 12;
const GEN_CHUNK_LEN: usize = 1 << GEN_CHUNK_BITS;
const GEN_CHUNKS: usize = 1 << 12; // 16M fds; larger ones are never registered.

type GenChunk = [AtomicU32; GEN_CHUNK_LEN];

#[allow(clippy::declare_interior_mutable_const)]
const NO_GEN_CHUNK: AtomicPtr<GenChunk> = AtomicPtr::new(std::ptr::null_mut());
static CLOSE_GENS: [AtomicPtr<GenChunk>; GEN_CHUNKS] = [NO_GEN_CHUNK; GEN_CHUNKS];

#[inline]
fn gen_split(fd: RawFd) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    let hi = fd >> GEN_CHUNK_BITS;
    (hi < GEN_CHUNKS).then_some((hi, fd & (GEN_CHUNK_LEN - 1)))
}

/// The close-generation counter of `fd` if its chunk exists (no allocation).
#[inline]
fn close_gen(fd: RawFd) -> Option<u32> {
    let (hi, lo) = gen_split(fd)?;
    let p = CLOSE_GENS[hi].load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: chunks are installed once, fully initialised, and never freed.
    Some(unsafe { &(*p)[lo] }.load(Ordering::Acquire))
}

/// The close-generation counter of `fd`, allocating its chunk if needed
/// (only on the registration path). `None` for fds too large to register.
fn close_gen_slot(fd: RawFd) -> Option<&'static AtomicU32> {
    let (hi, lo) = gen_split(fd)?;
    let mut p = CLOSE_GENS[hi].load(Ordering::Acquire);
    if p.is_null() {
        let layout = std::alloc::Layout::new::<GenChunk>();
        // Zeroed straight on the heap (16 KiB would strain a small coroutine
        // stack if built there first).
        // SAFETY: the layout is non-zero-sized; all-zero bytes are valid
        // `AtomicU32`s, so the chunk is initialised.
        let fresh = unsafe { std::alloc::alloc_zeroed(layout) } as *mut GenChunk;
        if fresh.is_null() {
            return None; // out of memory: registered without a generation
        }
        p = match CLOSE_GENS[hi].compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(existing) => {
                // SAFETY: `fresh` was allocated above with this layout and
                // never shared.
                unsafe { std::alloc::dealloc(fresh.cast(), layout) };
                existing
            }
        };
    }
    // SAFETY: as in `close_gen`.
    Some(unsafe { &(*p)[lo] })
}

/// The number `fd` was just closed, replaced (`dup2`) or handed out fresh:
/// whatever any hub registered under it is stale. One atomic add; allocates
/// nothing, takes no lock and touches no thread-local, so it may be called
/// from any thread, before `main`, during thread teardown, and in a forked
/// child. A number whose chunk does not exist yet was never registered, so
/// there is nothing to invalidate.
#[inline]
pub(crate) fn fd_renewed(fd: RawFd) {
    let Some((hi, lo)) = gen_split(fd) else {
        return;
    };
    let p = CLOSE_GENS[hi].load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: as in `close_gen`.
        unsafe { &(*p)[lo] }.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counts {
        renewed: Cell<u32>,
        closed: Cell<bool>,
        readiness: Readiness,
    }

    impl FdWaiters for Counts {
        fn readiness(&self) -> &Readiness {
            &self.readiness
        }
        fn renewed(&self) {
            self.renewed.set(self.renewed.get() + 1);
        }
        fn closed(&self) {
            self.closed.set(true);
        }
    }

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: a valid two-int array.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(rc, 0);
        (fds[0], fds[1])
    }

    fn close(fd: RawFd) {
        // SAFETY: closing an fd this test owns.
        unsafe { libc::close(fd) };
    }

    /// A fresh pipe whose read end takes over the number `at` (atomically:
    /// tests run in parallel, so waiting for the kernel to hand the number
    /// out again could race with other tests' fds). Returns the write end.
    fn pipe_at(at: RawFd) -> RawFd {
        let (rd, wr) = pipe();
        // SAFETY: both fds are this test's; dup2 replaces `at` in one step.
        assert_eq!(unsafe { libc::dup2(rd, at) }, at);
        close(rd);
        wr
    }

    fn poll_now(r: &mut Reactor<Counts>) -> Vec<(Rc<Counts>, bool, bool)> {
        let mut ready = Vec::new();
        r.poll(Some(Duration::ZERO), &mut ready).expect("poll");
        ready
    }

    #[test]
    fn readiness_reaches_the_entry_of_its_fd() {
        let mut r: Reactor<Counts> = Reactor::new().expect("reactor");
        let (rd, wr) = pipe();
        let e = r.entry(rd).expect("register");
        assert_eq!(r.registered(), 1);
        // Same entry while nothing changed.
        assert!(Rc::ptr_eq(&e, &r.entry(rd).expect("again")));
        // SAFETY: writing one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(wr, b"x".as_ptr().cast(), 1) }, 1);
        let ready = poll_now(&mut r);
        assert!(ready
            .iter()
            .any(|(x, rd_ok, _)| Rc::ptr_eq(x, &e) && *rd_ok));
        close(rd);
        close(wr);
    }

    #[test]
    fn forgotten_fd_gets_a_fresh_entry_and_old_tokens_are_ignored() {
        let mut r: Reactor<Counts> = Reactor::new().expect("reactor");
        let (rd, wr) = pipe();
        let old = r.entry(rd).expect("register");
        let gone = r.forget(rd).expect("forget");
        assert!(gone.closed.get());
        assert_eq!(r.registered(), 0);
        close(wr);
        // The number now names a new pipe: a new entry, a new token.
        let wr2 = pipe_at(rd);
        let rd2 = rd;
        let new = r.entry(rd2).expect("register again");
        assert!(!Rc::ptr_eq(&old, &new));
        // SAFETY: as above.
        assert_eq!(unsafe { libc::write(wr2, b"y".as_ptr().cast(), 1) }, 1);
        let ready = poll_now(&mut r);
        assert!(ready.iter().all(|(x, _, _)| !Rc::ptr_eq(x, &old)));
        assert!(ready.iter().any(|(x, _, _)| Rc::ptr_eq(x, &new)));
        close(rd2);
        close(wr2);
    }

    #[test]
    fn a_close_elsewhere_renews_the_entry_and_wakes_its_waiters() {
        let mut r: Reactor<Counts> = Reactor::new().expect("reactor");
        let (rd, wr) = pipe();
        let old = r.entry(rd).expect("register");
        // Replaced behind the reactor's back (another thread, a raw dup2):
        // whoever closes or replaces a number bumps its generation.
        let wr2 = pipe_at(rd);
        fd_renewed(rd);
        let rd2 = rd;
        let new = r.entry(rd2).expect("re-register");
        assert!(!Rc::ptr_eq(&old, &new), "a stale entry was reused");
        assert_eq!(old.renewed.get(), 1, "the old entry's waiters were woken");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::write(wr2, b"z".as_ptr().cast(), 1) }, 1);
        assert!(poll_now(&mut r)
            .iter()
            .any(|(x, rd_ok, _)| Rc::ptr_eq(x, &new) && *rd_ok));
        close(rd2);
        close(wr);
        close(wr2);
    }

    #[test]
    fn unknown_readiness_means_try() {
        let r = Readiness::default();
        assert!(r.snapshot(READABLE).0);
        assert!(r.snapshot(WRITABLE).0);
    }

    #[test]
    fn a_clear_with_the_current_tick_sticks_per_direction() {
        let r = Readiness::default();
        let (_, t) = r.snapshot(READABLE);
        r.clear(READABLE, t);
        assert!(!r.snapshot(READABLE).0, "read cleared");
        assert!(r.snapshot(WRITABLE).0, "write untouched");
        r.event(WRITABLE);
        assert!(
            !r.snapshot(READABLE).0,
            "a write event does not make it readable"
        );
        r.event(READABLE);
        assert!(r.snapshot(READABLE).0);
    }

    #[test]
    fn a_stale_clear_never_hides_a_newer_event() {
        let r = Readiness::default();
        // Read the tick, "do the syscall", and meanwhile an event arrives.
        let (ready, t) = r.snapshot(READABLE);
        assert!(ready);
        r.event(READABLE);
        r.clear(READABLE, t);
        assert!(r.snapshot(READABLE).0, "the stale clear was applied");
        // A clear with the fresh tick works.
        let (_, t2) = r.snapshot(READABLE);
        assert_ne!(t, t2);
        r.clear(READABLE, t2);
        assert!(!r.snapshot(READABLE).0);
        // An event with an empty mask (delivered, nothing of ours) still
        // bumps the tick and so still voids older clears.
        let (_, t3) = r.snapshot(WRITABLE);
        r.event(0);
        r.clear(WRITABLE, t3);
        assert!(r.snapshot(WRITABLE).0);
    }

    #[test]
    fn a_closed_side_is_never_cleared() {
        let r = Readiness::default();
        r.event(READABLE | READ_CLOSED);
        let (_, t) = r.snapshot(READABLE);
        // A short read that left the EOF queued: no new edge will come.
        r.clear(READABLE, t);
        assert!(r.snapshot(READABLE).0, "readers must still see the EOF");
        // The write side is unaffected by the read side's EOF.
        let (_, t) = r.snapshot(WRITABLE);
        r.clear(WRITABLE, t);
        assert!(!r.snapshot(WRITABLE).0);
        r.event(WRITE_CLOSED);
        assert!(r.snapshot(WRITABLE).0);
    }

    #[test]
    fn the_tick_wraps_without_confusing_clears() {
        let r = Readiness::default();
        r.tick.set(u32::MAX);
        let (_, t) = r.snapshot(READABLE);
        r.event(READABLE);
        assert_eq!(r.tick.get(), 0);
        r.clear(READABLE, t);
        assert!(r.snapshot(READABLE).0);
    }

    #[test]
    fn events_set_the_entry_readiness_and_lookup_never_registers() {
        let mut r: Reactor<Counts> = Reactor::new().expect("reactor");
        let (rd, wr) = pipe();
        assert!(r.lookup(rd).is_none(), "not registered yet");
        assert_eq!(r.registered(), 0);
        let e = r.entry(rd).expect("register");
        assert!(Rc::ptr_eq(&e, &r.lookup(rd).expect("registered")));
        // Nothing to read: the caller saw EAGAIN and cleared.
        let _ = poll_now(&mut r); // drain the registration's initial events
        let (_, t) = e.readiness.snapshot(READABLE);
        e.readiness.clear(READABLE, t);
        assert!(!e.readiness.snapshot(READABLE).0);
        // SAFETY: writing one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(wr, b"x".as_ptr().cast(), 1) }, 1);
        let _ = poll_now(&mut r);
        assert!(e.readiness.snapshot(READABLE).0, "the event set it");
        // A renewed number: lookup no longer hands out the old entry.
        fd_renewed(rd);
        assert!(r.lookup(rd).is_none());
        close(rd);
        close(wr);
    }

    #[test]
    fn a_hang_up_makes_the_reader_ready() {
        let mut r: Reactor<Counts> = Reactor::new().expect("reactor");
        let (rd, wr) = pipe();
        let e = r.entry(rd).expect("register");
        let _ = poll_now(&mut r);
        let (_, t) = e.readiness.snapshot(READABLE | WRITABLE);
        e.readiness.clear(READABLE | WRITABLE, t);
        close(wr);
        let _ = poll_now(&mut r);
        assert!(e.readiness.snapshot(READABLE).0, "EOF reaches readers");
        // And stays: a clear (as after a short read) does not hide it.
        let (_, t) = e.readiness.snapshot(READABLE);
        e.readiness.clear(READABLE, t);
        assert!(e.readiness.snapshot(READABLE).0, "EOF is final");
        close(rd);
    }
}
