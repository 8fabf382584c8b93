//! Building a small C file of the repository into a shared library with the
//! compiler the `cc` crate picks, and loading it (`dlopen`): the C library
//! test (`tests/monkey_clib.rs`) and the echo bench's C floor use it.
//! Included with `#[path]` by benches, through `common` by tests.

use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::process::Command;

/// A loaded library (never unloaded: its functions stay callable).
pub struct CLib(*mut libc::c_void);

impl CLib {
    /// Compile `src` (relative to the package root) into `so_name` in
    /// cargo's temporary directory for this target, and load it.
    pub fn build(src: &str, so_name: &str) -> CLib {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(src);
        let so = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(so_name);
        let target = if cfg!(target_arch = "aarch64") {
            "aarch64-unknown-linux-gnu"
        } else {
            "x86_64-unknown-linux-gnu"
        };
        let compiler = cc::Build::new()
            .cargo_metadata(false)
            .target(target)
            .host(target)
            .opt_level(2)
            .pic(true)
            .get_compiler();
        let status = Command::new(compiler.path())
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&so)
            .arg(&src)
            .status()
            .expect("run the C compiler");
        assert!(status.success(), "compiling {src:?} failed");
        let path = CString::new(so.to_str().expect("utf-8 path")).expect("no NUL in the path");
        // SAFETY: a valid NUL-terminated path; the libraries built here have
        // no constructors.
        let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!h.is_null(), "dlopen {so:?} failed");
        CLib(h)
    }

    /// The address of `name`; panics when it is missing.
    pub fn symbol(&self, name: &CStr) -> *mut libc::c_void {
        // SAFETY: a valid handle and NUL-terminated name.
        let p = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        assert!(!p.is_null(), "missing symbol {name:?}");
        p
    }
}
