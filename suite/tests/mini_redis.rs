//! `examples/mini_redis` against the real thing: the same bytes sent to
//! the example and to a real `redis-server` get the same bytes back —
//! replies, errors, protocol errors and the closes that follow them — and
//! the real clients work against it (the `redis` crate, `redis-benchmark`).
//! Also: requests split at every byte, declared lengths that are never
//! trusted for memory, and stopping by itself after `--seconds`.

#[path = "common/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running example, killed (by its pid) when the test ends.
struct MiniRedis {
    child: Child,
    port: u16,
}

impl Drop for MiniRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> MiniRedis {
    let bin = green_suite::cargo::example("mini_redis");
    let mut child = Command::new(bin)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mini_redis");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("mini_redis listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    MiniRedis { child, port }
}

/// The sentinel every case ends with: its reply marks the end of the
/// case's replies (unless the server closed the connection first).
const END: &[u8] = b"*2\r\n$4\r\nECHO\r\n$7\r\n__end__\r\n";
const END_REPLY: &[u8] = b"$7\r\n__end__\r\n";

/// Send `input` (in pieces of `chunk` bytes, pausing between them) and
/// the sentinel on a fresh connection; return everything the server sent
/// up to the sentinel's reply or the close.
fn exchange(port: u16, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    // The sentinel goes in the same write as the case: a server that
    // closes after a protocol error has then read everything, so its close
    // is a FIN, not a reset that could discard its last reply.
    let mut all = input.to_vec();
    all.extend_from_slice(END);
    for piece in all.chunks(chunk.max(1)) {
        if s.write_all(piece).is_err() {
            break; // closed after a protocol error: what was read tells
        }
        if chunk < all.len() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(END_REPLY) {
                    got.truncate(got.len() - END_REPLY.len());
                    break;
                }
            }
            // A reset after a protocol error (our unread sentinel) ends it too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    got
}

/// RESP for one command.
fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

fn cmds(list: &[&[&str]]) -> Vec<u8> {
    list.iter().flat_map(|c| cmd(c)).collect()
}

/// Every case: a name and the bytes sent. The replies must be identical
/// on both servers.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "ping and echo",
            cmds(&[&["PING"], &["ping", "hello"], &["ECHO", "x y"], &["ECHO"]]),
        ),
        (
            "strings",
            cmds(&[
                &["SET", "k", "v"],
                &["GET", "k"],
                &["GET", "missing"],
                &["SET", "k", "w", "junk"],
                &["SET", "k"],
                &["GET"],
                &["GET", "k", "k"],
            ]),
        ),
        (
            "counters",
            cmds(&[
                &["INCR", "n"],
                &["INCR", "n"],
                &["DECR", "n"],
                &["INCRBY", "n", "40"],
                &["INCRBY", "n", "x"],
                &["INCRBY", "n", "007"],
                &["SET", "s", "abc"],
                &["INCR", "s"],
                &["SET", "big", "9223372036854775807"],
                &["INCR", "big"],
                &["SET", "z", " 1"],
                &["INCR", "z"],
                &["GET", "n"],
            ]),
        ),
        (
            "lists",
            cmds(&[
                &["LPUSH", "l", "a", "b", "c"],
                &["RPUSH", "l", "d"],
                &["LRANGE", "l", "0", "-1"],
                &["LRANGE", "l", "1", "2"],
                &["LRANGE", "l", "-2", "-1"],
                &["LRANGE", "l", "-100", "-50"],
                &["LRANGE", "l", "5", "10"],
                &["LRANGE", "l", "0", "x"],
                &["LLEN", "l"],
                &["LPOP", "l"],
                &["RPOP", "l"],
                &["LPOP", "l", "0"],
                &["LPOP", "l", "-1"],
                &["LPOP", "l", "5"],
                &["LPOP", "l"],
                &["LPOP", "l", "2"],
                &["LLEN", "l"],
                &["EXISTS", "l"],
                &["LPOP", "l", "1", "2"],
            ]),
        ),
        (
            "wrong types",
            cmds(&[
                &["SET", "s", "x"],
                &["LPUSH", "s", "y"],
                &["LPOP", "s"],
                &["LLEN", "s"],
                &["RPUSH", "l", "y"],
                &["GET", "l"],
                &["INCR", "l"],
            ]),
        ),
        (
            "keys",
            cmds(&[
                &["SET", "a", "1"],
                &["SET", "b", "2"],
                &["EXISTS", "a", "b", "c", "a"],
                &["DBSIZE"],
                &["DEL", "a", "c"],
                &["DBSIZE"],
                &["SELECT", "0"],
                &["SELECT", "x"],
                &["FLUSHDB"],
                &["DBSIZE"],
            ]),
        ),
        (
            "unknown commands",
            cmds(&[&["FOO"], &["foo", "a", "b"], &["GETX", "k"]]),
        ),
        (
            "inline commands",
            b"PING\r\nSET a b\nGET a\r\n   \r\nSET \"x y\" 'z'\r\nGET \"x y\"\r\nECHO  spaced   words \r\n"
                .to_vec(),
        ),
        ("empty arrays are ignored", b"*0\r\n*-1\r\nPING\r\n".to_vec()),
        ("bad multibulk length", b"PING\r\n*x\r\n".to_vec()),
        ("multibulk length over INT_MAX", b"*3000000000\r\n".to_vec()),
        ("bad bulk length", b"*1\r\n$x\r\nPING\r\n".to_vec()),
        ("negative bulk length", b"*2\r\n$4\r\nECHO\r\n$-1\r\n".to_vec()),
        ("bulk length over 512 MB", b"*1\r\n$536870913\r\n".to_vec()),
        ("not a bulk", b"*1\r\n:1\r\n".to_vec()),
        ("unbalanced quotes", b"SET \"a b\r\n".to_vec()),
        ("closing quote glued to a word", b"SET \"a\"b c\r\n".to_vec()),
        ("quit", b"PING\r\nQUIT\r\nPING\r\n".to_vec()),
    ]
}

#[test]
fn replies_match_redis_server_byte_for_byte() {
    let real = servers::redis();
    let mini = start(&[]);
    for (name, input) in cases() {
        // A clean keyspace for each case, on both.
        for port in [real.port, mini.port] {
            assert_eq!(exchange(port, &cmd(&["FLUSHALL"]), usize::MAX), b"+OK\r\n");
        }
        let want = exchange(real.port, &input, usize::MAX);
        let got = exchange(mini.port, &input, usize::MAX);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "case {name:?}: mini_redis (left) differs from redis-server (right)"
        );
        assert!(
            !want.is_empty() || name.contains("empty"),
            "case {name:?} tested nothing"
        );
    }
}

#[test]
fn requests_split_at_every_byte_get_the_same_replies() {
    let mini = start(&[]);
    let input = cmds(&[
        &["SET", "k", "hello world"],
        &["GET", "k"],
        &["LPUSH", "l", "a", "b"],
        &["LRANGE", "l", "0", "-1"],
        &["INCR", "n"],
        &["PING"],
    ]);
    exchange(mini.port, &cmd(&["FLUSHALL"]), usize::MAX);
    let whole = exchange(mini.port, &input, usize::MAX);
    for chunk in [1, 2, 3, 7] {
        exchange(mini.port, &cmd(&["FLUSHALL"]), usize::MAX);
        let split = exchange(mini.port, &input, chunk);
        assert_eq!(split, whole, "pieces of {chunk} byte(s)");
    }
    assert!(
        String::from_utf8_lossy(&whole).contains("hello world"),
        "{whole:?}"
    );
}

/// Resident memory of a process, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn declared_lengths_cost_nothing_until_the_bytes_arrive() {
    let mini = start(&[]);
    let pid = mini.child.id();
    let before = rss_kib(pid);
    // Many connections each declaring a near-limit bulk and a huge array,
    // then sending a few bytes of it.
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", mini.port)).expect("connect");
        s.write_all(b"*2000000000\r\n$536870912\r\nabc")
            .expect("write header");
        held.push(s);
    }
    // The server still answers others at once.
    let t = Instant::now();
    assert_eq!(
        exchange(mini.port, &cmd(&["PING"]), usize::MAX),
        b"+PONG\r\n"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    let after = rss_kib(pid);
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB for 50 declared 512 MB values"
    );
    // A value that really arrives, 2 MB in one command, comes back whole.
    let value = "v".repeat(2 << 20);
    let reply = exchange(
        mini.port,
        &cmds(&[
            &["SET", "big", &value],
            &["STRLEN_IS_NOT_HERE"],
            &["GET", "big"],
        ]),
        usize::MAX,
    );
    let want_tail = format!("${}\r\n{value}\r\n", value.len());
    assert!(
        reply.starts_with(b"+OK\r\n-ERR unknown command"),
        "{:?}",
        &reply[..40]
    );
    assert!(reply.ends_with(want_tail.as_bytes()));
}

#[test]
fn the_redis_crate_works_against_it() {
    let mini = start(&[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", mini.port)).expect("url");
    let mut c = client.get_connection().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("x")
        .arg(41)
        .query(&mut c)
        .expect("SET");
    let n: i64 = redis::cmd("INCR").arg("x").query(&mut c).expect("INCR");
    assert_eq!(n, 42);
    let len: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg(&["a", "b", "c"])
        .query(&mut c)
        .expect("RPUSH");
    assert_eq!(len, 3);
    let items: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .expect("LRANGE");
    assert_eq!(items, ["a", "b", "c"]);
    let err = redis::cmd("INCR")
        .arg("q")
        .query::<i64>(&mut c)
        .expect_err("INCR on a list");
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    // Pipelined.
    let (a, b): (String, Option<String>) = redis::pipe()
        .cmd("GET")
        .arg("x")
        .cmd("GET")
        .arg("nothing")
        .query(&mut c)
        .expect("pipeline");
    assert_eq!((a.as_str(), b), ("42", None));
}

#[test]
fn redis_benchmark_runs_every_test_against_it() {
    green_suite::install::servers(); // redis-server's package brings redis-benchmark
    let bench = green_suite::install::on_path_or_in("redis-benchmark", &[])
        .expect("redis-benchmark (Debian package redis-tools, installed with redis-server)");
    let mini = start(&[]);
    let out = Command::new(bench)
        .args(["-h", "127.0.0.1", "-p", &mini.port.to_string()])
        .args(["-c", "20", "-n", "2000", "-P", "4", "-q", "--csv"])
        .args(["-t", "ping,set,get,incr,lpush,lpop"])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "LPOP",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("\"{test}\"")))
            .unwrap_or_else(|| panic!("no {test} row in:\n{text}"));
        let rps: f64 = line
            .split(',')
            .nth(1)
            .and_then(|v| v.trim_matches('"').parse().ok())
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        assert!(rps > 0.0, "{line}");
    }
    // INCR ran 2,000 times on one key: the server counted every one.
    let n = exchange(
        mini.port,
        &cmd(&["GET", "counter:__rand_int__"]),
        usize::MAX,
    );
    assert_eq!(n, b"$4\r\n2000\r\n", "{:?}", String::from_utf8_lossy(&n));
}

/// Wait (at most 10 s) for the server to exit by itself.
fn exit_status(child: &mut Child) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn it_stops_by_itself_after_seconds_and_refuses_bad_arguments() {
    let mut mini = start(&["--seconds", "0.3"]);
    let status = exit_status(&mut mini.child);
    assert!(status.success(), "{status}");
    let bin = green_suite::cargo::example("mini_redis");
    let out = Command::new(bin)
        .args(["--port", "x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: mini_redis"));
}

/// Without `--seconds` it serves until SIGINT or SIGTERM, then closes
/// every connection (an idle client reads EOF) and exits with success.
#[test]
fn sigterm_and_sigint_stop_it_cleanly_with_connections_open() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut mini = start(&[]);
        let mut c = TcpStream::connect(("127.0.0.1", mini.port)).expect("connect");
        c.write_all(b"PING\r\n").expect("ping");
        let mut pong = [0u8; 7];
        c.read_exact(&mut pong).expect("pong");
        assert_eq!(&pong, b"+PONG\r\n");
        // SAFETY: kill on our own child's pid, which is not yet reaped.
        assert_eq!(unsafe { libc::kill(mini.child.id() as i32, sig) }, 0);
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .expect("the connection ends with EOF");
        assert!(rest.is_empty(), "signal {sig}: {rest:?}");
        let status = exit_status(&mut mini.child);
        assert!(status.success(), "signal {sig}: {status}");
    }
}
