//! What a stuck hub thread is doing, told from the kernel's view of it: the
//! line of `/proc/self/task/<tid>/syscall` (the system call the thread is
//! blocked in and its arguments, or `running`), turned into the call's name
//! and the advice that fits it.
//!
//! The kernel's line is `<nr> <arg0> .. <arg5> <sp> <pc>` (the number in
//! decimal, the rest in hex) while the thread sleeps in a system call,
//! `running` while it runs, and `-1 <sp> <pc>` when it is stopped outside
//! any call. The reading is a single snapshot taken by the monitor's
//! watchdog thread: a thread that blocks is asleep in the same call at every
//! look, which is the case this module exists for.
//!
//! The classifier ([`classify`]) is a pure function of the parsed line and a
//! [`Context`] (the hub's own epoll fd and a way to learn what kind of file
//! an fd is), so it is tested on sample lines; [`Cause::explain`] adds the
//! advice, which for calls a hook could reach depends on whether
//! `green::monkey` has patched the process. This module only reads `/proc`; it never signals, traces or
//! otherwise disturbs the thread it describes.

use std::fmt;
use std::os::unix::fs::FileTypeExt;

/// The advice when nothing more is known about the blocking call (the
/// thread's system call unreadable, or an unhooked call with patching off).
pub(crate) const GENERAL_ADVICE: &str = "a coroutine must not make blocking calls \
     (use green::spawn_blocking, green's own I/O, or green::monkey::patch_all)";

/// One reading of a thread's `syscall` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sample {
    /// The thread is on a CPU, running user code (or about to).
    Running,
    /// The thread sleeps in system call `nr` with these arguments.
    Call { nr: i64, args: [u64; 6] },
    /// The thread is stopped but not in a system call (e.g. a page fault).
    Stopped,
}

/// Parse one line of `/proc/<pid>/task/<tid>/syscall`; `None` if it is not
/// in the kernel's format.
pub(crate) fn parse(line: &str) -> Option<Sample> {
    let mut f = line.split_whitespace();
    let first = f.next()?;
    if first == "running" {
        return Some(Sample::Running);
    }
    let nr: i64 = first.parse().ok()?;
    if nr < 0 {
        return Some(Sample::Stopped);
    }
    let mut args = [0u64; 6];
    for a in args.iter_mut() {
        let s = f.next()?;
        *a = u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()?;
    }
    Some(Sample::Call { nr, args })
}

/// Read thread `tid`'s (of this process) current system call. `None` when
/// the kernel does not provide the file (not Linux, or a kernel built
/// without it) or the thread is gone.
pub(crate) fn read(tid: i32) -> Option<Sample> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    parse(&s)
}

/// The name of system call `nr` on this architecture, for the calls a
/// blocked thread is commonly found in.
pub(crate) fn name(nr: i64) -> Option<&'static str> {
    TABLE.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const TABLE: &[(i64, &str)] = &[
    (libc::SYS_futex, "futex"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
    (libc::SYS_epoll_pwait2, "epoll_pwait2"),
    (libc::SYS_read, "read"),
    (libc::SYS_pread64, "pread64"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_preadv, "preadv"),
    (libc::SYS_preadv2, "preadv2"),
    (libc::SYS_write, "write"),
    (libc::SYS_pwrite64, "pwrite64"),
    (libc::SYS_writev, "writev"),
    (libc::SYS_pwritev, "pwritev"),
    (libc::SYS_pwritev2, "pwritev2"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_nanosleep, "nanosleep"),
    (libc::SYS_clock_nanosleep, "clock_nanosleep"),
    (libc::SYS_wait4, "wait4"),
    (libc::SYS_waitid, "waitid"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_accept, "accept"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_sendmsg, "sendmsg"),
    (libc::SYS_recvmmsg, "recvmmsg"),
    (libc::SYS_sendmmsg, "sendmmsg"),
    (libc::SYS_flock, "flock"),
    (libc::SYS_fcntl, "fcntl"),
    (libc::SYS_fsync, "fsync"),
    (libc::SYS_fdatasync, "fdatasync"),
    (libc::SYS_sync_file_range, "sync_file_range"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_sendfile, "sendfile"),
    (libc::SYS_copy_file_range, "copy_file_range"),
    (libc::SYS_splice, "splice"),
    (libc::SYS_ioctl, "ioctl"),
    (libc::SYS_msgrcv, "msgrcv"),
    (libc::SYS_semtimedop, "semtimedop"),
    (libc::SYS_rt_sigsuspend, "rt_sigsuspend"),
    (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_io_getevents, "io_getevents"),
    (libc::SYS_sched_yield, "sched_yield"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_epoll_wait, "epoll_wait"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_poll, "poll"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_select, "select"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_open, "open"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_pause, "pause"),
    #[cfg(target_arch = "x86_64")]
    (libc::SYS_semop, "semop"),
];

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const TABLE: &[(i64, &str)] = &[];

/// What kind of file an fd is, as far as the advice cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A regular file or a block device, with its path: disk I/O, which no
    /// event loop can wait for.
    Disk(String),
    /// A socket, pipe, FIFO or terminal (what `readlink` shows, e.g.
    /// `socket:[1234]`): something an event loop can wait for.
    Stream(String),
    /// The fd could not be inspected (closed in the meantime).
    Unknown,
}

/// What kind of file this process's `fd` is, from `/proc/self/fd/<fd>`.
pub(crate) fn fd_kind(fd: u64) -> FdKind {
    let link = format!("/proc/self/fd/{fd}");
    let Ok(meta) = std::fs::metadata(&link) else {
        return FdKind::Unknown;
    };
    let target = std::fs::read_link(&link)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| format!("fd {fd}"));
    let t = meta.file_type();
    if t.is_file() || t.is_block_device() {
        FdKind::Disk(target)
    } else {
        FdKind::Stream(target)
    }
}

/// What the classifier needs to know besides the line.
pub(crate) struct Context<'a> {
    /// The epoll fd of the hub whose thread is read.
    pub(crate) hub_epoll_fd: i32,
    /// What kind of file an fd of this process is.
    pub(crate) fd_kind: &'a dyn Fn(u64) -> FdKind,
}

/// Why a hub thread is stuck, and so what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Running user code without yielding.
    Cpu,
    /// A futex: a thread-level lock, channel, condition variable or park.
    ThreadWait,
    /// `epoll_wait` on an epoll set that is not the hub's: a library runs
    /// its own event loop on this thread.
    ForeignLoop { call: &'static str },
    /// `epoll_wait` on the hub's own epoll set while a coroutine is marked
    /// running (the hub polling between two resumes).
    OwnLoop { call: &'static str },
    /// Reading, writing or syncing a regular file (or block device).
    Disk { call: &'static str, path: String },
    /// Waiting for a whole-file or record lock.
    FileLock { call: &'static str },
    /// Any other call; `on` names the file it works on when known.
    Other { call: String, on: Option<String> },
    /// Stopped outside any system call.
    Stopped,
}

/// Calls whose first argument is the fd they read or write.
const FD_IO: &[&str] = &[
    "read",
    "pread64",
    "readv",
    "preadv",
    "preadv2",
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "fsync",
    "fdatasync",
    "sync_file_range",
];

/// Classify one reading.
pub(crate) fn classify(sample: Sample, ctx: &Context<'_>) -> Cause {
    let (nr, args) = match sample {
        Sample::Running => return Cause::Cpu,
        Sample::Stopped => return Cause::Stopped,
        Sample::Call { nr, args } => (nr, args),
    };
    let Some(call) = name(nr) else {
        return Cause::Other {
            call: format!("syscall {nr}"),
            on: None,
        };
    };
    match call {
        "futex" => Cause::ThreadWait,
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
            if args[0] == ctx.hub_epoll_fd as u64 {
                Cause::OwnLoop { call }
            } else {
                Cause::ForeignLoop { call }
            }
        }
        "flock" => Cause::FileLock { call },
        "fcntl" if is_lock_wait(args[1]) => Cause::FileLock { call },
        "openat" | "open" => Cause::Disk {
            call,
            path: String::from("a file being opened"),
        },
        _ if FD_IO.contains(&call) => match (ctx.fd_kind)(args[0]) {
            FdKind::Disk(path) => Cause::Disk { call, path },
            FdKind::Stream(what) => Cause::Other {
                call: call.to_string(),
                on: Some(what),
            },
            FdKind::Unknown => Cause::Other {
                call: call.to_string(),
                on: None,
            },
        },
        _ => Cause::Other {
            call: call.to_string(),
            on: None,
        },
    }
}

/// `fcntl` commands that wait for a lock.
fn is_lock_wait(cmd: u64) -> bool {
    cmd == libc::F_SETLKW as u64 || cmd == libc::F_OFD_SETLKW as u64
}

impl Cause {
    /// The cause with the advice that fits it, ready to print (whether
    /// `patch_all` is on changes the advice for [`Cause::Other`] only).
    pub(crate) fn explain(&self, patched: bool) -> Explained<'_> {
        Explained {
            cause: self,
            patched,
        }
    }
}

/// A [`Cause`] printed as "what the thread is in; what to do".
pub(crate) struct Explained<'a> {
    cause: &'a Cause,
    patched: bool,
}

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            Cause::Cpu => f.write_str(
                "the thread is running (CPU-bound code that does not yield): call \
                 green::sleep(Duration::ZERO) now and then, or move the work to \
                 green::spawn_blocking",
            ),
            Cause::ThreadWait => f.write_str(
                "the thread is in the system call `futex` (a thread-level lock, channel or \
                 park: std::sync::Mutex, mpsc, Condvar, thread::park or a join, which no hook \
                 can make cooperative): use green's own primitives (green::sync, \
                 green::queue), green::xchan to talk to other threads, the library's \
                 async API through green::block_on when it waits for a worker thread of its \
                 own (e.g. reqwest::blocking), or green::spawn_blocking",
            ),
            Cause::ForeignLoop { call } => write!(
                f,
                "the thread is in the system call `{call}` of an event loop that is not the \
                 hub's (a library running its own runtime, e.g. a blocking client built on \
                 tokio): use the library's async API through green::block_on, or \
                 green::spawn_blocking"
            ),
            Cause::OwnLoop { call } => write!(
                f,
                "the thread is in the system call `{call}` of the hub's own event loop \
                 (the hub is polling between two resumes)"
            ),
            Cause::Disk { call, path } => write!(
                f,
                "the thread is in the system call `{call}` on {path} (disk I/O, which no \
                 event loop can wait for): move it to green::spawn_blocking"
            ),
            Cause::FileLock { call } => write!(
                f,
                "the thread is in the system call `{call}` waiting for a file lock: move it \
                 to green::spawn_blocking"
            ),
            Cause::Stopped => f.write_str(
                "the thread is stopped outside any system call: a coroutine must not make \
                 blocking calls (use green::spawn_blocking or green's own I/O)",
            ),
            Cause::Other { call, on } => {
                write!(f, "the thread is in the system call `{call}`")?;
                if let Some(on) = on {
                    write!(f, " on {on}")?;
                }
                if self.patched {
                    f.write_str(
                        ", which green::monkey does not make cooperative here although \
                         patch_all is on (the library makes the call directly, or through a \
                         path no hook sees): move it to green::spawn_blocking, or use green's \
                         own I/O",
                    )
                } else {
                    write!(f, ": {GENERAL_ADVICE}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(nr: i64, args: [u64; 6]) -> String {
        let mut s = nr.to_string();
        for a in args {
            s.push_str(&format!(" 0x{a:x}"));
        }
        s.push_str(" 0x7ffc3976cd50 0x7fc4547162ec\n");
        s
    }

    fn ctx(kind: &dyn Fn(u64) -> FdKind) -> Context<'_> {
        Context {
            hub_epoll_fd: 5,
            fd_kind: kind,
        }
    }

    fn run(l: &str, patched: bool, kind: &dyn Fn(u64) -> FdKind) -> (Cause, String) {
        let s = parse(l).expect("parses");
        let c = classify(s, &ctx(kind));
        let text = c.explain(patched).to_string();
        (c, text)
    }

    fn no_fd(_: u64) -> FdKind {
        panic!("this call has no fd to inspect")
    }

    #[test]
    fn parses_the_kernel_formats() {
        assert_eq!(parse("running\n"), Some(Sample::Running));
        assert_eq!(
            parse("-1 0x7ffc3976cd50 0x7fc4547162ec\n"),
            Some(Sample::Stopped)
        );
        assert_eq!(
            parse("0 0x3 0x5591e4b591d0 0x2000 0x0 0x0 0x0 0x7ffc3976cd50 0x7fc4547162ec\n"),
            Some(Sample::Call {
                nr: 0,
                args: [3, 0x5591e4b591d0, 0x2000, 0, 0, 0]
            })
        );
    }

    #[test]
    fn rejects_what_is_not_the_kernel_format() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("sleeping"), None);
        assert_eq!(parse("202 0x1 0x2"), None, "too few arguments");
        assert_eq!(parse("202 0xzz 0 0 0 0 0 0 0"), None);
    }

    #[test]
    fn futex_is_a_thread_level_wait() {
        let l = line(libc::SYS_futex, [0x55d0, 0x189, 0, 0, 0, 0xffff_ffff]);
        let (c, t) = run(&l, true, &no_fd);
        assert_eq!(c, Cause::ThreadWait);
        assert!(t.contains("`futex`"), "{t}");
        assert!(t.contains("green::xchan"), "{t}");
        assert!(t.contains("green::spawn_blocking"), "{t}");
    }

    #[test]
    fn epoll_on_another_set_is_a_foreign_loop_and_on_the_hubs_its_own() {
        for nr in [libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2] {
            let (c, t) = run(&line(nr, [9, 0x1000, 1024, 500, 0, 8]), true, &no_fd);
            assert!(matches!(c, Cause::ForeignLoop { .. }), "{c:?}");
            assert!(t.contains("green::block_on"), "{t}");
            let (c, _) = run(&line(nr, [5, 0x1000, 1024, 500, 0, 8]), true, &no_fd);
            assert!(matches!(c, Cause::OwnLoop { .. }), "{c:?}");
        }
        #[cfg(target_arch = "x86_64")]
        {
            let (c, t) = run(
                &line(libc::SYS_epoll_wait, [7, 0x1000, 1024, 500, 0, 0]),
                false,
                &no_fd,
            );
            assert_eq!(c, Cause::ForeignLoop { call: "epoll_wait" });
            assert!(t.contains("`epoll_wait`"), "{t}");
        }
    }

    #[test]
    fn reads_and_writes_of_regular_files_are_disk_io() {
        let disk = |fd: u64| {
            assert_eq!(fd, 12, "inspects the call's fd argument");
            FdKind::Disk("/var/lib/data.bin".into())
        };
        for nr in [
            libc::SYS_read,
            libc::SYS_pread64,
            libc::SYS_write,
            libc::SYS_fsync,
        ] {
            let (c, t) = run(&line(nr, [12, 0x1000, 4096, 0, 0, 0]), true, &disk);
            assert!(matches!(c, Cause::Disk { .. }), "{c:?}");
            assert!(t.contains("/var/lib/data.bin"), "{t}");
            assert!(t.contains("disk I/O"), "{t}");
            assert!(t.contains("green::spawn_blocking"), "{t}");
        }
    }

    #[test]
    fn reads_of_sockets_name_the_call_and_depend_on_patching() {
        let sock = |_: u64| FdKind::Stream("socket:[4321]".into());
        let l = line(libc::SYS_read, [4, 0x1000, 4096, 0, 0, 0]);
        let (c, on) = run(&l, true, &sock);
        assert_eq!(
            c,
            Cause::Other {
                call: "read".into(),
                on: Some("socket:[4321]".into())
            }
        );
        assert!(on.contains("`read` on socket:[4321]"), "{on}");
        assert!(on.contains("does not make cooperative"), "{on}");
        assert!(!on.contains("use green::monkey::patch_all"), "{on}");
        let (_, off) = run(&l, false, &sock);
        assert!(off.contains("green::monkey::patch_all"), "{off}");
    }

    #[test]
    fn file_locks_wait_only_for_waiting_commands() {
        let (c, t) = run(&line(libc::SYS_flock, [3, 2, 0, 0, 0, 0]), true, &no_fd);
        assert_eq!(c, Cause::FileLock { call: "flock" });
        assert!(t.contains("file lock"), "{t}");
        let w = libc::F_SETLKW as u64;
        let (c, _) = run(
            &line(libc::SYS_fcntl, [3, w, 0x1000, 0, 0, 0]),
            true,
            &no_fd,
        );
        assert_eq!(c, Cause::FileLock { call: "fcntl" });
        let g = libc::F_GETFL as u64;
        let (c, _) = run(&line(libc::SYS_fcntl, [3, g, 0, 0, 0, 0]), true, &no_fd);
        assert!(matches!(c, Cause::Other { .. }), "{c:?}");
    }

    #[test]
    fn running_is_cpu_bound_and_unknown_numbers_print_as_numbers() {
        let (c, t) = run("running\n", false, &no_fd);
        assert_eq!(c, Cause::Cpu);
        assert!(t.contains("green::sleep(Duration::ZERO)"), "{t}");
        let (c, t) = run(&line(99_999, [0; 6]), false, &no_fd);
        assert!(t.contains("`syscall 99999`"), "{t}");
        assert!(matches!(c, Cause::Other { .. }));
    }

    #[test]
    fn common_calls_have_names() {
        for (nr, n) in [
            (libc::SYS_futex, "futex"),
            (libc::SYS_clock_nanosleep, "clock_nanosleep"),
            (libc::SYS_wait4, "wait4"),
            (libc::SYS_connect, "connect"),
            (libc::SYS_accept4, "accept4"),
            (libc::SYS_ppoll, "ppoll"),
            (libc::SYS_pselect6, "pselect6"),
            (libc::SYS_recvfrom, "recvfrom"),
        ] {
            assert_eq!(name(nr), Some(n));
        }
        assert_eq!(name(-5), None);
    }

    #[test]
    fn fd_kind_tells_files_from_pipes() {
        let path = std::env::temp_dir().join(format!("green-fdkind-{}", std::process::id()));
        let f = std::fs::File::create(&path).expect("temp file");
        let kind = fd_kind(std::os::fd::AsRawFd::as_raw_fd(&f) as u64);
        let _ = std::fs::remove_file(&path);
        assert!(
            matches!(&kind, FdKind::Disk(p) if p.contains("green-fdkind")),
            "{kind:?}"
        );
        let (r, _w) = crate::sys::pipe_cloexec().expect("pipe");
        let kind = fd_kind(std::os::fd::AsRawFd::as_raw_fd(&r) as u64);
        assert!(
            matches!(&kind, FdKind::Stream(p) if p.starts_with("pipe:")),
            "{kind:?}"
        );
        assert_eq!(fd_kind(1 << 30), FdKind::Unknown);
    }

    #[test]
    fn reads_another_threads_line() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _ = tx.send(crate::sys::gettid());
            std::thread::sleep(std::time::Duration::from_millis(400));
        });
        let tid = rx.recv().expect("tid");
        // Give it time to fall asleep; a sleeping thread reads the same at
        // every look.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s = read(tid).expect("the kernel provides the line");
        let Sample::Call { nr, .. } = s else {
            panic!("a sleeping thread is in a call: {s:?}")
        };
        assert!(
            matches!(name(nr), Some("clock_nanosleep" | "nanosleep")),
            "{:?}",
            name(nr)
        );
        t.join().expect("sleeper");
        assert_eq!(read(-1), None);
    }
}
