//! The blocked-loop monitor's default (C73): on with a 1 s threshold in
//! debug builds, off in release builds; `GREEN_MONITOR_MS=0` and
//! `Runtime::monitor(None)` turn it off. Each case runs as a child process
//! (the environment is read once per process).

mod common;

use std::process::Command;
use std::time::Duration;

/// A coroutine that blocks its hub for 1.5 s with an unpatched sleep.
fn block_the_hub(runtime: Option<green::Runtime>) {
    let body = || {
        green::spawn(|| std::thread::sleep(Duration::from_millis(1500)))
            .join()
            .unwrap();
    };
    match runtime {
        Some(rt) => rt.run(body).unwrap(),
        None => body(),
    }
}

#[test]
fn child_default() {
    if common::is_child() {
        block_the_hub(None);
    }
}

#[test]
fn child_runtime_monitor_none() {
    if common::is_child() {
        block_the_hub(Some(green::Runtime::new().monitor(None)));
    }
}

fn child_stderr(test: &str, env: Option<(&str, &str)>) -> String {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GREEN_CHILD", "1")
        .env_remove("GREEN_MONITOR_MS");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn on_by_default_in_debug_builds_only() {
    let err = child_stderr("child_default", None);
    let reported = err.contains("green: monitor:");
    assert_eq!(reported, cfg!(debug_assertions), "stderr: {err}");
    if cfg!(debug_assertions) {
        assert!(
            err.contains("(threshold 1000 ms)") || err.contains("threshold 1 s"),
            "{err}"
        );
    }
}

#[test]
fn zero_in_the_environment_turns_it_off() {
    let err = child_stderr("child_default", Some(("GREEN_MONITOR_MS", "0")));
    assert!(!err.contains("green: monitor:"), "{err}");
}

#[test]
fn runtime_monitor_none_turns_it_off() {
    let err = child_stderr("child_runtime_monitor_none", None);
    assert!(!err.contains("green: monitor:"), "{err}");
}

#[test]
fn a_zero_threshold_is_still_refused() {
    let e = green::Runtime::new()
        .monitor(Duration::ZERO)
        .run(|| ())
        .unwrap_err();
    assert!(
        matches!(e, green::RuntimeError::ZeroMonitorThreshold),
        "{e:?}"
    );
}
