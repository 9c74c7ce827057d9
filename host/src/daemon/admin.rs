//! The admin socket: a Unix stream socket (mode 0600) through which `ferrolb show ...` and the
//! other operator commands talk to a running daemon.
//!
//! Protocol: the client writes one JSON line, [`Request`]; the daemon answers one JSON line,
//! [`Response`], and closes. Small and text-based so `socat` works in an emergency:
//! `echo '{"args":["show","bgp","summary"]}' | socat - UNIX-CONNECT:/run/ferrolb/admin.sock`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request accepted (a request is a short command line).
const MAX_REQUEST: usize = 64 * 1024;

/// One command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The command words, e.g. `["show", "bgp", "summary"]`.
    pub args: Vec<String>,
    /// JSON output instead of text.
    #[serde(default)]
    pub json: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the command succeeded.
    pub ok: bool,
    /// What to print (text or a JSON document), or the error message.
    pub output: String,
}

impl Response {
    /// A successful answer.
    pub fn ok(output: impl Into<String>) -> Response {
        Response { ok: true, output: output.into() }
    }

    /// A failed command.
    pub fn error(message: impl Into<String>) -> Response {
        Response { ok: false, output: message.into() }
    }
}

/// Errors of the admin socket.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Another daemon already serves this socket.
    #[error("admin socket {0}: another ferrolb daemon is listening there")]
    InUse(PathBuf),
    /// Creating or binding the socket failed.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The daemon could not be reached or answered nonsense (client side).
    #[error("admin socket {path}: {reason}")]
    Client {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The command handler the daemon provides.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// Binds the socket (replacing a stale one no daemon listens on), mode 0600.
pub async fn bind(path: &Path) -> Result<UnixListener, AdminError> {
    let io = |source| AdminError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(AdminError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Serves requests until the listener fails; each connection is handled on its own task.
pub async fn serve(listener: UnixListener, handler: Handler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, handler).await {
                tracing::debug!(error = %e, "admin connection ended badly");
            }
        });
    }
}

async fn answer(stream: UnixStream, handler: Handler) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(req) => {
            // Handlers may call plugins or walk large tables: keep the runtime's workers free.
            let handler = handler.clone();
            tokio::task::spawn_blocking(move || handler(req))
                .await
                .unwrap_or_else(|e| Response::error(format!("the command failed inside the daemon: {e}")))
        }
        Err(e) => Response::error(format!("malformed request: {e}")),
    };
    let mut out = serde_json::to_string(&response).unwrap_or_else(|_| r#"{"ok":false,"output":"?"}"#.into());
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    write.shutdown().await
}

/// Sends one request to a daemon and waits for the answer (the client side of `ferrolb show`).
pub fn call(path: &Path, request: &Request) -> Result<Response, AdminError> {
    use std::io::{BufRead, Write};
    let fail = |reason: String| AdminError::Client { path: path.to_path_buf(), reason };
    let mut stream = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| fail(format!("cannot connect ({e}); is `ferrolb run` running with this --socket?")))?;
    let mut line = serde_json::to_string(request).map_err(|e| fail(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut answer = String::new();
    std::io::BufReader::new(stream).read_line(&mut answer).map_err(|e| fail(e.to_string()))?;
    serde_json::from_str(&answer).map_err(|e| fail(format!("unreadable answer ({e}): {answer:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_gets_its_answer_and_the_socket_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run/admin.sock");
        let listener = bind(&path).await.expect("bind");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let handler: Handler = Arc::new(|r: Request| {
            if r.args == ["echo"] { Response::ok(format!("json={}", r.json)) } else { Response::error("unknown") }
        });
        tokio::spawn(serve(listener, handler));
        let p = path.clone();
        let got = tokio::task::spawn_blocking(move || {
            (
                call(&p, &Request { args: vec!["echo".into()], json: true }),
                call(&p, &Request { args: vec!["nope".into()], json: false }),
            )
        })
        .await
        .expect("join");
        assert_eq!(got.0.expect("answer"), Response::ok("json=true"));
        assert_eq!(got.1.expect("answer"), Response::error("unknown"));
        // A second daemon on the same socket is refused; a stale socket file is replaced.
        assert!(matches!(bind(&path).await, Err(AdminError::InUse(_))));
    }

    #[tokio::test]
    async fn a_stale_socket_file_is_replaced_and_garbage_is_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
        let listener = bind(&path).await.expect("stale socket replaced");
        tokio::spawn(serve(listener, Arc::new(|_| Response::ok("x"))));
        let mut s = UnixStream::connect(&path).await.expect("connect");
        s.write_all(b"not json\n").await.expect("write");
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).await.expect("read");
        let r: Response = serde_json::from_str(&answer).expect("json");
        assert!(!r.ok && r.output.contains("malformed request"), "{r:?}");
    }
}
