//! The stack-pointer read used by the park path (inline assembly).
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
