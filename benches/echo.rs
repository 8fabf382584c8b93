//! Echo round trips: a green server on one hub against a thread-per-
//! connection `std::net` server, driven by the same client in the same run.
//!
//! The client is a separate OS thread with its own green hub: `CONNS`
//! connections, each doing `ROUNDS` round trips of 64 bytes (write, then
//! read the echo). Prints req/s per sample, medians and the ratio.
//!
//! `cargo bench --bench echo` (env `ECHO_CONNS`, `ECHO_ROUNDS`,
//! `ECHO_SAMPLES` override 100, 2000, 3). Run as a test (no `--bench`
//! argument) it does one tiny sample, only to prove it works.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MSG: usize = 64;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The green server: one hub, one coroutine per connection.
fn start_green_server() -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("green-echo".into())
        .spawn(move || {
            let l = green::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let _ = s.set_nodelay(true);
                green::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        })
        .expect("spawn server thread");
    rx.recv().expect("server address")
}

/// The peer: a std server with one OS thread per connection.
fn start_std_server() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// One sample: `conns` x `rounds` round trips from a fresh client hub
/// thread. Returns requests per second.
fn sample(addr: SocketAddr, conns: usize, rounds: usize) -> f64 {
    std::thread::spawn(move || {
        let t = Instant::now();
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                green::spawn(move || {
                    let mut c = green::net::TcpStream::connect(addr).expect("connect");
                    c.set_nodelay(true).expect("nodelay");
                    let out = [7u8; MSG];
                    let mut back = [0u8; MSG];
                    for _ in 0..rounds {
                        c.write_all(&out).expect("write");
                        c.read_exact(&mut back).expect("read");
                    }
                })
            })
            .collect();
        for r in green::joinall(hs) {
            r.expect("client coroutine");
        }
        (conns * rounds) as f64 / t.elapsed().as_secs_f64()
    })
    .join()
    .expect("client thread")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (conns, rounds, samples) = if bench {
        (
            env_or("ECHO_CONNS", 100),
            env_or("ECHO_ROUNDS", 2000),
            env_or("ECHO_SAMPLES", 3).max(1),
        )
    } else {
        (10, 50, 1)
    };
    let green_addr = start_green_server();
    let std_addr = start_std_server();
    // Warm up both (thread creation, page faults).
    sample(green_addr, conns.min(10), 50);
    sample(std_addr, conns.min(10), 50);
    println!("echo: {conns} connections x {rounds} round trips x {MSG} B, {samples} samples");
    let (mut g, mut s) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(110);
    for i in 0..samples {
        let a = sample(green_addr, conns, rounds);
        let b = sample(std_addr, conns, rounds);
        println!("  sample {i}: green 1 hub {a:>9.0} req/s   std threads {b:>9.0} req/s");
        g.push(a);
        s.push(b);
        if Instant::now() > deadline {
            break;
        }
    }
    let (gm, sm) = (median(&mut g), median(&mut s));
    println!("median: green 1 hub {gm:.0} req/s, std thread-per-connection {sm:.0} req/s");
    println!("ratio green/std: {:.2}", gm / sm);
    println!(
        "goal (BASELINES W5): one hub >= Go with 2 procs (~150k req/s on the reference machine)"
    );
}
