//! The per-fd state the hooks keep, in a table indexed by fd (O(1)).
//!
//! For every fd a hook has looked at it records what it is (socket, pipe, or
//! something we leave alone), the user's view of `O_NONBLOCK` (the real fd
//! is non-blocking once we manage it) and the socket's `SO_RCVTIMEO` /
//! `SO_SNDTIMEO`. Entries are process-wide, like fds, and made of atomics so
//! any thread may read them without a lock.
//!
//! The table grows in chunks that are allocated only on the cooperative or
//! bookkeeping paths and never freed; reading an fd whose chunk does not exist
//! yet allocates nothing (it is `Unknown`), so the pass-through path is safe
//! before `main` and during TLS teardown.
//!
//! Never managed: fds 0–2 (the terminal or a pipe shared with other
//! processes: making them non-blocking would leak into the parent), regular
//! files, and everything else that is not a socket or a FIFO. Of those,
//! fds 0–2 that are pipes, sockets or terminals, and every terminal, are
//! `Shared`: left in the mode their owners gave them, waited for by polling
//! before each call.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use libc::c_int;

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
    /// fds 0–2 when they are a pipe, socket or terminal, and every terminal
    /// (a pty, `/dev/tty`). A coroutine polls before each call and parks
    /// until the fd is ready (`retry::shared_io`).
    Shared,
}

/// The state of one fd.
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

    fn encode(self) -> u32 {
        let k = match self.kind {
            Kind::Unknown => 0,
            Kind::Other => 1,
            Kind::Socket => 2,
            Kind::Pipe => 3,
            Kind::Shared => 4,
        };
        k | if self.user_nonblock { 8 } else { 0 }
    }

    fn decode(v: u32) -> FdState {
        let kind = match v & 7 {
            0 => Kind::Unknown,
            1 => Kind::Other,
            2 => Kind::Socket,
            3 => Kind::Pipe,
            _ => Kind::Shared,
        };
        FdState {
            kind,
            user_nonblock: v & 8 != 0,
        }
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

#[derive(Default)]
struct Slot {
    state: AtomicU32,
    /// Nanoseconds; 0 = none (as the kernel means it).
    rcv_ns: AtomicU64,
    snd_ns: AtomicU64,
}

const CHUNK_BITS: u32 = 12;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = 1 << 12; // 16M fds; larger ones pass through.

type Chunk = [Slot; CHUNK_LEN];

#[allow(clippy::declare_interior_mutable_const)]
const NO_CHUNK: AtomicPtr<Chunk> = AtomicPtr::new(std::ptr::null_mut());
static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [NO_CHUNK; CHUNKS];

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
    if let Some(s) = slot(fd) {
        return Some(s);
    }
    let (hi, lo) = split(fd)?;
    let layout = std::alloc::Layout::new::<Chunk>();
    // SAFETY: the layout is non-zero-sized; all-zero bytes are a valid
    // `Slot` (three zeroed atomics), so the chunk is initialised.
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

/// The recorded state of `fd` (no system call, no allocation).
#[inline]
pub(crate) fn get(fd: c_int) -> FdState {
    match slot(fd) {
        Some(s) => FdState::decode(s.state.load(Ordering::Acquire)),
        None => FdState::UNKNOWN,
    }
}

/// Record a fresh state for `fd` (a new socket, an accepted one, a dup);
/// timeouts are reset to none.
pub(crate) fn set(fd: c_int, st: FdState) {
    if let Some(s) = slot_mut(fd) {
        s.rcv_ns.store(0, Ordering::Relaxed);
        s.snd_ns.store(0, Ordering::Relaxed);
        s.state.store(st.encode(), Ordering::Release);
    }
}

/// Forget `fd` (it was closed, or is about to be replaced).
pub(crate) fn clear(fd: c_int) {
    if let Some(s) = slot(fd) {
        s.state.store(0, Ordering::Release);
        s.rcv_ns.store(0, Ordering::Relaxed);
        s.snd_ns.store(0, Ordering::Relaxed);
    }
}

/// `fd` is crossing into a child process (as its stdin/stdout/stderr, or
/// through `posix_spawn`'s file actions): if we made it non-blocking behind a
/// user who wants it blocking, give its open file description the blocking
/// mode back and stop managing it, here and, being one description, in the
/// child. Both processes then see the mode the user asked for (the other
/// process must not see `EAGAIN` from a "blocking" fd); this process's
/// coroutines treat that fd as `Shared` from now on, polling before each
/// call.
///
/// Async-signal-safe (a forked child calls it between `fork` and `exec`):
/// raw `fcntl` syscalls and atomic stores only, no allocation, no lock.
pub(crate) fn hand_to_child(fd: c_int) {
    let Some(s) = slot(fd) else {
        return;
    };
    let st = FdState::decode(s.state.load(Ordering::Acquire));
    if !st.managed() || st.user_nonblock {
        return; // never touched, or non-blocking as the user asked
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
    s.state.store(
        FdState {
            kind: Kind::Shared,
            user_nonblock: false,
        }
        .encode(),
        Ordering::Release,
    );
}

/// Update the user's `O_NONBLOCK` view of a managed fd.
pub(crate) fn set_user_nonblock(fd: c_int, on: bool) {
    if let Some(s) = slot(fd) {
        let st = FdState::decode(s.state.load(Ordering::Acquire));
        if st.managed() {
            s.state.store(
                FdState {
                    user_nonblock: on,
                    ..st
                }
                .encode(),
                Ordering::Release,
            );
        }
    }
}

/// The recorded timeout of `fd` (`None` when there is none).
#[inline]
pub(crate) fn timeout(fd: c_int, which: Timeout) -> Option<Duration> {
    let s = slot(fd)?;
    let ns = match which {
        Timeout::Recv => s.rcv_ns.load(Ordering::Relaxed),
        Timeout::Send => s.snd_ns.load(Ordering::Relaxed),
    };
    (ns != 0).then(|| Duration::from_nanos(ns))
}

/// Record a timeout for `fd` (`None` or zero: no timeout).
pub(crate) fn set_timeout(fd: c_int, which: Timeout, d: Option<Duration>) {
    if let Some(s) = slot_mut(fd) {
        let ns = d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        match which {
            Timeout::Recv => s.rcv_ns.store(ns, Ordering::Relaxed),
            Timeout::Send => s.snd_ns.store(ns, Ordering::Relaxed),
        }
    }
}

/// Give `to` the same state and timeouts as `from` (after a dup: both name
/// the same open file, so they share `O_NONBLOCK` and socket options).
pub(crate) fn copy(from: c_int, to: c_int) {
    let st = get(from);
    if st.kind == FdState::UNKNOWN.kind {
        clear(to);
        return;
    }
    let rcv = timeout(from, Timeout::Recv);
    let snd = timeout(from, Timeout::Send);
    set(to, st);
    set_timeout(to, Timeout::Recv, rcv);
    set_timeout(to, Timeout::Send, snd);
}

/// The state of `fd`, looking at it the first time: a socket or FIFO becomes
/// managed (the real fd is made non-blocking; the user's flag and socket
/// timeouts are read from the kernel), anything else is left alone.
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
    let shared = FdState {
        kind: Kind::Shared,
        user_nonblock: false,
    };
    let mut sb = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `sb` is a valid out-pointer for one `stat`; fstat is not hooked.
    if unsafe { libc::fstat(fd, sb.as_mut_ptr()) } != 0 {
        return other; // bad fd: let the real call report it; remember nothing
    }
    // SAFETY: fstat succeeded, so it filled `sb`.
    let mode = unsafe { sb.assume_init() }.st_mode & libc::S_IFMT;
    let kind = match mode {
        libc::S_IFCHR if is_terminal(fd) => {
            set(fd, shared);
            return shared;
        }
        libc::S_IFSOCK | libc::S_IFIFO if fd <= 2 => {
            set(fd, shared);
            return shared;
        }
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFIFO => Kind::Pipe,
        _ => {
            set(fd, other);
            return other;
        }
    };
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return other;
    }
    let user_nonblock = flags & libc::O_NONBLOCK != 0;
    if !user_nonblock {
        // SAFETY: F_SETFL takes an int of flags.
        let r = unsafe { real::fcntl(fd, libc::F_SETFL, (flags | libc::O_NONBLOCK) as usize) };
        if r < 0 {
            return other;
        }
    }
    let st = FdState {
        kind,
        user_nonblock,
    };
    set(fd, st);
    if kind == Kind::Socket {
        for (which, opt) in [
            (Timeout::Recv, libc::SO_RCVTIMEO),
            (Timeout::Send, libc::SO_SNDTIMEO),
        ] {
            set_timeout(fd, which, socket_timeout(fd, opt));
        }
    }
    st
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
