//! # greenhub-monkey: blocking libc calls, made cooperative
//!
//! The monkey layer of green, gevent for Rust. Applications use it through
//! the facade package `greenhub` as `green::monkey`, which its default
//! feature `monkey` provides; this package is `greenhub-monkey`, library
//! `green_monkey`.
//!
//! After [`patch_all`], ordinary blocking code running inside a green
//! coroutine — `std::thread::sleep`, `std::net`, blocking crates, and C
//! libraries in the same process — parks that coroutine instead of blocking
//! the thread, so the other coroutines keep running; and `main` is a
//! coroutine like the others while it has some to run (see below):
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
//! (Through the facade the same program reads `green::monkey::patch_all()`,
//! `green::spawn`, `green::joinall`.)
//!
//! ## What `patch_all` does
//!
//! - Linking this crate puts about fifty functions with libc's names into
//!   the executable (listed below). Until [`patch_all`] (or [`patch`] for
//!   some families, see [`Patch`]) is called, each passes straight through
//!   to libc: same results, same errno, no measurable cost.
//! - After it, a hooked call that would block, made inside a coroutine,
//!   parks that coroutine until the fd is ready, the sleep is over or the
//!   child has exited, and the hub runs the others meanwhile. The call then
//!   returns what libc would have returned.
//! - The root is a greenlet, as gevent's main greenlet is: on a thread's
//!   root context (`main` itself, outside any coroutine), a hooked call that
//!   would block while the thread's hub has coroutines (started or not), or
//!   inside a `green::timeout`, parks the root and runs the hub inline
//!   until the call can complete, as `green::sleep` there does. A coroutine
//!   spawned before `main` calls `std::thread::sleep` runs during that
//!   sleep; a `std::net` read in `main` lets the coroutines run.
//! - Everywhere else nothing changes: on threads without a hub (the
//!   blocking pool's, tokio's, green's own helper threads), on a root whose
//!   hub has nothing to run, inside the hub's own loop and in a forked
//!   child, every hooked call behaves as libc's, blocking and signals
//!   included (a handler with `SA_RESTART` lets a blocking call go on
//!   waiting; without one, or with a socket timeout set, the call fails with
//!   `EINTR`, as the kernel's would).
//! - Patching is process-wide, idempotent and cannot be undone: a
//!   coroutine may be parked inside a hook, and a socket a coroutine used
//!   stays non-blocking behind the scenes (see *Limits*).
//! - It checks that the process really resolves libc's names to these
//!   hooks and panics with what to do if not ([`try_patch`] returns the
//!   [`PatchError`] instead); [`is_patched`] and [`patched`] say what is on.
//!
//! ## Kill and timeouts inside hooked calls
//!
//! A coroutine (or root) waiting in a hooked call is not unwound through the
//! C code that made it: no unwind may cross a C frame. When it is killed or
//! its `green::timeout` expires, the call fails the way the interrupted C
//! call would, with an error no std retry loop retries, and the caller's own
//! error handling runs:
//!
//! - killed: the call fails with `ECANCELED` (std: an `io::Error` with that
//!   code, which `read_exact`, `write_all`, `accept`, `connect` and
//!   `Child::wait` return as is);
//! - an enclosing `green::timeout` expired: `ETIMEDOUT`; the `timeout` call
//!   returns `Err(Elapsed)` whatever the closure then returns (its value is
//!   dropped);
//! - the socket's own timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`, std's
//!   `set_read_timeout`) expired: `EAGAIN`, as without green (std:
//!   `WouldBlock`);
//! - `poll` and `select` return 0 (nothing ready) when an enclosing
//!   `green::timeout` expires, and -1 with `ECANCELED` when killed;
//! - a sleep fails with `EINTR` and leaves nothing to resume (`rem` is
//!   zero; `sleep` returns the seconds it did not sleep): it never reports
//!   a success it did not get, and `std::thread::sleep`, which resumes on
//!   `EINTR` with `rem`, returns.
//!
//! A call that need not wait (data waiting, room to write) completes as
//! libc's. Once a kill or an expired timeout is pending, every hooked call
//! that would wait first parks for a short back-off (10 ms,
//! `green::rt::INTERRUPT_BACKOFF`; the hub runs the other coroutines) and
//! then fails the same way; a sleep that short completes. So code that
//! keeps calling after the error — a loop of `std::thread::sleep`, a read
//! retried whatever happens — never spins and never blocks the hub. A kill
//! takes effect at the coroutine's next green park (a `green::sleep`, a
//! green lock, queue or socket), where it unwinds and its destructors run;
//! code that never reaches one cannot be unwound, and the blocked-loop
//! monitor calls it "kill pending" if it computes without yielding. errno is
//! set as libc would set it; it is per thread, so read it right after the
//! call, as with libc.
//!
//! ## Linking, and checking it
//!
//! Through the facade there is nothing to do. With a direct dependency on
//! this crate, mention it in code (`use green_monkey as _;`): a crate only
//! listed in `Cargo.toml` is not linked. The hooks must be linked into an
//! executable; a `cdylib` loaded by another program does not interpose.
//!
//! **C libraries** need no extra line either: because libc.so defines the
//! same names, the linker (GNU ld, lld) puts the hooks in the executable's
//! dynamic symbol table, so a `dlopen`ed `.so` that calls `usleep` or `recv`
//! reaches them. To check a binary, list its dynamic symbols: each hooked
//! name shows as defined (`T`) there.
//!
//! ```text
//! $ nm -D --defined-only target/release/your-program | grep -w -e recv -e connect
//! ```
//!
//! Only if a custom link setup hides them, add `-C link-arg=-rdynamic` to
//! `RUSTFLAGS`.
//!
//! ## What is hooked
//! - Sleeping and yielding ([`Patch::SLEEP`]): `sleep`, `usleep`,
//!   `nanosleep`, `clock_nanosleep`, `sched_yield`; and, on a thread
//!   running on a virtual clock (`green::Runtime::virtual_time`), reading
//!   the time: `clock_gettime` (`Instant::now`, `SystemTime::now`),
//!   `gettimeofday`, `time`, which give that clock there (elsewhere they
//!   pass through), while the sleeps advance it, on the thread's root too.
//! - Sockets and pipes ([`Patch::SOCKET`]): `socket`, `connect`, `accept`,
//!   `accept4`, `read`, `write`, `readv`, `writev`, `recv`, `recvfrom`,
//!   `recvmsg`, `recvmmsg`, `send`, `sendto`, `sendmsg`, `sendmmsg`,
//!   `sendfile`, `splice`, the `_FORTIFY_SOURCE`
//!   `__read_chk`/`__recv_chk`/`__recvfrom_chk`, stdio streams over them
//!   (`fdopen`, `fclose`), and, to keep track of each fd's mode and
//!   timeouts, `close`, `close_range`, `closefrom`, `dup*`, `fcntl`,
//!   `ioctl(FIONBIO)`, `pipe*`, `socketpair`, `setsockopt` and
//!   `posix_spawn`'s dup actions.
//! - Readiness ([`Patch::POLL`]): `poll`, `ppoll`, `select`, `pselect`.
//! - Name lookups, on the blocking thread pool ([`Patch::DNS`]):
//!   `getaddrinfo`, `gethostbyname`, `gethostbyname_r`, `getnameinfo`.
//! - Child processes ([`Patch::PROCESS`]): `wait`, `waitpid`, `wait4`,
//!   `waitid`.
//!
//! Which real libraries this reaches, and what to do about the ones it
//! cannot (a library that waits on its own runtime or worker thread), is in
//! [docs/monkey.md](https://github.com/greenhub-rs/greenhub/blob/main/docs/monkey.md).
//!
//! ## Fds, as the kernel keeps them
//!
//! - What belongs to the open file description is shared by every fd that
//!   names it: `O_NONBLOCK` (set with `fcntl(F_SETFL)`, `ioctl(FIONBIO)`,
//!   std's `set_nonblocking`) and the socket timeouts set through one `dup`
//!   of a socket (std's `try_clone`, `dup`, `dup2`, `dup3`,
//!   `fcntl(F_DUPFD*)`) are seen through all of them, also through a `dup`
//!   made before a coroutine first used the socket and through a socket fd
//!   received over a Unix socket.
//! - What belongs to the number is renewed whenever the number is closed:
//!   by `close`, `dup2`/`dup3` onto it, `close_range`, `closefrom` or
//!   `fclose`. A coroutine parked on the fd wakes with `EBADF`, and a new
//!   file on the number never inherits the old one's state. Even a close no
//!   hook sees (a raw system call) is noticed before a wait would park on
//!   the old file (one `fstat`, on that slow path only).
//! - When the last fd the hooks know of a description they made
//!   non-blocking is closed, the description gets its blocking mode back,
//!   for any other fd that still names it.
//! - `fdopen` of a socket or pipe the hooks manage makes a stream whose
//!   reads and writes go through the hooks (built with `fopencookie`, its
//!   `fileno` the fd): `fgets`, `fread`, `fputs` and `fflush` on it park a
//!   coroutine until data or room comes, and block a plain thread as
//!   libc's would, where glibc's own stream would fail with `EAGAIN`.
//! - A process forked while one of its threads has a hub (from a
//!   coroutine, or from the thread's root) never runs that hub, which is
//!   the parent's (its epoll set is shared with the parent): in the child
//!   every hook behaves as plain libc (a blocking read blocks), a green
//!   wait with a deadline (`green::sleep`, a timed lock or queue wait) sleeps
//!   the thread, a green fd wait polls, and a green wait nothing could end,
//!   or a coroutine ending, stops the child with a message (`abort`). End a
//!   forked child with `exec` or `_exit`.
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
//!   onto 0–2. Every fd naming that description is treated like fds 0–2
//!   afterwards (polled before each call, its mode left alone). Not
//!   covered: an fd inherited by a child under its own number (plain
//!   `fork`/`exec` without a dup) while this process still has it open,
//!   and, where a seccomp filter forbids `kcmp`, a `dup` of a pipe or FIFO
//!   made before a coroutine first used it (sockets are matched by their
//!   identity alone).
//! - `close` wakes waiters of the closing thread's hub only; an fd closed on
//!   another OS thread while a coroutine waits on it behaves as in the kernel
//!   (the waiter is not woken until its timeout, or until its hub next waits
//!   on that number). A reused fd number never inherits the old file's
//!   state, whoever closed it: every close, `dup2`/`dup3` and new fd renews
//!   the number for every hub.
//! - On the root, as in a coroutine, a signal does not end a cooperative
//!   wait (use `green::signal` to wait for one), and a `std::sync` lock held
//!   across a hooked call that waits stays held while the other coroutines
//!   run: one of them taking it blocks the thread (use `green::sync`). A
//!   destructor of a thread-local that runs at thread exit while coroutines
//!   of that thread still live runs the hub too if it makes a hooked call
//!   that waits: join or kill coroutines before a thread ends.
//! - Outside coroutines, when some signal handler lacks `SA_RESTART` and
//!   others have it, an interrupted blocking call on a socket or pipe a
//!   coroutine used fails with `EINTR` whichever signal came (the hooks
//!   cannot tell which one ran).
//! - A blocking write may return a short count (POSIX allows it).
//! - Closes and new files that no hook sees, made with raw system calls
//!   (`syscall(SYS_close, ..)`, `syscall(SYS_dup3, ..)`), or a library's
//!   internal close (glibc's `pclose`, `freopen`): the hooks notice before a
//!   wait would park (see *Fds, as the kernel keeps them*), but until then
//!   they take the new file for the old one. So a socket or pipe put that
//!   way on a number a coroutine used, in blocking mode, can block the
//!   thread on a read that finds no data; and when such a close ends the
//!   last fd the hooks knew of a description, its other fds keep the
//!   non-blocking mode the hooks gave it (their reads fail with `EAGAIN`).
//!   Neither happens through the C library's own calls.
//! - An fd a `FILE` stream holds that the hooks did not make the stream for
//!   (`fopen` of a FIFO, `popen`, a stream `fdopen`ed before a coroutine
//!   used its fd): if a coroutine then uses that fd directly, the fd becomes
//!   non-blocking for real and the stream's own reads can fail with
//!   `EAGAIN`. A stream `fdopen`ed over a socket or pipe a coroutine used has
//!   a `BUFSIZ` buffer (glibc sizes its own from `st_blksize`); only when
//!   more bytes than that are buffered does it matter, for when the stream
//!   flushes.
//! - A process forked by a raw `fork`/`clone` system call (not the C
//!   library's `fork`, whose child handlers mark the copied hub) runs the
//!   parent's hub if it waits with green.
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
//!   [*Waiting for child processes*](https://github.com/greenhub-rs/greenhub/blob/main/docs/semantics.md#waiting-for-child-processes-suitetestsmonkey_processrs)
//!   in the semantics.
//! - Only Linux/glibc (x86-64, AArch64).

mod desc;
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
mod stdio;
mod time;

pub use patch::{is_patched, patch, patch_all, patched, try_patch, Patch, PatchError};
