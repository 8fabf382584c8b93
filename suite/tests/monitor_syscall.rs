//! The blocked-loop monitor names the system call a stuck hub thread is in
//! and gives the advice that fits it (C40): a futex (a thread-level lock or
//! channel), another event loop's `epoll_wait`, a file lock, CPU-bound code,
//! and a plain blocking call with `patch_all` off and on.
//!
//! The monitor writes straight to fd 2 from its own thread, so each scenario
//! runs in a child process (this test binary again, running only the ignored
//! `child` test) and the parent reads its stderr. The call-to-advice table
//! itself is unit-tested on sample lines in the runtime
//! (`monitor/syscall.rs`), including disk reads, which do not block long
//! enough to catch here.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use green::Builder;

const CHILD_ENV: &str = "GREEN_MONITOR_SYSCALL_CHILD";

/// How long each scenario keeps its hub stuck: well past the 100 ms
/// threshold, so the report comes while the thread is still in the call.
const STUCK: Duration = Duration::from_millis(700);

/// Run scenario `name` in a child process with the monitor at 100 ms and
/// return its one monitor report (failing on a hang, a failed child, or any
/// other number of reports).
fn report_of(name: &str) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .env(green::MONITOR_ENV, "100")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let mut err = child.stderr.take().expect("child stderr");
    // The reader ends at the child's exit; a thread keeps a hang from
    // stalling the test (the child is killed after 60 s).
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
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
    let stderr = reader.join().expect("stderr reader");
    let status = status.unwrap_or_else(|| panic!("child '{name}' hung\n{stderr}"));
    assert!(status.success(), "child '{name}' failed\n{stderr}");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("green: monitor:"))
        .collect();
    assert_eq!(reports.len(), 1, "one report per stall:\n{stderr}");
    let r = reports[0].to_string();
    assert!(
        r.contains(&format!("coroutine '{name}' (#")),
        "names the coroutine: {r}"
    );
    assert!(
        r.contains("spawned at suite/tests/monitor_syscall.rs:"),
        "says where it was spawned: {r}"
    );
    assert!(r.contains(" ms so far"), "says how long: {r}");
    r
}

/// Run `f` as a coroutine named `name` and wait for it.
fn stuck(name: &str, f: impl FnOnce() + 'static) {
    // A ticker shows the hub is otherwise alive before and after the stall.
    let ticker = green::spawn(|| {
        for _ in 0..5 {
            green::sleep(Duration::from_millis(5));
        }
    });
    Builder::new()
        .name(name)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the stuck coroutine ends normally");
    ticker.join().expect("ticker");
}

/// Scenarios run in the child process.
#[test]
#[ignore = "helper: run in a child process by the other tests"]
fn child() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    match scenario.as_str() {
        // std's channel waits in a futex, patched or not.
        "mpsc_recv" => {
            green::monkey::patch_all();
            let (tx, rx) = mpsc::channel::<u32>();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(STUCK);
                tx.send(7).expect("send");
            });
            stuck("mpsc_recv", move || {
                assert_eq!(rx.recv().expect("recv"), 7);
            });
            sender.join().expect("sender");
        }
        // A std Mutex held by another thread.
        "std_mutex" => {
            green::monkey::patch_all();
            let m = Arc::new(Mutex::new(0u32));
            let ready = Arc::new(Barrier::new(2));
            let holder = {
                let (m, ready) = (m.clone(), ready.clone());
                std::thread::spawn(move || {
                    let mut g = m.lock().expect("lock");
                    ready.wait();
                    std::thread::sleep(STUCK);
                    *g += 1;
                })
            };
            ready.wait();
            stuck("std_mutex", move || {
                assert_eq!(*m.lock().expect("lock"), 1);
            });
            holder.join().expect("holder");
        }
        // A library's own event loop: an epoll set that is not the hub's.
        "foreign_epoll" => {
            green::monkey::patch_all();
            stuck("foreign_epoll", || {
                // SAFETY: creates a new epoll fd, owned and closed here.
                let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
                assert!(ep >= 0, "epoll_create1");
                let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
                // SAFETY: `evs` is valid for 4 events; nothing is registered
                // so this waits out its timeout.
                let n =
                    unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 4, STUCK.as_millis() as i32) };
                assert_eq!(n, 0, "times out with nothing registered");
                // SAFETY: `ep` is ours and closed once.
                unsafe { libc::close(ep) };
            });
        }
        // A whole-file lock held through another open file description.
        "flock_wait" => {
            green::monkey::patch_all();
            let path = std::env::temp_dir().join(format!("green-flock-{}", std::process::id()));
            let held = std::fs::File::create(&path).expect("create lock file");
            // SAFETY: a valid fd; flock only locks.
            assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
            let unlocker = std::thread::spawn(move || {
                std::thread::sleep(STUCK);
                drop(held); // closing releases the lock
            });
            let p = path.clone();
            stuck("flock_wait", move || {
                let f = std::fs::File::open(&p).expect("open lock file");
                // SAFETY: a valid fd; blocks until the other holder closes.
                assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
            });
            unlocker.join().expect("unlocker");
            let _ = std::fs::remove_file(&path);
        }
        // Computation that never yields.
        "cpu_spin" => {
            stuck("cpu_spin", || {
                let end = Instant::now() + STUCK;
                let mut x = 0u64;
                while Instant::now() < end {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            });
        }
        // An ordinary blocking call, monkey off: patch_all is the advice.
        "sleep_unpatched" => {
            stuck("sleep_unpatched", || {
                // SAFETY: usleep only sleeps.
                unsafe { libc::usleep(STUCK.as_micros() as libc::useconds_t) };
            });
        }
        // The same call made as a raw system call, which no hook sees even
        // with patch_all on: the report names it as not cooperative.
        "sleep_raw_patched" => {
            green::monkey::patch_all();
            stuck("sleep_raw_patched", || {
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: STUCK.as_nanos() as libc::c_long,
                };
                // SAFETY: `ts` is valid; the second argument may be null.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_nanosleep,
                        &ts as *const libc::timespec,
                        std::ptr::null_mut::<libc::timespec>(),
                    )
                };
                assert_eq!(r, 0);
            });
        }
        other => panic!("unknown scenario {other}"),
    }
}

// C40
#[test]
fn a_coroutine_in_std_mpsc_recv_is_reported_in_a_futex() {
    let r = report_of("mpsc_recv");
    assert!(r.contains("the system call `futex`"), "{r}");
    assert!(r.contains("thread-level lock, channel or park"), "{r}");
    assert!(r.contains("green::xchan"), "{r}");
    assert!(r.contains("green::spawn_blocking"), "{r}");
    assert!(
        !r.contains("use green::monkey::patch_all"),
        "patch_all is on and would not help: {r}"
    );
}

// C40
#[test]
fn a_coroutine_waiting_for_a_std_mutex_is_reported_in_a_futex() {
    let r = report_of("std_mutex");
    assert!(r.contains("the system call `futex`"), "{r}");
    assert!(r.contains("green::sync"), "{r}");
}

// C40
#[test]
fn a_foreign_event_loop_is_told_from_the_hubs_own() {
    let r = report_of("foreign_epoll");
    assert!(
        r.contains("`epoll_wait`") || r.contains("`epoll_pwait`"),
        "{r}"
    );
    assert!(r.contains("event loop that is not the hub's"), "{r}");
    assert!(r.contains("green::block_on"), "{r}");
}

// C40
#[test]
fn a_file_lock_wait_is_reported_as_such() {
    let r = report_of("flock_wait");
    assert!(r.contains("`flock`"), "{r}");
    assert!(r.contains("waiting for a file lock"), "{r}");
    assert!(r.contains("green::spawn_blocking"), "{r}");
}

// C40
#[test]
fn cpu_bound_code_is_reported_as_running() {
    let r = report_of("cpu_spin");
    assert!(r.contains("the thread is running"), "{r}");
    assert!(r.contains("green::sleep(Duration::ZERO)"), "{r}");
}

// C40
#[test]
fn a_blocking_call_without_monkey_gets_the_patch_all_advice() {
    let r = report_of("sleep_unpatched");
    assert!(
        r.contains("`nanosleep`") || r.contains("`clock_nanosleep`"),
        "{r}"
    );
    assert!(r.contains("green::monkey::patch_all"), "{r}");
}

// C40
#[test]
fn a_call_no_hook_sees_is_named_as_not_cooperative_when_patched() {
    let r = report_of("sleep_raw_patched");
    assert!(r.contains("`nanosleep`"), "{r}");
    assert!(r.contains("does not make cooperative"), "{r}");
    assert!(r.contains("patch_all is on"), "{r}");
}
