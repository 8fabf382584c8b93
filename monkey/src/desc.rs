//! What belongs to an open file description rather than to an fd number:
//! the user's view of `O_NONBLOCK`, the socket timeouts
//! (`SO_RCVTIMEO`/`SO_SNDTIMEO`), whether it was handed to a child process,
//! and the file's identity (device and inode). One cell per description the
//! hooks manage, shared by every fd number that names it — the fd that
//! made it, its `dup`s (`dup`, `dup2`, `dup3`, `F_DUPFD*`), and a socket fd
//! found later to name the same socket — so a change made through any of
//! them is seen through all, as the kernel's flag is.
//!
//! Cells live in a table that grows in chunks and is never freed. A cell
//! counts the fd numbers that point at it (`fd_table` keeps one count per
//! number) and is free for reuse once that count falls to zero. Everything
//! is atomics: any thread, and a forked child between `fork` and `exec`,
//! may read or update a cell without a lock; only `alloc` may allocate (a
//! new chunk). Two threads racing to close and dup the same fd may see a
//! cell reused under them, as they would see the fd number reused.
//!
//! This module knows nothing of fd numbers, hubs or hooks.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A cell's number: never 0 (the fd table's "no description").
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct Id(u32);

impl Id {
    /// The number, for packing into an fd's state word (24 bits at most).
    pub(crate) fn get(self) -> u32 {
        self.0
    }

    /// The id packed as `n`, if it is one.
    pub(crate) fn from_raw(n: u32) -> Option<Id> {
        (n != 0 && (n as usize) < CHUNKS * CHUNK_LEN).then_some(Id(n))
    }
}

/// Which socket timeout.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Timeout {
    /// `SO_RCVTIMEO`: reads and accepts.
    Recv,
    /// `SO_SNDTIMEO`: writes and connects.
    Send,
}

/// The user asked for `O_NONBLOCK` (the real description always has it,
/// unless handed to a child).
const NONBLOCK: u32 = 1;
/// Handed to a child process with the user's blocking mode back: every fd
/// of it is polled before each call from now on, never made non-blocking.
const HANDED: u32 = 2;
/// A socket (only sockets are matched by identity: see [`find`]).
const SOCKET: u32 = 4;
/// Made by a hook (a socket created or accepted in a coroutine), and since
/// then named only by fd numbers the hooks track: no `dup` made before,
/// not sent to another process over a Unix socket. With no fork since
/// (see [`forked`]), nothing else can name it.
const ALONE: u32 = 8;

/// One open file description.
#[derive(Default)]
pub(crate) struct Desc {
    /// Fd numbers pointing here; 0: free.
    refs: AtomicU32,
    flags: AtomicU32,
    /// Nanoseconds; 0 = none (as the kernel means it).
    rcv_ns: AtomicU64,
    snd_ns: AtomicU64,
    /// `st_dev` and `st_ino`; both 0 until known.
    dev: AtomicU64,
    ino: AtomicU64,
    /// [`FORKS`] when it was made.
    forks: AtomicU32,
}

impl Desc {
    /// The user's view of `O_NONBLOCK`.
    #[inline]
    pub(crate) fn user_nonblock(&self) -> bool {
        self.flags.load(Ordering::Acquire) & NONBLOCK != 0
    }

    /// Change the user's view of `O_NONBLOCK`.
    pub(crate) fn set_user_nonblock(&self, on: bool) {
        if on {
            self.flags.fetch_or(NONBLOCK, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!NONBLOCK, Ordering::AcqRel);
        }
    }

    /// Whether it was handed to a child (see [`HANDED`]).
    #[inline]
    pub(crate) fn handed(&self) -> bool {
        self.flags.load(Ordering::Acquire) & HANDED != 0
    }

    /// Mark it handed to a child. Async-signal-safe.
    pub(crate) fn set_handed(&self) {
        self.flags.fetch_or(HANDED, Ordering::AcqRel);
    }

    /// The recorded timeout (`None`: there is none).
    #[inline]
    pub(crate) fn timeout(&self, which: Timeout) -> Option<Duration> {
        let ns = match which {
            Timeout::Recv => self.rcv_ns.load(Ordering::Relaxed),
            Timeout::Send => self.snd_ns.load(Ordering::Relaxed),
        };
        (ns != 0).then(|| Duration::from_nanos(ns))
    }

    /// Record a timeout (`None` or zero: none).
    pub(crate) fn set_timeout(&self, which: Timeout, d: Option<Duration>) {
        let ns = d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        match which {
            Timeout::Recv => self.rcv_ns.store(ns, Ordering::Relaxed),
            Timeout::Send => self.snd_ns.store(ns, Ordering::Relaxed),
        }
    }

    /// The file's `(st_dev, st_ino)`, if recorded.
    #[inline]
    pub(crate) fn identity(&self) -> Option<(u64, u64)> {
        let dev = self.dev.load(Ordering::Acquire);
        let ino = self.ino.load(Ordering::Acquire);
        (dev != 0 || ino != 0).then_some((dev, ino))
    }

    /// Record the file's identity.
    pub(crate) fn set_identity(&self, (dev, ino): (u64, u64)) {
        self.dev.store(dev, Ordering::Release);
        self.ino.store(ino, Ordering::Release);
    }

    /// Whether one fd number at most names it.
    pub(crate) fn last_name(&self) -> bool {
        self.refs.load(Ordering::Acquire) <= 1
    }

    /// Whether an fd the hooks do not track may name it (see [`ALONE`]):
    /// in another process after a fork, or one it was sent to, or a `dup`
    /// made before the hooks managed it.
    pub(crate) fn may_have_strangers(&self) -> bool {
        self.flags.load(Ordering::Acquire) & ALONE == 0
            || self.forks.load(Ordering::Relaxed) != FORKS.load(Ordering::Relaxed)
            || BLIND.load(Ordering::Relaxed)
    }

    /// It was sent to another process (`SCM_RIGHTS`). Async-signal-safe.
    pub(crate) fn sent_away(&self) {
        self.flags.fetch_and(!ALONE, Ordering::AcqRel);
    }
}

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
/// 16M cells: ids fit the fd table's 24 bits.
const CHUNKS: usize = 1 << 12;

type Chunk = [Desc; CHUNK_LEN];

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Chunk> = AtomicPtr::new(std::ptr::null_mut());
static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [NO_CHUNK; CHUNKS];
/// Chunks installed so far (they are installed in order).
static INSTALLED: AtomicU32 = AtomicU32::new(0);
/// Where the next search for a free cell starts.
static HINT: AtomicU32 = AtomicU32::new(1);
/// Live descriptions (when none, [`find`] has nothing to find).
static LIVE: AtomicU32 = AtomicU32::new(0);

/// The cell `id` names. Its chunk exists: ids are only handed out by
/// [`alloc`], after their chunk was installed.
#[inline]
pub(crate) fn get(id: Id) -> &'static Desc {
    let i = id.0 as usize;
    let p = TABLE[i >> CHUNK_BITS].load(Ordering::Acquire);
    // SAFETY: the chunk of an id handed out by `alloc` is installed, never
    // freed, and `i` is inside it.
    unsafe { &(*p)[i & (CHUNK_LEN - 1)] }
}

/// Forks of this process since it was patched, counted in the parent and
/// in the child: a description older than the last fork may be named in
/// another process.
static FORKS: AtomicU32 = AtomicU32::new(0);

/// Descriptions made so far for files the hooks did not make (whose other
/// names the hooks may not know): a look that found an fd names no managed
/// description holds only while this stays the same.
static STRANGERS: AtomicU32 = AtomicU32::new(0);

/// See [`STRANGERS`].
pub(crate) fn strangers_epoch() -> u32 {
    STRANGERS.load(Ordering::Acquire)
}

/// Forks cannot be counted (no `pthread_atfork` handler): any description
/// may be named elsewhere.
static BLIND: AtomicBool = AtomicBool::new(false);

/// The `pthread_atfork` handler, parent and child side (async-signal-safe).
pub(crate) extern "C" fn forked() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Forks cannot be counted in this process (see [`BLIND`]).
pub(crate) fn blind() {
    BLIND.store(true, Ordering::Relaxed);
}

/// A fresh cell for a description the hooks start to manage, counted once,
/// with the user's `nonblock` view, no timeouts and no identity; `alone`
/// for a file a hook just made (see [`ALONE`]). `None` when out of memory
/// or out of cells (the fd is then left unmanaged).
pub(crate) fn alloc(nonblock: bool, socket: bool, alone: bool) -> Option<Id> {
    loop {
        let cap = INSTALLED.load(Ordering::Acquire) as usize * CHUNK_LEN;
        if cap > 0 {
            let start = HINT.load(Ordering::Relaxed) as usize % cap;
            for k in 0..cap {
                let i = (start + k) % cap;
                if i == 0 {
                    continue;
                }
                let d = get(Id(i as u32));
                if d.refs.load(Ordering::Relaxed) == 0
                    && d.refs
                        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    d.rcv_ns.store(0, Ordering::Relaxed);
                    d.snd_ns.store(0, Ordering::Relaxed);
                    d.set_identity((0, 0));
                    let flags = if nonblock { NONBLOCK } else { 0 }
                        | if socket { SOCKET } else { 0 }
                        | if alone { ALONE } else { 0 };
                    d.forks
                        .store(FORKS.load(Ordering::Relaxed), Ordering::Relaxed);
                    d.flags.store(flags, Ordering::Release);
                    LIVE.fetch_add(1, Ordering::AcqRel);
                    if !alone {
                        STRANGERS.fetch_add(1, Ordering::AcqRel);
                    }
                    HINT.store((i + 1) as u32, Ordering::Relaxed);
                    return Some(Id(i as u32));
                }
            }
        }
        grow(cap / CHUNK_LEN)?;
    }
}

/// Install chunk `n` unless another thread did; `None` when the table is
/// full or memory ran out.
#[cold]
fn grow(n: usize) -> Option<()> {
    if n >= CHUNKS {
        return None;
    }
    if TABLE[n].load(Ordering::Acquire).is_null() {
        let layout = std::alloc::Layout::new::<Chunk>();
        // SAFETY: the layout is non-zero-sized; all-zero bytes are a valid
        // `Desc` (zeroed atomics), so the chunk is initialised.
        let fresh = unsafe { std::alloc::alloc_zeroed(layout) } as *mut Chunk;
        if fresh.is_null() {
            return None;
        }
        if TABLE[n]
            .compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: allocated above with this layout, never shared.
            unsafe { std::alloc::dealloc(fresh.cast(), layout) };
        }
    }
    INSTALLED.fetch_max(n as u32 + 1, Ordering::AcqRel);
    Some(())
}

/// One more fd number names `id`. False if the cell was freed meanwhile (a
/// racing close): the caller then treats the fd as unknown.
pub(crate) fn retain(id: Id) -> bool {
    get(id)
        .refs
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
            (r > 0).then_some(r + 1)
        })
        .is_ok()
}

/// One fd number fewer names `id`. Async-signal-safe.
pub(crate) fn release(id: Id) {
    let d = get(id);
    let was = d
        .refs
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1));
    if was == Ok(1) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether any description is live (else [`find`] finds nothing, and
/// callers skip the `fstat` that would feed it).
#[inline]
pub(crate) fn any_live() -> bool {
    LIVE.load(Ordering::Acquire) != 0
}

/// The live description with this identity that a socket or pipe the
/// hooks have not recorded yet names, counted once more for the caller: a
/// `dup` made before the hooks managed it, or an fd received over a Unix
/// socket. A socket has exactly one open file description (it cannot be
/// opened again by path), so its identity is enough. A pipe's two ends
/// share an identity, and a FIFO may be opened many times, so for them
/// `same(id)` must confirm it (the fd table asks the kernel, `kcmp`,
/// whether one of the numbers naming `id` names the same description).
/// Scans every cell; only called the first time a hook looks at such an fd.
pub(crate) fn find(identity: (u64, u64), socket: bool, same: impl Fn(Id) -> bool) -> Option<Id> {
    let cap = INSTALLED.load(Ordering::Acquire) as usize * CHUNK_LEN;
    let is_it = |d: &Desc| {
        (d.flags.load(Ordering::Acquire) & SOCKET != 0) == socket && d.identity() == Some(identity)
    };
    for id in (1..cap).map(|i| Id(i as u32)) {
        let d = get(id);
        if d.refs.load(Ordering::Acquire) == 0 || !is_it(d) || !retain(id) {
            continue;
        }
        if is_it(d) && (socket || same(id)) {
            return Some(id);
        }
        release(id); // not it, or reused for another file between the looks
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell is shared while any number holds it, free once none does, and
    /// a socket is found by its identity only while it lives.
    #[test]
    fn cells_are_counted_shared_and_found_by_identity() {
        let id = alloc(false, true, true).expect("a cell");
        let d = get(id);
        d.set_identity((7, 0xdead_beef));
        assert!(retain(id));
        assert!(!d.last_name());
        d.set_user_nonblock(true);
        assert!(get(id).user_nonblock());
        let found = find((7, 0xdead_beef), true, |_| false).expect("found");
        assert_eq!(found, id);
        release(found);
        release(id);
        assert!(d.last_name());
        release(id); // the last name goes: free
        assert!(!retain(id), "a free cell is never retained");
        assert_eq!(find((7, 0xdead_beef), true, |_| true), None);
        // A pipe is only matched when the kernel confirms it.
        let p = alloc(false, false, false).expect("a cell");
        get(p).set_identity((7, 42));
        assert_eq!(find((7, 42), false, |_| false), None);
        assert_eq!(find((7, 42), false, |_| true), Some(p));
        release(p);
        release(p);
    }
}
