//! Sets of coroutines handled together (gevent's `pool` module): [`Pool`]
//! runs at most `n` members at once, [`Group`] any number. Both can be
//! joined or killed as a whole, and map a function over items with one
//! member per item ([`Pool::map`], [`Pool::imap`],
//! [`Pool::imap_unordered`]).
//!
//! A member gives its slot back however it ends: it returns, panics, is
//! killed, or is killed before it ever ran. Spawners waiting for a slot are
//! served first come, first served. Pools and groups are
//! [`ThreadBound`], like the coroutines they hold.

// Contributor note: a pool slot is held by the member's own closure (a
// guard captured in it), which is what releases it on every ending. Waiting
// spawners park on the hand-off queue, like a semaphore's. Members are
// spawned through the scheduler's one spawn entry (`sched::spawn_with`, so
// the member's guard knows its id); kills and parks go through the
// scheduler's functions. This module never resumes coroutines itself.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::iter::Fuse;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::join::{JoinError, JoinHandle};
use crate::marker::{Bound, ThreadBound, THREAD_BOUND};
use crate::sched::{self, hub};
use crate::sync::waiter::WaitQueue;
use crate::sync::WaitGroup;
use crate::task::{Entry, Output, TaskRef};
use crate::wait_list::WaitList;

struct Inner {
    limit: usize,
    /// Slots held: by members, and by spawners handed one that have not
    /// started their member yet. `join` waits for it to reach zero.
    running: WaitGroup,
    /// Spawners parked until a slot frees (hand-off).
    slots: WaitQueue<()>,
    /// Live members by task id, for `kill`.
    tasks: RefCell<HashMap<u64, TaskRef>>,
    /// `kill` callers waiting for a spawner that holds a granted slot to
    /// start its member or give the slot back.
    changed: WaitList,
    /// `kill` calls in progress: members started meanwhile die at once.
    killing: Cell<usize>,
}

impl Inner {
    fn release_slot(&self) {
        if !self.slots.grant_with(|_| ()) {
            self.running.done();
        }
        self.changed.notify_all();
    }

    /// Slots handed to spawners that have not started their member yet.
    /// `running` counts every held slot; `tasks` every started member still
    /// holding one, and a spawner starts its member without parking once it
    /// has the slot, so the difference is exactly the granted, unstarted
    /// ones.
    fn granted_unstarted(&self) -> usize {
        self.running
            .count()
            .saturating_sub(self.tasks.borrow().len())
    }
}

/// Marks a `kill` in progress for as long as it runs (it may unwind).
struct Killing<'a>(&'a Inner);

impl Drop for Killing<'_> {
    fn drop(&mut self) {
        self.0.killing.set(self.0.killing.get() - 1);
    }
}

/// Captured in a member's closure: leaves the pool when the closure ends
/// or is dropped without running.
struct Member {
    inner: Rc<Inner>,
    id: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        let t = self.inner.tasks.borrow_mut().remove(&self.id);
        drop(t);
        self.inner.release_slot();
    }
}

/// At most `n` coroutines at once; `spawn` parks while `n` are running.
///
/// ```
/// use std::time::Duration;
/// let pool = green::pool::Pool::new(2);
/// let out: Vec<_> = pool
///     .imap(|ms: u64| { green::sleep(Duration::from_millis(ms)); ms }, [30, 10, 20])
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(out, [30, 10, 20]); // input order
/// pool.join();
/// assert_eq!(pool.free_count(), 2);
/// ```
pub struct Pool {
    // `Bound` and the marker: moving a pool to another thread fails with
    // an error that names `ThreadBound`, not the private state.
    inner: Bound<Rc<Inner>>,
    _thread: PhantomData<ThreadBound>,
}

impl Pool {
    /// A pool that runs at most `n` coroutines at once.
    ///
    /// # Panics
    /// If `n` is zero (every `spawn` would wait forever).
    pub fn new(n: usize) -> Pool {
        assert!(n > 0, "green: Pool::new(0): a pool needs at least one slot");
        Pool::with_limit(n)
    }

    fn with_limit(limit: usize) -> Pool {
        Pool {
            _thread: THREAD_BOUND,
            inner: Bound(Rc::new(Inner {
                limit,
                running: WaitGroup::new(),
                slots: WaitQueue::new(),
                tasks: RefCell::new(HashMap::new()),
                changed: WaitList::new(),
                killing: Cell::new(0),
            })),
        }
    }

    /// The most coroutines this pool runs at once.
    pub fn size(&self) -> usize {
        self.inner.limit
    }

    /// Members running (or queued to run) now.
    pub fn len(&self) -> usize {
        self.inner.running.count()
    }

    /// True when no member is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots free now (how many `try_spawn`s would succeed).
    pub fn free_count(&self) -> usize {
        if self.inner.slots.has_waiters() {
            return 0;
        }
        self.inner.limit - self.inner.running.count()
    }

    /// True when a `spawn` would park.
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// Spawn `f` as a member, parking while the pool is full (waiting
    /// spawners are served in order). Unwinds on kill and on an enclosing
    /// `green::timeout`; from `main`, a full pool whose members can never
    /// finish is reported as a deadlock.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let at = Location::caller();
        loop {
            if self.take_slot(None) {
                return self.start(f, at);
            }
        }
    }

    /// Spawn only if a slot is free now; otherwise give `f` back.
    #[track_caller]
    pub fn try_spawn<F, T>(&self, f: F) -> Result<JoinHandle<T>, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if self.free_count() == 0 {
            return Err(f);
        }
        self.inner.running.add(1);
        Ok(self.start(f, Location::caller()))
    }

    /// Like [`spawn`](Self::spawn), giving `f` back if no slot freed within
    /// `d`.
    #[track_caller]
    pub fn spawn_timeout<F, T>(&self, d: Duration, f: F) -> Result<JoinHandle<T>, F>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let at = Location::caller();
        if self.take_slot(crate::clock::now().checked_add(d)) {
            Ok(self.start(f, at))
        } else {
            Err(f)
        }
    }

    /// Park until a slot is ours (true) or `deadline` (false).
    fn take_slot(&self, deadline: Option<Instant>) -> bool {
        if self.free_count() > 0 {
            self.inner.running.add(1);
            return true;
        }
        let inner = &self.inner;
        // A granted slot stays counted in `running`: it moved to us.
        inner
            .slots
            .wait(0, None, deadline, |granted, _| {
                if granted {
                    inner.release_slot();
                }
            })
            .is_ok()
    }

    /// Spawn `f` on a slot already taken.
    fn start<F, T>(&self, f: F, at: &'static Location<'static>) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let hub = hub();
        let inner = Rc::clone(&self.inner);
        let task = sched::spawn_with(
            move |id| {
                let member = Member { inner, id };
                Entry::new(move || {
                    let _member = member;
                    Box::new(f()) as Output
                })
            },
            None,
            None,
            None,
            at,
        );
        self.inner.tasks.borrow_mut().insert(task.id, task.clone());
        if self.inner.killing.get() > 0 {
            // A spawner that got its slot from a dying member while `kill`
            // runs: the member must not outlive that kill, so it dies before
            // it ever runs (its slot comes back at once).
            hub.request_kill(&task);
        }
        self.inner.changed.notify_all();
        JoinHandle::new(task)
    }

    /// Park until every member has finished. Returns at once on an empty
    /// pool.
    pub fn join(&self) {
        self.inner.running.wait()
    }

    /// Like [`join`](Self::join), giving up after `d`; true when empty.
    pub fn join_timeout(&self, d: Duration) -> bool {
        self.inner.running.wait_timeout(d)
    }

    /// Kill every member and wait until they are gone (their destructors
    /// ran). A member calling this kills the others, not itself.
    ///
    /// Spawners that were parked waiting for a slot may get one as members
    /// die; the members they start are killed too, before they run, and
    /// `kill` returns only once no slot is held (but the caller's own, if it
    /// is a member): not by a member, nor by a spawner that was handed a
    /// slot and has yet to start its member. A spawner that keeps spawning
    /// while `kill` runs keeps it waiting until it stops.
    pub fn kill(&self) {
        let hub = hub();
        let me = hub.current().id;
        let inner = &*self.inner;
        inner.killing.set(inner.killing.get() + 1);
        let _killing = Killing(inner);
        loop {
            let members: Vec<TaskRef> = inner
                .tasks
                .borrow()
                .values()
                .filter(|t| t.id != me)
                .cloned()
                .collect();
            if members.is_empty() {
                if inner.granted_unstarted() == 0 {
                    return;
                }
                // A slot went to a spawner that has not run since: wait for
                // it to start its member (killed at once) or give up the
                // slot, then look again.
                inner.changed.wait(None);
                continue;
            }
            for t in &members {
                hub.request_kill(t);
            }
            for t in &members {
                while !t.is_finished() {
                    t.joiners().wait(None);
                }
            }
        }
    }

    /// Run `f` on every item through the pool and collect the results in
    /// input order. A panic in `f` (or a kill) is that item's `Err`.
    pub fn map<A, U, F, I>(&self, f: F, items: I) -> Vec<Result<U, JoinError>>
    where
        F: Fn(A) -> U + 'static,
        I: IntoIterator<Item = A>,
        A: 'static,
        U: 'static,
    {
        self.imap(f, items).collect()
    }

    /// Lazily run `f` on every item through the pool (keeping it full) and
    /// yield results in input order. A panic in `f` surfaces as that item's
    /// `Err(JoinError::Panicked(..))`; the other items still run.
    ///
    /// ```
    /// let pool = green::pool::Pool::new(2);
    /// let out: Vec<_> = pool.imap(|n: u32| if n == 2 { panic!("bad {n}") } else { n * 10 }, 1..=3).collect();
    /// assert_eq!(out[0].as_ref().ok(), Some(&10));
    /// assert_eq!(out[1].as_ref().err().and_then(|e| e.panic_message()), Some("bad 2"));
    /// assert_eq!(out[2].as_ref().ok(), Some(&30));
    /// ```
    pub fn imap<A, U, F, I>(&self, f: F, items: I) -> IMap<'_, I::IntoIter, U>
    where
        F: Fn(A) -> U + 'static,
        I: IntoIterator<Item = A>,
        A: 'static,
        U: 'static,
    {
        IMap::new(self, Rc::new(f), items.into_iter(), true)
    }

    /// Like [`imap`](Self::imap), yielding results in completion order.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = green::pool::Pool::new(3);
    /// let out: Vec<u64> = pool
    ///     .imap_unordered(|ms: u64| { green::sleep(Duration::from_millis(ms)); ms }, [60, 1, 30])
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(out, [1, 30, 60]);
    /// ```
    pub fn imap_unordered<A, U, F, I>(&self, f: F, items: I) -> IMap<'_, I::IntoIter, U>
    where
        F: Fn(A) -> U + 'static,
        I: IntoIterator<Item = A>,
        A: 'static,
        U: 'static,
    {
        IMap::new(self, Rc::new(f), items.into_iter(), false)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.inner.limit)
            .field("running", &self.inner.running.count())
            .finish()
    }
}

/// Records the order in which an `imap`'s jobs end.
struct Done {
    log: RefCell<VecDeque<usize>>,
    list: WaitList,
}

struct DoneMark {
    done: Rc<Done>,
    idx: usize,
}

impl Drop for DoneMark {
    fn drop(&mut self) {
        self.done.log.borrow_mut().push_back(self.idx);
        self.done.list.notify_all();
    }
}

/// The iterator of [`Pool::imap`] and [`Pool::imap_unordered`]. It feeds
/// input items to the pool as slots free up and parks the consumer in
/// `next` until the next result is ready. Dropping it early leaves the
/// jobs already started running.
pub struct IMap<'p, I: Iterator, U> {
    pool: &'p Pool,
    f: Bound<Rc<dyn Fn(I::Item) -> U>>,
    input: Fuse<I>,
    ordered: bool,
    next_in: usize,
    next_out: usize,
    in_flight: HashMap<usize, JoinHandle<U>>,
    finished: HashSet<usize>,
    done: Bound<Rc<Done>>,
    _thread: PhantomData<ThreadBound>,
}

impl<'p, I, U> IMap<'p, I, U>
where
    I: Iterator,
    I::Item: 'static,
    U: 'static,
{
    fn new(pool: &'p Pool, f: Rc<dyn Fn(I::Item) -> U>, input: I, ordered: bool) -> Self {
        IMap {
            pool,
            f: Bound(f),
            input: input.fuse(),
            ordered,
            next_in: 0,
            next_out: 0,
            in_flight: HashMap::new(),
            finished: HashSet::new(),
            done: Bound(Rc::new(Done {
                log: RefCell::new(VecDeque::new()),
                list: WaitList::new(),
            })),
            _thread: THREAD_BOUND,
        }
    }

    fn job(&self, item: I::Item) -> impl FnOnce() -> U + 'static {
        let f = Rc::clone(&self.f);
        let mark = DoneMark {
            done: Rc::clone(&self.done),
            idx: self.next_in,
        };
        move || {
            let _mark = mark;
            f(item)
        }
    }

    /// Start as many inputs as there are free slots; if none of ours is
    /// running, start one even if that means parking for a slot.
    fn feed(&mut self) {
        while self.pool.free_count() > 0 {
            let Some(item) = self.input.next() else {
                return;
            };
            let job = self.job(item);
            match self.pool.try_spawn(job) {
                Ok(h) => {
                    self.in_flight.insert(self.next_in, h);
                    self.next_in += 1;
                }
                Err(_) => unreachable!("green: a free slot was checked just before"),
            }
        }
        if self.in_flight.is_empty() {
            if let Some(item) = self.input.next() {
                let job = self.job(item);
                let h = self.pool.spawn(job);
                self.in_flight.insert(self.next_in, h);
                self.next_in += 1;
            }
        }
    }

    fn take(&mut self, idx: usize) -> Option<Result<U, JoinError>> {
        self.finished.remove(&idx);
        self.in_flight.remove(&idx).map(JoinHandle::join)
    }
}

impl<I, U> Iterator for IMap<'_, I, U>
where
    I: Iterator,
    I::Item: 'static,
    U: 'static,
{
    type Item = Result<U, JoinError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.feed();
            if self.ordered {
                let log: Vec<usize> = self.done.log.borrow_mut().drain(..).collect();
                self.finished.extend(log);
                if self.finished.contains(&self.next_out) {
                    let idx = self.next_out;
                    self.next_out += 1;
                    return self.take(idx);
                }
            } else {
                let idx = self.done.log.borrow_mut().pop_front();
                if let Some(idx) = idx {
                    return self.take(idx);
                }
            }
            if self.in_flight.is_empty() {
                return None;
            }
            self.done.list.wait(None);
        }
    }
}

/// A set of coroutines without a size limit: join or kill them together,
/// map over them (gevent's `Group`).
///
/// A group is a [`Pool`] whose size has no limit, and it dereferences to
/// one, so it has every method of `Pool` with the same meaning. Without a
/// limit no slot is ever missing: `spawn` never parks, `try_spawn` and
/// `spawn_timeout` always spawn, and `is_full` is false.
///
/// ```
/// let g = green::pool::Group::new();
/// let hs: Vec<_> = (0..3).map(|i| g.spawn(move || i)).collect();
/// g.join();
/// assert!(g.is_empty());
/// assert_eq!(green::joinall(hs).into_iter().map(Result::unwrap).sum::<i32>(), 3);
/// ```
pub struct Group {
    pool: Pool,
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group {
            pool: Pool::with_limit(usize::MAX),
        }
    }
}

impl Deref for Group {
    type Target = Pool;

    fn deref(&self) -> &Pool {
        &self.pool
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("running", &self.pool.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Group;

    /// A group is an unlimited pool: the slot-taking methods it gets from
    /// `Pool` never refuse and never park, however many members run.
    #[test]
    fn group_pool_methods_never_refuse_or_park() {
        let g = Group::new();
        let gate = std::rc::Rc::new(crate::sync::Event::new());
        let mut hs = Vec::new();
        for i in 0..100u32 {
            let gate = gate.clone();
            let job = move || {
                gate.wait();
                i
            };
            let h = match i % 3 {
                0 => g.spawn(job),
                1 => g
                    .try_spawn(job)
                    .unwrap_or_else(|_| panic!("try_spawn refused")),
                _ => g
                    .spawn_timeout(Duration::ZERO, job)
                    .unwrap_or_else(|_| panic!("spawn_timeout refused")),
            };
            hs.push(h);
        }
        assert_eq!(g.len(), 100);
        assert!(!g.is_full());
        assert!(
            !g.join_timeout(Duration::from_millis(1)),
            "members still wait"
        );
        gate.set();
        assert!(g.join_timeout(Duration::from_secs(10)));
        assert!(g.is_empty());
        let sum: u32 = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(sum, (0..100).sum());
    }
}
