//! Model-based randomized tests of every `green::sync` primitive: seeded
//! random mixes of blocking, try, timed, timeout-wrapped and killed
//! operations across many coroutines, with the primitive's invariants
//! checked after every step against a small reference model (who may hold
//! what, FIFO service, permits conserved, wake-ups not lost).
//!
//! Seed: `GREEN_SEED`; operations per test: `GREEN_MODEL_OPS` (see
//! `common/model.rs`). Both are printed on start and on failure.

mod common;
#[path = "common/model.rs"]
mod model;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::hang::watchdog;
use green::sync::{
    AsyncResult, Barrier, BoundedSemaphore, Condvar, Event, Mutex, ReentrantMutex, RwLock,
    Semaphore, WaitGroup,
};
use model::{drive, run_model, OnDrop, Plan, World};

/// Default operations per test: quick in a debug `cargo test`.
const OPS: usize = 4000;

/// How an acquisition is attempted.
#[derive(Copy, Clone, PartialEq, Debug)]
enum How {
    Blocking,
    Try,
    Timed,
    /// A blocking call inside `green::timeout`.
    Wrapped,
}

/// Acquire as `h` says; FIFO-checked when the acquisition queued.
fn take<G>(
    w: &World,
    h: How,
    fifo: &Fifo,
    what: &str,
    try_: impl Fn() -> Option<G>,
    block: impl Fn() -> G,
    timed: impl Fn(Duration) -> Option<G>,
) -> Option<G> {
    if let Some(g) = try_() {
        return Some(g);
    }
    let t = fifo.ticket();
    let g = match h {
        How::Try => return None,
        How::Blocking => Some(block()),
        How::Timed => timed(w.short()),
        How::Wrapped => green::timeout(w.short(), block).ok(),
    };
    if g.is_some() {
        fifo.served(t, w, what);
    }
    g
}

fn how(w: &World, timed: bool) -> How {
    match w.below(4) {
        0 => How::Blocking,
        1 => How::Try,
        2 if timed => How::Timed,
        2 => How::Blocking,
        _ => How::Wrapped,
    }
}

/// FIFO service: a ticket is drawn when an acquisition has to queue (its
/// non-blocking attempt failed just before, with no switch in between) and
/// recorded when it succeeds; hand-off means queued waiters are served in
/// ticket order (timed-out and killed waiters drop out without a record).
/// Acquisitions that did not queue may legitimately pass a waiter that was
/// granted but has not resumed yet, so they take no ticket.
#[derive(Default)]
struct Fifo {
    next: Cell<u64>,
    served: Cell<u64>,
}

impl Fifo {
    fn ticket(&self) -> u64 {
        self.next.set(self.next.get() + 1);
        self.next.get()
    }
    fn served(&self, t: u64, w: &World, what: &str) {
        // Under schedule perturbation (GREEN_PERTURB) a granted waiter may
        // resume after a later one: grants stay FIFO, resumption order does
        // not, and resumption is all this model can observe.
        if std::env::var_os("GREEN_PERTURB").is_some() {
            return;
        }
        assert!(
            t > self.served.get(),
            "{what}: ticket {t} served after ticket {} (FIFO broken, {})",
            self.served.get(),
            w.at()
        );
        self.served.set(t);
    }
}

fn plan(actors: usize) -> Plan {
    Plan {
        actors,
        kill_pct: 8,
        must_finish: true,
        nowait: true,
        immune: 0,
    }
}

// ---------------------------------------------------------------- Mutex

#[derive(Default)]
struct MutexModel {
    holders: Cell<usize>,
    increments: Cell<u64>,
    fifo: Fifo,
}

fn mutex_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let m = Rc::new(Mutex::new(0u64));
    let st = Rc::new(MutexModel::default());
    let check = {
        let (m, st, w) = (m.clone(), st.clone(), w.clone());
        move || {
            assert!(st.holders.get() <= 1, "two mutex holders ({})", w.at());
            if st.holders.get() == 1 {
                assert!(m.is_locked(), "held but unlocked ({})", w.at());
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (m, st, w) = (m.clone(), st.clone(), w.clone());
        Box::new(move || {
            while w.tick() {
                let h = how(&w, true);
                let g = take(
                    &w,
                    h,
                    &st.fifo,
                    "Mutex",
                    || m.try_lock(),
                    || m.lock(),
                    |d| m.lock_timeout(d),
                );
                let Some(mut g) = g else {
                    w.pause();
                    continue;
                };
                st.holders.set(st.holders.get() + 1);
                assert_eq!(st.holders.get(), 1, "two mutex holders ({})", w.at());
                let _held = OnDrop(|| st.holders.set(st.holders.get() - 1));
                *g += 1;
                st.increments.set(st.increments.get() + 1);
                w.pause();
            }
        })
    };
    drive(&w, plan(6), make, &check, || {});
    assert!(!m.is_locked(), "mutex still locked at the end");
    assert_eq!(*m.try_lock().expect("free at the end"), st.increments.get());
}

#[test]
fn model_mutex() {
    run_model("mutex", OPS, mutex_run);
}

// ---------------------------------------------------------------- RwLock

#[derive(Default)]
struct RwModel {
    readers: Cell<usize>,
    writers: Cell<usize>,
    fifo: Fifo,
}

fn rwlock_run(seed: u64, ops: usize, timed: bool) {
    let w = World::new(seed, ops);
    let l = Rc::new(RwLock::new(0u64));
    let st = Rc::new(RwModel::default());
    let check = {
        let (l, st, w) = (l.clone(), st.clone(), w.clone());
        move || {
            let (r, wr) = (st.readers.get(), st.writers.get());
            assert!(wr <= 1, "two writers ({})", w.at());
            assert!(wr == 0 || r == 0, "a writer with readers ({})", w.at());
            if r > 0 {
                assert!(
                    !l.is_write_locked(),
                    "readers inside a write lock ({})",
                    w.at()
                );
                assert!(l.reader_count() >= r, "reader count lost ({})", w.at());
            }
            if wr > 0 {
                assert!(
                    l.is_write_locked(),
                    "writer inside, lock not write-locked ({})",
                    w.at()
                );
                assert_eq!(
                    l.reader_count(),
                    0,
                    "readers counted under a writer ({})",
                    w.at()
                );
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (l, st, w, check) = (l.clone(), st.clone(), w.clone(), check.clone());
        Box::new(move || {
            while w.tick() {
                let h = how(&w, timed);
                if w.chance(60) {
                    let g = take(
                        &w,
                        h,
                        &st.fifo,
                        "RwLock",
                        || l.try_read(),
                        || l.read(),
                        |d| l.read_timeout(d),
                    );
                    let Some(g) = g else {
                        check();
                        w.pause();
                        continue;
                    };
                    st.readers.set(st.readers.get() + 1);
                    let _held = OnDrop(|| st.readers.set(st.readers.get() - 1));
                    check();
                    let _ = *g;
                    w.pause();
                } else {
                    let g = take(
                        &w,
                        h,
                        &st.fifo,
                        "RwLock",
                        || l.try_write(),
                        || l.write(),
                        |d| l.write_timeout(d),
                    );
                    let Some(mut g) = g else {
                        check();
                        w.pause();
                        continue;
                    };
                    st.writers.set(st.writers.get() + 1);
                    let _held = OnDrop(|| st.writers.set(st.writers.get() - 1));
                    check();
                    *g += 1;
                    w.pause();
                }
            }
        })
    };
    drive(&w, plan(7), make, &check, || {});
    assert_eq!(l.reader_count(), 0, "readers left at the end");
    assert!(!l.is_write_locked(), "write-locked at the end");
    assert!(l.try_write().is_some(), "not writable at the end");
}

#[test]
fn model_rwlock() {
    run_model("rwlock", OPS, |s, n| rwlock_run(s, n, false));
}

#[test]
fn model_rwlock_with_timed_acquisitions() {
    run_model("rwlock_timed", OPS, |s, n| rwlock_run(s, n, true));
}

#[test]
fn rwlock_read_timeout_that_times_out_leaves_the_writer_alone() {
    watchdog(10, || {
        let l = RwLock::new(());
        let g = l.write();
        assert!(l.read_timeout(Duration::from_millis(1)).is_none());
        assert!(l.is_write_locked());
        assert_eq!(l.reader_count(), 0);
        drop(g);
    });
}

#[test]
fn rwlock_write_timeout_that_times_out_leaves_the_writer_alone() {
    watchdog(10, || {
        let l = RwLock::new(());
        let g = l.write();
        assert!(l.write_timeout(Duration::from_millis(1)).is_none());
        assert!(
            l.is_write_locked(),
            "a timed-out write_timeout unlocked the holder's lock"
        );
        assert!(l.try_read().is_none());
        drop(g);
    });
}

// ---------------------------------------------------------------- ReentrantMutex

#[derive(Default)]
struct ReModel {
    owner: Cell<Option<u64>>,
    depth: Cell<usize>,
    fifo: Fifo,
}

/// One level of holding, in the model: undone when dropped.
fn level(st: &ReModel) -> OnDrop<impl FnMut() + '_> {
    OnDrop(move || {
        st.depth.set(st.depth.get() - 1);
        if st.depth.get() == 0 {
            st.owner.set(None);
        }
    })
}

fn reentrant_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let l = Rc::new(ReentrantMutex::new(()));
    let st = Rc::new(ReModel::default());
    let check = {
        let (l, st, w) = (l.clone(), st.clone(), w.clone());
        move || {
            if st.owner.get().is_some() {
                assert_eq!(l.lock_count(), st.depth.get(), "lock count ({})", w.at());
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (l, st, w, check) = (l.clone(), st.clone(), w.clone(), check.clone());
        Box::new(move || {
            let me = green::current().expect("in a coroutine").id();
            while w.tick() {
                let h = how(&w, true);
                let g = take(
                    &w,
                    h,
                    &st.fifo,
                    "ReentrantMutex",
                    || l.try_lock(),
                    || l.lock(),
                    |d| l.lock_timeout(d),
                );
                let Some(g) = g else {
                    w.pause();
                    continue;
                };
                assert_eq!(st.owner.get(), None, "two owners ({})", w.at());
                st.owner.set(Some(me));
                st.depth.set(1);
                // Model first, so it is updated before the lock hands over.
                let mut held = vec![(level(&st), g)];
                check();
                for _ in 0..w.below(4) {
                    w.pause();
                    let g = match w.below(3) {
                        0 => l.lock(),
                        1 => l.try_lock().expect("owner's try_lock"),
                        _ => l
                            .lock_timeout(Duration::ZERO)
                            .expect("owner's lock_timeout"),
                    };
                    st.depth.set(st.depth.get() + 1);
                    held.push((level(&st), g));
                    check();
                }
                while let Some(x) = held.pop() {
                    w.pause();
                    drop(x);
                    check();
                }
            }
        })
    };
    drive(&w, plan(6), make, &check, || {});
    assert_eq!(l.lock_count(), 0, "reentrant lock held at the end");
}

#[test]
fn model_reentrant_mutex() {
    run_model("reentrant", OPS, reentrant_run);
}

// ---------------------------------------------------------------- Semaphore

enum Sem {
    Plain(Semaphore),
    Bounded(BoundedSemaphore),
}

impl Sem {
    fn acquire(&self) -> green::sync::SemaphorePermit<'_> {
        match self {
            Sem::Plain(s) => s.acquire(),
            Sem::Bounded(s) => s.acquire(),
        }
    }
    fn try_acquire(&self) -> Option<green::sync::SemaphorePermit<'_>> {
        match self {
            Sem::Plain(s) => s.try_acquire(),
            Sem::Bounded(s) => s.try_acquire(),
        }
    }
    fn acquire_timeout(&self, d: Duration) -> Option<green::sync::SemaphorePermit<'_>> {
        match self {
            Sem::Plain(s) => s.acquire_timeout(d),
            Sem::Bounded(s) => s.acquire_timeout(d),
        }
    }
    fn available(&self) -> usize {
        match self {
            Sem::Plain(s) => s.available(),
            Sem::Bounded(s) => s.available(),
        }
    }
    fn release(&self) -> bool {
        match self {
            Sem::Plain(s) => {
                s.release();
                true
            }
            Sem::Bounded(s) => s.release().is_ok(),
        }
    }
}

#[derive(Default)]
struct SemModel {
    permits: Cell<usize>,
    holders: Cell<usize>,
    forgotten: Cell<usize>,
    fifo: Fifo,
}

fn semaphore_run(seed: u64, ops: usize, bounded: bool) {
    let w = World::new(seed, ops);
    let n = 1 + w.below(3) as usize;
    let s = Rc::new(if bounded {
        Sem::Bounded(BoundedSemaphore::new(n))
    } else {
        Sem::Plain(Semaphore::new(n))
    });
    let st = Rc::new(SemModel::default());
    st.permits.set(n);
    let check = {
        let (s, st, w) = (s.clone(), st.clone(), w.clone());
        move || {
            let used = st.holders.get() + st.forgotten.get();
            assert!(
                used <= st.permits.get(),
                "more holders than permits ({})",
                w.at()
            );
            assert!(
                s.available() + used <= st.permits.get(),
                "permit created from nothing: available {} + used {used} > {} ({})",
                s.available(),
                st.permits.get(),
                w.at()
            );
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (s, st, w, check) = (s.clone(), st.clone(), w.clone(), check.clone());
        Box::new(move || {
            while w.tick() {
                if st.forgotten.get() > 0 && w.chance(15) {
                    assert!(
                        s.release(),
                        "releasing a forgotten permit failed ({})",
                        w.at()
                    );
                    st.forgotten.set(st.forgotten.get() - 1);
                    check();
                    continue;
                }
                if w.chance(3) {
                    match &*s {
                        Sem::Bounded(b) if b.available() == st.permits.get() => {
                            assert!(
                                b.release().is_err(),
                                "bounded release over the limit ({})",
                                w.at()
                            );
                        }
                        Sem::Plain(p) if w.chance(30) => {
                            p.add_permits(1);
                            st.permits.set(st.permits.get() + 1);
                        }
                        _ => {}
                    }
                    continue;
                }
                let h = how(&w, true);
                let p = take(
                    &w,
                    h,
                    &st.fifo,
                    "Semaphore",
                    || s.try_acquire(),
                    || s.acquire(),
                    |d| s.acquire_timeout(d),
                );
                let Some(p) = p else {
                    w.pause();
                    continue;
                };
                st.holders.set(st.holders.get() + 1);
                check();
                // Not once the run ends: nobody would give it back.
                if !w.done() && w.chance(10) {
                    p.forget();
                    st.holders.set(st.holders.get() - 1);
                    st.forgotten.set(st.forgotten.get() + 1);
                    continue;
                }
                let _held = OnDrop(|| st.holders.set(st.holders.get() - 1));
                w.pause();
                drop(p);
            }
        })
    };
    // Forgotten permits come back so that parked acquirers can finish.
    let unblock = || {
        for _ in 0..st.forgotten.get() {
            assert!(s.release());
        }
        st.forgotten.set(0);
    };
    drive(&w, plan(7), make, &check, unblock);
    assert_eq!(
        s.available() + st.forgotten.get(),
        st.permits.get(),
        "permits leaked (available {}, forgotten {}, total {})",
        s.available(),
        st.forgotten.get(),
        st.permits.get()
    );
    for _ in 0..st.forgotten.get() {
        assert!(s.release());
    }
    assert_eq!(s.available(), st.permits.get());
    assert!(
        s.release() != bounded,
        "bounded release past the limit accepted"
    );
}

#[test]
fn model_semaphore() {
    run_model("semaphore", OPS, |s, n| semaphore_run(s, n, false));
}

#[test]
fn model_bounded_semaphore() {
    run_model("bounded_semaphore", OPS, |s, n| semaphore_run(s, n, true));
}

// ---------------------------------------------------------------- Event

fn event_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let ev = Rc::new(Event::new());
    let flag = Rc::new(Cell::new(false));
    let sets = Rc::new(Cell::new(0u64));
    let check = {
        let (ev, flag, w) = (ev.clone(), flag.clone(), w.clone());
        move || assert_eq!(ev.is_set(), flag.get(), "event flag ({})", w.at())
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (ev, flag, sets, w) = (ev.clone(), flag.clone(), sets.clone(), w.clone());
        Box::new(move || {
            while w.tick() {
                let (was, s0) = (flag.get(), sets.get());
                match w.below(10) {
                    0 | 1 => {
                        ev.set();
                        flag.set(true);
                        sets.set(sets.get() + 1);
                    }
                    2 | 3 => {
                        ev.clear();
                        flag.set(false);
                    }
                    4 | 5 => {
                        ev.wait();
                        assert!(was || sets.get() > s0, "woke without a set ({})", w.at());
                    }
                    6 | 7 => {
                        if ev.wait_timeout(w.short()) {
                            assert!(was || sets.get() > s0, "woke without a set ({})", w.at());
                        } else {
                            assert!(!flag.get(), "timed out while set ({})", w.at());
                        }
                    }
                    8 => {
                        // Long enough that a set during the wait must wake it
                        // first (C17): a `false` with a set in between is a
                        // lost wake-up.
                        if !ev.wait_timeout(Duration::from_secs(1)) {
                            assert_eq!(sets.get(), s0, "a set did not wake a waiter ({})", w.at());
                        }
                    }
                    _ => {
                        if green::timeout(w.short(), || ev.wait()).is_ok() {
                            assert!(was || sets.get() > s0, "woke without a set ({})", w.at());
                        }
                    }
                }
                w.pause();
            }
        })
    };
    let unblock = || {
        ev.set();
        flag.set(true);
        sets.set(sets.get() + 1);
    };
    drive(&w, plan(8), make, &check, unblock);
}

#[test]
fn model_event() {
    run_model("event", OPS, event_run);
}

// ---------------------------------------------------------------- AsyncResult

type Round = Rc<(AsyncResult<u64, u64>, RefCell<Option<Result<u64, u64>>>)>;

fn async_result_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let rounds: Rc<RefCell<Vec<Round>>> = Rc::new(RefCell::new(vec![Rc::default()]));
    let check = {
        let (rounds, w) = (rounds.clone(), w.clone());
        move || {
            for r in rounds.borrow().iter() {
                assert_eq!(r.0.try_get(), *r.1.borrow(), "stored outcome ({})", w.at());
                assert_eq!(r.0.is_ready(), r.1.borrow().is_some());
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (rounds, w) = (rounds.clone(), w.clone());
        Box::new(move || {
            while w.tick() {
                let r = {
                    let rs = rounds.borrow();
                    rs[rs.len() - 1 - w.below(rs.len().min(3) as u64) as usize].clone()
                };
                let now = || *r.1.borrow();
                match w.below(9) {
                    0 | 1 => {
                        let v = w.below(1000);
                        let out = if w.chance(70) { Ok(v) } else { Err(v) };
                        r.0.put(out);
                        *r.1.borrow_mut() = Some(out);
                    }
                    2 => {
                        if rounds.borrow().len() < 64 {
                            rounds.borrow_mut().push(Rc::default());
                        }
                    }
                    3 | 4 => assert_eq!(Some(r.0.get()), now(), "get ({})", w.at()),
                    5 | 6 => {
                        let got = r.0.get_timeout(w.short());
                        assert_eq!(got, now(), "get_timeout ({})", w.at());
                    }
                    7 => assert_eq!(r.0.try_get(), now(), "try_get ({})", w.at()),
                    _ => {
                        if let Ok(got) = green::timeout(w.short(), || r.0.get()) {
                            assert_eq!(Some(got), now(), "wrapped get ({})", w.at());
                        }
                    }
                }
                w.pause();
            }
        })
    };
    let unblock = || {
        for r in rounds.borrow().iter() {
            if r.1.borrow().is_none() {
                r.0.set(0);
                *r.1.borrow_mut() = Some(Ok(0));
            }
        }
    };
    drive(&w, plan(8), make, &check, unblock);
}

#[test]
fn model_async_result() {
    run_model("async_result", OPS, async_result_run);
}

// ---------------------------------------------------------------- Condvar

#[derive(Default)]
struct CvModel {
    produced: Cell<u64>,
    consumed: Cell<u64>,
    holders: Cell<usize>,
}

fn condvar_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let pair = Rc::new((Mutex::new(0u64), Condvar::new()));
    let st = Rc::new(CvModel::default());
    let check = {
        let (pair, st, w) = (pair.clone(), st.clone(), w.clone());
        move || {
            assert!(st.holders.get() <= 1, "two holders ({})", w.at());
            if let Some(g) = pair.0.try_lock() {
                assert_eq!(
                    *g,
                    st.produced.get() - st.consumed.get(),
                    "tokens ({})",
                    w.at()
                );
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (pair, st, w) = (pair.clone(), st.clone(), w.clone());
        Box::new(move || {
            let (m, cv) = (&pair.0, &pair.1);
            let enter = || {
                st.holders.set(st.holders.get() + 1);
                assert_eq!(
                    st.holders.get(),
                    1,
                    "condvar re-took a held mutex ({})",
                    w.at()
                );
            };
            let leave = || st.holders.set(st.holders.get() - 1);
            while w.tick() {
                if w.chance(40) {
                    let mut g = m.lock();
                    enter();
                    let _held = OnDrop(leave);
                    w.pause();
                    *g += 1;
                    st.produced.set(st.produced.get() + 1);
                    if w.chance(70) {
                        cv.notify_one();
                    } else {
                        cv.notify_all();
                    }
                    continue;
                }
                let consume = |g: &mut green::sync::MutexGuard<'_, u64>| {
                    assert!(m.is_locked());
                    if **g > 0 {
                        **g -= 1;
                        st.consumed.set(st.consumed.get() + 1);
                    }
                };
                let mut g = m.lock();
                enter();
                match w.below(3) {
                    0 => {
                        leave();
                        g = cv.wait_while(g, |t| *t == 0);
                        enter();
                    }
                    1 => {
                        leave();
                        let (g2, _) = cv.wait_timeout(g, w.short());
                        g = g2;
                        enter();
                    }
                    _ => {
                        leave();
                        let r = green::timeout(w.short(), || {
                            let g = cv.wait_while(g, |t| *t == 0);
                            enter();
                            g
                        });
                        match r {
                            Ok(g2) => g = g2,
                            // The guard was consumed: not held now.
                            Err(_) => continue,
                        }
                    }
                }
                consume(&mut g);
                leave();
                drop(g);
                w.pause();
            }
        })
    };
    let unblock = || {
        let mut g = pair.0.lock();
        *g += 1000;
        st.produced.set(st.produced.get() + 1000);
        pair.1.notify_all();
    };
    drive(&w, plan(7), make, &check, unblock);
}

#[test]
fn model_condvar() {
    run_model("condvar", OPS, condvar_run);
}

// ---------------------------------------------------------------- Barrier

fn barrier_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let n = 2 + w.below(3) as usize;
    let b = Rc::new(Barrier::new(n));
    let waiting = Rc::new(Cell::new(0usize));
    let rounds = Rc::new(Cell::new(0u64));
    let make = |_| -> Box<dyn FnOnce()> {
        let (b, waiting, rounds, w) = (b.clone(), waiting.clone(), rounds.clone(), w.clone());
        Box::new(move || {
            while w.tick() {
                let r0 = rounds.get();
                waiting.set(waiting.get() + 1);
                let _in = OnDrop(|| waiting.set(waiting.get() - 1));
                let r = if w.chance(70) {
                    Some(b.wait())
                } else {
                    green::timeout(w.short(), || b.wait()).ok()
                };
                let Some(r) = r else { continue };
                if r.is_leader() {
                    // Everyone the barrier counted is still in the model.
                    assert!(
                        waiting.get() >= n,
                        "round of {n} ended with {} ({})",
                        waiting.get(),
                        w.at()
                    );
                    rounds.set(rounds.get() + 1);
                } else {
                    assert!(
                        rounds.get() > r0,
                        "woke before the round ended ({})",
                        w.at()
                    );
                }
                drop(_in);
                w.pause();
            }
        })
    };
    let p = Plan {
        must_finish: false,
        ..plan(n + 2)
    };
    drive(&w, p, make, || {}, || {});
    assert_eq!(waiting.get(), 0);
    // Killed and timed-out waiters took their arrivals back: a fresh round
    // needs exactly `n` new arrivals.
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let b = b.clone();
            green::spawn(move || green::timeout(Duration::from_secs(5), || b.wait().is_leader()))
        })
        .collect();
    let leaders = green::joinall(hs)
        .into_iter()
        .map(|r| {
            r.expect("waiter")
                .expect("a fresh round of n did not complete")
        })
        .filter(|l| *l)
        .count();
    assert_eq!(leaders, 1);
    let b2 = b.clone();
    let lone = green::spawn(move || b2.wait());
    assert!(
        !lone.join_timeout(Duration::from_millis(5)),
        "an arrival leaked into the next round"
    );
    lone.kill();
}

#[test]
fn model_barrier() {
    run_model("barrier", OPS, barrier_run);
}

// ---------------------------------------------------------------- WaitGroup

fn wait_group_run(seed: u64, ops: usize) {
    let w = World::new(seed, ops);
    let wg = Rc::new(WaitGroup::new());
    let count = Rc::new(Cell::new(0usize));
    let check = {
        let (wg, count, w) = (wg.clone(), count.clone(), w.clone());
        move || assert_eq!(wg.count(), count.get(), "wait group count ({})", w.at())
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (wg, count, w) = (wg.clone(), count.clone(), w.clone());
        Box::new(move || {
            while w.tick() {
                match w.below(4) {
                    0 | 1 => {
                        wg.add(1);
                        count.set(count.get() + 1);
                        let _job = OnDrop(|| {
                            count.set(count.get() - 1);
                            wg.done();
                        });
                        w.pause();
                        w.pause();
                    }
                    2 => {
                        if w.chance(50) {
                            wg.wait();
                            assert_eq!(count.get(), 0, "wait returned early ({})", w.at());
                        } else if wg.wait_timeout(w.short()) {
                            assert_eq!(count.get(), 0, "wait_timeout true early ({})", w.at());
                        } else {
                            assert!(count.get() > 0, "wait_timeout false at zero ({})", w.at());
                        }
                    }
                    _ => {
                        if green::timeout(w.short(), || wg.wait()).is_ok() {
                            assert_eq!(count.get(), 0, "wrapped wait early ({})", w.at());
                        }
                    }
                }
                w.pause();
            }
        })
    };
    drive(&w, plan(8), make, &check, || {});
    assert_eq!(wg.count(), 0);
}

#[test]
fn model_wait_group() {
    run_model("wait_group", OPS, wait_group_run);
}
