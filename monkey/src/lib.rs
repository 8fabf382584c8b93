//! # green-monkey: blocking libc calls, made cooperative
//!
//! After [`patch_all`], ordinary blocking code running inside a green
//! coroutine — `std::thread::sleep`, `std::net`, blocking crates, and C
//! libraries in the same process — parks that coroutine instead of blocking
//! the thread, so the others keep running. Use it through the facade as
//! `green::monkey`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! green_monkey::patch_all();
//! let t = Instant::now();
//! let hs: Vec<_> = (0..20)
//!     .map(|_| green_runtime::spawn(|| std::thread::sleep(Duration::from_millis(50))))
//!     .collect();
//! green_runtime::joinall(hs);
//! assert!(t.elapsed() < Duration::from_millis(900)); // 20 x 50 ms would be 1 s
//! ```
//!
//! ## How
//! This crate defines `extern "C"` functions with libc's names (`recv`,
//! `clock_nanosleep`, ...). Linked into the executable they come first in
//! symbol lookup, so std, other crates and `dlopen`ed C libraries all call
//! them; each ends in the real libc function (`real.rs`). Nothing is
//! needed beyond mentioning the crate in code (the facade's
//! `green::monkey` re-export does; with a direct dependency write
//! `use green_monkey as _;`), and [`patch_all`] checks that the process
//! really resolves the names to these hooks.
//!
//! **C libraries** need no extra line either: because libc.so defines the
//! same names, the linker (GNU ld, lld) puts the hooks in the executable's
//! dynamic symbol table, so a `dlopen`ed `.so` that calls `usleep` or `recv`
//! reaches them (`tests/monkey_clib.rs` builds one and checks). Only if a
//! custom link setup hides them (check with `nm -D your-binary | grep recv`)
//! add `-C link-arg=-rdynamic` to `RUSTFLAGS`.
//!
//! ## Files
//! `patch.rs` (families, the on switch, the check), `hook.rs` (the `hooks!`
//! macro that declares hooks), `real.rs` (resolving the real functions,
//! errno), `fd_table.rs` (per-fd state), `retry.rs` (the shared try / wait /
//! retry loop), and one file per hook family: `sleep.rs`, `socket.rs`,
//! `io.rs`, `poll.rs`, `fd_ops.rs` (`close`, `dup*`, `fcntl`, `ioctl`),
//! `dns.rs`, `process.rs` (waiting for child processes).
//!
//! ## What is hooked
//! - Sleeping and yielding: `sleep`, `usleep`, `nanosleep`,
//!   `clock_nanosleep`, `sched_yield`.
//! - Sockets and pipes: `socket`, `connect`, `accept`, `accept4`, `read`,
//!   `write`, `readv`, `writev`, `recv`, `recvfrom`, `recvmsg`, `recvmmsg`,
//!   `send`, `sendto`, `sendmsg`, `sendmmsg`, `sendfile`, `splice`, the
//!   `_FORTIFY_SOURCE` `__read_chk`/`__recv_chk`/`__recvfrom_chk`, and for
//!   the fd table `close`, `dup*`, `fcntl`, `ioctl(FIONBIO)`, `pipe*`,
//!   `socketpair`, `setsockopt` and `posix_spawn`'s dup actions.
//! - Readiness: `poll`, `ppoll`, `select`, `pselect`.
//! - Name lookups, on the blocking pool: `getaddrinfo`, `gethostbyname`,
//!   `gethostbyname_r`, `getnameinfo`.
//! - Child processes: `wait`, `waitpid`, `wait4`, `waitid`.
//!
//! ## Adding a hook
//! One place: an entry in its family module's `hooks!` block — the C
//! prototype, the guard (`coroutine`, `patched` or `unguarded`, see
//! `hook.rs`) and the name of its body, an ordinary `unsafe fn` next to it.
//! That entry makes the exported function, the real function `real::name`,
//! the check against `libc::name`'s prototype and the row `patch_all`
//! checks. A hook in a new family also needs its `Patch` bit (`patch.rs`)
//! and its module in `real.rs`'s `families!` list.
//!
//! ## Rules every hook keeps
//! - Not patched, not in a coroutine, or a thread without a hub: the real
//!   function, same result, same errno (a managed fd used from a plain
//!   thread gets its blocking behaviour back through a real `poll`).
//! - Never unwinds across the `extern "C"` frame: a kill or an expiring
//!   `green::timeout` becomes an errno (`ECANCELED`, `ETIMEDOUT`, `EAGAIN`
//!   for a socket's own timeout), a 0 from `poll`/`select` for a timeout, or
//!   ends a sleep early (returning success: an `EINTR` would make retry
//!   loops spin, the kill still pending); the kill then unwinds at the
//!   coroutine's next green park. Code that only ever makes hooked calls
//!   after a kill sees errors or short sleeps until it reaches one.
//! - errno is set last, right before returning (it is shared by every
//!   coroutine on the thread).
//! - Never re-enters the hub from its own loop: hooks take their cooperative
//!   path only when `green::rt::in_coroutine()` is true, and the runtime's
//!   own fds (epoll, eventfd) are never managed.
//!
//! - Outside coroutines a hook behaves like libc, signals included: a
//!   blocking call on a managed fd interrupted by a handler with
//!   `SA_RESTART` goes on waiting (the kernel would restart it), without one
//!   it fails with `EINTR`, and with a socket timeout set it fails with
//!   `EINTR` either way, as the kernel's does.
//!
//! ## Limits
//! - Fds 0–2 (when a pipe, socket or terminal) and every terminal (a pty,
//!   `/dev/tty`) keep the mode their owners gave them: a coroutine's read or
//!   write on one asks `poll` first and parks until the fd is ready, then
//!   makes the call. Another process reading the same fd between that
//!   `poll` and the read can still make the read block the thread (it would
//!   block any reader); a large write to a blocking one may block the thread
//!   until it fits. Only `read`, `write`, `readv`, `writev` and the
//!   `recv`/`send` calls without `MSG_WAITALL` work this way on them.
//! - A socket or pipe numbered 3 or above used by a coroutine is
//!   non-blocking for real (its user view is kept). Another process sharing the
//!   fd would see that, so an fd handed to a child gets the mode the user
//!   asked for back first: through std's `Command` (`posix_spawn` file
//!   actions, or `dup2` onto 0–2 in a forked child) or any `dup2`/`dup3`
//!   onto 0–2. That fd number is treated like fds 0–2 afterwards (polled
//!   before each call, its mode left alone). Not covered: other fds naming
//!   the same open file (a `dup` made earlier keeps being treated as
//!   non-blocking, and its reads block the thread), and an fd inherited by a
//!   child under its own number (plain `fork`/`exec` without a dup).
//! - `close` wakes waiters of the closing thread's hub only; an fd closed on
//!   another OS thread while a coroutine waits on it behaves as in the kernel
//!   (the waiter is not woken until its timeout, or until its hub next waits
//!   on that number). A reused fd number never inherits the old file's
//!   state, whoever closed it: every close, `dup2`/`dup3` and new fd renews
//!   the number for every hub (`green::rt::fd_renewed`).
//! - Outside coroutines, when some signal handler lacks `SA_RESTART` and
//!   others have it, an interrupted blocking call on a managed fd fails with
//!   `EINTR` whichever signal came (the hooks cannot tell which one ran).
//! - A blocking write may return a short count (POSIX allows it).
//! - Socket timeouts are cached per fd: one set through a `dup` of the fd is
//!   not seen by the original.
//! - The root context (e.g. `main` while it is not waiting on the hub) is
//!   not a coroutine: a blocking call there blocks the thread, as unpatched.
//! - Not hooked: `epoll_wait`; `getsockopt`, which needs no hook: green
//!   changes no socket option, and its `connect` reads `SO_ERROR` exactly
//!   where the kernel's blocking connect consumes it, so a later
//!   `SO_ERROR` reads what it would without green (0 after a connect that
//!   reported its result, the pending error after a non-blocking one).
//! - `pselect` and `ppoll` with a mask end with `EINTR` for the signals the
//!   mask lets in and the thread blocks (the usual pattern); a signal the
//!   thread does not block runs its handler whenever it comes, without
//!   ending the wait.
//! - `gethostbyname`'s answer is kept per thread (glibc's is per process),
//!   overwritten by the same thread's next call, and so shared by the
//!   coroutines of that thread like glibc's static buffer.
//! - Waits for any child or a process group poll every 1–16 ms; see
//!   `docs/semantics.md`, *Waiting for child processes*.
//! - Only Linux/glibc (x86-64, AArch64).

mod dns;
mod fd_ops;
mod fd_table;
mod hook;
mod io;
mod patch;
mod poll;
mod process;
mod real;
mod retry;
mod sleep;
mod socket;

pub use patch::{is_patched, patch, patch_all, patched, try_patch, Patch, PatchError};
