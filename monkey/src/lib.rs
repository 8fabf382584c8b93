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
//! `dns.rs`.
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
//!   own fds (epoll, eventfd) and fds 0–2 are never managed.
//!
//! - Outside coroutines a hook behaves like libc, signals included: a
//!   blocking call on a managed fd interrupted by a handler with
//!   `SA_RESTART` goes on waiting (the kernel would restart it), without one
//!   it fails with `EINTR`, and with a socket timeout set it fails with
//!   `EINTR` either way, as the kernel's does.
//!
//! ## Limits
//! - A socket or pipe used by a coroutine is non-blocking for real (its user
//!   view is kept); fds 0–2 are never touched. Another process sharing the
//!   fd would see that, so an fd handed to a child gets the mode the user
//!   asked for back first: through std's `Command` (`posix_spawn` file
//!   actions, or `dup2` onto 0–2 in a forked child) or any `dup2`/`dup3`
//!   onto 0–2. That fd number is no longer managed afterwards: coroutines of
//!   this process block their thread on it. Not covered: other fds naming
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
//! - Not hooked: `epoll_wait`, `recvmmsg`/`sendmmsg`, `getsockopt` (the
//!   kernel keeps the real option values), `ppoll` with a signal mask
//!   (passes through).
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
