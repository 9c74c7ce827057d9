//! The kernel state a node must have: NodeNetworkConfigurationPolicy VRFs, addresses, routes
//! and route-rules for this node, plus the egress policy's ip rules and SNAT, as one
//! [`ferrolb_netlink::DesiredState`] (applied by `ferrolb-netlink`, which touches only what
//! ferrolb owns).
//!
//! nmstate semantics kept: a policy applies to the nodes its `nodeSelector` matches;
//! `state: absent` entries are simply not desired (ferrolb removes what it owns and no longer
//! wants); a route without `table-id` goes to the main table (254). ferrolb owns the ip-rule
//! priority band 100–4999 for route-rules and 5000–5999 for egress: a route-rule outside it is
//! refused (naming the policy and field) rather than silently installed where ferrolb could not
//! recognise it again; a route-rule without `priority` gets [`DEFAULT_RULE_PRIORITY`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_config::Model;
use ferrolb_config::model::NmState;
use ferrolb_netlink::intent::{
    Address, DesiredState, EGRESS_PRIORITY_BAND, MAIN_TABLE, NextHop, POLICY_PRIORITY_BAND, Route, Rule, SnatRule, Vrf,
};
use ipnet::IpNet;

/// The priority of a route-rule that gives none.
pub const DEFAULT_RULE_PRIORITY: u32 = 3000;

/// One egress decision's kernel part (from the egress policy's answer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressKernel {
    /// `(priority, from, table)` ip rules.
    pub rules: Vec<(u32, IpNet, u32)>,
    /// `(from, to)` source NAT.
    pub snat: Vec<(IpAddr, IpAddr)>,
}

/// A configuration problem that keeps one object out of the desired state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {reason}")]
pub struct KernelError {
    /// The object, e.g. `NodeNetworkConfigurationPolicy/vrfpolicy`.
    pub object: String,
    /// The field.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// The desired kernel state of `node`.
pub fn desired_state(model: &Model, node: &str, egress: &[EgressKernel]) -> (DesiredState, Vec<KernelError>) {
    let mut out = DesiredState::default();
    let mut errors = Vec::new();
    let labels = model.nodes.iter().find(|n| n.name == node).map(|n| n.labels.clone()).unwrap_or_default();
    for p in model.network_policies.iter().filter(|p| p.node_selector.matches(&labels)) {
        let object = format!("NodeNetworkConfigurationPolicy/{}", p.id.name);
        let err = |field: String, reason: String| KernelError { object: object.clone(), field, reason };
        for (i, iface) in p.interfaces.iter().enumerate() {
            if iface.state == NmState::Absent {
                continue;
            }
            if iface.kind == "vrf" {
                match iface.vrf_table {
                    Some(table) => {
                        out.vrfs.push(Vrf { name: iface.name.clone(), table, ports: iface.vrf_ports.clone() })
                    }
                    None => errors.push(err(
                        format!("spec.desiredState.interfaces[{i}].vrf.route-table-id"),
                        format!("VRF {} has no route table", iface.name),
                    )),
                }
            }
            for a in &iface.addresses {
                out.addresses.push(Address { interface: iface.name.clone(), address: *a });
            }
        }
        for (i, r) in p.routes.iter().enumerate() {
            if r.absent {
                continue;
            }
            let next_hop = match (r.next_hop_address, &r.next_hop_interface) {
                (Some(address), interface) => NextHop::Gateway { address, interface: interface.clone() },
                (None, Some(interface)) => NextHop::Interface { interface: interface.clone() },
                (None, None) => {
                    errors.push(err(
                        format!("spec.desiredState.routes.config[{i}]"),
                        "a route needs next-hop-address or next-hop-interface".into(),
                    ));
                    continue;
                }
            };
            out.routes.push(Route {
                dst: r.destination.trunc(),
                table: r.table_id.unwrap_or(MAIN_TABLE),
                next_hop,
                metric: r.metric.unwrap_or(0),
            });
        }
        for (i, r) in p.rules.iter().enumerate() {
            if r.absent {
                continue;
            }
            let priority = r.priority.unwrap_or(DEFAULT_RULE_PRIORITY);
            if !POLICY_PRIORITY_BAND.contains(&priority) {
                errors.push(err(
                    format!("spec.desiredState.route-rules.config[{i}].priority"),
                    format!(
                        "priority {priority} is outside the band ferrolb owns for route-rules ({}-{})",
                        POLICY_PRIORITY_BAND.start(),
                        POLICY_PRIORITY_BAND.end()
                    ),
                ));
                continue;
            }
            if r.ip_from.is_none() && r.ip_to.is_none() {
                errors.push(err(
                    format!("spec.desiredState.route-rules.config[{i}]"),
                    "a route-rule needs ip-from or ip-to".into(),
                ));
                continue;
            }
            out.rules.push(Rule {
                priority,
                from: r.ip_from,
                to: r.ip_to,
                iif: None,
                table: r.route_table.unwrap_or(MAIN_TABLE),
                family: None,
            });
        }
    }
    let mut rules = BTreeSet::new();
    let mut snat = BTreeSet::new();
    for e in egress {
        for &(priority, from, table) in &e.rules {
            if EGRESS_PRIORITY_BAND.contains(&priority) {
                rules.insert(Rule { priority, from: Some(from), to: None, iif: None, table, family: None });
            }
        }
        for &(from, to) in &e.snat {
            snat.insert(SnatRule { from, to, oif: None });
        }
    }
    out.rules.extend(rules);
    out.snat.extend(snat);
    out.vrfs.sort_by(|a, b| a.name.cmp(&b.name));
    out.vrfs.dedup_by(|a, b| a.name == b.name);
    out.addresses.sort();
    out.addresses.dedup();
    out.routes.sort();
    out.routes.dedup();
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> Model {
        let loaded = ferrolb_config::load_str("test.yaml", yaml);
        let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        loaded.model.expect("a model")
    }

    /// The reference's symmetric-routing NodeNetworkConfigurationPolicy.
    const REFERENCE: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: vrfpolicy
spec:
  nodeSelector:
    vrf: "true"
  maxUnavailable: 3
  desiredState:
    interfaces:
    - name: ens4vrf
      type: vrf
      state: up
      vrf:
        port:
        - ens4
        route-table-id: 2
    - name: ens4
      type: ethernet
      state: up
      ipv4:
        address:
        - ip: 192.168.130.130
          prefix-length: 24
        dhcp: false
        enabled: true
    routes:
      config:
      - destination: 0.0.0.0/0
        metric: 150
        next-hop-address: 192.168.130.1
        next-hop-interface: ens4
        table-id: 2
    route-rules:
      config:
      - ip-to: 172.30.0.0/16
        priority: 998
        route-table: 254
      - ip-to: 10.132.0.0/14
        priority: 998
        route-table: 254
---
apiVersion: v1
kind: Node
metadata: {name: worker-0, labels: {vrf: "true"}}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1}
"#;

    #[test]
    fn the_reference_vrf_policy_becomes_a_vrf_its_default_route_and_rules() {
        let m = model(REFERENCE);
        let egress = [EgressKernel {
            rules: vec![(5000, "10.132.1.5/32".parse().expect("net"), 2)],
            snat: vec![("10.132.1.5".parse().expect("ip"), "192.168.100.10".parse().expect("ip"))],
        }];
        let (d, errors) = desired_state(&m, "worker-0", &egress);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(d.vrfs, [Vrf { name: "ens4vrf".into(), table: 2, ports: vec!["ens4".into()] }]);
        assert_eq!(
            d.addresses,
            [Address { interface: "ens4".into(), address: "192.168.130.130/24".parse().expect("net") }]
        );
        assert_eq!(
            d.routes,
            [Route {
                dst: "0.0.0.0/0".parse().expect("net"),
                table: 2,
                next_hop: NextHop::Gateway {
                    address: "192.168.130.1".parse().expect("ip"),
                    interface: Some("ens4".into())
                },
                metric: 150,
            }]
        );
        let rules: Vec<String> = d.rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            rules,
            [
                "rule priority 998 to 172.30.0.0/16 lookup 254",
                "rule priority 998 to 10.132.0.0/14 lookup 254",
                "rule priority 5000 from 10.132.1.5/32 lookup 2",
            ]
        );
        assert_eq!(d.snat.len(), 1);
        d.validate().expect("the desired state is valid for the netlink layer");
        // The policy selects worker-0 only.
        let (other, _) = desired_state(&m, "worker-1", &[]);
        assert_eq!(other, DesiredState::default());
    }

    #[test]
    fn route_rules_outside_ferrolbs_band_are_refused_by_name() {
        let m = model(&REFERENCE.replace(
            "priority: 998\n        route-table: 254\n      - ip-to: 10.132",
            "priority: 32766\n        route-table: 254\n      - ip-to: 10.132",
        ));
        let (d, errors) = desired_state(&m, "worker-0", &[]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = errors[0].to_string();
        assert!(
            e.contains("NodeNetworkConfigurationPolicy/vrfpolicy") && e.contains("route-rules.config[0].priority"),
            "{e}"
        );
        assert_eq!(d.rules.len(), 1, "the other rule is still applied");
    }
}
