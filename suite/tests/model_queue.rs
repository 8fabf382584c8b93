//! Model-based randomized tests of the queues (`Queue` bounded/unbounded,
//! `LifoQueue`, `PriorityQueue`, `Channel`) and of `green::xchan` with
//! sender threads: seeded random mixes of blocking, try, timed,
//! timeout-wrapped and killed puts and gets, with a ledger that checks
//! every item ends exactly one way (got once, handed back to its putter, or
//! dropped only if its putter was cut short inside `put`), plus the order
//! each type promises and the capacity (after every step, also right after
//! a getter that was handed an item is killed before it could take it).
//!
//! Seed: `GREEN_SEED`; operations per test: `GREEN_MODEL_OPS`.

mod common;
#[path = "common/model.rs"]
mod model;

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use green::queue::{Channel, LifoQueue, PriorityQueue, Queue};
use model::{drive, run_model, OnDrop, Plan, World};

const OPS: usize = 4000;

/// What happened to each item, by id.
#[derive(Default)]
struct Ledger {
    got: RefCell<Vec<u8>>,
    returned: RefCell<Vec<u8>>,
    dropped: RefCell<Vec<u8>>,
    /// The putter was cut short inside `put`: the item may be lost.
    in_doubt: RefCell<Vec<bool>>,
    /// Getters that unwound out of a get (they may reorder items).
    getter_kills: Cell<u64>,
    /// Getters inside a get call: one may hold an earlier item, handed
    /// over but not yet resumed.
    in_get: Cell<usize>,
    /// Last sequence number got, per putter.
    last: RefCell<HashMap<u64, u64>>,
}

struct It {
    id: usize,
    key: u8,
    putter: u64,
    seq: u64,
    /// `getter_kills` when it was put.
    epoch: u64,
    led: Rc<Ledger>,
    settled: bool,
}

impl Drop for It {
    fn drop(&mut self) {
        if !self.settled {
            self.led.dropped.borrow_mut()[self.id] += 1;
        }
    }
}

// Priority order: by key only, so that ties exercise insertion order.
impl PartialEq for It {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for It {}
impl PartialOrd for It {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for It {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key)
    }
}

#[derive(Copy, Clone, PartialEq, Debug)]
enum Kind {
    Fifo,
    Lifo,
    Prio,
    Chan,
}

enum Q {
    F(Queue<It>),
    L(LifoQueue<It>),
    P(PriorityQueue<It>),
    C(Channel<It>),
}

macro_rules! each {
    ($q:expr, $x:ident => $e:expr, $c:ident => $ce:expr) => {
        match $q {
            Q::F($x) => $e,
            Q::L($x) => $e,
            Q::P($x) => $e,
            Q::C($c) => $ce,
        }
    };
}

impl Q {
    fn put(&self, it: It) -> Result<(), It> {
        each!(self, q => q.put(it), c => c.send(it))
    }
    fn try_put(&self, it: It) -> Result<(), It> {
        each!(self, q => q.try_put(it), c => c.try_send(it))
    }
    fn put_timeout(&self, it: It, d: Duration) -> Result<(), It> {
        each!(self, q => q.put_timeout(it, d), c => c.send_timeout(it, d))
    }
    fn get(&self) -> Option<It> {
        each!(self, q => q.get(), c => c.recv())
    }
    fn try_get(&self) -> Option<It> {
        each!(self, q => q.try_get(), c => c.try_recv())
    }
    fn get_timeout(&self, d: Duration) -> Option<It> {
        each!(self, q => q.get_timeout(d), c => c.recv_timeout(d))
    }
    fn close(&self) {
        each!(self, q => q.close(), c => c.close())
    }
    fn task_done(&self) {
        each!(self, q => q.task_done(), _c => ())
    }
    /// (len, capacity, waiting getters) where the type tells.
    fn shape(&self) -> Option<(usize, usize, usize)> {
        each!(self, q => Some((q.len(), q.capacity().unwrap_or(usize::MAX), q.getters())), _c => None)
    }
    fn unfinished(&self) -> usize {
        each!(self, q => q.unfinished(), _c => 0)
    }
}

struct Shared {
    q: Q,
    kind: Kind,
    led: Rc<Ledger>,
    next_seq: Cell<u64>,
}

impl Shared {
    fn item(&self, putter: u64, key: u8) -> It {
        let id = self.led.got.borrow().len();
        for v in [&self.led.got, &self.led.returned, &self.led.dropped] {
            v.borrow_mut().push(0);
        }
        self.led.in_doubt.borrow_mut().push(false);
        self.next_seq.set(self.next_seq.get() + 1);
        It {
            id,
            key,
            putter,
            seq: self.next_seq.get(),
            epoch: self.led.getter_kills.get(),
            led: self.led.clone(),
            settled: false,
        }
    }
    fn got(&self, mut it: It, w: &World, waited: bool) {
        it.settled = true;
        let n = &mut self.led.got.borrow_mut()[it.id];
        *n += 1;
        assert_eq!(*n, 1, "item {} got twice ({})", it.id, w.at());
        if self.kind == Kind::Fifo || self.kind == Kind::Chan {
            let mut last = self.led.last.borrow_mut();
            let l = last.entry(it.putter).or_insert(0);
            if it.seq < *l {
                assert!(
                    waited || self.led.getter_kills.get() > it.epoch,
                    "FIFO: item seq {} of putter {} after seq {} taken without parking and no getter killed ({})",
                    it.seq,
                    it.putter,
                    *l,
                    w.at()
                );
            }
            *l = (*l).max(it.seq);
        }
        self.q.task_done();
    }
    fn returned(&self, mut it: It) {
        it.settled = true;
        self.led.returned.borrow_mut()[it.id] += 1;
    }
}

fn queue_run(seed: u64, ops: usize, kind: Kind, cap: Option<usize>) {
    let w = World::new(seed, ops);
    let q = match (kind, cap) {
        (Kind::Fifo, None) => Q::F(Queue::unbounded()),
        (Kind::Fifo, Some(n)) => Q::F(Queue::bounded(n)),
        (Kind::Lifo, None) => Q::L(LifoQueue::unbounded()),
        (Kind::Lifo, Some(n)) => Q::L(LifoQueue::bounded(n)),
        (Kind::Prio, None) => Q::P(PriorityQueue::unbounded()),
        (Kind::Prio, Some(n)) => Q::P(PriorityQueue::bounded(n)),
        (Kind::Chan, _) => Q::C(Channel::new()),
    };
    let sh = Rc::new(Shared {
        q,
        kind,
        led: Rc::new(Ledger::default()),
        next_seq: Cell::new(0),
    });
    let putter_ids = Rc::new(Cell::new(0u64));
    let check = {
        let (sh, w) = (sh.clone(), w.clone());
        move || check_bound(&sh, &w)
    };
    let make = |_| -> Box<dyn FnOnce()> {
        let (sh, w, ids) = (sh.clone(), w.clone(), putter_ids.clone());
        Box::new(move || {
            ids.set(ids.get() + 1);
            let me = ids.get();
            while w.tick() {
                let r = w.below(20);
                if r < 9 {
                    let it = sh.item(me, 1 + w.below(3) as u8);
                    let id = it.id;
                    sh.led.in_doubt.borrow_mut()[id] = true;
                    let res = match r % 4 {
                        0 => sh.q.put(it),
                        1 => sh.q.try_put(it),
                        2 => sh.q.put_timeout(it, w.short()),
                        _ => match green::timeout(w.short(), || sh.q.put(it)) {
                            Ok(r) => r,
                            Err(_) => continue, // stays in doubt
                        },
                    };
                    sh.led.in_doubt.borrow_mut()[id] = false;
                    if let Err(it) = res {
                        sh.returned(it);
                    }
                } else if r < 18 {
                    get_step(&sh, &w, r % 4);
                } else if r == 18 {
                    handed_getter_killed(&sh, &w, me);
                } else {
                    order_probe(&sh, &w, me);
                }
                w.pause();
            }
        })
    };
    let unblock = || sh.q.close();
    drive(
        &w,
        Plan {
            actors: 8,
            kill_pct: 8,
            must_finish: true,
            nowait: true,
            immune: 0,
        },
        make,
        &check,
        unblock,
    );
    while let Some(it) = sh.q.try_get() {
        sh.got(it, &w, false);
    }
    let led = &sh.led;
    for id in 0..led.got.borrow().len() {
        let (g, r, d) = (
            led.got.borrow()[id],
            led.returned.borrow()[id],
            led.dropped.borrow()[id],
        );
        assert_eq!(
            g + r + d,
            1,
            "item {id}: got {g}, returned {r}, dropped {d}"
        );
        assert!(
            d == 0 || led.in_doubt.borrow()[id],
            "item {id} lost although its put returned"
        );
    }
    assert_eq!(sh.q.unfinished(), 0, "task_done count");
}

/// C68: the bound holds: stored items never exceed the capacity (a
/// bounded(0) queue stores nothing), also after a getter that was handed an
/// item is killed before taking it.
fn check_bound(sh: &Shared, w: &World) {
    if let Some((len, cap, _)) = sh.q.shape() {
        assert!(len <= cap, "len {len} over capacity {cap} ({})", w.at());
    }
}

/// One get of kind `how` (blocking, try, timed, timeout-wrapped), kept in
/// step with the ledger however it ends.
fn get_step(sh: &Shared, w: &World, how: u64) {
    let armed = Cell::new(true);
    let inside = &sh.led.in_get;
    let _k = OnDrop(|| {
        inside.set(inside.get() - 1);
        if armed.get() {
            let k = &sh.led.getter_kills;
            k.set(k.get() + 1);
        }
    });
    inside.set(inside.get() + 1);
    let got = match how {
        0 => sh.q.get(),
        1 => sh.q.try_get(),
        2 => sh.q.get_timeout(w.short()),
        _ => green::timeout(w.short(), || sh.q.get()).ok().flatten(),
    };
    armed.set(false);
    drop(_k);
    if let Some(it) = got {
        // A getter that parked may resume after later items were taken
        // by others: only its hand-off is ordered.
        sh.got(it, w, how != 1);
    }
}

/// A getter parks, an item is put (handed to the first parked getter,
/// often that one), and the getter is killed before it resumes: the item
/// must go to the next getter or back into the queue, within the bound.
fn handed_getter_killed(sh: &Rc<Shared>, w: &Rc<World>, me: u64) {
    let (s2, w2) = (sh.clone(), w.clone());
    let g = green::spawn(move || get_step(&s2, &w2, 0));
    // Killed if this actor is (the getter must not outlive the run).
    let _g = OnDrop(|| g.kill_nowait());
    green::yield_now();
    let it = sh.item(me, 1 + w.below(3) as u8);
    let id = it.id;
    sh.led.in_doubt.borrow_mut()[id] = true;
    let res = sh.q.try_put(it);
    sh.led.in_doubt.borrow_mut()[id] = false;
    if let Err(it) = res {
        sh.returned(it);
    }
    check_bound(sh, w);
    if w.chance(50) {
        g.kill();
    } else {
        g.kill_nowait();
        green::yield_now();
    }
    check_bound(sh, w);
}

/// Within one step (no switch): two items put without parking come out in
/// the type's order.
fn order_probe(sh: &Shared, w: &World, me: u64) {
    let Some((len, _, getters)) = sh.q.shape() else {
        return;
    };
    if getters > 0 || (sh.kind == Kind::Fifo && len > 0) {
        return;
    }
    let a = sh.item(me, 0);
    let b = sh.item(me, 0);
    let (ia, ib) = (a.id, b.id);
    let ra = sh.q.try_put(a);
    let rb = sh.q.try_put(b);
    let ok_a = ra.is_ok();
    let ok_b = rb.is_ok();
    for r in [ra, rb] {
        if let Err(it) = r {
            sh.returned(it);
        }
    }
    if !ok_a {
        if ok_b {
            let it = sh.q.try_get().expect("probe item");
            sh.got(it, w, false);
        }
        return;
    }
    let first = sh.q.try_get().expect("probe item");
    let want = if sh.kind == Kind::Lifo && ok_b {
        ib
    } else {
        ia
    };
    assert_eq!(first.id, want, "{:?} order ({})", sh.kind, w.at());
    sh.got(first, w, false);
    if ok_b {
        let second = sh.q.try_get().expect("probe item");
        if sh.kind != Kind::Lifo {
            assert_eq!(
                second.id,
                ib,
                "{:?} order of equal items ({})",
                sh.kind,
                w.at()
            );
        }
        sh.got(second, w, false);
    }
}

#[test]
fn model_queue_unbounded() {
    run_model("queue_unbounded", OPS, |s, n| {
        queue_run(s, n, Kind::Fifo, None)
    });
}

#[test]
fn model_queue_bounded() {
    run_model("queue_bounded", OPS, |s, n| {
        // Capacity 0 (a rendezvous that stores nothing), 1 and 2.
        queue_run(s, n, Kind::Fifo, Some((s % 3) as usize))
    });
}

#[test]
fn model_lifo_queue() {
    run_model("lifo", OPS, |s, n| {
        queue_run(s, n, Kind::Lifo, if s % 2 == 0 { None } else { Some(2) })
    });
}

#[test]
fn model_priority_queue() {
    run_model("priority", OPS, |s, n| {
        queue_run(s, n, Kind::Prio, if s % 2 == 0 { None } else { Some(3) })
    });
}

#[test]
fn model_channel() {
    run_model("channel", OPS, |s, n| queue_run(s, n, Kind::Chan, None));
}
