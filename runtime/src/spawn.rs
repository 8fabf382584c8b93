//! Starting coroutines and giving up the CPU: `spawn`, `spawn_later`,
//! `Builder`, `sleep`, `yield_now`, `current`.
//!
//! Spawning only queues: the new coroutine first runs when the spawner parks
//! or yields (gevent order: spawn order is run order). No stack is taken
//! until the first run. This module never switches stacks itself; it goes
//! through the scheduler (`sched`).

use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::interrupt::Interrupted;
use crate::join::JoinHandle;
use crate::sched::{self, hub};
use crate::task::{Output, ParkedOn};

fn erase<F, T>(f: F) -> crate::task::Entry
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    crate::task::Entry::new(move || Box::new(f()) as Output)
}

/// Start a coroutine running `f`; it first runs when the caller parks or
/// yields. The closure needs `'static` but not `Send`: `Rc` and `RefCell`
/// are fine, since the coroutine stays on this thread.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// let h = green::spawn(move || l.borrow_mut().push("ran"));
/// assert!(log.borrow().is_empty()); // queued, not run yet
/// h.join().unwrap();
/// assert_eq!(*log.borrow(), ["ran"]);
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    JoinHandle::new(sched::spawn_entry(
        erase(f),
        None,
        None,
        None,
        Location::caller(),
    ))
}

/// Start a coroutine that first runs after `delay`. Killing its handle
/// before then cancels it: it never runs.
///
/// ```
/// use std::time::Duration;
/// let h = green::spawn_later(Duration::from_secs(60), || unreachable!());
/// h.kill();
/// assert!(h.join().unwrap_err().is_killed());
/// ```
#[track_caller]
pub fn spawn_later<F, T>(delay: Duration, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    JoinHandle::new(sched::spawn_entry(
        erase(f),
        None,
        None,
        Some(delay),
        Location::caller(),
    ))
}

/// Options for a new coroutine: name and stack size.
///
/// ```
/// let h = green::Builder::new().name("worker").stack_size(64 * 1024)
///     .spawn(|| green::current().unwrap().name().map(String::from))
///     .unwrap();
/// assert_eq!(h.name(), Some("worker"));
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker"));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default options: unnamed, the hub's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Name the coroutine (shown in panics, overflow and monitor reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes (rounded up to pages; 16 KiB to 1 GiB).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawn with these options. Fails if the stack size is out of range.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_after(None, f)
    }

    /// Spawn with these options, first running after `delay`.
    #[track_caller]
    pub fn spawn_later<F, T>(self, delay: Duration, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_after(Some(delay), f)
    }

    #[track_caller]
    fn spawn_after<F, T>(self, delay: Option<Duration>, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let class = match self.stack_size {
            Some(size) => Some(sched::stack_class(size)?),
            None => None,
        };
        let name: Option<Rc<String>> = self.name.map(Rc::new);
        Ok(JoinHandle::new(sched::spawn_entry(
            erase(f),
            name,
            class,
            delay,
            Location::caller(),
        )))
    }
}

/// Put the caller at the back of the ready queue: every coroutine that was
/// ready runs once before it resumes. Same as `sleep(Duration::ZERO)`.
#[inline(always)]
pub fn yield_now() {
    if let Err(i) = hub().yield_inner() {
        crate::sched::raise(i)
    }
}

/// Park the caller for `d`; other coroutines run meanwhile.
/// `Duration::ZERO` yields; a duration too large for the clock sleeps until
/// killed or interrupted by an enclosing `timeout`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t = Instant::now();
/// let hs: Vec<_> = (0..100).map(|_| green::spawn(|| green::sleep(Duration::from_millis(20)))).collect();
/// green::joinall(hs);
/// assert!(t.elapsed() < Duration::from_secs(1)); // concurrent, not 2 s
/// ```
#[inline(always)]
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return yield_now();
    }
    sleep_for(d)
}

#[inline(never)]
fn sleep_for(d: Duration) {
    if let Err(i) = sleep_until(crate::clock::now().checked_add(d), true) {
        unreachable!("green: an unwinding sleep returned {i}");
    }
}

/// Park until `deadline` (`None`: until killed or interrupted). With
/// `unwind`, kill and an expiring `green::timeout` unwind; without, they are
/// returned (for `extern "C"` hooks).
pub(crate) fn sleep_until(deadline: Option<Instant>, unwind: bool) -> Result<(), Interrupted> {
    loop {
        let r = if unwind {
            sched::park(deadline, ParkedOn::Timer)
        } else {
            sched::park_no_unwind(deadline, ParkedOn::Timer)?
        };
        // Nobody holds an unparker for a sleep, but stay robust to a stray
        // wake: only the deadline ends it.
        if r == sched::Park::TimedOut || deadline.is_some_and(|at| crate::clock::now() >= at) {
            return Ok(());
        }
    }
}

/// Identity of the running coroutine.
#[derive(Clone, Debug)]
pub struct CoroutineInfo {
    id: u64,
    name: Option<Rc<String>>,
}

impl CoroutineInfo {
    /// Unique id on this thread (the same as `JoinHandle::id`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given with `Builder::name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(|n| n.as_str())
    }
}

/// The running coroutine, or `None` outside one (e.g. in `main`).
pub fn current() -> Option<CoroutineInfo> {
    if !sched::has_hub() {
        return None;
    }
    let hub = hub();
    let t = hub.current();
    if t.is_root() {
        return None;
    }
    Some(CoroutineInfo {
        id: t.id,
        name: t.name().cloned(),
    })
}
