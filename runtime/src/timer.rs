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
//! This module only decides *which* (task, generation) pairs are due; it never
//! changes task state itself — `hub.rs` does that.

use std::collections::VecDeque;
use std::time::Instant;

use crate::task::{State, TaskRef};

struct Entry {
    when: Instant,
    seq: u64,
    gen: u32,
    task: TaskRef,
}

impl Entry {
    fn key(&self) -> (Instant, u64) {
        (self.when, self.seq)
    }
    fn live(&self) -> bool {
        self.task.gen.get() == self.gen && self.task.state.get() == State::Parked
    }
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: Vec<Entry>,
    /// Entries armed in deadline order, oldest first.
    run: VecDeque<Entry>,
    seq: u64,
    /// Entries known to be stale (cancelled) but still in the heap.
    dead: usize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers::default()
    }

    /// Arm a wake for `task` at `when`, valid for its current generation.
    pub(crate) fn insert(&mut self, when: Instant, task: TaskRef) {
        let gen = task.gen.get();
        task.set_timer_armed(true);
        self.seq += 1;
        let e = Entry {
            when,
            seq: self.seq,
            gen,
            task,
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

    fn peek(&self, from_run: bool) -> &Entry {
        if from_run {
            &self.run[0]
        } else {
            &self.heap[0]
        }
    }

    fn pop(&mut self, from_run: bool) -> Entry {
        if from_run {
            self.run.pop_front().expect("run is not empty")
        } else {
            self.pop_top()
        }
    }

    /// An armed entry became stale (its task woke another way). O(1).
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

    /// Pop every live entry due at `now`, in order, calling `fire` on each.
    pub(crate) fn expire(&mut self, now: Instant, mut fire: impl FnMut(TaskRef)) {
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
            e.task.set_timer_armed(false);
            fire(e.task);
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

    fn pop_top(&mut self) -> Entry {
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
