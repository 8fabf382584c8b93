//! `GreenFd`: one non-blocking socket owned by a green networking type, and
//! the single "try the syscall, park only on `EAGAIN`" loop every operation
//! goes through.
//!
//! It owns: the std socket object (which owns the fd and provides the socket
//! options), the user's view of blocking mode and timeouts, and the
//! "logically closed" flag. The fd itself is always `O_NONBLOCK`; blocking
//! behaviour is emulated by parking on the hub (`green::rt::wait_fd`), which
//! registers the fd with the reactor once, edge-triggered, on the first
//! `EAGAIN`. Before the fd is closed (drop, `into_inner`) it is forgotten by
//! the reactor, which wakes anyone still parked on it with an error.
//!
//! A new `GreenFd` and a dropped one both renew the fd number's close
//! generation (`green::rt::fd_renewed`): a hub that still holds a
//! registration for an earlier file under that number (closed on another
//! thread, behind its back) registers again instead of waiting forever.
//!
//! Readiness is remembered by the hub per registered fd (`rt::fd_readiness`):
//! an operation on an fd known not to be ready parks before its syscall.
//! Only results that prove the kernel queue empty clear it: `EAGAIN`, and a
//! short write on a byte stream, or a short read on TCP (`stream_*`, see
//! `ByteStream`); datagrams, peeks, accepts and Unix stream reads clear on
//! `EAGAIN` only.
//!
//! Never: keep the fd registered after it is closed, or park without having
//! seen the fd not ready first (`EAGAIN` or a cleared readiness; the
//! edge-triggered registration would otherwise never report it).

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::marker::ThreadBound;
use crate::rt::{self, Interest};
use crate::sys;

/// A socket `S` (a std socket type) driven by the hub.
pub(crate) struct GreenFd<S: AsRawFd> {
    sock: ManuallyDrop<S>,
    fd: RawFd,
    closed: Cell<bool>,
    nonblocking: Cell<bool>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
    /// Registrations live in this thread's reactor: the socket must stay on
    /// the thread that made it (convert with `into_std` to move it).
    _not_send: PhantomData<ThreadBound>,
}

/// The error every operation on a socket closed with `close()` returns.
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "green: the socket was closed with close()",
    )
}

fn check_timeout(d: Option<Duration>) -> io::Result<()> {
    if d == Some(Duration::ZERO) {
        // Same answer as std: a zero timeout would mean "never wait".
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl<S: AsRawFd> GreenFd<S> {
    /// Take over `sock`, switching its fd to non-blocking mode.
    pub(crate) fn new(sock: S) -> io::Result<GreenFd<S>> {
        sys::set_nonblocking(sock.as_raw_fd(), true)?;
        Ok(GreenFd::from_nonblocking(sock))
    }

    /// Take over `sock` whose fd is already non-blocking.
    pub(crate) fn from_nonblocking(sock: S) -> GreenFd<S> {
        let fd = sock.as_raw_fd();
        // Whatever was registered under this number before is another file.
        rt::fd_renewed(fd);
        GreenFd {
            sock: ManuallyDrop::new(sock),
            fd,
            closed: Cell::new(false),
            nonblocking: Cell::new(false),
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
            _not_send: PhantomData,
        }
    }

    /// A copy for `try_clone`: same user-level settings, new fd.
    pub(crate) fn clone_with(&self, sock: S) -> GreenFd<S> {
        let c = GreenFd::from_nonblocking(sock);
        c.nonblocking.set(self.nonblocking.get());
        c.read_timeout.set(self.read_timeout.get());
        c.write_timeout.set(self.write_timeout.get());
        c
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// The socket, or an error once `close()` was called.
    pub(crate) fn get(&self) -> io::Result<&S> {
        if self.closed.get() {
            return Err(closed_error());
        }
        Ok(&self.sock)
    }

    /// The socket even after `close()` (its fd is still open until drop),
    /// for queries such as `local_addr`.
    pub(crate) fn raw(&self) -> &S {
        &self.sock
    }

    /// Run `f` until it stops failing with `WouldBlock`, parking on read
    /// readiness in between, within the read timeout.
    #[inline]
    pub(crate) fn read_op<T>(&self, f: impl FnMut(&S) -> io::Result<T>) -> io::Result<T> {
        self.op(Interest::Read, self.read_timeout.get(), f, |_| false)
    }

    /// Like [`read_op`](Self::read_op) for writes (and connects).
    #[inline]
    pub(crate) fn write_op<T>(&self, f: impl FnMut(&S) -> io::Result<T>) -> io::Result<T> {
        self.op(Interest::Write, self.write_timeout.get(), f, |_| false)
    }

    /// The loop: try, and on `EAGAIN` park until readiness, the timeout, a
    /// `close()`, a kill or an enclosing `green::timeout`.
    ///
    /// The hub remembers the fd's readiness: when the last attempt found it
    /// not ready (`EAGAIN`, or a result for which `drained` says the kernel
    /// queue was emptied) and no event came since, the loop parks before
    /// the syscall instead of asking the kernel for another `EAGAIN`. In
    /// non-blocking mode the syscall is always made, so the user sees
    /// exactly what the kernel says.
    ///
    /// Several coroutines may run this on the same socket and direction at
    /// once: readiness wakes all of them and each retries; the ones that
    /// find nothing (or find the fd cleared by an earlier one) park again.
    /// Nobody hangs and every byte goes to exactly one caller, as with std
    /// sockets shared by threads.
    #[inline]
    pub(crate) fn op<T>(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
        mut f: impl FnMut(&S) -> io::Result<T>,
        drained: impl Fn(&T) -> bool,
    ) -> io::Result<T> {
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            let s = self.get()?;
            let ready = rt::fd_readiness(self.fd, interest);
            if ready.may_be_ready() || self.nonblocking.get() {
                match f(s) {
                    Ok(v) => {
                        if drained(&v) {
                            ready.clear();
                        }
                        return Ok(v);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        ready.clear();
                        if self.nonblocking.get() {
                            return Err(e);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            let at = *deadline
                .get_or_insert_with(|| timeout.and_then(|t| crate::clock::now().checked_add(t)));
            ready.wait(self.fd, at)?;
            if self.closed.get() {
                return Err(closed_error());
            }
        }
    }

    /// Receive into `buf` (parking within the read timeout); `peek` leaves
    /// the data queued. For any socket type: only `EAGAIN` clears readiness.
    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8], peek: bool) -> io::Result<usize> {
        self.read_op(|_| sys::recv(self.fd, buf, peek))
    }

    /// Receive one datagram and its sender, parking within the read timeout.
    #[inline]
    pub(crate) fn recv_from(&self, buf: &mut [u8], peek: bool) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|_| recv_from(self.fd, buf, peek))
    }

    /// Send one datagram to `to`, parking within the write timeout.
    #[inline]
    pub(crate) fn send_to(&self, buf: &[u8], to: &SocketAddr) -> io::Result<usize> {
        self.write_op(|_| send_to(self.fd, buf, to))
    }

    /// Send `buf`, parking within the write timeout while the buffer is
    /// full. For any socket type: only `EAGAIN` clears readiness.
    #[inline]
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|_| sys::send(self.fd, buf))
    }

    /// Park until the fd is ready for `interest` (for connect), within
    /// `deadline`.
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        self.get()?;
        rt::wait_fd(self.fd, interest, deadline)?;
        if self.closed.get() {
            return Err(closed_error());
        }
        Ok(())
    }

    /// Park until a non-blocking `connect` on this socket completes (or
    /// `deadline` passes). `take_error` and `peer_addr` are the socket's own
    /// queries: a pending `SO_ERROR` means the connect failed, a known peer
    /// that it succeeded, `NotConnected` that it is still in progress.
    pub(crate) fn wait_connected<A>(
        &self,
        deadline: Option<Instant>,
        take_error: impl Fn(&S) -> io::Result<Option<io::Error>>,
        peer_addr: impl Fn(&S) -> io::Result<A>,
    ) -> io::Result<()> {
        loop {
            if let Some(e) = take_error(self.raw())? {
                return Err(e);
            }
            match peer_addr(self.raw()) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
            self.wait(Interest::Write, deadline)?;
        }
    }

    /// Close logically: every later operation fails, and coroutines parked
    /// on the socket now wake with an error. The fd stays open (so borrowed
    /// fds stay valid) until the owner is dropped.
    pub(crate) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        rt::forget_fd(self.fd);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub(crate) fn set_nonblocking(&self, on: bool) {
        self.nonblocking.set(on);
    }

    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.read_timeout.set(d);
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.write_timeout.set(d);
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }

    /// Give the socket back unregistered from the hub, in the blocking mode
    /// the user asked for (blocking unless `set_nonblocking(true)`). The
    /// caller copies the user's timeouts to the kernel socket options.
    pub(crate) fn into_inner(self) -> S {
        rt::forget_fd(self.fd);
        let _ = sys::set_nonblocking(self.fd, self.nonblocking.get());
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so `sock` is taken
        // exactly once; the other fields are `Copy`/zero-sized.
        unsafe { ManuallyDrop::take(&mut me.sock) }
    }
}

/// A byte-stream socket, and what a short read proves about it.
pub(crate) trait ByteStream: AsRawFd {
    /// Whether a read that returned fewer bytes than asked (but some) left
    /// the receive queue empty. True for TCP. Not for Unix streams: a read
    /// stops after a message that carried file descriptors (or other
    /// credentials) even when more data is queued, and no new event would
    /// report that data, so only `EAGAIN` clears their readiness.
    const SHORT_READ_EMPTIES: bool;
}

impl ByteStream for std::net::TcpStream {
    const SHORT_READ_EMPTIES: bool = true;
}

impl ByteStream for std::os::unix::net::UnixStream {
    const SHORT_READ_EMPTIES: bool = false;
}

impl<S: ByteStream> GreenFd<S> {
    /// Read from a byte stream. On TCP a read that returns fewer bytes than
    /// asked (but not 0, which is EOF) emptied the socket's queue, so the fd
    /// is known not ready until the next event: the following read parks
    /// without a syscall (see [`ByteStream`] for the sockets where it does
    /// not prove that).
    #[inline]
    pub(crate) fn stream_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.op(
            Interest::Read,
            self.read_timeout.get(),
            |_| sys::recv(self.fd, buf, false),
            |&n| S::SHORT_READ_EMPTIES && n > 0 && n < len,
        )
    }

    /// [`stream_read`](Self::stream_read) into several buffers.
    #[inline]
    pub(crate) fn stream_read_vectored(
        &self,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.op(
            Interest::Read,
            self.read_timeout.get(),
            |_| sys::recv_vectored(self.fd, bufs),
            |&n| S::SHORT_READ_EMPTIES && n > 0 && n < len,
        )
    }

    /// Write to a byte stream. A write that took fewer bytes than offered
    /// filled the send buffer: the next write parks without a syscall until
    /// the fd is reported writable.
    #[inline]
    pub(crate) fn stream_write(&self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.op(
            Interest::Write,
            self.write_timeout.get(),
            |_| sys::send(self.fd, buf),
            |&n| n < len,
        )
    }

    /// [`stream_write`](Self::stream_write) from several buffers.
    #[inline]
    pub(crate) fn stream_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.op(
            Interest::Write,
            self.write_timeout.get(),
            |_| sys::send_vectored(self.fd, bufs),
            |&n| n < len,
        )
    }
}

impl<S: AsRawFd> Drop for GreenFd<S> {
    fn drop(&mut self) {
        // Deregister (and wake waiters) before the number can be reused.
        rt::forget_fd(self.fd);
        // SAFETY: dropped exactly once, here; `into_inner` skips this Drop.
        unsafe { ManuallyDrop::drop(&mut self.sock) };
        // After the close, so other hubs' registrations under this number
        // are seen as stale even if they raced with it.
        rt::fd_renewed(self.fd);
    }
}

// Every socket call here goes through `sys`, whose helpers pass
// `MSG_DONTWAIT`, so they never block the hub even if the fd's shared
// `O_NONBLOCK` flag was cleared behind our back (a `try_clone`d handle
// converted with `into_std`, or a `dup` elsewhere). The two below add the
// address conversions.

/// `recvfrom(2)` that never blocks; `peek` adds `MSG_PEEK`.
fn recv_from(fd: RawFd, buf: &mut [u8], peek: bool) -> io::Result<(usize, SocketAddr)> {
    let (n, st, len) = sys::recv_from(fd, buf, peek)?;
    Ok((n, super::sockaddr::from_raw(&st, len)?))
}

/// `sendto(2)` that never blocks.
fn send_to(fd: RawFd, buf: &[u8], to: &SocketAddr) -> io::Result<usize> {
    let (st, len) = super::sockaddr::to_raw(to);
    sys::send_to(fd, buf, &st, len)
}
