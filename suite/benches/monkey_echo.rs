//! Overhead of `patch_all`: an unmodified blocking `std::net` echo server
//! running in coroutines under `patch_all`, against the same server written
//! with `green::net`, and against one written directly on
//! `green::rt::wait_fd` with non-blocking std sockets. Same client, same
//! process, same run.
//!
//! Each server runs on its own OS thread (own hub). The client is one more
//! thread with `CONNS` persistent connections per server, one coroutine per
//! connection doing 64-byte round trips. A measurement of `iters` round
//! trips is spread over the connections.
//!
//! Prints the median ns per round trip of each and the throughput ratio
//! (goal: patched >= 85% of the baseline).
//!
//! `cargo bench -p green-suite --bench monkey_echo`

// `criterion_group!` with a config makes an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use green::rt::Interest;

const CONNS: usize = 16;
const MSG: usize = 64;

/// The patched server: plain blocking std code.
fn patched_server(l: TcpListener) {
    loop {
        let Ok((mut s, _)) = l.accept() else { continue };
        green::spawn(move || {
            let mut buf = [0u8; MSG];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Write all of `buf` to a non-blocking socket, parking on `WouldBlock`.
fn native_write_all(s: &mut TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                green::rt::wait_fd(s.as_raw_fd(), Interest::Write, None)?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The baseline server: the same echo on non-blocking sockets + wait_fd.
fn native_server(l: TcpListener) {
    l.set_nonblocking(true).expect("non-blocking listener");
    loop {
        let mut s = match l.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let _ = green::rt::wait_fd(l.as_raw_fd(), Interest::Read, None);
                continue;
            }
            Err(_) => continue,
        };
        green::spawn(move || {
            if s.set_nonblocking(true).is_err() {
                return;
            }
            let mut buf = [0u8; MSG];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if native_write_all(&mut s, &buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if green::rt::wait_fd(s.as_raw_fd(), Interest::Read, None).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
    }
}

/// The same echo written with `green::net` (the reference point).
fn green_net_server(l: TcpListener) {
    let l = green::net::TcpListener::from(l);
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        green::spawn(move || {
            let mut buf = [0u8; MSG];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                if s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

fn start_server(f: fn(TcpListener)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let h = green::spawn(move || f(l));
        let _ = h.join();
    });
    addr
}

/// A request to the client thread: `n` round trips against server `which`.
type Job = (usize, u64, mpsc::Sender<Duration>);

/// The client thread: persistent connections to each server; per job, one
/// coroutine per connection shares the round trips. Plain std code under
/// `patch_all`, identical for both servers.
fn start_client(servers: Vec<SocketAddr>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::spawn(move || {
        let conns: Vec<Vec<Rc<RefCell<TcpStream>>>> = servers
            .iter()
            .map(|a| {
                let a = *a;
                green::spawn(move || {
                    (0..CONNS)
                        .map(|_| {
                            let s = TcpStream::connect(a).expect("connect");
                            s.set_nodelay(true).expect("nodelay");
                            Rc::new(RefCell::new(s))
                        })
                        .collect()
                })
                .join()
                .expect("connect coroutine")
            })
            .collect();
        // Blocking recv on the root context: the hub has nothing else to do.
        while let Ok((which, n, done)) = rx.recv() {
            let per = n / CONNS as u64;
            let extra = n % CONNS as u64;
            let start = Instant::now();
            let hs: Vec<_> = conns[which]
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let c = c.clone();
                    let k = per + u64::from((i as u64) < extra);
                    green::spawn(move || {
                        let mut s = c.borrow_mut();
                        let msg = [b'x'; MSG];
                        let mut back = [0u8; MSG];
                        for _ in 0..k {
                            s.write_all(&msg).expect("client write");
                            s.read_exact(&mut back).expect("client read");
                        }
                    })
                })
                .collect();
            for r in green::joinall(hs) {
                r.expect("client coroutine");
            }
            let _ = done.send(start.elapsed());
        }
    });
    tx
}

fn bench(c: &mut Criterion) {
    green::monkey::patch_all();
    let servers = vec![
        start_server(patched_server),
        start_server(native_server),
        start_server(green_net_server),
    ];
    let client = start_client(servers);
    let samples: Arc<Mutex<[Vec<f64>; 3]>> = Arc::default();
    let mut g = c.benchmark_group("echo_64B_roundtrip");
    for (which, name) in [
        (0, "std_net_patched"),
        (1, "green_wait_fd_baseline"),
        (2, "green_net"),
    ] {
        let client = client.clone();
        let samples = samples.clone();
        g.bench_function(name, move |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = mpsc::channel();
                client.send((which, iters, tx)).expect("client alive");
                let d = rx.recv().expect("client reply");
                if let Ok(mut s) = samples.lock() {
                    s[which].push(d.as_nanos() as f64 / iters.max(1) as f64);
                }
                d
            })
        });
    }
    g.finish();
    let s = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let [patched, native, gnet] = s;
    let (p, n, g) = (
        common::median(patched),
        common::median(native),
        common::median(gnet),
    );
    println!();
    println!("median ns per round trip ({CONNS} connections, {MSG} B):");
    println!("  std::net under patch_all : {p:>9.0} ns");
    println!("  green::net               : {g:>9.0} ns");
    println!("  wait_fd baseline         : {n:>9.0} ns");
    println!(
        "  patched throughput = {:.1}% of green::net (goal >= 85%), {:.1}% of the wait_fd baseline",
        100.0 * g / p,
        100.0 * n / p
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
