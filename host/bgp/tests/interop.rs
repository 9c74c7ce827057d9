//! Interoperability with FRR's bgpd and BIRD over real TCP, each in a network namespace joined
//! to the root namespace by a veth pair (needs root, skips loudly otherwise). The blocking
//! driver in `common/driver.rs` plays the role of the tokio driver.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::driver::Driver;
use ferrolb_bgp::fsm::State;
use ferrolb_bgp::session::{Action, DownReason, GracefulRestartConfig, Input, PeerAs, SessionConfig};
use ferrolb_bgp::wire::{
    AsPath, Community, Context, Family, LargeCommunity, Message, MpNextHop, Notification, Origin, PathAttributes, code,
};
use ferrolb_lab::bird::{Bird, StaticInjector};
use ferrolb_lab::frr::{Daemon, Family as LabFamily, Frr};
use ferrolb_lab::{Netns, skip_unless_root, wait_for};
use ipnet::IpNet;

fn root_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

/// A namespace joined to the root namespace by a veth pair: (namespace, our address in the
/// root namespace, the peer's address in the namespace). A /30 of the benchmarking range,
/// picked per process and test so parallel runs do not clash.
fn link(tag: &str, index: u8) -> (Netns, Ipv4Addr, Ipv4Addr) {
    let ns = Netns::new(tag).expect("namespace");
    let root_if = ns.veth_to_root("eth0").expect("veth to root");
    let third = (std::process::id() % 50) as u8 * 5 + index;
    let ours = Ipv4Addr::new(198, 18, third, 1);
    let theirs = Ipv4Addr::new(198, 18, third, 2);
    root_ip(&["addr", "add", &format!("{ours}/30"), "dev", &root_if]);
    ns.add_addr("eth0", &format!("{theirs}/30")).expect("address");
    (ns, ours, theirs)
}

#[test]
fn frr_session_routes_refresh_and_shutdown() {
    if skip_unless_root("frr_session_routes_refresh_and_shutdown") {
        return;
    }
    let (ns, ours, frr_addr) = link("bgpfrr", 0);
    let conf = format!(
        "router bgp 65002
 bgp router-id 10.255.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor {ours} remote-as 65001
 neighbor {ours} passive
 neighbor {ours} timers 3 9
 address-family ipv4 unicast
  network 10.77.0.0/24
 exit-address-family
 address-family ipv6 unicast
  neighbor {ours} activate
  network 2001:db8:77::/48
 exit-address-family
"
    );
    let frr = Frr::start(&ns, &[Daemon::Zebra, Daemon::Bgpd], &conf).expect("FRR starts");

    let mut config = SessionConfig::new(65001, PeerAs::Number(65002), Ipv4Addr::new(10, 255, 0, 1));
    config.graceful_restart = Some(GracefulRestartConfig::default());
    // FRR refuses connections for a moment after its configuration is applied; retry soon
    // (RFC 4271: a connection lost in OpenSent waits in Active for the ConnectRetryTimer).
    config.connect_retry = Duration::from_secs(2);
    let mut d = Driver::new(config, SocketAddr::from((frr_addr, 179)));
    d.input(Input::Start);
    // FRR may still be settling: the session retries by itself (IdleHold back-off).
    d.run_until(Duration::from_secs(30), "Established", |d| d.session.state() == State::Established);
    let n = d.negotiated();
    assert_eq!((n.peer_asn, n.peer_id), (65002, Ipv4Addr::new(10, 255, 0, 2)));
    assert_eq!((n.hold_time, n.keepalive_time), (9, 3));
    assert!(n.context.four_octet_as && n.route_refresh);
    assert_eq!(n.context.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);

    // FRR's routes, then its End-of-RIB for both families (both sides advertised GR).
    d.run_until(Duration::from_secs(20), "FRR's routes and End-of-RIB", |d| {
        let eors = d.actions.iter().filter(|a| matches!(a, Action::EndOfRib(_))).count();
        let got = d.announced();
        got.contains(&net("10.77.0.0/24")) && got.contains(&net("2001:db8:77::/48")) && eors == 2
    });
    let v4 = d.updates().into_iter().find(|u| u.announced().contains(&net("10.77.0.0/24"))).expect("v4 update");
    assert_eq!(v4.update.attributes.as_path, Some(AsPath::sequence(vec![65002])));
    assert_eq!(v4.update.attributes.next_hop, Some(frr_addr));
    assert_eq!(v4.update.attributes.origin, Some(Origin::Igp));
    assert!(v4.rfc7606.is_empty());

    // Ours, with communities, in both families, then End-of-RIB.
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65001])),
        next_hop: Some(ours),
        communities: vec![Community::new(65001, 88)],
        large_communities: vec![LargeCommunity { global: 65001, local1: 1, local2: 2 }],
        ..Default::default()
    };
    let now = Instant::now();
    d.session.announce(now, &attrs, None, &[net("10.88.0.0/24"), net("10.89.0.0/24")], &[]).expect("v4");
    let nh6 = MpNextHop::V6 { global: ours.to_ipv6_mapped(), link_local: None };
    d.session.announce(now, &attrs, Some(nh6), &[net("2001:db8:88::/48")], &[]).expect("v6");
    d.session.send_end_of_rib_all(now).expect("eor");
    d.carry_out();
    let mut frr_paths = Vec::new();
    let poll = |d: &mut Driver, family, prefix: &str| {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            d.turn();
            if let Ok(paths) = frr.bgp_prefix(family, prefix)
                && !paths.is_empty()
            {
                return paths;
            }
            assert!(Instant::now() < end, "FRR never learned {prefix}:\n{}", frr.logs());
        }
    };
    frr_paths.extend(poll(&mut d, LabFamily::Ipv4, "10.88.0.0/24"));
    let p = &frr_paths[0];
    assert_eq!(p.as_path, "65001");
    assert_eq!(p.next_hops.first(), Some(&std::net::IpAddr::V4(ours)));
    assert_eq!(p.communities, vec!["65001:88".to_string()]);
    assert_eq!(p.large_communities, vec!["65001:1:2".to_string()]);
    let v6 = poll(&mut d, LabFamily::Ipv6, "2001:db8:88::/48");
    assert_eq!(v6[0].as_path, "65001");
    assert!(v6[0].next_hops.contains(&std::net::IpAddr::V6(ours.to_ipv6_mapped())), "{:?}", v6[0].next_hops);

    // Longer than FRR's 9 s hold time: keepalives keep both sides up.
    d.run_for(Duration::from_secs(11));
    assert_eq!(d.session.state(), State::Established);
    wait_for(Duration::from_secs(5), "FRR to report the session Established", || {
        let s = frr.bgp_summary().map_err(|e| e.to_string())?;
        match s.peer(LabFamily::Ipv4, &ours.to_string()) {
            Some(p) if p.is_established() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("FRR established");

    // Route refresh: FRR sends its IPv4 table again.
    let before = d.updates().len();
    d.session.request_route_refresh(Instant::now(), Family::IPV4_UNICAST).expect("refresh");
    d.carry_out();
    d.run_until(Duration::from_secs(10), "the refreshed routes", |d| {
        d.updates()[before..].iter().any(|u| u.announced().contains(&net("10.77.0.0/24")))
    });

    // Withdraw one of ours.
    d.session.announce(Instant::now(), &attrs, None, &[], &[net("10.89.0.0/24")]).expect("withdraw");
    d.carry_out();
    let end = Instant::now() + Duration::from_secs(10);
    while frr.bgp_prefix(LabFamily::Ipv4, "10.89.0.0/24").map(|p| !p.is_empty()).unwrap_or(true) {
        assert!(Instant::now() < end, "FRR kept the withdrawn prefix");
        d.turn();
    }
    assert!(!frr.bgp_prefix(LabFamily::Ipv4, "10.88.0.0/24").expect("query").is_empty());

    // FRR's OPEN decodes, and re-encodes to FRR's exact bytes (capabilities kept in order).
    let len = usize::from(u16::from_be_bytes([d.received[16], d.received[17]]));
    let frr_open = &d.received[..len];
    let (msg, _) = Message::decode(frr_open, &Context::default()).expect("FRR's OPEN");
    let Message::Open(open) = &msg else { panic!("first message is not an OPEN") };
    assert_eq!(open.asn(), 65002);
    eprintln!("FRR OPEN: {}", frr_open.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut rest = &d.received[..];
    while rest.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let (one, tail) = rest.split_at(len);
        if one[18] == 2 {
            eprintln!("FRR UPDATE: {}", one.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        rest = tail;
    }
    let reencoded = msg.encode(&Context::default()).expect("encode");
    // FRR may spread capabilities over several parameters; compare structure when it does.
    if reencoded != frr_open {
        assert_eq!(Message::decode(&reencoded, &Context::default()).expect("decode").0, msg);
    }

    // Administrative shutdown: FRR sees our Cease and drops the session.
    d.input(Input::Stop { subcode: code::cease::ADMINISTRATIVE_SHUTDOWN });
    assert_eq!(d.session.state(), State::Idle);
    wait_for(Duration::from_secs(10), "FRR to drop the session", || {
        let nb = frr.bgp_neighbors().map_err(|e| e.to_string())?;
        match nb.iter().find(|n| n.address == ours.to_string()) {
            Some(n) if n.state != "Established" && n.connections_dropped >= 1 => Ok(n.last_reset.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .map(|reason| {
        assert!(
            reason.to_lowercase().contains("notification") || reason.to_lowercase().contains("shutdown"),
            "{reason}"
        )
    })
    .expect("FRR dropped the session");
}

#[test]
fn bird_connects_to_us_and_sends_a_table() {
    if skip_unless_root("bird_connects_to_us_and_sends_a_table") {
        return;
    }
    let (ns, ours, bird_addr) = link("bgpbird", 1);
    let mut config = SessionConfig::new(65001, PeerAs::External, Ipv4Addr::new(10, 255, 0, 1));
    config.passive = true;
    config.families = vec![Family::IPV4_UNICAST];
    let mut d = Driver::new(config, SocketAddr::from((bird_addr, 179)));
    // Passive: BIRD connects to us, on a port of our choosing.
    let port = d.listen(SocketAddr::from((ours, 0))).port();
    const COUNT: usize = 20_000;
    let inj = StaticInjector::new(bird_addr.into(), 65010, ours.into(), 65001, COUNT as u32);
    let bird_conf = inj
        .config()
        .expect("config")
        .replace(&format!("neighbor {ours} as 65001;"), &format!("neighbor {ours} port {port} as 65001;"))
        .replace("import none;", "import all;");
    assert!(bird_conf.contains(&format!("port {port}")), "{bird_conf}");
    d.input(Input::Start);
    assert_eq!(d.session.state(), State::Active);
    let bird = Bird::start(&ns, &bird_conf).expect("BIRD starts");

    d.run_until(Duration::from_secs(30), "BIRD's session", |d| d.session.state() == State::Established);
    let n = d.negotiated();
    assert_eq!(n.direction, ferrolb_bgp::session::Direction::Passive);
    assert_eq!(n.peer_asn, 65010);
    assert_eq!(n.context.families, vec![Family::IPV4_UNICAST]);
    let t0 = Instant::now();
    d.run_until(Duration::from_secs(60), "BIRD's table", |d| d.announced_count() >= COUNT);
    eprintln!("{COUNT} prefixes from BIRD received and decoded in {:?} (debug build)", t0.elapsed());
    let got = d.announced();
    let expected: Vec<IpNet> = inj.prefixes().expect("prefixes").map(IpNet::V4).collect();
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), COUNT);
    assert!(expected.iter().all(|p| sorted.binary_search(p).is_ok()));
    let first = d.updates().into_iter().next().expect("an update");
    assert_eq!(first.update.attributes.as_path, Some(AsPath::sequence(vec![65010])));
    assert_eq!(first.update.attributes.next_hop, Some(bird_addr));

    // Ours reaches BIRD.
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65001])),
        next_hop: Some(ours),
        ..Default::default()
    };
    d.session.announce(Instant::now(), &attrs, None, &[net("10.88.0.0/24")], &[]).expect("announce");
    d.carry_out();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        d.turn();
        if bird.routes("10.88.0.0/24").is_ok_and(|r| !r.is_empty()) {
            break;
        }
        assert!(Instant::now() < end, "BIRD never learned 10.88.0.0/24:\n{}", bird.logs());
    }

    // BIRD shuts the session down: we get its Cease / Administrative Shutdown.
    bird.birdc("disable peer").expect("birdc");
    d.run_until(Duration::from_secs(10), "BIRD's NOTIFICATION", |d| d.session.state() != State::Established);
    let down = d.actions.iter().rev().find_map(|a| match a {
        Action::Down { reason, was_established: true, .. } => Some(reason.clone()),
        _ => None,
    });
    match down.expect("a Down action") {
        DownReason::NotificationReceived(Notification { code: c, subcode, .. }) => {
            assert_eq!((c, subcode), (code::CEASE, code::cease::ADMINISTRATIVE_SHUTDOWN))
        }
        other => panic!("unexpected down reason {other:?}"),
    }
}

/// FRR peer in a fresh namespace: `router bgp {asn}` with the neighbor `ours` passive, 3/9 timers.
fn frr_peer(ns: &Netns, asn: u32, ours: Ipv4Addr, our_as: u32, extra: &str) -> Frr {
    let conf = format!(
        "router bgp {asn}
 bgp router-id 10.255.0.2
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor {ours} remote-as {our_as}
 neighbor {ours} passive
 neighbor {ours} timers 3 9
{extra}"
    );
    Frr::start(ns, &[Daemon::Zebra, Daemon::Bgpd], &conf).expect("FRR starts")
}

fn wait_frr_prefix(d: &mut Driver, frr: &Frr, prefix: &str, present: bool) -> Vec<ferrolb_lab::frr::BgpPath> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        d.turn();
        let paths = frr.bgp_prefix(LabFamily::Ipv4, prefix).unwrap_or_default();
        if paths.is_empty() != present {
            return paths;
        }
        assert!(Instant::now() < end, "FRR: {prefix} present={} never held:\n{}", present, frr.logs());
    }
}

#[test]
fn frr_with_us_as_a_two_octet_speaker_exchanges_as4_path() {
    if skip_unless_root("frr_with_us_as_a_two_octet_speaker_exchanges_as4_path") {
        return;
    }
    let (ns, ours, frr_addr) = link("bgpas4", 2);
    let frr = frr_peer(
        &ns,
        4_200_000_002,
        ours,
        65001,
        " address-family ipv4 unicast\n  network 10.77.0.0/24\n exit-address-family\n",
    );
    // We emulate an old speaker: no 4-octet AS capability, so FRR appears as AS_TRANS.
    let mut config = SessionConfig::new(65001, PeerAs::Number(23456), Ipv4Addr::new(10, 255, 0, 1));
    config.four_octet_as = false;
    config.connect_retry = Duration::from_secs(2);
    let mut d = Driver::new(config, SocketAddr::from((frr_addr, 179)));
    d.input(Input::Start);
    d.run_until(Duration::from_secs(30), "Established", |d| d.session.state() == State::Established);
    assert!(!d.negotiated().context.four_octet_as);
    // FRR's path AS_PATH [AS_TRANS] + AS4_PATH [4200000002], merged back by our decoder.
    d.run_until(Duration::from_secs(20), "FRR's route", |d| d.announced().contains(&net("10.77.0.0/24")));
    let u = d.updates().into_iter().find(|u| u.announced().contains(&net("10.77.0.0/24"))).expect("update");
    assert_eq!(u.update.attributes.as_path, Some(AsPath::sequence(vec![4_200_000_002])));
    // FRR sends AS_PATH with the Extended Length bit: flags 0x50, type 2, length 4, then
    // AS_SEQUENCE of one 2-octet AS_TRANS.
    let raw_as_path = [0x50, 0x02, 0x00, 0x04, 0x02, 0x01, 0x5b, 0xa0];
    assert!(
        d.received.windows(raw_as_path.len()).any(|w| w == raw_as_path),
        "2-octet AS_PATH with AS_TRANS on the wire"
    );
    // Our path with a 4-octet AS goes out as AS_TRANS + AS4_PATH; FRR reconstructs it.
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65001, 4_200_000_009])),
        next_hop: Some(ours),
        ..Default::default()
    };
    d.session.announce(Instant::now(), &attrs, None, &[net("10.88.0.0/24")], &[]).expect("announce");
    d.carry_out();
    let paths = wait_frr_prefix(&mut d, &frr, "10.88.0.0/24", true);
    assert_eq!(paths[0].as_path, "65001 4200000009");
}

#[test]
fn frr_as_graceful_restart_helper_keeps_our_routes_across_our_restart() {
    if skip_unless_root("frr_as_graceful_restart_helper_keeps_our_routes_across_our_restart") {
        return;
    }
    let (ns, ours, frr_addr) = link("bgpgr", 3);
    let frr = frr_peer(&ns, 65002, ours, 65001, "");
    let config = |restarting: bool| {
        let mut c = SessionConfig::new(65001, PeerAs::Number(65002), Ipv4Addr::new(10, 255, 0, 1));
        c.families = vec![Family::IPV4_UNICAST];
        c.connect_retry = Duration::from_secs(2);
        c.graceful_restart = Some(GracefulRestartConfig {
            restart_time: 120,
            restarting,
            preserve_forwarding: vec![Family::IPV4_UNICAST],
            ..Default::default()
        });
        c
    };
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![65001])),
        next_hop: Some(ours),
        ..Default::default()
    };
    let mut d = Driver::new(config(false), SocketAddr::from((frr_addr, 179)));
    d.input(Input::Start);
    d.run_until(Duration::from_secs(30), "Established", |d| d.session.state() == State::Established);
    assert!(d.negotiated().peer_graceful_restart.is_some(), "FRR advertises graceful restart (helper)");
    d.session
        .announce(Instant::now(), &attrs, None, &[net("10.88.0.0/24"), net("10.89.0.0/24")], &[])
        .expect("announce");
    d.session.send_end_of_rib_all(Instant::now()).expect("eor");
    d.carry_out();
    wait_frr_prefix(&mut d, &frr, "10.88.0.0/24", true);
    wait_frr_prefix(&mut d, &frr, "10.89.0.0/24", true);

    // We "crash": the TCP connection closes without a NOTIFICATION.
    drop(d);
    std::thread::sleep(Duration::from_secs(1));
    assert!(!frr.bgp_prefix(LabFamily::Ipv4, "10.88.0.0/24").unwrap_or_default().is_empty(), "kept as stale");
    assert!(!frr.bgp_prefix(LabFamily::Ipv4, "10.89.0.0/24").unwrap_or_default().is_empty(), "kept as stale");

    // We come back with the R and F bits, re-announce only 10.88.0.0/24, then End-of-RIB:
    // FRR sweeps what we did not refresh.
    let mut d = Driver::new(config(true), SocketAddr::from((frr_addr, 179)));
    d.input(Input::Start);
    d.run_until(Duration::from_secs(30), "Established again", |d| d.session.state() == State::Established);
    d.session.announce(Instant::now(), &attrs, None, &[net("10.88.0.0/24")], &[]).expect("announce");
    assert!(!frr.bgp_prefix(LabFamily::Ipv4, "10.89.0.0/24").unwrap_or_default().is_empty(), "stale until EoR");
    d.session.send_end_of_rib_all(Instant::now()).expect("eor");
    d.carry_out();
    wait_frr_prefix(&mut d, &frr, "10.89.0.0/24", false);
    assert!(!frr.bgp_prefix(LabFamily::Ipv4, "10.88.0.0/24").unwrap_or_default().is_empty());
}

#[test]
fn frr_going_silent_expires_our_hold_timer_on_time() {
    if skip_unless_root("frr_going_silent_expires_our_hold_timer_on_time") {
        return;
    }
    let (ns, ours, frr_addr) = link("bgphold", 4);
    let _frr = frr_peer(&ns, 65002, ours, 65001, "");
    let mut config = SessionConfig::new(65001, PeerAs::Number(65002), Ipv4Addr::new(10, 255, 0, 1));
    config.connect_retry = Duration::from_secs(2);
    let mut d = Driver::new(config, SocketAddr::from((frr_addr, 179)));
    d.input(Input::Start);
    d.run_until(Duration::from_secs(30), "Established", |d| d.session.state() == State::Established);
    assert_eq!(d.negotiated().hold_time, 9);
    d.run_for(Duration::from_secs(4));
    // Silently drop everything on FRR's side of the link.
    ns.nft(
        "table inet blackhole {
  chain in  { type filter hook input  priority -300; iifname \"eth0\" drop; }
  chain out { type filter hook output priority -300; oifname \"eth0\" drop; }
}",
    )
    .expect("nft");
    d.run_until(Duration::from_secs(15), "the hold timer to expire", |d| d.session.state() != State::Established);
    let (i, reason) = d
        .actions
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, a)| match a {
            Action::Down { reason, was_established: true, .. } => Some((i, reason.clone())),
            _ => None,
        })
        .expect("Down");
    assert_eq!(reason, DownReason::HoldTimerExpired);
    let silent_for = d.action_times[i] - d.last_rx.expect("bytes were received");
    assert!(
        silent_for >= Duration::from_secs(9) && silent_for < Duration::from_millis(9_100),
        "expired after {silent_for:?} of silence"
    );
}
