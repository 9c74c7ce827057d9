//! The planner: the node set and routing tables, and the decision for one EgressService.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::selector::matches;
use crate::table::resolve;
use crate::types::{
    Config, Decision, InvalidInput, IpRule, Label, LabelSelector, Node, ObjectRef, Prefix, RouteTable,
    SelectorOperator, Service, SnatRule, SourceIpBy, TrafficPolicy,
};

/// The priority of every egress-service ip rule (OVN-Kubernetes uses 5000).
pub const RULE_PRIORITY: u32 = 5000;

/// The prefix of the label put on the node handling a service's egress; the full key is
/// `egress-service.k8s.ovn.org/<namespace>-<name>`.
pub const NODE_LABEL_PREFIX: &str = "egress-service.k8s.ovn.org/";

/// The label key marking the node that handles the egress of `svc`.
pub fn node_label_key(svc: &ObjectRef) -> String {
    format!("{NODE_LABEL_PREFIX}{}-{}", svc.namespace, svc.name)
}

/// SHA-256 of `<node>#<namespace>/<name>`: the eligible node with the smallest digest (bytes
/// compared in order) handles the service's egress when no current node is kept.
pub fn choice_hash(node: &str, svc: &ObjectRef) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(b"#");
    h.update(svc.namespace.as_bytes());
    h.update(b"/");
    h.update(svc.name.as_bytes());
    h.finalize().into()
}

/// The egress planner: the local node, the node set and the named routing tables.
#[derive(Clone, Debug)]
pub struct Planner {
    local_node: String,
    /// The nodes sorted by name, or why the last node set was refused.
    nodes: Result<Vec<Node>, String>,
    tables: Vec<RouteTable>,
}

/// Why a node cannot handle a service's egress (the first failing check, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ineligible {
    Selector,
    NotLive,
    NotReady,
    NetworkUnavailable,
    NoLocalEndpoint,
}

impl Ineligible {
    const ALL: [Ineligible; 5] = [
        Ineligible::Selector,
        Ineligible::NotLive,
        Ineligible::NotReady,
        Ineligible::NetworkUnavailable,
        Ineligible::NoLocalEndpoint,
    ];

    fn describe(self, n: usize) -> String {
        let (one, many) = match self {
            Ineligible::Selector => ("does not match its nodeSelector", "do not match its nodeSelector"),
            Ineligible::NotLive => ("is not live", "are not live"),
            Ineligible::NotReady => ("is not Ready", "are not Ready"),
            Ineligible::NetworkUnavailable => ("has NetworkUnavailable", "have NetworkUnavailable"),
            Ineligible::NoLocalEndpoint => (
                "hosts no ready endpoint (externalTrafficPolicy Local)",
                "host no ready endpoint (externalTrafficPolicy Local)",
            ),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// Checks a node set: every node named, no name twice. Returns it sorted by name.
fn check_nodes(mut nodes: Vec<Node>) -> Result<Vec<Node>, String> {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    if nodes.first().is_some_and(|n| n.name.is_empty()) {
        return Err(String::from("the node set has a node with an empty name"));
    }
    if let Some(w) = nodes.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!("the node set lists node \"{}\" more than once", w[0].name));
    }
    Ok(nodes)
}

/// Checks a selector the way Kubernetes does before using it.
fn check_selector(svc: &ObjectRef, sel: &LabelSelector) -> Result<(), InvalidInput> {
    for r in &sel.match_expressions {
        let ok = match r.operator {
            SelectorOperator::In | SelectorOperator::NotIn => !r.values.is_empty(),
            SelectorOperator::Exists | SelectorOperator::DoesNotExist => r.values.is_empty(),
        };
        if !ok {
            let op = match r.operator {
                SelectorOperator::In => "In needs at least one value",
                SelectorOperator::NotIn => "NotIn needs at least one value",
                SelectorOperator::Exists => "Exists takes no values",
                SelectorOperator::DoesNotExist => "DoesNotExist takes no values",
            };
            return Err(InvalidInput(format!(
                "EgressService {svc}: spec.nodeSelector requirement on key \"{}\" is malformed: operator {op}",
                r.key
            )));
        }
    }
    Ok(())
}

impl Planner {
    /// Starts from a configuration. Refuses a node set with an unnamed or repeated node.
    pub fn open(config: Config) -> Result<Planner, InvalidInput> {
        let nodes = check_nodes(config.nodes).map_err(InvalidInput)?;
        Ok(Planner { local_node: config.local_node, nodes: Ok(nodes), tables: config.tables })
    }

    /// Replaces the node set. A malformed set is remembered: every `decide` answers
    /// [`InvalidInput`] until a good set arrives.
    pub fn update_nodes(&mut self, nodes: Vec<Node>) {
        self.nodes = check_nodes(nodes);
    }

    /// The current nodes, sorted by name (empty while the last node set was refused).
    pub fn nodes(&self) -> &[Node] {
        self.nodes.as_deref().unwrap_or(&[])
    }

    /// Decides one EgressService for the local node.
    pub fn decide(&self, svc: &Service) -> Result<Decision, InvalidInput> {
        let id = &svc.id;
        if id.namespace.is_empty() || id.name.is_empty() {
            return Err(InvalidInput(format!(
                "an EgressService needs a namespace and a name, got namespace \"{}\" and name \"{}\"",
                id.namespace, id.name
            )));
        }
        let nodes = self.nodes.as_deref().map_err(|e| InvalidInput(e.clone()))?;
        let table = svc.network.as_deref().map(|n| resolve(id, n, &self.tables)).transpose()?;
        let mut d = Decision { service: id.clone(), table, ..Decision::default() };
        match svc.source_ip_by {
            SourceIpBy::Network => self.network_mode(svc, &mut d),
            SourceIpBy::LoadBalancerIp => {
                check_selector(id, &svc.node_selector)?;
                self.load_balancer_mode(svc, nodes, &mut d);
            }
        }
        d.rules.sort_unstable();
        d.rules.dedup();
        d.snat.sort_unstable();
        d.snat.dedup();
        Ok(d)
    }

    /// `sourceIPBy: Network`: ip rules for the ready endpoints on this node, nothing else.
    fn network_mode(&self, svc: &Service, d: &mut Decision) {
        let Some(table) = d.table else { return };
        if self.local_node.is_empty() {
            return;
        }
        for ep in svc.endpoints.iter().filter(|e| e.ready && e.node == self.local_node) {
            d.rules.extend(ep.addresses.iter().map(|&a| rule(a, table)));
        }
    }

    /// `sourceIPBy: LoadBalancerIP`: one node, SNAT to the load-balancer address there.
    fn load_balancer_mode(&self, svc: &Service, nodes: &[Node], d: &mut Decision) {
        let id = &svc.id;
        let Some(&first_lb) = svc.load_balancer_ips.first() else {
            d.refusals.push(format!(
                "EgressService {id}: the service has no load-balancer address allocated yet, so no node is \
                 chosen and its egress keeps the node's address; it takes effect once an address is allocated"
            ));
            return;
        };
        let Some(chosen) = self.choose(svc, nodes, d) else { return };
        d.node = chosen.clone();
        d.node_label = Some(Label { key: node_label_key(id), value: String::new() });
        d.source_ip = Some(first_lb);

        let here = !self.local_node.is_empty() && self.local_node == chosen;
        let mut addresses: Vec<IpAddr> =
            svc.endpoints.iter().filter(|e| e.ready).flat_map(|e| e.addresses.iter().copied()).collect();
        addresses.sort_unstable();
        addresses.dedup();
        for a in addresses {
            let Some(&to) = svc.load_balancer_ips.iter().find(|lb| lb.is_ipv4() == a.is_ipv4()) else {
                let fam = if a.is_ipv4() { "IPv4" } else { "IPv6" };
                d.refusals.push(format!(
                    "EgressService {id}: endpoint address {a} is {fam} but the service has no {fam} load-balancer \
                     address, so its egress is neither SNATed nor routed by the egress service; give the service \
                     an {fam} address (spec.ipFamilies) or remove {fam} from its pods"
                ));
                continue;
            };
            if here {
                d.snat.push(SnatRule { from: a, to });
                if let Some(table) = d.table {
                    d.rules.push(rule(a, table));
                }
            }
        }
    }

    /// The node handling the egress: the current node if still eligible, else the eligible node
    /// with the smallest [`choice_hash`] (ties by name). `None` (with a refusal) when none is.
    fn choose(&self, svc: &Service, nodes: &[Node], d: &mut Decision) -> Option<String> {
        let mut local_endpoints: Vec<&str> = Vec::new();
        if svc.traffic_policy == TrafficPolicy::Local {
            local_endpoints =
                svc.endpoints.iter().filter(|e| e.ready && !e.node.is_empty()).map(|e| e.node.as_str()).collect();
            local_endpoints.sort_unstable();
            local_endpoints.dedup();
        }
        let check = |n: &Node| -> Result<(), Ineligible> {
            if !matches(&svc.node_selector, &n.labels) {
                Err(Ineligible::Selector)
            } else if !n.live {
                Err(Ineligible::NotLive)
            } else if !n.ready {
                Err(Ineligible::NotReady)
            } else if n.network_unavailable {
                Err(Ineligible::NetworkUnavailable)
            } else if svc.traffic_policy == TrafficPolicy::Local
                && local_endpoints.binary_search(&n.name.as_str()).is_err()
            {
                Err(Ineligible::NoLocalEndpoint)
            } else {
                Ok(())
            }
        };

        if let Some(current) = svc.current_node.as_deref().filter(|c| !c.is_empty())
            && let Ok(i) = nodes.binary_search_by(|n| n.name.as_str().cmp(current))
            && check(&nodes[i]).is_ok()
        {
            return Some(nodes[i].name.clone());
        }

        let mut best: Option<([u8; 32], &str)> = None;
        let mut why = [0usize; Ineligible::ALL.len()];
        for n in nodes {
            match check(n) {
                Ok(()) => {
                    let key = (choice_hash(&n.name, &svc.id), n.name.as_str());
                    if best.is_none_or(|b| key < b) {
                        best = Some(key);
                    }
                }
                Err(r) => why[r as usize] += 1,
            }
        }
        if let Some((_, name)) = best {
            return Some(String::from(name));
        }
        let id = &svc.id;
        let reasons: Vec<String> =
            Ineligible::ALL.iter().zip(why).filter(|(_, n)| *n > 0).map(|(r, n)| r.describe(n)).collect();
        d.refusals.push(if nodes.is_empty() {
            format!(
                "EgressService {id}: no node can handle its egress because no node is known; its egress keeps \
                 the node's address until a node joins"
            )
        } else {
            format!(
                "EgressService {id}: no node can handle its egress (of {} node(s), {}); its egress keeps the \
                 node's address until a node matching spec.nodeSelector is live, Ready, has its network \
                 available{}",
                nodes.len(),
                reasons.join(", "),
                if svc.traffic_policy == TrafficPolicy::Local { " and hosts a ready endpoint" } else { "" }
            )
        });
        None
    }
}

/// The egress-service ip rule for endpoint address `a`.
fn rule(a: IpAddr, table: u32) -> IpRule {
    IpRule { priority: RULE_PRIORITY, from: Prefix::host(a), table }
}
