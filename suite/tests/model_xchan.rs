//! Model-based randomized tests of `green::xchan`: several sender OS
//! threads and several receiving coroutines, on one hub thread or on two
//! (the `Receiver` is shared through an `Arc`), doing seeded random mixes of
//! `recv`, `try_recv`, `recv_timeout`, `recv_deadline` and `recv` inside
//! `green::timeout`, while the driver kills receivers. Checked against a
//! ledger: every item sent is received exactly once, or handed back in a
//! `SendError` once the receiver is gone (or dropped with the channel if it
//! was queued then); each hub receives each sender's items in the order
//! sent; items never sit in the channel while receivers park (between send
//! rounds the channel must drain without any further send); and `recv`
//! returns `None` only once every sender is gone.
//!
//! Seed: `GREEN_SEED`; operations per test: `GREEN_MODEL_OPS`.

mod common;
#[path = "common/model.rs"]
mod model;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use green::xchan::{channel, Receiver, SendError, Sender};
use model::{drive, run_model, Plan, Rng, World};

const OPS: usize = 4000;
const SENDERS: usize = 3;
const ROUNDS: u64 = 8;

/// What happened to each item, indexed `sender * quota + seq`.
struct Ledger {
    quota: u64,
    got: Vec<AtomicU8>,
    returned: Vec<AtomicU8>,
    dropped: Vec<AtomicU8>,
    /// Senders that have not yet dropped their `Sender` (decremented just
    /// before the drop, so `recv` returning `None` implies zero).
    alive: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl Ledger {
    fn new(quota: u64) -> Arc<Ledger> {
        let n = (quota as usize) * SENDERS;
        let v = || (0..n).map(|_| AtomicU8::new(0)).collect();
        Arc::new(Ledger {
            quota,
            got: v(),
            returned: v(),
            dropped: v(),
            alive: AtomicUsize::new(SENDERS),
            errors: Mutex::new(Vec::new()),
        })
    }
    fn fail(&self, msg: String) {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg);
    }
    fn first_error(&self) -> Option<String> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .cloned()
    }
}

struct Item {
    s: usize,
    seq: u64,
    led: Arc<Ledger>,
    settled: bool,
}

impl Item {
    fn idx(&self) -> usize {
        self.s * self.led.quota as usize + self.seq as usize
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        if !self.settled {
            self.led.dropped[self.idx()].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs the round structure of the senders: each round every sender sends
/// its share, then (with `quiet`) the coordinator waits for the channel to
/// drain with no sends going on. Items left sitting there while receivers
/// park mean a lost wake-up.
struct Rounds {
    start: Barrier,
    end: Barrier,
}

#[allow(clippy::too_many_arguments)]
fn sender(
    tx: Sender<Item>,
    s: usize,
    led: Arc<Ledger>,
    rounds: Arc<Rounds>,
    seed: u64,
    // Wait for this before sending the second half (receiver-drop test).
    halfway: Option<Arc<Barrier>>,
) {
    let mut rng = Rng::new(seed);
    let per = led.quota / ROUNDS;
    let mut gone = false;
    for round in 0..ROUNDS {
        rounds.start.wait();
        if round == ROUNDS / 2 {
            if let Some(b) = &halfway {
                b.wait();
            }
        }
        for seq in round * per..(round + 1) * per {
            let it = Item {
                s,
                seq,
                led: led.clone(),
                settled: false,
            };
            match tx.send(it) {
                Ok(()) if gone => led.fail(format!(
                    "sender {s}: send of seq {seq} succeeded after an earlier SendError"
                )),
                Ok(()) => {}
                Err(SendError(mut it)) => {
                    it.settled = true;
                    led.returned[it.idx()].fetch_add(1, Ordering::Relaxed);
                    gone = true;
                }
            }
            match rng.below(100) {
                0..=9 => std::thread::yield_now(),
                10 => std::thread::sleep(Duration::from_micros(20)),
                _ => {}
            }
        }
        rounds.end.wait();
    }
    led.alive.fetch_sub(1, Ordering::AcqRel);
    drop(tx);
}

/// Start the sender threads and the round coordinator.
fn start_senders(
    tx: Sender<Item>,
    led: &Arc<Ledger>,
    seed: u64,
    quiet: Option<Arc<Receiver<Item>>>,
    halfway: Option<Arc<Barrier>>,
) -> Vec<ThreadHandle<()>> {
    let rounds = Arc::new(Rounds {
        start: Barrier::new(SENDERS + 1),
        end: Barrier::new(SENDERS + 1),
    });
    let mut ts = Vec::new();
    for s in 0..SENDERS {
        let (tx, led, rounds, halfway) = (tx.clone(), led.clone(), rounds.clone(), halfway.clone());
        let seed = seed.wrapping_mul(31).wrapping_add(s as u64);
        ts.push(std::thread::spawn(move || {
            sender(tx, s, led, rounds, seed, halfway)
        }));
    }
    drop(tx);
    let led = led.clone();
    ts.push(std::thread::spawn(move || {
        for round in 0..ROUNDS {
            rounds.start.wait();
            rounds.end.wait();
            let Some(rx) = &quiet else { continue };
            // Senders are alive and idle now: the receivers must empty the
            // channel without another send to wake them.
            let t = Instant::now();
            while !rx.is_empty() && t.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_micros(200));
            }
            if !rx.is_empty() {
                led.fail(format!(
                    "{} items sat in the channel for 3 s after round {round} while senders were idle: \
                     receivers parked with items queued (lost wake-up)",
                    rx.len()
                ));
            }
        }
    }));
    ts
}

/// Per-hub state of the receivers.
struct Hub {
    w: Rc<World>,
    led: Arc<Ledger>,
    rx: RefCell<Option<Arc<Receiver<Item>>>>,
    /// Per sender: the last sequence number this hub received, plus one.
    last: RefCell<Vec<u64>>,
}

impl Hub {
    fn got(&self, mut it: Item) {
        it.settled = true;
        let n = self.led.got[it.idx()].fetch_add(1, Ordering::Relaxed);
        if n != 0 {
            self.led.fail(format!(
                "item {}/{} received twice ({})",
                it.s,
                it.seq,
                self.w.at()
            ));
        }
        // Taking an item and recording it happen with no switch in between,
        // and the channel is FIFO, so on one hub each sender's items come in
        // the order sent.
        let mut last = self.last.borrow_mut();
        if it.seq < last[it.s] {
            self.led.fail(format!(
                "sender {}: seq {} received after seq {} on the same hub ({})",
                it.s,
                it.seq,
                last[it.s] - 1,
                self.w.at()
            ));
        }
        last[it.s] = it.seq + 1;
    }

    fn ended(&self) {
        if self.led.alive.load(Ordering::Acquire) != 0 {
            self.led.fail(format!(
                "recv returned None while a sender is alive ({})",
                self.w.at()
            ));
        }
    }
}

/// Run receivers on this thread's hub until the budget is spent; with
/// `drain`, each then receives until `None`.
fn receivers(h: &Rc<Hub>, drain: bool) {
    let make = |_| -> Box<dyn FnOnce()> {
        let h = h.clone();
        Box::new(move || {
            let Some(rx) = h.rx.borrow().clone() else {
                return;
            };
            let w = &h.w;
            while w.tick() {
                let got = match w.below(10) {
                    0..=2 if drain => match rx.recv() {
                        Some(it) => Some(it),
                        None => {
                            h.ended();
                            None
                        }
                    },
                    0..=4 => rx.try_recv(),
                    5 | 6 => rx.recv_timeout(w.short()),
                    7 => rx.recv_deadline(Instant::now().checked_add(w.short())),
                    8 => green::timeout(w.short(), || rx.recv()).ok().flatten(),
                    _ => None,
                };
                if let Some(it) = got {
                    h.got(it);
                }
                w.pause();
            }
            if drain {
                while let Some(it) = rx.recv() {
                    h.got(it);
                }
                h.ended();
            }
        })
    };
    let check = || {
        if let Some(e) = h.led.first_error() {
            panic!("{e}");
        }
    };
    let unblock = || {
        if !drain {
            h.rx.borrow_mut().take();
        }
    };
    drive(
        &h.w,
        Plan {
            actors: 5,
            kill_pct: 8,
            must_finish: drain,
            nowait: true,
            immune: 0,
        },
        make,
        check,
        unblock,
    );
}

fn new_hub(seed: u64, ops: usize, led: &Arc<Ledger>, rx: Arc<Receiver<Item>>) -> Rc<Hub> {
    Rc::new(Hub {
        w: World::new(seed, ops),
        led: led.clone(),
        rx: RefCell::new(Some(rx)),
        last: RefCell::new(vec![0; SENDERS]),
    })
}

/// Park this coroutine (not the hub) until the OS threads have ended.
fn join_threads(ts: Vec<ThreadHandle<()>>) {
    let limit = Instant::now() + Duration::from_secs(30);
    for t in ts {
        while !t.is_finished() {
            assert!(Instant::now() < limit, "a sender thread is stuck");
            green::sleep(Duration::from_micros(500));
        }
        if let Err(p) = t.join() {
            std::panic::resume_unwind(p);
        }
    }
}

fn quota(ops: usize) -> u64 {
    ((ops as u64 / SENDERS as u64).max(ROUNDS) / ROUNDS) * ROUNDS
}

/// Every item ended exactly one way.
fn account(led: &Ledger, receiver_dropped: bool) {
    if let Some(e) = led.first_error() {
        panic!("{e}");
    }
    for i in 0..led.got.len() {
        let (g, r, d) = (
            led.got[i].load(Ordering::Relaxed),
            led.returned[i].load(Ordering::Relaxed),
            led.dropped[i].load(Ordering::Relaxed),
        );
        let (s, seq) = (i / led.quota as usize, i % led.quota as usize);
        assert_eq!(
            g + r + d,
            1,
            "item {s}/{seq}: received {g}, returned {r}, dropped {d}"
        );
        if !receiver_dropped {
            assert_eq!(g, 1, "item {s}/{seq} not received");
        }
    }
}

fn one_hub_run(seed: u64, ops: usize) {
    let led = Ledger::new(quota(ops));
    let (tx, rx) = channel();
    let rx = Arc::new(rx);
    let ts = start_senders(tx, &led, seed, Some(rx.clone()), None);
    let h = new_hub(seed, ops, &led, rx);
    receivers(&h, true);
    join_threads(ts);
    account(&led, false);
}

#[test]
fn model_xchan_one_hub() {
    run_model("xchan_one_hub", OPS, one_hub_run);
}

fn two_hubs_run(seed: u64, ops: usize) {
    let led = Ledger::new(quota(ops));
    let (tx, rx) = channel();
    let rx = Arc::new(rx);
    let ts = start_senders(tx, &led, seed, Some(rx.clone()), None);
    let (led2, rx2) = (led.clone(), rx.clone());
    let other_done = Arc::new(AtomicBool::new(false));
    let done2 = other_done.clone();
    let other = std::thread::spawn(move || {
        let h = green::spawn(move || {
            let h = new_hub(seed ^ 0x5555, ops / 2, &led2, rx2);
            receivers(&h, true);
        });
        let r = h.join();
        done2.store(true, Ordering::Release);
        if let Err(green::JoinError::Panicked(p)) = r {
            p.resume_unwind();
        }
    });
    let h = new_hub(seed, ops / 2, &led, rx);
    receivers(&h, true);
    let mut all = ts;
    all.push(other);
    join_threads(all);
    assert!(other_done.load(Ordering::Acquire));
    account(&led, false);
}

#[test]
fn model_xchan_two_hubs() {
    run_model("xchan_two_hubs", OPS, two_hubs_run);
}

fn receiver_dropped_run(seed: u64, ops: usize) {
    let led = Ledger::new(quota(ops));
    let (tx, rx) = channel();
    let halfway = Arc::new(Barrier::new(SENDERS + 1));
    let ts = start_senders(tx, &led, seed, None, Some(halfway.clone()));
    let h = new_hub(seed, ops, &led, Arc::new(rx));
    // No drain: the actors run out of budget, the last `Arc` goes with
    // them, and the senders' second half must all come back.
    receivers(&h, false);
    assert!(h.rx.borrow().is_none());
    let hw = std::thread::spawn(move || {
        halfway.wait();
    });
    let mut all = ts;
    all.push(hw);
    join_threads(all);
    account(&led, true);
    let half = (led.quota / ROUNDS) * (ROUNDS / 2);
    for i in 0..led.got.len() {
        if (i as u64 % led.quota) >= half {
            assert_eq!(
                led.returned[i].load(Ordering::Relaxed),
                1,
                "item {i} sent after the receiver was dropped was not handed back"
            );
        }
    }
}

#[test]
fn model_xchan_receiver_dropped() {
    run_model("xchan_receiver_dropped", OPS, receiver_dropped_run);
}
