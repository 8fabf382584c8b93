//! A concurrent crawler: fetch N pages from a small local HTTP server (which
//! the example starts itself, on 127.0.0.1), once one after another and
//! once concurrently with a limit, and compare the times.
//!
//! Each fetch is plain blocking-style code on `green::net::TcpStream`; the
//! host name `localhost` is resolved on the blocking pool. Results are
//! reported by a completion callback (`JoinHandle::on_finish`, gevent's
//! `link`), in the order the fetches finish.
//!
//! ```text
//! $ cargo run --example crawler            # 20 pages, 8 at a time
//! sequential: http://localhost:40411/page/1 1000 bytes
//! ...
//! concurrent: http://localhost:40411/page/3 3000 bytes
//! ...
//! sequential: 20 pages, 210000 bytes in 2.03 s
//! concurrent: 20 pages, 210000 bytes in 0.31 s (limit 8)
//! speed-up: 6.6x
//! ```

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::net::{StreamServer, TcpStream};
use green::wait_list::WaitList;

/// Simulated server-side work per request.
const LATENCY: Duration = Duration::from_millis(100);

/// The local site: `/page/N` is N * 1000 bytes, after `LATENCY`.
fn http_handler(stream: TcpStream, _peer: std::net::SocketAddr) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers up to the blank line.
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {}
        }
    }
    let page = request_line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.strip_prefix("/page/"))
        .and_then(|n| n.parse::<usize>().ok());
    green::sleep(LATENCY);
    let response = match page {
        Some(n) => {
            let body = "x".repeat(n * 1000);
            format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        None => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
    };
    let _ = (&stream).write_all(response.as_bytes());
}

/// GET `url` (`http://host:port/path`) and return the body's length.
fn fetch(url: &str) -> io::Result<usize> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad url {url}"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (hostport, path) = rest.split_at(rest.find('/').ok_or_else(bad)?);
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let mut s = TcpStream::connect((host, port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n")?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no header end"))?;
    if !response.starts_with(b"HTTP/1.0 200") {
        return Err(io::Error::other(format!("{url}: not 200 OK")));
    }
    Ok(response.len() - head_end - 4)
}

/// At most `n` holders at once (a tiny stand-in for a `Pool` limit).
struct Gate {
    free: Cell<usize>,
    waiters: WaitList,
}

struct Permit(Rc<Gate>);

impl Gate {
    fn acquire(self: &Rc<Gate>) -> Permit {
        while self.free.get() == 0 {
            self.waiters.wait(None);
        }
        self.free.set(self.free.get() - 1);
        Permit(self.clone())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        self.0.waiters.notify_one();
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let pages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let limit: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8).max(1);

    let server = StreamServer::bind("127.0.0.1:0", http_handler)?;
    server.start()?;
    let port = server.local_addr().port();
    let urls: Vec<String> = (1..=pages)
        .map(|n| format!("http://localhost:{port}/page/{n}"))
        .collect();

    // One after another.
    let t = Instant::now();
    let mut seq_bytes = 0;
    for url in &urls {
        let n = fetch(url)?;
        println!("sequential: {url} {n} bytes");
        seq_bytes += n;
    }
    let seq = t.elapsed();

    // Concurrently, at most `limit` at a time; results arrive through
    // completion callbacks.
    let t = Instant::now();
    let gate = Rc::new(Gate {
        free: Cell::new(limit),
        waiters: WaitList::new(),
    });
    let total = Rc::new(Cell::new(0usize));
    let failures = Rc::new(Cell::new(0usize));
    let mut handles = Vec::new();
    for url in urls {
        let gate = gate.clone();
        let u = url.clone();
        let h = green::spawn(move || {
            let _permit = gate.acquire();
            fetch(&u)
        });
        let (total, failures) = (total.clone(), failures.clone());
        h.on_finish(move |r| match r {
            Ok(Ok(n)) => {
                println!("concurrent: {url} {n} bytes");
                total.set(total.get() + n);
            }
            Ok(Err(e)) => {
                eprintln!("concurrent: {url} failed: {e}");
                failures.set(failures.get() + 1);
            }
            Err(e) => {
                eprintln!("concurrent: {url} failed: {e}");
                failures.set(failures.get() + 1);
            }
        });
        handles.push(h);
    }
    green::joinall(handles);
    let conc = t.elapsed();
    server.stop();

    println!(
        "sequential: {pages} pages, {seq_bytes} bytes in {:.2} s",
        seq.as_secs_f64()
    );
    println!(
        "concurrent: {pages} pages, {} bytes in {:.2} s (limit {limit})",
        total.get(),
        conc.as_secs_f64()
    );
    println!(
        "speed-up: {:.1}x",
        seq.as_secs_f64() / conc.as_secs_f64().max(1e-9)
    );
    if failures.get() > 0 {
        return Err(io::Error::other(format!(
            "{} fetches failed",
            failures.get()
        )));
    }
    Ok(())
}
