//! `Runtime`: explicit settings for a thread's hub (stack size, region
//! budget), chosen before the hub starts.
//!
//! This module only configures and starts hubs; it never schedules.

use std::io;

use crate::hub::{self, HubConfig};

/// Settings for the hub that runs a closure.
///
/// ```
/// let v = green::Runtime::new().max_regions(4).run(|| {
///     let hs: Vec<_> = (0..100).map(|i| green::spawn(move || i)).collect();
///     green::joinall(hs).into_iter().map(Result::unwrap).sum::<i32>()
/// });
/// assert_eq!(v.unwrap(), 4950);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    cfg: HubConfig,
}

impl Runtime {
    /// Default settings: 256 KiB stacks, region budget from the kernel's
    /// mapping limit.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    /// Default usable stack size for coroutines on this hub.
    pub fn stack_size(mut self, bytes: usize) -> Runtime {
        self.cfg.stack_size = bytes;
        self
    }

    /// At most this many stack regions (each costs two kernel mappings);
    /// coroutines beyond it share regions by copying their used stack bytes.
    pub fn max_regions(mut self, n: usize) -> Runtime {
        self.cfg.max_regions = Some(n.max(1));
        self
    }

    /// Debugging aid: after every copy of a coroutine's saved stack back into
    /// a shared region, overwrite the rest of the region with a poison
    /// pattern, so any frame that was not saved crashes at once instead of
    /// reading stale bytes. Also on with `GREEN_STACK_POISON=1`.
    pub fn poison_stacks(mut self, on: bool) -> Runtime {
        self.cfg.poison_stacks = on;
        self
    }

    /// Run `f` on the current thread with a hub made from these settings.
    ///
    /// Fails if this thread already has a hub (it was used before), or if the
    /// settings are invalid.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> io::Result<T> {
        if !(crate::MIN_STACK_SIZE..=crate::MAX_STACK_SIZE).contains(&self.cfg.stack_size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("green: stack size {} is out of range", self.cfg.stack_size),
            ));
        }
        hub::configure(self.cfg)?;
        Ok(f())
    }
}
