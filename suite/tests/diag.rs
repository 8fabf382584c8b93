//! Diagnostics: the blocked-loop monitor (C40), `run_info()`, deadlock
//! reports with run-info, and the run-info-on-signal opt-in.
//!
//! The monitor writes straight to fd 2 from its own thread, which the test
//! harness cannot capture, so monitor scenarios run in a child process: this
//! test binary again, running only the ignored `child` test with
//! `GREEN_DIAG_CHILD=<scenario>`.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use green::rt::ParkedOn;
use green::wait_list::WaitList;
use green::{Builder, CoroutineState};

const CHILD_ENV: &str = "GREEN_DIAG_CHILD";

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with stdout/stderr in temp files; kill it if it runs for more
/// than 60 s (a hang must fail the test, not stall it).
fn run_with_timeout(mut cmd: Command, tag: &str) -> Output {
    let dir = std::env::temp_dir();
    let base = format!("green-diag-{}-{tag}", std::process::id());
    let out_p = dir.join(format!("{base}.out"));
    let err_p = dir.join(format!("{base}.err"));
    let out_f = std::fs::File::create(&out_p).expect("create temp file");
    let err_f = std::fs::File::create(&err_p).expect("create temp file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out_f))
        .stderr(Stdio::from(err_f));
    let mut child = cmd.spawn().expect("spawn child");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_p).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_p).unwrap_or_default();
    let _ = std::fs::remove_file(&out_p);
    let _ = std::fs::remove_file(&err_p);
    let Some(status) = status else {
        panic!("child '{tag}' hung and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    };
    Output {
        ok: status.success(),
        stdout,
        stderr,
    }
}

/// Run one scenario of `child` below in a fresh process.
fn run_child(scenario: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, scenario)
    .env_remove(green::MONITOR_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_with_timeout(cmd, scenario);
    assert!(
        out.ok,
        "child '{scenario}' failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

/// Block the thread the way careless code does: raw libc, no monkey.
fn raw_block(d: Duration) {
    // SAFETY: usleep only sleeps.
    unsafe { libc::usleep(d.as_micros() as libc::useconds_t) };
}

/// Spawn a named coroutine that blocks its hub for `d`; prints its id and
/// spawn line on stdout as `<name> id=<id> line=<line>`.
fn blocker(name: &str, d: Duration) -> green::JoinHandle<()> {
    let b = Builder::new().name(name);
    let h = b.spawn(move || raw_block(d)).unwrap();
    let line = line!() - 1;
    println!("{name} id={} line={line}", h.id());
    h
}

/// Scenarios run in the child process.
#[test]
#[ignore = "helper: run in a child process by the other tests"]
fn child() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    match scenario.as_str() {
        // One coroutine blocks for 1 s; the others keep the hub busy before
        // and after.
        "block_once" => {
            let ticker = green::spawn(|| {
                for _ in 0..20 {
                    green::sleep(Duration::from_millis(5));
                }
            });
            let h = blocker("blocker", Duration::from_millis(1000));
            h.join().unwrap();
            ticker.join().unwrap();
        }
        // Two stalls in a row, by two coroutines: one report each.
        "block_twice" => {
            let a = blocker("first", Duration::from_millis(800));
            let b = blocker("second", Duration::from_millis(800));
            green::joinall([a, b]);
        }
        // Monitor set by Runtime rather than the environment.
        "runtime_setting" => {
            green::Runtime::new()
                .monitor(Duration::from_millis(100))
                .run(|| blocker("configured", Duration::from_millis(1000)).join())
                .unwrap()
                .unwrap();
        }
        // Two hubs, only hub 1 stalls.
        "two_hubs" => {
            green::Runtime::new()
                .threads(2)
                .monitor(Duration::from_millis(100))
                .run_threads(|i| {
                    if i == 1 {
                        blocker("hub1-blocker", Duration::from_millis(1000))
                            .join()
                            .unwrap();
                    } else {
                        green::sleep(Duration::from_millis(1200));
                    }
                })
                .unwrap();
        }
        // Nothing here blocks a hub inside a coroutine for long: an idle hub
        // parked in the poller, coroutines that yield often, and `main`
        // blocking outside any coroutine must not be reported.
        "well_behaved" => {
            let sleepy = green::spawn(|| green::sleep(Duration::from_millis(800)));
            let busy = green::spawn(|| {
                let end = Instant::now() + Duration::from_millis(800);
                while Instant::now() < end {
                    let spin = Instant::now() + Duration::from_micros(500);
                    while Instant::now() < spin {}
                    green::yield_now();
                }
            });
            green::joinall([sleepy, busy]);
            let lone = green::spawn(|| green::sleep(Duration::from_millis(100)));
            // The root context (not a coroutine) blocks the thread.
            raw_block(Duration::from_millis(800));
            lone.join().unwrap();
            green::sleep(Duration::from_millis(800));
        }
        // The monitor is off unless asked for.
        "default_off" => {
            blocker("unwatched", Duration::from_millis(800))
                .join()
                .unwrap();
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// Parse `<name> id=<id> line=<line>` from a child's stdout.
fn announced(stdout: &str, name: &str) -> (u64, u32) {
    let tag = format!("{name} id=");
    let l = stdout
        .lines()
        .find_map(|l| l.find(&tag).map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no line for {name} in {stdout}"));
    let field = |k: &str| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("bad line {l}"))
    };
    (field("id="), field("line=") as u32)
}

fn monitor_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("green: monitor:"))
        .collect()
}

// C40
#[test]
fn monitor_names_a_coroutine_blocked_in_raw_libc_sleep() {
    let out = run_child("block_once", &[(green::MONITOR_ENV, "100")]);
    let (id, line) = announced(&out.stdout, "blocker");
    let reports = monitor_lines(&out.stderr);
    assert_eq!(
        reports.len(),
        1,
        "exactly one report per stall: {}",
        out.stderr
    );
    let r = reports[0];
    assert!(
        r.contains(&format!("coroutine 'blocker' (#{id})")),
        "names the coroutine and its id: {r}"
    );
    assert!(
        r.contains(&format!("spawned at suite/tests/diag.rs:{line}:")),
        "says where it was spawned: {r}"
    );
    assert!(r.contains("thread 'child'"), "names the thread: {r}");
    let ms: u64 = r
        .split("for ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("says how long: {r}"));
    assert!(
        (100..1000).contains(&ms),
        "reported while blocked, after the threshold: {r}"
    );
}

// C40
#[test]
fn monitor_reports_each_stall_once() {
    let out = run_child("block_twice", &[(green::MONITOR_ENV, "100")]);
    let (a, _) = announced(&out.stdout, "first");
    let (b, _) = announced(&out.stdout, "second");
    let reports = monitor_lines(&out.stderr);
    assert_eq!(reports.len(), 2, "{}", out.stderr);
    assert!(
        reports[0].contains(&format!("'first' (#{a})")),
        "{}",
        reports[0]
    );
    assert!(
        reports[1].contains(&format!("'second' (#{b})")),
        "{}",
        reports[1]
    );
}

// C40
#[test]
fn monitor_can_be_set_by_runtime() {
    let out = run_child("runtime_setting", &[]);
    let (id, _) = announced(&out.stdout, "configured");
    let reports = monitor_lines(&out.stderr);
    assert_eq!(reports.len(), 1, "{}", out.stderr);
    assert!(reports[0].contains(&format!("'configured' (#{id})")));
    assert!(reports[0].contains("threshold 100 ms"), "{}", reports[0]);
}

// C40
#[test]
fn monitor_watches_each_hub_of_a_runtime() {
    let out = run_child("two_hubs", &[]);
    let (id, _) = announced(&out.stdout, "hub1-blocker");
    let reports = monitor_lines(&out.stderr);
    assert_eq!(reports.len(), 1, "{}", out.stderr);
    assert!(reports[0].contains(&format!("'hub1-blocker' (#{id})")));
    assert!(
        reports[0].contains("thread 'green-hub-1'"),
        "{}",
        reports[0]
    );
}

#[test]
fn monitor_is_quiet_for_idle_hubs_yielding_coroutines_and_main() {
    let out = run_child("well_behaved", &[(green::MONITOR_ENV, "300")]);
    assert_eq!(
        monitor_lines(&out.stderr),
        Vec::<&str>::new(),
        "{}",
        out.stderr
    );
}

#[test]
fn monitor_is_off_by_default() {
    let out = run_child("default_off", &[]);
    assert!(!out.stderr.contains("green: monitor"), "{}", out.stderr);
}

#[test]
fn monitor_rejects_a_bad_environment_value_clearly() {
    let out = run_child("default_off", &[(green::MONITOR_ENV, "fast")]);
    assert!(
        out.stderr
            .contains("GREEN_MONITOR_MS=\"fast\" is not a whole number of milliseconds"),
        "{}",
        out.stderr
    );
    assert!(monitor_lines(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn run_info_describes_every_live_coroutine() {
    let list = Rc::new(WaitList::new());
    let l = list.clone();

    let sleeper = green::spawn(|| green::sleep(Duration::from_secs(60)));
    let sleeper_line = line!() - 1;
    let waiter = Builder::new()
        .name("waiter")
        .spawn(move || l.wait(None))
        .unwrap();
    let (mut mine, theirs) = UnixStream::pair().unwrap();
    mine.set_nonblocking(true).unwrap();
    let fd = mine.as_raw_fd();
    let reader = Builder::new()
        .name("reader")
        .spawn(move || {
            let mut b = [0u8; 8];
            loop {
                match mine.read(&mut b) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        green::rt::wait_fd(mine.as_raw_fd(), green::rt::Interest::Read, None)
                            .unwrap()
                    }
                    r => return r.unwrap(),
                }
            }
        })
        .unwrap();
    let (tx, rx) = mpsc::channel::<u8>();
    let remote = Builder::new()
        .name("remote")
        .spawn(move || green::spawn_blocking(move || rx.recv().ok()))
        .unwrap();
    let timed = Builder::new()
        .name("timed")
        .spawn(|| green::timeout(Duration::from_secs(60), || WaitList::new().wait(None)))
        .unwrap();
    let ids = [
        sleeper.id(),
        waiter.id(),
        reader.id(),
        remote.id(),
        timed.id(),
    ];

    let inspector = Builder::new()
        .name("inspector")
        .spawn(|| {
            let late = Builder::new().name("late").spawn(|| ()).unwrap();
            let info = green::run_info();
            late.join().unwrap();
            info
        })
        .unwrap();
    let inspector_id = inspector.id();
    green::sleep(Duration::from_millis(20));
    let info = inspector.join().unwrap();

    assert_eq!(info.len(), 7, "{info}");
    let state = |id| info.get(id).unwrap().state;
    assert_eq!(state(ids[0]), CoroutineState::Parked(ParkedOn::Timer));
    assert_eq!(state(ids[1]), CoroutineState::Parked(ParkedOn::WaitList));
    assert_eq!(state(ids[2]), CoroutineState::Parked(ParkedOn::Fd(fd)));
    assert_eq!(state(ids[3]), CoroutineState::Parked(ParkedOn::Remote));
    assert_eq!(state(ids[4]), CoroutineState::Parked(ParkedOn::WaitList));
    assert_eq!(state(inspector_id), CoroutineState::Running);

    let s = info.get(ids[0]).unwrap();
    assert_eq!(s.name, None);
    assert!(s.has_deadline);
    assert_eq!(s.spawned_at.file(), "suite/tests/diag.rs");
    assert_eq!(s.spawned_at.line(), sleeper_line);
    assert!(s
        .since_last_run
        .is_some_and(|d| d < Duration::from_secs(30)));
    assert!(!info.get(ids[1]).unwrap().has_deadline);
    assert!(info.get(ids[4]).unwrap().has_deadline, "timeout frame");
    assert_eq!(info.get(ids[2]).unwrap().name.as_deref(), Some("reader"));

    let late = info
        .coroutines()
        .iter()
        .find(|c| c.name.as_deref() == Some("late"))
        .unwrap();
    assert_eq!(late.state, CoroutineState::Ready);
    assert_eq!(late.since_last_run, None);
    assert_eq!(info.get(inspector_id).unwrap().since_last_run, None);

    let text = info.to_string();
    assert!(text.starts_with("green run-info: thread '"), "{text}");
    assert!(text.contains("7 coroutine(s)"), "{text}");
    for want in [
        format!(
            "#{} <unnamed> parked on timer (with deadline), last ran ",
            ids[0]
        ),
        format!("#{} 'waiter' parked on wait-list", ids[1]),
        format!("#{} 'reader' parked on fd {fd}, last ran", ids[2]),
        format!("#{} 'remote' parked on another thread", ids[3]),
        format!("#{inspector_id} 'inspector' running, spawned at suite/tests/diag.rs:"),
        "'late' ready, not started, spawned at suite/tests/diag.rs:".to_string(),
        format!("spawned at suite/tests/diag.rs:{sleeper_line}:"),
    ] {
        assert!(text.contains(&want), "missing {want:?} in\n{text}");
    }
    assert_eq!(text.lines().count(), 8, "{text}");

    // Everything ends; the snapshot from main now shows only what is left.
    tx.send(1).unwrap();
    drop(theirs);
    list.notify_all();
    sleeper.kill();
    timed.kill();
    assert_eq!(remote.join().unwrap(), Some(1));
    assert_eq!(reader.join().unwrap(), 0);
    waiter.join().unwrap();
    assert!(sleeper.join().unwrap_err().is_killed());
    assert!(timed.join().unwrap_err().is_killed());
    assert!(green::run_info().is_empty());
}

#[test]
fn run_info_without_a_hub_is_empty_and_creates_none() {
    let info = std::thread::spawn(|| {
        let info = green::run_info();
        (info.len(), info.switches(), green::current().is_none())
    })
    .join()
    .unwrap();
    assert_eq!(info, (0, 0, true));
}

#[test]
fn deadlock_report_includes_run_info_of_parked_coroutines() {
    let list = Rc::new(WaitList::new());
    let l = list.clone();
    let stuck = Builder::new()
        .name("stuck")
        .spawn(move || {
            l.wait(None);
        })
        .unwrap();
    let stuck_line = line!() - 4;
    let id = stuck.id();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stuck.join()));
    let payload = r.expect_err("joining a coroutine nobody can wake deadlocks");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .expect("a String message");
    assert!(msg.starts_with("green: deadlock"), "{msg}");
    assert!(msg.contains("1 coroutine(s) parked"), "{msg}");
    assert!(
        msg.contains(&format!(
            "#{id} 'stuck' parked on wait-list (queue, lock, event or join), last ran "
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("spawned at suite/tests/diag.rs:{stuck_line}:")),
        "{msg}"
    );
    assert!(msg.contains("green run-info: thread '"), "{msg}");
    list.notify_all();
}

#[test]
fn run_info_on_signal_rejects_signals_it_must_not_catch() {
    for sig in [0, -1, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 10_000] {
        let e = green::run_info_on_signal(sig).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "signal {sig}");
    }
}

fn example_binary(name: &str) -> PathBuf {
    green_suite::cargo::example(name)
}

#[test]
fn run_info_example_shows_every_state_and_prints_on_signal() {
    let mut cmd = Command::new(example_binary("run_info"));
    cmd.arg("--signal");
    let out = run_with_timeout(cmd, "example");
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("green run-info: thread 'main', 7 coroutine(s)"),
        "{}",
        out.stdout
    );
    for (i, want) in [
        "#1 'sleeper' parked on timer (with deadline), last ran",
        "#2 'waiter' parked on wait-list",
        "#3 'joiner' parked on wait-list",
        "#4 'reader' parked on fd ",
        "#5 'offloaded' parked on another thread",
        "#6 'reporter' running, spawned at examples/run_info.rs:",
        "#7 'late' ready, not started, spawned at examples/run_info.rs:",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            lines[i + 1].trim_start().starts_with(want),
            "{}",
            lines[i + 1]
        );
    }
    assert!(
        out.stdout
            .contains("done: sleeper #1 and the rest finished"),
        "{}",
        out.stdout
    );
    // The signal made the hub print its run-info on stderr.
    assert!(
        out.stderr.contains("green run-info: thread 'main'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("#1 'sleeper' parked on timer"),
        "{}",
        out.stderr
    );
}
