//! Waiting for any of several things at once (gevent's `wait` and
//! `iwait`): coroutines of any result type, events, one-shot results,
//! queues, cross-thread channels and signals, mixed in one call.
//!
//! Owns the [`Waitable`] trait, the registration of one park on several
//! wait-lists ([`Watch`]), and [`wait`] / [`iwait`] on top. Each waitable
//! type says in its own file what "ready" means for it and which list it
//! announces readiness on; this module never looks inside them.
//!
//! Rules: a waiter is registered on every waitable that is not ready, for
//! one park, and taken off all of them however the park ends (woken, timed
//! out, killed, unwound by a timeout). A wait never consumes anything: a
//! queue's item stays in the queue, and a wake meant for one taker that
//! reached a multi-waiter is passed on to the next. Readiness is reported
//! as it was when the wait returned; another coroutine may take a queue's
//! item before the caller does.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::sched;
use crate::task::{ParkedOn, Unparker};
use crate::wait_list::WaitList;

/// Something [`wait`] and [`iwait`] can wait for, alongside others.
///
/// Implemented by `JoinHandle` (of any result type:
/// ready when the coroutine has finished),
/// `sync::Event` (when set),
/// `sync::AsyncResult` (when it holds a value or an
/// error), the queues of `queue` (when a `get` would not
/// park: an item is there, or the queue is closed),
/// `xchan::Receiver` (an item is there, or every
/// sender is gone) and `signal::Signal` (a
/// delivery is waiting). Not implementable outside green: readiness must be
/// announced on green's wait-lists.
pub trait Waitable: sealed::Sealed {
    /// Whether a wait for it would end at once.
    fn is_ready(&self) -> bool;

    /// Register the caller's next park on the lists that announce this
    /// one's readiness (internal: the registration type is private).
    #[doc(hidden)]
    fn watch<'a>(&'a self, watch: &mut Watch<'a>);
}

pub(crate) mod sealed {
    /// Keeps [`Waitable`](super::Waitable) implemented by green's types
    /// only.
    pub trait Sealed {}
}

/// Something a [`Watch`] holds until the park ends; dropping it takes the
/// registration off (and passes on a wake it should not keep).
pub(crate) trait Registered {}
impl<T> Registered for T {}

/// One park's registrations on several lists; dropping it takes every one
/// of them off again.
#[doc(hidden)]
pub struct Watch<'a> {
    me: Unparker,
    lists: Vec<&'a WaitList>,
    owned: Vec<Rc<WaitList>>,
    others: Vec<Box<dyn Registered + 'a>>,
}

impl<'a> Watch<'a> {
    fn new() -> Watch<'a> {
        Watch {
            me: sched::unparker(),
            lists: Vec::new(),
            owned: Vec::new(),
            others: Vec::new(),
        }
    }

    /// Be woken through `list` (which must wake all its waiters, or pass a
    /// wake on when a waiter leaves without acting on it).
    pub(crate) fn on_list(&mut self, list: &'a WaitList) {
        list.push_external(self.me.clone());
        self.lists.push(list);
    }

    /// [`on_list`](Self::on_list) for a list shared through an `Rc`.
    pub(crate) fn on_shared_list(&mut self, list: Rc<WaitList>) {
        list.push_external(self.me.clone());
        self.owned.push(list);
    }

    /// Keep a registration made elsewhere (a cross-thread channel's) until
    /// the park ends.
    pub(crate) fn hold(&mut self, r: Box<dyn Registered + 'a>) {
        self.others.push(r);
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        for l in &self.lists {
            l.remove_external(&self.me);
        }
        for l in &self.owned {
            l.remove_external(&self.me);
        }
        // `others` drop with the struct, after this.
    }
}

fn ready_indexes(objects: &[&dyn Waitable]) -> Vec<usize> {
    objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_ready())
        .map(|(i, _)| i)
        .collect()
}

/// Wait until at least `count` of `objects` are ready (all of them if
/// `count` exceeds their number; `usize::MAX` means all), or until
/// `timeout` passes. Returns the indexes of the ready ones, in order.
///
/// Mix any [`Waitable`]s: the first of a coroutine and an event, handles of
/// different result types, a queue and a timeout. Nothing is consumed:
/// join the handle, take the queue's item afterwards. Parks only the
/// caller (on a thread's root it runs the hub); unwinds on kill and on an
/// enclosing `green::timeout`. From `main`, waiting on things nothing can
/// make ready panics with a deadlock report, as every green wait does.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use green::sync::Event;
///
/// let stop = Rc::new(Event::new());
/// let worker = green::spawn(|| { green::sleep(Duration::from_secs(60)); 42 });
/// let s = stop.clone();
/// green::spawn(move || s.set());
/// // Whichever comes first: the worker's result or the stop event.
/// let ready = green::wait(&[&worker, &*stop], 1, None);
/// assert_eq!(ready, [1]);
/// worker.kill();
/// ```
pub fn wait(objects: &[&dyn Waitable], count: usize, timeout: Option<Duration>) -> Vec<usize> {
    let deadline = timeout.and_then(|d| crate::clock::now().checked_add(d));
    wait_deadline(objects, count, deadline)
}

fn wait_deadline(objects: &[&dyn Waitable], count: usize, deadline: Option<Instant>) -> Vec<usize> {
    let want = count.min(objects.len());
    loop {
        let ready = ready_indexes(objects);
        if ready.len() >= want {
            return ready;
        }
        let mut watch = Watch::new();
        for o in objects.iter().filter(|o| !o.is_ready()) {
            o.watch(&mut watch);
        }
        // A cross-thread channel may have become ready between the check
        // and its registration: look again before parking.
        if ready_indexes(objects).len() >= want {
            continue;
        }
        let r = sched::park(deadline, ParkedOn::WaitList);
        drop(watch);
        if r == sched::Park::TimedOut {
            return ready_indexes(objects);
        }
    }
}

/// The indexes of `objects` as each becomes ready, each once (gevent's
/// `iwait`): ready ones first, in order, then the others as they become
/// ready. Ends when every one was yielded, or when `timeout` (counted from
/// this call) passes.
///
/// ```
/// use std::time::Duration;
/// let slow = green::spawn(|| green::sleep(Duration::from_millis(30)));
/// let fast = green::spawn(|| ());
/// let order: Vec<usize> = green::iwait(&[&slow, &fast], None).collect();
/// assert_eq!(order, [1, 0]);
/// ```
pub fn iwait<'a, 'b>(objects: &'a [&'b dyn Waitable], timeout: Option<Duration>) -> Iwait<'a, 'b> {
    Iwait {
        objects,
        yielded: vec![false; objects.len()],
        deadline: timeout.and_then(|d| crate::clock::now().checked_add(d)),
        left: objects.len(),
    }
}

/// The iterator [`iwait`] returns.
pub struct Iwait<'a, 'b> {
    objects: &'a [&'b dyn Waitable],
    yielded: Vec<bool>,
    deadline: Option<Instant>,
    left: usize,
}

impl Iterator for Iwait<'_, '_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.left == 0 {
                return None;
            }
            let found =
                (0..self.objects.len()).find(|&i| !self.yielded[i] && self.objects[i].is_ready());
            if let Some(i) = found {
                self.yielded[i] = true;
                self.left -= 1;
                return Some(i);
            }
            if self.deadline.is_some_and(|d| crate::clock::now() >= d) {
                return None;
            }
            let pending: Vec<&dyn Waitable> = (0..self.objects.len())
                .filter(|&i| !self.yielded[i])
                .map(|i| self.objects[i])
                .collect();
            if wait_deadline(&pending, 1, self.deadline).is_empty() {
                return None; // timed out
            }
        }
    }
}
