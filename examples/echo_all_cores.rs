//! The echo server on every core: one hub per CPU, each accepting on its own
//! `SO_REUSEPORT` listener bound to the same address, one coroutine per
//! client, replies upper-cased (like `echo_server`).
//!
//! ```text
//! cargo run --release --example echo_all_cores                 # serve 127.0.0.1:1688 forever
//! cargo run --release --example echo_all_cores -- --selftest 40   # serve on a free port, run 40 clients, exit
//! ```
//! In self-test mode it prints each client's upper-cased reply in order and
//! how many connections each hub served.
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};

fn serve(listener: green::net::TcpListener, served: &AtomicUsize) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        served.fetch_add(1, Ordering::Relaxed);
        green::spawn(move || {
            let Ok(write_half) = conn.try_clone() else {
                return;
            };
            let mut out = write_half;
            let mut lines = BufReader::new(conn);
            let mut line = String::new();
            while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                if out.write_all(line.to_uppercase().as_bytes()).is_err() {
                    break;
                }
                line.clear();
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let selftest = args.iter().position(|a| a == "--selftest").map(|i| {
        args.get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(20usize)
    });
    let hubs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2);
    let want: SocketAddr = if selftest.is_some() {
        "127.0.0.1:0".parse().expect("literal address")
    } else {
        "127.0.0.1:1688".parse().expect("literal address")
    };
    let addr = Arc::new(OnceLock::new());
    let ready = Arc::new(Barrier::new(hubs + 1));
    let served: Arc<Vec<AtomicUsize>> = Arc::new((0..hubs).map(|_| AtomicUsize::new(0)).collect());
    {
        let (addr, ready, served) = (addr.clone(), ready.clone(), served.clone());
        std::thread::spawn(move || {
            let r = green::Runtime::new().threads(hubs).run_threads(|i| {
                // Hub 0 picks the address (a free port in self-test mode);
                // the others join it once it is known.
                let listener = if i == 0 {
                    let l = green::net::TcpListener::bind_reuseport(want);
                    if let Ok(l) = &l {
                        let _ = addr.set(l.local_addr().ok());
                    } else {
                        let _ = addr.set(None);
                    }
                    l
                } else {
                    while addr.get().is_none() {
                        std::thread::yield_now();
                    }
                    match addr.get() {
                        Some(Some(a)) => green::net::TcpListener::bind_reuseport(*a),
                        _ => Err(std::io::Error::other("hub 0 could not bind")),
                    }
                };
                ready.wait();
                match listener {
                    Ok(l) => serve(l, &served[i]),
                    Err(e) => eprintln!("hub {i}: cannot listen: {e}"),
                }
            });
            if let Err(e) = r {
                eprintln!("echo_all_cores: {e}");
                std::process::exit(1);
            }
        });
    }
    ready.wait();
    let Some(Some(addr)) = addr.get().copied() else {
        eprintln!("echo_all_cores: could not listen on {want}");
        std::process::exit(1);
    };
    let Some(clients) = selftest else {
        println!("echo server on {addr} with {hubs} hubs (one per core); Ctrl-C to stop");
        loop {
            std::thread::park();
        }
    };
    // Self-test: clients on this thread's own hub, all at once.
    let hs: Vec<_> = (0..clients)
        .map(|i| {
            green::spawn(move || -> std::io::Result<String> {
                let mut c = green::net::TcpStream::connect(addr)?;
                c.write_all(format!("hello from client {i}\n").as_bytes())?;
                let mut reply = String::new();
                BufReader::new(c).read_line(&mut reply)?;
                Ok(reply.trim_end().to_string())
            })
        })
        .collect();
    for r in green::joinall(hs) {
        match r {
            Ok(Ok(line)) => println!("{line}"),
            Ok(Err(e)) => println!("client error: {e}"),
            Err(e) => println!("client failed: {e}"),
        }
    }
    let counts: Vec<usize> = served.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    println!(
        "{} connections over {hubs} hubs: {}",
        counts.iter().sum::<usize>(),
        counts
            .iter()
            .enumerate()
            .map(|(i, n)| format!("hub {i} served {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::process::exit(0);
}
