//! Helpers shared by the integration tests: running an example binary,
//! re-running this test binary as a child process (for stderr and aborts),
//! spawning a coroutine that shares a value,
//! watchdogs ([`hang`]) and socket fixtures ([`net`]).
#![allow(dead_code)]

pub mod c_lib;
pub mod hang;
pub mod net;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::rc::Rc;

/// Path of the facade's example `name`, built first when stale.
pub fn example_path(name: &str) -> PathBuf {
    green_suite::cargo::example(name)
}

/// Run an example to completion and return its output.
pub fn run_example(name: &str) -> Output {
    let path = example_path(name);
    Command::new(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run example {}: {e}", path.display()))
}

/// Re-run this test binary, running only `test` with `GREEN_CHILD=1` set, so
/// the test can branch into its child role.
pub fn run_child(test: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GREEN_CHILD", "1")
        .output()
        .expect("spawn child test process")
}

/// True in the child role started by [`run_child`].
pub fn is_child() -> bool {
    std::env::var_os("GREEN_CHILD").is_some()
}

/// Spawn `f` as a coroutine with its own handle on the shared `x`.
pub fn spawn_with<T: ?Sized + 'static, R: 'static>(
    x: &Rc<T>,
    f: impl FnOnce(Rc<T>) -> R + 'static,
) -> green::JoinHandle<R> {
    let x = x.clone();
    green::spawn(move || f(x))
}
