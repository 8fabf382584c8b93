//! Differential tester for the monkey hooks: seeded random programs over a
//! handful of fds, run once on a plain thread (no hub: the hooks pass
//! straight through, so this is the C library's own answer) and once inside
//! a coroutine after `patch_all` (the hooks manage the sockets and pipes:
//! non-blocking for real, parking the coroutine), compared step by step.
//!
//! The world (`monkey_support/diff_ops.rs`): a Unix socket pair, a TCP
//! connection, a pipe, an eventfd and a regular file, on fixed numbers.
//! The steps: `dup`/`dup2`/`dup3`/`fcntl(F_DUPFD*)`, `close`,
//! `close_range`, `closefrom`, `fcntl(F_SETFL)`, `ioctl(FIONBIO)`,
//! `setsockopt(SO_RCVTIMEO)`, `shutdown`, `read`/`write`/`recv`/`send`
//! with and without data waiting, `poll` with timeout 0, and stdio over
//! `fdopen` (`fgetc`, `fwrite` + `fflush`, `fclose`). After each step the
//! return value, errno, the bytes read and the fd's `F_GETFL` are compared.
//!
//! A program is made while it runs on the plain thread: before a read that
//! would block (the kernel is asked, with raw system calls no hook sees),
//! the generator has a peer write some bytes on the other end first, or
//! relies on a socket timeout it set, or reads something else; so the plain
//! run never blocks for ever. The coroutine run replays the recorded steps;
//! its peer is a second coroutine that writes only once the reader has
//! parked (if the read blocked the thread instead, the peer would never
//! run, and the watchdog reports the seed).
//!
//! A divergence is reported with its seed and the shortest failing prefix
//! of the program, each step with both outcomes, after being seen again in
//! a replay of that prefix (a timing fluke on loopback TCP is not a
//! divergence).
//!
//! - `GREEN_DIFF_PROGRAMS=<n>`: programs to run (default [`PROGRAMS`], a
//!   few seconds in a debug build).
//! - `GREEN_SEED=<s>`: run program `s` alone (with `GREEN_DIFF_PROGRAMS`:
//!   `n` programs from `s` on).
//! - `GREEN_DIFF_SHOW=1`: print each program and its plain outcomes before
//!   the coroutine run (with `--nocapture`); `GREEN_DIFF_TRACE=1`: print
//!   each step of the coroutine run as it starts (to see the step a hang is
//!   in).
//!
//! Divergences kept on purpose (the monkey crate's *Limits* say why) are
//! skipped by [`intended`]; it lists each one. One limit is avoided instead
//! of skipped, because it would hang the coroutine run rather than differ:
//! a socket made by raw system calls is only put on a number whose last
//! file the C library closed (see `Gen::next_op`).

mod common;
#[path = "monkey_support/diff_ops.rs"]
mod diff_ops;
#[path = "common/model.rs"]
mod model;

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diff_ops::{
    execute, fd, raw_flags, raw_poll, raw_rcvtimeo, raw_write, setup, teardown, Feed, Obs, Op,
    Peer, EVENT, FILE, MAX_OPEN, PIPE, SLOTS, START, TCP, UNIX,
};
use model::Rng;

/// Programs per run by default: a few thousand, a few seconds in debug.
const PROGRAMS: u64 = 3000;
/// The first seed by default (runs are repeatable).
const FIRST_SEED: u64 = 1;
/// Steps per program: between 8 and this.
const MAX_STEPS: u64 = 32;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={v:?} is not a number: {e}"),
    }
}

// ---------------------------------------------------------------- making

/// What the generator knows of the world: which object end each slot
/// names (learned from the plain run's results), and which socket ends
/// were shut for writing.
struct Gen {
    rng: Rng,
    /// The object and end each slot names; objects are numbered as made.
    ends: [Option<(u8, u8)>; SLOTS as usize],
    /// The kind of each object (`UNIX`, `TCP`, ...).
    kinds: Vec<u8>,
    shut_wr: Vec<(u8, u8)>,
    /// Slots whose last file was closed through the C library (or that
    /// never had one): see [`Op::NewPair`]'s rule in `next_op`.
    clean: [bool; SLOTS as usize],
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut ends = [None; SLOTS as usize];
        for (i, e) in START.iter().enumerate() {
            ends[i] = Some(*e);
        }
        Gen {
            rng: Rng::new(seed),
            ends,
            kinds: vec![UNIX, TCP, PIPE, EVENT, FILE],
            shut_wr: Vec::new(),
            clean: std::array::from_fn(|i| i >= START.len()),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn open(&self) -> Vec<u8> {
        (0..SLOTS)
            .filter(|&s| self.ends[s as usize].is_some())
            .collect()
    }

    /// A slot: mostly an open one, sometimes any (closed ones fail with
    /// `EBADF`, or name what a later dup put there).
    fn slot(&mut self) -> u8 {
        let open = self.open();
        if open.is_empty() || self.rng.chance(10) {
            self.below(u64::from(SLOTS)) as u8
        } else {
            self.pick(&open)
        }
    }

    fn data(&mut self) -> Vec<u8> {
        let n = 1 + self.below(48) as usize;
        (0..n).map(|_| b'a' + self.below(26) as u8).collect()
    }

    /// The next step, made for the world as the plain run left it (the
    /// kernel is asked whether a read would block).
    fn next_op(&mut self) -> Op {
        let s = self.slot();
        let open = self.open().len();
        match self.below(100) {
            0..=11 => {
                let n = self.pick(&[1u16, 4, 8, 16, 64]);
                self.reading(s, n, 0, |feed| Op::Read { s, n, feed })
            }
            12..=21 => {
                let n = self.pick(&[1u16, 4, 8, 16, 64]);
                let flags = self.pick(&[
                    0,
                    libc::MSG_DONTWAIT,
                    libc::MSG_PEEK,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                ]);
                self.reading(s, n, flags, |feed| Op::Recv { s, n, flags, feed })
            }
            22..=29 => Op::Write {
                s,
                data: self.data(),
            },
            30..=37 => {
                let flags =
                    self.pick(&[libc::MSG_NOSIGNAL, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT]);
                Op::Send {
                    s,
                    data: self.data(),
                    flags,
                }
            }
            38..=43 => Op::Poll {
                s,
                events: self.pick(&[libc::POLLIN, libc::POLLOUT, libc::POLLIN | libc::POLLOUT]),
            },
            44..=47 => self.reading(s, 4096, 0, |feed| Op::Getc { s, feed }),
            48..=50 => Op::Puts {
                s,
                data: self.data(),
                flush: self.rng.chance(50),
            },
            51..=53 => {
                let modes: [&'static CStr; 7] = [c"r", c"w", c"a", c"r+", c"rb", c"x", c"w+"];
                Op::Fdopen {
                    s,
                    mode: self.pick(&modes),
                }
            }
            54..=59 => Op::SetFl {
                s,
                nonblock: self.rng.chance(50),
            },
            60..=64 => Op::Fionbio {
                s,
                on: self.rng.chance(50),
            },
            65..=68 => Op::RcvTimeo {
                s,
                ms: self.pick(&[0, 3, 8]),
            },
            69..=71 => Op::Shutdown {
                s,
                how: self.pick(&[libc::SHUT_RD, libc::SHUT_WR, libc::SHUT_RDWR]),
            },
            72..=87 if open < MAX_OPEN => match self.below(4) {
                0 => Op::Dup { s },
                1 => Op::DupFd {
                    s,
                    cloexec: self.rng.chance(50),
                },
                2 => Op::Dup2 {
                    s,
                    t: self.below(u64::from(SLOTS)) as u8,
                },
                _ => Op::Dup3 {
                    s,
                    t: self.below(u64::from(SLOTS)) as u8,
                    cloexec: self.rng.chance(50),
                },
            },
            88..=89 => Op::RawClose { s },
            90..=91 if open < MAX_OPEN => Op::NewEventfd {
                t: self.below(u64::from(SLOTS)) as u8,
                nonblock: self.rng.chance(50),
            },
            // A socket made by raw system calls only lands on a number
            // whose last file the C library closed: one replaced behind the
            // hooks' back by a socket in blocking mode is a documented
            // limit (the hooks may take it for the file they knew until a
            // wait shows otherwise, and a read finding no data blocks the
            // thread once).
            92 if open + 1 < MAX_OPEN => {
                let clean: Vec<u8> = (0..SLOTS).filter(|&i| self.clean[i as usize]).collect();
                if clean.len() < 2 {
                    return Op::Close { s };
                }
                let t = self.pick(&clean);
                let u = self.pick(&clean);
                if t == u {
                    return Op::Close { s };
                }
                Op::NewPair { t, u }
            }
            97 => {
                let lo = self.below(u64::from(SLOTS)) as u8;
                let hi = (lo + self.below(3) as u8).min(SLOTS - 1);
                Op::CloseRange { lo, hi }
            }
            98 => Op::Closefrom {
                lo: 4 + self.below(u64::from(SLOTS) - 4) as u8,
            },
            _ => Op::Close { s },
        }
    }

    /// A read of `n` bytes on slot `s` (`flags` for `recv`), made so it
    /// cannot block for ever: as is when the kernel says it will not wait
    /// (data or end of stream, a non-blocking fd, `MSG_DONTWAIT`, nothing
    /// that blocks); bounded by a socket timeout sometimes; else with a
    /// peer's bytes written first (`make(Some(feed))`), or, when no peer
    /// can write, a `poll` instead.
    fn reading(&mut self, s: u8, n: u16, flags: i32, make: impl FnOnce(Option<Feed>) -> Op) -> Op {
        let f = fd(s);
        let ready = raw_poll(f, libc::POLLIN)
            & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP | libc::POLLNVAL)
            != 0;
        let fl = raw_flags(f);
        let end = self.ends[s as usize];
        let never = match end.map(|(o, e)| (self.kinds[o as usize], e)) {
            None => true, // closed: EBADF (or it names a file no read waits on)
            Some((FILE, _)) => true,
            Some((PIPE, 1)) => true, // the write end: EBADF
            Some((EVENT, _)) => n < 8 || flags != 0,
            Some((PIPE, _)) => flags != 0, // recv: ENOTSOCK
            _ => false,
        };
        if ready || never || fl < 0 || fl & libc::O_NONBLOCK != 0 || flags & libc::MSG_DONTWAIT != 0
        {
            return make(None);
        }
        let timed = raw_rcvtimeo(f) > Duration::ZERO;
        if timed && self.rng.chance(30) {
            return make(None); // waits for the socket's timeout, then EAGAIN
        }
        if let Some(feed) = end.and_then(|e| self.feed(e)) {
            if raw_write(fd(feed.via), &feed.data) == feed.data.len() as isize {
                return make(Some(feed));
            }
        }
        if timed {
            make(None)
        } else {
            Op::Poll {
                s,
                events: libc::POLLIN,
            }
        }
    }

    /// Bytes a peer could write for a reader of `(obj, end)`, and the slot
    /// it writes through (the other end; an eventfd's own).
    fn feed(&mut self, (obj, end): (u8, u8)) -> Option<Feed> {
        let kind = self.kinds[obj as usize];
        let other = match kind {
            EVENT => (obj, end),
            UNIX | TCP | PIPE => (obj, 1 - end),
            _ => return None,
        };
        if self.shut_wr.contains(&other) {
            return None;
        }
        let via = self
            .open()
            .into_iter()
            .find(|&v| self.ends[v as usize] == Some(other))?;
        let data = if kind == EVENT {
            (1 + self.below(5)).to_ne_bytes().to_vec()
        } else {
            self.data()
        };
        Some(Feed { via, data })
    }

    /// Learn from a step's result on the plain run.
    fn learn(&mut self, op: &Op, obs: &Obs) {
        let ok = obs.ret >= 0;
        self.learn_clean(op, obs, ok);
        let from_slot = |n: i64| -> Option<usize> {
            let i = n - i64::from(diff_ops::BASE);
            (0..i64::from(SLOTS)).contains(&i).then_some(i as usize)
        };
        match *op {
            Op::Dup { s } | Op::DupFd { s, .. } if ok => {
                if let Some(i) = from_slot(obs.ret) {
                    self.ends[i] = self.ends[s as usize];
                }
            }
            Op::Dup2 { s, t } | Op::Dup3 { s, t, .. } if ok => {
                self.ends[t as usize] = self.ends[s as usize];
            }
            Op::Close { s } | Op::RawClose { s } => self.ends[s as usize] = None,
            Op::NewEventfd { t, .. } if ok => {
                self.ends[t as usize] = Some((self.kinds.len() as u8, 0));
                self.kinds.push(EVENT);
            }
            Op::NewPair { t, u } if ok => {
                let obj = self.kinds.len() as u8;
                self.ends[t as usize] = Some((obj, 0));
                self.ends[u as usize] = Some((obj, 1));
                self.kinds.push(UNIX);
            }
            Op::Fdopen { s, .. } if ok => self.ends[s as usize] = None,
            Op::CloseRange { lo, hi } if ok => {
                for i in lo..=hi {
                    self.ends[i as usize] = None;
                }
            }
            Op::Closefrom { lo } => {
                for i in lo..SLOTS {
                    self.ends[i as usize] = None;
                }
            }
            Op::Shutdown { s, how } if ok && how != libc::SHUT_RD => {
                if let Some(e) = self.ends[s as usize] {
                    self.shut_wr.push(e);
                }
            }
            _ => {}
        }
    }
}

impl Gen {
    /// Keep `clean` (see the field): a hooked close cleans a slot, a file
    /// put there by any means dirties it, a raw close leaves it as it was.
    fn learn_clean(&mut self, op: &Op, obs: &Obs, ok: bool) {
        let slot_of = |n: i64| -> Option<usize> {
            let i = n - i64::from(diff_ops::BASE);
            (0..i64::from(SLOTS)).contains(&i).then_some(i as usize)
        };
        match *op {
            Op::Close { s } => self.clean[s as usize] = true,
            Op::Fdopen { s, .. } if ok => self.clean[s as usize] = true,
            Op::CloseRange { lo, hi } if ok => {
                for i in lo..=hi {
                    self.clean[i as usize] = true;
                }
            }
            Op::Closefrom { lo } => {
                for i in lo..SLOTS {
                    self.clean[i as usize] = true;
                }
            }
            Op::Dup { .. } | Op::DupFd { .. } if ok => {
                if let Some(i) = slot_of(obs.ret) {
                    self.clean[i] = false;
                }
            }
            Op::Dup2 { t, .. } | Op::Dup3 { t, .. } | Op::NewEventfd { t, .. } if ok => {
                self.clean[t as usize] = false;
            }
            Op::NewPair { t, u } if ok => {
                self.clean[t as usize] = false;
                self.clean[u as usize] = false;
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- running

/// The plain run's peer: the generator wrote the bytes already (while
/// making the program), or, in a replay, they are written right before the
/// read. Either way they are there before the read asks.
struct WriteFirst {
    replay: bool,
}

impl Peer for WriteFirst {
    fn start(&mut self, feed_fd: RawFd, _read_fd: RawFd, data: &[u8]) {
        if self.replay {
            raw_write(feed_fd, data);
        }
    }
    fn finish(&mut self) {}
}

/// The coroutine run's peer: a coroutine that writes once the reader has
/// parked (it first runs when the reader's coroutine parks). For an fd the
/// hooks leave alone (an eventfd), whose read blocks the thread as it
/// would without green, the bytes are written first instead.
#[derive(Default)]
struct ParkedPeer {
    writer: Option<green::JoinHandle<()>>,
}

impl Peer for ParkedPeer {
    fn start(&mut self, feed_fd: RawFd, read_fd: RawFd, data: &[u8]) {
        if !diff_ops::raw_is_stream(read_fd) {
            raw_write(feed_fd, data);
            return;
        }
        let data = data.to_vec();
        self.writer = Some(green::spawn(move || {
            raw_write(feed_fd, &data);
        }));
    }
    fn finish(&mut self) {
        if let Some(w) = self.writer.take() {
            w.join().expect("peer");
        }
    }
}

/// Make program `seed` while running it on this (plain) thread.
fn make_program(seed: u64) -> (Vec<Op>, Vec<Obs>) {
    let mut g = Gen::new(seed);
    let steps = 8 + g.below(MAX_STEPS - 7) as usize;
    setup();
    let mut ops = Vec::with_capacity(steps);
    let mut obs = Vec::with_capacity(steps);
    let mut peer = WriteFirst { replay: false };
    for _ in 0..steps {
        let op = g.next_op();
        let o = execute(&op, &mut peer);
        g.learn(&op, &o);
        ops.push(op);
        obs.push(o);
    }
    teardown();
    (ops, obs)
}

/// Replay `ops` on this (plain) thread.
fn replay_plain(ops: &[Op]) -> Vec<Obs> {
    setup();
    let mut peer = WriteFirst { replay: true };
    let obs = ops.iter().map(|op| execute(op, &mut peer)).collect();
    teardown();
    obs
}

/// Replay `ops` inside a coroutine of this thread's hub; the world is made
/// in the coroutine (the sockets are the hooks' from birth) or, with
/// `setup_outside`, on the root first (the hooks meet them later).
fn replay_coroutine(ops: &[Op], setup_outside: bool) -> Vec<Obs> {
    if setup_outside {
        setup();
    }
    let ops = ops.to_vec();
    green::spawn(move || {
        if !setup_outside {
            setup();
        }
        let mut peer = ParkedPeer::default();
        let trace = std::env::var_os("GREEN_DIFF_TRACE").is_some();
        let obs = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if trace {
                    let line = format!("coroutine run, step {i}: {}\n", show_op(op));
                    // SAFETY: writes a valid buffer to fd 2.
                    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                }
                let o = execute(op, &mut peer);
                if trace {
                    let line = format!("   -> {o:?} raw {:#x}\n", raw_flags(fd(op.slot())));
                    // SAFETY: writes a valid buffer to fd 2.
                    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                }
                o
            })
            .collect();
        teardown();
        obs
    })
    .join()
    .expect("the coroutine run panicked")
}

/// Runs closures on a plain thread that never has a hub.
struct PlainThread {
    tx: mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl PlainThread {
    fn new() -> PlainThread {
        let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::spawn(move || {
            for f in rx {
                f();
            }
        });
        PlainThread { tx }
    }

    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send(Box::new(move || {
                let _ = rtx.send(f());
            }))
            .expect("plain thread gone");
        rrx.recv().expect("the plain run panicked")
    }
}

// ---------------------------------------------------------------- comparing

/// Divergences kept on purpose: `Some(why)` skips step `i`'s difference.
/// Each is listed in the monkey crate's *Limits*:
///
/// - *Raw close of a managed fd.* A description the hooks made
///   non-blocking stays so when its last number they know of is closed by
///   a raw system call (`close`, or `dup3` onto it; no hook sees it, so the
///   blocking mode is not given back): another number naming it then shows
///   `O_NONBLOCK` in `F_GETFL` (and its calls fail with `EAGAIN`), as the
///   kernel says. Skipped: a step whose flags differ by `O_NONBLOCK` set
///   in the coroutine run, on an object end that a raw close or raw
///   replacement hit a number of earlier in the program (with the rest of
///   that program, whose outcomes follow from it).
fn intended(ops: &[Op], plain: &[Obs], i: usize, coop: &Obs) -> Option<&'static str> {
    let p = &plain[i];
    let leaked =
        p.flags >= 0 && p.flags & libc::O_NONBLOCK == 0 && coop.flags == p.flags | libc::O_NONBLOCK;
    if !leaked {
        return None;
    }
    // Which object end each slot named, step by step, as the plain run
    // learnt it (through step `i`: its flags are read after it), and the
    // ends a raw close or raw replacement hit before it.
    let mut g = Gen::new(0);
    let mut raw_closed = Vec::new();
    for (k, (op, o)) in ops[..=i].iter().zip(plain).enumerate() {
        let hit: &[u8] = match op {
            Op::RawClose { s: t } | Op::NewEventfd { t, .. } => &[*t],
            Op::NewPair { t, u } => &[*t, *u],
            _ => &[],
        };
        if k < i {
            raw_closed.extend(hit.iter().filter_map(|&t| g.ends[t as usize]));
        }
        g.learn(op, o);
    }
    let end = g.ends[ops[i].slot() as usize]?;
    raw_closed
        .contains(&end)
        .then_some("a managed description's last known number was closed by a raw close")
}

/// The first step where the runs differ, unless it is meant to (then the
/// rest of the program is not comparable, and none is reported).
fn first_divergence(ops: &[Op], plain: &[Obs], coop: &[Obs]) -> Option<usize> {
    let i = (0..ops.len()).find(|&i| plain[i] != coop[i])?;
    intended(ops, plain, i, &coop[i]).is_none().then_some(i)
}

/// Whether program `ops` (both runs) diverges at step `at` again.
fn diverges_again(plain_thread: &PlainThread, ops: &[Op], setup_outside: bool, at: usize) -> bool {
    let prefix = ops[..=at].to_vec();
    let p = prefix.clone();
    let plain = plain_thread.run(move || replay_plain(&p));
    let coop = replay_coroutine(&prefix, setup_outside);
    first_divergence(&prefix, &plain, &coop) == Some(at)
}

/// A step, its bytes as text (they are letters, or numbers for an eventfd).
fn show_op(op: &Op) -> String {
    let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
    match op {
        Op::Write { s, data } => format!("Write {{ s: {s}, data: {:?} }}", text(data)),
        Op::Send { s, data, flags } => {
            format!(
                "Send {{ s: {s}, data: {:?}, flags: {flags:#x} }}",
                text(data)
            )
        }
        Op::Puts { s, data, flush } => {
            format!("Puts {{ s: {s}, data: {:?}, flush: {flush} }}", text(data))
        }
        op => {
            let shown = format!("{op:?}");
            match op.feed() {
                Some(f) => shown.replace(&format!("{:?}", f.data), &format!("{:?}", text(&f.data))),
                None => shown,
            }
        }
    }
}

fn describe(ops: &[Op], plain: &[Obs], coop: &[Obs]) -> String {
    let mut out = String::new();
    for (i, op) in ops.iter().enumerate() {
        out += &format!("  {i:>2}: {}\n        plain: {:?}\n", show_op(op), plain[i]);
        if !coop.is_empty() && coop.get(i) != plain.get(i) {
            out += &format!("    coroutine: {:?}   <-- differs\n", coop.get(i));
        }
    }
    out
}

// C78
#[test]
fn hooks_answer_as_libc_on_random_fd_programs() {
    green::monkey::patch_all();
    let one = env_u64("GREEN_SEED");
    let first = one.unwrap_or(FIRST_SEED);
    let n = env_u64("GREEN_DIFF_PROGRAMS").unwrap_or(if one.is_some() { 1 } else { PROGRAMS });
    let show = std::env::var_os("GREEN_DIFF_SHOW").is_some();
    eprintln!("monkey differential: GREEN_SEED={first} GREEN_DIFF_PROGRAMS={n}");

    // A run that blocks the thread for good (the coroutine's read did not
    // park) cannot fail by itself: say which seed it was, and end.
    static CURRENT: AtomicU64 = AtomicU64::new(u64::MAX);
    static DONE: AtomicU64 = AtomicU64::new(0);
    std::thread::spawn(|| {
        let mut last = (u64::MAX, 0);
        loop {
            std::thread::sleep(Duration::from_secs(20));
            let now = (CURRENT.load(Ordering::SeqCst), DONE.load(Ordering::SeqCst));
            if now == last && now.0 != u64::MAX {
                let msg = format!(
                    "monkey differential: program {} hung for 20 s; replay it with \
                     GREEN_SEED={} cargo test -p green-suite --test monkey_differential\n",
                    now.0, now.0
                );
                // Straight to fd 2: the test harness's capture dies with us.
                // SAFETY: writes a valid buffer.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                std::process::abort();
            }
            last = now;
        }
    });

    let plain_thread = PlainThread::new();
    let t = Instant::now();
    let mut flukes = 0;
    let mut skipped = 0;
    for seed in first..first.saturating_add(n) {
        CURRENT.store(seed, Ordering::SeqCst);
        let (ops, plain) = plain_thread.run(move || make_program(seed));
        let setup_outside = seed % 4 == 0;
        if show {
            let all: Vec<Obs> = Vec::new();
            eprint!("program {seed}:\n{}", describe(&ops, &plain, &all));
        }
        let coop = replay_coroutine(&ops, setup_outside);
        if let Some(i) = (0..ops.len()).find(|&i| plain[i] != coop[i]) {
            if intended(&ops, &plain, i, &coop[i]).is_some() {
                skipped += 1;
            }
        }
        if let Some(at) = first_divergence(&ops, &plain, &coop) {
            let again = (0..3)
                .filter(|_| diverges_again(&plain_thread, &ops, setup_outside, at))
                .count();
            if again < 2 {
                flukes += 1;
                eprintln!(
                    "monkey differential: seed {seed} diverged at step {at} once, not in \
                     replays (timing): skipped\n{}",
                    describe(&ops[at..=at], &plain[at..=at], &coop[at..=at])
                );
                continue;
            }
            panic!(
                "monkey differential: the hooks in a coroutine answered differently from libc \
                 at step {at} of program {seed} (world made {}). Shortest failing prefix:\n{}\
                 replay with GREEN_SEED={seed} cargo test -p green-suite --test monkey_differential",
                if setup_outside { "on the root" } else { "in the coroutine" },
                describe(&ops[..=at], &plain[..=at], &coop[..=at])
            );
        }
        DONE.fetch_add(1, Ordering::SeqCst);
    }
    CURRENT.store(u64::MAX, Ordering::SeqCst);
    assert!(
        flukes * 100 <= n.max(100),
        "{flukes} timing flukes in {n} programs"
    );
    eprintln!(
        "monkey differential: {n} programs agree ({skipped} from an intended divergence on; \
         {flukes} timing flukes) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}
