//! The per-fd state the hooks keep, in a table indexed by fd (O(1)).
//!
//! For every fd number a hook has looked at it records what it is (socket,
//! pipe, or something we leave alone) and, for the sockets and pipes we
//! manage (the real fd non-blocking), which open file description it names
//! (`desc.rs`): the user's view of `O_NONBLOCK`, the socket timeouts and the
//! file's identity live there, shared by every dup of it, as the kernel
//! shares them. Entries are process-wide, like fds, and made of atomics so
//! any thread may read them without a lock.
//!
//! The table grows in chunks that are allocated only on the cooperative or
//! bookkeeping paths and never freed; reading an fd whose chunk does not exist
//! yet allocates nothing (it is `Unknown`), so the pass-through path is safe
//! before `main` and during TLS teardown.
//!
//! A number can be closed behind the hooks' back (a raw `close` system
//! call, a library's internal close) and reused by a file no hook sees
//! made (`eventfd`, `timerfd`, `open`): before a wait would park, the hooks
//! compare the file's identity with the one recorded ([`same_file`], one
//! `fstat` on that slow path only) and start afresh when it changed.
//!
//! Never managed: fds 0–2 (the terminal or a pipe shared with other
//! processes: making them non-blocking would leak into the parent), regular
//! files, and everything else that is not a socket or a FIFO. Of those,
//! fds 0–2 that are pipes, sockets or terminals, and every terminal, are
//! `Shared`: left in the mode their owners gave them, waited for by polling
//! before each call. So is a managed description once handed to a child.

use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use libc::c_int;

pub(crate) use crate::desc::Timeout;
use crate::desc::{self, Id};
use crate::real;

/// What an fd is, as far as the hooks care.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// Not looked at yet (or closed since).
    Unknown,
    /// Left alone: every call passes through.
    Other,
    /// A socket we manage (real fd non-blocking).
    Socket,
    /// A pipe or FIFO we manage (real fd non-blocking).
    Pipe,
    /// Pollable but shared with other processes, so never made non-blocking:
    /// fds 0–2 when they are a pipe, socket or terminal, every terminal (a
    /// pty, `/dev/tty`), and a managed description handed to a child. A
    /// coroutine polls before each call and parks until the fd is ready
    /// (`retry::shared_io`).
    Shared,
}

/// The state of one fd, as read now.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct FdState {
    pub(crate) kind: Kind,
    /// What the user asked for; the real fd is always non-blocking when
    /// managed.
    pub(crate) user_nonblock: bool,
}

impl FdState {
    pub(crate) const UNKNOWN: FdState = FdState {
        kind: Kind::Unknown,
        user_nonblock: false,
    };

    /// Managed and blocking from the user's point of view: calls that would
    /// block must wait (park, or poll outside coroutines) and retry.
    #[inline]
    pub(crate) fn waits(self) -> bool {
        matches!(self.kind, Kind::Socket | Kind::Pipe) && !self.user_nonblock
    }

    #[inline]
    pub(crate) fn managed(self) -> bool {
        matches!(self.kind, Kind::Socket | Kind::Pipe)
    }
}

/// A slot's word: the kind in the low bits, the description's id (managed
/// kinds only) from bit 8.
const KIND_MASK: u32 = 7;
const DESC_SHIFT: u32 = 8;
/// With kind `Unknown`: [`known_dup`] found it names no description the
/// hooks manage (it is still classified on a coroutine's first use), when
/// `desc::strangers_epoch` was the number in the bits from `DESC_SHIFT`
/// (a description made since for another name of its file may be it).
const LOOKED: u32 = 8;

fn kind_bits(k: Kind) -> u32 {
    match k {
        Kind::Unknown => 0,
        Kind::Other => 1,
        Kind::Socket => 2,
        Kind::Pipe => 3,
        Kind::Shared => 4,
    }
}

/// The kind recorded in `raw` and, for a managed one, its description.
#[inline]
fn unpack(raw: u32) -> (Kind, Option<Id>) {
    let kind = match raw & KIND_MASK {
        0 => Kind::Unknown,
        1 => Kind::Other,
        2 => Kind::Socket,
        3 => Kind::Pipe,
        _ => Kind::Shared,
    };
    match kind {
        Kind::Socket | Kind::Pipe => match Id::from_raw(raw >> DESC_SHIFT) {
            Some(id) => (kind, Some(id)),
            None => (Kind::Other, None),
        },
        _ => (kind, None),
    }
}

/// The state a slot word stands for, read now from its description.
#[inline]
fn decode(raw: u32) -> FdState {
    match unpack(raw) {
        (kind, Some(id)) => {
            let d = desc::get(id);
            if d.handed() {
                FdState {
                    kind: Kind::Shared,
                    user_nonblock: false,
                }
            } else {
                FdState {
                    kind,
                    user_nonblock: d.user_nonblock(),
                }
            }
        }
        (kind, None) => FdState {
            kind,
            user_nonblock: false,
        },
    }
}

#[derive(Default)]
struct Slot {
    state: AtomicU32,
}

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = 1 << 12; // 16M fds; larger ones pass through.

type Chunk = [Slot; CHUNK_LEN];

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Chunk> = AtomicPtr::new(std::ptr::null_mut());
static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [NO_CHUNK; CHUNKS];
/// The highest fd number ever given an entry (what `close_range` scans up
/// to).
static HIGHEST: AtomicI32 = AtomicI32::new(-1);

#[inline]
fn split(fd: c_int) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    let hi = fd >> CHUNK_BITS;
    (hi < CHUNKS).then_some((hi, fd & (CHUNK_LEN - 1)))
}

/// The slot for `fd` if its chunk exists (never allocates).
#[inline]
fn slot(fd: c_int) -> Option<&'static Slot> {
    let (hi, lo) = split(fd)?;
    let p = TABLE[hi].load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: chunks are installed once and never freed.
    Some(unsafe { &(*p)[lo] })
}

/// The slot for `fd`, allocating its chunk if needed.
fn slot_mut(fd: c_int) -> Option<&'static Slot> {
    HIGHEST.fetch_max(fd, Ordering::AcqRel);
    if let Some(s) = slot(fd) {
        return Some(s);
    }
    let (hi, lo) = split(fd)?;
    let layout = std::alloc::Layout::new::<Chunk>();
    // SAFETY: the layout is non-zero-sized; all-zero bytes are a valid
    // `Slot` (a zeroed atomic), so the chunk is initialised.
    let fresh = unsafe { std::alloc::alloc_zeroed(layout) } as *mut Chunk;
    if fresh.is_null() {
        return None; // out of memory: treat the fd as unmanaged
    }
    let p = match TABLE[hi].compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => fresh,
        Err(existing) => {
            // SAFETY: `fresh` was allocated above with this layout and never
            // shared.
            unsafe { std::alloc::dealloc(fresh.cast(), layout) };
            existing
        }
    };
    // SAFETY: as in `slot`.
    Some(unsafe { &(*p)[lo] })
}

/// Put `raw` in `fd`'s slot, giving up the description the slot named
/// before (if any). Async-signal-safe when the slot's chunk exists.
fn store(s: &Slot, raw: u32) {
    let old = s.state.swap(raw, Ordering::AcqRel);
    if let (_, Some(id)) = unpack(old) {
        desc::release(id);
    }
}

/// The recorded state of `fd` (no system call, no allocation).
#[inline]
pub(crate) fn get(fd: c_int) -> FdState {
    match slot(fd) {
        Some(s) => decode(s.state.load(Ordering::Acquire)),
        None => FdState::UNKNOWN,
    }
}

/// The description `fd` names, if it is managed.
#[inline]
fn desc_of(fd: c_int) -> Option<&'static desc::Desc> {
    let (_, id) = unpack(slot(fd)?.state.load(Ordering::Acquire));
    id.map(desc::get)
}

/// Record a brand-new managed fd (a socket a hook just made or accepted)
/// with a description of its own, holding the user's `nonblock` view and
/// no timeouts. Left unknown if no description can be had.
pub(crate) fn set_new(fd: c_int, kind: Kind, nonblock: bool) {
    let Some(s) = slot_mut(fd) else {
        return;
    };
    match desc::alloc(nonblock, kind == Kind::Socket, true) {
        Some(id) => store(s, kind_bits(kind) | id.get() << DESC_SHIFT),
        None => store(s, 0),
    }
}

/// Forget `fd` (it was closed, or is about to be replaced). Async-signal-
/// safe.
pub(crate) fn clear(fd: c_int) {
    if let Some(s) = slot(fd) {
        store(s, 0);
    }
}

/// `fd` is about to be closed, or replaced by a `dup2`/`dup3`, by its
/// user: forget it. When it is the last number we know of a description
/// the hooks made non-blocking behind a user who wants it blocking, the
/// description gets its blocking mode back first: another fd may still
/// name it that no hook saw made (a dup made before `patch_all`, an fd
/// received over a Unix socket, a forked child's copy), and it must not
/// find the description non-blocking once we stop answering for it. Costs
/// an `fstat` and two `fcntl`s on that last close, and nothing for a socket
/// a hook made that no other fd can name (`desc::Desc::may_have_strangers`).
///
/// Async-signal-safe (a forked child may close between `fork` and `exec`).
pub(crate) fn closing(fd: c_int) {
    let Some(s) = slot(fd) else {
        return;
    };
    if let (_, Some(id)) = unpack(s.state.load(Ordering::Acquire)) {
        let d = desc::get(id);
        if d.last_name()
            && !d.user_nonblock()
            && !d.handed()
            && d.may_have_strangers()
            && same_file(fd)
        {
            // SAFETY: F_GETFL/F_SETFL read and write only the description's
            // flags; raw, so no hook is involved.
            unsafe {
                let flags = libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL);
                if flags >= 0 && flags as c_int & libc::O_NONBLOCK != 0 {
                    let flags = flags as c_int & !libc::O_NONBLOCK;
                    libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, flags);
                }
            }
        }
    }
    store(s, 0);
}

/// `fd` is being sent to another process (`SCM_RIGHTS`): that process
/// will name its description too.
pub(crate) fn sent_away(fd: c_int) {
    if let Some(d) = desc_of(fd) {
        d.sent_away();
    }
}

/// `to` names what `from` names (a dup): a managed `from` shares its
/// description with `to`, anything else is copied as it is.
pub(crate) fn copy(from: c_int, to: c_int) {
    let raw = slot(from).map_or(0, |s| s.state.load(Ordering::Acquire));
    let raw = match unpack(raw) {
        (Kind::Unknown, _) => 0,
        (_, Some(id)) if !desc::retain(id) => 0,
        _ => raw,
    };
    if raw == 0 {
        clear(to);
        return;
    }
    match slot_mut(to) {
        Some(s) => store(s, raw),
        None => {
            if let (_, Some(id)) = unpack(raw) {
                desc::release(id);
            }
        }
    }
}

/// `fd` is crossing into a child process (as its stdin/stdout/stderr, or
/// through `posix_spawn`'s file actions): if we made it non-blocking behind a
/// user who wants it blocking, give its open file description the blocking
/// mode back and stop managing it, here (for every fd naming it) and, being
/// one description, in the child. Both processes then see the mode the user
/// asked for (the other process must not see `EAGAIN` from a "blocking"
/// fd); this process's coroutines treat its fds as `Shared` from now on,
/// polling before each call.
///
/// Async-signal-safe (a forked child calls it between `fork` and `exec`):
/// raw `fcntl` syscalls and atomic stores only, no allocation, no lock.
pub(crate) fn hand_to_child(fd: c_int) {
    let Some(d) = desc_of(fd) else {
        return; // never touched
    };
    if d.handed() || d.user_nonblock() || !same_file(fd) {
        // Handed already, non-blocking as the user asked, or the number
        // names a file we never touched (closed behind our back).
        return;
    }
    // SAFETY: F_GETFL/F_SETFL read and write only the description's flags;
    // the raw syscall allocates nothing and is not hooked.
    unsafe {
        let flags = libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL);
        if flags < 0 {
            return; // not open: nothing crosses
        }
        let flags = flags as c_int & !libc::O_NONBLOCK;
        if libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, flags) < 0 {
            return;
        }
    }
    d.set_handed();
}

/// Update the user's `O_NONBLOCK` view of a managed fd (and so of every fd
/// naming its open file description).
pub(crate) fn set_user_nonblock(fd: c_int, on: bool) {
    if let Some(d) = desc_of(fd) {
        d.set_user_nonblock(on);
    }
}

/// The recorded timeout of a managed `fd` (`None` when there is none).
#[inline]
pub(crate) fn timeout(fd: c_int, which: Timeout) -> Option<Duration> {
    desc_of(fd)?.timeout(which)
}

/// Record a timeout for a managed `fd` (`None` or zero: no timeout); the
/// socket's, so every fd naming it sees it.
pub(crate) fn set_timeout(fd: c_int, which: Timeout, d: Option<Duration>) {
    if let Some(desc) = desc_of(fd) {
        desc.set_timeout(which, d);
    }
}

/// The highest fd number ever given an entry (-1: none).
pub(crate) fn highest() -> c_int {
    HIGHEST.load(Ordering::Acquire)
}

/// The fd numbers in `first..=last` that have an entry, in order.
pub(crate) fn known_in(first: c_int, last: c_int) -> impl Iterator<Item = c_int> {
    let last = last.min(HIGHEST.load(Ordering::Acquire));
    (first.max(0)..=last)
        .filter(|&fd| slot(fd).is_some_and(|s| s.state.load(Ordering::Acquire) != 0))
}

/// `(st_dev, st_ino)` and the file type of `fd`, from `fstat`.
fn identity(fd: c_int) -> Option<((u64, u64), libc::mode_t)> {
    let mut sb = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `sb` is a valid out-pointer for one `stat`; fstat is not hooked.
    if unsafe { libc::fstat(fd, sb.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled `sb`.
    let sb = unsafe { sb.assume_init() };
    Some(((sb.st_dev, sb.st_ino), sb.st_mode & libc::S_IFMT))
}

/// Whether managed `fd` still names the file recorded for it (the slow path
/// only, before a wait would park: one `fstat`). A description made by a
/// hook for a new socket learns its identity here, at its first wait. An
/// fd that is not managed has nothing to compare: true.
pub(crate) fn same_file(fd: c_int) -> bool {
    let Some(s) = slot(fd) else {
        return true;
    };
    let (kind, Some(id)) = unpack(s.state.load(Ordering::Acquire)) else {
        return true;
    };
    let Some((now, mode)) = identity(fd) else {
        return false; // closed behind our back
    };
    let want = if kind == Kind::Socket {
        libc::S_IFSOCK
    } else {
        libc::S_IFIFO
    };
    let d = desc::get(id);
    match d.identity() {
        Some(known) => known == now,
        None if mode == want => {
            d.set_identity(now);
            true
        }
        None => false,
    }
}

/// `fd` was found naming another file than the one recorded (closed and
/// reused behind the hooks' back): forget everything about it, here and in
/// every hub, as a `close` would have.
pub(crate) fn forget_stale(fd: c_int) {
    clear(fd);
    green_runtime::rt::forget_fd(fd);
    green_runtime::rt::fd_renewed(fd);
}

/// The state of `fd`, looking at it the first time: a socket or FIFO becomes
/// managed (the real fd is made non-blocking; the user's flag and socket
/// timeouts are read from the kernel), anything else is left alone. A
/// socket that is already managed under another number (a dup made before
/// the hooks managed it, an fd received over a Unix socket) shares that
/// number's description.
///
/// Called only on the cooperative path (inside a coroutine, patched).
pub(crate) fn classify(fd: c_int) -> FdState {
    let st = get(fd);
    if st.kind != Kind::Unknown {
        return st;
    }
    let other = FdState {
        kind: Kind::Other,
        user_nonblock: false,
    };
    let Some((ident, mode)) = identity(fd) else {
        return other; // bad fd: let the real call report it; remember nothing
    };
    let Some(s) = slot_mut(fd) else {
        return other;
    };
    let kind = match mode {
        libc::S_IFCHR if is_terminal(fd) => return record(s, Kind::Shared),
        libc::S_IFSOCK | libc::S_IFIFO if fd <= 2 => return record(s, Kind::Shared),
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFIFO => Kind::Pipe,
        _ => return record(s, Kind::Other),
    };
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return other;
    }
    let nonblock = flags & libc::O_NONBLOCK != 0;
    {
        // Another name of a description we manage under another number (a
        // dup made before, an fd received): its description, whose mode a
        // user may have changed through this name behind our back.
        if let Some(id) = find(ident, kind, fd) {
            let d = desc::get(id);
            if !nonblock && !d.handed() {
                d.set_user_nonblock(false);
                // SAFETY: F_SETFL takes an int of flags.
                unsafe { real::fcntl(fd, libc::F_SETFL, (flags | libc::O_NONBLOCK) as usize) };
            }
            return install(s, kind, id);
        }
    }
    if !nonblock {
        // SAFETY: F_SETFL takes an int of flags.
        let r = unsafe { real::fcntl(fd, libc::F_SETFL, (flags | libc::O_NONBLOCK) as usize) };
        if r < 0 {
            return other;
        }
    }
    let Some(id) = desc::alloc(nonblock, kind == Kind::Socket, false) else {
        return other;
    };
    let d = desc::get(id);
    d.set_identity(ident);
    if kind == Kind::Socket {
        for (which, opt) in [
            (Timeout::Recv, libc::SO_RCVTIMEO),
            (Timeout::Send, libc::SO_SNDTIMEO),
        ] {
            d.set_timeout(which, socket_timeout(fd, opt));
        }
    }
    install(s, kind, id)
}

/// For an fd no hook has recorded yet, on any thread: if it is another name
/// of a socket we manage under another number (a `dup` made before the
/// hooks managed it, an fd received over a Unix socket), record it as
/// naming that description, so it sees and changes the user's view of it.
/// Nothing else is recorded (a coroutine's first call classifies the fd).
/// Costs nothing while no socket is managed, one `fstat` otherwise.
pub(crate) fn known_dup(fd: c_int) -> FdState {
    let raw = slot(fd).map_or(0, |s| s.state.load(Ordering::Acquire));
    let st = decode(raw);
    let epoch = desc::strangers_epoch() & (u32::MAX >> DESC_SHIFT);
    let looked = raw & LOOKED != 0 && raw >> DESC_SHIFT == epoch;
    if st.kind != Kind::Unknown || looked || !desc::any_live() {
        return st;
    }
    let Some(s) = slot_mut(fd) else {
        return st;
    };
    let found = match identity(fd) {
        Some((ident, libc::S_IFSOCK)) => find(ident, Kind::Socket, fd).map(|id| (Kind::Socket, id)),
        Some((ident, libc::S_IFIFO)) if fd > 2 => {
            find(ident, Kind::Pipe, fd).map(|id| (Kind::Pipe, id))
        }
        _ => None,
    };
    match found {
        Some((kind, id)) => install(s, kind, id),
        None => {
            // Not ours: do not look again until the number is renewed (its
            // non-blocking mode is its user's own, then).
            let _ = replace_unknown(s, LOOKED | epoch << DESC_SHIFT);
            st
        }
    }
}

/// The managed description `fd` (of `kind`, with identity `ident`, not
/// recorded yet) names, if any (see `desc::find`): a pipe's is confirmed
/// with `kcmp` against a number that names the candidate.
fn find(ident: (u64, u64), kind: Kind, fd: c_int) -> Option<Id> {
    desc::find(ident, kind == Kind::Socket, |id| {
        let raw = kind_bits(kind) | id.get() << DESC_SHIFT;
        let highest = HIGHEST.load(Ordering::Acquire);
        (0..=highest)
            .filter(|&m| m != fd && slot(m).is_some_and(|s| s.state.load(Ordering::Acquire) == raw))
            .any(|m| same_description(fd, m))
    })
}

/// Whether fds `a` and `b` of this process name one open file description
/// (`kcmp(KCMP_FILE)`; false where it is not allowed, e.g. by a seccomp
/// filter).
fn same_description(a: c_int, b: c_int) -> bool {
    /// `kcmp`'s type for open file descriptions (`<linux/kcmp.h>`).
    const KCMP_FILE: c_int = 0;
    // SAFETY: kcmp compares kernel objects and touches no memory.
    let r = unsafe {
        let pid = libc::getpid();
        libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, a, b)
    };
    r == 0
}

/// Record an unmanaged kind for a slot that was unknown (another thread may
/// have recorded it meanwhile: its record wins).
fn record(s: &Slot, kind: Kind) -> FdState {
    let _ = replace_unknown(s, kind_bits(kind));
    decode(s.state.load(Ordering::Acquire))
}

/// Put `raw` in a slot that holds an unknown fd (looked at by
/// [`known_dup`] or not); false if another thread recorded it meanwhile.
fn replace_unknown(s: &Slot, raw: u32) -> bool {
    let cur = s.state.load(Ordering::Acquire);
    cur & KIND_MASK == 0
        && s.state
            .compare_exchange(cur, raw, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
}

/// Point a slot that was unknown at description `id` (counted for it
/// already); if another thread recorded the fd meanwhile, its record wins.
fn install(s: &Slot, kind: Kind, id: Id) -> FdState {
    if !replace_unknown(s, kind_bits(kind) | id.get() << DESC_SHIFT) {
        desc::release(id);
    }
    decode(s.state.load(Ordering::Acquire))
}

/// Whether `fd` is a terminal (`TCGETS` succeeds, as `isatty` asks).
fn is_terminal(fd: c_int) -> bool {
    // SAFETY: an all-zero termios is a valid value to overwrite.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: TCGETS writes one termios; the real ioctl, not our hook.
    unsafe { real::ioctl(fd, libc::TCGETS, (&raw mut t) as usize) == 0 }
}

/// Read `SO_RCVTIMEO`/`SO_SNDTIMEO` from the kernel.
pub(crate) fn socket_timeout(fd: c_int, opt: c_int) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid out-pointers of the sizes given;
    // getsockopt is not hooked.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&raw mut tv).cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        return None;
    }
    timeval_to_duration(&tv)
}

/// A socket timeout as the kernel reads it (zero: none).
pub(crate) fn timeval_to_duration(tv: &libc::timeval) -> Option<Duration> {
    if tv.tv_sec < 0 || tv.tv_usec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64))
}

/// An fd a hook opened for its own use (a pidfd, a signalfd), never seen by
/// the user: whatever was recorded under its number belongs to an older
/// file, so it is cleared on adoption; the hub forgets it and it is closed
/// on drop, errno kept (the hook may be returning the real call's).
pub(crate) struct PrivateFd(pub(crate) c_int);

impl PrivateFd {
    /// Take over `fd` as the opening call returned it; `None` for `-1`.
    pub(crate) fn adopt(fd: c_int) -> Option<PrivateFd> {
        if fd < 0 {
            return None;
        }
        green_runtime::rt::forget_fd(fd);
        green_runtime::rt::fd_renewed(fd);
        clear(fd);
        Some(PrivateFd(fd))
    }
}

impl Drop for PrivateFd {
    fn drop(&mut self) {
        let saved = real::errno();
        green_runtime::rt::forget_fd(self.0);
        // SAFETY: we own this fd; the real close, not our hook.
        unsafe { real::close(self.0) };
        green_runtime::rt::fd_renewed(self.0);
        real::set_errno(saved);
    }
}
