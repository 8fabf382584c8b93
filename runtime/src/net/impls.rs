//! The std-shaped surface every green socket type shares, written once.
//!
//! Each socket type (`TcpStream`, `TcpListener`, `UdpSocket`, `UnixStream`,
//! `UnixListener`) is a struct with one field, `io: GreenFd<S>` over the
//! matching std socket `S`. The macros here generate, for such a type, the
//! methods and trait impls whose bodies are the same for all of them and
//! differ only in the type names and a few words of documentation:
//!
//! - `green_socket!`: every type — `local_addr`, `try_clone`,
//!   `set_nonblocking`, `take_error`, and `From<S>`, `AsRawFd`, `AsFd`,
//!   `IntoRawFd`, `Debug`. Each type reaches it through one of the next two.
//! - `data_socket!`: sockets that carry data (streams, UDP) — `peer_addr`,
//!   the read/write timeouts, and `into_std` that copies the timeouts to the
//!   kernel socket.
//! - `listener!`: listening sockets — `incoming` and its iterator type, and
//!   `into_std`.
//! - `byte_stream!`: connected streams — `shutdown`, `close` (which shuts
//!   the connection down so the peer sees EOF), and `Read`/`Write` for both
//!   `T` and `&T`.
//! - `ip_ttl!`: IP sockets — `ttl` and `set_ttl`.
//!
//! Macros rather than a trait, because the bodies call inherent methods of
//! the std socket types (`try_clone`, `peer_addr`, `set_read_timeout`, ...),
//! which share no trait, and because the methods must stay inherent so the
//! types keep std's shape without a trait import.
//!
//! Never put behaviour here that only some of a macro's callers have: such
//! code belongs in the type's own file. Nothing here parks or touches the fd
//! except through `GreenFd`.

/// Methods and trait impls every green socket type has.
///
/// `adopt` completes "Adopt ..." in the `From<S>` docs; `nonblocking` is the
/// subject of "In non-blocking mode ... `WouldBlock` instead of parking";
/// `try_clone` is the whole doc of `try_clone`; `debug` lists the extra
/// `Debug` fields and the raw-socket queries that fill them (a field is
/// left out when its query fails).
macro_rules! green_socket {
    (
        $ty:ident($std:ty),
        addr: $addr:ty,
        adopt: $adopt:expr,
        nonblocking: $nonblocking:literal,
        try_clone: $try_clone:literal,
        debug: { $($field:literal: $query:ident),* $(,)? } $(,)?
    ) => {
        impl $ty {
            /// The local address the socket is bound to.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.io.raw().local_addr()
            }

            #[doc = $try_clone]
            pub fn try_clone(&self) -> std::io::Result<$ty> {
                let s = self.io.get()?.try_clone()?;
                Ok($ty {
                    io: self.io.clone_with(s),
                })
            }

            #[doc = concat!(
                "In non-blocking mode ", $nonblocking,
                " `WouldBlock` instead of parking."
            )]
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.io.get()?;
                self.io.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Take the pending socket error (`SO_ERROR`), if any.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.io.raw().take_error()
            }
        }

        impl From<$std> for $ty {
            #[doc = concat!(
                "Adopt ", $adopt, " (switching it to non-blocking mode).\n\n",
                "# Panics\n",
                "If the fd's flags cannot be changed (not a valid socket)."
            )]
            fn from(s: $std) -> $ty {
                match $crate::net::fd::GreenFd::new(s) {
                    Ok(io) => $ty { io },
                    Err(e) => panic!(
                        concat!("green: cannot make the ", stringify!($ty), " non-blocking: {}"),
                        e
                    ),
                }
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.io.raw())
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// Unregister from the hub and hand over the fd (blocking unless
            /// `set_nonblocking(true)` was called).
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.io.into_inner())
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                #[allow(unused_mut)]
                let mut d = f.debug_struct(stringify!($ty));
                $(
                    if let Ok(a) = self.io.raw().$query() {
                        d.field($field, &a);
                    }
                )*
                d.field("fd", &self.io.fd())
                    .field("closed", &self.io.is_closed())
                    .finish()
            }
        }
    };
}

/// Everything of a socket that carries data (streams and UDP): the
/// `green_socket!` part, the peer, the timeouts, and `into_std` that keeps
/// them.
///
/// `kind` names the type in docs ("stream", "socket"); `reads`/`writes`
/// name its operations ("reads", "receives", ...); `debug` as in
/// `green_socket!`.
macro_rules! data_socket {
    (
        $ty:ident($std:ty),
        addr: $addr:ty,
        kind: $kind:literal,
        reads: $reads:literal,
        writes: $writes:literal,
        debug: { $($debug:tt)* } $(,)?
    ) => {
        $crate::net::impls::green_socket! {
            $ty($std),
            addr: $addr,
            adopt: concat!("a std ", $kind),
            nonblocking: "operations return",
            try_clone: "A second handle (a `dup` of the fd), with this one's timeouts and \
                non-blocking setting; later changes are per handle.",
            debug: { $($debug)* },
        }

        impl $ty {
            /// The connected peer's address.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.io.get()?.peer_addr()
            }

            #[doc = concat!("Fail ", $reads, " that wait longer than `d` with `TimedOut`")]
            /// (`None`: wait forever). A zero duration is an `InvalidInput` error,
            /// as in std.
            pub fn set_read_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
                self.io.set_read_timeout(d)
            }

            #[doc = concat!("Fail ", $writes, " that wait longer than `d` with `TimedOut`")]
            /// (`None`: wait forever). A zero duration is an `InvalidInput` error,
            /// as in std.
            pub fn set_write_timeout(&self, d: Option<std::time::Duration>) -> std::io::Result<()> {
                self.io.set_write_timeout(d)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.read_timeout())
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.write_timeout())
            }

            #[doc = concat!("Turn back into a std ", $kind, " (blocking unless")]
            /// `set_nonblocking(true)` was called, with the same timeouts),
            /// unregistered from the hub, so it can move to another thread.
            pub fn into_std(self) -> std::io::Result<$std> {
                let (r, w) = (self.io.read_timeout(), self.io.write_timeout());
                let s = self.io.into_inner();
                s.set_read_timeout(r)?;
                s.set_write_timeout(w)?;
                Ok(s)
            }
        }
    };
}

/// Methods and traits of connected byte streams: `shutdown`, a `close` that
/// lets the peer see EOF, and `Read`/`Write` for `T` and `&T` (so several
/// coroutines can share one stream by reference).
macro_rules! byte_stream {
    ($ty:ident) => {
        impl $ty {
            /// Shut down the read, write or both halves (the peer sees EOF on
            /// `Write`/`Both`).
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.io.get()?.shutdown(how)
            }

            /// Close the stream now, even while other coroutines use it: they
            /// wake with an error (`NotConnected`), and every later operation
            /// fails. The peer sees EOF. The fd itself is released on drop.
            pub fn close(&self) {
                if !self.io.is_closed() {
                    let _ = self.io.raw().shutdown(std::net::Shutdown::Both);
                }
                self.io.close();
            }
        }

        $crate::net::impls::byte_stream!(@io $ty);
        $crate::net::impls::byte_stream!(@io &$ty);
    };
    (@io $self_ty:ty) => {
        impl std::io::Read for $self_ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.io.stream_read(buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.io.stream_read_vectored(bufs)
            }
        }

        impl std::io::Write for $self_ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.io.stream_write(buf)
            }
            fn write_vectored(
                &mut self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                self.io.stream_write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                // Nothing is buffered: every write went to the kernel.
                Ok(())
            }
        }
    };
}

/// Everything of a listening socket: the `green_socket!` part, `incoming`
/// with its iterator type `$incoming` (over `$stream`s), and `into_std`.
/// `debug` as in `green_socket!`.
macro_rules! listener {
    (
        $ty:ident($std:ty),
        addr: $addr:ty,
        accepts: $stream:ident,
        incoming: $incoming:ident,
        debug: { $($debug:tt)* } $(,)?
    ) => {
        $crate::net::impls::green_socket! {
            $ty($std),
            addr: $addr,
            adopt: "a std listener",
            nonblocking: "`accept` returns",
            try_clone: "A second handle (a `dup` of the fd). Both share the file's non-blocking \
                flag: hand a clone to std with `into_std` only if no green handle will `accept` \
                on it afterwards (std's blocking mode would make that `accept` block the thread).",
            debug: { $($debug)* },
        }

        impl $ty {
            /// An endless iterator over accepted connections.
            pub fn incoming(&self) -> $incoming<'_> {
                $incoming { listener: self }
            }

            /// Turn back into a std listener, unregistered from the hub.
            pub fn into_std(self) -> $std {
                self.io.into_inner()
            }
        }

        #[doc = concat!("Iterator returned by [`", stringify!($ty), "::incoming`];")]
        /// never yields `None`.
        #[derive(Debug)]
        pub struct $incoming<'a> {
            listener: &'a $ty,
        }

        impl Iterator for $incoming<'_> {
            type Item = std::io::Result<$stream>;
            fn next(&mut self) -> Option<std::io::Result<$stream>> {
                Some(self.listener.accept().map(|(s, _)| s))
            }
        }
    };
}

/// `ttl`/`set_ttl` of IP sockets; `set_doc` documents the setter.
macro_rules! ip_ttl {
    ($ty:ident, set_doc: $set_doc:literal $(,)?) => {
        impl $ty {
            #[doc = $set_doc]
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                self.io.get()?.set_ttl(ttl)
            }

            /// The IP time-to-live.
            pub fn ttl(&self) -> std::io::Result<u32> {
                self.io.get()?.ttl()
            }
        }
    };
}

pub(super) use {byte_stream, data_socket, green_socket, ip_ttl, listener};
