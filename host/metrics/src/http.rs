//! The `/metrics` endpoint: a GET-only HTTP/1.1 responder on tokio.
//!
//! Hand-written rather than hyper: the endpoint answers one route with one method, one response
//! per connection (`Connection: close`; Prometheus opens a new connection per scrape when told
//! to), so all it needs is "read a request head, bounded in size and time, and answer". hyper +
//! hyper-util + http + http-body would add about a dozen crates to build on 2 shared cores for
//! no behaviour we use, and the bounds (head size, read/write timeouts, connection count) would
//! still be ours to set.
//!
//! What one client can cost is bounded by [`Limits`]: a request head larger than
//! `max_request_bytes` gets `400`, a client that sends nothing is dropped after `read_timeout`
//! (`408` if it sent part of a head), a client that does not read its answer is dropped after
//! `write_timeout`, and at most `max_connections` are served at once (the rest wait in the
//! kernel's backlog).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::Metrics;
use crate::text::CONTENT_TYPE;

/// Errors of the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr} for metrics: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Bounds on what one client can cost the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers) read; larger gets `400`.
    pub max_request_bytes: usize,
    /// Time a client has to send its whole request head.
    pub read_timeout: Duration,
    /// Time a client has to take the whole answer.
    pub write_timeout: Duration,
    /// Time the refresh callback gets before a scrape is answered with the previous snapshots.
    pub refresh_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_bytes: 8 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            refresh_timeout: Duration::from_secs(5),
            max_connections: 16,
        }
    }
}

/// What the refresh callback returns.
pub type RefreshFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Refresh = Arc<dyn Fn() -> RefreshFuture + Send + Sync>;

/// A bound, not yet running, metrics endpoint. [`serve`] is `bind` + `run`; the two steps exist
/// so a caller (a test) can learn the port of `127.0.0.1:0` and set [`Limits`].
pub struct Server {
    listener: TcpListener,
    metrics: Arc<Metrics>,
    refresh: Refresh,
    limits: Limits,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listener", &self.listener).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Server {
    /// Listen on `addr`. `refresh` is called before each `GET /metrics` is answered, to push fresh
    /// snapshots into `metrics` ([`Metrics::set_bgp`] and the like); it may be called by several
    /// scrapes at once, and is cancelled (dropped) when it takes longer than
    /// [`Limits::refresh_timeout`].
    pub async fn bind<R, F>(addr: SocketAddr, metrics: Arc<Metrics>, refresh: R) -> Result<Server, MetricsError>
    where
        R: Fn() -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await.map_err(|source| MetricsError::Bind { addr, source })?;
        let refresh: Refresh = Arc::new(move || Box::pin(refresh()) as RefreshFuture);
        Ok(Server { listener, metrics, refresh, limits: Limits::default() })
    }

    /// Replace the default [`Limits`].
    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has one; the fallback is never used.
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serve until the future is dropped (which also drops every open connection). Accept errors
    /// (e.g. out of file descriptors) are logged and retried after a short pause.
    pub async fn run(self) {
        let limits = Arc::new(self.limits);
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (metrics, refresh, limits) = (self.metrics.clone(), self.refresh.clone(), limits.clone());
            conns.spawn(async move {
                connection(stream, &metrics, &refresh, &limits).await;
                drop(slot);
            });
        }
    }
}

/// Serve `GET /metrics` on `addr` until the future is dropped; see [`Server::bind`] for `refresh`.
/// Errors only when `addr` cannot be listened on.
pub async fn serve<R, F>(addr: SocketAddr, metrics: Arc<Metrics>, refresh: R) -> Result<(), MetricsError>
where
    R: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    Server::bind(addr, metrics, refresh).await?.run().await;
    Ok(())
}

/// How reading a request head ended.
enum Head {
    /// The head is `buf[..len]` (terminator included).
    Complete(usize),
    /// `max_request_bytes` read without the end of the head.
    TooLarge,
    /// The client closed first.
    Closed,
}

/// What a parsed request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
    Bad,
}

async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Head> {
    let mut chunk = [0u8; 2048];
    loop {
        let room = max.saturating_sub(buf.len()).clamp(1, chunk.len());
        let n = stream.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[from..]) {
            return Ok(Head::Complete(from + end));
        }
        if buf.len() >= max {
            return Ok(Head::TooLarge);
        }
    }
}

/// The end of a request head (after `\r\n\r\n`, or `\n\n` from lenient clients), if present.
fn head_end(b: &[u8]) -> Option<usize> {
    (0..b.len()).find_map(|i| {
        if b[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if b[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn route(head: &[u8]) -> Route {
    let Ok(text) = std::str::from_utf8(head) else { return Route::Bad };
    let mut lines = text.lines();
    let Some(request_line) = lines.next() else { return Route::Bad };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Bad;
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Route::Bad;
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, _)) = line.split_once(':') else { return Route::Bad };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Route::Bad;
        }
    }
    // origin-form ("/metrics?x") or absolute-form ("http://host:port/metrics").
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if !path.starts_with('/') && path != "*" {
        return Route::Bad;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if path != "/metrics" {
        Route::NotFound
    } else if method != "GET" {
        Route::MethodNotAllowed
    } else {
        Route::Metrics
    }
}

fn response(status: &str, content_type: &str, extra: &str, body: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

fn plain(status: &str, extra: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", extra, &format!("{status}\n"))
}

async fn connection(mut stream: TcpStream, metrics: &Metrics, refresh: &Refresh, limits: &Limits) {
    let mut buf = Vec::with_capacity(1024);
    let read = timeout(limits.read_timeout, read_head(&mut stream, &mut buf, limits.max_request_bytes)).await;
    let answer = match read {
        Err(_) if buf.is_empty() => return,
        Err(_) => plain("408 Request Timeout", ""),
        Ok(Err(_)) | Ok(Ok(Head::Closed)) => return,
        Ok(Ok(Head::TooLarge)) => plain("400 Bad Request", ""),
        Ok(Ok(Head::Complete(len))) => match route(&buf[..len]) {
            Route::Metrics => {
                if timeout(limits.refresh_timeout, refresh()).await.is_err() {
                    tracing::warn!(
                        timeout_ms = limits.refresh_timeout.as_millis() as u64,
                        "metrics refresh took too long; answering with the previous snapshots"
                    );
                    metrics.refresh_timed_out();
                }
                response("200 OK", CONTENT_TYPE, "", &metrics.encode())
            }
            Route::NotFound => plain("404 Not Found", ""),
            Route::MethodNotAllowed => plain("405 Method Not Allowed", "Allow: GET\r\n"),
            Route::Bad => plain("400 Bad Request", ""),
        },
    };
    drop(buf);
    let write = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    };
    if !matches!(timeout(limits.write_timeout, write).await, Ok(Ok(()))) {
        return;
    }
    // Lingering close: closing a socket with unread input makes the kernel send a reset, which
    // can destroy the answer before the client reads it (e.g. the 400 to an oversized request).
    // Take what the client still sends, bounded in bytes and time, before closing.
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    let _ = timeout(limits.read_timeout.min(Duration::from_secs(1)), async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases: [(&str, Route); 14] = [
            ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Route::Metrics),
            ("GET /metrics?name[]=x HTTP/1.0\r\n\r\n", Route::Metrics),
            ("GET http://node:9120/metrics HTTP/1.1\r\n\r\n", Route::Metrics),
            ("GET /metrics HTTP/1.1\nAccept: */*\n\n", Route::Metrics),
            ("GET / HTTP/1.1\r\n\r\n", Route::NotFound),
            ("GET /metrics/ HTTP/1.1\r\n\r\n", Route::NotFound),
            ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Route::MethodNotAllowed),
            ("HEAD /metrics HTTP/1.1\r\n\r\n", Route::MethodNotAllowed),
            ("POST /other HTTP/1.1\r\n\r\n", Route::NotFound),
            ("GARBAGE\r\n\r\n", Route::Bad),
            ("GET /metrics HTTP/2.0\r\n\r\n", Route::Bad),
            ("GET  /metrics HTTP/1.1\r\n\r\n", Route::Bad),
            ("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", Route::Bad),
            ("G(T /metrics HTTP/1.1\r\n\r\n", Route::Bad),
        ];
        for (req, want) in cases {
            assert_eq!(route(req.as_bytes()), want, "{req:?}");
        }
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\n\xff: x\r\n\r\n"), Route::Bad);
    }

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
