//! Behaviour tests of the allocator: one test per rule of the crate documentation, MetalLB's
//! `allocator_test.go` scenarios re-expressed, and randomised comparisons with a brute-force
//! model.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;
use std::format;

use crate::Allocator;
use crate::types::*;

// ---- helpers ------------------------------------------------------------------------------

fn a(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
}

fn block(s: &str) -> AddressBlock {
    if let Some((x, y)) = s.split_once('-') {
        AddressBlock::Range { first: a(x.trim()), last: a(y.trim()) }
    } else {
        let (x, l) = s.split_once('/').expect("cidr");
        AddressBlock::Cidr { address: a(x), prefix_len: l.parse().expect("prefix length") }
    }
}

fn pool(name: &str, blocks: &[&str]) -> AddressPool {
    AddressPool::new(name, blocks.iter().map(|b| block(b)).collect())
}

fn manual(name: &str, blocks: &[&str]) -> AddressPool {
    AddressPool { auto_assign: false, ..pool(name, blocks) }
}

fn buggy(name: &str, blocks: &[&str]) -> AddressPool {
    AddressPool { avoid_buggy_ips: true, ..pool(name, blocks) }
}

fn with_sa(mut p: AddressPool, sa: ServiceAllocation) -> AddressPool {
    p.service_allocation = Some(sa);
    p
}

fn ns_sa(prio: Option<i32>, namespaces: &[&str]) -> ServiceAllocation {
    ServiceAllocation {
        priority: prio,
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { match_labels: pairs.iter().map(|(k, v)| Label::new(*k, *v)).collect(), ..Default::default() }
}

fn config(pools: Vec<AddressPool>) -> Config {
    Config { pools, namespaces: Vec::new() }
}

fn alloc(pools: Vec<AddressPool>) -> Allocator {
    Allocator::open(&config(pools), &[]).expect("valid configuration").0
}

fn svc(id: &str) -> Service {
    let (ns, name) = id.split_once('/').expect("ns/name");
    Service::new(ns, name)
}

trait Build {
    fn key(self, k: &str) -> Self;
    fn port(self, p: Protocol, n: u16) -> Self;
    fn tcp(self, n: u16) -> Self;
    fn req(self, ips: &[&str]) -> Self;
    fn spec_ip(self, ip: &str) -> Self;
    fn in_pool(self, p: &str) -> Self;
    fn fams(self, f: &[Family]) -> Self;
    fn policy(self, p: IpFamilyPolicy) -> Self;
    fn label(self, k: &str, v: &str) -> Self;
    fn local(self, selector: &[(&str, &str)]) -> Self;
    fn selector(self, selector: &[(&str, &str)]) -> Self;
    fn status(self, ips: &[&str]) -> Self;
}

impl Build for Service {
    fn key(mut self, k: &str) -> Self {
        self.sharing_key = Some(k.into());
        self
    }
    fn port(mut self, p: Protocol, n: u16) -> Self {
        self.ports.push(ServicePort::new(p, n));
        self
    }
    fn tcp(self, n: u16) -> Self {
        self.port(Protocol::Tcp, n)
    }
    fn req(mut self, ips: &[&str]) -> Self {
        self.requested_ips = ips.iter().map(|i| a(i)).collect();
        self
    }
    fn spec_ip(mut self, ip: &str) -> Self {
        self.spec_load_balancer_ip = Some(a(ip));
        self
    }
    fn in_pool(mut self, p: &str) -> Self {
        self.requested_pool = Some(p.into());
        self
    }
    fn fams(mut self, f: &[Family]) -> Self {
        self.ip_families = f.to_vec();
        self
    }
    fn policy(mut self, p: IpFamilyPolicy) -> Self {
        self.ip_family_policy = p;
        self
    }
    fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.push(Label::new(k, v));
        self
    }
    fn local(mut self, selector: &[(&str, &str)]) -> Self {
        self.traffic_policy = TrafficPolicy::Local;
        self.selector(selector)
    }
    fn selector(mut self, selector: &[(&str, &str)]) -> Self {
        self.selector = selector.iter().map(|(k, v)| Label::new(*k, *v)).collect();
        self
    }
    fn status(mut self, ips: &[&str]) -> Self {
        self.current_ips = ips.iter().map(|i| a(i)).collect();
        self
    }
}

/// Assigns, expecting success; checks the allocator's invariants.
fn got(al: &mut Allocator, s: &Service) -> (Vec<String>, String) {
    let r = al.assign(s).unwrap_or_else(|e| panic!("{}: refused: {}", s.id, e.reason));
    al.check_invariants();
    assert_eq!(al.allocation(&s.id).as_ref(), Some(&r), "allocation() agrees with assign()");
    (r.ips.iter().map(|i| i.to_string()).collect(), r.pool)
}

fn ips(al: &mut Allocator, s: &Service) -> Vec<String> {
    got(al, s).0
}

/// Assigns, expecting a refusal; returns the reason.
fn refused(al: &mut Allocator, s: &Service) -> String {
    let e = al.assign(s).expect_err("a refusal");
    al.check_invariants();
    assert_eq!(e.service, s.id);
    assert!(al.allocation(&s.id).is_none(), "a refused service holds nothing");
    e.reason
}

fn names(list: &[Refusal]) -> Vec<String> {
    list.iter().map(|r| r.service.to_string()).collect()
}

fn rehomed(list: &[Allocation]) -> Vec<(String, String)> {
    list.iter().map(|r| (r.service.to_string(), r.pool.clone())).collect()
}

const V4: Family = Family::Ipv4;
const V6: Family = Family::Ipv6;
use IpFamilyPolicy::{PreferDualStack as Prefer, RequireDualStack as Require};

// ---- rule 4: lowest free address, blocks in order ------------------------------------------

#[test]
fn first_service_gets_the_lowest_address() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/30"])]);
    assert_eq!(got(&mut al, &svc("default/web")), (vec!["192.0.2.0".to_string()], "gold".to_string()));
}

#[test]
fn addresses_are_handed_out_in_ascending_order() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.10-192.0.2.13"])]);
    for (i, want) in ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"].iter().enumerate() {
        assert_eq!(ips(&mut al, &svc(&format!("default/s{i}"))), [*want]);
    }
}

#[test]
fn blocks_are_used_in_manifest_order() {
    let mut al = alloc(vec![pool("p", &["10.0.0.8/31", "10.0.0.0/31"])]);
    assert_eq!(ips(&mut al, &svc("a/1")), ["10.0.0.8"]);
    assert_eq!(ips(&mut al, &svc("a/2")), ["10.0.0.9"]);
    assert_eq!(ips(&mut al, &svc("a/3")), ["10.0.0.0"]);
}

#[test]
fn ranges_and_cidrs_mix() {
    let mut al = alloc(vec![pool("p", &["10.0.0.5-10.0.0.5", "10.0.1.0/32", "10.0.2.1-10.0.2.2"])]);
    let got: Vec<_> = (0..4).map(|i| ips(&mut al, &svc(&format!("a/{i}")))[0].clone()).collect();
    assert_eq!(got, ["10.0.0.5", "10.0.1.0", "10.0.2.1", "10.0.2.2"]);
}

#[test]
fn a_full_pool_is_named_in_the_refusal() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/31"])]);
    ips(&mut al, &svc("a/1"));
    ips(&mut al, &svc("a/2"));
    let why = refused(&mut al, &svc("default/web"));
    assert!(why.contains("pool gold is full"), "{why}");
}

#[test]
fn releasing_frees_the_address_for_others() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/30"])]);
    for i in 0..3 {
        ips(&mut al, &svc(&format!("a/{i}")));
    }
    al.release(&ServiceId::new("a", "1"));
    al.check_invariants();
    assert_eq!(ips(&mut al, &svc("b/new")), ["192.0.2.1"]);
    assert_eq!(ips(&mut al, &svc("b/next")), ["192.0.2.3"]);
    al.release(&ServiceId::new("nobody", "here"));
    assert_eq!(al.len(), 4);
}

#[test]
fn assign_again_keeps_the_address() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/29"])]);
    let s = svc("default/web");
    let first = ips(&mut al, &s);
    ips(&mut al, &svc("default/other"));
    al.release(&ServiceId::new("default", "other"));
    for _ in 0..3 {
        assert_eq!(ips(&mut al, &s), first);
    }
}

#[test]
fn ipv6_pools_and_huge_blocks() {
    let mut al = alloc(vec![pool("six", &["2001:db8::/64"])]);
    let s = svc("a/v6").fams(&[V6]);
    assert_eq!(ips(&mut al, &s), ["2001:db8::"]);
    assert_eq!(ips(&mut al, &svc("a/v6b").fams(&[V6])), ["2001:db8::1"]);
    assert_eq!(ips(&mut al, &svc("a/v6c").req(&["2001:db8::ffff:ffff:ffff:ffff"])), ["2001:db8::ffff:ffff:ffff:ffff"]);
}

#[test]
fn cidr_network_and_broadcast_addresses_are_used_without_avoid_buggy_ips() {
    let mut al = alloc(vec![pool("p", &["10.0.0.254/31", "10.0.1.0/31"])]);
    let got: Vec<_> = (0..4).map(|i| ips(&mut al, &svc(&format!("a/{i}")))[0].clone()).collect();
    assert_eq!(got, ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]);
}

// ---- avoidBuggyIPs -------------------------------------------------------------------------

#[test]
fn avoid_buggy_ips_skips_dot_zero_and_dot_255() {
    let mut al = alloc(vec![buggy("p", &["10.0.0.254-10.0.1.1"])]);
    assert_eq!(ips(&mut al, &svc("a/1")), ["10.0.0.254"]);
    assert_eq!(ips(&mut al, &svc("a/2")), ["10.0.1.1"]);
    let why = refused(&mut al, &svc("a/3"));
    assert!(why.contains("pool p is full"), "{why}");
}

#[test]
fn metallb_buggy_ips_scenario() {
    // allocator_test.go TestBuggyIPs: six usable addresses over four pools.
    let mut al = alloc(vec![
        pool("test", &["1.2.3.0/31"]),
        pool("test2", &["1.2.3.254/31"]),
        buggy("test3", &["1.2.4.0/31"]),
        buggy("test4", &["1.2.4.254/31"]),
    ]);
    let mut all: Vec<String> = (1..=6).map(|i| ips(&mut al, &svc(&format!("a/s{i}")))[0].clone()).collect();
    all.sort();
    assert_eq!(all, ["1.2.3.0", "1.2.3.1", "1.2.3.254", "1.2.3.255", "1.2.4.1", "1.2.4.254"]);
    refused(&mut al, &svc("a/s7"));
}

#[test]
fn a_requested_buggy_address_is_refused_with_the_reason() {
    let mut al = alloc(vec![buggy("p", &["10.0.0.0/24"])]);
    let why = refused(&mut al, &svc("a/x").req(&["10.0.0.255"]));
    assert!(why.contains("10.0.0.255") && why.contains("avoidBuggyIPs"), "{why}");
    assert_eq!(ips(&mut al, &svc("a/y").req(&["10.0.0.254"])), ["10.0.0.254"]);
}

#[test]
fn avoid_buggy_ips_does_not_touch_ipv6() {
    let mut al = alloc(vec![buggy("p", &["2001:db8::ff/128", "2001:db8::100/128"])]);
    assert_eq!(ips(&mut al, &svc("a/1").fams(&[V6])), ["2001:db8::ff"]);
    assert_eq!(ips(&mut al, &svc("a/2").fams(&[V6])), ["2001:db8::100"]);
}

// ---- autoAssign ----------------------------------------------------------------------------

#[test]
fn auto_assign_false_pools_are_not_used_automatically() {
    let mut al = alloc(vec![manual("manual", &["192.0.2.0/28"])]);
    let why = refused(&mut al, &svc("default/web"));
    assert!(why.contains("no pool admits default/web"), "{why}");
    assert!(why.contains("autoAssign"), "{why}");
}

#[test]
fn metallb_auto_assign_scenario() {
    // allocator_test.go TestAutoAssign: only test2 serves automatic allocation.
    let mut al =
        alloc(vec![manual("test1", &["1.2.3.4/31", "1000::4/127"]), pool("test2", &["1.2.3.10/31", "1000::10/127"])]);
    assert_eq!(got(&mut al, &svc("a/s1")), (vec!["1.2.3.10".to_string()], "test2".to_string()));
    assert_eq!(ips(&mut al, &svc("a/s2")), ["1.2.3.11"]);
    refused(&mut al, &svc("a/s3"));
    assert_eq!(ips(&mut al, &svc("a/v6").fams(&[V6])), ["1000::10"]);
}

#[test]
fn a_requested_address_is_granted_from_an_auto_assign_false_pool() {
    let mut al = alloc(vec![manual("manual", &["192.0.2.0/28"]), pool("auto", &["10.0.0.0/24"])]);
    assert_eq!(got(&mut al, &svc("default/web").req(&["192.0.2.5"])), (vec!["192.0.2.5".into()], "manual".into()));
}

#[test]
fn a_requested_pool_is_used_even_with_auto_assign_false() {
    let mut al = alloc(vec![manual("manual", &["192.0.2.0/28"]), pool("auto", &["10.0.0.0/24"])]);
    assert_eq!(got(&mut al, &svc("default/web").in_pool("manual")), (vec!["192.0.2.0".into()], "manual".into()));
}

// ---- rule 1: requested addresses -----------------------------------------------------------

#[test]
fn both_request_fields_are_refused() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    let why = refused(&mut al, &svc("a/b").req(&["192.0.2.1"]).spec_ip("192.0.2.2"));
    assert_eq!(why, "both spec.loadBalancerIP and metallb.io/loadBalancerIPs are set");
}

#[test]
fn an_invalid_request_drops_what_the_service_held() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    assert_eq!(ips(&mut al, &svc("a/b")), ["192.0.2.0"]);
    refused(&mut al, &svc("a/b").req(&["192.0.2.1"]).spec_ip("192.0.2.2"));
    assert!(al.is_empty());
    assert_eq!(ips(&mut al, &svc("a/c")), ["192.0.2.0"]);
}

#[test]
fn the_deprecated_field_is_honoured() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    assert_eq!(ips(&mut al, &svc("a/b").spec_ip("192.0.2.77")), ["192.0.2.77"]);
}

#[test]
fn an_address_in_no_pool_is_refused() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    let why = refused(&mut al, &svc("default/invalid-request").req(&["4.3.2.1"]));
    assert_eq!(why, "4.3.2.1 is not in any pool");
}

#[test]
fn an_address_outside_the_requested_pool_is_refused() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/28"]), pool("silver", &["192.0.2.16/28"])]);
    let why = refused(&mut al, &svc("a/b").req(&["192.0.2.9"]).in_pool("silver"));
    assert_eq!(why, "192.0.2.9 is not in pool silver");
    let why = refused(&mut al, &svc("a/b").req(&["10.9.9.9"]).in_pool("silver"));
    assert_eq!(why, "10.9.9.9 is not in pool silver");
    assert_eq!(got(&mut al, &svc("a/b").req(&["192.0.2.20"]).in_pool("silver")).1, "silver");
}

#[test]
fn a_requested_address_in_use_is_refused() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    ips(&mut al, &svc("default/other").req(&["192.0.2.5"]));
    let why = refused(&mut al, &svc("default/web").req(&["192.0.2.5"]));
    assert!(why.starts_with("192.0.2.5 is already in use by default/other ("), "{why}");
}

#[test]
fn requested_families_must_match_the_service() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24", "2001:db8::/120"])]);
    let why = refused(&mut al, &svc("a/single").fams(&[V4]).req(&["2001:db8::5"]));
    assert!(why.contains("2001:db8::5 is an IPv6 address"), "{why}");
    let why = refused(&mut al, &svc("a/two").fams(&[V4]).req(&["192.0.2.5", "2001:db8::5"]));
    assert!(why.contains("SingleStack"), "{why}");
    let why = refused(&mut al, &svc("a/req").policy(Require).fams(&[V4, V6]).req(&["192.0.2.5"]));
    assert!(why.contains("RequireDualStack"), "{why}");
    let why = refused(&mut al, &svc("a/pref").policy(Prefer).fams(&[V4, V6]).req(&["192.0.2.5"]));
    assert!(why.contains("dual-stack"), "{why}");
    // Without spec.ipFamilies the request defines the family.
    assert_eq!(ips(&mut al, &svc("a/free").req(&["2001:db8::7"])), ["2001:db8::7"]);
    assert_eq!(ips(&mut al, &svc("a/pref1").policy(Prefer).fams(&[V6]).req(&["2001:db8::8"])), ["2001:db8::8"]);
}

#[test]
fn malformed_requests_are_refused() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24", "2001:db8::/120"])]);
    let why = refused(&mut al, &svc("a/b").req(&["192.0.2.1", "192.0.2.2"]));
    assert!(why.contains("two IPv4 addresses"), "{why}");
    let why = refused(&mut al, &svc("a/b").req(&["192.0.2.1", "2001:db8::1", "192.0.2.3"]));
    assert!(why.contains("3 addresses"), "{why}");
    let why = refused(&mut al, &svc("a/b").fams(&[V4, V4]).policy(Require));
    assert!(why.contains("spec.ipFamilies"), "{why}");
    let why = refused(&mut al, &svc("a/b").fams(&[V4, V6]));
    assert!(why.contains("SingleStack"), "{why}");
}

#[test]
fn dual_stack_requests_come_from_one_pool_primary_first() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24", "2001:db8::/120"]), pool("q", &["2001:db8:1::/120"])]);
    let s = svc("a/d").policy(Require).fams(&[V6, V4]).req(&["192.0.2.9", "2001:db8::9"]);
    assert_eq!(got(&mut al, &s), (vec!["2001:db8::9".into(), "192.0.2.9".into()], "p".into()));
    let why = refused(&mut al, &svc("a/e").policy(Require).req(&["192.0.2.10", "2001:db8:1::10"]));
    assert!(why.contains("not in the same pool"), "{why}");
}

#[test]
fn changing_the_request_moves_the_service() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    assert_eq!(ips(&mut al, &svc("a/b").req(&["192.0.2.5"])), ["192.0.2.5"]);
    assert_eq!(ips(&mut al, &svc("a/b").req(&["192.0.2.6"])), ["192.0.2.6"]);
    // 192.0.2.5 is free again.
    assert_eq!(ips(&mut al, &svc("a/c").req(&["192.0.2.5"])), ["192.0.2.5"]);
    // Dropping the request keeps the address (MetalLB only reacts to a *different* request).
    assert_eq!(ips(&mut al, &svc("a/b")), ["192.0.2.6"]);
}

#[test]
fn a_refused_change_leaves_the_service_without_address() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    ips(&mut al, &svc("a/b").req(&["192.0.2.5"]));
    refused(&mut al, &svc("a/b").req(&["10.0.0.1"]));
    assert_eq!(ips(&mut al, &svc("a/c")), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/d").req(&["192.0.2.5"])), ["192.0.2.5"]);
}

#[test]
fn a_requested_address_needs_the_pools_admission() {
    let mut al = alloc(vec![with_sa(manual("team", &["192.0.2.0/28"]), ns_sa(None, &["team-a"]))]);
    let why = refused(&mut al, &svc("team-b/web").req(&["192.0.2.3"]));
    assert!(why.contains("pool team does not admit team-b/web"), "{why}");
    assert_eq!(ips(&mut al, &svc("team-a/web").req(&["192.0.2.3"])), ["192.0.2.3"]);
}

#[test]
fn a_requested_address_with_an_unknown_pool_name_is_granted() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/24"])]);
    assert_eq!(ips(&mut al, &svc("a/b").req(&["192.0.2.5"]).in_pool("nope")), ["192.0.2.5"]);
}

// ---- rule 2: the address-pool annotation ---------------------------------------------------

#[test]
fn the_requested_pool_wins_over_lower_addresses_elsewhere() {
    let mut al = alloc(vec![pool("a-first", &["10.0.0.0/24"]), pool("z-last", &["192.0.2.0/24"])]);
    assert_eq!(got(&mut al, &svc("x/y").in_pool("z-last")), (vec!["192.0.2.0".into()], "z-last".into()));
    assert_eq!(got(&mut al, &svc("x/z")), (vec!["10.0.0.0".into()], "a-first".into()));
}

#[test]
fn changing_the_pool_annotation_moves_the_service() {
    let mut al = alloc(vec![pool("a", &["10.0.0.0/24"]), pool("b", &["192.0.2.0/24"])]);
    assert_eq!(got(&mut al, &svc("x/y")).1, "a");
    assert_eq!(got(&mut al, &svc("x/y").in_pool("b")), (vec!["192.0.2.0".into()], "b".into()));
    assert_eq!(ips(&mut al, &svc("x/z")), ["10.0.0.0"]);
    // Same pool requested again: kept.
    assert_eq!(ips(&mut al, &svc("x/y").in_pool("b")), ["192.0.2.0"]);
}

#[test]
fn an_unknown_pool_name_falls_back_to_auto_assign_pools() {
    let mut al = alloc(vec![manual("m", &["192.0.2.0/24"]), pool("auto", &["10.0.0.0/24"])]);
    assert_eq!(got(&mut al, &svc("x/y").in_pool("missing")), (vec!["10.0.0.0".into()], "auto".into()));
    let mut none = alloc(vec![manual("m", &["192.0.2.0/24"])]);
    let why = refused(&mut none, &svc("x/y").in_pool("missing"));
    assert!(why.contains("pool missing") && why.contains("does not exist"), "{why}");
    assert!(why.contains("no pool admits x/y"), "{why}");
}

#[test]
fn a_requested_pool_must_admit_the_service() {
    let mut al = alloc(vec![with_sa(pool("gold", &["192.0.2.0/24"]), ns_sa(Some(1), &["vip"]))]);
    let why = refused(&mut al, &svc("default/web").in_pool("gold"));
    assert!(why.contains("pool gold does not admit default/web"), "{why}");
    assert_eq!(ips(&mut al, &svc("vip/web").in_pool("gold")), ["192.0.2.0"]);
}

#[test]
fn a_full_requested_pool_is_named() {
    let mut al = alloc(vec![pool("gold", &["192.0.2.0/32"]), pool("silver", &["10.0.0.0/24"])]);
    ips(&mut al, &svc("a/1").in_pool("gold"));
    let why = refused(&mut al, &svc("a/2").in_pool("gold"));
    assert!(why.contains("pool gold is full"), "{why}");
    let why = refused(&mut al, &svc("a/3").in_pool("gold").fams(&[V6]));
    assert!(why.contains("pool gold has no IPv6 addresses"), "{why}");
}

// ---- rule 3: serviceAllocation, priorities, fallback ---------------------------------------

#[test]
fn namespaces_pin_pools() {
    let mut al = alloc(vec![
        with_sa(pool("a-team", &["192.0.2.0/28"]), ns_sa(None, &["team-a"])),
        pool("general", &["10.0.0.0/24"]),
    ]);
    assert_eq!(got(&mut al, &svc("team-a/web")).1, "a-team");
    assert_eq!(got(&mut al, &svc("team-b/web")).1, "general");
}

#[test]
fn namespace_selectors_match_namespace_labels() {
    let sa = ServiceAllocation { namespace_selectors: vec![match_labels(&[("zone", "east")])], ..Default::default() };
    let cfg = Config {
        pools: vec![with_sa(pool("east", &["192.0.2.0/28"]), sa), pool("general", &["10.0.0.0/24"])],
        namespaces: vec![
            NamespaceInfo { name: "shop".into(), labels: vec![Label::new("zone", "east")] },
            NamespaceInfo { name: "blog".into(), labels: vec![Label::new("zone", "west")] },
        ],
    };
    let (mut al, _) = Allocator::open(&cfg, &[]).expect("valid");
    assert_eq!(got(&mut al, &svc("shop/web")).1, "east");
    assert_eq!(got(&mut al, &svc("blog/web")).1, "general");
    assert_eq!(got(&mut al, &svc("unlisted/web")).1, "general");
}

#[test]
fn namespaces_have_their_metadata_name_label() {
    let sa = ServiceAllocation {
        namespace_selectors: vec![match_labels(&[("kubernetes.io/metadata.name", "prod")])],
        ..Default::default()
    };
    let cfg = Config {
        pools: vec![with_sa(pool("prod", &["192.0.2.0/28"]), sa), pool("general", &["10.0.0.0/24"])],
        namespaces: vec![
            NamespaceInfo { name: "prod".into(), labels: vec![] },
            NamespaceInfo { name: "dev".into(), labels: vec![] },
        ],
    };
    let (mut al, _) = Allocator::open(&cfg, &[]).expect("valid");
    assert_eq!(got(&mut al, &svc("prod/web")).1, "prod");
    assert_eq!(got(&mut al, &svc("dev/web")).1, "general");
}

#[test]
fn namespace_selectors_only_match_listed_namespaces() {
    // MetalLB matches namespaceSelectors against the Namespace objects that exist.
    let sa = ServiceAllocation {
        namespace_selectors: vec![LabelSelector {
            match_labels: vec![],
            match_expressions: vec![SelectorRequirement {
                key: "zone".into(),
                operator: SelectorOperator::DoesNotExist,
                values: vec![],
            }],
        }],
        ..Default::default()
    };
    let cfg = Config {
        pools: vec![pool("aaa-plain", &["192.0.2.0/30"]), with_sa(pool("zzz-unlabelled", &["198.51.100.0/30"]), sa)],
        namespaces: vec![NamespaceInfo { name: "listed".into(), labels: vec![] }],
    };
    let (mut al, _) = Allocator::open(&cfg, &[]).expect("valid");
    assert_eq!(got(&mut al, &svc("listed/s")).1, "zzz-unlabelled");
    assert_eq!(got(&mut al, &svc("ghost/t")).1, "aaa-plain");
}

#[test]
fn namespace_selectors_matching_nothing_admit_nothing() {
    let sa = ServiceAllocation { namespace_selectors: vec![match_labels(&[("zone", "mars")])], ..Default::default() };
    let mut al = alloc(vec![with_sa(manual("mars", &["192.0.2.0/28"]), sa)]);
    let why = refused(&mut al, &svc("default/web").req(&["192.0.2.1"]));
    assert!(why.contains("does not admit"), "{why}");
}

#[test]
fn service_selectors_match_service_labels() {
    let sa = ServiceAllocation {
        service_selectors: vec![
            match_labels(&[("team", "metallb")]),
            LabelSelector {
                match_labels: vec![],
                match_expressions: vec![SelectorRequirement {
                    key: "security".into(),
                    operator: SelectorOperator::In,
                    values: vec!["S1".into()],
                }],
            },
        ],
        ..Default::default()
    };
    let mut al = alloc(vec![with_sa(pool("sel", &["192.0.2.0/28"]), sa), pool("general", &["10.0.0.0/24"])]);
    assert_eq!(got(&mut al, &svc("x/a").label("team", "metallb")).1, "sel");
    assert_eq!(got(&mut al, &svc("x/b").label("security", "S1")).1, "sel");
    assert_eq!(got(&mut al, &svc("x/c").label("security", "S2")).1, "general");
    assert_eq!(got(&mut al, &svc("x/d")).1, "general");
}

#[test]
fn namespaces_and_service_selectors_must_both_hold() {
    // allocator_test.go TestAssignment, pools test5/test6.
    let sa5 = ServiceAllocation {
        priority: Some(20),
        namespaces: vec!["test-ns1".into()],
        service_selectors: vec![match_labels(&[("team", "metallb")])],
        ..Default::default()
    };
    let mut al = alloc(vec![with_sa(manual("test5", &["1.2.7.0/24"]), sa5)]);
    assert_eq!(ips(&mut al, &svc("test-ns1/s1").label("team", "metallb").req(&["1.2.7.10"])), ["1.2.7.10"]);
    refused(&mut al, &svc("test-ns2/s2").label("team", "metallb").req(&["1.2.7.11"]));
    refused(&mut al, &svc("test-ns1/s3").label("team", "red").req(&["1.2.7.12"]));
}

#[test]
fn lower_priority_number_first() {
    let mut al = alloc(vec![
        with_sa(pool("p20", &["10.0.20.0/24"]), ns_sa(Some(20), &["x"])),
        with_sa(pool("p10", &["10.0.10.0/24"]), ns_sa(Some(10), &["x"])),
        with_sa(pool("p-unset", &["10.0.1.0/24"]), ns_sa(None, &["x"])),
    ]);
    assert_eq!(got(&mut al, &svc("x/a")).1, "p10");
}

#[test]
fn unset_priority_ranks_after_numbers_and_zero_counts_as_unset() {
    let mut al = alloc(vec![
        with_sa(pool("a-unset", &["10.0.1.0/32"]), ns_sa(None, &["x"])),
        with_sa(pool("b-zero", &["10.0.2.0/32"]), ns_sa(Some(0), &["x"])),
        with_sa(pool("c-99", &["10.0.3.0/32"]), ns_sa(Some(99), &["x"])),
    ]);
    let order: Vec<String> = (0..3).map(|i| got(&mut al, &svc(&format!("x/{i}"))).1).collect();
    assert_eq!(order, ["c-99", "a-unset", "b-zero"]);
}

#[test]
fn equal_priorities_go_by_pool_name() {
    let mut al = alloc(vec![
        with_sa(pool("bravo", &["10.0.1.0/32"]), ns_sa(Some(5), &["x"])),
        with_sa(pool("alpha", &["10.0.2.0/32"]), ns_sa(Some(5), &["x"])),
    ]);
    assert_eq!(got(&mut al, &svc("x/1")).1, "alpha");
    assert_eq!(got(&mut al, &svc("x/2")).1, "bravo");
}

#[test]
fn full_candidates_fall_through_to_the_next_and_then_to_plain_pools() {
    let mut al = alloc(vec![
        with_sa(pool("hi", &["10.0.1.0/32"]), ns_sa(Some(1), &["x"])),
        with_sa(pool("lo", &["10.0.2.0/32"]), ns_sa(Some(2), &["x"])),
        pool("plain-b", &["10.0.4.0/32"]),
        pool("plain-a", &["10.0.3.0/32"]),
    ]);
    let order: Vec<String> = (0..4).map(|i| got(&mut al, &svc(&format!("x/{i}"))).1).collect();
    assert_eq!(order, ["hi", "lo", "plain-a", "plain-b"]);
    let why = refused(&mut al, &svc("x/5"));
    for p in ["hi", "lo", "plain-a", "plain-b"] {
        assert!(why.contains(&format!("pool {p} is full")), "{why}");
    }
}

#[test]
fn pinned_pools_beat_plain_pools_with_lower_addresses() {
    let mut al =
        alloc(vec![pool("aaa", &["1.0.0.0/24"]), with_sa(pool("zzz", &["200.0.0.0/24"]), ns_sa(None, &["x"]))]);
    assert_eq!(got(&mut al, &svc("x/a")).1, "zzz");
}

#[test]
fn a_priority_only_service_allocation_is_never_used_automatically() {
    // MetalLB's pinnedPoolsForService finds pools only through namespaces or service selectors,
    // and the fallback excludes pools with a serviceAllocation.
    let mut al = alloc(vec![
        with_sa(pool("aaa-prio", &["10.0.9.0/24"]), ns_sa(Some(3), &[])),
        pool("zzz-plain", &["10.0.1.0/24"]),
    ]);
    assert_eq!(got(&mut al, &svc("any/thing")).1, "zzz-plain");
    // It admits every service that asks for it.
    assert_eq!(got(&mut al, &svc("any/other").in_pool("aaa-prio")).1, "aaa-prio");
    assert_eq!(got(&mut al, &svc("any/third").req(&["10.0.9.9"])).1, "aaa-prio");
    let mut only = alloc(vec![with_sa(pool("prio", &["10.0.9.0/24"]), ns_sa(Some(3), &[]))]);
    let why = refused(&mut only, &svc("any/thing"));
    assert!(why.contains("no pool admits any/thing"), "{why}");
}

#[test]
fn pinned_pools_without_auto_assign_are_not_candidates() {
    let mut al = alloc(vec![
        with_sa(manual("pinned", &["10.0.9.0/24"]), ns_sa(Some(1), &["x"])),
        pool("plain", &["10.0.1.0/24"]),
    ]);
    assert_eq!(got(&mut al, &svc("x/a")).1, "plain");
}

#[test]
fn no_admitting_pool_is_explained() {
    let mut al = alloc(vec![with_sa(pool("gold", &["10.0.9.0/24"]), ns_sa(Some(1), &["vip"]))]);
    let why = refused(&mut al, &svc("default/web"));
    assert!(why.contains("no pool admits default/web"), "{why}");
    assert!(why.contains("serviceAllocation"), "{why}");
    let mut empty = alloc(vec![]);
    let why = refused(&mut empty, &svc("default/web"));
    assert!(why.contains("no pool admits default/web") && why.contains("no IPAddressPool"), "{why}");
}

// ---- rule 5: sharing -----------------------------------------------------------------------

#[test]
fn services_with_the_same_key_and_distinct_ports_share() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    assert_eq!(ips(&mut al, &svc("a/http").key("web").tcp(80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/https").key("web").tcp(443)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/dns").key("web").port(Protocol::Udp, 80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/plain").tcp(80)), ["192.0.2.1"]);
}

#[test]
fn a_port_overlap_takes_another_address() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    assert_eq!(ips(&mut al, &svc("a/one").key("web").tcp(80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/two").key("web").tcp(80).tcp(81)), ["192.0.2.1"]);
    assert_eq!(ips(&mut al, &svc("a/three").key("web").tcp(81)), ["192.0.2.0"]);
    let why = refused(&mut al, &svc("a/four").key("web").tcp(80).req(&["192.0.2.0"]));
    assert!(why.contains("both use port TCP/80"), "{why}");
}

#[test]
fn different_keys_do_not_share() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("default/other").key("k1").tcp(80));
    assert_eq!(ips(&mut al, &svc("default/web").key("k2").tcp(443)), ["192.0.2.1"]);
    let why = refused(&mut al, &svc("default/web").key("k2").tcp(443).req(&["192.0.2.0"]));
    assert_eq!(why, "192.0.2.0 is already in use by default/other (sharing key differs)");
}

#[test]
fn sharing_needs_a_key_on_both_sides() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/exclusive").tcp(80));
    let why = refused(&mut al, &svc("a/keyed").key("k").tcp(443).req(&["192.0.2.0"]));
    assert!(why.contains("does not allow sharing"), "{why}");
    ips(&mut al, &svc("a/keyed2").key("k").tcp(80).req(&["192.0.2.1"]));
    let why = refused(&mut al, &svc("a/nokey").tcp(443).req(&["192.0.2.1"]));
    assert!(why.contains("this service does not allow sharing"), "{why}");
}

#[test]
fn local_traffic_policy_needs_the_same_pod_selector() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/tcp").key("dns").port(Protocol::Tcp, 53).local(&[("app", "dns")]));
    assert_eq!(
        ips(&mut al, &svc("a/udp").key("dns").port(Protocol::Udp, 53).local(&[("app", "dns")]).req(&["192.0.2.0"])),
        ["192.0.2.0"]
    );
    let why = refused(&mut al, &svc("a/other").key("dns").tcp(80).local(&[("app", "web")]).req(&["192.0.2.0"]));
    assert!(why.contains("pod selector"), "{why}");
    // Automatic allocation does not put it there either.
    assert_eq!(ips(&mut al, &svc("a/other").key("dns").tcp(80).local(&[("app", "web")])), ["192.0.2.1"]);
}

#[test]
fn cluster_traffic_policy_shares_whatever_the_selectors() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/one").key("k").tcp(80).selector(&[("app", "one")]));
    assert_eq!(ips(&mut al, &svc("a/two").key("k").tcp(81).selector(&[("app", "two")])), ["192.0.2.0"]);
}

#[test]
fn the_sole_user_changes_its_key_in_place() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    assert_eq!(ips(&mut al, &svc("a/s4").key("sharing").tcp(80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/s4").key("share").tcp(80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/s4").tcp(80)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/s4").key("again").tcp(8080)), ["192.0.2.0"]);
}

#[test]
fn a_sharer_cannot_change_its_key_and_moves() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/s3").key("share").tcp(443));
    ips(&mut al, &svc("a/s4").key("share").tcp(80));
    // Ports may change in place (allocator_test.go "s3 can change its ports").
    assert_eq!(ips(&mut al, &svc("a/s3").key("share").port(Protocol::Udp, 53)), ["192.0.2.0"]);
    // Another key: the shared address no longer fits, the service gets a new one.
    assert_eq!(ips(&mut al, &svc("a/s3").key("othershare").tcp(443)), ["192.0.2.1"]);
    assert_eq!(ips(&mut al, &svc("a/s4").key("share").tcp(80)), ["192.0.2.0"]);
}

#[test]
fn a_shared_address_is_freed_with_its_last_user() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/1").key("k").tcp(1));
    ips(&mut al, &svc("a/2").key("k").tcp(2));
    al.release(&ServiceId::new("a", "1"));
    al.check_invariants();
    assert_eq!(ips(&mut al, &svc("a/other")), ["192.0.2.1"]);
    al.release(&ServiceId::new("a", "2"));
    al.check_invariants();
    assert_eq!(ips(&mut al, &svc("a/next")), ["192.0.2.0"]);
}

#[test]
fn sharing_takes_the_first_address_in_order_free_or_shareable() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/29"])]);
    ips(&mut al, &svc("a/x").tcp(80)); // .0
    ips(&mut al, &svc("a/k1").key("k").tcp(80)); // .1
    ips(&mut al, &svc("a/y").tcp(80)); // .2
    al.release(&ServiceId::new("a", "x")); // .0 free again
    // .0 is free and before the shareable .1: MetalLB takes .0.
    assert_eq!(ips(&mut al, &svc("a/k2").key("k").tcp(443)), ["192.0.2.0"]);
    // Now .0 and .1 both hold key k; the next one with a new port joins .0.
    assert_eq!(ips(&mut al, &svc("a/k3").key("k").tcp(22)), ["192.0.2.0"]);
    // Port 80 is used on .1 only: .0 is the first that fits.
    assert_eq!(ips(&mut al, &svc("a/k4").key("k").tcp(80)), ["192.0.2.0"]);
    // Port 443 is on .0; .1 has 80 only.
    assert_eq!(ips(&mut al, &svc("a/k5").key("k").tcp(443)), ["192.0.2.1"]);
}

#[test]
fn many_services_with_one_key_and_one_port_get_distinct_addresses() {
    let mut al = alloc(vec![pool("p", &["10.0.0.0/20"])]);
    for i in 0..2000u32 {
        let s = svc(&format!("a/s{i}")).key("team").tcp(443);
        let want = format!("10.0.{}.{}", i / 256, i % 256);
        assert_eq!(al.assign(&s).expect("room").ips, [a(&want)]);
    }
    al.check_invariants();
    // A different port joins the first address.
    assert_eq!(ips(&mut al, &svc("a/ssh").key("team").tcp(22)), ["10.0.0.0"]);
}

#[test]
fn sharing_in_dual_stack() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    let d = |n: &str, port: u16| svc(n).policy(Require).fams(&[V4, V6]).key("k").tcp(port);
    assert_eq!(ips(&mut al, &d("a/1", 80)), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips(&mut al, &d("a/2", 443)), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips(&mut al, &d("a/3", 80)), ["192.0.2.1", "2001:db8::1"]);
}

// ---- rule 6: dual stack --------------------------------------------------------------------

#[test]
fn require_dual_stack_takes_one_of_each_primary_first() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    assert_eq!(ips(&mut al, &svc("a/46").policy(Require).fams(&[V4, V6])), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips(&mut al, &svc("a/64").policy(Require).fams(&[V6, V4])), ["2001:db8::1", "192.0.2.1"]);
    // Empty ipFamilies: IPv4 first.
    assert_eq!(ips(&mut al, &svc("a/xx").policy(Require)), ["192.0.2.2", "2001:db8::2"]);
}

#[test]
fn require_dual_stack_skips_single_family_pools() {
    let mut al = alloc(vec![pool("a-v4", &["192.0.2.0/30"]), pool("b-dual", &["10.0.0.0/30", "2001:db8::/126"])]);
    assert_eq!(got(&mut al, &svc("x/d").policy(Require)).1, "b-dual");
    let mut only = alloc(vec![pool("v4", &["192.0.2.0/30"])]);
    let why = refused(&mut only, &svc("x/d").policy(Require));
    assert!(why.contains("pool v4 has no IPv6 addresses"), "{why}");
    let why = refused(&mut only, &svc("x/d").policy(Require).in_pool("v4"));
    assert!(why.contains("pool v4 has no IPv6 addresses"), "{why}");
}

#[test]
fn require_dual_stack_with_one_family_full_is_refused() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/128"])]);
    ips(&mut al, &svc("a/1").fams(&[V6]));
    let why = refused(&mut al, &svc("a/2").policy(Require));
    assert!(why.contains("pool p is full (no free IPv6 address)"), "{why}");
}

#[test]
fn prefer_dual_stack_takes_both_when_it_can() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    assert_eq!(ips(&mut al, &svc("a/p").policy(Prefer).fams(&[V4, V6])), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips(&mut al, &svc("a/q").policy(Prefer)), ["192.0.2.1", "2001:db8::1"]);
}

#[test]
fn prefer_dual_stack_accepts_one_family_and_later_gains_the_other() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/128"])]);
    ips(&mut al, &svc("a/v6").fams(&[V6]));
    let s = svc("a/pref").policy(Prefer).fams(&[V4, V6]);
    assert_eq!(ips(&mut al, &s), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &s), ["192.0.2.0"]);
    al.release(&ServiceId::new("a", "v6"));
    assert_eq!(ips(&mut al, &s), ["192.0.2.0", "2001:db8::"]);
}

#[test]
fn prefer_dual_stack_prefers_a_pool_with_both_then_the_primary_family() {
    // allocator.go findBestPoolForService: a later pool with both families beats an earlier
    // single-family one; among single-family pools the primary family wins.
    let mut al = alloc(vec![
        pool("a-v6", &["2001:db8::/126"]),
        pool("b-v4", &["192.0.2.0/30"]),
        pool("c-dual", &["10.0.0.0/30", "2001:db8:1::/126"]),
    ]);
    assert_eq!(got(&mut al, &svc("x/1").policy(Prefer)).1, "c-dual");
    let mut single = alloc(vec![pool("a-v6", &["2001:db8::/126"]), pool("b-v4", &["192.0.2.0/30"])]);
    assert_eq!(got(&mut single, &svc("x/1").policy(Prefer).fams(&[V4, V6])), (vec!["192.0.2.0".into()], "b-v4".into()));
    assert_eq!(
        got(&mut single, &svc("x/2").policy(Prefer).fams(&[V6, V4])),
        (vec!["2001:db8::".into()], "a-v6".into())
    );
}

#[test]
fn prefer_dual_stack_stays_within_the_pinned_tier() {
    let mut al = alloc(vec![
        with_sa(pool("pinned-v4", &["192.0.2.0/30"]), ns_sa(None, &["x"])),
        pool("plain-dual", &["10.0.0.0/30", "2001:db8::/126"]),
    ]);
    assert_eq!(got(&mut al, &svc("x/1").policy(Prefer)), (vec!["192.0.2.0".into()], "pinned-v4".into()));
}

#[test]
fn prefer_dual_stack_from_a_requested_single_family_pool() {
    let mut al = alloc(vec![pool("six", &["2001:db8::/126"]), pool("dual", &["10.0.0.0/30", "2001:db8:1::/126"])]);
    assert_eq!(got(&mut al, &svc("x/1").policy(Prefer).in_pool("six")), (vec!["2001:db8::".into()], "six".into()));
}

#[test]
fn single_stack_follows_ip_families() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    assert_eq!(ips(&mut al, &svc("a/6").fams(&[V6])), ["2001:db8::"]);
    assert_eq!(ips(&mut al, &svc("a/4").fams(&[V4])), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/default")), ["192.0.2.1"]);
}

#[test]
fn a_family_policy_change_reallocates() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    let s = svc("a/s");
    assert_eq!(ips(&mut al, &s), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &s.clone().policy(Require)), ["192.0.2.0", "2001:db8::"]);
    assert_eq!(ips(&mut al, &s.clone().fams(&[V6])), ["2001:db8::"]);
    assert_eq!(ips(&mut al, &s), ["192.0.2.0"]);
}

#[test]
fn metallb_pool_allocation_scenario() {
    // allocator_test.go TestPoolAllocation, the "test" pool (two /31 per family).
    let mut al = alloc(vec![
        pool("not_this_one", &["192.168.0.0/16", "fc00::1:0/112"]),
        pool("test", &["1.2.3.4/31", "1.2.3.10/31", "1000::/127", "2000::/127"]),
    ]);
    let s = |n: &str| svc(&format!("t/{n}")).in_pool("test");
    let v4: Vec<String> = ["s1", "s2", "s3", "s4"].iter().map(|n| ips(&mut al, &s(n))[0].clone()).collect();
    assert_eq!(v4, ["1.2.3.4", "1.2.3.5", "1.2.3.10", "1.2.3.11"]);
    refused(&mut al, &s("s5"));
    al.release(&ServiceId::new("t", "s1"));
    assert_eq!(ips(&mut al, &s("s5")), ["1.2.3.4"]);
    refused(&mut al, &s("s6"));
    al.release(&ServiceId::new("t", "s5"));
    ips(&mut al, &s("s5").key("share").tcp(80));
    assert_eq!(ips(&mut al, &s("s6").key("share").tcp(443)), ["1.2.3.4"]);
    for n in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        al.release(&ServiceId::new("t", n));
    }
    let d: Vec<Vec<String>> = ["d1", "d2", "d3", "d4"].iter().map(|n| ips(&mut al, &s(n).policy(Require))).collect();
    assert_eq!(d[0], ["1.2.3.4", "1000::"]);
    assert_eq!(d[3], ["1.2.3.11", "2000::1"]);
    refused(&mut al, &s("d5").policy(Require));
}

// ---- rule 7: configuration changes ---------------------------------------------------------

/// allocator_test.go TestConfigReload: s1 holds 1.2.3.0, s2 holds 1000::.
fn reload_case(pools: Vec<AddressPool>) -> (Allocator, ReconfigureOutcome) {
    let mut al =
        alloc(vec![pool("test", &["1.2.3.0/30", "1000::/126"]), pool("unused", &["1.2.4.0/30", "1001::/126"])]);
    ips(&mut al, &svc("t/s1").req(&["1.2.3.0"]));
    ips(&mut al, &svc("t/s2").req(&["1000::"]));
    let out = al.reconfigure(&config(pools)).expect("valid");
    al.check_invariants();
    (al, out)
}

fn pool_of(al: &Allocator, id: &str) -> Option<String> {
    let (ns, n) = id.split_once('/').expect("id");
    al.allocation(&ServiceId::new(ns, n)).map(|x| x.pool)
}

#[test]
fn reload_same_or_bigger_config_changes_nothing() {
    for blocks in [["1.2.3.0/30", "1000::/126"], ["1.2.3.0/24", "1000::/120"]] {
        let (al, out) = reload_case(vec![pool("test", &blocks)]);
        assert_eq!(out, ReconfigureOutcome::default());
        assert_eq!(pool_of(&al, "t/s1").as_deref(), Some("test"));
        assert_eq!(pool_of(&al, "t/s2").as_deref(), Some("test"));
    }
}

#[test]
fn reload_shrink_releases_what_falls_out() {
    let (al, out) = reload_case(vec![pool("test", &["1.2.3.2/31", "1000::0/126"])]);
    assert_eq!(names(&out.released), ["t/s1"]);
    assert!(out.released[0].reason.contains("1.2.3.0 is not in any pool"), "{}", out.released[0].reason);
    assert_eq!(pool_of(&al, "t/s1"), None);
    assert_eq!(pool_of(&al, "t/s2").as_deref(), Some("test"));
    let (_, out) = reload_case(vec![pool("test", &["1.2.3.0/30", "1000::2/127"])]);
    assert_eq!(names(&out.released), ["t/s2"]);
}

#[test]
fn reload_rename_rehomes() {
    let (al, out) = reload_case(vec![pool("test2", &["1.2.3.0/30", "1000::0/126"])]);
    assert_eq!(rehomed(&out.rehomed), [("t/s1".to_string(), "test2".to_string()), ("t/s2".into(), "test2".into())]);
    assert!(out.released.is_empty());
    assert_eq!(pool_of(&al, "t/s1").as_deref(), Some("test2"));
}

#[test]
fn reload_split_rehomes_part() {
    let (al, out) =
        reload_case(vec![pool("test", &["1.2.3.0/31", "1000::2/127"]), pool("test2", &["1.2.3.2/31", "1000::/127"])]);
    assert_eq!(rehomed(&out.rehomed), [("t/s2".to_string(), "test2".to_string())]);
    assert_eq!(pool_of(&al, "t/s1").as_deref(), Some("test"));
    assert_eq!(pool_of(&al, "t/s2").as_deref(), Some("test2"));
}

#[test]
fn reload_enabling_avoid_buggy_ips_releases_dot_zero() {
    let (_, out) = reload_case(vec![buggy("test2", &["1.2.3.0/31", "1000::/127"])]);
    assert_eq!(names(&out.released), ["t/s1"]);
    assert!(out.released[0].reason.contains("avoidBuggyIPs"), "{}", out.released[0].reason);
    assert_eq!(rehomed(&out.rehomed), [("t/s2".to_string(), "test2".to_string())]);
}

#[test]
fn reload_splitting_a_dual_stack_allocation_releases_it() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30", "2001:db8::/126"])]);
    ips(&mut al, &svc("a/d").policy(Require));
    let out =
        al.reconfigure(&config(vec![pool("p", &["192.0.2.0/30"]), pool("q", &["2001:db8::/126"])])).expect("valid");
    assert_eq!(names(&out.released), ["a/d"]);
    assert!(out.released[0].reason.contains("not in the same pool"), "{}", out.released[0].reason);
    al.check_invariants();
    assert!(al.is_empty());
}

#[test]
fn reload_narrowing_service_allocation_releases() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/28"])]);
    ips(&mut al, &svc("team-a/web").label("tier", "front"));
    ips(&mut al, &svc("team-b/web").label("tier", "front"));
    ips(&mut al, &svc("team-a/db").label("tier", "back"));
    let sa = ServiceAllocation {
        namespaces: vec!["team-a".into()],
        service_selectors: vec![match_labels(&[("tier", "front")])],
        ..Default::default()
    };
    let out = al.reconfigure(&config(vec![with_sa(pool("p", &["192.0.2.0/28"]), sa)])).expect("valid");
    assert_eq!(names(&out.released), ["team-a/db", "team-b/web"]);
    assert!(out.released[1].reason.contains("pool p does not admit team-b/web"), "{}", out.released[1].reason);
    assert_eq!(al.allocations().len(), 1);
    al.check_invariants();
}

#[test]
fn reload_removing_a_pool_releases_its_services_and_keeps_the_rest() {
    let mut al = alloc(vec![pool("a", &["10.0.0.0/30"]), pool("b", &["10.0.1.0/30"])]);
    ips(&mut al, &svc("x/1").in_pool("a"));
    ips(&mut al, &svc("x/2").in_pool("b"));
    let out = al.reconfigure(&config(vec![pool("b", &["10.0.1.0/30"])])).expect("valid");
    assert_eq!(names(&out.released), ["x/1"]);
    assert_eq!(pool_of(&al, "x/2").as_deref(), Some("b"));
    // The service asks again and, its pool gone, falls back to an auto pool.
    assert_eq!(got(&mut al, &svc("x/1").in_pool("a")), (vec!["10.0.1.1".into()], "b".into()));
}

#[test]
fn an_invalid_configuration_changes_nothing() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/28"])]);
    ips(&mut al, &svc("a/b"));
    let before = al.allocations();
    let bad = config(vec![pool("p", &["192.0.2.0/28"]), pool("q", &["192.0.2.8/29"])]);
    let e = al.reconfigure(&bad).expect_err("overlap");
    assert!(e.0.contains("overlap"), "{e}");
    assert_eq!(al.allocations(), before);
    assert_eq!(ips(&mut al, &svc("a/c")), ["192.0.2.1"]);
}

#[test]
fn shared_addresses_survive_a_reload() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/30"])]);
    ips(&mut al, &svc("a/1").key("k").tcp(1));
    ips(&mut al, &svc("a/2").key("k").tcp(2));
    let out = al.reconfigure(&config(vec![pool("renamed", &["192.0.2.0/30"])])).expect("valid");
    assert_eq!(out.rehomed.len(), 2);
    al.check_invariants();
    assert_eq!(ips(&mut al, &svc("a/3").key("k").tcp(3)), ["192.0.2.0"]);
}

// ---- rule 8: restart, status, determinism ---------------------------------------------------

fn stored(id: &str, list: &[&str], pool: &str) -> Allocation {
    let (ns, n) = id.split_once('/').expect("id");
    Allocation { service: ServiceId::new(ns, n), ips: list.iter().map(|i| a(i)).collect(), pool: pool.into() }
}

#[test]
fn open_keeps_the_stored_allocations() {
    let cfg = config(vec![pool("p", &["192.0.2.0/28", "2001:db8::/120"])]);
    let existing = [stored("a/x", &["192.0.2.7"], "p"), stored("a/d", &["2001:db8::3", "192.0.2.3"], "p")];
    let (mut al, out) = Allocator::open(&cfg, &existing).expect("valid");
    assert_eq!(out, ReconfigureOutcome::default());
    al.check_invariants();
    assert_eq!(ips(&mut al, &svc("a/x")), ["192.0.2.7"]);
    assert_eq!(ips(&mut al, &svc("a/d").policy(Require).fams(&[V6, V4])), ["2001:db8::3", "192.0.2.3"]);
    assert_eq!(ips(&mut al, &svc("a/new")), ["192.0.2.0"]);
    assert_eq!(al.allocations().iter().map(|x| x.service.to_string()).collect::<Vec<_>>(), ["a/d", "a/new", "a/x"]);
}

#[test]
fn open_rehomes_and_releases() {
    let cfg = config(vec![pool("new-name", &["192.0.2.0/28"])]);
    let existing = [
        stored("a/moved", &["192.0.2.1"], "old-name"),
        stored("a/gone", &["10.0.0.1"], "old-name"),
        stored("a/bad", &["192.0.2.2", "192.0.2.3"], "new-name"),
    ];
    let (al, out) = Allocator::open(&cfg, &existing).expect("valid");
    assert_eq!(rehomed(&out.rehomed), [("a/moved".to_string(), "new-name".to_string())]);
    assert_eq!(names(&out.released), ["a/bad", "a/gone"]);
    assert_eq!(al.len(), 1);
}

#[test]
fn open_refuses_a_service_listed_twice() {
    let cfg = config(vec![pool("p", &["192.0.2.0/28"])]);
    let e = Allocator::open(&cfg, &[stored("a/x", &["192.0.2.1"], "p"), stored("a/x", &["192.0.2.2"], "p")])
        .expect_err("duplicate");
    assert!(e.0.contains("a/x"), "{e}");
}

#[test]
fn restored_sharers_are_trusted_then_checked() {
    let cfg = config(vec![pool("p", &["192.0.2.0/30"])]);
    let existing = [stored("a/1", &["192.0.2.0"], "p"), stored("a/2", &["192.0.2.0"], "p")];
    let (mut al, _) = Allocator::open(&cfg, &existing).expect("valid");
    al.check_invariants();
    // A newcomer cannot join while the sharers' keys are unknown.
    let why = refused(&mut al, &svc("a/3").key("k").tcp(3).req(&["192.0.2.0"]));
    assert!(why.contains("restored"), "{why}");
    assert_eq!(ips(&mut al, &svc("a/1").key("k").tcp(1)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/2").key("k").tcp(2)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/3").key("k").tcp(3)), ["192.0.2.0"]);
}

#[test]
fn a_restored_sharer_with_another_key_moves() {
    let cfg = config(vec![pool("p", &["192.0.2.0/30"])]);
    let existing = [stored("a/1", &["192.0.2.0"], "p"), stored("a/2", &["192.0.2.0"], "p")];
    let (mut al, _) = Allocator::open(&cfg, &existing).expect("valid");
    assert_eq!(ips(&mut al, &svc("a/1").key("k").tcp(1)), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/2").key("other").tcp(2)), ["192.0.2.1"]);
}

#[test]
fn status_addresses_are_honoured_without_a_record() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/28", "2001:db8::/120"])]);
    assert_eq!(ips(&mut al, &svc("a/x").status(&["192.0.2.9"])), ["192.0.2.9"]);
    assert_eq!(
        ips(&mut al, &svc("a/d").policy(Require).status(&["2001:db8::4", "192.0.2.4"])),
        ["192.0.2.4", "2001:db8::4"]
    );
    assert_eq!(ips(&mut al, &svc("a/new")), ["192.0.2.0"]);
}

#[test]
fn status_addresses_are_ignored_when_the_allocator_has_a_record() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/28"])]);
    assert_eq!(ips(&mut al, &svc("a/x")), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/x").status(&["192.0.2.9"])), ["192.0.2.0"]);
}

#[test]
fn unusable_status_addresses_are_replaced() {
    let mut al = alloc(vec![
        with_sa(pool("vip", &["10.0.0.0/28"]), ns_sa(None, &["vip"])),
        pool("p", &["192.0.2.0/28", "2001:db8::/120"]),
    ]);
    ips(&mut al, &svc("a/owner").req(&["192.0.2.9"]));
    assert_eq!(ips(&mut al, &svc("a/x").status(&["192.0.2.9"])), ["192.0.2.0"]);
    assert_eq!(ips(&mut al, &svc("a/y").status(&["10.0.0.5"])), ["192.0.2.1"]);
    assert_eq!(ips(&mut al, &svc("a/z").status(&["8.8.8.8"])), ["192.0.2.2"]);
    assert_eq!(ips(&mut al, &svc("a/w").status(&["2001:db8::1"])), ["192.0.2.3"]);
    // The status address is kept if the request agrees, replaced if not.
    assert_eq!(ips(&mut al, &svc("a/r").req(&["192.0.2.12"]).status(&["192.0.2.11"])), ["192.0.2.12"]);
    assert_eq!(ips(&mut al, &svc("vip/q").in_pool("vip").status(&["192.0.2.13"])), ["10.0.0.0"]);
}

#[test]
fn prefer_dual_stack_from_status_gains_the_other_family() {
    let mut al = alloc(vec![pool("p", &["192.0.2.0/28", "2001:db8::/120"])]);
    assert_eq!(ips(&mut al, &svc("a/x").policy(Prefer).status(&["192.0.2.5"])), ["192.0.2.5", "2001:db8::"]);
}

#[test]
fn the_same_calls_give_the_same_answers() {
    let run = || {
        let mut al = alloc(vec![
            with_sa(pool("hi", &["10.1.0.0/29"]), ns_sa(Some(1), &["ns1"])),
            pool("dual", &["10.0.0.0/28", "2001:db8::/124"]),
            buggy("buggy", &["10.2.0.0/30"]),
        ]);
        let mut answers = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..400u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = format!("ns{}/s{}", x % 3, (x >> 8) % 20);
            let (ns, n) = name.split_once('/').expect("id");
            if (x >> 16).is_multiple_of(4) {
                al.release(&ServiceId::new(ns, n));
                answers.push(format!("{step} release {name}"));
                continue;
            }
            let mut s = svc(&name);
            s.ip_family_policy = [IpFamilyPolicy::SingleStack, Prefer, Require][((x >> 20) % 3) as usize];
            if (x >> 24).is_multiple_of(3) {
                s = s.key("k").tcp(((x >> 28) % 3) as u16 + 1);
            }
            answers.push(format!("{step} {:?}", al.assign(&s)));
            al.check_invariants();
        }
        answers.push(format!("{:?}", al.allocations()));
        answers
    };
    assert_eq!(run(), run());
}

// ---- randomised comparison with a brute-force model ----------------------------------------

/// The lowest usable address of a pool by scanning every address (the obvious, slow algorithm).
fn brute_lowest(blocks: &[(u32, u32)], avoid: bool, used: &std::collections::BTreeSet<u32>) -> Option<u32> {
    for &(first, last) in blocks {
        for v in first..=last {
            if avoid && matches!(v & 0xff, 0 | 0xff) {
                continue;
            }
            if !used.contains(&v) {
                return Some(v);
            }
        }
    }
    None
}

#[test]
fn lowest_free_matches_a_brute_force_scan() {
    let blocks = [(0x0a00_0010u32, 0x0a00_0020u32), (0x0a00_00f0, 0x0a00_0110), (0x0a00_0000, 0x0a00_0005)];
    for avoid in [false, true] {
        let text: Vec<String> = blocks
            .iter()
            .map(|(f, l)| format!("{}-{}", core::net::Ipv4Addr::from(*f), core::net::Ipv4Addr::from(*l)))
            .collect();
        let refs: Vec<&str> = text.iter().map(String::as_str).collect();
        let mut p = pool("p", &refs);
        p.avoid_buggy_ips = avoid;
        let mut al = alloc(vec![p]);
        let mut used = std::collections::BTreeSet::new();
        let mut holder: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new(); // service → address
        let mut x: u64 = 88172645463325252;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = (x % 60) as u32;
            let s = svc(&format!("m/s{id}"));
            if let Some(v) = holder.get(&id).copied().filter(|_| (x >> 10).is_multiple_of(2)) {
                holder.remove(&id);
                al.release(&s.id);
                used.remove(&v);
                continue;
            } else if let Some(v) = holder.get(&id) {
                // Re-assign keeps the address.
                assert_eq!(al.assign(&s).expect("kept").ips, [IpAddr::V4((*v).into())]);
                continue;
            }
            let want = brute_lowest(&blocks, avoid, &used);
            match (al.assign(&s), want) {
                (Ok(got), Some(v)) => {
                    assert_eq!(got.ips, [IpAddr::V4(v.into())]);
                    used.insert(v);
                    holder.insert(id, v);
                }
                (Err(_), None) => {}
                (got, want) => panic!("allocator {got:?}, brute force {want:?}"),
            }
        }
        al.check_invariants();
    }
}

#[test]
fn shared_candidates_match_a_brute_force_scan() {
    // With sharing: the first address (in order) that is free, or used only by services with the
    // same key and no common port.
    let mut al = alloc(vec![pool("p", &["10.0.0.0/28"])]);
    type Users = Vec<(u32, u16)>; // (key id, port)
    let mut model: std::collections::BTreeMap<u32, Users> = std::collections::BTreeMap::new();
    let mut who: std::collections::BTreeMap<u32, (u32, u32, u16)> = std::collections::BTreeMap::new(); // svc → (addr, key, port)
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = (x % 40) as u32;
        let s_id = ServiceId::new("m", format!("s{id}"));
        if let Some((addr, key, port)) = who.remove(&id) {
            al.release(&s_id);
            if let Some(u) = model.get_mut(&addr) {
                u.retain(|e| *e != (key, port));
                if u.is_empty() {
                    model.remove(&addr);
                }
            }
            continue;
        }
        let key = ((x >> 8) % 3) as u32;
        let port = ((x >> 12) % 3) as u16 + 1;
        let mut s = svc(&format!("m/s{id}")).tcp(port);
        if key > 0 {
            s = s.key(&format!("k{key}"));
        }
        let want = (0..16u32).find(|off| match model.get(off) {
            None => true,
            Some(users) => key > 0 && users.iter().all(|(k, p)| *k == key && *p != port),
        });
        match (al.assign(&s), want) {
            (Ok(got), Some(off)) => {
                assert_eq!(got.ips, [IpAddr::V4((0x0a00_0000 + off).into())]);
                model.entry(off).or_default().push((key, port));
                who.insert(id, (off, key, port));
            }
            (Err(_), None) => {}
            (got, want) => panic!("allocator {got:?}, model {want:?}"),
        }
    }
    al.check_invariants();
}

// ---- scale -----------------------------------------------------------------------------------

#[test]
fn twenty_pools_of_mixed_families_fill_without_duplicates() {
    let mut pools = Vec::new();
    for i in 0..10 {
        pools.push(pool(&format!("v4-{i:02}"), &[&format!("10.{i}.0.0/22")]));
        pools.push(pool(&format!("v6-{i:02}"), &[&format!("2001:db8:{i}::/116")]));
    }
    let mut al = alloc(pools);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..8000u32 {
        let mut s = svc(&format!("ns{}/svc{i}", i % 7));
        if i % 3 == 0 {
            s = s.fams(&[V6]);
        }
        if i % 50 == 0 {
            s = s.key("shared").tcp((i % 400) as u16 + 1);
        }
        let got = al.assign(&s).expect("room");
        for ip in got.ips {
            if i % 50 != 0 {
                assert!(seen.insert(ip), "{ip} handed out twice");
            }
        }
    }
    al.check_invariants();
    assert_eq!(al.len(), 8000);
}
