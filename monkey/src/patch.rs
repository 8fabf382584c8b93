//! Turning the hooks on: which families are patched, and the check that the
//! process really resolves libc's names to our hooks.
//!
//! The hooks are always linked in (the facade mentions this crate); until a
//! family is patched, its hooks call the real function after one relaxed
//! atomic load. Patching is process-wide and cannot be undone: a coroutine
//! may be parked inside a hook, and an fd may already be in non-blocking mode
//! behind its owner's back.
//!
//! This module never changes fd state; it only flips bits and verifies.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::sync::atomic::{AtomicU32, Ordering};

/// A set of hook families to patch. Combine with `|`.
///
/// [`patch_all`] patches every family; [`patch`] takes a set, for a
/// program that wants, say, cooperative sleeps and sockets but its own
/// name lookups. The crate docs' *What is hooked* lists each family's
/// functions.
///
/// ```
/// use green_monkey::Patch;
/// let p = Patch::SLEEP | Patch::SOCKET;
/// assert!(p.contains(Patch::SLEEP) && !p.contains(Patch::DNS));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct Patch(u32);

impl Patch {
    /// `sleep`, `usleep`, `nanosleep`, `clock_nanosleep` (what
    /// `std::thread::sleep` calls) park the coroutine; `sched_yield`
    /// (`std::thread::yield_now`) yields it. On a thread running on a
    /// virtual clock (`green::Runtime::virtual_time`), `clock_gettime`
    /// (`Instant::now`, `SystemTime::now`), `gettimeofday` and `time` read
    /// that clock, and sleeps on the thread's root advance it too.
    pub const SLEEP: Patch = Patch(1);
    /// Sockets and pipes: `socket`, `connect`, `accept`/`accept4` and the
    /// read/write/recv/send families (with `recvmmsg`/`sendmmsg`,
    /// `sendfile`, `splice`) park until the fd is ready, and so do stdio
    /// streams `fdopen`ed over them; `close`, `close_range`, `closefrom`,
    /// `fclose`, `dup*`, `fcntl`, `ioctl(FIONBIO)`, `pipe*`, `socketpair`
    /// and `setsockopt` keep track of each fd's mode and timeouts.
    pub const SOCKET: Patch = Patch(2);
    /// `poll`, `ppoll`, `select` and `pselect` park until readiness or
    /// timeout.
    pub const POLL: Patch = Patch(4);
    /// `getaddrinfo`, `gethostbyname`, `gethostbyname_r` and `getnameinfo`
    /// run on the blocking thread pool while the coroutine parks.
    pub const DNS: Patch = Patch(8);
    /// `wait`, `waitpid`, `wait4` and `waitid` (what std's `Child::wait`,
    /// `Command::status` and `Command::output` call) park the coroutine until
    /// the child changes state.
    pub const PROCESS: Patch = Patch(16);
    /// Every family.
    pub const ALL: Patch = Patch(31);
    /// No family.
    pub const NONE: Patch = Patch(0);

    /// Whether every family in `other` is in `self`.
    pub const fn contains(self, other: Patch) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no family is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Patch {
    type Output = Patch;
    fn bitor(self, rhs: Patch) -> Patch {
        Patch(self.0 | rhs.0)
    }
}

impl BitOrAssign for Patch {
    fn bitor_assign(&mut self, rhs: Patch) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Patch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Patch::SLEEP, "SLEEP"),
            (Patch::SOCKET, "SOCKET"),
            (Patch::POLL, "POLL"),
            (Patch::DNS, "DNS"),
            (Patch::PROCESS, "PROCESS"),
        ];
        let on: Vec<&str> = names
            .iter()
            .filter(|(p, _)| self.contains(*p))
            .map(|(_, n)| *n)
            .collect();
        if on.is_empty() {
            f.write_str("Patch(NONE)")
        } else {
            write!(f, "Patch({})", on.join(" | "))
        }
    }
}

/// Why patching was refused.
///
/// Its `Display` says what to do. [`try_patch`] returns it; [`patch`] and
/// [`patch_all`] panic with it.
///
/// ```
/// use green_monkey::{try_patch, Patch, PatchError};
/// match try_patch(Patch::ALL) {
///     Ok(()) => assert!(green_monkey::is_patched()),
///     Err(PatchError::NotInterposed { symbol }) => {
///         eprintln!("`{symbol}` is not hooked in this process; running unpatched")
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatchError {
    /// The process resolves `symbol` to some other definition than this
    /// crate's hook (the hooks were not linked into the executable, or
    /// something interposes before them, e.g. `LD_PRELOAD`).
    NotInterposed {
        /// The libc name that does not resolve to our hook.
        symbol: &'static str,
    },
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::NotInterposed { symbol } => write!(
                f,
                "green::monkey: `{symbol}` does not resolve to green's hook in this process, so \
                 patching would do nothing. The hooks must be linked into the executable: \
                 mention the crate in code (the `green` facade's `green::monkey` does; \
                 `use green_monkey as _;` if you depend on greenhub-monkey directly) and link \
                 statically into an executable, not a cdylib loaded by another program"
            ),
        }
    }
}

impl std::error::Error for PatchError {}

static PATCHED: AtomicU32 = AtomicU32::new(0);

/// Whether `family` is patched: what every hook's guard loads (see
/// `hook.rs`), and what an `unguarded` hook's body checks itself.
#[inline(always)]
pub(crate) fn enabled(family: Patch) -> bool {
    PATCHED.load(Ordering::Relaxed) & family.0 != 0
}

/// Patch every family: after this, blocking libc calls made inside
/// coroutines (by std, by crates, by C libraries in the process) park the
/// coroutine instead of blocking the thread. Outside coroutines nothing
/// changes. Calling it again is harmless.
///
/// A socket or pipe a coroutine used is non-blocking for real from then on
/// (`F_GETFL` still shows the user's mode). When it is handed to a child
/// process as its stdin/stdout/stderr (std's `Command`, or any `dup2` onto
/// 0–2) it gets the user's blocking mode back, since the child must not see
/// `EAGAIN`; this process's coroutines then poll it before each call, as
/// they do fds 0–2 and terminals, which are never made non-blocking. See the
/// crate docs' *Limits*.
///
/// # Panics
/// If the hooks are not what the process resolves libc's names to (see
/// [`PatchError`]): patching would silently do nothing otherwise.
///
/// ```
/// green_monkey::patch_all();
/// assert!(green_monkey::is_patched());
/// let t = std::time::Instant::now();
/// let hs: Vec<_> = (0..10)
///     .map(|_| green_runtime::spawn(|| std::thread::sleep(std::time::Duration::from_millis(50))))
///     .collect();
/// green_runtime::joinall(hs);
/// assert!(t.elapsed() < std::time::Duration::from_millis(450)); // not 10 x 50 ms
/// ```
pub fn patch_all() {
    patch(Patch::ALL)
}

/// Patch the given families (see [`Patch`]); idempotent and cumulative:
/// families patched earlier stay patched.
///
/// # Panics
/// As [`patch_all`].
///
/// ```
/// use green_monkey::Patch;
/// green_monkey::patch(Patch::SLEEP | Patch::PROCESS);
/// assert!(green_monkey::patched().contains(Patch::SLEEP | Patch::PROCESS));
/// assert!(!green_monkey::patched().contains(Patch::SOCKET)); // sockets stay plain libc
/// ```
pub fn patch(families: Patch) {
    if let Err(e) = try_patch(families) {
        panic!("{e}");
    }
}

/// Like [`patch`], but reports a failed check instead of panicking: for a
/// program that prefers to run unpatched over not running. Nothing is
/// patched when it fails.
///
/// ```
/// if let Err(e) = green_monkey::try_patch(green_monkey::Patch::ALL) {
///     eprintln!("blocking calls will block the thread: {e}");
/// }
/// ```
pub fn try_patch(families: Patch) -> Result<(), PatchError> {
    verify(families)?;
    crate::real::resolve_all();
    watch_forks();
    PATCHED.fetch_or(families.0, Ordering::AcqRel);
    green_runtime::rt::note_monkey_patched();
    Ok(())
}

/// Count forks from now on, in parent and child (`desc::forked`): a
/// description older than a fork may be named in another process.
fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering handlers has no preconditions; `forked` is
        // async-signal-safe (one atomic add).
        let r = unsafe {
            libc::pthread_atfork(None, Some(crate::desc::forked), Some(crate::desc::forked))
        };
        if r != 0 {
            // ENOMEM only: then every description counts as shared, which
            // costs a few system calls per close, nothing else.
            crate::desc::blind();
        }
    });
}

/// True once any family has been patched.
///
/// ```
/// assert!(!green_monkey::is_patched());
/// green_monkey::patch_all();
/// assert!(green_monkey::is_patched());
/// ```
pub fn is_patched() -> bool {
    PATCHED.load(Ordering::Acquire) != 0
}

/// The families patched so far ([`Patch::NONE`] before any patching).
///
/// ```
/// use green_monkey::Patch;
/// assert!(green_monkey::patched().is_empty());
/// green_monkey::patch(Patch::DNS);
/// assert_eq!(green_monkey::patched(), Patch::DNS);
/// ```
pub fn patched() -> Patch {
    Patch(PATCHED.load(Ordering::Acquire))
}

/// Check that `dlsym(RTLD_DEFAULT, name)` is our hook for every hooked
/// name (all of them, whatever `families` asks for: `close` and `fcntl`
/// serve every family, and a missing one means the link is broken). The
/// rows hold the hooks' addresses, which also keeps the linker from dropping
/// any.
fn verify(families: Patch) -> Result<(), PatchError> {
    let _ = families;
    for h in crate::real::hooks() {
        // SAFETY: `cname` is NUL-terminated; RTLD_DEFAULT is a valid handle.
        let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, h.cname.as_ptr().cast()) };
        if found.cast_const().cast::<()>() != h.ours {
            return Err(PatchError::NotInterposed { symbol: h.name });
        }
    }
    Ok(())
}
