//! Advertise cases: the case format (see `conformance/README.md`) and the runner that plays the
//! host — it opens the plugin's `advertiser` with the manifests' configuration, hands it the
//! services with the allocations the case gives, and tells it when nodes go down or come back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::policy::advertise::exports::ferrolb::policy::advertise_policy as adv;
use crate::policy::convert::{ip_from_wit, prefix_from_wit};
use crate::policy::input;
use crate::policy::types::Community;
use crate::policy::{AdvertiseInstance, Plugin, Runtime};
use ferrolb_config::Model;
use ferrolb_config::model::ObjectRef;
use ferrolb_store::Allocation;
use serde::Deserialize;

use super::Options;
use super::allocator::AllocationSpec;
use super::manifests::Manifests;

/// One advertise case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub description: String,
    /// Which rules it exercises (tags).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Where the behaviour is documented.
    #[serde(default)]
    pub reference: Option<String>,
    /// The local node.
    pub node: String,
    /// The initial manifests.
    pub manifests: String,
    /// The addresses services hold.
    #[serde(default)]
    pub allocations: Vec<AllocationSpec>,
    /// The configuration errors `open` must report (then no step runs).
    #[serde(default, rename = "open-expect")]
    pub open_expect: Option<OpenExpect>,
    /// The steps.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Expected configuration errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenExpect {
    /// The errors.
    pub errors: Vec<ConfigErrorSpec>,
}

/// One expected configuration error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigErrorSpec {
    /// The objects named (a set).
    pub objects: Vec<String>,
    /// The field (substring, with --check-messages).
    #[serde(default)]
    pub field: String,
    /// The reason (substring, with --check-messages).
    #[serde(default)]
    pub reason: String,
}

/// A step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `announce: NS/NAME`.
    #[serde(default)]
    pub announce: Option<String>,
    /// `nodes: {down: [...], up: [...]}`.
    #[serde(default)]
    pub nodes: Option<NodesSpec>,
    /// `apply: <yaml>`.
    #[serde(default)]
    pub apply: Option<String>,
    /// `delete: [Kind/NS/NAME]`.
    #[serde(default)]
    pub delete: Option<Vec<String>>,
    /// What `announce` must answer.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// Liveness changes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesSpec {
    /// Nodes that go down.
    #[serde(default)]
    pub down: Vec<String>,
    /// Nodes that come back.
    #[serde(default)]
    pub up: Vec<String>,
}

/// What an `announce` must answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The routes (a set); unchecked when absent.
    #[serde(default)]
    pub bgp: Option<Vec<RouteSpec>>,
    /// The layer-2 announcements (a set); unchecked when absent.
    #[serde(default)]
    pub l2: Option<Vec<L2Spec>>,
    /// A refusal must be given (text with --check-messages).
    #[serde(default)]
    pub refused: Option<String>,
}

/// An expected route.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteSpec {
    /// The BGPPeer.
    pub peer: String,
    /// The VRF.
    #[serde(default)]
    pub vrf: String,
    /// The prefix.
    pub prefix: ipnet::IpNet,
    /// LOCAL_PREF.
    #[serde(default)]
    pub local_pref: Option<u32>,
    /// Standard communities `a:b`.
    #[serde(default)]
    pub communities: BTreeSet<String>,
    /// Large communities `a:b:c`.
    #[serde(default)]
    pub large_communities: BTreeSet<String>,
}

/// An expected layer-2 announcement.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct L2Spec {
    /// The address.
    pub ip: IpAddr,
    /// The elected node ("" when none is eligible).
    #[serde(default)]
    pub node: String,
    /// The interfaces.
    #[serde(default)]
    pub interfaces: BTreeSet<String>,
}

/// One route of the answer per peer that hears it (peers are indices into the configuration the
/// advertiser was opened with; the instance checked they are in range).
fn routes_of(config: &adv::AdvertiseConfig, r: &adv::BgpRoute) -> Result<Vec<RouteSpec>, String> {
    let mut communities = BTreeSet::new();
    let mut large_communities = BTreeSet::new();
    for c in &r.communities {
        match c {
            Community::Standard(v) => communities.insert(format!("{}:{}", v >> 16, v & 0xffff)),
            Community::Large((a, b, c)) => large_communities.insert(format!("{a}:{b}:{c}")),
        };
    }
    let prefix = prefix_from_wit(&r.prefix)?;
    r.peers
        .iter()
        .map(|&p| {
            let peer = config.peers.get(p as usize).ok_or_else(|| format!("route {prefix} to peer index {p}"))?;
            Ok(RouteSpec {
                peer: peer.name.clone(),
                vrf: peer.vrf.clone(),
                prefix,
                local_pref: r.local_pref,
                communities: communities.clone(),
                large_communities: large_communities.clone(),
            })
        })
        .collect()
}

/// Normalise a prefix written with host bits (e.g. 203.0.113.201/30) as the network.
fn normal(r: &RouteSpec) -> RouteSpec {
    RouteSpec { prefix: r.prefix.trunc(), ..r.clone() }
}

struct Host<'a> {
    runtime: &'a Arc<Runtime>,
    plugin: &'a Arc<Plugin>,
    node: String,
    manifests: Manifests,
    model: Model,
    down: BTreeSet<String>,
    instance: AdvertiseInstance,
}

impl Host<'_> {
    fn nodes(&self) -> Vec<crate::policy::types::Node> {
        self.model.nodes.iter().map(|n| input::node(n, n.conditions.ready && !self.down.contains(&n.name))).collect()
    }

    /// (Re)open the advertiser; `Err(list)` carries the configuration errors.
    fn open(&mut self) -> Result<Result<(), Vec<adv::ConfigError>>, String> {
        self.instance = AdvertiseInstance::new(self.runtime, self.plugin).map_err(|e| e.to_string())?;
        let mut config = input::advertise_config(&self.model, &self.node);
        config.nodes = self.nodes();
        self.instance.open(&config).map_err(|e| e.to_string())
    }
}

/// Run one case; `Err` says which step failed and how.
pub fn run(runtime: &Arc<Runtime>, plugin: &Arc<Plugin>, case: &Case, opts: &Options) -> Result<(), String> {
    let notes = std::cell::RefCell::new(Vec::new());
    run_case(runtime, plugin, case, opts, &notes).map_err(|e| super::with_loader_notes(e, &notes.borrow()))
}

fn run_case(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    case: &Case,
    opts: &Options,
    notes: &std::cell::RefCell<Vec<String>>,
) -> Result<(), String> {
    let manifests = Manifests::parse(&case.manifests)?;
    let model = manifests.load().map(|(m, e)| {
        notes.borrow_mut().extend(e);
        m
    })?;
    let allocations: BTreeMap<String, Allocation> = case
        .allocations
        .iter()
        .map(|a| {
            (a.service.clone(), Allocation { service: a.service.clone(), ips: a.ips.clone(), pool: a.pool.clone() })
        })
        .collect();
    let instance = AdvertiseInstance::new(runtime, plugin).map_err(|e| e.to_string())?;
    let mut host = Host { runtime, plugin, node: case.node.clone(), manifests, model, down: BTreeSet::new(), instance };
    let opened = host.open().map_err(|e| format!("open: {e}"))?;
    match (&case.open_expect, opened) {
        (None, Ok(())) => {}
        (None, Err(errors)) => {
            let list: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect();
            return Err(format!("open: the configuration was refused: {}", list.join("; ")));
        }
        (Some(_), Ok(())) => return Err("open: expected configuration errors, the plugin accepted it".into()),
        (Some(expect), Err(errors)) => return check_config_errors(&expect.errors, &errors, opts),
    }

    for (i, step) in case.steps.iter().enumerate() {
        let fail = |m: String| format!("step {}: {m}", i + 1);
        let kinds = [step.announce.is_some(), step.nodes.is_some(), step.apply.is_some() || step.delete.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail("a step must have exactly one of announce, nodes, apply/delete".into()));
        }
        if let Some(name) = &step.announce {
            let svc = host.model.service(&ObjectRef::parse(name)).ok_or_else(|| fail(format!("no Service {name}")))?;
            let alloc = allocations.get(name).ok_or_else(|| fail(format!("no allocation for {name} in the case")))?;
            let ann = host.instance.announce(&input::advertise_service(svc, alloc)).map_err(|e| fail(e.to_string()))?;
            let Some(expect) = &step.expect else { continue };
            if let Some(want) = &expect.bgp {
                let config = host.instance.config().ok_or_else(|| fail("announce before open".into()))?;
                let mut got: BTreeSet<RouteSpec> = BTreeSet::new();
                for r in &ann.bgp {
                    got.extend(routes_of(config, r).map_err(fail)?);
                }
                let want: BTreeSet<RouteSpec> = want.iter().map(normal).collect();
                if got != want {
                    return Err(fail(format!("announce {name}: bgp {got:?}, expected {want:?}")));
                }
            }
            if let Some(want) = &expect.l2 {
                let got: BTreeSet<L2Spec> = ann
                    .l2
                    .iter()
                    .map(|l| L2Spec {
                        ip: ip_from_wit(&l.ip),
                        node: l.node.clone(),
                        interfaces: l.interfaces.iter().cloned().collect(),
                    })
                    .collect();
                let want: BTreeSet<L2Spec> = want.iter().cloned().collect();
                if got != want {
                    return Err(fail(format!("announce {name}: l2 {got:?}, expected {want:?}")));
                }
            }
            match (&expect.refused, ann.refusals.is_empty()) {
                (Some(_), true) => return Err(fail(format!("announce {name}: expected a refusal, got none"))),
                (Some(text), false)
                    if opts.check_messages && !ann.refusals.iter().any(|r| r.contains(text.as_str())) =>
                {
                    return Err(fail(format!("announce {name}: refusals {:?} do not mention {text:?}", ann.refusals)));
                }
                _ => {}
            }
        } else if let Some(n) = &step.nodes {
            for d in &n.down {
                host.down.insert(d.clone());
            }
            for u in &n.up {
                host.down.remove(u);
            }
            let nodes = host.nodes();
            host.instance.update_nodes(&nodes).map_err(|e| fail(e.to_string()))?;
        } else {
            if let Some(text) = &step.apply {
                host.manifests.apply(text).map_err(fail)?;
            }
            if let Some(keys) = &step.delete {
                host.manifests.delete(keys).map_err(fail)?;
            }
            host.model = host
                .manifests
                .load()
                .map(|(m, e)| {
                    notes.borrow_mut().extend(e);
                    m
                })
                .map_err(fail)?;
            if let Err(errors) = host.open().map_err(fail)? {
                let list: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect();
                return Err(fail(format!("reopen: the configuration was refused: {}", list.join("; "))));
            }
        }
    }
    Ok(())
}

fn check_config_errors(want: &[ConfigErrorSpec], got: &[adv::ConfigError], opts: &Options) -> Result<(), String> {
    let got_sets: Vec<BTreeSet<String>> =
        got.iter().map(|e| e.objects.iter().map(input::object_name).collect()).collect();
    for w in want {
        let objects: BTreeSet<String> = w.objects.iter().cloned().collect();
        let found = got.iter().zip(&got_sets).any(|(e, set)| {
            *set == objects && (!opts.check_messages || (e.field.contains(&w.field) && e.reason.contains(&w.reason)))
        });
        if !found {
            let list: Vec<String> = got
                .iter()
                .map(|e| {
                    format!(
                        "{:?} {}: {}",
                        e.objects.iter().map(input::object_name).collect::<Vec<_>>(),
                        e.field,
                        e.reason
                    )
                })
                .collect();
            return Err(format!(
                "open: no configuration error naming {objects:?} ({} / {}); the plugin reported: {}",
                w.field,
                w.reason,
                list.join("; ")
            ));
        }
    }
    Ok(())
}
