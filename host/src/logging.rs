//! Logging: `tracing` to stderr, for people (`--log-format human`) or as one JSON object per
//! line (`--log-format json`, with the current span's fields: `peer`, `service`, `plugin`,
//! `world`), and a filter that can change while the daemon runs (`ferrolb log-level debug`).
//!
//! Levels accept MetalLB's `logLevel` words (`all`, `debug`, `info`, `warn`, `error`, `none`) and
//! any `tracing` `EnvFilter` directive (`info,ferrolb::bgp=debug`). A filter that does not parse
//! is refused with the reason and the previous one stays in force.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One readable line per event.
    Human,
    /// One JSON object per event (timestamp, level, target, fields, span, spans).
    Json,
}

/// A refused level.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The text is neither a level word nor a valid filter.
    #[error(
        "log level {value:?}: {reason} (use all, debug, info, warn, error, none, or a filter like info,ferrolb::bgp=debug)"
    )]
    Invalid {
        /// What was given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// Logging was not initialised by this process.
    #[error("logging is not reloadable in this process")]
    NotReloadable,
}

struct Control {
    handle: reload::Handle<EnvFilter, Registry>,
    current: Mutex<String>,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

/// MetalLB's level words → filter directives; anything else is taken as a directive.
fn directive(level: &str) -> String {
    match level.trim() {
        "all" => "trace".into(),
        "none" => "off".into(),
        other => other.to_string(),
    }
}

/// Parses a level or filter.
pub fn parse(level: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::try_new(directive(level))
        .map_err(|e| LogError::Invalid { value: level.to_string(), reason: e.to_string() })
}

/// Installs the global subscriber. An invalid `level` falls back to `warn` (reported on stderr).
pub fn init(level: &str, format: Format) {
    let filter = parse(level).unwrap_or_else(|e| {
        eprintln!("warning: {e}; using warn");
        EnvFilter::new("warn")
    });
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        Format::Human => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init(),
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = CONTROL.set(Control { handle, current: Mutex::new(level.to_string()) });
    }
}

/// Changes the filter of the running process; returns the previous one.
pub fn set_level(level: &str) -> Result<String, LogError> {
    let control = CONTROL.get().ok_or(LogError::NotReloadable)?;
    let filter = parse(level)?;
    control.handle.reload(filter).map_err(|_| LogError::NotReloadable)?;
    let mut current = control.current.lock().unwrap_or_else(|p| p.into_inner());
    let previous = std::mem::replace(&mut *current, level.to_string());
    tracing::warn!(level = %level, previous = %previous, "log level changed");
    Ok(previous)
}

/// The filter in force.
pub fn level() -> Option<String> {
    CONTROL.get().map(|c| c.current.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metallb_words_and_filters_parse_and_nonsense_is_refused_with_the_value() {
        for ok in ["all", "debug", "info", "warn", "error", "none", "info,ferrolb::bgp=debug"] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let e = parse("info,ferrolb=loud").expect_err("bad level").to_string();
        assert!(e.contains("\"info,ferrolb=loud\"") && e.contains("use all, debug"), "{e}");
    }
}
