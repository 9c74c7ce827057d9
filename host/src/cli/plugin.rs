//! `ferrolb plugin ...`: inspect a component (the first thing a plugin author runs).

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
}

/// Run a `plugin` subcommand.
pub fn run(cmd: &PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Inspect { plugin, output } => inspect(plugin, *output),
    }
}

fn inspect(plugin: &str, output: Output) -> anyhow::Result<ExitCode> {
    let source = PluginSource::parse(plugin).map_err(anyhow::Error::msg)?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).context("starting the plugin runtime")?);
    let i = runtime.inspect(&source);
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&i)?),
        Output::Human => {
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!("plugin:    {}", source.describe());
            println!("world:     {}", i.world.map(|w| w.to_string()).unwrap_or_else(|| "-".into()));
            println!("name:      {}", opt(&i.name));
            println!("version:   {}", opt(&i.version));
            println!("contract:  {}", opt(&i.contract));
            println!("bytes:     {}", i.bytes);
            println!("sha256:    {}", if i.sha256.is_empty() { "-" } else { &i.sha256 });
            println!(
                "profile:   {}",
                match i.profile {
                    Some(ImportProfile::Pure) => "pure (imports nothing)",
                    Some(ImportProfile::WasiRestricted) => "wasi-restricted",
                    None => "-",
                }
            );
            println!(
                "imports:   {}",
                if i.imports.is_empty() { "(none)".to_string() } else { i.imports.join("\n           ") }
            );
            println!(
                "exports:   {}",
                if i.exports.is_empty() { "(none)".to_string() } else { i.exports.join("\n           ") }
            );
            for p in &i.problems {
                println!("problem:   {p}");
            }
        }
    }
    Ok(if i.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
