//! The WIT glue of the egress policy: the `egress-planner` resource over the core planner, and
//! the conversions between the WIT records and the core's types.
//!
//! Kept apart from `lib.rs` so that a test plugin (a sloppy egress policy) can reuse it verbatim
//! with its own service hook (`crate::adjust`) and metadata.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Plugin;
use crate::bindings::exports::ferrolb::policy::egress_policy::{
    EgressConfig, EgressDecision, EgressPlanner, EgressService, Guest as Policy, GuestEgressPlanner, IpRule, Node,
    PolicyError, RouteTable, SnatRule, SourceIpBy,
};
use crate::bindings::exports::ferrolb::policy::types as wit;
use ferrolb_egress_core as core_egress;

impl Policy for Plugin {
    type EgressPlanner = State;
}

/// The `egress-planner` resource: the core planner behind a `RefCell` (resource methods take
/// `&self`; calls into one instance never overlap).
pub(crate) struct State {
    inner: RefCell<core_egress::Planner>,
}

/// The message for the (impossible) case of a re-entrant call.
const BUSY: &str = "the egress planner is already in use by another call";

impl GuestEgressPlanner for State {
    fn open(config: EgressConfig) -> Result<EgressPlanner, PolicyError> {
        let config = core_egress::Config {
            local_node: config.local_node,
            nodes: config.nodes.into_iter().map(node_in).collect(),
            tables: config.tables.into_iter().map(table_in).collect(),
        };
        let planner = core_egress::Planner::open(config).map_err(invalid)?;
        Ok(EgressPlanner::new(State { inner: RefCell::new(planner) }))
    }

    fn update_nodes(&self, nodes: Vec<Node>) {
        if let Ok(mut p) = self.inner.try_borrow_mut() {
            p.update_nodes(nodes.into_iter().map(node_in).collect());
        }
    }

    fn decide(&self, svc: EgressService) -> Result<EgressDecision, PolicyError> {
        let Ok(p) = self.inner.try_borrow() else { return Err(PolicyError::Failed(BUSY.to_string())) };
        p.decide(&crate::adjust(service_in(svc))).map(decision_out).map_err(invalid)
    }
}

fn invalid(e: core_egress::InvalidInput) -> PolicyError {
    PolicyError::InvalidInput(e.0)
}

// ---- WIT → core --------------------------------------------------------------------------------

fn ip_in(a: wit::IpAddress) -> IpAddr {
    match a {
        wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

fn labels_in(l: Vec<wit::Label>) -> Vec<core_egress::Label> {
    l.into_iter().map(|l| core_egress::Label { key: l.key, value: l.value }).collect()
}

fn selector_in(s: wit::LabelSelector) -> core_egress::LabelSelector {
    core_egress::LabelSelector {
        match_labels: labels_in(s.match_labels),
        match_expressions: s
            .match_expressions
            .into_iter()
            .map(|r| core_egress::SelectorRequirement {
                key: r.key,
                operator: match r.operator {
                    wit::SelectorOperator::In => core_egress::SelectorOperator::In,
                    wit::SelectorOperator::NotIn => core_egress::SelectorOperator::NotIn,
                    wit::SelectorOperator::Exists => core_egress::SelectorOperator::Exists,
                    wit::SelectorOperator::DoesNotExist => core_egress::SelectorOperator::DoesNotExist,
                },
                values: r.values,
            })
            .collect(),
    }
}

fn node_in(n: Node) -> core_egress::Node {
    core_egress::Node {
        name: n.name,
        labels: labels_in(n.labels),
        addresses: n.addresses.into_iter().map(ip_in).collect(),
        ready: n.conditions.ready,
        network_unavailable: n.conditions.network_unavailable,
        live: n.live,
    }
}

fn table_in(t: RouteTable) -> core_egress::RouteTable {
    core_egress::RouteTable { name: t.name, id: t.id }
}

fn service_in(s: EgressService) -> core_egress::Service {
    core_egress::Service {
        id: core_egress::ObjectRef { namespace: s.id.namespace, name: s.id.name },
        source_ip_by: match s.source_ip_by {
            SourceIpBy::LoadBalancerIp => core_egress::SourceIpBy::LoadBalancerIp,
            SourceIpBy::Network => core_egress::SourceIpBy::Network,
        },
        node_selector: selector_in(s.node_selector),
        network: s.network,
        load_balancer_ips: s.load_balancer_ips.into_iter().map(ip_in).collect(),
        traffic_policy: match s.traffic_policy {
            wit::TrafficPolicy::Cluster => core_egress::TrafficPolicy::Cluster,
            wit::TrafficPolicy::Local => core_egress::TrafficPolicy::Local,
        },
        endpoints: s
            .endpoints
            .into_iter()
            .map(|e| core_egress::Endpoint {
                addresses: e.addresses.into_iter().map(ip_in).collect(),
                node: e.node,
                ready: e.ready,
            })
            .collect(),
        current_node: s.current_node,
    }
}

// ---- core → WIT --------------------------------------------------------------------------------

fn ip_out(a: IpAddr) -> wit::IpAddress {
    match a {
        IpAddr::V4(x) => {
            let [a, b, c, d] = x.octets();
            wit::IpAddress::Ipv4((a, b, c, d))
        }
        IpAddr::V6(x) => {
            let [a, b, c, d, e, f, g, h] = x.segments();
            wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h))
        }
    }
}

fn decision_out(d: core_egress::Decision) -> EgressDecision {
    EgressDecision {
        service: wit::ObjectRef { namespace: d.service.namespace, name: d.service.name },
        node: d.node,
        node_label: d.node_label.map(|l| wit::Label { key: l.key, value: l.value }),
        source_ip: d.source_ip.map(ip_out),
        table: d.table,
        rules: d
            .rules
            .into_iter()
            .map(|r| IpRule {
                priority: r.priority,
                from: wit::IpPrefix { address: ip_out(r.from.address), prefix_len: r.from.prefix_len },
                table: r.table,
            })
            .collect(),
        snat: d.snat.into_iter().map(|s| SnatRule { from: ip_out(s.from), to: ip_out(s.to) }).collect(),
        refusals: d.refusals,
    }
}
