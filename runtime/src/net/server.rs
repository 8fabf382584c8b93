//! `StreamServer`: accept in a loop and run a handler coroutine per
//! connection (gevent's `StreamServer`).
//!
//! Owns the accept loop, the optional connection limit (the acceptor stops
//! accepting while the limit is reached), the back-off on resource errors
//! such as `EMFILE` (a full fd table never turns into a busy loop), and
//! graceful `stop()`. A handler that panics or is killed loses only its own
//! connection: the stream it owns is dropped while it unwinds.
//!
//! Never: accept while full, retry a failing `accept` without a pause, or
//! keep the listener open after `stop()`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::dns::ToSocketAddrs;
use super::{TcpListener, TcpStream};
use crate::join::JoinHandle;
use crate::marker::{Bound, ThreadBound, THREAD_BOUND};
use crate::wait_list::{WaitList, WaitResult};

/// First pause after an accept error that is not about one connection.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause between accept retries.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Default grace period `stop()` gives running handlers.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(1);

type Handler = dyn Fn(TcpStream, SocketAddr);

struct Inner {
    listener: TcpListener,
    addr: SocketAddr,
    handler: Box<Handler>,
    max: Cell<Option<usize>>,
    /// The acceptor waits here while full and while backing off.
    room: WaitList,
    /// `stop()` waits here for handlers to end.
    drained: WaitList,
    /// `serve_forever()` waits here for `stop()` to finish (or the
    /// acceptor to end without one).
    done: WaitList,
    started: Cell<bool>,
    stopped: Cell<bool>,
    acceptor_finished: Cell<bool>,
    /// A `stop()` has run to its end: listener closed, handlers finished or
    /// killed.
    stop_finished: Cell<bool>,
    acceptor: RefCell<Option<JoinHandle<()>>>,
    /// Running handlers by coroutine id.
    handlers: RefCell<HashMap<u64, JoinHandle<()>>>,
    stop_timeout: Cell<Duration>,
    accept_errors: Cell<u64>,
}

/// A TCP server that spawns `handler(stream, peer)` in a new coroutine for
/// every accepted connection.
///
/// - [`set_max_connections`](Self::set_max_connections) bounds the handlers
///   running at once; while the bound is reached the server does not accept
///   (new clients wait in the kernel's backlog).
/// - Accept errors about resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`,
///   ...) pause the acceptor (5 ms doubling to 1 s) instead of spinning;
///   errors about one aborted connection are skipped.
/// - A handler that panics closes only its own connection (the panic is
///   reported on stderr like any unjoined coroutine's).
/// - [`stop`](Self::stop) closes the listener, then gives running handlers
///   the stop timeout (default 1 s) to finish before killing them.
///
/// Clones share the same server.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// let server = green::net::StreamServer::bind("127.0.0.1:0", |mut s, _peer| {
///     let mut line = String::new();
///     BufReader::new(&s).read_line(&mut line).unwrap();
///     s.write_all(line.to_uppercase().as_bytes()).unwrap();
/// }).unwrap();
/// server.start().unwrap();
/// let mut c = green::net::TcpStream::connect(server.local_addr()).unwrap();
/// c.write_all(b"hi\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&c).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "HI\n");
/// server.stop();
/// ```
#[derive(Clone)]
pub struct StreamServer {
    // `Bound` and the marker: moving a server to another thread fails with
    // an error that names `ThreadBound`, not the private state.
    inner: Bound<Rc<Inner>>,
    _thread: PhantomData<ThreadBound>,
}

impl StreamServer {
    /// A server on `listener`; call [`start`](Self::start) or
    /// [`serve_forever`](Self::serve_forever) to accept.
    pub fn new<F>(listener: TcpListener, handler: F) -> io::Result<StreamServer>
    where
        F: Fn(TcpStream, SocketAddr) + 'static,
    {
        let addr = listener.local_addr()?;
        Ok(StreamServer {
            _thread: THREAD_BOUND,
            inner: Bound(Rc::new(Inner {
                listener,
                addr,
                handler: Box::new(handler),
                max: Cell::new(None),
                room: WaitList::new(),
                drained: WaitList::new(),
                done: WaitList::new(),
                started: Cell::new(false),
                stopped: Cell::new(false),
                acceptor_finished: Cell::new(false),
                stop_finished: Cell::new(false),
                acceptor: RefCell::new(None),
                handlers: RefCell::new(HashMap::new()),
                stop_timeout: Cell::new(DEFAULT_STOP_TIMEOUT),
                accept_errors: Cell::new(0),
            })),
        })
    }

    /// Bind a listener on `addr` and make a server on it.
    pub fn bind<A, F>(addr: A, handler: F) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        F: Fn(TcpStream, SocketAddr) + 'static,
    {
        StreamServer::new(TcpListener::bind(addr)?, handler)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Bound the number of connections handled at once (`None`: no bound).
    /// `Some(0)` is an `InvalidInput` error (it would never accept).
    pub fn set_max_connections(&self, max: Option<usize>) -> io::Result<()> {
        if max == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "green: a StreamServer needs room for at least one connection",
            ));
        }
        self.inner.max.set(max);
        // A raised bound may let the acceptor go on.
        self.inner.room.notify_all();
        Ok(())
    }

    /// How long `stop()` lets running handlers finish before killing them.
    pub fn set_stop_timeout(&self, d: Duration) {
        self.inner.stop_timeout.set(d);
    }

    /// Handlers running now.
    pub fn active_connections(&self) -> usize {
        self.inner.handlers.borrow().len()
    }

    /// Accept errors seen so far (each one was followed by a pause or a
    /// skip, never a busy retry).
    pub fn accept_errors(&self) -> u64 {
        self.inner.accept_errors.get()
    }

    /// Whether the server accepts connections (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.inner.started.get() && !self.inner.stopped.get()
    }

    /// Start accepting in a background coroutine and return at once.
    /// Starting twice, or after `stop()`, is an error.
    pub fn start(&self) -> io::Result<()> {
        if self.inner.stopped.get() {
            return Err(io::Error::other("green: this StreamServer was stopped"));
        }
        if self.inner.started.replace(true) {
            return Err(io::Error::other(
                "green: this StreamServer is already started",
            ));
        }
        let inner = Rc::clone(&self.inner);
        let h = crate::spawn::Builder::new()
            .name(format!("StreamServer({})", self.inner.addr))
            .spawn(move || accept_loop(inner))?;
        *self.inner.acceptor.borrow_mut() = Some(h);
        Ok(())
    }

    /// Start (unless started) and wait until the server has stopped: a
    /// [`stop`](Self::stop) has run to its end (listener closed, the other
    /// handlers finished or killed), or the acceptor was killed without
    /// one. So a `main` that returns after `serve_forever` abandons no
    /// handler — except the one that called `stop`, if a handler did.
    pub fn serve_forever(&self) -> io::Result<()> {
        if !self.inner.started.get() {
            self.start()?;
        }
        let inner = &self.inner;
        while !(inner.stop_finished.get()
            || (inner.acceptor_finished.get() && !inner.stopped.get()))
        {
            inner.done.wait(None);
        }
        Ok(())
    }

    /// Stop accepting and close the listener, then wait up to the stop
    /// timeout for running handlers and kill the ones still running. Called
    /// from a handler, it does not wait for that handler. Idempotent.
    pub fn stop(&self) {
        let inner = &self.inner;
        if !inner.stopped.replace(true) {
            inner.listener.close();
            inner.room.notify_all();
        }
        let me = crate::spawn::current().map(|c| c.id());
        let acceptor = inner.acceptor.borrow_mut().take();
        if let Some(h) = acceptor {
            // The acceptor sees `stopped` at its next wake and ends.
            let _ = h.join();
        }
        let others = || {
            inner
                .handlers
                .borrow()
                .keys()
                .filter(|&&id| Some(id) != me)
                .count()
        };
        if let Some(deadline) = crate::clock::now().checked_add(inner.stop_timeout.get()) {
            while others() > 0 {
                if inner.drained.wait(Some(deadline)) == WaitResult::TimedOut {
                    break;
                }
            }
        } else {
            while others() > 0 {
                inner.drained.wait(None);
            }
        }
        let left: Vec<JoinHandle<()>> = {
            let mut map = inner.handlers.borrow_mut();
            let ids: Vec<u64> = map.keys().copied().filter(|&id| Some(id) != me).collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for h in left {
            h.kill();
        }
        inner.stop_finished.set(true);
        inner.done.notify_all();
    }
}

impl fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("addr", &self.inner.addr)
            .field("running", &self.is_running())
            .field("active", &self.active_connections())
            .field("max", &self.inner.max.get())
            .finish()
    }
}

fn is_full(inner: &Inner) -> bool {
    inner
        .max
        .get()
        .is_some_and(|max| inner.handlers.borrow().len() >= max)
}

/// Errors that concern one connection that went away before we took it:
/// skip it and accept the next.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::EINTR)
    )
}

fn accept_loop(inner: Rc<Inner>) {
    /// Marks the acceptor as gone however it ends (even killed).
    struct Finished(Rc<Inner>);
    impl Drop for Finished {
        fn drop(&mut self) {
            self.0.acceptor_finished.set(true);
            self.0.done.notify_all();
        }
    }
    let _finished = Finished(inner.clone());
    let mut backoff = Duration::ZERO;
    while !inner.stopped.get() {
        if is_full(&inner) {
            inner.room.wait(None);
            continue;
        }
        match inner.listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                spawn_handler(&inner, stream, peer);
            }
            Err(_) if inner.stopped.get() || inner.listener.is_closed() => break,
            Err(e) if is_per_connection(&e) => {
                inner.accept_errors.set(inner.accept_errors.get() + 1);
            }
            Err(e) => {
                inner.accept_errors.set(inner.accept_errors.get() + 1);
                if backoff.is_zero() {
                    eprintln!(
                        "green: StreamServer on {}: accept failed: {e}; backing off",
                        inner.addr
                    );
                    backoff = BACKOFF_MIN;
                } else {
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                // Not `wait_fd`: with edge-triggered readiness the pending
                // connection would never signal again. Sleep, then retry;
                // `stop()` wakes us early through `room`.
                let until = crate::clock::now().checked_add(backoff);
                inner.room.wait(until);
            }
        }
    }
}

fn spawn_handler(inner: &Rc<Inner>, stream: TcpStream, peer: SocketAddr) {
    /// Frees the handler's slot however it ends (return, panic, kill).
    struct Slot(Rc<Inner>);
    impl Drop for Slot {
        fn drop(&mut self) {
            if let Some(me) = crate::spawn::current() {
                let h = self.0.handlers.borrow_mut().remove(&me.id());
                drop(h);
            }
            self.0.room.notify_one();
            self.0.drained.notify_all();
        }
    }
    let slot = Slot(inner.clone());
    let h = crate::spawn(move || {
        let slot = slot;
        (slot.0.handler)(stream, peer);
    });
    inner.handlers.borrow_mut().insert(h.id(), h);
}
