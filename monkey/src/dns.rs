//! The `getaddrinfo` hook: inside a coroutine, the real resolver runs on the
//! blocking thread pool while the coroutine parks.
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
use green_runtime::Interrupted;
use libc::{addrinfo, c_char, c_int};

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
    match rt::spawn_blocking_no_unwind(move || query.run()) {
        Ok((code, list)) => {
            // SAFETY: `res` is a valid out-pointer (checked non-null).
            unsafe { *res = list.into_raw() };
            code
        }
        Err(i) => {
            real::set_errno(match i {
                Interrupted::Killed => libc::ECANCELED,
                Interrupted::Elapsed => libc::ETIMEDOUT,
            });
            libc::EAI_SYSTEM
        }
    }
}
