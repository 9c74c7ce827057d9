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

/// The `ferrolb run` command for node-a in `ns`: manifests `file`, state under `dir`, admin
/// socket `socket`, 200 ms manifest polling, plus `extra` arguments (not yet spawned).
fn run_command(ns: &Netns, dir: &Path, file: &Path, socket: &Path, extra: &[&str]) -> Command {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_ferrolb"));
    cmd.args(["--log", "info", "run", "--node", "node-a", "--poll-ms", "200", "-f"])
        .arg(file)
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--socket")
        .arg(socket)
        .args(extra);
    cmd
}

/// SIGTERM to the daemon; it must exit 0 within 15 s.
fn stop(daemon: &mut ferrolb_lab::Process) {
    Command::new("kill").args(["-TERM", &daemon.pid().to_string()]).status().expect("kill");
    let status = wait_for(Duration::from_secs(15), "ferrolb exits", || {
        daemon.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "running".to_string())
    })
    .expect("exit");
    assert!(status.success(), "{status:?}");
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
    let cmd = run_command(&flb, dir.path(), &file, &socket, &[]);
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
    stop(&mut daemon);
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

fn bfd_manifests(with_profile: bool) -> String {
    let bfd = if with_profile { ", bfdProfile: fast" } else { "" };
    format!(
        r#"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: public, namespace: metallb-system}}
spec: {{addresses: [198.51.100.0/28]}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: fast, namespace: metallb-system}}
spec: {{receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: upstream, namespace: metallb-system}}
spec: {{myASN: 64512, peerASN: 64513, peerAddress: {PEER}, holdTime: 9s{bfd}}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: public, namespace: metallb-system}}
spec: {{ipAddressPools: [public]}}
---
apiVersion: v1
kind: Node
metadata: {{name: node-a}}
status:
  addresses: [{{type: InternalIP, address: {OURS}}}]
  conditions: [{{type: Ready, status: "True"}}]
"#
    )
}

/// The neighbor's state as `ferrolb show bgp summary --json` reports it.
fn our_bgp_state(ns: &Netns, socket: &Path) -> Result<(String, bool), String> {
    let s = show(ns, socket, &["bgp", "summary", "--json"])?;
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| format!("{e}: {s}"))?;
    let n = v["neighbors"].as_array().and_then(|a| a.first()).ok_or_else(|| format!("no neighbor: {s}"))?;
    Ok((n["state"].as_str().unwrap_or("").to_string(), n["bfdDown"].as_bool().unwrap_or(false)))
}

/// The BFD sessions as `ferrolb show bfd peers --json` reports them.
fn our_bfd(ns: &Netns, socket: &Path) -> Result<Vec<serde_json::Value>, String> {
    let s = show(ns, socket, &["bfd", "peers", "--json"])?;
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| format!("{e}: {s}"))?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// A BGPPeer with a BFDProfile: the daemon runs a BFD session beside the BGP session; when BFD
/// packets are silently dropped (TCP still flows) ferrolb tears BGP down within the detection
/// time and keeps it down while BFD is down; BFD up again brings BGP back; removing the profile
/// stops the BFD session without touching BGP. FRR runs BFD without tying its own BGP session to
/// it, so every BGP reaction seen here is ferrolb's.
#[test]
fn bfd_down_tears_bgp_down_and_holds_it_and_profile_removal_stops_bfd() {
    if skip_unless_root("bfd_down_tears_bgp_down_and_holds_it_and_profile_removal_stops_bfd") {
        return;
    }
    let flb = Netns::new("dbfd-flb").expect("namespace");
    let peer = Netns::new("dbfd-peer").expect("namespace");
    flb.veth("eth0", &peer, "eth0").expect("veth");
    flb.add_addr("eth0", &format!("{OURS}/24")).expect("addr");
    peer.add_addr("eth0", &format!("{PEER}/24")).expect("addr");
    let frr = Frr::start(
        &peer,
        &[Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd],
        &format!(
            "bfd\n peer {OURS} local-address {PEER}\n  receive-interval 50\n  transmit-interval 50\n exit\nexit\n\
             router bgp 64513\n bgp router-id {PEER}\n no bgp ebgp-requires-policy\n neighbor {OURS} remote-as 64512\n \
             neighbor {OURS} timers 3 9\n neighbor {OURS} timers connect 1\n"
        ),
    )
    .expect("FRR");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, bfd_manifests(true)).expect("write");
    let socket = dir.path().join("admin.sock");
    let mut cmd = run_command(&flb, dir.path(), &file, &socket, &[]);
    // JSON logs to a file, to check their shape and the run-time level change below.
    let log_path = dir.path().join("ferrolb.log");
    cmd.args(["--log-format", "json"]).stderr(std::fs::File::create(&log_path).expect("log file"));
    let mut daemon = flb.spawn(cmd).expect("ferrolb run");

    wait_for(Duration::from_secs(40), "BGP established and BFD up at ferrolb", || {
        let (state, _) = our_bgp_state(&flb, &socket)?;
        let bfd = our_bfd(&flb, &socket)?;
        let up = bfd.iter().any(|p| p["peer"] == PEER && p["status"] == "up");
        if state == "Established" && up { Ok(()) } else { Err(format!("bgp {state}, bfd {bfd:?}")) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let text = show(&flb, &socket, &["bfd", "peers"]).expect("show bfd peers");
    assert!(text.contains(&format!("peer {PEER}")) && text.contains("Status: up"), "{text}");
    let brief = show(&flb, &socket, &["bfd", "peers", "brief"]).expect("show bfd peers brief");
    assert!(brief.contains(PEER) && brief.contains("up"), "{brief}");
    // The timers negotiated to the profile's 50 ms on both sides.
    wait_for(Duration::from_secs(5), "FRR runs 50 ms with ferrolb", || {
        let p = frr.bfd_peers().map_err(|e| e.to_string())?;
        match p.iter().find(|p| p.peer.to_string() == OURS) {
            Some(p) if p.status == "up" && p.remote_transmit_interval_ms == 50 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("negotiated");

    // Drop BFD only (UDP 3784) on ferrolb's side: TCP keeps flowing, so only BFD can end BGP.
    let cut = std::time::Instant::now();
    flb.nft(
        "table inet bfdcut {\n chain in { type filter hook input priority -300; udp dport 3784 drop; }\n \
         chain out { type filter hook output priority -300; udp dport 3784 drop; }\n}",
    )
    .expect("drop");
    wait_for(Duration::from_secs(3), "ferrolb tore BGP down", || {
        let (state, held) = our_bgp_state(&flb, &socket)?;
        if state != "Established" && held { Ok(()) } else { Err(format!("{state} held={held}")) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let took = cut.elapsed();
    eprintln!("BGP torn down {took:?} after BFD packets were dropped (detection time 150 ms)");
    assert!(took < Duration::from_millis(1500), "BGP torn down only after {took:?}");
    // Held down while BFD is down, although FRR keeps trying to connect every second.
    std::thread::sleep(Duration::from_secs(3));
    let (state, held) = our_bgp_state(&flb, &socket).expect("state");
    assert!(state != "Established" && held, "BGP must stay down while BFD is down: {state}");

    // BFD back: BGP comes back.
    flb.nft("delete table inet bfdcut").expect("undrop");
    wait_for(Duration::from_secs(20), "BGP established again", || {
        let (state, held) = our_bgp_state(&flb, &socket)?;
        if state == "Established" && !held { Ok(()) } else { Err(format!("{state} held={held}")) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let before = frr.bgp_summary().expect("summary").peer(Family::Ipv4, OURS).map(|p| p.connections_established);

    // The profile removed from the peer: the BFD session ends, BGP is not reset.
    std::fs::write(&file, bfd_manifests(false)).expect("write");
    wait_for(Duration::from_secs(10), "no BFD session at ferrolb", || {
        let b = our_bfd(&flb, &socket)?;
        if b.is_empty() { Ok(()) } else { Err(format!("{b:?}")) }
    })
    .expect("bfd stopped");
    wait_for(Duration::from_secs(5), "FRR sees BFD down", || {
        let p = frr.bfd_peers().map_err(|e| e.to_string())?;
        match p.iter().find(|p| p.peer.to_string() == OURS) {
            Some(p) if p.status != "up" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .expect("FRR saw the session end");
    std::thread::sleep(Duration::from_secs(1));
    let (state, _) = our_bgp_state(&flb, &socket).expect("state");
    assert_eq!(state, "Established");
    let after = frr.bgp_summary().expect("summary").peer(Family::Ipv4, OURS).map(|p| p.connections_established);
    assert_eq!(before, after, "removing the BFD profile must not reset BGP");

    // Log level at run time (MetalLB's words), a bad one refused, JSON lines with span fields.
    let level = |args: &[&str]| {
        let mut c = flb.command(env!("CARGO_BIN_EXE_ferrolb"));
        c.arg("log-level").args(args).arg("--socket").arg(&socket);
        let o = c.output().expect("log-level");
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    assert_eq!(level(&[]), (true, "info\n".to_string()));
    let (ok, out) = level(&["debug"]);
    assert!(ok && out.contains("log level debug (was info)"), "{out}");
    let (ok, out) = level(&["info,ferrolb=loud"]);
    assert!(!ok && out.contains("\"info,ferrolb=loud\""), "{out}");
    assert_eq!(level(&[]), (true, "debug\n".to_string()), "a refused level leaves the previous one");
    // A manifest edit makes the daemon re-plan, which logs at debug.
    std::fs::write(&file, format!("{}# edited\n", bfd_manifests(false))).expect("write");
    std::thread::sleep(Duration::from_millis(1000));
    let log = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "debug events after the change");
    assert!(
        lines.iter().any(|l| l["span"]["name"] == "bgp" && l["span"]["peer"] == PEER),
        "BGP events carry the peer in their span"
    );

    stop(&mut daemon);
}

const L2_SVC: &str = "192.0.2.100";
const L2_NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

fn l2_manifests() -> String {
    let mut y = String::new();
    for (i, name) in L2_NODES.iter().enumerate() {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus:\n  addresses: [{{type: InternalIP, address: 192.0.2.{}}}]\n  \
             conditions: [{{type: Ready, status: \"True\"}}]\n---\n",
            i + 1
        ));
    }
    y.push_str(&format!(
        r#"apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lab, namespace: metallb-system}}
spec: {{addresses: [{L2_SVC}/32]}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lab, namespace: metallb-system}}
spec: {{ipAddressPools: [lab], interfaces: [eth0]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec: {{type: LoadBalancer, ports: [{{port: 80, protocol: TCP}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-1, namespace: default, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
endpoints:
- {{addresses: [10.244.1.5], nodeName: node-a, conditions: {{ready: true}}}}
- {{addresses: [10.244.2.5], nodeName: node-b, conditions: {{ready: true}}}}
- {{addresses: [10.244.3.5], nodeName: node-c, conditions: {{ready: true}}}}
"#
    ));
    y
}

/// Which nodes announce [`L2_SVC`] on an interface, from their `show l2 --json`.
fn l2_owners(nodes: &[(Netns, std::path::PathBuf, bool)]) -> Result<Vec<usize>, String> {
    let mut owners = Vec::new();
    for (i, (ns, socket, alive)) in nodes.iter().enumerate() {
        if !alive {
            continue;
        }
        let s = show(ns, socket, &["l2", "--json"])?;
        let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| format!("{e}: {s}"))?;
        let announced = v["l2"]["addresses"].as_array().into_iter().flatten().any(|a| {
            a["ip"] == L2_SVC
                && a["announcedOn"].as_array().is_some_and(|on| on.iter().any(|o| o["interface"] == "eth0"))
        });
        if announced {
            owners.push(i);
        }
    }
    Ok(owners)
}

/// The MAC the client's `arping` gets for [`L2_SVC`].
fn arping_mac(client: &Netns) -> Result<String, String> {
    let out = client
        .command("arping")
        .args(["-c", "1", "-w", "1", "-I", "eth0", L2_SVC])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    // Habets' arping: "60 bytes from 02:00:00:00:01:02 (192.0.2.100): index=0 ...".
    let mut words = text.split_whitespace().skip_while(|w| *w != "from");
    words.nth(1).map(str::to_string).ok_or(text)
}

/// Three `ferrolb run` daemons as nodes on one bridge, layer-2 mode: the membership protocol
/// finds the live set, exactly one node answers ARP for the service address (the advertise
/// policy's election), `ferrolb show l2` says where and since when; SIGKILL of the owner moves
/// the address to the node the policy elects among the survivors.
#[test]
fn layer2_daemons_elect_one_answering_node_and_move_the_address_when_it_dies() {
    if skip_unless_root("layer2_daemons_elect_one_answering_node_and_move_the_address_when_it_dies") {
        return;
    }
    let switch = Netns::new("dl2-sw").expect("namespace");
    let client = Netns::new("dl2-cl").expect("namespace");
    switch.veth("pc", &client, "eth0").expect("veth");
    client.add_addr("eth0", "192.0.2.99/24").expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, l2_manifests()).expect("write");
    let mut ports = vec!["pc".to_string()];
    let mut nodes = Vec::new();
    let mut macs = Vec::new();
    for (i, name) in L2_NODES.iter().enumerate() {
        let ns = Netns::new(&format!("dl2-n{}", i + 1)).expect("namespace");
        let port = format!("p{}", i + 1);
        switch.veth(&port, &ns, "eth0").expect("veth");
        let mac = format!("02:00:00:00:01:0{}", i + 1);
        ns.ip(&["link", "set", "eth0", "address", &mac]).expect("mac");
        ns.add_addr("eth0", &format!("192.0.2.{}/24", i + 1)).expect("addr");
        ports.push(port);
        macs.push(mac);
        nodes.push((ns, dir.path().join(format!("{name}.sock")), true));
    }
    let refs: Vec<&str> = ports.iter().map(String::as_str).collect();
    switch.add_bridge("br0", &refs).expect("bridge");
    let mut daemons = Vec::new();
    for (i, name) in L2_NODES.iter().enumerate() {
        let (ns, socket, _) = &nodes[i];
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_ferrolb"));
        cmd.args(["--log", "info", "run", "--node", name, "--poll-ms", "200", "--cluster-id", "daemon-lab", "-f"])
            .arg(&file)
            .arg("--state")
            .arg(dir.path().join(format!("{name}-state")))
            .arg("--socket")
            .arg(socket);
        daemons.push(ns.spawn(cmd).expect("ferrolb run"));
    }

    let owner = wait_for(Duration::from_secs(30), "exactly one node announces the address", || {
        let o = l2_owners(&nodes)?;
        if o.len() == 1 { Ok(o[0]) } else { Err(format!("owners {o:?}")) }
    })
    .expect("one owner");
    let mac = wait_for(Duration::from_secs(5), "arping answered", || arping_mac(&client)).expect("arping");
    assert_eq!(mac, macs[owner], "the client reaches the elected node");
    // Steady state: still one owner a little later (no flapping).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(l2_owners(&nodes).expect("owners"), vec![owner]);
    let text = show(&nodes[owner].0, &nodes[owner].1, &["l2"]).expect("show l2");
    assert!(text.contains(L2_SVC) && text.contains("eth0") && text.contains("hears its peers"), "{text}");

    // Kill the owner: another node takes the address over and the client follows.
    let killed = std::time::Instant::now();
    daemons[owner].kill().expect("kill");
    nodes[owner].2 = false;
    let successor = wait_for(Duration::from_secs(10), "another node announces the address", || {
        let o = l2_owners(&nodes)?;
        if o.len() == 1 { Ok(o[0]) } else { Err(format!("owners {o:?}")) }
    })
    .expect("successor");
    assert_ne!(successor, owner);
    let mac = wait_for(Duration::from_secs(5), "the client's ARP follows", || {
        let m = arping_mac(&client)?;
        if m == macs[successor] { Ok(m) } else { Err(m) }
    })
    .expect("moved");
    eprintln!("layer-2 failover through the daemons: {:?} (kill to client reaching {mac})", killed.elapsed());
    let text = show(&nodes[successor].0, &nodes[successor].1, &["l2"]).expect("show l2");
    assert!(text.contains("dead"), "the membership reports the dead node: {text}");
}

fn swap_manifests() -> String {
    let mut m = manifests(true);
    m.push_str(
        r#"---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, labels: {ferrolb.io/bgp-advertise: "false"}}
spec: {type: LoadBalancer, ports: [{port: 443, protocol: TCP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: shop, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.6], nodeName: node-a, conditions: {ready: true}}]
ports: [{port: 443, protocol: TCP}]
"#,
    );
    m
}

/// `ferrolb plugin ...` against the daemon; (success, stdout + stderr).
fn plugin_cmd(ns: &Netns, socket: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_ferrolb"));
    cmd.arg("plugin").args(args).arg("--socket").arg(socket);
    let out = cmd.output().expect("ferrolb plugin");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// FRR's count of UPDATE messages received from ferrolb.
fn updates_received(frr: &Frr) -> u64 {
    let v = frr.vtysh_json(&format!("show bgp neighbors {OURS} json")).expect("vtysh");
    v[OURS]["messageStats"]["updatesRecv"].as_u64().expect("updatesRecv")
}

fn valid_at_frr(frr: &Frr, prefix: &str) -> bool {
    frr.bgp_prefix(Family::Ipv4, prefix).map(|p| p.iter().any(|p| p.valid)).unwrap_or(false)
}

fn wasm(name: &str) -> String {
    format!("{}/{name}.wasm", ferrolb::policy::builtin::PLUGIN_DIR)
}

/// Hot swap on a daemon peered with FRR: swapping the allocator for an identical component and
/// the advertise policy for one with a per-service opt-out label changes, as seen from FRR, only
/// the opted-out service's route (one UPDATE), never the session; a plugin failing its smoke
/// cases, a plugin answering nonsense and one of an old contract are refused with the old one
/// still active; `--dry-run` shows the change without making it; rollback restores it.
#[test]
fn hot_swap_changes_only_what_the_new_policy_decides_and_never_the_session() {
    if skip_unless_root("hot_swap_changes_only_what_the_new_policy_decides_and_never_the_session") {
        return;
    }
    let flb = Netns::new("dswp-flb").expect("namespace");
    let peer = Netns::new("dswp-peer").expect("namespace");
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
    std::fs::write(&file, swap_manifests()).expect("write");
    let socket = dir.path().join("admin.sock");
    // Signed mode: only plugins signed by the operator's key load. Copies of the components
    // are signed in the temporary directory (signatures go beside them).
    let ferrolb_cli = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(args).output().expect("ferrolb");
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let key = dir.path().join("ops");
    ferrolb_cli(&["plugin", "keygen", "--out", key.to_str().unwrap()]);
    let copy = |name: &str, sign: bool| {
        let to = dir.path().join(format!("{name}.wasm"));
        std::fs::copy(wasm(name), &to).expect("copy");
        if sign {
            ferrolb_cli(&["plugin", "sign", "--key", &format!("{}.key", key.display()), to.to_str().unwrap()]);
        }
        to.to_string_lossy().into_owned()
    };
    let allocator = copy("ferrolb_allocator", true);
    let sloppy = copy("hostile_sloppy_advertise", true);
    let nonsense = copy("hostile_nonsense", true);
    let old_contract = copy("hostile_old_contract", true);
    let opt_out = copy("example_advertise_opt_out", true);
    let unsigned = dir.path().join("unsigned-opt-out.wasm");
    std::fs::copy(wasm("example_advertise_opt_out"), &unsigned).expect("copy");
    let mut cmd = run_command(&flb, dir.path(), &file, &socket, &[]);
    cmd.args(["--require-signed", "--trusted-keys"]).arg(format!("{}.pub", key.display()));
    cmd.args(["--metrics-address", "127.0.0.1:7472"]);
    let mut daemon = flb.spawn(cmd).expect("ferrolb run");
    // Allocation order is by service name: shop/api gets the first address.
    let (api, web) = ("198.51.100.0/32", "198.51.100.1/32");
    wait_for(Duration::from_secs(40), "FRR has both services' routes", || {
        if valid_at_frr(&frr, web) && valid_at_frr(&frr, api) { Ok(()) } else { Err("not yet".to_string()) }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    let sessions = || frr.bgp_summary().expect("summary").peer(Family::Ipv4, OURS).map(|p| p.connections_established);
    let established = sessions();
    std::thread::sleep(Duration::from_millis(500));
    let updates = updates_received(&frr);

    // The same allocator, as a new component from a file: nothing moves, nothing is re-sent.
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "allocator", &allocator]);
    assert!(ok, "{out}");
    assert!(out.contains("loaded:") && out.contains("no decision changes"), "{out}");
    // Refusals: smoke cases by name, nonsense answers, an old contract. The builtin stays.
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", unsigned.to_str().unwrap()]);
    assert!(!ok && out.contains("not signed"), "{out}");
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", &sloppy]);
    assert!(!ok && out.contains("smoke cases") && out.contains("peers-listed-limits-the-peers"), "{out}");
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", &nonsense]);
    assert!(!ok && out.contains("refused"), "{out}");
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", &old_contract]);
    assert!(!ok && out.contains("refused"), "{out}");
    let (ok, list) = plugin_cmd(&flb, &socket, &["list"]);
    assert!(ok, "{list}");
    let advertise_line = list.lines().find(|l| l.starts_with("advertise")).expect("advertise line").to_string();
    assert!(advertise_line.contains("ferrolb-advertise@"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("allocator") && l.contains("ferrolb-allocator@")), "{list}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(updates_received(&frr), updates, "no UPDATE for swaps that change nothing or were refused");

    // Dry run: the change is shown, not made.
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", &opt_out, "--dry-run"]);
    assert!(ok && out.contains(&format!("- route    upstream {api}")) && !out.contains(web), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(valid_at_frr(&frr, api));

    // The opt-out policy: only the labelled service's route goes, in one UPDATE.
    let (ok, out) = plugin_cmd(&flb, &socket, &["load", "advertise", &opt_out]);
    assert!(ok && out.contains("loaded: example-advertise-opt-out"), "{out}");
    wait_for(Duration::from_secs(10), "FRR withdrew the opted-out route", || {
        if valid_at_frr(&frr, api) { Err("still there".to_string()) } else { Ok(()) }
    })
    .expect("withdrawn");
    std::thread::sleep(Duration::from_millis(500));
    assert!(valid_at_frr(&frr, web), "the other route stays");
    assert_eq!(updates_received(&frr), updates + 1, "exactly one UPDATE (the withdrawal)");

    // Rollback: the default policy's decision comes back, in one more UPDATE.
    let (ok, out) = plugin_cmd(&flb, &socket, &["rollback", "advertise"]);
    assert!(ok && out.contains("rolled back: ferrolb-advertise@"), "{out}");
    wait_for(Duration::from_secs(10), "FRR has the route again", || {
        if valid_at_frr(&frr, api) { Ok(()) } else { Err("not yet".to_string()) }
    })
    .expect("re-announced");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(updates_received(&frr), updates + 2);
    assert_eq!(sessions(), established, "the session never reset");
    let s = frr.bgp_summary().expect("summary");
    assert!(s.peer(Family::Ipv4, OURS).expect("peer").is_established());
    let (_, list) = plugin_cmd(&flb, &socket, &["list"]);
    assert!(list.lines().any(|l| l.starts_with("advertise") && l.contains("example-advertise-opt-out")), "{list}");

    // The Prometheus endpoint: frr-k8s / MetalLB names, and the swaps counted.
    let out = flb
        .command("python3")
        .args([
            "-c",
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:7472/metrics').read().decode())",
        ])
        .output()
        .expect("scrape");
    let text = String::from_utf8_lossy(&out.stdout);
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has(&format!("frrk8s_bgp_session_up{{peer=\"{PEER}:179\",vrf=\"default\"}} 1")), "{text}");
    assert!(has("metallb_allocator_addresses_in_use_total{pool=\"public\"} 2"), "{text}");
    assert!(has("ferrolb_plugin_swaps_total{world=\"advertise\"} 2"), "{text}");
    assert!(has("ferrolb_plugin_rollbacks_total{world=\"advertise\"} 1"), "{text}");
    assert!(has("ferrolb_plugin_swaps_total{world=\"allocator\"} 1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ferrolb_plugin_calls_total{world=\"advertise\"")), "{text}");
    let sent = format!("frrk8s_bgp_updates_total{{peer=\"{PEER}:179\",vrf=\"default\"}} ");
    let ours: u64 =
        text.lines().find_map(|l| l.strip_prefix(sent.as_str())).and_then(|v| v.parse().ok()).expect("updates");
    assert_eq!(ours, updates_received(&frr), "our UPDATE count matches FRR's");

    stop(&mut daemon);
}

fn receive_manifests() -> String {
    format!(
        r#"apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: receive, namespace: frr-k8s-system}}
spec:
  bgp:
    routers:
    - asn: 64512
      neighbors:
      - address: {PEER}
        asn: 64513
        holdTime: 9s
        toReceive:
          allowed:
            mode: all
---
apiVersion: v1
kind: Node
metadata: {{name: node-a}}
status:
  addresses: [{{type: InternalIP, address: {OURS}}}]
  conditions: [{{type: Ready, status: "True"}}]
"#
    )
}

/// `--gtsm` (RFC 5082) against FRR's `ttl-security hops 1`: without it the session cannot come
/// up (our TTL-1 packets are dropped), with it the session is established; `--max-prefix 3`
/// against a peer sending 5 prefixes ends the session with a Cease "maximum number of prefixes
/// reached" (RFC 4486) that FRR reports.
#[test]
fn gtsm_and_max_prefix_protect_sessions_against_frr() {
    if skip_unless_root("gtsm_and_max_prefix_protect_sessions_against_frr") {
        return;
    }
    let flb = Netns::new("dgtsm-flb").expect("namespace");
    let peer = Netns::new("dgtsm-peer").expect("namespace");
    flb.veth("eth0", &peer, "eth0").expect("veth");
    flb.add_addr("eth0", &format!("{OURS}/24")).expect("addr");
    peer.add_addr("eth0", &format!("{PEER}/24")).expect("addr");
    let networks: String = (1..=5).map(|i| format!("  network 203.0.113.{i}/32\n")).collect();
    let frr = Frr::start(
        &peer,
        &[Daemon::Zebra, Daemon::Bgpd],
        &format!(
            "router bgp 64513\n bgp router-id {PEER}\n no bgp ebgp-requires-policy\n no bgp network import-check\n \
             neighbor {OURS} remote-as 64512\n neighbor {OURS} timers 3 9\n neighbor {OURS} timers connect 1\n \
             neighbor {OURS} ttl-security hops 1\n address-family ipv4 unicast\n{networks} exit-address-family\n"
        ),
    )
    .expect("FRR");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.yaml");
    std::fs::write(&file, receive_manifests()).expect("write");
    let socket = dir.path().join("admin.sock");
    let start = |extra: &[&str]| flb.spawn(run_command(&flb, dir.path(), &file, &socket, extra)).expect("ferrolb run");
    let established = || frr.bgp_summary().ok().and_then(|s| s.peer(Family::Ipv4, OURS).map(|p| p.is_established()));

    // Without GTSM our packets leave with TTL 1: FRR drops them, no session.
    let mut plain = start(&[]);
    std::thread::sleep(Duration::from_secs(4));
    assert_ne!(established(), Some(true), "a TTL-1 speaker must not pass FRR's ttl-security");
    plain.kill().expect("stop");
    let _ = std::fs::remove_file(&socket);

    // With GTSM the session comes up; FRR sends 5 prefixes and the fourth exceeds the limit.
    let mut daemon = start(&["--gtsm", "--max-prefix", "3"]);
    wait_for(Duration::from_secs(30), "FRR reports the max-prefix Cease from ferrolb", || {
        let v = frr.vtysh_json(&format!("show bgp neighbors {OURS} json")).map_err(|e| e.to_string())?;
        let n = &v[OURS];
        let text = n.to_string();
        if n["connectionsEstablished"].as_u64().unwrap_or(0) >= 1 && text.contains("Maximum Number of Prefixes Reached")
        {
            Ok(())
        } else {
            Err(text)
        }
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", frr.logs()));
    stop(&mut daemon);
}
