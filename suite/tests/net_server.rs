//! green::net::StreamServer: handler per connection, limit, stop, panics
//! (C35), and accept at EMFILE backing off instead of spinning.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::net::{StreamServer, TcpStream};

use common::hang::watchdog;

/// Echo lines upper-cased until EOF; the line "panic" panics.
fn line_handler(s: TcpStream, _peer: std::net::SocketAddr) {
    let mut r = BufReader::new(&s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "panic\n" {
            panic!("handler asked to panic");
        }
        if (&s).write_all(line.to_uppercase().as_bytes()).is_err() {
            return;
        }
    }
}

fn ask(c: &TcpStream, line: &str) -> std::io::Result<String> {
    (&*c).write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(c).read_line(&mut reply)?;
    Ok(reply)
}

// C35: a handler panicking closes that connection only.
#[test]
fn c35_panicking_handler_closes_only_its_connection() {
    watchdog(20, || {
        let server = StreamServer::bind("127.0.0.1:0", line_handler).unwrap();
        server.start().unwrap();
        let addr = server.local_addr();
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        let c = TcpStream::connect(addr).unwrap();
        assert_eq!(ask(&a, "a1\n").unwrap(), "A1\n");
        assert_eq!(ask(&b, "b1\n").unwrap(), "B1\n");
        assert_eq!(ask(&c, "c1\n").unwrap(), "C1\n");
        assert_eq!(server.active_connections(), 3);
        // b's handler panics: b sees its connection end (EOF or reset).
        (&b).write_all(b"panic\n").unwrap();
        let mut buf = [0u8; 8];
        match (&b).read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected b's connection to end, got {other:?}"),
        }
        // The others, and the server, are unaffected.
        assert_eq!(ask(&a, "a2\n").unwrap(), "A2\n");
        assert_eq!(ask(&c, "c2\n").unwrap(), "C2\n");
        assert_eq!(server.active_connections(), 2);
        let d = TcpStream::connect(addr).unwrap();
        assert_eq!(ask(&d, "d1\n").unwrap(), "D1\n");
        assert!(server.is_running());
        drop((a, c, d));
        server.stop();
        assert!(!server.is_running());
    });
}

// C35: a pool-limited server stops accepting while full.
#[test]
fn c35_limited_server_stops_accepting_while_full() {
    watchdog(20, || {
        let server = StreamServer::bind("127.0.0.1:0", line_handler).unwrap();
        server.set_max_connections(Some(2)).unwrap();
        assert_eq!(
            server.set_max_connections(Some(0)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        server.start().unwrap();
        let addr = server.local_addr();
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        assert_eq!(ask(&a, "a\n").unwrap(), "A\n");
        assert_eq!(ask(&b, "b\n").unwrap(), "B\n");
        // The kernel completes c's handshake (backlog) but nobody serves it.
        let c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert_eq!(ask(&c, "c\n").unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(server.active_connections(), 2);
        // One slot frees: c is accepted and its pending line answered.
        drop(a);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = String::new();
        BufReader::new(&c).read_line(&mut reply).unwrap();
        assert_eq!(reply, "C\n");
        assert_eq!(server.active_connections(), 2);
        // Raising the bound lets more in at once.
        server.set_max_connections(None).unwrap();
        let d = TcpStream::connect(addr).unwrap();
        assert_eq!(ask(&d, "d\n").unwrap(), "D\n");
        assert_eq!(server.active_connections(), 3);
        drop((b, c, d));
        server.stop();
    });
}

#[test]
fn stop_is_graceful_then_kills_lingering_handlers() {
    watchdog(20, || {
        let server = StreamServer::bind("127.0.0.1:0", |s, _| {
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            if line == "slow\n" {
                green::sleep(Duration::from_secs(3600));
            }
            green::sleep(Duration::from_millis(50));
            let _ = (&s).write_all(b"done\n");
        })
        .unwrap();
        server.set_stop_timeout(Duration::from_millis(300));
        let addr = server.local_addr();
        let srv = server.clone();
        let runner = green::spawn(move || srv.serve_forever());
        green::yield_now();
        let quick = TcpStream::connect(addr).unwrap();
        let slow = TcpStream::connect(addr).unwrap();
        (&quick).write_all(b"quick\n").unwrap();
        (&slow).write_all(b"slow\n").unwrap();
        green::sleep(Duration::from_millis(20));
        assert_eq!(server.active_connections(), 2);
        let t = Instant::now();
        server.stop();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // The quick one finished its reply; the slow one was killed, which
        // closed its connection.
        let mut s = String::new();
        (&quick).read_to_string(&mut s).unwrap();
        assert_eq!(s, "done\n");
        let mut rest = Vec::new();
        let _ = (&slow).read_to_end(&mut rest);
        assert!(rest.is_empty());
        assert_eq!(server.active_connections(), 0);
        runner.join().unwrap().unwrap();
        // The listener is closed: no more connections, and no restart.
        assert!(TcpStream::connect(addr).is_err());
        assert!(server.start().is_err());
        server.stop(); // idempotent
    });
}

#[test]
fn serve_forever_returns_only_after_stop_has_finished_its_handlers() {
    watchdog(20, || {
        let finished = Rc::new(std::cell::Cell::new(false));
        let f = finished.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |s, _| {
            let mut line = String::new();
            let _ = BufReader::new(&s).read_line(&mut line);
            green::sleep(Duration::from_millis(200));
            let _ = (&s).write_all(b"done\n");
            f.set(true);
        })
        .unwrap();
        server.set_stop_timeout(Duration::from_secs(5));
        let addr = server.local_addr();
        let (srv, stopper) = (server.clone(), server.clone());
        green::spawn(move || {
            let c = TcpStream::connect(addr).unwrap();
            (&c).write_all(b"hi\n").unwrap();
            green::sleep(Duration::from_millis(50));
            // Another coroutine starts stop() while the handler works.
            green::spawn(move || stopper.stop());
            let mut s = String::new();
            (&c).read_to_string(&mut s).unwrap();
            assert_eq!(s, "done\n");
        });
        srv.serve_forever().unwrap();
        assert!(
            finished.get(),
            "serve_forever returned before stop() let the handler finish"
        );
        assert_eq!(server.active_connections(), 0);
    });
}

#[test]
fn stop_from_inside_a_handler() {
    watchdog(20, || {
        let slot: Rc<std::cell::RefCell<Option<StreamServer>>> = Rc::default();
        let s2 = slot.clone();
        let server = StreamServer::bind("127.0.0.1:0", move |s, _| {
            let me = s2.borrow().clone();
            if let Some(me) = me {
                me.stop();
            }
            let _ = (&s).write_all(b"stopped\n");
        })
        .unwrap();
        *slot.borrow_mut() = Some(server.clone());
        let addr = server.local_addr();
        let srv = server.clone();
        let runner = green::spawn(move || srv.serve_forever());
        green::yield_now();
        let c = TcpStream::connect(addr).unwrap();
        let mut reply = String::new();
        (&c).read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "stopped\n");
        runner.join().unwrap().unwrap();
        slot.borrow_mut().take();
    });
}

/// Child-process entry for the EMFILE test: does nothing unless the parent
/// set `GREEN_NET_EMFILE_CHILD`.
#[test]
fn emfile_child_entry() {
    if std::env::var("GREEN_NET_EMFILE_CHILD").is_err() {
        return;
    }
    let served = Rc::new(std::cell::Cell::new(0u32));
    let slot: Rc<std::cell::RefCell<Option<StreamServer>>> = Rc::default();
    let (sv, sl) = (served.clone(), slot.clone());
    let server = StreamServer::bind("127.0.0.1:0", move |s, _| {
        line_handler(s, _peer_unused());
        sv.set(sv.get() + 1);
        if sv.get() == 10 {
            let me = sl.borrow().clone();
            if let Some(me) = me {
                me.stop();
            }
        }
    })
    .unwrap();
    *slot.borrow_mut() = Some(server.clone());
    // Lower the fd limit, fill every free slot, then free exactly three:
    // the server can hold three connections before accept fails (EMFILE).
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: lowering this process's own fd limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let mut filler = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        filler.push(f);
    }
    filler.truncate(filler.len() - 3);
    println!("PORT {}", server.local_addr().port());
    server.serve_forever().unwrap();
    println!(
        "SERVED {} ACCEPT-ERRORS {}",
        served.get(),
        server.accept_errors()
    );
    slot.borrow_mut().take();
}

fn _peer_unused() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

// Accept at EMFILE (RLIMIT_NOFILE lowered in a child process): the server
// backs off instead of spinning, and serves everyone once fds free up.
#[test]
fn accept_at_emfile_backs_off_and_recovers() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "emfile_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GREEN_NET_EMFILE_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut port = None;
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(p) = line.trim().split("PORT ").nth(1) {
            port = Some(p.parse::<u16>().unwrap());
            break;
        }
        line.clear();
    }
    let port = port.expect("child printed no port");
    // Ten clients connect at once; the server can hold only a few fds.
    let clients: Vec<std::net::TcpStream> = (0..10)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1000));
    let spent = cpu_ticks(pid) - before;
    // A spinning acceptor would burn ~100 ticks (a whole core) here.
    assert!(spent < 40, "acceptor used {spent} ticks in 1 s at EMFILE");
    // Now every client speaks; all get answers as fds free up.
    for (i, mut c) in clients.iter().enumerate() {
        writeln!(c, "client {i}").unwrap();
    }
    for (i, c) in clients.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut reply = String::new();
        BufReader::new(c).read_line(&mut reply).unwrap();
        assert_eq!(reply, format!("CLIENT {i}\n"));
        c.shutdown(std::net::Shutdown::Both).unwrap();
    }
    drop(clients);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "child failed: {status:?}\n{rest}\n{err}");
    let stats = rest
        .lines()
        .find(|l| l.contains("SERVED"))
        .unwrap_or_else(|| panic!("no stats in {rest}"));
    assert!(stats.contains("SERVED 10 "), "{stats}");
    let errors: u64 = stats.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(errors >= 1, "the child never hit EMFILE: {stats}");
    assert!(err.contains("Too many open files"), "{err}");
}
