//! `ferrolb-conformance`: run the conformance cases of a world against any component.
//!
//! ```text
//! ferrolb-conformance run --world allocator path/to/plugin.wasm [--junit report.xml] [--check-messages]
//! ```
//! Exit status: 0 every case passed, 1 some case failed, 2 the kit could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferrolb::policy::{ImportProfile, Limits, PluginSource, Runtime, RuntimeConfig, World};
use ferrolb_conformance::{Options, case_files, default_cases_dir, report, run_cases};

/// The ferrolb conformance kit.
#[derive(Parser, Debug)]
#[command(name = "ferrolb-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every case of a world against a plugin.
    Run {
        /// The world: allocator, advertise, merge or egress.
        #[arg(long)]
        world: String,
        /// The component (a path, or builtin:WORLD).
        plugin: String,
        /// The cases directory (holds one folder per world).
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Only cases whose file name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also compare refusal texts with the cases'.
        #[arg(long)]
        check_messages: bool,
        /// Admit plugins that import WASI (componentize-py, jco), with nothing real behind it.
        #[arg(long)]
        wasi: bool,
        /// List passing cases too.
        #[arg(short, long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferrolb-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let Command::Run { world, plugin, cases, filter, junit, check_messages, wasi, verbose } = Cli::parse().command;
    let world = World::parse(&world).with_context(|| format!("unknown world {world:?}"))?;
    let source = PluginSource::parse(&plugin).map_err(anyhow::Error::msg)?;
    // Deterministic runs: fuel bounds every call the same way on every machine; the deadline is
    // only a backstop for slow machines.
    let config = RuntimeConfig {
        profile: if wasi { ImportProfile::WasiRestricted } else { ImportProfile::Pure },
        fuel_metering: true,
        limits: Limits { fuel: Some(2_000_000_000), deadline: Duration::from_secs(10), ..Limits::default() },
        ..RuntimeConfig::default()
    };
    let runtime = Arc::new(Runtime::new(config).context("starting the plugin runtime")?);
    let loaded = runtime.load(world, &source).with_context(|| format!("loading {}", source.describe()))?;
    let dir = cases.unwrap_or_else(default_cases_dir);
    let mut files = case_files(&dir, world)?;
    if let Some(f) = &filter {
        files.retain(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f.as_str())));
    }
    if files.is_empty() {
        anyhow::bail!("no {world} cases under {}", dir.display());
    }
    let results = run_cases(&runtime, &loaded, world, &files, &Options { check_messages })?;
    let label = loaded.label();
    print!("{}", report::human(world.name(), &label, &results, verbose));
    if let Some(path) = junit {
        std::fs::write(&path, report::junit(world.name(), &label, &results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if results.iter().all(|r| r.passed()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
