//! Failover timeline on a simulated cluster: membership + announcer per node, a stand-in for the
//! advertise policy (the lowest live node name wins; nothing while isolated), a fake clock and a
//! 1 ms network. Measures the time from the announcing node's death to the first gratuitous ARP
//! from its successor, over many phases of the death against the heartbeat rounds.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb_l2::MacAddr;
use ferrolb_l2::announcer::{Action, Announcement, Announcer, AnnouncerConfig, InterfaceFacts, SendKind};
use ferrolb_l2::membership::{Membership, MembershipAction, MembershipConfig, Peer};

const MS: Duration = Duration::from_millis(1);
const VIP: &str = "192.0.2.10";

struct Node {
    name: String,
    membership: Membership,
    announcer: Announcer,
    isolated: bool,
    alive: bool,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i as u8 + 1], 7946))
}

/// The policy stand-in: the lowest live name announces the address.
fn elect(node: &mut Node, now: Instant, live: &BTreeSet<String>) {
    let mine = !node.isolated && live.iter().next() == Some(&node.name);
    let set =
        if mine { vec![Announcement { ip: VIP.parse::<IpAddr>().expect("vip"), interfaces: vec![] }] } else { vec![] };
    node.announcer.set_announcements(now, set);
}

/// Runs 3 nodes; kills node-0 at `death`; returns when node-1 sent its first gratuitous ARP.
fn first_garp_after_death(phases: [u64; 3], death: Duration) -> Duration {
    let t0 = Instant::now();
    let n = 3;
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| {
            let start = t0 + MS * phases[i] as u32;
            let peers =
                (0..n).filter(|j| *j != i).map(|j| Peer { name: format!("node-{j}"), addrs: vec![addr(j)] }).collect();
            let membership =
                Membership::new(MembershipConfig::new("c", format!("node-{i}")), 1, start, peers).expect("membership");
            let mut announcer = Announcer::new(AnnouncerConfig::default()).expect("announcer");
            let mac = MacAddr([2, 0, 0, 0, 0, i as u8 + 1]);
            announcer.set_interfaces(
                start,
                vec![InterfaceFacts { index: 2, name: "eth0".into(), mac, up: true, vlan: None, link_local: None }],
            );
            let mut node = Node { name: format!("node-{i}"), membership, announcer, isolated: false, alive: true };
            let live = node.membership.live();
            elect(&mut node, start, &live);
            node
        })
        .collect();
    let mut in_flight: Vec<(Instant, usize, usize, Vec<u8>)> = vec![];
    let mut now = t0;
    let death_at = t0 + death;
    let mut killed = false;
    loop {
        let timers = nodes
            .iter()
            .filter(|n| n.alive)
            .flat_map(|n| [n.membership.poll_timeout(), n.announcer.poll_timeout()])
            .flatten();
        let packets = in_flight.iter().map(|p| p.0);
        let mut next = timers.chain(packets).min().expect("something is always scheduled");
        if !killed && death_at <= next {
            next = death_at;
        }
        now = now.max(next);
        if !killed && now >= death_at {
            nodes[0].alive = false;
            killed = true;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut in_flight).into_iter().partition(|p| p.0 <= now);
        in_flight = later;
        for (_, from, to, payload) in due {
            if nodes[to].alive {
                nodes[to].membership.handle_datagram(now, addr(from), &payload);
            }
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            if !node.alive {
                continue;
            }
            if node.membership.poll_timeout().is_some_and(|t| t <= now) {
                node.membership.handle_timeout(now);
            }
            if node.announcer.poll_timeout().is_some_and(|t| t <= now) {
                node.announcer.handle_timeout(now);
            }
            let mut reelect = false;
            while let Some(a) = node.membership.poll_action() {
                match a {
                    MembershipAction::Send { to, payload } => {
                        let j = usize::from(match to {
                            SocketAddr::V4(v4) => v4.ip().octets()[3],
                            SocketAddr::V6(_) => unreachable!("IPv4 only here"),
                        }) - 1;
                        in_flight.push((now + MS, i, j, payload));
                    }
                    MembershipAction::Isolated => {
                        node.isolated = true;
                        reelect = true;
                    }
                    MembershipAction::Rejoined => {
                        node.isolated = false;
                        reelect = true;
                    }
                    MembershipAction::LiveChanged { .. } => reelect = true,
                }
            }
            if reelect {
                let live = node.membership.live();
                elect(node, now, &live);
            }
            while let Some(a) = node.announcer.poll_action() {
                if let Action::SendFrame { kind: SendKind::GratuitousArp, .. } = a
                    && i == 1
                    && killed
                {
                    return now - death_at;
                }
            }
        }
        assert!(now < t0 + Duration::from_secs(10), "no failover");
    }
}

#[test]
fn failover_meets_the_goal_on_a_simulated_link() {
    let mut times = vec![];
    for phases in [[0, 0, 0], [0, 37, 71], [13, 90, 45], [99, 1, 50]] {
        for d in (0..100u32).step_by(3) {
            times.push(first_garp_after_death(phases, Duration::from_secs(2) + MS * d));
        }
    }
    times.sort();
    let (min, median, max) = (times[0], times[times.len() / 2], times[times.len() - 1]);
    eprintln!(
        "death → successor's first gratuitous ARP: min {min:?} median {median:?} max {max:?} (n={})",
        times.len()
    );
    // Detection is (multiplier − 1) × interval + the phase of the last heartbeat .. multiplier × interval
    // after the death (+ 1 ms latency); the gratuitous ARP goes out in the same instant.
    assert!(min >= Duration::from_millis(200), "{min:?}");
    assert!(max <= Duration::from_millis(301), "{max:?}");
    assert!(median <= Duration::from_millis(300), "{median:?}");
}
