//! A keep-alive HTTP/1.1 "Hello, World!" server on `green::net`: one
//! coroutine per connection, requests parsed with `httparse`, pipelined
//! requests answered in order with one write per batch.
//!
//! ```text
//! cargo run --release --example http_hello -- --port 8080            # one hub
//! cargo run --release --example http_hello -- --port 8080 --hubs 2  # one hub per thread, SO_REUSEPORT
//! wrk -t1 -c100 -d4s http://127.0.0.1:8080/
//! ```
//!
//! Options: `--port P` (default 8080; 0 picks a free port), `--hubs N`
//! (default 1), `--seconds S` (stop after S seconds; without it, serve until
//! a signal such as Ctrl-C ends the process). The first line printed is
//! `http_hello listening on ADDR`.
//!
//! The protocol part ([`Http`]) is plain code over byte buffers, so
//! `benches/http.rs` runs the very same code on tokio for comparison.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

/// The body every request gets.
pub const BODY: &[u8] = b"Hello, World!";

/// Headers larger than this (per request) get `431` and the connection
/// closes, so a client cannot make the server buffer without bound.
pub const MAX_HEAD: usize = 64 * 1024;

/// Bodies larger than this get `413` (the server reads and drops bodies).
pub const MAX_BODY: usize = 1024 * 1024;

/// What to do with the connection after a batch of input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Keep reading requests.
    KeepOpen,
    /// Send what is in `out`, then close (the client asked, or sent
    /// something we refuse).
    Close,
}

/// One connection's protocol state: the input buffer with any partial
/// request, and the responses to send.
pub struct Http {
    buf: Vec<u8>,
    len: usize,
    /// Bytes of a request body still to drop before the next request.
    skip: usize,
    /// Responses produced by the last `filled`, to be written in one go.
    pub out: Vec<u8>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    /// A fresh connection.
    pub fn new() -> Http {
        Http {
            buf: vec![0; 4096],
            len: 0,
            skip: 0,
            out: Vec::with_capacity(4096),
        }
    }

    /// Where the next read goes (never empty: grows the buffer up to
    /// `MAX_HEAD` while a request head does not fit).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.len == self.buf.len() {
            let n = (self.buf.len() * 2).min(MAX_HEAD.max(self.len + 1));
            self.buf.resize(n.max(self.len + 1), 0);
        }
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into `spare()`: answer every complete request
    /// now in the buffer (appending to `out`) and keep the rest.
    pub fn filled(&mut self, n: usize) -> Next {
        self.len += n;
        let mut pos = 0;
        let mut next = Next::KeepOpen;
        loop {
            if self.skip > 0 {
                let k = self.skip.min(self.len - pos);
                self.skip -= k;
                pos += k;
                if self.skip > 0 {
                    break;
                }
            }
            if pos == self.len {
                break;
            }
            match self.one(pos) {
                Step::Done(used, close) => {
                    pos += used;
                    if close {
                        next = Next::Close;
                        break;
                    }
                }
                Step::Partial => {
                    if self.len - pos >= MAX_HEAD {
                        self.out.extend_from_slice(
                            b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
                              Content-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        next = Next::Close;
                    }
                    break;
                }
            }
        }
        self.buf.copy_within(pos..self.len, 0);
        self.len -= pos;
        next
    }

    /// Parse and answer the request starting at `pos`.
    fn one(&mut self, pos: usize) -> Step {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let head = match req.parse(&self.buf[pos..self.len]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Step::Partial,
            Err(_) => {
                self.out.extend_from_slice(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return Step::Done(self.len - pos, true);
            }
        };
        // HTTP/1.0 closes unless it asks to keep alive; 1.1 the reverse.
        let mut close = req.version == Some(0);
        let mut body = 0usize;
        let mut refuse: Option<&[u8]> = None;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(n) if n <= MAX_BODY => body = n,
                    Some(_) => refuse = Some(b"413 Payload Too Large"),
                    None => refuse = Some(b"400 Bad Request"),
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                refuse = Some(b"501 Not Implemented");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if h.value.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        if let Some(status) = refuse {
            self.out.extend_from_slice(b"HTTP/1.1 ");
            self.out.extend_from_slice(status);
            self.out
                .extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return Step::Done(self.len - pos, true);
        }
        let head_only = req.method == Some("HEAD");
        self.out.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nServer: green\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n",
        );
        if close {
            self.out.extend_from_slice(b"Connection: close\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if !head_only {
            self.out.extend_from_slice(BODY);
        }
        // The body (if any) is dropped as it arrives.
        let have = self.len - pos - head;
        let k = body.min(have);
        self.skip = body - k;
        Step::Done(head + k, close)
    }
}

enum Step {
    /// A request was answered; it used this many bytes; close after it?
    Done(usize, bool),
    /// The request head is not complete yet.
    Partial,
}

/// Serve one connection until the client closes it, asks to close, or
/// sends something we refuse. Works on any blocking-style stream: a
/// `green::net::TcpStream` here, a `std::net::TcpStream` in a test.
pub fn serve_conn<S: Read + Write>(mut s: S) {
    let mut h = Http::new();
    loop {
        let n = match s.read(h.spare()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let next = h.filled(n);
        if !h.out.is_empty() {
            if s.write_all(&h.out).is_err() {
                return;
            }
            h.out.clear();
        }
        if next == Next::Close {
            return;
        }
    }
}

/// Accept on `l` forever, one coroutine per connection.
pub fn serve(l: green::net::TcpListener) {
    for conn in l.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = conn.set_nodelay(true);
        green::spawn(move || serve_conn(conn));
    }
}

struct Args {
    port: u16,
    hubs: usize,
    seconds: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 8080,
        hubs: 1,
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--hubs" => {
                a.hubs = value()?.parse().map_err(|e| format!("--hubs: {e}"))?;
                if a.hubs == 0 {
                    return Err("--hubs must be at least 1".into());
                }
            }
            "--seconds" => {
                let s: f64 = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
                let d = Duration::try_from_secs_f64(s)
                    .map_err(|_| "--seconds must be a non-negative number of seconds")?;
                a.seconds = Some(d);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http_hello: {e}\nusage: http_hello [--port P] [--hubs N] [--seconds S]");
            std::process::exit(2);
        }
    };
    let want = SocketAddr::from(([127, 0, 0, 1], args.port));
    let wait = args.seconds;
    if args.hubs > 1 {
        let addr = start_hubs(want, args.hubs);
        announce(addr, args.hubs);
        match wait {
            Some(d) => std::thread::sleep(d),
            None => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
        }
        // The hubs serve forever: end the process, not each coroutine.
        std::process::exit(0);
    }
    // One hub, on this thread. When the time is up, `run` kills the
    // acceptor and every connection's coroutine and lets them unwind
    // (closing their sockets) before it returns.
    let r = green::Runtime::new().run(move || {
        let l = match green::net::TcpListener::bind(want) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http_hello: cannot bind {want}: {e}");
                std::process::exit(1);
            }
        };
        announce(l.local_addr().unwrap_or(want), 1);
        green::spawn(move || serve(l));
        match wait {
            Some(d) => green::sleep(d),
            None => loop {
                green::sleep(Duration::from_secs(3600));
            },
        }
    });
    if let Err(e) = r {
        eprintln!("http_hello: {e}");
        std::process::exit(1);
    }
}

fn announce(addr: SocketAddr, hubs: usize) {
    println!("http_hello listening on {addr} ({hubs} hub(s))");
    let _ = std::io::stdout().flush();
}

/// `hubs` threads, each with its own hub and its own `SO_REUSEPORT`
/// listener on the same address. Returns once every hub listens.
fn start_hubs(want: SocketAddr, hubs: usize) -> SocketAddr {
    let addr: Arc<OnceLock<Option<SocketAddr>>> = Arc::new(OnceLock::new());
    let ready = Arc::new(Barrier::new(hubs + 1));
    let (a, r) = (addr.clone(), ready.clone());
    std::thread::spawn(move || {
        let _ = green::Runtime::new().threads(hubs).run_threads(|i| {
            // Hub 0 picks the address (port 0 means a free one); the others
            // join it once it is known.
            let l = if i == 0 {
                let l = green::net::TcpListener::bind_reuseport(want);
                let _ = a.set(l.as_ref().ok().and_then(|l| l.local_addr().ok()));
                l
            } else {
                while a.get().is_none() {
                    std::thread::yield_now();
                }
                match a.get() {
                    Some(Some(at)) => green::net::TcpListener::bind_reuseport(*at),
                    _ => Err(std::io::Error::other("hub 0 could not bind")),
                }
            };
            r.wait();
            match l {
                Ok(l) => serve(l),
                Err(e) => eprintln!("http_hello: hub {i} cannot listen: {e}"),
            }
        });
    });
    ready.wait();
    match addr.get() {
        Some(Some(a)) => *a,
        _ => {
            eprintln!("http_hello: cannot bind {want}");
            std::process::exit(1);
        }
    }
}
