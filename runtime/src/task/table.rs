//! The hub's table of live tasks: slot index → task, for enumeration
//! (run-info, deadlock reports, shutdown) and for cross-thread wakes that
//! name a task by slot.
//!
//! Eight bytes per slot and nothing else: a free slot holds the link to
//! the next free one (an intrusive free list), so a million parked
//! coroutines keep a million words, and a million finished ones no second
//! list. Never runs code or parks.

use std::mem::ManuallyDrop;

use crate::task::TaskRef;

/// A slot: a task, or (odd, since records are 16-byte aligned) the next
/// free slot's index plus one, shifted left once, with the low bit set.
union Slot {
    task: ManuallyDrop<TaskRef>,
    link: usize,
}

impl Slot {
    #[inline(always)]
    fn link(&self) -> usize {
        // SAFETY: both variants are one initialised word (a `TaskRef` is
        // a single pointer: `record_is_112_bytes` checks its size), so the
        // word may be read as an integer either way.
        unsafe { self.link }
    }

    #[inline(always)]
    fn task(&self) -> Option<&TaskRef> {
        // SAFETY: an even word is a task's (see the type's doc).
        (self.link() & 1 == 0).then(|| unsafe { &*self.task })
    }
}

/// No free slot (the head and the links hold an index plus one).
const NONE: usize = 0;

pub(crate) struct TaskTable {
    slots: Vec<Slot>,
    /// The first free slot's index plus one, `NONE` if none is free.
    free: usize,
    /// Slots holding a task.
    live: usize,
}

impl Default for TaskTable {
    fn default() -> Self {
        TaskTable {
            slots: Vec::new(),
            free: NONE,
            live: 0,
        }
    }
}

impl Drop for TaskTable {
    fn drop(&mut self) {
        for s in &mut self.slots {
            if s.link() & 1 == 0 {
                // SAFETY: an even word is a task's, dropped once, here.
                unsafe { ManuallyDrop::drop(&mut s.task) };
            }
        }
    }
}

impl TaskTable {
    pub(crate) fn new() -> TaskTable {
        TaskTable::default()
    }

    /// Store `t` in a free slot and return the slot.
    pub(crate) fn insert(&mut self, t: TaskRef) -> usize {
        debug_assert_eq!(t.as_ptr() as usize & 1, 0, "records are aligned");
        let slot = Slot {
            task: ManuallyDrop::new(t),
        };
        self.live += 1;
        if self.free == NONE {
            self.slots.push(slot);
            return self.slots.len() - 1;
        }
        let i = self.free - 1;
        self.free = self.slots[i].link() >> 1;
        self.slots[i] = slot;
        i
    }

    /// Take the task out of `slot`, if one is there.
    pub(crate) fn try_remove(&mut self, slot: usize) -> Option<TaskRef> {
        let s = self.slots.get_mut(slot)?;
        s.task()?;
        let link = Slot {
            link: (self.free << 1) | 1,
        };
        let taken = std::mem::replace(s, link);
        self.free = slot + 1;
        self.live -= 1;
        // SAFETY: the word was even (checked above): a task's, moved out
        // once (its slot now holds a link).
        Some(ManuallyDrop::into_inner(unsafe { taken.task }))
    }

    /// No task lives (O(1)).
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&TaskRef> {
        self.slots.get(slot)?.task()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskRef> {
        self.slots.iter().filter_map(Slot::task)
    }

    /// Live tasks (a scan: only tests need it).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Task;

    fn task(id: u64) -> TaskRef {
        TaskRef::new(Task::new(id, None, 0, None, std::panic::Location::caller()))
    }

    #[test]
    fn slots_are_reused_and_iteration_sees_live_ones() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
        let mut t = TaskTable::new();
        let a = t.insert(task(1));
        let b = t.insert(task(2));
        assert_eq!(t.try_remove(a).map(|x| x.id), Some(1));
        assert!(t.try_remove(a).is_none());
        assert!(t.get(a).is_none());
        let c = t.insert(task(3));
        assert_eq!(c, a, "the freed slot is reused");
        let ids: Vec<u64> = t.iter().map(|x| x.id).collect();
        assert_eq!(ids, [3, 2]);
        assert_eq!(t.get(b).map(|x| x.id), Some(2));
        assert_eq!(t.len(), 2);
        assert!(t.try_remove(99).is_none());
    }

    #[test]
    fn freed_slots_come_back_last_freed_first_and_drop_frees_the_rest() {
        let mut t = TaskTable::new();
        let kept = task(100);
        let ids: Vec<usize> = (0..6).map(|i| t.insert(task(i))).collect();
        for &i in &[1, 4, 2] {
            assert!(t.try_remove(ids[i]).is_some());
        }
        assert_eq!(t.insert(task(7)), ids[2]);
        assert_eq!(t.insert(task(8)), ids[4]);
        assert_eq!(t.insert(task(9)), ids[1]);
        assert_eq!(t.insert(kept.clone()), 6, "no free slot left: appended");
        assert_eq!(t.len(), 7);
        drop(t);
        // The table's reference went with it; ours is the last.
        assert_eq!(kept.refs.get(), 1);
    }
}
