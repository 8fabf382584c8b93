//! `StackState`: the stack-related fields of one task, as the stack pools
//! see them. The task record embeds one; only the `stack` module reads or
//! changes it (the scheduler records the stack pointer through `record_sp`
//! and asks `resident`).
//!
//! 24 bytes: a million parked tasks carry one each, so the home region and
//! the size class share a word, and the resident bit rides on the saved
//! length (stacks are at most `MAX_STACK_SIZE`, 1 GiB, so 31 bits suffice).

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
    /// Stack pointer recorded by the park path just before suspending.
    saved_sp: Cell<usize>,
    /// The used stack bytes while another task occupies the home region
    /// (an arena block of `saved_len` bytes; null when resident).
    saved_ptr: Cell<*mut u8>,
    /// Saved length in the low 31 bits; the top bit says the task's bytes
    /// are the ones in its home region now.
    len_resident: Cell<u32>,
    /// Home region index in the low 24 bits (`NO_HOME` until first run),
    /// size class in the top 8.
    home_class: Cell<u32>,
}

impl StackState {
    /// No home and nothing saved yet, from pool `class`.
    pub(crate) fn new(class: u32) -> StackState {
        debug_assert!(class <= u32::from(u8::MAX));
        StackState {
            saved_sp: Cell::new(0),
            saved_ptr: Cell::new(ptr::null_mut()),
            len_resident: Cell::new(0),
            home_class: Cell::new((class << 24) | NO_HOME),
        }
    }

    /// Record the stack pointer the task is suspending at; what lies below
    /// it (minus the switch's margin) is free, what lies above is saved
    /// when another task needs the region.
    #[inline(always)]
    pub(crate) fn record_sp(&self, sp: usize) {
        self.saved_sp.set(sp);
    }

    /// Whether this task's bytes are the ones in its home region now.
    #[inline(always)]
    pub(crate) fn resident(&self) -> bool {
        self.len_resident.get() & RESIDENT != 0
    }

    pub(super) fn set_resident(&self, on: bool) {
        let v = self.len_resident.get();
        self.len_resident
            .set(if on { v | RESIDENT } else { v & !RESIDENT });
    }

    pub(super) fn saved_sp(&self) -> usize {
        self.saved_sp.get()
    }

    pub(super) fn saved_ptr(&self) -> *mut u8 {
        self.saved_ptr.get()
    }

    /// Length of the saved bytes (meaningful while `saved_ptr` is set).
    pub(super) fn saved_len(&self) -> usize {
        (self.len_resident.get() & !RESIDENT) as usize
    }

    pub(super) fn set_saved(&self, p: *mut u8, len: usize) {
        debug_assert!(len < RESIDENT as usize);
        self.saved_ptr.set(p);
        let res = self.len_resident.get() & RESIDENT;
        self.len_resident.set(res | len as u32);
    }

    /// Take the saved block out (the caller frees it).
    pub(super) fn take_saved(&self) -> (*mut u8, usize) {
        let p = self.saved_ptr.replace(ptr::null_mut());
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
        s.set_home(Some(MAX_REGIONS - 1));
        s.set_resident(true);
        s.set_saved(ptr::null_mut(), (1 << 30) + 5);
        assert_eq!(s.home(), Some(MAX_REGIONS - 1));
        assert_eq!(s.class(), 7);
        assert!(s.resident());
        assert_eq!(s.saved_len(), (1 << 30) + 5);
        s.set_resident(false);
        assert_eq!(s.saved_len(), (1 << 30) + 5);
        s.set_home(None);
        assert_eq!(s.home(), None);
        assert_eq!(s.class(), 7);
        assert_eq!(std::mem::size_of::<StackState>(), 24);
    }
}
