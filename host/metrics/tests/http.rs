//! The `/metrics` endpoint over real TCP on 127.0.0.1: routes, status codes, bounds on bad
//! clients, and the refresh callback.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrolb_metrics::{BgpPeerSample, CONTENT_TYPE, Limits, MessageCounts, Metrics, MetricsError, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

fn limits() -> Limits {
    Limits { read_timeout: Duration::from_millis(300), ..Limits::default() }
}

/// A server on 127.0.0.1:0 whose refresh callback counts its calls (and publishes the count as
/// a BGP keepalive counter, so a scrape shows whether it ran first).
async fn start(limits: Limits) -> (SocketAddr, Arc<Metrics>, Arc<AtomicU64>, JoinHandle<()>) {
    let metrics = Arc::new(Metrics::new());
    let calls = Arc::new(AtomicU64::new(0));
    let (m, c) = (metrics.clone(), calls.clone());
    let refresh = move || {
        let (m, c) = (m.clone(), c.clone());
        async move {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            m.set_bgp(vec![BgpPeerSample {
                peer: "192.0.2.1:179".into(),
                established: true,
                sent: MessageCounts { keepalives: n, ..MessageCounts::default() },
                ..BgpPeerSample::default()
            }]);
        }
    };
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), metrics.clone(), refresh).await.unwrap().with_limits(limits);
    let addr = server.local_addr();
    (addr, metrics, calls, tokio::spawn(server.run()))
}

/// Send `request`, then read until the server closes; bounded so a hung server fails the test.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("server did not close")
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn split(response: &str) -> (&str, Vec<(String, String)>, &str) {
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_ascii_lowercase(), v.to_owned())
        })
        .collect();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn get_metrics_is_200_with_the_exposition_text() {
    let (addr, metrics, _, server) = start(limits()).await;
    metrics.config_loaded();
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: node\r\nAccept: text/plain\r\n\r\n").await;
    let (status, headers, body) = split(&r);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(header(&headers, "content-type"), Some(CONTENT_TYPE));
    assert_eq!(header(&headers, "content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(header(&headers, "content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(header(&headers, "connection"), Some("close"));
    assert!(body.contains("frrk8s_bgp_session_up{peer=\"192.0.2.1:179\",vrf=\"default\"} 1\n"), "{body}");
    assert!(body.contains("ferrolb_config_stale 0\n"), "{body}");
    server.abort();
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let (addr, _, calls, server) = start(limits()).await;
    let r = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    let r = exchange(addr, b"GET /metricsx HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    let r = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").await;
    let (status, headers, _) = split(&r);
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(header(&headers, "allow"), Some("GET"));
    let r = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    // Only scrapes refresh.
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    server.abort();
}

#[tokio::test]
async fn garbage_and_oversized_requests_are_400_and_closed() {
    let (addr, _, calls, server) = start(limits()).await;
    let r = exchange(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").await; // a TLS ClientHello
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    let r = exchange(addr, b"HELLO\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    // A head that never ends, twice the limit: answered 400 once the limit is read.
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(2 * Limits::default().max_request_bytes, b'a');
    let r = exchange(addr, &big).await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    assert!(r.contains("Connection: close\r\n"), "{r}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    server.abort();
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_dropped_after_the_read_timeout() {
    let (addr, _, _, server) = start(limits()).await;
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.expect("not dropped").unwrap();
    let waited = started.elapsed();
    assert_eq!(n, 0, "nothing is said to a client that said nothing: {out:?}");
    assert!(waited >= Duration::from_millis(250), "dropped too early: {waited:?}");

    // One that stops halfway through its head gets a 408.
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost:").await;
    assert!(r.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{r}");
    server.abort();
}

#[tokio::test]
async fn refresh_runs_before_each_scrape() {
    let (addr, _, calls, server) = start(limits()).await;
    for n in 1..=3 {
        let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert_eq!(calls.load(Ordering::SeqCst), n);
        let line = format!("frrk8s_bgp_keepalives_sent{{peer=\"192.0.2.1:179\",vrf=\"default\"}} {n}\n");
        assert!(r.contains(&line), "scrape {n} does not show refresh {n}:\n{r}");
    }
    server.abort();
}

#[tokio::test]
async fn a_slow_refresh_does_not_hold_the_scrape() {
    let metrics = Arc::new(Metrics::new());
    let refresh = || async { tokio::time::sleep(Duration::from_secs(30)).await };
    let limits = Limits { refresh_timeout: Duration::from_millis(200), ..limits() };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), metrics, refresh).await.unwrap().with_limits(limits);
    let addr = server.local_addr();
    let server = tokio::spawn(server.run());
    let started = Instant::now();
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("ferrolb_metrics_refresh_timeouts_total 1\n"), "{r}");
    server.abort();
}

#[tokio::test]
async fn connections_are_bounded() {
    let limits = Limits { max_connections: 2, read_timeout: Duration::from_millis(500), ..Limits::default() };
    let (addr, _, _, server) = start(limits).await;
    // Two silent clients take both slots until the read timeout drops them.
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    let waited = started.elapsed();
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(waited >= Duration::from_millis(300), "a third connection was served at once: {waited:?}");
    server.abort();
}

#[tokio::test]
async fn an_address_in_use_is_an_error() {
    let (addr, _, _, server) = start(limits()).await;
    let err = ferrolb_metrics::serve(addr, Arc::new(Metrics::new()), || async {}).await.unwrap_err();
    assert!(matches!(err, MetricsError::Bind { addr: a, .. } if a == addr), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    server.abort();
}
