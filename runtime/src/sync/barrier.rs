//! `Barrier`: `n` coroutines wait until all have arrived.
//!
//! Built on [`WaitList`]; the last arrival wakes everyone. A waiter that
//! leaves early (kill, enclosing timeout) takes its arrival back, so the
//! barrier still needs `n` live arrivals.

use std::cell::Cell;
use std::fmt;

use crate::wait_list::WaitList;

/// A meeting point for `n` coroutines; reusable.
///
/// ```
/// use std::rc::Rc;
/// let b = Rc::new(green::sync::Barrier::new(3));
/// let hs: Vec<_> = (0..3).map(|_| { let b = b.clone(); green::spawn(move || b.wait().is_leader()) }).collect();
/// let leaders = green::joinall(hs).into_iter().filter(|r| *r.as_ref().unwrap()).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    arrived: Cell<usize>,
    generation: Cell<u64>,
    waiters: WaitList,
}

/// What [`Barrier::wait`] returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one coroutine per round: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

struct Leave<'a> {
    b: &'a Barrier,
    gen: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        // Still the same round: we are leaving without meeting.
        if self.b.generation.get() == self.gen {
            self.b.arrived.set(self.b.arrived.get() - 1);
        }
    }
}

impl Barrier {
    /// A barrier for `n` coroutines (`0` behaves as `1`).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n: if n == 0 { 1 } else { n },
            arrived: Cell::new(0),
            generation: Cell::new(0),
            waiters: WaitList::new(),
        }
    }

    /// Park until `n` coroutines have called `wait` in this round.
    ///
    /// Unwinds on kill and on an enclosing `green::timeout`; from `main`, a
    /// round that can never fill is reported as a deadlock.
    pub fn wait(&self) -> BarrierWaitResult {
        let a = self.arrived.get() + 1;
        if a >= self.n {
            self.arrived.set(0);
            self.generation.set(self.generation.get().wrapping_add(1));
            self.waiters.notify_all();
            return BarrierWaitResult(true);
        }
        self.arrived.set(a);
        let gen = self.generation.get();
        let leave = Leave { b: self, gen };
        while self.generation.get() == gen {
            self.waiters.wait(None);
        }
        drop(leave); // round over: does nothing
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .field("arrived", &self.arrived.get())
            .finish()
    }
}
