//! Remembered fd readiness (docs/performance.md, "Readiness"): after `EAGAIN` or a short
//! stream read/write the hub knows the fd is not ready and the next call
//! parks before its syscall; events set it again. These tests try to make
//! that knowledge wrong: data that lands between the short read and the
//! park, two readers on one socket, a peer closing while the reader is
//! known not ready, an EOF queued behind the data of a short read, an fd
//! number replaced on another thread, and a seeded random mix of readers
//! and writers checked byte by byte.

mod common;
#[path = "common/model.rs"]
mod model;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::hang::watchdog;
use common::net::tcp_pair;
use green::net::UnixStream;
use green::rt::{self, Interest};

fn readable_maybe(fd: RawFd) -> bool {
    rt::fd_readiness(fd, Interest::Read).may_be_ready()
}

/// Read into a large buffer after parking once (so the fd is registered),
/// returning what came.
fn read_some(s: &mut impl Read, buf: &mut [u8]) -> usize {
    s.read(buf).expect("read")
}

#[test]
fn a_short_read_clears_and_data_arriving_before_the_park_still_wakes() {
    watchdog(30, || {
        let (mut c, mut s) = tcp_pair();
        let fd = c.as_raw_fd();
        // Nothing there: the first read parks (registering the fd), and
        // the peer's write wakes it.
        let w = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            s.write_all(b"0123456789").expect("write");
            s
        });
        let mut buf = [0u8; 4096];
        assert_eq!(read_some(&mut c, &mut buf), 10);
        // 10 < 4096: the queue was emptied, the hub knows it.
        assert!(!readable_maybe(fd), "a short stream read did not clear");
        let mut s = w.join().expect("writer");
        // Data arrives now, before our next read: no hub poll ran since, so
        // the knowledge is stale — the event must still reach the park.
        s.write_all(b"abcde").expect("write");
        assert!(!readable_maybe(fd));
        assert_eq!(read_some(&mut c, &mut buf), 5);
        assert_eq!(&buf[..5], b"abcde");
        // The same with the data written by another OS thread.
        let std_peer = s.into_std().expect("into_std");
        let t = std::thread::spawn(move || {
            let mut p = std_peer;
            std::thread::sleep(Duration::from_millis(5));
            p.write_all(b"from a thread").expect("thread write");
            p
        });
        assert_eq!(read_some(&mut c, &mut buf), 13);
        assert_eq!(&buf[..13], b"from a thread");
        drop(t.join().expect("thread"));
        assert_eq!(read_some(&mut c, &mut buf), 0, "EOF after the peer closed");
    });
}

#[test]
fn a_full_read_does_not_clear() {
    watchdog(30, || {
        let (mut c, mut s) = tcp_pair();
        let fd = c.as_raw_fd();
        s.write_all(&[1u8; 100]).expect("write");
        let w = green::spawn(move || s); // keep it open
        let mut buf = [0u8; 10];
        // The first read may find nothing yet (loopback is fast, but not
        // instant) and park; either way it fills the whole buffer.
        assert_eq!(c.read(&mut buf).expect("read"), 10);
        assert!(
            readable_maybe(fd),
            "a full read proves nothing and must not clear"
        );
        let mut rest = [0u8; 90];
        c.read_exact(&mut rest).expect("the rest");
        drop(w.join());
    });
}

#[test]
fn eof_queued_behind_the_data_of_a_short_read_is_seen() {
    watchdog(30, || {
        for _ in 0..20 {
            let (mut c, mut s) = tcp_pair();
            let w = green::spawn(move || {
                green::sleep(Duration::from_millis(1));
                s.write_all(b"last words").expect("write");
                drop(s); // FIN right behind the data: one edge for both
            });
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            loop {
                let n = c.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"last words");
            // EOF is final: every later read sees it at once.
            assert_eq!(c.read(&mut buf).expect("read again"), 0);
            w.join().expect("writer");
        }
    });
}

#[test]
fn a_peer_closing_while_the_reader_is_known_not_ready_wakes_it() {
    watchdog(30, || {
        let (a, b) = tcp_pair();
        let fd = a.as_raw_fd();
        let reader = green::spawn(move || {
            let mut a = a;
            let mut buf = [0u8; 256];
            let n = a.read(&mut buf).expect("first");
            assert_eq!(&buf[..n], b"hi");
            assert!(!readable_maybe(fd));
            // Known not ready: this parks without a syscall; the close
            // must wake it with EOF.
            a.read(&mut buf).expect("second")
        });
        let mut b = b;
        green::sleep(Duration::from_millis(2));
        b.write_all(b"hi").expect("write");
        green::sleep(Duration::from_millis(20));
        drop(b);
        assert_eq!(reader.join().expect("reader"), 0);
    });
}

#[test]
fn two_readers_on_one_socket_share_every_byte_and_both_see_eof() {
    watchdog(60, || {
        let (c, mut s) = tcp_pair();
        let c = Rc::new(c);
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let c = c.clone();
                green::spawn(move || {
                    let mut buf = vec![0u8; 100 + 900 * i];
                    let (mut n_bytes, mut sum) = (0u64, 0u64);
                    loop {
                        let n = (&*c).read(&mut buf).expect("read");
                        if n == 0 {
                            return (n_bytes, sum);
                        }
                        n_bytes += n as u64;
                        sum += buf[..n].iter().map(|&b| b as u64).sum::<u64>();
                    }
                })
            })
            .collect();
        let mut rng = model::Rng::new(7);
        let (mut sent, mut sent_sum) = (0u64, 0u64);
        for round in 0..400 {
            let len = 1 + rng.below(3000) as usize;
            let chunk: Vec<u8> = (0..len).map(|k| (round + k) as u8).collect();
            s.write_all(&chunk).expect("write");
            sent += len as u64;
            sent_sum += chunk.iter().map(|&b| b as u64).sum::<u64>();
            if rng.chance(50) {
                green::sleep(Duration::ZERO);
            } else if rng.chance(10) {
                green::sleep(Duration::from_micros(200));
            }
        }
        s.shutdown(Shutdown::Write).expect("shutdown");
        let (mut n, mut sum) = (0, 0);
        for r in green::joinall(readers) {
            let (a, b) = r.expect("reader");
            n += a;
            sum += b;
        }
        assert_eq!(
            (n, sum),
            (sent, sent_sum),
            "every byte went to exactly one reader"
        );
    });
}

/// Send `data` on `fd` with one fd (stdin's number, duplicated by the
/// kernel into the receiver) attached as `SCM_RIGHTS`.
fn send_with_fd(fd: RawFd, data: &[u8]) {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: an all-zero msghdr is valid; the fields set below point at
    // live buffers for the duration of the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` has a control buffer of CMSG_SPACE(int) bytes, so the
    // first header exists and has room for one int.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        libc::CMSG_DATA(c).cast::<libc::c_int>().write_unaligned(0);
    }
    // SAFETY: a valid msghdr (above) and an open socket.
    let n = unsafe { libc::sendmsg(fd, &msg, 0) };
    assert_eq!(n, data.len() as isize, "sendmsg");
}

/// A Unix stream read stops after a message that carried fds even when
/// more data is queued: that short read must not make the next read park
/// (no new event would ever wake it).
#[test]
fn a_short_unix_read_stopped_by_passed_fds_does_not_hide_queued_data() {
    watchdog(30, || {
        let (mut a, b) = UnixStream::pair().expect("pair");
        let peer = b.into_std().expect("into_std");
        // Park once first so the fd is registered and its readiness known.
        let w = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            send_with_fd(peer.as_raw_fd(), b"first");
            (&peer).write_all(b"second").expect("write");
            peer
        });
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while got.len() < b"firstsecond".len() {
            let n = a.read(&mut buf).expect("read");
            assert!(n > 0, "early EOF");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"firstsecond");
        drop(w.join().expect("peer thread"));
    });
}

#[test]
fn a_short_write_clears_and_the_writer_wakes_when_room_frees() {
    watchdog(30, || {
        let (a, b) = UnixStream::pair().expect("pair");
        let fd = a.as_raw_fd();
        // Fill the send buffer: the write that takes fewer bytes than
        // offered (or EAGAIN, then parks) leaves the fd known not writable.
        let total = 8 << 20;
        let writer = green::spawn(move || {
            let mut a = a;
            let chunk = vec![0x33u8; 1 << 20];
            let (mut sent, mut cleared) = (0, 0);
            while sent < total {
                let want = chunk.len().min(total - sent);
                let n = a.write(&chunk[..want]).expect("write");
                sent += n;
                // Once registered (after the first park), a write that took
                // less than offered leaves the fd known not writable.
                if n < want && !rt::fd_readiness(fd, Interest::Write).may_be_ready() {
                    cleared += 1;
                }
            }
            (sent, cleared, a)
        });
        let mut b = b;
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < total {
            let n = b.read(&mut buf).expect("read");
            assert!(buf[..n].iter().all(|&x| x == 0x33));
            got += n;
        }
        let (sent, cleared, _a) = writer.join().expect("writer");
        assert_eq!(sent, got);
        assert!(
            cleared > 0,
            "no short write ever cleared the write readiness"
        );
    });
}

#[test]
fn an_fd_number_replaced_on_another_thread_starts_unknown() {
    watchdog(30, || {
        // A raw non-blocking fd used through the rt API, as the monkey
        // hooks do.
        let (x1, x2) = std::os::unix::net::UnixStream::pair().expect("pair");
        x1.set_nonblocking(true).expect("nonblocking");
        let n = x1.as_raw_fd();
        // Register it (a wait that times out), then learn "not ready".
        let e = rt::wait_fd(
            n,
            Interest::Read,
            Some(Instant::now() + Duration::from_millis(5)),
        );
        assert_eq!(
            e.expect_err("timed out").kind(),
            std::io::ErrorKind::TimedOut
        );
        let r = rt::fd_readiness(n, Interest::Read);
        let mut buf = [0u8; 64];
        assert_eq!(
            (&x1).read(&mut buf).expect_err("empty").kind(),
            std::io::ErrorKind::WouldBlock
        );
        r.clear();
        assert!(!readable_maybe(n));
        // Another thread puts a different socket, with data, under the same
        // number, and says so (as the close/dup2 hooks do).
        let t = std::thread::spawn(move || {
            let (y1, y2) = std::os::unix::net::UnixStream::pair().expect("pair");
            (&y2).write_all(b"new file").expect("write");
            // SAFETY: both fds are open; dup2 atomically replaces `n`.
            assert_eq!(unsafe { libc::dup2(y1.as_raw_fd(), n) }, n);
            rt::fd_renewed(n);
            (y1, y2)
        });
        let keep = t.join().expect("thread");
        // The old knowledge ("not ready") belonged to the old file.
        assert!(readable_maybe(n), "a renewed number must start unknown");
        // A wait registers the new file; its data is there.
        let got = loop {
            match (&x1).read(&mut buf) {
                Ok(k) => break k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    rt::wait_fd(n, Interest::Read, None).expect("wait")
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        assert_eq!(&buf[..got], b"new file");
        drop((x1, x2, keep));
    });
}

/// One pair's traffic in the random mix: the writer sends `total` bytes
/// of a pattern in random pieces (plain and vectored writes, yields, short
/// sleeps), the reader checks every byte in order with random buffer sizes
/// (plain and vectored reads, read timeouts that expire and are retried).
fn mix_pair(seed: u64, total: usize) {
    let (a, b) = UnixStream::pair().expect("pair");
    let pat = move |i: usize| (i.wrapping_mul(31) ^ (seed as usize)) as u8;
    let writer = green::spawn(move || {
        let mut rng = model::Rng::new(seed);
        let mut a = a;
        let mut off = 0;
        while off < total {
            let len = (1 + rng.below(70_000) as usize).min(total - off);
            let chunk: Vec<u8> = (off..off + len).map(pat).collect();
            if rng.chance(30) {
                let (x, y) = chunk.split_at(len / 2);
                let n = a
                    .write_vectored(&[IoSlice::new(x), IoSlice::new(y)])
                    .expect("writev");
                off += n;
            } else {
                a.write_all(&chunk).expect("write");
                off += len;
            }
            match rng.below(10) {
                0..=3 => green::sleep(Duration::ZERO),
                4 => green::sleep(Duration::from_micros(rng.below(500))),
                _ => {}
            }
        }
        a.shutdown(Shutdown::Write).expect("shutdown");
        a
    });
    let reader = green::spawn(move || {
        let mut rng = model::Rng::new(seed ^ 0xdead_beef);
        let mut b = b;
        let mut off = 0;
        let mut buf = vec![0u8; 100_000];
        loop {
            let len = 1 + rng.below(buf.len() as u64) as usize;
            let timeout = rng
                .chance(10)
                .then(|| Duration::from_micros(1 + rng.below(300)));
            b.set_read_timeout(timeout).expect("timeout");
            let r = if rng.chance(25) {
                let (x, y) = buf[..len].split_at_mut(len / 3);
                b.read_vectored(&mut [IoSliceMut::new(x), IoSliceMut::new(y)])
            } else {
                b.read(&mut buf[..len])
            };
            let n = match r {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) => panic!("seed {seed}: read failed at {off}: {e}"),
            };
            if n == 0 {
                break;
            }
            for (k, &x) in buf[..n].iter().enumerate() {
                assert_eq!(x, pat(off + k), "seed {seed}: byte {} differs", off + k);
            }
            off += n;
            if rng.chance(20) {
                green::sleep(Duration::ZERO);
            }
        }
        off
    });
    let got = reader.join().expect("reader");
    drop(writer.join().expect("writer"));
    assert_eq!(got, total, "seed {seed}");
}

#[test]
fn random_mix_of_readers_and_writers_loses_and_hangs_nothing() {
    let first = model::first_seed("readiness_mix");
    let pairs = model::total_ops(8);
    for seed in first..first + model::SEEDS_PER_RUN {
        eprintln!("readiness mix: seed {seed} (GREEN_SEED={seed} to repeat), {pairs} pairs");
        watchdog(120, move || {
            let hs: Vec<_> = (0..pairs as u64)
                .map(|p| {
                    let s = seed.wrapping_mul(1000).wrapping_add(p);
                    green::spawn(move || mix_pair(s, 200_000 + (s as usize % 7) * 50_000))
                })
                .collect();
            for r in green::joinall(hs) {
                if let Err(e) = r {
                    std::panic::resume_unwind(match e {
                        green::JoinError::Panicked(p) => p.into_payload(),
                        green::JoinError::Killed => Box::new("killed"),
                    });
                }
            }
        });
    }
}

/// Under `patch_all`, a hooked `recv` that saw `EAGAIN` leaves the fd known
/// not ready, so the next hooked read parks before its syscall; what the
/// user's calls return is unchanged: the data, then EOF, then `EAGAIN` for
/// a socket the user made non-blocking. Runs in a child process, since
/// patching is process-wide.
#[test]
fn hooked_reads_park_first_and_return_what_libc_would() {
    if !common::is_child() {
        let o = common::run_child("hooked_reads_park_first_and_return_what_libc_would");
        assert!(
            o.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    green::monkey::patch_all();
    watchdog(30, || {
        let h = green::spawn(|| {
            let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
            let peer = green::spawn(move || {
                let mut b = b;
                green::sleep(Duration::from_millis(5));
                b.write_all(b"one").expect("write");
                green::sleep(Duration::from_millis(5));
                b.write_all(b"two").expect("write");
                green::sleep(Duration::from_millis(5));
                drop(b);
            });
            let mut a = a;
            let mut buf = [0u8; 64];
            // Blocking-mode std read: the hook sees EAGAIN, parks, retries.
            assert_eq!(a.read(&mut buf).expect("read one"), 3);
            assert_eq!(&buf[..3], b"one");
            // The next read finds nothing (EAGAIN, remembered), parks, and
            // the peer's write wakes it.
            assert_eq!(a.read(&mut buf).expect("read two"), 3);
            assert_eq!(&buf[..3], b"two");
            assert_eq!(a.read(&mut buf).expect("EOF"), 0);
            peer.join().expect("peer");
            // A user-non-blocking socket always asks the kernel.
            let (c, _d) = std::os::unix::net::UnixStream::pair().expect("pair");
            c.set_nonblocking(true).expect("nonblocking");
            let mut c = c;
            for _ in 0..2 {
                let e = c.read(&mut buf).expect_err("nothing to read");
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
            }
        });
        h.join().expect("coroutine");
    });
    // An EAGAIN seen inside a coroutine is remembered for that fd.
    let known = green::spawn(|| {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        a.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        let mut a = a;
        // The first EAGAIN registers the fd (which then knows nothing yet);
        // the second is remembered.
        for _ in 0..2 {
            let e = a.read(&mut [0u8; 8]).expect_err("times out");
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::WouldBlock,
                "SO_RCVTIMEO expiry"
            );
        }
        readable_maybe(a.as_raw_fd())
    })
    .join()
    .expect("coroutine");
    assert!(!known, "the hooked EAGAIN was not remembered");
}
