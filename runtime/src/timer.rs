//! Deadlines that wake parked tasks.
//!
//! A 4-ary min-heap ordered by (deadline, insertion sequence), so equal
//! deadlines fire in the order they were armed. Cancelling is O(1): a park
//! that ends early bumps its task's generation, which makes the entry stale;
//! stale entries are skipped when they surface and the heap is compacted when
//! they outnumber live ones, so arm-then-cancel loops (every timed I/O) keep
//! the heap small.
//!
//! Most deadlines arrive in order (every sleep or timeout of the same
//! length is later than the one armed before it), so entries whose deadline
//! is not earlier than the last one appended go to a plain FIFO (`run`)
//! instead: O(1) to arm and O(1) to fire. Only out-of-order deadlines pay
//! for the heap; the two are merged when firing.
//!
//! This module only decides *which* (target, generation) pairs are due; it
//! never changes what it wakes. It is generic over the target (the
//! scheduler's tasks, through `TimerTarget`) and imports nothing of the
//! crate.

use std::collections::VecDeque;
use std::time::Instant;

/// What a timer entry wakes: something whose waits are numbered, so an
/// entry armed for an earlier wait is recognised as stale (and skipped)
/// without being searched for and removed.
pub(crate) trait TimerTarget {
    /// The number of the wait going on now.
    fn generation(&self) -> u32;
    /// Whether the wait numbered `gen` is still going on.
    fn waiting_at(&self, gen: u32) -> bool;
}

struct Entry<T> {
    when: Instant,
    seq: u64,
    gen: u32,
    target: T,
}

impl<T: TimerTarget> Entry<T> {
    fn key(&self) -> (Instant, u64) {
        (self.when, self.seq)
    }
    fn live(&self) -> bool {
        self.target.waiting_at(self.gen)
    }
}

/// The deadlines of a hub: a FIFO run for in-order deadlines and a 4-ary
/// heap for the rest, with lazy cancellation.
pub(crate) struct Timers<T> {
    heap: Vec<Entry<T>>,
    /// Entries armed in deadline order, oldest first.
    run: VecDeque<Entry<T>>,
    seq: u64,
    /// Entries known to be stale (cancelled) but still in the heap.
    dead: usize,
}

impl<T: TimerTarget> Timers<T> {
    pub(crate) fn new() -> Timers<T> {
        Timers {
            heap: Vec::new(),
            run: VecDeque::new(),
            seq: 0,
            dead: 0,
        }
    }

    /// Arm a wake for `target` at `when`, valid for its current wait.
    pub(crate) fn insert(&mut self, when: Instant, target: T) {
        let gen = target.generation();
        self.seq += 1;
        let e = Entry {
            when,
            seq: self.seq,
            gen,
            target,
        };
        if self.run.back().is_none_or(|last| last.when <= when) {
            self.run.push_back(e);
        } else {
            self.heap.push(e);
            self.sift_up(self.heap.len() - 1);
        }
    }

    /// Which source holds the earliest entry: `Some(true)` for the FIFO run.
    fn earliest(&self) -> Option<bool> {
        match (self.run.front(), self.heap.first()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(r), Some(h)) => Some(r.key() <= h.key()),
        }
    }

    fn peek(&self, from_run: bool) -> &Entry<T> {
        if from_run {
            &self.run[0]
        } else {
            &self.heap[0]
        }
    }

    fn pop(&mut self, from_run: bool) -> Entry<T> {
        if from_run {
            self.run.pop_front().expect("run is not empty")
        } else {
            self.pop_top()
        }
    }

    /// No entry at all, live or stale: nothing can be due, so the loop
    /// need not read the clock to fire timers.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.run.is_empty()
    }

    /// An armed entry became stale (its target woke another way). O(1).
    pub(crate) fn cancelled(&mut self) {
        self.dead += 1;
        if self.dead > 1024 && self.dead * 2 > self.heap.len() + self.run.len() {
            self.compact();
        }
    }

    /// Deadline of the earliest live entry, dropping stale ones on top.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(src) = self.earliest() {
            let top = self.peek(src);
            if top.live() {
                return Some(top.when);
            }
            self.pop(src);
            self.dead = self.dead.saturating_sub(1);
        }
        None
    }

    /// Pop every live entry due at `now`, in order, calling `fire` on each
    /// with its deadline (entries due at one instant come in the order they
    /// were armed; a seeded hub may shuffle those).
    pub(crate) fn expire(&mut self, now: Instant, mut fire: impl FnMut(Instant, T)) {
        while let Some(src) = self.earliest() {
            let top = self.peek(src);
            if !top.live() {
                self.pop(src);
                self.dead = self.dead.saturating_sub(1);
                continue;
            }
            if top.when > now {
                break;
            }
            let e = self.pop(src);
            fire(e.when, e.target);
        }
    }

    fn compact(&mut self) {
        self.run.retain(|e| e.live());
        self.heap.retain(|e| e.live());
        self.dead = 0;
        let n = self.heap.len();
        if n > 1 {
            for i in (0..=(n - 2) / 4).rev() {
                self.sift_down(i);
            }
        }
    }

    fn pop_top(&mut self) -> Entry<T> {
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        let e = self.heap.pop().expect("heap is not empty");
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
        e
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.heap[i].key() < self.heap[parent].key() {
                self.heap.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + 4).min(n) {
                if self.heap[c].key() < self.heap[best].key() {
                    best = c;
                }
            }
            if self.heap[best].key() < self.heap[i].key() {
                self.heap.swap(i, best);
                i = best;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    /// A target whose wait number the test moves by hand.
    #[derive(Clone)]
    struct Waiter {
        name: u32,
        gen: Rc<Cell<u32>>,
        parked: Rc<Cell<bool>>,
    }

    impl Waiter {
        fn new(name: u32) -> Waiter {
            Waiter {
                name,
                gen: Rc::new(Cell::new(0)),
                parked: Rc::new(Cell::new(true)),
            }
        }
        /// Its wait ended another way (the timer entry goes stale).
        fn wake_elsewhere(&self) {
            self.gen.set(self.gen.get() + 1);
        }
    }

    impl TimerTarget for Waiter {
        fn generation(&self) -> u32 {
            self.gen.get()
        }
        fn waiting_at(&self, gen: u32) -> bool {
            self.parked.get() && self.gen.get() == gen
        }
    }

    fn fired(t: &mut Timers<Waiter>, now: Instant) -> Vec<u32> {
        let mut v = Vec::new();
        t.expire(now, |_, w| v.push(w.name));
        v
    }

    #[test]
    fn fifo_run_and_heap_merge_in_deadline_order_ties_in_arming_order() {
        let base = Instant::now();
        let ms = |n| base + Duration::from_millis(n);
        let mut t = Timers::new();
        // In order: the FIFO run. Out of order: the heap.
        for (name, at) in [(1, 10), (2, 20), (3, 20), (4, 5), (5, 15), (6, 30), (7, 5)] {
            t.insert(ms(at), Waiter::new(name));
        }
        assert_eq!(t.next_deadline(), Some(ms(5)));
        assert_eq!(fired(&mut t, ms(4)), Vec::<u32>::new());
        assert_eq!(fired(&mut t, ms(20)), [4, 7, 1, 5, 2, 3]);
        assert_eq!(fired(&mut t, ms(100)), [6]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn stale_entries_never_fire_and_do_not_hide_live_ones() {
        let base = Instant::now();
        let ms = |n| base + Duration::from_millis(n);
        let mut t = Timers::new();
        let a = Waiter::new(1);
        let b = Waiter::new(2);
        t.insert(ms(10), a.clone());
        t.insert(ms(5), b.clone()); // heap
        a.wake_elsewhere();
        t.cancelled();
        // Re-armed for its next wait: only the new entry counts.
        t.insert(ms(30), a.clone());
        assert_eq!(t.next_deadline(), Some(ms(5)));
        b.wake_elsewhere();
        t.cancelled();
        assert_eq!(t.next_deadline(), Some(ms(30)));
        assert_eq!(fired(&mut t, ms(100)), [1]);
    }

    #[test]
    fn many_cancellations_compact_and_keep_order() {
        let base = Instant::now();
        let mut t = Timers::new();
        let mut live = Vec::new();
        // Arm-then-cancel loops, as timed I/O does, with some that stay.
        for i in 0..5000u32 {
            let w = Waiter::new(i);
            // Alternate directions so both the run and the heap fill up.
            let at = if i % 2 == 0 { 10_000 + i } else { 10_000 - i };
            t.insert(base + Duration::from_micros(u64::from(at)), w.clone());
            if i % 7 == 0 {
                live.push((at, i));
            } else {
                w.wake_elsewhere();
                t.cancelled();
            }
        }
        assert!(
            t.heap.len() + t.run.len() < 5000,
            "stale entries were never compacted"
        );
        live.sort();
        let want: Vec<u32> = live.iter().map(|&(_, i)| i).collect();
        assert_eq!(fired(&mut t, base + Duration::from_secs(1)), want);
    }
}
