//! The session manager: demultiplexing, TTL rules, discriminators, counters, removal, driven
//! as two daemons wired back to back on a fake clock.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_bfd::manager::{Manager, ManagerError, Output, PeerKey, RxMeta, SessionId};
use ferrolb_bfd::profile::{HopMode, TtlError};
use ferrolb_bfd::session::{Action, SessionError, SessionParams};
use ferrolb_bfd::wire::{Diag, EchoRepr, Repr, State, WireError};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn key(local: u8, peer: u8, hop: HopMode) -> PeerKey {
    PeerKey { peer: ip(peer), local: ip(local), interface: None, vrf: None, hop }
}

fn meta(src: IpAddr, dst: IpAddr, hop: HopMode, ttl: u8) -> RxMeta {
    RxMeta { src, dst, interface: Some("veth0".into()), vrf: None, ttl, hop }
}

/// Daemons indexed by their address; packets go to the daemon owning `key.peer`.
struct Net {
    now: Instant,
    nodes: Vec<(IpAddr, Manager)>,
    inflight: Vec<(Instant, IpAddr, RxMeta, Vec<u8>)>,
    ttl: u8,
    down: HashSet<IpAddr>,
    events: Vec<(Instant, IpAddr, SessionId, Action)>,
    errors: Vec<ManagerError>,
}

impl Net {
    fn new(now: Instant, addrs: &[u8]) -> Net {
        Net {
            now,
            nodes: addrs.iter().map(|a| (ip(*a), Manager::new(u64::from(*a)))).collect(),
            inflight: Vec::new(),
            ttl: 255,
            down: HashSet::new(),
            events: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn node(&mut self, a: u8) -> &mut Manager {
        &mut self.nodes.iter_mut().find(|(x, _)| *x == ip(a)).unwrap().1
    }

    fn send(&mut self, from: IpAddr, out: Output) {
        match out.action {
            Action::Transmit(r) => {
                if !self.down.contains(&from) {
                    let m = meta(out.key.local, out.key.peer, out.key.hop, self.ttl);
                    self.inflight.push((self.now + Duration::from_millis(1), out.key.peer, m, r.to_bytes()));
                }
            }
            a => self.events.push((self.now, from, out.id, a)),
        }
    }

    fn drain(&mut self) {
        let mut outs = Vec::new();
        for (addr, m) in self.nodes.iter_mut() {
            while let Some(o) = m.poll_action() {
                outs.push((*addr, o));
            }
        }
        for (a, o) in outs {
            self.send(a, o);
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.drain();
            let next =
                self.nodes.iter().filter_map(|(_, m)| m.poll_timeout()).chain(self.inflight.iter().map(|x| x.0)).min();
            let Some(t) = next.filter(|t| *t <= until) else { break };
            self.now = t;
            let due: Vec<_> = self.inflight.iter().filter(|x| x.0 <= t).cloned().collect();
            self.inflight.retain(|x| x.0 > t);
            for (_, to, m, bytes) in due {
                let now = self.now;
                if let Some((_, mgr)) = self.nodes.iter_mut().find(|(a, _)| *a == to)
                    && let Err(e) = mgr.handle_control(now, &m, &bytes)
                {
                    self.errors.push(e);
                }
            }
            for (_, m) in self.nodes.iter_mut() {
                m.handle_timeout(t);
            }
        }
        self.now = until;
    }
}

fn fast() -> SessionParams {
    SessionParams {
        desired_min_tx: Duration::from_millis(50),
        required_min_rx: Duration::from_millis(50),
        ..SessionParams::default()
    }
}

#[test]
fn two_daemons_come_up_and_count() {
    let t0 = Instant::now();
    let mut net = Net::new(t0, &[1, 2]);
    let a = net.node(1).add_session(t0, key(1, 2, HopMode::SingleHop), fast(), 254, None).unwrap();
    let b = net.node(2).add_session(t0, key(2, 1, HopMode::SingleHop), fast(), 254, None).unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(net.errors.is_empty(), "{:?}", net.errors);
    assert_eq!(net.node(1).session(a).unwrap().state(), State::Up);
    assert_eq!(net.node(2).session(b).unwrap().state(), State::Up);
    assert_eq!(net.node(1).session(a).unwrap().remote_discriminator(), b.discriminator());
    let ca = net.node(1).counters(a).unwrap();
    let cb = net.node(2).counters(b).unwrap();
    assert_eq!((ca.up_events, ca.down_events, ca.session_up), (1, 0, 1));
    assert!(ca.control_out > 150, "50 ms for 10 s: {}", ca.control_out);
    // Everything sent was received, except what is still on the wire.
    let in_flight_to_b = net.inflight.iter().filter(|x| x.1 == ip(2)).count() as u64;
    assert_eq!(ca.control_out, cb.control_in + in_flight_to_b);
    assert_eq!(net.node(1).totals().control_out, ca.control_out);
    assert_eq!(net.node(1).totals().session_up, 1);
    // The BGP-facing signal: one StateChanged to Up per side.
    let ups = net.events.iter().filter(|e| matches!(e.3, Action::StateChanged { to: State::Up, .. })).count();
    assert_eq!(ups, 2);

    // Node 2 dies silently: node 1 detects it (diag 1), counters follow.
    net.down.insert(ip(2));
    net.run_for(Duration::from_secs(2));
    let s = net.node(1).session(a).unwrap();
    assert_eq!((s.state(), s.local_diag()), (State::Down, Diag::ControlDetectionTimeExpired));
    let ca = net.node(1).counters(a).unwrap();
    assert_eq!((ca.up_events, ca.down_events, ca.session_up), (1, 1, 0));
    assert_eq!(net.node(1).totals().session_up, 0);
    let down = net.events.iter().find(|e| matches!(e.3, Action::StateChanged { to: State::Down, .. })).unwrap();
    assert_eq!(down.1, ip(1));
}

#[test]
fn demultiplexes_several_peers() {
    let t0 = Instant::now();
    let mut net = Net::new(t0, &[1, 2, 3]);
    // Node 1 talks to 2 and 3; node 1's session for 3 is configured for any interface, the
    // one for 2 for "veth0" exactly.
    let mut k12 = key(1, 2, HopMode::SingleHop);
    k12.interface = Some("veth0".into());
    let a2 = net.node(1).add_session(t0, k12, fast(), 254, None).unwrap();
    let a3 = net.node(1).add_session(t0, key(1, 3, HopMode::SingleHop), fast(), 254, None).unwrap();
    assert_ne!(a2, a3);
    let b = net.node(2).add_session(t0, key(2, 1, HopMode::SingleHop), fast(), 254, None).unwrap();
    let c = net.node(3).add_session(t0, key(3, 1, HopMode::SingleHop), fast(), 254, None).unwrap();
    net.run_for(Duration::from_secs(3));
    assert!(net.errors.is_empty(), "{:?}", net.errors);
    let n1 = net.node(1);
    assert_eq!(n1.session(a2).unwrap().remote_discriminator(), b.discriminator());
    assert_eq!(n1.session(a3).unwrap().remote_discriminator(), c.discriminator());
    assert_eq!(n1.totals().session_up, 2);
    assert_eq!(n1.ids().count(), 2);
    assert_eq!(n1.find(&key(1, 3, HopMode::SingleHop)), Some(a3));
}

fn down_packet(my: u32, your: u32) -> Vec<u8> {
    Repr {
        diag: Diag::NoDiagnostic,
        state: if your == 0 { State::Down } else { State::Init },
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: my,
        your_discriminator: your,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
        auth: None,
    }
    .to_bytes()
}

#[test]
fn rejections() {
    let t0 = Instant::now();
    let mut m = Manager::new(1);
    let s = m.add_session(t0, key(1, 2, HopMode::SingleHop), fast(), 254, None).unwrap();
    let mh = m.add_session(t0, key(1, 9, HopMode::MultiHop), fast(), 10, None).unwrap();
    let good = meta(ip(2), ip(1), HopMode::SingleHop, 255);

    assert_eq!(m.add_session(t0, key(1, 2, HopMode::SingleHop), fast(), 254, None), Err(ManagerError::Duplicate(s)));
    assert_eq!(m.handle_control(t0, &good, &[1, 2, 3]), Err(ManagerError::Wire(WireError::Truncated { len: 3 })));
    assert_eq!(m.handle_control(t0, &good, &down_packet(77, 12345)), Err(ManagerError::UnknownDiscriminator(12345)));
    let stranger = meta(ip(5), ip(1), HopMode::SingleHop, 255);
    assert_eq!(
        m.handle_control(t0, &stranger, &down_packet(77, 0)),
        Err(ManagerError::NoSession { peer: ip(5), local: ip(1), hop: HopMode::SingleHop })
    );
    // Right discriminator, wrong source.
    assert_eq!(
        m.handle_control(t0, &stranger, &down_packet(77, s.discriminator())),
        Err(ManagerError::PeerMismatch(s))
    );
    // GTSM: single hop needs TTL 255.
    let far = meta(ip(2), ip(1), HopMode::SingleHop, 254);
    assert_eq!(
        m.handle_control(t0, &far, &down_packet(77, 0)),
        Err(ManagerError::Ttl(TtlError::SingleHop { got: 254 }))
    );
    // Multi-hop: TTL ≥ minimumTtl (10).
    let mh9 = meta(ip(9), ip(1), HopMode::MultiHop, 9);
    assert_eq!(
        m.handle_control(t0, &mh9, &down_packet(88, 0)),
        Err(ManagerError::Ttl(TtlError::BelowMinimum { got: 9, minimum: 10 }))
    );
    let mh10 = meta(ip(9), ip(1), HopMode::MultiHop, 10);
    assert_eq!(m.handle_control(t0, &mh10, &down_packet(88, 0)), Ok(mh));
    // A packet for the multi-hop session that arrived on the single-hop port.
    let wrong_port = meta(ip(9), ip(1), HopMode::SingleHop, 255);
    assert!(m.handle_control(t0, &wrong_port, &down_packet(88, 0)).is_err());
    // Accepted.
    assert_eq!(m.handle_control(t0, &good, &down_packet(77, 0)), Ok(s));
    assert_eq!(m.session(s).unwrap().state(), State::Init);
    // Echo: unknown discriminator, garbage, inactive echo function.
    assert_eq!(
        m.handle_echo(t0, &EchoRepr { discriminator: 4, sequence: 1 }.to_bytes()),
        Err(ManagerError::UnknownDiscriminator(4))
    );
    assert_eq!(m.handle_echo(t0, b"nonsense"), Err(ManagerError::Wire(WireError::BadEcho)));
    assert_eq!(
        m.handle_echo(t0, &EchoRepr { discriminator: s.discriminator(), sequence: 1 }.to_bytes()),
        Err(ManagerError::Session { id: s, error: SessionError::EchoInactive })
    );
    let totals = m.totals();
    assert_eq!(totals.control_in, 2);
    assert_eq!(totals.rx_errors, 10);
    assert_eq!(m.counters(s).unwrap().rx_errors, 3, "peer mismatch, TTL, echo");
}

#[test]
fn discriminators_are_unique_and_multihop_has_no_echo() {
    let t0 = Instant::now();
    let mut m = Manager::new(42);
    let mut seen = HashSet::new();
    let echo = SessionParams { echo_interval: Some(Duration::from_millis(50)), ..fast() };
    for i in 0..2000u32 {
        let peer = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i));
        let hop = if i % 2 == 0 { HopMode::SingleHop } else { HopMode::MultiHop };
        let k = PeerKey { peer, local: ip(1), interface: None, vrf: None, hop };
        let id = m.add_session(t0, k, echo.clone(), 254, None).unwrap();
        assert!(seen.insert(id.discriminator()));
        let want = (hop == HopMode::SingleHop).then_some(Duration::from_millis(50));
        assert_eq!(m.session(id).unwrap().params().echo_interval, want);
    }
    // Same seed, same discriminators (replayable).
    let mut m2 = Manager::new(42);
    let k = PeerKey {
        peer: IpAddr::V4(Ipv4Addr::from(0x0a01_0000)),
        local: ip(1),
        interface: None,
        vrf: None,
        hop: HopMode::SingleHop,
    };
    let first = m2.add_session(t0, k.clone(), fast(), 254, None).unwrap();
    assert_eq!(m.find(&k), Some(first));
    // Timers aggregate: every active session wants to send its first packet now.
    assert_eq!(m.poll_timeout(), m.ids().filter_map(|id| m.session(id).unwrap().poll_timeout()).min());
}

#[test]
fn removal_tells_the_peer() {
    let t0 = Instant::now();
    let mut net = Net::new(t0, &[1, 2]);
    let a = net.node(1).add_session(t0, key(1, 2, HopMode::SingleHop), fast(), 254, None).unwrap();
    let b = net.node(2).add_session(t0, key(2, 1, HopMode::SingleHop), fast(), 254, None).unwrap();
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.node(2).session(b).unwrap().state(), State::Up);
    let now = net.now;
    let last = net.node(1).remove_session(now, a).expect("a goodbye packet");
    match &last.action {
        Action::Transmit(r) => assert_eq!((r.state, r.diag), (State::AdminDown, Diag::AdministrativelyDown)),
        other => panic!("{other:?}"),
    }
    assert!(net.node(1).session(a).is_none());
    assert_eq!(net.node(1).totals().session_up, 0);
    net.send(ip(1), last);
    net.run_for(Duration::from_millis(10));
    let s = net.node(2).session(b).unwrap();
    assert_eq!((s.state(), s.local_diag()), (State::Down, Diag::NeighborSignaledSessionDown));
    assert_eq!(net.node(2).counters(b).unwrap().down_events, 1);
    assert!(net.node(1).remove_session(now, a).is_none(), "already gone");
}

#[test]
fn garbage_through_the_manager() {
    let t0 = Instant::now();
    let mut m = Manager::new(3);
    let s = m.add_session(t0, key(1, 2, HopMode::SingleHop), fast(), 254, None).unwrap();
    let mut rng = ferrolb_bfd::rng::Prng::new(5);
    let base = down_packet(77, s.discriminator());
    let good = meta(ip(2), ip(1), HopMode::SingleHop, 255);
    for _ in 0..50_000 {
        let mut b = base.clone();
        for _ in 0..=rng.up_to(4) {
            let at = rng.up_to(b.len() as u64 - 1) as usize;
            b[at] = rng.next_u64() as u8;
        }
        let _ = m.handle_control(t0, &good, &b);
        let _ = m.handle_echo(t0, &b[..16]);
        while m.poll_action().is_some() {}
    }
    m.handle_timeout(t0 + Duration::from_secs(5));
    while m.poll_action().is_some() {}
}
