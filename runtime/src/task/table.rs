//! The hub's table of live tasks: slot index → task, for enumeration
//! (run-info, deadlock reports, shutdown) and for cross-thread wakes that
//! name a task by slot.
//!
//! Eight bytes per live task (`Option<TaskRef>` uses the pointer's niche),
//! plus a list of free slots: a million parked coroutines keep a million
//! entries, so every byte here counts. Never runs code or parks.

use crate::task::TaskRef;

#[derive(Default)]
pub(crate) struct TaskTable {
    slots: Vec<Option<TaskRef>>,
    free: Vec<u32>,
}

impl TaskTable {
    pub(crate) fn new() -> TaskTable {
        TaskTable::default()
    }

    /// Store `t` in a free slot and return the slot.
    pub(crate) fn insert(&mut self, t: TaskRef) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(t);
                i as usize
            }
            None => {
                self.slots.push(Some(t));
                self.slots.len() - 1
            }
        }
    }

    /// Take the task out of `slot`, if one is there.
    pub(crate) fn try_remove(&mut self, slot: usize) -> Option<TaskRef> {
        let t = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot as u32);
        Some(t)
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&TaskRef> {
        self.slots.get(slot)?.as_ref()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskRef> {
        self.slots.iter().flatten()
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
        assert_eq!(std::mem::size_of::<Option<TaskRef>>(), 8);
        let mut t = TaskTable::new();
        let a = t.insert(task(1));
        let b = t.insert(task(2));
        assert_eq!(t.try_remove(a).map(|x| x.id), Some(1));
        assert!(t.try_remove(a).is_none());
        let c = t.insert(task(3));
        assert_eq!(c, a, "the freed slot is reused");
        let ids: Vec<u64> = t.iter().map(|x| x.id).collect();
        assert_eq!(ids, [3, 2]);
        assert_eq!(t.get(b).map(|x| x.id), Some(2));
        assert_eq!(t.len(), 2);
    }
}
