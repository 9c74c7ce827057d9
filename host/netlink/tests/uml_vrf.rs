//! The symmetric-routing scenario (MetalLB + NodeNetworkConfigurationPolicy VRF + egress service)
//! inside User-Mode Linux, because this machine's kernel has no VRF devices.
//!
//! The test re-invokes its own executable inside UML (`ferrolb_lab::uml`), where it builds:
//!
//! ```text
//!  pod ns (10.128.2.15) ──veth── node ns: pod0 10.128.2.1      ens4vrf (vrf, table 2)
//!                                         ens4 192.168.130.130 ─┘ ──veth── ext ns: 192.168.130.1,
//!                                                                            203.0.113.50 (lo)
//! ```
//!
//! and applies, through ferrolb-netlink, the reference policy: VRF `ens4vrf` table 2 with port `ens4`,
//! the default route in table 2 (metric 150), the NNCP route-rules to table 254 at priority 998, and
//! the egress rule `from 10.128.2.15 lookup 2` at priority 5000. It checks kernel state, that the pod's
//! traffic leaves through the VRF port (and does not once the egress rule is gone), idempotence and
//! cleanup.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::{NsGuard, veth};
use ferrolb_lab::uml::{Uml, guest_setup};
use ferrolb_netlink::{Address, DesiredState, NextHop, Route, Rule, Vrf};

const IN_UML: &str = "FERROLB_NETLINK_IN_UML";

#[test]
fn vrf_egress_in_uml() {
    if std::env::var_os(IN_UML).is_some() {
        guest_setup().expect("load vrf/veth/nf_tables inside UML");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(inner());
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let out = Uml::new()
        .modules(&["vrf", "veth", "nf_tables"])
        .run_test(&exe, "vrf_egress_in_uml", &[(IN_UML, "1")])
        .expect("User-Mode Linux runs");
    println!("UML run took {:?}\n{}", out.elapsed, out.log);
    assert_eq!(out.verdict, Some(0), "inside UML:\n{}\nconsole tail:\n{}", out.log, tail(&out.console));
    assert!(out.log.contains("test result: ok. 1 passed"), "{}", out.log);
}

fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(3000)..]
}

fn rule(priority: u32, from: Option<&str>, to: Option<&str>, table: u32) -> Rule {
    Rule {
        priority,
        from: from.map(|p| p.parse().unwrap()),
        to: to.map(|p| p.parse().unwrap()),
        iif: None,
        table,
        family: None,
    }
}

fn reference() -> DesiredState {
    DesiredState {
        vrfs: vec![Vrf { name: "ens4vrf".into(), table: 2, ports: vec!["ens4".into()] }],
        addresses: vec![
            Address { interface: "ens4".into(), address: "192.168.130.130/24".parse().unwrap() },
            Address { interface: "pod0".into(), address: "10.128.2.1/24".parse().unwrap() },
        ],
        routes: vec![Route {
            dst: "0.0.0.0/0".parse().unwrap(),
            table: 2,
            next_hop: NextHop::Gateway { address: "192.168.130.1".parse().unwrap(), interface: Some("ens4".into()) },
            metric: 150,
        }],
        rules: vec![
            rule(998, None, Some("172.30.0.0/16"), 254),
            rule(998, None, Some("10.132.0.0/14"), 254),
            rule(998, None, Some("169.254.0.0/17"), 254),
            rule(5000, Some("10.128.2.15/32"), None, 2),
        ],
        snat: vec![],
    }
}

fn udp_in(ns: &NsGuard, bind: &str) -> UdpSocket {
    let addr: SocketAddr = bind.parse().unwrap();
    let sock = ns.netns().run(move || UdpSocket::bind(addr)).unwrap().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock
}

/// Whether a datagram from the pod reaches the external host, and with which source.
fn pod_to_external(pod: &NsGuard, listener: &UdpSocket) -> Option<std::net::IpAddr> {
    let sender = udp_in(pod, "10.128.2.15:0");
    let _ = sender.send_to(b"egress", "203.0.113.50:7777");
    let mut buf = [0u8; 16];
    listener.recv_from(&mut buf).ok().map(|(_, from)| from.ip())
}

async fn inner() {
    let node = NsGuard::new("node");
    let ext = NsGuard::new("ext");
    let pod = NsGuard::new("pod");
    veth(&node, "ens4", &ext, "ext0");
    veth(&pod, "eth0", &node, "pod0");
    ext.ip(&["addr", "add", "192.168.130.1/24", "dev", "ext0"]);
    ext.ip(&["addr", "add", "203.0.113.50/32", "dev", "lo"]);
    pod.ip(&["addr", "add", "10.128.2.15/24", "dev", "eth0"]);
    pod.ip(&["route", "add", "default", "via", "10.128.2.1"]);
    node.sysctl("net.ipv4.ip_forward=1");
    node.sysctl("net.ipv4.conf.all.rp_filter=0");
    node.sysctl("net.ipv4.conf.default.rp_filter=0");

    let nl = ferrolb_netlink::Netlink::connect(node.netns()).await.unwrap();
    let want = reference();
    let report = nl.apply(&want).await.unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    println!("first apply: {report:?}");

    // Kernel state.
    let vrf = node.ip(&["-d", "link", "show", "ens4vrf"]);
    assert!(vrf.contains("vrf table 2") && vrf.contains("alias ferrolb"), "{vrf}");
    let port = node.ip(&["-d", "link", "show", "ens4"]);
    assert!(port.contains("master ens4vrf") && port.contains("vrf_slave table 2"), "{port}");
    let table = node.ip(&["route", "show", "vrf", "ens4vrf"]);
    assert!(table.contains("default via 192.168.130.1 dev ens4 proto 240 metric 150"), "{table}");
    assert!(table.contains("192.168.130.0/24 dev ens4 proto kernel scope link src 192.168.130.130"), "{table}");
    let rules = node.ip(&["rule", "show"]);
    for needle in [
        "998:\tfrom all to 172.30.0.0/16 lookup main proto 240",
        "998:\tfrom all to 10.132.0.0/14 lookup main proto 240",
        "998:\tfrom all to 169.254.0.0/17 lookup main proto 240",
        "5000:\tfrom 10.128.2.15 lookup 2 proto 240",
        "1000:\tfrom all lookup [l3mdev-table]",
    ] {
        assert!(rules.contains(needle), "{needle:?} missing from\n{rules}");
    }
    let links = nl.links().await.unwrap();
    let v = links.iter().find(|l| l.name == "ens4vrf").unwrap();
    assert!(v.owned() && v.vrf_table == Some(2) && v.up, "{v:?}");

    // Traffic: the pod's packets take table 2 (egress rule) and leave through the VRF port.
    let listener = udp_in(&ext, "203.0.113.50:7777");
    assert_eq!(pod_to_external(&pod, &listener).map(|a| a.to_string()).as_deref(), Some("10.128.2.15"));

    // Idempotent.
    let again = nl.apply(&want).await.unwrap();
    assert_eq!(again.requests, 0, "{again:?}");

    // Without the egress rule the main table has no way out: nothing arrives.
    let mut no_egress = want.clone();
    no_egress.rules.pop();
    let report = nl.apply(&no_egress).await.unwrap();
    assert_eq!((report.requests, report.deleted), (1, 1), "{report:?}");
    assert_eq!(pod_to_external(&pod, &listener), None);

    // A foreign VRF-ish name clash is reported, not taken over.
    node.ip(&["link", "add", "other", "type", "vrf", "table", "3"]);
    let mut clash = want.clone();
    clash.vrfs.push(Vrf { name: "other".into(), table: 3, ports: vec![] });
    let report = nl.apply(&clash).await.unwrap();
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    assert!(
        report.errors[0].to_string().starts_with("vrf other: an interface named other exists and is not ferrolb's")
    );

    // The VRF's table changes (2 → 12): the device is recreated, its port re-enslaved, the route moved.
    let mut moved = want.clone();
    moved.vrfs[0].table = 12;
    moved.routes[0].table = 12;
    moved.rules[3].table = 12;
    let report = nl.apply(&moved).await.unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let vrf = node.ip(&["-d", "link", "show", "ens4vrf"]);
    assert!(vrf.contains("vrf table 12") && vrf.contains("alias ferrolb"), "{vrf}");
    assert!(node.ip(&["link", "show", "ens4"]).contains("master ens4vrf"));
    let table = node.ip(&["route", "show", "vrf", "ens4vrf"]);
    assert!(table.contains("default via 192.168.130.1 dev ens4 proto 240 metric 150"), "{table}");
    assert!(node.ip(&["rule", "show"]).contains("5000:\tfrom 10.128.2.15 lookup 12 proto 240"));
    assert_eq!(pod_to_external(&pod, &listener).map(|a| a.to_string()).as_deref(), Some("10.128.2.15"));
    assert_eq!(nl.apply(&moved).await.unwrap().requests, 0);

    // Cleanup: everything ferrolb owns goes, the foreign VRF and the ports stay.
    let report = nl.apply(&DesiredState::default()).await.unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let (gone, _) = node.exec(&["ip", "link", "show", "ens4vrf"]);
    assert!(!gone, "ens4vrf should be deleted");
    let port = node.ip(&["link", "show", "ens4"]);
    assert!(!port.contains("master"), "{port}");
    assert!(node.ip(&["link", "show", "other"]).contains("other"));
    assert!(!node.ip(&["rule", "show"]).contains("proto 240"));
    assert_eq!(node.ip(&["route", "show", "table", "2"]).trim(), "");
    assert_eq!(nl.apply(&DesiredState::default()).await.unwrap().requests, 0);
}
