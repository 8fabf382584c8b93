//! How a hook is declared: the [`hooks!`] macro every family module uses
//! once, and the [`Hook`] row it records for each hook.
//!
//! One entry of a family's `hooks!` block is the whole declaration of a hook:
//! from its single C prototype the macro emits
//! - the `#[no_mangle] extern "C"` function with libc's name, which runs the
//!   family's guard and then the hand-written body (an ordinary `unsafe fn`
//!   of the family module, taking the same arguments);
//! - the real function's slot and accessor, `real::name` (see `real.rs`);
//! - a compile-time check that the prototype is `libc::name`'s;
//! - the hook's row in the family's `HOOKS` table, from which `real.rs`
//!   resolves every real function and `patch.rs` checks the interposition.
//!
//! This module owns the declaration machinery only: no hook behaviour lives
//! here, and the generated code calls nothing but the family's guard, the
//! real function and the body.
//!
//! ## Guards
//! The first word of an entry says when the hook passes straight through to
//! the real function, before the body is called:
//! - `coroutine`: when its family is not patched, or the caller may not
//!   wait cooperatively (`green::rt::cooperative()`: true inside a
//!   coroutine, and on a thread's root context while its hub has
//!   coroutines or a `timeout` runs around the root; false on a thread
//!   without a hub, inside the hub's own loop and in a forked child). The
//!   body runs only patched and cooperative.
//! - `timed`: as `coroutine`, except that on a thread running on a virtual
//!   clock its root context takes the body in any case
//!   (`rt::root_sleeps_virtually`): a sleep there advances the virtual
//!   clock instead of the real one.
//! - `patched`: when its family is not patched. The body runs outside
//!   coroutines too (a managed fd used from a plain thread keeps its blocking
//!   behaviour there).
//! - `unguarded`: never; the body does everything, including the real call
//!   and its own `enabled` check (hooks that must keep the fd table right
//!   whatever the state, such as `close`). Such a body is the pass-through
//!   path itself, so it is marked `#[inline]`.
//!
//! The pass-through path is what it would be written by hand: one relaxed
//! load of the patched families (plus the thread-local hub lookup for
//! `coroutine`, and on a root with a hub a few flags of it), the real
//! function's slot load and an indirect call. Before
//! `patch_all` every guarded hook passes through; `unguarded` bodies check
//! `enabled` themselves. Nothing on that path allocates or creates a
//! thread-local, so it is safe before `main` and during TLS teardown.

use std::ffi::c_void;
use std::sync::atomic::AtomicPtr;

/// One hook: its libc name, its own address, and its real function's slot.
pub(crate) struct Hook {
    /// The libc name (what `PatchError` reports).
    pub(crate) name: &'static str,
    /// The same name, NUL-terminated, for `dlsym`.
    pub(crate) cname: &'static [u8],
    /// The hook's own address: `dlsym(RTLD_DEFAULT, name)` must be this.
    pub(crate) ours: *const (),
    /// Where `real::name` caches glibc's definition.
    pub(crate) slot: &'static AtomicPtr<c_void>,
}

// SAFETY: `ours` is only ever compared as an address, never called or
// dereferenced; every other field is `Sync`.
unsafe impl Sync for Hook {}

/// Declare a family's hooks (see the module docs). Used once per family
/// module, as:
///
/// ```text
/// hooks! {
///     family: SOCKET;
///     /// `read(2)`.
///     ///
///     /// # Safety
///     /// Same contract as libc's `read`.
///     patched fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t => read_body;
///     // A C variadic: the one word after the fixed arguments.
///     patched fn fcntl(fd: c_int, cmd: c_int, ...arg: usize) -> c_int => fcntl_body;
///     // No binding in the libc crate: say why the prototype goes unchecked.
///     patched fn __read_chk(...) -> ssize_t => read_chk_body, unchecked("reason");
/// }
/// ```
///
/// The body is an `unsafe fn` of the family module with the same
/// parameters and return type. In the module it emits `real_fns` (the real
/// functions, re-exported by `real.rs`) and `HOOKS` (the rows, listed in
/// `real.rs`'s `families!`).
macro_rules! hooks {
    (
        family: $family:ident;
        $(
            $(#[$attr:meta])*
            $guard:ident fn $name:ident(
                $($arg:ident: $ty:ty),* $(, ...$va:ident: $vty:ty)? $(,)?
            ) -> $ret:ty => $body:ident $(, unchecked($why:literal))?;
        )+
    ) => {
        $(
            $(#[$attr])*
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $ty,)* $($va: $vty)?) -> $ret {
                $crate::hook::hooks!(@guard $guard $family $name($($arg,)* $($va,)?));
                // SAFETY: the caller's contract is libc's for this function,
                // and the body's contract is exactly that.
                unsafe { $body($($arg,)* $($va)?) }
            }

            $crate::hook::hooks!(@check [$($why)?] $name($($ty),* $(, ...$vty)?) -> $ret);
        )+

        /// The real functions behind this family's hooks, reached everywhere
        /// as `crate::real::name`.
        pub(crate) mod real_fns {
            #[allow(unused_imports)]
            use super::*;

            /// Each real function's address once resolved (null before).
            pub(super) mod slot {
                $(
                    #[allow(non_upper_case_globals)]
                    pub(crate) static $name: ::std::sync::atomic::AtomicPtr<::std::ffi::c_void> =
                        ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
                )+
            }

            $(
                $crate::hook::hooks!(@real $name($($arg: $ty),* $(, ...$va: $vty)?) -> $ret);
            )+
        }

        /// This family's hooks, for the resolver and the interposition check.
        pub(crate) static HOOKS: &[$crate::hook::Hook] = &[
            $(
                $crate::hook::Hook {
                    name: stringify!($name),
                    cname: concat!(stringify!($name), "\0").as_bytes(),
                    ours: $name as *const (),
                    slot: &real_fns::slot::$name,
                },
            )+
        ];
    };

    // The guards: a `return` of the real call, or nothing.
    (@guard coroutine $family:ident $name:ident($($a:ident,)*)) => {
        if !$crate::patch::enabled($crate::patch::Patch::$family)
            || !::green_runtime::rt::cooperative()
        {
            // SAFETY: the caller's contract is the real function's.
            return unsafe { self::real_fns::$name($($a),*) };
        }
    };
    (@guard timed $family:ident $name:ident($($a:ident,)*)) => {
        if !$crate::patch::enabled($crate::patch::Patch::$family)
            || !(::green_runtime::rt::cooperative()
                || (::green_runtime::rt::virtual_time_used()
                    && ::green_runtime::rt::root_sleeps_virtually()))
        {
            // SAFETY: the caller's contract is the real function's.
            return unsafe { self::real_fns::$name($($a),*) };
        }
    };
    (@guard patched $family:ident $name:ident($($a:ident,)*)) => {
        if !$crate::patch::enabled($crate::patch::Patch::$family) {
            // SAFETY: the caller's contract is the real function's.
            return unsafe { self::real_fns::$name($($a),*) };
        }
    };
    (@guard unguarded $family:ident $name:ident($($a:ident,)*)) => {};

    // The prototype check against the libc crate's binding.
    (@check [$why:literal] $($sig:tt)*) => {};
    (@check [] $name:ident($($ty:ty),*, ...$vty:ty) -> $ret:ty) => {
        const _: unsafe extern "C" fn($($ty),*, ...) -> $ret = ::libc::$name;
    };
    (@check [] $name:ident($($ty:ty),*) -> $ret:ty) => {
        const _: unsafe extern "C" fn($($ty),*) -> $ret = ::libc::$name;
    };

    // The accessor of a real function: a relaxed load of its slot (resolved
    // before `main` by `real.rs`'s constructor, lazily if reached earlier)
    // and an indirect call.
    (@real $name:ident($($arg:ident: $ty:ty),*, ...$va:ident: $vty:ty) -> $ret:ty) => {
        #[doc = concat!("glibc's `", stringify!($name), "`, its variadic part one `",
            stringify!($vty), "`: every command passes at most one word.")]
        ///
        /// # Safety
        /// Same contract as the libc function.
        #[inline]
        #[allow(dead_code)]
        pub(crate) unsafe fn $name($($arg: $ty,)* $va: $vty) -> $ret {
            let mut p = slot::$name.load(::std::sync::atomic::Ordering::Relaxed);
            if p.is_null() {
                p = $crate::real::resolve(concat!(stringify!($name), "\0").as_bytes(), &slot::$name);
            }
            // SAFETY: `p` is glibc's definition of this very function, whose
            // C prototype is the one spelled here.
            let f: unsafe extern "C" fn($($ty,)* ...) -> $ret = unsafe { ::std::mem::transmute(p) };
            // SAFETY: the caller upholds the libc contract.
            unsafe { f($($arg,)* $va) }
        }
    };
    (@real $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[doc = concat!("glibc's `", stringify!($name), "`.")]
        ///
        /// # Safety
        /// Same contract as the libc function.
        #[inline]
        #[allow(dead_code)]
        pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
            let mut p = slot::$name.load(::std::sync::atomic::Ordering::Relaxed);
            if p.is_null() {
                p = $crate::real::resolve(concat!(stringify!($name), "\0").as_bytes(), &slot::$name);
            }
            // SAFETY: `p` is glibc's definition of this very function, whose
            // C prototype is the one spelled here.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { ::std::mem::transmute(p) };
            // SAFETY: the caller upholds the libc contract.
            unsafe { f($($arg),*) }
        }
    };
}

/// Gather every family's hooks: the real functions as `crate::real::name`,
/// and every row as `crate::real::hooks()`. Used once, in `real.rs`; a new
/// family module is added there.
macro_rules! families {
    ($($module:ident),+ $(,)?) => {
        $(
            #[allow(unused_imports)]
            pub(crate) use crate::$module::real_fns::*;
        )+

        /// Every hook of every family.
        pub(crate) fn hooks() -> impl Iterator<Item = &'static $crate::hook::Hook> {
            [$(crate::$module::HOOKS),+].into_iter().flatten()
        }
    };
}

pub(crate) use {families, hooks};

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::Ordering;

    /// A row whose real function were the hook itself would recurse forever
    /// on the first pass-through; one missing or doubled would break the
    /// check in `patch`.
    #[test]
    fn every_hook_row_is_unique_interposed_and_its_real_function_is_glibcs() {
        crate::real::resolve_all();
        let mut names = HashSet::new();
        for h in crate::real::hooks() {
            assert!(names.insert(h.name), "{} has two rows", h.name);
            assert_eq!(h.cname, format!("{}\0", h.name).as_bytes());
            let real = h.slot.load(Ordering::Relaxed);
            assert!(!real.is_null(), "{} not resolved", h.name);
            assert_ne!(
                real.cast_const().cast::<()>(),
                h.ours,
                "{} is its own real",
                h.name
            );
            // SAFETY: `cname` is NUL-terminated; RTLD_DEFAULT is a valid handle.
            let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, h.cname.as_ptr().cast()) };
            assert_eq!(
                found.cast_const().cast::<()>(),
                h.ours,
                "{} not interposed",
                h.name
            );
        }
        for name in [
            "read",
            "fcntl",
            "ioctl",
            "__read_chk",
            "getaddrinfo",
            "sched_yield",
            "waitpid",
            "waitid",
            "pselect",
            "recvmmsg",
            "sendmmsg",
            "gethostbyname_r",
            "getnameinfo",
            "close_range",
            "closefrom",
            "fdopen",
            "fclose",
        ] {
            assert!(names.contains(name), "{name} has no row");
        }
    }
}
