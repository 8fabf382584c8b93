//! C39: `patch_all` twice is harmless and `is_patched` reports it; the
//! hooks really are what the process resolves. Own binary: it observes the
//! unpatched state first.

mod monkey_support;

use std::time::Duration;

use green::monkey::Patch;
use monkey_support::time_blocking_sleeps;

// C39
#[test]
fn c39_patch_all_is_idempotent_and_reported() {
    assert!(!green::monkey::is_patched());
    assert_eq!(green::monkey::patched(), Patch::NONE);
    green::monkey::patch_all();
    assert!(green::monkey::is_patched());
    assert_eq!(green::monkey::patched(), Patch::ALL);
    green::monkey::patch_all();
    assert_eq!(green::monkey::try_patch(Patch::ALL), Ok(()));
    assert!(green::monkey::is_patched());
    assert_eq!(green::monkey::patched(), Patch::ALL);
    // Still one behaviour, not two layers of it.
    let took = time_blocking_sleeps(20, Duration::from_millis(50));
    assert!(took >= Duration::from_millis(50) && took < Duration::from_millis(900));
}

#[test]
fn hooks_are_the_symbols_the_process_resolves() {
    for name in [
        &b"recv\0"[..],
        b"clock_nanosleep\0",
        b"getaddrinfo\0",
        b"poll\0",
    ] {
        // SAFETY: NUL-terminated names; RTLD_DEFAULT is a valid handle.
        let global = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr().cast()) };
        // SAFETY: as above.
        let next = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
        assert!(!global.is_null() && !next.is_null());
        // The process-wide definition is ours, not libc's.
        assert_ne!(global, next, "{:?}", std::str::from_utf8(name));
    }
}

#[test]
fn patch_flags_combine() {
    let p = Patch::SLEEP | Patch::DNS;
    assert!(p.contains(Patch::SLEEP) && p.contains(Patch::DNS));
    assert!(!p.contains(Patch::SOCKET));
    assert!(Patch::ALL.contains(p));
    assert!(Patch::NONE.is_empty());
    assert_eq!(format!("{p:?}"), "Patch(SLEEP | DNS)");
}

#[test]
fn a_failed_check_says_what_and_what_to_do() {
    let e = green::monkey::PatchError::NotInterposed { symbol: "recv" };
    let msg = e.to_string();
    assert!(msg.contains("`recv`"), "{msg}");
    assert!(msg.contains("linked into the executable"), "{msg}");
}
