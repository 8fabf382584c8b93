//! reqwest (an async, tokio-based HTTP client) from plain blocking-style
//! coroutines, through `green::block_on`.
//!
//! The example serves its own page on 127.0.0.1 (a green::net server on a
//! thread of its own, answering every request after 200 ms), then fetches
//! ten pages from ten coroutines on the main thread's hub. The waits
//! overlap: all ten take about one wait, not ten.
//!
//! Run with: `cargo run --release -p green-suite --example async_fetch --features tokio`

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

const PAGES: usize = 10;
const DELAY: Duration = Duration::from_millis(200);

fn main() {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = green::xchan::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        let server =
            green::net::StreamServer::bind("127.0.0.1:0", |s, _| serve(s)).expect("bind 127.0.0.1");
        server.start().expect("start the server");
        addr_tx.send(server.local_addr()).expect("send the address");
        let _ = stop_rx.recv(); // serve until told to stop
        server.stop();
    });
    let addr = addr_rx.recv().expect("the server started");

    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..PAGES)
        .map(|i| {
            let client = client.clone();
            let url = format!("http://{addr}/page/{i}");
            green::spawn(move || {
                // Blocking style: this coroutine waits here, the others run.
                green::block_on(async move {
                    let resp = client.get(&url).send().await?.error_for_status()?;
                    resp.text().await
                })
            })
        })
        .collect();
    for (i, r) in green::joinall(handles).into_iter().enumerate() {
        match r {
            Ok(Ok(body)) => println!("page {i}: {body}"),
            Ok(Err(e)) => println!("page {i}: error: {e}"),
            Err(e) => println!("page {i}: coroutine failed: {e:?}"),
        }
    }
    let elapsed = t0.elapsed();
    let overlapped = elapsed < DELAY * (PAGES as u32) / 2;
    println!(
        "{PAGES} pages, {} ms each, fetched concurrently: {}",
        DELAY.as_millis(),
        if overlapped { "yes" } else { "no" }
    );
    let _ = stop_tx.send(());
    let _ = server_thread.join();
}

/// One keep-alive HTTP/1.1 connection: answer each GET after `DELAY`.
fn serve(s: green::net::TcpStream) {
    let mut reader = BufReader::new(&s);
    let mut writer = &s;
    loop {
        let mut path = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if path.is_empty() {
                path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            }
            if line == "\r\n" {
                break;
            }
        }
        green::sleep(DELAY);
        let body = format!("hello from {path}");
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
