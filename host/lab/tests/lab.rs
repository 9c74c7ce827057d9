//! Proof that the lab works: namespaces, veth, bridges, FRR ↔ FRR eBGP (IPv4 + IPv6) and BFD,
//! BIRD ↔ FRR injection, cleanup (also on panic) and the stale-namespace sweeper.
//!
//! Every test skips, loudly, only when not root.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_lab::bird::{Bird, StaticInjector};
use ferrolb_lab::frr::{Daemon, Family, Frr};
use ferrolb_lab::{NAME_PREFIX, Netns, list_namespaces, skip_unless_root, sweep_stale, wait_for, wait_until};

const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

fn ns_exists(name: &str) -> bool {
    list_namespaces().expect("ip netns list").iter().any(|n| n == name)
}

fn root_link_exists(name: &str) -> bool {
    Command::new("ip").args(["link", "show", name]).output().expect("ip link").status.success()
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Two namespaces joined by a veth pair: 10.0.12.0/30 and 2001:db8:12::/64 on `eth0`.
fn pair() -> (Netns, Netns) {
    let r1 = Netns::new("r1").expect("netns r1");
    let r2 = Netns::new("r2").expect("netns r2");
    r1.veth("eth0", &r2, "eth0").expect("veth");
    r1.add_addr("eth0", "10.0.12.1/30").expect("addr");
    r2.add_addr("eth0", "10.0.12.2/30").expect("addr");
    r1.add_addr("eth0", "2001:db8:12::1/64").expect("addr");
    r2.add_addr("eth0", "2001:db8:12::2/64").expect("addr");
    (r1, r2)
}

fn wait_established(frr: &Frr, family: Family, peer: &str) {
    wait_for(SESSION_TIMEOUT, &format!("{family:?} session to {peer} in {}", frr.netns().name()), || {
        let s = frr.bgp_summary()?;
        match s.peer(family, peer) {
            Some(p) if p.is_established() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("BGP session");
}

#[test]
fn netns_bridge_routes_and_forwarding() {
    if skip_unless_root("netns_bridge_routes_and_forwarding") {
        return;
    }
    // Three hosts on one switch (a bridge in its own namespace); h3 routes to a second subnet.
    let sw = Netns::new("sw").expect("switch");
    let hosts: Vec<Netns> = (1..=3).map(|i| Netns::new(&format!("h{i}")).expect("host")).collect();
    for (i, h) in hosts.iter().enumerate() {
        sw.veth(&format!("p{i}"), h, "eth0").expect("veth to switch");
        h.add_addr("eth0", &format!("10.1.0.{}/24", i + 1)).expect("addr");
        h.add_addr("eth0", &format!("2001:db8:1::{}/64", i + 1)).expect("addr6");
    }
    sw.add_bridge("br0", &["p0", "p1", "p2"]).expect("bridge");
    let far = Netns::new("far").expect("far");
    hosts[2].veth("eth1", &far, "eth0").expect("veth");
    hosts[2].add_addr("eth1", "10.2.0.1/24").expect("addr");
    far.add_addr("eth0", "10.2.0.2/24").expect("addr");
    hosts[2].enable_forwarding().expect("forwarding");
    hosts[0].add_route("10.2.0.0/24", "10.1.0.3").expect("route");
    far.add_route("10.1.0.0/24", "10.2.0.1").expect("route back");

    let ping = |from: &Netns, to: &str| from.exec("ping", &["-c1", "-W1", to]).is_ok();
    wait_until(Duration::from_secs(10), "h1 -> h2 over the bridge", || ping(&hosts[0], "10.1.0.2")).expect("ping");
    wait_until(Duration::from_secs(10), "h2 -> h3 over the bridge (IPv6)", || ping(&hosts[1], "2001:db8:1::3"))
        .expect("ping6");
    wait_until(Duration::from_secs(10), "h1 -> far through h3", || ping(&hosts[0], "10.2.0.2")).expect("routed");
    // Without forwarding the same ping fails: the route alone is not what made it work.
    hosts[2].sysctl("net.ipv4.ip_forward", "0").expect("sysctl");
    assert!(!ping(&hosts[0], "10.2.0.2"), "forwarding off, yet h1 reached far");
    // The three namespaces each have their own eth0; the switch sees three bridge ports.
    let ports = sw.ip(&["-o", "link", "show", "master", "br0"]).expect("ports");
    assert_eq!(ports.lines().count(), 3, "{ports}");
    // h2 learned h1's MAC over the bridge (the pings above resolved it by ARP).
    let h1_mac = hosts[0].mac("eth0").expect("mac");
    assert_eq!(h1_mac.len(), 17, "{h1_mac}");
    let neigh = hosts[1].ip(&["neigh", "show", "10.1.0.1"]).expect("neigh");
    assert!(neigh.contains(&h1_mac), "{neigh} lacks {h1_mac}");
    assert!(hosts[0].mac("lo").is_err(), "lo has no Ethernet address");
}

#[test]
fn frr_ebgp_ipv4_and_ipv6_exchange_prefixes() {
    if skip_unless_root("frr_ebgp_ipv4_and_ipv6_exchange_prefixes") {
        return;
    }
    let started = Instant::now();
    let (r1, r2) = pair();
    let daemons = [Daemon::Zebra, Daemon::Bgpd, Daemon::Staticd];
    let c1 = "frr defaults datacenter\n\
              ip route 192.0.2.0/24 blackhole\n\
              ipv6 route 2001:db8:99::/48 blackhole\n\
              route-map tag permit 10\n set community 65001:100 65001:200\n set large-community 65001:1:2\nexit\n\
              router bgp 65001\n bgp router-id 10.255.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n\
              \x20neighbor 10.0.12.2 remote-as 65002\n neighbor 2001:db8:12::2 remote-as 65002\n\
              \x20address-family ipv4 unicast\n  network 192.0.2.0/24 route-map tag\n  neighbor 10.0.12.2 activate\n\
              \x20exit-address-family\n\
              \x20address-family ipv6 unicast\n  network 2001:db8:99::/48 route-map tag\n  neighbor 2001:db8:12::2 activate\n\
              \x20exit-address-family\n";
    let c2 = "frr defaults datacenter\n\
              route-map lp permit 10\n set local-preference 250\nexit\n\
              router bgp 65002\n bgp router-id 10.255.0.2\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n\
              \x20neighbor 10.0.12.1 remote-as 65001\n neighbor 10.0.12.1 timers 3 9\n neighbor 2001:db8:12::1 remote-as 65001\n\
              \x20address-family ipv4 unicast\n  neighbor 10.0.12.1 activate\n  neighbor 10.0.12.1 route-map lp in\n\
              \x20exit-address-family\n\
              \x20address-family ipv6 unicast\n  neighbor 2001:db8:12::1 activate\n exit-address-family\n";
    let f1 = Frr::start(&r1, &daemons, c1).expect("FRR r1");
    let f2 = Frr::start(&r2, &daemons, c2).expect("FRR r2");
    wait_established(&f2, Family::Ipv4, "10.0.12.1");
    let v4_up = started.elapsed();
    wait_established(&f2, Family::Ipv6, "2001:db8:12::1");
    let established = started.elapsed();

    let summary = wait_for(SESSION_TIMEOUT, "r2 to receive one prefix per family", || {
        let s = f2.bgp_summary()?;
        if s.prefixes_received(Family::Ipv4, "10.0.12.1") == 1
            && s.prefixes_received(Family::Ipv6, "2001:db8:12::1") == 1
        {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .expect("prefixes");
    let v4 = summary.peer(Family::Ipv4, "10.0.12.1").expect("v4 peer");
    assert_eq!(v4.remote_as, 65001);
    assert!(summary.peer(Family::Ipv4, "2001:db8:12::1").is_none(), "the v6 session carries no IPv4");
    let r1_sum = f1.bgp_summary().expect("r1 summary");
    assert_eq!(r1_sum.peer(Family::Ipv4, "10.0.12.2").map(|p| p.prefixes_sent), Some(1));

    // Table listing: next hop and local preference set by r2's import route-map.
    let table = f2.bgp_table(Family::Ipv4).expect("table");
    assert_eq!(table.len(), 1, "{table:?}");
    let p = &table[0];
    assert_eq!(p.prefix.to_string(), "192.0.2.0/24");
    assert!(p.best && p.valid);
    assert_eq!(p.as_path, "65001");
    assert_eq!(p.next_hops, ["10.0.12.1".parse::<std::net::IpAddr>().expect("ip")]);
    assert_eq!(p.local_pref, Some(250));
    assert_eq!(p.peer, "10.0.12.1");

    // Per-prefix detail: communities and large communities set by r1's route-map.
    let detail = f2.bgp_prefix(Family::Ipv4, "192.0.2.0/24").expect("prefix detail");
    assert_eq!(detail.len(), 1);
    assert_eq!(detail[0].communities, ["65001:100", "65001:200"]);
    assert_eq!(detail[0].large_communities, ["65001:1:2"]);
    assert_eq!(detail[0].local_pref, Some(250));
    assert!(f2.bgp_prefix(Family::Ipv4, "198.51.100.0/24").expect("absent prefix").is_empty());

    let t6 = f2.bgp_table(Family::Ipv6).expect("v6 table");
    assert_eq!(t6.len(), 1, "{t6:?}");
    assert_eq!(t6[0].prefix.to_string(), "2001:db8:99::/48");
    assert_eq!(t6[0].next_hops.first(), Some(&"2001:db8:12::1".parse().expect("ip")));
    let d6 = f2.bgp_prefix(Family::Ipv6, "2001:db8:99::/48").expect("v6 detail");
    assert_eq!(d6[0].communities, ["65001:100", "65001:200"]);

    // Neighbors: negotiated timers (r2 asked 3/9, r1 datacenter default 3/9).
    let n = f2.bgp_neighbors().expect("neighbors");
    let n1 = n.iter().find(|n| n.address == "10.0.12.1").expect("neighbor 10.0.12.1");
    assert_eq!(n1.state, "Established");
    assert_eq!(n1.remote_router_id, "10.255.0.1");
    assert_eq!(n1.hold_time_ms, 9000);
    assert!(n1.accepted_prefixes.contains(&("ipv4Unicast".to_owned(), 1)), "{n1:?}");

    // Zebra installed both routes, and the kernel of r2 has them.
    let rib = wait_for(Duration::from_secs(10), "r2's RIB to hold the BGP route", || {
        let rib = f2.rib(Family::Ipv4)?;
        match rib.iter().find(|r| r.protocol == "bgp") {
            Some(r) if r.installed => Ok(r.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("rib");
    assert_eq!(rib.prefix.to_string(), "192.0.2.0/24");
    assert_eq!(rib.next_hops[0].ip, Some("10.0.12.1".parse().expect("ip")));
    assert_eq!(rib.next_hops[0].interface.as_deref(), Some("eth0"));
    let kernel = r2.ip(&["route", "show", "192.0.2.0/24"]).expect("ip route");
    assert!(kernel.contains("via 10.0.12.1"), "{kernel}");
    wait_until(Duration::from_secs(10), "IPv6 BGP route in r2's RIB", || {
        f2.rib(Family::Ipv6).is_ok_and(|r| r.iter().any(|r| r.protocol == "bgp" && r.installed))
    })
    .expect("rib6");
    eprintln!("frr_ebgp: IPv4 session Established {v4_up:?}, both {established:?} after start");
}

#[test]
fn frr_refuses_a_bad_config_with_the_reason() {
    if skip_unless_root("frr_refuses_a_bad_config_with_the_reason") {
        return;
    }
    let ns = Netns::new("bad").expect("netns");
    let err = Frr::start(&ns, &[Daemon::Zebra, Daemon::Bgpd], "router bgp 65001\n frobnicate the router\n")
        .expect_err("a bogus line must be refused");
    let text = err.to_string();
    assert!(text.contains("frobnicate"), "the error names the refused line: {text}");
}

#[test]
fn frr_bfd_comes_up_and_detects_silence() {
    if skip_unless_root("frr_bfd_comes_up_and_detects_silence") {
        return;
    }
    let (r1, r2) = pair();
    let conf = |asn: u32, peer: &str, peer_as: u32| {
        format!(
            "frr defaults datacenter\nbfd\n profile fast\n  detect-multiplier 3\n  receive-interval 50\n  \
             transmit-interval 50\n exit\nexit\nrouter bgp {asn}\n no bgp ebgp-requires-policy\n \
             neighbor {peer} remote-as {peer_as}\n neighbor {peer} bfd\n neighbor {peer} bfd profile fast\n"
        )
    };
    let daemons = [Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd];
    let f1 = Frr::start(&r1, &daemons, &conf(65001, "10.0.12.2", 65002)).expect("FRR r1");
    let f2 = Frr::start(&r2, &daemons, &conf(65002, "10.0.12.1", 65001)).expect("FRR r2");
    let started = Instant::now();
    for (f, peer) in [(&f1, "10.0.12.2"), (&f2, "10.0.12.1")] {
        let p = wait_for(SESSION_TIMEOUT, &format!("BFD Up in {}", f.netns().name()), || {
            let peers = f.bfd_peers()?;
            match peers.iter().find(|p| p.peer.to_string() == peer) {
                Some(p) if p.is_up() => Ok(p.clone()),
                other => Err(format!("{other:?}")),
            }
        })
        .expect("BFD up");
        assert_eq!((p.receive_interval_ms, p.transmit_interval_ms, p.detect_multiplier), (50, 50, 3));
        assert_eq!(p.remote_detect_multiplier, 3);
        assert!(!p.multihop);
    }
    let up = started.elapsed();
    wait_until(SESSION_TIMEOUT, "bgpd to see BFD Up", || {
        f1.bgp_neighbors().is_ok_and(|n| n.iter().any(|n| n.bfd_status.as_deref() == Some("Up")))
    })
    .expect("bgp bfd status");

    // Silently drop everything on r2's side: r1's BFD must time out (3 x 50 ms) and take BGP down.
    r2.nft(
        "table inet blackhole {\n\
         \x20 chain in  { type filter hook input  priority -300; iifname \"eth0\" drop; }\n\
         \x20 chain out { type filter hook output priority -300; oifname \"eth0\" drop; }\n\
         }\n",
    )
    .expect("blackhole");
    let cut = Instant::now();
    wait_until(Duration::from_secs(5), "r1's BFD session to go down", || {
        f1.bfd_peers().is_ok_and(|p| p.iter().any(|p| p.status == "down"))
    })
    .expect("BFD down");
    let detected = cut.elapsed();
    wait_until(Duration::from_secs(5), "r1's BGP session to drop after BFD down", || {
        f1.bgp_summary().is_ok_and(|s| s.peer(Family::Ipv4, "10.0.12.2").is_some_and(|p| !p.is_established()))
    })
    .expect("BGP down");
    let diag = f1.bfd_peers().expect("peers");
    assert_eq!(diag.len(), 1, "{diag:?}");
    assert_eq!(diag[0].diagnostic, "control detection time expired", "{diag:?}");
    // Lift the blackhole: BFD and BGP recover.
    r2.nft("delete table inet blackhole").expect("unblock");
    wait_established(&f1, Family::Ipv4, "10.0.12.2");
    wait_until(SESSION_TIMEOUT, "r1's BFD to come back up", || {
        f1.bfd_peers().is_ok_and(|p| p.iter().all(|p| p.is_up()))
    })
    .expect("BFD back up");
    // A crashed bfdd on r2 looks like silence to r1.
    let mut f2 = f2;
    f2.kill_daemon(Daemon::Bfdd).expect("kill bfdd");
    assert!(f2.kill_daemon(Daemon::Bfdd).is_err(), "bfdd is no longer running");
    wait_until(Duration::from_secs(5), "r1's BFD to go down after r2's bfdd died", || {
        f1.bfd_peers().is_ok_and(|p| p.iter().any(|p| p.status == "down"))
    })
    .expect("BFD down after crash");
    eprintln!("frr_bfd: Up {up:?} after daemons started; down detected within {detected:?} (poll granularity)");
}

#[test]
fn bird_injects_1000_static_prefixes_into_frr() {
    if skip_unless_root("bird_injects_1000_static_prefixes_into_frr") {
        return;
    }
    let (inj_ns, dut) = pair();
    let inj =
        StaticInjector::new("10.0.12.1".parse().expect("ip"), 65010, "10.0.12.2".parse().expect("ip"), 65001, 1000);
    let bird = Bird::start(&inj_ns, &inj.config().expect("config")).expect("BIRD");
    let frr = Frr::start(
        &dut,
        &[Daemon::Zebra, Daemon::Bgpd],
        "frr defaults datacenter\nrouter bgp 65001\n no bgp ebgp-requires-policy\n neighbor 10.0.12.1 remote-as 65010\n",
    )
    .expect("FRR");
    let count = bird.route_count().expect("route count");
    assert_eq!(count.table_routes("master4"), 1000, "{count:?}");
    let protos = bird.protocols().expect("protocols");
    let inject = protos.iter().find(|p| p.name == "inject").expect("static protocol");
    assert_eq!((inject.proto.as_str(), inject.state.as_str()), ("Static", "up"));

    let started = Instant::now();
    wait_until(SESSION_TIMEOUT, "BIRD's session to FRR", || {
        bird.protocol("peer").ok().flatten().is_some_and(|p| p.is_established())
    })
    .expect("BIRD established");
    wait_for(SESSION_TIMEOUT, "FRR to count 1000 prefixes from BIRD", || {
        let n = frr.bgp_summary()?.prefixes_received(Family::Ipv4, "10.0.12.1");
        if n == 1000 { Ok(()) } else { Err(format!("{n} of 1000")) }
    })
    .expect("1000 prefixes");
    let took = started.elapsed();

    let prefixes: Vec<_> = inj.prefixes().expect("prefixes").collect();
    assert_eq!(prefixes.last().map(ToString::to_string).as_deref(), Some("100.3.231.0/24"));
    let last = frr.bgp_prefix(Family::Ipv4, "100.3.231.0/24").expect("prefix 1000");
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(last[0].as_path, "65010");
    assert_eq!(last[0].next_hops, ["10.0.12.1".parse::<std::net::IpAddr>().expect("ip")]);
    assert!(frr.bgp_prefix(Family::Ipv4, "100.3.232.0/24").expect("prefix 1001").is_empty());
    let r = bird.routes("100.0.0.0/24").expect("bird route");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!((r[0].kind.as_str(), r[0].protocol.as_str(), r[0].best), ("blackhole", "inject", true));
    assert!(bird.routes("198.51.100.0/24").expect("absent").is_empty());
    // Reconfiguration: a refused config changes nothing; a bigger injector announces the extra prefix.
    let err = bird.configure("protocol static {").expect_err("a broken config must be refused");
    assert!(err.to_string().contains("syntax error"), "{err}");
    let mut more = inj.clone();
    more.count = 1001;
    bird.configure(&more.config().expect("config")).expect("reconfigure");
    wait_for(SESSION_TIMEOUT, "FRR to count 1001 prefixes after reconfiguration", || {
        let n = frr.bgp_summary()?.prefixes_received(Family::Ipv4, "10.0.12.1");
        if n == 1001 { Ok(()) } else { Err(format!("{n} of 1001")) }
    })
    .expect("1001 prefixes");
    eprintln!("bird_injects: FRR counted 1000 prefixes {took:?} after BIRD started");
}

#[test]
fn dropping_the_guards_leaves_nothing_behind() {
    if skip_unless_root("dropping_the_guards_leaves_nothing_behind") {
        return;
    }
    let (names, root_link, pids, dirs, mut loose) = {
        let (r1, r2) = pair();
        let root_link = r1.veth_to_root("up0").expect("veth to root");
        assert!(root_link.len() <= 15, "{root_link}");
        assert!(root_link_exists(&root_link));
        r2.add_bridge("br0", &[]).expect("bridge");
        let frr = Frr::start(&r1, &[Daemon::Zebra, Daemon::Bgpd], "router bgp 65001\n").expect("FRR");
        let bird = Bird::start(&r2, "router id 10.0.0.2;\nprotocol device {}\n").expect("BIRD");
        let mut sleeper = r2.command("sleep");
        sleeper.arg("600").stdout(Stdio::null());
        // A process the lab did not track as a Process: the namespace guard must still kill it.
        let loose = sleeper.spawn().expect("sleep");
        let mut pids = r1.pids().expect("pids r1");
        pids.extend(r2.pids().expect("pids r2"));
        assert!(pids.contains(&loose.id()));
        assert!(pids.len() >= 4, "zebra, bgpd, bird, sleep: {pids:?}");
        let names = [r1.name().to_owned(), r2.name().to_owned()];
        assert!(names.iter().all(|n| n.starts_with(NAME_PREFIX) && ns_exists(n)));
        let dirs = [frr.dir().to_owned(), bird.dir().to_owned()];
        (names, root_link, pids, dirs, loose)
    };
    let loose_status = loose.wait().expect("reap the untracked sleep");
    assert!(!loose_status.success(), "the untracked sleep was killed with its namespace");
    for n in &names {
        assert!(!ns_exists(n), "namespace {n} left behind");
    }
    assert!(!root_link_exists(&root_link), "root link {root_link} left behind");
    wait_until(Duration::from_secs(5), "every process of the lab to be gone", || pids.iter().all(|p| !pid_alive(*p)))
        .expect("processes gone (zombies are reaped by init)");
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn a_panicking_test_still_cleans_up() {
    if skip_unless_root("a_panicking_test_still_cleans_up") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let ns = Netns::new("boom").expect("netns");
        tx.send(ns.name().to_owned()).expect("send");
        panic!("deliberate panic with a live namespace (expected in this test's output)");
    })
    .join();
    assert!(result.is_err(), "the thread panicked");
    let name = rx.recv().expect("name");
    assert!(!ns_exists(&name), "namespace {name} survived the panic");
}

#[test]
fn the_sweeper_removes_namespaces_of_dead_runs_only() {
    if skip_unless_root("the_sweeper_removes_namespaces_of_dead_runs_only") {
        return;
    }
    // A pid that no longer runs: a child that has exited and been reaped.
    let mut gone = Command::new("true").spawn().expect("true");
    let dead_pid = gone.id();
    gone.wait().expect("reap");
    let mine = Netns::new("live").expect("live netns");
    let base36 = |mut n: u32| {
        let mut s = Vec::new();
        loop {
            s.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
            n /= 36;
            if n == 0 {
                break;
            }
        }
        s.reverse();
        String::from_utf8(s).expect("ascii")
    };
    let stale = format!("{NAME_PREFIX}old-{}-0", base36(dead_pid));
    let status = Command::new("ip").args(["netns", "add", &stale]).status().expect("ip netns add");
    assert!(status.success());
    // Something still running in it, as a killed run's daemons would be.
    let mut orphan = Command::new("ip")
        .args(["netns", "exec", &stale, "sleep", "600"])
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep in stale ns");
    wait_until(Duration::from_secs(5), "the orphan to be inside the stale namespace", || {
        Command::new("ip")
            .args(["netns", "pids", &stale])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&orphan.id().to_string()))
    })
    .expect("orphan placed");

    let removed = sweep_stale().expect("sweep");
    let orphan_status = orphan.wait().expect("orphan reaped");
    assert!(removed.contains(&stale), "{removed:?}");
    assert!(!removed.contains(&mine.name().to_owned()), "a live process's namespace was swept");
    assert!(!ns_exists(&stale));
    assert!(ns_exists(mine.name()));
    assert!(!orphan_status.success(), "the orphan was killed, not left running");
}

/// The benchmark injector at full size: BIRD must load 1M static prefixes quickly. Ignored by
/// default (about 100 MB and a few seconds); `cargo test -p ferrolb-lab -- --ignored` runs it.
#[test]
#[ignore = "heavy: 1M routes; run with --ignored"]
fn bird_loads_a_million_static_prefixes() {
    if skip_unless_root("bird_loads_a_million_static_prefixes") {
        return;
    }
    let ns = Netns::new("inj").expect("netns");
    let inj =
        StaticInjector::new("10.0.12.1".parse().expect("ip"), 65010, "10.0.12.2".parse().expect("ip"), 65001, 1 << 20);
    let t = Instant::now();
    let config = inj.config().expect("config");
    let generated = t.elapsed();
    let t = Instant::now();
    let bird = Bird::start(&ns, &config).expect("BIRD");
    let answering = t.elapsed();
    wait_for(Duration::from_secs(120), "BIRD to hold 1M routes", || {
        let n = bird.route_count()?.table_routes("master4");
        if n == 1 << 20 { Ok(()) } else { Err(format!("{n} routes")) }
    })
    .expect("1M routes");
    eprintln!(
        "bird 1M: config generated in {generated:?} ({} MB), answering after {answering:?}, 1M routes in table after {:?}",
        config.len() >> 20,
        t.elapsed()
    );
}
