//! Coroutine-local storage (gevent's `local`): [`local!`](crate::local!)
//! declares a value each coroutine gets its own copy of, created on first
//! use and dropped when that coroutine ends (returns, panics or is
//! killed). The thread's root context (`main`) has its own copy too,
//! dropped when the thread exits.

// Contributor note: values live in a per-thread map keyed by coroutine id,
// each boxed so its address never moves while a `with` closure (which may
// park) holds a reference. A coroutine's values are dropped by a finish
// callback registered on its first use. This module parks nothing and
// touches no hub internals beyond registering that callback.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sched::hub;
use crate::task::Task;

type Slots = Vec<Option<Box<dyn Any>>>;

thread_local! {
    static LOCALS: RefCell<HashMap<u64, Slots>> = RefCell::new(HashMap::new());
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

/// Declare coroutine-local values, like `std::thread_local!`:
///
/// ```
/// use std::cell::Cell;
/// green::local! {
///     static COUNT: Cell<u32> = Cell::new(0);
/// }
/// let a = green::spawn(|| { COUNT.with(|c| c.set(c.get() + 5)); COUNT.with(Cell::get) });
/// let b = green::spawn(|| { green::yield_now(); COUNT.with(Cell::get) });
/// assert_eq!(a.join().unwrap(), 5);
/// assert_eq!(b.join().unwrap(), 0); // its own copy
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::local::LocalKey<$t> = {
            fn __green_local_init() -> $t { $init }
            $crate::local::LocalKey::new(__green_local_init)
        };
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr) => {
        $crate::local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// A coroutine-local value declared with [`local!`](crate::local!).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// Slot index + 1, assigned on first use; 0 = not yet.
    key: AtomicUsize,
    _t: PhantomData<fn() -> T>,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            key: AtomicUsize::new(0),
            _t: PhantomData,
        }
    }

    fn index(&self) -> usize {
        let k = self.key.load(Ordering::Acquire);
        if k != 0 {
            return k - 1;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed) + 1;
        match self
            .key
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh - 1,
            Err(other) => other - 1,
        }
    }

    /// Run `f` with the current coroutine's value, creating it on first use.
    /// From outside a coroutine this is the thread root's own value.
    ///
    /// # Panics
    /// If called while the thread's storage is being destroyed.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let idx = self.index();
        let task = hub().current();
        let id = task.id;
        let ptr = match lookup(id, idx) {
            Some(p) => p,
            None => {
                // Not under the map's borrow: `init` may use other locals.
                let v: Box<dyn Any> = Box::new((self.init)());
                store(task, idx, v)
            }
        };
        let ptr = ptr as *const T;
        // SAFETY: the value is a `Box<T>` (slot `idx` is only ever filled by
        // this key with its own `T`), its heap address never changes, and it
        // is dropped only when this coroutine has ended (or the thread
        // exits), which cannot happen while `f` runs in it.
        f(unsafe { &*ptr })
    }
}

/// Pointer to the stored value, if any.
fn lookup(id: u64, idx: usize) -> Option<*const ()> {
    let r = LOCALS.try_with(|m| {
        let m = m.borrow();
        let b = m.get(&id)?.get(idx)?.as_ref()?;
        Some(&**b as *const dyn Any as *const ())
    });
    match r {
        Ok(p) => p,
        Err(_) => panic!("green: coroutine-local accessed while the thread's storage is destroyed"),
    }
}

/// Store a fresh value (unless `init` stored one meanwhile) and return a
/// pointer to the stored one. Registers the drop callback on first use.
fn store(task: &Task, idx: usize, v: Box<dyn Any>) -> *const () {
    let id = task.id;
    let mut spare = None;
    let r = LOCALS.try_with(|m| {
        let mut m = m.borrow_mut();
        let first = !m.contains_key(&id);
        let slots = m.entry(id).or_default();
        if slots.len() <= idx {
            slots.resize_with(idx + 1, || None);
        }
        if slots[idx].is_none() {
            slots[idx] = Some(v);
        } else {
            spare = Some(v);
        }
        let p = slots[idx]
            .as_deref()
            .map(|b| b as *const dyn Any as *const ());
        (first, p)
    });
    drop(spare);
    let (first, p) = match r {
        Ok(x) => x,
        Err(_) => panic!("green: coroutine-local accessed while the thread's storage is destroyed"),
    };
    if first && !task.is_root() {
        crate::sched::on_finish(task, Box::new(|t: &Task| drop_locals(t.id)));
    }
    match p {
        Some(p) => p,
        None => unreachable!("green: the slot was filled just above"),
    }
}

/// A coroutine ended: drop its values (outside the map's borrow, since
/// their destructors may use locals too).
fn drop_locals(id: u64) {
    let slots = LOCALS.try_with(|m| m.borrow_mut().remove(&id));
    if let Ok(Some(slots)) = slots {
        drop(slots);
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}
