//! Live plugin hot swap: `ferrolb plugin load | list | rollback` on a running daemon.
//!
//! `load WORLD PATH` compiles the component (the runtime checks the contract version and the
//! imports), runs the world's smoke cases ([`crate::kit::smoke`]; any failure refuses the
//! plugin, naming the cases), plans with the candidate beside the plugins in force (a scratch
//! registry: nothing is switched yet) and compares that plan with the one in force
//! ([`PlanDiff`]). `--dry-run` stops there and shows the difference. Otherwise, when the
//! candidate would move an address that a service holds, the swap is refused unless `--apply`
//! confirms it; then the registry switches atomically, the daemon re-plans from the same state
//! (held allocations, live set) and the engines apply only the differences: the BGP speaker's
//! Adj-RIB-Out sends only changed routes, sessions are untouched. The replaced plugin stays
//! ready for `rollback`.
//!
//! Quarantine: a plugin (not a builtin) whose world fails [`QUARANTINE_AFTER`] plans in a row is
//! rolled back automatically; the event is logged and counted.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::Daemon;
use crate::controller::{self, Plan};
use crate::policy::{Plugin, PluginSource, Registry, World};

/// Consecutive failed plans after which a swapped-in plugin is rolled back.
pub const QUARANTINE_AFTER: u32 = 3;

/// A service whose addresses would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// `namespace/name`.
    pub service: String,
    /// Its addresses now.
    pub from: Vec<IpAddr>,
    /// Its addresses with the candidate (empty: it would lose them).
    pub to: Vec<IpAddr>,
}

/// What a swap would change in the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDiff {
    /// Services that hold addresses now and would hold others (or none).
    pub moved: Vec<Moved>,
    /// Services without addresses now that would get some.
    pub allocated: Vec<Moved>,
    /// BGP announcements (`peer prefix attributes`) that would appear.
    pub routes_added: Vec<String>,
    /// BGP announcements that would disappear.
    pub routes_removed: Vec<String>,
    /// Layer-2 announcements (`ip on node`) that would appear.
    pub l2_added: Vec<String>,
    /// Layer-2 announcements that would disappear.
    pub l2_removed: Vec<String>,
}

impl PlanDiff {
    /// Compares two plans of the same node.
    pub fn between(now: &Plan, next: &Plan) -> PlanDiff {
        let before: BTreeMap<&str, &Vec<IpAddr>> =
            now.allocations.iter().map(|a| (a.service.as_str(), &a.ips)).collect();
        let after: BTreeMap<&str, &Vec<IpAddr>> =
            next.allocations.iter().map(|a| (a.service.as_str(), &a.ips)).collect();
        let mut diff = PlanDiff::default();
        for (svc, from) in &before {
            let to = after.get(svc).map(|v| (*v).clone()).unwrap_or_default();
            if **from != to {
                diff.moved.push(Moved { service: svc.to_string(), from: (*from).clone(), to });
            }
        }
        for (svc, to) in &after {
            if !before.contains_key(svc) {
                diff.allocated.push(Moved { service: svc.to_string(), from: vec![], to: (*to).clone() });
            }
        }
        // Compared by value (hashing), formatted only when different: 100k routes stay cheap.
        type RouteKey<'a> = (&'a str, &'a str, ipnet::IpNet, Option<u32>, &'a [String], &'a [String]);
        fn key(r: &controller::BgpRoute) -> RouteKey<'_> {
            (&r.peer, &r.vrf, r.prefix, r.local_pref, &r.communities, &r.large_communities)
        }
        let route = |r: &controller::BgpRoute| {
            let mut s = format!("{} {}", r.peer, r.prefix);
            if !r.vrf.is_empty() {
                s.push_str(&format!(" vrf {}", r.vrf));
            }
            if let Some(lp) = r.local_pref {
                s.push_str(&format!(" local-pref {lp}"));
            }
            for c in r.communities.iter().chain(&r.large_communities) {
                s.push_str(&format!(" {c}"));
            }
            s
        };
        let (a, b): (HashSet<RouteKey<'_>>, HashSet<RouteKey<'_>>) =
            (now.bgp.iter().map(key).collect(), next.bgp.iter().map(key).collect());
        let mut added: Vec<String> = next.bgp.iter().filter(|r| !a.contains(&key(r))).map(route).collect();
        let mut removed: Vec<String> = now.bgp.iter().filter(|r| !b.contains(&key(r))).map(route).collect();
        added.sort();
        removed.sort();
        diff.routes_added = added;
        diff.routes_removed = removed;
        let l2 = |p: &Plan| -> BTreeSet<String> { p.l2.iter().map(|a| format!("{} on {}", a.ip, a.node)).collect() };
        let (a, b) = (l2(now), l2(next));
        diff.l2_added = b.difference(&a).cloned().collect();
        diff.l2_removed = a.difference(&b).cloned().collect();
        diff
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == PlanDiff::default()
    }

    /// The difference for a person, `plan`-style.
    pub fn text(&self) -> String {
        if self.is_empty() {
            return "no decision changes\n".into();
        }
        let ips = |v: &[IpAddr]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(",")
            }
        };
        let mut out = String::new();
        for m in &self.moved {
            out.push_str(&format!("  moved      {}: {} -> {}\n", m.service, ips(&m.from), ips(&m.to)));
        }
        for m in &self.allocated {
            out.push_str(&format!("  allocated  {}: {}\n", m.service, ips(&m.to)));
        }
        for r in &self.routes_added {
            out.push_str(&format!("  + route    {r}\n"));
        }
        for r in &self.routes_removed {
            out.push_str(&format!("  - route    {r}\n"));
        }
        for r in &self.l2_added {
            out.push_str(&format!("  + l2       {r}\n"));
        }
        for r in &self.l2_removed {
            out.push_str(&format!("  - l2       {r}\n"));
        }
        out
    }
}

/// What a `plugin` command did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapReport {
    /// `load`, `dry-run`, `rollback`.
    pub action: String,
    /// The world.
    pub world: World,
    /// The plugin in force afterwards (`name@version`).
    pub active: String,
    /// Its digest.
    pub digest: String,
    /// Whether the registry switched.
    pub switched: bool,
    /// The decision changes.
    pub diff: PlanDiff,
    /// Smoke cases run and passed.
    pub smoke_cases: usize,
    /// Milliseconds from the command to the new decisions computed (the engines apply them
    /// right after).
    pub took_ms: f64,
    /// Of which: loading (and compiling, unless cached) the component.
    pub load_ms: f64,
    /// Of which: the smoke cases.
    pub smoke_ms: f64,
    /// Of which: planning with the candidate.
    pub plan_ms: f64,
}

impl SwapReport {
    /// The report for a person.
    pub fn text(&self) -> String {
        let head = match (self.action.as_str(), self.switched) {
            ("dry-run", _) => format!("dry run: {} would replace the {} plugin", self.active, self.world),
            ("rollback", _) => format!("rolled back: {} is the {} plugin again", self.active, self.world),
            (_, true) => format!("loaded: {} is the {} plugin", self.active, self.world),
            (_, false) => format!("not loaded: the {} plugin is unchanged", self.world),
        };
        let mut out = format!("{head} (digest {}, {:.1} ms", &self.digest[..self.digest.len().min(12)], self.took_ms);
        if self.smoke_cases > 0 {
            out.push_str(&format!(", {} smoke cases passed", self.smoke_cases));
        }
        out.push_str(")\n");
        out.push_str(&self.diff.text());
        out
    }
}

/// A refused swap: why, and the difference when that is the reason.
#[derive(Debug, Clone, Serialize)]
pub struct SwapRefused {
    /// Why, for a person.
    pub reason: String,
    /// The decision changes that need confirming, when that is the reason.
    pub diff: Option<Box<PlanDiff>>,
}

impl SwapRefused {
    fn new(reason: impl Into<String>) -> SwapRefused {
        SwapRefused { reason: reason.into(), diff: None }
    }

    /// The refusal for a person.
    pub fn text(&self) -> String {
        match &self.diff {
            Some(d) => format!("{}\n{}", self.reason, d.text()),
            None => format!("{}\n", self.reason),
        }
    }
}

/// One line per world: the active plugin and the one a rollback would restore.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSlot {
    /// The world.
    pub world: World,
    /// `name@version` of the active plugin.
    pub active: String,
    /// Where it came from.
    pub source: String,
    /// Its digest.
    pub digest: String,
    /// The previous plugin (`rollback` target), if any.
    pub previous: Option<String>,
    /// Swaps so far.
    pub swaps: u64,
    /// Automatic rollbacks so far.
    pub quarantines: u64,
}

/// A registry with `candidate` in its world and every other world's active plugin.
fn scratch_registry(registry: &Registry, candidate: &Arc<Plugin>) -> Registry {
    let scratch = Registry::new(registry.runtime().clone());
    for world in World::ALL {
        let plugin = if world == candidate.world { Some(candidate.clone()) } else { registry.active(world) };
        if let Some(p) = plugin {
            let _ = scratch.install(p);
        }
    }
    scratch
}

impl Daemon {
    /// The plan with `registry`'s plugins from the current state (held allocations, live set).
    /// When `world` is not the allocator, the allocations of the plan in force are reused (same
    /// model, same allocator, same held state: asking the allocator again would answer the same).
    fn plan_with(
        &self,
        registry: &Registry,
        world: World,
    ) -> Result<Option<(Plan, Option<controller::merge::MergedConfig>)>, SwapRefused> {
        let Some(model) = &self.model else { return Ok(None) };
        let held = self.store.allocations().map_err(|e| SwapRefused::new(format!("state store: {e}")))?;
        let current = if world == World::Allocator { None } else { self.lock().plan.clone() };
        Ok(Some(controller::plan_reusing(
            registry,
            model,
            &self.opts.node,
            &held,
            self.live.as_ref(),
            current.as_ref(),
        )))
    }

    /// `ferrolb plugin load`: see the module docs. On `Ok` with `switched`, the caller re-plans
    /// and applies ([`Daemon::reconcile`] with `force`).
    pub fn load_plugin(
        &mut self,
        world: World,
        source: &PluginSource,
        dry_run: bool,
        apply: bool,
    ) -> Result<SwapReport, SwapRefused> {
        let started = Instant::now();
        let runtime = self.registry.runtime().clone();
        let (source, verified) = source.clone().trusted(&self.opts.trust).map_err(|e| {
            self.metrics.plugin_failure(world.name(), "", "untrusted");
            SwapRefused::new(format!("refused: the {world} plugin is unchanged: {e}"))
        })?;
        if let Some(v) = verified {
            tracing::info!(world = %world, key = %v.key_id, trusted_comment = %v.trusted_comment, "plugin signature verified");
        }
        let source = &source;
        let candidate = runtime.load_with(world, source, self.opts.limits.unwrap_or_default()).map_err(|e| {
            self.metrics.plugin_failure(world.name(), &source.describe(), e.cause.kind());
            SwapRefused::new(format!("refused: the {world} plugin is unchanged: {e}"))
        })?;
        if candidate.world != world {
            return Err(SwapRefused::new(format!(
                "refused: {} is a {} plugin, not a {world} plugin",
                candidate.label(),
                candidate.world
            )));
        }
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        let results = crate::kit::smoke::run(&runtime, &candidate, world);
        let smoke_ms = started.elapsed().as_secs_f64() * 1e3 - load_ms;
        let failed = crate::kit::smoke::failures(&results);
        if !failed.is_empty() {
            return Err(SwapRefused::new(format!(
                "refused: {} failed {} of {} smoke cases; the {world} plugin is unchanged:\n  {}",
                candidate.label(),
                failed.len(),
                results.len(),
                failed.join("\n  ")
            )));
        }
        let planning = Instant::now();
        let scratch = scratch_registry(&self.registry, &candidate);
        let next = self.plan_with(&scratch, world)?;
        let plan_ms = planning.elapsed().as_secs_f64() * 1e3;
        let diff = match (&self.lock().plan, &next) {
            (Some(now), Some((next, _))) => PlanDiff::between(now, next),
            _ => PlanDiff::default(),
        };
        let mut report = SwapReport {
            action: if dry_run { "dry-run" } else { "load" }.into(),
            world,
            active: candidate.label(),
            digest: candidate.digest.clone(),
            switched: false,
            diff,
            smoke_cases: results.len(),
            took_ms: 0.0,
            load_ms,
            smoke_ms,
            plan_ms,
        };
        if !dry_run {
            if !report.diff.moved.is_empty() && !apply {
                return Err(SwapRefused {
                    reason: format!(
                        "not loaded: {} would move the addresses of {} service(s); re-run with --apply to confirm \
                         (or --dry-run to only look):",
                        candidate.label(),
                        report.diff.moved.len()
                    ),
                    diff: Some(Box::new(report.diff)),
                });
            }
            self.registry.install(candidate).map_err(|e| SwapRefused::new(e.to_string()))?;
            self.metrics.plugin_swapped(world.name());
            // The scratch plan is the plan of the plugins now active: the re-plan reuses it.
            self.prepared = next;
            self.failures[world.index()] = 0;
            report.switched = true;
        }
        report.took_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// `ferrolb plugin rollback WORLD`.
    pub fn rollback_plugin(&mut self, world: World) -> Result<SwapReport, SwapRefused> {
        let started = Instant::now();
        let prev = self
            .registry
            .previous(world)
            .ok_or_else(|| SwapRefused::new(format!("no previous {world} plugin to roll back to")))?;
        let scratch = scratch_registry(&self.registry, &prev);
        let next = self.plan_with(&scratch, world)?;
        let diff = match (&self.lock().plan, &next) {
            (Some(now), Some((next, _))) => PlanDiff::between(now, next),
            _ => PlanDiff::default(),
        };
        let back = self.registry.rollback(world).map_err(|e| SwapRefused::new(e.to_string()))?;
        self.prepared = next;
        self.metrics.plugin_rolled_back(world.name());
        self.failures[world.index()] = 0;
        Ok(SwapReport {
            action: "rollback".into(),
            world,
            active: back.label(),
            digest: back.digest.clone(),
            switched: true,
            diff,
            smoke_cases: 0,
            took_ms: started.elapsed().as_secs_f64() * 1e3,
            load_ms: 0.0,
            smoke_ms: 0.0,
            plan_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// `ferrolb plugin list`.
    pub fn plugin_slots(&self) -> Vec<PluginSlot> {
        World::ALL
            .into_iter()
            .map(|world| {
                let active = self.registry.active(world);
                PluginSlot {
                    world,
                    active: active.as_ref().map(|p| p.label()).unwrap_or_default(),
                    source: active.as_ref().map(|p| p.source.clone()).unwrap_or_default(),
                    digest: active.as_ref().map(|p| p.digest.clone()).unwrap_or_default(),
                    previous: self.registry.previous(world).map(|p| p.label()),
                    swaps: self.registry.swaps(world),
                    quarantines: self.quarantines[world.index()],
                }
            })
            .collect()
    }

    /// After a plan: counts each world's consecutive failures and rolls a swapped-in plugin back
    /// after [`QUARANTINE_AFTER`] of them. Returns the worlds rolled back.
    pub(super) fn quarantine(&mut self, plan: &Plan) -> Vec<World> {
        let mut rolled = Vec::new();
        for status in &plan.policies {
            let i = status.world.index();
            if status.status != "failed" {
                self.failures[i] = 0;
                continue;
            }
            self.failures[i] += 1;
            let is_builtin = self.registry.active(status.world).is_some_and(|p| p.source.starts_with("builtin:"));
            if self.failures[i] >= QUARANTINE_AFTER && !is_builtin && self.registry.previous(status.world).is_some() {
                match self.registry.rollback(status.world) {
                    Ok(back) => {
                        tracing::error!(world = %status.world, failed = %status.plugin, restored = %back.label(),
                            failures = self.failures[i], error = %status.message,
                            "plugin quarantined: it failed {} plans in a row and was rolled back", self.failures[i]);
                        self.quarantines[i] += 1;
                        self.metrics.plugin_quarantined(status.world.name());
                        self.metrics.plugin_rolled_back(status.world.name());
                        self.failures[i] = 0;
                        rolled.push(status.world);
                    }
                    Err(e) => tracing::error!(world = %status.world, error = %e, "quarantine rollback failed"),
                }
            }
        }
        rolled
    }
}

/// Parses `plugin load WORLD PATH [--dry-run] [--apply]`, `plugin rollback WORLD`, `plugin list`.
pub fn parse(args: &[String]) -> Option<Result<PluginOp, String>> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let world =
        |w: &str| World::parse(w).ok_or_else(|| format!("unknown world {w:?} (allocator, advertise, merge, egress)"));
    Some(match words.as_slice() {
        ["plugin", "list"] => Ok(PluginOp::List),
        ["plugin", "rollback", w] => world(w).map(PluginOp::Rollback),
        ["plugin", "load", w, path, flags @ ..] => (|| {
            let world = world(w)?;
            let (mut dry_run, mut apply) = (false, false);
            for f in flags {
                match *f {
                    "--dry-run" => dry_run = true,
                    "--apply" => apply = true,
                    other => return Err(format!("plugin load: unknown option {other:?}")),
                }
            }
            let source = PluginSource::parse(path)?;
            Ok(PluginOp::Load { world, source, dry_run, apply })
        })(),
        ["plugin", ..] => {
            Err("usage: plugin list | plugin load WORLD PATH [--dry-run] [--apply] | plugin rollback WORLD".into())
        }
        _ => return None,
    })
}

/// A `plugin` command for the reconcile loop.
#[derive(Debug, Clone)]
pub enum PluginOp {
    /// `plugin list`.
    List,
    /// `plugin load`.
    Load {
        /// The world.
        world: World,
        /// The component.
        source: PluginSource,
        /// Only show the difference.
        dry_run: bool,
        /// Confirm moving addresses.
        apply: bool,
    },
    /// `plugin rollback`.
    Rollback(World),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::daemon::{Daemon, Options};

    fn daemon(dir: &std::path::Path, pool: &str) -> Daemon {
        let file = dir.join("cluster.yaml");
        std::fs::write(
            &file,
            format!(
                "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {pool}, namespace: metallb-system}}\n\
                 spec: {{addresses: [198.51.100.0/28]}}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\n\
                 spec: {{type: LoadBalancer, ports: [{{port: 80, protocol: TCP}}]}}\n"
            ),
        )
        .unwrap();
        Daemon::new(Options {
            files: vec![file],
            node: "node-a".into(),
            state: dir.join("state"),
            socket: dir.join("admin.sock"),
            poll: Duration::from_secs(1),
            plugins: vec![],
            keep_routes: false,
            membership: Default::default(),
            metrics_address: None,
            trust: Default::default(),
            limits: None,
            neighbors: Default::default(),
        })
        .unwrap()
    }

    /// A plugin that passed its smoke cases but fails on this cluster (the hostile `chaos`
    /// allocator in `late-panic` mode: it opens, then traps on every call) is rolled back after
    /// three failed plans in a row; the event is counted and the builtin decides again.
    #[test]
    fn a_plugin_failing_three_plans_in_a_row_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = daemon(dir.path(), "late-panic");
        d.reconcile(true).unwrap().unwrap();
        let chaos = std::path::PathBuf::from(crate::policy::builtin::PLUGIN_DIR).join("hostile_chaos.wasm");
        let plugin = d.registry.runtime().load(World::Allocator, &PluginSource::Path(chaos)).unwrap();
        d.registry.install(Arc::clone(&plugin)).unwrap();
        for round in 1..=QUARANTINE_AFTER {
            let plan = d.reconcile(true).unwrap().map(|_| d.lock().plan.clone().unwrap()).unwrap();
            let status = plan.policies.iter().find(|s| s.world == World::Allocator).unwrap();
            if round < QUARANTINE_AFTER {
                assert_eq!(status.status, "failed", "round {round}: {status:?}");
                assert_eq!(d.registry.active(World::Allocator).unwrap().digest, plugin.digest);
                // The last good allocation stays in force meanwhile.
                assert_eq!(plan.allocations.len(), 1, "{plan:?}");
            } else {
                // Rolled back during this reconcile, which then planned with the builtin.
                assert_eq!(status.status, "ok", "{status:?}");
                assert!(d.registry.active(World::Allocator).unwrap().source.starts_with("builtin:"));
            }
        }
        let slots = d.plugin_slots();
        let a = slots.iter().find(|s| s.world == World::Allocator).unwrap();
        assert_eq!(a.quarantines, 1);
        assert!(d.metrics().encode().contains("ferrolb_plugin_quarantines_total{world=\"allocator\"} 1"));
    }

    #[test]
    fn plan_diff_names_moves_new_allocations_and_route_changes() {
        use crate::controller::BgpRoute;
        let route = |peer: &str, prefix: &str| BgpRoute {
            peer: peer.into(),
            vrf: String::new(),
            prefix: prefix.parse().unwrap(),
            local_pref: None,
            communities: vec!["64512:100".into()],
            large_communities: vec![],
            services: vec![],
        };
        let alloc = |svc: &str, ip: &str| crate::store::Allocation {
            service: svc.into(),
            ips: vec![ip.parse().unwrap()],
            pool: "p".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let mut d = daemon(dir.path(), "public");
        d.reconcile(true).unwrap().unwrap();
        let mut now = d.lock().plan.clone().unwrap();
        now.allocations = vec![alloc("a/x", "192.0.2.1"), alloc("a/y", "192.0.2.2")];
        now.bgp = vec![route("up", "192.0.2.1/32"), route("up", "192.0.2.2/32")];
        let mut next = now.clone();
        next.allocations = vec![alloc("a/x", "192.0.2.1"), alloc("a/y", "192.0.2.3"), alloc("a/z", "192.0.2.4")];
        next.bgp = vec![route("up", "192.0.2.1/32"), route("up", "192.0.2.3/32")];
        let diff = PlanDiff::between(&now, &next);
        assert_eq!(diff.moved.len(), 1);
        assert_eq!(diff.moved[0].service, "a/y");
        assert_eq!(diff.allocated.len(), 1);
        assert_eq!(diff.routes_added, vec!["up 192.0.2.3/32 64512:100".to_string()]);
        assert_eq!(diff.routes_removed, vec!["up 192.0.2.2/32 64512:100".to_string()]);
        assert!(PlanDiff::between(&now, &now).is_empty());
        assert!(diff.text().contains("moved      a/y: 192.0.2.2 -> 192.0.2.3"), "{}", diff.text());
    }
}
