//! Hooks for data transfer on sockets and pipes: `read`, `write`, `readv`,
//! `writev`, `recv`, `recvfrom`, `recvmsg`, `send`, `sendto`, `sendmsg`,
//! `recvmmsg`, `sendmmsg`,
//! `sendfile`/`sendfile64` and `splice` (what `std::io::copy` uses between a
//! file or pipe and a socket), and
//! the `_FORTIFY_SOURCE` variants C code compiled with it calls instead
//! (`__read_chk`, `__recv_chk`, `__recvfrom_chk`).
//!
//! Each is: not patched → the real call; otherwise the shared retry loop
//! (`retry::io`), which passes through for fds we do not manage (files,
//! eventfds), for fds the user made non-blocking, and for calls with
//! `MSG_DONTWAIT`; fds 0–2 and terminals are polled before the call and
//! never made non-blocking (`retry::shared_io`). `MSG_WAITALL` keeps receiving until the
//! buffer is full, as the kernel would for a blocking socket. A blocking
//! write may return a short count, as POSIX allows; std's `write_all` and C
//! loops handle it. Fds that arrive with a `recvmsg` (`SCM_RIGHTS`) are new
//! numbers no other hook made: their entries are forgotten.

use std::ffi::c_void;

use green_runtime::rt::Interest;
use libc::{c_int, c_uint, iovec, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec};

use crate::fd_table::Timeout;
use crate::retry::Ret;
use crate::{real, retry};

crate::hook::hooks! {
    family: SOCKET;
    /// `read(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `read`.
    patched fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t => read_body;
    /// `write(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `write`.
    patched fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t => write_body;
    /// `readv(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `readv`.
    patched fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t => readv_body;
    /// `writev(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `writev`.
    patched fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t => writev_body;
    /// `recv(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `recv`.
    patched fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t => recv_body;
    /// `recvfrom(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `recvfrom`.
    patched fn recvfrom(
        fd: c_int,
        buf: *mut c_void,
        n: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
    ) -> ssize_t => recvfrom_body;
    /// `recvmsg(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `recvmsg`.
    patched fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t => recvmsg_body;
    /// `send(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `send`.
    patched fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t => send_body;
    /// `sendto(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `sendto`.
    patched fn sendto(
        fd: c_int,
        buf: *const c_void,
        n: size_t,
        flags: c_int,
        addr: *const sockaddr,
        len: socklen_t,
    ) -> ssize_t => sendto_body;
    /// `sendmsg(2)`.
    ///
    /// # Safety
    /// Same contract as libc's `sendmsg`.
    patched fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t => sendmsg_body;
    /// `recvmmsg(2)`: parks for the first datagram; then, as the kernel does
    /// for a blocking socket, keeps receiving until `vlen` messages, or until
    /// `timeout` has passed when a datagram arrives (`MSG_WAITFORONE`: stops
    /// after the first batch).
    ///
    /// # Safety
    /// Same contract as libc's `recvmmsg`.
    patched fn recvmmsg(
        fd: c_int,
        msgs: *mut mmsghdr,
        vlen: c_uint,
        flags: c_int,
        timeout: *mut timespec,
    ) -> c_int => recvmmsg_body;
    /// `sendmmsg(2)`: parks whenever the socket is full until every message
    /// is sent, as the kernel does for a blocking socket.
    ///
    /// # Safety
    /// Same contract as libc's `sendmmsg`.
    patched fn sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int
        => sendmmsg_body;
    /// `sendfile(2)`: waits on the output socket.
    ///
    /// # Safety
    /// Same contract as libc's `sendfile`.
    patched fn sendfile(out: c_int, inp: c_int, off: *mut libc::off_t, n: size_t) -> ssize_t
        => sendfile_body;
    /// `sendfile64(2)` (what std calls): waits on the output socket.
    ///
    /// # Safety
    /// Same contract as libc's `sendfile64`.
    patched fn sendfile64(out: c_int, inp: c_int, off: *mut libc::off64_t, n: size_t) -> ssize_t
        => sendfile64_body;
    /// `splice(2)`: either end may be what blocks. On `EAGAIN` an empty input
    /// is waited for if the user has it blocking, else a full output is; an
    /// end the user made non-blocking gets its `EAGAIN` back at once.
    ///
    /// # Safety
    /// Same contract as libc's `splice`.
    patched fn splice(
        inp: c_int,
        off_in: *mut libc::loff_t,
        out: c_int,
        off_out: *mut libc::loff_t,
        n: size_t,
        flags: libc::c_uint,
    ) -> ssize_t => splice_body;
    // glibc's `_FORTIFY_SOURCE` entry points: the libc crate binds none of
    // them, so their prototypes (glibc's <bits/unistd.h>, <bits/socket2.h>)
    // go unchecked.
    /// glibc's fortified `read`: checks the buffer, then reads like [`read`].
    ///
    /// # Safety
    /// Same contract as glibc's `__read_chk`.
    patched fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t
        => __read_chk_body, unchecked("glibc-internal, not in the libc crate");
    /// glibc's fortified `recv`.
    ///
    /// # Safety
    /// Same contract as glibc's `__recv_chk`.
    patched fn __recv_chk(
        fd: c_int,
        buf: *mut c_void,
        n: size_t,
        buflen: size_t,
        flags: c_int,
    ) -> ssize_t => __recv_chk_body, unchecked("glibc-internal, not in the libc crate");
    /// glibc's fortified `recvfrom`.
    ///
    /// # Safety
    /// Same contract as glibc's `__recvfrom_chk`.
    patched fn __recvfrom_chk(
        fd: c_int,
        buf: *mut c_void,
        n: size_t,
        buflen: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
    ) -> ssize_t => __recvfrom_chk_body, unchecked("glibc-internal, not in the libc crate");
}

/// The patched `read`.
///
/// # Safety
/// Same contract as libc's `read`.
unsafe fn read_body(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
        real::read(fd, buf, n)
    })
}

/// The patched `write`.
///
/// # Safety
/// Same contract as libc's `write`.
unsafe fn write_body(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Write, Timeout::Send, || unsafe {
        real::write(fd, buf, n)
    })
}

/// The patched `readv`.
///
/// # Safety
/// Same contract as libc's `readv`.
unsafe fn readv_body(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
        real::readv(fd, iov, cnt)
    })
}

/// The patched `writev`.
///
/// # Safety
/// Same contract as libc's `writev`.
unsafe fn writev_body(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Write, Timeout::Send, || unsafe {
        real::writev(fd, iov, cnt)
    })
}

/// The patched `recv`.
///
/// # Safety
/// Same contract as libc's `recv`.
unsafe fn recv_body(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is recv's.
        return unsafe { real::recv(fd, buf, n, flags) };
    }
    if flags & libc::MSG_WAITALL != 0 {
        // SAFETY: the caller's contract is recv's.
        return unsafe {
            recv_all(
                fd,
                buf.cast(),
                n,
                flags,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
        real::recv(fd, buf, n, flags)
    })
}

/// `MSG_WAITALL` on a socket we made non-blocking: the kernel would return
/// after one chunk, so keep receiving until `n` bytes, end of stream, or an
/// error (which, after some data, reports the data instead, as the kernel
/// does). One deadline (the socket's `SO_RCVTIMEO`) covers the whole call.
///
/// # Safety
/// Same contract as libc's `recvfrom` for `buf`, `n`, `addr` and `len`.
unsafe fn recv_all(
    fd: c_int,
    buf: *mut u8,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let coop = green_runtime::rt::cooperative();
    if !retry::state(fd, coop).waits() {
        // SAFETY: the caller's contract.
        return unsafe { real::recvfrom(fd, buf.cast(), n, flags, addr, len) };
    }
    let all = flags;
    let flags = flags & !libc::MSG_WAITALL;
    let deadline = retry::deadline_for(fd, Timeout::Recv);
    let mut got: usize = 0;
    let mut checked = false;
    loop {
        // SAFETY: `buf + got .. buf + n` lies inside the caller's buffer.
        let r = unsafe { real::recvfrom(fd, buf.add(got).cast(), n - got, flags, addr, len) };
        if r > 0 {
            got += r as usize;
            if got >= n {
                return got as ssize_t;
            }
            continue;
        }
        if r == 0 {
            return got as ssize_t;
        }
        let e = real::errno();
        let wait = if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            if got == 0 && !std::mem::replace(&mut checked, true) && !retry::fresh(fd) {
                // SAFETY: the caller's contract; the number names another file.
                return unsafe { recv_all(fd, buf, n, all, addr, len) };
            }
            retry::wait(fd, Interest::Read, deadline, coop)
        } else {
            Err(e)
        };
        if let Err(e) = wait {
            if got > 0 {
                return got as ssize_t;
            }
            real::set_errno(e);
            return -1;
        }
    }
}

/// The patched `recvfrom`.
///
/// # Safety
/// Same contract as libc's `recvfrom`.
unsafe fn recvfrom_body(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is recvfrom's.
        return unsafe { real::recvfrom(fd, buf, n, flags, addr, len) };
    }
    if flags & libc::MSG_WAITALL != 0 {
        // SAFETY: the caller's contract is recvfrom's.
        return unsafe { recv_all(fd, buf.cast(), n, flags, addr, len) };
    }
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
        real::recvfrom(fd, buf, n, flags, addr, len)
    })
}

/// The patched `recvmsg`.
///
/// # Safety
/// Same contract as libc's `recvmsg`.
unsafe fn recvmsg_body(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let r = if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is recvmsg's.
        unsafe { real::recvmsg(fd, msg, flags) }
    } else {
        // SAFETY: the caller's contract is the call's, for every retry.
        retry::io(fd, Interest::Read, Timeout::Recv, || unsafe {
            real::recvmsg(fd, msg, flags)
        })
    };
    if r >= 0 {
        let saved = real::errno();
        // SAFETY: the call succeeded, so `msg` is the caller's filled header.
        unsafe { received_fds(msg) };
        real::set_errno(saved);
    }
    r
}

/// Fds that arrived with a message (`SCM_RIGHTS`) are new numbers no hook
/// made: forget whatever was recorded under them, here and in every hub,
/// as for any new fd (the hooks look at them afresh on first use, and find
/// the description if it is one they manage already).
///
/// # Safety
/// `msg` is a header a successful `recvmsg` filled.
unsafe fn received_fds(msg: *const msghdr) {
    // SAFETY: the caller's contract.
    unsafe {
        rights(msg, |new| {
            crate::fd_table::clear(new);
            green_runtime::rt::forget_fd(new);
            green_runtime::rt::fd_renewed(new);
        })
    }
}

/// Every fd an `SCM_RIGHTS` message in `msg`'s control data carries.
///
/// # Safety
/// `msg` is null or a valid header whose control buffer holds
/// `msg_controllen` bytes of cmsgs (walked with glibc's own macros).
unsafe fn rights(msg: *const msghdr, mut each: impl FnMut(c_int)) {
    // SAFETY: the caller's contract.
    unsafe {
        if msg.is_null() || (*msg).msg_control.is_null() || (*msg).msg_controllen == 0 {
            return;
        }
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<c_int>();
                let head = libc::CMSG_LEN(0) as usize;
                let n =
                    ((*c).cmsg_len as usize).saturating_sub(head) / std::mem::size_of::<c_int>();
                for i in 0..n {
                    each(data.add(i).read_unaligned());
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

/// The patched `send`.
///
/// # Safety
/// Same contract as libc's `send`.
unsafe fn send_body(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is send's.
        return unsafe { real::send(fd, buf, n, flags) };
    }
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Write, Timeout::Send, || unsafe {
        real::send(fd, buf, n, flags)
    })
}

/// The patched `sendto`.
///
/// # Safety
/// Same contract as libc's `sendto`.
unsafe fn sendto_body(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is sendto's.
        return unsafe { real::sendto(fd, buf, n, flags, addr, len) };
    }
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Write, Timeout::Send, || unsafe {
        real::sendto(fd, buf, n, flags, addr, len)
    })
}

/// The patched `sendmsg`.
///
/// # Safety
/// Same contract as libc's `sendmsg`.
unsafe fn sendmsg_body(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    // Fds sent along may be named in another process from now on.
    // SAFETY: the caller's contract: a valid header.
    unsafe { rights(msg, crate::fd_table::sent_away) };
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's contract is sendmsg's.
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(fd, Interest::Write, Timeout::Send, || unsafe {
        real::sendmsg(fd, msg, flags)
    })
}

/// The patched `__read_chk`: the real one when the buffer is too small.
///
/// # Safety
/// Same contract as glibc's `__read_chk`.
unsafe fn __read_chk_body(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow (and aborts) or reads.
        return unsafe { real::__read_chk(fd, buf, n, buflen) };
    }
    // SAFETY: `n` fits the caller's buffer, checked above.
    unsafe { read(fd, buf, n) }
}

/// The patched `__recv_chk`: the real one when the buffer is too small.
///
/// # Safety
/// Same contract as glibc's `__recv_chk`.
unsafe fn __recv_chk_body(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow (and aborts) or receives.
        return unsafe { real::__recv_chk(fd, buf, n, buflen, flags) };
    }
    // SAFETY: `n` fits the caller's buffer, checked above.
    unsafe { recv(fd, buf, n, flags) }
}

/// The patched `__recvfrom_chk`: the real one when the buffer is too small.
///
/// # Safety
/// Same contract as glibc's `__recvfrom_chk`.
unsafe fn __recvfrom_chk_body(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow (and aborts) or receives.
        return unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) };
    }
    // SAFETY: `n` fits the caller's buffer, checked above.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

/// The patched `sendfile`.
///
/// # Safety
/// Same contract as libc's `sendfile`.
unsafe fn sendfile_body(out: c_int, inp: c_int, off: *mut libc::off_t, n: size_t) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(out, Interest::Write, Timeout::Send, || unsafe {
        real::sendfile(out, inp, off, n)
    })
}

/// The patched `sendfile64`.
///
/// # Safety
/// Same contract as libc's `sendfile64`.
unsafe fn sendfile64_body(out: c_int, inp: c_int, off: *mut libc::off64_t, n: size_t) -> ssize_t {
    // SAFETY: the caller's contract is the call's, for every retry.
    retry::io(out, Interest::Write, Timeout::Send, || unsafe {
        real::sendfile64(out, inp, off, n)
    })
}

/// The patched `splice`.
///
/// # Safety
/// Same contract as libc's `splice`.
unsafe fn splice_body(
    inp: c_int,
    off_in: *mut libc::loff_t,
    out: c_int,
    off_out: *mut libc::loff_t,
    n: size_t,
    flags: libc::c_uint,
) -> ssize_t {
    // SAFETY: the caller's contract is splice's, for every call below.
    let call = || unsafe { real::splice(inp, off_in, out, off_out, n, flags) };
    if flags & libc::SPLICE_F_NONBLOCK != 0 {
        return call();
    }
    let coop = green_runtime::rt::cooperative();
    let in_waits = retry::state(inp, coop).waits();
    let out_waits = retry::state(out, coop).waits();
    if !in_waits && !out_waits {
        return call();
    }
    let mut checked = false;
    loop {
        let r = call();
        if !r.failed() || real::errno() != libc::EAGAIN {
            return r;
        }
        let (fd, dir, which, waits) = if retry::poll_fd(inp, Interest::Read, 0) > 0 {
            (out, Interest::Write, Timeout::Send, out_waits)
        } else {
            (inp, Interest::Read, Timeout::Recv, in_waits)
        };
        if !std::mem::replace(&mut checked, true) && !(retry::fresh(inp) & retry::fresh(out)) {
            // SAFETY: the caller's contract; a number names another file.
            return unsafe { splice_body(inp, off_in, out, off_out, n, flags) };
        }
        if !waits {
            real::set_errno(libc::EAGAIN);
            return -1;
        }
        if let Err(e) = retry::wait(fd, dir, retry::deadline_for(fd, which), coop) {
            real::set_errno(e);
            return -1;
        }
    }
}

/// The patched `recvmmsg`: the kernel's blocking-socket loop (see
/// `net/socket.c`, `do_recvmmsg`) over our non-blocking fd. After some
/// messages, an error or a cut-short wait reports the count, as the kernel
/// does; `timeout` gets the time left written back, as the system call does.
///
/// # Safety
/// Same contract as libc's `recvmmsg`.
unsafe fn recvmmsg_body(
    fd: c_int,
    msgs: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> c_int {
    let coop = green_runtime::rt::cooperative();
    if flags & libc::MSG_DONTWAIT != 0 || vlen == 0 || !retry::state(fd, coop).waits() {
        // SAFETY: the caller's contract is recvmmsg's.
        return unsafe { real::recvmmsg(fd, msgs, vlen, flags, timeout) };
    }
    let end = if timeout.is_null() {
        None
    } else {
        // SAFETY: non-null; the caller promises a timespec.
        let ts = unsafe { timeout.read() };
        let Some(d) = crate::sleep::duration_of(&ts) else {
            // SAFETY: as above; the kernel reports EINVAL.
            return unsafe { real::recvmmsg(fd, msgs, vlen, flags, timeout) };
        };
        Some(std::time::Instant::now().checked_add(d))
    };
    let give_back = |done: c_int| {
        if let Some(end) = end {
            let left = end.map_or(std::time::Duration::MAX, |at| {
                at.saturating_duration_since(std::time::Instant::now())
            });
            // SAFETY: non-null (`end` is `Some`) and writable (caller's
            // contract, as for the system call).
            unsafe {
                timeout.write(timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                })
            };
        }
        done
    };
    let one = flags & libc::MSG_WAITFORONE != 0;
    let mut got: c_uint = 0;
    let mut checked = false;
    loop {
        // SAFETY: `msgs[got..vlen]` lies inside the caller's array; no
        // timeout: the waits below are ours.
        let r = unsafe {
            real::recvmmsg(
                fd,
                msgs.add(got as usize),
                vlen - got,
                flags & !libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r > 0 {
            got += r as c_uint;
            let expired =
                end.is_some_and(|at| at.is_some_and(|at| std::time::Instant::now() >= at));
            if got == vlen || one || expired {
                return give_back(got as c_int);
            }
            continue;
        }
        if r == 0 {
            return give_back(got as c_int);
        }
        let e = real::errno();
        let wait = if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            if got == 0 && !std::mem::replace(&mut checked, true) && !retry::fresh(fd) {
                // SAFETY: the caller's contract; the number names another
                // file (`timeout` not written yet).
                return unsafe { recvmmsg_body(fd, msgs, vlen, flags, timeout) };
            }
            retry::wait(
                fd,
                Interest::Read,
                retry::deadline_for(fd, Timeout::Recv),
                coop,
            )
        } else {
            Err(e)
        };
        if let Err(e) = wait {
            if got > 0 {
                return give_back(got as c_int);
            }
            real::set_errno(e);
            return -1;
        }
    }
}

/// The patched `sendmmsg`: every message, parking while the socket is full;
/// after some messages, an error or a cut-short wait reports the count, as
/// the kernel does.
///
/// # Safety
/// Same contract as libc's `sendmmsg`.
unsafe fn sendmmsg_body(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    let coop = green_runtime::rt::cooperative();
    if flags & libc::MSG_DONTWAIT != 0 || vlen == 0 || !retry::state(fd, coop).waits() {
        // SAFETY: the caller's contract is sendmmsg's.
        return unsafe { real::sendmmsg(fd, msgs, vlen, flags) };
    }
    let mut sent: c_uint = 0;
    let mut deadline = None;
    let mut checked = false;
    loop {
        // SAFETY: `msgs[sent..vlen]` lies inside the caller's array.
        let r = unsafe { real::sendmmsg(fd, msgs.add(sent as usize), vlen - sent, flags) };
        if r > 0 {
            sent += r as c_uint;
            deadline = None; // progress: the socket timeout starts again
            if sent == vlen {
                return sent as c_int;
            }
            continue;
        }
        if r == 0 {
            return sent as c_int;
        }
        let e = real::errno();
        let wait = if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            if sent == 0 && !std::mem::replace(&mut checked, true) && !retry::fresh(fd) {
                // SAFETY: the caller's contract; the number names another file.
                return unsafe { sendmmsg_body(fd, msgs, vlen, flags) };
            }
            let at = *deadline.get_or_insert_with(|| retry::deadline_for(fd, Timeout::Send));
            retry::wait(fd, Interest::Write, at, coop)
        } else {
            Err(e)
        };
        if let Err(e) = wait {
            if sent > 0 {
                return sent as c_int;
            }
            real::set_errno(e);
            return -1;
        }
    }
}
