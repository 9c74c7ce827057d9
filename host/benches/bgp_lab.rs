//! Side-by-side BGP figures (root; run by hand: `cargo bench -p ferrolb --bench bgp_lab`).
//!
//! A BIRD injector ([`StaticInjector`]: N static IPv4 /24s exported over eBGP) feeds ferrolb, FRR
//! (bgpd + zebra) and BIRD in turn, each in fresh namespaces; for each: time from Established to all
//! prefixes in the RIB and to all prefixes in the kernel table, and peak RSS (ferrolb: this process,
//! its peak reset just before the speaker starts; FRR: bgpd + zebra; BIRD: bird). Then ferrolb
//! announces 100k service routes to FRR: time until FRR has them all.
//!
//! Sizes: `FLB_BENCH_SIZES=100000,1000000` (default 100000).

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb::bgp::{Speaker, SpeakerOptions};
use ferrolb::daemon::intent::{BgpIntent, NeighborIntent, NeighborKey, PeerAsIntent, ReceiveIntent, RouteAttrs};
use ferrolb_lab::bird::{Bird, StaticInjector};
use ferrolb_lab::frr::{Daemon, Family, Frr};
use ferrolb_lab::{Netns, skip_unless_root, wait_for};
use ipnet::{IpNet, Ipv4Net};

const INJ: &str = "192.0.2.2";
const DUT: &str = "192.0.2.1";
const TIMEOUT: Duration = Duration::from_secs(600);

fn pair(tag: &str) -> (Netns, Netns) {
    let dut = Netns::new(&format!("{tag}-dut")).expect("ns");
    let inj = Netns::new(&format!("{tag}-inj")).expect("ns");
    dut.veth("eth0", &inj, "eth0").expect("veth");
    dut.add_addr("eth0", &format!("{DUT}/24")).expect("addr");
    inj.add_addr("eth0", &format!("{INJ}/24")).expect("addr");
    (dut, inj)
}

fn injector(inj: &Netns, n: u32) -> Bird {
    let cfg = StaticInjector::new(INJ.parse().expect("ip"), 65002, DUT.parse().expect("ip"), 65001, n)
        .config()
        .expect("config");
    Bird::start(inj, &cfg).expect("injector")
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn kernel_count(ns: &Netns, proto: &str) -> u64 {
    let out = ns.command("sh").args(["-c", &format!("ip -4 route show table main proto {proto} | wc -l")]).output();
    out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0)
}

struct Figures {
    rib: Duration,
    kernel: Duration,
    rss_mb: f64,
}

fn poll_until(what: &str, mut f: impl FnMut() -> bool) -> Instant {
    let start = Instant::now();
    loop {
        if f() {
            return Instant::now();
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ferrolb_receive(n: u32) -> Figures {
    let (dut, inj) = pair("bench-flb");
    let _bird = injector(&inj, n);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    // Peak RSS from here on (the injector's config string was built above, in this process).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let opts = SpeakerOptions {
        netns: ferrolb_netlink::Netns::named(dut.name()),
        router_id_fallback: Some(Ipv4Addr::new(10, 255, 0, 1)),
        ..SpeakerOptions::default()
    };
    let h = rt.block_on(Speaker::start(opts)).expect("speaker");
    let nb = NeighborIntent {
        key: NeighborKey { vrf: String::new(), address: Some(INJ.parse().expect("ip")), interface: None },
        local_asn: 65001,
        router_id: None,
        peer_as: PeerAsIntent::Asn(65002),
        port: 179,
        source_address: None,
        password: None,
        hold_time: Duration::from_secs(90),
        keepalive_time: None,
        connect_time: Duration::from_secs(2),
        ebgp_multihop: false,
        bfd_profile: None,
        graceful_restart: false,
        disable_mp: false,
        max_prefix: None,
        min_ttl: None,
        routes: BTreeMap::new(),
        receive: ReceiveIntent { all: true, prefixes: Vec::new() },
    };
    let intent = BgpIntent { neighbors: [(nb.key.clone(), nb)].into(), ..BgpIntent::default() };
    assert!(rt.block_on(h.apply(&intent)).is_empty());
    let est = poll_until("ferrolb Established", || h.neighbors().first().is_some_and(|s| s.state == "Established"));
    // In the RIB = accepted into the Adj-RIB-In (FRR's pfxRcd, BIRD's table count).
    let rib = poll_until("ferrolb RIB", || h.neighbors().first().is_some_and(|s| s.prefixes_received >= u64::from(n)));
    let kernel = poll_until("ferrolb kernel", || h.summary().kernel_routes >= u64::from(n));
    let rss = vm_hwm_kb(std::process::id());
    let check = kernel_count(&dut, &ferrolb_netlink::RouteOrigin::Bgp.protocol().to_string());
    rt.block_on(h.shutdown(false));
    eprintln!("  (ferrolb kernel table check: {check} routes of ferrolb's BGP protocol)");
    Figures { rib: rib - est, kernel: kernel - est, rss_mb: rss as f64 / 1024.0 }
}

fn frr_receive(n: u32) -> Figures {
    let (dut, inj) = pair("bench-frr");
    let conf = format!(
        "router bgp 65001\n bgp router-id 10.255.0.1\n no bgp ebgp-requires-policy\n neighbor {INJ} remote-as 65002\n"
    );
    let frr = Frr::start(&dut, &[Daemon::Zebra, Daemon::Bgpd], &conf).expect("FRR");
    let _bird = injector(&inj, n);
    let est = poll_until("FRR Established", || {
        frr.bgp_summary().ok().and_then(|s| s.peer(Family::Ipv4, INJ).map(|p| p.is_established())).unwrap_or(false)
    });
    let rib = poll_until("FRR RIB", || {
        frr.bgp_summary().map(|s| s.prefixes_received(Family::Ipv4, INJ)).unwrap_or(0) >= u64::from(n)
    });
    let kernel = poll_until("FRR kernel", || kernel_count(&dut, "bgp") >= u64::from(n));
    let pid = |d: &str| {
        std::fs::read_to_string(frr.dir().join(format!("{d}.pid")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let rss = vm_hwm_kb(pid("bgpd")) + vm_hwm_kb(pid("zebra"));
    Figures { rib: rib - est, kernel: kernel - est, rss_mb: rss as f64 / 1024.0 }
}

fn bird_receive(n: u32) -> Figures {
    let (dut, inj) = pair("bench-bird");
    let conf = format!(
        "router id 10.255.0.1;\nprotocol device {{}}\nprotocol kernel {{ ipv4 {{ export all; }}; merge paths off; }}\n\
         protocol bgp inj {{ local {DUT} as 65001; neighbor {INJ} as 65002; ipv4 {{ import all; export none; }}; }}\n"
    );
    let bird = Bird::start(&dut, &conf).expect("BIRD");
    let _inj = injector(&inj, n);
    let est =
        poll_until("BIRD Established", || bird.protocol("inj").ok().flatten().is_some_and(|p| p.is_established()));
    let rib =
        poll_until("BIRD RIB", || bird.route_count().map(|c| c.table_routes("master4")).unwrap_or(0) >= u64::from(n));
    let kernel = poll_until("BIRD kernel", || kernel_count(&dut, "bird") >= u64::from(n));
    let rss = dut.pids().unwrap_or_default().into_iter().map(vm_hwm_kb).max().unwrap_or(0);
    Figures { rib: rib - est, kernel: kernel - est, rss_mb: rss as f64 / 1024.0 }
}

fn announce_to_frr(n: u32) -> Duration {
    let (dut, peer) = pair("bench-ann");
    let conf = format!(
        "router bgp 65002\n bgp router-id 10.255.0.2\n no bgp ebgp-requires-policy\n neighbor {DUT} remote-as 65001\n"
    );
    let frr = Frr::start(&peer, &[Daemon::Zebra, Daemon::Bgpd], &conf).expect("FRR");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let opts = SpeakerOptions {
        netns: ferrolb_netlink::Netns::named(dut.name()),
        router_id_fallback: Some(Ipv4Addr::new(10, 255, 0, 1)),
        ..SpeakerOptions::default()
    };
    let h = rt.block_on(Speaker::start(opts)).expect("speaker");
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    let mut routes = BTreeMap::new();
    for i in 0..n {
        let p = Ipv4Net::new(Ipv4Addr::from(base + i), 32).expect("net");
        routes.insert(IpNet::V4(p), RouteAttrs { communities: vec![(65001 << 16) | 100], ..RouteAttrs::default() });
    }
    let mut nb = NeighborIntent {
        key: NeighborKey { vrf: String::new(), address: Some(IpAddr::V4(INJ.parse().expect("ip"))), interface: None },
        local_asn: 65001,
        router_id: None,
        peer_as: PeerAsIntent::Asn(65002),
        port: 179,
        source_address: None,
        password: None,
        hold_time: Duration::from_secs(90),
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
    };
    // Session first, then the routes: the figure is announcement time, not session setup.
    let intent =
        |nb: &NeighborIntent| BgpIntent { neighbors: [(nb.key.clone(), nb.clone())].into(), ..BgpIntent::default() };
    assert!(rt.block_on(h.apply(&intent(&nb))).is_empty());
    wait_for(Duration::from_secs(60), "session", || {
        if h.neighbors().first().is_some_and(|s| s.state == "Established") { Ok(()) } else { Err("not yet") }
    })
    .expect("session");
    nb.routes = routes;
    let start = Instant::now();
    assert!(rt.block_on(h.apply(&intent(&nb))).is_empty());
    let done = poll_until("FRR has every service route", || {
        frr.bgp_summary().map(|s| s.prefixes_received(Family::Ipv4, DUT)).unwrap_or(0) >= u64::from(n)
    });
    rt.block_on(h.shutdown(false));
    done - start
}

fn main() {
    if skip_unless_root("bgp_lab bench") {
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<u32> = std::env::var("FLB_BENCH_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("| prefixes | system | to RIB | to kernel | peak RSS |");
    println!("|---:|---|---:|---:|---:|");
    for &n in &sizes {
        for (name, f) in
            [("ferrolb", ferrolb_receive as fn(u32) -> Figures), ("FRR 8.4", frr_receive), ("BIRD 2.0", bird_receive)]
        {
            let r = f(n);
            println!(
                "| {n} | {name} | {:.2} s | {:.2} s | {:.0} MB |",
                r.rib.as_secs_f64(),
                r.kernel.as_secs_f64(),
                r.rss_mb
            );
        }
    }
    let t = announce_to_frr(100_000);
    println!("\nferrolb announces 100000 service routes to FRR: all at FRR after {:.2} s", t.as_secs_f64());
}
