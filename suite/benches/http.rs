//! HTTP/1.1 "Hello, World!" on keep-alive connections: the server of
//! `examples/http_hello.rs` on one green hub, beside the very same protocol
//! code on tokio's `current_thread` runtime, driven by one load generator in
//! the same run.
//!
//! The load generator is a separate OS thread with its own green hub:
//! `HTTP_CONNS` keep-alive connections, each sending a GET and reading the
//! whole response (by its `Content-Length`) before the next, for a fixed
//! time. Each server runs on its own thread, whose CPU time is read from
//! its per-thread CPU clock (`pthread_getcpuclockid`): CPU per request is
//! the server's cost alone, whatever the client and the rest of the
//! machine do.
//!
//! `cargo bench -p green-suite --bench http` (env `HTTP_CONNS`, `HTTP_SECONDS`,
//! `HTTP_SAMPLES` override 100, 2, 5). Run as a test (no `--bench`
//! argument) it does one short sample, only to prove it works.
//! `cargo bench -p green-suite --bench http -- --serve green|tokio --port P --seconds S`
//! runs one of the two servers alone, for `wrk` or `strace -c` (docs/performance.md).

mod common;

#[path = "../../examples/http_hello.rs"]
#[allow(dead_code)]
mod http_hello;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http_hello::{Http, Next};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A running server thread: where it listens, and its CPU clock.
struct Server {
    addr: SocketAddr,
    clock: libc::clockid_t,
}

impl Server {
    /// CPU time the server thread used so far, in nanoseconds.
    fn cpu_ns(&self) -> u128 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id of a live thread and a valid out-pointer.
        let rc = unsafe { libc::clock_gettime(self.clock, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime on the server thread's CPU clock");
        ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
    }
}

/// Start `run` on a new thread that first sends back its listening address;
/// the thread's CPU clock is taken from its handle.
fn start(name: &str, run: impl FnOnce(mpsc::Sender<SocketAddr>) + Send + 'static) -> Server {
    use std::os::unix::thread::JoinHandleExt;
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(tx))
        .expect("spawn server thread");
    let addr = rx.recv().expect("server address");
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (it serves forever) and `clock` is a
    // valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(h.as_pthread_t(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid");
    std::mem::forget(h); // serves until the process exits
    Server { addr, clock }
}

/// The green server: one hub, one coroutine per connection.
fn start_green(port: u16) -> Server {
    start("http-green", move |tx| {
        let l = green::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        tx.send(l.local_addr().expect("addr")).expect("send");
        http_hello::serve(l);
    })
}

/// The peer: the same protocol code on tokio's single-threaded runtime, one
/// task per connection.
fn start_tokio(port: u16) -> Server {
    start("http-tokio", move |tx| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let _ = s.set_nodelay(true);
                tokio::spawn(tokio_conn(s));
            }
        });
    })
}

/// `http_hello::serve_conn`, written with tokio's async I/O.
async fn tokio_conn(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut h = Http::new();
    loop {
        let n = match s.read(h.spare()).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let next = h.filled(n);
        if !h.out.is_empty() {
            if s.write_all(&h.out).await.is_err() {
                return;
            }
            h.out.clear();
        }
        if next == Next::Close {
            return;
        }
    }
}

/// Read one whole response (head, then `Content-Length` body) from `c`,
/// keeping any bytes of the next one in `buf[..*have]`.
fn read_response(c: &mut green::net::TcpStream, buf: &mut [u8], have: &mut usize) {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = resp.parse(&buf[..*have]).expect("valid response")
        {
            assert_eq!(resp.code, Some(200));
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .expect("content-length");
            if *have >= head + len {
                assert_eq!(&buf[head..head + len], http_hello::BODY);
                buf.copy_within(head + len..*have, 0);
                *have -= head + len;
                return;
            }
        }
        let n = c.read(&mut buf[*have..]).expect("read response");
        assert!(n > 0, "server closed the connection");
        *have += n;
    }
}

/// One sample: `conns` keep-alive connections from a fresh client hub
/// thread, requesting for `secs`. Returns requests per second and the
/// server thread's CPU nanoseconds per request.
fn sample(server: &Server, conns: usize, secs: f64) -> (f64, f64) {
    let addr = server.addr;
    let cpu0 = server.cpu_ns();
    let (count, elapsed) = std::thread::spawn(move || {
        let t = Instant::now();
        let end = t + Duration::from_secs_f64(secs);
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                green::spawn(move || {
                    let mut c = green::net::TcpStream::connect(addr).expect("connect");
                    c.set_nodelay(true).expect("nodelay");
                    let req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
                    let mut buf = [0u8; 1024];
                    let mut have = 0;
                    let mut n = 0u64;
                    while Instant::now() < end {
                        c.write_all(req).expect("write");
                        read_response(&mut c, &mut buf, &mut have);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: u64 = green::joinall(hs)
            .into_iter()
            .map(|r| r.expect("client coroutine"))
            .sum();
        (total, t.elapsed())
    })
    .join()
    .expect("client thread");
    let cpu = server.cpu_ns() - cpu0;
    (
        count as f64 / elapsed.as_secs_f64(),
        cpu as f64 / count.max(1) as f64,
    )
}

/// `--serve green|tokio [--port P] [--seconds S]`: run one server alone in
/// the foreground (for `wrk` or `strace -c`), then exit.
fn serve_only(args: &[String]) {
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let port: u16 = get("--port").and_then(|p| p.parse().ok()).unwrap_or(8080);
    let secs: f64 = get("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let which = get("--serve").map(String::as_str);
    let server = match which {
        Some("green") => start_green(port),
        Some("tokio") => start_tokio(port),
        _ => {
            eprintln!("usage: http --serve green|tokio [--port P] [--seconds S]");
            std::process::exit(2);
        }
    };
    println!("{} listening on {}", which.unwrap_or("?"), server.addr);
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 1e6)));
    println!("server thread CPU: {:.3} s", server.cpu_ns() as f64 / 1e9);
    std::process::exit(0);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        return serve_only(&args);
    }
    let bench = args.iter().any(|a| a == "--bench");
    let (conns, secs, samples) = if bench {
        (
            env_or("HTTP_CONNS", 100),
            env_or("HTTP_SECONDS", 2) as f64,
            env_or("HTTP_SAMPLES", 5).max(1),
        )
    } else {
        (10, 0.2, 1)
    };
    let green = start_green(0);
    let tokio = start_tokio(0);
    sample(&green, conns.min(10), 0.2);
    sample(&tokio, conns.min(10), 0.2);
    println!("http hello: {conns} keep-alive connections, {secs} s per sample, {samples} samples");
    let (mut gr, mut tr, mut gc, mut tc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..samples {
        // Alternate the order so drift in the machine's load hits both.
        let ((a, ac), (b, bc)) = if i % 2 == 0 {
            let g = sample(&green, conns, secs);
            (g, sample(&tokio, conns, secs))
        } else {
            let t = sample(&tokio, conns, secs);
            (sample(&green, conns, secs), t)
        };
        println!(
            "  sample {i}: green 1 hub {a:>7.0} req/s ({ac:>5.0} ns server CPU/req)   \
             tokio current_thread {b:>7.0} req/s ({bc:>5.0})"
        );
        gr.push(a);
        tr.push(b);
        gc.push(ac);
        tc.push(bc);
    }
    let (grm, trm) = (common::median(gr), common::median(tr));
    let (gcm, tcm) = (common::median(gc), common::median(tc));
    println!("median: green 1 hub {grm:.0} req/s, tokio current_thread {trm:.0} req/s");
    println!("server CPU per request: green 1 hub {gcm:.0} ns, tokio current_thread {tcm:.0} ns");
    println!(
        "ratios: green/tokio req/s {:.2} (goal >= 1.10), green/tokio server CPU per request {:.2} (goal <= 0.90)",
        grm / trm,
        gcm / tcm
    );
    let _ = std::io::stdout().flush();
}
