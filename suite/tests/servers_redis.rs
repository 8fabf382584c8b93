//! The `redis` crate's blocking client, unmodified, is cooperative after
//! `green::monkey::patch_all()`: against a real `redis-server`, 100
//! coroutines on one thread each wait in `BLPOP` at once (the time of one
//! wait, not 100), values pushed by another coroutine meanwhile reach their
//! waiters, and 100 coroutines' `INCR`s interleave and all count. A ticking
//! coroutine shows the hub never stalls while they wait.

#[path = "common/servers.rs"]
mod servers;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use servers::{concurrently, redis, report, serial_estimate};

const N: usize = 100;
const WAIT_S: f64 = 0.3;

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("redis URL")
        .get_connection()
        .expect("connect to redis-server")
}

#[test]
fn blpop_in_many_coroutines_waits_once_and_gets_pushed_values() {
    let server = redis();
    green::monkey::patch_all();
    let port = server.port;
    // Even-numbered lists get a value pushed 100 ms into the wait; odd ones
    // time out. Each coroutine has its own connection.
    let pusher = green::spawn(move || {
        let mut c = connect(port);
        green::sleep(Duration::from_millis(100));
        for i in (0..N).step_by(2) {
            let _: i64 = redis::cmd("RPUSH")
                .arg(format!("q{i}"))
                .arg(format!("v{i}"))
                .query(&mut c)
                .expect("RPUSH");
        }
    });
    let (got, wall, gap) = concurrently(N, move |i| {
        let mut c = connect(port);
        redis::cmd("BLPOP")
            .arg(format!("q{i}"))
            .arg(WAIT_S)
            .query::<Option<(String, String)>>(&mut c)
            .expect("BLPOP")
    });
    pusher.join().expect("pusher");
    for (i, r) in got.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(r, &Some((format!("q{i}"), format!("v{i}"))), "list {i}");
        } else {
            assert_eq!(r, &None, "list {i} times out empty");
        }
    }
    let serial = serial_estimate(N, move |i| {
        let mut c = connect(port);
        let r: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(format!("empty{i}"))
            .arg(WAIT_S)
            .query(&mut c)
            .expect("BLPOP");
        assert_eq!(r, None);
    });
    report("redis BLPOP 0.3 s", N, wall, serial, gap);
    let bound = Duration::from_secs_f64(N as f64 * WAIT_S / 10.0);
    assert!(wall < bound, "{N} BLPOPs took {wall:?}: not concurrent");
    // Every coroutine is busy here, so a pass over the ready queue is the
    // ticker's gap; a hub stuck in one connection would stall for seconds.
    assert!(gap < Duration::from_millis(100), "hub stalled {gap:?}");
}

#[test]
fn incr_from_many_coroutines_counts_exactly_and_interleaves() {
    const EACH: usize = 200;
    let server = redis();
    green::monkey::patch_all();
    let port = server.port;
    // How many coroutines are between their first and last INCR at once:
    // with cooperative sockets every one waits for its replies while the
    // others send; with blocking ones each would run all its INCRs alone.
    let in_flight = Rc::new(Cell::new(0usize));
    let most = Rc::new(Cell::new(0usize));
    let (f, m) = (in_flight.clone(), most.clone());
    let (_, wall, gap) = concurrently(N, move |_| {
        let mut c = connect(port);
        f.set(f.get() + 1);
        m.set(m.get().max(f.get()));
        for _ in 0..EACH {
            let _: i64 = redis::cmd("INCR")
                .arg("counter")
                .query(&mut c)
                .expect("INCR");
        }
        f.set(f.get() - 1);
    });
    let total: i64 = redis::cmd("GET")
        .arg("counter")
        .query(&mut connect(port))
        .expect("GET");
    assert_eq!(total, (N * EACH) as i64, "every INCR counted once");
    assert!(
        most.get() > N / 2,
        "only {} of {N} coroutines were mid-way at once: the calls did not interleave",
        most.get()
    );
    let serial = serial_estimate(N, move |_| {
        let mut c = connect(port);
        for _ in 0..EACH {
            let _: i64 = redis::cmd("INCR")
                .arg("serial")
                .query(&mut c)
                .expect("INCR");
        }
    });
    report("redis INCR x 200 per coroutine", N, wall, serial, gap);
}
