//! `patch_all()`, then an unmodified blocking `std::net` echo server (one
//! coroutine per client, replying upper-cased) and its clients, all in
//! coroutines on one thread. Each client pauses 100 ms between lines with
//! `std::thread::sleep`; they all run at once.
//!
//! ```text
//! server listening on 127.0.0.1:<port>
//! client 0: HELLO FROM CLIENT 0, LINE 0
//! client 0: HELLO FROM CLIENT 0, LINE 1
//! ...
//! client 4: HELLO FROM CLIENT 4, LINE 2
//! 5 clients x 3 lines in ~300 ms (one after another: 1500 ms)
//! ```
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const CLIENTS: usize = 5;
const LINES: usize = 3;
const PAUSE: Duration = Duration::from_millis(100);

/// Plain blocking std code: nothing green in here.
fn handle(stream: TcpStream) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        out.write_all(line.to_uppercase().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Plain blocking std code: nothing green in here.
fn client(addr: SocketAddr, id: usize) -> std::io::Result<Vec<String>> {
    let stream = TcpStream::connect(addr)?;
    let mut out = stream.try_clone()?;
    let mut replies = BufReader::new(stream).lines();
    let mut got = Vec::new();
    for n in 0..LINES {
        std::thread::sleep(PAUSE);
        writeln!(out, "hello from client {id}, line {n}")?;
        match replies.next() {
            Some(r) => got.push(r?),
            None => break,
        }
    }
    Ok(got)
}

fn main() -> std::io::Result<()> {
    green::monkey::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("server listening on {addr}");
    let server = green::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            match listener.accept() {
                Ok((s, _)) => handlers.push(green::spawn(move || handle(s))),
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
        green::joinall(handlers);
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| green::spawn(move || client(addr, id)))
        .collect();
    for (id, r) in green::joinall(clients).into_iter().enumerate() {
        match r {
            Ok(Ok(lines)) => {
                for l in lines {
                    println!("client {id}: {l}");
                }
            }
            Ok(Err(e)) => println!("client {id}: error: {e}"),
            Err(e) => println!("client {id}: failed: {e:?}"),
        }
    }
    let ms = start.elapsed().as_millis();
    let _ = server.join();
    println!(
        "{CLIENTS} clients x {LINES} lines in {ms} ms (one after another: {} ms)",
        CLIENTS as u128 * LINES as u128 * PAUSE.as_millis()
    );
    Ok(())
}
