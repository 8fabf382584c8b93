//! A C library loaded at run time (`dlopen`) that calls `usleep`, `recv`
//! and `poll` itself: under `patch_all` its blocking calls made from
//! coroutines are cooperative too, with no extra link flag — the hooks are
//! in the executable's dynamic symbol table, where the library's
//! references resolve first. Own binary: patched process-wide.

mod common;
mod monkey_support;

use std::ffi::{c_char, c_int, c_long};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::c_lib::CLib;
use common::hang::watchdog;

type SleepFn = unsafe extern "C" fn(c_int) -> c_int;
type RecvFn = unsafe extern "C" fn(c_int, *mut c_char, c_long) -> c_long;
type PollFn = unsafe extern "C" fn(c_int, c_int) -> c_int;

#[derive(Clone, Copy)]
struct Lib {
    sleep_ms: SleepFn,
    recv: RecvFn,
    poll_in: PollFn,
}

/// Compile `tests/c/blocking_lib.c` into a shared library with the C
/// compiler the `cc` crate picks, and load it.
fn build_and_load() -> Lib {
    let lib = CLib::build("tests/c/blocking_lib.c", "libgreen_blocking_test.so");
    // SAFETY: the symbols are the C functions with exactly these prototypes.
    unsafe {
        Lib {
            sleep_ms: std::mem::transmute::<*mut libc::c_void, SleepFn>(
                lib.symbol(c"blk_sleep_ms"),
            ),
            recv: std::mem::transmute::<*mut libc::c_void, RecvFn>(lib.symbol(c"blk_recv")),
            poll_in: std::mem::transmute::<*mut libc::c_void, PollFn>(lib.symbol(c"blk_poll_in")),
        }
    }
}

#[test]
fn blocking_calls_inside_a_dlopened_c_library_are_cooperative() {
    watchdog(120, || {
        // Build before patching: nothing here needs to be cooperative.
        let lib = build_and_load();
        green::monkey::patch_all();

        // usleep from C: 20 coroutines x 100 ms overlap.
        let start = Instant::now();
        let hs: Vec<_> = (0..20)
            .map(|_| {
                green::spawn(move || {
                    // SAFETY: plain C function.
                    unsafe { (lib.sleep_ms)(100) }
                })
            })
            .collect();
        for r in green::joinall(hs) {
            assert_eq!(r.unwrap(), 0);
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(
            took < Duration::from_millis(1500),
            "C usleep blocked: {took:?}"
        );

        // recv from C parks until another coroutine sends; poll from C
        // times out without blocking the sender. Were either blocking, the
        // sender would never run and the watchdog would fire.
        let (a, mut b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let reader = green::spawn(move || {
            let _keep = a;
            // SAFETY: plain C function on an open fd.
            let p = unsafe { (lib.poll_in)(fd, 50) };
            let mut buf = [0 as c_char; 16];
            // SAFETY: a valid buffer of the given length.
            let n = unsafe { (lib.recv)(fd, buf.as_mut_ptr(), buf.len() as c_long) };
            let got: Vec<u8> = buf[..n.max(0) as usize].iter().map(|&c| c as u8).collect();
            (p, got)
        });
        let writer = green::spawn(move || {
            green::sleep(Duration::from_millis(100));
            b.write_all(b"from rust").unwrap();
            b
        });
        let _b = writer.join().unwrap();
        let (p, got) = reader.join().unwrap();
        assert_eq!(p, 0, "poll should time out before the write");
        assert_eq!(got, b"from rust");
    });
}
