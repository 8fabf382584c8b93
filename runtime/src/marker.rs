//! `ThreadBound`, the public marker of values that must stay on their
//! thread, and `Bound`, the private field wrapper that lets the compiler
//! name that marker (instead of some internal pointer type) when it
//! refuses to move such a value to another thread.
//!
//! This module imports nothing of the crate.

use std::marker::PhantomData;

/// Marker: this value belongs to the thread that spawned the coroutine it
/// refers to (or that created it).
///
/// Coroutines never leave the OS thread that spawned them: each thread has
/// its own hub, and a coroutine's handle, its pool, and the queues, locks
/// and sockets its siblings share all refer to that hub. A type that holds
/// a `ThreadBound` is therefore neither [`Send`] nor [`Sync`], and when a
/// value of it is moved or shared to another thread the compiler's error
/// names this marker:
///
/// ```compile_fail,E0277
/// let h = green::spawn(|| 1);
/// // error[E0277]: `*const ThreadBound` cannot be sent between threads safely
/// std::thread::spawn(move || h.join());
/// ```
///
/// What to do instead: join the coroutine on its own thread and send the
/// result; talk to coroutines from other threads with
/// `green::xchan`; run blocking work on other threads with
/// `green::spawn_blocking`; run hubs on several threads
/// with `green::Runtime::run_threads`, each one
/// spawning its own coroutines.
///
/// The marker has no size and no behaviour; it only appears in types'
/// auto-trait lists and in compiler errors.
#[derive(Clone, Copy, Debug)]
pub struct ThreadBound {
    // A raw pointer is what makes the marker `!Send + !Sync`; pointing at
    // the marker itself makes the compiler's message say
    // "`*const ThreadBound` cannot be sent between threads safely".
    _not_send: PhantomData<*const ThreadBound>,
}

/// A field of a thread-bound type whose own `!Send`/`!Sync` must not show
/// up in compiler errors (a raw pointer, an `Rc`): the type that holds it
/// also holds a `PhantomData<ThreadBound>`, which alone decides that the
/// type is `!Send + !Sync`, so the error names the documented marker.
///
/// Only ever use it as a field next to a `PhantomData<ThreadBound>`, and
/// never hand it out on its own.
pub(crate) struct Bound<T>(pub(crate) T);

// SAFETY: a `Bound` is only ever a private field of a type that also holds
// a `PhantomData<ThreadBound>`, which makes that type `!Send` and `!Sync`;
// the crate never moves a `Bound` out of its container or lends it on its
// own. So no `Bound` is ever actually sent to, or shared with, another
// thread: these impls only keep the inner type out of the compiler's
// explanation of why the container cannot be.
unsafe impl<T> Send for Bound<T> {}
// SAFETY: as for `Send` just above.
unsafe impl<T> Sync for Bound<T> {}

impl<T> std::ops::Deref for Bound<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> Clone for Bound<T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        Bound(self.0.clone())
    }
}

/// The marker field every thread-bound type holds next to its `Bound`
/// fields.
pub(crate) const THREAD_BOUND: PhantomData<ThreadBound> = PhantomData;

#[cfg(test)]
mod tests {
    use super::*;

    /// A container of `Bound` fields is `!Send`/`!Sync` through the
    /// marker alone; the marker costs nothing.
    #[test]
    fn the_marker_is_zero_sized() {
        assert_eq!(std::mem::size_of::<ThreadBound>(), 0);
        assert_eq!(std::mem::size_of::<Bound<std::rc::Rc<u8>>>(), 8);
    }
}
