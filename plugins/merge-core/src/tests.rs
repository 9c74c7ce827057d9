//! Behaviour tests: one group per rule of the crate documentation, frr-k8s's `merge_test.go`
//! scenarios re-expressed, and properties (order independence of the result, a single
//! configuration merging to itself).

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use std::format;

use crate::types::*;
use crate::{Merger, merge};

// ---- helpers ------------------------------------------------------------------------------

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
}

fn net(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').expect("cidr");
    Prefix::new(ip(a), l.parse().expect("prefix length"))
}

fn nets(s: &[&str]) -> Vec<Prefix> {
    s.iter().map(|p| net(p)).collect()
}

fn sel(s: &str, ge: Option<u8>, le: Option<u8>) -> PrefixSelector {
    PrefixSelector { prefix: net(s), ge, le }
}

fn neighbor(addr: &str, asn: u32) -> Neighbor {
    Neighbor::new(ip(addr), asn)
}

fn router(asn: u32, vrf: &str, prefixes: &[&str], neighbors: Vec<Neighbor>) -> Router {
    Router { prefixes: nets(prefixes), neighbors, ..Router::new(asn, vrf) }
}

fn src(name: &str, routers: Vec<Router>) -> ConfigSource {
    ConfigSource {
        origin: ObjectRef::new("frr-k8s-system", name),
        node_selector: LabelSelector::default(),
        config: RouterConfig { routers, bfd_profiles: vec![] },
    }
}

fn with_bfd(mut s: ConfigSource, profiles: Vec<BfdProfile>) -> ConfigSource {
    s.config.bfd_profiles = profiles;
    s
}

fn node() -> Node {
    Node { name: "worker-0".into(), labels: vec![Label::new("kubernetes.io/hostname", "worker-0")] }
}

fn input(sources: Vec<ConfigSource>) -> MergeInput {
    MergeInput { node: node(), sources, always_block: vec![] }
}

fn ok(sources: Vec<ConfigSource>) -> MergedConfig {
    match merge(input(sources)) {
        Ok(m) => m,
        Err(e) => panic!("merge refused: {e}"),
    }
}

fn conflicts(sources: Vec<ConfigSource>) -> Vec<Conflict> {
    match merge(input(sources)) {
        Ok(m) => panic!("merge accepted: {m:?}"),
        Err(MergeError::Conflicts(c)) => c,
        Err(e) => panic!("not a conflict: {e}"),
    }
}

fn names(c: &Conflict) -> Vec<String> {
    c.objects.iter().map(|o| o.name.clone()).collect()
}

fn only(c: &[Conflict]) -> &Conflict {
    assert_eq!(c.len(), 1, "expected one conflict: {c:?}");
    &c[0]
}

fn the_neighbor(m: &MergedConfig) -> &Neighbor {
    assert_eq!(m.config.routers.len(), 1);
    assert_eq!(m.config.routers[0].neighbors.len(), 1);
    &m.config.routers[0].neighbors[0]
}

// ---- rule 1: selection and self-containment --------------------------------------------------

#[test]
fn node_selector_decides_which_sources_apply() {
    let mut a = src("a", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64600)])]);
    a.node_selector.match_labels = vec![Label::new("kubernetes.io/hostname", "worker-1")];
    let b = src("b", vec![router(64512, "", &[], vec![neighbor("192.0.2.2", 64600)])]);
    let m = ok(vec![a, b]);
    assert_eq!(m.applied, [ObjectRef::new("frr-k8s-system", "b")]);
    assert_eq!(m.config.routers[0].neighbors.len(), 1);
    assert_eq!(m.config.routers[0].neighbors[0].address, Some(ip("192.0.2.2")));
}

#[test]
fn a_source_for_another_node_cannot_conflict() {
    let mut a = src("a", vec![router(64512, "", &[], vec![])]);
    a.node_selector.match_labels = vec![Label::new("rack", "r9")];
    let b = src("b", vec![router(64513, "", &[], vec![])]);
    let m = ok(vec![a, b]);
    assert_eq!(m.config.routers[0].asn, 64513);
}

#[test]
fn match_expressions_select_nodes() {
    let mut a = src("a", vec![router(64512, "", &[], vec![])]);
    a.node_selector.match_expressions = vec![SelectorRequirement {
        key: "kubernetes.io/hostname".into(),
        operator: SelectorOperator::In,
        values: vec!["worker-0".into(), "worker-2".into()],
    }];
    assert_eq!(ok(vec![a]).applied.len(), 1);
}

#[test]
fn no_source_gives_an_empty_configuration() {
    let m = ok(vec![]);
    assert!(m.config.routers.is_empty());
    assert!(m.config.bfd_profiles.is_empty());
    assert!(m.applied.is_empty());
}

#[test]
fn advertising_a_prefix_of_another_configuration_is_refused() {
    // "It is not possible to allow prefixes that are not defined in the router section by
    // leveraging prefixes coming from another configuration."
    let a = src("a", vec![router(64512, "", &["192.0.2.0/24"], vec![])]);
    let mut n = neighbor("172.30.0.3", 64600);
    n.to_advertise.prefixes = nets(&["192.0.2.0/24"]);
    let b = src("b", vec![router(64512, "", &[], vec![n])]);
    let c = conflicts(vec![a, b]);
    let c = only(&c);
    assert_eq!(names(c), ["b"]);
    assert_eq!(c.field, "routers[vrf=\"\"].neighbors[172.30.0.3].toAdvertise.allowed.prefixes");
    assert!(c.reason.contains("192.0.2.0/24 is not among the prefixes"), "{}", c.reason);
}

#[test]
fn community_and_local_pref_only_on_advertised_prefixes() {
    let mut n = neighbor("172.30.0.3", 64600);
    n.to_advertise.prefixes = nets(&["192.0.2.0/24"]);
    n.to_advertise.with_community =
        vec![CommunityPrefixes { community: Community::Standard(0xFFFF_FF02), prefixes: nets(&["198.51.100.0/24"]) }];
    n.to_advertise.with_local_pref = vec![LocalPrefPrefixes { local_pref: 200, prefixes: nets(&["198.51.100.0/24"]) }];
    let a = src("a", vec![router(64512, "", &["192.0.2.0/24", "198.51.100.0/24"], vec![n])]);
    let c = conflicts(vec![a]);
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(c[0].field.ends_with("toAdvertise.withCommunity"));
    assert!(c[0].reason.contains("community 65535:65282 is attached to 198.51.100.0/24"), "{}", c[0].reason);
    assert!(c[1].field.ends_with("toAdvertise.withLocalPref"));
}

#[test]
fn mode_all_makes_every_router_prefix_attachable() {
    let mut n = neighbor("172.30.0.3", 64600);
    n.to_advertise.mode = Some(FilterMode::All);
    n.to_advertise.with_local_pref = vec![LocalPrefPrefixes { local_pref: 200, prefixes: nets(&["198.51.100.0/24"]) }];
    let a = src("a", vec![router(64512, "", &["198.51.100.0/24"], vec![n])]);
    let m = ok(vec![a]);
    assert_eq!(the_neighbor(&m).to_advertise.with_local_pref[0].local_pref, 200);
}

#[test]
fn bfd_profile_must_be_defined_in_the_same_configuration() {
    let mut n = neighbor("172.30.0.3", 64600);
    n.bfd_profile = Some("fast".into());
    let a = with_bfd(src("a", vec![router(64512, "", &[], vec![])]), vec![BfdProfile::named("fast")]);
    let b = src("b", vec![router(64512, "", &[], vec![n])]);
    let c = conflicts(vec![a, b]);
    let c = only(&c);
    assert_eq!(names(c), ["b"]);
    assert!(c.field.ends_with("bfdProfile"));
}

#[test]
fn malformed_neighbors_are_reported() {
    let mut both = neighbor("192.0.2.1", 64600);
    both.dynamic_asn = Some(DynamicAsn::External);
    both.password = Some("x".into());
    both.password_secret = Some("s".into());
    let mut none = neighbor("192.0.2.2", 64600);
    none.asn = None;
    let nowhere = Neighbor { asn: Some(1), ..Neighbor::default() };
    let mut r = router(64512, "", &[], vec![both, none, nowhere]);
    r.id = Some(ip("2001:db8::1"));
    let c = conflicts(vec![src("a", vec![r])]);
    let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "routers[vrf=\"\"].id",
            "routers[vrf=\"\"].neighbors[192.0.2.1].asn",
            "routers[vrf=\"\"].neighbors[192.0.2.1].passwordSecret",
            "routers[vrf=\"\"].neighbors[192.0.2.2].asn",
            "routers[vrf=\"\"].neighbors",
        ]
    );
    // A password is never shown.
    assert!(c.iter().all(|c| !c.reason.contains("\"x\"")));
}

#[test]
fn receive_selector_bounds_are_checked() {
    let mut n = neighbor("192.0.2.1", 64600);
    n.to_receive.prefixes = vec![sel("10.0.0.0/8", Some(4), None), sel("10.0.0.0/8", Some(28), Some(24))];
    let c = conflicts(vec![src("a", vec![router(64512, "", &[], vec![n])])]);
    assert_eq!(c.len(), 2);
    assert!(c[0].reason.contains("ge 4 is outside 8..=32"), "{}", c[0].reason);
    assert!(c[1].reason.contains("ge 28 is greater than le 24"), "{}", c[1].reason);
}

#[test]
fn overlong_prefixes_are_invalid_input() {
    let a = src("a", vec![router(64512, "", &["10.0.0.0/33"], vec![])]);
    match merge(input(vec![a])) {
        Err(MergeError::InvalidInput(m)) => assert!(m.contains("10.0.0.0/33 has a length over 32"), "{m}"),
        other => panic!("{other:?}"),
    }
    let bad = MergeInput { always_block: vec![sel("10.0.0.0/8", Some(40), None)], ..input(vec![]) };
    assert!(matches!(merge(bad), Err(MergeError::InvalidInput(_))));
}

// ---- rule 2: routers -------------------------------------------------------------------------

#[test]
fn routers_are_keyed_by_vrf_and_prefixes_unioned() {
    let a = src("a", vec![router(64512, "", &["192.0.2.0/24"], vec![]), router(64600, "red", &[], vec![])]);
    let mut rb = router(64512, "", &["198.51.100.0/24", "192.0.2.0/24", "2001:db8::/64"], vec![]);
    rb.imports = vec!["red".into()];
    let m = ok(vec![a, src("b", vec![rb])]);
    let r = &m.config.routers;
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].vrf.as_str(), r[0].asn), ("", 64512));
    assert_eq!(r[0].prefixes, nets(&["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/64"]));
    assert_eq!(r[0].imports, ["red"]);
    assert_eq!((r[1].vrf.as_str(), r[1].asn), ("red", 64600));
}

#[test]
fn different_asns_for_one_vrf_conflict() {
    let c = conflicts(vec![
        src("a", vec![router(64512, "red", &[], vec![])]),
        src("b", vec![router(64513, "red", &[], vec![])]),
    ]);
    let c = only(&c);
    assert_eq!(names(c), ["a", "b"]);
    assert_eq!(c.field, "routers[vrf=red].asn");
    assert_eq!(c.reason, "asn 64512 in frr-k8s-system/a but asn 64513 in frr-k8s-system/b");
}

#[test]
fn router_ids_must_agree_when_both_set() {
    let mut a = router(64512, "", &[], vec![]);
    a.id = Some(ip("10.0.0.1"));
    let b = router(64512, "", &[], vec![]);
    let m = ok(vec![src("a", vec![a.clone()]), src("b", vec![b.clone()])]);
    assert_eq!(m.config.routers[0].id, Some(ip("10.0.0.1")));
    let m = ok(vec![src("b", vec![b]), src("a", vec![a.clone()])]);
    assert_eq!(m.config.routers[0].id, Some(ip("10.0.0.1")));
    let mut c = router(64512, "", &[], vec![]);
    c.id = Some(ip("10.0.0.2"));
    let cs = conflicts(vec![src("a", vec![a]), src("c", vec![c])]);
    assert_eq!(only(&cs).field, "routers[vrf=\"\"].id");
}

// ---- rule 3: neighbors -----------------------------------------------------------------------

#[test]
fn neighbors_are_added_and_merged_by_address() {
    let a = src("a", vec![router(64512, "", &[], vec![neighbor("192.0.2.2", 64600), neighbor("2001:db8::1", 64600)])]);
    let b = src("b", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64601), neighbor("192.0.2.2", 64600)])]);
    let m = ok(vec![a, b]);
    let addrs: Vec<Option<IpAddr>> = m.config.routers[0].neighbors.iter().map(|n| n.address).collect();
    assert_eq!(addrs, [Some(ip("192.0.2.1")), Some(ip("192.0.2.2")), Some(ip("2001:db8::1"))]);
}

#[test]
fn same_address_in_two_vrfs_is_two_neighbors() {
    let a = src("a", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64600)])]);
    let b = src("b", vec![router(64512, "red", &[], vec![neighbor("192.0.2.1", 64700)])]);
    let m = ok(vec![a, b]);
    assert_eq!(m.config.routers.len(), 2);
}

#[test]
fn neighbor_asn_conflict_names_both_objects() {
    let a = src("a", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64600)])]);
    let b = src("b", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64601)])]);
    let c = conflicts(vec![a, b]);
    let c = only(&c);
    assert_eq!(names(c), ["a", "b"]);
    assert_eq!(c.field, "routers[vrf=\"\"].neighbors[192.0.2.1].asn");
    assert!(c.reason.contains("asn 64600 in frr-k8s-system/a but asn 64601 in frr-k8s-system/b"));
}

#[test]
fn asn_and_dynamic_asn_do_not_mix() {
    let mut dynamic = neighbor("192.0.2.1", 0);
    dynamic.asn = None;
    dynamic.dynamic_asn = Some(DynamicAsn::Internal);
    let a = src("a", vec![router(64512, "", &[], vec![dynamic.clone()])]);
    let b = src("b", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64512)])]);
    let c = conflicts(vec![a.clone(), b]);
    assert!(only(&c).reason.contains("dynamicASN internal"));
    let mut external = dynamic.clone();
    external.dynamic_asn = Some(DynamicAsn::External);
    let c = conflicts(vec![a.clone(), src("c", vec![router(64512, "", &[], vec![external])])]);
    assert_eq!(only(&c).field, "routers[vrf=\"\"].neighbors[192.0.2.1].asn");
    assert!(merge(input(vec![a.clone(), a])).is_ok());
}

#[test]
fn port_and_timers_unset_count_as_defaults() {
    let plain = neighbor("192.0.2.1", 64600);
    let mut explicit = plain.clone();
    explicit.port = Some(179);
    explicit.hold_time = Some(180_000);
    explicit.keepalive_time = Some(60_000);
    explicit.connect_time = Some(60_000);
    explicit.ebgp_multi_hop = Some(false);
    explicit.disable_mp = Some(false);
    for order in [[plain.clone(), explicit.clone()], [explicit.clone(), plain.clone()]] {
        let [x, y] = order;
        let m =
            ok(vec![src("a", vec![router(64512, "", &[], vec![x])]), src("b", vec![router(64512, "", &[], vec![y])])]);
        // The explicit values are kept.
        assert_eq!(the_neighbor(&m).port, Some(179));
        assert_eq!(the_neighbor(&m).hold_time, Some(180_000));
    }
}

#[test]
fn every_conflicting_session_field_is_reported_at_once() {
    let a = neighbor("192.0.2.1", 64600);
    let mut b = a.clone();
    b.port = Some(180);
    b.hold_time = Some(90_000);
    b.keepalive_time = Some(30_000);
    b.connect_time = Some(1_500);
    b.source_address = Some(ip("192.0.2.100"));
    b.ebgp_multi_hop = Some(true);
    b.disable_mp = Some(true);
    b.password = Some("secret".into());
    let c = conflicts(vec![
        src("a", vec![router(64512, "", &[], vec![a])]),
        src("b", vec![router(64512, "", &[], vec![b])]),
    ]);
    let fields: Vec<&str> = c.iter().map(|c| c.field.rsplit('.').next().unwrap_or("")).collect();
    assert_eq!(
        fields,
        ["port", "sourceaddress", "password", "holdTime", "keepaliveTime", "connectTime", "ebgpMultiHop", "disableMP"]
    );
    assert!(c.iter().all(|c| names(c) == ["a", "b"]));
    assert_eq!(c[0].reason, "port 179 (unset) in frr-k8s-system/a but port 180 in frr-k8s-system/b");
    assert_eq!(c[3].reason, "holdTime 180s (unset) in frr-k8s-system/a but holdTime 90s in frr-k8s-system/b");
    assert!(c[5].reason.contains("connectTime 1500ms"), "{}", c[5].reason);
    assert!(!c[2].reason.contains("secret\""), "{}", c[2].reason);
}

#[test]
fn password_and_secret_must_agree() {
    let mut a = neighbor("192.0.2.1", 64600);
    a.password_secret = Some("s1".into());
    let mut b = a.clone();
    b.password_secret = Some("s2".into());
    let c = conflicts(vec![
        src("a", vec![router(64512, "", &[], vec![a.clone()])]),
        src("b", vec![router(64512, "", &[], vec![b])]),
    ]);
    assert!(only(&c).field.ends_with("passwordSecret"));
    assert!(only(&c).reason.contains("\"s1\"") && only(&c).reason.contains("\"s2\""));
    let mut p = neighbor("192.0.2.1", 64600);
    p.password = Some("hunter2".into());
    let c = conflicts(vec![
        src("a", vec![router(64512, "", &[], vec![a.clone()])]),
        src("p", vec![router(64512, "", &[], vec![p])]),
    ]);
    assert!(!only(&c).reason.contains("hunter2"));
    assert!(merge(input(vec![src("a", vec![router(64512, "", &[], vec![a.clone(), a])])])).is_ok());
}

#[test]
fn bfd_profiles_of_a_neighbor_must_agree() {
    let mut a = neighbor("192.0.2.1", 64600);
    a.bfd_profile = Some("fast".into());
    let mut b = a.clone();
    b.bfd_profile = Some("slow".into());
    let profiles = vec![BfdProfile::named("fast"), BfdProfile::named("slow")];
    let sa = with_bfd(src("a", vec![router(64512, "", &[], vec![a.clone()])]), profiles.clone());
    let sb = with_bfd(src("b", vec![router(64512, "", &[], vec![b])]), profiles.clone());
    let c = conflicts(vec![sa.clone(), sb]);
    assert_eq!(only(&c).reason, "bfdProfile \"fast\" in frr-k8s-system/a but bfdProfile \"slow\" in frr-k8s-system/b");
    // An entry without a profile takes no position ("two different bfdProfiles" conflict; frr-k8s
    // would refuse this too), in either order.
    let none = src("n", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64600)])]);
    for sources in [vec![sa.clone(), none.clone()], vec![none, sa]] {
        assert_eq!(the_neighbor(&ok(sources)).bfd_profile.as_deref(), Some("fast"));
    }
}

#[test]
fn graceful_restart_is_on_when_any_entry_asks() {
    let a = neighbor("192.0.2.1", 64600);
    let mut b = a.clone();
    b.enable_graceful_restart = Some(true);
    let mut c = a.clone();
    c.enable_graceful_restart = Some(false);
    let m = ok(vec![
        src("a", vec![router(64512, "", &[], vec![a])]),
        src("b", vec![router(64512, "", &[], vec![b])]),
        src("c", vec![router(64512, "", &[], vec![c])]),
    ]);
    assert_eq!(the_neighbor(&m).enable_graceful_restart, Some(true));
}

#[test]
fn unnumbered_neighbors_are_keyed_by_interface() {
    let a = Neighbor { interface: Some("eth1".into()), dynamic_asn: Some(DynamicAsn::External), ..Neighbor::default() };
    let mut b = a.clone();
    b.to_receive.mode = Some(FilterMode::All);
    let mut other = a.clone();
    other.interface = Some("eth2".into());
    let m = ok(vec![
        src("a", vec![router(64512, "", &[], vec![a.clone()])]),
        src("b", vec![router(64512, "", &[], vec![b, other])]),
    ]);
    let ns = &m.config.routers[0].neighbors;
    assert_eq!(ns.len(), 2);
    assert_eq!(ns[0].interface.as_deref(), Some("eth1"));
    assert_eq!(ns[0].to_receive.mode, Some(FilterMode::All));
    let mut c = a.clone();
    c.dynamic_asn = Some(DynamicAsn::Internal);
    let cs = conflicts(vec![
        src("a", vec![router(64512, "", &[], vec![a])]),
        src("c", vec![router(64512, "", &[], vec![c])]),
    ]);
    assert_eq!(only(&cs).field, "routers[vrf=\"\"].neighbors[interface=eth1].asn");
}

#[test]
fn duplicates_within_one_source_merge_by_the_same_rules() {
    let a = neighbor("192.0.2.1", 64600);
    let mut b = a.clone();
    b.port = Some(180);
    let c = conflicts(vec![src("a", vec![router(64512, "", &[], vec![a]), router(64512, "", &[], vec![b])])]);
    let c = only(&c);
    assert_eq!(names(c), ["a"]);
    assert_eq!(c.reason, "port 179 (unset) and port 180 in frr-k8s-system/a for the same entry");
}

// ---- rule 4: toAdvertise ---------------------------------------------------------------------

fn advertising(name: &str, prefixes: &[&str], f: impl FnOnce(&mut AdvertiseFilter)) -> ConfigSource {
    let mut n = neighbor("172.30.0.3", 4_200_000_000);
    f(&mut n.to_advertise);
    src(name, vec![router(64512, "", prefixes, vec![n])])
}

#[test]
fn advertised_prefixes_are_unioned() {
    let a = advertising("a", &["192.0.2.0/24", "192.0.3.0/24"], |f| f.prefixes = nets(&["192.0.2.0/24"]));
    let b = advertising("b", &["192.0.4.0/24"], |f| f.prefixes = nets(&["192.0.4.0/24"]));
    let m = ok(vec![a, b]);
    assert_eq!(m.config.routers[0].prefixes, nets(&["192.0.2.0/24", "192.0.3.0/24", "192.0.4.0/24"]));
    let n = the_neighbor(&m);
    assert_eq!(n.to_advertise.prefixes, nets(&["192.0.2.0/24", "192.0.4.0/24"]));
    assert_eq!(n.to_advertise.mode, None);
}

#[test]
fn mode_all_wins() {
    let a = advertising("a", &["192.0.2.0/24"], |f| f.mode = Some(FilterMode::All));
    let b = advertising("b", &["192.0.4.0/24"], |f| {
        f.mode = Some(FilterMode::Filtered);
        f.prefixes = nets(&["192.0.4.0/24"]);
    });
    for sources in [vec![a.clone(), b.clone()], vec![b, a]] {
        let m = ok(sources);
        let n = the_neighbor(&m);
        assert_eq!(n.to_advertise.mode, Some(FilterMode::All));
        assert_eq!(n.to_advertise.prefixes, nets(&["192.0.4.0/24"]));
    }
}

#[test]
fn communities_are_unioned_by_value() {
    let no_adv = Community::Standard(0xFFFF_FF02);
    let large = Community::Large(1, 2, 3);
    let a = advertising("a", &["192.0.2.0/24", "192.0.3.0/24"], |f| {
        f.prefixes = nets(&["192.0.2.0/24", "192.0.3.0/24"]);
        f.with_community = vec![
            CommunityPrefixes { community: large, prefixes: nets(&["192.0.3.0/24"]) },
            CommunityPrefixes { community: no_adv, prefixes: nets(&["192.0.2.0/24"]) },
        ];
    });
    let b = advertising("b", &["192.0.2.0/24", "192.0.4.0/24"], |f| {
        f.prefixes = nets(&["192.0.4.0/24", "192.0.2.0/24"]);
        f.with_community =
            vec![CommunityPrefixes { community: no_adv, prefixes: nets(&["192.0.4.0/24", "192.0.2.0/24"]) }];
    });
    let m = ok(vec![a, b]);
    let wc = &the_neighbor(&m).to_advertise.with_community;
    assert_eq!(
        wc,
        &vec![
            CommunityPrefixes { community: no_adv, prefixes: nets(&["192.0.2.0/24", "192.0.4.0/24"]) },
            CommunityPrefixes { community: large, prefixes: nets(&["192.0.3.0/24"]) },
        ]
    );
}

#[test]
fn local_prefs_are_unioned_by_value_and_must_not_disagree() {
    let lp = |v: u32, p: &[&str]| LocalPrefPrefixes { local_pref: v, prefixes: nets(p) };
    let a = advertising("a", &["192.0.2.0/24", "192.0.3.0/24"], |f| {
        f.prefixes = nets(&["192.0.2.0/24", "192.0.3.0/24"]);
        f.with_local_pref = vec![lp(200, &["192.0.2.0/24"]), lp(100, &["192.0.3.0/24"])];
    });
    let b = advertising("b", &["192.0.4.0/24", "192.0.2.0/24"], |f| {
        f.prefixes = nets(&["192.0.4.0/24", "192.0.2.0/24"]);
        f.with_local_pref = vec![lp(200, &["192.0.4.0/24", "192.0.2.0/24"])];
    });
    let m = ok(vec![a.clone(), b]);
    assert_eq!(
        the_neighbor(&m).to_advertise.with_local_pref,
        [lp(100, &["192.0.3.0/24"]), lp(200, &["192.0.2.0/24", "192.0.4.0/24"])]
    );
    let c = advertising("c", &["192.0.2.0/24"], |f| {
        f.prefixes = nets(&["192.0.2.0/24"]);
        f.with_local_pref = vec![lp(300, &["192.0.2.0/24"])];
    });
    let cs = conflicts(vec![a, c]);
    let c = only(&cs);
    assert_eq!(names(c), ["a", "c"]);
    assert_eq!(c.field, "routers[vrf=\"\"].neighbors[172.30.0.3].toAdvertise.withLocalPref");
    assert_eq!(c.reason, "192.0.2.0/24 has localPref 200 in frr-k8s-system/a but 300 in frr-k8s-system/c");
}

#[test]
fn two_local_prefs_in_one_configuration_conflict() {
    let a = advertising("a", &["192.0.2.0/24"], |f| {
        f.prefixes = nets(&["192.0.2.0/24"]);
        f.with_local_pref = vec![
            LocalPrefPrefixes { local_pref: 100, prefixes: nets(&["192.0.2.0/24"]) },
            LocalPrefPrefixes { local_pref: 200, prefixes: nets(&["192.0.2.0/24"]) },
        ];
    });
    let c = conflicts(vec![a]);
    assert_eq!(names(only(&c)), ["a"]);
}

// ---- rule 5: toReceive -----------------------------------------------------------------------

fn receiving(name: &str, f: impl FnOnce(&mut ReceiveFilter)) -> ConfigSource {
    let mut n = neighbor("172.18.0.5", 64512);
    f(&mut n.to_receive);
    src(name, vec![router(64512, "", &[], vec![n])])
}

#[test]
fn receive_all_beats_filtered() {
    let a = receiving("a", |f| f.prefixes = vec![sel("192.168.1.0/24", None, None)]);
    let b = receiving("b", |f| f.mode = Some(FilterMode::All));
    for sources in [vec![a.clone(), b.clone()], vec![b, a]] {
        let m = ok(sources);
        assert_eq!(the_neighbor(&m).to_receive.mode, Some(FilterMode::All));
    }
}

#[test]
fn receive_selectors_are_unioned_with_their_bounds() {
    let a = receiving("a", |f| {
        f.prefixes = vec![sel("192.169.2.0/24", Some(25), Some(28)), sel("192.168.1.0/24", None, None)];
    });
    let b = receiving("b", |f| {
        f.mode = Some(FilterMode::Filtered);
        f.prefixes = vec![sel("192.168.1.0/24", None, None), sel("192.169.2.0/24", None, Some(26))];
    });
    let m = ok(vec![a, b]);
    let r = &the_neighbor(&m).to_receive;
    assert_eq!(r.mode, Some(FilterMode::Filtered));
    assert_eq!(
        r.prefixes,
        [
            sel("192.168.1.0/24", None, None),
            sel("192.169.2.0/24", None, Some(26)),
            sel("192.169.2.0/24", Some(25), Some(28))
        ]
    );
}

#[test]
fn nothing_received_by_default() {
    let m = ok(vec![receiving("a", |_| {})]);
    assert_eq!(the_neighbor(&m).to_receive, ReceiveFilter::default());
}

// ---- rule 6: BFD profiles and alwaysBlock ----------------------------------------------------

#[test]
fn bfd_profiles_merge_by_name() {
    let fast = BfdProfile { receive_interval: Some(50), transmit_interval: Some(50), ..BfdProfile::named("fast") };
    let a = with_bfd(src("a", vec![]), vec![fast.clone(), BfdProfile::named("slow")]);
    let b = with_bfd(src("b", vec![]), vec![BfdProfile { detect_multiplier: Some(3), ..fast.clone() }]);
    let m = ok(vec![a, b]);
    assert_eq!(m.config.bfd_profiles.len(), 2);
    assert_eq!(m.config.bfd_profiles[0], BfdProfile { detect_multiplier: Some(3), ..fast });
    assert_eq!(m.config.bfd_profiles[1].name, "slow");
}

#[test]
fn bfd_profiles_with_different_values_conflict() {
    let a = with_bfd(src("a", vec![]), vec![BfdProfile { receive_interval: Some(50), ..BfdProfile::named("fast") }]);
    let b = with_bfd(
        src("b", vec![]),
        vec![BfdProfile { receive_interval: Some(60), echo_mode: Some(true), ..BfdProfile::named("fast") }],
    );
    let c = conflicts(vec![a, b]);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].field, "bfdProfiles[fast].receiveInterval");
    assert_eq!(c[0].reason, "receiveInterval 50 in frr-k8s-system/a but receiveInterval 60 in frr-k8s-system/b");
    assert_eq!(c[1].field, "bfdProfiles[fast].echoMode");
    assert!(c.iter().all(|c| names(c) == ["a", "b"]));
}

#[test]
fn bfd_unset_equals_default() {
    let a = with_bfd(src("a", vec![]), vec![BfdProfile::named("p")]);
    let full = BfdProfile {
        receive_interval: Some(300),
        transmit_interval: Some(300),
        detect_multiplier: Some(3),
        echo_interval: Some(50),
        echo_mode: Some(false),
        passive_mode: Some(false),
        minimum_ttl: Some(254),
        ..BfdProfile::named("p")
    };
    let b = with_bfd(src("b", vec![]), vec![full.clone()]);
    assert_eq!(ok(vec![a, b]).config.bfd_profiles, [full]);
}

#[test]
fn always_block_is_carried_sorted_and_deduplicated() {
    let i = MergeInput {
        always_block: vec![
            sel("192.168.1.0/24", None, Some(32)),
            sel("10.0.0.0/8", None, None),
            sel("10.0.0.0/8", None, None),
        ],
        ..input(vec![receiving("a", |f| f.mode = Some(FilterMode::All))])
    };
    let m = merge(i).expect("merges");
    assert_eq!(m.always_block, [sel("10.0.0.0/8", None, None), sel("192.168.1.0/24", None, Some(32))]);
    // toReceive is left as written: the receiving side enforces alwaysBlock first.
    assert_eq!(the_neighbor(&m).to_receive.mode, Some(FilterMode::All));
}

// ---- reporting and properties ----------------------------------------------------------------

#[test]
fn conflicts_from_several_objects_are_all_reported() {
    let a = src("a", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64600)])]);
    let b = src("b", vec![router(64512, "", &[], vec![neighbor("192.0.2.1", 64601)])]);
    let c = src("c", vec![router(64513, "", &[], vec![neighbor("192.0.2.1", 64602)])]);
    let d = with_bfd(src("d", vec![]), vec![BfdProfile { minimum_ttl: Some(10), ..BfdProfile::named("x") }]);
    let e = with_bfd(src("e", vec![]), vec![BfdProfile { minimum_ttl: Some(20), ..BfdProfile::named("x") }]);
    let cs = conflicts(vec![a, b, c, d, e]);
    let got: Vec<(Vec<String>, String)> = cs.iter().map(|c| (names(c), c.field.clone())).collect();
    let want = |o: &[&str], f: &str| (o.iter().map(|s| s.to_string()).collect::<Vec<_>>(), f.to_string());
    assert_eq!(
        got,
        [
            want(&["a", "b"], "routers[vrf=\"\"].neighbors[192.0.2.1].asn"),
            want(&["a", "c"], "routers[vrf=\"\"].asn"),
            want(&["a", "c"], "routers[vrf=\"\"].neighbors[192.0.2.1].asn"),
            want(&["d", "e"], "bfdProfiles[x].minimumTtl"),
        ]
    );
}

#[test]
fn merger_reports_which_sources_applied() {
    let mut m = Merger::new(&node(), vec![]);
    let mut other = src("other", vec![]);
    other.node_selector.match_labels = vec![Label::new("kubernetes.io/hostname", "worker-9")];
    assert!(!m.add(other));
    assert!(m.add(src("mine", vec![])));
    assert_eq!(m.finish().expect("merges").applied, [ObjectRef::new("frr-k8s-system", "mine")]);
}

fn rich(name: &str, seed: u32) -> ConfigSource {
    let p = |i: u32| format!("10.{}.{}.0/24", seed % 7, i);
    let prefixes: Vec<String> = (0..4).map(p).collect();
    let refs: Vec<&str> = prefixes.iter().map(|s| s.as_str()).collect();
    let mut n = neighbor(&format!("192.0.2.{}", seed % 3), 64600);
    n.to_advertise.prefixes = nets(&refs[..2]);
    n.to_advertise.with_community =
        vec![CommunityPrefixes { community: Community::Standard(seed % 2), prefixes: nets(&refs[..1]) }];
    n.to_advertise.with_local_pref = vec![LocalPrefPrefixes { local_pref: 100, prefixes: nets(&refs[1..2]) }];
    n.to_receive.prefixes = vec![sel(&format!("172.16.{seed}.0/24"), None, Some(28))];
    if seed.is_multiple_of(4) {
        n.to_receive.mode = Some(FilterMode::All);
        n.port = Some(179);
    }
    src(name, vec![router(64512, "", &refs, vec![n])])
}

#[test]
fn the_result_does_not_depend_on_the_order_of_sources() {
    let sources: Vec<ConfigSource> = (0..9).map(|i| rich(&format!("s{i}"), i)).collect();
    let forward = ok(sources.clone());
    let mut reversed = sources.clone();
    reversed.reverse();
    let backward = ok(reversed);
    assert_eq!(forward.config, backward.config);
    let mut rotated = sources;
    rotated.rotate_left(4);
    assert_eq!(forward.config, ok(rotated).config);
}

#[test]
fn a_single_configuration_merges_to_itself() {
    let s = rich("only", 4);
    let m = ok(vec![s.clone()]);
    assert_eq!(m.config, s.config);
}

#[test]
fn many_configurations_merge_quickly() {
    // 1,000 configurations x 100 neighbors: the shape of the runtime benchmark, natively.
    let sources: Vec<ConfigSource> = (0..1000u32)
        .map(|i| {
            let neighbors = (0..100u32)
                .map(|j| {
                    let mut n = neighbor(&format!("10.{}.{}.1", j / 250, j % 250), 64600 + j);
                    n.to_advertise.prefixes = vec![net(&format!("198.{}.{}.0/24", 18 + i / 250, i % 250))];
                    n
                })
                .collect();
            src(
                &format!("c{i:04}"),
                vec![router(64512, "", &[&format!("198.{}.{}.0/24", 18 + i / 250, i % 250)], neighbors)],
            )
        })
        .collect();
    let start = std::time::Instant::now();
    let m = ok(sources);
    let took = start.elapsed();
    assert_eq!(m.config.routers[0].neighbors.len(), 100);
    assert_eq!(m.config.routers[0].neighbors[0].to_advertise.prefixes.len(), 1000);
    std::eprintln!("merged 1000 x 100 neighbors in {took:?}");
}
