//! The controller: validated model + active policies → decisions, deterministically.
//!
//! Given the same model, the same held state and the same plugins, [`plan`] produces the same
//! [`Plan`]. It never touches the network or the kernel: engines act on its decisions. A policy
//! that fails leaves the last good state in force (for allocations: the allocations the host
//! holds), and the plan says which policy failed and why in [`Plan::policies`].

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrolb_config::Model;
use ferrolb_config::model::{ObjectRef, Service};
use ferrolb_store::Allocation;
use serde::Serialize;

use crate::policy::input;
use crate::policy::{AllocatorInstance, Plugin, PluginError, Registry, World};

pub mod kernel;
pub mod merge;

/// Every decision for one node: the JSON contract of `ferrolb plan` (extend it, never rename).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The node planned for.
    pub node: String,
    /// Addresses granted, sorted by service.
    pub allocations: Vec<Allocation>,
    /// Services that got no address, and why.
    pub allocation_errors: Vec<AllocationError>,
    /// Routes this node announces, per BGP peer (the advertise policy), sorted.
    pub bgp: Vec<BgpRoute>,
    /// Addresses this node answers ARP/NDP for (the advertise policy), sorted.
    pub l2: Vec<L2Announcement>,
    /// Services (or the whole advertisement configuration) the advertise policy refused.
    pub advertise_errors: Vec<AllocationError>,
    /// The merged router configuration for this node (the merge policy).
    pub router: serde_json::Value,
    /// Why the configurations could not be merged.
    pub merge_errors: Vec<serde_json::Value>,
    /// Egress decisions (the egress policy), one per EgressService.
    pub egress: Vec<serde_json::Value>,
    /// The kernel state this node must have: NodeNetworkConfigurationPolicy VRFs, addresses,
    /// routes, route-rules, and the egress ip rules and SNAT (`ferrolb-netlink`'s desired state).
    pub kernel: ferrolb_netlink::intent::DesiredState,
    /// Objects kept out of `kernel`, and why.
    pub kernel_errors: Vec<String>,
    /// What each policy did: which plugin, and whether its section is complete.
    pub policies: Vec<PolicyStatus>,
}

/// One route to one peer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct BgpRoute {
    /// The BGPPeer name.
    pub peer: String,
    /// The session's VRF ("" is the default VRF).
    pub vrf: String,
    /// The prefix.
    pub prefix: ipnet::IpNet,
    /// LOCAL_PREF (iBGP peers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// Standard communities, `a:b`.
    pub communities: Vec<String>,
    /// Large communities, `a:b:c`.
    pub large_communities: Vec<String>,
    /// The services whose addresses the route covers.
    pub services: Vec<String>,
}

/// One address this node answers for over layer 2.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct L2Announcement {
    /// `namespace/name`.
    pub service: String,
    /// The address.
    pub ip: std::net::IpAddr,
    /// The interfaces to answer on (empty: every interface).
    pub interfaces: Vec<String>,
    /// The elected node (this node).
    pub node: String,
}

/// A refused allocation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AllocationError {
    /// `namespace/name`.
    pub service: String,
    /// Why, for a person.
    pub reason: String,
}

/// How a policy's section of the plan came about.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PolicyStatus {
    /// The world.
    pub world: World,
    /// The plugin (`name@version`), or "" when none is active.
    pub plugin: String,
    /// `ok`, `not-implemented`, `not-connected` (the host does not call this world yet), or
    /// `failed` (the section holds the last good state).
    pub status: String,
    /// Details for a person.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl PolicyStatus {
    fn of(world: World, plugin: Option<&Arc<Plugin>>, result: Result<(), PluginError>) -> PolicyStatus {
        let plugin = plugin.map(|p| p.label()).unwrap_or_default();
        match result {
            Ok(()) => PolicyStatus { world, plugin, status: "ok".into(), message: String::new() },
            Err(e) => {
                let not_implemented =
                    matches!(&e.cause, crate::policy::Cause::Refused(m) if m.starts_with("not implemented"));
                PolicyStatus {
                    world,
                    plugin,
                    status: if not_implemented { "not-implemented" } else { "failed" }.into(),
                    message: e.to_string(),
                }
            }
        }
    }
}

/// The LoadBalancer services ferrolb serves (as MetalLB: those without a `loadBalancerClass`), in
/// the order they are assigned: services the host already holds addresses for, then services
/// whose status shows addresses (so a restart without a store gives everyone back their address
/// before a newcomer could take it), then the rest; each group by namespace/name.
fn assignment_order<'m>(model: &'m Model, held: &[Allocation]) -> Vec<&'m Service> {
    let held: BTreeSet<&str> = held.iter().map(|a| a.service.as_str()).collect();
    let mut services: Vec<&Service> = model.load_balancers().filter(|s| s.load_balancer_class.is_none()).collect();
    services.sort_by_cached_key(|s| {
        let name = s.id.to_string();
        let group = if held.contains(name.as_str()) {
            0
        } else if !s.current_ips.is_empty() {
            1
        } else {
            2
        };
        (group, s.id.clone())
    });
    services
}

/// The allocator's part of the plan.
struct Allocations {
    granted: Vec<Allocation>,
    errors: Vec<AllocationError>,
}

fn allocate(registry: &Registry, model: &Model, held: &[Allocation]) -> (Allocations, PolicyStatus) {
    let plugin = registry.active(World::Allocator);
    let last_good = || Allocations { granted: held.to_vec(), errors: vec![] };
    let Some(plugin) = plugin else {
        let status = PolicyStatus {
            world: World::Allocator,
            plugin: String::new(),
            status: "failed".into(),
            message: "no allocator plugin is active".into(),
        };
        return (last_good(), status);
    };
    let result = (|| -> Result<Allocations, PluginError> {
        let mut inst = AllocatorInstance::new(registry.runtime(), &plugin)?;
        let config = input::allocator_config(model);
        let existing: Vec<_> = held.iter().map(input::allocation_to_wit).collect();
        let outcome = inst.open(&config, &existing)?;
        let mut errors: Vec<AllocationError> = outcome
            .released
            .iter()
            .map(|r| AllocationError { service: input::object_name(&r.service), reason: r.reason.clone() })
            .collect();
        // Services that are gone (or no longer LoadBalancers) give their addresses back.
        let services = assignment_order(model, held);
        let present: BTreeSet<String> = services.iter().map(|s| s.id.to_string()).collect();
        for a in held {
            if !present.contains(&a.service) {
                inst.release(&input::object_ref(&ObjectRef::parse(&a.service)))?;
            }
        }
        let mut granted = Vec::new();
        for svc in services {
            match inst.assign(&input::allocator_service(svc))? {
                Ok(a) => granted.push(input::allocation_from_wit(&a)),
                Err(e) => {
                    errors.retain(|x| x.service != svc.id.to_string());
                    errors.push(AllocationError { service: svc.id.to_string(), reason: e.reason });
                }
            }
        }
        // A service released by the reconfiguration and then granted a new address is fine.
        errors.retain(|e| !granted.iter().any(|g| g.service == e.service));
        granted.sort_by(|a, b| a.service.cmp(&b.service));
        errors.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(Allocations { granted, errors })
    })();
    match result {
        Ok(a) => (a, PolicyStatus::of(World::Allocator, Some(&plugin), Ok(()))),
        Err(e) => (last_good(), PolicyStatus::of(World::Allocator, Some(&plugin), Err(e))),
    }
}

/// Plan every decision for `node`, starting from the allocations the host holds.
pub fn plan(registry: &Registry, model: &Model, node: &str, held: &[Allocation]) -> Plan {
    plan_with_router(registry, model, node, held).0
}

/// [`plan`], also returning the merged router configuration itself (the `router` section in
/// typed form, fresh or last valid), which the daemon turns into BGP sessions.
pub fn plan_with_router(
    registry: &Registry,
    model: &Model,
    node: &str,
    held: &[Allocation],
) -> (Plan, Option<merge::MergedConfig>) {
    plan_live(registry, model, node, held, None)
}

/// [`plan_with_router`] with the membership protocol's live set: a node is live for the
/// policies when it is in `live` (without a live set: when its Ready condition is true).
pub fn plan_live(
    registry: &Registry,
    model: &Model,
    node: &str,
    held: &[Allocation],
    live: Option<&std::collections::BTreeSet<String>>,
) -> (Plan, Option<merge::MergedConfig>) {
    plan_reusing(registry, model, node, held, live, None)
}

/// [`plan_live`], taking the allocator's part from `reuse` (a plan of the same model, allocator
/// plugin and held allocations) instead of asking the allocator again: what a swap of another
/// world's plugin needs.
pub fn plan_reusing(
    registry: &Registry,
    model: &Model,
    node: &str,
    held: &[Allocation],
    live: Option<&std::collections::BTreeSet<String>>,
    reuse: Option<&Plan>,
) -> (Plan, Option<merge::MergedConfig>) {
    let (allocations, allocator_status) = match reuse {
        Some(p) => (
            Allocations { granted: p.allocations.clone(), errors: p.allocation_errors.clone() },
            p.policies.iter().find(|s| s.world == World::Allocator).cloned().unwrap_or_else(|| PolicyStatus {
                world: World::Allocator,
                plugin: String::new(),
                status: "ok".into(),
                message: String::new(),
            }),
        ),
        None => allocate(registry, model, held),
    };
    let mut policies = vec![allocator_status];
    let eg = egress(registry, model, node, &allocations.granted, live);
    let (adv, advertise_status) = advertise(registry, model, node, &allocations.granted, &eg.labels, live);
    policies.push(advertise_status);
    let (router, merge_errors, merge_status, merged) = merge::merge_typed(registry, model, node, &adv.bgp);
    policies.push(merge_status);
    policies.push(eg.status);
    let (kernel_state, kernel_errors) = kernel::desired_state(model, node, &eg.kernel);
    let plan = Plan {
        node: node.to_string(),
        allocations: allocations.granted,
        allocation_errors: allocations.errors,
        bgp: adv.bgp,
        l2: adv.l2,
        advertise_errors: adv.errors,
        router,
        merge_errors,
        egress: eg.decisions,
        kernel: kernel_state,
        kernel_errors: kernel_errors.iter().map(|e| e.to_string()).collect(),
        policies,
    };
    (plan, merged)
}

/// The egress policy's part of the plan.
struct Egress {
    /// The decisions, as the plan shows them.
    decisions: Vec<serde_json::Value>,
    /// Their kernel part for this node.
    kernel: Vec<kernel::EgressKernel>,
    /// `(node, label key)` the host puts on nodes.
    labels: Vec<(String, String)>,
    status: PolicyStatus,
}

/// Decide every EgressService whose Service holds load-balancer addresses (OVN-Kubernetes
/// semantics, the egress policy). A service without an allocation, or an EgressService without a
/// LoadBalancer Service, is reported in its decision's `refusals` by the host itself.
fn egress(
    registry: &Registry,
    model: &Model,
    node: &str,
    granted: &[Allocation],
    live: Option<&std::collections::BTreeSet<String>>,
) -> Egress {
    use crate::policy::EgressInstance;
    use crate::policy::convert::{ip_from_wit, prefix_from_wit};

    let world = World::Egress;
    let mut out =
        Egress { decisions: vec![], kernel: vec![], labels: vec![], status: PolicyStatus::of(world, None, Ok(())) };
    if model.egress_services.is_empty() {
        out.status = PolicyStatus::of(world, registry.active(world).as_ref(), Ok(()));
        return out;
    }
    let Some(plugin) = registry.active(world) else {
        out.status.status = "failed".into();
        out.status.message = "no egress plugin is active".into();
        return out;
    };
    let result = (|| -> Result<(), PluginError> {
        let mut inst = EgressInstance::new(registry.runtime(), &plugin)?;
        let nodes = model
            .nodes
            .iter()
            .map(|n| input::node(n, live.map_or(n.conditions.ready, |l| l.contains(&n.name))))
            .collect();
        inst.open(&input::egress_config(model, node, nodes))?;
        for e in &model.egress_services {
            let name = e.id.to_string();
            let host_refusal = |why: String| serde_json::json!({"service": name, "node": "", "rules": [], "snat": [], "refusals": [why]});
            let Some(svc) =
                model.service(&e.id).filter(|s| s.service_type == ferrolb_config::model::ServiceType::LoadBalancer)
            else {
                out.decisions.push(host_refusal(format!("EgressService {name}: no LoadBalancer Service {name}")));
                continue;
            };
            let ips: Vec<std::net::IpAddr> =
                granted.iter().find(|a| a.service == name).map(|a| a.ips.clone()).unwrap_or_default();
            let d = match inst.decide(&input::egress_service(e, svc, &ips, None)) {
                Ok(d) => d,
                Err(err) if inst.is_poisoned() => return Err(err),
                Err(err) => {
                    out.decisions.push(host_refusal(err.to_string()));
                    continue;
                }
            };
            let mut k = kernel::EgressKernel::default();
            let mut rules = vec![];
            for r in &d.rules {
                let from = prefix_from_wit(&r.from).map_err(|m| PluginError {
                    world,
                    plugin: plugin.label(),
                    cause: crate::policy::Cause::InvalidAnswer(m),
                })?;
                k.rules.push((r.priority, from, r.table));
                rules.push(serde_json::json!({"priority": r.priority, "from": from.to_string(), "table": r.table}));
            }
            let snat: Vec<serde_json::Value> = d
                .snat
                .iter()
                .map(|r| {
                    let (from, to) = (ip_from_wit(&r.from), ip_from_wit(&r.to));
                    k.snat.push((from, to));
                    serde_json::json!({"from": from.to_string(), "to": to.to_string()})
                })
                .collect();
            if let Some(l) = &d.node_label
                && !d.node.is_empty()
            {
                out.labels.push((d.node.clone(), l.key.clone()));
            }
            let mut v = serde_json::json!({
                "service": name,
                "node": d.node,
                "rules": rules,
                "snat": snat,
                "refusals": d.refusals,
            });
            if let Some(l) = &d.node_label {
                v["nodeLabel"] = serde_json::json!(l.key);
            }
            if let Some(ip) = &d.source_ip {
                v["sourceIp"] = serde_json::json!(ip_from_wit(ip).to_string());
            }
            if let Some(t) = d.table {
                v["table"] = serde_json::json!(t);
            }
            out.decisions.push(v);
            out.kernel.push(k);
        }
        Ok(())
    })();
    out.status = PolicyStatus::of(world, Some(&plugin), result);
    out
}

/// The advertise policy's part of the plan.
#[derive(Default)]
struct Announcements {
    bgp: Vec<BgpRoute>,
    l2: Vec<L2Announcement>,
    errors: Vec<AllocationError>,
}

fn community_text(c: &crate::policy::types::Community) -> (bool, String) {
    match c {
        crate::policy::types::Community::Standard(v) => (false, format!("{}:{}", v >> 16, v & 0xffff)),
        crate::policy::types::Community::Large((a, b, c)) => (true, format!("{a}:{b}:{c}")),
    }
}

fn advertise(
    registry: &Registry,
    model: &Model,
    node: &str,
    granted: &[Allocation],
    extra_labels: &[(String, String)],
    live: Option<&std::collections::BTreeSet<String>>,
) -> (Announcements, PolicyStatus) {
    use crate::policy::AdvertiseInstance;
    use crate::policy::convert::{ip_from_wit, prefix_from_wit};

    let Some(plugin) = registry.active(World::Advertise) else {
        let status = PolicyStatus {
            world: World::Advertise,
            plugin: String::new(),
            status: "failed".into(),
            message: "no advertise plugin is active".into(),
        };
        return (Announcements::default(), status);
    };
    let result = (|| -> Result<Announcements, PluginError> {
        let mut out = Announcements::default();
        let mut inst = AdvertiseInstance::new(registry.runtime(), &plugin)?;
        let mut config = input::advertise_config(model, node);
        if let Some(live) = live {
            for w in &mut config.nodes {
                w.live = live.contains(&w.name);
            }
        }
        // The egress policy's node labels (egress-service.k8s.ovn.org/<ns>-<name>), so that
        // BGPAdvertisement nodeSelectors can follow the egress node (symmetric routing).
        for (n, key) in extra_labels {
            if let Some(w) = config.nodes.iter_mut().find(|w| &w.name == n) {
                w.labels.push(crate::policy::types::Label { key: key.clone(), value: String::new() });
            }
        }
        if let Err(errors) = inst.open(&config)? {
            for e in errors {
                let objects: Vec<String> = e.objects.iter().map(input::object_name).collect();
                out.errors.push(AllocationError {
                    service: String::new(),
                    reason: format!("{}: {}: {}", objects.join(", "), e.field, e.reason),
                });
            }
            return Ok(out);
        }
        // Keyed by the peer's index in the configuration (not its name: 100k string keys are slow).
        type Key = (u32, ipnet::IpNet);
        let mut routes: std::collections::HashMap<Key, BgpRoute> = std::collections::HashMap::new();
        for a in granted {
            let Some(svc) = model.service(&ObjectRef::parse(&a.service)) else { continue };
            let ann = match inst.announce(&input::advertise_service(svc, a)) {
                Ok(ann) => ann,
                // A trapped instance cannot answer for the other services: the section fails.
                Err(e) if inst.is_poisoned() => return Err(e),
                // Otherwise only this service goes without announcements.
                Err(e) => {
                    out.errors.push(AllocationError { service: a.service.clone(), reason: e.to_string() });
                    continue;
                }
            };
            let Some(config) = inst.config() else { return Ok(out) };
            for r in &ann.bgp {
                // Checked by the instance: well formed, peers and advertisement in range.
                let prefix = prefix_from_wit(&r.prefix).map_err(|m| PluginError {
                    world: World::Advertise,
                    plugin: plugin.label(),
                    cause: crate::policy::Cause::InvalidAnswer(m),
                })?;
                for (index, peer) in r.peers.iter().filter_map(|&p| Some((p, config.peers.get(p as usize)?))) {
                    let entry = routes.entry((index, prefix)).or_insert_with(|| BgpRoute {
                        peer: peer.name.clone(),
                        vrf: peer.vrf.clone(),
                        prefix,
                        local_pref: r.local_pref,
                        communities: vec![],
                        large_communities: vec![],
                        services: vec![],
                    });
                    if entry.local_pref != r.local_pref {
                        tracing::warn!(peer = %peer.name, %prefix, "advertisements disagree on localPref; keeping {:?}", entry.local_pref);
                    }
                    for c in &r.communities {
                        let (large, text) = community_text(c);
                        let list = if large { &mut entry.large_communities } else { &mut entry.communities };
                        if !list.contains(&text) {
                            list.push(text);
                        }
                    }
                    if !entry.services.contains(&a.service) {
                        entry.services.push(a.service.clone());
                    }
                }
            }
            for l in &ann.l2 {
                if l.node == node {
                    out.l2.push(L2Announcement {
                        service: a.service.clone(),
                        ip: ip_from_wit(&l.ip),
                        interfaces: l.interfaces.clone(),
                        node: l.node.clone(),
                    });
                }
            }
            for reason in &ann.refusals {
                out.errors.push(AllocationError { service: a.service.clone(), reason: reason.clone() });
            }
        }
        // Deterministic order: by peer name and VRF (each peer's rank, computed once), then prefix.
        let rank: Vec<usize> = match inst.config() {
            Some(config) => {
                let mut order: Vec<usize> = (0..config.peers.len()).collect();
                order.sort_by(|&x, &y| {
                    (&config.peers[x].name, &config.peers[x].vrf, x).cmp(&(
                        &config.peers[y].name,
                        &config.peers[y].vrf,
                        y,
                    ))
                });
                let mut rank = vec![0; order.len()];
                for (position, index) in order.into_iter().enumerate() {
                    rank[index] = position;
                }
                rank
            }
            None => vec![],
        };
        let mut keyed: Vec<(Key, BgpRoute)> = routes.into_iter().collect();
        keyed.sort_unstable_by_key(|((index, prefix), _)| (rank.get(*index as usize).copied(), *prefix));
        out.bgp = keyed
            .into_iter()
            .map(|(_, mut r)| {
                r.communities.sort();
                r.large_communities.sort();
                r.services.sort();
                r
            })
            .collect();
        out.l2.sort();
        Ok(out)
    })();
    match result {
        Ok(a) => (a, PolicyStatus::of(World::Advertise, Some(&plugin), Ok(()))),
        Err(e) => (Announcements::default(), PolicyStatus::of(World::Advertise, Some(&plugin), Err(e))),
    }
}
