//! The resolver hooks — `getaddrinfo`, and the older `gethostbyname`,
//! `gethostbyname_r` and `getnameinfo` — inside a coroutine, the real
//! resolver runs on the blocking thread pool while the coroutine parks.
//! The pool thread works in buffers of its own; the answer is copied into
//! the caller's memory on the caller's thread once it is back (a parked
//! coroutine's stack may be moved, so nothing else may write into it).
//!
//! glibc's resolver opens its own sockets through internal calls no hook
//! sees, so making it cooperative means moving it off the hub's thread.
//! Numeric hosts (`AI_NUMERICHOST`, or an IP literal) never block and are
//! resolved inline. A kill or expiring `green::timeout` while waiting
//! returns `EAI_SYSTEM` with errno `ECANCELED` / `ETIMEDOUT`; the lookup
//! finishes on its thread and its result is freed there.

use std::ffi::{CStr, CString};
use std::net::IpAddr;

use green_runtime::rt;
use libc::{addrinfo, c_char, c_int, size_t, socklen_t};

use crate::real;

crate::hook::hooks! {
    family: DNS;
    /// `getaddrinfo(3)`.
    ///
    /// # Safety
    /// Same contract as libc's `getaddrinfo`.
    coroutine fn getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const addrinfo,
        res: *mut *mut addrinfo,
    ) -> c_int => getaddrinfo_body;
    // glibc's older resolver entry points. The libc crate binds none of
    // them for Linux/glibc, so their prototypes (glibc's <netdb.h>) go
    // unchecked.
    /// `gethostbyname(3)`: the answer lives in storage of the calling thread,
    /// valid until that thread's next call.
    ///
    /// # Safety
    /// Same contract as glibc's `gethostbyname`.
    coroutine fn gethostbyname(name: *const c_char) -> *mut libc::hostent
        => gethostbyname_body, unchecked("not bound by the libc crate on glibc");
    /// `gethostbyname_r(3)`.
    ///
    /// # Safety
    /// Same contract as glibc's `gethostbyname_r`.
    coroutine fn gethostbyname_r(
        name: *const c_char,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int => gethostbyname_r_body, unchecked("not bound by the libc crate on glibc");
    /// `getnameinfo(3)`.
    ///
    /// # Safety
    /// Same contract as glibc's `getnameinfo`.
    coroutine fn getnameinfo(
        sa: *const libc::sockaddr,
        salen: socklen_t,
        host: *mut c_char,
        hostlen: socklen_t,
        serv: *mut c_char,
        servlen: socklen_t,
        flags: c_int,
    ) -> c_int => getnameinfo_body, unchecked("not bound by the libc crate on glibc");
}

/// Run `job` on the blocking pool while the caller parks. With a kill or an
/// expired `green::timeout` pending already, nothing is submitted: the
/// caller backs off and gets it reported (`rt::backoff_if_interrupted`).
fn on_pool<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, green_runtime::Interrupted> {
    rt::backoff_if_interrupted()?;
    rt::spawn_blocking_no_unwind(job)
}

/// A resolver result owned by Rust until handed to the caller.
struct AddrList(*mut addrinfo);

// SAFETY: the list is plain heap memory from glibc, owned by exactly one
// holder at a time; freeaddrinfo may run on any thread.
unsafe impl Send for AddrList {}

impl AddrList {
    fn into_raw(self) -> *mut addrinfo {
        let p = self.0;
        std::mem::forget(self);
        p
    }
}

impl Drop for AddrList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a successful getaddrinfo and is
            // freed once, here (freeaddrinfo is not hooked).
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// The request, copied so it can cross to a pool thread.
struct Query {
    node: Option<CString>,
    service: Option<CString>,
    hints: Option<(c_int, c_int, c_int, c_int)>,
}

impl Query {
    fn run(self) -> (c_int, AddrList) {
        // SAFETY: an all-zero addrinfo is the documented "no hints" value.
        let mut hints: addrinfo = unsafe { std::mem::zeroed() };
        if let Some((flags, family, socktype, protocol)) = self.hints {
            hints.ai_flags = flags;
            hints.ai_family = family;
            hints.ai_socktype = socktype;
            hints.ai_protocol = protocol;
        }
        let hp: *const addrinfo = if self.hints.is_some() {
            &hints
        } else {
            std::ptr::null()
        };
        let mut res: *mut addrinfo = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings or null, valid hints or null, a
        // valid out-pointer.
        let code = unsafe {
            real::getaddrinfo(
                self.node.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                self.service
                    .as_ref()
                    .map_or(std::ptr::null(), |s| s.as_ptr()),
                hp,
                &mut res,
            )
        };
        (
            code,
            AddrList(if code == 0 { res } else { std::ptr::null_mut() }),
        )
    }
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn owned(p: *const c_char) -> Option<CString> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_owned())
}

/// The cooperative `getaddrinfo`: numeric hosts inline, names on the
/// blocking pool.
///
/// # Safety
/// Same contract as libc's `getaddrinfo`.
unsafe fn getaddrinfo_body(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if res.is_null() {
        // SAFETY: the caller's contract is getaddrinfo's.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    // SAFETY: hints is null or points at an addrinfo (caller's contract).
    let h =
        unsafe { hints.as_ref() }.map(|h| (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol));
    // SAFETY: node is null or NUL-terminated (caller's contract).
    let node_s = unsafe { owned(node) };
    let numeric = h.is_some_and(|h| h.0 & libc::AI_NUMERICHOST != 0)
        || node_s
            .as_ref()
            .and_then(|s| s.to_str().ok())
            .is_some_and(|s| s.parse::<IpAddr>().is_ok());
    if numeric || node_s.is_none() {
        // SAFETY: the caller's contract is getaddrinfo's.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    let query = Query {
        node: node_s,
        // SAFETY: service is null or NUL-terminated (caller's contract).
        service: unsafe { owned(service) },
        hints: h,
    };
    match on_pool(move || query.run()) {
        Ok((code, list)) => {
            // SAFETY: `res` is a valid out-pointer (checked non-null).
            unsafe { *res = list.into_raw() };
            code
        }
        Err(i) => {
            real::set_errno(i.errno());
            libc::EAI_SYSTEM
        }
    }
}

// ---- The older resolver entry points ------------------------------------

extern "C" {
    /// glibc's `h_errno` slot for this thread (`<netdb.h>`); not in the
    /// libc crate.
    fn __h_errno_location() -> *mut c_int;
}

/// glibc's `NETDB_INTERNAL`: "see errno".
const NETDB_INTERNAL: c_int = -1;

/// Largest buffer tried for the non-reentrant `gethostbyname` (glibc's own
/// grows the same way on `ERANGE`).
const MAX_HOST_BUF: usize = 1 << 20;

/// A `hostent` copied out of the resolver's buffer: plain owned data, so it
/// crosses back from the pool thread and is laid out again in the caller's
/// storage, never in a pool thread's.
struct OwnedHost {
    name: CString,
    aliases: Vec<CString>,
    addrtype: c_int,
    length: c_int,
    addrs: Vec<Vec<u8>>,
}

impl OwnedHost {
    /// Copy `he`, filled by a successful lookup.
    ///
    /// # Safety
    /// `he` is a `hostent` a successful `gethostbyname_r` filled.
    unsafe fn copy(he: &libc::hostent) -> OwnedHost {
        let mut aliases = Vec::new();
        let mut addrs = Vec::new();
        let len = usize::try_from(he.h_length).unwrap_or(0);
        // SAFETY: glibc's hostent: NUL-terminated strings and
        // null-terminated arrays, every address `h_length` bytes.
        unsafe {
            let mut p = he.h_aliases;
            while !p.is_null() && !(*p).is_null() {
                aliases.push(CStr::from_ptr(*p).to_owned());
                p = p.add(1);
            }
            let mut p = he.h_addr_list;
            while !p.is_null() && !(*p).is_null() {
                addrs.push(std::slice::from_raw_parts((*p).cast::<u8>(), len).to_vec());
                p = p.add(1);
            }
        }
        OwnedHost {
            // SAFETY: as above.
            name: unsafe { owned(he.h_name) }.unwrap_or_default(),
            aliases,
            addrtype: he.h_addrtype,
            length: he.h_length,
            addrs,
        }
    }

    /// Bytes [`lay_out`](Self::lay_out) needs, alignment slack included.
    fn size(&self) -> usize {
        let ptr = std::mem::size_of::<*mut c_char>();
        let strings = self.name.as_bytes_with_nul().len()
            + self
                .aliases
                .iter()
                .map(|a| a.as_bytes_with_nul().len())
                .sum::<usize>();
        ptr - 1
            + ptr * (self.aliases.len() + 1 + self.addrs.len() + 1)
            + self.addrs.iter().map(Vec::len).sum::<usize>()
            + strings
    }

    /// Write the entry into `buf` (`buflen` bytes) and point `he` into it,
    /// as `gethostbyname_r` does: `Err(ERANGE)` when it does not fit.
    ///
    /// # Safety
    /// `buf` is writable for `buflen` bytes and `he` is a writable `hostent`.
    unsafe fn lay_out(
        &self,
        he: *mut libc::hostent,
        buf: *mut c_char,
        buflen: usize,
    ) -> Result<(), c_int> {
        if self.size() > buflen {
            return Err(libc::ERANGE);
        }
        let ptr = std::mem::size_of::<*mut c_char>();
        let base = buf.cast::<u8>();
        let mut at = base.align_offset(ptr);
        // SAFETY: `size()` bytes from `buf` (alignment slack included) are
        // within the caller's buffer; the pointer arrays start aligned.
        unsafe {
            let aliases = base.add(at).cast::<*mut c_char>();
            at += ptr * (self.aliases.len() + 1);
            let addrs = base.add(at).cast::<*mut c_char>();
            at += ptr * (self.addrs.len() + 1);
            for (i, a) in self.addrs.iter().enumerate() {
                let dst = base.add(at);
                std::ptr::copy_nonoverlapping(a.as_ptr(), dst, a.len());
                addrs.add(i).write(dst.cast());
                at += a.len();
            }
            addrs.add(self.addrs.len()).write(std::ptr::null_mut());
            let mut put = |s: &CStr| {
                let b = s.to_bytes_with_nul();
                let dst = base.add(at);
                std::ptr::copy_nonoverlapping(b.as_ptr(), dst, b.len());
                at += b.len();
                dst.cast::<c_char>()
            };
            let name = put(&self.name);
            for (i, a) in self.aliases.iter().enumerate() {
                aliases.add(i).write(put(a));
            }
            aliases.add(self.aliases.len()).write(std::ptr::null_mut());
            he.write(libc::hostent {
                h_name: name,
                h_aliases: aliases,
                h_addrtype: self.addrtype,
                h_length: self.length,
                h_addr_list: addrs,
            });
        }
        Ok(())
    }
}

/// What a `gethostbyname_r` on the pool found: its return value, its
/// `h_errno`, errno, and the entry.
struct HostLookup {
    ret: c_int,
    herr: c_int,
    errno: c_int,
    host: Option<OwnedHost>,
}

/// Run the real `gethostbyname_r` on this (pool) thread with a private
/// buffer of `buflen` bytes, growing it on `ERANGE` up to `max`.
fn lookup_host(name: &CStr, mut buflen: usize, max: usize) -> HostLookup {
    loop {
        let mut buf = vec![0 as c_char; buflen.max(1)];
        // SAFETY: all-zero hostent is a valid value to overwrite.
        let mut he: libc::hostent = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::hostent = std::ptr::null_mut();
        let mut herr: c_int = 0;
        // SAFETY: valid name, out-pointers and a buffer of `buf.len()` bytes.
        let ret = unsafe {
            real::gethostbyname_r(
                name.as_ptr(),
                &mut he,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
                &mut herr,
            )
        };
        let errno = real::errno();
        if ret == libc::ERANGE && buflen < max {
            buflen = (buflen * 2).min(max);
            continue;
        }
        let host = (ret == 0 && !result.is_null())
            // SAFETY: a successful lookup filled `he` (and `buf`).
            .then(|| unsafe { OwnedHost::copy(&he) });
        return HostLookup {
            ret,
            herr,
            errno,
            host,
        };
    }
}

/// Whether `name` is an IP literal (resolved without any lookup).
///
/// # Safety
/// `name` is a NUL-terminated string.
unsafe fn is_literal(name: *const c_char) -> bool {
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(name) }
        .to_str()
        .is_ok_and(|s| s.parse::<IpAddr>().is_ok())
}

/// A laid-out `hostent` and the buffer its pointers point into.
type HostSlot = Box<(libc::hostent, Vec<c_char>)>;

thread_local! {
    /// The calling thread's answer to its last `gethostbyname`: what the
    /// returned pointer points into. Per thread (glibc's is per process),
    /// overwritten by the thread's next call, as glibc documents for its own.
    static LAST_HOST: std::cell::RefCell<Option<HostSlot>> =
        const { std::cell::RefCell::new(None) };
}

/// The cooperative `gethostbyname`: `gethostbyname_r` on the pool, laid
/// out in storage owned by the calling thread.
///
/// # Safety
/// Same contract as libc's `gethostbyname`.
unsafe fn gethostbyname_body(name: *const c_char) -> *mut libc::hostent {
    // SAFETY: a non-null name is NUL-terminated (caller's contract).
    if name.is_null() || unsafe { is_literal(name) } {
        // SAFETY: the caller's contract is gethostbyname's.
        return unsafe { real::gethostbyname(name) };
    }
    // SAFETY: as above.
    let owned_name = unsafe { CStr::from_ptr(name) }.to_owned();
    let found = on_pool(move || lookup_host(&owned_name, 1024, MAX_HOST_BUF));
    let set_herr = |h: c_int| {
        // SAFETY: glibc's per-thread h_errno slot.
        unsafe { *__h_errno_location() = h };
    };
    match found {
        Err(i) => {
            set_herr(NETDB_INTERNAL);
            real::set_errno(i.errno());
            std::ptr::null_mut()
        }
        Ok(HostLookup {
            host: Some(host), ..
        }) => {
            let mut slot = Box::new((
                // SAFETY: all-zero hostent is valid, overwritten by lay_out.
                unsafe { std::mem::zeroed::<libc::hostent>() },
                vec![0 as c_char; host.size()],
            ));
            let (he, buf) = &mut *slot;
            // SAFETY: `buf` is exactly `size()` writable bytes; `he` writable.
            if unsafe { host.lay_out(he, buf.as_mut_ptr(), buf.len()) }.is_err() {
                set_herr(NETDB_INTERNAL);
                real::set_errno(libc::ENOMEM);
                return std::ptr::null_mut();
            }
            let p: *mut libc::hostent = &mut slot.0;
            LAST_HOST.with(|l| *l.borrow_mut() = Some(slot));
            p
        }
        Ok(HostLookup { herr, errno, .. }) => {
            set_herr(herr);
            real::set_errno(errno);
            std::ptr::null_mut()
        }
    }
}

/// The cooperative `gethostbyname_r`: the lookup on the pool with a private
/// buffer of the caller's size, the answer laid out in the caller's buffer
/// on its own thread (a pool thread never writes into a coroutine's
/// memory).
///
/// # Safety
/// Same contract as glibc's `gethostbyname_r`.
unsafe fn gethostbyname_r_body(
    name: *const c_char,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if name.is_null()
        || ret.is_null()
        || buf.is_null()
        || result.is_null()
        || h_errnop.is_null()
        // SAFETY: the name is non-null here, so NUL-terminated (caller's
        // contract).
        || unsafe { is_literal(name) }
    {
        // SAFETY: the caller's contract is gethostbyname_r's.
        return unsafe { real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop) };
    }
    // SAFETY: as above.
    let owned_name = unsafe { CStr::from_ptr(name) }.to_owned();
    let found = on_pool(move || lookup_host(&owned_name, buflen, buflen));
    // SAFETY: `result` and `h_errnop` are writable (checked non-null; the
    // caller's contract).
    unsafe { result.write(std::ptr::null_mut()) };
    let (code, herr, errno) = match found {
        Err(i) => {
            let e = i.errno();
            (e, NETDB_INTERNAL, e)
        }
        Ok(HostLookup {
            host: Some(host), ..
        }) => {
            // SAFETY: `buf` holds `buflen` writable bytes, `ret` is writable.
            match unsafe { host.lay_out(ret, buf, buflen) } {
                Ok(()) => {
                    // SAFETY: as above.
                    unsafe { result.write(ret) };
                    return 0;
                }
                Err(e) => (e, NETDB_INTERNAL, e),
            }
        }
        Ok(l) => (l.ret, l.herr, l.errno),
    };
    // SAFETY: as above.
    unsafe { h_errnop.write(herr) };
    real::set_errno(errno);
    code
}

/// The cooperative `getnameinfo`: numeric-only requests inline, the rest
/// on the pool with private buffers of the caller's sizes, copied back on
/// the caller's thread.
///
/// # Safety
/// Same contract as libc's `getnameinfo`.
unsafe fn getnameinfo_body(
    sa: *const libc::sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let numeric = (host.is_null() || hostlen == 0 || flags & libc::NI_NUMERICHOST != 0)
        && (serv.is_null() || servlen == 0 || flags & libc::NI_NUMERICSERV != 0);
    let len = salen as usize;
    if numeric || sa.is_null() || len > std::mem::size_of::<libc::sockaddr_storage>() {
        // SAFETY: the caller's contract is getnameinfo's.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    }
    // SAFETY: `sa` points at `salen` readable bytes (caller's contract).
    let addr = unsafe { std::slice::from_raw_parts(sa.cast::<u8>(), len) }.to_vec();
    let want_host = !host.is_null() && hostlen > 0;
    let want_serv = !serv.is_null() && servlen > 0;
    let (hl, sl) = (hostlen as usize, servlen as usize);
    let job = move || {
        // SAFETY: all-zero sockaddr_storage is valid; `addr` fits it.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // SAFETY: `addr.len() <= size_of::<sockaddr_storage>()`, checked.
        unsafe {
            std::ptr::copy_nonoverlapping(addr.as_ptr(), (&raw mut ss).cast::<u8>(), addr.len())
        };
        let mut h = vec![0 as c_char; if want_host { hl } else { 0 }];
        let mut s = vec![0 as c_char; if want_serv { sl } else { 0 }];
        let ptr = |v: &mut Vec<c_char>| {
            if v.is_empty() {
                std::ptr::null_mut()
            } else {
                v.as_mut_ptr()
            }
        };
        // SAFETY: a valid address of `len` bytes and buffers of the sizes
        // given (or null with size 0).
        let code = unsafe {
            real::getnameinfo(
                (&raw const ss).cast(),
                addr.len() as socklen_t,
                ptr(&mut h),
                h.len() as socklen_t,
                ptr(&mut s),
                s.len() as socklen_t,
                flags,
            )
        };
        (code, real::errno(), h, s)
    };
    match on_pool(job) {
        Err(i) => {
            real::set_errno(i.errno());
            libc::EAI_SYSTEM
        }
        Ok((code, errno, h, s)) => {
            if code == 0 {
                // SAFETY: each buffer is writable for its length (caller's
                // contract) and the copies are exactly that long.
                unsafe {
                    if want_host {
                        std::ptr::copy_nonoverlapping(h.as_ptr(), host, h.len());
                    }
                    if want_serv {
                        std::ptr::copy_nonoverlapping(s.as_ptr(), serv, s.len());
                    }
                }
            } else if code == libc::EAI_SYSTEM {
                real::set_errno(errno);
            }
            code
        }
    }
}
