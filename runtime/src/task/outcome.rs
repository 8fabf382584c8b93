//! What a task ends with: its type-erased output, or why it has none
//! (`JoinError`). Plain data: no parking, no scheduler.

use std::any::Any;
use std::fmt;

/// What the user's closure returns, type-erased. `Box<()>` does not allocate.
pub(crate) type Output = Box<dyn Any>;

/// Why a coroutine did not produce its value.
pub enum JoinError {
    /// It panicked; this is the panic payload.
    Panicked(Box<dyn Any + Send>),
    /// It was killed (before or while running).
    Killed,
}

impl JoinError {
    /// True for `Killed`.
    pub fn is_killed(&self) -> bool {
        matches!(self, JoinError::Killed)
    }

    /// The panic message, if the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => payload_text(&**p),
            JoinError::Killed => None,
        }
    }
}

/// A panic payload's message, if it is a string (`panic!` makes a `&str`
/// or a `String`).
pub(crate) fn payload_text(p: &(dyn std::any::Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "Panicked({m:?})"),
                None => f.write_str("Panicked(..)"),
            },
            JoinError::Killed => f.write_str("Killed"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "coroutine panicked: {m}"),
                None => f.write_str("coroutine panicked"),
            },
            JoinError::Killed => f.write_str("coroutine was killed"),
        }
    }
}

impl std::error::Error for JoinError {}
