//! Receive filters: frr-k8s `toReceive` / `alwaysBlock` semantics, edge cases of ge/le.
#![allow(clippy::unwrap_used)]

mod rib_common;

use ferrolb_bgp::filter::{AllowMode, FilterError, MaxPrefix, PrefixSelector, ReceiveFilter, Verdict};
use rib_common::n;

fn sel(p: &str, ge: Option<u8>, le: Option<u8>) -> PrefixSelector {
    PrefixSelector::new(n(p), ge, le).unwrap()
}

#[test]
fn absent_to_receive_accepts_nothing() {
    let f = ReceiveFilter::default();
    assert_eq!(f.check(&n("10.0.0.0/8")), Verdict::NotAllowed);
    assert_eq!(f.check(&n("::/0")), Verdict::NotAllowed);
    let f = ReceiveFilter::new(AllowMode::Filtered, &[], &[]).unwrap();
    assert_eq!(f.check(&n("10.0.0.0/8")), Verdict::NotAllowed);
}

#[test]
fn mode_all_accepts_everything_and_ignores_selectors() {
    let f = ReceiveFilter::new(AllowMode::All, &[sel("10.0.0.0/8", None, None)], &[]).unwrap();
    assert!(f.accepts(&n("192.168.0.0/16")));
    assert!(f.accepts(&n("2001:db8::/32")));
    assert!(f.accepts(&n("0.0.0.0/0")));
}

#[test]
fn no_ge_no_le_is_exact_match() {
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("192.168.1.0/24", None, None)], &[]).unwrap();
    assert!(f.accepts(&n("192.168.1.0/24")));
    assert!(!f.accepts(&n("192.168.1.0/25")), "longer inside is not an exact match");
    assert!(!f.accepts(&n("192.168.0.0/16")), "shorter covering is not inside");
    assert!(!f.accepts(&n("192.168.2.0/24")));
}

#[test]
fn ge_only_runs_to_the_family_maximum() {
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("10.0.0.0/8", Some(24), None)], &[]).unwrap();
    assert!(!f.accepts(&n("10.1.0.0/23")));
    assert!(f.accepts(&n("10.1.0.0/24")));
    assert!(f.accepts(&n("10.1.2.3/32")));
    assert!(!f.accepts(&n("10.0.0.0/8")));
    assert!(!f.accepts(&n("11.0.0.0/24")));
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("2001:db8::/32", Some(64), None)], &[]).unwrap();
    assert!(f.accepts(&n("2001:db8:1::1/128")));
    assert!(!f.accepts(&n("2001:db8::/48")));
}

#[test]
fn le_only_starts_at_the_selector_length() {
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("10.0.0.0/8", None, Some(16))], &[]).unwrap();
    assert!(f.accepts(&n("10.0.0.0/8")));
    assert!(f.accepts(&n("10.7.0.0/16")));
    assert!(!f.accepts(&n("10.7.1.0/24")));
    assert!(!f.accepts(&n("0.0.0.0/0")));
}

#[test]
fn ge_and_le_bound_both_sides_as_in_the_openshift_example() {
    // OpenShift MetalLB docs: prefix 192.168.1.0/24 with ge 25, le 28.
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("192.168.1.0/24", Some(25), Some(28))], &[]).unwrap();
    assert!(!f.accepts(&n("192.168.1.0/24")));
    assert!(f.accepts(&n("192.168.1.128/25")));
    assert!(f.accepts(&n("192.168.1.16/28")));
    assert!(!f.accepts(&n("192.168.1.16/29")));
    // ge == le: exactly one length.
    let f = ReceiveFilter::new(AllowMode::Filtered, &[sel("10.0.0.0/8", Some(32), Some(32))], &[]).unwrap();
    assert!(f.accepts(&n("10.9.9.9/32")));
    assert!(!f.accepts(&n("10.9.9.8/31")));
}

#[test]
fn several_selectors_on_nested_and_equal_prefixes() {
    let f = ReceiveFilter::new(
        AllowMode::Filtered,
        &[
            sel("10.0.0.0/8", None, None),
            sel("10.0.0.0/8", Some(30), Some(30)),
            sel("10.1.0.0/16", Some(24), Some(24)),
            sel("2001:db8::/32", None, Some(48)),
        ],
        &[],
    )
    .unwrap();
    assert!(f.accepts(&n("10.0.0.0/8")));
    assert!(f.accepts(&n("10.200.0.4/30")));
    assert!(f.accepts(&n("10.1.5.0/24")));
    assert!(!f.accepts(&n("10.2.5.0/24")), "the /24 rule is only inside 10.1/16");
    assert!(!f.accepts(&n("10.1.5.0/25")));
    assert!(f.accepts(&n("2001:db8:ff::/48")));
    assert!(!f.accepts(&n("2001:db8:ff::/49")));
    assert!(!f.accepts(&n("10.0.0.0/8").trunc().supernet().unwrap()));
}

#[test]
fn always_block_refuses_any_length_inside_and_wins_over_allow() {
    let f = ReceiveFilter::new(
        AllowMode::All,
        &[],
        &[n("192.168.1.0/24"), n("fc00:f853:ccd:e800::/64"), n("10.96.0.0/12")],
    )
    .unwrap();
    assert_eq!(f.check(&n("192.168.1.0/24")), Verdict::Blocked { by: n("192.168.1.0/24") });
    assert_eq!(f.check(&n("192.168.1.77/32")), Verdict::Blocked { by: n("192.168.1.0/24") });
    assert!(f.accepts(&n("192.168.0.0/16")), "a covering prefix is not inside the block");
    assert!(f.accepts(&n("192.168.2.0/24")));
    assert_eq!(f.check(&n("fc00:f853:ccd:e800::5/128")), Verdict::Blocked { by: n("fc00:f853:ccd:e800::/64") });
    assert_eq!(f.check(&n("10.100.0.0/16")), Verdict::Blocked { by: n("10.96.0.0/12") });

    let f =
        ReceiveFilter::new(AllowMode::Filtered, &[sel("10.0.0.0/8", None, Some(32))], &[n("10.96.0.0/12")]).unwrap();
    assert!(f.accepts(&n("10.1.0.0/16")));
    assert_eq!(f.check(&n("10.96.0.1/32")), Verdict::Blocked { by: n("10.96.0.0/12") });
}

#[test]
fn invalid_selectors_are_refused() {
    let e = ReceiveFilter::new(
        AllowMode::Filtered,
        &[PrefixSelector { prefix: n("10.0.0.0/24"), ge: Some(16), le: None }],
        &[],
    );
    assert!(matches!(e, Err(FilterError::MaskAboveBound { .. })));
    let e = ReceiveFilter::new(
        AllowMode::Filtered,
        &[PrefixSelector { prefix: n("10.0.0.0/8"), ge: Some(0), le: None }],
        &[],
    );
    assert!(matches!(e, Err(FilterError::LengthOutOfRange { .. })));
    let e = ReceiveFilter::new(
        AllowMode::Filtered,
        &[PrefixSelector { prefix: n("2001:db8::/32"), ge: None, le: Some(129) }],
        &[],
    );
    assert!(matches!(e, Err(FilterError::LengthOutOfRange { max: 128, .. })));
    assert_eq!(e.unwrap_err().to_string(), "prefix selector 2001:db8::/32: le 129 is outside 1..=128");
    assert!(MaxPrefix::new(0).is_err());
    assert!(MaxPrefix { limit: 10, warning_threshold_percent: 101, warning_only: false }.validate().is_err());
    assert_eq!(MaxPrefix::new(1000).unwrap().warning_count(), 750);
}

#[test]
fn selectors_display_like_frr_prefix_lists() {
    assert_eq!(sel("192.168.1.0/24", Some(25), Some(28)).to_string(), "192.168.1.0/24 ge 25 le 28");
    assert_eq!(sel("10.0.0.0/8", None, None).to_string(), "10.0.0.0/8");
}
