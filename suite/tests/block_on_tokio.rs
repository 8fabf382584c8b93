//! `green::block_on` with feature `tokio`: tokio-based crates (reqwest,
//! tokio::time, tokio::net) from coroutines, the caller's own runtime when it
//! has one, kill/timeout of a coroutine parked in a tokio future, and the
//! monkey layer leaving tokio's threads alone (C44).
#![cfg(feature = "tokio")]

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::hang::watchdog;

/// A small HTTP/1.1 server on its own thread (its own hub, green::net),
/// bound to 127.0.0.1, answering every GET after `delay` with `hello <path>`.
/// Keep-alive; stopped (and its thread joined) on drop.
struct SlowServer {
    addr: std::net::SocketAddr,
    stop: Option<green::xchan::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowServer {
    fn start(delay: Duration) -> SlowServer {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = green::xchan::channel::<()>();
        let thread = std::thread::spawn(move || {
            let server =
                green::net::StreamServer::bind("127.0.0.1:0", move |s, _| serve_conn(s, delay))
                    .expect("bind 127.0.0.1");
            server.set_stop_timeout(Duration::from_millis(100));
            server.start().expect("start server");
            addr_tx.send(server.local_addr()).unwrap();
            // Park the root (the hub serves) until told to stop.
            let _ = stop_rx.recv();
            server.stop();
        });
        let addr = addr_rx.recv().expect("server address");
        SlowServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_conn(s: green::net::TcpStream, delay: Duration) {
    let mut r = BufReader::new(&s);
    let mut w = &s;
    loop {
        let mut path = None;
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if path.is_none() {
                path = line.split_whitespace().nth(1).map(str::to_owned);
            }
            if line == "\r\n" {
                break;
            }
        }
        green::sleep(delay);
        let body = format!("hello {}", path.unwrap_or_default());
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Sets its flag on drop; needs a tokio context to drop cleanly (it asks
/// for the current runtime, which panics outside one).
struct NeedsContextOnDrop(Rc<Cell<bool>>);
impl Drop for NeedsContextOnDrop {
    fn drop(&mut self) {
        let in_ctx = tokio::runtime::Handle::try_current().is_ok();
        self.0.set(in_ctx);
    }
}

/// C44: a hundred coroutines on one hub thread each fetch a page that takes
/// 200 ms to answer; the waits overlap.
#[test]
fn reqwest_from_100_coroutines_on_one_hub() {
    let server = SlowServer::start(Duration::from_millis(200));
    let base = server.url("");
    watchdog(30, move || {
        let client = reqwest::Client::new();
        let hub_thread = std::thread::current().id();
        let t0 = Instant::now();
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let client = client.clone();
                let url = format!("{base}page{i}");
                green::spawn(move || {
                    let body = green::block_on(async move {
                        client
                            .get(&url)
                            .send()
                            .await?
                            .error_for_status()?
                            .text()
                            .await
                    })
                    .expect("GET");
                    (body, std::thread::current().id())
                })
            })
            .collect();
        for (i, r) in green::joinall(hs).into_iter().enumerate() {
            let (body, thread) = r.unwrap();
            assert_eq!(body, format!("hello /page{i}"));
            assert_eq!(thread, hub_thread);
        }
        let el = t0.elapsed();
        assert!(
            el < Duration::from_millis(900),
            "100 x 200 ms GETs took {el:?}"
        );
    });
    drop(server);
}

#[test]
fn tokio_time_sleep_in_coroutines_and_main() {
    watchdog(30, || {
        // Made inside the async block: tokio's constructors need the
        // context, which block_on enters only around its polls.
        let t0 = Instant::now();
        green::block_on(async { tokio::time::sleep(Duration::from_millis(30)).await });
        assert!(t0.elapsed() >= Duration::from_millis(30));

        let t0 = Instant::now();
        let hs: Vec<_> = (0..100)
            .map(|i| {
                green::spawn(move || {
                    green::block_on(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        i
                    })
                })
            })
            .collect();
        let out: Vec<u64> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        let el = t0.elapsed();
        assert!(el >= Duration::from_millis(100));
        assert!(
            el < Duration::from_secs(2),
            "100 x 100 ms tokio sleeps took {el:?}"
        );
    });
}

/// Without a context of its own, the caller gets the shared background
/// runtime; inside a runtime's context, that runtime.
#[test]
fn callers_own_runtime_is_used() {
    let name_of_spawned = || {
        green::block_on(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap()
                .unwrap_or_default()
        })
    };
    let shared = std::thread::spawn(name_of_spawned).join().unwrap();
    assert!(
        shared.starts_with("green-tokio-"),
        "shared runtime thread: {shared}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("user-rt")
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let mine = std::thread::spawn(move || {
        let _g = handle.enter();
        // From the root and from a coroutine of this thread.
        let root = name_of_spawned();
        let co = green::spawn(name_of_spawned).join().unwrap();
        (root, co)
    })
    .join()
    .unwrap();
    assert_eq!(mine, ("user-rt".to_string(), "user-rt".to_string()));

    // A thread that already holds the shared context for good still uses a
    // runtime entered above it, and the shared one again once that is left.
    let handle = rt.handle().clone();
    let order = std::thread::spawn(move || {
        let first = name_of_spawned();
        let g = handle.enter();
        let second = green::spawn(name_of_spawned).join().unwrap();
        drop(g);
        let third = name_of_spawned();
        [first, second, third]
    })
    .join()
    .unwrap();
    assert!(order[0].starts_with("green-tokio-"), "{order:?}");
    assert_eq!(order[1], "user-rt");
    assert!(order[2].starts_with("green-tokio-"), "{order:?}");
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn kill_and_timeout_in_a_tokio_future_drop_it_in_context() {
    // A server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    watchdog(30, move || {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/never");
        let dropped = Rc::new(Cell::new(false));
        let d = dropped.clone();
        let c = client.clone();
        let u = url.clone();
        let h = green::spawn(move || {
            let guard = NeedsContextOnDrop(d);
            green::block_on(async move {
                let _g = guard;
                c.get(&u).send().await
            })
        });
        green::sleep(Duration::from_millis(50));
        assert!(!h.is_finished());
        h.kill();
        assert!(matches!(h.join(), Err(green::JoinError::Killed)));
        assert!(
            dropped.get(),
            "the future was dropped inside a tokio context"
        );

        let dropped = Rc::new(Cell::new(false));
        let guard = NeedsContextOnDrop(dropped.clone());
        let t0 = Instant::now();
        let r = green::timeout(Duration::from_millis(50), move || {
            green::block_on(async move {
                let _g = guard;
                tokio::time::sleep(Duration::from_secs(30)).await;
            })
        });
        assert!(r.is_err());
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(dropped.get());
        // The hub and the shared runtime still serve afterwards.
        green::block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
        let r = green::timeout(Duration::from_millis(50), || {
            green::block_on(client.get(&url).send())
        });
        assert!(r.is_err());
    });
    drop(silent);
}

/// tokio::net directly, from coroutines: an echo through tokio's reactor
/// while green::net serves the other end on the same hub.
#[test]
fn tokio_net_against_green_net_on_one_hub() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    watchdog(30, || {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = green::spawn(move || {
            for _ in 0..10 {
                let (mut s, _) = l.accept().unwrap();
                green::spawn(move || {
                    let mut buf = [0u8; 64];
                    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
                    s.write_all(&buf[..n]).unwrap();
                });
            }
        });
        let hs: Vec<_> = (0..10u8)
            .map(|i| {
                green::spawn(move || {
                    green::block_on(async move {
                        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
                        c.write_all(&[i; 8]).await.unwrap();
                        let mut back = [0u8; 8];
                        c.read_exact(&mut back).await.unwrap();
                        back
                    })
                })
            })
            .collect();
        for (i, r) in green::joinall(hs).into_iter().enumerate() {
            assert_eq!(r.unwrap(), [i as u8; 8]);
        }
        server.join().unwrap();
    });
}

/// C44: with the monkey layer on, tokio's own threads are not coroutines:
/// blocking calls there (a std sleep, a std socket) pass through, and
/// reqwest from coroutines works beside monkey-patched std code.
#[test]
fn monkey_patched_process_leaves_tokio_threads_alone() {
    if !common::is_child() {
        let out = common::run_child("monkey_patched_process_leaves_tokio_threads_alone");
        let err = String::from_utf8_lossy(&out.stderr);
        let so = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{so}\n{err}");
        assert!(so.contains("monkey+tokio ok"), "child output:\n{so}\n{err}");
        return;
    }
    green::monkey::patch_all();
    assert!(green::monkey::is_patched());
    let server = SlowServer::start(Duration::from_millis(100));
    let base = server.url("");
    // A plain std server thread (blocking accept/read, not a coroutine).
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std_addr = std_l.local_addr().unwrap();
    let std_server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = std_l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            s.write_all(line.to_uppercase().as_bytes()).unwrap();
        }
    });
    watchdog(60, move || {
        let client = reqwest::Client::new();
        let t0 = Instant::now();
        let mut hs = Vec::new();
        for i in 0..20 {
            let client = client.clone();
            let url = format!("{base}m{i}");
            hs.push(green::spawn(move || {
                green::block_on(async move { client.get(&url).send().await?.text().await }).unwrap()
            }));
        }
        // Patched std code in a coroutine overlaps with the futures.
        let sleeper = green::spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            "slept".to_string()
        });
        // Blocking std calls on tokio's own threads pass straight through.
        let on_tokio = green::block_on(async move {
            let a = tokio::spawn(async move {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(20));
                let mut c = std::net::TcpStream::connect(std_addr).unwrap();
                c.write_all(b"worker\n").unwrap();
                let mut reply = String::new();
                BufReader::new(&c).read_line(&mut reply).unwrap();
                (t.elapsed() >= Duration::from_millis(20), reply)
            });
            let b = tokio::task::spawn_blocking(move || {
                let mut c = std::net::TcpStream::connect(std_addr).unwrap();
                c.write_all(b"blocking\n").unwrap();
                let mut reply = String::new();
                BufReader::new(&c).read_line(&mut reply).unwrap();
                reply
            });
            (a.await.unwrap(), b.await.unwrap())
        });
        assert_eq!(on_tokio, ((true, "WORKER\n".into()), "BLOCKING\n".into()));
        for (i, r) in green::joinall(hs).into_iter().enumerate() {
            assert_eq!(r.unwrap(), format!("hello /m{i}"));
        }
        assert_eq!(sleeper.join().unwrap(), "slept");
        assert!(t0.elapsed() < Duration::from_secs(3));
    });
    std_server.join().unwrap();
    drop(server);
    println!("monkey+tokio ok");
}

/// `suite/examples/async_fetch.rs` prints every page and that the waits overlapped.
#[test]
fn async_fetch_example_output() {
    // The example belongs to this suite (it needs reqwest).
    let bin = green_suite::cargo::example_in("green-suite", "async_fetch", &["tokio"]);
    let out = std::process::Command::new(&bin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want: String = (0..10)
        .map(|i| format!("page {i}: hello from /page/{i}\n"))
        .collect();
    want += "10 pages, 200 ms each, fetched concurrently: yes\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

/// `Runtime::tokio_threads`: zero is rejected, and so is a size the shared
/// runtime, once started, does not have; its own size is accepted.
#[test]
fn tokio_threads_setting_is_checked() {
    let err = std::thread::spawn(|| {
        green::Runtime::new()
            .tokio_threads(0)
            .run(|| ())
            .unwrap_err()
    })
    .join()
    .unwrap();
    assert!(
        matches!(
            err,
            green::RuntimeError::ZeroCount {
                setting: "tokio_threads"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("at least 1"), "{err}");

    // Start the shared runtime (one worker: nothing in this binary asks
    // for another number).
    std::thread::spawn(|| green::block_on(async { tokio::task::yield_now().await }))
        .join()
        .unwrap();
    let err = std::thread::spawn(|| {
        green::Runtime::new()
            .tokio_threads(3)
            .run(|| ())
            .unwrap_err()
    })
    .join()
    .unwrap();
    assert!(err.to_string().contains("already runs with 1"), "{err}");
    let ok = std::thread::spawn(|| {
        green::Runtime::new()
            .tokio_threads(1)
            .run(|| green::block_on(async { 5 }))
    })
    .join()
    .unwrap();
    assert_eq!(ok.unwrap(), 5);
}

/// Coroutines sharing one stack region (their stacks are copied out and
/// back at every switch) wait on tokio timers, which tokio's driver thread
/// links into and fires while the coroutines are parked: the futures live
/// in the heap, so the copies never tear them.
#[test]
fn tokio_timers_with_shared_stack_regions() {
    watchdog(60, || {
        green::Runtime::new()
            .max_regions(1)
            .run(|| {
                let hs: Vec<_> = (0..100u64)
                    .map(|i| {
                        green::spawn(move || {
                            let local = [i; 8];
                            let v = green::block_on(async move {
                                for k in 0..3 {
                                    tokio::time::sleep(Duration::from_millis(1 + (i + k) % 5))
                                        .await;
                                }
                                i
                            });
                            v + local.iter().sum::<u64>()
                        })
                    })
                    .collect();
                let out: Vec<u64> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
                assert_eq!(out, (0..100u64).map(|i| 9 * i).collect::<Vec<_>>());
                assert!(green::rt::stack_stats().bytes_copied > 0);
            })
            .unwrap();
    });
}

/// Blocking-style green calls inside the async block park the coroutine in
/// the middle of a poll. Two coroutines doing so, resuming in the opposite
/// order, must not upset tokio's context (its enter guards must be released
/// in the order they were taken).
#[test]
fn green_parks_inside_a_poll_interleave() {
    watchdog(30, || {
        let hs: Vec<_> = (0..4u64)
            .map(|i| {
                green::spawn(move || {
                    green::block_on(async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        // Earlier starters wake first: not the reverse order.
                        green::sleep(Duration::from_millis(10 + 10 * i));
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        i
                    })
                })
            })
            .collect();
        let out: Vec<u64> = green::joinall(hs).into_iter().map(Result::unwrap).collect();
        assert_eq!(out, [0, 1, 2, 3]);
    });
}

/// Issue 19, fault 1: `tokio::task::yield_now()` in a loop (the future
/// wakes itself during its poll) starved every other coroutine, timer and
/// enclosing timeout on the hub.
// C64
#[test]
fn tokio_yield_now_loop_in_block_on_starved_siblings_and_timeouts() {
    watchdog(30, || {
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        let a = green::spawn(move || {
            green::block_on(async move {
                while !f.get() {
                    tokio::task::yield_now().await
                }
            })
        });
        green::spawn(move || flag.set(true));
        a.join().unwrap();

        // On the root, waiting for a coroutine's timer.
        let flag = Rc::new(Cell::new(false));
        let f = flag.clone();
        let sleeper = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            f.set(true);
        });
        let f = flag.clone();
        green::block_on(async move {
            while !f.get() {
                tokio::task::yield_now().await
            }
        });
        sleeper.join().unwrap();

        // An enclosing timeout fires, on the root and in a coroutine.
        let r = green::timeout(Duration::from_millis(20), || {
            green::block_on(async {
                loop {
                    tokio::task::yield_now().await
                }
            })
        });
        assert!(r.is_err());
        let h = green::spawn(|| {
            green::timeout(Duration::from_millis(20), || {
                green::block_on(async {
                    loop {
                        tokio::task::yield_now().await
                    }
                })
            })
            .is_err()
        });
        assert!(h.join().unwrap());
    });
}

/// Inside a tokio `current_thread` runtime (what `#[tokio::main(flavor =
/// "current_thread")]` and `#[tokio::test]` run), whose timers only that
/// thread drives, `block_on` of a tokio timer and a tokio socket returns
/// (their drivers are the shared runtime's), and the thread's own runtime
/// is the current one again afterwards.
#[test]
fn block_on_inside_a_current_thread_runtime_returns_instead_of_hanging() {
    watchdog(20, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (took, flavor_after) = rt.block_on(async move {
            let t = Instant::now();
            green::block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
            let took = t.elapsed();
            let s = green::block_on(async move { tokio::net::TcpStream::connect(addr).await });
            assert!(s.is_ok(), "{s:?}");
            // From a coroutine of this thread too.
            green::spawn(|| {
                green::block_on(async { tokio::time::sleep(Duration::from_millis(10)).await })
            })
            .join()
            .unwrap();
            (took, tokio::runtime::Handle::current().runtime_flavor())
        });
        assert!(took >= Duration::from_millis(45), "{took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(flavor_after, tokio::runtime::RuntimeFlavor::CurrentThread);
        drop(listener);
    });
}
