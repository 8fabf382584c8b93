//! Shared by the benches: read criterion's medians back, take medians of
//! hand-timed samples and print peer ratios, so every run reports "green vs
//! peer" measured in the same run.
#![allow(dead_code)]

use std::path::PathBuf;

fn criterion_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// Median time per iteration (ns) that criterion recorded for
/// `group/bench` in this run.
pub fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let p = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(p).ok()?;
    let at = text.find("\"median\"")?;
    let rest = &text[at..];
    let pe = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let num: String = rest[pe..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-' || *c == '+')
        .collect();
    num.parse().ok()
}

/// Print `green` against each peer of a group, per operation.
pub fn report(group: &str, ops_per_iter: f64, green: &str, peers: &[&str]) {
    let Some(g) = median_ns(group, green) else {
        println!("{group}: no result for {green}");
        return;
    };
    println!("{group}: {green} {:.1} ns/op (median)", g / ops_per_iter);
    for p in peers {
        match median_ns(group, p) {
            Some(v) => println!(
                "{group}:   {p} {:.1} ns/op -> {green} is {:.2}x faster",
                v / ops_per_iter,
                v / g
            ),
            None => println!("{group}:   {p}: no result"),
        }
    }
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Median of hand-timed samples (the upper middle for an even count); NaN
/// when there are none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
