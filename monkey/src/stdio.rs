//! Hooks for C stdio streams over fds the hooks manage: `fdopen` and
//! `fclose`.
//!
//! glibc's stdio reads and writes through internal aliases of `read` and
//! `write` that no hook sees, so a stream over a socket or pipe the hooks
//! made non-blocking would fail with `EAGAIN` where the user's blocking fd
//! would wait. `fdopen` of such an fd therefore makes the stream with
//! `fopencookie`, whose read, write and close go through the hooks: in a
//! coroutine, `fgets` or `fread` on it parks until data comes, `fputs` and
//! `fflush` until there is room; outside one they block as libc's would.
//! The stream is made exactly as glibc's `fdopen` makes one (same mode
//! checks and errors, `O_APPEND` for `"a"`), and `fileno` gives its fd.
//! Everything else passes straight to glibc's `fdopen`.
//!
//! `fclose` of any stream closes its fd through an alias no hook sees, so
//! the hook forgets what was recorded for that number first, as `close`
//! does, and renews the number after.

use std::ffi::c_void;

use green_runtime::rt;
use libc::{c_char, c_int, off64_t, size_t, ssize_t, FILE};

use crate::fd_table;
use crate::patch::{enabled, Patch};
use crate::{real, retry};

crate::hook::hooks! {
    family: SOCKET;
    /// `fdopen(3)`: over a socket or pipe the hooks manage, a stream whose
    /// reads and writes go through the hooks (see the module docs).
    ///
    /// # Safety
    /// Same contract as libc's `fdopen`.
    patched fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE => fdopen_body;
    /// `fclose(3)`: forgets what was recorded for the stream's fd.
    ///
    /// # Safety
    /// Same contract as libc's `fclose`.
    unguarded fn fclose(fp: *mut FILE) -> c_int => fclose_body;
}

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, size_t) -> ssize_t>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, size_t) -> ssize_t>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut off64_t, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    /// glibc's `fopencookie(3)` (not in the libc crate).
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE;
    /// glibc's `__fpending(3)`: bytes in the stream's write buffer.
    fn __fpending(fp: *mut FILE) -> size_t;
}

/// Where glibc's `struct _IO_FILE` keeps `_fileno` on the 64-bit ABIs we
/// support: after `int _flags` (padded to 8) and thirteen pointers. The
/// layout is public (`<bits/types/struct_FILE.h>`); `fileno_offset_ok`
/// checks it on the standard streams before it is ever written.
const FILENO_OFFSET: usize = 8 + 13 * 8;

/// glibc marks a cookie stream's `_fileno` with this (a stream that is
/// open but has no fd).
const COOKIE_FILENO: c_int = -2;

extern "C" {
    static mut stdin: *mut FILE;
    static mut stdout: *mut FILE;
    static mut stderr: *mut FILE;
}

/// Whether `_fileno` is where [`FILENO_OFFSET`] says, on the three
/// standard streams (checked once).
fn fileno_offset_ok() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        // SAFETY: glibc's standard streams exist for the whole process; the
        // reads stay inside their `FILE`s, and `fileno` is glibc's own
        // answer to compare with.
        unsafe {
            [stdin, stdout, stderr].into_iter().all(|fp| {
                !fp.is_null()
                    && fp.cast::<u8>().add(FILENO_OFFSET).cast::<c_int>().read() == libc::fileno(fp)
            })
        }
    })
}

/// The access a mode string asks for, parsed as glibc's `fdopen` parses
/// it: `r`, `w` or `a` first, then `+` among the next four characters
/// (`b`, `x`, `m` and anything else ignored). `None` when it is invalid.
///
/// # Safety
/// `mode` is a NUL-terminated string.
unsafe fn parse_mode(mode: *const c_char) -> Option<(u8, bool)> {
    // SAFETY: the caller's contract: a NUL-terminated string.
    let m = unsafe { std::ffi::CStr::from_ptr(mode) }.to_bytes();
    let first = *m.first()?;
    if !matches!(first, b'r' | b'w' | b'a') {
        return None;
    }
    let plus = m.iter().skip(1).take(4).any(|&c| c == b'+');
    Some((first, plus))
}

/// The patched `fdopen`.
///
/// # Safety
/// Same contract as libc's `fdopen`.
unsafe fn fdopen_body(fd: c_int, mode: *const c_char) -> *mut FILE {
    let st = retry::state(fd, rt::cooperative());
    if !st.managed() || mode.is_null() || !fileno_offset_ok() {
        // SAFETY: the caller's contract is fdopen's.
        return unsafe { real::fdopen(fd, mode) };
    }
    // SAFETY: the caller's contract: `mode` is a string.
    let Some((first, plus)) = (unsafe { parse_mode(mode) }) else {
        real::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    if flags < 0 {
        return std::ptr::null_mut(); // errno from fcntl (EBADF)
    }
    let access = flags & libc::O_ACCMODE;
    let reads = first == b'r' || plus;
    let writes = first != b'r' || plus;
    if (access == libc::O_RDONLY && writes) || (access == libc::O_WRONLY && reads) {
        real::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    if first == b'a' && flags & libc::O_APPEND == 0 {
        // SAFETY: F_SETFL takes an int of flags (the real ones, so the fd
        // stays non-blocking).
        if unsafe { real::fcntl(fd, libc::F_SETFL, (flags | libc::O_APPEND) as usize) } < 0 {
            return std::ptr::null_mut();
        }
    }
    let cmode: &[u8] = match (first, plus) {
        (b'r', false) => b"r\0",
        (b'r', true) => b"r+\0",
        (b'w', false) => b"w\0",
        (b'w', true) => b"w+\0",
        (_, false) => b"a\0",
        (_, true) => b"a+\0",
    };
    let io = CookieIo {
        read: Some(cookie_read),
        write: Some(cookie_write),
        seek: Some(cookie_seek),
        close: Some(cookie_close),
    };
    // SAFETY: the cookie is the fd itself (no allocation); the mode is a
    // valid string; the functions match glibc's prototypes.
    let fp = unsafe { fopencookie(fd as usize as *mut c_void, cmode.as_ptr().cast(), io) };
    if fp.is_null() {
        return fp; // ENOMEM
    }
    // SAFETY: `fp` is a live glibc stream, whose layout was checked above;
    // glibc marks a cookie stream's fd -2 and treats any non-negative one
    // as open too, so `fileno` reports the fd as for `fdopen`'s streams.
    unsafe {
        let slot = fp.cast::<u8>().add(FILENO_OFFSET).cast::<c_int>();
        if slot.read() == COOKIE_FILENO {
            slot.write(fd);
        }
    }
    fp
}

/// The stream's fd, as its cookie.
fn cookie_fd(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

/// A cookie stream's read: the hooked `read`.
///
/// # Safety
/// `buf` is valid for `n` bytes (glibc's buffer).
unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, n: size_t) -> ssize_t {
    // SAFETY: the caller's (glibc's) buffer.
    unsafe { crate::io::read(cookie_fd(cookie), buf.cast(), n) }
}

/// A cookie stream's write: the hooked `write`, until every byte is written
/// or it fails (glibc takes a short count from a cookie as an error, where
/// its own file streams write the rest). Returns what was written; after a
/// failure errno says why.
///
/// # Safety
/// `buf` is valid for `n` bytes (glibc's buffer).
unsafe extern "C" fn cookie_write(cookie: *mut c_void, buf: *const c_char, n: size_t) -> ssize_t {
    let mut done = 0;
    while done < n {
        // SAFETY: `buf + done .. buf + n` lies inside the caller's buffer.
        let r = unsafe { crate::io::write(cookie_fd(cookie), buf.add(done).cast(), n - done) };
        if r < 0 {
            if real::errno() == libc::EINTR {
                continue; // glibc's own stream loops the same way
            }
            break;
        }
        if r == 0 {
            break;
        }
        done += r as usize;
    }
    done as ssize_t
}

/// A cookie stream's seek: `lseek` on the fd (sockets and pipes answer
/// `ESPIPE`, as for glibc's own streams).
///
/// # Safety
/// `off` is valid (glibc's).
unsafe extern "C" fn cookie_seek(cookie: *mut c_void, off: *mut off64_t, whence: c_int) -> c_int {
    // SAFETY: `off` is glibc's; lseek64 touches no memory and is not hooked.
    unsafe {
        let r = libc::lseek64(cookie_fd(cookie), *off, whence);
        if r < 0 {
            return -1;
        }
        *off = r;
    }
    0
}

/// A cookie stream's close: the hooked `close`.
///
/// # Safety
/// Called once, by `fclose`.
unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    // SAFETY: the stream owned its fd; glibc closes it once.
    unsafe { crate::fd_ops::close(cookie_fd(cookie)) }
}

/// `fclose`, patched or not: the stream's fd forgotten first when patched,
/// its number renewed after, as the `close` hook does.
///
/// # Safety
/// Same contract as libc's `fclose`.
#[inline]
unsafe fn fclose_body(fp: *mut FILE) -> c_int {
    let saved = real::errno();
    let fd = if fp.is_null() {
        -1
    } else {
        // SAFETY: the caller's contract: a live stream.
        unsafe { libc::fileno(fp) }
    };
    if fd < 0 {
        real::set_errno(saved); // a stream with no fd: fileno's EBADF is ours
    }
    let mut flush_failed = None;
    if fd >= 0 && enabled(Patch::SOCKET) {
        // Write out what the stream holds while the fd is still recorded:
        // a stream of ours writes through the hooks, which must still know
        // the fd is non-blocking behind its user (fclose would flush after
        // we forgot it). Nothing changes for glibc's own streams: fclose
        // would flush the same bytes the same way.
        // SAFETY: a live stream (the caller's contract).
        if unsafe { __fpending(fp) } > 0 {
            // SAFETY: as above.
            if unsafe { libc::fflush(fp) } != 0 {
                flush_failed = Some(real::errno());
            }
        }
        fd_table::closing(fd);
        rt::forget_fd(fd);
    }
    // SAFETY: the caller's contract is fclose's.
    let mut r = unsafe { real::fclose(fp) };
    if let (Some(e), 0) = (flush_failed, r) {
        // What fclose reports when its own flush fails.
        real::set_errno(e);
        r = libc::EOF;
    }
    if fd >= 0 {
        rt::fd_renewed(fd);
    }
    r
}

#[cfg(test)]
mod tests {
    /// The offset a cookie stream's fd is written at is glibc's `_fileno`
    /// here (else `fdopen` would fall back to glibc's own streams).
    #[test]
    fn fileno_offset_matches_glibcs_standard_streams() {
        assert!(super::fileno_offset_ok());
    }

    /// Modes parse as glibc's `fdopen` parses them.
    #[test]
    fn modes_parse_as_glibcs_fdopen() {
        let parse = |m: &std::ffi::CStr| {
            // SAFETY: a NUL-terminated string.
            unsafe { super::parse_mode(m.as_ptr()) }
        };
        assert_eq!(parse(c"r"), Some((b'r', false)));
        assert_eq!(parse(c"rb+"), Some((b'r', true)));
        assert_eq!(parse(c"w+x"), Some((b'w', true)));
        assert_eq!(parse(c"ae"), Some((b'a', false)));
        assert_eq!(parse(c"rbbbb+"), Some((b'r', false))); // '+' past 4 chars
        assert_eq!(parse(c"x"), None);
        assert_eq!(parse(c""), None);
    }
}
