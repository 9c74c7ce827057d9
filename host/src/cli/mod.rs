//! The `ferrolb` command line (clap). `anyhow` lives here and in `main.rs` only.

pub mod check;
mod plan;
mod plugin;
mod plugin_admin;
mod run;
mod show;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ferrolb: a router host for bare-metal Kubernetes with sandboxed WebAssembly policies.
#[derive(Parser, Debug)]
#[command(name = "ferrolb", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `ferrolb=debug`.
    #[arg(long, global = true, default_value = "warn", env = "FERROLB_LOG")]
    pub log: String,
    /// Log format on stderr: human lines or one JSON object per event (with span fields).
    #[arg(long, global = true, value_enum, default_value = "human", env = "FERROLB_LOG_FORMAT")]
    pub log_format: crate::logging::Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate manifests: every error and warning at once; exit 1 on errors.
    Check(check::CheckArgs),
    /// Run the controller once with the active plugins and print every decision.
    Plan(plan::PlanArgs),
    /// Inspect, list and load policy plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the daemon: keep BGP sessions, announce what the policies decide, apply changes live.
    Run(run::RunArgs),
    /// Ask the running daemon (bgp summary | bgp neighbors [ADDR] | bgp routes ... | bfd peers
    /// [brief] | l2 | config | plan).
    Show(show::ShowArgs),
    /// Show or change the running daemon's log level (all, debug, info, warn, error, none, or a
    /// filter such as `info,ferrolb::bgp=debug`), like the MetalLB operator's logLevel.
    LogLevel(show::LogLevelArgs),
}

/// Run the command line; `main` maps the result to the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(&cli.log, cli.log_format);
    let result = match &cli.command {
        Command::Check(args) => check::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Show(args) => show::run(args),
        Command::LogLevel(args) => show::log_level(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Write command output to stdout; a closed pipe (`ferrolb plan ... | head`) is not an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
