//! The real servers the suite's tests start (`redis-server`, PostgreSQL),
//! installed from Debian's packages on first use, so that
//! `cargo test --workspace` passes on a fresh machine with nothing
//! installed by hand.
//!
//! What it does, in order:
//! - finds the server binaries; when they are all there it does nothing
//!   (the common case, and every run after the first);
//! - otherwise takes an exclusive `flock` on one file under the temp dir,
//!   so parallel test threads and test binaries install once, and looks
//!   again under the lock (another process may have just installed them);
//! - runs `apt-get update` and `apt-get install -y` for the missing
//!   packages, as root or through passwordless `sudo -n`, printing what it
//!   installs and why;
//! - where it cannot (no root, no `apt-get`, the install failed), it panics
//!   with the exact command to run. A missing server is never a silent skip.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Debian package and the binary that shows it is installed.
struct Package {
    name: &'static str,
    /// True when the package's program is present.
    installed: fn() -> bool,
}

/// Everything the real-server tests start. Installed together, so a
/// machine that lacks both pays for one `apt-get` run.
const SERVERS: &[Package] = &[
    Package {
        name: "redis-server",
        installed: || on_path_or_in("redis-server", &[PathBuf::from("/usr/bin")]).is_some(),
    },
    Package {
        name: "postgresql",
        installed: || {
            let dirs = postgres_bin_dirs();
            dirs.first()
                .is_some_and(|d| d.join("initdb").is_file() && d.join("pg_isready").is_file())
        },
    },
];

/// `name` in one of `dirs`, else on `PATH`.
pub fn on_path_or_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter()
        .cloned()
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The `bin` directories of the installed PostgreSQL versions, newest
/// first (Debian keeps them in `/usr/lib/postgresql/<major>/bin`).
pub fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().rev().map(|(_, d)| d).collect()
}

fn missing() -> Vec<&'static str> {
    SERVERS
        .iter()
        .filter(|p| !(p.installed)())
        .map(|p| p.name)
        .collect()
}

/// Makes sure `redis-server` and PostgreSQL are installed, installing the
/// missing Debian packages first (see the module docs). Panics with the
/// command to run when it cannot.
pub fn servers() {
    if missing().is_empty() {
        return;
    }
    let _lock = InstallLock::take();
    let need = missing();
    if need.is_empty() {
        return;
    }
    let by_hand = format!(
        "sudo apt-get update && sudo apt-get install -y {}",
        need.join(" ")
    );
    let Some(prefix) = privilege() else {
        panic!(
            "the real-server tests need the Debian packages {need:?}, which are not installed, \
             and this process can neither install them as root nor through passwordless sudo. \
             Install them with:\n    {by_hand}"
        );
    };
    say(&format!(
        "green-suite: installing Debian packages {} (the real-server tests start these \
         servers on 127.0.0.1; this happens once per machine)",
        need.join(" ")
    ));
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut cmd = Command::new(prefix.first().copied().unwrap_or("apt-get"));
        cmd.args(prefix.iter().skip(1))
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(need.iter().copied());
    let result = apt(&["update"]).and_then(|()| apt(&install));
    if let Err(e) = result {
        panic!("installing {need:?} failed: {e}\nInstall them by hand with:\n    {by_hand}");
    }
    let still = missing();
    assert!(
        still.is_empty(),
        "apt-get installed {need:?} but {still:?} still looks missing; install by hand with:\n    {by_hand}"
    );
    say(&format!("green-suite: installed {}", need.join(" ")));
}

/// A line on the process's real stderr. The test harness captures
/// `eprintln!` and shows it only for failing tests; an install is news
/// either way.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// How to run `apt-get` with the rights it needs: directly as root,
/// through `sudo -n` when that works without a password, else `None`.
fn privilege() -> Option<Vec<&'static str>> {
    on_path_or_in("apt-get", &[PathBuf::from("/usr/bin")])?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Some(vec!["apt-get"]);
    }
    let sudo_ok = Command::new("sudo")
        .args(["-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    sudo_ok.then(|| vec!["sudo", "-n", "apt-get"])
}

/// An exclusive `flock` on a file shared by every test process of this
/// machine, released when dropped (or when the process dies).
struct InstallLock(File);

impl InstallLock {
    fn take() -> InstallLock {
        let path = lock_path();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open lock file {}: {e}", path.display()));
        loop {
            // SAFETY: a valid fd owned by `file`, which outlives the lock.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return InstallLock(file);
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                panic!("cannot lock {}: {err}", path.display());
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        // SAFETY: the fd is still open (owned by self.0); unlocking is
        // also what closing it would do.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn lock_path() -> PathBuf {
    Path::new(&std::env::temp_dir()).join("green-suite-apt.lock")
}
