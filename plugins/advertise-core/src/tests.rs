//! Behaviour tests of the advertiser: one group per rule of the crate documentation, MetalLB's
//! reference examples, the layer-2 election checked against SHA-256 orderings computed
//! independently (Python's `hashlib`), and a randomised comparison of the election with a
//! brute-force sort.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use std::format;

use crate::types::*;
use crate::{Advertiser, EXCLUDE_LABEL};

// ---- helpers ------------------------------------------------------------------------------

fn a(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
}

fn block(s: &str) -> AddressBlock {
    if let Some((x, y)) = s.split_once('-') {
        AddressBlock::Range { first: a(x), last: a(y) }
    } else {
        let (x, l) = s.split_once('/').expect("cidr");
        AddressBlock::Cidr(Prefix { address: a(x), prefix_len: l.parse().expect("length") })
    }
}

fn pool(name: &str, blocks: &[&str]) -> AddressPool {
    AddressPool { name: name.into(), labels: vec![], addresses: blocks.iter().map(|b| block(b)).collect() }
}

fn labelled_pool(name: &str, blocks: &[&str], labels: &[(&str, &str)]) -> AddressPool {
    AddressPool { labels: labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(), ..pool(name, blocks) }
}

fn ebgp(name: &str) -> BgpPeer {
    BgpPeer { name: name.into(), my_asn: 64500, peer_asn: Some(64501), ..Default::default() }
}

fn ibgp(name: &str) -> BgpPeer {
    BgpPeer { name: name.into(), my_asn: 64500, peer_asn: Some(64500), ..Default::default() }
}

fn bgp_ad(name: &str, pools: &[&str]) -> BgpAdvertisement {
    BgpAdvertisement {
        id: ObjectRef::new("metallb-system", name),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

fn l2_ad(name: &str, pools: &[&str]) -> L2Advertisement {
    L2Advertisement {
        id: ObjectRef::new("metallb-system", name),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

fn alias(obj: &str, name: &str, value: &str) -> CommunityAlias {
    CommunityAlias { defined_by: ObjectRef::new("metallb-system", obj), name: name.into(), value: value.into() }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn three_nodes() -> Vec<Node> {
    vec![
        Node::new("worker-0", &[("kubernetes.io/hostname", "worker-0"), ("zone", "a")]),
        Node::new("worker-1", &[("kubernetes.io/hostname", "worker-1"), ("zone", "b")]),
        Node::new("worker-2", &[("kubernetes.io/hostname", "worker-2"), ("zone", "b")]),
    ]
}

fn config(pools: Vec<AddressPool>) -> Config {
    Config { local_node: "worker-0".into(), nodes: three_nodes(), pools, ..Default::default() }
}

fn open(c: &Config) -> Advertiser {
    match Advertiser::open(c) {
        Ok(a) => a,
        Err(e) => panic!("open failed: {e:?}"),
    }
}

fn open_errors(c: &Config) -> Vec<ConfigError> {
    match Advertiser::open(c) {
        Err(OpenError::Config(e)) => e,
        Err(e) => panic!("expected configuration errors, got {e:?}"),
        Ok(_) => panic!("expected configuration errors, open succeeded"),
    }
}

/// A Cluster service in `pool` with one ready endpoint on worker-1.
fn svc(name: &str, pool: &str, ips: &[&str]) -> Service {
    Service {
        id: ObjectRef::new("default", name),
        pool: pool.into(),
        ips: ips.iter().map(|s| a(s)).collect(),
        endpoints: vec![Endpoint::new(a("10.244.1.5"), "worker-1", true)],
        ..Default::default()
    }
}

fn with_endpoints(mut s: Service, eps: &[(&str, &str, bool)]) -> Service {
    s.endpoints = eps.iter().map(|(ip, node, ready)| Endpoint::new(a(ip), *node, *ready)).collect();
    s
}

fn local(mut s: Service) -> Service {
    s.traffic_policy = TrafficPolicy::Local;
    s
}

/// `peer prefix [lp=N] [communities]` per route, sorted.
fn routes(ann: &ServiceAnnouncements) -> Vec<String> {
    let mut v: Vec<String> = ann
        .bgp
        .iter()
        .map(|r| {
            let mut s = format!("{} {}", r.peer, r.prefix);
            if !r.vrf.is_empty() {
                s.push_str(&format!(" vrf={}", r.vrf));
            }
            if let Some(lp) = r.local_pref {
                s.push_str(&format!(" lp={lp}"));
            }
            for c in &r.communities {
                s.push_str(&format!(" {c}"));
            }
            s
        })
        .collect();
    v.sort();
    v
}

/// `ip node [interfaces]` per L2 announcement.
fn l2(ann: &ServiceAnnouncements) -> Vec<String> {
    ann.l2
        .iter()
        .map(|l| {
            let mut s = format!("{} {}", l.ip, if l.node.is_empty() { "-" } else { &l.node });
            if !l.interfaces.is_empty() {
                s.push_str(&format!(" {}", l.interfaces.join(",")));
            }
            s
        })
        .collect()
}

fn refused(ann: &ServiceAnnouncements, text: &str) -> bool {
    ann.refusals.iter().any(|r| r.contains(text))
}

// ---- pools and combined advertisements ------------------------------------------------------

/// The reference documentation's example: `/32` with NO_ADVERTISE through an alias, and the
/// `/30` aggregate with `8000:800`, for one pool: both routes.
#[test]
fn reference_example_gives_both_routes() {
    let mut c = config(vec![pool("doc-example", &["203.0.113.200-203.0.113.203"])]);
    c.peers = vec![ebgp("peer1")];
    c.communities = vec![alias("community1", "NO_ADVERTISE", "65535:65282")];
    c.bgp_advertisements = vec![
        BgpAdvertisement { communities: strings(&["NO_ADVERTISE"]), ..bgp_ad("bgpadvertisement-1", &["doc-example"]) },
        BgpAdvertisement {
            aggregation_length: Some(30),
            communities: strings(&["8000:800"]),
            ..bgp_ad("bgpadvertisement-2", &["doc-example"])
        },
    ];
    let adv = open(&c);
    let ann = adv.announce(&svc("web", "doc-example", &["203.0.113.201"]));
    assert_eq!(routes(&ann), ["peer1 203.0.113.200/30 8000:800", "peer1 203.0.113.201/32 65535:65282"]);
    assert!(ann.refusals.is_empty(), "{:?}", ann.refusals);
    assert_eq!(ann.service, ObjectRef::new("default", "web"));
    // Another service in the same /30 produces the same aggregate (the host deduplicates).
    let other = adv.announce(&svc("api", "doc-example", &["203.0.113.203"]));
    assert_eq!(routes(&other), ["peer1 203.0.113.200/30 8000:800", "peer1 203.0.113.203/32 65535:65282"]);
    let aggregate = ann.bgp.iter().find(|r| r.prefix.prefix_len == 30).expect("aggregate");
    assert_eq!(aggregate.advertisement, ObjectRef::new("metallb-system", "bgpadvertisement-2"));
}

#[test]
fn no_pools_named_or_selected_means_every_pool() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![bgp_ad("all", &[])];
    let adv = open(&c);
    assert_eq!(routes(&adv.announce(&svc("x", "a", &["192.0.2.1"]))), ["p 192.0.2.1/32"]);
    assert_eq!(routes(&adv.announce(&svc("y", "b", &["198.51.100.1"]))), ["p 198.51.100.1/32"]);
}

#[test]
fn pools_by_name_and_by_selector() {
    let mut c = config(vec![
        labelled_pool("east", &["192.0.2.0/28"], &[("zone", "east")]),
        labelled_pool("west", &["198.51.100.0/28"], &[("zone", "west")]),
        labelled_pool("gold", &["203.0.113.0/28"], &[("tier", "gold")]),
    ]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![BgpAdvertisement {
        pool_selectors: vec![LabelSelector {
            match_labels: vec![],
            match_expressions: vec![SelectorRequirement {
                key: "zone".into(),
                operator: SelectorOperator::In,
                values: strings(&["east"]),
            }],
        }],
        ..bgp_ad("sel", &["gold"])
    }];
    let adv = open(&c);
    assert_eq!(routes(&adv.announce(&svc("x", "east", &["192.0.2.1"]))).len(), 1);
    assert_eq!(routes(&adv.announce(&svc("y", "gold", &["203.0.113.1"]))).len(), 1);
    let west = adv.announce(&svc("z", "west", &["198.51.100.1"]));
    assert!(west.bgp.is_empty());
    assert!(refused(&west, "IPAddressPool \"west\" is not advertised"));
}

#[test]
fn a_selector_that_matches_no_pool_selects_none_not_all() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![BgpAdvertisement {
        pool_selectors: vec![LabelSelector::labels(&[("zone", "nowhere")])],
        ..bgp_ad("x", &[])
    }];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert!(ann.bgp.is_empty());
}

#[test]
fn unknown_pool_names_in_advertisements_are_ignored() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![bgp_ad("x", &["missing", "a"])];
    assert_eq!(routes(&open(&c).announce(&svc("x", "a", &["192.0.2.1"]))), ["p 192.0.2.1/32"]);
}

// ---- BGP: peers, nodes, localPref, VRF ----------------------------------------------------

#[test]
fn empty_peers_means_every_peer_and_names_restrict() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"]), pool("b", &["198.51.100.0/28"])]);
    c.peers = vec![ebgp("p1"), ebgp("p2"), ebgp("p3")];
    c.bgp_advertisements = vec![
        bgp_ad("all", &["a"]),
        BgpAdvertisement { peers: strings(&["p3", "p1", "nonexistent"]), ..bgp_ad("some", &["b"]) },
    ];
    let adv = open(&c);
    assert_eq!(
        routes(&adv.announce(&svc("x", "a", &["192.0.2.1"]))),
        ["p1 192.0.2.1/32", "p2 192.0.2.1/32", "p3 192.0.2.1/32"]
    );
    assert_eq!(routes(&adv.announce(&svc("y", "b", &["198.51.100.1"]))), ["p1 198.51.100.1/32", "p3 198.51.100.1/32"]);
}

#[test]
fn a_peer_whose_node_selectors_miss_this_node_gets_nothing() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![
        BgpPeer { node_selectors: vec![LabelSelector::labels(&[("zone", "b")])], ..ebgp("rack-b") },
        BgpPeer { node_selectors: vec![LabelSelector::labels(&[("zone", "a")])], ..ebgp("rack-a") },
        ebgp("everywhere"),
    ];
    c.bgp_advertisements = vec![bgp_ad("x", &[])];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(routes(&ann), ["everywhere 192.0.2.1/32", "rack-a 192.0.2.1/32"]);
    // From worker-1 (zone b) the other rack peers.
    c.local_node = "worker-1".into();
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(routes(&ann), ["everywhere 192.0.2.1/32", "rack-b 192.0.2.1/32"]);
}

#[test]
fn advertisement_node_selectors_decide_whether_this_node_announces() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![
        BgpAdvertisement { node_selectors: vec![LabelSelector::labels(&[("zone", "b")])], ..bgp_ad("zone-b", &[]) },
        BgpAdvertisement {
            aggregation_length: Some(28),
            node_selectors: vec![LabelSelector::labels(&[("kubernetes.io/hostname", "worker-0")])],
            ..bgp_ad("w0", &[])
        },
    ];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(routes(&ann), ["p 192.0.2.0/28"]);
    assert!(ann.refusals.is_empty(), "another node announcing is not a refusal: {:?}", ann.refusals);
    c.local_node = "worker-2".into();
    assert_eq!(routes(&open(&c).announce(&svc("x", "a", &["192.0.2.1"]))), ["p 192.0.2.1/32"]);
}

#[test]
fn local_pref_goes_to_ibgp_peers_only() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![
        ibgp("internal"),
        ebgp("external"),
        BgpPeer {
            name: "dyn-int".into(),
            my_asn: 64500,
            dynamic_asn: Some(DynamicAsn::Internal),
            ..Default::default()
        },
        BgpPeer {
            name: "dyn-ext".into(),
            my_asn: 64500,
            dynamic_asn: Some(DynamicAsn::External),
            ..Default::default()
        },
    ];
    c.bgp_advertisements = vec![BgpAdvertisement { local_pref: Some(150), ..bgp_ad("x", &[]) }];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(
        routes(&ann),
        [
            "dyn-ext 192.0.2.1/32",
            "dyn-int 192.0.2.1/32 lp=150",
            "external 192.0.2.1/32",
            "internal 192.0.2.1/32 lp=150"
        ]
    );
}

#[test]
fn local_pref_zero_counts_as_unset() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ibgp("internal")];
    c.bgp_advertisements = vec![BgpAdvertisement { local_pref: Some(0), ..bgp_ad("x", &[]) }];
    assert_eq!(routes(&open(&c).announce(&svc("x", "a", &["192.0.2.1"]))), ["internal 192.0.2.1/32"]);
}

#[test]
fn a_vrf_peer_gets_its_routes_in_its_vrf() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![BgpPeer { vrf: "red".into(), ..ebgp("in-red") }, ebgp("default")];
    c.bgp_advertisements = vec![bgp_ad("x", &[])];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(routes(&ann), ["default 192.0.2.1/32", "in-red 192.0.2.1/32 vrf=red"]);
}

#[test]
fn ipv6_uses_the_v6_aggregation_length() {
    let mut c = config(vec![pool("dual", &["192.0.2.0/28", "2001:db8:5::/124"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![
        BgpAdvertisement { aggregation_length: Some(28), aggregation_length_v6: Some(124), ..bgp_ad("agg", &[]) },
        bgp_ad("host", &[]),
    ];
    let ann = open(&c).announce(&svc("x", "dual", &["192.0.2.3", "2001:db8:5::3"]));
    assert_eq!(routes(&ann), ["p 192.0.2.0/28", "p 192.0.2.3/32", "p 2001:db8:5::/124", "p 2001:db8:5::3/128"]);
}

#[test]
fn communities_are_sorted_deduplicated_and_merged_per_prefix() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ibgp("p")];
    c.communities = vec![alias("c1", "no-export", "65535:65281"), alias("c1", "big", "large:64500:1:2")];
    c.bgp_advertisements = vec![
        BgpAdvertisement {
            local_pref: Some(200),
            communities: strings(&["65535:65282", "no-export", "big", "65535:65281", "1:1"]),
            ..bgp_ad("first", &[])
        },
        BgpAdvertisement {
            local_pref: Some(200),
            communities: strings(&["65535:65283", "1:1"]),
            ..bgp_ad("second", &[])
        },
    ];
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(ann.bgp.len(), 1, "one route per (peer, prefix)");
    let r = &ann.bgp[0];
    assert_eq!(
        r.communities,
        [
            Community::Large(64500, 1, 2),
            Community::Standard(0x0001_0001),
            Community::NO_EXPORT,
            Community::NO_ADVERTISE,
            Community::NO_EXPORT_SUBCONFED
        ]
    );
    assert_eq!(r.local_pref, Some(200));
    assert_eq!(r.advertisement, ObjectRef::new("metallb-system", "first"));
}

#[test]
fn bgp_service_selectors_pick_services() {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![
        BgpAdvertisement {
            communities: strings(&["100:1"]),
            service_selectors: vec![LabelSelector::labels(&[("env", "prod")])],
            ..bgp_ad("prod", &[])
        },
        BgpAdvertisement {
            communities: strings(&["100:2"]),
            service_selectors: vec![LabelSelector::labels(&[("env", "staging")])],
            ..bgp_ad("staging", &[])
        },
    ];
    let adv = open(&c);
    let mut s = svc("x", "a", &["192.0.2.1"]);
    s.labels = vec![Label::new("env", "prod")];
    assert_eq!(routes(&adv.announce(&s)), ["p 192.0.2.1/32 100:1"]);
    s.labels = vec![Label::new("env", "dev")];
    let ann = adv.announce(&s);
    assert!(ann.bgp.is_empty());
    assert!(refused(&ann, "serviceSelectors"));
}

// ---- BGP: the local node's standing and endpoints -----------------------------------------

fn simple_bgp() -> Config {
    let mut c = config(vec![pool("a", &["192.0.2.0/28"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![bgp_ad("x", &[])];
    c
}

#[test]
fn cluster_policy_needs_a_ready_endpoint_anywhere() {
    let adv = open(&simple_bgp());
    let s = svc("x", "a", &["192.0.2.1"]);
    assert_eq!(routes(&adv.announce(&s)), ["p 192.0.2.1/32"]);
    let none = adv.announce(&with_endpoints(s.clone(), &[]));
    assert!(none.bgp.is_empty() && refused(&none, "no ready endpoint"));
    let unready = adv.announce(&with_endpoints(s.clone(), &[("10.244.1.5", "worker-1", false)]));
    assert!(unready.bgp.is_empty() && refused(&unready, "no ready endpoint"));
    // The same address ready in one slice, unready in another: unready wins (MetalLB).
    let mixed =
        adv.announce(&with_endpoints(s, &[("10.244.1.5", "worker-1", true), ("10.244.1.5", "worker-2", false)]));
    assert!(mixed.bgp.is_empty());
}

#[test]
fn local_policy_needs_a_ready_endpoint_on_this_node() {
    let adv = open(&simple_bgp());
    let elsewhere = adv.announce(&local(svc("x", "a", &["192.0.2.1"])));
    assert!(elsewhere.bgp.is_empty());
    assert!(
        refused(&elsewhere, "no ready endpoint on worker-0 (externalTrafficPolicy Local)"),
        "{:?}",
        elsewhere.refusals
    );
    let here = adv.announce(&with_endpoints(local(svc("x", "a", &["192.0.2.1"])), &[("10.244.0.5", "worker-0", true)]));
    assert_eq!(routes(&here), ["p 192.0.2.1/32"]);
    let unready_here = adv.announce(&with_endpoints(
        local(svc("x", "a", &["192.0.2.1"])),
        &[("10.244.0.5", "worker-0", false), ("10.244.1.5", "worker-1", true)],
    ));
    assert!(unready_here.bgp.is_empty());
    let nowhere = adv.announce(&with_endpoints(local(svc("x", "a", &["192.0.2.1"])), &[]));
    assert!(refused(&nowhere, "no ready endpoint: nothing is announced"));
}

#[test]
fn an_excluded_local_node_announces_nothing() {
    let mut c = simple_bgp();
    c.nodes[0].labels.push(Label::new(EXCLUDE_LABEL, ""));
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert!(ann.bgp.is_empty());
    assert!(refused(&ann, EXCLUDE_LABEL));
}

#[test]
fn a_local_node_with_network_unavailable_announces_nothing() {
    let mut c = simple_bgp();
    c.nodes[0].network_unavailable = true;
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert!(ann.bgp.is_empty() && refused(&ann, "NetworkUnavailable"));
}

#[test]
fn an_unknown_local_node_announces_nothing() {
    let mut c = simple_bgp();
    c.local_node = "stranger".into();
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert!(ann.bgp.is_empty() && refused(&ann, "stranger is not among the configured nodes"));
}

#[test]
fn egress_service_label_selects_the_announcing_node() {
    // The symmetric-routing reference: the host labels the EgressService's node, and the
    // BGPAdvertisement announces only from it.
    let label = "egress-service.k8s.ovn.org/shop-web";
    let mut c = simple_bgp();
    c.bgp_advertisements =
        vec![BgpAdvertisement { node_selectors: vec![LabelSelector::labels(&[(label, "")])], ..bgp_ad("egress", &[]) }];
    c.local_node = "worker-1".into();
    c.nodes[1].labels.push(Label::new(label, ""));
    let s = svc("web", "a", &["192.0.2.7"]);
    assert_eq!(routes(&open(&c).announce(&s)), ["p 192.0.2.7/32"]);
    c.local_node = "worker-0".into();
    assert!(open(&c).announce(&s).bgp.is_empty());
    // An Exists expression works the same way.
    c.local_node = "worker-1".into();
    c.bgp_advertisements[0].node_selectors = vec![LabelSelector {
        match_labels: vec![],
        match_expressions: vec![SelectorRequirement {
            key: label.into(),
            operator: SelectorOperator::Exists,
            values: vec![],
        }],
    }];
    assert_eq!(routes(&open(&c).announce(&s)), ["p 192.0.2.7/32"]);
}

// ---- configuration errors -------------------------------------------------------------------

#[test]
fn an_unknown_alias_names_the_advertisement() {
    let mut c = simple_bgp();
    c.bgp_advertisements[0].communities = strings(&["65535:65282", "NO_SUCH_ALIAS"]);
    let e = open_errors(&c);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].objects, [ObjectRef::new("metallb-system", "x")]);
    assert_eq!(e[0].field, "spec.communities[1]");
    assert!(e[0].reason.contains("NO_SUCH_ALIAS"));
}

#[test]
fn a_malformed_community_names_the_advertisement() {
    let mut c = simple_bgp();
    c.bgp_advertisements[0].communities = strings(&["65536:1"]);
    let e = open_errors(&c);
    assert_eq!(e[0].objects, [ObjectRef::new("metallb-system", "x")]);
    assert!(e[0].reason.contains("16 bits"));
}

#[test]
fn an_alias_defined_twice_names_both_community_objects() {
    let mut c = simple_bgp();
    c.communities = vec![alias("c1", "edge", "100:1"), alias("c2", "edge", "100:2")];
    c.bgp_advertisements[0].communities = strings(&["edge"]);
    let e = open_errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].objects, [ObjectRef::new("metallb-system", "c1"), ObjectRef::new("metallb-system", "c2")]);
    assert!(e[0].field.starts_with("spec.communities"));
}

#[test]
fn aggregation_shorter_than_the_pool_is_refused() {
    let mut c = config(vec![pool("doc-example", &["203.0.113.200-203.0.113.203"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![BgpAdvertisement { aggregation_length: Some(29), ..bgp_ad("wide", &[]) }];
    let e = open_errors(&c);
    assert_eq!(e[0].objects, [ObjectRef::new("metallb-system", "wide")]);
    assert_eq!(e[0].field, "spec.aggregationLength");
    assert!(e[0].reason.contains("/30"), "{}", e[0].reason);
    // /30 is fine; the v6 length is not checked against an IPv4-only pool.
    c.bgp_advertisements[0].aggregation_length = Some(30);
    c.bgp_advertisements[0].aggregation_length_v6 = Some(64);
    open(&c);
}

#[test]
fn aggregation_lengths_out_of_range_are_refused() {
    let mut c = simple_bgp();
    c.bgp_advertisements[0].aggregation_length = Some(33);
    c.bgp_advertisements[0].aggregation_length_v6 = Some(129);
    let e = open_errors(&c);
    assert!(e.iter().any(|x| x.field == "spec.aggregationLength"));
    assert!(e.iter().any(|x| x.field == "spec.aggregationLengthV6"));
}

#[test]
fn service_selectors_exclude_aggregation() {
    let mut c = config(vec![pool("a", &["192.0.2.0/24"])]);
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![BgpAdvertisement {
        aggregation_length: Some(24),
        service_selectors: vec![LabelSelector::labels(&[("app", "x")])],
        ..bgp_ad("x", &[])
    }];
    let e = open_errors(&c);
    assert!(e[0].reason.contains("serviceSelectors"));
}

#[test]
fn conflicting_local_prefs_on_one_pool_name_both_advertisements() {
    let mut c = simple_bgp();
    c.bgp_advertisements = vec![
        BgpAdvertisement { local_pref: Some(100), ..bgp_ad("one", &["a"]) },
        BgpAdvertisement { local_pref: Some(200), ..bgp_ad("two", &[]) },
    ];
    let e = open_errors(&c);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].objects, [ObjectRef::new("metallb-system", "one"), ObjectRef::new("metallb-system", "two")]);
    assert_eq!(e[0].field, "spec.localPref");
}

#[test]
fn local_prefs_may_differ_for_different_routes() {
    // MetalLB's documentation: a /32 with localPref 100 and a /24 without.
    let mut c = config(vec![pool("first-pool", &["198.51.100.0/24"])]);
    c.peers = vec![ibgp("p")];
    c.bgp_advertisements = vec![
        BgpAdvertisement {
            local_pref: Some(100),
            communities: strings(&["65535:65282"]),
            ..bgp_ad("local", &["first-pool"])
        },
        BgpAdvertisement { aggregation_length: Some(24), ..bgp_ad("external", &["first-pool"]) },
    ];
    let ann = open(&c).announce(&svc("x", "first-pool", &["198.51.100.10"]));
    assert_eq!(routes(&ann), ["p 198.51.100.0/24", "p 198.51.100.10/32 lp=100 65535:65282"]);
    // Disjoint peers or disjoint nodes do not conflict either.
    c.peers.push(ibgp("q"));
    c.bgp_advertisements = vec![
        BgpAdvertisement { local_pref: Some(100), peers: strings(&["p"]), ..bgp_ad("to-p", &[]) },
        BgpAdvertisement { local_pref: Some(200), peers: strings(&["q"]), ..bgp_ad("to-q", &[]) },
        BgpAdvertisement {
            local_pref: Some(300),
            peers: strings(&["q"]),
            node_selectors: vec![LabelSelector::labels(&[("zone", "b")])],
            ..bgp_ad("zone-b", &[])
        },
    ];
    let e = open_errors(&c);
    assert_eq!(e.len(), 1, "only to-q and zone-b meet (peer q on zone-b nodes): {e:?}");
    c.bgp_advertisements[1].node_selectors = vec![LabelSelector::labels(&[("zone", "a")])];
    let ann = open(&c).announce(&svc("x", "first-pool", &["198.51.100.10"]));
    assert_eq!(routes(&ann), ["p 198.51.100.10/32 lp=100", "q 198.51.100.10/32 lp=200"]);
}

#[test]
fn every_error_is_reported_at_once() {
    let mut c = simple_bgp();
    c.communities = vec![alias("c1", "bad", "1:2:3:4")];
    c.bgp_advertisements = vec![
        BgpAdvertisement { communities: strings(&["nope"]), ..bgp_ad("x", &[]) },
        BgpAdvertisement { aggregation_length: Some(40), ..bgp_ad("y", &[]) },
    ];
    assert_eq!(open_errors(&c).len(), 3);
}

#[test]
fn malformed_pools_are_invalid_input() {
    let mut c = simple_bgp();
    c.pools.push(pool("bad", &["192.0.2.0/40"]));
    assert!(matches!(Advertiser::open(&c), Err(OpenError::InvalidInput(_))));
    let mut c = simple_bgp();
    c.pools.push(pool("a", &["198.51.100.0/28"]));
    assert!(matches!(Advertiser::open(&c), Err(OpenError::InvalidInput(_))));
}

// ---- layer 2 ----------------------------------------------------------------------------------

fn simple_l2() -> Config {
    let mut c = config(vec![pool("l2", &["192.0.2.0/24", "2001:db8::/120"])]);
    c.l2_advertisements = vec![l2_ad("l2", &[])];
    c
}

/// The orderings below were computed independently: for each address, the three node names
/// sorted by `hashlib.sha256(f"{node}#{ip}".encode()).digest()`.
///
/// 192.0.2.11: worker-0, worker-1, worker-2 · 192.0.2.13: worker-1, worker-2, worker-0 ·
/// 192.0.2.16: worker-2, worker-0, worker-1 · 192.0.2.21: worker-1, worker-0, worker-2 ·
/// 2001:db8::b: worker-2, worker-1, worker-0 · 203.0.113.200: worker-0, worker-1, worker-2.
#[test]
fn election_matches_metallbs_sha256_ordering() {
    let adv = open(&simple_l2());
    for (ip, winner) in [
        ("192.0.2.11", "worker-0"),
        ("192.0.2.13", "worker-1"),
        ("192.0.2.16", "worker-2"),
        ("2001:db8::b", "worker-2"),
    ] {
        let ann = adv.announce(&svc("x", "l2", &[ip]));
        assert_eq!(l2(&ann), [format!("{ip} {winner}")], "{ip}");
        assert!(ann.bgp.is_empty());
    }
}

#[test]
fn every_node_computes_the_same_election() {
    let mut c = simple_l2();
    let s = svc("x", "l2", &["192.0.2.16"]);
    let mut answers = Vec::new();
    for me in ["worker-0", "worker-1", "worker-2"] {
        c.local_node = me.into();
        answers.push(open(&c).announce(&s).l2);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
}

#[test]
fn down_unavailable_and_excluded_nodes_lose_the_election() {
    let mut c = simple_l2();
    let s = svc("x", "l2", &["192.0.2.16"]); // worker-2, worker-0, worker-1
    let mut adv = open(&c);
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-2"]);
    c.nodes[2].live = false;
    adv.update_nodes(&c.nodes);
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-0"]);
    c.nodes[0].network_unavailable = true;
    adv.update_nodes(&c.nodes);
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-1"]);
    c.nodes[1].labels.push(Label::new(EXCLUDE_LABEL, "true"));
    adv.update_nodes(&c.nodes);
    let ann = adv.announce(&s);
    assert_eq!(l2(&ann), ["192.0.2.16 -"]);
    assert!(refused(&ann, "no node is eligible"));
    // Back up.
    adv.update_nodes(&three_nodes());
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-2"]);
}

#[test]
fn the_elected_node_must_match_the_node_selectors() {
    let mut c = simple_l2();
    c.l2_advertisements[0].node_selectors = vec![LabelSelector::labels(&[("zone", "a")])];
    // 192.0.2.13 orders worker-1, worker-2, worker-0: only worker-0 is selected.
    assert_eq!(l2(&open(&c).announce(&svc("x", "l2", &["192.0.2.13"]))), ["192.0.2.13 worker-0"]);
}

#[test]
fn local_policy_elects_among_nodes_with_a_ready_endpoint() {
    let adv = open(&simple_l2());
    // 192.0.2.16 orders worker-2, worker-0, worker-1.
    let s = local(svc("x", "l2", &["192.0.2.16"]));
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-1"]);
    let s2 = with_endpoints(s.clone(), &[("10.244.1.5", "worker-1", true), ("10.244.0.5", "worker-0", true)]);
    assert_eq!(l2(&adv.announce(&s2)), ["192.0.2.16 worker-0"]);
    let s3 = with_endpoints(s.clone(), &[("10.244.2.5", "worker-2", false), ("10.244.1.5", "worker-1", true)]);
    assert_eq!(l2(&adv.announce(&s3)), ["192.0.2.16 worker-1"]);
    // A ready endpoint only on an ineligible node: listed without a node, and refused.
    let mut c = simple_l2();
    c.nodes[1].live = false;
    let ann = open(&c).announce(&s);
    assert_eq!(l2(&ann), ["192.0.2.16 -"]);
    assert!(refused(&ann, "externalTrafficPolicy Local"));
}

#[test]
fn no_ready_endpoint_means_no_l2_announcement() {
    let adv = open(&simple_l2());
    let ann = adv.announce(&with_endpoints(svc("x", "l2", &["192.0.2.16"]), &[("10.244.1.5", "worker-1", false)]));
    assert!(ann.l2.is_empty());
    assert_eq!(ann.refusals.len(), 1);
    assert!(refused(&ann, "no ready endpoint"));
}

#[test]
fn dual_stack_addresses_share_the_node_elected_for_the_first() {
    let adv = open(&simple_l2());
    // Keyed by 2001:db8::b (worker-2), although 192.0.2.11 alone would elect worker-0.
    let ann = adv.announce(&svc("x", "l2", &["2001:db8::b", "192.0.2.11"]));
    assert_eq!(l2(&ann), ["2001:db8::b worker-2", "192.0.2.11 worker-2"]);
    let ann = adv.announce(&svc("x", "l2", &["192.0.2.11", "2001:db8::b"]));
    assert_eq!(l2(&ann), ["192.0.2.11 worker-0", "2001:db8::b worker-0"]);
}

#[test]
fn interfaces_merge_over_the_advertisements_of_the_elected_node() {
    let mut c = simple_l2();
    c.l2_advertisements = vec![
        L2Advertisement { interfaces: strings(&["eth1", "eth0"]), ..l2_ad("a", &[]) },
        L2Advertisement { interfaces: strings(&["eth2", "eth0"]), ..l2_ad("b", &[]) },
        L2Advertisement {
            interfaces: strings(&["bond9"]),
            node_selectors: vec![LabelSelector::labels(&[("zone", "a")])],
            ..l2_ad("c", &[])
        },
    ];
    let adv = open(&c);
    // 192.0.2.13 → worker-1 (not selected by c).
    let ann = adv.announce(&svc("x", "l2", &["192.0.2.13"]));
    assert_eq!(l2(&ann), ["192.0.2.13 worker-1 eth0,eth1,eth2"]);
    assert_eq!(ann.l2[0].advertisement, ObjectRef::new("metallb-system", "a"));
    // 192.0.2.11 → worker-0 (selected by c too).
    assert_eq!(l2(&adv.announce(&svc("x", "l2", &["192.0.2.11"]))), ["192.0.2.11 worker-0 bond9,eth0,eth1,eth2"]);
    // An advertisement without interfaces means every interface.
    c.l2_advertisements.push(l2_ad("all", &[]));
    assert_eq!(l2(&open(&c).announce(&svc("x", "l2", &["192.0.2.11"]))), ["192.0.2.11 worker-0"]);
}

#[test]
fn node_selectors_of_several_advertisements_unite() {
    let mut c = simple_l2();
    c.l2_advertisements = vec![
        L2Advertisement {
            node_selectors: vec![LabelSelector::labels(&[("kubernetes.io/hostname", "worker-0")])],
            ..l2_ad("a", &[])
        },
        L2Advertisement {
            node_selectors: vec![LabelSelector::labels(&[("kubernetes.io/hostname", "worker-1")])],
            ..l2_ad("b", &[])
        },
    ];
    // 192.0.2.16 orders worker-2, worker-0, worker-1: worker-2 is in neither.
    let ann = open(&c).announce(&svc("x", "l2", &["192.0.2.16"]));
    assert_eq!(l2(&ann), ["192.0.2.16 worker-0"]);
    assert_eq!(ann.l2[0].advertisement, ObjectRef::new("metallb-system", "a"));
}

#[test]
fn shared_ip_with_l2_service_selectors_is_refused() {
    let mut c = simple_l2();
    c.l2_advertisements[0].service_selectors = vec![LabelSelector::labels(&[("app", "dns")])];
    let adv = open(&c);
    let mut s = svc("dns", "l2", &["192.0.2.16"]);
    s.labels = vec![Label::new("app", "dns")];
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-2"]);
    s.sharing_key = Some("dns".into());
    let ann = adv.announce(&s);
    assert!(ann.l2.is_empty());
    assert!(refused(&ann, "allow-shared-ip with L2 serviceSelectors is refused as MetalLB does"));
    // A sharing key without L2 serviceSelectors is fine.
    let adv = open(&simple_l2());
    assert_eq!(l2(&adv.announce(&s)), ["192.0.2.16 worker-2"]);
}

#[test]
fn l2_service_selectors_pick_services() {
    let mut c = simple_l2();
    c.l2_advertisements[0].service_selectors = vec![LabelSelector::labels(&[("app", "dns")])];
    let ann = open(&c).announce(&svc("web", "l2", &["192.0.2.16"]));
    assert!(ann.l2.is_empty());
}

#[test]
fn bgp_and_l2_together() {
    let mut c = simple_l2();
    c.peers = vec![ebgp("p")];
    c.bgp_advertisements = vec![bgp_ad("b", &[])];
    let adv = open(&c);
    let ann = adv.announce(&svc("x", "l2", &["192.0.2.16"]));
    assert_eq!(routes(&ann), ["p 192.0.2.16/32"]);
    assert_eq!(l2(&ann), ["192.0.2.16 worker-2"]);
    // Without a ready endpoint, one refusal covers both.
    let ann = adv.announce(&with_endpoints(svc("x", "l2", &["192.0.2.16"]), &[]));
    assert!(ann.bgp.is_empty() && ann.l2.is_empty());
    assert_eq!(ann.refusals.len(), 1, "{:?}", ann.refusals);
}

// ---- updates and odd inputs ---------------------------------------------------------------------

#[test]
fn update_nodes_changes_the_local_standing_and_selection() {
    let mut c = simple_bgp();
    c.bgp_advertisements[0].node_selectors = vec![LabelSelector::labels(&[("bgp", "yes")])];
    let mut adv = open(&c);
    let s = svc("x", "a", &["192.0.2.1"]);
    assert!(adv.announce(&s).bgp.is_empty());
    c.nodes[0].labels.push(Label::new("bgp", "yes"));
    adv.update_nodes(&c.nodes);
    assert_eq!(routes(&adv.announce(&s)), ["p 192.0.2.1/32"]);
    c.nodes[0].labels.push(Label::new(EXCLUDE_LABEL, ""));
    adv.update_nodes(&c.nodes);
    assert!(adv.announce(&s).bgp.is_empty());
}

#[test]
fn unknown_pools_and_missing_addresses_are_refusals() {
    let adv = open(&simple_bgp());
    let ann = adv.announce(&svc("x", "ghost", &["192.0.2.1"]));
    assert!(ann.bgp.is_empty() && refused(&ann, "\"ghost\" is not in the configuration"));
    let ann = adv.announce(&svc("x", "a", &[]));
    assert!(refused(&ann, "no address is allocated"));
}

#[test]
fn duplicate_addresses_are_announced_once() {
    let adv = open(&simple_bgp());
    assert_eq!(routes(&adv.announce(&svc("x", "a", &["192.0.2.1", "192.0.2.1"]))), ["p 192.0.2.1/32"]);
}

// ---- randomised: the election is "sort by hash, take the first" ---------------------------------

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn election_equals_sorting_every_candidate_by_hash() {
    use sha2::{Digest, Sha256};
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let n = 1 + (rng.next() % 12) as usize;
        let mut nodes: Vec<Node> = (0..n).map(|i| Node::new(format!("node-{round}-{i}"), &[])).collect();
        for x in &mut nodes {
            x.live = !rng.next().is_multiple_of(4);
        }
        let mut c = Config { local_node: nodes[0].name.clone(), nodes: nodes.clone(), ..Default::default() };
        c.pools = vec![pool("p", &["10.0.0.0/8", "fd00::/64"])];
        c.l2_advertisements = vec![l2_ad("l2", &[])];
        let adv = open(&c);
        let ip = if round % 2 == 0 {
            format!("10.{}.{}.{}", rng.next() % 256, rng.next() % 256, rng.next() % 256)
        } else {
            format!("fd00::{:x}:{:x}", rng.next() % 65536, rng.next() % 65536)
        };
        let mut live: Vec<&str> = nodes.iter().filter(|x| x.live).map(|x| x.name.as_str()).collect();
        live.sort_by_key(|name| Sha256::digest(format!("{name}#{ip}").as_bytes()));
        let expected = live.first().copied().unwrap_or("");
        let ann = adv.announce(&svc("x", "p", &[&ip]));
        assert_eq!(ann.l2.len(), 1);
        assert_eq!(ann.l2[0].node, expected, "round {round}, {ip}");
    }
}

#[test]
fn peer_sessions_follow_the_local_labels() {
    let mut c = simple_bgp();
    c.peers = vec![BgpPeer { node_selectors: vec![LabelSelector::labels(&[("rack", "r1")])], ..ebgp("tor-r1") }];
    let mut adv = open(&c);
    let s = svc("x", "a", &["192.0.2.1"]);
    assert!(adv.announce(&s).bgp.is_empty());
    c.nodes[0].labels.push(Label::new("rack", "r1"));
    adv.update_nodes(&c.nodes);
    assert_eq!(routes(&adv.announce(&s)), ["tor-r1 192.0.2.1/32"]);
}

#[test]
fn endpoints_without_a_node_never_make_a_node_a_candidate() {
    let adv = open(&simple_l2());
    let s = with_endpoints(local(svc("x", "l2", &["192.0.2.16"])), &[("10.244.9.9", "", true)]);
    let ann = adv.announce(&s);
    // The service has a ready endpoint (so it is announced), but no node holds one.
    assert_eq!(l2(&ann), ["192.0.2.16 -"]);
    assert!(refused(&ann, "externalTrafficPolicy Local"));
}

#[test]
fn well_known_communities_written_as_numbers_or_aliases_agree() {
    let mut c = simple_bgp();
    c.communities = vec![
        alias("wk", "NO_EXPORT", "65535:65281"),
        alias("wk", "NO_ADVERTISE", "65535:65282"),
        alias("wk", "NO_EXPORT_SUBCONFED", "65535:65283"),
    ];
    c.bgp_advertisements[0].communities = strings(&["NO_EXPORT", "65535:65282", "NO_EXPORT_SUBCONFED", "65535:65281"]);
    let ann = open(&c).announce(&svc("x", "a", &["192.0.2.1"]));
    assert_eq!(ann.bgp[0].communities, [Community::NO_EXPORT, Community::NO_ADVERTISE, Community::NO_EXPORT_SUBCONFED]);
}

#[test]
fn grouped_routes_name_each_route_once_with_the_peers_that_hear_it() {
    // Peers in configuration order: two eBGP, one iBGP between them; one advertisement with a
    // localPref (iBGP only) and a community, one /24 aggregate advertisement to the first peer.
    let mut c = config(vec![pool("a", &["192.0.2.0/24"])]);
    c.peers = vec![ebgp("e1"), ibgp("i1"), ebgp("e2")];
    c.bgp_advertisements = vec![
        BgpAdvertisement { local_pref: Some(150), communities: strings(&["65000:1"]), ..bgp_ad("host", &[]) },
        BgpAdvertisement { aggregation_length: Some(24), peers: strings(&["e1"]), ..bgp_ad("agg", &[]) },
    ];
    let adv = open(&c);
    let s = svc("x", "a", &["192.0.2.7"]);
    let g = adv.announce_grouped(&s);
    let shape: Vec<(String, Vec<usize>, Option<u32>, usize)> =
        g.bgp.iter().map(|r| (format!("{}", r.prefix), r.peers.clone(), r.local_pref, r.advertisement)).collect();
    assert_eq!(
        shape,
        [
            ("192.0.2.0/24".to_string(), vec![0], None, 1),
            ("192.0.2.7/32".to_string(), vec![0, 2], None, 0),
            ("192.0.2.7/32".to_string(), vec![1], Some(150), 0),
        ]
    );
    // The named form is the same decision, one route per (peer, prefix), by peer.
    assert_eq!(
        routes(&adv.announce(&s)),
        ["e1 192.0.2.0/24", "e1 192.0.2.7/32 65000:1", "e2 192.0.2.7/32 65000:1", "i1 192.0.2.7/32 lp=150 65000:1"]
    );
}
