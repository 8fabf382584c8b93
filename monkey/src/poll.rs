//! Hooks for readiness waits: `poll`, `ppoll`, `select` and `pselect`.
//!
//! Inside a coroutine: poll once without waiting; if nothing is ready, put
//! the fds in a private, short-lived epoll set (level-triggered), park on
//! that epoll fd through the hub until it is readable or the timeout passes,
//! and poll again. The hub therefore never registers the user's fds here, so
//! nothing stale is left behind when they are closed by paths we do not see.
//!
//! A timeout (the call's own, or an enclosing `green::timeout`) returns 0 as
//! the kernel's timeout does; a kill returns -1 with `ECANCELED`. A signal
//! mask (`pselect`, `ppoll`) cannot be applied atomically around a park;
//! instead the signals the mask would let in are watched through a
//! `signalfd` in the same private set; one arriving (and no fd ready) is
//! delivered by applying the mask for an instant, and the call fails with
//! `EINTR`, as the kernel's would.

use std::time::{Duration, Instant};

use green_runtime::rt::{self, Interest};
use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, timespec, timeval};

use crate::fd_table::PrivateFd;
use crate::sleep::duration_of;
use crate::{real, retry};

crate::hook::hooks! {
    family: POLL;
    /// `poll(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `poll`.
    coroutine fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int => poll_body;
    /// `ppoll(2)`, its signal mask watched as `pselect`'s is.
    ///
    /// # Safety
    /// Same contract as libc's `ppoll`.
    coroutine fn ppoll(
        fds: *mut pollfd,
        n: nfds_t,
        timeout: *const timespec,
        mask: *const sigset_t,
    ) -> c_int => ppoll_body;
    /// `select(2)`, including Linux's update of `timeout` to the time left.
    ///
    /// # Safety
    /// Same contract as libc's `select`.
    coroutine fn select(
        nfds: c_int,
        readfds: *mut fd_set,
        writefds: *mut fd_set,
        exceptfds: *mut fd_set,
        timeout: *mut timeval,
    ) -> c_int => select_body;
    /// `pselect(2)`: `select` with a `timespec` (left untouched, as glibc
    /// leaves it) and a signal mask: a signal that `mask` unblocks and the
    /// thread's mask blocks ends the wait the way the kernel's would — its
    /// handler runs and the call fails with `EINTR` — unless some fd is ready.
    ///
    /// # Safety
    /// Same contract as libc's `pselect`.
    coroutine fn pselect(
        nfds: c_int,
        readfds: *mut fd_set,
        writefds: *mut fd_set,
        exceptfds: *mut fd_set,
        timeout: *const timespec,
        mask: *const sigset_t,
    ) -> c_int => pselect_body;
}

/// The events epoll understands, taken from poll's (same bit values on
/// Linux: IN, PRI, OUT, RDNORM, RDBAND, WRNORM, WRBAND, RDHUP).
const EPOLL_MASK: i16 = libc::POLLIN
    | libc::POLLPRI
    | libc::POLLOUT
    | libc::POLLRDNORM
    | libc::POLLRDBAND
    | libc::POLLWRNORM
    | libc::POLLWRBAND
    | libc::POLLRDHUP;

/// Cooperative poll: `deadline` `None` waits forever, `zero` never waits.
///
/// # Safety
/// `fds` points at `n` valid `pollfd`s (or `n == 0`).
unsafe fn coop_poll(fds: *mut pollfd, n: nfds_t, deadline: Option<Instant>, zero: bool) -> c_int {
    // SAFETY: the caller's contract.
    let r = unsafe { real::poll(fds, n, 0) };
    if r != 0 || zero {
        return r;
    }
    // Told of a kill or timeout before and called again: fail after the
    // back-off (the waits below would not all report it).
    match rt::backoff_if_interrupted() {
        Ok(()) => {}
        Err(green_runtime::Interrupted::Killed) => {
            real::set_errno(libc::ECANCELED);
            return -1;
        }
        Err(green_runtime::Interrupted::Elapsed) => return 0,
    }
    if n == 0 {
        return idle(deadline);
    }
    let Ok(len) = usize::try_from(n) else {
        // SAFETY: as above; the kernel rejects it.
        return unsafe { real::poll(fds, n, 0) };
    };
    // SAFETY: the caller's contract: `len` valid, initialised pollfds.
    let set = unsafe { std::slice::from_raw_parts(fds, len) };
    // SAFETY: plain call; epoll_create1 is not hooked.
    let Some(ep) = PrivateFd::adopt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }) else {
        // SAFETY: the caller's contract.
        return unsafe { poll_by_ticks(fds, n, deadline) };
    };
    let mut added: Vec<(c_int, u32)> = Vec::with_capacity(len);
    for p in set.iter().filter(|p| p.fd >= 0) {
        let events = (p.events & EPOLL_MASK) as u16 as u32;
        let (op, events) = match added.iter_mut().find(|(fd, _)| *fd == p.fd) {
            Some((_, ev)) => {
                *ev |= events;
                (libc::EPOLL_CTL_MOD, *ev)
            }
            None => {
                added.push((p.fd, events));
                (libc::EPOLL_CTL_ADD, events)
            }
        };
        let mut ev = libc::epoll_event {
            events,
            u64: p.fd as u64,
        };
        // SAFETY: valid epoll fd and event; a failure (a regular file, which
        // poll always reports ready anyway) just leaves the fd out.
        unsafe { libc::epoll_ctl(ep.0, op, p.fd, &mut ev) };
    }
    loop {
        let w = rt::wait_fd_no_unwind(ep.0, Interest::Read, deadline);
        // SAFETY: the caller's contract.
        let r = unsafe { real::poll(fds, n, 0) };
        // Dropping `ep` on the way out keeps errno (`PrivateFd`).
        if r != 0 {
            return r;
        }
        if let Err(e) = w {
            return match retry::errno_of(&e) {
                libc::EAGAIN | libc::ETIMEDOUT => 0,
                code => {
                    real::set_errno(code);
                    -1
                }
            };
        }
    }
}

/// A wait with nothing to watch (`poll` of no fds, `select` of none): a
/// sleep until `deadline`, or for ever in long steps (a root waiting here
/// always has a timer, so it is never taken for a deadlock). 0 at the
/// deadline or an expired `green::timeout`; -1 with `ECANCELED` when killed.
fn idle(deadline: Option<Instant>) -> c_int {
    loop {
        let at = deadline.or_else(|| Instant::now().checked_add(Duration::from_secs(1 << 32)));
        match rt::sleep_until_no_unwind(at) {
            Ok(()) if deadline.is_some() => return 0,
            Ok(()) => {}
            Err(green_runtime::Interrupted::Killed) => {
                real::set_errno(libc::ECANCELED);
                return -1;
            }
            Err(green_runtime::Interrupted::Elapsed) => return 0,
        }
    }
}

/// Fallback when no epoll set can be made (out of fds): poll without
/// waiting every millisecond, parked in between.
///
/// # Safety
/// As [`coop_poll`].
unsafe fn poll_by_ticks(fds: *mut pollfd, n: nfds_t, deadline: Option<Instant>) -> c_int {
    loop {
        // SAFETY: the caller's contract.
        let r = unsafe { real::poll(fds, n, 0) };
        if r != 0 {
            return r;
        }
        let now = Instant::now();
        if deadline.is_some_and(|at| now >= at) {
            return 0;
        }
        let tick = now + Duration::from_millis(1);
        let at = deadline.map_or(tick, |d| d.min(tick));
        match rt::sleep_until_no_unwind(Some(at)) {
            Ok(()) => {}
            Err(green_runtime::Interrupted::Killed) => {
                real::set_errno(libc::ECANCELED);
                return -1;
            }
            Err(green_runtime::Interrupted::Elapsed) => return 0,
        }
    }
}

/// The cooperative `poll`.
///
/// # Safety
/// Same contract as libc's `poll`.
unsafe fn poll_body(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    if fds.is_null() && n != 0 {
        // SAFETY: the caller's contract is poll's.
        return unsafe { real::poll(fds, n, timeout) };
    }
    let deadline = if timeout < 0 {
        None
    } else {
        Instant::now().checked_add(Duration::from_millis(timeout as u64))
    };
    // SAFETY: the caller's contract is poll's.
    unsafe { coop_poll(fds, n, deadline, timeout == 0) }
}

/// The cooperative `ppoll`.
///
/// # Safety
/// Same contract as libc's `ppoll`.
unsafe fn ppoll_body(
    fds: *mut pollfd,
    n: nfds_t,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if fds.is_null() && n != 0 {
        // SAFETY: the caller's contract is ppoll's.
        return unsafe { real::ppoll(fds, n, timeout, mask) };
    }
    let (deadline, zero) = if timeout.is_null() {
        (None, false)
    } else {
        // SAFETY: non-null; the caller promises a timespec.
        let ts = unsafe { std::ptr::read(timeout) };
        let Some(d) = duration_of(&ts) else {
            // SAFETY: as above; the kernel reports EINVAL.
            return unsafe { real::ppoll(fds, n, timeout, mask) };
        };
        (Instant::now().checked_add(d), d.is_zero())
    };
    // SAFETY: `mask` is null or a valid sigset_t (caller's contract).
    let sfd = match unsafe { watch_mask(mask) } {
        // SAFETY: the caller's contract is ppoll's.
        MaskWatch::Nothing => return unsafe { coop_poll(fds, n, deadline, zero) },
        MaskWatch::Fd(fd) => fd,
        // SAFETY: the caller's contract is ppoll's.
        MaskWatch::Unavailable => return unsafe { real::ppoll(fds, n, timeout, mask) },
    };
    // The caller's fds plus the signalfd, polled for input, last.
    let user: &mut [pollfd] = match usize::try_from(n) {
        Ok(0) | Err(_) => &mut [],
        // SAFETY: the caller's contract: `n` valid, initialised pollfds.
        Ok(len) => unsafe { std::slice::from_raw_parts_mut(fds, len) },
    };
    let mut all: Vec<pollfd> = user.to_vec();
    all.push(pollfd {
        fd: sfd.0,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: `all` holds `n + 1` valid pollfds.
    let r = unsafe { coop_poll(all.as_mut_ptr(), all.len() as nfds_t, deadline, zero) };
    if r < 0 {
        return -1; // errno is coop_poll's (dropping `sfd` keeps it)
    }
    let signalled = all.pop().is_some_and(|p| p.revents != 0);
    drop(sfd);
    let mut count = 0;
    for (u, a) in user.iter_mut().zip(&all) {
        u.revents = a.revents;
        count += c_int::from(a.revents != 0);
    }
    if count == 0 && signalled {
        // SAFETY: `mask` is non-null (a watch came from it) and valid.
        return unsafe { let_signal_in(mask) };
    }
    count
}

/// The cooperative `select`.
///
/// # Safety
/// Same contract as libc's `select`.
unsafe fn select_body(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    if !(0..=libc::FD_SETSIZE as c_int).contains(&nfds) {
        // SAFETY: the caller's contract is select's.
        return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
    }
    let start = Instant::now();
    let total = if timeout.is_null() {
        None
    } else {
        // SAFETY: non-null; the caller promises a timeval.
        let tv = unsafe { std::ptr::read(timeout) };
        if tv.tv_sec < 0 || tv.tv_usec < 0 {
            // SAFETY: as above; the kernel reports EINVAL.
            return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
        }
        Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64))
    };
    let sets = Sets {
        nfds,
        readfds,
        writefds,
        exceptfds,
    };
    // SAFETY: the caller's contract is select's.
    let (r, _) = unsafe { coop_select(sets, start, total, None) };
    if r < 0 {
        return r;
    }
    if let Some(total) = total {
        let left = total.saturating_sub(start.elapsed());
        // SAFETY: non-null; the caller promises a writable timeval.
        unsafe {
            *timeout = timeval {
                tv_sec: left.as_secs() as libc::time_t,
                tv_usec: left.subsec_micros() as libc::suseconds_t,
            };
        }
    }
    r
}

/// The three sets of a `select`/`pselect` call.
#[derive(Copy, Clone)]
struct Sets {
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
}

/// `select`'s work over [`coop_poll`]: the sets as pollfds (plus `extra`,
/// polled for input, when given), the wait, the sets rewritten. Returns the
/// count (or -1, errno set, sets untouched) and whether `extra` was ready;
/// when only `extra` was ready the sets are left untouched and the count is
/// 0.
///
/// # Safety
/// `nfds` is in `0..=FD_SETSIZE`; each set is null or a valid `fd_set`.
unsafe fn coop_select(
    sets: Sets,
    start: Instant,
    total: Option<Duration>,
    extra: Option<c_int>,
) -> (c_int, bool) {
    let Sets {
        nfds,
        readfds,
        writefds,
        exceptfds,
    } = sets;
    let deadline = total.and_then(|d| start.checked_add(d));
    let zero = total.is_some_and(|d| d.is_zero());
    let mut set: Vec<pollfd> = Vec::new();
    for fd in 0..nfds {
        let mut events = 0;
        // SAFETY: each set, when non-null, is a valid fd_set and fd < FD_SETSIZE.
        unsafe {
            if !readfds.is_null() && libc::FD_ISSET(fd, readfds) {
                events |= libc::POLLIN;
            }
            if !writefds.is_null() && libc::FD_ISSET(fd, writefds) {
                events |= libc::POLLOUT;
            }
            if !exceptfds.is_null() && libc::FD_ISSET(fd, exceptfds) {
                events |= libc::POLLPRI;
            }
        }
        if events != 0 {
            set.push(pollfd {
                fd,
                events,
                revents: 0,
            });
        }
    }
    let user = set.len();
    if let Some(fd) = extra {
        set.push(pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
    }
    // SAFETY: `set` holds `set.len()` valid pollfds.
    let r = unsafe { coop_poll(set.as_mut_ptr(), set.len() as nfds_t, deadline, zero) };
    if r < 0 {
        return (r, false); // errno set by coop_poll, nothing written since
    }
    let extra_ready = set[user..].iter().any(|p| p.revents & libc::POLLIN != 0);
    let set = &set[..user];
    if set.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        real::set_errno(libc::EBADF);
        return (-1, extra_ready);
    }
    let hits = [
        (readfds, libc::POLLIN | libc::POLLHUP | libc::POLLERR),
        (writefds, libc::POLLOUT | libc::POLLERR),
        (exceptfds, libc::POLLPRI),
    ];
    let count: c_int = set
        .iter()
        .map(|p| {
            hits.iter()
                .filter(|(fs, mask)| {
                    // SAFETY: a valid fd_set given by the caller; fd < nfds.
                    !fs.is_null() && unsafe { libc::FD_ISSET(p.fd, *fs) } && p.revents & mask != 0
                })
                .count() as c_int
        })
        .sum();
    if count == 0 && extra_ready {
        return (0, true);
    }
    for p in set {
        for (fs, mask) in hits {
            // SAFETY: a valid fd_set given by the caller; fd < nfds.
            unsafe {
                if !fs.is_null() && libc::FD_ISSET(p.fd, fs) && p.revents & mask == 0 {
                    libc::FD_CLR(p.fd, fs);
                }
            }
        }
    }
    (count, extra_ready)
}

/// The signals `mask` lets in that the thread's mask keeps out right now:
/// the ones that would end the real `pselect` with `EINTR`. Signals the
/// thread does not block are delivered whenever they come, parked or not;
/// they cannot be told apart afterwards, so they do not end the wait (see
/// the crate docs' Limits). `None` when there are none (or the mask cannot
/// be read).
///
/// # Safety
/// `mask` points at a valid `sigset_t`.
unsafe fn let_in_by(mask: *const sigset_t) -> Option<sigset_t> {
    // SAFETY: all-zero sigset_t values are valid to overwrite.
    let mut now: sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads the mask.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now) } != 0 {
        return None;
    }
    // SAFETY: as above.
    let mut watch: sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `watch` is a valid set.
    unsafe { libc::sigemptyset(&mut watch) };
    let mut any = false;
    for sig in 1..=libc::SIGRTMAX() {
        if matches!(sig, libc::SIGKILL | libc::SIGSTOP) {
            continue;
        }
        // SAFETY: valid, initialised sets; `sig` in range.
        unsafe {
            if libc::sigismember(&now, sig) == 1 && libc::sigismember(mask, sig) == 0 {
                libc::sigaddset(&mut watch, sig);
                any = true;
            }
        }
    }
    any.then_some(watch)
}

/// How a `pselect`/`ppoll` with a signal mask is watched while it parks.
enum MaskWatch {
    /// No mask, or the mask lets in nothing the thread blocks now.
    Nothing,
    /// A `signalfd` readable when a signal the mask lets in is pending.
    Fd(PrivateFd),
    /// No `signalfd` to be had: the real call must keep the mask's meaning.
    Unavailable,
}

/// The watch for `mask` (null: none).
///
/// # Safety
/// `mask` is null or points at a valid `sigset_t`.
unsafe fn watch_mask(mask: *const sigset_t) -> MaskWatch {
    if mask.is_null() {
        return MaskWatch::Nothing;
    }
    // SAFETY: a non-null mask is a valid sigset_t (caller's contract).
    let Some(w) = (unsafe { let_in_by(mask) }) else {
        return MaskWatch::Nothing;
    };
    // SAFETY: a valid set; signalfd is not hooked.
    let fd = unsafe { libc::signalfd(-1, &w, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    match PrivateFd::adopt(fd) {
        Some(fd) => MaskWatch::Fd(fd),
        None => MaskWatch::Unavailable,
    }
}

/// A watched signal arrived and nothing was ready: let it in the way the
/// kernel would, with the caller's mask in force for an instant (its handler
/// runs before `pthread_sigmask` returns), then the thread's own mask back;
/// the call then fails with `EINTR` (set here, last).
///
/// # Safety
/// `mask` points at a valid `sigset_t`.
unsafe fn let_signal_in(mask: *const sigset_t) -> c_int {
    // SAFETY: all-zero sigset_t is valid to overwrite.
    let mut old: sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `mask` is a valid set (caller's contract); `old` a valid
    // out-set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, mask, &mut old);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    real::set_errno(libc::EINTR);
    -1
}

/// The cooperative `pselect`.
///
/// # Safety
/// Same contract as libc's `pselect`.
unsafe fn pselect_body(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if !(0..=libc::FD_SETSIZE as c_int).contains(&nfds) {
        // SAFETY: the caller's contract is pselect's.
        return unsafe { real::pselect(nfds, readfds, writefds, exceptfds, timeout, mask) };
    }
    let start = Instant::now();
    let total = if timeout.is_null() {
        None
    } else {
        // SAFETY: non-null; the caller promises a timespec.
        let ts = unsafe { std::ptr::read(timeout) };
        let Some(d) = duration_of(&ts) else {
            // SAFETY: as above; the kernel reports EINVAL.
            return unsafe { real::pselect(nfds, readfds, writefds, exceptfds, timeout, mask) };
        };
        Some(d)
    };
    let sets = Sets {
        nfds,
        readfds,
        writefds,
        exceptfds,
    };
    // SAFETY: `mask` is null or a valid sigset_t (caller's contract).
    let sfd = match unsafe { watch_mask(mask) } {
        MaskWatch::Nothing => None,
        MaskWatch::Fd(fd) => Some(fd),
        MaskWatch::Unavailable => {
            // SAFETY: the caller's contract is pselect's.
            return unsafe { real::pselect(nfds, readfds, writefds, exceptfds, timeout, mask) };
        }
    };
    // SAFETY: the caller's contract is pselect's; nfds checked above.
    let (r, signalled) = unsafe { coop_select(sets, start, total, sfd.as_ref().map(|s| s.0)) };
    drop(sfd);
    if r == 0 && signalled {
        // SAFETY: `mask` is non-null (a watch came from it) and valid.
        return unsafe { let_signal_in(mask) };
    }
    r
}
