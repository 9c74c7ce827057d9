//! Unit tests of the egress rules (one group per rule of the crate docs).

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

use crate::selector::matches;
use crate::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn ep(addr: &str, node: &str, ready: bool) -> Endpoint {
    Endpoint::new(ip(addr), node, ready)
}

fn nodes(names: &[&str]) -> Vec<Node> {
    names.iter().map(|n| Node::new(*n, &[])).collect()
}

fn tables() -> Vec<RouteTable> {
    vec![RouteTable { name: "ens4vrf".into(), id: 2 }, RouteTable { name: "main".into(), id: 254 }]
}

fn planner(local: &str, nodes: Vec<Node>) -> Planner {
    Planner::open(Config { local_node: local.into(), nodes, tables: tables() }).expect("valid config")
}

/// A load-balancer-ip service default/web with one IPv4 address and no endpoints.
fn web() -> Service {
    Service { id: ObjectRef::new("default", "web"), load_balancer_ips: vec![ip("192.0.2.10")], ..Service::default() }
}

fn decide(p: &Planner, svc: &Service) -> Decision {
    p.decide(svc).expect("a decision")
}

fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_labels: vec![],
        match_expressions: vec![SelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).to_string()).collect(),
        }],
    }
}

fn rule(from: &str, table: u32) -> IpRule {
    IpRule { priority: 5000, from: Prefix::host(ip(from)), table }
}

fn snat(from: &str, to: &str) -> SnatRule {
    SnatRule { from: ip(from), to: ip(to) }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

// ---- selectors ---------------------------------------------------------------------------------

#[test]
fn selector_operators() {
    let l = vec![Label::new("zone", "east"), Label::new("vrf", "")];
    assert!(matches(&LabelSelector::default(), &[]));
    assert!(matches(&LabelSelector::labels(&[("zone", "east"), ("vrf", "")]), &l));
    assert!(!matches(&LabelSelector::labels(&[("zone", "east"), ("tier", "web")]), &l));
    assert!(!matches(&LabelSelector::labels(&[("zone", "west")]), &l));
    assert!(matches(&req("zone", SelectorOperator::In, &["west", "east"]), &l));
    assert!(!matches(&req("zone", SelectorOperator::In, &["west"]), &l));
    assert!(!matches(&req("missing", SelectorOperator::In, &["east"]), &l));
    assert!(matches(&req("zone", SelectorOperator::NotIn, &["west"]), &l));
    assert!(!matches(&req("zone", SelectorOperator::NotIn, &["east"]), &l));
    assert!(matches(&req("missing", SelectorOperator::NotIn, &["east"]), &l));
    assert!(matches(&req("vrf", SelectorOperator::Exists, &[]), &l));
    assert!(!matches(&req("missing", SelectorOperator::Exists, &[]), &l));
    assert!(matches(&req("missing", SelectorOperator::DoesNotExist, &[]), &l));
    assert!(!matches(&req("vrf", SelectorOperator::DoesNotExist, &[]), &l));
}

#[test]
fn node_selector_restricts_the_choice() {
    // Without a selector default/web goes to worker-1 (smallest hash, see `hash_choice_*`).
    let ns = vec![
        Node::new("worker-0", &[("zone", "east"), ("egress", "")]),
        Node::new("worker-1", &[("zone", "west")]),
        Node::new("worker-2", &[("zone", "east")]),
    ];
    let p = planner("worker-0", ns);
    assert_eq!(decide(&p, &web()).node, "worker-1");
    let with = |sel: LabelSelector| decide(&p, &Service { node_selector: sel, ..web() }).node;
    assert_eq!(with(LabelSelector::labels(&[("zone", "east")])), "worker-2");
    assert_eq!(with(req("zone", SelectorOperator::In, &["east"])), "worker-2");
    assert_eq!(with(req("zone", SelectorOperator::NotIn, &["west"])), "worker-2");
    assert_eq!(with(req("egress", SelectorOperator::Exists, &[])), "worker-0");
    assert_eq!(with(req("egress", SelectorOperator::DoesNotExist, &[])), "worker-1");
    assert_eq!(with(LabelSelector::labels(&[("zone", "north")])), "");
}

#[test]
fn malformed_selector_is_invalid_input() {
    let p = planner("node-a", nodes(&["node-a"]));
    for sel in [
        req("zone", SelectorOperator::In, &[]),
        req("zone", SelectorOperator::NotIn, &[]),
        req("zone", SelectorOperator::Exists, &["x"]),
        req("zone", SelectorOperator::DoesNotExist, &["x"]),
    ] {
        let e = p.decide(&Service { node_selector: sel, ..web() }).expect_err("malformed selector");
        assert!(e.0.contains("default/web") && e.0.contains("\"zone\""), "{e}");
    }
}

// ---- eligibility -------------------------------------------------------------------------------

#[test]
fn only_live_ready_reachable_nodes_are_eligible() {
    // default/web prefers worker-1, then worker-2, then worker-0.
    let mut ns = nodes(&["worker-0", "worker-1", "worker-2"]);
    ns[1].live = false;
    let p = planner("worker-0", ns.clone());
    assert_eq!(decide(&p, &web()).node, "worker-2");
    ns[2].ready = false;
    let p = planner("worker-0", ns.clone());
    assert_eq!(decide(&p, &web()).node, "worker-0");
    ns[0].network_unavailable = true;
    let p = planner("worker-0", ns);
    let d = decide(&p, &web());
    assert_eq!(d.node, "");
    assert_eq!(d.refusals.len(), 1);
    let r = &d.refusals[0];
    assert!(r.contains("default/web") && r.contains("of 3 node(s)"), "{r}");
    assert!(
        r.contains("1 is not live") && r.contains("1 is not Ready") && r.contains("1 has NetworkUnavailable"),
        "{r}"
    );
}

#[test]
fn traffic_policy_local_needs_a_ready_endpoint_on_the_node() {
    let p = planner("worker-0", nodes(&["worker-0", "worker-1", "worker-2"]));
    let svc = Service {
        traffic_policy: TrafficPolicy::Local,
        endpoints: vec![ep("10.1.0.5", "worker-0", true), ep("10.1.0.6", "worker-1", false), ep("10.1.0.7", "", true)],
        ..web()
    };
    // worker-1 has the smaller hash but only an unready endpoint.
    assert_eq!(decide(&p, &svc).node, "worker-0");
    // Cluster: any node.
    assert_eq!(decide(&p, &Service { traffic_policy: TrafficPolicy::Cluster, ..svc.clone() }).node, "worker-1");
    // No ready endpoint on any known node: no node, and the refusal says why.
    let none = Service { endpoints: vec![ep("10.1.0.6", "worker-1", false), ep("10.1.0.7", "", true)], ..svc };
    let d = decide(&p, &none);
    assert_eq!(d.node, "");
    assert!(d.refusals[0].contains("3 host no ready endpoint"), "{:?}", d.refusals);
}

// ---- the choice --------------------------------------------------------------------------------

#[test]
fn choice_hash_is_sha256_of_node_hash_namespace_slash_name() {
    // `printf 'worker-1#default/web' | sha256sum` and friends.
    let web = ObjectRef::new("default", "web");
    let api = ObjectRef::new("prod", "api");
    assert!(hex(&choice_hash("worker-1", &web)).starts_with("69116957a623e138"));
    assert!(hex(&choice_hash("worker-0", &web)).starts_with("f601eb20efe96078"));
    assert!(hex(&choice_hash("node-b", &api)).starts_with("3cb2a819725a7560"));
    assert_eq!(hex(&choice_hash("node-a", &web)), "493dccd5785b364760873f76fdf627869c18af440131c9a7df273929b076f594");
}

#[test]
fn hash_choice_picks_the_smallest_digest() {
    // default/web: worker-1 69.. < worker-2 ea.. < worker-0 f6..
    let p = planner("worker-0", nodes(&["worker-0", "worker-1", "worker-2"]));
    assert_eq!(decide(&p, &web()).node, "worker-1");
    let p = planner("worker-0", nodes(&["worker-0", "worker-2"]));
    assert_eq!(decide(&p, &web()).node, "worker-2");
    // prod/api: worker-0 0f.. < worker-2 b3.. < worker-1 ea..; node-b 3c.. < node-a 75.. < node-c 91..
    let api = Service { id: ObjectRef::new("prod", "api"), ..web() };
    let p = planner("worker-0", nodes(&["worker-0", "worker-1", "worker-2"]));
    assert_eq!(decide(&p, &api).node, "worker-0");
    let p = planner("node-a", nodes(&["node-c", "node-a", "node-b"]));
    assert_eq!(decide(&p, &api).node, "node-b");
    // default/web: node-a 49.. < node-b ac.. < node-c ca..
    assert_eq!(decide(&p, &web()).node, "node-a");
}

#[test]
fn current_node_is_sticky_while_eligible() {
    let mut ns = nodes(&["worker-0", "worker-1", "worker-2"]);
    let p = planner("worker-0", ns.clone());
    let sticky = Service { current_node: Some("worker-0".into()), ..web() };
    // worker-0 has the largest hash but stays.
    assert_eq!(decide(&p, &sticky).node, "worker-0");
    // Not eligible any more (not ready, or not selected, or unknown, or empty): a fresh choice.
    ns[0].ready = false;
    let p2 = planner("worker-0", ns);
    assert_eq!(decide(&p2, &sticky).node, "worker-1");
    let unselected = Service { node_selector: LabelSelector::labels(&[("x", "y")]), ..sticky.clone() };
    assert_eq!(decide(&p, &unselected).node, "");
    assert_eq!(decide(&p, &Service { current_node: Some("gone".into()), ..web() }).node, "worker-1");
    assert_eq!(decide(&p, &Service { current_node: Some(String::new()), ..web() }).node, "worker-1");
}

#[test]
fn update_nodes_replaces_the_node_set() {
    let mut p = planner("worker-0", nodes(&["worker-0", "worker-1", "worker-2"]));
    assert_eq!(decide(&p, &web()).node, "worker-1");
    let mut ns = nodes(&["worker-0", "worker-1", "worker-2"]);
    ns[1].live = false;
    p.update_nodes(ns);
    assert_eq!(decide(&p, &web()).node, "worker-2");
    p.update_nodes(Vec::new());
    let d = decide(&p, &web());
    assert_eq!((d.node.as_str(), d.refusals.len()), ("", 1));
    assert!(d.refusals[0].contains("no node is known"), "{:?}", d.refusals);
}

#[test]
fn malformed_node_sets_are_invalid_input() {
    let dup = nodes(&["worker-0", "worker-0"]);
    let e = Planner::open(Config { local_node: "worker-0".into(), nodes: dup.clone(), tables: vec![] })
        .expect_err("duplicate node");
    assert!(e.0.contains("\"worker-0\""), "{e}");
    assert!(Planner::open(Config { nodes: nodes(&[""]), ..Config::default() }).is_err());
    // After update_nodes with a bad set, decide answers the error until a good set arrives.
    let mut p = planner("worker-0", nodes(&["worker-0"]));
    p.update_nodes(dup);
    assert!(p.decide(&web()).is_err());
    assert!(p.nodes().is_empty());
    p.update_nodes(nodes(&["worker-0"]));
    assert_eq!(decide(&p, &web()).node, "worker-0");
}

#[test]
fn malformed_service_is_invalid_input() {
    let p = planner("worker-0", nodes(&["worker-0"]));
    for id in [ObjectRef::new("default", ""), ObjectRef::new("", "web")] {
        assert!(p.decide(&Service { id, ..web() }).is_err());
    }
}

// ---- the decision on and off the chosen node ----------------------------------------------------

#[test]
fn chosen_node_gets_snat_and_rules_for_every_ready_endpoint() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1", "worker-2"]));
    let svc = Service {
        network: Some("2".into()),
        endpoints: vec![ep("10.1.0.5", "worker-0", true), ep("10.1.2.7", "worker-2", true), ep("10.1.1.9", "", true)],
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!(d.service, ObjectRef::new("default", "web"));
    assert_eq!(d.node, "worker-1");
    assert_eq!(d.node_label, Some(Label::new("egress-service.k8s.ovn.org/default-web", "")));
    assert_eq!(d.source_ip, Some(ip("192.0.2.10")));
    assert_eq!(d.table, Some(2));
    assert_eq!(d.rules, vec![rule("10.1.0.5", 2), rule("10.1.1.9", 2), rule("10.1.2.7", 2)]);
    assert_eq!(
        d.snat,
        vec![snat("10.1.0.5", "192.0.2.10"), snat("10.1.1.9", "192.0.2.10"), snat("10.1.2.7", "192.0.2.10")]
    );
    assert!(d.refusals.is_empty());
}

#[test]
fn other_nodes_report_node_and_label_but_install_nothing() {
    let svc = Service { network: Some("ens4vrf".into()), endpoints: vec![ep("10.1.0.5", "worker-0", true)], ..web() };
    for local in ["worker-0", "worker-2", "elsewhere", ""] {
        let p = planner(local, nodes(&["worker-0", "worker-1", "worker-2"]));
        let d = decide(&p, &svc);
        assert_eq!(d.node, "worker-1");
        assert_eq!(d.node_label, Some(Label::new("egress-service.k8s.ovn.org/default-web", "")));
        assert_eq!(d.source_ip, Some(ip("192.0.2.10")));
        assert_eq!(d.table, Some(2));
        assert!(d.rules.is_empty() && d.snat.is_empty() && d.refusals.is_empty(), "{d:?}");
    }
}

#[test]
fn without_network_snat_applies_but_no_ip_rules() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1"]));
    let d = decide(&p, &Service { endpoints: vec![ep("10.1.0.5", "worker-0", true)], ..web() });
    assert_eq!(d.table, None);
    assert!(d.rules.is_empty());
    assert_eq!(d.snat, vec![snat("10.1.0.5", "192.0.2.10")]);
}

#[test]
fn no_load_balancer_address_chooses_no_node() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1"]));
    let svc = Service {
        load_balancer_ips: vec![],
        network: Some("2".into()),
        endpoints: vec![ep("10.1.0.5", "worker-0", true)],
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!(d.node, "");
    assert_eq!(d.node_label, None);
    assert_eq!(d.source_ip, None);
    assert!(d.rules.is_empty() && d.snat.is_empty());
    assert_eq!(d.refusals.len(), 1);
    assert!(d.refusals[0].contains("default/web") && d.refusals[0].contains("no load-balancer address"));
}

#[test]
fn no_eligible_node_means_nothing_and_a_refusal() {
    let p = planner("worker-0", nodes(&["worker-0", "worker-1"]));
    let svc = Service {
        node_selector: LabelSelector::labels(&[("vrf", "true")]),
        network: Some("2".into()),
        endpoints: vec![ep("10.1.0.5", "worker-0", true)],
        current_node: Some("worker-0".into()),
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!((d.node.as_str(), d.node_label.clone(), d.source_ip), ("", None, None));
    assert!(d.rules.is_empty() && d.snat.is_empty());
    assert_eq!(d.refusals.len(), 1);
    assert!(d.refusals[0].contains("2 do not match its nodeSelector"), "{:?}", d.refusals);
}

#[test]
fn family_mismatch_is_refused_per_address() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1"]));
    let svc = Service {
        network: Some("2".into()),
        endpoints: vec![Endpoint {
            addresses: vec![ip("fd00::5"), ip("10.1.0.5")],
            node: "worker-0".into(),
            ready: true,
        }],
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!(d.rules, vec![rule("10.1.0.5", 2)]);
    assert_eq!(d.snat, vec![snat("10.1.0.5", "192.0.2.10")]);
    assert_eq!(d.refusals.len(), 1);
    assert!(d.refusals[0].contains("fd00::5") && d.refusals[0].contains("IPv6"), "{:?}", d.refusals);
    // The refusal is about the service: other nodes give it too.
    let other = planner("worker-0", nodes(&["worker-0", "worker-1"]));
    assert_eq!(decide(&other, &svc).refusals, d.refusals);
}

#[test]
fn dual_stack_snats_each_family_to_its_own_address() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1"]));
    let svc = Service {
        network: Some("2".into()),
        load_balancer_ips: vec![ip("2001:db8::10"), ip("192.0.2.10"), ip("192.0.2.11")],
        endpoints: vec![Endpoint {
            addresses: vec![ip("fd00::5"), ip("10.1.0.5")],
            node: "worker-0".into(),
            ready: true,
        }],
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!(d.source_ip, Some(ip("2001:db8::10")), "the first load-balancer address");
    assert_eq!(d.snat, vec![snat("10.1.0.5", "192.0.2.10"), snat("fd00::5", "2001:db8::10")]);
    assert_eq!(
        d.rules,
        vec![
            IpRule { priority: 5000, from: Prefix { address: ip("10.1.0.5"), prefix_len: 32 }, table: 2 },
            IpRule { priority: 5000, from: Prefix { address: ip("fd00::5"), prefix_len: 128 }, table: 2 }
        ]
    );
    assert!(d.refusals.is_empty());
}

// ---- source-ip-by network ----------------------------------------------------------------------

#[test]
fn network_mode_routes_only_local_ready_endpoints() {
    let svc = Service {
        source_ip_by: SourceIpBy::Network,
        network: Some("ens4vrf".into()),
        // Ignored in network mode.
        node_selector: LabelSelector::labels(&[("nowhere", "x")]),
        endpoints: vec![
            ep("10.1.0.6", "worker-0", true),
            ep("10.1.0.5", "worker-0", true),
            ep("10.1.0.7", "worker-0", false),
            ep("10.1.1.5", "worker-1", true),
            ep("10.1.2.5", "", true),
        ],
        ..web()
    };
    let p = planner("worker-0", nodes(&["worker-0", "worker-1"]));
    let d = decide(&p, &svc);
    assert_eq!((d.node.as_str(), d.node_label.clone(), d.source_ip), ("", None, None));
    assert_eq!(d.table, Some(2));
    assert_eq!(d.rules, vec![rule("10.1.0.5", 2), rule("10.1.0.6", 2)]);
    assert!(d.snat.is_empty() && d.refusals.is_empty());
    // Another node routes its own endpoints; a node without any routes nothing.
    assert_eq!(decide(&planner("worker-1", vec![]), &svc).rules, vec![rule("10.1.1.5", 2)]);
    assert!(decide(&planner("worker-2", vec![]), &svc).rules.is_empty());
    // No local node name: endpoints with an unknown node are not "local".
    assert!(decide(&planner("", vec![]), &svc).rules.is_empty());
    // No network: nothing at all.
    let d = decide(&p, &Service { network: None, ..svc.clone() });
    assert_eq!(d, Decision { service: svc.id.clone(), ..Decision::default() });
    // No load-balancer address does not matter in network mode.
    let d = decide(&p, &Service { load_balancer_ips: vec![], ..svc });
    assert_eq!(d.rules.len(), 2);
    assert!(d.refusals.is_empty());
}

// ---- network / table -----------------------------------------------------------------------------

#[test]
fn table_by_id_and_by_name() {
    let p = planner("worker-0", nodes(&["worker-0"]));
    let svc = Service { endpoints: vec![ep("10.1.0.5", "worker-0", true)], ..web() };
    for (network, id) in [("2", 2), ("ens4vrf", 2), ("254", 254), ("main", 254), ("100", 100), ("4294967295", u32::MAX)]
    {
        let d = decide(&p, &Service { network: Some(network.into()), ..svc.clone() });
        assert_eq!(d.table, Some(id), "{network}");
        assert_eq!(d.rules, vec![rule("10.1.0.5", id)], "{network}");
    }
}

#[test]
fn invalid_network_is_invalid_input_naming_service_and_value() {
    let p = planner("worker-0", nodes(&["worker-0"]));
    for network in ["ens5vrf", "0", "255", "4294967296", "", "2a", "-2"] {
        for mode in [SourceIpBy::LoadBalancerIp, SourceIpBy::Network] {
            let svc = Service { network: Some(network.into()), source_ip_by: mode, ..web() };
            let e = p.decide(&svc).expect_err("invalid network");
            assert!(e.0.contains("default/web"), "{e}");
            assert!(e.0.contains(&alloc::format!("\"{network}\"")), "{e}");
        }
    }
}

// ---- output hygiene --------------------------------------------------------------------------------

#[test]
fn outputs_are_sorted_and_deduplicated_and_unready_endpoints_ignored() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1", "worker-2"]));
    let svc = Service {
        network: Some("2".into()),
        load_balancer_ips: vec![ip("192.0.2.10"), ip("2001:db8::10"), ip("192.0.2.10")],
        endpoints: vec![
            ep("fd00::2", "worker-2", true),
            ep("10.1.0.9", "worker-0", true),
            ep("10.1.0.10", "worker-2", true),
            ep("10.1.0.9", "worker-0", true),
            ep("10.1.0.3", "worker-0", false),
            Endpoint { addresses: vec![ip("10.1.0.10"), ip("fd00::1")], node: "worker-0".into(), ready: true },
            Endpoint { addresses: vec![ip("10.1.0.4"), ip("fd00::3")], node: "worker-0".into(), ready: false },
        ],
        ..web()
    };
    let d = decide(&p, &svc);
    assert_eq!(
        d.rules,
        vec![rule("10.1.0.9", 2), rule("10.1.0.10", 2), rule("fd00::1", 2), rule("fd00::2", 2)],
        "sorted by address (IPv4 first), each once, unready addresses left out"
    );
    assert_eq!(
        d.snat,
        vec![
            snat("10.1.0.9", "192.0.2.10"),
            snat("10.1.0.10", "192.0.2.10"),
            snat("fd00::1", "2001:db8::10"),
            snat("fd00::2", "2001:db8::10"),
        ]
    );
    // The same input in another order gives the same answer.
    let mut shuffled = svc.clone();
    shuffled.endpoints.reverse();
    assert_eq!(decide(&p, &shuffled), d);
    let reordered = planner("worker-1", nodes(&["worker-2", "worker-1", "worker-0"]));
    assert_eq!(decide(&reordered, &svc), d);
}

#[test]
fn only_unready_endpoints_give_a_node_but_no_rules() {
    let p = planner("worker-1", nodes(&["worker-0", "worker-1"]));
    let svc = Service { network: Some("2".into()), endpoints: vec![ep("10.1.0.5", "worker-0", false)], ..web() };
    let d = decide(&p, &svc);
    assert_eq!(d.node, "worker-1");
    assert!(d.rules.is_empty() && d.snat.is_empty() && d.refusals.is_empty());
}
