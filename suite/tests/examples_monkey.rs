//! The monkey examples run and print what they promise.
//!
//! Each example is built with `cargo build --example` (a no-op when `cargo
//! test` already built it) and run as its own process.

use std::path::PathBuf;
use std::process::Command;

fn run_example(name: &str) -> String {
    let bin: PathBuf = green_suite::cargo::example(name);
    let out = Command::new(&bin)
        .output()
        .unwrap_or_else(|e| panic!("run {bin:?}: {e}"));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The number just before `unit` on `line` ("... in 123 ms ...").
fn number_before(line: &str, unit: &str) -> u128 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == unit).expect("unit");
    words[i - 1].parse().expect("a number")
}

// C36
#[test]
fn monkey_sleep_example_finishes_in_about_one_sleep() {
    let out = run_example("monkey_sleep");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        "100 coroutines each called std::thread::sleep(100 ms)"
    );
    assert_eq!(lines[1], "all 100 finished");
    assert!(lines[2].starts_with("total: "), "{out}");
    assert!(
        lines[2].ends_with(" ms (sequential would be 10000 ms)"),
        "{out}"
    );
    let ms = number_before(lines[2], "ms");
    // About 100 ms; 10 s if the sleeps did not overlap.
    assert!((100..3000).contains(&ms), "took {ms} ms");
}

// C37
#[test]
fn monkey_echo_example_echoes_upper_case_concurrently() {
    let out = run_example("monkey_echo");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("server listening on 127.0.0.1:"),
        "{out}"
    );
    let mut want = Vec::new();
    for c in 0..5 {
        for l in 0..3 {
            want.push(format!("client {c}: HELLO FROM CLIENT {c}, LINE {l}"));
        }
    }
    assert_eq!(&lines[1..16], &want[..], "{out}");
    assert_eq!(lines.len(), 17, "{out}");
    let last = lines[16];
    assert!(last.starts_with("5 clients x 3 lines in "), "{out}");
    assert!(last.ends_with("(one after another: 1500 ms)"), "{out}");
    let ms = number_before(last, "ms");
    assert!((300..1400).contains(&ms), "took {ms} ms: not concurrent");
}
