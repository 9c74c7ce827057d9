//! `ferrolb plugin load | list | rollback`: hot swap on a running daemon, through its admin
//! socket (see [`crate::daemon::swap`] for what the daemon does).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::daemon::{self, admin};
use crate::policy::World;

/// The daemon to talk to.
#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// The daemon's admin socket.
    #[arg(long, default_value = daemon::DEFAULT_SOCKET, env = "FERROLB_SOCKET")]
    pub socket: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ferrolb plugin load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The world: allocator, advertise, merge or egress.
    #[arg(value_parser = parse_world)]
    pub world: World,
    /// The component file (or `builtin:WORLD` to go back to the default).
    pub path: String,
    /// Only show which decisions would change; switch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm the swap even though it moves services' addresses.
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// The daemon.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of `ferrolb plugin rollback`.
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The world whose previous plugin comes back.
    #[arg(value_parser = parse_world)]
    pub world: World,
    /// The daemon.
    #[command(flatten)]
    pub admin: AdminArgs,
}

fn parse_world(s: &str) -> Result<World, String> {
    World::parse(s).ok_or_else(|| format!("unknown world {s:?}: allocator, advertise, merge or egress"))
}

fn call(admin_args: &AdminArgs, args: Vec<String>) -> anyhow::Result<ExitCode> {
    let response = admin::call(&admin_args.socket, &admin::Request { args, json: admin_args.json })?;
    let mut out = response.output;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if response.ok {
        super::emit(&out)?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprint!("error: {out}");
        Ok(ExitCode::from(1))
    }
}

/// `ferrolb plugin load`.
pub fn load(a: &LoadArgs) -> anyhow::Result<ExitCode> {
    // The daemon resolves paths from its own working directory: send an absolute one.
    let path = if a.path.starts_with("builtin:") {
        a.path.clone()
    } else {
        std::fs::canonicalize(&a.path)
            .with_context(|| format!("plugin file {}", a.path))?
            .to_string_lossy()
            .into_owned()
    };
    let mut args = vec!["plugin".to_string(), "load".into(), a.world.name().into(), path];
    if a.dry_run {
        args.push("--dry-run".into());
    }
    if a.apply {
        args.push("--apply".into());
    }
    call(&a.admin, args)
}

/// `ferrolb plugin list`.
pub fn list(a: &AdminArgs) -> anyhow::Result<ExitCode> {
    call(a, vec!["plugin".into(), "list".into()])
}

/// `ferrolb plugin rollback`.
pub fn rollback(a: &RollbackArgs) -> anyhow::Result<ExitCode> {
    call(&a.admin, vec!["plugin".into(), "rollback".into(), a.world.name().into()])
}
