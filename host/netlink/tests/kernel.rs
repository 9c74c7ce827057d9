//! ferrolb-netlink against this machine's kernel, inside network namespaces the tests create:
//! addresses, routes in a table, rules, idempotence, ownership, refused requests, the incremental
//! route path, and SNAT with real traffic.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{NsGuard, veth};
use ferrolb_netlink::{Address, DesiredState, NextHop, Route, RouteKey, RouteOrigin, Rule, SnatRule};

fn route(dst: &str, table: u32, next_hop: NextHop, metric: u32) -> Route {
    Route { dst: dst.parse().unwrap(), table, next_hop, metric }
}

fn via(gw: &str, dev: Option<&str>) -> NextHop {
    NextHop::Gateway { address: gw.parse().unwrap(), interface: dev.map(str::to_string) }
}

fn rule(priority: u32, from: Option<&str>, to: Option<&str>, iif: Option<&str>, table: u32) -> Rule {
    Rule {
        priority,
        from: from.map(|p| p.parse().unwrap()),
        to: to.map(|p| p.parse().unwrap()),
        iif: iif.map(str::to_string),
        table,
        family: None,
    }
}

/// A namespace `ns` with veth `a0` (peer `b0` in `peer`).
fn lab() -> (NsGuard, NsGuard) {
    let ns = NsGuard::new("dut");
    let peer = NsGuard::new("peer");
    veth(&ns, "a0", &peer, "b0");
    peer.ip(&["addr", "add", "192.0.2.2/24", "dev", "b0"]);
    (ns, peer)
}

fn desired() -> DesiredState {
    DesiredState {
        vrfs: vec![],
        addresses: vec![
            Address { interface: "a0".into(), address: "192.0.2.1/24".parse().unwrap() },
            Address { interface: "a0".into(), address: "2001:db8:1::1/64".parse().unwrap() },
        ],
        routes: vec![
            route("0.0.0.0/0", 100, via("192.0.2.2", Some("a0")), 150),
            route("10.10.0.0/16", 100, via("192.0.2.2", None), 0),
            route("10.20.0.0/16", 100, NextHop::Interface { interface: "a0".into() }, 0),
            route("10.30.0.0/16", 100, NextHop::Blackhole, 0),
            route("2001:db8:99::/48", 100, via("2001:db8:1::2", None), 0),
        ],
        rules: vec![
            rule(998, None, Some("172.30.0.0/16"), None, 254),
            rule(998, None, Some("10.132.0.0/14"), None, 254),
            rule(5000, Some("10.128.2.15/32"), None, None, 100),
            rule(5001, None, None, Some("a0"), 100),
            rule(5000, Some("2001:db8:5::15/128"), None, None, 100),
        ],
        snat: vec![],
    }
}

#[tokio::test]
async fn apply_is_exact_and_idempotent() {
    let (ns, _peer) = lab();
    let nl = ferrolb_netlink::Netlink::connect(ns.netns()).await.unwrap();
    let want = desired();

    let first = nl.apply(&want).await.unwrap();
    assert!(first.errors.is_empty(), "{:#?}", first.errors);
    assert_eq!((first.added, first.replaced, first.deleted), (12, 0, 0), "{first:?}");
    assert_eq!(first.requests, 12);

    let table = ns.ip(&["route", "show", "table", "100"]);
    assert!(table.contains("default via 192.0.2.2 dev a0 proto 240 metric 150"), "{table}");
    assert!(table.contains("10.10.0.0/16 via 192.0.2.2 dev a0 proto 240"), "{table}");
    assert!(table.contains("10.20.0.0/16 dev a0 proto 240 scope link"), "{table}");
    assert!(table.contains("blackhole 10.30.0.0/16 proto 240"), "{table}");
    let table6 = ns.ip(&["-6", "route", "show", "table", "100"]);
    assert!(table6.contains("2001:db8:99::/48 via 2001:db8:1::2 dev a0 proto 240 metric 1024"), "{table6}");
    let rules = ns.ip(&["rule", "show"]);
    assert!(rules.contains("998:\tfrom all to 172.30.0.0/16 lookup main proto 240"), "{rules}");
    assert!(rules.contains("998:\tfrom all to 10.132.0.0/14 lookup main proto 240"), "{rules}");
    assert!(rules.contains("5000:\tfrom 10.128.2.15 lookup 100 proto 240"), "{rules}");
    assert!(rules.contains("5001:\tfrom all iif a0 lookup 100 proto 240"), "{rules}");
    assert!(ns.ip(&["-6", "rule", "show"]).contains("5000:\tfrom 2001:db8:5::15 lookup 100 proto 240"));
    let addrs = ns.ip(&["addr", "show", "dev", "a0"]);
    assert!(addrs.contains("inet 192.0.2.1/24") && addrs.contains("inet6 2001:db8:1::1/64"), "{addrs}");
    // iproute2 6.1 does not print IFA_PROTO: read it back through the library.
    let marked = nl.addresses().await.unwrap();
    let ours: Vec<String> = marked.iter().filter(|a| a.protocol == 0xf0).map(|a| a.value.address.to_string()).collect();
    assert_eq!(ours, vec!["192.0.2.1/24", "2001:db8:1::1/64"], "{marked:?}");

    // Unchanged: zero change requests (reads only).
    let before = nl.request_count();
    let second = nl.apply(&want).await.unwrap();
    assert_eq!(second.requests, 0, "{second:?}");
    assert_eq!(nl.request_count(), before);
    assert!(second.errors.is_empty() && second.reads > 0);

    // One route changed, one removed, one rule removed, one address removed: exactly those requests.
    let mut changed = want.clone();
    changed.routes[1].next_hop = NextHop::Blackhole;
    changed.routes.remove(2);
    changed.rules.remove(1);
    changed.addresses.remove(1);
    changed.routes.retain(|r| r.dst.addr().is_ipv4());
    let third = nl.apply(&changed).await.unwrap();
    assert!(third.errors.is_empty(), "{:#?}", third.errors);
    assert_eq!((third.added, third.replaced, third.deleted), (0, 1, 4), "{third:?}");
    let table = ns.ip(&["route", "show", "table", "100"]);
    assert!(table.contains("blackhole 10.10.0.0/16 proto 240"), "{table}");
    assert!(!table.contains("10.20.0.0/16"), "{table}");
    assert!(!ns.ip(&["rule", "show"]).contains("10.132.0.0/14"));
    assert_eq!(nl.apply(&changed).await.unwrap().requests, 0);

    // Empty desired state: everything ferrolb owns is gone.
    let cleanup = nl.apply(&DesiredState::default()).await.unwrap();
    assert!(cleanup.errors.is_empty(), "{:#?}", cleanup.errors);
    assert_eq!(ns.ip(&["route", "show", "table", "100"]).trim(), "");
    assert!(!ns.ip(&["rule", "show"]).contains("proto 240"));
    assert!(!ns.ip(&["addr", "show", "dev", "a0"]).contains("192.0.2.1"));
    assert_eq!(nl.apply(&DesiredState::default()).await.unwrap().requests, 0);
}

#[tokio::test]
async fn foreign_objects_are_never_touched() {
    let (ns, _peer) = lab();
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "a0"]);
    ns.ip(&["route", "add", "10.99.0.0/16", "via", "192.0.2.2", "table", "100"]);
    ns.ip(&["route", "add", "10.10.0.0/16", "via", "192.0.2.2", "table", "100", "proto", "bird"]);
    ns.ip(&["rule", "add", "priority", "998", "to", "172.31.0.0/16", "lookup", "main"]);
    ns.ip(&["rule", "add", "priority", "5000", "from", "10.128.2.16", "lookup", "100"]);
    let nl = ferrolb_netlink::Netlink::connect(ns.netns()).await.unwrap();

    let mut want = desired();
    want.addresses.truncate(0); // 192.0.2.1/24 is the admin's here
    want.routes.retain(|r| r.dst.addr().is_ipv4());
    let report = nl.apply(&want).await.unwrap();
    // The desired 10.10.0.0/16 table 100 metric 0 is taken by bird's route: reported, left alone.
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert_eq!(report.errors[0].object, "route 10.10.0.0/16 table 100 metric 0");
    assert!(report.errors[0].message.contains("protocol 12"), "{}", report.errors[0]);

    let cleanup = nl.apply(&DesiredState::default()).await.unwrap();
    assert!(cleanup.errors.is_empty(), "{:#?}", cleanup.errors);
    let table = ns.ip(&["route", "show", "table", "100"]);
    assert!(table.contains("10.99.0.0/16 via 192.0.2.2 dev a0"), "{table}");
    assert!(table.contains("10.10.0.0/16 via 192.0.2.2 dev a0 proto bird"), "{table}");
    assert!(!table.contains("proto 240"), "{table}");
    let rules = ns.ip(&["rule", "show"]);
    assert!(rules.contains("998:\tfrom all to 172.31.0.0/16 lookup main"), "{rules}");
    assert!(rules.contains("5000:\tfrom 10.128.2.16 lookup 100"), "{rules}");
    assert!(ns.ip(&["addr", "show", "dev", "a0"]).contains("inet 192.0.2.1/24"));

    // An address that exists but is not ferrolb's is reported, not taken over.
    let mut want = DesiredState::default();
    want.addresses.push(Address { interface: "a0".into(), address: "192.0.2.1/24".parse().unwrap() });
    let report = nl.apply(&want).await.unwrap();
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert!(report.errors[0].to_string().starts_with("address 192.0.2.1/24 dev a0: already present"));
    nl.apply(&DesiredState::default()).await.unwrap();
    assert!(ns.ip(&["addr", "show", "dev", "a0"]).contains("inet 192.0.2.1/24"));
}

#[tokio::test]
async fn refused_request_is_named_and_the_rest_applied() {
    let (ns, _peer) = lab();
    let nl = ferrolb_netlink::Netlink::connect(ns.netns()).await.unwrap();
    let mut want = desired();
    want.routes.push(route("10.40.0.0/16", 100, via("203.0.113.1", None), 0)); // no such subnet
    want.routes.push(route("10.50.0.0/16", 100, NextHop::Interface { interface: "nosuch0".into() }, 0));
    let report = nl.apply(&want).await.unwrap();
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    let unreachable = report.errors.iter().find(|e| e.object == "route 10.40.0.0/16 table 100 metric 0").unwrap();
    assert_eq!(unreachable.errno, Some(101), "{unreachable}"); // ENETUNREACH
    assert!(unreachable.message.contains("Network is unreachable"), "{unreachable}");
    let missing = report.errors.iter().find(|e| e.object == "route 10.50.0.0/16 table 100 metric 0").unwrap();
    assert!(missing.message.contains("nosuch0 does not exist"));
    assert_eq!(report.added, 12, "{report:?}");
    let table = ns.ip(&["route", "show", "table", "100"]);
    assert!(table.contains("10.10.0.0/16 via 192.0.2.2") && !table.contains("10.40.0.0"), "{table}");
    // The failed route is retried on the next apply, nothing else is resent.
    let again = nl.apply(&want).await.unwrap();
    assert_eq!(again.requests, 1, "{again:?}");
    assert_eq!(again.errors.len(), 2);
}

#[tokio::test]
async fn incremental_bgp_routes_are_their_own_origin() {
    let (ns, _peer) = lab();
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "a0"]);
    ns.ip(&["route", "add", "10.66.0.0/16", "via", "192.0.2.2", "table", "200", "metric", "20"]);
    let nl = ferrolb_netlink::Netlink::connect(ns.netns()).await.unwrap();

    let bgp: Vec<Route> = (0..1000u32)
        .map(|i| route(&format!("10.{}.{}.0/24", 100 + i / 256, i % 256), 200, via("192.0.2.2", None), 20))
        .collect();
    let report = nl.install_routes(RouteOrigin::Bgp, &bgp).await;
    assert!(report.errors.is_empty(), "{:?}", &report.errors[..report.errors.len().min(3)]);
    assert_eq!((report.added, report.requests), (1000, 1000));
    let table = ns.ip(&["route", "show", "table", "200"]);
    assert_eq!(table.matches("proto 241").count(), 1000);

    // An intent apply neither sees nor deletes BGP routes.
    assert_eq!(nl.apply(&DesiredState::default()).await.unwrap().requests, 0);

    // Re-installing a known key replaces it (next hop change), no EEXIST.
    let moved = vec![route("10.100.0.0/24", 200, NextHop::Blackhole, 20)];
    let report = nl.install_routes(RouteOrigin::Bgp, &moved).await;
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.replaced, 1);
    assert!(ns.ip(&["route", "show", "table", "200"]).contains("blackhole 10.100.0.0/24 proto 241 metric 20"));

    // A key held by a foreign route is refused by the kernel, the foreign route stays.
    let clash = vec![route("10.66.0.0/16", 200, via("192.0.2.2", None), 20)];
    let report = nl.install_routes(RouteOrigin::Bgp, &clash).await;
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].errno, Some(17)); // EEXIST
    assert!(ns.ip(&["route", "show", "table", "200"]).contains("10.66.0.0/16 via 192.0.2.2 dev a0 metric 20"));

    // Remove: matched by protocol, so the foreign route survives a removal of its key.
    let keys: Vec<RouteKey> = bgp.iter().map(Route::key).collect();
    let report = nl.remove_routes(RouteOrigin::Bgp, &keys).await;
    assert!(report.errors.is_empty());
    assert_eq!(report.deleted, 1000);
    let report = nl.remove_routes(RouteOrigin::Bgp, &[clash[0].key()]).await;
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].errno, Some(3)); // ESRCH
    let table = ns.ip(&["route", "show", "table", "200"]);
    assert_eq!(table.trim(), "10.66.0.0/16 via 192.0.2.2 dev a0 metric 20");

    // sync_routes: a full resync of one origin, idempotent.
    let first = nl.sync_routes(RouteOrigin::Bgp, &bgp[..10]).await.unwrap();
    assert_eq!(first.added, 10);
    assert_eq!(nl.sync_routes(RouteOrigin::Bgp, &bgp[..10]).await.unwrap().requests, 0);
    let shrink = nl.sync_routes(RouteOrigin::Bgp, &bgp[..5]).await.unwrap();
    assert_eq!((shrink.added, shrink.deleted), (0, 5));
    let table = ns.ip(&["route", "show", "table", "200"]);
    assert_eq!(table.matches("proto 241").count(), 5, "{table}");
    assert_eq!(table.lines().count(), 6, "{table}");

    // A restarted daemon (new connection) takes over its routes left in the kernel: replace, no EEXIST.
    drop(nl);
    let nl = ferrolb_netlink::Netlink::connect(ns.netns()).await.unwrap();
    let moved: Vec<Route> = bgp[..5].iter().map(|r| Route { next_hop: NextHop::Blackhole, ..r.clone() }).collect();
    let report = nl.install_routes(RouteOrigin::Bgp, &moved).await;
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!((report.replaced, report.added, report.requests), (5, 0, 5));
    assert_eq!(nl.read_count(), 2, "one route dump per family on the first install only");
    nl.install_routes(RouteOrigin::Bgp, &moved).await;
    assert_eq!(nl.read_count(), 2);
    let table = ns.ip(&["route", "show", "table", "200"]);
    assert_eq!(table.matches("blackhole").count(), 5, "{table}");
}

/// A UDP socket bound inside `ns`.
fn udp_in(ns: &NsGuard, bind: &str) -> UdpSocket {
    let addr: SocketAddr = bind.parse().unwrap();
    let sock = ns.netns().run(move || UdpSocket::bind(addr)).unwrap().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock
}

/// Sends one datagram from `client` to the listener and returns the source address the listener saw.
fn source_seen(client: &UdpSocket, listener: &UdpSocket, to: &str) -> std::net::IpAddr {
    client.send_to(b"ferrolb", to).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = listener.recv_from(&mut buf).expect("datagram through the router");
    assert_eq!(&buf[..n], b"ferrolb");
    from.ip()
}

#[tokio::test]
async fn snat_rewrites_endpoint_traffic_to_the_load_balancer_address() {
    // client (10.1.0.5) -- router (SNAT) -- peer (198.51.100.2)
    let client = NsGuard::new("cli");
    let router = NsGuard::new("rtr");
    let peer = NsGuard::new("far");
    veth(&client, "c0", &router, "r-c");
    veth(&router, "r-p", &peer, "p0");
    client.ip(&["addr", "add", "10.1.0.5/24", "dev", "c0"]);
    client.ip(&["route", "add", "default", "via", "10.1.0.1"]);
    router.sysctl("net.ipv4.ip_forward=1");
    peer.ip(&["addr", "add", "198.51.100.2/24", "dev", "p0"]);
    peer.ip(&["route", "add", "192.0.2.10/32", "via", "198.51.100.1"]);
    peer.ip(&["route", "add", "10.1.0.0/24", "via", "198.51.100.1"]);

    let nl = ferrolb_netlink::Netlink::connect(router.netns()).await.unwrap();
    let mut want = DesiredState::default();
    want.addresses.push(Address { interface: "r-c".into(), address: "10.1.0.1/24".parse().unwrap() });
    want.addresses.push(Address { interface: "r-p".into(), address: "198.51.100.1/24".parse().unwrap() });
    want.snat.push(SnatRule {
        from: "10.1.0.5".parse().unwrap(),
        to: "192.0.2.10".parse().unwrap(),
        oif: Some("r-p".into()),
    });
    let report = nl.apply(&want).await.unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.requests, 3, "{report:?}"); // two addresses + one nft transaction
    let (ok, listing) = router.exec(&["nft", "list", "table", "inet", "ferrolb"]);
    assert!(ok && listing.contains("ip saddr 10.1.0.5 oifname \"r-p\" snat ip to 192.0.2.10"), "{listing}");

    let listener = udp_in(&peer, "198.51.100.2:7777");
    let sender = udp_in(&client, "10.1.0.5:0");
    assert_eq!(source_seen(&sender, &listener, "198.51.100.2:7777").to_string(), "192.0.2.10");
    let (ok, out) = client.exec(&["ping", "-c", "1", "-W", "2", "198.51.100.2"]);
    assert!(ok, "ping through the SNAT failed: {out}");

    // Unchanged: no nft write (the table's rules are read back and compared).
    assert_eq!(nl.apply(&want).await.unwrap().requests, 0);

    // A rule edited behind ferrolb's back is restored.
    router.exec(&["nft", "flush", "chain", "inet", "ferrolb", "postrouting"]);
    assert_eq!(nl.apply(&want).await.unwrap().requests, 1);
    let sender = udp_in(&client, "10.1.0.5:0");
    assert_eq!(source_seen(&sender, &listener, "198.51.100.2:7777").to_string(), "192.0.2.10");

    // SNAT removed: the table goes away, traffic keeps its own source.
    want.snat.clear();
    let report = nl.apply(&want).await.unwrap();
    assert_eq!(report.requests, 1, "{report:?}");
    let (ok, _) = router.exec(&["nft", "list", "table", "inet", "ferrolb"]);
    assert!(!ok, "table inet ferrolb should be gone");
    let sender = udp_in(&client, "10.1.0.5:0");
    assert_eq!(source_seen(&sender, &listener, "198.51.100.2:7777").to_string(), "10.1.0.5");
    assert_eq!(nl.apply(&want).await.unwrap().requests, 0);
}

/// The egress plan on this kernel (no VRF device here; UML covers that): the endpoint's rule at
/// priority 5000 sends its traffic to table 2, whose default route leaves through the "VRF" link, and
/// SNAT rewrites the source to the load-balancer address. The peer sees the LB address; another pod
/// on the same node is not steered (the main table has no way out).
#[tokio::test]
async fn egress_plan_rule_table_and_snat_together() {
    let node = NsGuard::new("enode");
    let ext = NsGuard::new("eext");
    let pod = NsGuard::new("epod");
    let other = NsGuard::new("eoth");
    veth(&node, "ens4", &ext, "ext0");
    veth(&pod, "eth0", &node, "pod0");
    veth(&other, "eth0", &node, "pod1");
    ext.ip(&["addr", "add", "192.168.130.1/24", "dev", "ext0"]);
    ext.ip(&["addr", "add", "203.0.113.50/32", "dev", "lo"]);
    ext.ip(&["route", "add", "192.169.10.0/32", "via", "192.168.130.130"]);
    pod.ip(&["addr", "add", "10.128.2.15/24", "dev", "eth0"]);
    pod.ip(&["route", "add", "default", "via", "10.128.2.1"]);
    other.ip(&["addr", "add", "10.128.3.16/24", "dev", "eth0"]);
    other.ip(&["route", "add", "default", "via", "10.128.3.1"]);
    node.sysctl("net.ipv4.ip_forward=1");

    let nl = ferrolb_netlink::Netlink::connect(node.netns()).await.unwrap();
    let endpoint = "10.128.2.15".parse().unwrap();
    let want = DesiredState {
        addresses: vec![
            Address { interface: "ens4".into(), address: "192.168.130.130/24".parse().unwrap() },
            Address { interface: "pod0".into(), address: "10.128.2.1/24".parse().unwrap() },
            Address { interface: "pod1".into(), address: "10.128.3.1/24".parse().unwrap() },
        ],
        routes: vec![route("0.0.0.0/0", 2, via("192.168.130.1", Some("ens4")), 150)],
        rules: vec![Rule::egress(endpoint, 2)],
        snat: vec![SnatRule { from: endpoint, to: "192.169.10.0".parse().unwrap(), oif: Some("ens4".into()) }],
        ..Default::default()
    };
    let report = nl.apply(&want).await.unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    // The main table has only the connected routes, so without the rule nothing leaves the node.
    assert!(!node.ip(&["route", "show"]).contains("default"));

    let listener = udp_in(&ext, "203.0.113.50:7777");
    let sender = udp_in(&pod, "10.128.2.15:0");
    assert_eq!(source_seen(&sender, &listener, "203.0.113.50:7777").to_string(), "192.169.10.0");
    let (ok, out) = pod.exec(&["ping", "-c", "1", "-W", "2", "203.0.113.50"]);
    assert!(ok, "the endpoint's ping must go out through table 2 and come back de-NATed: {out}");
    let (ok, _) = other.exec(&["ping", "-c", "1", "-W", "1", "203.0.113.50"]);
    assert!(!ok, "a pod without an egress rule must not be routed through table 2");
    assert_eq!(nl.apply(&want).await.unwrap().requests, 0);
}
