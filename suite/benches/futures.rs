//! Futures inside coroutines (`green::block_on`, feature `tokio`), each
//! beside tokio doing the same work in the same run:
//!
//! - `ready`: `block_on` of a future that is ready at once (goal ≤ 20 ns),
//!   from a coroutine and from the root, beside tokio `current_thread`'s
//!   `Runtime::block_on`.
//! - `pingpong`: a value handed back and forth between two coroutines over
//!   two `tokio::sync::mpsc` channels (`block_on(rx.recv())`), beside the
//!   same between two tasks on a tokio `current_thread` runtime. Per hand-off.
//! - `reqwest`: 100 coroutines on one hub looping GETs against a local
//!   server, beside 100 tasks on tokio `current_thread` (goal ≥ 0.8× tokio's
//!   requests/s). The server is the same for both: a green::net server on a
//!   thread of its own, answering at once.
//!
//! After criterion, a table of medians (hand-timed, 7 samples) with ratios.
//!
//! `cargo bench -p green-suite --bench futures --features tokio` (without the feature: the
//! ready and ping-pong rows only, with `block_on` as users without tokio
//! get it)

mod common;

use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};

fn current_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current_thread runtime")
}

// ------------------------------------------------------------------ ready

/// `n` block_on calls of a ready future, from a coroutine.
fn green_ready_coroutine(n: u64) -> Duration {
    green::spawn(move || {
        let t = Instant::now();
        for i in 0..n {
            black_box(green::block_on(std::future::ready(black_box(i))));
        }
        t.elapsed()
    })
    .join()
    .unwrap_or_default()
}

/// `n` block_on calls of a ready future, from the root context.
fn green_ready_root(n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        black_box(green::block_on(std::future::ready(black_box(i))));
    }
    t.elapsed()
}

/// `n` block_on calls of a ready future from the root of a thread that is
/// inside a tokio runtime's context already (no enter on the first poll).
fn green_ready_in_context(n: u64) -> Duration {
    thread_local! { static RT: tokio::runtime::Runtime = current_thread_rt(); }
    RT.with(|rt| {
        let _g = rt.enter();
        green_ready_root(n)
    })
}

/// The same through tokio's `current_thread` `Runtime::block_on`.
fn tokio_ready(n: u64) -> Duration {
    thread_local! { static RT: tokio::runtime::Runtime = current_thread_rt(); }
    RT.with(|rt| {
        let t = Instant::now();
        for i in 0..n {
            black_box(rt.block_on(std::future::ready(black_box(i))));
        }
        t.elapsed()
    })
}

// -------------------------------------------------------------- ping-pong

/// `n` hand-offs between two coroutines over tokio mpsc channels.
fn green_pingpong(n: u64) -> Duration {
    let (to_pong, mut from_ping) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (to_ping, mut from_pong) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let rounds = n / 2;
    let pong = green::spawn(move || {
        for _ in 0..rounds {
            let Some(v) = green::block_on(from_ping.recv()) else {
                return;
            };
            if to_ping.send(v).is_err() {
                return;
            }
        }
    });
    let ping = green::spawn(move || {
        let t = Instant::now();
        for i in 0..rounds {
            if to_pong.send(black_box(i)).is_err() {
                break;
            }
            black_box(green::block_on(from_pong.recv()));
        }
        t.elapsed()
    });
    let d = ping.join().unwrap_or_default();
    let _ = pong.join();
    d
}

/// The same between two tasks on a tokio `current_thread` runtime.
fn tokio_pingpong(n: u64) -> Duration {
    let rt = current_thread_rt();
    let rounds = n / 2;
    rt.block_on(async move {
        let (to_pong, mut from_ping) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let (to_ping, mut from_pong) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let pong = tokio::spawn(async move {
            for _ in 0..rounds {
                let Some(v) = from_ping.recv().await else {
                    return;
                };
                if to_ping.send(v).is_err() {
                    return;
                }
            }
        });
        let ping = tokio::spawn(async move {
            let t = Instant::now();
            for i in 0..rounds {
                if to_pong.send(black_box(i)).is_err() {
                    break;
                }
                black_box(from_pong.recv().await);
            }
            t.elapsed()
        });
        let d = ping.await.unwrap_or_default();
        let _ = pong.await;
        d
    })
}

// ---------------------------------------------------------------- reqwest

/// Needs green's tokio context (reqwest runs on tokio's reactor).
#[cfg(feature = "tokio")]
mod reqwest_load {
    use std::io::{BufRead, BufReader, Write};
    use std::rc::Rc;

    use super::*;

    const CLIENTS: usize = 100;

    /// An HTTP/1.1 keep-alive server on its own thread (its own hub), on
    /// 127.0.0.1, answering every request at once. Stopped on drop.
    struct Server {
        addr: std::net::SocketAddr,
        stop: Option<green::xchan::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start() -> Server {
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = green::xchan::channel::<()>();
            let thread = std::thread::spawn(move || {
                let server =
                    green::net::StreamServer::bind("127.0.0.1:0", |s, _| serve(s)).expect("bind");
                server.set_stop_timeout(Duration::from_millis(200));
                server.start().expect("start");
                addr_tx.send(server.local_addr()).expect("address");
                let _ = stop_rx.recv();
                server.stop();
            });
            let addr = addr_rx.recv().expect("server address");
            Server {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(s: green::net::TcpStream) {
        let _ = s.set_nodelay(true);
        let mut r = BufReader::new(&s);
        let mut w = &s;
        let mut line = String::new();
        loop {
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
            if w.write_all(reply).is_err() {
                return;
            }
        }
    }

    /// Requests/s of `CLIENTS` coroutines each doing `per` GETs in a loop.
    fn green_reqwest(url: &str, per: usize) -> f64 {
        let client = reqwest::Client::new();
        // Warm the pool: one connection per client.
        let url: Rc<str> = url.into();
        let run = |per: usize| {
            let t = Instant::now();
            let hs: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let client = client.clone();
                    let url = url.clone();
                    green::spawn(move || {
                        for _ in 0..per {
                            let body = green::block_on(async {
                                client.get(&*url).send().await?.bytes().await
                            })
                            .expect("GET");
                            assert_eq!(&body[..], b"hello");
                        }
                    })
                })
                .collect();
            for r in green::joinall(hs) {
                r.expect("client coroutine");
            }
            t.elapsed()
        };
        run(1);
        let d = run(per);
        (CLIENTS * per) as f64 / d.as_secs_f64()
    }

    /// The same load from `CLIENTS` tasks on a tokio `current_thread` runtime.
    fn tokio_reqwest(url: &str, per: usize) -> f64 {
        let rt = current_thread_rt();
        let url: std::sync::Arc<str> = url.into();
        rt.block_on(async move {
            let client = reqwest::Client::new();
            let run = |per: usize| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    let t = Instant::now();
                    let hs: Vec<_> = (0..CLIENTS)
                        .map(|_| {
                            let client = client.clone();
                            let url = url.clone();
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    let body = client
                                        .get(&*url)
                                        .send()
                                        .await
                                        .expect("GET")
                                        .bytes()
                                        .await
                                        .expect("body");
                                    assert_eq!(&body[..], b"hello");
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.expect("client task");
                    }
                    t.elapsed()
                }
            };
            run(1).await;
            let d = run(per).await;
            (CLIENTS * per) as f64 / d.as_secs_f64()
        })
    }

    /// 7 samples of each, alternating; prints the medians and the ratio.
    pub(super) fn run() {
        let server = Server::start();
        let url = format!("http://{}/", server.addr);
        const PER: usize = 50;
        let mut g_rps = Vec::new();
        let mut t_rps = Vec::new();
        for _ in 0..7 {
            g_rps.push(green_reqwest(&url, PER));
            t_rps.push(tokio_reqwest(&url, PER));
        }
        drop(server);
        let g_rps = common::median(g_rps);
        let t_rps = common::median(t_rps);
        println!(
            "reqwest GETs, {CLIENTS} clients x {PER} requests, requests/s (goal >= 0.8x tokio)"
        );
        println!("  green: coroutines on one hub         {g_rps:8.0}");
        println!("  tokio current_thread: tasks          {t_rps:8.0}");
        println!(
            "  green / tokio                        {:8.2}x",
            g_rps / t_rps
        );
    }
}

fn median_ns(f: fn(u64) -> Duration, n: u64) -> f64 {
    common::median((0..7).map(|_| f(n).as_nanos() as f64 / n as f64).collect())
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("ready");
        g.bench_function("green_block_on_coroutine", |b| {
            b.iter_custom(green_ready_coroutine)
        });
        g.bench_function("green_block_on_root", |b| b.iter_custom(green_ready_root));
        g.bench_function("green_block_on_in_tokio_context", |b| {
            b.iter_custom(green_ready_in_context)
        });
        g.bench_function("tokio_current_thread_block_on", |b| {
            b.iter_custom(tokio_ready)
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("pingpong");
        g.bench_function("green_coroutines_tokio_mpsc", |b| {
            b.iter_custom(green_pingpong)
        });
        g.bench_function("tokio_current_thread_tasks", |b| {
            b.iter_custom(tokio_pingpong)
        });
        g.finish();
    }
    c.final_summary();

    let ready_co = median_ns(green_ready_coroutine, 1_000_000);
    let ready_root = median_ns(green_ready_root, 1_000_000);
    let ready_ctx = median_ns(green_ready_in_context, 1_000_000);
    let ready_tokio = median_ns(tokio_ready, 1_000_000);
    let pp_green = median_ns(green_pingpong, 100_000);
    let pp_tokio = median_ns(tokio_pingpong, 100_000);

    println!();
    println!("futures in coroutines, medians of 7 samples (same run)");
    println!("ready future, ns per block_on (goal <= 20 ns)");
    println!("  green::block_on in a coroutine       {ready_co:8.1}");
    println!("  green::block_on on the root          {ready_root:8.1}");
    println!("  green::block_on, caller in a context {ready_ctx:8.1}");
    println!("  tokio current_thread block_on        {ready_tokio:8.1}");
    println!(
        "  tokio / green (coroutine)            {:8.2}x",
        ready_tokio / ready_co
    );
    println!("ping-pong over tokio mpsc, ns per hand-off");
    println!("  green: two coroutines, block_on      {pp_green:8.1}");
    println!("  tokio current_thread: two tasks      {pp_tokio:8.1}");
    println!(
        "  tokio / green                        {:8.2}x",
        pp_tokio / pp_green
    );
    #[cfg(feature = "tokio")]
    reqwest_load::run();
    #[cfg(not(feature = "tokio"))]
    println!("reqwest GETs: run with --features tokio (green's tokio context)");
}
