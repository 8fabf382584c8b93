//! Stack-overflow reports for coroutines.
//!
//! A SIGSEGV/SIGBUS handler, running on an alternate signal stack, checks
//! whether the faulting address lies in the guard page of the coroutine that
//! is running on this thread. If so it prints
//! `green: coroutine '<name>' (#<id>) overflowed its <N> KiB stack` and
//! aborts; any other fault goes to the handler that was installed before
//! ours (Rust's own, or the default action).
//!
//! The handler only reads plain thread-local cells and calls `write(2)` and
//! `abort`: everything it does is async-signal-safe. This module must never
//! allocate or lock inside the handler.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Once;

use crate::stack::Stacks;
use crate::sys;
use crate::task::Task;

thread_local! {
    /// The coroutine running on this thread, null between resumes.
    static RUNNING: Cell<*const Task> = const { Cell::new(std::ptr::null()) };
    /// This thread's stack pools, to find the running task's guard page.
    static STACKS: Cell<*const Stacks> = const { Cell::new(std::ptr::null()) };
}

static INSTALL: Once = Once::new();
/// The handlers that were installed before ours: (sa_sigaction, sa_flags).
static PREV_SEGV: (AtomicUsize, AtomicI32) = (AtomicUsize::new(0), AtomicI32::new(0));
static PREV_BUS: (AtomicUsize, AtomicI32) = (AtomicUsize::new(0), AtomicI32::new(0));

/// Called by the loop right before resuming `task`.
#[inline(always)]
pub(crate) fn enter(task: &Task) {
    RUNNING.with(|r| r.set(task as *const Task));
}

/// Called once per hub, with its stack pools (which live as long as it).
pub(crate) fn set_stacks(stacks: *const Stacks) {
    STACKS.with(|s| s.set(stacks));
}

/// Called by the loop when the coroutine suspended or returned.
#[inline(always)]
pub(crate) fn leave() {
    RUNNING.with(|r| r.set(std::ptr::null()));
}

/// Install the process-wide handler (once) and make sure this thread has an
/// alternate signal stack (the overflowing stack cannot run the handler).
pub(crate) fn install_for_thread() {
    INSTALL.call_once(|| {
        for (sig, slot) in [(libc::SIGSEGV, &PREV_SEGV), (libc::SIGBUS, &PREV_BUS)] {
            let flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `handler` is an async-signal-safe SA_SIGINFO handler.
            // The previous actions are stored before any fault can reach
            // it because `Once` runs this before any coroutine exists.
            let r = unsafe { sys::set_signal_action(sig, handler as *const () as usize, flags) };
            if let Ok((action, flags)) = r {
                slot.0.store(action, Ordering::Release);
                slot.1.store(flags, Ordering::Release);
            }
        }
    });
    ensure_altstack();
}

fn ensure_altstack() {
    // Most threads have one already: std installs one per thread.
    if sys::has_signal_stack().unwrap_or(true) {
        return;
    }
    let size = 64 * 1024;
    let Ok(mem) = sys::map_anonymous(size, false) else {
        return;
    };
    // SAFETY: a fresh mapping of `size` bytes, leaked with the thread: the
    // kernel may use it until the thread dies.
    let _ = unsafe { sys::set_signal_stack(mem, size) };
}

struct Buf {
    b: [u8; 512],
    n: usize,
}

impl Buf {
    fn push(&mut self, s: &[u8]) {
        for &c in s {
            if self.n < self.b.len() {
                self.b[self.n] = c;
                self.n += 1;
            }
        }
    }
    fn num(&mut self, mut v: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&d[i..]);
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let running = RUNNING.with(|r| r.get());
    let stacks = STACKS.with(|s| s.get());
    let guard = if running.is_null() || stacks.is_null() {
        None
    } else {
        // SAFETY: `running` is the task the loop resumed and `stacks` the
        // pools of this thread's hub; both outlive the resume, and neither
        // is being mutated while the coroutine (the faulting code) runs.
        unsafe { (*stacks).guard_of(&(*running).stack) }
    };
    if let Some((lo, hi, size)) = guard.filter(|(lo, hi, _)| addr >= *lo && addr < *hi) {
        let _ = (lo, hi);
        // SAFETY: as above.
        let task = unsafe { &*running };
        let mut b = Buf { b: [0; 512], n: 0 };
        b.push(b"green: coroutine '");
        b.push(task.display_name().as_bytes());
        b.push(b"' (#");
        b.num(task.id);
        b.push(b") overflowed its ");
        b.num((size / 1024) as u64);
        b.push(b" KiB stack\n");
        // Both async-signal-safe.
        let _ = sys::write(2, &b.b[..b.n]);
        sys::abort();
    }
    // Not ours: hand over to whoever was there before.
    let prev = if sig == libc::SIGSEGV {
        &PREV_SEGV
    } else {
        &PREV_BUS
    };
    let (action, flags) = (
        prev.0.load(Ordering::Acquire),
        prev.1.load(Ordering::Acquire),
    );
    match action {
        a if a != libc::SIG_DFL && a != libc::SIG_IGN => {
            if flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO,
                // so it has this signature.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(a) };
                f(sig, info, ctx);
            } else {
                // SAFETY: a plain handler takes only the signal number.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(a) };
                f(sig);
            }
        }
        _ => {
            // Restore the default action; returning re-runs the faulting
            // instruction, which then kills the process as usual.
            sys::default_signal_action(sig);
        }
    }
}
