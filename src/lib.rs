//! # green: gevent for Rust
//!
//! green runs stackful coroutines ("green threads") on one single-threaded
//! event loop, the *hub*, that each OS thread gets on first use. Code in a
//! coroutine is ordinary blocking-style Rust, with no `async` and no
//! `.await`: when it waits for a socket, a timer, a lock or a queue, only
//! that coroutine parks and the hub runs the next one. Coroutines are cheap
//! enough to have a million of them on a stock Linux kernel, need `'static`
//! closures but not `Send` ones (`Rc` and `RefCell` are fine), and follow
//! gevent's rules: spawning queues, spawn order is run order, and waiting
//! from `main` runs the hub until the wait is over. With the default feature
//! `monkey`, one call to `green::monkey::patch_all()` makes code that was
//! never written for green cooperate too: `std::thread::sleep`, `std::net`,
//! blocking crates and C libraries park their coroutine instead of blocking
//! the thread.
//!
//! ```toml
//! [dependencies]
//! green = { package = "greenhub", version = "0.1" }
//! ```
//!
//! The package is published as `greenhub`; the `package =` key keeps the
//! name `green` in your code. Linux with glibc, on x86-64 and AArch64.
//!
//! # A five-minute tour
//!
//! ## Coroutines take turns
//!
//! [`spawn`] queues a coroutine; it first runs when the spawner parks or
//! yields. `sleep(Duration::ZERO)` (the same as [`yield_now`]) sends the
//! caller to the back of the ready queue, and [`joinall`] waits for every
//! handle (from `main`, by running the hub):
//!
//! ```
//! use std::{cell::RefCell, rc::Rc, time::Duration};
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let worker = |name: &'static str| {
//!     let log = Rc::clone(&log);
//!     move || {
//!         for i in 0..3 {
//!             log.borrow_mut().push(format!("{name}{i}"));
//!             green::sleep(Duration::ZERO); // let the others run
//!         }
//!     }
//! };
//! let f1 = green::spawn(worker("f1-"));
//! let f2 = green::spawn(worker("f2-"));
//! green::joinall([f1, f2]);
//! assert_eq!(*log.borrow(), ["f1-0", "f2-0", "f1-1", "f2-1", "f1-2", "f2-2"]);
//! ```
//!
//! ## Sleeping, timeouts and kill
//!
//! [`sleep`] parks for a while; [`timeout`] bounds everything a closure
//! waits for; [`JoinHandle::join_timeout`] waits for a coroutine without
//! ending it, and [`JoinHandle::kill`] ends it: the coroutine unwinds from
//! the point where it is parked, so its destructors run.
//!
//! ```
//! use std::time::Duration;
//!
//! let r = green::timeout(Duration::from_millis(20), || {
//!     green::sleep(Duration::from_secs(10));
//!     "slept"
//! });
//! assert!(r.is_err()); // Err(green::Elapsed) after about 20 ms
//!
//! let ticker: green::JoinHandle<()> = green::spawn(|| loop {
//!     green::sleep(Duration::from_millis(5));
//! });
//! assert!(!ticker.join_timeout(Duration::from_millis(20))); // still running
//! ticker.kill();
//! assert!(ticker.join().unwrap_err().is_killed());
//! ```
//!
//! ## Queues and synchronisation
//!
//! [`queue`] holds gevent's queues ([`queue::Queue`], [`queue::LifoQueue`],
//! [`queue::PriorityQueue`], [`queue::Channel`]); [`sync`] holds events,
//! locks and semaphores. A bounded queue parks the producer while it is
//! full, and `close` lets the consumer drain what is left:
//!
//! ```
//! use std::rc::Rc;
//! use green::queue::Queue;
//!
//! let q = Rc::new(Queue::bounded(2));
//! let cook = {
//!     let q = Rc::clone(&q);
//!     green::spawn(move || {
//!         for dish in ["soup", "fish", "cake"] {
//!             q.put(dish).unwrap(); // parks while two dishes wait
//!         }
//!         q.close();
//!     })
//! };
//! let eater = {
//!     let q = Rc::clone(&q);
//!     green::spawn(move || std::iter::from_fn(|| q.get()).collect::<Vec<_>>())
//! };
//! cook.join().unwrap();
//! assert_eq!(eater.join().unwrap(), ["soup", "fish", "cake"]);
//! ```
//!
//! ## Pools
//!
//! A [`pool::Pool`] runs at most *n* coroutines at once; `map` keeps the
//! input order whatever order the jobs finish in ([`pool::Group`] is the
//! same without a limit):
//!
//! ```
//! use std::time::Duration;
//!
//! let pool = green::pool::Pool::new(3);
//! let squares = pool.map(
//!     |n: u64| {
//!         green::sleep(Duration::from_millis(30 - 5 * n)); // later items finish first
//!         n * n
//!     },
//!     1..=5,
//! );
//! let squares: Vec<u64> = squares.into_iter().map(Result::unwrap).collect();
//! assert_eq!(squares, [1, 4, 9, 16, 25]);
//! ```
//!
//! ## Networking
//!
//! [`net`] mirrors `std::net` (and Unix sockets): the same blocking-style
//! calls, parking only the calling coroutine. One coroutine per connection
//! is the normal way to write a server ([`net::StreamServer`] does the
//! accept loop for you):
//!
//! ```
//! use std::io::{self, Read, Write};
//! use green::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = green::spawn(move || -> io::Result<()> {
//!     let (mut conn, _peer) = listener.accept()?;
//!     let mut buf = [0u8; 64];
//!     loop {
//!         let n = conn.read(&mut buf)?;
//!         if n == 0 {
//!             return Ok(()); // the client closed its end
//!         }
//!         conn.write_all(&buf[..n])?;
//!     }
//! });
//! let client = green::spawn(move || -> io::Result<Vec<u8>> {
//!     let mut s = TcpStream::connect(addr)?;
//!     s.write_all(b"hello")?;
//!     let mut echoed = [0u8; 5];
//!     s.read_exact(&mut echoed)?;
//!     Ok(echoed.to_vec())
//! });
//! assert_eq!(client.join().unwrap()?, b"hello");
//! server.join().unwrap()?;
//! # Ok::<(), io::Error>(())
//! ```
//!
//! ## Unmodified blocking code: `monkey`
//!
//! After [`monkey::patch_all`][patch_all] (default feature `monkey`),
//! blocking libc calls made inside coroutines park the coroutine instead of
//! the thread, whoever makes them: std, blocking crates such as `redis`,
//! `ureq` or `curl`, C libraries such as libpq. Before the call, and
//! outside coroutines (plain threads, `main` itself), every hooked function
//! behaves exactly as libc's.
//!
//! ```
//! # #[cfg(feature = "monkey")]
//! # {
//! use std::time::{Duration, Instant};
//!
//! green::monkey::patch_all();
//! let start = Instant::now();
//! let sleepers: Vec<_> = (0..100)
//!     .map(|_| green::spawn(|| std::thread::sleep(Duration::from_millis(50))))
//!     .collect();
//! green::joinall(sleepers);
//! assert!(start.elapsed() < Duration::from_secs(2)); // one after another: 5 s
//! # }
//! ```
//!
//! Libraries that wait on a runtime or a thread of their own (the
//! `postgres` crate, `reqwest::blocking`) cannot be reached by a hook: call
//! their async API through [`block_on`], or run them in [`spawn_blocking`].
//!
//! ## Futures: `block_on`
//!
//! [`block_on`] runs a future to completion on the calling coroutine,
//! parking only that coroutine while the future is pending. With the
//! feature `tokio`, the future also gets a tokio runtime context, so
//! tokio-based crates (reqwest, hyper, sqlx, tokio-postgres) work from
//! coroutines:
//!
//! ```
//! let answer = green::spawn(|| green::block_on(async { 6 * 7 }));
//! assert_eq!(answer.join().unwrap(), 42);
//! ```
//!
//! ```ignore
//! // feature "tokio": ten coroutines, each fetching a page with reqwest.
//! let client = reqwest::Client::new();
//! let pages: Vec<_> = (0..10)
//!     .map(|i| {
//!         let (client, url) = (client.clone(), format!("http://{addr}/page/{i}"));
//!         green::spawn(move || green::block_on(async move { client.get(&url).send().await?.text().await }))
//!     })
//!     .collect();
//! ```
//!
//! ## Every core: `Runtime`
//!
//! A hub runs on one OS thread. [`Runtime`] sets a hub's stack size, stack
//! budget and blocked-loop monitor, and `threads(n).run_threads(f)` runs `f`
//! on *n* threads, each with a hub of its own (servers give each one its own
//! listener with [`net::TcpListener::bind_reuseport`]). Threads share only
//! what you hand them, such as an [`xchan`] channel.
//!
//! ```
//! let sums = green::Runtime::new().threads(2).run_threads(|thread| {
//!     let hs: Vec<_> = (1..=10).map(|k| green::spawn(move || k * (thread + 1))).collect();
//!     green::joinall(hs).into_iter().map(Result::unwrap).sum::<usize>()
//! })?;
//! assert_eq!(sums, [55, 110]);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How green schedules
//!
//! The full list, numbered and each backed by a test, is the repository's
//! [docs/semantics.md](https://github.com/greenhub-rs/greenhub/blob/main/docs/semantics.md).
//! In brief:
//!
//! - [`spawn`] queues; the new coroutine first runs when the spawner parks
//!   or yields. Spawn order is run order. `sleep(Duration::ZERO)` (=
//!   [`yield_now`]) sends the caller to the back of the ready queue. A
//!   `sleep(ZERO)` loop cannot starve timers or I/O: they are polled at
//!   least every 128 switches.
//! - Closures need `'static` but not `Send`: coroutines stay on their
//!   thread, so `Rc` and `RefCell` work.
//! - Waiting outside a coroutine (e.g. `join` in `main`) runs the hub
//!   inline. If nothing can ever wake the waiter, it panics with a
//!   `green: deadlock` report listing what is parked, instead of hanging.
//! - [`JoinHandle::kill`] unwinds a parked coroutine from its park point
//!   (its destructors run) and waits for it; a coroutine killed before it
//!   ran never runs. A panic is caught per coroutine and returned by `join`;
//!   if nobody joins, it is printed once.
//! - [`timeout`]`(d, f)` interrupts any park inside `f`; nested timeouts
//!   report at the frame whose deadline expired. Operations with their own
//!   timeout (`join_timeout`, `get_timeout`, socket timeouts) return their
//!   own error when theirs is earlier.
//! - Every wait-list is FIFO and cancellable: a waiter that times out or is
//!   killed leaves the line and never consumes a later wake.
//! - A destructor that parks while its coroutine unwinds (kill, timeout,
//!   panic) parks normally; it is never interrupted a second time.
//! - [`Runtime::run`] unwinds the coroutines still alive when its closure
//!   returns. A plain thread that ends with live coroutines abandons them
//!   (no destructors run, memory goes back) and says so on stderr:
//!   thread-locals may already be gone by then.
//! - Stack overflow hits a guard page and prints
//!   `green: coroutine '<name>' (#<id>) overflowed its <N> KiB stack`, then
//!   aborts.
//!
//! # What is in the box
//!
//! | item | what |
//! |---|---|
//! | [`spawn`], [`spawn_later`], [`Builder`], [`sleep`], [`yield_now`], [`joinall`], [`wait`], [`timeout`], [`spawn_blocking`], [`current`] | the lifecycle API; [`JoinHandle`] has `join`, `join_timeout`, `is_finished`, `kill`, `on_finish`, `id`, `name` |
//! | [`sync`] | [`Event`](sync::Event), [`AsyncResult`](sync::AsyncResult), [`Mutex`](sync::Mutex), [`RwLock`](sync::RwLock), [`ReentrantMutex`](sync::ReentrantMutex), [`Condvar`](sync::Condvar), [`Semaphore`](sync::Semaphore), [`BoundedSemaphore`](sync::BoundedSemaphore), [`Barrier`](sync::Barrier), [`WaitGroup`](sync::WaitGroup) |
//! | [`queue`] | [`Queue`](queue::Queue) (bounded or unbounded, `task_done`/`join`/`close`), [`LifoQueue`](queue::LifoQueue), [`PriorityQueue`](queue::PriorityQueue), [`Channel`](queue::Channel) (rendezvous) |
//! | [`xchan`] | a channel whose `Sender` is `Send`: OS threads feed coroutines |
//! | [`pool`] | [`Pool`](pool::Pool) (bounded concurrency, `map`/`imap`/`imap_unordered`), [`Group`](pool::Group) |
//! | [`local!`] | coroutine-local storage, dropped when the coroutine ends |
//! | [`net`] | [`TcpListener`](net::TcpListener) (also `bind_reuseport`), [`TcpStream`](net::TcpStream), [`UdpSocket`](net::UdpSocket), [`UnixListener`](net::UnixListener), [`UnixStream`](net::UnixStream), [`StreamServer`](net::StreamServer), [`resolve`](net::resolve) |
//! | [`signal`] | wait for a Unix signal in a coroutine ([`signal::wait`], [`signal::Signal`]) or run a handler coroutine per delivery ([`signal::handler`]): Ctrl-C shutdown without a thread of your own |
//! | `monkey` (feature `monkey`) | [`patch_all`][patch_all], `patch(Patch::SLEEP \| Patch::SOCKET ...)`, `is_patched` |
//! | [`Runtime`] | explicit hub settings: stack size, region budget, monitor; `threads(n).run_threads(f)` runs one hub per thread |
//! | [`run_info`], [`run_info_on_signal`] | every live coroutine: id, name, state (ready, or parked on a timer, an fd, a wait-list, another thread), spawn location, time since it last ran |
//! | `GREEN_MONITOR_MS=<ms>` ([`MONITOR_ENV`]) or [`Runtime::monitor`] | the blocked-loop monitor: names the coroutine (id, spawn location, how long) that keeps its hub from switching, and the system call its thread is in, with advice for it |
//! | [`block_on`] | run a future on the calling coroutine (or `main`), parking only the caller; feature `tokio` adds a tokio runtime context, so reqwest, hyper, `tokio::net` and `tokio::time` work from coroutines |
//! | [`rt`] | the low-level "park / unpark / wait for an fd" layer the rest is built on |
//!
//! # Coming from gevent
//!
//! | gevent | green |
//! |---|---|
//! | `gevent.spawn(f)`, `gevent.spawn_later(s, f)` | [`spawn`]`(f)`, [`spawn_later`]`(d, f)`; names and stack sizes through [`Builder`] |
//! | `gevent.sleep(0)` | [`sleep`]`(Duration::ZERO)` or [`yield_now`]`()` |
//! | `gevent.sleep(s)` | [`sleep`]`(d)` |
//! | `gevent.joinall(greenlets)`, `joinall(greenlets, timeout)` | [`joinall`]`(handles)`, [`joinall_timeout`]`(handles, d)` |
//! | `Greenlet.join()`, `.join(timeout)`, `.ready()` | [`JoinHandle::join`], [`JoinHandle::join_timeout`], [`JoinHandle::is_finished`] |
//! | `Greenlet.kill()` | [`JoinHandle::kill`] (it waits, as gevent's `block=True`) |
//! | `Greenlet.link(callback)` | [`JoinHandle::on_finish`] |
//! | `gevent.getcurrent()` | [`current`] |
//! | `gevent.Timeout(s)` | [`timeout`]`(d, f)`, which returns `Err(`[`Elapsed`]`)` |
//! | `gevent.event.Event`, `gevent.event.AsyncResult` | [`sync::Event`], [`sync::AsyncResult`] |
//! | `gevent.lock.Semaphore`, `BoundedSemaphore`, `RLock` | [`sync::Semaphore`], [`sync::BoundedSemaphore`], [`sync::ReentrantMutex`] |
//! | `gevent.queue.Queue`, `JoinableQueue`, `LifoQueue`, `PriorityQueue`, `Channel` | [`queue::Queue`] (with `task_done`/`join`), [`queue::LifoQueue`], [`queue::PriorityQueue`], [`queue::Channel`] |
//! | `gevent.pool.Pool`, `gevent.pool.Group` | [`pool::Pool`], [`pool::Group`] |
//! | `gevent.server.StreamServer` | [`net::StreamServer`] |
//! | `gevent.socket` | [`net`] |
//! | `gevent.monkey.patch_all()` | `green::monkey::`[`patch_all`][patch_all]`()` (feature `monkey`) |
//! | `gevent.wait(objects, timeout, count)` | [`wait`]`(&[&handle, &event, &queue], count, timeout)`: any [`Waitable`] (join handles of any result type, events, results, queues, channels, `xchan` receivers, signals) |
//! | `gevent.iwait(objects, timeout)` | [`iwait`]`(&objects, timeout)` |
//! | `gevent.local.local` | [`local!`] |
//! | `gevent.threadpool` | [`spawn_blocking`] (one shared pool of threads) |
//! | `gevent.get_hub()`, the loop | implicit: each thread's hub starts on first use; [`Runtime`] sets it up explicitly and runs one per thread |
//! | `gevent.signal_handler(SIGINT, f)`, `gevent.signal.wait` | [`signal::handler`], [`signal::wait`], [`signal::Signal`] |
//! | `gevent.util.print_run_info()` | [`run_info`], [`run_info_on_signal`] |
//! | gevent's monitor thread (`max_blocking_time`) | `GREEN_MONITOR_MS` or [`Runtime::monitor`] |
//! | `LoopExit` ("this operation would block forever") | a panic starting `green: deadlock`, with what is parked |
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `monkey` | on | Links the libc hooks into the program and provides `green::monkey`. The binary then exports about fifty libc-named functions (`read`, `write`, `close`, `connect`, `getaddrinfo`, `waitpid`, ...). They pass straight through to libc until `green::monkey::patch_all()` is called; after it, a blocking call made inside a coroutine parks that coroutine instead of blocking the thread, and so does one made in `main` while it has coroutines to run, while calls made elsewhere (plain threads, a `main` with no coroutines) stay exactly libc's. |
//! | `tokio` | off | [`block_on`] gives futures a tokio runtime context, so tokio-based crates work from coroutines. |
//!
//! **Libraries** that use green for their own concurrency should turn the
//! default features off, so that depending on them does not put libc hooks
//! into every program; the application decides:
//!
//! ```toml
//! green = { package = "greenhub", version = "0.1", default-features = false }
//! ```
//!
//! Without `monkey`, `green::monkey` does not exist; everything else (the
//! runtime, [`net`], [`sync`], [`queue`], [`pool`], ...) works the same.
//!
//! # Further reading
//!
//! In the repository, <https://github.com/greenhub-rs/greenhub>:
//! [semantics](https://github.com/greenhub-rs/greenhub/blob/main/docs/semantics.md)
//! (every behaviour, numbered),
//! [examples](https://github.com/greenhub-rs/greenhub/blob/main/docs/examples.md),
//! [what `patch_all` reaches](https://github.com/greenhub-rs/greenhub/blob/main/docs/monkey.md),
//! [futures and tokio](https://github.com/greenhub-rs/greenhub/blob/main/docs/async.md),
//! [performance](https://github.com/greenhub-rs/greenhub/blob/main/docs/performance.md),
//! [memory per coroutine](https://github.com/greenhub-rs/greenhub/blob/main/docs/memory.md).
//!
#![cfg_attr(feature = "monkey", doc = "[patch_all]: crate::monkey::patch_all")]
#![cfg_attr(not(feature = "monkey"), doc = "[patch_all]: #features")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "monkey")]
#[cfg_attr(docsrs, doc(cfg(feature = "monkey")))]
pub use green_monkey as monkey;
pub use green_runtime::*;
