//! Lab: the sans-IO core behind a minimal test-only UDP driver, against FRR's bfdd in network
//! namespaces. Proves the wire format, the handshake, interval negotiation (as FRR sees our
//! packets), AdminDown propagation from FRR, and FRR's detection when we vanish.
//!
//! The endpoint runs inside its namespace as a child process: this test binary re-executes
//! itself there (`child_endpoint`, ignored unless `FLB_BFD_CHILD` is set) and reports state
//! changes to a file. The driver here is deliberately crude (std sockets, no IP_RECVTTL, so the
//! TTL is assumed 255): the daemon's real driver is not this crate's business.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ferrolb_bfd::manager::{Manager, PeerKey, RxMeta};
use ferrolb_bfd::profile::{HopMode, TX_TTL};
use ferrolb_bfd::session::{Action, SessionParams};
use ferrolb_lab::frr::{Daemon, Frr};
use ferrolb_lab::{Netns, skip_unless_root, wait_for, wait_until};

const FRR_ADDR: &str = "10.0.77.1";
const OUR_ADDR: &str = "10.0.77.2";

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The endpoint, run inside the namespace by the `frr_bfdd_interop_*` tests.
#[test]
#[ignore = "run by the frr_bfdd_interop tests inside a namespace"]
fn child_endpoint() {
    let Some(out) = env("FLB_BFD_CHILD") else { return };
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(out).expect("log file");
    let peer: IpAddr = FRR_ADDR.parse().unwrap();
    let local: IpAddr = OUR_ADDR.parse().unwrap();
    let hop = if env("FLB_BFD_HOP").as_deref() == Some("multi") { HopMode::MultiHop } else { HopMode::SingleHop };
    let rx = UdpSocket::bind(("0.0.0.0", hop.control_port())).expect("bind the control port");
    let tx = UdpSocket::bind(SocketAddr::new(local, 49152)).expect("bind source port");
    tx.set_ttl(u32::from(TX_TTL)).expect("ttl 255");
    let mut m = Manager::new(7);
    let params = SessionParams {
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(50),
        detect_mult: 5,
        ..SessionParams::default()
    };
    let key = PeerKey { peer, local, interface: None, vrf: None, hop };
    let id = m.add_session(Instant::now(), key, params, 254, None).expect("session");
    let start = Instant::now();
    let mut last_status = start;
    let mut buf = [0u8; 128];
    while start.elapsed() < Duration::from_secs(60) {
        while let Some(o) = m.poll_action() {
            match o.action {
                Action::Transmit(r) => {
                    let _ = tx.send_to(&r.to_bytes(), (peer, hop.control_port()));
                }
                Action::TransmitEcho(_) => {}
                Action::StateChanged { from, to, diag, .. } => {
                    writeln!(log, "STATE {from:?} {to:?} {diag:?}").unwrap();
                }
            }
        }
        let now = Instant::now();
        if now - last_status > Duration::from_millis(200) {
            last_status = now;
            let s = m.session(id).unwrap();
            writeln!(
                log,
                "STATUS {:?} {} {} {}",
                s.state(),
                s.tx_interval().as_millis(),
                s.detection_time().map_or(0, |d| d.as_millis()),
                s.polling()
            )
            .unwrap();
        }
        let wait = m.poll_timeout().map_or(Duration::from_millis(100), |t| t.saturating_duration_since(now));
        rx.set_read_timeout(Some(wait.max(Duration::from_millis(1)))).unwrap();
        if let Ok((n, src)) = rx.recv_from(&mut buf) {
            let meta = RxMeta { src: src.ip(), dst: local, interface: None, vrf: None, ttl: 255, hop };
            if let Err(e) = m.handle_control(Instant::now(), &meta, &buf[..n]) {
                writeln!(log, "ERR {e} from {src}").unwrap();
            }
        }
        m.handle_timeout(Instant::now());
    }
}

fn frr_conf(hop: HopMode, shutdown: bool) -> String {
    let multihop = if hop == HopMode::MultiHop { " multihop" } else { "" };
    format!(
        "bfd\n peer {OUR_ADDR}{multihop} local-address {FRR_ADDR}\n  receive-interval 200\n  transmit-interval 100\n  \
         detect-multiplier 3\n  {}shutdown\n exit\nexit\n",
        if shutdown { "" } else { "no " }
    )
}

#[test]
fn frr_bfdd_interop_single_hop() {
    if skip_unless_root("frr_bfdd_interop_single_hop") {
        return;
    }
    interop(HopMode::SingleHop);
}

#[test]
fn frr_bfdd_interop_multi_hop() {
    if skip_unless_root("frr_bfdd_interop_multi_hop") {
        return;
    }
    interop(HopMode::MultiHop);
}

fn interop(hop: HopMode) {
    let r = Netns::new("bfr").expect("ns");
    let f = Netns::new("bff").expect("ns");
    r.veth("eth0", &f, "eth0").expect("veth");
    r.add_addr("eth0", &format!("{FRR_ADDR}/30")).expect("addr");
    f.add_addr("eth0", &format!("{OUR_ADDR}/30")).expect("addr");
    let frr = Frr::start(&r, &[Daemon::Zebra, Daemon::Bfdd], &frr_conf(hop, false)).expect("FRR");

    let dir = tempfile::tempdir().expect("tmp");
    let logf = dir.path().join("endpoint.log");
    let mut cmd = f.command(std::env::current_exe().expect("exe"));
    cmd.args(["child_endpoint", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("FLB_BFD_CHILD", &logf)
        .env("FLB_BFD_HOP", if hop == HopMode::MultiHop { "multi" } else { "single" })
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = f.spawn(cmd).expect("endpoint");
    let read = || std::fs::read_to_string(&logf).unwrap_or_default();

    // Both sides Up; FRR sees our intervals (after our Poll to the configured values).
    let peer = wait_for(Duration::from_secs(15), "FRR to see the session Up with our intervals", || {
        let peers = frr.bfd_peers().map_err(|e| e.to_string())?;
        match peers.into_iter().find(|p| p.peer.to_string() == OUR_ADDR) {
            Some(p) if p.is_up() && p.remote_transmit_interval_ms == 300 => Ok(p),
            other => Err(format!("{other:?}\nendpoint log:\n{}", read())),
        }
    })
    .expect("up");
    assert_eq!(peer.remote_receive_interval_ms, 50);
    assert_eq!(peer.remote_detect_multiplier, 5);
    assert_eq!(peer.multihop, hop == HopMode::MultiHop);
    wait_until(Duration::from_secs(5), "our side Up, negotiated", || {
        // TX = max(our 300, FRR's required 200); detection = FRR's mult 3 × max(our 50, FRR's 100).
        read().lines().rev().find(|l| l.starts_with("STATUS")) == Some("STATUS Up 300 300 false")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", read()));
    assert!(read().contains("STATE Down Init NoDiagnostic") || read().contains("STATE Down Up NoDiagnostic"));
    assert!(!read().contains("ERR"), "{}", read());

    // FRR shuts the peer down administratively: we go Down with diag 3 (neighbor signaled).
    frr.apply(&frr_conf(hop, true)).expect("shutdown");
    wait_until(Duration::from_secs(5), "our side Down after FRR's AdminDown", || {
        read().contains("STATE Up Down NeighborSignaledSessionDown")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", read()));
    frr.apply(&frr_conf(hop, false)).expect("no shutdown");
    wait_until(Duration::from_secs(10), "Up again", || {
        read().lines().filter(|l| l.starts_with("STATE") && l.contains(" Up ")).count() >= 2
            && frr.bfd_peers().is_ok_and(|p| p.iter().any(|p| p.is_up()))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", read()));
    // Let the Poll Sequence to the configured intervals finish, as FRR sees it.
    wait_until(Duration::from_secs(5), "FRR to see our 300 ms again", || {
        frr.bfd_peers().is_ok_and(|p| p.iter().any(|p| p.is_up() && p.remote_transmit_interval_ms == 300))
    })
    .expect("settled");
    std::thread::sleep(Duration::from_millis(500));

    // We vanish: FRR detects it (our mult 5 × max(FRR's rx 200, our tx 300) = 1.5 s).
    let gone = Instant::now();
    child.kill().expect("kill endpoint");
    wait_until(Duration::from_secs(5), "FRR to detect our silence", || {
        frr.bfd_peers().is_ok_and(|p| p.iter().any(|p| p.status == "down"))
    })
    .expect("down");
    let took = gone.elapsed();
    let p = frr.bfd_peers().expect("peers");
    assert_eq!(p[0].diagnostic, "control detection time expired", "{p:?}");
    assert!(took >= Duration::from_millis(1000), "not before the detection time: {took:?}");
    assert!(took <= Duration::from_millis(3000), "about the detection time: {took:?}");
    eprintln!("frr_bfdd_interop ({hop:?}): FRR detected our silence after {took:?} (detection time 1.5 s)");
}
