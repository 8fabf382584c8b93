//! Nested cargo builds from inside a test: building the facade's examples
//! so a test can run them as processes.
//!
//! A test binary runs with the variables cargo sets for it
//! (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...). A nested `cargo build` that
//! inherits them sees a different environment from the outer one, and
//! build scripts that watch such variables (ring's, for one) rerun, so
//! every later `cargo test` would rebuild them. [`command`] drops them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: the facade package `greenhub`, whose examples the
/// tests run.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Variables cargo sets for the test process that it would otherwise hand
/// on to the nested build (other `CARGO_*` settings, such as
/// `CARGO_TARGET_DIR` or `CARGO_HOME`, are the user's and are kept).
fn set_by_cargo_for_this_test(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
        )
}

/// `cargo <args>` run from the workspace root, with the test's own cargo
/// variables removed.
pub fn command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_by_cargo_for_this_test) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `target/<profile>` of the running test binary
/// (`target/<profile>/deps/<test>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("test binary lives in target/<profile>/deps")
}

/// Builds example `name` of `package` in the test's own profile (a no-op
/// when it is up to date: `cargo test --test x` alone builds no examples,
/// and a stale binary would test old code) and returns its path.
///
/// Panics with cargo's output when the build fails.
pub fn example_in(package: &str, name: &str, features: &[&str]) -> PathBuf {
    let dir = profile_dir();
    let mut cmd = command();
    cmd.args(["build", "--quiet", "-p", package, "--example", name]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building example {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("examples").join(name)
}

/// [`example_in`] for the facade's examples (`examples/` at the root).
pub fn example(name: &str) -> PathBuf {
    example_in("greenhub", name, &[])
}
