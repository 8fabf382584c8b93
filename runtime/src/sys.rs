//! Every system call the runtime makes, behind one module, each turned into
//! an `io::Result` by one helper (`cvt`). Platform layer: imports nothing of
//! the crate.
//!
//! Wrappers are safe where their arguments make the call safe (a buffer
//! passed as a slice, an fd that may be wrong but cannot make memory
//! unsafe), and `unsafe fn` where the caller must vouch for something the
//! types cannot say (an address range it owns, an fd it owns and gives
//! up). The ones marked *async-signal-safe* allocate nothing and take no
//! lock: signal handlers may call them.
//!
//! This module must never call back into the runtime, allocate on the
//! signal-safe paths, or call a function the `monkey` crate interposes in a
//! way that could reach a hook that parks (every socket call here passes
//! `MSG_DONTWAIT` or works on non-blocking fds, so a hook passes it
//! straight through).

use std::io;
use std::mem;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use libc::{c_int, c_void, sockaddr_storage, socklen_t};

/// What a system call returns on failure: -1 (and errno says why).
pub(crate) trait IsMinusOne: Copy {
    fn is_minus_one(self) -> bool;
}

impl IsMinusOne for c_int {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl IsMinusOne for isize {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// The one conversion: -1 becomes errno's `io::Error`, anything else is the
/// result.
#[inline]
pub(crate) fn cvt<T: IsMinusOne>(r: T) -> io::Result<T> {
    if r.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A byte count from a call that returns `ssize_t`.
#[inline]
fn cvt_len(r: isize) -> io::Result<usize> {
    cvt(r).map(|n| n as usize)
}

// ---------------------------------------------------------------- memory

/// Map `len` bytes of private, anonymous, read-write memory and return its
/// address. `reserve_only` asks the kernel not to reserve swap for it
/// (`MAP_NORESERVE`): pages cost memory only once touched.
pub(crate) fn map_anonymous(len: usize, reserve_only: bool) -> io::Result<usize> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if reserve_only {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: an anonymous mapping with no address hint touches no existing
    // memory; the result is checked before anyone uses it.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as usize)
    }
}

/// Unmap `[addr, addr + len)`.
///
/// # Safety
/// The range was mapped by this process (with `map_anonymous`) and nothing
/// will touch it again.
pub(crate) unsafe fn unmap(addr: usize, len: usize) {
    // SAFETY: the caller owns the range and gives it up.
    unsafe { libc::munmap(addr as *mut c_void, len) };
}

/// Make `[addr, addr + len)` inaccessible (a guard page).
///
/// # Safety
/// The range is page-aligned memory this process mapped and that holds no
/// live data.
pub(crate) unsafe fn protect_none(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: the caller owns the range, which holds nothing live.
    cvt(unsafe { libc::mprotect(addr as *mut c_void, len, libc::PROT_NONE) }).map(drop)
}

/// Give the pages of `[addr, addr + len)` back (they read as zero next).
///
/// # Safety
/// The range is memory this process mapped and holds no live data.
pub(crate) unsafe fn discard_pages(addr: usize, len: usize) {
    // SAFETY: the caller owns the range, which holds nothing live.
    unsafe { libc::madvise(addr as *mut c_void, len, libc::MADV_DONTNEED) };
}

/// Ask for transparent huge pages over `[addr, addr + len)`; failure only
/// costs performance.
///
/// # Safety
/// The range is memory this process mapped.
pub(crate) unsafe fn advise_huge_pages(addr: usize, len: usize) {
    // SAFETY: advice on our own mapping changes no contents.
    unsafe { libc::madvise(addr as *mut c_void, len, libc::MADV_HUGEPAGE) };
}

/// The page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

// ---------------------------------------------------------------- process

/// This thread's kernel id (what `/proc/self/task/<tid>` is named by).
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// `clock`'s reading, as a duration since that clock's epoch, by the raw
/// system call: never through the C library's `clock_gettime`, which the
/// monkey layer answers with the virtual clock on a thread in virtual-time
/// mode (`clock.rs` reads the real clocks here, so the virtual offset is
/// never applied twice). Slower than the vDSO path: for rare reads only.
pub(crate) fn clock_raw(clock: libc::clockid_t) -> io::Result<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the whole call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            clock,
            &mut ts as *mut libc::timespec,
        )
    };
    cvt(r as c_int)?;
    // The clocks read here (monotonic, realtime, boot time) are never
    // before their epoch on a sane system; clamp rather than wrap.
    Ok(std::time::Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    ))
}

/// Have `child` run in the child process after every `fork` (the C
/// library's `pthread_atfork` child handler). `child` must be
/// async-signal-safe: the child of a multi-threaded process may only do
/// that much.
pub(crate) fn on_fork_in_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: registering a handler has no preconditions; the caller vouches
    // that it is async-signal-safe.
    match unsafe { libc::pthread_atfork(None, None, Some(child)) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Forks this process went through since the first call of
/// [`fork_generation`] (counted by a `pthread_atfork` child handler): a
/// child's count is its parent's plus one, so whatever recorded the count
/// before a fork can tell, in the child, that it is a copy. One relaxed
/// load per check, where `getpid` would be a system call.
static FORKS: AtomicU32 = AtomicU32::new(0);

/// The `pthread_atfork` child handler: async-signal-safe (one atomic add).
extern "C" fn forked() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The fork count to record now, counting forks from the first call on.
pub(crate) fn fork_generation() -> u32 {
    static WATCH: std::sync::Once = std::sync::Once::new();
    WATCH.call_once(|| {
        if let Err(e) = on_fork_in_child(forked) {
            // Only ENOMEM: a forked child would then run the hub's copy.
            eprintln!("green: cannot watch for fork ({e}); a forked child must exec at once");
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// Whether a fork happened since `generation` was recorded (this is then
/// the child's copy of whatever recorded it).
#[inline(always)]
pub(crate) fn forked_since(generation: u32) -> bool {
    FORKS.load(Ordering::Relaxed) != generation
}

/// Abort the process at once. Async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// This thread's errno. Async-signal-safe.
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Set this thread's errno. Async-signal-safe.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

// ---------------------------------------------------------------- signals

/// Install `handler` (an `extern "C"` function's address: a
/// `sa_sigaction` for `SA_SIGINFO`, else a plain handler) for `sig` with
/// `flags`, every signal unblocked while it runs. Returns the previous
/// action's handler address and flags.
///
/// # Safety
/// `handler` is the address of a function with the signature `flags`
/// implies, and it is async-signal-safe.
pub(crate) unsafe fn set_signal_action(
    sig: c_int,
    handler: usize,
    flags: c_int,
) -> io::Result<(usize, c_int)> {
    // SAFETY: the caller's promise is `swap_signal_action`'s.
    let old = unsafe { swap_signal_action(sig, handler, flags)? };
    Ok((old.0.sa_sigaction, old.0.sa_flags))
}

/// A signal's whole action (handler, flags, mask), as saved by
/// [`swap_signal_action`] to be put back by [`restore_signal_action`].
pub(crate) struct SavedAction(libc::sigaction);

/// Install `handler` (a `sa_sigaction` for `SA_SIGINFO`, else a plain
/// handler) for `sig` with `flags`, every signal unblocked while it runs,
/// and return the whole previous action.
///
/// # Safety
/// `handler` is the address of an async-signal-safe function with the
/// signature `flags` implies.
pub(crate) unsafe fn swap_signal_action(
    sig: c_int,
    handler: usize,
    flags: c_int,
) -> io::Result<SavedAction> {
    // SAFETY: all-zero is a valid sigaction; we fill handler, flags, mask.
    let mut new: libc::sigaction = unsafe { mem::zeroed() };
    new.sa_sigaction = handler;
    new.sa_flags = flags;
    // SAFETY: `new.sa_mask` is a valid sigset to clear.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: both structs are valid; the caller vouches for the handler.
    cvt(unsafe { libc::sigaction(sig, &new, &mut old) })?;
    Ok(SavedAction(old))
}

/// Put back an action [`swap_signal_action`] saved.
pub(crate) fn restore_signal_action(sig: c_int, saved: &SavedAction) -> io::Result<()> {
    // SAFETY: `saved` is an action the kernel handed out for this signal.
    cvt(unsafe { libc::sigaction(sig, &saved.0, ptr::null_mut()) }).map(drop)
}

/// Put `sig` back to its default action. Async-signal-safe.
pub(crate) fn default_signal_action(sig: c_int) {
    // SAFETY: SIG_DFL is always a valid disposition.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Whether this thread has an alternate signal stack.
pub(crate) fn has_signal_stack() -> io::Result<bool> {
    // SAFETY: all-zero is a valid stack_t to be filled in.
    let mut cur: libc::stack_t = unsafe { mem::zeroed() };
    // SAFETY: querying with a null new stack has no side effects.
    cvt(unsafe { libc::sigaltstack(ptr::null(), &mut cur) })?;
    Ok(cur.ss_flags & libc::SS_DISABLE == 0)
}

/// Make `[addr, addr + len)` this thread's alternate signal stack.
///
/// # Safety
/// The range is writable memory this process mapped for that purpose, and
/// it stays mapped while the thread lives.
pub(crate) unsafe fn set_signal_stack(addr: usize, len: usize) -> io::Result<()> {
    let st = libc::stack_t {
        ss_sp: addr as *mut c_void,
        ss_flags: 0,
        ss_size: len,
    };
    // SAFETY: the caller vouches for the memory.
    cvt(unsafe { libc::sigaltstack(&st, ptr::null_mut()) }).map(drop)
}

// ---------------------------------------------------------------- fds

/// Wait until `fd` has one of `events` (`POLLIN`, `POLLOUT`) or `ms`
/// milliseconds pass (`-1`: no limit). The revents, 0 on timeout.
pub(crate) fn poll_one(fd: RawFd, events: i16, ms: c_int) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    cvt(unsafe { libc::poll(&mut p, 1, ms) })?;
    Ok(p.revents)
}

/// A pipe with both ends close-on-exec: (read end, write end).
pub(crate) fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: a valid two-int array for the kernel to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds are fresh and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Turn `O_NONBLOCK` on or off. Uses `fcntl` (not `ioctl(FIONBIO)`) so a
/// libc-interposing layer sees the change.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL reads only the fd's flags.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: F_SETFL changes only the fd's status flags.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// `read(2)`. Async-signal-safe.
#[inline]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length during the call.
    cvt_len(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)`. Async-signal-safe.
#[inline]
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length during the call.
    cvt_len(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

// ---------------------------------------------------------------- sockets

/// A fresh socket (the caller passes `SOCK_CLOEXEC`/`SOCK_NONBLOCK` in `ty`).
pub(crate) fn socket(domain: c_int, ty: c_int, proto: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked.
    let fd = cvt(unsafe { libc::socket(domain, ty, proto) })?;
    // SAFETY: a fresh fd, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set an `int`-valued socket option.
pub(crate) fn setsockopt_int(fd: RawFd, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: the value points at a c_int of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const c_int).cast(),
            mem::size_of::<c_int>() as socklen_t,
        )
    })
    .map(drop)
}

/// `bind(2)` to the first `len` bytes of `addr`.
pub(crate) fn bind(fd: RawFd, addr: &sockaddr_storage, len: socklen_t) -> io::Result<()> {
    debug_assert!(len as usize <= mem::size_of::<sockaddr_storage>());
    // SAFETY: `addr` holds at least `len` bytes of address.
    cvt(unsafe { libc::bind(fd, (addr as *const sockaddr_storage).cast(), len) }).map(drop)
}

/// `listen(2)`.
pub(crate) fn listen(fd: RawFd, backlog: c_int) -> io::Result<()> {
    // SAFETY: plain listen(2).
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// `shutdown(2)`.
pub(crate) fn shutdown(fd: RawFd, how: c_int) -> io::Result<()> {
    // SAFETY: plain shutdown(2).
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `send(2)` that never blocks and never raises `SIGPIPE`.
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: `buf` is readable for its length during the call.
    cvt_len(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) })
}

/// Vectored send (`sendmsg`, since `writev` cannot suppress `SIGPIPE`);
/// never blocks. At most 1024 buffers are sent.
#[inline]
pub(crate) fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid; we fill only the iovec fields.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix; sendmsg only reads.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(1024) as _;
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: the iovecs point at live buffers during the call.
    cvt_len(unsafe { libc::sendmsg(fd, &msg, flags) })
}

/// `recv(2)` that never blocks; `peek` adds `MSG_PEEK`.
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: `buf` is writable for its length during the call.
    cvt_len(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// Vectored receive (`recvmsg`) that never blocks. At most 1024 buffers.
#[inline]
pub(crate) fn recv_vectored(fd: RawFd, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid; we fill only the iovec fields.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix.
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: the iovecs point at live, writable buffers during the call.
    cvt_len(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })
}

/// `recvfrom(2)` that never blocks; `peek` adds `MSG_PEEK`. Returns the
/// length and the raw sender address.
#[inline]
pub(crate) fn recv_from(
    fd: RawFd,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, sockaddr_storage, socklen_t)> {
    let flags = libc::MSG_DONTWAIT | if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut st: sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: `buf` is writable for its length and `st`/`len` describe a
    // writable address buffer, all for the call's duration.
    let n = cvt_len(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            (&mut st as *mut sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    Ok((n, st, len))
}

/// `sendto(2)` that never blocks and never raises `SIGPIPE`.
#[inline]
pub(crate) fn send_to(
    fd: RawFd,
    buf: &[u8],
    addr: &sockaddr_storage,
    len: socklen_t,
) -> io::Result<usize> {
    debug_assert!(len as usize <= mem::size_of::<sockaddr_storage>());
    // SAFETY: `buf` is readable for its length and `addr` holds `len` bytes
    // of address, both for the call's duration.
    cvt_len(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            (addr as *const sockaddr_storage).cast(),
            len,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn cvt_turns_minus_one_into_errno() {
        set_errno(libc::EBADF);
        let e = cvt(-1 as c_int).expect_err("-1 is an error");
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(5 as c_int).ok(), Some(5));
        assert_eq!(cvt_len(7).ok(), Some(7));
    }

    #[test]
    fn pipe_read_write_and_nonblocking() {
        let (r, w) = pipe_cloexec().expect("pipe");
        set_nonblocking(r.as_raw_fd(), true).expect("nonblocking");
        let mut b = [0u8; 4];
        let e = read(r.as_raw_fd(), &mut b).expect_err("empty pipe");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(write(w.as_raw_fd(), b"ok").expect("write"), 2);
        assert_eq!(read(r.as_raw_fd(), &mut b).expect("read"), 2);
        assert_eq!(&b[..2], b"ok");
        assert!(read(-1, &mut b).is_err());
    }

    #[test]
    fn mappings_round_trip() {
        let len = 4 * page_size();
        let p = map_anonymous(len, true).expect("map");
        // SAFETY: the mapping is ours; we write inside it, then guard its
        // first page (nothing live there) and unmap all of it.
        unsafe {
            (p as *mut u8).add(len - 1).write(1);
            protect_none(p, page_size()).expect("guard page");
            discard_pages(p + page_size(), page_size());
            unmap(p, len);
        }
    }
}
