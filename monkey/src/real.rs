//! The real libc functions behind the hooks, and errno.
//!
//! Every hook ends in one of these, reached as `real::name`. Their slots and
//! accessors are not written here: each family's `hooks!` block emits them
//! from the hook's prototype (see `hook.rs`), and `families!` below
//! re-exports them and gathers every hook's row into [`hooks`]. A new hook
//! therefore needs nothing here; a new family module is added to the
//! `families!` list.
//!
//! Each real function is looked up once with `dlsym(RTLD_NEXT, name)` — the
//! next definition after the executable that holds our hooks, i.e. glibc's —
//! and cached in an atomic. A constructor in `.init_array` resolves them all
//! before `main`, so the pass-through path is one relaxed load and an
//! indirect call; a hook reached even earlier (another constructor) resolves
//! lazily, which is equally correct.
//!
//! This module must never call a hooked symbol (`read`, `fcntl`, ...) through
//! the `libc` crate: that would land back in our own hook. It allocates
//! nothing and creates no thread-locals, so it is safe before `main` and
//! during TLS teardown.

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::c_int;

/// Look `name` (NUL-terminated) up after our own definitions, once.
#[cold]
pub(crate) fn resolve(name: &'static [u8], slot: &AtomicPtr<c_void>) -> *mut c_void {
    // SAFETY: `name` is a NUL-terminated static string; RTLD_NEXT is a valid
    // pseudo-handle for a caller that lives in a loaded object.
    let mut p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    if p.is_null() {
        p = crate::fd_ops::without_glibc(name);
    }
    if p.is_null() {
        missing(name);
    }
    slot.store(p, Ordering::Relaxed);
    p
}

/// No libc definition found (a static binary?): nothing can work. Say so on
/// fd 2 with the raw syscall (no allocation, no hooks) and abort.
#[cold]
fn missing(name: &'static [u8]) -> ! {
    let msg: &[u8] = b"green-monkey: cannot find the real libc function ";
    let n = name.len().saturating_sub(1);
    // SAFETY: plain writes of valid static buffers to fd 2; abort never returns.
    unsafe {
        libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len());
        libc::syscall(libc::SYS_write, 2, name.as_ptr(), n);
        libc::syscall(libc::SYS_write, 2, b"\n".as_ptr(), 1usize);
        libc::abort()
    }
}

// Every module with a `hooks!` block.
crate::hook::families!(dns, fd_ops, io, poll, process, sleep, socket, stdio, time);

/// Resolve every real function not resolved yet.
pub(crate) fn resolve_all() {
    for h in hooks() {
        if h.slot.load(Ordering::Relaxed).is_null() {
            resolve(h.cname, h.slot);
        }
    }
}

/// Resolve everything before `main`, so no hook ever resolves under load.
extern "C" fn init() {
    resolve_all();
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;

/// This thread's errno.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Set this thread's errno. Hooks call it last, right before returning:
/// errno is shared by every coroutine on the thread.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}
