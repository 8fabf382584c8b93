//! Ctrl-C (or `kill -TERM`) stops a `StreamServer` cleanly: the listener
//! closes at once, connections in flight finish (within the stop timeout),
//! and `serve_forever` returns only then — gevent's
//! `signal_handler(SIGINT, server.stop)` in a few lines, with no thread of
//! your own.
//!
//! ```text
//! cargo run --release --example graceful_shutdown
//! # in another shell: a slow request, then Ctrl-C in the first one
//! printf 'hello\n' | nc 127.0.0.1 <port>
//! ```
//!
//! Each connection gets its first line back upper-cased after 300 ms. The
//! first line printed is `graceful_shutdown listening on ADDR`; the last,
//! once everything has stopped, `stopped after N connection(s)`.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;
use std::time::Duration;

fn main() -> std::io::Result<()> {
    let served = Rc::new(Cell::new(0u32));
    let count = served.clone();
    let server = green::net::StreamServer::bind("127.0.0.1:0", move |mut stream, _peer| {
        let mut line = String::new();
        if BufReader::new(&stream).read_line(&mut line).is_ok() {
            green::sleep(Duration::from_millis(300)); // a slow request
            let _ = stream.write_all(line.to_uppercase().as_bytes());
            count.set(count.get() + 1);
        }
    })?;
    server.set_stop_timeout(Duration::from_secs(5));
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let s = server.clone();
        // Installed until the program ends (the handle may go).
        green::signal::handler(sig, move || {
            eprintln!("signal {sig}: stopping");
            s.stop();
        })?;
    }
    println!("graceful_shutdown listening on {}", server.local_addr());
    std::io::stdout().flush()?;
    server.serve_forever()?;
    println!("stopped after {} connection(s)", served.get());
    Ok(())
}
