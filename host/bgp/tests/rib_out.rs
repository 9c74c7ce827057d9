//! Adj-RIB-Out: exact UPDATE plans, plus a seeded property test against a model peer.
#![allow(clippy::unwrap_used)]

mod rib_common;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_bgp::rib::{AdjRibOut, Family, FamilyPlan, UpdatePlan};
use ipnet::IpNet;
use rib_common::{Attrs, Rng, n, ns};

fn plan4(groups: Vec<(Attrs, &[&str])>, withdrawn: &[&str]) -> FamilyPlan<Attrs> {
    FamilyPlan { withdrawn: ns(withdrawn), announced: groups.into_iter().map(|(a, p)| (Arc::new(a), ns(p))).collect() }
}

#[test]
fn first_plan_groups_by_attributes_sorted() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.3/32"), Attrs::tag(2));
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    rib.set(n("10.0.0.2/32"), Attrs::tag(2));
    rib.set(n("2001:db8::/64"), Attrs::tag(1));
    rib.set(n("10.0.0.0/32"), Attrs::tag(1));
    let plan = rib.take_plan();
    assert_eq!(
        plan.ipv4,
        plan4(
            vec![(Attrs::tag(1), &["10.0.0.0/32", "10.0.0.1/32"]), (Attrs::tag(2), &["10.0.0.2/32", "10.0.0.3/32"])],
            &[]
        )
    );
    assert_eq!(
        plan.ipv6,
        FamilyPlan { withdrawn: vec![], announced: vec![(Arc::new(Attrs::tag(1)), ns(&["2001:db8::/64"]))] }
    );
    assert_eq!(rib.sent_len(Family::Ipv4), 4);
    assert_eq!(rib.sent_len(Family::Ipv6), 1);
    assert!(!rib.has_pending());
    assert!(rib.take_plan().is_empty(), "a second plan without changes is empty");
}

#[test]
fn unchanged_routes_are_never_resent() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    let _ = rib.take_plan();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    assert!(rib.take_plan().is_empty());
    // Changed and changed back before the plan: nothing either.
    rib.set(n("10.0.0.1/32"), Attrs::tag(9));
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    assert!(rib.take_plan().is_empty());
    // Replacing the whole set with the same content: nothing.
    rib.replace_desired([(n("10.0.0.1/32"), Attrs::tag(1))]);
    assert!(!rib.has_pending());
    assert!(rib.take_plan().is_empty());
}

#[test]
fn attribute_change_is_one_announce_without_withdraw() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    rib.set(n("10.0.0.2/32"), Attrs::tag(1));
    let _ = rib.take_plan();
    rib.set(n("10.0.0.2/32"), Attrs::tag(2));
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![(Attrs::tag(2), &["10.0.0.2/32"])], &[]));
    assert!(plan.ipv6.is_empty());
    assert_eq!(rib.sent(&n("10.0.0.2/32")), Some(&Attrs::tag(2)));
}

#[test]
fn removal_withdraws_and_add_then_remove_is_nothing() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    rib.set(n("2001:db8::1/128"), Attrs::tag(1));
    let _ = rib.take_plan();
    assert!(rib.remove(&n("10.0.0.1/32")));
    assert!(!rib.remove(&n("10.0.0.1/32")), "already removed");
    rib.set(n("10.9.9.9/32"), Attrs::tag(3));
    rib.remove(&n("10.9.9.9/32"));
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![], &["10.0.0.1/32"]));
    assert!(plan.ipv6.is_empty());
    assert_eq!(rib.sent_len(Family::Ipv4), 0);
    assert_eq!(rib.desired_len(Family::Ipv6), 1);
}

#[test]
fn replace_desired_diffs_against_sent() {
    let mut rib = AdjRibOut::new();
    rib.replace_desired([
        (n("10.0.0.1/32"), Attrs::tag(1)),
        (n("10.0.0.2/32"), Attrs::tag(1)),
        (n("10.0.0.3/32"), Attrs::tag(1)),
    ]);
    let _ = rib.take_plan();
    rib.replace_desired_grouped([
        (Attrs::tag(1), ns(&["10.0.0.1/32"])),
        (Attrs::tag(2), ns(&["10.0.0.2/32", "10.0.0.4/32"])),
    ]);
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![(Attrs::tag(2), &["10.0.0.2/32", "10.0.0.4/32"])], &["10.0.0.3/32"]));
    assert_eq!(rib.attribute_sets(), 2);
    rib.clear_desired();
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![], &["10.0.0.1/32", "10.0.0.2/32", "10.0.0.4/32"]));
    assert_eq!(rib.attribute_sets(), 0, "attribute sets are freed when nothing refers to them");
}

#[test]
fn route_refresh_resends_everything_and_keeps_pending_withdrawals() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    rib.set(n("10.0.0.2/32"), Attrs::tag(2));
    let _ = rib.take_plan();
    rib.remove(&n("10.0.0.2/32"));
    rib.mark_all_for_resend();
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![(Attrs::tag(1), &["10.0.0.1/32"])], &["10.0.0.2/32"]));
    assert!(rib.take_plan().is_empty());
}

#[test]
fn session_down_forgets_sent_state() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.1/32"), Attrs::tag(1));
    rib.set(n("10.0.0.2/32"), Attrs::tag(1));
    let _ = rib.take_plan();
    rib.remove(&n("10.0.0.2/32"));
    rib.session_down();
    assert_eq!(rib.sent_len(Family::Ipv4), 0);
    assert_eq!(rib.sent(&n("10.0.0.1/32")), None);
    // The new session gets the full desired set and no withdrawal of what the old one had.
    let plan = rib.take_plan();
    assert_eq!(plan.ipv4, plan4(vec![(Attrs::tag(1), &["10.0.0.1/32"])], &[]));
}

#[test]
fn host_bits_are_cleared() {
    let mut rib = AdjRibOut::new();
    rib.set(n("10.0.0.7/24"), Attrs::tag(1));
    assert_eq!(rib.desired(&n("10.0.0.0/24")), Some(&Attrs::tag(1)));
    assert_eq!(rib.take_plan().ipv4.announced[0].1, ns(&["10.0.0.0/24"]));
}

/// Applies a plan to a model of the peer's Adj-RIB-In, checking it has no no-op.
fn apply_to_peer(peer: &mut BTreeMap<IpNet, Attrs>, plan: &UpdatePlan<Attrs>, step: usize) {
    for fam in [&plan.ipv4, &plan.ipv6] {
        let mut seen = std::collections::HashSet::new();
        for p in &fam.withdrawn {
            assert!(seen.insert(*p), "step {step}: {p} twice in one plan");
            assert!(peer.remove(p).is_some(), "step {step}: withdraw of {p} the peer does not have");
        }
        for (a, ps) in &fam.announced {
            assert!(!ps.is_empty(), "step {step}: empty group");
            for p in ps {
                assert!(seen.insert(*p), "step {step}: {p} twice in one plan");
                let old = peer.insert(*p, (**a).clone());
                assert_ne!(old.as_ref(), Some(&**a), "step {step}: {p} re-sent unchanged");
            }
        }
        let mut groups: Vec<_> = fam.announced.iter().map(|(a, _)| a.clone()).collect();
        groups.dedup();
        assert_eq!(groups.len(), fam.announced.len(), "step {step}: one group per attribute set");
    }
}

#[test]
fn property_plans_converge_to_the_desired_set_without_no_ops() {
    for seed in 0..40u64 {
        let mut rng = Rng::new(seed);
        let mut rib = AdjRibOut::new();
        let mut desired: BTreeMap<IpNet, Attrs> = BTreeMap::new();
        let mut peer: BTreeMap<IpNet, Attrs> = BTreeMap::new();
        let prefix = |r: &mut Rng| -> IpNet {
            if r.below(4) == 0 {
                format!("2001:db8::{:x}/128", r.below(24)).parse().unwrap()
            } else {
                format!("10.0.{}.0/24", r.below(48)).parse().unwrap()
            }
        };
        for step in 0..300 {
            match rng.below(10) {
                0..=4 => {
                    let p = prefix(&mut rng);
                    let a = Attrs::tag(rng.below(4) as u32);
                    rib.set(p, a.clone());
                    desired.insert(p, a);
                }
                5..=6 => {
                    let p = prefix(&mut rng);
                    assert_eq!(rib.remove(&p), desired.remove(&p).is_some());
                }
                7 => {
                    // Replace with a random subset, some attributes changed.
                    let mut next = BTreeMap::new();
                    for (p, a) in &desired {
                        match rng.below(4) {
                            0 => {}
                            1 => {
                                next.insert(*p, Attrs::tag(rng.below(4) as u32));
                            }
                            _ => {
                                next.insert(*p, a.clone());
                            }
                        }
                    }
                    for _ in 0..rng.below(5) {
                        next.insert(prefix(&mut rng), Attrs::tag(rng.below(4) as u32));
                    }
                    rib.replace_desired(next.clone());
                    desired = next;
                }
                8 => {
                    if rng.below(3) == 0 {
                        rib.session_down();
                        peer.clear();
                    } else {
                        rib.mark_all_for_resend();
                        let plan = rib.take_plan();
                        // A refresh re-announces everything desired: apply without the no-op check.
                        for fam in [&plan.ipv4, &plan.ipv6] {
                            for p in &fam.withdrawn {
                                assert!(peer.remove(p).is_some(), "seed {seed} step {step}");
                            }
                            for (a, ps) in &fam.announced {
                                for p in ps {
                                    peer.insert(*p, (**a).clone());
                                }
                            }
                        }
                        assert_eq!(peer, desired, "seed {seed} step {step}: after refresh");
                        continue;
                    }
                }
                _ => {}
            }
            if rng.below(3) == 0 {
                let plan = rib.take_plan();
                apply_to_peer(&mut peer, &plan, step);
                assert_eq!(peer, desired, "seed {seed} step {step}");
                assert_eq!(rib.sent_len(Family::Ipv4) + rib.sent_len(Family::Ipv6), peer.len());
                assert!(rib.take_plan().is_empty(), "seed {seed} step {step}: second plan not empty");
            }
            assert_eq!(rib.desired_len(Family::Ipv4) + rib.desired_len(Family::Ipv6), desired.len());
        }
        let plan = rib.take_plan();
        apply_to_peer(&mut peer, &plan, usize::MAX);
        assert_eq!(peer, desired, "seed {seed}: final");
        rib.clear_desired();
        let _ = rib.take_plan();
        assert_eq!(rib.attribute_sets(), 0, "seed {seed}: no attribute set leaks");
    }
}
