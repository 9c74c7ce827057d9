//! Loc-RIB: best-path selection (RFC 4271 §9.1) and install/replace/remove deltas per table.
#![allow(clippy::unwrap_used)]

mod rib_common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ferrolb_bgp::filter::{ReceiveFilter, ReceivePolicy};
use ferrolb_bgp::rib::{AdjRibIn, InDelta, InUpdate, LocChange, LocRib, LocRibError, PeerInfo};
use rib_common::{Attrs, n, ns};

const MAIN: u32 = 254;

fn peer(last: u8, ebgp: bool, table: u32) -> PeerInfo {
    PeerInfo {
        table,
        ebgp,
        router_id: Ipv4Addr::new(10, 255, 0, last),
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)),
    }
}

fn add(p: &str, a: Attrs) -> InDelta<Attrs> {
    InDelta { added: vec![(n(p), Arc::new(a))], changed: vec![], removed: vec![] }
}

fn del(p: &str) -> InDelta<Attrs> {
    InDelta { added: vec![], changed: vec![], removed: vec![n(p)] }
}

/// The peer whose path wins when `a` comes from peer 1 and `b` from peer 2.
fn winner(a: Attrs, pa: PeerInfo, b: Attrs, pb: PeerInfo) -> &'static str {
    let mut rib: LocRib<&'static str, Attrs> = LocRib::new();
    rib.set_peer("a", pa).unwrap();
    rib.set_peer("b", pb).unwrap();
    rib.apply(&"a", &add("10.0.0.0/24", a.clone())).unwrap();
    rib.apply(&"b", &add("10.0.0.0/24", b.clone())).unwrap();
    let w1 = *rib.best(MAIN, &n("10.0.0.0/24")).unwrap().0;
    // Arrival order must not matter.
    let mut rib2: LocRib<&'static str, Attrs> = LocRib::new();
    rib2.set_peer("a", pa).unwrap();
    rib2.set_peer("b", pb).unwrap();
    rib2.apply(&"b", &add("10.0.0.0/24", b)).unwrap();
    rib2.apply(&"a", &add("10.0.0.0/24", a)).unwrap();
    assert_eq!(w1, *rib2.best(MAIN, &n("10.0.0.0/24")).unwrap().0, "order-dependent selection");
    w1
}

#[test]
fn selection_steps_in_order() {
    let base = Attrs::default();
    let (p1, p2) = (peer(1, true, MAIN), peer(2, true, MAIN));
    // Local preference beats a shorter AS path.
    let lp = Attrs { local_pref: 200, as_path: vec![65001, 65002, 65003], ..base.clone() };
    assert_eq!(winner(base.clone(), p1, lp, p2), "b");
    // Shorter AS path.
    let long = Attrs { as_path: vec![65001, 65009], ..base.clone() };
    assert_eq!(winner(long, p1, base.clone(), p2), "b");
    // Lower origin.
    let incomplete = Attrs { origin: 2, ..base.clone() };
    assert_eq!(winner(incomplete, p1, base.clone(), p2), "b");
    // Lower MED from the same neighbour AS.
    let med10 = Attrs { med: Some(10), ..base.clone() };
    let med5 = Attrs { med: Some(5), ..base.clone() };
    assert_eq!(winner(med10.clone(), p1, med5.clone(), p2), "b");
    // eBGP over iBGP.
    assert_eq!(winner(base.clone(), peer(1, false, MAIN), base.clone(), p2), "b");
    // Lowest router id, then lowest address.
    assert_eq!(winner(base.clone(), p1, base.clone(), p2), "a");
    let same_id = PeerInfo { router_id: Ipv4Addr::new(1, 1, 1, 1), ..p2 };
    let p1_same = PeerInfo { router_id: Ipv4Addr::new(1, 1, 1, 1), ..p1 };
    assert_eq!(winner(base.clone(), same_id, base.clone(), p1_same), "b", "lower address 192.0.2.1 is peer b here");
}

#[test]
fn med_is_compared_only_within_the_same_neighbor_as() {
    let mut rib: LocRib<u8, Attrs> = LocRib::new();
    // Router ids: peer 1 lowest, then peer 3, then peer 2.
    rib.set_peer(1, peer(1, true, MAIN)).unwrap();
    rib.set_peer(2, peer(9, true, MAIN)).unwrap();
    rib.set_peer(3, peer(3, true, MAIN)).unwrap();
    // Peer 1: AS 65001 MED 50. Peer 2: AS 65001 MED 10. Peer 3: AS 65002 MED 100.
    rib.apply(&1, &add("10.0.0.0/24", Attrs { med: Some(50), as_path: vec![65001], ..Attrs::default() })).unwrap();
    rib.apply(&2, &add("10.0.0.0/24", Attrs { med: Some(10), as_path: vec![65001], ..Attrs::default() })).unwrap();
    rib.apply(&3, &add("10.0.0.0/24", Attrs { med: Some(100), as_path: vec![65002], ..Attrs::default() })).unwrap();
    // Peer 1 is eliminated by peer 2 (same AS, lower MED); peer 3's MED is not comparable with
    // peer 2's, so the router id decides between 2 and 3: peer 3. (Comparing MED across ASes
    // would pick peer 2; ignoring it would pick peer 1.)
    assert_eq!(*rib.best(MAIN, &n("10.0.0.0/24")).unwrap().0, 3);
}

#[test]
fn deltas_install_replace_remove() {
    let mut rib: LocRib<u8, Attrs> = LocRib::new();
    rib.set_peer(1, peer(1, true, MAIN)).unwrap();
    rib.set_peer(2, peer(2, true, MAIN)).unwrap();
    let a1 = Attrs::default();
    let better = Attrs { local_pref: 300, ..Attrs::default() };

    let d = rib.apply(&2, &add("10.0.0.0/24", a1.clone())).unwrap();
    assert_eq!(
        d.changes,
        vec![LocChange::Install { table: MAIN, prefix: n("10.0.0.0/24"), peer: 2, attrs: Arc::new(a1.clone()) }]
    );
    // A worse path from peer... 1 has the lower router id, equal attrs: it wins -> replace.
    let d = rib.apply(&1, &add("10.0.0.0/24", a1.clone())).unwrap();
    assert_eq!(
        d.changes,
        vec![LocChange::Replace { table: MAIN, prefix: n("10.0.0.0/24"), peer: 1, attrs: Arc::new(a1.clone()) }]
    );
    // A change on the non-best path that does not make it best: nothing.
    let worse = Attrs { local_pref: 50, ..Attrs::default() };
    let d = rib
        .apply(&2, &InDelta { added: vec![], changed: vec![(n("10.0.0.0/24"), Arc::new(worse))], removed: vec![] })
        .unwrap();
    assert!(d.is_empty());
    // The best path's attributes change: replace, same peer.
    let d = rib
        .apply(
            &1,
            &InDelta { added: vec![], changed: vec![(n("10.0.0.0/24"), Arc::new(better.clone()))], removed: vec![] },
        )
        .unwrap();
    assert_eq!(
        d.changes,
        vec![LocChange::Replace { table: MAIN, prefix: n("10.0.0.0/24"), peer: 1, attrs: Arc::new(better) }]
    );
    // The best path goes: fall back to peer 2.
    let d = rib.apply(&1, &del("10.0.0.0/24")).unwrap();
    assert!(matches!(&d.changes[..], [LocChange::Replace { peer: 2, .. }]));
    // The last path goes: remove.
    let d = rib.apply(&2, &del("10.0.0.0/24")).unwrap();
    assert_eq!(d.changes, vec![LocChange::Remove { table: MAIN, prefix: n("10.0.0.0/24") }]);
    assert!(rib.is_empty());
    // Withdrawing what is not there: nothing.
    assert!(rib.apply(&2, &del("10.0.0.0/24")).unwrap().is_empty());
}

#[test]
fn tables_are_separate() {
    let mut rib: LocRib<u8, Attrs> = LocRib::new();
    rib.set_peer(1, peer(1, true, MAIN)).unwrap();
    rib.set_peer(2, peer(2, true, 1001)).unwrap();
    rib.apply(&1, &add("10.0.0.0/24", Attrs::tag(1))).unwrap();
    let d = rib.apply(&2, &add("10.0.0.0/24", Attrs::tag(2))).unwrap();
    assert!(
        matches!(&d.changes[..], [LocChange::Install { table: 1001, peer: 2, .. }]),
        "no competition across tables"
    );
    assert_eq!(*rib.best(MAIN, &n("10.0.0.0/24")).unwrap().0, 1);
    assert_eq!(*rib.best(1001, &n("10.0.0.0/24")).unwrap().0, 2);
    assert_eq!(rib.tables(), vec![MAIN, 1001]);
    assert_eq!(rib.set_peer(2, peer(2, true, MAIN)), Err(LocRibError::PeerHasRoutes { table: 1001, routes: 1 }));
    assert_eq!(rib.apply(&9, &add("10.0.0.0/24", Attrs::tag(1))), Err(LocRibError::UnknownPeer));
}

#[test]
fn peer_changes_and_removal() {
    let mut rib: LocRib<u8, Attrs> = LocRib::new();
    rib.set_peer(1, peer(1, false, MAIN)).unwrap();
    rib.set_peer(2, peer(2, false, MAIN)).unwrap();
    for p in ["10.0.0.0/24", "10.0.1.0/24"] {
        rib.apply(&1, &add(p, Attrs::default())).unwrap();
        rib.apply(&2, &add(p, Attrs::default())).unwrap();
    }
    assert_eq!(rib.routes(MAIN).iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 1]);
    // Peer 2 turns out to be eBGP: it wins everywhere.
    let d = rib.set_peer(2, peer(2, true, MAIN)).unwrap();
    assert_eq!(d.changes.iter().map(|c| c.prefix()).collect::<Vec<_>>(), ns(&["10.0.0.0/24", "10.0.1.0/24"]));
    assert!(d.changes.iter().all(|c| matches!(c, LocChange::Replace { peer: 2, .. })));
    // Peer 2 goes away: back to peer 1, sorted.
    let d = rib.remove_peer(&2);
    assert_eq!(d.changes.iter().map(|c| c.prefix()).collect::<Vec<_>>(), ns(&["10.0.0.0/24", "10.0.1.0/24"]));
    assert!(d.changes.iter().all(|c| matches!(c, LocChange::Replace { peer: 1, .. })));
    assert_eq!(rib.peer_routes(&1), Some(2));
    assert_eq!(rib.peer_routes(&2), None);
}

#[test]
fn adj_rib_in_deltas_feed_the_loc_rib() {
    let policy = ReceivePolicy::new(ReceiveFilter::accept_all());
    let mut adj: AdjRibIn<Attrs> = AdjRibIn::new();
    let mut loc: LocRib<u8, Attrs> = LocRib::new();
    loc.set_peer(1, peer(1, true, MAIN)).unwrap();
    let out = adj.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "2001:db8::/48"])), &policy);
    let d = loc.apply(&1, &out.delta).unwrap();
    assert_eq!(d.changes.len(), 2);
    adj.mark_stale(ferrolb_bgp::rib::Family::Ipv4);
    let d = loc.apply(&1, &adj.sweep_stale(ferrolb_bgp::rib::Family::Ipv4)).unwrap();
    assert_eq!(d.changes, vec![LocChange::Remove { table: MAIN, prefix: n("10.0.0.0/24") }]);
    let d = loc.apply(&1, &adj.clear()).unwrap();
    assert_eq!(d.changes, vec![LocChange::Remove { table: MAIN, prefix: n("2001:db8::/48") }]);
    assert!(loc.is_empty());
}
