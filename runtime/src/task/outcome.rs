//! What a task ends with: its type-erased output, or why it has none
//! (`JoinError`, and for a panic the `Panic` it left). Plain data: no
//! parking, no scheduler.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;

/// What the user's closure returns, type-erased. `Box<()>` does not allocate.
pub(crate) type Output = Box<dyn Any>;

/// Why a coroutine did not produce its value: it panicked, or it was
/// killed.
///
/// `JoinError` is `Send + Sync + 'static` and implements
/// [`Error`](std::error::Error), so `?` carries it into
/// `Box<dyn Error + Send + Sync>`, `anyhow::Error` and the like. A panic
/// keeps its message and where it happened (`file:line:column`), and its
/// `Display` shows both, as a thread's panic message does:
///
/// ```
/// use std::error::Error;
///
/// fn run() -> Result<u32, Box<dyn Error + Send + Sync>> {
///     let h = green::spawn(|| -> u32 { panic!("no luck") });
///     Ok(h.join()?)
/// }
///
/// let e = run().unwrap_err();
/// let text = e.to_string(); // "coroutine panicked at src/main.rs:5:38: no luck"
/// assert!(text.starts_with("coroutine panicked at "), "{text}");
/// assert!(text.ends_with(": no luck"), "{text}");
/// ```
///
/// Telling the two cases apart, and re-raising a panic in the caller:
///
/// ```
/// use green::JoinError;
///
/// let h = green::spawn(|| panic!("boom"));
/// match h.join() {
///     Ok(()) => unreachable!(),
///     Err(JoinError::Panicked(p)) => {
///         assert_eq!(p.message(), Some("boom"));
///         assert!(p.location().is_some_and(|l| l.contains(".rs:")));
///         // p.resume_unwind() would raise it again here.
///     }
///     Err(JoinError::Killed) => unreachable!(),
/// }
/// ```
pub enum JoinError {
    /// It panicked; the [`Panic`] holds the payload, message and location.
    Panicked(Panic),
    /// It was killed (before or while running) with
    /// [`JoinHandle::kill`](crate::join::JoinHandle::kill) or a pool's `kill`.
    Killed,
}

impl JoinError {
    /// True for [`Killed`](JoinError::Killed).
    pub fn is_killed(&self) -> bool {
        matches!(self, JoinError::Killed)
    }

    /// True for [`Panicked`](JoinError::Panicked).
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic message, if the coroutine panicked with a string payload
    /// (what `panic!` makes).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => p.message(),
            JoinError::Killed => None,
        }
    }

    /// Where the coroutine panicked, as `file:line:column`, if it
    /// panicked and the location is known (see [`Panic::location`]).
    pub fn panic_location(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => p.location(),
            JoinError::Killed => None,
        }
    }
}

/// What a coroutine's panic left behind: its payload, its message and
/// where it happened.
///
/// Found in [`JoinError::Panicked`]. `Send + Sync` whatever the payload:
/// the payload (which need only be `Send`) is reachable through `&mut self`
/// or by value, never through a shared reference, so sharing a `Panic`
/// between threads cannot expose it; the message and location are copied
/// out when the coroutine ends.
pub struct Panic(Box<PanicData>);

struct PanicData {
    payload: Exclusive<Box<dyn Any + Send>>,
    /// The payload's text, when it is a string.
    message: Option<Cow<'static, str>>,
    /// `file:line:column` of the `panic!`, recorded by the runtime's panic
    /// hook.
    location: Option<String>,
}

impl Panic {
    /// A panic of a coroutine whose payload is `payload`, raised at
    /// `location` (if known).
    pub(crate) fn new(payload: Box<dyn Any + Send>, location: Option<String>) -> Panic {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some(Cow::Borrowed(*s))
        } else {
            payload
                .downcast_ref::<String>()
                .map(|s| Cow::Owned(s.clone()))
        };
        Panic(Box::new(PanicData {
            payload: Exclusive(payload),
            message,
            location,
        }))
    }

    /// The panic message, if the payload is a string (`panic!` with a
    /// message makes a `&'static str` or a `String`; `panic_any` may carry
    /// any type).
    pub fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// Where the panic was raised, as `file:line:column` (the form a
    /// thread's panic message shows).
    ///
    /// `None` when the runtime could not see it: a payload re-raised with
    /// `std::panic::resume_unwind` (which bypasses panic hooks), or a
    /// program that replaced the panic hook after the thread's first
    /// coroutine started, without calling the previous one.
    pub fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }

    /// The payload, to downcast (`downcast_mut::<MyError>()`).
    pub fn payload_mut(&mut self) -> &mut (dyn Any + Send) {
        &mut *self.0.payload.0
    }

    /// The payload, as `std::panic::catch_unwind` would have returned it.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.0.payload.0
    }

    // `resume_unwind` is in `join.rs`: raising goes through the scheduler.
}

/// A value reachable only through `&mut self` or by value: a shared
/// reference to the wrapper reveals nothing of it, so the wrapper may be
/// `Sync` while the value is only `Send` (a panic payload).
struct Exclusive<T>(T);

// SAFETY: no code reaches the inner value through `&Exclusive` (the field
// is private to this module, and only `Panic::payload_mut` and
// `Panic::into_payload`, which take `&mut self` or `self`, touch it), so a
// shared reference handed to another thread can do nothing with it; moving
// it is governed by `T: Send`, the auto `Send` impl.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Panic");
        if let Some(m) = self.message() {
            d.field("message", &m);
        }
        if let Some(l) = self.location() {
            d.field("location", &l);
        }
        d.finish_non_exhaustive()
    }
}

impl fmt::Display for Panic {
    /// `panicked at src/main.rs:3:5: boom`; parts that are unknown are
    /// left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("panicked")?;
        if let Some(l) = self.location() {
            write!(f, " at {l}")?;
        }
        if let Some(m) = self.message() {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            JoinError::Killed => f.write_str("Killed"),
        }
    }
}

impl fmt::Display for JoinError {
    /// `coroutine panicked at src/main.rs:3:5: boom`, or
    /// `coroutine was killed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => write!(f, "coroutine {p}"),
            JoinError::Killed => f.write_str("coroutine was killed"),
        }
    }
}

impl std::error::Error for JoinError {}

/// A panic payload's message, if it is a string (`panic!` makes a `&str`
/// or a `String`).
pub(crate) fn payload_text(p: &(dyn std::any::Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    // `?` into `Box<dyn Error + Send + Sync>` (and anyhow) needs all four.
    const _: fn() = || {
        fn error_send_sync_static<E: std::error::Error + Send + Sync + 'static>() {}
        error_send_sync_static::<JoinError>();
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Panic>();
    };

    #[test]
    fn display_and_debug_show_message_and_location() {
        let e = JoinError::Panicked(Panic::new(Box::new("boom"), Some("src/a.rs:3:5".into())));
        assert_eq!(e.to_string(), "coroutine panicked at src/a.rs:3:5: boom");
        assert_eq!(
            format!("{e:?}"),
            r#"Panicked(Panic { message: "boom", location: "src/a.rs:3:5", .. })"#
        );
        assert_eq!(e.panic_message(), Some("boom"));
        assert_eq!(e.panic_location(), Some("src/a.rs:3:5"));
        assert!(e.is_panic() && !e.is_killed());

        let e = JoinError::Panicked(Panic::new(Box::new(7u8), None));
        assert_eq!(e.to_string(), "coroutine panicked");
        assert_eq!(format!("{e:?}"), "Panicked(Panic { .. })");

        let e = JoinError::Killed;
        assert_eq!(e.to_string(), "coroutine was killed");
        assert_eq!(format!("{e:?}"), "Killed");
        assert_eq!(e.panic_location(), None);
    }

    #[test]
    fn the_payload_survives_for_downcasting_and_resuming() {
        let mut p = Panic::new(Box::new(String::from("owned")), None);
        assert_eq!(p.message(), Some("owned"));
        assert!(p.payload_mut().downcast_mut::<String>().is_some());
        let b = p.into_payload();
        assert_eq!(
            b.downcast_ref::<String>().map(String::as_str),
            Some("owned")
        );
    }
}
