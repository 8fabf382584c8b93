//! An unmodified third-party blocking HTTP client (`ureq`) runs
//! concurrently in coroutines under `patch_all`, against a local server
//! written with plain blocking `std::net` in coroutines too. Own binary:
//! patched process-wide.

mod common;
mod monkey_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::hang::watchdog;

const CLIENTS: usize = 20;
const SERVER_DELAY: Duration = Duration::from_millis(200);

/// A blocking HTTP/1.1 responder: one coroutine per connection, each
/// "working" for 200 ms with `std::thread::sleep` before it answers.
fn serve(l: TcpListener, n: usize) {
    let mut conns = Vec::new();
    for _ in 0..n {
        let (s, _) = l.accept().expect("accept");
        conns.push(green::spawn(move || {
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut first = String::new();
            r.read_line(&mut first).expect("request line");
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).expect("header") <= 2 {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            std::thread::sleep(SERVER_DELAY);
            let body = format!("hello {path}");
            let mut s = s;
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .expect("respond");
        }));
    }
    for r in green::joinall(conns) {
        r.expect("handler");
    }
}

#[test]
fn ureq_clients_run_concurrently_under_patch_all() {
    watchdog(120, || {
        green::monkey::patch_all();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = green::spawn(move || serve(l, CLIENTS));
        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                green::spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout_connect(Duration::from_secs(10))
                        .timeout(Duration::from_secs(30))
                        .build();
                    agent
                        .get(&format!("http://127.0.0.1:{port}/item/{i}"))
                        .call()
                        .expect("GET")
                        .into_string()
                        .expect("body")
                })
            })
            .collect();
        let bodies: Vec<String> = green::joinall(clients)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        server.join().unwrap();
        let took = start.elapsed();
        for (i, b) in bodies.iter().enumerate() {
            assert_eq!(b, &format!("hello /item/{i}"));
        }
        // One after the other would take 20 x 200 ms = 4 s.
        assert!(took >= SERVER_DELAY, "{took:?}");
        assert!(
            took < Duration::from_millis(2000),
            "not concurrent: {took:?}"
        );
    });
}
