//! `Entry`: the user's closure, type-erased without a heap allocation when
//! it is small.
//!
//! A spawned-but-not-started coroutine is a task record and its closure;
//! a million of them are all touched for the first time at spawn, so a
//! separate `Box<dyn FnOnce>` (a malloc call and 32 bytes elsewhere) cost
//! more than the closure itself. An `Entry` is 48 bytes: a pointer to a
//! static table of two functions (call, drop) and up to `INLINE` bytes of
//! the closure in place. Larger or over-aligned closures are boxed and the
//! box is stored in place instead.
//!
//! This module owns only the erasure: it never runs the closure except
//! through `Entry::call_in_place`, and never knows where an `Entry` is
//! kept.

use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::ptr;

use super::Output;

/// Closure bytes kept in place (two `Rc`s and a few words fit).
pub(crate) const INLINE: usize = 40;

/// The two things an erased closure can do.
struct EntryVt {
    /// Move the closure out of the bytes at the pointer and run it.
    call: unsafe fn(*mut u8) -> Output,
    /// Drop the closure in place without running it.
    drop: unsafe fn(*mut u8),
}

/// One static table per closure type.
struct Vt<G>(PhantomData<G>);

impl<G: FnOnce() -> Output + 'static> Vt<G> {
    const VT: EntryVt = EntryVt {
        call: call_g::<G>,
        drop: drop_g::<G>,
    };
}

/// # Safety
/// `p` holds a live `G`, which the caller gives up.
unsafe fn call_g<G: FnOnce() -> Output>(p: *mut u8) -> Output {
    // SAFETY: the caller passes the bytes of a live `G` and never uses them
    // again; reading moves the closure out before any of its code runs.
    let g = unsafe { ptr::read(p as *mut G) };
    g()
}

/// # Safety
/// `p` holds a live `G`, which the caller gives up.
unsafe fn drop_g<G>(p: *mut u8) {
    // SAFETY: as above; dropped once, in place.
    unsafe { ptr::drop_in_place(p as *mut G) }
}

/// A type-erased `FnOnce() -> Output`, stored in place when it fits.
#[repr(C)]
pub(crate) struct Entry {
    vt: &'static EntryVt,
    data: MaybeUninit<[usize; INLINE / 8]>,
}

impl Entry {
    /// Erase `f`, in place if it fits (`INLINE` bytes, word alignment),
    /// else in a box.
    pub(crate) fn new<F: FnOnce() -> Output + 'static>(f: F) -> Entry {
        if mem::size_of::<F>() <= INLINE && mem::align_of::<F>() <= mem::align_of::<usize>() {
            Entry::in_place(f)
        } else {
            Entry::in_place(Box::new(f))
        }
    }

    fn in_place<G: FnOnce() -> Output + 'static>(g: G) -> Entry {
        assert!(mem::size_of::<G>() <= INLINE && mem::align_of::<G>() <= mem::align_of::<usize>());
        let mut e = Entry {
            vt: &Vt::<G>::VT,
            data: MaybeUninit::uninit(),
        };
        // SAFETY: `data` has room and alignment for a `G` (asserted above);
        // the `Entry` owns it from here on (dropped or called once).
        unsafe { ptr::write(e.data.as_mut_ptr() as *mut G, g) };
        e
    }

    /// Run the closure whose `Entry` lies at `e`, moving the closure out
    /// of those bytes first: once the closure's own code runs, nothing
    /// reads the `Entry` again and its bytes may be reused. `freed` runs
    /// once the table pointer is read, before the closure is moved out: the
    /// word at `e` is the caller's from then on (the closure's bytes come
    /// after it).
    ///
    /// # Safety
    /// `e` points at a live `Entry` that nobody else will drop or call;
    /// `freed` writes nothing but the entry's first word.
    #[inline(always)]
    pub(crate) unsafe fn call_in_place(e: *mut Entry, freed: impl FnOnce()) -> Output {
        // SAFETY: the caller hands over a live entry; the table pointer is
        // read before `freed` may reuse its word, and `call` moves the
        // closure out of `data` before running it.
        unsafe {
            let vt = (*e).vt;
            freed();
            (vt.call)(ptr::addr_of_mut!((*e).data).cast())
        }
    }

    /// Run the closure.
    #[cfg(test)]
    pub(crate) fn call(self) -> Output {
        let mut me = mem::ManuallyDrop::new(self);
        // SAFETY: `me` is live and never dropped (ManuallyDrop).
        unsafe { Entry::call_in_place(&mut *me, || ()) }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: an `Entry` that is dropped was never called: its closure
        // is live in `data`.
        unsafe { (self.vt.drop)(self.data.as_mut_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn small_closures_stay_in_place_and_large_ones_are_boxed() {
        assert_eq!(mem::size_of::<Entry>(), 48);
        let n = Rc::new(Cell::new(0));
        let (a, b) = (n.clone(), n.clone());
        let e = Entry::new(move || {
            a.set(a.get() + 1);
            b.set(b.get() + 10);
            Box::new(7u32) as Output
        });
        assert_eq!(Rc::strong_count(&n), 3);
        let out = e.call();
        assert_eq!(out.downcast_ref::<u32>(), Some(&7));
        assert_eq!(n.get(), 11);
        assert_eq!(
            Rc::strong_count(&n),
            1,
            "the closure was dropped after running"
        );

        let big = [9u64; 16];
        let c = n.clone();
        let e = Entry::new(move || {
            c.set(big.iter().sum::<u64>() as i32);
            Box::new(()) as Output
        });
        e.call();
        assert_eq!(n.get(), 144);
        assert_eq!(Rc::strong_count(&n), 1);
    }

    #[test]
    fn an_entry_dropped_unrun_drops_its_closure_once() {
        let n = Rc::new(());
        let a = n.clone();
        let e = Entry::new(move || {
            drop(a);
            unreachable!()
        });
        let big = ([0u8; 64], n.clone());
        let f = Entry::new(move || {
            drop(big);
            unreachable!()
        });
        assert_eq!(Rc::strong_count(&n), 3);
        drop(e);
        drop(f);
        assert_eq!(Rc::strong_count(&n), 1);
    }
}
