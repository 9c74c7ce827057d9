//! Adj-RIB-In: deltas, filters on receipt, graceful-restart stale sweep, maximum prefixes.
#![allow(clippy::unwrap_used)]

mod rib_common;

use std::sync::Arc;

use ferrolb_bgp::filter::{AllowMode, MaxPrefix, PrefixLimitEvent, PrefixSelector, ReceiveFilter, ReceivePolicy};
use ferrolb_bgp::rib::{AdjRibIn, Family, InDelta, InUpdate};
use rib_common::{Attrs, n, ns};

fn all() -> ReceivePolicy {
    ReceivePolicy::new(ReceiveFilter::accept_all())
}

fn added(a: &Attrs, p: &[&str]) -> Vec<(ipnet::IpNet, Arc<Attrs>)> {
    ns(p).into_iter().map(|p| (p, Arc::new(a.clone()))).collect()
}

#[test]
fn announce_change_withdraw_deltas() {
    let mut rib = AdjRibIn::new();
    let out =
        rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/48"])), &all());
    assert_eq!(out.delta.added, added(&Attrs::tag(1), &["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/48"]));
    assert!(out.delta.changed.is_empty() && out.delta.removed.is_empty());
    assert_eq!(rib.len(Family::Ipv4), 2);

    // Same attributes again: no change at all.
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24"])), &all());
    assert!(out.delta.is_empty());

    // New attributes: changed.
    let out = rib.apply(InUpdate::announce(Attrs::tag(2), ns(&["10.0.0.0/24"])), &all());
    assert_eq!(out.delta, InDelta { added: vec![], changed: added(&Attrs::tag(2), &["10.0.0.0/24"]), removed: vec![] });

    // Withdraw of a known and an unknown prefix: one removal.
    let out = rib.apply(InUpdate::withdraw(ns(&["10.0.1.0/24", "10.9.0.0/24"])), &all());
    assert_eq!(out.delta.removed, ns(&["10.0.1.0/24"]));
    assert_eq!(rib.get(&n("10.0.0.0/24")).map(|(a, s)| ((**a).clone(), s)), Some((Attrs::tag(2), false)));
}

#[test]
fn prefix_both_withdrawn_and_announced_counts_as_announced() {
    let mut rib = AdjRibIn::new();
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24"])), &all());
    let out = rib.apply(
        InUpdate { withdrawn: ns(&["10.0.0.0/24"]), announced: Some((Attrs::tag(2), ns(&["10.0.0.0/24"]))) },
        &all(),
    );
    assert_eq!(out.delta, InDelta { added: vec![], changed: added(&Attrs::tag(2), &["10.0.0.0/24"]), removed: vec![] });
}

#[test]
fn treat_as_withdraw_removes_routes() {
    // RFC 7606: the codec hands the NLRI of a malformed-attribute UPDATE over as withdrawals.
    let mut rib = AdjRibIn::new();
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.1.0/24"])), &all());
    let out = rib.apply(InUpdate::<Attrs>::withdraw(ns(&["10.0.0.0/24", "10.0.1.0/24"])), &all());
    assert_eq!(out.delta.removed, ns(&["10.0.0.0/24", "10.0.1.0/24"]));
    assert!(rib.is_empty());
}

#[test]
fn filter_refuses_on_receipt_and_withdraws_a_now_refused_route() {
    let filter = ReceiveFilter::new(
        AllowMode::Filtered,
        &[PrefixSelector::new(n("10.0.0.0/8"), Some(24), Some(24)).unwrap()],
        &[n("10.96.0.0/12")],
    )
    .unwrap();
    let policy = ReceivePolicy::new(filter);
    let mut rib = AdjRibIn::new();
    let out = rib.apply(
        InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.0.0/25", "10.96.1.0/24", "192.168.0.0/24"])),
        &policy,
    );
    assert_eq!(out.delta.added, added(&Attrs::tag(1), &["10.0.0.0/24"]));
    assert_eq!((out.blocked, out.not_allowed), (1, 2));

    // Accepted under "all", then re-announced under the filter: the refused one leaves.
    let mut rib = AdjRibIn::new();
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.96.1.0/24", "10.0.0.0/24"])), &all());
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.96.1.0/24"])), &policy);
    assert_eq!(out.delta.removed, ns(&["10.96.1.0/24"]));
    assert_eq!(out.blocked, 1);

    // A policy change drops what is no longer accepted.
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.5.0/24", "10.1.0.0/16"])), &all());
    let d = rib.reapply_policy(&policy);
    assert_eq!(d.removed, ns(&["10.1.0.0/16"]));
    assert_eq!(rib.len(Family::Ipv4), 2);
}

#[test]
fn graceful_restart_stale_then_sweep() {
    let mut rib = AdjRibIn::new();
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"])), &all());
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["2001:db8::/48"])), &all());
    assert_eq!(rib.mark_stale(Family::Ipv4), 3);
    assert_eq!(rib.get(&n("10.0.1.0/24")).map(|(_, s)| s), Some(true));
    assert_eq!(rib.get(&n("2001:db8::/48")).map(|(_, s)| s), Some(false), "families are separate");

    // The restarted peer re-announces one route unchanged (no delta, no longer stale), changes one.
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24"])), &all());
    assert!(out.delta.is_empty());
    let out = rib.apply(InUpdate::announce(Attrs::tag(2), ns(&["10.0.2.0/24"])), &all());
    assert_eq!(out.delta.changed, added(&Attrs::tag(2), &["10.0.2.0/24"]));
    assert_eq!(rib.stale_len(Family::Ipv4), 1);

    // End-of-RIB: the one not refreshed goes.
    let d = rib.sweep_stale(Family::Ipv4);
    assert_eq!(d, InDelta { added: vec![], changed: vec![], removed: ns(&["10.0.1.0/24"]) });
    assert_eq!(rib.stale_len(Family::Ipv4), 0);
    assert!(rib.sweep_stale(Family::Ipv4).is_empty());
    assert_eq!(rib.len(Family::Ipv4), 2);

    // Restart timer expiry without any refresh: all of the family goes, sorted.
    rib.mark_stale(Family::Ipv6);
    rib.apply(InUpdate::<Attrs>::withdraw(ns(&["2001:db8::/48"])), &all());
    assert_eq!(rib.stale_len(Family::Ipv6), 0, "a withdrawn stale route is no longer counted");
    rib.mark_stale(Family::Ipv4);
    assert_eq!(rib.sweep_stale(Family::Ipv4).removed, ns(&["10.0.0.0/24", "10.0.2.0/24"]));
    assert!(rib.is_empty());
}

#[test]
fn clear_removes_everything_sorted() {
    let mut rib = AdjRibIn::new();
    rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.2.0/24", "2001:db8::/48", "10.0.0.0/24"])), &all());
    assert_eq!(rib.clear().removed, ns(&["10.0.0.0/24", "10.0.2.0/24", "2001:db8::/48"]));
    assert!(rib.is_empty());
}

#[test]
fn max_prefix_warns_then_refuses_the_excess() {
    let policy = all().with_max_prefix(MaxPrefix::new(4).unwrap()); // warning above 3
    let mut rib = AdjRibIn::new();
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"])), &policy);
    assert!(out.limit_events.is_empty(), "3 is not above 75% of 4");
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.3.0/24"])), &policy);
    assert_eq!(
        out.limit_events,
        vec![PrefixLimitEvent::Warning { family: Family::Ipv4, limit: 4, threshold_percent: 75, count: 4 }]
    );
    // Re-announcing known prefixes never exceeds.
    let out = rib.apply(InUpdate::announce(Attrs::tag(2), ns(&["10.0.0.0/24"])), &policy);
    assert!(out.limit_events.is_empty(), "the warning fires once");
    assert!(out.cease().is_none());

    let out =
        rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.4.0/24", "10.0.5.0/24", "2001:db8::/48"])), &policy);
    let exceeded = PrefixLimitEvent::Exceeded { family: Family::Ipv4, limit: 4, count: 6, enforced: true };
    assert_eq!(out.limit_events, vec![exceeded]);
    assert_eq!(out.cease(), Some(&exceeded));
    assert_eq!(exceeded.cease_data(), Some([0, 1, 1, 0, 0, 0, 4]));
    assert_eq!(out.delta.added, added(&Attrs::tag(1), &["2001:db8::/48"]), "no IPv4 beyond the limit");
    assert_eq!(rib.len(Family::Ipv4), 4);
    assert_eq!(
        exceeded.to_string(),
        "the peer sent 6 IPv4 prefixes, more than its maximum of 4: the excess was refused and the session is \
         closed with NOTIFICATION Cease/Maximum Number of Prefixes Reached"
    );
    // The session closes: everything goes, and the latches re-arm.
    rib.clear();
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24"])), &policy);
    assert!(out.limit_events.is_empty());
}

#[test]
fn max_prefix_warning_only_keeps_accepting() {
    let policy = all().with_max_prefix(MaxPrefix { limit: 2, warning_threshold_percent: 100, warning_only: true });
    let mut rib = AdjRibIn::new();
    let out = rib.apply(InUpdate::announce(Attrs::tag(1), ns(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"])), &policy);
    assert_eq!(
        out.limit_events,
        vec![PrefixLimitEvent::Exceeded { family: Family::Ipv4, limit: 2, count: 3, enforced: false }]
    );
    assert!(out.cease().is_none());
    assert_eq!(rib.len(Family::Ipv4), 3);
}
