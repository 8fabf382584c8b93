//! mini-redis under `redis-benchmark`: the server of
//! `examples/mini_redis.rs` on one green hub, beside the very same protocol
//! code on tokio's `current_thread` runtime and the real `redis-server`,
//! each driven by the real `redis-benchmark` (Debian `redis-tools`) in the
//! same run, at 50, 1,000, 5,000 and 10,000 connections. The samples take
//! turns (green, tokio, redis, then tokio, redis, green, ...), so a noisy
//! spell on a shared machine falls on all three alike.
//!
//! Each server is its own process (this binary started again with
//! `--serve green|tokio`, and `redis-server` with persistence off); its
//! CPU time is read from `/proc/<pid>/stat` before and after each run of
//! `redis-benchmark -t ping,set,get,incr,lpush,lpop`, so CPU per request is
//! the server's cost alone. User and system time are reported apart.
//!
//! `cargo bench -p green-suite --bench redis` (env `REDIS_CONNS`, a
//! comma-separated list, default `50,1000,5000,10000`; `REDIS_REQUESTS`, per
//! test, default 100000; `REDIS_PIPELINE`, default 1; `REDIS_SAMPLES`,
//! default 3). Run as a test (no `--bench` argument) it does one short
//! sample at 50 connections, only to prove it works.
//! `cargo bench -p green-suite --bench redis -- --serve green|tokio --port P`
//! runs one of the two servers alone, for a `redis-benchmark` by hand.

#[path = "../tests/common/servers.rs"]
mod servers;

#[path = "../../examples/mini_redis.rs"]
#[allow(dead_code)]
mod mini_redis;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;

use mini_redis::{Next, Session, Shared};

/// The tests `redis-benchmark` runs (`-t`), and how many rows (each of
/// `-n` requests) that makes: PING runs twice, inline and multi-bulk.
const TESTS: &str = "ping,set,get,incr,lpush,lpop";
const ROWS: u64 = 7;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of process `pid` so far: (user, system) in nanoseconds.
fn cpu_ns(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f[i].parse::<f64>().expect("ticks") * 1e9 / hz;
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    (ticks(11), ticks(12))
}

/// Lets every process of this run open 10,000 connections and more.
fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 && r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: a valid in-pointer; raising the soft limit to the hard
        // one needs no privilege.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    }
}

/// A server process, killed on drop.
struct Proc {
    child: Child,
    port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This binary again, serving `kind` on a free port.
fn spawn_self(kind: &str) -> Proc {
    let exe = std::env::current_exe().expect("bench binary");
    let mut child = Command::new(exe)
        .args(["--serve", kind, "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Proc { child, port }
}

/// The green server (in the `--serve green` process).
fn serve_green(port: u16) {
    let r = green::Runtime::new().run(move || {
        let l = green::net::TcpListener::bind_reuseport(("127.0.0.1", port)).expect("bind");
        println!("listening on {}", l.local_addr().expect("addr"));
        mini_redis::serve(l);
    });
    r.expect("green runtime");
}

/// The same protocol code on tokio's single-threaded runtime, one local
/// task per connection sharing one `Rc<RefCell<..>>` store.
fn serve_tokio(port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_reuseaddr(true).expect("reuseaddr");
        sock.bind(([127, 0, 0, 1], port).into()).expect("bind");
        let l = sock.listen(1024).expect("listen");
        println!("listening on {}", l.local_addr().expect("addr"));
        let store: Shared = Rc::default();
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::task::spawn_local(tokio_conn(s, store.clone()));
        }
    });
}

/// `mini_redis::serve_conn`, written with tokio's async I/O.
async fn tokio_conn(mut s: tokio::net::TcpStream, store: Shared) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut session = Session::new(store);
    loop {
        let n = match s.read(session.spare()).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let next = session.filled(n);
        if !session.out.is_empty() {
            if s.write_all(&session.out).await.is_err() {
                return;
            }
            session.out.clear();
        }
        if next == Next::Close {
            return;
        }
    }
}

/// One run of `redis-benchmark` against `port`; returns the summed
/// requests per second over its rows.
fn drive(bench: &std::path::Path, port: u16, conns: u64, requests: u64, pipeline: u64) -> f64 {
    let out = Command::new(bench)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-c", &conns.to_string(), "-n", &requests.to_string()])
        .args(["-P", &pipeline.to_string(), "-t", TESTS, "-q", "--csv"])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rates: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim_matches('"').parse().ok())
        .collect();
    assert_eq!(rates.len() as u64, ROWS, "rows in:\n{text}");
    rates.iter().sum::<f64>() / rates.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Per-request figures of one server at one connection count (medians).
struct Row {
    user_ns: f64,
    sys_ns: f64,
    rps: f64,
}

impl Row {
    fn cpu_ns(&self) -> f64 {
        self.user_ns + self.sys_ns
    }
}

/// One sample of one server: (user ns, system ns) per request and the
/// summed rate.
fn sample(
    bench: &std::path::Path,
    pid: u32,
    port: u16,
    conns: u64,
    requests: u64,
    pipeline: u64,
) -> (f64, f64, f64) {
    let (u0, s0) = cpu_ns(pid);
    let rps = drive(bench, port, conns, requests, pipeline);
    let (u1, s1) = cpu_ns(pid);
    let n = (requests * ROWS) as f64;
    ((u1 - u0) / n, (s1 - s0) / n, rps)
}

/// Medians of `samples` rounds over all `servers` (pid, port), taking
/// turns within each round so that a noisy spell on this shared machine
/// falls on all of them alike rather than on one.
fn measure(
    bench: &std::path::Path,
    servers: &[(u32, u16)],
    conns: u64,
    requests: u64,
    pipeline: u64,
    samples: u64,
) -> Vec<Row> {
    let mut raw = vec![(Vec::new(), Vec::new(), Vec::new()); servers.len()];
    for round in 0..samples as usize {
        for k in 0..servers.len() {
            // Rotate who goes first, so none always runs right after the
            // same neighbour.
            let i = (k + round) % servers.len();
            let (pid, port) = servers[i];
            let (u, s, r) = sample(bench, pid, port, conns, requests, pipeline);
            raw[i].0.push(u);
            raw[i].1.push(s);
            raw[i].2.push(r);
        }
    }
    raw.into_iter()
        .map(|(u, s, r)| Row {
            user_ns: median(u),
            sys_ns: median(s),
            rps: median(r),
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let kind = args.get(i + 1).map(String::as_str).unwrap_or("");
        let port = args
            .iter()
            .position(|a| a == "--port")
            .and_then(|j| args.get(j + 1)?.parse().ok())
            .unwrap_or(0);
        raise_fd_limit();
        match kind {
            "green" => serve_green(port),
            "tokio" => serve_tokio(port),
            other => panic!("--serve green|tokio, not {other:?}"),
        }
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test` runs this as a smoke test.
    let full = args.iter().any(|a| a == "--bench");
    raise_fd_limit();
    green_suite::install::servers(); // redis-server's package brings redis-benchmark
    let bench = green_suite::install::on_path_or_in("redis-benchmark", &[])
        .expect("redis-benchmark (Debian package redis-tools)");
    let conns: Vec<u64> = match (full, std::env::var("REDIS_CONNS")) {
        (_, Ok(list)) => list
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect(),
        (true, Err(_)) => vec![50, 1000, 5000, 10000],
        (false, Err(_)) => vec![50],
    };
    let requests = env_or("REDIS_REQUESTS", if full { 100_000 } else { 2_000 });
    let pipeline = env_or("REDIS_PIPELINE", 1);
    let samples = env_or("REDIS_SAMPLES", if full { 3 } else { 1 });
    let max_conns = conns.iter().copied().max().unwrap_or(50);

    let green = spawn_self("green");
    let tokio = spawn_self("tokio");
    let real = servers::redis_with(&["--maxclients", &(max_conns + 100).to_string()]);
    let real_pid = real.pid();
    println!(
        "redis-benchmark -t {TESTS} -n {requests} -P {pipeline}, {samples} sample(s); \
         server CPU per request (user + system), medians"
    );
    println!(
        "{:>6}  {:>22}  {:>22}  {:>22}  {:>10}  {:>10}",
        "conns",
        "green ns (user+sys)",
        "tokio ns (user+sys)",
        "redis ns (user+sys)",
        "vs tokio",
        "vs redis"
    );
    let servers = [
        (green.child.id(), green.port),
        (tokio.child.id(), tokio.port),
        (real_pid, real.port),
    ];
    // Green's user time per request at the first (smallest) count: how
    // its cost grows with connections is read against it.
    let mut green_user_base = None;
    for &c in &conns {
        let rows = measure(&bench, &servers, c, requests, pipeline, samples);
        let (g, t, r) = (&rows[0], &rows[1], &rows[2]);
        let fmt = |x: &Row| format!("{:.0} ({:.0}+{:.0})", x.cpu_ns(), x.user_ns, x.sys_ns);
        println!(
            "{c:>6}  {:>22}  {:>22}  {:>22}  {:>9.2}x  {:>9.2}x",
            fmt(g),
            fmt(t),
            fmt(r),
            g.cpu_ns() / t.cpu_ns(),
            g.cpu_ns() / r.cpu_ns(),
        );
        let base = *green_user_base.get_or_insert(g.user_ns);
        println!(
            "{:>6}  req/s per row: green {:.0}, tokio {:.0}, redis {:.0}; \
             green user time {:.2}x its own at {} connections",
            "",
            g.rps,
            t.rps,
            r.rps,
            g.user_ns / base,
            conns[0]
        );
    }
}
