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
    /// Egress decisions (the egress policy).
    pub egress: Vec<serde_json::Value>,
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
    services.sort_by_key(|s| {
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
    let (allocations, allocator_status) = allocate(registry, model, held);
    let mut policies = vec![allocator_status];
    let (adv, advertise_status) = advertise(registry, model, node, &allocations.granted);
    policies.push(advertise_status);
    let (router, merge_errors, merge_status) = merge::merge(registry, model, node, &adv.bgp);
    policies.push(merge_status);
    {
        let world = World::Egress;
        policies.push(PolicyStatus {
            world,
            plugin: registry.active(world).map(|p| p.label()).unwrap_or_default(),
            status: "not-connected".into(),
            message: format!("the host does not call the {world} policy yet; its sections are empty"),
        });
    }
    Plan {
        node: node.to_string(),
        allocations: allocations.granted,
        allocation_errors: allocations.errors,
        bgp: adv.bgp,
        l2: adv.l2,
        advertise_errors: adv.errors,
        router,
        merge_errors,
        egress: vec![],
        policies,
    }
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

fn advertise(registry: &Registry, model: &Model, node: &str, granted: &[Allocation]) -> (Announcements, PolicyStatus) {
    use crate::policy::AdvertiseInstance;
    use crate::policy::convert::{ip_from_wit, prefix_from_wit};
    use std::collections::BTreeMap;

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
        if let Err(errors) = inst.open(&input::advertise_config(model, node))? {
            for e in errors {
                let objects: Vec<String> = e.objects.iter().map(input::object_name).collect();
                out.errors.push(AllocationError {
                    service: String::new(),
                    reason: format!("{}: {}: {}", objects.join(", "), e.field, e.reason),
                });
            }
            return Ok(out);
        }
        type Key = (String, String, ipnet::IpNet);
        let mut routes: BTreeMap<Key, BgpRoute> = BTreeMap::new();
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
                for peer in r.peers.iter().filter_map(|&p| config.peers.get(p as usize)) {
                    let entry =
                        routes.entry((peer.name.clone(), peer.vrf.clone(), prefix)).or_insert_with(|| BgpRoute {
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
        out.bgp = routes
            .into_values()
            .map(|mut r| {
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
