//! The three storage orders a queue can have: FIFO, LIFO, smallest first.
//!
//! Pure data structures; nothing here parks or wakes.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

mod sealed {
    /// Keeps `Buffer` implemented by this module's types only.
    pub trait Sealed {}
}

impl<T> sealed::Sealed for Fifo<T> {}
impl<T> sealed::Sealed for Lifo<T> {}
impl<T: Ord> sealed::Sealed for Priority<T> {}

/// Storage order of a queue: [`Fifo`], [`Lifo`] or [`Priority`], the `B`
/// of [`BaseQueue`](super::BaseQueue).
///
/// Sealed: the queue relies on exactly these orders (an item put back
/// with `unpop` must come out next), so it cannot be implemented outside
/// this crate.
pub trait Buffer<T>: Default + sealed::Sealed {
    /// Store an item.
    fn push(&mut self, item: T);
    /// Take the next item in this buffer's order.
    fn pop(&mut self) -> Option<T>;
    /// Put back an item that was popped but could not be delivered, so it
    /// comes out next again.
    fn unpop(&mut self, item: T);
    /// Items stored.
    fn len(&self) -> usize;
    /// True when nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out: the storage of [`Queue`](super::Queue) and
/// [`Channel`](super::Channel).
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Buffer<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn unpop(&mut self, item: T) {
        self.0.push_front(item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out: the storage of [`LifoQueue`](super::LifoQueue).
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Buffer<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn unpop(&mut self, item: T) {
        self.0.push(item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first, equal items in insertion order: the storage of
/// [`PriorityQueue`](super::PriorityQueue).
pub struct Priority<T: Ord> {
    heap: BinaryHeap<Entry<T>>,
    /// Insertion counter for ties; `unpop` counts down from zero so a
    /// returned item goes before its equals.
    next: i64,
    front: i64,
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority {
            heap: BinaryHeap::new(),
            next: 0,
            front: 0,
        }
    }
}

struct Entry<T> {
    item: T,
    seq: i64,
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl<T: Ord> Ord for Entry<T> {
    /// Reversed, so the max-heap yields the smallest item, then the
    /// earliest insertion.
    fn cmp(&self, o: &Self) -> Ordering {
        o.item.cmp(&self.item).then(o.seq.cmp(&self.seq))
    }
}

impl<T: Ord> Buffer<T> for Priority<T> {
    fn push(&mut self, item: T) {
        let seq = self.next;
        self.next += 1;
        self.heap.push(Entry { item, seq });
    }
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|e| e.item)
    }
    fn unpop(&mut self, item: T) {
        self.front -= 1;
        let seq = self.front;
        self.heap.push(Entry { item, seq });
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
}
