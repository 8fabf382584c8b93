//! Runs the networking examples and checks what they print.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The example's binary, built first if `cargo test` did not build it.
fn example(name: &str) -> PathBuf {
    green_suite::cargo::example(name)
}

/// Kills the child if the test fails midway.
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait for a child to exit, with a deadline (a hung example fails the
/// test; the caller's `KillOnDrop` then ends it).
fn wait_exit(child: &mut Child, secs: u64) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "example hung");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for a child with a deadline and collect what it printed.
fn wait_output(child: Child, secs: u64) -> Output {
    let mut guard = KillOnDrop(child);
    wait_exit(&mut guard.0, secs);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    guard
        .0
        .stdout
        .take()
        .map(|mut s| s.read_to_end(&mut stdout));
    guard
        .0
        .stderr
        .take()
        .map(|mut s| s.read_to_end(&mut stderr));
    let status = guard.0.wait().unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Start an example with `args`, its stdout and stderr piped.
fn spawn_piped(name: &str, args: &[&str]) -> Child {
    Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"))
}

/// Assert that the example exited successfully (showing all it printed
/// if not) and return its stdout.
fn assert_success(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

#[test]
fn echo_server_and_client() {
    // A free port instead of 1688, so parallel runs cannot collide; serve
    // three clients, then exit.
    let server = spawn_piped("echo_server", &["127.0.0.1:0", "3"]);
    let mut server = KillOnDrop(server);
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("echo_server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    // Default lines, then custom lines, from two clients at once.
    let c1 = spawn_piped("echo_client", &[addr.as_str()]);
    let c2 = spawn_piped(
        "echo_client",
        &[addr.as_str(), "mixed Case 123", "ünïcode stays"],
    );
    let o1 = wait_output(c1, 30);
    let o2 = wait_output(c2, 30);
    assert_eq!(
        assert_success(&o1),
        "HELLO, GREEN\nONE COROUTINE PER CLIENT\nBYE\n"
    );
    // Like the original, only ASCII letters change.
    assert_eq!(assert_success(&o2), "MIXED CASE 123\nüNïCODE STAYS\n");
    // A client for a refused port fails cleanly.
    let bad = spawn_piped("echo_client", &["127.0.0.1:1"]);
    assert!(!wait_output(bad, 30).status.success());

    // Third client: the server then exits by itself.
    let c3 = spawn_piped("echo_client", &[addr.as_str(), "last"]);
    let o3 = wait_output(c3, 30);
    assert_eq!(String::from_utf8_lossy(&o3.stdout), "LAST\n");
    assert!(wait_exit(&mut server.0, 30).success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.matches(" connected").count(), 3, "{rest}");
    assert_eq!(rest.matches(" disconnected").count(), 3, "{rest}");
}

#[test]
fn crawler_fetches_every_page_concurrently() {
    let child = spawn_piped("crawler", &["12", "6"]);
    let stdout = assert_success(&wait_output(child, 60));
    for mode in ["sequential", "concurrent"] {
        let mut seen: Vec<(usize, usize)> = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{mode}: http://")))
            .map(|l| {
                // "<mode>: http://localhost:PORT/page/N BYTES bytes"
                let mut w = l.split_whitespace().skip(1);
                let url = w.next().unwrap();
                let bytes: usize = w.next().unwrap().parse().unwrap();
                let n: usize = url.rsplit('/').next().unwrap().parse().unwrap();
                (n, bytes)
            })
            .collect();
        seen.sort();
        let want: Vec<(usize, usize)> = (1..=12).map(|n| (n, n * 1000)).collect();
        assert_eq!(seen, want, "{mode} results\n{stdout}");
    }
    let secs = |prefix: &str| -> f64 {
        let l = stdout
            .lines()
            .find(|l| l.starts_with(prefix) && l.contains(" pages, "))
            .unwrap_or_else(|| panic!("no summary {prefix}\n{stdout}"));
        assert!(l.contains("78000 bytes"), "{l}");
        let s = l.split(" in ").nth(1).unwrap();
        s.split(" s").next().unwrap().parse().unwrap()
    };
    let (seq, conc) = (secs("sequential:"), secs("concurrent:"));
    // 12 pages x 100 ms one by one vs 6 at a time: generous bound only.
    assert!(
        conc * 2.0 < seq,
        "concurrent {conc} s vs sequential {seq} s"
    );
    assert!(stdout.contains("speed-up: "));
}

#[test]
fn echo_all_cores_serves_every_client_across_hubs() {
    let child = spawn_piped("echo_all_cores", &["--selftest", "40"]);
    let text = assert_success(&wait_output(child, 60));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 41, "{text}");
    for (i, line) in lines[..40].iter().enumerate() {
        assert_eq!(*line, format!("HELLO FROM CLIENT {i}"));
    }
    // Every connection was served by exactly one hub; the counts add up.
    let summary = lines[40];
    assert!(summary.starts_with("40 connections over "), "{summary}");
    let served: usize = summary
        .split("served ")
        .skip(1)
        .map(|s| {
            s.split(',')
                .next()
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(served, 40, "{summary}");
}
