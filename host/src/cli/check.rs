//! `ferrolb check -f FILE|DIR|- [-f ...] [-o human|json]`: load and validate manifests the way
//! `ferrolb run` would, and report every error and warning at once (kind namespace/name, field
//! path, file:line). Exits 1 when there is an error, 0 otherwise (warnings do not fail).

use clap::{Args, ValueEnum};
use ferrolb_config::{Source, load};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// How the report is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per diagnostic (`file:line: severity: Kind ns/name: field: message`), then a summary.
    #[default]
    Human,
    /// One JSON object: `ok`, `errors`, `warnings`, `objects` (count per kind), `skipped` (objects of
    /// kinds ferrolb does not read) and `diagnostics`.
    Json,
}

/// Arguments of `ferrolb check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A manifest file, a directory (its .yaml, .yml and .json files, as kubectl reads them) or `-`
    /// for standard input. Repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "human")]
    pub output: OutputFormat,
}

/// Run `ferrolb check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let sources: Vec<Source> = args.files.iter().map(|f| Source::from_arg(f)).collect();
    let report = load(&sources).report();
    let text = match args.output {
        OutputFormat::Human => report.render_human(),
        OutputFormat::Json => {
            let mut json = report.to_json()?;
            json.push('\n');
            json
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
