//! `ferrolb plugin ...`: inspect a component (the first thing a plugin author runs); load, list
//! and roll back the plugins of a running daemon ([`super::plugin_admin`]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use crate::policy::{ImportProfile, PluginSource, Runtime, RuntimeConfig};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Human,
    /// For programs: `{"world","name","version","contract","imports","exports","bytes",...}`.
    Json,
}

/// `ferrolb plugin` subcommands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Show a component's world, name, version, contract version, imports, exports and size.
    Inspect {
        /// A component file, or `builtin:WORLD` for a default plugin.
        plugin: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Hot swap: load a component into a running daemon (smoke cases, then an atomic switch).
    Load(super::plugin_admin::LoadArgs),
    /// The plugins a running daemon uses, and what `rollback` would restore.
    List(super::plugin_admin::AdminArgs),
    /// Make a running daemon's previous plugin of WORLD active again.
    Rollback(super::plugin_admin::RollbackArgs),
}

/// Run a `plugin` subcommand.
pub fn run(cmd: &PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Inspect { plugin, output } => inspect(plugin, *output),
        PluginCommand::Load(a) => super::plugin_admin::load(a),
        PluginCommand::List(a) => super::plugin_admin::list(a),
        PluginCommand::Rollback(a) => super::plugin_admin::rollback(a),
    }
}

fn inspect(plugin: &str, output: Output) -> anyhow::Result<ExitCode> {
    let source = PluginSource::parse(plugin).map_err(anyhow::Error::msg)?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).context("starting the plugin runtime")?);
    let i = runtime.inspect(&source);
    match output {
        Output::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&i)?))?,
        Output::Human => {
            use std::fmt::Write as _;
            let mut o = String::new();
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            let _ = writeln!(o, "plugin:    {}", source.describe());
            let _ = writeln!(o, "world:     {}", i.world.map(|w| w.to_string()).unwrap_or_else(|| "-".into()));
            let _ = writeln!(o, "name:      {}", opt(&i.name));
            let _ = writeln!(o, "version:   {}", opt(&i.version));
            let _ = writeln!(o, "contract:  {}", opt(&i.contract));
            let _ = writeln!(o, "bytes:     {}", i.bytes);
            let _ = writeln!(o, "sha256:    {}", if i.sha256.is_empty() { "-" } else { &i.sha256 });
            let _ = writeln!(
                o,
                "profile:   {}",
                match i.profile {
                    Some(ImportProfile::Pure) => "pure (imports nothing)",
                    Some(ImportProfile::WasiRestricted) => "wasi-restricted",
                    None => "-",
                }
            );
            let _ = writeln!(
                o,
                "imports:   {}",
                if i.imports.is_empty() { "(none)".to_string() } else { i.imports.join("\n           ") }
            );
            let _ = writeln!(
                o,
                "exports:   {}",
                if i.exports.is_empty() { "(none)".to_string() } else { i.exports.join("\n           ") }
            );
            for p in &i.problems {
                let _ = writeln!(o, "problem:   {p}");
            }
            super::emit(&o)?;
        }
    }
    Ok(if i.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
