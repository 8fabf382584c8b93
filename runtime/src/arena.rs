//! Per-thread memory for task records and saved stack bytes.
//!
//! A million parked coroutines means a million task records and a million
//! small stack copies, all touched for the first time at spawn. On this kind
//! of machine first-touch page faults, not the runtime's own code, dominate
//! that cost, so these allocations come from 2 MiB-aligned chunks advised
//! for transparent huge pages (one fault per 2 MiB instead of per 4 KiB),
//! carved into 16-byte size classes with intrusive free lists.
//!
//! The arena is thread-local with a `const` initialiser and no destructor, so
//! it stays usable while other thread-locals are torn down. Chunks go back
//! to the kernel at thread exit when nothing is left allocated
//! ([`release_thread`]); otherwise they are leaked with the thread.
//!
//! This module must never hand memory to another thread, and never allocate
//! through the global allocator on the small path.

use std::cell::UnsafeCell;
use std::ptr;

use crate::sys;

const GRAIN: usize = 16;
/// Larger requests go to `malloc`.
const MAX_SMALL: usize = 4096;
const CLASSES: usize = MAX_SMALL / GRAIN + 1;
const HUGE: usize = 2 << 20;
/// Address space reserved per chunk (pages are only touched on use).
const CHUNK: usize = 64 << 20;

struct Arena {
    free: [*mut u8; CLASSES],
    cur: usize,
    end: usize,
    /// Head of the chunk list; each chunk's first word links to the next.
    chunks: *mut u8,
    live: usize,
}

thread_local! {
    static ARENA: UnsafeCell<Arena> = const {
        UnsafeCell::new(Arena {
            free: [ptr::null_mut(); CLASSES],
            cur: 0,
            end: 0,
            chunks: ptr::null_mut(),
            live: 0,
        })
    };
}

#[inline(always)]
fn class_of(size: usize) -> usize {
    size.div_ceil(GRAIN).max(1)
}

/// Allocate `size` bytes, 16-byte aligned. Aborts like `alloc` on failure.
#[inline]
pub(crate) fn alloc(size: usize) -> *mut u8 {
    if size > MAX_SMALL {
        let layout = layout_of(size);
        // SAFETY: non-zero size, valid layout.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        return p;
    }
    // SAFETY: the arena is only touched from its own thread, and no
    // reference into it outlives this call.
    ARENA.with(|a| unsafe { (*a.get()).alloc_small(class_of(size)) })
}

/// Free a block from [`alloc`] with the same `size`.
///
/// # Safety
/// `p` came from `alloc(size)` on this thread and is not used afterwards.
#[inline]
pub(crate) unsafe fn free(p: *mut u8, size: usize) {
    if size > MAX_SMALL {
        // SAFETY: caller guarantees `p` came from `alloc` with this size,
        // which used the global allocator with this layout.
        unsafe { std::alloc::dealloc(p, layout_of(size)) };
        return;
    }
    // SAFETY: as above; the block joins its class's free list.
    ARENA.with(|a| unsafe { (*a.get()).free_small(p, class_of(size)) })
}

fn layout_of(size: usize) -> std::alloc::Layout {
    match std::alloc::Layout::from_size_align(size, GRAIN) {
        Ok(l) => l,
        Err(_) => std::alloc::handle_alloc_error(std::alloc::Layout::new::<u128>()),
    }
}

/// Blocks allocated on this thread and not freed yet (task records and
/// saved stacks): a diagnostic that shows leaks exactly, where RSS only
/// shows them roughly.
pub(crate) fn live_blocks() -> usize {
    // SAFETY: own thread only; reads one field.
    ARENA.with(|a| unsafe { (*a.get()).live })
}

/// Give the chunks back if nothing is allocated any more (thread exit).
pub(crate) fn release_thread() {
    // SAFETY: own thread only; no block is live (checked), so no pointer
    // into the chunks remains.
    ARENA.with(|a| unsafe {
        let a = &mut *a.get();
        if a.live != 0 {
            return;
        }
        let mut c = a.chunks;
        while !c.is_null() {
            let next = *(c as *mut *mut u8);
            sys::unmap(c as usize, CHUNK);
            c = next;
        }
        a.chunks = ptr::null_mut();
        a.free = [ptr::null_mut(); CLASSES];
        a.cur = 0;
        a.end = 0;
    });
}

impl Arena {
    #[inline(always)]
    unsafe fn alloc_small(&mut self, class: usize) -> *mut u8 {
        self.live += 1;
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: free blocks store the next pointer in their first word.
            self.free[class] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        let size = class * GRAIN;
        if self.cur + size > self.end {
            self.new_chunk();
        }
        let p = self.cur as *mut u8;
        self.cur += size;
        p
    }

    #[inline(always)]
    unsafe fn free_small(&mut self, p: *mut u8, class: usize) {
        self.live -= 1;
        // SAFETY: the block is at least GRAIN bytes and 16-aligned, and is no
        // longer in use, so its first word can hold the list link.
        unsafe { *(p as *mut *mut u8) = self.free[class] };
        self.free[class] = p;
    }

    #[cold]
    fn new_chunk(&mut self) {
        // Reserve one extra huge page so the chunk can start 2 MiB-aligned;
        // only aligned 2 MiB ranges can become huge pages.
        let len = CHUNK + HUGE;
        let Ok(raw) = sys::map_anonymous(len, true) else {
            std::alloc::handle_alloc_error(layout_of(CHUNK));
        };
        let start = (raw + HUGE - 1) & !(HUGE - 1);
        // SAFETY: trimming the unaligned head and tail of our own mapping,
        // then advising the aligned part; failures only cost performance.
        unsafe {
            if start > raw {
                sys::unmap(raw, start - raw);
            }
            let tail = raw + len - (start + CHUNK);
            if tail > 0 {
                sys::unmap(start + CHUNK, tail);
            }
            sys::advise_huge_pages(start, CHUNK);
            *(start as *mut *mut u8) = self.chunks;
        }
        self.chunks = start as *mut u8;
        // The first GRAIN bytes hold the chunk link.
        self.cur = start + GRAIN;
        self.end = start + CHUNK;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_distinct_and_reused_per_size_class() {
        let before = live_blocks();
        let a = alloc(24);
        let b = alloc(24);
        let c = alloc(200);
        for p in [a, b, c] {
            assert_eq!(p as usize % GRAIN, 0, "16-byte alignment");
        }
        assert_ne!(a, b);
        assert_eq!(live_blocks(), before + 3);
        // SAFETY: each block came from `alloc` with that size, on this
        // thread, and is not used afterwards.
        unsafe { free(b, 24) };
        // The same class hands the freed block back first.
        let d = alloc(17);
        assert_eq!(d, b, "a 17-byte request shares the 32-byte class");
        // SAFETY: as above.
        unsafe {
            free(a, 24);
            free(d, 17);
            free(c, 200);
        }
        assert_eq!(live_blocks(), before);
    }

    #[test]
    fn large_blocks_go_to_the_global_allocator_and_are_not_counted() {
        let before = live_blocks();
        let p = alloc(MAX_SMALL + 1);
        assert_eq!(p as usize % GRAIN, 0);
        assert_eq!(live_blocks(), before);
        // SAFETY: written within the block's bounds, then freed with its size.
        unsafe {
            p.write_bytes(0x5A, MAX_SMALL + 1);
            free(p, MAX_SMALL + 1);
        }
    }

    #[test]
    fn written_blocks_keep_their_bytes_until_freed() {
        let ps: Vec<*mut u8> = (1..200).map(|i| alloc(i * 8)).collect();
        for (i, &p) in ps.iter().enumerate() {
            // SAFETY: block `i` has (i + 1) * 8 bytes.
            unsafe { p.write_bytes(i as u8, (i + 1) * 8) };
        }
        for (i, &p) in ps.iter().enumerate() {
            // SAFETY: as above; read back what was written.
            let s = unsafe { std::slice::from_raw_parts(p, (i + 1) * 8) };
            assert!(s.iter().all(|&b| b == i as u8), "block {i} was overwritten");
        }
        for (i, p) in ps.into_iter().enumerate() {
            // SAFETY: freed once, with its size.
            unsafe { free(p, (i + 1) * 8) };
        }
    }
}
