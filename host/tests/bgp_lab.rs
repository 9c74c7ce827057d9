//! The BGP speaker against real peers (FRR 8.4, BIRD 2, a scripted peer) in network namespaces.
//! Root only (they skip loudly otherwise); each test creates and removes its own namespaces.
//!
//! How the speaker runs: in-process, on a tokio runtime of the test, with
//! [`SpeakerOptions::netns`] naming the lab namespace. Every socket it opens (listeners,
//! connections, netlink) is created by a helper thread that entered the namespace with `setns`;
//! the socket stays there and is polled by the runtime like any other. No thread of the test ever
//! changes namespace, nothing has to be spawned as a child process, and the test can read the
//! speaker's status directly while FRR or BIRD is queried with vtysh/birdc inside the peer
//! namespace.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb::bgp::{RouteDirection, Speaker, SpeakerHandle, SpeakerOptions, show};
use ferrolb::daemon::intent::{
    BgpIntent, NeighborIntent, NeighborKey, PeerAsIntent, PrefixRule, ReceiveIntent, RouteAttrs,
};
use ferrolb_lab::bird::Bird;
use ferrolb_lab::frr::{Daemon, Family, Frr};
use ferrolb_lab::{Netns, skip_unless_root, wait_for};
use ipnet::IpNet;

const OURS4: &str = "192.0.2.1";
const PEER4: &str = "192.0.2.2";
const OURS6: &str = "2001:db8:1::1";
const PEER6: &str = "2001:db8:1::2";

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// Two namespaces joined by a veth (`eth0` both sides), with IPv4 and IPv6 addresses.
fn pair(tag: &str) -> (Netns, Netns) {
    let flb = Netns::new(&format!("{tag}-flb")).expect("namespace");
    let peer = Netns::new(&format!("{tag}-peer")).expect("namespace");
    flb.veth("eth0", &peer, "eth0").expect("veth");
    flb.add_addr("eth0", &format!("{OURS4}/24")).expect("addr");
    peer.add_addr("eth0", &format!("{PEER4}/24")).expect("addr");
    flb.add_addr("eth0", &format!("{OURS6}/64")).expect("addr");
    peer.add_addr("eth0", &format!("{PEER6}/64")).expect("addr");
    (flb, peer)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn options(flb: &Netns) -> SpeakerOptions {
    SpeakerOptions {
        netns: ferrolb_netlink::Netns::named(flb.name()),
        router_id_fallback: Some(Ipv4Addr::new(10, 255, 0, 1)),
        ..SpeakerOptions::default()
    }
}

fn neighbor(address: &str, local_asn: u32, peer_as: u32) -> NeighborIntent {
    NeighborIntent {
        key: NeighborKey { vrf: String::new(), address: Some(ip(address)), interface: None },
        local_asn,
        router_id: None,
        peer_as: PeerAsIntent::Asn(peer_as),
        port: 179,
        source_address: None,
        password: None,
        hold_time: Duration::from_secs(9),
        keepalive_time: None,
        connect_time: Duration::from_secs(2),
        ebgp_multihop: false,
        bfd_profile: None,
        graceful_restart: false,
        disable_mp: false,
        max_prefix: None,
        min_ttl: None,
        routes: BTreeMap::new(),
        receive: ReceiveIntent::default(),
    }
}

fn intent(neighbors: Vec<NeighborIntent>) -> BgpIntent {
    BgpIntent { neighbors: neighbors.into_iter().map(|n| (n.key.clone(), n)).collect(), ..BgpIntent::default() }
}

fn attrs(communities: &[(u16, u16)], large: &[(u32, u32, u32)], local_pref: Option<u32>) -> RouteAttrs {
    RouteAttrs {
        communities: communities.iter().map(|(a, b)| (u32::from(*a) << 16) | u32::from(*b)).collect(),
        large_communities: large.to_vec(),
        local_pref,
    }
}

fn frr_conf(asn: u32, body: &str) -> String {
    format!(
        "router bgp {asn}\n bgp router-id 10.255.0.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n{body}"
    )
}

fn wait_established(frr: &Frr, family: Family, peer: &str, secs: u64) {
    wait_for(Duration::from_secs(secs), &format!("FRR's session with {peer} Established"), || {
        let s = frr.bgp_summary().map_err(|e| e.to_string())?;
        match s.peer(family, peer) {
            Some(p) if p.is_established() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
}

/// FRR's BGP table of `family`: prefix → (AS path, next hops, local pref).
fn frr_table(frr: &Frr, family: Family) -> BTreeMap<IpNet, (String, Vec<IpAddr>, Option<u32>)> {
    frr.bgp_table(family)
        .expect("bgp table")
        .into_iter()
        .filter(|p| !p.peer.is_empty())
        .map(|p| (p.prefix, (p.as_path, p.next_hops, p.local_pref)))
        .collect()
}

fn wait_frr_prefixes(frr: &Frr, family: Family, want: &BTreeSet<IpNet>, secs: u64) {
    wait_for(Duration::from_secs(secs), &format!("FRR to have exactly {want:?}"), || {
        let got: BTreeSet<IpNet> = frr_table(frr, family).into_keys().collect();
        if &got == want { Ok(()) } else { Err(format!("{got:?}")) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
}

/// FRR's count of UPDATEs received from `peer` (`show bgp neighbors json` messageStats).
fn frr_updates_received(frr: &Frr, peer: &str) -> u64 {
    let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json")).expect("neighbors json");
    v[peer]["messageStats"]["updatesRecv"].as_u64().expect("updatesRecv")
}

fn wait_speaker_state(rt: &tokio::runtime::Runtime, h: &SpeakerHandle, state: &str, secs: u64) {
    let _g = rt.enter();
    wait_for(Duration::from_secs(secs), &format!("the speaker's session {state}"), || {
        let n = h.neighbors();
        if n.iter().all(|n| n.state == state) && !n.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", n.iter().map(|n| (&n.neighbor, &n.state, &n.last_error)).collect::<Vec<_>>()))
        }
    })
    .expect("speaker state");
}

/// Kernel routes of the namespace with protocol `bgp`-of-ferrolb in the main table.
fn kernel_routes(ns: &Netns, v6: bool) -> BTreeMap<IpNet, String> {
    let out = ns.ip(&[if v6 { "-6" } else { "-4" }, "-j", "route", "show", "table", "main"]).expect("ip route");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v.as_array()
        .expect("array")
        .iter()
        .filter(|r| r["metric"].as_u64() == Some(20))
        .filter_map(|r| {
            let dst = r["dst"].as_str()?;
            let dst = if dst.contains('/') { dst.to_owned() } else { format!("{dst}/{}", if v6 { 128 } else { 32 }) };
            Some((dst.parse().ok()?, r["gateway"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

// ------------------------------------------------------------------------------------ FRR, eBGP

#[test]
fn frr_ipv4_ebgp_exact_routes_communities_and_incremental_withdraw() {
    if skip_unless_root("frr_ipv4_ebgp_exact_routes_communities_and_incremental_withdraw") {
        return;
    }
    let (flb, peer) = pair("bgp-ebgp4");
    let frr = Frr::start(
        &peer,
        &[Daemon::Zebra, Daemon::Bgpd],
        &frr_conf(65002, &format!(" neighbor {OURS4} remote-as 65001\n neighbor {OURS4} timers 3 9\n")),
    )
    .expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 65001, 65002);
    n.routes.insert(net("198.51.100.0/24"), attrs(&[(65001, 100)], &[(65001, 1, 2)], None));
    n.routes.insert(net("198.51.100.10/32"), attrs(&[(65001, 100), (65001, 200)], &[], None));
    n.routes.insert(net("203.0.113.0/25"), attrs(&[], &[(65001, 7, 8)], Some(300)));
    let errors = rt.block_on(h.apply(&intent(vec![n.clone()])));
    assert!(errors.is_empty(), "{errors:?}");

    wait_established(&frr, Family::Ipv4, OURS4, 30);
    let want: BTreeSet<IpNet> = n.routes.keys().copied().collect();
    wait_frr_prefixes(&frr, Family::Ipv4, &want, 10);
    let table = frr_table(&frr, Family::Ipv4);
    for (p, (path, nhs, lp)) in &table {
        assert_eq!(path, "65001", "{p}: eBGP prepends our AS");
        assert_eq!(nhs.first(), Some(&ip(OURS4)), "{p}: next hop is our local address");
        assert_eq!(*lp, None, "{p}: no LOCAL_PREF towards eBGP (FRR shows none)");
    }
    let p = &frr.bgp_prefix(Family::Ipv4, "198.51.100.0/24").expect("prefix")[0];
    assert_eq!(p.communities, vec!["65001:100"]);
    assert_eq!(p.large_communities, vec!["65001:1:2"]);
    assert_eq!(p.origin, "IGP");
    let p = &frr.bgp_prefix(Family::Ipv4, "198.51.100.10/32").expect("prefix")[0];
    assert_eq!(p.communities, vec!["65001:100", "65001:200"]);
    assert!(p.large_communities.is_empty());
    let p = &frr.bgp_prefix(Family::Ipv4, "203.0.113.0/25").expect("prefix")[0];
    assert!(p.communities.is_empty());
    assert_eq!(p.large_communities, vec!["65001:7:8"]);

    // Remove one route: exactly one UPDATE (the withdrawal) reaches FRR, the others stay.
    std::thread::sleep(Duration::from_millis(500));
    let before = frr_updates_received(&frr, OURS4);
    let mut n2 = n.clone();
    n2.routes.remove(&net("198.51.100.10/32"));
    assert!(rt.block_on(h.apply(&intent(vec![n2.clone()]))).is_empty());
    let want2: BTreeSet<IpNet> = n2.routes.keys().copied().collect();
    wait_frr_prefixes(&frr, Family::Ipv4, &want2, 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(frr_updates_received(&frr, OURS4) - before, 1, "only the withdrawal was sent");
    // Applying the same intent again sends nothing.
    assert!(rt.block_on(h.apply(&intent(vec![n2.clone()]))).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(frr_updates_received(&frr, OURS4) - before, 1, "an unchanged intent sends nothing");

    // Our counters and the vtysh-shaped summary agree with FRR.
    let s = h.summary();
    assert_eq!(s.neighbors.len(), 1);
    let st = &s.neighbors[0];
    assert_eq!((st.state.as_str(), st.remote_asn, st.prefixes_sent), ("Established", 65002, 2));
    assert!(st.sent.opens >= 1 && st.received.opens >= 1, "an OPEN on each connection (a collision sends two)");
    assert!(st.sent.updates >= 3, "routes + End-of-RIB + withdrawal: {:?}", st.sent);
    assert_eq!(st.sent.updates, frr_updates_received(&frr, OURS4), "FRR counted what we sent");
    let text = show::summary_text(&s);
    let line = text.lines().find(|l| l.starts_with(PEER4)).expect("summary line");
    assert_eq!(line.split_whitespace().nth(2), Some("65002"), "{text}");
    let adv = rt.block_on(h.routes(RouteDirection::Advertised, None));
    assert_eq!(adv.len(), 2);
    assert!(adv.iter().all(|r| r.sent && r.as_path == vec![65001] && r.next_hop == Some(ip(OURS4))));

    // Removing the neighbor: Cease / Peer De-configured, FRR drops our routes.
    assert!(rt.block_on(h.apply(&BgpIntent::default())).is_empty());
    wait_frr_prefixes(&frr, Family::Ipv4, &BTreeSet::new(), 10);
    let nb = frr.bgp_neighbors().expect("neighbors");
    assert!(
        nb[0].last_reset.contains("De-configured") || nb[0].last_reset.contains("Notification received"),
        "{:?}",
        nb[0].last_reset
    );
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------- FRR, iBGP over IPv6, 4-byte

#[test]
fn frr_ibgp_over_ipv6_with_four_byte_asn_and_local_pref() {
    if skip_unless_root("frr_ibgp_over_ipv6_with_four_byte_asn_and_local_pref") {
        return;
    }
    const ASN: u32 = 4_200_000_001;
    let (flb, peer) = pair("bgp-ibgp6");
    let body = format!(
        " neighbor {OURS6} remote-as {ASN}\n neighbor {OURS6} timers 3 9\n address-family ipv4 unicast\n  neighbor {OURS6} activate\n exit-address-family\n address-family ipv6 unicast\n  neighbor {OURS6} activate\n exit-address-family\n"
    );
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(ASN, &body)).expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER6, ASN, ASN);
    n.routes.insert(net("198.51.100.0/24"), attrs(&[(65001, 1)], &[], Some(200)));
    n.routes.insert(net("198.51.100.128/25"), attrs(&[], &[], None));
    n.routes.insert(net("2001:db8:100::/48"), attrs(&[], &[(ASN, 1, 1)], Some(50)));
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());

    wait_established(&frr, Family::Ipv6, OURS6, 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("198.51.100.0/24"), net("198.51.100.128/25")].into(), 10);
    wait_frr_prefixes(&frr, Family::Ipv6, &[net("2001:db8:100::/48")].into(), 10);
    let t4 = frr_table(&frr, Family::Ipv4);
    assert_eq!(
        t4[&net("198.51.100.0/24")],
        (String::new(), vec![ip(OURS4)], Some(200)),
        "iBGP: empty path, LOCAL_PREF"
    );
    assert_eq!(t4[&net("198.51.100.128/25")].2, Some(100), "default LOCAL_PREF 100");
    let t6 = frr_table(&frr, Family::Ipv6);
    let (path, nhs, lp) = &t6[&net("2001:db8:100::/48")];
    assert_eq!((path.as_str(), *lp), ("", Some(50)));
    assert_eq!(nhs.first(), Some(&ip(OURS6)), "IPv6 next hop = our global address: {nhs:?}");
    let p = &frr.bgp_prefix(Family::Ipv6, "2001:db8:100::/48").expect("prefix")[0];
    assert_eq!(p.large_communities, vec![format!("{ASN}:1:1")]);
    let nb = frr.bgp_neighbors().expect("neighbors");
    assert_eq!(nb[0].remote_as, ASN);
    let st = &h.neighbors()[0];
    assert_eq!((st.remote_asn, st.ebgp), (ASN, Some(false)));
    assert_eq!(st.families, vec!["ipv4-unicast", "ipv6-unicast"]);
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------------------ MD5

#[test]
fn frr_md5_wrong_password_stays_down_right_one_comes_up() {
    if skip_unless_root("frr_md5_wrong_password_stays_down_right_one_comes_up") {
        return;
    }
    let (flb, peer) = pair("bgp-md5");
    let body =
        format!(" neighbor {OURS4} remote-as 65001\n neighbor {OURS4} password s3cret\n neighbor {OURS4} timers 3 9\n");
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(65002, &body)).expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 65001, 65002);
    n.password = Some("wrong".into());
    n.routes.insert(net("198.51.100.0/24"), RouteAttrs::default());
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    // Long enough for several connect attempts (connect time 2 s) in both directions.
    std::thread::sleep(Duration::from_secs(8));
    let s = frr.bgp_summary().expect("summary");
    assert!(!s.peer(Family::Ipv4, OURS4).expect("peer").is_established(), "a wrong key must not come up");
    assert_ne!(h.neighbors()[0].state, "Established");
    assert_eq!(h.neighbors()[0].received.opens, 0, "no segment of FRR's got through");

    n.password = Some("s3cret".into());
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_established(&frr, Family::Ipv4, OURS4, 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("198.51.100.0/24")].into(), 10);
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------- receive into kernel

#[test]
fn frr_routes_filtered_by_to_receive_reach_the_kernel_and_leave_it() {
    if skip_unless_root("frr_routes_filtered_by_to_receive_reach_the_kernel_and_leave_it") {
        return;
    }
    let (flb, peer) = pair("bgp-rx");
    let body = format!(
        " neighbor {OURS4} remote-as 65001\n neighbor {OURS4} timers 3 9\n address-family ipv4 unicast\n  network 10.10.1.0/24\n  network 10.10.2.0/24\n  network 10.10.0.0/16\n  network 10.20.0.0/24\n exit-address-family\n address-family ipv6 unicast\n  neighbor {OURS4} activate\n  network 2001:db8:aa::/48\n exit-address-family\n"
    );
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(65002, &body)).expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 65001, 65002);
    n.receive = ReceiveIntent {
        all: false,
        prefixes: vec![
            PrefixRule { prefix: net("10.10.0.0/16"), ge: Some(24), le: Some(24) },
            PrefixRule { prefix: net("2001:db8:aa::/48"), ge: None, le: None },
        ],
    };
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_established(&frr, Family::Ipv4, OURS4, 30);
    let want: BTreeMap<IpNet, String> =
        [(net("10.10.1.0/24"), PEER4.to_string()), (net("10.10.2.0/24"), PEER4.to_string())].into();
    wait_for(Duration::from_secs(10), "the accepted routes in the kernel", || {
        let k = kernel_routes(&flb, false);
        if k == want { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("kernel");
    wait_for(Duration::from_secs(10), "the IPv6 route in the kernel", || {
        let k = kernel_routes(&flb, true);
        if k.keys().copied().collect::<Vec<_>>() == vec![net("2001:db8:aa::/48")] {
            Ok(())
        } else {
            Err(format!("{k:?}"))
        }
    })
    .expect("kernel v6");
    let st = &h.neighbors()[0];
    assert_eq!(st.prefixes_received, 3);
    assert_eq!(st.prefixes_filtered, 2, "10.10.0.0/16 (length) and 10.20.0.0/24 (outside) refused");
    let rcv = rt.block_on(h.routes(RouteDirection::Received, Some(ip(PEER4))));
    assert!(rcv.iter().all(|r| r.as_path == vec![65002]), "{rcv:?}");

    // FRR withdraws one: gone from the kernel.
    frr.apply("router bgp 65002\n address-family ipv4 unicast\n  no network 10.10.2.0/24\n").expect("withdraw");
    wait_for(Duration::from_secs(10), "the withdrawn route out of the kernel", || {
        let k = kernel_routes(&flb, false);
        if k.keys().copied().collect::<Vec<_>>() == vec![net("10.10.1.0/24")] { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("kernel after withdraw");
    // Widening the filter takes effect on the running session (route refresh), no reset.
    n.receive.prefixes.push(PrefixRule { prefix: net("10.20.0.0/24"), ge: None, le: None });
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_for(Duration::from_secs(10), "10.20.0.0/24 accepted after the filter change", || {
        let k = kernel_routes(&flb, false);
        if k.contains_key(&net("10.20.0.0/24")) { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("refresh");
    assert_eq!(h.neighbors()[0].established_count, 1, "the filter change did not reset the session");
    assert!(h.neighbors()[0].sent.route_refreshes >= 1);

    // The session drops (FRR shuts it down): every route leaves the kernel.
    frr.apply(&format!("router bgp 65002\n neighbor {OURS4} shutdown\n")).expect("shutdown");
    wait_for(Duration::from_secs(10), "all routes out of the kernel", || {
        let (k4, k6) = (kernel_routes(&flb, false), kernel_routes(&flb, true));
        if k4.is_empty() && k6.is_empty() { Ok(()) } else { Err(format!("{k4:?} {k6:?}")) }
    })
    .expect("kernel after session drop");
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------- graceful restart

fn frr_has_route(frr: &Frr, prefix: &str) -> Option<bool> {
    // Some(stale) when present.
    let v = frr.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json")).ok()?;
    let path = v.get("paths")?.as_array()?.first()?.clone();
    Some(path.get("stale").and_then(serde_json::Value::as_bool).unwrap_or(false))
}

#[test]
fn frr_keeps_our_routes_while_the_speaker_restarts_gracefully() {
    if skip_unless_root("frr_keeps_our_routes_while_the_speaker_restarts_gracefully") {
        return;
    }
    let (flb, peer) = pair("bgp-gr");
    let body = format!(" bgp graceful-restart\n neighbor {OURS4} remote-as 65001\n neighbor {OURS4} timers 3 9\n");
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(65002, &body)).expect("FRR");
    let rt = runtime();
    let mut n = neighbor(PEER4, 65001, 65002);
    n.graceful_restart = true;
    n.routes.insert(net("198.51.100.0/24"), attrs(&[(65001, 9)], &[], None));
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_established(&frr, Family::Ipv4, OURS4, 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("198.51.100.0/24")].into(), 10);

    // The daemon stops for a restart: no NOTIFICATION, the TCP connection just closes.
    rt.block_on(h.shutdown_for_restart());
    drop(h);
    let down_at = Instant::now();
    let mut saw_stale = false;
    while down_at.elapsed() < Duration::from_secs(3) {
        let r = frr_has_route(&frr, "198.51.100.0/24");
        assert!(r.is_some(), "FRR withdrew our route {:?} after we went down", down_at.elapsed());
        saw_stale |= r == Some(true);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_stale, "FRR marks the route stale while we restart");

    // The new speaker says it restarted (R bit); FRR keeps the route throughout and refreshes it.
    let h2 = rt.block_on(Speaker::start(SpeakerOptions { restarted: true, ..options(&flb) })).expect("speaker");
    assert!(rt.block_on(h2.apply(&intent(vec![n.clone()]))).is_empty());
    wait_for(Duration::from_secs(30), "the route fresh again at FRR", || {
        match frr_has_route(&frr, "198.51.100.0/24") {
            Some(false) => Ok(()),
            Some(true) => Err("still stale".to_string()),
            None => panic!("FRR withdrew our route during the restart"),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let nb = frr.vtysh_json(&format!("show bgp neighbors {OURS4} json")).expect("json");
    assert_eq!(nb[OURS4]["connectionsEstablished"].as_u64(), Some(2));
    rt.block_on(h2.shutdown(false));
}

// ------------------------------------------------------------------------------------ multihop

#[test]
fn frr_ebgp_multihop_through_a_router() {
    if skip_unless_root("frr_ebgp_multihop_through_a_router") {
        return;
    }
    let flb = Netns::new("bgp-mh-flb").expect("ns");
    let router = Netns::new("bgp-mh-rtr").expect("ns");
    let far = Netns::new("bgp-mh-frr").expect("ns");
    flb.veth("eth0", &router, "eth0").expect("veth");
    router.veth("eth1", &far, "eth0").expect("veth");
    flb.add_addr("eth0", "192.0.2.1/24").expect("addr");
    router.add_addr("eth0", "192.0.2.2/24").expect("addr");
    router.add_addr("eth1", "198.51.100.1/24").expect("addr");
    far.add_addr("eth0", "198.51.100.2/24").expect("addr");
    router.enable_forwarding().expect("forwarding");
    flb.add_route("198.51.100.0/24", "192.0.2.2").expect("route");
    far.add_route("192.0.2.0/24", "198.51.100.1").expect("route");
    let body =
        " neighbor 192.0.2.1 remote-as 65001\n neighbor 192.0.2.1 ebgp-multihop 2\n neighbor 192.0.2.1 timers 3 9\n";
    let frr = Frr::start(&far, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(65002, body)).expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor("198.51.100.2", 65001, 65002);
    n.routes.insert(net("203.0.113.0/24"), RouteAttrs::default());
    // Single-hop eBGP sends with TTL 1: the router drops it, the session cannot come up.
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    std::thread::sleep(Duration::from_secs(5));
    assert_ne!(h.neighbors()[0].state, "Established", "TTL 1 must not cross a router");
    n.ebgp_multihop = true;
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_established(&frr, Family::Ipv4, "192.0.2.1", 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("203.0.113.0/24")].into(), 10);
    let t = frr_table(&frr, Family::Ipv4);
    assert_eq!(t[&net("203.0.113.0/24")].1.first(), Some(&ip("192.0.2.1")));
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------------------ BIRD

#[test]
fn bird_session_routes_both_ways_with_communities() {
    if skip_unless_root("bird_session_routes_both_ways_with_communities") {
        return;
    }
    let (flb, peer) = pair("bgp-bird");
    let conf = format!(
        "router id 10.255.0.2;\nprotocol device {{}}\nprotocol static s4 {{ ipv4; route 10.30.0.0/24 blackhole; route 10.31.0.0/24 blackhole; }}\n\
         protocol bgp flb {{\n  local {PEER4} as 65002;\n  neighbor {OURS4} as 4200000001;\n  hold time 9;\n  ipv4 {{ import all; export all; }};\n}}\n"
    );
    let bird = Bird::start(&peer, &conf).expect("BIRD");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 4_200_000_001, 65002);
    n.routes.insert(net("198.51.100.0/24"), attrs(&[(65001, 100)], &[(4_200_000_001, 5, 6)], None));
    n.receive = ReceiveIntent { all: true, prefixes: Vec::new() };
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_for(Duration::from_secs(30), "BIRD's session Established", || match bird.protocol("flb") {
        Ok(Some(p)) if p.is_established() => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", bird.logs()));
    let routes = wait_for(Duration::from_secs(10), "our route at BIRD", || {
        let r = bird.routes("198.51.100.0/24").map_err(|e| e.to_string())?;
        if r.is_empty() { Err("absent".to_string()) } else { Ok(r) }
    })
    .expect("route");
    let r = &routes[0];
    assert_eq!(r.as_path.as_deref(), Some("4200000001"));
    assert_eq!(r.communities, vec!["65001:100"]);
    assert_eq!(r.large_communities, vec!["4200000001:5:6"]);
    assert_eq!(r.bgp_next_hop, vec![ip(OURS4)]);
    let want: BTreeMap<IpNet, String> =
        [(net("10.30.0.0/24"), PEER4.to_string()), (net("10.31.0.0/24"), PEER4.to_string())].into();
    wait_for(Duration::from_secs(10), "BIRD's routes in our kernel", || {
        let k = kernel_routes(&flb, false);
        if k == want { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("kernel");
    rt.block_on(h.shutdown(false));
    assert!(kernel_routes(&flb, false).is_empty(), "shutdown removes what we installed");
}

// ------------------------------------------------------------------------- RFC 7606, scripted peer

mod scripted {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};

    use ferrolb_bgp::wire::{AsPath, Capability, Context, Family, Message, Open, Origin, PathAttributes, Update};

    pub fn read_message(s: &mut TcpStream) -> std::io::Result<Message> {
        loop {
            let mut head = [0u8; 19];
            s.read_exact(&mut head)?;
            let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
            let mut body = vec![0u8; len.saturating_sub(19)];
            s.read_exact(&mut body)?;
            let whole = [head.as_slice(), &body].concat();
            let (m, _) = Message::decode(&whole, &Context::default())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            if m != Message::Keepalive {
                return Ok(m);
            }
        }
    }

    pub fn open(s: &mut TcpStream) -> std::io::Result<()> {
        let caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(65002)];
        let open = Open::new(65002, 9, Ipv4Addr::new(10, 255, 0, 2), caps);
        s.write_all(&Message::Open(open).encode(&Context::default()).expect("open"))?;
        keepalive(s)
    }

    pub fn keepalive(s: &mut TcpStream) -> std::io::Result<()> {
        s.write_all(&Message::Keepalive.encode(&Context::default()).expect("keepalive"))
    }

    pub fn update(prefixes: &[&str]) -> Vec<u8> {
        let u = Update {
            withdrawn: Vec::new(),
            attributes: PathAttributes {
                origin: Some(Origin::Igp),
                as_path: Some(AsPath::sequence(vec![65002])),
                next_hop: Some(Ipv4Addr::new(192, 0, 2, 2)),
                ..PathAttributes::default()
            },
            nlri: prefixes.iter().map(|p| p.parse().expect("prefix")).collect(),
        };
        u.encode(&Context::default()).expect("update")
    }
}

#[test]
fn rfc7606_treat_as_withdraw_keeps_the_session_a_bad_header_resets_it() {
    if skip_unless_root("rfc7606_treat_as_withdraw_keeps_the_session_a_bad_header_resets_it") {
        return;
    }
    use ferrolb_bgp::wire::Message;
    use std::io::Write;

    let (flb, peer) = pair("bgp-7606");
    let listener = ferrolb_netlink::Netns::named(peer.name())
        .run(|| std::net::TcpListener::bind(SocketAddr::new(ip(PEER4), 179)))
        .expect("netns")
        .expect("listen");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 65001, 65002);
    n.receive = ReceiveIntent { all: true, prefixes: Vec::new() };
    assert!(rt.block_on(h.apply(&intent(vec![n]))).is_empty());
    let (mut s, _) = listener.accept().expect("the speaker connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    assert!(matches!(scripted::read_message(&mut s).expect("OPEN"), Message::Open(_)));
    scripted::open(&mut s).expect("our OPEN");
    wait_speaker_state(&rt, &h, "Established", 10);
    // Their End-of-RIB, then ours is not needed by the speaker. A valid route first.
    s.write_all(&scripted::update(&["10.40.0.0/24"])).expect("update");
    wait_for(Duration::from_secs(10), "the valid route in the kernel", || {
        let k = kernel_routes(&flb, false);
        if k.contains_key(&net("10.40.0.0/24")) { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("kernel");

    // ORIGIN 7 is malformed: RFC 7606 §7.1 says treat-as-withdraw, the session stays.
    let mut bad = scripted::update(&["10.40.0.0/24", "10.41.0.0/24"]);
    let at = bad.windows(4).position(|w| w == [0x40, 0x01, 0x01, 0x00]).expect("ORIGIN attribute");
    bad[at + 3] = 7;
    s.write_all(&bad).expect("malformed update");
    wait_for(Duration::from_secs(10), "10.40.0.0/24 withdrawn by treat-as-withdraw", || {
        let k = kernel_routes(&flb, false);
        if k.is_empty() { Ok(()) } else { Err(format!("{k:?}")) }
    })
    .expect("treat-as-withdraw");
    scripted::keepalive(&mut s).expect("keepalive");
    std::thread::sleep(Duration::from_secs(1));
    let st = &h.neighbors()[0];
    assert_eq!((st.state.as_str(), st.sent.notifications), ("Established", 0), "{st:?}");
    assert_eq!(st.received.updates, 2);

    // A broken marker is a Message Header Error: NOTIFICATION 1/1 and the session resets.
    let mut junk = scripted::update(&["10.42.0.0/24"]);
    junk[0] = 0;
    s.write_all(&junk).expect("junk");
    // Our End-of-RIB may still be unread: skip UPDATEs until the NOTIFICATION.
    loop {
        match scripted::read_message(&mut s).expect("NOTIFICATION") {
            Message::Notification(n) => {
                assert_eq!((n.code, n.subcode), (1, 1), "{n:?}");
                break;
            }
            Message::Update(_) => continue,
            other => panic!("expected a NOTIFICATION, got {other:?}"),
        }
    }
    let _g = rt.enter();
    wait_for(Duration::from_secs(5), "the speaker to leave Established", || {
        let st = &h.neighbors()[0];
        if st.state != "Established" && st.sent.notifications == 1 { Ok(()) } else { Err(format!("{st:?}")) }
    })
    .expect("reset");
    drop(_g);
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------------------ BFD hooks

#[test]
fn bfd_down_tears_the_session_down_until_bfd_up() {
    if skip_unless_root("bfd_down_tears_the_session_down_until_bfd_up") {
        return;
    }
    let (flb, peer) = pair("bgp-bfd");
    let body = format!(" neighbor {OURS4} remote-as 65001\n neighbor {OURS4} timers 3 9\n");
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &frr_conf(65002, &body)).expect("FRR");
    let rt = runtime();
    let h = rt.block_on(Speaker::start(options(&flb))).expect("speaker");
    let mut n = neighbor(PEER4, 65001, 65002);
    n.routes.insert(net("198.51.100.0/24"), RouteAttrs::default());
    assert!(rt.block_on(h.apply(&intent(vec![n.clone()]))).is_empty());
    wait_established(&frr, Family::Ipv4, OURS4, 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("198.51.100.0/24")].into(), 10);

    assert!(rt.block_on(h.bfd_down(&n.key)));
    wait_frr_prefixes(&frr, Family::Ipv4, &BTreeSet::new(), 5);
    // Held down: longer than the automatic restart delay (1 s) and FRR's retries.
    std::thread::sleep(Duration::from_secs(4));
    let st = &h.neighbors()[0];
    assert_eq!((st.state.as_str(), st.bfd_down, st.sent.notifications), ("Idle", true, 1), "{st:?}");
    assert!(show::summary_text(&h.summary()).contains("Idle (BFD)"));
    assert!(!frr.bgp_summary().expect("summary").peer(Family::Ipv4, OURS4).expect("peer").is_established());

    assert!(rt.block_on(h.bfd_up(&n.key)));
    wait_established(&frr, Family::Ipv4, OURS4, 30);
    wait_frr_prefixes(&frr, Family::Ipv4, &[net("198.51.100.0/24")].into(), 10);
    assert!(!rt.block_on(h.bfd_down(&NeighborKey {
        vrf: String::new(),
        address: Some(ip("192.0.2.99")),
        interface: None
    })));
    rt.block_on(h.shutdown(false));
}

// ------------------------------------------------------------------------------------ VRF (UML)

const IN_UML: &str = "FERROLB_BGP_VRF_IN_UML";

/// A neighbor in a VRF (frr-k8s `vrf`, MetalLB BGPPeer `vrf`), inside User-Mode Linux because this
/// machine's kernel has no VRF devices: speaker A's session to B is bound to VRF `red` (table 10,
/// port `eth0`), B is a second speaker in the default VRF of its namespace. A announces a service
/// route to B; B's route is accepted by A and installed into table 10, not the main table.
#[test]
fn vrf_neighbor_session_and_received_routes_in_the_vrf_table_in_uml() {
    if std::env::var_os(IN_UML).is_some() {
        ferrolb_lab::uml::guest_setup().expect("load vrf/veth inside UML");
        vrf_inside_uml();
        return;
    }
    if skip_unless_root("vrf_neighbor_session_and_received_routes_in_the_vrf_table_in_uml") {
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let out = ferrolb_lab::uml::Uml::new()
        .modules(&["vrf", "veth"])
        .run_test(&exe, "vrf_neighbor_session_and_received_routes_in_the_vrf_table_in_uml", &[(IN_UML, "1")])
        .expect("User-Mode Linux runs");
    println!("UML run took {:?}\n{}", out.elapsed, out.log);
    let console = &out.console[out.console.len().saturating_sub(3000)..];
    assert_eq!(out.verdict, Some(0), "inside UML:\n{}\nconsole tail:\n{console}", out.log);
    assert!(out.log.contains("test result: ok. 1 passed"), "{}", out.log);
}

fn vrf_inside_uml() {
    let a = Netns::new("vrf-a").expect("namespace");
    let b = Netns::new("vrf-b").expect("namespace");
    a.veth("eth0", &b, "eth0").expect("veth");
    a.ip(&["link", "add", "red", "type", "vrf", "table", "10"]).expect("vrf");
    a.ip(&["link", "set", "red", "up"]).expect("vrf up");
    a.ip(&["link", "set", "eth0", "master", "red"]).expect("enslave");
    a.add_addr("eth0", "10.0.0.1/24").expect("addr");
    b.add_addr("eth0", "10.0.0.2/24").expect("addr");
    let rt = runtime();
    let mut oa = options(&a);
    oa.vrf_tables = BTreeMap::from([("red".to_string(), 10)]);
    let sa = rt.block_on(Speaker::start(oa)).expect("speaker a");
    let sb = rt.block_on(Speaker::start(options(&b))).expect("speaker b");
    let mut na = neighbor("10.0.0.2", 64512, 64513);
    na.key.vrf = "red".into();
    na.routes = BTreeMap::from([(net("198.51.100.1/32"), attrs(&[(64512, 100)], &[], None))]);
    na.receive = ReceiveIntent { all: true, prefixes: vec![] };
    let mut nb = neighbor("10.0.0.1", 64513, 64512);
    nb.routes = BTreeMap::from([(net("203.0.113.0/24"), attrs(&[], &[], None))]);
    nb.receive = ReceiveIntent { all: true, prefixes: vec![] };
    assert!(rt.block_on(sa.apply(&intent(vec![na]))).is_empty());
    assert!(rt.block_on(sb.apply(&intent(vec![nb]))).is_empty());
    wait_speaker_state(&rt, &sa, "Established", 30);
    wait_speaker_state(&rt, &sb, "Established", 30);
    let n = sa.neighbors();
    assert_eq!(n[0].vrf, "red", "{n:?}");
    // B got A's service route.
    wait_for(Duration::from_secs(10), "B received 198.51.100.1/32", || {
        let r = rt.block_on(sb.routes(RouteDirection::Received, None));
        if r.iter().any(|r| r.prefix == net("198.51.100.1/32")) { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .expect("received at B");
    // A installed B's route into the VRF's table, not into main.
    wait_for(Duration::from_secs(10), "203.0.113.0/24 in table 10", || {
        let t = a.ip(&["route", "show", "table", "10"]).map_err(|e| e.to_string())?;
        if t.contains("203.0.113.0/24 via 10.0.0.2 dev eth0 proto 241") { Ok(()) } else { Err(t) }
    })
    .expect("installed in the VRF table");
    let main = a.ip(&["route", "show", "table", "main"]).expect("main table");
    assert!(!main.contains("203.0.113.0/24"), "{main}");
    rt.block_on(sa.shutdown(false));
    rt.block_on(sb.shutdown(false));
    let t = a.ip(&["route", "show", "table", "10"]).expect("table 10");
    assert!(!t.contains("203.0.113.0/24"), "removed on shutdown: {t}");
}
