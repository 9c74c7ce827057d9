//! Lab: the daemon's BFD driver ([`ferrolb::bfd`]) against FRR's bfdd in network namespaces.
//!
//! Each ferrolb instance runs on its own thread that has entered the namespace (`setns`), with
//! a current-thread tokio runtime there, so every socket the driver opens belongs to that
//! namespace; the test talks to it through its [`BfdHandle`] from another runtime. Root only
//! (the tests skip loudly otherwise). Real-time assertions use tolerance bands.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use ferrolb::bfd::{
    BfdEvent, BfdHandle, BfdOptions, BfdProfile, BfdService, HopMode, PeerKey, PeerStatus, Profile, render_peers,
    render_peers_json,
};
use ferrolb_bfd::wire::{Diag, State};
use ferrolb_lab::frr::{BfdPeer, Daemon, Frr, parse_bfd_peers};
use ferrolb_lab::{Netns, skip_unless_root, wait_for, wait_until};
use tokio::sync::mpsc::UnboundedReceiver;

/// A ferrolb BFD service running inside a namespace.
struct Ferro {
    handle: Option<BfdHandle>,
    events: UnboundedReceiver<BfdEvent>,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ferro {
    fn start(ns: &Netns, options: BfdOptions) -> Ferro {
        let path = format!("/run/netns/{}", ns.name());
        let (tx, rx) = std_mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("namespace file");
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let started = BfdService::start(options);
                let ok = started.is_ok();
                tx.send(started.map_err(|e| e.to_string())).expect("report start");
                if ok {
                    let _ = stopped.await;
                }
            });
        });
        let (handle, events) = rx.recv().expect("driver thread").expect("BfdService::start");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Ferro { handle: Some(handle), events, rt, stop: Some(stop), thread: Some(thread) }
    }

    fn h(&self) -> &BfdHandle {
        self.handle.as_ref().expect("running")
    }

    fn add(&self, key: &PeerKey, profile: Profile) {
        self.rt.block_on(self.h().add_peer(key.clone(), profile)).expect("add_peer");
    }

    fn peers(&self) -> Vec<PeerStatus> {
        self.rt.block_on(self.h().peers()).expect("peers")
    }

    fn peer(&self) -> PeerStatus {
        self.peers().into_iter().next().expect("one session")
    }

    /// The next event within `timeout`.
    fn event(&mut self, timeout: Duration) -> Option<BfdEvent> {
        let ev = &mut self.events;
        self.rt.block_on(async { tokio::time::timeout(timeout, ev.recv()).await.ok().flatten() })
    }

    /// Waits for an event matching `want`, skipping others.
    fn wait_event(&mut self, timeout: Duration, what: &str, want: impl Fn(&BfdEvent) -> bool) -> BfdEvent {
        let end = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.event(left) {
                Some(e) if want(&e) => return e,
                Some(e) => seen.push(e),
                None => break,
            }
        }
        panic!("no {what} within {timeout:?}; other events: {seen:?}; peers: {:#?}", self.peers());
    }
}

impl Drop for Ferro {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), h.shutdown()).await });
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const FRR_ADDR: &str = "10.0.88.1";
const OUR_ADDR: &str = "10.0.88.2";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn profile(rx: u32, tx: u32, mult: u32) -> Profile {
    BfdProfile {
        receive_interval: Some(rx),
        transmit_interval: Some(tx),
        detect_multiplier: Some(mult),
        ..Default::default()
    }
    .resolve()
    .expect("valid profile")
}

fn key(peer: &str, local: &str, hop: HopMode) -> PeerKey {
    PeerKey { peer: ip(peer), local: ip(local), interface: None, vrf: None, hop }
}

/// Two namespaces on a veth pair: FRR (bfdd) on one side, ferrolb on the other.
struct Pair {
    frr: Frr,
    ours: Netns,
    theirs: Netns,
}

fn frr_peer_conf(peer: &str, local: &str, body: &str) -> String {
    format!("bfd\n peer {peer} local-address {local}\n{body} exit\nexit\n")
}

fn pair(frr_body: &str) -> Pair {
    let theirs = Netns::new("bfrr").expect("ns");
    let ours = Netns::new("bflb").expect("ns");
    theirs.veth("eth0", &ours, "eth0").expect("veth");
    theirs.add_addr("eth0", &format!("{FRR_ADDR}/24")).expect("addr");
    ours.add_addr("eth0", &format!("{OUR_ADDR}/24")).expect("addr");
    let frr =
        Frr::start(&theirs, &[Daemon::Zebra, Daemon::Bfdd], &frr_peer_conf(OUR_ADDR, FRR_ADDR, frr_body)).expect("FRR");
    Pair { frr, ours, theirs }
}

fn frr_peer(frr: &Frr, peer: &str) -> Result<BfdPeer, String> {
    let peers = frr.bfd_peers().map_err(|e| e.to_string())?;
    peers.into_iter().find(|p| p.peer.to_string() == peer).ok_or_else(|| "FRR has no such peer".to_owned())
}

fn wait_frr_status(frr: &Frr, peer: &str, status: &str, timeout: Duration) -> BfdPeer {
    wait_for(timeout, &format!("FRR to see {peer} {status}"), || match frr_peer(frr, peer) {
        Ok(p) if p.status == status => Ok(p),
        Ok(p) => Err(format!("{p:?}")),
        Err(e) => Err(e),
    })
    .expect("FRR status")
}

fn is_up(e: &BfdEvent) -> bool {
    matches!(e, BfdEvent::Up { .. })
}

fn is_down(e: &BfdEvent) -> bool {
    matches!(e, BfdEvent::Down { .. })
}

/// ferrolb active, FRR passive; FRR wants the faster timers, ferrolb the slower: both sides
/// run at ferrolb's (the slower) rates, as FRR's JSON and our status and packet rates show.
#[test]
fn active_ferrolb_passive_frr_timers_negotiate_to_the_slower_side() {
    if skip_unless_root("active_ferrolb_passive_frr_timers_negotiate_to_the_slower_side") {
        return;
    }
    let started = Instant::now();
    let p = pair("  passive-mode\n  receive-interval 100\n  transmit-interval 50\n  detect-multiplier 3\n");
    let mut f = Ferro::start(&p.ours, BfdOptions { seed: Some(1), ..Default::default() });
    let k = key(FRR_ADDR, OUR_ADDR, HopMode::SingleHop);
    f.add(&k, profile(300, 200, 4));
    f.wait_event(Duration::from_secs(10), "Up", is_up);
    let fp = wait_for(Duration::from_secs(5), "FRR to see our settled timers", || match frr_peer(&p.frr, OUR_ADDR) {
        Ok(x) if x.is_up() && x.remote_transmit_interval_ms == 200 => Ok(x),
        other => Err(format!("{other:?}")),
    })
    .expect("FRR Up");
    assert_eq!((fp.remote_receive_interval_ms, fp.remote_detect_multiplier), (300, 4), "{fp:?}");
    // Let Poll sequences settle, then look at our side.
    std::thread::sleep(Duration::from_millis(1500));
    let s = f.peer();
    assert_eq!(s.state, State::Up);
    assert_eq!(s.remote_id, {
        // FRR's JSON carries no remote id parser field: check against the raw JSON instead.
        let v = p.frr.vtysh_json("show bfd peers json").expect("json");
        v[0]["id"].as_u64().expect("id") as u32
    });
    assert_eq!(s.remote.receive_interval, Duration::from_millis(100));
    assert_eq!(s.remote.transmit_interval, Duration::from_millis(50));
    assert_eq!(s.remote.detect_multiplier, 3);
    // §6.8.2: our TX = max(our 200, FRR's RX 100); §6.8.4: detection = FRR's mult 3 × max(our
    // RX 300, FRR's TX 50).
    assert_eq!(s.transmit_interval, Duration::from_millis(200));
    assert_eq!(s.detection_time, Some(Duration::from_millis(900)));

    // Packet rates over 3 s: FRR must send at our 300 ms (not its 50 ms), we at 200 ms;
    // jitter makes intervals 75–100 % of nominal.
    let c0 = f.peer().counters;
    std::thread::sleep(Duration::from_secs(3));
    let c1 = f.peer().counters;
    let (rx, tx) = (c1.control_in - c0.control_in, c1.control_out - c0.control_out);
    assert!((9..=15).contains(&rx), "FRR sent {rx} packets in 3 s; at 300 ms expect ~11");
    assert!((14..=21).contains(&tx), "we sent {tx} packets in 3 s; at 200 ms expect ~17");

    // The views: FRR-shaped JSON (read back with the FRR parser) and text.
    let peers = f.peers();
    let json = render_peers_json(&peers, false);
    let ours = parse_bfd_peers(&json).expect("our JSON parses as FRR's");
    assert_eq!(ours.len(), 1);
    let o = &ours[0];
    assert_eq!((o.peer, o.local), (ip(FRR_ADDR), Some(ip(OUR_ADDR))));
    assert_eq!(o.status, "up");
    assert_eq!((o.receive_interval_ms, o.transmit_interval_ms, o.detect_multiplier), (300, 200, 4));
    assert_eq!((o.remote_receive_interval_ms, o.remote_transmit_interval_ms, o.remote_detect_multiplier), (100, 50, 3));
    assert_eq!(json[0]["detection-time"], 900);
    let text = render_peers(&peers, false);
    assert!(text.contains(&format!("\tpeer {FRR_ADDR} local-address {OUR_ADDR} vrf default\n")), "{text}");
    assert!(text.contains("\t\tStatus: up\n") && text.contains("\t\t\tDetection time: 900ms\n"), "{text}");
    let brief = render_peers(&peers, true);
    assert!(brief.starts_with("Session count: 1\nSessionId  LocalAddress"), "{brief}");
    assert!(brief.lines().nth(3).is_some_and(|l| l.starts_with(&s.id.to_string()) && l.contains("up")), "{brief}");
    let counters = f.rt.block_on(f.h().counters()).expect("counters");
    assert_eq!((counters.sessions, counters.bfd.session_up, counters.bfd.up_events), (1, 1, 1));
    assert_eq!(counters.send_errors, 0);
    eprintln!("negotiation test took {:?}", started.elapsed());
}

/// ferrolb passive, FRR active: ferrolb is silent until FRR speaks, then comes Up; FRR's
/// AdminDown takes us Down without asking BGP to reset (RFC 5882 §3.2).
#[test]
fn passive_ferrolb_active_frr_and_admin_down() {
    if skip_unless_root("passive_ferrolb_active_frr_and_admin_down") {
        return;
    }
    let body = |shutdown: bool| {
        format!(
            "  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n  {}shutdown\n",
            if shutdown { "" } else { "no " }
        )
    };
    let p = pair(&body(true));
    let mut f = Ferro::start(&p.ours, BfdOptions { seed: Some(2), ..Default::default() });
    let k = key(FRR_ADDR, OUR_ADDR, HopMode::SingleHop);
    let passive = BfdProfile {
        receive_interval: Some(100),
        transmit_interval: Some(100),
        passive_mode: Some(true),
        ..Default::default()
    }
    .resolve()
    .expect("profile");
    f.add(&k, passive);
    // FRR's peer is shut down: it sends AdminDown packets at 1/s. A passive session may answer
    // only once it has heard the peer; AdminDown from the peer does not bring it up.
    std::thread::sleep(Duration::from_millis(1500));
    let s = f.peer();
    assert!(s.passive);
    assert_ne!(s.state, State::Up);
    p.frr.apply(&frr_peer_conf(OUR_ADDR, FRR_ADDR, &body(false))).expect("no shutdown");
    f.wait_event(Duration::from_secs(10), "Up", is_up);
    wait_frr_status(&p.frr, OUR_ADDR, "up", Duration::from_secs(5));
    assert!(render_peers(&f.peers(), false).contains("\t\tPassive mode\n"));

    p.frr.apply(&frr_peer_conf(OUR_ADDR, FRR_ADDR, &body(true))).expect("shutdown");
    let ev = f.wait_event(Duration::from_secs(5), "Down", is_down);
    let BfdEvent::Down { diag, remote_admin_down, .. } = &ev else { unreachable!() };
    assert_eq!(*diag, Diag::NeighborSignaledSessionDown);
    assert!(*remote_admin_down, "{ev:?}");
    assert!(!ev.tears_down_client(), "the peer's AdminDown must not reset BGP");
    let s = f.peer();
    assert_eq!((s.state, s.remote_state), (State::Down, State::AdminDown));
    let json = render_peers_json(&[s], false);
    assert_eq!(
        (&json[0]["status"], &json[0]["diagnostic"]),
        (&"down".into(), &"neighbor signaled session down".into())
    );
}

/// ferrolb active, FRR active (the usual configuration) at 50 ms × 3; traffic silently dropped
/// with nftables: ferrolb declares Down (diag 1) within the detection time (asserted ≤ 2×),
/// then Up again when the drop is lifted. Then removing the peer sends AdminDown, which FRR
/// reports.
#[test]
fn silent_drop_detection_recovery_and_removal() {
    if skip_unless_root("silent_drop_detection_recovery_and_removal") {
        return;
    }
    let p = pair("  receive-interval 50\n  transmit-interval 50\n  detect-multiplier 3\n");
    let mut f = Ferro::start(&p.ours, BfdOptions { seed: Some(3), ..Default::default() });
    let k = key(FRR_ADDR, OUR_ADDR, HopMode::SingleHop);
    f.add(&k, profile(50, 50, 3));
    f.wait_event(Duration::from_secs(10), "Up", is_up);
    wait_until(Duration::from_secs(5), "50 ms timers in use", || {
        let s = f.peer();
        s.transmit_interval == Duration::from_millis(50) && s.detection_time == Some(Duration::from_millis(150))
    })
    .expect("settled");
    std::thread::sleep(Duration::from_millis(300));

    let drop_rules = "table inet bfdcut {\n chain in { type filter hook input priority -300; iifname \"eth0\" drop; }\n \
                      chain out { type filter hook output priority -300; oifname \"eth0\" drop; }\n}";
    let cut = Instant::now();
    p.ours.nft(drop_rules).expect("drop");
    let ev = f.wait_event(Duration::from_secs(2), "Down", is_down);
    let took = cut.elapsed();
    let BfdEvent::Down { diag, remote_admin_down, silent_for, at, .. } = &ev else { unreachable!() };
    let detect = Duration::from_millis(150);
    let took_at = at.duration_since(cut);
    eprintln!(
        "silent drop: Down after {took_at:?} (seen {took:?}), silent for {silent_for:?}; detection time {detect:?}"
    );
    assert_eq!(*diag, Diag::ControlDetectionTimeExpired);
    assert!(!remote_admin_down && ev.tears_down_client());
    assert!(took_at <= detect * 2, "Down after {took_at:?}, more than 2 × {detect:?}");
    let silent = silent_for.expect("had heard the peer");
    assert!(silent >= detect, "declared Down after only {silent:?} of silence");
    assert!(silent <= detect + Duration::from_millis(50), "silence {silent:?} well past the detection time");

    p.ours.nft("delete table inet bfdcut").expect("undrop");
    f.wait_event(Duration::from_secs(10), "Up again", is_up);
    wait_frr_status(&p.frr, OUR_ADDR, "up", Duration::from_secs(5));
    let c = f.rt.block_on(f.h().counters()).expect("counters");
    assert_eq!((c.bfd.up_events, c.bfd.down_events, c.bfd.session_up), (2, 1, 1));

    // Removal: one AdminDown packet; FRR reports the peer's diagnostic as administratively down.
    std::thread::sleep(Duration::from_millis(300));
    f.rt.block_on(f.h().remove_peer(&k)).expect("remove");
    let fp = wait_frr_status(&p.frr, OUR_ADDR, "down", Duration::from_secs(2));
    let raw = p.frr.vtysh_json("show bfd peers json").expect("json");
    assert_eq!(raw[0]["remote-diagnostic"], "administratively down", "{raw}");
    assert_eq!(fp.diagnostic, "neighbor signaled session down", "{fp:?}");
    assert!(f.peers().is_empty());
    assert!(f.rt.block_on(f.h().remove_peer(&k)).is_err(), "already removed");
}

/// Multi-hop over two routers (port 4784): the peer's packets arrive with TTL 253. With
/// `minimumTtl` 254 they are refused (never Up, refusals counted); with 253 the session comes
/// Up and FRR sees a multi-hop peer.
#[test]
fn multi_hop_with_minimum_ttl() {
    if skip_unless_root("multi_hop_with_minimum_ttl") {
        return;
    }
    let frr_ns = Netns::new("mfrr").expect("ns");
    let r1 = Netns::new("mr1").expect("ns");
    let r2 = Netns::new("mr2").expect("ns");
    let ours = Netns::new("mflb").expect("ns");
    ours.veth("eth0", &r1, "left").expect("veth");
    r1.veth("right", &r2, "left").expect("veth");
    r2.veth("right", &frr_ns, "eth0").expect("veth");
    ours.add_addr("eth0", "10.1.1.2/24").expect("addr");
    r1.add_addr("left", "10.1.1.1/24").expect("addr");
    r1.add_addr("right", "10.1.2.1/24").expect("addr");
    r2.add_addr("left", "10.1.2.2/24").expect("addr");
    r2.add_addr("right", "10.1.3.1/24").expect("addr");
    frr_ns.add_addr("eth0", "10.1.3.2/24").expect("addr");
    r1.enable_forwarding().expect("fwd");
    r2.enable_forwarding().expect("fwd");
    ours.add_route("default", "10.1.1.1").expect("route");
    r1.add_route("10.1.3.0/24", "10.1.2.2").expect("route");
    r2.add_route("10.1.1.0/24", "10.1.2.1").expect("route");
    frr_ns.add_route("default", "10.1.3.1").expect("route");
    let conf = "bfd\n peer 10.1.1.2 multihop local-address 10.1.3.2\n  receive-interval 100\n  \
                transmit-interval 100\n  minimum-ttl 250\n exit\nexit\n";
    let frr = Frr::start(&frr_ns, &[Daemon::Zebra, Daemon::Bfdd], conf).expect("FRR");
    let mut f = Ferro::start(&ours, BfdOptions { seed: Some(4), ..Default::default() });
    let k = key("10.1.3.2", "10.1.1.2", HopMode::MultiHop);
    let strict = BfdProfile {
        receive_interval: Some(100),
        transmit_interval: Some(100),
        minimum_ttl: Some(254),
        ..Default::default()
    };
    f.add(&k, strict.resolve().expect("profile"));
    std::thread::sleep(Duration::from_millis(3000));
    let s = f.peer();
    assert_ne!(s.state, State::Up, "packets with TTL 253 must be refused at minimumTtl 254");
    assert!(s.counters.rx_errors >= 2, "FRR's packets refused and counted: {:?}", s.counters);
    assert_eq!(s.counters.control_in, 0);
    f.rt.block_on(f.h().remove_peer(&k)).expect("remove");

    let relaxed = BfdProfile { minimum_ttl: Some(253), ..strict };
    f.add(&k, relaxed.resolve().expect("profile"));
    f.wait_event(Duration::from_secs(10), "multi-hop Up", is_up);
    let fp = wait_frr_status(&frr, "10.1.1.2", "up", Duration::from_secs(5));
    assert!(fp.multihop);
    let s = f.peer();
    assert_eq!((s.key.hop, s.minimum_ttl), (HopMode::MultiHop, 253));
    let text = render_peers(&[s], false);
    assert!(text.contains("\tpeer 10.1.3.2 multihop local-address 10.1.1.2 vrf default\n"), "{text}");
    assert!(text.contains("\t\tMinimum TTL: 253\n"), "{text}");
}

/// IPv6 single hop, and two sessions on one driver demultiplexed by discriminator.
#[test]
fn ipv6_and_two_sessions() {
    if skip_unless_root("ipv6_and_two_sessions") {
        return;
    }
    let theirs = Netns::new("6frr").expect("ns");
    let ours = Netns::new("6flb").expect("ns");
    theirs.veth("eth0", &ours, "eth0").expect("veth");
    theirs.add_addr("eth0", "2001:db8:88::1/64").expect("addr");
    theirs.add_addr("eth0", "10.0.89.1/24").expect("addr");
    ours.add_addr("eth0", "2001:db8:88::2/64").expect("addr");
    ours.add_addr("eth0", "10.0.89.2/24").expect("addr");
    let conf = "bfd\n peer 2001:db8:88::2 local-address 2001:db8:88::1\n  receive-interval 100\n  \
                transmit-interval 100\n exit\n peer 10.0.89.2 local-address 10.0.89.1\n  receive-interval 100\n  \
                transmit-interval 100\n exit\nexit\n";
    let frr = Frr::start(&theirs, &[Daemon::Zebra, Daemon::Bfdd], conf).expect("FRR");
    let mut f = Ferro::start(&ours, BfdOptions { seed: Some(5), ..Default::default() });
    f.add(&key("2001:db8:88::1", "2001:db8:88::2", HopMode::SingleHop), profile(100, 100, 3));
    f.add(&key("10.0.89.1", "10.0.89.2", HopMode::SingleHop), profile(100, 100, 3));
    f.wait_event(Duration::from_secs(10), "first Up", is_up);
    f.wait_event(Duration::from_secs(10), "second Up", is_up);
    wait_frr_status(&frr, "2001:db8:88::2", "up", Duration::from_secs(5));
    wait_frr_status(&frr, "10.0.89.2", "up", Duration::from_secs(5));
    let peers = f.peers();
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.state == State::Up && p.counters.rx_errors == 0), "{peers:#?}");
    assert_ne!(peers[0].source_port, peers[1].source_port, "unique source ports");
    assert!(peers.iter().all(|p| (49152..=65535).contains(&p.source_port)));
}

/// Echo (RFC 5880 §6.4, RFC 5881 §4) against FRR bfdd: FRR advertises a Required Min Echo RX, our
/// echo packets (addressed to ourselves, sent to FRR) come back through FRR's kernel forwarding,
/// and the session runs the echo function at the profile's interval. Dropping only the echo
/// packets in FRR's forwarding path (control packets still flow) makes ferrolb declare Down with
/// diagnostic 2, "echo function failed".
#[test]
fn echo_mode_against_frr_loops_back_and_echo_loss_is_detected() {
    if skip_unless_root("echo_mode_against_frr_loops_back_and_echo_loss_is_detected") {
        return;
    }
    let p = pair("  echo receive-interval 50\n");
    p.theirs.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
    for key in ["net.ipv4.conf.all.accept_local", "net.ipv4.conf.eth0.accept_local"] {
        p.ours.sysctl(key, "1").expect("accept_local");
    }
    for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.eth0.rp_filter"] {
        p.ours.sysctl(key, "0").expect("rp_filter");
        p.theirs.sysctl(key, "0").expect("rp_filter");
    }
    let mut f = Ferro::start(&p.ours, BfdOptions { seed: Some(9), echo: true, ..Default::default() });
    let k = key(FRR_ADDR, OUR_ADDR, HopMode::SingleHop);
    let mut prof = BfdProfile {
        receive_interval: Some(300),
        transmit_interval: Some(300),
        detect_multiplier: Some(3),
        echo_interval: Some(50),
        echo_mode: Some(true),
        ..Default::default()
    }
    .resolve()
    .expect("profile");
    prof.echo_mode = true;
    f.add(&k, prof);
    f.wait_event(Duration::from_secs(10), "Up", is_up);
    let s = wait_for(Duration::from_secs(10), "echo packets looping", || {
        let s = f.peer();
        if s.echo_interval.is_some() && s.counters.echo_in >= 10 { Ok(s) } else { Err(format!("{s:#?}")) }
    })
    .expect("echo running");
    eprintln!("echo: interval {:?}, {} out, {} back", s.echo_interval, s.counters.echo_out, s.counters.echo_in);
    assert!(s.counters.echo_out >= s.counters.echo_in);

    // Echo lost, control still flowing: Down with "echo function failed".
    p.theirs
        .nft(
            "table inet echocut {\n chain loopback { type filter hook forward priority -300; udp dport 3785 drop; }\n}",
        )
        .expect("drop echo");
    let ev = f.wait_event(Duration::from_secs(3), "Down", is_down);
    let BfdEvent::Down { diag, .. } = &ev else { unreachable!() };
    assert_eq!(*diag, Diag::EchoFunctionFailed, "{ev:?}");
    p.theirs.nft("delete table inet echocut").expect("undrop");
    f.wait_event(Duration::from_secs(10), "Up again", is_up);
}
