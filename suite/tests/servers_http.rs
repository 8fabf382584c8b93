//! Blocking HTTP clients, unmodified, are cooperative after
//! `green::monkey::patch_all()`: libcurl through the `curl` crate's easy
//! `perform`, `ureq` over plain TCP, and `ureq` over TLS (rustls), each
//! with 20 coroutines on one thread against a local server that answers
//! after 0.3 s (0.5 s over TLS), finish in the time of one request while a ticking coroutine
//! keeps running. The servers run in plain threads (outside any hub).

#[path = "common/servers.rs"]
mod servers;

use std::sync::Arc;
use std::time::Duration;

use servers::{concurrently, report, serial_estimate, SlowHttp};

const N: usize = 20;
const DELAY: Duration = Duration::from_millis(300);

/// The server's delay for TLS: longer, so a stalled hub (a gap of at least
/// one delay) stays far above the gap the handshakes' CPU work makes.
const TLS_DELAY: Duration = Duration::from_millis(500);

/// Check the wall time against N x `delay` and the ticker's largest gap
/// against `max_gap`.
fn check(
    what: &str,
    delay: Duration,
    wall: Duration,
    serial: Duration,
    gap: Duration,
    max_gap: Duration,
) {
    report(what, N, wall, serial, gap);
    let bound = delay * N as u32 / 3;
    assert!(
        wall < bound,
        "{what}: {N} requests took {wall:?}: not concurrent"
    );
    assert!(gap < max_gap, "{what}: hub stalled {gap:?}");
}

fn curl_get(url: &str) -> String {
    let mut e = curl::easy::Easy::new();
    e.url(url).expect("url");
    e.timeout(Duration::from_secs(20)).expect("timeout");
    let mut body = Vec::new();
    {
        let mut t = e.transfer();
        t.write_function(|d| {
            body.extend_from_slice(d);
            Ok(d.len())
        })
        .expect("write function");
        t.perform().expect("curl perform");
    }
    assert_eq!(e.response_code().expect("status"), 200);
    String::from_utf8(body).expect("utf-8 body")
}

#[test]
fn curl_easy_perform_in_many_coroutines() {
    let server = SlowHttp::start(DELAY, "hello from curl");
    green::monkey::patch_all();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let u = url.clone();
    let (got, wall, gap) = concurrently(N, move |_| curl_get(&u));
    assert!(got.iter().all(|b| b == "hello from curl"), "{got:?}");
    let serial = serial_estimate(N, move |_| assert_eq!(curl_get(&url), "hello from curl"));
    check(
        "curl easy perform",
        DELAY,
        wall,
        serial,
        gap,
        Duration::from_millis(100),
    );
}

fn ureq_get(agent: &ureq::Agent, url: &str) -> String {
    agent
        .get(url)
        .timeout(Duration::from_secs(20))
        .call()
        .expect("ureq call")
        .into_string()
        .expect("body")
}

#[test]
fn ureq_in_many_coroutines() {
    let server = SlowHttp::start(DELAY, "hello from ureq");
    green::monkey::patch_all();
    let url = format!("http://127.0.0.1:{}/", server.port);
    let agent = ureq::AgentBuilder::new().build();
    let (a, u) = (agent.clone(), url.clone());
    let (got, wall, gap) = concurrently(N, move |_| ureq_get(&a, &u));
    assert!(got.iter().all(|b| b == "hello from ureq"), "{got:?}");
    let serial = serial_estimate(N, move |_| {
        assert_eq!(ureq_get(&agent, &url), "hello from ureq")
    });
    check("ureq", DELAY, wall, serial, gap, Duration::from_millis(100));
}

#[test]
fn ureq_over_tls_in_many_coroutines() {
    let server = SlowHttp::start_tls(TLS_DELAY, "hello over tls");
    green::monkey::patch_all();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            server
                .cert_der
                .clone()
                .expect("TLS server has a certificate"),
        ))
        .expect("trust the test certificate");
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let agent = ureq::AgentBuilder::new().tls_config(Arc::new(tls)).build();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let (a, u) = (agent.clone(), url.clone());
    let (got, wall, gap) = concurrently(N, move |_| ureq_get(&a, &u));
    assert!(got.iter().all(|b| b == "hello over tls"), "{got:?}");
    let serial = serial_estimate(N, move |_| {
        assert_eq!(ureq_get(&agent, &url), "hello over tls")
    });
    // The 20 handshakes are CPU work between waits (unoptimised crypto in
    // debug builds): a pass over them can take tens of ms. A hub blocked in
    // a request would stall for the server's whole delay.
    check(
        "ureq over TLS (rustls)",
        TLS_DELAY,
        wall,
        serial,
        gap,
        Duration::from_millis(250),
    );
}

#[test]
fn ureq_over_tls_rejects_an_untrusted_certificate() {
    // The TLS path is real: without the test certificate in its roots the
    // client refuses the server, from a coroutine, without hanging.
    let server = SlowHttp::start_tls(Duration::ZERO, "never read");
    green::monkey::patch_all();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let agent = ureq::AgentBuilder::new().tls_config(Arc::new(tls)).build();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let e = green::spawn(
        move || match agent.get(&url).timeout(Duration::from_secs(20)).call() {
            Ok(_) => panic!("an untrusted certificate must be refused"),
            Err(e) => e.to_string(),
        },
    )
    .join()
    .expect("coroutine");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}
