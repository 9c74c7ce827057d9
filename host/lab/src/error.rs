//! The lab's error type and the helpers that run external commands (`ip`, `vtysh`, `birdc`, ...).

use std::ffi::OsStr;
use std::fmt::Display;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Everything that can go wrong while building or querying the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A program could not be started at all (missing binary, permissions).
    #[error("cannot start `{cmd}`: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why the start failed.
        #[source]
        source: std::io::Error,
    },
    /// A program ran and reported failure.
    #[error("`{cmd}` failed ({status}): {output}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// What it printed (stderr, then stdout).
        output: String,
    },
    /// A condition polled by [`wait_until`] / [`wait_for`] did not hold in time.
    #[error("timed out after {elapsed:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        elapsed: Duration,
        /// The last observation the probe reported.
        last: String,
    },
    /// A program's output did not have the expected shape.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was being parsed (the command).
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A daemon exited while the lab expected it to run.
    #[error("{daemon} exited unexpectedly ({status}); logs:\n{logs}")]
    DaemonDied {
        /// The daemon's name.
        daemon: String,
        /// Its exit status.
        status: String,
        /// Its log files.
        logs: String,
    },
    /// The caller asked for something the lab cannot do (bad parameters).
    #[error("invalid lab request: {0}")]
    Invalid(String),
}

/// Lets a [`wait_for`] probe that reports its observations as `String` use `?` on lab calls.
impl From<LabError> for String {
    fn from(e: LabError) -> String {
        e.to_string()
    }
}

/// Result alias of the lab.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Shell-like rendering of a command for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion; its stdout when it succeeded, a [`LabError`] otherwise.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        return Err(failed(cmd, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command to completion and returns its raw output, whatever its exit status.
pub(crate) fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output().map_err(|source| LabError::Spawn { cmd: describe(cmd), source })
}

/// The error for a command that ran and failed.
pub(crate) fn failed(cmd: &Command, out: &Output) -> LabError {
    let mut output = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        if !output.is_empty() {
            output.push('\n');
        }
        output.push_str(stdout.trim());
    }
    LabError::Command { cmd: describe(cmd), status: out.status.to_string(), output }
}

/// `Command::new(program).args(args)`.
pub(crate) fn command<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

pub(crate) fn io_err(context: impl Display, source: std::io::Error) -> LabError {
    LabError::Io { context: context.to_string(), source }
}

pub(crate) fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| io_err(format!("writing {}", path.display()), e))
}

/// Polls `cond` until it returns true, at most `timeout`.
///
/// Polls every 20 ms at first, backing off to 200 ms. The error names `what`, so a failed test says
/// which condition never held.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    wait_for(timeout, what, || if cond() { Ok(()) } else { Err("condition false") })
}

/// Polls `probe` until it returns `Ok`, at most `timeout`; the value it returned.
///
/// The probe's `Err` is its latest observation ("state Active", "3 of 1000 prefixes", or a
/// [`LabError`] from a daemon that is not ready yet): it is not fatal, and the last one is put in
/// the [`LabError::Timeout`] so the failure explains itself.
pub fn wait_for<T, E: Display>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> std::result::Result<T, E>,
) -> Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(last) => {
                let elapsed = start.elapsed();
                if elapsed >= timeout {
                    return Err(LabError::Timeout { what: what.to_owned(), elapsed, last: last.to_string() });
                }
                std::thread::sleep(pause.min(timeout - elapsed));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
        }
    }
}
