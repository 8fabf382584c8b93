//! Runs `examples/http_hello` and talks HTTP/1.1 to it over std sockets:
//! keep-alive, pipelining, requests split at every byte, HEAD, bodies,
//! `Connection: close`, HTTP/1.0, bad requests, several hubs, bad
//! arguments, and stopping by itself after `--seconds`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OK: &str = "HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// The running example, killed (by its pid) when the test ends.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example's binary, built first if this `cargo test` did not build it
/// (`cargo test --test http_hello` builds no examples).
fn binary() -> std::path::PathBuf {
    common::example_path("http_hello")
}

fn start(args: &[&str]) -> Server {
    let mut child = Command::new(binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start http_hello");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let addr = first
        .strip_prefix("http_hello listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    Server { child, addr }
}

fn connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(&s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c
}

/// Read exactly `n` bytes as text.
fn read_n(c: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    c.read_exact(&mut buf).expect("response bytes");
    String::from_utf8(buf).expect("ascii response")
}

/// Read until the server closes the connection.
fn read_to_close(c: &mut TcpStream) -> String {
    let mut s = String::new();
    c.read_to_string(&mut s).expect("read to EOF");
    s
}

#[test]
fn answers_keep_alive_pipelined_and_split_requests() {
    let s = start(&["--port", "0", "--seconds", "60"]);
    let mut c = connect(&s);
    // Keep-alive: several requests on one connection.
    for _ in 0..3 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        assert_eq!(read_n(&mut c, OK.len()), OK);
    }
    // Pipelined: three requests in one write, three answers in order.
    c.write_all(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n")
        .expect("write");
    assert_eq!(read_n(&mut c, 3 * OK.len()), OK.repeat(3));
    // One request sent a byte at a time.
    c.set_nodelay(true).expect("nodelay");
    for b in b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" {
        c.write_all(&[*b]).expect("write byte");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(read_n(&mut c, OK.len()), OK);
    // HEAD: the same head, no body.
    c.write_all(b"HEAD / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_n(&mut c, OK.len() - 13), &OK[..OK.len() - 13]);
    // A body (split from its head) is read and dropped; the next request
    // right behind it is answered.
    c.write_all(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        .expect("write");
    std::thread::sleep(Duration::from_millis(5));
    c.write_all(b"cdeGET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_n(&mut c, 2 * OK.len()), OK.repeat(2));
    // Connection: close ends it after the answer.
    c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let last = read_to_close(&mut c);
    assert!(last.starts_with("HTTP/1.1 200 OK\r\n"), "{last}");
    assert!(last.contains("Connection: close\r\n"), "{last}");
    assert!(last.ends_with("\r\n\r\nHello, World!"), "{last}");
}

#[test]
fn http10_closes_and_bad_requests_get_errors() {
    let s = start(&["--port", "0", "--seconds", "60"]);
    // HTTP/1.0 without keep-alive: answer, then close.
    let mut c = connect(&s);
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    assert!(read_to_close(&mut c).ends_with("Hello, World!"));
    // Garbage: 400 and close.
    let mut c = connect(&s);
    c.write_all(b"\x01\x02 nonsense\r\n\r\n").expect("write");
    assert!(read_to_close(&mut c).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    // Chunked bodies are refused clearly.
    let mut c = connect(&s);
    c.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("write");
    assert!(read_to_close(&mut c).starts_with("HTTP/1.1 501 Not Implemented\r\n"));
    // A head that never ends is cut off, not buffered forever.
    let mut c = connect(&s);
    c.write_all(b"GET / HTTP/1.1\r\nX-Pad: ").expect("write");
    let pad = "p".repeat(1000);
    let mut refused = false;
    for _ in 0..100 {
        if c.write_all(pad.as_bytes()).is_err() {
            refused = true; // the server closed while we were still sending
            break;
        }
    }
    let mut rest = String::new();
    // The close may come as a reset (we sent more than it read).
    let r = c.read_to_string(&mut rest);
    assert!(
        refused || r.is_err() || rest.starts_with("HTTP/1.1 431 "),
        "oversized head not refused: {rest:?}"
    );
    // The server still serves new connections.
    let mut c = connect(&s);
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_n(&mut c, OK.len()), OK);
}

#[test]
fn several_hubs_serve_many_connections() {
    let s = start(&["--port", "0", "--hubs", "2", "--seconds", "60"]);
    let mut conns: Vec<TcpStream> = (0..20).map(|_| connect(&s)).collect();
    for round in 0..5 {
        for c in &mut conns {
            c.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        }
        for c in &mut conns {
            assert_eq!(read_n(c, OK.len()), OK, "round {round}");
        }
    }
}

#[test]
fn stops_by_itself_and_rejects_bad_arguments() {
    let t = Instant::now();
    let mut s = start(&["--port", "0", "--seconds", "0.3"]);
    let st = s.child.wait().expect("wait");
    assert!(st.success(), "{st:?}");
    assert!(t.elapsed() < Duration::from_secs(20));
    for bad in [
        &["--hubs", "0"][..],
        &["--port", "nope"],
        &["--seconds", "-1"],
        &["--what"],
        &["--port"],
    ] {
        let o = Command::new(binary()).args(bad).output().expect("run");
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("usage"),
            "{bad:?}"
        );
    }
}
