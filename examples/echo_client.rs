//! Client for `echo_server`: sends lines and prints the upper-cased replies.
//!
//! ```text
//! $ cargo run --example echo_client            # talks to 127.0.0.1:1688
//! HELLO, GREEN
//! ONE COROUTINE PER CLIENT
//! BYE
//! ```
//!
//! Arguments: an optional address, then the lines to send.

use std::io::{BufRead, BufReader, Write};

use green::net::TcpStream;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:1688".to_owned());
    let mut lines: Vec<String> = args.collect();
    if lines.is_empty() {
        lines = ["hello, green", "one coroutine per client", "bye"]
            .map(String::from)
            .to_vec();
    }
    let stream = TcpStream::connect(addr.as_str())?;
    let mut replies = BufReader::new(&stream);
    for line in &lines {
        (&stream).write_all(format!("{line}\n").as_bytes())?;
        let mut reply = String::new();
        if replies.read_line(&mut reply)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        print!("{reply}");
    }
    Ok(())
}
