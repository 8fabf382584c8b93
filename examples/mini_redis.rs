//! A Redis-protocol server subset on `green::net`: one coroutine per
//! connection on one hub, the data in an `Rc<RefCell<..>>` that every
//! connection's coroutine shares (no locks: they all run on one thread),
//! pipelined commands answered in order with one write per batch.
//!
//! ```text
//! cargo run --release --example mini_redis -- --port 6380
//! redis-benchmark -p 6380 -t ping,set,get,incr,lpush,lpop -q
//! redis-cli -p 6380 set greeting hello
//! ```
//!
//! Options: `--port P` (default 6380; 0 picks a free port), `--seconds S`
//! (stop after S seconds; without it, serve until Ctrl-C or SIGTERM, then
//! close every connection and exit). The first line printed is
//! `mini_redis listening on ADDR`.
//!
//! What it speaks: RESP2 requests (arrays of bulk strings, and inline
//! commands such as `PING\r\n` typed into telnet), replies as
//! redis-server 7 gives them, protocol errors answered as redis-server
//! answers them (the error, then the connection closes) and declared
//! lengths never trusted for allocation: a `$2000000000` bulk header costs
//! nothing until the bytes arrive, and a length over redis' own limit
//! (512 MB) is refused. Commands: `PING`, `ECHO`, `SET` (no options), `GET`,
//! `INCR`, `DECR`, `INCRBY`, `DEL`, `EXISTS`, `LPUSH`, `RPUSH`, `LPOP`,
//! `RPOP` (with an optional count), `LLEN`, `LRANGE`, `DBSIZE`,
//! `FLUSHALL`, `FLUSHDB`, `SELECT 0`, `CONFIG GET` (what redis-benchmark
//! asks at start), `COMMAND` (what redis-cli asks at start) and `QUIT`.
//!
//! The protocol part ([`Session`], [`Store`]) is plain code over byte
//! buffers, so the benchmark in the test suite runs the very same code on
//! tokio for comparison.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// redis' `proto-max-bulk-len`: a longer bulk string is a protocol error.
pub const MAX_BULK: i64 = 512 * 1024 * 1024;

/// redis' limit for a line without its `\r\n` (inline commands, length
/// headers): past it, the request is refused.
pub const MAX_INLINE: usize = 64 * 1024;

/// A stored value: a string or a list, as in redis.
enum Value {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
}

/// The keyspace every connection of one server shares.
#[derive(Default)]
pub struct Store {
    map: HashMap<Vec<u8>, Value>,
}

/// The store as connections hold it: shared, on one thread.
pub type Shared = Rc<RefCell<Store>>;

/// What to do with the connection after a batch of input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Keep reading commands.
    KeepOpen,
    /// Send what is in `out`, then close (`QUIT`, or a protocol error).
    Close,
}

/// One connection's protocol state: the input with any partial command,
/// and the replies to send.
pub struct Session {
    store: Shared,
    buf: Vec<u8>,
    len: usize,
    /// Bytes the partial command at the front needs before parsing it
    /// again is worth it (a long bulk string arrives in many reads).
    need: usize,
    /// Replies produced by the last `filled`, to be written in one go.
    pub out: Vec<u8>,
}

/// The outcome of parsing at one position.
enum Parse {
    /// A command (possibly empty: redis ignores `*0` and blank inline
    /// lines) and the bytes it used.
    Command(Vec<Vec<u8>>, usize),
    /// Not complete yet; at least this many bytes (from the command's
    /// start) are needed.
    Partial(usize),
    /// A protocol error: the message redis sends before closing.
    Error(String),
}

impl Session {
    /// A fresh connection on `store`.
    pub fn new(store: Shared) -> Session {
        Session {
            store,
            buf: vec![0; 4096],
            len: 0,
            need: 0,
            out: Vec::with_capacity(4096),
        }
    }

    /// Where the next read goes (never empty: the buffer doubles when
    /// full, so a long value arrives in a few reads).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.len == self.buf.len() {
            let n = (self.buf.len() * 2).max(self.need.min(self.len * 4));
            self.buf.resize(n, 0);
        }
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into `spare()`: answer every complete command
    /// now in the buffer (appending to `out`) and keep the rest.
    pub fn filled(&mut self, n: usize) -> Next {
        self.len += n;
        if self.len < self.need {
            return Next::KeepOpen;
        }
        let mut pos = 0;
        let mut next = Next::KeepOpen;
        self.need = 0;
        while pos < self.len {
            match parse(&self.buf[pos..self.len]) {
                Parse::Command(args, used) => {
                    pos += used;
                    if !args.is_empty() && self.execute(&args) == Next::Close {
                        next = Next::Close;
                        break;
                    }
                }
                Parse::Partial(need) => {
                    // Counted from the command's start, which the
                    // compaction below moves to the buffer's start.
                    self.need = need;
                    break;
                }
                Parse::Error(msg) => {
                    error(&mut self.out, &msg);
                    next = Next::Close;
                    break;
                }
            }
        }
        if pos > 0 {
            self.buf.copy_within(pos..self.len, 0);
            self.len -= pos;
        }
        if self.buf.len() > 64 * 1024 && self.len < 4096 {
            // A long value passed through: give the memory back.
            self.buf.truncate(4096);
            self.buf.shrink_to_fit();
        }
        next
    }

    /// Run one command, appending its reply.
    fn execute(&mut self, args: &[Vec<u8>]) -> Next {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let out = &mut self.out;
        let Some(arity) = arity(&name) else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&args[0])
            );
            for a in &args[1..] {
                msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
            }
            error(out, &msg);
            return Next::KeepOpen;
        };
        let n = args.len() as i64;
        if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
            error(
                out,
                &format!("ERR wrong number of arguments for '{name}' command"),
            );
            return Next::KeepOpen;
        }
        let mut store = self.store.borrow_mut();
        let map = &mut store.map;
        match name.as_str() {
            "ping" => match args.get(1) {
                Some(msg) => bulk(out, msg),
                None => out.extend_from_slice(b"+PONG\r\n"),
            },
            "echo" => bulk(out, &args[1]),
            "quit" => {
                out.extend_from_slice(b"+OK\r\n");
                return Next::Close;
            }
            "set" => {
                if args.len() > 3 {
                    error(out, "ERR syntax error");
                } else {
                    map.insert(args[1].clone(), Value::Str(args[2].clone()));
                    out.extend_from_slice(b"+OK\r\n");
                }
            }
            "get" => match map.get(&args[1]) {
                None => out.extend_from_slice(b"$-1\r\n"),
                Some(Value::Str(v)) => bulk(out, v),
                Some(Value::List(_)) => wrong_type(out),
            },
            "incr" => incr_by(map, out, &args[1], Some(1)),
            "decr" => incr_by(map, out, &args[1], Some(-1)),
            "incrby" => incr_by(map, out, &args[1], int(&args[2])),
            "del" | "exists" => {
                let mut k = 0;
                for key in &args[1..] {
                    let hit = if name == "del" {
                        map.remove(key).is_some()
                    } else {
                        map.contains_key(key)
                    };
                    k += i64::from(hit);
                }
                integer(out, k);
            }
            "lpush" | "rpush" => {
                let list = match map
                    .entry(args[1].clone())
                    .or_insert_with(|| Value::List(VecDeque::new()))
                {
                    Value::List(l) => l,
                    Value::Str(_) => {
                        wrong_type(out);
                        return Next::KeepOpen;
                    }
                };
                for v in &args[2..] {
                    if name == "lpush" {
                        list.push_front(v.clone());
                    } else {
                        list.push_back(v.clone());
                    }
                }
                integer(out, list.len() as i64);
            }
            "lpop" | "rpop" => pop(map, out, &name, args),
            "llen" => match map.get(&args[1]) {
                None => integer(out, 0),
                Some(Value::List(l)) => integer(out, l.len() as i64),
                Some(Value::Str(_)) => wrong_type(out),
            },
            "lrange" => match (int(&args[2]), int(&args[3])) {
                (Some(start), Some(stop)) => match map.get(&args[1]) {
                    None => out.extend_from_slice(b"*0\r\n"),
                    Some(Value::List(l)) => {
                        // redis' rules: negative indexes count from the
                        // end; the range is clamped to the list.
                        let len = l.len() as i64;
                        let a = if start < 0 {
                            (len + start).max(0)
                        } else {
                            start
                        };
                        let b = if stop < 0 {
                            len + stop
                        } else {
                            stop.min(len - 1)
                        };
                        if a > b || a >= len {
                            out.extend_from_slice(b"*0\r\n");
                        } else {
                            array_header(out, (b - a + 1) as usize);
                            for v in l.range(a as usize..=b as usize) {
                                bulk(out, v);
                            }
                        }
                    }
                    Some(Value::Str(_)) => wrong_type(out),
                },
                _ => error(out, "ERR value is not an integer or out of range"),
            },
            "dbsize" => integer(out, map.len() as i64),
            "flushall" | "flushdb" => {
                map.clear();
                out.extend_from_slice(b"+OK\r\n");
            }
            "select" => match int(&args[1]) {
                Some(0) => out.extend_from_slice(b"+OK\r\n"),
                Some(_) => error(out, "ERR DB index is out of range"),
                None => error(out, "ERR value is not an integer or out of range"),
            },
            "config" => {
                let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
                if sub == "get" && args.len() == 3 {
                    // What redis-benchmark asks before it starts.
                    let value: Option<&[u8]> = match args[2].to_ascii_lowercase().as_slice() {
                        b"save" => Some(b""),
                        b"appendonly" => Some(b"no"),
                        _ => None,
                    };
                    match value {
                        Some(v) => {
                            array_header(out, 2);
                            bulk(out, &args[2]);
                            bulk(out, v);
                        }
                        None => out.extend_from_slice(b"*0\r\n"),
                    }
                } else {
                    error(
                        out,
                        &format!(
                            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                            String::from_utf8_lossy(&args[1])
                        ),
                    );
                }
            }
            // redis-cli asks for the command table at start; an empty one
            // only turns its hints off.
            "command" => out.extend_from_slice(b"*0\r\n"),
            _ => unreachable!("every name with an arity is handled"),
        }
        Next::KeepOpen
    }
}

/// The arity of a known command, redis-style: `n` exactly n arguments
/// (the name included), `-n` at least n.
fn arity(name: &str) -> Option<i64> {
    Some(match name {
        "ping" => -1,
        "echo" => 2,
        "quit" => -1,
        "set" => -3,
        "get" => 2,
        "incr" | "decr" => 2,
        "incrby" => 3,
        "del" | "exists" => -2,
        "lpush" | "rpush" => -3,
        "lpop" | "rpop" => -2,
        "llen" => 2,
        "lrange" => 4,
        "dbsize" => 1,
        "flushall" | "flushdb" => -1,
        "select" => 2,
        "config" => -2,
        "command" => -1,
        _ => return None,
    })
}

/// `INCR`, `DECR`, `INCRBY`: `by` is `None` when the increment itself was
/// not an integer.
fn incr_by(map: &mut HashMap<Vec<u8>, Value>, out: &mut Vec<u8>, key: &[u8], by: Option<i64>) {
    let Some(by) = by else {
        return error(out, "ERR value is not an integer or out of range");
    };
    let old = match map.get(key) {
        None => 0,
        Some(Value::Str(v)) => match int(v) {
            Some(n) => n,
            None => return error(out, "ERR value is not an integer or out of range"),
        },
        Some(Value::List(_)) => return wrong_type(out),
    };
    let Some(new) = old.checked_add(by) else {
        return error(out, "ERR increment or decrement would overflow");
    };
    map.insert(key.to_vec(), Value::Str(new.to_string().into_bytes()));
    integer(out, new);
}

/// `LPOP key [count]` / `RPOP key [count]`.
fn pop(map: &mut HashMap<Vec<u8>, Value>, out: &mut Vec<u8>, name: &str, args: &[Vec<u8>]) {
    if args.len() > 3 {
        return error(
            out,
            &format!("ERR wrong number of arguments for '{name}' command"),
        );
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match int(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return error(out, "ERR value is out of range, must be positive"),
        },
    };
    let list = match map.get_mut(&args[1]) {
        None => {
            // A missing key: a nil, or a nil array when a count was given.
            out.extend_from_slice(if count.is_some() {
                b"*-1\r\n"
            } else {
                b"$-1\r\n"
            });
            return;
        }
        Some(Value::Str(_)) => return wrong_type(out),
        Some(Value::List(l)) => l,
    };
    let mut take = || {
        if name == "lpop" {
            list.pop_front()
        } else {
            list.pop_back()
        }
    };
    match count {
        None => match take() {
            Some(v) => bulk(out, &v),
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        Some(n) => {
            let items: Vec<Vec<u8>> = std::iter::from_fn(&mut take).take(n).collect();
            array_header(out, items.len());
            for v in &items {
                bulk(out, v);
            }
        }
    }
    if matches!(map.get(&args[1]), Some(Value::List(l)) if l.is_empty()) {
        // redis deletes a list when its last element goes.
        map.remove(&args[1]);
    }
}

/// A decimal integer as redis accepts it: no spaces, no `+`, no leading
/// zeros, fits an `i64`.
fn int(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || s == "-0"
    {
        return None;
    }
    s.parse().ok()
}

fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    out.extend_from_slice(msg.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn wrong_type(out: &mut Vec<u8>) {
    error(
        out,
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    );
}

fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(v.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

/// Where the `\r` of the first `\r\n`-terminated line of `b` is, if it has
/// a complete line.
fn line_end(b: &[u8]) -> Option<usize> {
    let cr = b.iter().position(|&c| c == b'\r')?;
    // redis looks for '\r' and then expects the '\n' right after it.
    (cr + 1 < b.len()).then_some(cr)
}

/// Parse one command at the start of `b`.
fn parse(b: &[u8]) -> Parse {
    if b[0] != b'*' {
        return parse_inline(b);
    }
    let Some(end) = line_end(b) else {
        if b.len() > MAX_INLINE {
            return Parse::Error("ERR Protocol error: too big mbulk count string".into());
        }
        return Parse::Partial(b.len() + 1);
    };
    let count = match int(&b[1..end]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Parse::Error("ERR Protocol error: invalid multibulk length".into()),
    };
    let mut pos = end + 2;
    if count <= 0 {
        return Parse::Command(Vec::new(), pos);
    }
    // Never trust the count for allocation: at most what the bytes at
    // hand could hold (each bulk takes at least 4 bytes, `$0\r\n`).
    let mut args = Vec::with_capacity((count as usize).min(b.len() / 4 + 1));
    for _ in 0..count {
        let rest = &b[pos..];
        if rest.is_empty() {
            return Parse::Partial(pos + 1);
        }
        let Some(end) = line_end(rest) else {
            if rest.len() > MAX_INLINE {
                return Parse::Error("ERR Protocol error: too big bulk count string".into());
            }
            return Parse::Partial(b.len() + 1);
        };
        if rest[0] != b'$' {
            return Parse::Error(format!(
                "ERR Protocol error: expected '$', got '{}'",
                rest[0] as char
            ));
        }
        let len = match int(&rest[1..end]) {
            Some(n) if (0..=MAX_BULK).contains(&n) => n as usize,
            _ => return Parse::Error("ERR Protocol error: invalid bulk length".into()),
        };
        let start = pos + end + 2;
        if b.len() < start + len + 2 {
            return Parse::Partial(start + len + 2);
        }
        args.push(b[start..start + len].to_vec());
        // redis skips the two bytes after the data without checking them.
        pos = start + len + 2;
    }
    Parse::Command(args, pos)
}

/// An inline command: one `\n`-terminated line of space-separated words.
fn parse_inline(b: &[u8]) -> Parse {
    let Some(nl) = b.iter().position(|&c| c == b'\n') else {
        if b.len() > MAX_INLINE {
            return Parse::Error("ERR Protocol error: too big inline request".into());
        }
        return Parse::Partial(b.len() + 1);
    };
    let mut line = &b[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut word = Vec::new();
        if line[i] == b'"' || line[i] == b'\'' {
            // Quoted words as redis-cli would send them by hand; escapes are
            // not interpreted.
            let q = line[i];
            i += 1;
            let Some(close) = line[i..].iter().position(|&c| c == q) else {
                return Parse::Error("ERR Protocol error: unbalanced quotes in request".into());
            };
            word.extend_from_slice(&line[i..i + close]);
            i += close + 1;
            if i < line.len() && !line[i].is_ascii_whitespace() {
                return Parse::Error("ERR Protocol error: unbalanced quotes in request".into());
            }
        } else {
            while i < line.len() && !line[i].is_ascii_whitespace() {
                word.push(line[i]);
                i += 1;
            }
        }
        args.push(word);
    }
    Parse::Command(args, nl + 1)
}

/// Serve one connection until the client closes it, quits, or breaks the
/// protocol. Works on any blocking-style stream: a `green::net::TcpStream`
/// here, a `std::net::TcpStream` in a test.
pub fn serve_conn<S: Read + Write>(mut s: S, store: Shared) {
    let mut session = Session::new(store);
    loop {
        let n = match s.read(session.spare()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let next = session.filled(n);
        if !session.out.is_empty() {
            if s.write_all(&session.out).is_err() {
                return;
            }
            session.out.clear();
            if session.out.capacity() > 1 << 20 {
                // A large reply (LRANGE of a long list) passed through.
                session.out.shrink_to(4096);
            }
        }
        if next == Next::Close {
            return;
        }
    }
}

/// Accept on `l` forever, one coroutine per connection, all sharing one
/// store. An accept error (e.g. out of fds) is reported, then the server
/// pauses briefly instead of spinning on it.
pub fn serve(l: green::net::TcpListener) {
    let store: Shared = Rc::default();
    loop {
        match l.accept() {
            Ok((conn, _)) => {
                let _ = conn.set_nodelay(true);
                let store = store.clone();
                green::spawn(move || serve_conn(conn, store));
            }
            Err(e) => {
                eprintln!("mini_redis: accept: {e}");
                green::sleep(Duration::from_millis(10));
            }
        }
    }
}

struct Args {
    port: u16,
    seconds: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 6380,
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--seconds" => {
                let s: f64 = value()?.parse().map_err(|e| format!("--seconds: {e}"))?;
                let d = Duration::try_from_secs_f64(s)
                    .map_err(|_| "--seconds must be a non-negative number of seconds")?;
                a.seconds = Some(d);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mini_redis: {e}\nusage: mini_redis [--port P] [--seconds S]");
            std::process::exit(2);
        }
    };
    let want = SocketAddr::from(([127, 0, 0, 1], args.port));
    let wait = args.seconds;
    // When the time is up, `run` kills the acceptor and every connection's
    // coroutine and lets them unwind (closing their sockets) before it
    // returns.
    let r = green::Runtime::new().run(move || {
        let l = match green::net::TcpListener::bind_reuseport(want) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mini_redis: cannot bind {want}: {e}");
                std::process::exit(1);
            }
        };
        println!("mini_redis listening on {}", l.local_addr().unwrap_or(want));
        let _ = std::io::stdout().flush();
        green::spawn(move || serve(l));
        match wait {
            Some(d) => green::sleep(d),
            None => {
                // Serve until Ctrl-C or SIGTERM. (Waiting on the signals
                // rather than sleeping in a loop also leaves no timer armed:
                // a hub with none skips a clock read per pass.)
                let stop = [libc::SIGINT, libc::SIGTERM].map(green::signal::Signal::new);
                match stop {
                    [Ok(int), Ok(term)] => {
                        green::wait(&[&int, &term], 1, None);
                        eprintln!("mini_redis: stopping");
                    }
                    [Err(e), _] | [_, Err(e)] => {
                        eprintln!("mini_redis: cannot watch for signals: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
    });
    if let Err(e) = r {
        eprintln!("mini_redis: {e}");
        std::process::exit(1);
    }
}
