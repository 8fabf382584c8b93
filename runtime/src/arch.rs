//! The stack-pointer read used by the park path, and the cache prefetch
//! hint the event loop gives for the coroutines it is about to resume
//! (inline assembly and intrinsics).
//!
//! Platform layer: imports nothing of the crate.

/// Read the stack pointer. Inlined into the one park path so the recorded
/// value is the suspend call's own frame (see `stack::SAVE_MARGIN`).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let probe = 0u8;
        sp = std::ptr::addr_of!(probe) as usize - 4096;
    }
    sp
}

/// Ask the CPU to start loading the cache line holding `p` (for reading),
/// so that a later access to it does not wait for memory. A hint only: it
/// never faults, whatever `p` is (unmapped, guard page, null), and does
/// nothing on targets without one.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads no memory architecturally and never faults
    // (SSE, always present on x86-64).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above: `prfm` is a hint and never faults.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{}]", in(reg) p, options(nostack, preserves_flags, readonly))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// [`prefetch`] every cache line of `len` bytes from `p`.
#[inline(always)]
pub(crate) fn prefetch_range(p: *const u8, len: usize) {
    const LINE: usize = 64;
    let start = p as usize & !(LINE - 1);
    let end = (p as usize).saturating_add(len);
    let mut a = start;
    while a < end {
        prefetch(a as *const u8);
        a += LINE;
    }
}
