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
    /// Ask the running daemon (bgp summary | bgp neighbors [ADDR] | bgp routes ... | config | plan).
    Show(show::ShowArgs),
}

/// Run the command line; `main` maps the result to the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let result = match &cli.command {
        Command::Check(args) => check::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Show(args) => show::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
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
