//! Model-based randomized tests of coroutine lifecycles: `spawn`,
//! `spawn_later`, `join`, `joinall`, `green::wait`, `kill`, `kill_nowait`,
//! `join_timeout`, `on_finish`, and `green::pool::{Pool, Group}`. Seeded
//! random mixes across many coroutines, checked after every step against a
//! small reference model: every coroutine ends exactly one way and `join`
//! reports that way; one killed before it ran never runs; a `false` from
//! `join_timeout` means not finished; `wait` returns exactly the finished
//! indexes; interrupted waiters leave no entry on a joiners list; callbacks
//! run once each, in order; a pool never runs more than its size; and task
//! records all come back once everything has ended.
//!
//! Seed: `GREEN_SEED`; operations per test: `GREEN_MODEL_OPS` (see
//! `common/model.rs`). Both are printed on start and on failure.

mod common;
#[path = "common/model.rs"]
mod model;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use green::pool::{Group, Pool};
use green::sync::Event;
use green::{JoinError, JoinHandle};
use model::{drive, run_model, OnDrop, Plan, World};

/// Default operations per test: quick in a debug `cargo test`.
const OPS: usize = 4000;
/// Targets tracked at once (keeps the per-step check cheap).
const LIVE: usize = 24;

/// How a target coroutine ended, as it saw it.
#[derive(Copy, Clone, PartialEq, Debug)]
enum End {
    Returned,
    Panicked,
    Killed,
}

/// What a target does once it runs.
#[derive(Copy, Clone, PartialEq, Debug)]
enum Script {
    /// Returns at once.
    Quick,
    /// Returns after a few pauses.
    Steps(u8),
    /// Panics after a few pauses.
    Panic(u8),
    /// Parks on the gate (no timer) until the run ends or it is killed.
    Gate,
}

/// Reference model of one target coroutine.
struct Target {
    n: u64,
    script: Script,
    /// Gets `on_finish` callbacks.
    linkable: bool,
    h: RefCell<Option<Rc<JoinHandle<u64>>>>,
    started: Cell<bool>,
    /// Killed before it started: it must never start.
    never_run: Cell<bool>,
    end: Cell<Option<End>>,
    links_added: Cell<usize>,
    links_run: RefCell<Vec<usize>>,
    /// Callers parked on this target's handle right now (an upper bound on
    /// its joiners list).
    waiters: Cell<usize>,
}

impl Target {
    fn value(&self) -> u64 {
        self.n * 7 + 1
    }
    fn handle(&self) -> Option<Rc<JoinHandle<u64>>> {
        self.h.borrow().clone()
    }
    /// Ends by itself (without the gate or a kill).
    fn finite(&self) -> bool {
        self.script != Script::Gate
    }
}

/// Shared state of one lifecycle run.
struct Life {
    w: Rc<World>,
    live: RefCell<Vec<Rc<Target>>>,
    /// Every target ever spawned, for the final accounting.
    all: RefCell<Vec<Rc<Target>>>,
    gate: Event,
    errors: RefCell<Vec<String>>,
}

impl Life {
    fn fail(&self, msg: String) {
        self.errors.borrow_mut().push(msg);
    }
    fn pick(&self) -> Option<Rc<Target>> {
        let live = self.live.borrow();
        if live.is_empty() {
            return None;
        }
        Some(live[self.w.below(live.len() as u64) as usize].clone())
    }
    fn retire(&self, t: &Rc<Target>) {
        self.live.borrow_mut().retain(|x| !Rc::ptr_eq(x, t));
    }
}

/// Held while a caller is parked on a target's handle.
fn waiting(t: &Target) -> OnDrop<impl FnMut() + '_> {
    t.waiters.set(t.waiters.get() + 1);
    OnDrop(move || t.waiters.set(t.waiters.get() - 1))
}

/// Captured in a target's closure: records a kill (an unwind, or the
/// closure dropped unrun) if the target did not record its own end.
struct Fate(Rc<Target>);

impl Drop for Fate {
    fn drop(&mut self) {
        if self.0.end.get().is_none() {
            self.0.end.set(Some(End::Killed));
        }
    }
}

fn set_end(l: &Life, t: &Target, e: End) {
    if let Some(old) = t.end.get() {
        l.fail(format!(
            "target {} ended twice: {old:?} then {e:?} ({})",
            t.n,
            l.w.at()
        ));
    }
    t.end.set(Some(e));
}

fn target_body(l: &Rc<Life>, t: &Rc<Target>) -> impl FnOnce() -> u64 + 'static {
    let fate = Fate(t.clone());
    let l = l.clone();
    move || {
        let fate = fate;
        let t = &fate.0;
        if t.never_run.get() {
            l.fail(format!(
                "target {} was killed before it ran, yet it ran ({})",
                t.n,
                l.w.at()
            ));
        }
        t.started.set(true);
        match t.script {
            Script::Quick => {}
            Script::Steps(k) => {
                for _ in 0..k {
                    l.w.pause();
                }
            }
            Script::Panic(k) => {
                for _ in 0..k {
                    l.w.pause();
                }
                set_end(&l, t, End::Panicked);
                panic!("target {} panics", t.n);
            }
            Script::Gate => l.gate.wait(),
        }
        set_end(&l, t, End::Returned);
        t.value()
    }
}

/// Compare a join result with the model.
fn check_result(l: &Life, t: &Target, r: Result<&u64, &JoinError>, what: &str) {
    let end = t.end.get();
    let ok = match (r, end) {
        (Ok(v), Some(End::Returned)) => *v == t.value(),
        (Err(JoinError::Panicked(_)), Some(End::Panicked)) => r
            .err()
            .and_then(|e| e.panic_message())
            .is_some_and(|m| m == format!("target {} panics", t.n)),
        (Err(JoinError::Killed), Some(End::Killed)) => true,
        _ => false,
    };
    if !ok {
        l.fail(format!(
            "{what} of target {} reported {:?} but it ended {end:?} ({})",
            t.n,
            r.map_err(|e| format!("{e:?}")),
            l.w.at()
        ));
    }
}

/// Add an `on_finish` callback to `t` that records its run and checks
/// the result it is given. Sometimes it blocks, or kills or joins its own
/// (finishing) task, which must return at once.
fn add_link(l: &Rc<Life>, t: &Rc<Target>, h: &JoinHandle<u64>) {
    let idx = t.links_added.get();
    let finished = h.is_finished();
    t.links_added.set(idx + 1);
    let (l2, t2) = (l.clone(), t.clone());
    let mode = l.w.below(6);
    h.on_finish(move |r| {
        t2.links_run.borrow_mut().push(idx);
        check_result(&l2, &t2, r, "on_finish");
        match mode {
            0 => l2.w.pause(),
            1 => green::sleep(Duration::from_micros(20)),
            2 => {
                if let Some(h) = t2.handle() {
                    h.kill();
                    if !h.join_timeout(Duration::ZERO) {
                        l2.fail(format!(
                            "join_timeout of its own task in on_finish: not finished ({})",
                            l2.w.at()
                        ));
                    }
                }
            }
            _ => {}
        }
    });
    if finished && !t.links_run.borrow().contains(&idx) {
        l.fail(format!(
            "on_finish added after the end did not run at once (target {}, {})",
            t.n,
            l.w.at()
        ));
    }
}

fn spawn_target(l: &Rc<Life>) {
    let w = &l.w;
    let n = l.all.borrow().len() as u64;
    let script = match w.below(10) {
        0 | 1 => Script::Quick,
        2..=5 => Script::Steps(1 + w.below(4) as u8),
        6 => Script::Panic(w.below(3) as u8),
        _ => Script::Gate,
    };
    let t = Rc::new(Target {
        n,
        script,
        linkable: w.chance(50),
        h: RefCell::new(None),
        started: Cell::new(false),
        never_run: Cell::new(false),
        end: Cell::new(None),
        links_added: Cell::new(0),
        links_run: RefCell::new(Vec::new()),
        waiters: Cell::new(0),
    });
    let f = target_body(l, &t);
    let h = match w.below(6) {
        0 => green::spawn_later(w.short(), f),
        1 => green::Builder::new()
            .name(format!("target {n}"))
            .spawn(f)
            .expect("default stack size"),
        _ => green::spawn(f),
    };
    if t.linkable && w.chance(50) {
        add_link(l, &t, &h);
    }
    *t.h.borrow_mut() = Some(Rc::new(h));
    l.all.borrow_mut().push(t.clone());
    l.live.borrow_mut().push(t);
}

fn kill_target(l: &Life, t: &Target, nowait: bool) {
    let Some(h) = t.handle() else { return };
    let was_started = h.is_started();
    let was_finished = h.is_finished();
    if nowait {
        h.kill_nowait();
    } else {
        let _w = waiting(t);
        h.kill();
        if !h.is_finished() {
            l.fail(format!(
                "kill returned before target {} finished ({})",
                t.n,
                l.w.at()
            ));
        }
    }
    if !was_started && !was_finished {
        t.never_run.set(true);
        if t.end.get() != Some(End::Killed) || t.started.get() {
            l.fail(format!(
                "target {} killed before it ran: end {:?}, started {} ({})",
                t.n,
                t.end.get(),
                t.started.get(),
                l.w.at()
            ));
        }
    }
}

fn join_timeout_op(l: &Life, t: &Target, long: bool) {
    let Some(h) = t.handle() else { return };
    let _w = waiting(t);
    let r = if long {
        // A long join cut short by an enclosing timeout: its joiner entry
        // must go.
        match green::timeout(l.w.short(), || h.join_timeout(Duration::from_millis(20))) {
            Ok(r) => r,
            Err(_) => return,
        }
    } else {
        h.join_timeout(l.w.short())
    };
    if r != h.is_finished() {
        l.fail(format!(
            "join_timeout said {r} for target {} but is_finished is {} ({})",
            t.n,
            h.is_finished(),
            l.w.at()
        ));
    }
}

fn wait_op(l: &Life) {
    let w = &l.w;
    let k = 1 + w.below(5) as usize;
    let ts: Vec<Rc<Target>> = (0..k).filter_map(|_| l.pick()).collect();
    let hs: Vec<Rc<JoinHandle<u64>>> = ts.iter().filter_map(|t| t.handle()).collect();
    if hs.len() != ts.len() {
        return;
    }
    let refs: Vec<&dyn green::Waitable> = hs.iter().map(|h| &**h as &dyn green::Waitable).collect();
    let count = w.below(k as u64 + 2) as usize;
    let want = count.min(refs.len());
    let finite = ts.iter().filter(|t| t.finite()).count();
    let mut guards = Vec::new();
    for t in &ts {
        guards.push(waiting(t));
    }
    let (r, timed) = match w.below(4) {
        0 if finite >= want => (green::wait(&refs, count, None), false),
        0 | 1 => (green::wait(&refs, count, Some(w.short())), true),
        2 => (
            green::wait(&refs, count, Some(Duration::from_millis(1))),
            true,
        ),
        _ => match green::timeout(w.short(), || green::wait(&refs, count, None)) {
            Ok(r) => (r, false),
            Err(_) => return,
        },
    };
    let expect: Vec<usize> = (0..refs.len()).filter(|&i| refs[i].is_ready()).collect();
    if r != expect {
        l.fail(format!(
            "wait returned {r:?}, finished are {expect:?} ({})",
            w.at()
        ));
    }
    if !timed && r.len() < want {
        l.fail(format!(
            "wait without timeout returned {} < {want} ({})",
            r.len(),
            w.at()
        ));
    }
}

/// Take the target's handle for a consuming join, if nobody else uses it.
fn take_handle(l: &Life, t: &Rc<Target>) -> Option<JoinHandle<u64>> {
    let rc = t.h.borrow_mut().take()?;
    match Rc::try_unwrap(rc) {
        Ok(h) => {
            l.retire(t);
            Some(h)
        }
        Err(rc) => {
            *t.h.borrow_mut() = Some(rc);
            None
        }
    }
}

fn join_op(l: &Rc<Life>, t: &Rc<Target>) {
    let finished = t.handle().is_some_and(|h| h.is_finished());
    if t.linkable && !finished {
        // Interrupted, the join would drop (detach) the handle.
        return;
    }
    let blocking = t.finite() || finished;
    let Some(h) = take_handle(l, t) else { return };
    let _w = waiting(t);
    if blocking && l.w.chance(70) {
        let r = h.join();
        check_result(l, t, r.as_ref(), "join");
    } else if let Ok(r) = green::timeout(l.w.short(), move || h.join()) {
        check_result(l, t, r.as_ref(), "join in timeout");
    }
    // Else the handle was dropped inside: the target is detached.
}

fn joinall_op(l: &Rc<Life>) {
    let mut ts = Vec::new();
    let mut hs = Vec::new();
    for _ in 0..1 + l.w.below(4) {
        let Some(t) = l.pick() else { break };
        if !t.finite() || t.linkable && !t.handle().is_some_and(|h| h.is_finished()) {
            continue;
        }
        if let Some(h) = take_handle(l, &t) {
            ts.push(t);
            hs.push(h);
        }
    }
    let _ws: Vec<_> = ts.iter().map(|t| waiting(t)).collect();
    for (t, r) in ts.iter().zip(green::joinall(hs)) {
        check_result(l, t, r.as_ref(), "joinall");
    }
}

fn life_run(seed: u64, ops: usize) {
    let records = green::rt::live_records();
    let w = World::new(seed, ops);
    let l = Rc::new(Life {
        w: w.clone(),
        live: RefCell::new(Vec::new()),
        all: RefCell::new(Vec::new()),
        gate: Event::new(),
        errors: RefCell::new(Vec::new()),
    });
    let check = {
        let l = l.clone();
        move || {
            if let Some(e) = l.errors.borrow().first() {
                panic!("{e}");
            }
            for t in l.live.borrow().iter() {
                let run = t.links_run.borrow();
                assert!(
                    run.iter().copied().eq(0..run.len()),
                    "on_finish callbacks of target {} ran as {run:?} ({})",
                    t.n,
                    l.w.at()
                );
                if t.never_run.get() {
                    assert!(!t.started.get(), "killed before it ran, ran ({})", l.w.at());
                }
                let Some(h) = t.handle() else { continue };
                assert_eq!(
                    h.is_started(),
                    t.started.get(),
                    "is_started of target {} ({})",
                    t.n,
                    l.w.at()
                );
                assert!(
                    h.waiting_joiners() <= t.waiters.get(),
                    "target {}: {} joiner entries but {} waiters: an interrupted wait left its entry ({})",
                    t.n,
                    h.waiting_joiners(),
                    t.waiters.get(),
                    l.w.at()
                );
                if h.is_finished() {
                    assert!(
                        t.end.get().is_some(),
                        "finished without an end ({})",
                        l.w.at()
                    );
                    assert_eq!(
                        run.len(),
                        t.links_added.get(),
                        "target {} finished before its on_finish callbacks ran ({})",
                        t.n,
                        l.w.at()
                    );
                }
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let l = l.clone();
        Box::new(move || {
            let w = &l.w;
            while w.tick() {
                let r = w.below(100);
                if r < 14 {
                    if l.live.borrow().len() < LIVE {
                        spawn_target(&l);
                    }
                } else if let Some(t) = l.pick() {
                    match r {
                        14..=23 => kill_target(&l, &t, false),
                        24..=28 => kill_target(&l, &t, true),
                        29..=40 => join_timeout_op(&l, &t, false),
                        41..=46 => join_timeout_op(&l, &t, true),
                        47..=58 => wait_op(&l),
                        59..=68 => join_op(&l, &t),
                        69..=72 => joinall_op(&l),
                        73..=84 if t.linkable => {
                            if let Some(h) = t.handle() {
                                add_link(&l, &t, &h);
                            }
                        }
                        // Detach: the target runs on unobserved.
                        85..=88 => drop(take_handle(&l, &t)),
                        _ => {}
                    }
                }
                w.pause();
            }
        })
    };
    let unblock = || l.gate.set();
    drive(
        &w,
        Plan {
            actors: 6,
            kill_pct: 8,
            must_finish: true,
            nowait: true,
            immune: 0,
        },
        make,
        &check,
        unblock,
    );
    // Every target ends by itself now; nobody waits on any handle.
    let limit = Instant::now() + Duration::from_secs(10);
    let live: Vec<Rc<Target>> = l.live.borrow_mut().drain(..).collect();
    for t in &live {
        let Some(h) = t.h.borrow_mut().take() else {
            continue;
        };
        assert_eq!(
            h.waiting_joiners(),
            0,
            "target {}: joiner entries left after the run",
            t.n
        );
        assert!(
            h.join_timeout(limit.saturating_duration_since(Instant::now())),
            "target {} did not finish after the gate opened",
            t.n
        );
        let h = Rc::try_unwrap(h).expect("nobody else holds the handle");
        let r = h.join();
        check_result(&l, t, r.as_ref(), "final join");
    }
    drop(live);
    // Detached targets: wait until each has ended and run its callbacks.
    for t in l.all.borrow().iter() {
        while (t.end.get().is_none() || t.links_run.borrow().len() < t.links_added.get())
            && Instant::now() < limit
        {
            green::sleep(Duration::from_micros(200));
        }
        assert!(t.end.get().is_some(), "target {} never ended", t.n);
        assert_eq!(
            t.links_run.borrow().len(),
            t.links_added.get(),
            "on_finish callbacks of target {} lost",
            t.n
        );
        if t.never_run.get() {
            assert!(!t.started.get());
        }
    }
    if let Some(e) = l.errors.borrow().first() {
        panic!("{e}");
    }
    // Stale timer entries (longest: a 20 ms join_timeout) pin records until
    // they surface; let them, and let detached results and callback runners
    // finish.
    green::sleep(Duration::from_millis(40));
    drop(check);
    l.all.borrow_mut().clear();
    assert_eq!(
        green::rt::live_records(),
        records,
        "task records leaked over the run ({})",
        w.at()
    );
}

#[test]
fn model_join_lifecycle() {
    run_model("join_lifecycle", OPS, life_run);
}

// ---------------------------------------------------------------- Pool / Group

enum P {
    Pool(Pool),
    Group(Group),
}

impl P {
    fn spawn(&self, f: impl FnOnce() -> u64 + 'static) -> JoinHandle<u64> {
        match self {
            P::Pool(p) => p.spawn(f),
            P::Group(g) => g.spawn(f),
        }
    }
    fn len(&self) -> usize {
        match self {
            P::Pool(p) => p.len(),
            P::Group(g) => g.len(),
        }
    }
    fn join(&self) {
        match self {
            P::Pool(p) => p.join(),
            P::Group(g) => g.join(),
        }
    }
    fn join_timeout(&self, d: Duration) -> bool {
        match self {
            P::Pool(p) => p.join_timeout(d),
            P::Group(g) => g.join_timeout(d),
        }
    }
    fn kill(&self) {
        match self {
            P::Pool(p) => p.kill(),
            P::Group(g) => g.kill(),
        }
    }
}

/// Reference model of one pool member.
struct Mem {
    n: u64,
    panics: bool,
    /// Started while a `kill` of the pool was in progress: must never run.
    doomed: Cell<bool>,
    started: Cell<bool>,
    end: Cell<Option<End>>,
}

struct PoolSt {
    w: Rc<World>,
    p: P,
    size: usize,
    /// Members inside their closure now.
    running: Cell<usize>,
    /// `kill` calls in progress.
    kills: Cell<usize>,
    /// `kill` calls begun so far.
    kill_epoch: Cell<u64>,
    gate: Event,
    handles: RefCell<Vec<(Rc<Mem>, JoinHandle<u64>)>>,
    next: Cell<u64>,
    errors: RefCell<Vec<String>>,
}

impl PoolSt {
    fn fail(&self, msg: String) {
        self.errors.borrow_mut().push(msg);
    }
    /// Held by a member while its closure runs: checks the size bound.
    fn enter(&self) -> OnDrop<impl FnMut() + '_> {
        self.running.set(self.running.get() + 1);
        if self.running.get() > self.size {
            self.fail(format!(
                "{} members running in a pool of {} ({})",
                self.running.get(),
                self.size,
                self.w.at()
            ));
        }
        OnDrop(move || self.running.set(self.running.get() - 1))
    }
}

struct MemFate(Rc<Mem>);

impl Drop for MemFate {
    fn drop(&mut self) {
        if self.0.end.get().is_none() {
            self.0.end.set(Some(End::Killed));
        }
    }
}

fn member(st: &Rc<PoolSt>) -> (Rc<Mem>, impl FnOnce() -> u64 + 'static) {
    let w = &st.w;
    let n = st.next.get();
    st.next.set(n + 1);
    let m = Rc::new(Mem {
        n,
        panics: w.chance(8),
        doomed: Cell::new(false),
        started: Cell::new(false),
        end: Cell::new(None),
    });
    let (st, fate) = (st.clone(), MemFate(m.clone()));
    let steps = w.below(5);
    let gated = w.chance(10);
    let f = move || {
        let fate = fate;
        let m = &fate.0;
        if m.doomed.get() {
            st.fail(format!(
                "member {} started by a spawn during Pool::kill ran ({})",
                m.n,
                st.w.at()
            ));
        }
        m.started.set(true);
        let _in = st.enter();
        for _ in 0..steps {
            st.w.pause();
        }
        if gated {
            st.gate.wait();
        }
        if m.panics {
            m.end.set(Some(End::Panicked));
            panic!("member {} panics", m.n);
        }
        m.end.set(Some(End::Returned));
        m.n * 3
    };
    (m, f)
}

/// A member handle came back from a spawn call: no switch since the member
/// was started, so a kill in progress now was in progress then.
fn spawned(st: &PoolSt, m: Rc<Mem>, h: JoinHandle<u64>) {
    if st.kills.get() > 0 {
        m.doomed.set(true);
    }
    let mut hs = st.handles.borrow_mut();
    hs.push((m, h));
    if hs.len() > 32 {
        // Detach the oldest: it runs on unobserved.
        hs.remove(0);
    }
}

fn check_member(st: &PoolSt, m: &Mem, r: Result<u64, JoinError>) {
    let ok = match (&r, m.end.get()) {
        (Ok(v), Some(End::Returned)) => *v == m.n * 3,
        (Err(JoinError::Panicked(_)), Some(End::Panicked)) => true,
        (Err(JoinError::Killed), Some(End::Killed)) => true,
        _ => false,
    };
    if !ok {
        st.fail(format!(
            "member {} joined as {r:?} but ended {:?} ({})",
            m.n,
            m.end.get(),
            st.w.at()
        ));
    }
}

fn imap_op(st: &Rc<PoolSt>) {
    let w = &st.w;
    let items: Vec<u64> = (0..w.below(6)).map(|_| w.below(20)).collect();
    let epoch = st.kill_epoch.get();
    let killing_at_start = st.kills.get() > 0;
    let st2 = st.clone();
    let f = move |x: u64| {
        let _in = st2.enter();
        st2.w.pause();
        if x % 7 == 3 {
            panic!("item {x} panics");
        }
        x * 2
    };
    let (pool, group) = match &st.p {
        P::Pool(p) => (Some(p), None),
        P::Group(g) => (None, Some(g)),
    };
    let ordered = w.below(3);
    let rs: Vec<Result<u64, JoinError>> = match (ordered, pool, group) {
        (0, Some(p), _) => p.imap(f, items.clone()).collect(),
        (0, _, Some(g)) => g.imap(f, items.clone()).collect(),
        (1, Some(p), _) => p.map(f, items.clone()),
        (1, _, Some(g)) => g.map(f, items.clone()),
        (_, Some(p), _) => p.imap_unordered(f, items.clone()).collect(),
        (_, _, Some(g)) => g.imap_unordered(f, items.clone()).collect(),
        _ => unreachable!(),
    };
    // Jobs started while a kill runs die before they run.
    let killed = killing_at_start || st.kill_epoch.get() != epoch;
    if rs.len() != items.len() {
        st.fail(format!(
            "imap of {} items gave {} results ({})",
            items.len(),
            rs.len(),
            w.at()
        ));
        return;
    }
    let fits = |x: u64, r: &Result<u64, JoinError>| match r {
        Ok(v) => x % 7 != 3 && *v == x * 2,
        Err(JoinError::Panicked(_)) => x % 7 == 3,
        Err(JoinError::Killed) => killed,
    };
    if ordered < 2 {
        for (x, r) in items.iter().zip(&rs) {
            if !fits(*x, r) {
                st.fail(format!(
                    "imap/map out of input order: {items:?} gave {rs:?} ({})",
                    w.at()
                ));
                return;
            }
        }
    } else {
        // Completion order: match results to inputs as a multiset, kills
        // (which fit any input) last.
        let mut left = items.clone();
        let (kills, rest): (Vec<_>, Vec<_>) =
            rs.iter().partition(|r| matches!(r, Err(JoinError::Killed)));
        for r in rest.into_iter().chain(kills) {
            match left.iter().position(|x| fits(*x, r)) {
                Some(i) => {
                    left.swap_remove(i);
                }
                None => {
                    st.fail(format!(
                        "imap_unordered: {items:?} gave {rs:?} ({})",
                        w.at()
                    ));
                    return;
                }
            }
        }
    }
}

fn pool_run(seed: u64, ops: usize, group: bool) {
    let records = green::rt::live_records();
    let w = World::new(seed, ops);
    let size = if group {
        usize::MAX
    } else {
        1 + w.below(4) as usize
    };
    let st = Rc::new(PoolSt {
        w: w.clone(),
        p: if group {
            P::Group(Group::new())
        } else {
            P::Pool(Pool::new(size))
        },
        size,
        running: Cell::new(0),
        kills: Cell::new(0),
        kill_epoch: Cell::new(0),
        gate: Event::new(),
        handles: RefCell::new(Vec::new()),
        next: Cell::new(0),
        errors: RefCell::new(Vec::new()),
    });
    let check = {
        let st = st.clone();
        move || {
            if let Some(e) = st.errors.borrow().first() {
                panic!("{e}");
            }
            let len = st.p.len();
            assert!(len <= st.size, "len {len} over size ({})", st.w.at());
            assert!(
                st.running.get() <= len,
                "{} members running, len {len} ({})",
                st.running.get(),
                st.w.at()
            );
            if let P::Pool(p) = &st.p {
                assert!(
                    p.free_count() <= st.size - len,
                    "free_count ({})",
                    st.w.at()
                );
            }
            for (m, h) in st.handles.borrow().iter() {
                assert_eq!(
                    h.is_started(),
                    m.started.get(),
                    "is_started ({})",
                    st.w.at()
                );
                if m.doomed.get() {
                    assert!(!m.started.get(), "a doomed member ran ({})", st.w.at());
                }
            }
        }
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let st = st.clone();
        Box::new(move || {
            let w = &st.w;
            while w.tick() {
                match (w.below(100), &st.p) {
                    (0..=29, _) => {
                        let (m, f) = member(&st);
                        if w.chance(70) {
                            let h = st.p.spawn(f);
                            spawned(&st, m, h);
                        } else if let Ok(h) = green::timeout(w.short(), || st.p.spawn(f)) {
                            spawned(&st, m, h);
                        }
                    }
                    (30..=39, P::Pool(p)) => {
                        let (m, f) = member(&st);
                        let free = p.free_count();
                        match p.try_spawn(f) {
                            Ok(h) => spawned(&st, m, h),
                            Err(_) if free > 0 => {
                                st.fail(format!("try_spawn refused with {free} free ({})", w.at()))
                            }
                            Err(_) => {}
                        }
                    }
                    (40..=47, P::Pool(p)) => {
                        let (m, f) = member(&st);
                        if let Ok(h) = p.spawn_timeout(w.short(), f) {
                            spawned(&st, m, h);
                        }
                    }
                    (48..=57, _) => {
                        let r = if w.chance(50) {
                            st.p.join_timeout(w.short())
                        } else {
                            green::timeout(w.short(), || st.p.join()).is_ok()
                        };
                        if r && st.p.len() != 0 {
                            st.fail(format!(
                                "pool join returned with {} members ({})",
                                st.p.len(),
                                w.at()
                            ));
                        }
                    }
                    (58..=61, _) => {
                        st.kills.set(st.kills.get() + 1);
                        st.kill_epoch.set(st.kill_epoch.get() + 1);
                        let _k = OnDrop(|| st.kills.set(st.kills.get() - 1));
                        st.p.kill();
                        if st.p.len() != 0 {
                            st.fail(format!(
                                "Pool::kill returned with len {} ({})",
                                st.p.len(),
                                w.at()
                            ));
                        }
                        for (m, h) in st.handles.borrow().iter() {
                            if !h.is_finished() {
                                st.fail(format!(
                                    "member {} alive after Pool::kill ({})",
                                    m.n,
                                    w.at()
                                ));
                            }
                        }
                    }
                    (62..=71, _) => imap_op(&st),
                    (72..=81, _) => {
                        let taken = {
                            let mut hs = st.handles.borrow_mut();
                            if hs.is_empty() {
                                None
                            } else {
                                let i = w.below(hs.len() as u64) as usize;
                                Some(hs.remove(i))
                            }
                        };
                        if let Some((m, h)) = taken {
                            // Blocking only when it ends by itself soon.
                            if h.is_finished() || w.chance(30) {
                                let r = green::timeout(w.short(), move || h.join());
                                if let Ok(r) = r {
                                    check_member(&st, &m, r);
                                }
                            }
                        }
                    }
                    _ => {}
                }
                w.pause();
            }
        })
    };
    let unblock = || st.gate.set();
    drive(
        &w,
        Plan {
            actors: 6,
            kill_pct: 8,
            must_finish: true,
            nowait: true,
            immune: 0,
        },
        make,
        &check,
        unblock,
    );
    assert!(
        st.p.join_timeout(Duration::from_secs(10)),
        "pool members still running after the run"
    );
    assert_eq!(st.p.len(), 0);
    let hs: Vec<_> = st.handles.borrow_mut().drain(..).collect();
    for (m, h) in hs {
        assert!(
            h.join_timeout(Duration::from_secs(5)),
            "member {} stuck",
            m.n
        );
        assert_eq!(
            h.waiting_joiners(),
            0,
            "joiner entries left on member {}",
            m.n
        );
        check_member(&st, &m, h.join());
    }
    if let Some(e) = st.errors.borrow().first() {
        panic!("{e}");
    }
    // Detached members end by themselves (the gate is open).
    green::sleep(Duration::from_millis(40));
    drop(check);
    assert_eq!(
        green::rt::live_records(),
        records,
        "task records leaked over the run ({})",
        w.at()
    );
}

#[test]
fn model_pool() {
    run_model("pool", OPS, |s, n| pool_run(s, n, false));
}

#[test]
fn model_group() {
    run_model("group", OPS, |s, n| pool_run(s, n, true));
}

/// Found by `model_join_lifecycle`: a coroutine whose handle was dropped
/// (detached) used to have its value dropped as it returned, before its
/// `on_finish` callbacks (added while the handle was held) could read it:
/// they panicked inside the runtime and never ran. A detached value is now
/// dropped after its callbacks.
#[test]
fn on_finish_callback_of_a_detached_coroutine_runs_with_its_value() {
    watchdog(10, || {
        let got = Rc::new(Cell::new(None));
        let h = green::spawn(|| 42u64);
        let g = got.clone();
        h.on_finish(move |r| g.set(Some(r.ok().copied())));
        drop(h);
        green::sleep(Duration::from_millis(5));
        assert_eq!(
            got.get(),
            Some(Some(42)),
            "the callback did not run with the coroutine's value"
        );
    });
}
