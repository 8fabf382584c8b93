//! libpq, PostgreSQL's C client library, unmodified and called through its
//! C API, is cooperative after `green::monkey::patch_all()`: against a real
//! PostgreSQL server, 20 coroutines on one thread each run
//! `SELECT pg_sleep(0.3)` on their own connection in the time of one, and a
//! ticking coroutine shows the hub never stalls (libpq waits in `poll`,
//! which the hooks park on).

#[path = "common/servers.rs"]
mod servers;

use std::ffi::{CStr, CString};
use std::time::Duration;

// libpq itself is built from source by `pq-sys` (feature
// `bundled_without_openssl`) and linked statically, so its calls to
// `poll`, `recv`, `send` bind to the hooks at link time.
use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQclear, PQconnectdb, PQerrorMessage, PQexec, PQfinish,
    PQgetvalue, PQntuples, PQresultStatus, PQstatus,
};

use servers::{concurrently, postgres, report, serial_estimate};

/// One libpq connection, closed on drop.
struct Conn(*mut PGconn);

impl Conn {
    fn open(port: u16) -> Conn {
        let info = CString::new(format!(
            "hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10"
        ))
        .expect("no NUL");
        // SAFETY: `info` is a NUL-terminated string; PQconnectdb returns a
        // connection object (possibly failed) or null on out-of-memory.
        let c = Conn(unsafe { PQconnectdb(info.as_ptr()) });
        assert!(!c.0.is_null(), "libpq out of memory");
        // SAFETY: a live connection object.
        if unsafe { PQstatus(c.0) } != ConnStatusType::CONNECTION_OK {
            panic!("libpq connect: {}", c.error());
        }
        c
    }

    fn error(&self) -> String {
        // SAFETY: a live connection; the message lives as long as it.
        unsafe { CStr::from_ptr(PQerrorMessage(self.0)) }
            .to_string_lossy()
            .into_owned()
    }

    /// Run `sql` and return the first column of the first row.
    fn query_one(&mut self, sql: &str) -> String {
        let q = CString::new(sql).expect("no NUL");
        // SAFETY: a live connection and a NUL-terminated query.
        let res = unsafe { PQexec(self.0, q.as_ptr()) };
        assert!(!res.is_null(), "PQexec: {}", self.error());
        // SAFETY: `res` is a live result until PQclear below.
        let out = unsafe {
            if PQresultStatus(res) != ExecStatusType::PGRES_TUPLES_OK || PQntuples(res) < 1 {
                None
            } else {
                Some(
                    CStr::from_ptr(PQgetvalue(res, 0, 0))
                        .to_string_lossy()
                        .into_owned(),
                )
            }
        };
        // SAFETY: cleared once.
        unsafe { PQclear(res) };
        out.unwrap_or_else(|| panic!("query {sql:?} failed: {}", self.error()))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: finished once.
        unsafe { PQfinish(self.0) };
    }
}

const N: usize = 20;

#[test]
fn libpq_queries_in_many_coroutines_wait_once() {
    let server = postgres();
    green::monkey::patch_all();
    let port = server.port;
    let query = move |i: usize| {
        let mut c = Conn::open(port);
        c.query_one(&format!("SELECT {i}::int FROM pg_sleep(0.3)"))
    };
    let (got, wall, gap) = concurrently(N, query);
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v, &i.to_string(), "each connection its own answer");
    }
    let serial = serial_estimate(N, move |i| assert_eq!(query(i), i.to_string()));
    report("libpq SELECT pg_sleep(0.3)", N, wall, serial, gap);
    let bound = Duration::from_secs_f64(N as f64 * 0.3 / 3.0);
    assert!(wall < bound, "{N} queries took {wall:?}: not concurrent");
    assert!(gap < Duration::from_millis(100), "hub stalled {gap:?}");
}
