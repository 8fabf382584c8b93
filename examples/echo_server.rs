//! The classic epoll echo server, rewritten as one coroutine per client:
//! plain blocking-style reads and writes, each parking only its own client.
//! Every reply is the received bytes upper-cased.
//!
//! ```text
//! $ cargo run --example echo_server            # listens on 127.0.0.1:1688
//! echo_server listening on 127.0.0.1:1688
//! client 127.0.0.1:51234 connected
//! client 127.0.0.1:51234 disconnected
//! ```
//!
//! An optional argument picks another address (`127.0.0.1:0` for any free
//! port), and an optional second one the number of clients to serve before
//! exiting (default: forever).

use std::io::{Read, Write};
use std::net::SocketAddr;

use green::net::{TcpListener, TcpStream};

fn serve(mut stream: TcpStream, peer: SocketAddr) {
    println!("client {peer} connected");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf[..n].make_ascii_uppercase();
                if let Err(e) = stream.write_all(&buf[..n]) {
                    eprintln!("client {peer}: write failed: {e}");
                    break;
                }
            }
            Err(e) => {
                eprintln!("client {peer}: read failed: {e}");
                break;
            }
        }
    }
    println!("client {peer} disconnected");
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:1688".to_owned());
    let limit: Option<usize> = match args.next() {
        Some(n) => Some(n.parse().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("client count: {e}"),
            )
        })?),
        None => None,
    };
    let listener = TcpListener::bind(addr.as_str())?;
    println!("echo_server listening on {}", listener.local_addr()?);
    let mut clients = Vec::new();
    let mut accepted = 0;
    while limit != Some(accepted) {
        match listener.accept() {
            Ok((stream, peer)) => {
                accepted += 1;
                clients.push(green::spawn(move || serve(stream, peer)));
            }
            Err(e) => {
                // e.g. out of fds: wait a little instead of spinning.
                eprintln!("accept failed: {e}");
                green::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    green::joinall(clients);
    Ok(())
}
