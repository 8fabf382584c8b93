//! The real libc functions behind the hooks, and errno.
//!
//! Every hook ends in one of these. Each is looked up once with
//! `dlsym(RTLD_NEXT, name)` — the next definition after the executable that
//! holds our hooks, i.e. glibc's — and cached in an atomic. A constructor in
//! `.init_array` resolves them all before `main`, so the pass-through path is
//! one relaxed load and an indirect call; a hook reached even earlier (another
//! constructor) resolves lazily, which is equally correct.
//!
//! This module must never call a hooked symbol (`read`, `fcntl`, ...) through
//! the `libc` crate: that would land back in our own hook. It allocates
//! nothing and creates no thread-locals, so it is safe before `main` and
//! during TLS teardown.

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, c_ulong, clockid_t, fd_set, iovec, msghdr, nfds_t, pollfd,
    sigset_t, size_t, sockaddr, socklen_t, ssize_t, timespec, timeval,
};

/// Look `name` (NUL-terminated) up after our own definitions, once.
#[cold]
fn resolve(name: &'static [u8], slot: &AtomicPtr<c_void>) -> *mut c_void {
    // SAFETY: `name` is a NUL-terminated static string; RTLD_NEXT is a valid
    // pseudo-handle for a caller that lives in a loaded object.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
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

macro_rules! real_fns {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => {
        #[allow(non_upper_case_globals)]
        mod slot {
            use super::*;
            $( pub(super) static $name: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut()); )*
        }

        $(
            #[doc = concat!("glibc's `", stringify!($name), "`.")]
            ///
            /// # Safety
            /// Same contract as the libc function.
            #[inline]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                let mut p = slot::$name.load(Ordering::Relaxed);
                if p.is_null() {
                    p = resolve(concat!(stringify!($name), "\0").as_bytes(), &slot::$name);
                }
                // SAFETY: `p` is glibc's definition of this very function,
                // whose C prototype is the one spelled here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(p) };
                // SAFETY: the caller upholds the libc contract.
                unsafe { f($($arg),*) }
            }
        )*

        /// Resolve every real function now.
        pub(crate) fn resolve_all() {
            $(
                if slot::$name.load(Ordering::Relaxed).is_null() {
                    resolve(concat!(stringify!($name), "\0").as_bytes(), &slot::$name);
                }
            )*
        }
    };
}

real_fns! {
    sleep(s: c_uint) -> c_uint;
    usleep(us: libc::useconds_t) -> c_int;
    nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int;
    sched_yield() -> c_int;
    socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    socketpair(domain: c_int, ty: c_int, proto: c_int, fds: *mut c_int) -> c_int;
    pipe(fds: *mut c_int) -> c_int;
    pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    sendfile(out: c_int, inp: c_int, off: *mut libc::off_t, n: size_t) -> ssize_t;
    sendfile64(out: c_int, inp: c_int, off: *mut libc::off64_t, n: size_t) -> ssize_t;
    splice(inp: c_int, off_in: *mut libc::loff_t, out: c_int, off_out: *mut libc::loff_t, n: size_t, flags: c_uint) -> ssize_t;
    __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t;
    __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
    ppoll(fds: *mut pollfd, n: nfds_t, timeout: *const timespec, mask: *const sigset_t) -> c_int;
    select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, timeout: *mut timeval) -> c_int;
    close(fd: c_int) -> c_int;
    dup(fd: c_int) -> c_int;
    dup2(fd: c_int, new: c_int) -> c_int;
    dup3(fd: c_int, new: c_int, flags: c_int) -> c_int;
    setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
    posix_spawn_file_actions_adddup2(actions: *mut libc::posix_spawn_file_actions_t, fd: c_int, new: c_int) -> c_int;
}

/// Slots for the two variadic functions, which the macro cannot spell.
static FCNTL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static IOCTL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// glibc's `fcntl(fd, cmd, arg)`. Every `fcntl` command takes at most one
/// argument, an int or a pointer, so one machine word carries any of them.
///
/// # Safety
/// Same contract as `fcntl`.
#[inline]
pub(crate) unsafe fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let mut p = FCNTL.load(Ordering::Relaxed);
    if p.is_null() {
        p = resolve(b"fcntl\0", &FCNTL);
    }
    // SAFETY: glibc's fcntl has exactly this variadic prototype.
    let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int = unsafe { std::mem::transmute(p) };
    // SAFETY: the caller upholds fcntl's contract for `cmd` and `arg`.
    unsafe { f(fd, cmd, arg) }
}

/// glibc's `ioctl(fd, request, arg)` (one word of argument, see [`fcntl`]).
///
/// # Safety
/// Same contract as `ioctl`.
#[inline]
pub(crate) unsafe fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    let mut p = IOCTL.load(Ordering::Relaxed);
    if p.is_null() {
        p = resolve(b"ioctl\0", &IOCTL);
    }
    // SAFETY: glibc's ioctl has exactly this variadic prototype.
    let f: unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int = unsafe { std::mem::transmute(p) };
    // SAFETY: the caller upholds ioctl's contract for `request` and `arg`.
    unsafe { f(fd, request, arg) }
}

/// Resolve everything before `main`, so no hook ever resolves under load.
extern "C" fn init() {
    resolve_all();
    if FCNTL.load(Ordering::Relaxed).is_null() {
        resolve(b"fcntl\0", &FCNTL);
    }
    if IOCTL.load(Ordering::Relaxed).is_null() {
        resolve(b"ioctl\0", &IOCTL);
    }
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
