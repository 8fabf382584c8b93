//! The differential tester's world and steps (see
//! `tests/monkey_differential.rs`): a handful of fds on fixed numbers, the
//! operations a program is made of, how each one runs through the hooked
//! libc functions, and what is compared after it.
//!
//! Every fd a program sees lives on `BASE + slot`, and every fd it makes
//! lands on the lowest free number from `BASE` up, so the same program makes
//! the same numbers on a plain thread and in a coroutine (the hub's own fds
//! are far below). A step's outcome is compared as the C library reports
//! it: the return value, errno when it failed, the bytes read, and the
//! fd's flags (`F_GETFL`) afterwards.
//!
//! Owns no runtime state; a program's "peer" (who supplies the data a
//! blocking read waits for) is handed in by the caller.
#![allow(dead_code)]

use std::ffi::CStr;
use std::os::fd::RawFd;

/// Slot `i` is fd `BASE + i`.
pub const BASE: RawFd = 500;
/// Slots a program may name (it never has more than `MAX_OPEN` open).
pub const SLOTS: u8 = 20;
/// Open slots at most: a dup is only made below this.
pub const MAX_OPEN: usize = 14;

/// The objects of the world, each on its slots at the start.
pub const UNIX: u8 = 0; // slots 0, 1: a Unix stream socket pair
pub const TCP: u8 = 1; // slots 2, 3: a TCP connection on 127.0.0.1
pub const PIPE: u8 = 2; // slots 4 (read end), 5 (write end)
pub const EVENT: u8 = 3; // slot 6: an eventfd
pub const FILE: u8 = 4; // slot 7: a regular file (memfd) with 32 bytes
/// Slots in use at the start, and the (object, end) on each.
pub const START: [(u8, u8); 8] = [
    (UNIX, 0),
    (UNIX, 1),
    (TCP, 0),
    (TCP, 1),
    (PIPE, 0),
    (PIPE, 1),
    (EVENT, 0),
    (FILE, 0),
];

/// Data a peer writes (raw, through no hook) on slot `via` for a blocking
/// read to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feed {
    pub via: u8,
    pub data: Vec<u8>,
}

/// One step of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `dup`, then moved to the lowest free number from `BASE` up.
    Dup { s: u8 },
    /// `fcntl(F_DUPFD or F_DUPFD_CLOEXEC, BASE)`.
    DupFd { s: u8, cloexec: bool },
    /// `dup2` onto slot `t`.
    Dup2 { s: u8, t: u8 },
    /// `dup3` onto slot `t`.
    Dup3 { s: u8, t: u8, cloexec: bool },
    /// `close`.
    Close { s: u8 },
    /// `close_range` of slots `lo..=hi`.
    CloseRange { lo: u8, hi: u8 },
    /// `closefrom` slot `lo`.
    Closefrom { lo: u8 },
    /// `fcntl(F_GETFL)`, then `F_SETFL` with `O_NONBLOCK` as given.
    SetFl { s: u8, nonblock: bool },
    /// `ioctl(FIONBIO)`.
    Fionbio { s: u8, on: bool },
    /// `setsockopt(SO_RCVTIMEO)` of `ms` milliseconds (0: none).
    RcvTimeo { s: u8, ms: u8 },
    /// `shutdown`.
    Shutdown { s: u8, how: i32 },
    /// `read` of up to `n` bytes.
    Read { s: u8, n: u16, feed: Option<Feed> },
    /// `recv` of up to `n` bytes with `flags`.
    Recv {
        s: u8,
        n: u16,
        flags: i32,
        feed: Option<Feed>,
    },
    /// `write`.
    Write { s: u8, data: Vec<u8> },
    /// `send` with `flags`.
    Send { s: u8, data: Vec<u8>, flags: i32 },
    /// `poll` for `events` with timeout 0.
    Poll { s: u8, events: i16 },
    /// `fdopen(dup(fd), "r")`, `fgetc`, `fclose`.
    Getc { s: u8, feed: Option<Feed> },
    /// `fdopen(dup(fd), "w")`, `fwrite`, `fflush` (if `flush`: else the
    /// `fclose` flushes), `fclose`.
    Puts { s: u8, data: Vec<u8>, flush: bool },
    /// `fdopen(fd, mode)` then `fclose` (which closes the slot).
    Fdopen { s: u8, mode: &'static CStr },
    /// The raw `close` system call, which no hook sees.
    RawClose { s: u8 },
    /// A new eventfd put on slot `t` by raw system calls (made, moved with
    /// `dup3`), which no hook sees.
    NewEventfd { t: u8, nonblock: bool },
    /// A new Unix socket pair put on slots `t` and `u` by raw system calls.
    NewPair { t: u8, u: u8 },
}

impl Op {
    /// The slot whose flags are compared after the step.
    pub fn slot(&self) -> u8 {
        match *self {
            Op::Dup { s }
            | Op::DupFd { s, .. }
            | Op::Close { s }
            | Op::SetFl { s, .. }
            | Op::Fionbio { s, .. }
            | Op::RcvTimeo { s, .. }
            | Op::Shutdown { s, .. }
            | Op::Read { s, .. }
            | Op::Recv { s, .. }
            | Op::Write { s, .. }
            | Op::Send { s, .. }
            | Op::Poll { s, .. }
            | Op::Getc { s, .. }
            | Op::Puts { s, .. }
            | Op::Fdopen { s, .. } => s,
            Op::Dup2 { t, .. } | Op::Dup3 { t, .. } | Op::NewEventfd { t, .. } => t,
            Op::NewPair { t, .. } | Op::RawClose { s: t } => t,
            Op::CloseRange { lo, .. } | Op::Closefrom { lo } => lo,
        }
    }

    /// The data a peer supplies for this step, if any.
    pub fn feed(&self) -> Option<&Feed> {
        match self {
            Op::Read { feed, .. } | Op::Recv { feed, .. } | Op::Getc { feed, .. } => feed.as_ref(),
            _ => None,
        }
    }
}

/// What a step reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obs {
    /// The return value (a count, an fd, a flag word, a character).
    pub ret: i64,
    /// errno when the call failed (`ret` -1, or a stream error), else 0.
    pub errno: i32,
    /// Bytes read, revents, or a stream's end/error marks.
    pub data: Vec<u8>,
    /// `F_GETFL` of the step's slot afterwards (`-errno` if it failed).
    pub flags: i32,
}

/// The fd of slot `s`.
pub fn fd(s: u8) -> RawFd {
    BASE + RawFd::from(s)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn set_errno(e: i32) {
    // SAFETY: this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// `ret` and, when it is negative, errno.
fn outcome(ret: i64) -> (i64, i32) {
    if ret < 0 {
        (ret, errno())
    } else {
        (ret, 0)
    }
}

/// Move `tmp` onto slot `s` (through the hooks, as any program would).
fn place(tmp: RawFd, s: u8) {
    // SAFETY: both numbers are the world's own.
    unsafe {
        assert_eq!(libc::dup2(tmp, fd(s)), fd(s), "place on slot {s}");
        libc::close(tmp);
    }
}

/// Make the world: every object of `START` on its slots, through the
/// hooked calls (so, in a coroutine, the sockets are the hooks' from birth).
pub fn setup() {
    // SAFETY: plain socket calls with valid out-pointers; every fd made is
    // placed on its slot or closed.
    unsafe {
        let mut sv = [0; 2];
        assert_eq!(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()),
            0
        );
        place(sv[0], 0);
        place(sv[1], 1);

        let l = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(l >= 0, "socket");
        // Thousands of programs a second leave their ports in TIME_WAIT.
        let one: libc::c_int = 1;
        libc::setsockopt(
            l,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&raw const one).cast(),
            4,
        );
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(l, (&raw const addr).cast(), len), 0, "bind");
        assert_eq!(libc::listen(l, 1), 0, "listen");
        let mut alen = len;
        assert_eq!(
            libc::getsockname(l, (&raw mut addr).cast(), &mut alen),
            0,
            "getsockname"
        );
        let c = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert_eq!(
            libc::connect(c, (&raw const addr).cast(), len),
            0,
            "connect"
        );
        let a = libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut());
        assert!(a >= 0, "accept");
        libc::close(l);
        // Small writes go out at once (no Nagle wait for an ACK).
        for s in [c, a] {
            libc::setsockopt(
                s,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw const one).cast(),
                4,
            );
        }
        place(c, 2);
        place(a, 3);

        let mut p = [0; 2];
        assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
        place(p[0], 4);
        place(p[1], 5);

        let e = libc::eventfd(0, 0);
        assert!(e >= 0, "eventfd");
        place(e, 6);

        let m = libc::memfd_create(c"green-diff".as_ptr(), 0);
        assert!(m >= 0, "memfd_create");
        let text = b"0123456789abcdefghijklmnopqrstuv";
        assert_eq!(libc::write(m, text.as_ptr().cast(), text.len()), 32);
        libc::lseek(m, 0, libc::SEEK_SET);
        place(m, 7);
    }
}

/// Close every slot (through the hooks).
pub fn teardown() {
    for s in 0..SLOTS {
        // SAFETY: the world's own numbers; EBADF for the closed ones.
        unsafe { libc::close(fd(s)) };
    }
}

/// Who supplies a blocking read's data: called with the fd to write on
/// and the bytes right before the step (`start`) and after it (`finish`).
pub trait Peer {
    fn start(&mut self, feed_fd: RawFd, read_fd: RawFd, data: &[u8]);
    fn finish(&mut self);
}

/// The peer's write: raw (no hook), as another process would make it.
pub fn raw_write(fd: RawFd, data: &[u8]) -> isize {
    // SAFETY: writes from a valid buffer; raw, so no hook is involved.
    unsafe { libc::syscall(libc::SYS_write, fd, data.as_ptr(), data.len()) as isize }
}

/// Run one step through the hooked C library and report it.
pub fn execute(op: &Op, peer: &mut dyn Peer) -> Obs {
    if let Some(f) = op.feed() {
        peer.start(fd(f.via), fd(op.slot()), &f.data);
    }
    let (ret, errno, data) = run(op);
    if op.feed().is_some() {
        peer.finish();
    }
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::fcntl(fd(op.slot()), libc::F_GETFL) };
    let flags = if fl < 0 { -self::errno() } else { fl };
    Obs {
        ret,
        errno,
        data,
        flags,
    }
}

/// The step itself: (return value, errno, data).
fn run(op: &Op) -> (i64, i32, Vec<u8>) {
    // SAFETY: every call below is a plain fd call on the world's numbers
    // (or numbers it closed, which fail with EBADF), with valid buffers of
    // the sizes given.
    unsafe {
        let (r, e) = match op {
            Op::Dup { s } => {
                let t = libc::dup(fd(*s));
                if t < 0 {
                    outcome(-1)
                } else {
                    let n = libc::fcntl(t, libc::F_DUPFD, BASE);
                    let r = outcome(i64::from(n));
                    libc::close(t);
                    r
                }
            }
            Op::DupFd { s, cloexec } => {
                let cmd = if *cloexec {
                    libc::F_DUPFD_CLOEXEC
                } else {
                    libc::F_DUPFD
                };
                outcome(i64::from(libc::fcntl(fd(*s), cmd, BASE)))
            }
            Op::Dup2 { s, t } => outcome(i64::from(libc::dup2(fd(*s), fd(*t)))),
            Op::Dup3 { s, t, cloexec } => {
                let fl = if *cloexec { libc::O_CLOEXEC } else { 0 };
                outcome(i64::from(libc::dup3(fd(*s), fd(*t), fl)))
            }
            Op::Close { s } => outcome(i64::from(libc::close(fd(*s)))),
            Op::CloseRange { lo, hi } => outcome(i64::from(libc::close_range(
                fd(*lo) as u32,
                fd(*hi) as u32,
                0,
            ))),
            Op::Closefrom { lo } => {
                set_errno(0);
                closefrom(fd(*lo));
                (0, 0)
            }
            Op::SetFl { s, nonblock } => {
                let fl = libc::fcntl(fd(*s), libc::F_GETFL);
                if fl < 0 {
                    outcome(-1)
                } else {
                    let fl = if *nonblock {
                        fl | libc::O_NONBLOCK
                    } else {
                        fl & !libc::O_NONBLOCK
                    };
                    outcome(i64::from(libc::fcntl(fd(*s), libc::F_SETFL, fl)))
                }
            }
            Op::Fionbio { s, on } => {
                let mut v: libc::c_int = (*on).into();
                outcome(i64::from(libc::ioctl(fd(*s), libc::FIONBIO, &mut v)))
            }
            Op::RcvTimeo { s, ms } => {
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: libc::suseconds_t::from(*ms) * 1000,
                };
                outcome(i64::from(libc::setsockopt(
                    fd(*s),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )))
            }
            Op::Shutdown { s, how } => outcome(i64::from(libc::shutdown(fd(*s), *how))),
            Op::Read { s, n, .. } => {
                let mut buf = vec![0u8; usize::from(*n)];
                let r = libc::read(fd(*s), buf.as_mut_ptr().cast(), buf.len());
                let o = outcome(r as i64);
                buf.truncate(r.max(0) as usize);
                return (o.0, o.1, buf);
            }
            Op::Recv { s, n, flags, .. } => {
                let mut buf = vec![0u8; usize::from(*n)];
                let r = libc::recv(fd(*s), buf.as_mut_ptr().cast(), buf.len(), *flags);
                let o = outcome(r as i64);
                buf.truncate(r.max(0) as usize);
                return (o.0, o.1, buf);
            }
            Op::Write { s, data } => {
                outcome(libc::write(fd(*s), data.as_ptr().cast(), data.len()) as i64)
            }
            Op::Send { s, data, flags } => {
                outcome(libc::send(fd(*s), data.as_ptr().cast(), data.len(), *flags) as i64)
            }
            Op::Poll { s, events } => {
                let mut p = libc::pollfd {
                    fd: fd(*s),
                    events: *events,
                    revents: 0,
                };
                let r = outcome(i64::from(libc::poll(&mut p, 1, 0)));
                return (r.0, r.1, p.revents.to_ne_bytes().to_vec());
            }
            Op::Getc { s, .. } => {
                let d = libc::dup(fd(*s));
                if d < 0 {
                    outcome(-1)
                } else {
                    let fp = libc::fdopen(d, c"r".as_ptr());
                    if fp.is_null() {
                        let r = outcome(-1);
                        libc::close(d);
                        r
                    } else {
                        set_errno(0);
                        let c = libc::fgetc(fp);
                        let e = errno();
                        let failed = libc::ferror(fp) != 0;
                        let mut data = vec![u8::from(libc::feof(fp) != 0), u8::from(failed)];
                        let closed = libc::fclose(fp);
                        data.push(u8::from(closed == 0));
                        // errno means something only for a stream error.
                        let e = if c < 0 && failed { e } else { 0 };
                        return (i64::from(c), e, data);
                    }
                }
            }
            Op::Puts { s, data, flush } => {
                let d = libc::dup(fd(*s));
                if d < 0 {
                    outcome(-1)
                } else {
                    let fp = libc::fdopen(d, c"w".as_ptr());
                    if fp.is_null() {
                        let r = outcome(-1);
                        libc::close(d);
                        r
                    } else {
                        let w = libc::fwrite(data.as_ptr().cast(), 1, data.len(), fp);
                        set_errno(0);
                        let flushed = if *flush { libc::fflush(fp) } else { 0 };
                        let mut e = if flushed != 0 { errno() } else { 0 };
                        let closed = libc::fclose(fp);
                        if closed != 0 && e == 0 {
                            e = errno();
                        }
                        return (
                            w as i64,
                            e,
                            vec![u8::from(flushed == 0), u8::from(closed == 0)],
                        );
                    }
                }
            }
            Op::Fdopen { s, mode } => {
                let fp = libc::fdopen(fd(*s), mode.as_ptr());
                if fp.is_null() {
                    outcome(-1)
                } else {
                    outcome(i64::from(libc::fclose(fp)))
                }
            }
            Op::RawClose { s } => outcome(libc::syscall(libc::SYS_close, fd(*s))),
            Op::NewEventfd { t, nonblock } => {
                let fl = if *nonblock { libc::EFD_NONBLOCK } else { 0 };
                let e = libc::syscall(libc::SYS_eventfd2, 0, fl);
                if e < 0 {
                    outcome(-1)
                } else {
                    let r = outcome(libc::syscall(libc::SYS_dup3, e, fd(*t), 0));
                    libc::syscall(libc::SYS_close, e);
                    r
                }
            }
            Op::NewPair { t, u } => {
                let mut sv = [0 as libc::c_int; 2];
                let r = libc::syscall(
                    libc::SYS_socketpair,
                    libc::AF_UNIX,
                    libc::SOCK_STREAM,
                    0,
                    sv.as_mut_ptr(),
                );
                if r < 0 {
                    outcome(-1)
                } else {
                    libc::syscall(libc::SYS_dup3, sv[0], fd(*t), 0);
                    libc::syscall(libc::SYS_dup3, sv[1], fd(*u), 0);
                    libc::syscall(libc::SYS_close, sv[0]);
                    libc::syscall(libc::SYS_close, sv[1]);
                    (0, 0)
                }
            }
        };
        (r, e, Vec::new())
    }
}

extern "C" {
    /// glibc's `closefrom(3)` (not in the libc crate).
    fn closefrom(lowfd: libc::c_int);
}

// ------------------------------------------------------------ kernel truth

/// `poll` revents of `fd` for `events`, raw (no hook), without waiting.
pub fn raw_poll(fd: RawFd, events: i16) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd; raw, so no hook is involved.
    let r = unsafe { libc::syscall(libc::SYS_poll, &mut p, 1, 0) };
    if r < 0 {
        libc::POLLNVAL
    } else {
        p.revents
    }
}

/// The real file status flags (raw), or -1 when `fd` is not open.
pub fn raw_flags(fd: RawFd) -> i32 {
    // SAFETY: F_GETFL takes no argument; raw, so no hook is involved.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) as i32 }
}

/// The socket's real `SO_RCVTIMEO` (zero for none, or not a socket).
pub fn raw_rcvtimeo(fd: RawFd) -> std::time::Duration {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: valid out-pointers of the sizes given; getsockopt is not
    // hooked.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw mut tv).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::from_secs(tv.tv_sec as u64)
        + std::time::Duration::from_micros(tv.tv_usec as u64)
}

/// Whether `fd` is a socket or a FIFO (what the hooks manage).
pub fn raw_is_stream(fd: RawFd) -> bool {
    let mut sb = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a valid out-pointer; fstat is not hooked.
    if unsafe { libc::fstat(fd, sb.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat filled it.
    let mode = unsafe { sb.assume_init() }.st_mode & libc::S_IFMT;
    mode == libc::S_IFSOCK || mode == libc::S_IFIFO
}
