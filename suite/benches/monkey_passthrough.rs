//! What a hook costs when it does nothing: a 1-byte `write` + `read` on a
//! pipe through glibc directly (the peer, via `dlsym(RTLD_NEXT)`), through
//! the hooks before `patch_all`, and through the hooks after `patch_all`
//! outside any coroutine. Then, for scale, the cooperative path inside a
//! coroutine on the same (managed) pipe.
//!
//! Prints medians and the ratios against glibc (goal: no measurable cost).
//!
//! `cargo bench -p green-suite --bench monkey_passthrough`

// `criterion_group!` with a config makes an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

type ReadFn = unsafe extern "C" fn(i32, *mut c_void, usize) -> isize;
type WriteFn = unsafe extern "C" fn(i32, *const c_void, usize) -> isize;

/// glibc's own read/write, skipping the executable's hooks.
fn glibc() -> (ReadFn, WriteFn) {
    // SAFETY: NUL-terminated names; RTLD_NEXT from the executable finds libc.
    unsafe {
        let r = libc::dlsym(libc::RTLD_NEXT, c"read".as_ptr());
        let w = libc::dlsym(libc::RTLD_NEXT, c"write".as_ptr());
        assert!(!r.is_null() && !w.is_null());
        (
            std::mem::transmute::<*mut c_void, ReadFn>(r),
            std::mem::transmute::<*mut c_void, WriteFn>(w),
        )
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: a valid two-int array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

/// `iters` round trips of one byte through `r`/`w`.
fn roundtrips(iters: u64, fds: (i32, i32), r: ReadFn, w: WriteFn) -> Duration {
    let mut b = [0u8; 1];
    let start = Instant::now();
    for _ in 0..iters {
        // SAFETY: open pipe ends and a valid 1-byte buffer.
        unsafe {
            w(fds.1, b.as_ptr().cast(), 1);
            r(fds.0, b.as_mut_ptr().cast(), 1);
        }
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (gr, gw) = glibc();
    let hooked: (ReadFn, WriteFn) = (libc::read, libc::write);
    let fds = pipe();
    let samples: Arc<Mutex<Vec<Vec<f64>>>> = Arc::new(Mutex::new(vec![Vec::new(); 4]));
    let mut g = c.benchmark_group("pipe_1B_write_read");
    let rec = |i: usize, iters: u64, d: Duration| {
        if let Ok(mut s) = samples.lock() {
            s[i].push(d.as_nanos() as f64 / iters.max(1) as f64);
        }
        d
    };
    g.bench_function("glibc_direct", |b| {
        b.iter_custom(|n| rec(0, n, roundtrips(n, fds, gr, gw)))
    });
    assert!(!green::monkey::is_patched());
    g.bench_function("hooks_unpatched", |b| {
        b.iter_custom(|n| rec(1, n, roundtrips(n, fds, hooked.0, hooked.1)))
    });
    green::monkey::patch_all();
    g.bench_function("hooks_patched_outside_coroutine", |b| {
        b.iter_custom(|n| rec(2, n, roundtrips(n, fds, hooked.0, hooked.1)))
    });
    g.bench_function("hooks_patched_in_coroutine", |b| {
        b.iter_custom(|n| {
            let d = green::spawn(move || roundtrips(n, fds, hooked.0, hooked.1))
                .join()
                .expect("coroutine");
            rec(3, n, d)
        })
    });
    g.finish();
    let s = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let m: Vec<f64> = s.into_iter().map(common::median).collect();
    println!();
    println!("median ns per 1-byte write+read on a pipe:");
    let names = [
        "glibc direct",
        "hooks, unpatched",
        "hooks, patched, outside coroutine",
        "hooks, patched, inside coroutine",
    ];
    for (name, v) in names.iter().zip(&m) {
        println!("  {name:<36}: {v:>7.0} ns  ({:.3}x glibc)", v / m[0]);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
