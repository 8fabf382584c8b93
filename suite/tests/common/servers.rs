//! Real servers for the "what patch_all reaches" tests (`tests/servers_*.rs`):
//! `redis-server` and PostgreSQL started from the Debian packages, plus slow
//! HTTP and HTTPS servers in plain threads, and the measuring helpers the
//! tests share (a ticking coroutine that records its largest gap, a
//! concurrent run of N calls).
//!
//! Every server binds 127.0.0.1 on a free port, keeps its files in its own
//! temporary directory, and is stopped by pid when its guard drops (also on
//! a failing or panicking test); it also gets `SIGKILL` if the test process
//! dies first. Missing servers are installed from Debian's packages on
//! first use (`green_suite::install`); where that cannot be done the test
//! fails with the command to run, never a silent pass. PostgreSQL refuses to run as root, so when
//! the tests run as root it runs as `nobody`, owning its data directory.
#![allow(dead_code)]

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A server process and its temporary directory; stopped and removed on
/// drop.
pub struct Server {
    child: Child,
    dir: PathBuf,
    /// The port it listens on at 127.0.0.1.
    pub port: u16,
    /// `SIGTERM` for redis, `SIGINT` (fast shutdown) for PostgreSQL.
    stop_signal: libc::c_int,
}

impl Server {
    /// The server's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Signal only a child not yet reaped: a reaped pid may be reused.
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: the pid is our own child's and not yet reaped, so it
            // still names that process.
            unsafe { libc::kill(pid, self.stop_signal) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "green-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}

/// A port free on 127.0.0.1 right now (the server binds it next; a lost
/// race shows as a server that exits at start, which the callers retry).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Find `name` in `dirs`, then on `PATH` (installed by
/// `green_suite::install::servers` beforehand).
fn find_bin(name: &str, dirs: &[PathBuf], package: &str) -> PathBuf {
    green_suite::install::on_path_or_in(name, dirs).unwrap_or_else(|| {
        panic!(
            "`{name}` not found (looked in {dirs:?} and PATH) although the Debian package \
             {package} was checked: install it with `sudo apt-get install -y {package}`"
        )
    })
}

/// Ask the kernel to `SIGKILL` the server if the test process dies first.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Start `cmd` with its output in `dir/server.log` and wait until `ready`
/// says so (at most 30 s); `None` if the process exited first (e.g. it lost
/// the race for its port).
fn start(
    mut cmd: Command,
    dir: &Path,
    port: u16,
    stop_signal: libc::c_int,
    ready: impl Fn(u16) -> bool,
) -> Option<Server> {
    let log = std::fs::File::create(dir.join("server.log")).expect("create server log");
    let log2 = log.try_clone().expect("clone log fd");
    die_with_parent(&mut cmd);
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut s = Server {
        child,
        dir: dir.to_path_buf(),
        port,
        stop_signal,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = s.child.try_wait() {
            eprintln!("server exited at start:\n{}", s.log());
            // Keep the directory for a retry with another port (the drop
            // then has nothing to remove).
            s.dir = PathBuf::new();
            return None;
        }
        if ready(port) {
            return Some(s);
        }
        assert!(
            Instant::now() < deadline,
            "server not ready after 30 s:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A `redis-server` on 127.0.0.1 with persistence off.
pub fn redis() -> Server {
    redis_with(&["--maxclients", "1000"])
}

/// [`redis`] with more settings on its command line (later ones win).
pub fn redis_with(extra: &[&str]) -> Server {
    green_suite::install::servers();
    let bin = find_bin("redis-server", &[PathBuf::from("/usr/bin")], "redis-server");
    let dir = temp_dir("redis");
    for _ in 0..3 {
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra);
        if let Some(s) = start(cmd, &dir, port, libc::SIGTERM, redis_ready) {
            return s;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    panic!("redis-server did not start (3 tries)");
}

fn redis_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// The user PostgreSQL runs as: ourselves, or `nobody` when we are root
/// (it refuses to run as root).
fn pg_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: the name is NUL-terminated; the result is read at once, on a
    // thread that makes no other passwd lookups meanwhile.
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, PostgreSQL needs an unprivileged user and `nobody` does not exist"
    );
    // SAFETY: non-null, points to getpwnam's static record.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// A PostgreSQL server on 127.0.0.1 (trust authentication, user `postgres`,
/// no Unix socket, fsync off), with a fresh data directory.
pub fn postgres() -> Server {
    green_suite::install::servers();
    let dirs = green_suite::install::postgres_bin_dirs();
    let initdb = find_bin("initdb", &dirs, "postgresql");
    let bindir = initdb.parent().expect("bin dir").to_path_buf();
    let postgres = find_bin("postgres", std::slice::from_ref(&bindir), "postgresql");
    let isready = find_bin(
        "pg_isready",
        std::slice::from_ref(&bindir),
        "postgresql-client",
    );
    let user = pg_user();
    let dir = temp_dir("pg");
    let data = dir.join("data");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    }
    let as_user = |cmd: &mut Command| {
        if let Some((uid, gid)) = user {
            cmd.uid(uid).gid(gid);
        }
    };
    let mut init = Command::new(&initdb);
    init.arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .args(["-E", "UTF8", "--locale=C"]);
    as_user(&mut init);
    let out = init
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", initdb.display()));
    assert!(
        out.status.success(),
        "initdb failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..3 {
        let port = free_port();
        let mut cmd = Command::new(&postgres);
        cmd.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off"])
            .args(["-c", "max_connections=60"]);
        as_user(&mut cmd);
        let isready = isready.clone();
        let ready = move |port: u16| {
            Command::new(&isready)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if let Some(s) = start(cmd, &dir, port, libc::SIGINT, ready) {
            return s;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    panic!("postgres did not start (3 tries)");
}

/// An HTTP/1.1 server in plain threads that answers every request after
/// `delay` with `body` and closes the connection. Stopped on drop.
pub struct SlowHttp {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The self-signed certificate (DER) when it serves TLS.
    pub cert_der: Option<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a connection is served over.
type Tls = Option<Arc<rustls::ServerConfig>>;

impl SlowHttp {
    /// Plain HTTP.
    pub fn start(delay: Duration, body: &'static str) -> SlowHttp {
        Self::serve(delay, body, None, None)
    }

    /// HTTPS with a certificate for `localhost` and `127.0.0.1` made on the
    /// spot.
    pub fn start_tls(delay: Duration, body: &'static str) -> SlowHttp {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("generate a self-signed certificate");
        let cert = ck.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()),
        );
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("server TLS config");
        Self::serve(delay, body, Some(Arc::new(cfg)), Some(cert.to_vec()))
    }

    fn serve(delay: Duration, body: &'static str, tls: Tls, cert_der: Option<Vec<u8>>) -> SlowHttp {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for s in l.incoming() {
                if st.load(Ordering::Acquire) {
                    break;
                }
                let Ok(s) = s else { continue };
                let tls = tls.clone();
                conns.push(std::thread::spawn(move || {
                    // A client that gives up mid-request is its business.
                    let _ = match tls {
                        None => answer(s, delay, body),
                        Some(cfg) => match rustls::ServerConnection::new(cfg) {
                            Ok(c) => answer(rustls::StreamOwned::new(c, s), delay, body),
                            Err(e) => Err(std::io::Error::other(e)),
                        },
                    };
                }));
            }
            for c in conns {
                let _ = c.join();
            }
        });
        SlowHttp {
            port,
            cert_der,
            stop,
            thread: Some(thread),
        }
    }
}

/// Read one request's head, wait, answer, close.
fn answer<S: Read + Write>(s: S, delay: Duration, body: &str) -> std::io::Result<()> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    std::thread::sleep(delay);
    let mut s = r.into_inner();
    write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

impl Drop for SlowHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A coroutine that sleeps `period` in a loop and records the largest gap
/// between its wake-ups: if the hub is stuck, the gap shows it.
pub struct Ticker {
    stop: Rc<Cell<bool>>,
    max_gap: Rc<Cell<Duration>>,
    ticks: Rc<Cell<u32>>,
    handle: green::JoinHandle<()>,
}

impl Ticker {
    /// Start ticking every `period` on this thread's hub.
    pub fn start(period: Duration) -> Ticker {
        let stop = Rc::new(Cell::new(false));
        let max_gap = Rc::new(Cell::new(Duration::ZERO));
        let ticks = Rc::new(Cell::new(0));
        let (s, g, t) = (stop.clone(), max_gap.clone(), ticks.clone());
        let handle = green::spawn(move || {
            let mut last = Instant::now();
            while !s.get() {
                green::sleep(period);
                let now = Instant::now();
                g.set(g.get().max(now - last));
                t.set(t.get() + 1);
                last = now;
            }
        });
        Ticker {
            stop,
            max_gap,
            ticks,
            handle,
        }
    }

    /// Stop; returns the largest gap and the number of ticks.
    pub fn finish(self) -> (Duration, u32) {
        self.stop.set(true);
        self.handle.join().expect("ticker");
        (self.max_gap.get(), self.ticks.get())
    }
}

/// Run `f(i)` for `i in 0..n` in `n` coroutines on this thread beside a
/// 10 ms ticker; returns the results in order, the wall time, and the
/// ticker's largest gap.
pub fn concurrently<R: 'static>(
    n: usize,
    f: impl Fn(usize) -> R + Clone + 'static,
) -> (Vec<R>, Duration, Duration) {
    let ticker = Ticker::start(Duration::from_millis(10));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            green::spawn(move || f(i))
        })
        .collect();
    let out: Vec<R> = green::joinall(hs)
        .into_iter()
        .map(|r| r.expect("call coroutine"))
        .collect();
    let wall = t0.elapsed();
    let (gap, ticks) = ticker.finish();
    assert!(ticks > 0, "the ticker never ran");
    (out, wall, gap)
}

/// How many calls to make one after another to estimate the serial time:
/// 2 by default (the estimate is per call x N), all N with
/// `GREEN_SERVERS_SERIAL=1` (what docs/performance.md's figures use).
pub fn serial_sample(n: usize) -> usize {
    if std::env::var_os("GREEN_SERVERS_SERIAL").is_some() {
        n
    } else {
        2.min(n)
    }
}

/// Time `k` calls of `f` one after another (in one coroutine) and return
/// the estimated time of `n` such calls.
pub fn serial_estimate(n: usize, f: impl Fn(usize) + 'static) -> Duration {
    let k = serial_sample(n);
    let t0 = Instant::now();
    green::spawn(move || {
        for i in 0..k {
            f(i)
        }
    })
    .join()
    .expect("serial calls");
    t0.elapsed() / k as u32 * n as u32
}

/// Print the measurement docs/performance.md quotes.
pub fn report(what: &str, n: usize, wall: Duration, serial: Duration, gap: Duration) {
    println!(
        "{what}: {n} coroutines {:.2} s; serial {:.2} s ({:.0}x); ticker max gap {} ms",
        wall.as_secs_f64(),
        serial.as_secs_f64(),
        serial.as_secs_f64() / wall.as_secs_f64(),
        gap.as_millis()
    );
}
