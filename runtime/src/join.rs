//! Joining coroutines: `JoinHandle`, `JoinError`, `joinall`, and
//! finish callbacks (`on_finish`, gevent's `link`).
//!
//! A handle shares the task record (heap) with the hub; joining parks on the
//! task's `joiners` wait-list. This module never resumes coroutines itself.
//! (`JoinError` itself is plain data, in `task/outcome.rs`; re-raising a
//! joined panic is here, since raising goes through the scheduler.)

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::marker::{Bound, ThreadBound, THREAD_BOUND};
use crate::sched::{self, hub};
pub use crate::task::{JoinError, Panic};
use crate::task::{Task, TaskRef};

/// An owned permission to join a coroutine (wait for its result), returned
/// by `green::spawn`, `spawn_later`, `Builder::spawn` and pools.
///
/// Dropping the handle detaches the coroutine: it keeps running, and if it
/// panics the panic is printed on stderr once (a joined panic is not
/// printed: [`join`](Self::join) returns it).
///
/// A handle belongs to the thread that spawned the coroutine (it is
/// [`ThreadBound`]: neither `Send` nor `Sync`). Join it
/// there and send the result if another thread needs it.
///
/// ```
/// use std::time::Duration;
/// let h = green::Builder::new()
///     .name("adder")
///     .spawn(|| { green::sleep(Duration::from_millis(5)); 2 + 2 })
///     .unwrap();
/// assert_eq!(h.name(), Some("adder"));
/// assert!(!h.is_finished());
/// assert_eq!(h.join().unwrap(), 4);
/// ```
pub struct JoinHandle<T> {
    // `Bound` and the marker: moving a handle to another thread fails with
    // an error that names `ThreadBound`, not the task's internal pointer.
    task: Bound<TaskRef>,
    joined: bool,
    _t: PhantomData<fn() -> T>,
    _thread: PhantomData<ThreadBound>,
}

impl<T: 'static> JoinHandle<T> {
    pub(crate) fn new(task: TaskRef) -> JoinHandle<T> {
        JoinHandle {
            task: Bound(task),
            joined: false,
            _t: PhantomData,
            _thread: THREAD_BOUND,
        }
    }

    /// Mark the coroutine as the runtime's own, waiting for ever by design
    /// (see `Task::is_service`).
    pub(crate) fn mark_service(&self) {
        self.task.0.set_service();
    }

    /// Wait for the coroutine to finish and take its result.
    ///
    /// From a coroutine this parks; from outside one (e.g. `main`) it runs
    /// the hub until the coroutine finishes. `Err` if the coroutine
    /// panicked ([`JoinError::Panicked`], with the panic's message and
    /// location) or was killed ([`JoinError::Killed`]).
    ///
    /// # Panics
    /// On the thread's root (`main`), if nothing can ever finish the
    /// coroutine (it waits on something nobody will set, and nothing else
    /// is ready, timed or doing I/O), with a report that starts
    /// `green: deadlock` instead of hanging. Kill and an enclosing
    /// [`timeout`](crate::timeout) interrupt a coroutine waiting here.
    ///
    /// ```
    /// let ok = green::spawn(|| "done");
    /// let bad = green::spawn(|| -> &str { panic!("oops") });
    /// assert_eq!(ok.join().unwrap(), "done");
    /// let e = bad.join().unwrap_err();
    /// assert_eq!(e.panic_message(), Some("oops"));
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        sched::wait_finished(&self.task, None);
        self.take()
    }

    /// Wait up to `d` for the coroutine to finish. Returns true if it has
    /// finished; false leaves it running.
    pub fn join_timeout(&self, d: Duration) -> bool {
        let deadline = crate::clock::now().checked_add(d);
        sched::wait_finished(&self.task, deadline)
    }

    /// Whether the coroutine has finished (returned, panicked or killed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Kill the coroutine and wait until it is gone.
    ///
    /// A coroutine that never ran never runs. A parked one wakes and unwinds
    /// from its park point, running its destructors, before `kill` returns.
    /// A running one (killing itself) unwinds at once. Killing a finished
    /// coroutine, or killing twice, does nothing. `join` then returns
    /// `Err(JoinError::Killed)` unless it had already finished.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// struct Cleanup(Rc<Cell<bool>>);
    /// impl Drop for Cleanup {
    ///     fn drop(&mut self) { self.0.set(true) }
    /// }
    /// let cleaned = Rc::new(Cell::new(false));
    /// let c = Cleanup(cleaned.clone());
    /// let h = green::spawn(move || {
    ///     let _c = c;
    ///     green::sleep(Duration::from_secs(3600));
    /// });
    /// green::yield_now(); // let it start and park
    /// h.kill();
    /// assert!(cleaned.get(), "its destructors ran before kill returned");
    /// assert!(h.join().unwrap_err().is_killed());
    /// ```
    pub fn kill(&self) {
        let hub = hub();
        hub.request_kill(&self.task);
        if std::ptr::eq(hub.current(), self.task.as_ptr()) {
            hub.current().set_kill_requested(false);
            crate::sched::raise(crate::interrupt::Interrupt::Killed);
        }
        sched::wait_finished(&self.task, None);
    }

    /// Ask the coroutine to die without waiting for it: as
    /// [`kill`](Self::kill), but returns at once; the coroutine unwinds
    /// when the hub next runs it.
    pub fn kill_nowait(&self) {
        hub().request_kill(&self.task);
    }

    /// The coroutine's id, unique on this thread.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The name given with `Builder::name`.
    pub fn name(&self) -> Option<&str> {
        self.task.name().map(|n| n.as_str())
    }

    /// How many waiters (joins, `green::wait` calls) are queued on this
    /// coroutine right now.
    // A diagnostic for greenhub's own tests (interrupted waiters leave
    // nothing behind); not a stable API.
    #[doc(hidden)]
    pub fn waiting_joiners(&self) -> usize {
        self.task.joiners_len()
    }

    /// Whether the coroutine has started running (false before its first
    /// run and for a coroutine killed before it ran).
    pub fn is_started(&self) -> bool {
        self.task.started()
    }

    /// Call `f` with the result when the coroutine finishes, in the order the
    /// callbacks were added. Added after it finished (and not yet joined), `f`
    /// runs at once. Callbacks run in the finishing coroutine (or the caller)
    /// and may block.
    pub fn on_finish(&self, f: impl FnOnce(Result<&T, &JoinError>) + 'static) {
        let link: crate::task::Link = Box::new(move |task: &Task| {
            task.with_result(|r| match r {
                Some(Ok(v)) => match v.downcast_ref::<T>() {
                    Some(v) => f(Ok(v)),
                    None => unreachable!("green: result type matches the handle's"),
                },
                Some(Err(e)) => f(Err(e)),
                None => {}
            })
        });
        sched::on_finish(&self.task, link);
    }

    fn take(mut self) -> Result<T, JoinError> {
        self.joined = true;
        let r = self.task.take_result();
        match r {
            Some(Ok(v)) => match v.downcast::<T>() {
                Ok(v) => Ok(*v),
                Err(_) => unreachable!("green: result type matches the handle's"),
            },
            Some(Err(e)) => Err(e),
            // Only reachable if the result was taken already, which the
            // by-value `join` rules out; report it as the task being gone.
            None => Err(JoinError::Killed),
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.task.id)
            .field("name", &self.task.name())
            .field("finished", &self.task.is_finished())
            .finish()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        self.task.set_detached(true);
        if self.task.is_finished() {
            crate::report::report_unjoined(&self.task);
            // Drop the value here, in the caller's context: the record may
            // outlive this handle (a stale timer entry), and its last
            // reference may go inside the hub's borrows.
            drop(self.task.take_result());
        }
    }
}

impl Panic {
    /// Raise the panic again in the caller, with its original payload (as
    /// `std::panic::resume_unwind(p.into_payload())` does), so a panic
    /// joined from a coroutine propagates like one that happened here.
    ///
    /// Prefer this to calling `std::panic::resume_unwind` yourself inside
    /// a coroutine: the runtime learns that the coroutine is unwinding, so
    /// destructors that park while it unwinds are not interrupted again.
    ///
    /// ```should_panic
    /// let h = green::spawn(|| panic!("first"));
    /// if let Err(green::JoinError::Panicked(p)) = h.join() {
    ///     p.resume_unwind(); // panics with "first"
    /// }
    /// ```
    pub fn resume_unwind(self) -> ! {
        sched::resume_unwind(self.into_payload())
    }
}

/// Wait for every handle in order and collect the results.
///
/// ```
/// let hs: Vec<_> = (0..3).map(|i| green::spawn(move || i * 10)).collect();
/// let out: Vec<i32> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
/// assert_eq!(out, [0, 10, 20]);
/// ```
pub fn joinall<T: 'static, I: IntoIterator<Item = JoinHandle<T>>>(
    handles: I,
) -> Vec<Result<T, JoinError>> {
    handles.into_iter().map(JoinHandle::join).collect()
}

/// [`joinall`] with a time limit (gevent's `joinall(greenlets, timeout)`):
/// when every coroutine finishes within `timeout`, their results in order;
/// otherwise the handles back, all of them, so the caller can keep
/// waiting, [`kill`](JoinHandle::kill) the rest, or drop them (which
/// detaches them). Nothing is joined on `Err`: the finished ones still
/// hold their results.
///
/// ```
/// use std::time::Duration;
/// let quick = green::spawn(|| 1);
/// let slow = green::spawn(|| { green::sleep(Duration::from_secs(60)); 2 });
/// let hs = green::joinall_timeout(vec![quick, slow], Duration::from_millis(20))
///     .unwrap_err();
/// assert!(hs[0].is_finished() && !hs[1].is_finished());
/// hs[1].kill();
/// ```
pub fn joinall_timeout<T: 'static>(
    handles: Vec<JoinHandle<T>>,
    timeout: Duration,
) -> Result<Vec<Result<T, JoinError>>, Vec<JoinHandle<T>>> {
    let refs: Vec<&dyn crate::waitable::Waitable> = handles
        .iter()
        .map(|h| h as &dyn crate::waitable::Waitable)
        .collect();
    let done = crate::waitable::wait(&refs, usize::MAX, Some(timeout)).len();
    drop(refs);
    if done == handles.len() {
        Ok(joinall(handles))
    } else {
        Err(handles)
    }
}

impl<T> crate::waitable::sealed::Sealed for JoinHandle<T> {}

impl<T: 'static> crate::waitable::Waitable for JoinHandle<T> {
    fn is_ready(&self) -> bool {
        self.is_finished()
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        // Finishing wakes every joiner (`notify_all`).
        watch.on_shared_list(self.task.joiners());
    }
}

#[cfg(test)]
mod tests {
    /// A joined panic keeps where it was raised, as `file:line:col`.
    #[test]
    fn a_joined_panic_has_its_location() {
        let line = line!() + 1;
        let h = crate::spawn(|| -> u8 { panic!("located {}", 42) });
        let e = match h.join() {
            Err(e) => e,
            Ok(_) => panic!("it panicked"),
        };
        assert_eq!(e.panic_message(), Some("located 42"));
        let loc = e.panic_location().unwrap_or_default();
        assert!(
            loc.starts_with(&format!("{}:{line}:", file!())),
            "{loc} vs {}:{line}",
            file!()
        );
        let text = e.to_string();
        assert!(text.starts_with("coroutine panicked at "), "{text}");
        assert!(text.ends_with(": located 42"), "{text}");
    }

    /// A payload re-raised with `resume_unwind` never reaches the hook: it
    /// must not be given the location of an earlier panic the coroutine
    /// caught.
    #[test]
    fn a_resumed_payload_gets_no_stale_location() {
        let h = crate::spawn(|| {
            let caught = std::panic::catch_unwind(|| panic!("caught"));
            assert!(caught.is_err());
            std::panic::resume_unwind(Box::new(String::from("resumed")))
        });
        let e = match h.join() {
            Err(e) => e,
            Ok(()) => panic!("it panicked"),
        };
        assert_eq!(e.panic_message(), Some("resumed"));
        assert_eq!(e.panic_location(), None);
    }
}
