//! The crate as another project sees it: a scratch crate of its own that
//! depends on `greenhub` by path, built with and without the default
//! feature `monkey`, and the libc names its binary exports.
//!
//! Without `monkey` a program built on green must not interpose libc (a
//! library that uses green for its own concurrency must not change every
//! program that depends on it); with it, the hooks must be exported so
//! `patch_all` can work.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Symbols the monkey layer defines; none may be defined by a binary built
/// without it.
const HOOKED: &[&str] = &[
    "read",
    "write",
    "close",
    "connect",
    "recv",
    "nanosleep",
    "getaddrinfo",
];

const MAIN: &str = r#"
use std::time::Duration;
fn main() {
    let a = green::spawn(|| { green::sleep(Duration::ZERO); 1 });
    let b = green::spawn(|| 2);
    let sum: i32 = green::joinall([a, b]).into_iter().map(|r| r.unwrap()).sum();
    // Errors fit the ecosystem: `?` into a boxed Send + Sync error.
    let r: Result<(), Box<dyn std::error::Error + Send + Sync>> = (|| {
        green::spawn(|| panic!("boom")).join()?;
        Ok(())
    })();
    println!("sum {sum}, error: {}", r.is_err());
}
"#;

/// Writes the scratch crate `name` and builds it; returns its binary.
fn build_scratch(name: &str, dependency: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("create scratch crate");
    let root = green_suite::cargo::workspace_root();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{dependency}\n\n\
         # Its own workspace: the crate sits inside this repository's target dir.\n[workspace]\n",
    )
    .replace("ROOT", &root.display().to_string());
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/main.rs"), MAIN);
    // Reuse this workspace's lockfile so the build resolves offline to the
    // same versions.
    let lock = std::fs::read(root.join("Cargo.lock")).expect("workspace Cargo.lock");
    if std::fs::read(dir.join("Cargo.lock")).ok().as_deref() != Some(&lock[..]) {
        std::fs::write(dir.join("Cargo.lock"), &lock).expect("write Cargo.lock");
    }
    let target = tmp.join("scratch-target");
    let out = green_suite::cargo::command()
        .current_dir(&dir)
        .args(["build", "--quiet", "--offline", "--target-dir"])
        .arg(&target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the scratch crate {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target.join("debug").join(name);
    let run = Command::new(&bin).output().expect("run the scratch binary");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "sum 3, error: true",
        "stderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    bin
}

/// Write only when different, so cargo sees an unchanged crate on reruns.
fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// The symbols `bin` defines in its dynamic symbol table (`nm -D
/// --defined-only`), which is what other objects' calls resolve to.
fn exported(bin: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(bin)
        .output()
        .expect("run nm (Debian package binutils)");
    assert!(out.status.success(), "nm failed on {}", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect()
}

#[test]
fn without_feature_monkey_a_binary_exports_no_libc_names() {
    let bin = build_scratch(
        "scratch_no_monkey",
        "green = { package = \"greenhub\", path = \"ROOT\", default-features = false }",
    );
    let syms = exported(&bin);
    let leaked: Vec<&&str> = HOOKED
        .iter()
        .filter(|h| syms.iter().any(|s| s == **h))
        .collect();
    assert!(
        leaked.is_empty(),
        "libc names exported without `monkey`: {leaked:?}"
    );
}

#[test]
fn with_default_features_the_hooks_are_exported() {
    let bin = build_scratch(
        "scratch_default",
        "green = { package = \"greenhub\", path = \"ROOT\" }",
    );
    let syms = exported(&bin);
    let missing: Vec<&&str> = HOOKED
        .iter()
        .filter(|h| !syms.iter().any(|s| s == **h))
        .collect();
    assert!(
        missing.is_empty(),
        "hooks not exported with `monkey`: {missing:?}"
    );
}
