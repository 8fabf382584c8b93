//! The older resolver entry points under `patch_all` — `gethostbyname`,
//! `gethostbyname_r`, `getnameinfo` — run on the blocking pool like
//! `getaddrinfo`: the thread stays free while a lookup waits, the answers
//! are libc's, and a kill while waiting is `ECANCELED`. Own binary: it sizes
//! the process-wide pool to one thread to make lookups wait, so it holds a
//! single test.

mod common;

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, CStr};
use std::rc::Rc;
use std::time::Duration;

use common::hang::watchdog;

extern "C" {
    fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
    fn gethostbyname_r(
        name: *const c_char,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
    fn getnameinfo(
        sa: *const libc::sockaddr,
        salen: libc::socklen_t,
        host: *mut c_char,
        hostlen: libc::socklen_t,
        serv: *mut c_char,
        servlen: libc::socklen_t,
        flags: c_int,
    ) -> c_int;
}

/// A `hostent` as plain data: name, aliases, address type and addresses.
type Host = (String, Vec<String>, c_int, Vec<Vec<u8>>);

/// # Safety
/// `he` is a valid `hostent` from the resolver.
unsafe fn host_of(he: *const libc::hostent) -> Host {
    // SAFETY: the caller's contract: NUL-terminated strings, null-terminated
    // arrays, `h_length`-byte addresses.
    unsafe {
        let he = &*he;
        let name = CStr::from_ptr(he.h_name).to_string_lossy().into_owned();
        let mut aliases = Vec::new();
        let mut p = he.h_aliases;
        while !(*p).is_null() {
            aliases.push(CStr::from_ptr(*p).to_string_lossy().into_owned());
            p = p.add(1);
        }
        let mut addrs = Vec::new();
        let mut p = he.h_addr_list;
        while !(*p).is_null() {
            addrs
                .push(std::slice::from_raw_parts((*p).cast::<u8>(), he.h_length as usize).to_vec());
            p = p.add(1);
        }
        (name, aliases, he.h_addrtype, addrs)
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `gethostbyname(name)`: the entry, or errno.
fn by_name(name: &CStr) -> Result<Host, c_int> {
    // SAFETY: a NUL-terminated name.
    let he = unsafe { gethostbyname(name.as_ptr()) };
    if he.is_null() {
        Err(errno())
    } else {
        // SAFETY: a non-null answer is a valid hostent.
        Ok(unsafe { host_of(he) })
    }
}

/// `gethostbyname_r(name)` with a `buflen`-byte buffer: the entry, or the
/// return code.
fn by_name_r(name: &CStr, buflen: usize) -> Result<Host, c_int> {
    // SAFETY: all-zero hostent is valid to overwrite.
    let mut he: libc::hostent = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as c_char; buflen];
    let mut result: *mut libc::hostent = std::ptr::null_mut();
    let mut herr = 0;
    // SAFETY: valid name, out-pointers and buffer.
    let r = unsafe {
        gethostbyname_r(
            name.as_ptr(),
            &mut he,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
            &mut herr,
        )
    };
    if r != 0 || result.is_null() {
        return Err(r);
    }
    // SAFETY: filled by a successful call.
    Ok(unsafe { host_of(result) })
}

/// `getnameinfo` for 127.0.0.1:port with `flags`: (host, service), or the
/// code and errno.
fn name_of(port: u16, flags: c_int) -> Result<(String, String), (c_int, c_int)> {
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut host = [0 as c_char; 256];
    let mut serv = [0 as c_char; 64];
    // SAFETY: a valid address and buffers of the sizes given.
    let r = unsafe {
        getnameinfo(
            (&raw const sa).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            serv.as_mut_ptr(),
            serv.len() as libc::socklen_t,
            flags,
        )
    };
    if r != 0 {
        return Err((r, errno()));
    }
    // SAFETY: both buffers hold NUL-terminated strings now.
    unsafe {
        Ok((
            CStr::from_ptr(host.as_ptr()).to_string_lossy().into_owned(),
            CStr::from_ptr(serv.as_ptr()).to_string_lossy().into_owned(),
        ))
    }
}

type Answers = (
    Result<Host, c_int>,
    Result<Host, c_int>,
    Result<Host, c_int>,
    Result<(String, String), (c_int, c_int)>,
);

fn all_lookups() -> Answers {
    (
        by_name(c"localhost"),
        by_name_r(c"localhost", 4096),
        by_name_r(c"localhost", 8),
        name_of(80, 0),
    )
}

/// Run `f` in a coroutine while the only pool thread is busy for 300 ms:
/// (f's result, whether it was still waiting when the ticker had ticked
/// ten times).
fn behind_a_busy_pool<T: 'static>(f: impl FnOnce() -> T + 'static) -> (T, bool) {
    let busy =
        green::spawn(|| green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300))));
    green::sleep(Duration::from_millis(10)); // the pool thread is taken
    let out = Rc::new(RefCell::new(None));
    let h = {
        let out = out.clone();
        green::spawn(move || *out.borrow_mut() = Some(f()))
    };
    let ticks = Rc::new(Cell::new(0));
    let t2 = ticks.clone();
    green::spawn(move || {
        for _ in 0..10 {
            green::sleep(Duration::from_millis(5));
            t2.set(t2.get() + 1);
        }
    })
    .join()
    .expect("ticker");
    let waited = !h.is_finished() && ticks.get() == 10;
    h.join().expect("lookup");
    busy.join().expect("busy");
    let r = out.borrow_mut().take().expect("result");
    (r, waited)
}

#[test]
fn older_lookups_wait_on_the_pool_give_libcs_answers_and_a_kill_is_ecanceled() {
    // Before anything starts the pool (this is the binary's only test).
    std::env::set_var("GREEN_BLOCKING_THREADS", "1");
    let plain = std::thread::spawn(all_lookups).join().expect("plain");
    assert!(
        plain.0.is_ok() && plain.3.is_ok(),
        "localhost resolves: {plain:?}"
    );
    assert_eq!(plain.2, Err(libc::ERANGE), "an 8-byte buffer is too small");
    watchdog(60, move || {
        green::monkey::patch_all();
        // Every answer is libc's, byte for byte.
        let (green_answers, waited) = behind_a_busy_pool(all_lookups);
        assert!(waited, "the lookups queued behind the busy pool thread");
        assert_eq!(green_answers, plain);
        assert_eq!(green_answers.1, plain.0, "the _r and plain forms agree");

        // An IP literal needs no lookup: answered inline, not queued.
        let (lit, waited) = behind_a_busy_pool(|| by_name(c"127.0.0.1"));
        assert!(!waited, "a literal never waits for the pool");
        assert_eq!(lit.expect("literal").3, vec![vec![127, 0, 0, 1]]);
        let (num, waited) =
            behind_a_busy_pool(|| name_of(80, libc::NI_NUMERICHOST | libc::NI_NUMERICSERV));
        assert!(!waited);
        assert_eq!(num, Ok(("127.0.0.1".into(), "80".into())));

        // Killed while queued: ECANCELED in each form.
        for which in 0..3 {
            let busy = green::spawn(|| {
                green::spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)))
            });
            green::sleep(Duration::from_millis(10));
            let seen = Rc::new(Cell::new((0, 0)));
            let h = {
                let seen = seen.clone();
                green::spawn(move || {
                    seen.set(match which {
                        0 => (by_name(c"localhost").err().unwrap_or(0), 0),
                        1 => (by_name_r(c"localhost", 4096).err().unwrap_or(0), errno()),
                        _ => name_of(80, 0).err().unwrap_or((0, 0)),
                    });
                    green::sleep(Duration::from_secs(10));
                })
            };
            green::sleep(Duration::from_millis(20));
            h.kill();
            assert!(matches!(h.join(), Err(green::JoinError::Killed)));
            let want = match which {
                0 => (libc::ECANCELED, 0),
                1 => (libc::ECANCELED, libc::ECANCELED),
                _ => (libc::EAI_SYSTEM, libc::ECANCELED),
            };
            assert_eq!(seen.get(), want, "form {which}");
            busy.join().expect("busy");
        }

        // gethostbyname's answer lives in storage of the calling thread: a
        // lookup on another thread does not overwrite it.
        let here = green::spawn(|| {
            // SAFETY: a NUL-terminated name.
            let p = unsafe { gethostbyname(c"localhost".as_ptr()) };
            assert!(!p.is_null());
            let other = std::thread::spawn(|| {
                green::spawn(|| by_name(c"ip6-localhost").or_else(|_| by_name(c"localhost")))
                    .join()
                    .expect("other")
            })
            .join()
            .expect("thread");
            assert!(other.is_ok());
            // SAFETY: still this thread's last answer.
            unsafe { host_of(p) }
        })
        .join()
        .expect("coroutine");
        assert_eq!(Ok(here), plain.0);
    });
}
