//! `ferrolb run`, the real binary, against FRR in network namespaces: MetalLB manifests in, the
//! service address announced to FRR with its community, `ferrolb show` through the admin socket,
//! a manifest edit applied live (the route is withdrawn, the session stays up), a broken edit
//! refused with the previous configuration kept, and SIGTERM ending the session with a Cease.
//! Needs root (it skips loudly otherwise).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferrolb_lab::frr::{Daemon, Family, Frr};
use ferrolb_lab::{Netns, skip_unless_root, wait_for};

const OURS: &str = "10.77.0.1";
const PEER: &str = "10.77.0.2";

fn manifests(with_service: bool) -> String {
    let mut m = format!(
        r#"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: public, namespace: metallb-system}}
spec: {{addresses: [198.51.100.0/28]}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: upstream, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: {PEER}, holdTime: 9s}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: public, namespace: metallb-system}}
spec: {{ipAddressPools: [public], communities: [64512:100]}}
---
apiVersion: v1
kind: Node
metadata: {{name: node-a}}
status:
  addresses: [{{type: InternalIP, address: {OURS}}}]
  conditions: [{{type: Ready, status: "True"}}]
"#
    );
    if with_service {
        m.push_str(
            r#"---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5], nodeName: node-a, conditions: {ready: true}}]
ports: [{port: 80, protocol: TCP}]
"#,
        );
    }
    m
}

fn show(ns: &Netns, socket: &Path, what: &[&str]) -> Result<String, String> {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_ferrolb"));
    cmd.arg("show").args(what).arg("--socket").arg(socket);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn ferrolb_run_announces_to_frr_applies_edits_live_and_leaves_cleanly() {
    if skip_unless_root("ferrolb_run_announces_to_frr_applies_edits_live_and_leaves_cleanly") {
        return;
    }
    let flb = Netns::new("drun-flb").expect("namespace");
    let peer = Netns::new("drun-peer").expect("namespace");
    flb.veth("eth0", &peer, "eth0").expect("veth");
    flb.add_addr("eth0", &format!("{OURS}/24")).expect("addr");
    peer.add_addr("eth0", &format!("{PEER}/24")).expect("addr");
    let frr = Frr::start(
        &peer,
        &[Daemon::Zebra, Daemon::Bgpd],
        &format!(
            "router bgp 64513\n bgp router-id {PEER}\n no bgp ebgp-requires-policy\n neighbor {OURS} remote-as 64512\n neighbor {OURS} timers 3 9\n"
        ),
    )
    .expect("FRR");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, manifests(true)).expect("write");
    let socket = dir.path().join("admin.sock");
    let mut cmd = flb.command(env!("CARGO_BIN_EXE_ferrolb"));
    cmd.args(["--log", "info", "run", "--node", "node-a", "--poll-ms", "200", "-f"])
        .arg(&file)
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("--socket")
        .arg(&socket);
    let mut daemon = flb.spawn(cmd).expect("ferrolb run");

    // FRR learns the first address of the pool with the advertisement's community.
    let path = wait_for(Duration::from_secs(40), "FRR has 198.51.100.0/32 from ferrolb", || {
        let p = frr.bgp_prefix(Family::Ipv4, "198.51.100.0/32").map_err(|e| e.to_string())?;
        p.into_iter().find(|p| p.valid).ok_or_else(|| "not yet".to_string())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    assert_eq!(path.communities, ["64512:100"]);
    assert_eq!(path.as_path, "64512");
    assert_eq!(path.next_hops, [OURS.parse::<std::net::IpAddr>().unwrap()]);

    // The admin socket answers like vtysh.
    let summary = wait_for(Duration::from_secs(10), "show bgp summary", || show(&flb, &socket, &["bgp", "summary"]))
        .expect("show");
    assert!(summary.contains(PEER) && summary.contains("64513"), "{summary}");
    let plan = show(&flb, &socket, &["plan"]).expect("show plan");
    assert!(plan.contains("\"shop/web\""), "{plan}");

    // A broken edit is refused; the route stays.
    std::fs::write(
        &file,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: x}\nspec: {addresses: [300.0.0.0/8]}\n",
    )
    .expect("write");
    wait_for(Duration::from_secs(10), "the broken configuration is reported", || {
        let c = show(&flb, &socket, &["config"])?;
        if c.contains("REFUSED") { Ok(()) } else { Err(c) }
    })
    .expect("refused");
    assert!(frr.bgp_prefix(Family::Ipv4, "198.51.100.0/32").expect("vtysh").iter().any(|p| p.valid));

    // Removing the service withdraws its route without resetting the session.
    let resets_before = frr.bgp_summary().expect("summary").peer(Family::Ipv4, OURS).map(|p| p.connections_established);
    std::fs::write(&file, manifests(false)).expect("write");
    wait_for(Duration::from_secs(15), "FRR withdrew 198.51.100.0/32", || {
        let p = frr.bgp_prefix(Family::Ipv4, "198.51.100.0/32").map_err(|e| e.to_string())?;
        if p.iter().any(|p| p.valid) { Err("still there".to_string()) } else { Ok(()) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let summary = frr.bgp_summary().expect("summary");
    let p = summary.peer(Family::Ipv4, OURS).expect("peer");
    assert!(p.is_established(), "the session stayed up: {p:?}");
    assert_eq!(Some(p.connections_established), resets_before, "no session reset for a route change");

    // SIGTERM: Cease to FRR, the daemon exits 0, the socket is gone.
    Command::new("kill").args(["-TERM", &daemon.pid().to_string()]).status().expect("kill");
    let status = wait_for(Duration::from_secs(15), "ferrolb exits", || {
        daemon.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "running".to_string())
    })
    .expect("exit");
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the admin socket was removed");
    wait_for(Duration::from_secs(10), "FRR saw the session end", || {
        let s = frr.bgp_summary().map_err(|e| e.to_string())?;
        match s.peer(Family::Ipv4, OURS) {
            Some(p) if !p.is_established() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("session down");
}
