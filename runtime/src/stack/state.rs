//! `StackState`: the stack-related fields of one task, as the stack pools
//! see them. The task record embeds one; only the `stack` module reads or
//! changes it (the scheduler records the stack pointer through `record_sp`
//! and asks `resident`).
//!
//! 16 bytes: a million parked tasks carry one each, so the home region and
//! the size class share a word, the resident bit rides on the saved length
//! (stacks are at most `MAX_STACK_SIZE`, 1 GiB, so 31 bits suffice), and the
//! recorded stack pointer and the saved bytes share a word: a task's bytes
//! are either in its region (resident: the stack pointer says where they
//! start) or saved (the block holds them), never both.

use std::cell::Cell;
use std::ptr;

use crate::arena;

/// No home yet (the low 24 bits of `home_class`).
const NO_HOME: u32 = 0x00FF_FFFF;
/// Region indexes must stay below this (see `MAX_REGIONS`).
pub(crate) const MAX_REGIONS: usize = NO_HOME as usize;
const RESIDENT: u32 = 1 << 31;

/// One task's stack: its home region, its saved bytes while another task
/// occupies that region, and the stack pointer it suspended at.
pub(crate) struct StackState {
    /// Resident: the stack pointer recorded by the park path just before
    /// suspending (0 until it first suspends). Not resident: the used stack
    /// bytes while another task occupies the home region (an arena block of
    /// `saved_len` bytes), or 0 if none are saved.
    sp_or_saved: Cell<usize>,
    /// Saved length in the low 31 bits; the top bit says the task's bytes
    /// are the ones in its home region now.
    len_resident: Cell<u32>,
    /// Home region index in the low 24 bits (`NO_HOME` until first run),
    /// size class in the top 8.
    home_class: Cell<u32>,
}

impl StackState {
    /// No home and nothing saved yet, from pool `class`.
    #[inline(always)]
    pub(crate) fn new(class: u32) -> StackState {
        debug_assert!(class <= u32::from(u8::MAX));
        StackState {
            sp_or_saved: Cell::new(0),
            len_resident: Cell::new(0),
            home_class: Cell::new((class << 24) | NO_HOME),
        }
    }

    /// Record the stack pointer the task is suspending at (it is running,
    /// so resident); what lies below it (minus the switch's margin) is
    /// free, what lies above is saved when another task needs the region.
    #[inline(always)]
    pub(crate) fn record_sp(&self, sp: usize) {
        debug_assert!(self.resident());
        self.sp_or_saved.set(sp);
    }

    /// Start loading the top of a resident, suspended task's stack (the
    /// frames it returns through when resumed): `window` bytes from a
    /// little below its recorded stack pointer. A hint for the event loop,
    /// which resumes many cold coroutines in a row; nothing when the bytes
    /// are saved elsewhere or it never suspended.
    #[inline(always)]
    pub(crate) fn prefetch_top(&self, window: usize) {
        if !self.resident() {
            return;
        }
        let sp = self.sp_or_saved.get();
        if sp != 0 {
            // The switch's own pushes lie just below the recorded pointer.
            crate::arch::prefetch_range(sp.saturating_sub(64) as *const u8, window);
        }
    }

    /// Whether this task's bytes are the ones in its home region now.
    #[inline(always)]
    pub(crate) fn resident(&self) -> bool {
        self.len_resident.get() & RESIDENT != 0
    }

    /// The task's bytes are in its region now (`on`; nothing is saved any
    /// more, and no stack pointer is recorded yet), or it has left its
    /// region with nothing saved (its saved bytes, if any, were freed).
    pub(super) fn set_resident(&self, on: bool) {
        debug_assert!(self.saved_ptr().is_null(), "saved bytes would leak");
        self.sp_or_saved.set(0);
        self.len_resident.set(if on { RESIDENT } else { 0 });
    }

    /// The recorded stack pointer (meaningful while resident).
    pub(super) fn saved_sp(&self) -> usize {
        debug_assert!(self.resident());
        self.sp_or_saved.get()
    }

    /// The saved bytes, null if none (always while resident).
    pub(super) fn saved_ptr(&self) -> *mut u8 {
        if self.resident() {
            return ptr::null_mut();
        }
        self.sp_or_saved.get() as *mut u8
    }

    /// Length of the saved bytes (meaningful while `saved_ptr` is set).
    pub(super) fn saved_len(&self) -> usize {
        (self.len_resident.get() & !RESIDENT) as usize
    }

    /// Another task takes the region: this one's bytes are saved in `p`
    /// (`len` bytes) and it is no longer resident.
    pub(super) fn evict(&self, p: *mut u8, len: usize) {
        debug_assert!(len < RESIDENT as usize);
        self.sp_or_saved.set(p as usize);
        self.len_resident.set(len as u32);
    }

    /// Take the saved block out (the caller frees it); nothing if resident.
    pub(super) fn take_saved(&self) -> (*mut u8, usize) {
        let p = self.saved_ptr();
        if !p.is_null() {
            self.sp_or_saved.set(0);
        }
        (p, self.saved_len())
    }

    /// Home region index, `None` before the first run.
    pub(super) fn home(&self) -> Option<usize> {
        match self.home_class.get() & NO_HOME {
            NO_HOME => None,
            h => Some(h as usize),
        }
    }

    pub(super) fn set_home(&self, home: Option<usize>) {
        let h = match home {
            Some(h) => {
                debug_assert!(h < MAX_REGIONS);
                h as u32
            }
            None => NO_HOME,
        };
        let class = self.home_class.get() & !NO_HOME;
        self.home_class.set(class | h);
    }

    /// The stack pool (size class) index.
    pub(super) fn class(&self) -> usize {
        (self.home_class.get() >> 24) as usize
    }
}

impl Drop for StackState {
    fn drop(&mut self) {
        let (p, len) = self.take_saved();
        if !p.is_null() {
            // SAFETY: saved bytes were allocated from this thread's arena
            // with `len` bytes (see `swap_in`), and nothing else points at
            // them; the pointer was just cleared.
            unsafe { arena::free(p, len.max(1)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_pack_without_touching_each_other() {
        let s = StackState::new(7);
        assert_eq!(s.class(), 7);
        assert_eq!(s.home(), None);
        assert!(!s.resident());
        assert!(s.saved_ptr().is_null());
        s.set_home(Some(MAX_REGIONS - 1));
        s.set_resident(true);
        s.record_sp(0x7000_1230);
        assert_eq!(s.saved_sp(), 0x7000_1230);
        assert!(s.saved_ptr().is_null(), "a recorded sp is not saved bytes");
        let block = 0x5000_0000usize as *mut u8;
        s.evict(block, (1 << 30) + 5);
        assert!(!s.resident());
        assert_eq!(s.saved_ptr(), block);
        assert_eq!(s.home(), Some(MAX_REGIONS - 1));
        assert_eq!(s.class(), 7);
        assert_eq!(s.saved_len(), (1 << 30) + 5);
        assert_eq!(s.take_saved(), (block, (1 << 30) + 5));
        assert!(s.saved_ptr().is_null());
        s.set_home(None);
        assert_eq!(s.home(), None);
        assert_eq!(s.class(), 7);
        assert_eq!(std::mem::size_of::<StackState>(), 16);
    }
}
