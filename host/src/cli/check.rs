//! `ferrolb check` (being written).
use std::path::PathBuf;

/// Arguments of `ferrolb check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Manifest files or directories ("-" for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

/// Run `ferrolb check`.
pub fn run(_args: &CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("ferrolb check is not implemented yet")
}
