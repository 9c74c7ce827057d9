//! `ferrolb plan`: run the controller once with the active plugins and print every decision.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;

use crate::config::{Source, load};
use crate::controller;
use crate::policy::{Registry, Runtime, RuntimeConfig};

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    /// The JSON contract (for programs and tests).
    Json,
    /// The same document as YAML.
    Yaml,
    /// For people.
    Table,
}

/// Arguments of `ferrolb plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Manifest files or directories ("-" for stdin); repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// The node to plan for.
    #[arg(long)]
    pub node: String,
    /// State directory: the allocations held there are honoured (plan only reads it).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Use this component instead of a default plugin: `WORLD=PATH` (repeatable).
    #[arg(long = "plugin", value_name = "WORLD=PATH")]
    pub plugins: Vec<String>,
    /// Plugin signatures.
    #[command(flatten)]
    pub trust: super::plugin::TrustArgs,
    /// Per-plugin limits.
    #[command(flatten)]
    pub limits: super::plugin::LimitArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: PlanOutput,
}

/// Run `ferrolb plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let sources: Vec<Source> = args.files.iter().map(|p| Source::from_arg(p)).collect();
    let loaded = load(&sources);
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    let Some(model) = loaded.model else {
        eprintln!("error: the configuration has errors; nothing planned (see `ferrolb check`)");
        return Ok(ExitCode::from(1));
    };
    let held = match &args.state {
        Some(dir) => crate::store::Store::open(dir)
            .and_then(|s| s.allocations())
            .with_context(|| format!("reading the state in {}", dir.display()))?,
        None => vec![],
    };
    let sources = super::plugin::plugin_sources(&args.plugins, &args.trust)?;
    let limits = args.limits.limits();
    let config = limits.as_ref().map(RuntimeConfig::for_plugin_limits).unwrap_or_default();
    let runtime = Arc::new(Runtime::new(config).context("starting the plugin runtime")?);
    let registry = Registry::with_builtins(runtime).context("loading the default plugins")?;
    let limits = limits.unwrap_or_default();
    for ((world, source), spec) in sources.iter().zip(&args.plugins) {
        let plugin =
            registry.runtime().load_with(*world, source, limits).with_context(|| format!("--plugin {spec}"))?;
        registry.install(plugin).with_context(|| format!("--plugin {spec}"))?;
    }
    let plan = controller::plan(&registry, &model, &args.node, &held);
    match args.output {
        PlanOutput::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?,
        PlanOutput::Yaml => super::emit(&serde_norway::to_string(&plan)?)?,
        PlanOutput::Table => super::emit(&table(&plan))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn table(plan: &controller::Plan) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "node {}", plan.node);
    let _ = writeln!(o, "\nallocations:");
    if plan.allocations.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for a in &plan.allocations {
        let ips: Vec<String> = a.ips.iter().map(|i| i.to_string()).collect();
        let _ = writeln!(o, "  {:<40} {:<40} pool {}", a.service, ips.join(","), a.pool);
    }
    if !plan.allocation_errors.is_empty() {
        let _ = writeln!(o, "\nallocation errors:");
        for e in &plan.allocation_errors {
            let _ = writeln!(o, "  {:<40} {}", e.service, e.reason);
        }
    }
    let _ = writeln!(o, "\nbgp routes from this node:");
    if plan.bgp.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for r in &plan.bgp {
        let vrf = if r.vrf.is_empty() { String::new() } else { format!(" vrf {}", r.vrf) };
        let lp = r.local_pref.map(|l| format!(" localPref {l}")).unwrap_or_default();
        let mut c = r.communities.clone();
        c.extend(r.large_communities.iter().map(|l| format!("large:{l}")));
        let c = if c.is_empty() { String::new() } else { format!(" communities {}", c.join(",")) };
        let _ = writeln!(o, "  {:<20} -> {}{vrf}{lp}{c}", r.prefix.to_string(), r.peer);
    }
    let _ = writeln!(o, "\nlayer 2 from this node:");
    if plan.l2.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for l in &plan.l2 {
        let ifs = if l.interfaces.is_empty() { "all interfaces".to_string() } else { l.interfaces.join(",") };
        let _ = writeln!(o, "  {:<20} {:<30} on {ifs}", l.ip.to_string(), l.service);
    }
    if !plan.advertise_errors.is_empty() {
        let _ = writeln!(o, "\nnot announced:");
        for e in &plan.advertise_errors {
            let _ = writeln!(o, "  {:<40} {}", e.service, e.reason);
        }
    }
    if !plan.merge_errors.is_empty() {
        let _ = writeln!(o, "\nmerge conflicts (the last valid router configuration stays):");
        for e in &plan.merge_errors {
            let _ = writeln!(o, "  {e}");
        }
    }
    let _ = writeln!(o, "\nrouter configuration: {}", serde_json::to_string(&plan.router).unwrap_or_default());
    let _ = writeln!(o, "\npolicies:");
    for p in &plan.policies {
        let _ = writeln!(o, "  {:<10} {:<28} {}", p.world.name(), p.plugin, p.status);
        if !p.message.is_empty() {
            let _ = writeln!(o, "             {}", p.message);
        }
    }
    o
}
