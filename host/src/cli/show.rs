//! `ferrolb show ...`: ask a running daemon through its admin socket.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::daemon::{self, admin};

/// Arguments of `ferrolb show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// What to show, e.g. `bgp summary`, `bgp neighbors 10.0.0.1`, `bgp routes advertised`,
    /// `bfd peers brief`, `l2`, `config`, `plan`.
    #[arg(required = true, num_args = 1..)]
    pub what: Vec<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// The daemon's admin socket.
    #[arg(long, default_value = daemon::DEFAULT_SOCKET, env = "FERROLB_SOCKET")]
    pub socket: PathBuf,
}

/// Run `ferrolb show`.
pub fn run(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let mut words = vec!["show".to_string()];
    words.extend(args.what.iter().cloned());
    let response = admin::call(&args.socket, &admin::Request { args: words, json: args.json })?;
    if response.ok {
        let mut out = response.output;
        if !out.ends_with('\n') {
            out.push('\n');
        }
        super::emit(&out)?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {}", response.output);
        Ok(ExitCode::from(1))
    }
}

/// Arguments of `ferrolb log-level`.
#[derive(clap::Args, Debug)]
pub struct LogLevelArgs {
    /// The new level; without it, the level in force is shown.
    pub level: Option<String>,
    /// The daemon's admin socket.
    #[arg(long, default_value = daemon::DEFAULT_SOCKET, env = "FERROLB_SOCKET")]
    pub socket: PathBuf,
}

/// Run `ferrolb log-level`.
pub fn log_level(args: &LogLevelArgs) -> anyhow::Result<ExitCode> {
    let mut words = vec!["log-level".to_string()];
    words.extend(args.level.iter().cloned());
    let response = admin::call(&args.socket, &admin::Request { args: words, json: false })?;
    if response.ok {
        super::emit(&format!("{}\n", response.output.trim_end()))?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: {}", response.output);
        Ok(ExitCode::from(1))
    }
}
