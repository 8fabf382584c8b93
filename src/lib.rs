//! # green: gevent for Rust
//!
//! Stackful coroutines on one single-threaded event loop per OS thread.
//! This facade only re-exports; the runtime lives in `green-runtime`.
//!
//! ```
//! use std::time::Duration;
//! let a = green::spawn(|| { green::sleep(Duration::ZERO); 1 });
//! let b = green::spawn(|| 2);
//! let r: Vec<i32> = green::joinall([a, b]).into_iter().map(|r| r.unwrap()).collect();
//! assert_eq!(r, [1, 2]);
//! ```
pub use green_monkey as monkey;
pub use green_runtime::*;
