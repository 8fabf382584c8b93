//! Stack regions for coroutines, and copy-on-contention.
//!
//! This module owns every byte of coroutine stack memory: regions (a guard
//! page below a fixed-size stack), the budget of regions per hub, which task
//! a region is the *home* of, and which task's bytes are *resident* in it.
//!
//! - A task gets no stack until it first runs. While a free region exists it
//!   gets one of its own; beyond the budget it is homed in an occupied region
//!   and shares it. A task's home never changes, so addresses on its stack stay
//!   valid for its whole life.
//! - Before a task runs, `make_resident` saves the current occupant's used
//!   bytes (from its recorded stack pointer minus `SAVE_MARGIN` to the region
//!   top) into an exactly-sized heap buffer and copies the incoming task's
//!   bytes back.
//! - Regions are never unmapped while the hub lives; idle ones give their
//!   pages back with `MADV_DONTNEED`.
//!
//! This module must never run user code, switch stacks or keep a pointer into
//! a parked task's stack: the occupant pointer names a `StackState` (in the
//! task record, in the heap), not its stack. It knows nothing of tasks
//! beyond their `StackState`, and nothing of the scheduler.

use std::cell::Cell;
use std::io;
use std::ptr;
use std::time::{Duration, Instant};

use corosensei::stack::{Stack, StackPointer};

use crate::arena;
use crate::sys;

mod state;

pub(crate) use state::StackState;

/// Usable stack size of a coroutine unless `Runtime::stack_size` or
/// `Builder::stack_size` says otherwise: 256 KiB.
///
/// A coroutine only touches the pages its frames use; a parked coroutine
/// that shares its stack region with others keeps just its used bytes.
/// Overflowing the stack hits a guard page, and the process aborts with a
/// message naming the coroutine.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest stack size a coroutine may ask for: 16 KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack size a coroutine may ask for: 1 GiB.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// Bytes below the recorded stack pointer that the switch itself writes.
///
/// The pointer is read in the inlined park path right before corosensei's
/// `Yielder::suspend`. Release builds: when `suspend` inlines, its switch
/// pushes 24 bytes (rbp, rbx, resume address) below that point; when LLVM
/// keeps it out of line (seen in the larger park functions), the call adds
/// its return address and five saved registers: 8 + 40 + 24 = 72 bytes.
/// 80 covers both, rounded to 16. Debug builds never inline it and give it a
/// 168-byte frame: 8 + 32 + 168 + 24 = 232, so 384 leaves room for codegen
/// drift. `tests/stacks.rs` poisons every byte below the margin after each
/// restore and runs pointer-rich coroutines, in both builds (CI runs it in
/// release too): a margin one byte short crashes there.
pub(crate) const SAVE_MARGIN: usize = if cfg!(debug_assertions) { 384 } else { 80 };

/// How long a region stays idle before its pages go back to the kernel.
///
/// Long enough that a server whose connections come and go in waves (a
/// load generator's rounds, clients reconnecting after a restart) finds the
/// regions of the last wave still touched: a discarded region costs a
/// `madvise` now and a zeroed-page fault per touched page when next used,
/// which at 10,000 connections opened afresh each second was a third of
/// the server's kernel time per request. Allocators return freed memory on
/// the same scale (jemalloc's default decay is 10 s).
const IDLE_RELEASE: Duration = Duration::from_secs(10);

/// How often the loop offers idle regions for release (`release_idle`).
/// Regions freed between two offers are stamped with the earlier one, so a
/// region is released after at least `IDLE_RELEASE` and at most
/// `IDLE_RELEASE + RELEASE_TICK` of being idle.
pub(crate) const RELEASE_TICK: Duration = Duration::from_secs(1);
/// Regions mapped per `mmap` call.
const BATCH: usize = 16;

use crate::sys::page_size;

/// How many regions a hub may map, from the kernel's mapping limit.
///
/// Each region costs two mappings (guard + stack). We take a third of the
/// mappings still free, leaving the rest for the program (allocator arenas,
/// libraries, thread stacks, other hubs): with the stock limit of 65,530
/// that is about 10,700 regions, so a hub serves 10,000 connections on
/// stacks of their own before any two take turns in a region by copying
/// (a quarter, ~8,100, left a fifth of them copying on every switch).
pub(crate) fn default_region_budget() -> usize {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    let used = std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(1000);
    (max.saturating_sub(used) / 3 / 2).clamp(4, state::MAX_REGIONS)
}

/// The stack handed to corosensei: just the bounds of the home region. The
/// memory is owned by the pool, so dropping this does nothing.
pub(crate) struct RegionStack {
    base: StackPointer,
    limit: StackPointer,
}

// SAFETY: corosensei's contract for `Stack`: the stack has a guard page
// that catches overflows, at least `MIN_STACK_SIZE` usable bytes, a
// 16-aligned `base`, and a `limit` that *includes* the guard pages.
// - `base` is the region's top: page-aligned, so 16-aligned.
// - `limit` is the start of the mapping, below the guard page (the region
//   layout is `[map_start, +guard) PROT_NONE`, then `[limit, top)` usable);
//   page-aligned too. corosensei only uses it for trap handlers and
//   sanitizers, which this crate does not enable, but it is the contract.
// - Usable bytes are at least `MIN_STACK_SIZE` (16 KiB, see `class_for`),
//   above corosensei's 4 KiB minimum.
// - The memory is owned by the pool and outlives every coroutine created on
//   it: regions are unmapped only when the hub is dropped, after which no
//   coroutine of it is ever resumed or dropped.
unsafe impl Stack for RegionStack {
    fn base(&self) -> StackPointer {
        self.base
    }
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

struct Region {
    /// Lowest address of the mapping (the guard page).
    map_start: usize,
    /// Lowest usable stack address (top of the guard page).
    limit: usize,
    /// One past the highest usable address; the stack grows down from here.
    top: usize,
    /// Task whose bytes are in the region now, null if none.
    occupant: Cell<*const StackState>,
    /// Live tasks homed here.
    homed: Cell<u32>,
    /// When the region last became free, for page release.
    idle_since: Cell<Option<Instant>>,
    /// Listed in the pool's `idle` list (at most once).
    listed_idle: Cell<bool>,
}

/// Regions of one stack size, with their budget.
pub(crate) struct StackPool {
    size: usize,
    guard: usize,
    regions: Vec<Region>,
    free: Vec<u32>,
    budget: usize,
    /// Round-robin cursor for homing tasks in shared regions.
    next_shared: usize,
    /// Regions waiting for `MADV_DONTNEED`.
    idle: Vec<u32>,
    /// The region of the hub's idle spare coroutine, if it is of this size
    /// class (see `keep_spare`): never shared while the spare keeps it.
    spare: Option<u32>,
    /// Bytes copied out/in, for benchmarks and tests.
    pub(crate) copies: u64,
    /// Every mapping made by `map_batch`: (address, length).
    batches: Vec<(usize, usize)>,
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for &(base, len) in &self.batches {
            // SAFETY: the pool is dropped with its hub, after the hub's
            // teardown: no coroutine of this hub runs or will ever be
            // resumed or dropped again, and nothing outside a coroutine's
            // own frames points into its stack (the runtime's soundness
            // rule), so no live reference points into these mappings.
            unsafe { sys::unmap(base, len) };
        }
    }
}

/// Every stack pool of a hub, by size class.
pub(crate) struct Stacks {
    pools: Vec<StackPool>,
    /// Coarse clock from the loop's last maintenance (no clock read per
    /// task finish).
    clock: Instant,
    budget: usize,
    poison: bool,
}

impl Stacks {
    pub(crate) fn new(budget: usize) -> Stacks {
        Stacks {
            pools: Vec::new(),
            clock: crate::clock::now(),
            // A task's home is a 24-bit index (see `state.rs`).
            budget: budget.min(state::MAX_REGIONS),
            poison: std::env::var_os("GREEN_STACK_POISON").is_some(),
        }
    }

    /// The size class index for a requested stack size, creating it if new.
    pub(crate) fn class_for(&mut self, size: usize) -> io::Result<u32> {
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "green: stack size {size} is out of range ({MIN_STACK_SIZE}..={MAX_STACK_SIZE} bytes)"
                ),
            ));
        }
        let page = page_size();
        let size = size.div_ceil(page) * page;
        if let Some(i) = self.pools.iter().position(|p| p.size == size) {
            return Ok(i as u32);
        }
        // A task records its class in one byte.
        if self.pools.len() > u8::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "green: too many distinct stack sizes on this hub (at most 256)",
            ));
        }
        // Later classes get what is left of the hub's budget, at least 4.
        let used: usize = self.pools.iter().map(|p| p.budget).sum();
        let budget = if self.pools.is_empty() {
            self.budget
        } else {
            self.budget.saturating_sub(used).max(4)
        };
        self.pools.push(StackPool {
            size,
            guard: page,
            regions: Vec::new(),
            free: Vec::new(),
            budget,
            next_shared: 0,
            idle: Vec::new(),
            spare: None,
            copies: 0,
            batches: Vec::new(),
        });
        Ok((self.pools.len() - 1) as u32)
    }

    /// Gives the home region of `task` to it: assigns a home on first run and
    /// swaps bytes if another task occupies it. Returns the stack bounds.
    pub(crate) fn make_resident(&mut self, task: &StackState) -> io::Result<RegionStack> {
        let poison = self.poison;
        let pool = &mut self.pools[task.class()];
        let home = match task.home() {
            Some(h) => h,
            None => {
                let h = pool.assign_home()? as usize;
                task.set_home(Some(h));
                h
            }
        };
        pool.swap_in(task, home, poison);
        let r = &pool.regions[home];
        Ok(RegionStack {
            // SAFETY: region bounds are never zero (they come from mmap).
            base: unsafe { StackPointer::new_unchecked(r.top) },
            // SAFETY: as above. The limit includes the guard page, as
            // corosensei's `Stack::limit` requires.
            limit: unsafe { StackPointer::new_unchecked(r.map_start) },
        })
    }

    /// Whether `task`, in its first run, may leave its coroutine as the
    /// hub's spare when its closure returns without ever suspending: nobody
    /// else is homed in its region, and another region exists for the tasks
    /// that share while the spare keeps this one. (The hub keeps one spare.)
    pub(crate) fn can_keep_spare(&self, task: &StackState) -> bool {
        let Some(home) = task.home() else {
            return false;
        };
        let pool = &self.pools[task.class()];
        pool.regions.len() >= 2 && pool.regions[home].homed.get() == 1
    }

    /// `task`'s closure returned on a coroutine that stays, idle, as the
    /// hub's spare: its home region, with that coroutine's frames, is kept
    /// for the spare (counted as homed, shared with nobody, its bytes never
    /// saved: nothing occupies it) and `task` leaves it.
    pub(crate) fn keep_spare(&mut self, task: &StackState) {
        let Some(home) = task.home() else { return };
        let pool = &mut self.pools[task.class()];
        debug_assert!(pool.spare.is_none() && pool.regions[home].homed.get() == 1);
        pool.spare = Some(home as u32);
        pool.regions[home].occupant.set(ptr::null());
        task.set_home(None);
        task.set_resident(false);
    }

    /// `task`'s first run takes the hub's spare coroutine if it is of
    /// `task`'s size class: true then, and the spare's region is `task`'s
    /// home while it runs (not yet its occupant: see `adopt_spare`).
    #[inline]
    pub(crate) fn lend_spare(&mut self, task: &StackState) -> bool {
        let pool = &mut self.pools[task.class()];
        let Some(home) = pool.spare.take() else {
            return false;
        };
        debug_assert!(task.home().is_none());
        task.set_home(Some(home as usize));
        task.set_resident(true);
        true
    }

    /// `task` suspended in its first run on the spare it was lent: the
    /// region is its home for good, as a fresh one would be.
    pub(crate) fn adopt_spare(&mut self, task: &StackState) {
        let Some(home) = task.home() else { return };
        self.pools[task.class()].regions[home].occupant.set(task);
    }

    /// The guard page range of a task's home region and the region's usable
    /// size, for overflow reports. Reads plain fields only, so the overflow
    /// handler may call it on the faulting thread.
    pub(crate) fn guard_of(&self, task: &StackState) -> Option<(usize, usize, usize)> {
        let pool = self.pools.get(task.class())?;
        let r = pool.regions.get(task.home()?)?;
        Some((r.map_start, r.limit, r.top - r.limit))
    }

    /// A task finished (its coroutine is done): it leaves its home.
    pub(crate) fn release(&mut self, task: &StackState) {
        let Some(home) = task.home() else {
            return;
        };
        task.set_home(None);
        free_saved(task);
        let pool = &mut self.pools[task.class()];
        let r = &pool.regions[home];
        if std::ptr::eq(r.occupant.get(), task) {
            r.occupant.set(ptr::null());
        }
        task.set_resident(false);
        let n = r.homed.get() - 1;
        r.homed.set(n);
        if n == 0 {
            r.occupant.set(ptr::null());
            r.idle_since.set(Some(self.clock));
            pool.free.push(home as u32);
            if !r.listed_idle.replace(true) {
                pool.idle.push(home as u32);
            }
        }
    }

    /// Gives pages of regions idle for a while back to the kernel.
    pub(crate) fn release_idle(&mut self, now: Instant) {
        self.clock = now;
        for pool in &mut self.pools {
            pool.release_idle(now);
        }
    }

    /// Total bytes copied by copy-on-contention so far.
    pub(crate) fn copied_bytes(&self) -> u64 {
        self.pools.iter().map(|p| p.copies).sum()
    }

    /// Number of regions mapped so far.
    pub(crate) fn mapped_regions(&self) -> usize {
        self.pools.iter().map(|p| p.regions.len()).sum()
    }

    /// Fill the part of a region below a resident task's saved bytes with a
    /// poison pattern (tests use this to prove `SAVE_MARGIN`).
    pub(crate) fn set_poison(&mut self, on: bool) {
        self.poison = on;
    }
}

/// Drop a task's saved stack bytes, if any.
fn free_saved(task: &StackState) {
    let (p, len) = task.take_saved();
    if !p.is_null() {
        // SAFETY: allocated in `swap_in` from this thread's arena with
        // `len` bytes; the pointer was just cleared.
        unsafe { arena::free(p, len.max(1)) };
    }
}

impl StackPool {
    fn assign_home(&mut self) -> io::Result<u32> {
        if self.free.is_empty() && self.regions.len() < self.budget {
            self.map_batch()?;
        }
        let home = match self.free.pop() {
            Some(i) => {
                self.regions[i as usize].idle_since.set(None);
                i
            }
            None => {
                if self.regions.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "green: no stack region could be mapped",
                    ));
                }
                let mut i = self.next_shared % self.regions.len();
                if self.spare == Some(i as u32) {
                    // `can_keep_spare` made sure another region exists.
                    i = (i + 1) % self.regions.len();
                }
                self.next_shared = i + 1;
                i as u32
            }
        };
        let r = &self.regions[home as usize];
        r.homed.set(r.homed.get() + 1);
        Ok(home)
    }

    fn map_batch(&mut self) -> io::Result<()> {
        let n = BATCH.min(self.budget - self.regions.len()).max(1);
        let one = self.guard + self.size;
        let len = one * n;
        let base = match sys::map_anonymous(len, true) {
            Ok(b) => b,
            Err(e) if self.regions.is_empty() => return Err(e),
            Err(_) => {
                // We still have regions to share: shrink the budget instead.
                self.budget = self.regions.len();
                return Ok(());
            }
        };
        self.batches.push((base, len));
        for k in 0..n {
            let start = base + k * one;
            // SAFETY: `start` is page-aligned and inside the mapping we just
            // made; turning its first page into a guard is our own business.
            unsafe { sys::protect_none(start, self.guard)? };
            self.free.push(self.regions.len() as u32);
            self.regions.push(Region {
                map_start: start,
                limit: start + self.guard,
                top: start + one,
                occupant: Cell::new(ptr::null()),
                homed: Cell::new(0),
                idle_since: Cell::new(None),
                listed_idle: Cell::new(false),
            });
        }
        // Hand out low indexes first.
        self.free.reverse();
        Ok(())
    }

    /// Make `task`'s bytes the ones in its home region `home`.
    ///
    /// What is saved of a suspended occupant, and restored later:
    ///
    /// ```text
    ///   top  +-----------------------+  <- region top (stack base; grows down)
    ///        |  occupant's frames    |
    ///        |  ...                  |   copied out: [sp - SAVE_MARGIN, top)
    ///   sp   +-----------------------+  <- `saved_sp`, recorded right before
    ///        |  what the switch      |     the suspend
    ///        |  pushes (the margin)  |
    ///        +-----------------------+  <- sp - SAVE_MARGIN (not below limit)
    ///        |  free: never read     |   poisoned in tests after a copy-in
    ///  limit +-----------------------+
    ///        |  guard page (no access)|
    ///        +-----------------------+  <- map_start
    /// ```
    fn swap_in(&mut self, task: &StackState, home: usize, poison: bool) {
        let r = &self.regions[home];
        let me = task as *const StackState;
        let occ = r.occupant.get();
        if occ == me {
            return;
        }
        if !occ.is_null() {
            // SAFETY: the occupant is a live task homed here (finished tasks
            // clear themselves in `release`), suspended (only one task runs,
            // and it is not running now since the hub is switching).
            let occ = unsafe { &*occ };
            let sp = occ.saved_sp();
            let from = sp.saturating_sub(SAVE_MARGIN).max(r.limit);
            debug_assert!(sp > r.limit && sp <= r.top);
            let len = r.top - from;
            let buf = arena::alloc(len.max(1));
            // SAFETY: [from, top) lies inside the region's writable part and
            // `buf` is a fresh block of at least `len` bytes.
            unsafe { ptr::copy_nonoverlapping(from as *const u8, buf, len) };
            self.copies += len as u64;
            occ.evict(buf, len);
        }
        let buf = task.saved_ptr();
        if !buf.is_null() {
            let len = task.saved_len();
            let from = r.top - len;
            // SAFETY: the buffer was saved from [from, top) of this same
            // region (a task's home never changes), so it fits exactly.
            unsafe { ptr::copy_nonoverlapping(buf, from as *mut u8, len) };
            free_saved(task);
            self.copies += len as u64;
            if poison {
                // SAFETY: everything below the restored bytes and above the
                // guard belongs to no live frame of `task` if SAVE_MARGIN is
                // right; overwriting it proves that.
                unsafe { ptr::write_bytes(r.limit as *mut u8, 0xA5, from - r.limit) };
            }
        }
        r.occupant.set(me);
        task.set_resident(true);
    }

    fn release_idle(&mut self, now: Instant) {
        let size = self.size;
        let regions = &self.regions;
        self.idle.retain(|&i| {
            let r = &regions[i as usize];
            let keep = match r.idle_since.get() {
                None => false, // reused since
                // The stamp is the offer before the region was freed (up
                // to a tick earlier), so the tick is added back.
                Some(t) if now.duration_since(t) >= IDLE_RELEASE + RELEASE_TICK => {
                    // SAFETY: the region is free (no task homed), so no live
                    // frame is in it; the kernel gives back zero pages.
                    unsafe { sys::discard_pages(r.limit, size) };
                    r.idle_since.set(None);
                    false
                }
                Some(_) => true,
            };
            r.listed_idle.set(keep);
            keep
        });
    }
}
