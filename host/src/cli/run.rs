//! `ferrolb run`: start the daemon (see [`crate::daemon`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::daemon::{self, Options};

/// Arguments of `ferrolb run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Manifest files or directories; repeatable. Watched: changes are applied live.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// This node's name (the Kubernetes Node it runs on).
    #[arg(long)]
    pub node: String,
    /// State directory (allocations; created when missing).
    #[arg(long, default_value = "/var/lib/ferrolb")]
    pub state: PathBuf,
    /// Admin socket (`ferrolb show ...` talks to it).
    #[arg(long, default_value = daemon::DEFAULT_SOCKET, env = "FERROLB_SOCKET")]
    pub socket: PathBuf,
    /// How often manifest files are checked for changes, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub poll_ms: u64,
    /// Use this component instead of a default plugin: `WORLD=PATH` (repeatable).
    #[arg(long = "plugin", value_name = "WORLD=PATH")]
    pub plugins: Vec<String>,
    /// Plugin signatures (for --plugin files and for `ferrolb plugin load` on this daemon).
    #[command(flatten)]
    pub trust: super::plugin::TrustArgs,
    /// Per-plugin limits (for --plugin files and for `ferrolb plugin load` on this daemon).
    #[command(flatten)]
    pub limits: super::plugin::LimitArgs,
    /// On shutdown, leave the routes ferrolb installed in the kernel.
    #[arg(long)]
    pub keep_routes: bool,
    /// Layer-2 mode: the cluster's identity in membership heartbeats (the same on every node).
    #[arg(long, default_value = "ferrolb")]
    pub cluster_id: String,
    /// Layer-2 mode: UDP port of the membership heartbeats (the same on every node).
    #[arg(long, default_value_t = crate::l2::membership::DEFAULT_PORT)]
    pub membership_port: u16,
    /// Layer-2 mode: heartbeat interval in milliseconds (the same on every node).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=65_000))]
    pub membership_interval_ms: u64,
    /// Layer-2 mode: heartbeats missed before a node is dead (the same on every node).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..))]
    pub membership_multiplier: u8,
    /// BGP: most prefixes of one family accepted from each neighbor; one more ends the session
    /// with a Cease "maximum number of prefixes reached" (RFC 4486). Unlimited when unset.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_prefix: Option<u32>,
    /// BGP: GTSM (RFC 5082) on directly connected neighbors: send with TTL 255, accept only
    /// packets that arrive with TTL 254 or more (the peer must do the same, e.g. FRR's
    /// `neighbor X ttl-security hops 1`).
    #[arg(long)]
    pub gtsm: bool,
    /// Serve Prometheus metrics on this address (e.g. `127.0.0.1:7472`); off when unset.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_address: Option<std::net::SocketAddr>,
}

/// Run the daemon until SIGTERM / SIGINT.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let plugins = super::plugin::plugin_sources(&args.plugins, &args.trust)?;
    let opts = Options {
        files: args.files.clone(),
        node: args.node.clone(),
        state: args.state.clone(),
        socket: args.socket.clone(),
        poll: Duration::from_millis(args.poll_ms),
        plugins,
        keep_routes: args.keep_routes,
        membership: daemon::l2::MembershipSettings {
            cluster_id: args.cluster_id.clone(),
            port: args.membership_port,
            interval: Duration::from_millis(args.membership_interval_ms),
            multiplier: args.membership_multiplier,
        },
        metrics_address: args.metrics_address,
        trust: crate::trust::TrustPolicy::from_paths(args.trust.require_signed, &args.trust.trusted_keys)
            .context("--trusted-keys")?,
        limits: args.limits.limits(),
        neighbors: daemon::NeighborDefaults { max_prefix: args.max_prefix, gtsm: args.gtsm },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(daemon::run(opts)).context("ferrolb run")?;
    Ok(ExitCode::SUCCESS)
}
