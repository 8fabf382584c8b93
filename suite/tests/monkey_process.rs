//! Waiting on child processes from coroutines after `patch_all`: std's
//! `Command::status`/`output` and `Child::wait`/`try_wait`, and the raw
//! `waitpid`/`wait4`/`waitid`/`wait`, park only the caller, keep libc's
//! exact results, and under kill or timeout leave the child un-reaped.
//! Children and signal dispositions are process-wide (a `waitpid(-1)` may
//! reap any test's child), so every test takes the `serial` lock and runs
//! under a watchdog.

mod common;
mod monkey_support;

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::os::unix::thread::JoinHandleExt;
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use monkey_support::{errno, install_handler, serial, signal_thread, wait_handled, with_ticker};

fn patch() {
    green::monkey::patch_all();
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

/// Start `script` and hand back only its pid: the raw wait calls under
/// test reap it.
#[allow(clippy::zombie_processes)]
fn spawn_pid(script: &str) -> libc::pid_t {
    let c = sh(script).spawn().expect("spawn");
    c.id() as libc::pid_t
}

/// Open fds of this process (to show no pidfd is left behind).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn twenty_children_sleeping_300ms_finish_together_and_the_hub_keeps_ticking() {
    let _s = serial();
    patch();
    let (wall, gap) = watchdog(60, || {
        with_ticker(|| {
            let t = Instant::now();
            let hs: Vec<_> = (0..20)
                .map(|_| green::spawn(|| Command::new("sleep").arg("0.3").status()))
                .collect();
            for r in green::joinall(hs) {
                assert!(r.expect("coroutine").expect("status").success());
            }
            t.elapsed()
        })
    });
    eprintln!("20 x `sleep 0.3` children: {wall:?}, largest ticker gap {gap:?}");
    // One after another they take 6 s; together about 0.3 s plus spawning.
    assert!(wall < Duration::from_millis(1500), "took {wall:?}");
    assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
}

#[test]
fn exit_codes_and_signals_are_exactly_libcs() {
    let _s = serial();
    patch();
    let plain = (
        sh("exit 3").status().expect("status"),
        sh("kill -9 $$").status().expect("status"),
        sh("kill -TERM $$").status().expect("status"),
    );
    let green = watchdog(30, || {
        green::spawn(|| {
            (
                sh("exit 3").status().expect("status"),
                sh("kill -9 $$").status().expect("status"),
                sh("kill -TERM $$").status().expect("status"),
            )
        })
        .join()
        .expect("coroutine")
    });
    assert_eq!(green.0.code(), Some(3));
    assert_eq!(green.1.signal(), Some(libc::SIGKILL));
    assert_eq!(green.1.code(), None);
    assert_eq!(green.2.signal(), Some(libc::SIGTERM));
    assert_eq!(
        (green.0.into_raw(), green.1.into_raw(), green.2.into_raw()),
        (plain.0.into_raw(), plain.1.into_raw(), plain.2.into_raw())
    );
}

#[test]
fn output_captures_stdout_and_stderr_bytes_exactly() {
    let _s = serial();
    patch();
    // Binary bytes on both pipes, more than a pipe buffer on stdout, and an
    // exit code: what std gives outside coroutines, byte for byte.
    let script = "printf 'a\\000b\\377\\n'; head -c 300000 /dev/zero | tr '\\000' x; \
                  printf 'err\\001\\376' >&2; sleep 0.1; exit 5";
    let plain = sh(script).output().expect("output");
    let (got, gap) = watchdog(30, move || with_ticker(move || sh(script).output()));
    let got = got.expect("output");
    assert_eq!(got.status.code(), Some(5));
    assert_eq!(&got.stdout[..6], b"a\0b\xff\nx");
    assert_eq!(got.stdout.len(), 5 + 300_000);
    assert_eq!(got.stderr, b"err\x01\xfe");
    assert_eq!(got.stdout, plain.stdout);
    assert_eq!(got.stderr, plain.stderr);
    assert_eq!(got.status, plain.status);
    assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
}

#[test]
fn try_wait_before_and_after_exit_and_wait_after_it() {
    let _s = serial();
    patch();
    watchdog(30, || {
        green::spawn(|| {
            let mut c = sh("sleep 0.2; exit 6").spawn().expect("spawn");
            assert!(c.try_wait().expect("try_wait").is_none(), "still running");
            green::sleep(Duration::from_millis(500));
            let st = c.try_wait().expect("try_wait").expect("exited");
            assert_eq!(st.code(), Some(6));
            // std keeps the status: wait gives it again, without a syscall.
            assert_eq!(c.wait().expect("wait").code(), Some(6));
        })
        .join()
        .expect("coroutine");
    });
}

#[test]
fn raw_wnohang_passes_straight_through() {
    let _s = serial();
    patch();
    watchdog(30, || {
        green::spawn(|| {
            let c = spawn_pid("sleep 0.2; exit 9");
            let pid = c;
            let mut st = -1;
            let t = Instant::now();
            // SAFETY: `st` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            assert_eq!(r, 0, "running: nothing to report");
            assert!(t.elapsed() < Duration::from_millis(100), "WNOHANG waited");
            assert_eq!(st, -1, "status untouched");
            green::sleep(Duration::from_millis(500));
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            assert_eq!(r, pid);
            assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 9);
            // SAFETY: as above; reaped, so no such child any more.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            assert_eq!((r, errno()), (-1, libc::ECHILD));
        })
        .join()
        .expect("coroutine");
    });
}

#[test]
fn any_child_waits_park_and_keep_libc_semantics() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let ((), gap) = with_ticker(|| {
            // waitpid(-1): the one child, with its status.
            let c = spawn_pid("sleep 0.3; exit 7");
            let mut st = 0;
            // SAFETY: `st` is a valid out-pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, 0) };
            assert_eq!(r, c);
            assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 7);
            // wait(): the same through the other name.
            let c = spawn_pid("sleep 0.1; exit 8");
            // SAFETY: as above.
            let r = unsafe { libc::wait(&mut st) };
            assert_eq!(r, c);
            assert_eq!(libc::WEXITSTATUS(st), 8);
            // wait4(-1) with rusage, and waitid(P_ALL) with its siginfo.
            let c = spawn_pid("sleep 0.1; exit 10");
            // SAFETY: an all-zero rusage is valid.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointers.
            let r = unsafe { libc::wait4(-1, &mut st, 0, &mut ru) };
            assert_eq!((r, libc::WEXITSTATUS(st)), (c, 10));
            let c = spawn_pid("sleep 0.1; exit 11");
            // SAFETY: an all-zero siginfo_t is valid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: a valid out-pointer.
            let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED) };
            assert_eq!(r, 0);
            // SAFETY: waitid filled a SIGCHLD record.
            unsafe {
                assert_eq!(info.si_pid(), c);
                assert_eq!(info.si_status(), 11);
            }
            // No children left: ECHILD at once, as libc.
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(-1, &mut st, 0) };
            assert_eq!((r, errno()), (-1, libc::ECHILD));
        });
        assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
    });
}

#[test]
fn waitid_on_a_pid_and_on_a_pidfd_parks_and_reports_the_exit() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let ((), gap) = with_ticker(|| {
            let c = spawn_pid("sleep 0.2; exit 12");
            // SAFETY: an all-zero siginfo_t is valid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: a valid out-pointer.
            let r = unsafe { libc::waitid(libc::P_PID, c as libc::id_t, &mut info, libc::WEXITED) };
            assert_eq!(r, 0);
            // SAFETY: filled by waitid.
            assert_eq!(unsafe { info.si_status() }, 12);

            let c = spawn_pid("sleep 0.2; exit 13");
            // SAFETY: plain syscall.
            let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, c, 0) } as i32;
            assert!(pfd >= 0, "pidfd_open: {}", errno());
            // SAFETY: a valid out-pointer.
            let r =
                unsafe { libc::waitid(libc::P_PIDFD, pfd as libc::id_t, &mut info, libc::WEXITED) };
            assert_eq!(r, 0);
            // SAFETY: filled by waitid.
            assert_eq!(unsafe { (info.si_pid(), info.si_status()) }, (c, 13));
            // SAFETY: we own pfd.
            unsafe { libc::close(pfd) };
        });
        assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
    });
}

/// A coroutine parked in `Child::wait` on a 300 ms child; `cut` ends the
/// park (kill or timeout). The child must then still be waitable, with its
/// real status, and no pidfd may be left open.
fn cut_short_wait_leaves_the_child_waitable(timeout: bool) {
    green::spawn(|| ()).join().expect("start the hub"); // its own fds first
    let fds = open_fds();
    let child = Rc::new(RefCell::new(
        sh("sleep 0.3; exit 4").spawn().expect("spawn"),
    ));
    let seen: Rc<RefCell<Option<std::io::Result<std::process::ExitStatus>>>> = Rc::default();
    let h = {
        let (child, seen) = (child.clone(), seen.clone());
        green::spawn(move || {
            let run = {
                let seen = seen.clone();
                move || {
                    let r = child.borrow_mut().wait();
                    *seen.borrow_mut() = Some(r);
                }
            };
            if timeout {
                let _ = green::timeout(Duration::from_millis(50), run);
            } else {
                run();
                green::sleep(Duration::from_secs(10)); // unwinds: killed
            }
        })
    };
    if !timeout {
        green::sleep(Duration::from_millis(50));
        h.kill();
    }
    let joined = h.join();
    let want = if timeout {
        assert!(joined.is_ok());
        libc::ETIMEDOUT
    } else {
        assert!(matches!(joined, Err(green::JoinError::Killed)));
        libc::ECANCELED
    };
    let got = seen.borrow_mut().take().expect("wait returned");
    let e = got.expect_err("wait was cut short");
    assert_eq!(e.raw_os_error(), Some(want));
    assert_eq!(open_fds(), fds, "a pidfd was left open");
    let mut c: Child = Rc::try_unwrap(child).expect("one owner").into_inner();
    assert_eq!(c.try_wait().expect("try_wait"), None, "not reaped");
    let st = c.wait().expect("wait after the cut");
    assert_eq!(st.code(), Some(4));
}

#[test]
fn kill_of_a_coroutine_parked_in_child_wait_leaves_the_child_waitable() {
    let _s = serial();
    patch();
    watchdog(30, || cut_short_wait_leaves_the_child_waitable(false));
}

#[test]
fn timeout_of_a_coroutine_parked_in_child_wait_leaves_the_child_waitable() {
    let _s = serial();
    patch();
    watchdog(30, || cut_short_wait_leaves_the_child_waitable(true));
}

#[test]
fn kill_and_timeout_of_an_any_child_wait_reap_nothing() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let c = spawn_pid("sleep 0.3; exit 2");
        let pid = c;
        let got = green::spawn(|| {
            let mut st = 0;
            let seen = std::cell::Cell::new((0, 0));
            let r = green::timeout(Duration::from_millis(50), || {
                // SAFETY: a valid out-pointer.
                let r = unsafe { libc::waitpid(-1, &mut st, 0) };
                seen.set((r, errno()));
            });
            // The deadline fired inside: `timeout` reports it (C87).
            assert_eq!(r, Err(green::Elapsed));
            seen.get()
        })
        .join()
        .expect("coroutine");
        assert_eq!(got, (-1, libc::ETIMEDOUT));
        let h = green::spawn(|| {
            let mut st = 0;
            // SAFETY: a valid out-pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, 0) };
            assert_eq!((r, errno()), (-1, libc::ECANCELED));
            green::sleep(Duration::from_secs(10));
        });
        green::sleep(Duration::from_millis(30));
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        let mut st = 0;
        // Root context whose hub has nothing left to run: the real,
        // blocking call; the child is still there.
        // SAFETY: a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        assert_eq!((r, libc::WEXITSTATUS(st)), (pid, 2));
    });
}

#[test]
fn a_child_that_already_exited_and_one_that_is_not_ours() {
    let _s = serial();
    patch();
    watchdog(30, || {
        // Already a zombie when the coroutine waits: no park, the status.
        let mut c = sh("exit 14").spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(100));
        let st = green::spawn(move || c.wait().expect("wait"))
            .join()
            .expect("coroutine");
        assert_eq!(st.code(), Some(14));
        // Not our child: ECHILD at once, like libc.
        let r = green::spawn(|| {
            let mut st = 0;
            // SAFETY: a valid out-pointer; pid 1 is never our child.
            let r = unsafe { libc::waitpid(1, &mut st, 0) };
            (r, errno())
        })
        .join()
        .expect("coroutine");
        assert_eq!(r, (-1, libc::ECHILD));
    });
}

#[test]
fn waits_from_plain_threads_and_the_root_context_are_unchanged() {
    let _s = serial();
    patch();
    let st = std::thread::spawn(|| sh("exit 4").status().expect("status"))
        .join()
        .expect("thread");
    assert_eq!(st.code(), Some(4));
    let out = std::thread::spawn(|| sh("printf hi; exit 1").output().expect("output"))
        .join()
        .expect("thread");
    assert_eq!(
        (out.stdout.as_slice(), out.status.code()),
        (&b"hi"[..], Some(1))
    );
    // Root context of a thread with a hub: blocking, as unpatched.
    let st = watchdog(30, || {
        let h = green::spawn(|| ());
        h.join().expect("coroutine");
        sh("exit 5").status().expect("status")
    });
    assert_eq!(st.code(), Some(5));
}

#[test]
fn plain_thread_waitpid_interrupted_by_a_signal_fails_with_eintr_like_libc() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR2, false);
    let c = spawn_pid("sleep 0.5");
    let pid = c;
    let before = monkey_support::SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst);
    let t = std::thread::spawn(move || {
        let mut st = 0;
        // SAFETY: a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        let e = errno();
        // SAFETY: as above; now wait for real.
        let again = unsafe { libc::waitpid(pid, &mut st, 0) };
        (r, e, again)
    });
    std::thread::sleep(Duration::from_millis(100));
    signal_thread(t.as_pthread_t(), libc::SIGUSR2);
    wait_handled(before + 1);
    let (r, e, again) = t.join().expect("thread");
    assert_eq!((r, e), (-1, libc::EINTR));
    assert_eq!(again, pid);
}

#[test]
fn without_a_pidfd_the_wait_still_parks_and_reports_the_exit() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let ((), gap) = with_ticker(|| {
            let mut c = sh("sleep 0.2; exit 15").spawn().expect("spawn");
            // No fd left to open: pidfd_open fails with EMFILE.
            // SAFETY: an all-zero rlimit is valid; valid out-pointer.
            let mut old: libc::rlimit = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
            let low = libc::rlimit {
                rlim_cur: 64,
                rlim_max: old.rlim_max,
            };
            // SAFETY: a valid rlimit.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
            // Fill every free number below the limit.
            let mut fillers = Vec::new();
            loop {
                // SAFETY: a NUL-terminated path.
                let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
                if fd < 0 {
                    break;
                }
                fillers.push(fd);
            }
            // SAFETY: plain syscall.
            let probe = unsafe { libc::syscall(libc::SYS_pidfd_open, c.id(), 0) };
            let probe_errno = errno();
            let st = c.wait();
            for fd in fillers {
                // SAFETY: we opened it.
                unsafe { libc::close(fd) };
            }
            // SAFETY: a valid rlimit.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
            assert_eq!((probe, probe_errno), (-1, libc::EMFILE), "precondition");
            assert_eq!(st.expect("wait").code(), Some(15));
        });
        assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
    });
}

#[test]
fn wait4_by_pid_fills_rusage_and_a_timed_out_pidfd_wait_keeps_the_callers_pidfd() {
    let _s = serial();
    patch();
    watchdog(30, || {
        let ((), gap) = with_ticker(|| {
            let pid = spawn_pid("sleep 0.2; exit 16");
            let mut st = 0;
            // SAFETY: an all-zero rusage is valid.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut st, 0, &mut ru) };
            assert_eq!((r, libc::WEXITSTATUS(st)), (pid, 16));
            assert!(ru.ru_maxrss > 0, "the child's rusage");

            let pid = spawn_pid("sleep 0.3; exit 17");
            // SAFETY: plain syscall.
            let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
            assert!(pfd >= 0);
            let cut = std::cell::Cell::new((0, 0));
            let r = green::timeout(Duration::from_millis(50), || {
                // SAFETY: an all-zero siginfo_t is valid; a valid out-pointer.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                let r = unsafe {
                    libc::waitid(libc::P_PIDFD, pfd as libc::id_t, &mut info, libc::WEXITED)
                };
                cut.set((r, errno()));
            });
            assert_eq!(r, Err(green::Elapsed), "C87");
            assert_eq!(cut.get(), (-1, libc::ETIMEDOUT));
            // The caller's pidfd is still open and still works.
            // SAFETY: F_GETFD on a number we own.
            let open = unsafe { libc::fcntl(pfd, libc::F_GETFD) };
            assert!(open >= 0, "pidfd kept");
            // SAFETY: an all-zero siginfo_t is valid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: a valid out-pointer.
            let r =
                unsafe { libc::waitid(libc::P_PIDFD, pfd as libc::id_t, &mut info, libc::WEXITED) };
            assert_eq!(r, 0);
            // SAFETY: filled by waitid.
            assert_eq!(unsafe { info.si_status() }, 17);
            // SAFETY: ours.
            unsafe { libc::close(pfd) };
        });
        assert!(gap < Duration::from_millis(250), "hub stalled {gap:?}");
    });
}

#[test]
fn a_signal_to_the_hub_thread_does_not_end_a_parked_child_wait() {
    let _s = serial();
    patch();
    install_handler(libc::SIGUSR2, false); // no SA_RESTART: libc would EINTR
    let before = monkey_support::SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst);
    let (st, handled) = watchdog(30, move || {
        // SAFETY: this thread's id, alive while the coroutine waits.
        let me = unsafe { libc::pthread_self() } as usize;
        let poker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY: the watchdog thread is alive (its hub runs the wait).
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR2) };
        });
        let st = green::spawn(|| sh("sleep 0.3; exit 18").status())
            .join()
            .expect("coroutine");
        poker.join().expect("poker");
        let now = monkey_support::SIGNALS_HANDLED.load(std::sync::atomic::Ordering::SeqCst);
        (st, now - before)
    });
    assert_eq!(handled, 1, "the handler ran");
    assert_eq!(st.expect("status").code(), Some(18));
}
