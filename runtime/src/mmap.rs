//! Anonymous memory mappings: the one place that calls `mmap` for the
//! runtime's own memory (stack regions, the task arena, signal stacks).
//!
//! Owns only the system call and its error; what the memory is for, and when
//! it is unmapped, belongs to the caller.

use std::io;
use std::ptr;

/// Map `len` bytes of private, anonymous, read-write memory and return its
/// address. `reserve_only` asks the kernel not to reserve swap for it
/// (`MAP_NORESERVE`): pages cost memory only once touched.
pub(crate) fn map_anonymous(len: usize, reserve_only: bool) -> io::Result<usize> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if reserve_only {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: an anonymous mapping with no address hint touches no existing
    // memory; the result is checked before anyone uses it.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as usize)
    }
}
