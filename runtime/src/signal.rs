//! Unix signals for coroutines: wait for one, or run a handler in a
//! coroutine each time one arrives (gevent's `signal_handler`), with no
//! thread of your own.
//!
//! ```no_run
//! use std::time::Duration;
//! // A server that stops cleanly on Ctrl-C or `kill -TERM`.
//! let server = green::net::StreamServer::bind("127.0.0.1:0", |_stream, _peer| {
//!     green::sleep(Duration::from_millis(10)); // serve the connection
//! })?;
//! for sig in [libc::SIGINT, libc::SIGTERM] {
//!     let s = server.clone();
//!     green::signal::handler(sig, move || s.stop())?;
//! }
//! server.serve_forever()?; // returns once `stop` has finished
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! How it behaves:
//! - A [`Signal`] subscribes to one signal number; while at least one
//!   subscription to a signal exists in the process, green's handler is
//!   installed for it (with `SA_RESTART`), and the signal's previous action
//!   — the default (for `SIGINT`: end the process), `SIG_IGN`, or another
//!   handler — is put back when the last subscription goes. So Ctrl-C
//!   ends the program as usual whenever nobody listens for it.
//! - Every delivery is handed to every subscription of that signal, on
//!   whichever hubs and threads they live: several hubs may wait for the
//!   same signal. Deliveries that arrive before a subscription was made are
//!   not seen by it; deliveries the kernel merges (a standard signal sent
//!   twice before it was handled) arrive once, as with any handler.
//! - Waiting parks only the calling coroutine (or runs the hub, on a
//!   thread's root), and is cancelled by `kill` and `green::timeout` like
//!   every green wait.
//! - Signals that cannot or must not be caught this way (`SIGKILL`,
//!   `SIGSTOP`, `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, numbers out of
//!   range) are an `InvalidInput` error.
//! - The handler only writes the signal's number to a pipe; a helper
//!   thread (`green-signal`) reads it and wakes the subscribers. As with any
//!   handler, a blocking call on some other thread may see `EINTR` when a
//!   signal arrives. [`run_info_on_signal`](crate::run_info::run_info_on_signal) and
//!   this module each install their own handler: give them different
//!   signals.
//!
//! Never: run user code in the signal handler, or leave green's handler
//! installed for a signal nobody is subscribed to.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::join::JoinHandle;
use crate::lock::lock;
use crate::sys;
use crate::xchan;

/// Write end of the pipe the signal handler writes to; -1 until set up.
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

/// Who listens for which signal, and what each signal did before.
struct Registry {
    next_id: u64,
    subscribers: HashMap<libc::c_int, Vec<(u64, xchan::Sender<()>)>>,
    previous: HashMap<libc::c_int, sys::SavedAction>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// A subscription to one signal: each delivery of the signal after it was
/// made can be received once.
///
/// Dropping the last subscription to a signal puts the signal's previous
/// action back.
///
/// ```
/// let sig = green::signal::Signal::new(libc::SIGUSR1)?;
/// // SAFETY: raising a signal that has a handler installed (ours).
/// unsafe { libc::raise(libc::SIGUSR1) };
/// assert!(sig.recv_timeout(std::time::Duration::from_secs(5)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signal {
    signal: libc::c_int,
    id: u64,
    rx: xchan::Receiver<()>,
}

impl Signal {
    /// Subscribe to `signal` (e.g. `libc::SIGINT`). From now on each of
    /// its deliveries can be received by [`recv`](Self::recv).
    pub fn new(signal: libc::c_int) -> io::Result<Signal> {
        check(signal)?;
        ensure_dispatcher()?;
        let (tx, rx) = xchan::channel();
        let mut reg = lock(&REGISTRY);
        let reg = reg.get_or_insert_with(|| Registry {
            next_id: 0,
            subscribers: HashMap::new(),
            previous: HashMap::new(),
        });
        if let std::collections::hash_map::Entry::Vacant(slot) = reg.previous.entry(signal) {
            // SAFETY: `on_signal` is a plain, async-signal-safe handler: it
            // only reads an atomic and writes to a pipe, saving errno.
            let saved = unsafe {
                sys::swap_signal_action(
                    signal,
                    on_signal as extern "C" fn(libc::c_int) as usize,
                    libc::SA_RESTART,
                )?
            };
            slot.insert(saved);
        }
        let id = reg.next_id;
        reg.next_id += 1;
        reg.subscribers.entry(signal).or_default().push((id, tx));
        Ok(Signal { signal, id, rx })
    }

    /// The signal number this subscription listens for.
    pub fn signal(&self) -> libc::c_int {
        self.signal
    }

    /// Wait for the next delivery. Parks the calling coroutine (on a
    /// thread's root, runs the hub meanwhile); unwinds on kill and on an
    /// enclosing `green::timeout`.
    pub fn recv(&self) {
        // The subscription holds its sender in the registry until it is
        // dropped, so the channel never reports "closed" here.
        let _ = self.rx.recv();
    }

    /// Like [`recv`](Self::recv), giving up after `d`: true when the signal
    /// came.
    pub fn recv_timeout(&self, d: Duration) -> bool {
        self.rx
            .recv_deadline(crate::clock::now().checked_add(d))
            .is_some()
    }

    /// Take a delivery that already arrived, without waiting.
    pub fn try_recv(&self) -> bool {
        self.rx.try_recv().is_some()
    }
}

impl crate::waitable::sealed::Sealed for Signal {}

impl crate::waitable::Waitable for Signal {
    /// A delivery is waiting to be received.
    fn is_ready(&self) -> bool {
        crate::waitable::Waitable::is_ready(&self.rx)
    }

    fn watch<'a>(&'a self, watch: &mut crate::waitable::Watch<'a>) {
        crate::waitable::Waitable::watch(&self.rx, watch);
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let mut guard = lock(&REGISTRY);
        let Some(reg) = guard.as_mut() else { return };
        let mut last = false;
        if let Some(list) = reg.subscribers.get_mut(&self.signal) {
            list.retain(|(id, _)| *id != self.id);
            last = list.is_empty();
        }
        if last {
            reg.subscribers.remove(&self.signal);
            if let Some(saved) = reg.previous.remove(&self.signal) {
                // Nothing sensible to do if the kernel refuses to take back
                // an action it handed out; the signal then stays with us
                // and is dropped on arrival.
                let _ = sys::restore_signal_action(self.signal, &saved);
            }
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signal", &self.signal)
            .finish()
    }
}

/// Wait for the next delivery of `signal` (see [`Signal::recv`]).
///
/// ```no_run
/// green::signal::wait(libc::SIGINT)?; // until Ctrl-C
/// println!("bye");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn wait(signal: libc::c_int) -> io::Result<()> {
    Signal::new(signal)?.recv();
    Ok(())
}

/// Run `f` in a new coroutine on this thread's hub each time `signal`
/// arrives, until the returned handle is killed (which also puts the
/// signal's previous action back once nobody else listens).
///
/// The subscription is made before `handler` returns, so no delivery after
/// it is missed. Each run of `f` is its own coroutine: a slow or panicking
/// `f` does not stop the next delivery from being handled.
///
/// The handler may simply stay installed until the program ends: when
/// `main` returns, its coroutine is left without the "still alive" note
/// that other leftover coroutines get. On any other thread, kill the
/// handle before the thread ends: until then the signal stays caught (and
/// the thread's exit note counts the handler).
pub fn handler<F>(signal: libc::c_int, f: F) -> io::Result<JoinHandle<()>>
where
    F: Fn() + 'static,
{
    let sub = Signal::new(signal)?;
    let f = Rc::new(f);
    let h = crate::spawn::Builder::new()
        .name(format!("signal handler ({signal})"))
        .spawn(move || loop {
            sub.recv();
            let f = f.clone();
            crate::spawn(move || f());
        })?;
    // It waits for ever by design: when `main` returns with it installed
    // (the process is ending), that is no leftover worth a note.
    h.mark_service();
    Ok(h)
}

fn check(signal: libc::c_int) -> io::Result<()> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if signal <= 0 || signal > libc::SIGRTMAX() || forbidden.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("green: signal {signal} cannot be caught by green::signal"),
        ));
    }
    Ok(())
}

/// Create the pipe and its dispatcher thread once.
fn ensure_dispatcher() -> io::Result<()> {
    static SETUP: Mutex<()> = Mutex::new(());
    let _g = lock(&SETUP);
    if PIPE_W.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let (r, w) = sys::pipe_cloexec()?;
    // The handler must never block: a full pipe means the dispatcher is
    // behind, and the delivery merges with the ones it has not read yet.
    sys::set_nonblocking(w.as_raw_fd(), true)?;
    std::thread::Builder::new()
        .name("green-signal".into())
        .spawn(move || dispatch(r))?;
    // The write end stays open for the life of the process: the handler
    // may use it at any time.
    PIPE_W.store(w.into_raw_fd(), Ordering::Release);
    Ok(())
}

/// The dispatcher thread: each byte read is a delivered signal's number;
/// hand it to every subscription of that signal.
fn dispatch(fd: OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        let n = match sys::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let reg = lock(&REGISTRY);
        let Some(reg) = reg.as_ref() else { continue };
        for &sig in &buf[..n] {
            if let Some(list) = reg.subscribers.get(&libc::c_int::from(sig)) {
                for (_, tx) in list {
                    // A receiver whose subscription is being dropped may
                    // be gone already: nothing to wake.
                    let _ = tx.send(());
                }
            }
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_W.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // All async-signal-safe; errno is saved and restored so the
    // interrupted code never sees ours. Signal numbers fit a byte
    // (`SIGRTMAX` is 64 on Linux).
    let saved = sys::errno();
    let _ = sys::write(fd, &[sig as u8]);
    sys::set_errno(saved);
}
