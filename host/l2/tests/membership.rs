//! Membership: the heartbeat codec, and clusters of several nodes on a simulated network driven by
//! a fake clock (death after exactly multiplier × interval, isolation before takeover, rejoin,
//! foreign clusters, restarts).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrolb_l2::membership::{
    FIXED_LEN, HeartbeatError, HeartbeatRepr, Membership, MembershipAction, MembershipConfig, MembershipConfigError,
    Peer, fnv1a64, view_digest,
};

const MS: Duration = Duration::from_millis(1);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i as u8 + 1], 7946))
}

fn name(i: usize) -> String {
    format!("node-{i}")
}

fn peers_of(me: usize, n: usize) -> Vec<Peer> {
    (0..n).filter(|j| *j != me).map(|j| Peer { name: name(j), addrs: vec![addr(j)] }).collect()
}

/// What happened, when, on which node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Isolated,
    Rejoined,
    Dead(String),
    Alive(String),
}

struct Sim {
    t0: Instant,
    now: Instant,
    nodes: Vec<Option<Membership>>,
    /// (deliver at, from, to, payload)
    in_flight: Vec<(Instant, usize, usize, Vec<u8>)>,
    latency: Duration,
    /// Nodes whose every packet in or out is dropped.
    cut: BTreeSet<usize>,
    events: Vec<(Duration, usize, Event)>,
    /// Last time a heartbeat from node `from` was delivered to node `to`.
    last_delivery: BTreeMap<(usize, usize), Instant>,
}

impl Sim {
    fn new(n: usize, config: impl Fn(usize) -> MembershipConfig) -> Sim {
        Sim::with_phases(n, config, &vec![Duration::ZERO; n])
    }

    /// Node `i` starts (and so sends its heartbeat rounds) `phases[i]` after t0.
    fn with_phases(n: usize, config: impl Fn(usize) -> MembershipConfig, phases: &[Duration]) -> Sim {
        let t0 = Instant::now();
        let nodes = (0..n)
            .map(|i| Some(Membership::new(config(i), 1, t0 + phases[i], peers_of(i, n)).expect("valid config")))
            .collect();
        let mut s = Sim {
            t0,
            now: t0,
            nodes,
            in_flight: vec![],
            latency: MS,
            cut: BTreeSet::new(),
            events: vec![],
            last_delivery: BTreeMap::new(),
        };
        for i in 0..n {
            s.drain(i);
        }
        s
    }

    fn defaults(n: usize) -> Sim {
        Sim::new(n, |i| MembershipConfig::new("cluster-a", name(i)))
    }

    fn drain(&mut self, i: usize) {
        let Some(m) = self.nodes[i].as_mut() else { return };
        let mut out = vec![];
        while let Some(a) = m.poll_action() {
            out.push(a);
        }
        for a in out {
            let at = self.now - self.t0;
            match a {
                MembershipAction::Send { to, payload } => {
                    let j = usize::from(match to {
                        SocketAddr::V4(v4) => v4.ip().octets()[3],
                        SocketAddr::V6(_) => unreachable!("test uses IPv4"),
                    }) - 1;
                    if !self.cut.contains(&i) && !self.cut.contains(&j) {
                        self.in_flight.push((self.now + self.latency, i, j, payload));
                    }
                }
                MembershipAction::Isolated => self.events.push((at, i, Event::Isolated)),
                MembershipAction::Rejoined => self.events.push((at, i, Event::Rejoined)),
                MembershipAction::LiveChanged { became_alive, became_dead, live } => {
                    assert!(live.contains(&name(i)), "a node is always in its own live set");
                    for n in became_dead {
                        self.events.push((at, i, Event::Dead(n)));
                    }
                    for n in became_alive {
                        self.events.push((at, i, Event::Alive(n)));
                    }
                }
            }
        }
    }

    /// Advances the clock event by event up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next_timer = self.nodes.iter().flatten().filter_map(|m| m.poll_timeout()).min();
            let next_packet = self.in_flight.iter().map(|p| p.0).min();
            let Some(next) = next_timer.into_iter().chain(next_packet).min() else { break };
            if next > until {
                break;
            }
            assert!(next >= self.now, "time never goes backwards");
            self.now = next;
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.in_flight).into_iter().partition(|p| p.0 <= next);
            self.in_flight = later;
            for (_, from, to, payload) in due {
                if self.cut.contains(&from) || self.cut.contains(&to) {
                    continue;
                }
                if let Some(m) = self.nodes[to].as_mut() {
                    m.handle_datagram(next, addr(from), &payload);
                    self.last_delivery.insert((from, to), next);
                    self.drain(to);
                }
            }
            for i in 0..self.nodes.len() {
                if let Some(m) = self.nodes[i].as_mut()
                    && m.poll_timeout().is_some_and(|t| t <= next)
                {
                    m.handle_timeout(next);
                    self.drain(i);
                }
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn events_of(&self, i: usize) -> Vec<(Duration, Event)> {
        self.events.iter().filter(|e| e.1 == i).map(|e| (e.0, e.2.clone())).collect()
    }

    fn when(&self, i: usize, ev: &Event) -> Option<Duration> {
        self.events.iter().find(|e| e.1 == i && e.2 == *ev).map(|e| e.0)
    }
}

#[test]
fn steady_state_cluster_stays_whole() {
    let mut s = Sim::defaults(4);
    s.run_for(Duration::from_secs(5));
    assert!(s.events.is_empty(), "no changes in a healthy cluster: {:?}", s.events);
    let all: BTreeSet<String> = (0..4).map(name).collect();
    for m in s.nodes.iter().flatten() {
        assert_eq!(m.live(), all);
        let st = m.status(s.now);
        assert!(st.peers.iter().all(|p| p.live && p.same_view && !p.timer_mismatch && !p.isolated));
        // 5 s / 100 ms + the first round at t0 = 51 rounds to 3 peers.
        assert_eq!(st.counters.sent, 51 * 3);
        assert!(st.counters.accepted >= 50 * 3);
        assert_eq!(st.counters.stale + st.counters.foreign_cluster + st.counters.unknown_node, 0);
    }
}

#[test]
fn death_is_declared_exactly_multiplier_times_interval_after_the_last_heartbeat() {
    let mut s = Sim::defaults(3);
    s.run_for(Duration::from_millis(1_234));
    s.nodes[2] = None; // node-2 dies
    let killed_at = s.now - s.t0;
    s.run_for(Duration::from_secs(2));
    for survivor in 0..2 {
        let last = s.last_delivery[&(2, survivor)] - s.t0;
        let dead_at = s.when(survivor, &Event::Dead(name(2))).expect("death detected");
        assert_eq!(dead_at, last + Duration::from_millis(300), "survivor {survivor}");
        assert!(dead_at > killed_at && dead_at - killed_at <= Duration::from_millis(300));
        assert_eq!(s.nodes[survivor].as_ref().expect("alive").live(), BTreeSet::from([name(0), name(1)]));
        // Survivors still hear each other: nobody fences.
        assert!(s.when(survivor, &Event::Isolated).is_none());
    }
}

#[test]
fn an_isolated_node_fences_itself_before_the_others_take_over() {
    // Every phase of the cut against the heartbeat rounds, nodes sending out of phase, 1 ms latency.
    let mut margins = vec![];
    let phase_sets: [[u64; 3]; 4] = [[0, 0, 0], [0, 33, 66], [0, 95, 3], [60, 0, 99]];
    for (offset_ms, phases) in (0..100u64).step_by(7).flat_map(|o| phase_sets.iter().map(move |p| (o, p))) {
        let phases: Vec<Duration> = phases.iter().map(|p| MS * *p as u32).collect();
        let mut s = Sim::with_phases(3, |i| MembershipConfig::new("cluster-a", name(i)), &phases);
        s.run_for(Duration::from_millis(1_000 + offset_ms));
        s.cut.insert(0);
        let cut_at = s.now - s.t0;
        s.run_for(Duration::from_secs(1));
        let fenced = s.when(0, &Event::Isolated).expect("node-0 fences itself");
        let takeover =
            (1..3).map(|j| s.when(j, &Event::Dead(name(0))).expect("peers see it dead")).min().expect("two peers");
        assert!(fenced > cut_at, "offset {offset_ms}");
        assert!(fenced < takeover, "offset {offset_ms}: fenced at {fenced:?}, peers took over at {takeover:?}");
        margins.push(takeover - fenced);
        assert!(fenced - cut_at <= Duration::from_millis(200), "offset {offset_ms}: isolation within (m-1)×interval");
        assert!(takeover - cut_at <= Duration::from_millis(300));
        // The isolated node's own view: everybody dead, itself only; it says so in its heartbeats.
        let m0 = s.nodes[0].as_ref().expect("node-0");
        assert!(m0.is_isolated());
        assert_eq!(m0.live(), BTreeSet::from([name(0)]));
        // The others do not fence: they hear each other.
        assert!(s.when(1, &Event::Isolated).is_none() && s.when(2, &Event::Isolated).is_none());
        // Its heartbeats (if they got through) say so; the peers record the flag.
        s.cut.clear();
        s.run_for(MS * 101);
        let st = s.nodes[1].as_ref().expect("node-1").status(s.now);
        assert!(st.peers.iter().any(|p| p.name == name(0) && p.isolated));
    }
    margins.sort();
    eprintln!(
        "fencing margins: min {:?} median {:?} max {:?}",
        margins[0],
        margins[margins.len() / 2],
        margins[margins.len() - 1]
    );
}

#[test]
fn rejoin_after_the_partition_heals() {
    let mut s = Sim::defaults(3);
    s.run_for(Duration::from_millis(500));
    s.cut.insert(0);
    s.run_for(Duration::from_secs(1));
    assert!(s.nodes[0].as_ref().expect("node-0").is_isolated());
    s.cut.clear();
    let healed = s.now - s.t0;
    s.run_for(Duration::from_secs(1));
    let rejoined = s.when(0, &Event::Rejoined).expect("rejoined");
    // rise = 2: the second heartbeat from some peer (within ~one interval + latency).
    assert!(rejoined > healed && rejoined - healed <= Duration::from_millis(202), "{:?}", rejoined - healed);
    for j in 1..3 {
        let back = s.when(j, &Event::Alive(name(0))).expect("peers see node-0 again");
        assert!(back - healed <= Duration::from_millis(202));
    }
    let all: BTreeSet<String> = (0..3).map(name).collect();
    assert!(s.nodes.iter().flatten().all(|m| m.live() == all && !m.is_isolated()));
    // The order on node-0: isolated, peers dead, then a peer alive and rejoined.
    let evs: Vec<Event> = s.events_of(0).into_iter().map(|e| e.1).collect();
    assert_eq!(evs[0], Event::Isolated);
    assert!(evs.contains(&Event::Rejoined));
}

#[test]
fn two_node_clusters_never_fence() {
    let mut s = Sim::defaults(2);
    s.run_for(Duration::from_millis(300));
    s.cut.insert(0);
    s.run_for(Duration::from_secs(1));
    assert!(s.when(0, &Event::Isolated).is_none());
    assert!(s.when(0, &Event::Dead(name(1))).is_some());
    assert!(s.when(1, &Event::Dead(name(0))).is_some());
    // Both now believe they are alone: the documented split-brain of two-node clusters.
    assert_eq!(s.nodes[0].as_ref().expect("n0").live(), BTreeSet::from([name(0)]));
    assert_eq!(s.nodes[1].as_ref().expect("n1").live(), BTreeSet::from([name(1)]));
}

#[test]
fn self_fencing_can_be_turned_off() {
    let mut s = Sim::new(3, |i| MembershipConfig { self_fence: false, ..MembershipConfig::new("cluster-a", name(i)) });
    s.run_for(Duration::from_millis(300));
    s.cut.insert(0);
    s.run_for(Duration::from_secs(1));
    assert!(s.when(0, &Event::Isolated).is_none());
    assert_eq!(s.nodes[0].as_ref().expect("n0").live(), BTreeSet::from([name(0)]));
}

#[test]
fn a_node_alone_from_the_start_fences_after_the_grace() {
    let t0 = Instant::now();
    let mut m = Membership::new(
        MembershipConfig::new("c", "a"),
        1,
        t0,
        vec![Peer { name: "b".into(), addrs: vec![addr(1)] }, Peer { name: "c".into(), addrs: vec![addr(2)] }],
    )
    .expect("config");
    // Peers count as alive during the grace.
    assert_eq!(m.live().len(), 3);
    let mut isolated_at = None;
    while let Some(t) = m.poll_timeout() {
        if t > t0 + Duration::from_secs(1) {
            break;
        }
        m.handle_timeout(t);
        while let Some(a) = m.poll_action() {
            if a == MembershipAction::Isolated {
                isolated_at.get_or_insert(t - t0);
            }
        }
    }
    assert_eq!(isolated_at, Some(Duration::from_millis(200)));
}

#[test]
fn other_clusters_and_unknown_nodes_are_ignored() {
    let mut s = Sim::defaults(3);
    // An impostor from another cluster with node-2's name and a huge incarnation.
    let t0 = s.t0;
    let mut foreign =
        Membership::new(MembershipConfig::new("cluster-b", name(2)), 99, t0, peers_of(2, 3)).expect("cfg");
    let mut payloads = vec![];
    while let Some(a) = foreign.poll_action() {
        if let MembershipAction::Send { payload, .. } = a {
            payloads.push(payload);
        }
    }
    s.nodes[2] = None;
    let m0 = s.nodes[0].as_mut().expect("n0");
    for p in &payloads {
        m0.handle_datagram(t0 + MS, addr(2), p);
    }
    assert_eq!(m0.counters().foreign_cluster, payloads.len() as u64);
    // A stranger from our cluster (not in the peer list).
    let mut stranger =
        Membership::new(MembershipConfig::new("cluster-a", "stranger"), 1, t0, peers_of(9, 3)).expect("cfg");
    while let Some(a) = stranger.poll_action() {
        if let MembershipAction::Send { payload, .. } = a {
            m0.handle_datagram(t0 + MS, addr(9), &payload);
        }
    }
    assert!(m0.counters().unknown_node >= 1);
    // Neither kept node-2 alive: it dies on schedule.
    s.run_for(Duration::from_secs(1));
    let last = s.last_delivery[&(2, 0)] - s.t0;
    assert_eq!(last, MS, "node-2's first heartbeat, already in flight when it died");
    assert_eq!(s.when(0, &Event::Dead(name(2))), Some(last + Duration::from_millis(300)));
}

fn heartbeat(node: &str, incarnation: u64, sequence: u64) -> Vec<u8> {
    let hb = HeartbeatRepr {
        isolated: false,
        cluster_hash: fnv1a64(b"c"),
        incarnation,
        sequence,
        view_digest: 0,
        interval_ms: 100,
        multiplier: 3,
        live_count: 3,
        node: node.into(),
    };
    let mut b = vec![0u8; hb.buffer_len()];
    hb.emit(&mut b).expect("emit");
    b
}

#[test]
fn stale_duplicates_restarts_and_rise() {
    let t0 = Instant::now();
    // One peer: no self-fencing to interfere.
    let peers = vec![Peer { name: "b".into(), addrs: vec![addr(1)] }];
    let mut m = Membership::new(MembershipConfig::new("c", "a"), 1, t0, peers).expect("config");
    let from = addr(1);
    m.handle_datagram(t0 + 10 * MS, from, &heartbeat("b", 5, 10));
    m.handle_datagram(t0 + 11 * MS, from, &heartbeat("b", 5, 10)); // duplicate
    m.handle_datagram(t0 + 12 * MS, from, &heartbeat("b", 5, 9)); // reordered
    m.handle_datagram(t0 + 13 * MS, from, &heartbeat("b", 4, 99)); // older incarnation
    assert_eq!(m.counters().stale, 3);
    assert_eq!(m.counters().accepted, 1);
    // Only accepted heartbeats refresh liveness: b dies 300 ms after the one at +10 ms.
    let mut dead_at = None;
    let mut t = t0;
    while dead_at.is_none() {
        t = m.poll_timeout().expect("timers");
        m.handle_timeout(t);
        while let Some(a) = m.poll_action() {
            if let MembershipAction::LiveChanged { became_dead, .. } = a
                && became_dead.contains(&"b".to_string())
            {
                dead_at = Some(t - t0);
            }
        }
    }
    assert_eq!(dead_at, Some(Duration::from_millis(310)));
    // b restarts with a *smaller* incarnation (its clock went back): accepted since b is dead,
    // and b is alive again after rise = 2 heartbeats in a row.
    let t1 = t + 50 * MS;
    m.handle_datagram(t1, from, &heartbeat("b", 2, 1));
    assert!(!m.live().contains("b"));
    m.handle_datagram(t1 + 100 * MS, from, &heartbeat("b", 2, 2));
    assert!(m.live().contains("b"));
    let alive: Vec<_> = std::iter::from_fn(|| m.poll_action())
        .filter(
            |a| matches!(a, MembershipAction::LiveChanged { became_alive, .. } if became_alive == &["b".to_string()]),
        )
        .collect();
    assert_eq!(alive.len(), 1);
    // Our own name (e.g. multicast loop) is not a peer.
    m.handle_datagram(t1 + 101 * MS, from, &heartbeat("a", 1, 1));
    assert_eq!(m.counters().own_name, 1);
}

#[test]
fn rise_needs_heartbeats_in_a_row() {
    let t0 = Instant::now();
    let mut m = Membership::new(MembershipConfig::new("c", "a"), 1, t0, vec![]).expect("config");
    // A peer added later starts dead.
    m.set_peers(t0, vec![Peer { name: "b".into(), addrs: vec![addr(1)] }]);
    assert!(!m.live().contains("b"));
    m.handle_datagram(t0, addr(1), &heartbeat("b", 1, 1));
    // Too long a gap (≥ 300 ms): the count starts over.
    m.handle_datagram(t0 + 300 * MS, addr(1), &heartbeat("b", 1, 2));
    assert!(!m.live().contains("b"));
    m.handle_datagram(t0 + 399 * MS, addr(1), &heartbeat("b", 1, 3));
    assert!(m.live().contains("b"));
    // Removing a live peer is a live-set change.
    while m.poll_action().is_some() {}
    m.set_peers(t0 + 400 * MS, vec![]);
    assert_eq!(
        m.poll_action(),
        Some(MembershipAction::LiveChanged {
            live: BTreeSet::from(["a".to_string()]),
            became_alive: vec![],
            became_dead: vec!["b".to_string()]
        })
    );
}

#[test]
fn timer_mismatch_and_views_show_in_status() {
    let mut s = Sim::new(3, |i| {
        let mut c = MembershipConfig::new("cluster-a", name(i));
        if i == 2 {
            c.interval = 50 * MS;
        }
        c
    });
    s.run_for(Duration::from_secs(1));
    let st = s.nodes[0].as_ref().expect("n0").status(s.now);
    let p2 = st.peers.iter().find(|p| p.name == name(2)).expect("node-2");
    assert!(p2.timer_mismatch && p2.live && p2.same_view);
    let p1 = st.peers.iter().find(|p| p.name == name(1)).expect("node-1");
    assert!(!p1.timer_mismatch);
    assert_eq!(st.view_digest, view_digest(&(0..3).map(name).collect::<Vec<_>>()));
    // After node-2 dies, node-0 and node-1 agree again on a smaller view.
    s.nodes[2] = None;
    s.run_for(Duration::from_secs(1));
    let d0 = s.nodes[0].as_ref().expect("n0").status(s.now);
    assert!(d0.peers.iter().find(|p| p.name == name(1)).expect("node-1").same_view);
}

#[test]
fn config_is_checked() {
    let t0 = Instant::now();
    let mk = |f: &dyn Fn(&mut MembershipConfig)| {
        let mut c = MembershipConfig::new("c", "a");
        f(&mut c);
        Membership::new(c, 1, t0, vec![]).err()
    };
    assert_eq!(mk(&|c| c.multiplier = 1), Some(MembershipConfigError::Multiplier(1)));
    assert_eq!(mk(&|c| c.interval = Duration::ZERO), Some(MembershipConfigError::Interval(Duration::ZERO)));
    assert_eq!(
        mk(&|c| c.interval = Duration::from_micros(1500)),
        Some(MembershipConfigError::Interval(Duration::from_micros(1500)))
    );
    assert_eq!(
        mk(&|c| c.interval = Duration::from_secs(66)),
        Some(MembershipConfigError::Interval(Duration::from_secs(66)))
    );
    assert_eq!(mk(&|c| c.rise = 0), Some(MembershipConfigError::Rise));
    assert_eq!(mk(&|c| c.local_node = String::new()), Some(MembershipConfigError::NodeName(String::new())));
    assert_eq!(mk(&|c| c.cluster_id = String::new()), Some(MembershipConfigError::ClusterId));
    let c = MembershipConfig::new("c", "a");
    assert_eq!((c.detection_time(), c.isolation_time()), (300 * MS, 200 * MS));
}

#[test]
fn heartbeat_codec_round_trip_with_hand_assembled_bytes() {
    let bytes: Vec<u8> = [
        &b"FL"[..],
        &[1, 0x01],
        &0x0123_4567_89ab_cdef_u64.to_be_bytes(),
        &7u64.to_be_bytes(),
        &42u64.to_be_bytes(),
        &0xfeed_u64.to_be_bytes(),
        &[0, 100, 3, 6],
        &[0, 3, 0, 0],
        b"node-1",
    ]
    .concat();
    assert_eq!(bytes.len(), FIXED_LEN + 6);
    let hb = HeartbeatRepr::parse_bytes(&bytes).expect("valid");
    assert_eq!(
        hb,
        HeartbeatRepr {
            isolated: true,
            cluster_hash: 0x0123_4567_89ab_cdef,
            incarnation: 7,
            sequence: 42,
            view_digest: 0xfeed,
            interval_ms: 100,
            multiplier: 3,
            live_count: 3,
            node: "node-1".into(),
        }
    );
    let mut out = vec![0u8; hb.buffer_len()];
    assert_eq!(hb.emit(&mut out), Ok(bytes.len()));
    assert_eq!(out, bytes);
    // Trailing bytes are tolerated (additive fields within version 1).
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[9, 9, 9]);
    assert_eq!(HeartbeatRepr::parse_bytes(&longer), Ok(hb.clone()));
    // Errors.
    let with = |i: usize, v: u8| {
        let mut b = bytes.clone();
        b[i] = v;
        HeartbeatRepr::parse_bytes(&b)
    };
    assert_eq!(with(0, b'X'), Err(HeartbeatError::Magic([b'X', b'L'])));
    assert_eq!(with(2, 2), Err(HeartbeatError::Version(2)));
    assert_eq!(with(39, 0), Err(HeartbeatError::NameLength(0)));
    assert_eq!(with(39, 7), Err(HeartbeatError::Truncated { need: FIXED_LEN + 7, have: FIXED_LEN + 6 }));
    assert_eq!(with(FIXED_LEN, 0xff), Err(HeartbeatError::NameNotUtf8));
    assert_eq!(with(38, 0), Err(HeartbeatError::Timers { interval_ms: 100, multiplier: 0 }));
    assert_eq!(with(37, 0), Err(HeartbeatError::Timers { interval_ms: 0, multiplier: 3 }));
    for len in 0..bytes.len() {
        assert!(HeartbeatRepr::parse_bytes(&bytes[..len]).is_err(), "len {len}");
    }
    let long_name = HeartbeatRepr { node: "x".repeat(254), ..hb };
    assert_eq!(long_name.emit(&mut [0u8; 400]), Err(HeartbeatError::NameLength(254)));
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn garbage_datagrams_never_panic() {
    let t0 = Instant::now();
    let peers = vec![Peer { name: "b".into(), addrs: vec![addr(1)] }, Peer { name: "c".into(), addrs: vec![addr(2)] }];
    let mut m = Membership::new(MembershipConfig::new("c", "a"), 1, t0, peers).expect("config");
    let seed = heartbeat("b", 1, 1);
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..50_000u32 {
        let mut b = seed.clone();
        for _ in 0..rnd() % 4 {
            let at = (rnd() as usize) % b.len();
            b[at] = rnd() as u8;
        }
        b.truncate((rnd() as usize) % (b.len() + 4));
        m.handle_datagram(t0 + Duration::from_micros(u64::from(i)), addr(1), &b);
        while m.poll_action().is_some() {}
    }
    assert!(m.counters().malformed.values().sum::<u64>() > 0);
}
