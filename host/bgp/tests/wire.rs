//! Codec tests: hand-assembled byte vectors (from the RFC layouts) ↔ structs both ways,
//! RFC 7606 classification, AS4 merging, packing, truncation and garbage robustness.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::{XorShift, hex, message};
use ferrolb_bgp::wire::attrs::{attr_type, flag};
use ferrolb_bgp::wire::update::decode_update;
use ferrolb_bgp::wire::{
    AS_TRANS, Aggregator, AsPath, AsSegment, Capability, Community, Context, Family, GracefulRestartCap,
    GracefulRestartFamily, Header, LargeCommunity, Message, MpNextHop, MpReach, MpUnreach, Notification, Open, Origin,
    PathAttributes, RawAttribute, Rfc7606Action, RouteRefresh, SegmentType, Update, code, msg_type, pack_updates,
};
use ipnet::IpNet;

fn ctx4() -> Context {
    Context::default()
}

fn ctx2() -> Context {
    Context { four_octet_as: false, ..Context::default() }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn v4(s: &str) -> ipnet::Ipv4Net {
    s.parse().expect("v4 prefix")
}

/// Both directions: bytes decode to `msg` (without RFC 7606 actions), and `msg` encodes to bytes.
fn both_ways(bytes: &[u8], msg: &Message, ctx: &Context) {
    let (decoded, actions) = Message::decode(bytes, ctx).expect("decodes");
    assert_eq!(&decoded, msg);
    assert!(actions.is_empty(), "unexpected RFC 7606 actions {actions:?}");
    assert_eq!(msg.encode(ctx).expect("encodes"), bytes);
}

const MARKER: &str = "ffffffffffffffffffffffffffffffff";

#[test]
fn keepalive_both_ways() {
    both_ways(&hex(&format!("{MARKER} 0013 04")), &Message::Keepalive, &ctx4());
}

fn sample_open() -> (Vec<u8>, Open) {
    let bytes = hex(&format!(
        "{MARKER} 003d 01
         04 fde9 00b4 c0a80001 20
         02 1e
           01 04 0001 00 01
           01 04 0002 00 01
           02 00
           41 04 0000fde9
           40 06 8078 0001 01 80
           46 00"
    ));
    let open = Open::new(
        65001,
        180,
        Ipv4Addr::new(192, 168, 0, 1),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: true,
                notification: false,
                restart_time: 120,
                families: vec![GracefulRestartFamily { family: Family::IPV4_UNICAST, forwarding_preserved: true }],
            }),
            Capability::Unknown { code: 70, value: vec![] },
        ],
    );
    (bytes, open)
}

#[test]
fn open_with_capabilities_both_ways() {
    let (bytes, open) = sample_open();
    both_ways(&bytes, &Message::Open(open.clone()), &ctx4());
    assert_eq!(open.asn(), 65001);
    assert_eq!(open.multiprotocol(), vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert!(open.route_refresh());
    assert_eq!(open.graceful_restart().map(|g| g.restart_time), Some(120));
}

#[test]
fn open_four_octet_as_uses_as_trans() {
    let open = Open::new(AS_TRANS as u16, 90, Ipv4Addr::new(10, 0, 0, 1), vec![Capability::FourOctetAs(4_200_000_001)]);
    let bytes = hex(&format!("{MARKER} 0025 01 04 5ba0 005a 0a000001 08 02 06 41 04 fa56ea01"));
    both_ways(&bytes, &Message::Open(open.clone()), &ctx4());
    assert_eq!(open.asn(), 4_200_000_001);
}

#[test]
fn open_capabilities_spread_over_parameters_are_flattened() {
    // Two Capabilities parameters, one capability each (as some speakers send them).
    let bytes = hex(&format!("{MARKER} 0025 01 04 fde9 005a 0a000001 08 02 02 02 00 02 02 46 00"));
    let (m, _) = Message::decode(&bytes, &ctx4()).expect("decodes");
    let Message::Open(open) = m else { panic!("not an OPEN") };
    assert_eq!(open.capabilities, vec![Capability::RouteRefresh, Capability::Unknown { code: 70, value: vec![] }]);
}

#[test]
fn open_unsupported_optional_parameter() {
    let bytes = hex(&format!("{MARKER} 001f 01 04 fde9 005a 0a000001 02 01 00"));
    let e = Message::decode(&bytes, &ctx4()).expect_err("parameter type 1 refused");
    assert_eq!((e.code, e.subcode), (code::OPEN_MESSAGE, code::open::UNSUPPORTED_OPTIONAL_PARAMETER));
}

#[test]
fn notification_both_ways() {
    let n = Notification { code: code::CEASE, subcode: code::cease::ADMINISTRATIVE_SHUTDOWN, data: b"bye".to_vec() };
    both_ways(&hex(&format!("{MARKER} 0018 03 06 02 627965")), &Message::Notification(n), &ctx4());
    let v = Notification::unsupported_version();
    both_ways(&hex(&format!("{MARKER} 0017 03 02 01 0004")), &Message::Notification(v.clone()), &ctx4());
    assert!(v.is_version_error());
}

#[test]
fn route_refresh_both_ways() {
    both_ways(
        &hex(&format!("{MARKER} 0017 05 0002 00 01")),
        &Message::RouteRefresh(RouteRefresh::new(Family::IPV6_UNICAST)),
        &ctx4(),
    );
    let e = Message::decode(&hex(&format!("{MARKER} 0018 05 0002 00 01 00")), &ctx4()).expect_err("5-octet body");
    assert_eq!((e.code, e.subcode), (code::ROUTE_REFRESH_MESSAGE, code::route_refresh::INVALID_MESSAGE_LENGTH));
}

fn full_v4_update() -> (Vec<u8>, Update) {
    let bytes = hex(&format!(
        "{MARKER} 0073 02
         0003 0c ac10
         0053
           40 01 01 00
           40 02 0a 02 02 0000fde9 0000fdea
           40 03 04 c0000201
           80 04 04 00000064
           40 05 04 000000c8
           40 06 00
           c0 07 08 0000fde9 c0000201
           c0 08 08 fde90064 ffffff01
           c0 20 0c 0000fde9 00000001 00000002
           e0 63 02 abcd
         08 0a 18 c0a801"
    ));
    let update = Update {
        withdrawn: vec![v4("172.16.0.0/12")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65001, 65002])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(100),
            local_pref: Some(200),
            atomic_aggregate: true,
            aggregator: Some(Aggregator { asn: 65001, address: Ipv4Addr::new(192, 0, 2, 1) }),
            communities: vec![Community::new(65001, 100), Community::NO_EXPORT],
            large_communities: vec![LargeCommunity { global: 65001, local1: 1, local2: 2 }],
            mp_reach: None,
            mp_unreach: None,
            unknown: vec![RawAttribute {
                flags: flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL,
                type_code: 99,
                value: vec![0xab, 0xcd],
            }],
        },
        nlri: vec![v4("10.0.0.0/8"), v4("192.168.1.0/24")],
    };
    (bytes, update)
}

#[test]
fn update_every_attribute_both_ways() {
    let (bytes, update) = full_v4_update();
    both_ways(&bytes, &Message::Update(update.clone()), &ctx4());
    assert_eq!(update.announced(), vec![net("10.0.0.0/8"), net("192.168.1.0/24")]);
    assert_eq!(update.withdrawn_prefixes(), vec![net("172.16.0.0/12")]);
    assert_eq!(update.next_hop(Family::IPV4_UNICAST), Some("192.0.2.1".parse().expect("ip")));
}

#[test]
fn unknown_transitive_attribute_gets_partial_bit_and_non_transitive_is_dropped() {
    let body = hex("0000 000c 40 01 01 00 c0 63 01 07 80 64 01 08");
    let (u, actions) = decode_update(&body, &ctx4()).expect("decodes");
    assert!(actions.is_empty());
    assert_eq!(
        u.attributes.unknown,
        vec![RawAttribute { flags: flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL, type_code: 99, value: vec![7] }]
    );
}

#[test]
fn extended_length_flag_is_honoured_and_used_for_long_values() {
    // ORIGIN sent with a 2-octet length.
    let body = hex("0000 0005 50 01 0001 02");
    let (u, actions) = decode_update(&body, &ctx4()).expect("decodes");
    assert!(actions.is_empty());
    assert_eq!(u.attributes.origin, Some(Origin::Incomplete));
    // 100 communities = 400 octets: encoded with the Extended Length bit.
    let u = Update {
        attributes: PathAttributes { communities: (0..100).map(Community).collect(), ..Default::default() },
        ..Default::default()
    };
    let bytes = u.encode(&ctx4()).expect("encodes");
    assert_eq!(&bytes[23..27], &[0xd0, 0x08, 0x01, 0x90]);
    assert_eq!(Message::decode(&bytes, &ctx4()).expect("decodes").0, Message::Update(u));
}

fn v6_update() -> (Vec<u8>, Update) {
    let bytes = hex(&format!(
        "{MARKER} 0064 02 0000 004d
           90 0e 002e 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
                40 20010db800000001
           90 0f 000a 0002 01 30 20010db80002
           40 01 01 00
           40 02 06 02 01 0000fde9"
    ));
    let update = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65001])),
            mp_reach: Some(MpReach {
                family: Family::IPV6_UNICAST,
                next_hop: MpNextHop::V6 {
                    global: "2001:db8::1".parse::<Ipv6Addr>().expect("ip"),
                    link_local: Some("fe80::1".parse::<Ipv6Addr>().expect("ip")),
                },
                nlri: vec![net("2001:db8:0:1::/64")],
            }),
            mp_unreach: Some(MpUnreach { family: Family::IPV6_UNICAST, withdrawn: vec![net("2001:db8:2::/48")] }),
            ..Default::default()
        },
        ..Default::default()
    };
    (bytes, update)
}

#[test]
fn mp_reach_and_unreach_ipv6_both_ways() {
    let (bytes, update) = v6_update();
    both_ways(&bytes, &Message::Update(update.clone()), &ctx4());
    assert_eq!(update.next_hop(Family::IPV6_UNICAST), Some("2001:db8::1".parse().expect("ip")));
    // A 16-octet next hop (global only), non-extended length on the wire.
    let body =
        hex("0000 0024 80 0e 1a 0002 01 10 20010db8000000000000000000000009 00 20 20010db8 40 01 01 00 40 02 00");
    let (u, actions) = decode_update(&body, &ctx4()).expect("decodes");
    assert!(actions.is_empty(), "{actions:?}");
    let mp = u.attributes.mp_reach.expect("mp_reach");
    assert_eq!(mp.next_hop, MpNextHop::V6 { global: "2001:db8::9".parse().expect("ip"), link_local: None });
    assert_eq!(mp.nlri, vec![net("2001:db8::/32")]);
}

#[test]
fn mp_reach_ipv4_both_ways() {
    let u = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Egp),
            as_path: Some(AsPath::default()),
            mp_reach: Some(MpReach {
                family: Family::IPV4_UNICAST,
                next_hop: MpNextHop::V4(Ipv4Addr::new(10, 1, 1, 1)),
                nlri: vec![net("10.9.0.0/16")],
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let bytes =
        hex(&format!("{MARKER} 002e 02 0000 0017 90 0e 000c 0001 01 04 0a010101 00 10 0a09 40 01 01 01 40 02 00"));
    both_ways(&bytes, &Message::Update(u), &ctx4());
}

#[test]
fn end_of_rib_markers() {
    let eor4 = Update::end_of_rib(Family::IPV4_UNICAST);
    let bytes4 = hex(&format!("{MARKER} 0017 02 0000 0000"));
    both_ways(&bytes4, &Message::Update(eor4.clone()), &ctx4());
    assert_eq!(eor4.is_end_of_rib(), Some(Family::IPV4_UNICAST));
    let eor6 = Update::end_of_rib(Family::IPV6_UNICAST);
    let bytes6 = hex(&format!("{MARKER} 001e 02 0000 0007 90 0f 0003 0002 01"));
    both_ways(&bytes6, &Message::Update(eor6.clone()), &ctx4());
    assert_eq!(eor6.is_end_of_rib(), Some(Family::IPV6_UNICAST));
    let (_, full) = full_v4_update();
    assert_eq!(full.is_end_of_rib(), None);
    let (_, v6) = v6_update();
    assert_eq!(v6.is_end_of_rib(), None);
}

#[test]
fn as4_path_merged_from_a_two_octet_speaker() {
    // AS_PATH [65003, AS_TRANS, 65002] + AS4_PATH [4200000001, 65002]: an old speaker (65003)
    // prepended itself after the AS4_PATH was built (RFC 6793 §4.2.3).
    let body = hex("0000 0026
         40 01 01 00
         40 02 08 02 03 fdeb 5ba0 fdea
         40 03 04 c0000201
         c0 07 06 5ba0 c0000202
         c0 11 0a 02 02 fa56ea01 0000fdea
         c0 12 08 fa56ea01 c0000202
         18 c63364");
    let body = fix_attr_len(body);
    let (u, actions) = decode_update(&body, &ctx2()).expect("decodes");
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65003, 4_200_000_001, 65002])));
    assert_eq!(u.attributes.aggregator, Some(Aggregator { asn: 4_200_000_001, address: Ipv4Addr::new(192, 0, 2, 2) }));
}

#[test]
fn as4_path_ignored_when_longer_than_as_path_or_aggregator_not_as_trans() {
    let body = fix_attr_len(hex(
        "0000 0000 40 01 01 00 40 02 04 02 01 fdeb 40 03 04 c0000201 c0 11 0a 02 02 fa56ea01 0000fdea 18 c63364",
    ));
    let (u, _) = decode_update(&body, &ctx2()).expect("decodes");
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65003])));
    // AGGREGATOR with a real 2-octet AS: AS4_AGGREGATOR and AS4_PATH are ignored.
    let body = fix_attr_len(hex("0000 0000 40 01 01 00 40 02 04 02 01 5ba0 40 03 04 c0000201 c0 07 06 fdeb c0000202
         c0 11 06 02 01 fa56ea01 c0 12 08 fa56ea01 c0000202 18 c63364"));
    let (u, _) = decode_update(&body, &ctx2()).expect("decodes");
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![AS_TRANS])));
    assert_eq!(u.attributes.aggregator.map(|a| a.asn), Some(65003));
}

#[test]
fn as4_attributes_generated_for_a_two_octet_peer() {
    let u = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence(vec![65003, 4_200_000_001, 65002])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            aggregator: Some(Aggregator { asn: 4_200_000_001, address: Ipv4Addr::new(192, 0, 2, 2) }),
            ..Default::default()
        },
        nlri: vec![v4("198.51.100.0/24")],
        ..Default::default()
    };
    let bytes = u.encode(&ctx2()).expect("encodes");
    let expected = hex(&format!(
        "{MARKER} 0056 02 0000 003b
         40 01 01 00
         40 02 08 02 03 fdeb 5ba0 fdea
         40 03 04 c0000201
         c0 07 06 5ba0 c0000202
         c0 11 0e 02 03 0000fdeb fa56ea01 0000fdea
         c0 12 08 fa56ea01 c0000202
         18 c63364"
    ));
    assert_eq!(bytes, expected);
    // And a 2-octet decode of it gives the real path back.
    assert_eq!(Message::decode(&bytes, &ctx2()).expect("decodes").0, Message::Update(u.clone()));
    // A 4-octet session carries no AS4 attributes and drops received ones.
    let bytes4 = u.encode(&ctx4()).expect("encodes");
    let (m, actions) = Message::decode(&bytes4, &ctx4()).expect("decodes");
    assert!(actions.is_empty());
    assert_eq!(m, Message::Update(u));
}

#[test]
fn as_path_sets_and_long_sequences() {
    let path = AsPath {
        segments: vec![
            AsSegment { kind: SegmentType::Sequence, asns: (1..=300).collect() },
            AsSegment { kind: SegmentType::Set, asns: vec![7, 8] },
        ],
    };
    assert_eq!(path.length(), 301);
    let u = Update {
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(path),
            next_hop: Some(Ipv4Addr::new(1, 1, 1, 1)),
            ..Default::default()
        },
        nlri: vec![v4("10.0.0.0/8")],
        ..Default::default()
    };
    let bytes = u.encode(&ctx4()).expect("encodes");
    let (m, _) = Message::decode(&bytes, &ctx4()).expect("decodes");
    let Message::Update(back) = m else { panic!("not an update") };
    // The 300-AS sequence is split into 255 + 45 on the wire: same ASes, same length.
    let segs = &back.attributes.as_path.as_ref().expect("path").segments;
    assert_eq!(segs.len(), 3);
    assert_eq!(segs[0].asns.len(), 255);
    assert_eq!(back.attributes.as_path.as_ref().expect("path").length(), 301);
}

/// Rewrites the Total Path Attribute Length of an UPDATE body whose NLRI is the last 4 octets.
fn fix_attr_len(mut body: Vec<u8>) -> Vec<u8> {
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let alen = body.len() - 2 - wlen - 2 - 4;
    body[2 + wlen..4 + wlen].copy_from_slice(&(alen as u16).to_be_bytes());
    body
}

/// ORIGIN, AS_PATH, NEXT_HOP then `extra`, then NLRI 10.0.0.0/8.
fn body_with(extra: &str) -> Vec<u8> {
    let attrs = hex(&format!("40 01 01 00 40 02 06 02 01 0000fde9 40 03 04 c0000201 {extra}"));
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(&attrs);
    b.extend_from_slice(&[8, 10]);
    b
}

fn taw_of(actions: &[Rfc7606Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Rfc7606Action::TreatAsWithdraw { type_code, .. } => Some(*type_code),
            _ => None,
        })
        .collect()
}

fn discard_of(actions: &[Rfc7606Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Rfc7606Action::AttributeDiscard { type_code, .. } => Some(*type_code),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc7606_treat_as_withdraw_cases() {
    let cases = [
        ("c0 08 03 000001", attr_type::COMMUNITIES), // not a multiple of 4
        ("c0 08 00", attr_type::COMMUNITIES),        // empty
        ("c0 20 08 0000000100000002", attr_type::LARGE_COMMUNITY),
        ("80 04 03 000001", attr_type::MULTI_EXIT_DISC),
        ("40 05 02 0001", attr_type::LOCAL_PREF),
        ("40 04 04 00000001", attr_type::MULTI_EXIT_DISC), // MED with well-known flags
    ];
    for (extra, t) in cases {
        let (u, actions) = decode_update(&body_with(extra), &ctx4()).expect("no reset");
        assert_eq!(taw_of(&actions), vec![t], "{extra}");
        assert_eq!(u.nlri, vec![v4("10.0.0.0/8")]);
    }
    // Malformed well-known mandatory attributes (the body carries its own ORIGIN/AS_PATH/NEXT_HOP).
    let own = |attrs: &str| {
        let a = hex(attrs);
        let mut b = vec![0, 0];
        b.extend_from_slice(&(a.len() as u16).to_be_bytes());
        b.extend_from_slice(&a);
        b.extend_from_slice(&[8, 10]);
        b
    };
    let cases = [
        ("40 01 01 05 40 02 00 40 03 04 0a000001", vec![attr_type::ORIGIN]), // bad ORIGIN value
        ("c0 01 01 00 40 02 00 40 03 04 0a000001", vec![attr_type::ORIGIN]), // ORIGIN flagged optional
        ("40 01 01 00 40 02 04 07 01 fde9 40 03 04 0a000001", vec![attr_type::AS_PATH]), // bad segment type
        ("40 01 01 00 40 02 02 02 00 40 03 04 0a000001", vec![attr_type::AS_PATH]), // zero-length segment
        ("40 01 01 00 40 02 00 40 03 03 0a0000", vec![attr_type::NEXT_HOP]),
        ("40 01 01 00 40 02 00 40 03 04 00000000", vec![attr_type::NEXT_HOP]), // 0.0.0.0
        ("40 02 00 40 03 04 0a000001", vec![attr_type::ORIGIN]),               // ORIGIN missing
        ("40 01 01 00 40 03 04 0a000001", vec![attr_type::AS_PATH]),           // AS_PATH missing
        ("40 01 01 00 40 02 00", vec![attr_type::NEXT_HOP]),                   // NEXT_HOP missing
        ("", vec![attr_type::ORIGIN, attr_type::AS_PATH, attr_type::NEXT_HOP]), // no attributes at all
    ];
    for (attrs, expected) in cases {
        let (_, actions) = decode_update(&own(attrs), &ctx4()).expect("no reset");
        assert_eq!(taw_of(&actions), expected, "{attrs}");
    }
    // Attribute overrunning the attribute field: treat-as-withdraw, NLRI still located.
    let body = hex("0000 000b 40 01 01 00 40 02 00 40 03 09 0a 08 0a");
    let (u, actions) = decode_update(&body, &ctx4()).expect("no reset");
    assert!(taw_of(&actions).contains(&attr_type::NEXT_HOP));
    assert_eq!(u.nlri, vec![v4("10.0.0.0/8")]);
}

#[test]
fn rfc7606_missing_attributes_without_nlri_are_fine() {
    // A withdrawal-only UPDATE needs no attributes.
    let (u, actions) = decode_update(&hex("0002 080a 0000"), &ctx4()).expect("decodes");
    assert!(actions.is_empty());
    assert_eq!(u.withdrawn, vec![v4("10.0.0.0/8")]);
    // MP_REACH NLRI needs ORIGIN and AS_PATH but not NEXT_HOP.
    let body = hex("0000 0017 90 0e 000c 0001 01 04 0a010101 00 10 0a09 40 01 01 01 40 02 00");
    let (_, actions) = decode_update(&body, &ctx4()).expect("decodes");
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn rfc7606_attribute_discard_cases() {
    let cases = [
        ("40 06 01 00", attr_type::ATOMIC_AGGREGATE),
        ("c0 07 06 fde9 0a000001", attr_type::AGGREGATOR), // 6 octets on a 4-octet session
        ("c0 08 04 00000001 c0 08 04 00000002", attr_type::COMMUNITIES), // duplicate: second dropped
        ("c0 11 06 02 01 fa56ea01", attr_type::AS4_PATH),  // AS4_PATH from a 4-octet speaker
        ("90 0e 000c 0001 02 04 0a010101 00 10 0a09", attr_type::MP_REACH_NLRI), // multicast, not negotiated
    ];
    for (extra, t) in cases {
        let (u, actions) = decode_update(&body_with(extra), &ctx4()).expect("no reset");
        assert_eq!(discard_of(&actions), vec![t], "{extra}");
        assert!(taw_of(&actions).is_empty(), "{extra}");
        assert_eq!(u.nlri, vec![v4("10.0.0.0/8")]);
    }
    let (u, _) = decode_update(&body_with("c0 08 04 00000001 c0 08 04 00000002"), &ctx4()).expect("ok");
    assert_eq!(u.attributes.communities, vec![Community(1)]);
    // Malformed AS4_PATH / AS4_AGGREGATOR on a 2-octet session: discarded.
    let body = fix_attr_len(hex(
        "0000 0000 40 01 01 00 40 02 04 02 01 5ba0 40 03 04 c0000201 c0 11 03 02 01 fa c0 12 07 fa56ea01 c00002 18 c63364",
    ));
    let (u, actions) = decode_update(&body, &ctx2()).expect("no reset");
    assert_eq!(discard_of(&actions), vec![attr_type::AS4_PATH, attr_type::AS4_AGGREGATOR]);
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![AS_TRANS])));
}

#[test]
fn rfc7606_session_reset_cases() {
    let reset = |body: Vec<u8>, sub: u8| {
        let e = decode_update(&body, &ctx4()).expect_err("session reset");
        assert_eq!((e.code, e.subcode), (code::UPDATE_MESSAGE, sub), "{e}");
        e
    };
    // Duplicate MP_REACH_NLRI.
    reset(
        body_with("90 0e 000c 0001 01 04 0a010101 00 10 0a09 90 0e 000c 0001 01 04 0a010101 00 10 0a09"),
        code::update::MALFORMED_ATTRIBUTE_LIST,
    );
    // MP_REACH_NLRI with a 5-octet IPv4 next hop.
    reset(body_with("90 0e 000d 0001 01 05 0a01010101 00 10 0a09"), code::update::OPTIONAL_ATTRIBUTE);
    // MP_UNREACH_NLRI with a bad prefix length.
    reset(body_with("90 0f 0005 0002 01 81 00"), code::update::OPTIONAL_ATTRIBUTE);
    // Unrecognized well-known attribute: data is the attribute.
    let e = reset(body_with("40 63 01 00"), code::update::UNRECOGNIZED_WELL_KNOWN);
    assert_eq!(e.data, vec![0x40, 0x63, 0x01, 0x00]);
    // NLRI prefix length 33.
    let mut b = body_with("");
    b.truncate(b.len() - 2);
    b.extend_from_slice(&[33, 1, 2, 3, 4, 5]);
    reset(b, code::update::INVALID_NETWORK_FIELD);
    // Lengths overrunning the message.
    reset(hex("0005 08 0a"), code::update::MALFORMED_ATTRIBUTE_LIST);
    reset(hex("0000 0009 40 01 01 00"), code::update::MALFORMED_ATTRIBUTE_LIST);
}

#[test]
fn header_errors_map_to_notifications() {
    let check = |bytes: Vec<u8>, sub: u8, data: Vec<u8>| {
        let e = Header::decode(&bytes).expect_err("bad header");
        assert_eq!((e.code, e.subcode, e.data.clone()), (code::MESSAGE_HEADER, sub, data));
        assert_eq!(e.notification(), Notification { code: code::MESSAGE_HEADER, subcode: sub, data: e.data.clone() });
    };
    let mut bad_marker = message(msg_type::KEEPALIVE, &[]);
    bad_marker[3] = 0;
    check(bad_marker, code::header::CONNECTION_NOT_SYNCHRONIZED, vec![]);
    check(hex(&format!("{MARKER} 0012 04")), code::header::BAD_MESSAGE_LENGTH, vec![0, 0x12]);
    check(hex(&format!("{MARKER} 1001 02")), code::header::BAD_MESSAGE_LENGTH, vec![0x10, 0x01]);
    check(hex(&format!("{MARKER} 0014 04")), code::header::BAD_MESSAGE_LENGTH, vec![0, 0x14]);
    check(hex(&format!("{MARKER} 001c 01")), code::header::BAD_MESSAGE_LENGTH, vec![0, 0x1c]);
    check(hex(&format!("{MARKER} 0013 09")), code::header::BAD_MESSAGE_TYPE, vec![9]);
}

fn decode_all(updates: &[Update], ctx: &Context) -> (Vec<IpNet>, Vec<IpNet>) {
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    for u in updates {
        let bytes = u.encode(ctx).expect("fits");
        assert!(bytes.len() <= 4096, "{} octets", bytes.len());
        let (m, actions) = Message::decode(&bytes, ctx).expect("decodes");
        assert!(actions.is_empty(), "{actions:?}");
        let Message::Update(back) = m else { panic!("not an update") };
        ann.extend(back.announced());
        wd.extend(back.withdrawn_prefixes());
    }
    (ann, wd)
}

fn attrs_for_packing() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence(vec![64512])),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        communities: vec![Community::new(64512, 1)],
        ..Default::default()
    }
}

#[test]
fn packing_ipv4_fills_messages() {
    let ctx = ctx4();
    let attrs = attrs_for_packing();
    let prefixes: Vec<IpNet> = (0..3000u32)
        .map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).expect("net")))
        .collect();
    let withdraw: Vec<IpNet> = (0..500u32)
        .map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + (i << 8)), 24).expect("net")))
        .collect();
    let updates = pack_updates(&ctx, &attrs, None, &prefixes, &withdraw).expect("packs");
    let (ann, wd) = decode_all(&updates, &ctx);
    assert_eq!(ann, prefixes);
    assert_eq!(wd, withdraw);
    // As few messages as fit: total octets / room per message, rounded up.
    let one = Update { attributes: attrs.clone(), nlri: vec![v4("10.0.0.0/24")], ..Default::default() };
    let attr_len = one.encode(&ctx).expect("encodes").len() - 23 - 4;
    let room = 4096 - 23;
    let total = 500 * 4 + attr_len + 3000 * 4;
    let minimum = total.div_ceil(room);
    assert!(updates.len() <= minimum + 1, "{} messages for a minimum of {minimum}", updates.len());
    // Every message but the last is nearly full.
    for u in &updates[..updates.len() - 1] {
        assert!(u.encode(&ctx).expect("encodes").len() > 4096 - 4 - attr_len);
    }
}

#[test]
fn packing_ipv6_uses_mp_attributes() {
    let ctx = ctx4();
    let attrs = attrs_for_packing();
    let prefixes: Vec<IpNet> = (0..2000u128)
        .map(|i| IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) + (i << 64)), 64).expect("net")))
        .collect();
    let withdraw = vec![net("2001:db8:ffff::/48")];
    let nh =
        MpNextHop::V6 { global: "2001:db8::1".parse().expect("ip"), link_local: Some("fe80::1".parse().expect("ip")) };
    let updates = pack_updates(&ctx, &attrs, Some(nh), &prefixes, &withdraw).expect("packs");
    assert!(updates.len() >= 5 && updates.len() <= 6, "{} messages", updates.len());
    for u in &updates {
        assert!(u.nlri.is_empty() && u.withdrawn.is_empty(), "IPv6 never in the plain fields");
        assert_eq!(u.attributes.next_hop, None);
    }
    let (ann, wd) = decode_all(&updates, &ctx);
    assert_eq!(ann, prefixes);
    assert_eq!(wd, withdraw);
    // IPv6 announcements need an IPv6 next hop.
    assert!(pack_updates(&ctx, &attrs, None, &prefixes[..1], &[]).is_err());
}

#[test]
fn packing_ipv4_in_mp_when_asked() {
    let ctx = Context { ipv4_in_mp: true, ..ctx4() };
    let updates =
        pack_updates(&ctx, &attrs_for_packing(), None, &[net("10.1.0.0/16")], &[net("10.2.0.0/16")]).expect("packs");
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    assert!(u.nlri.is_empty() && u.withdrawn.is_empty());
    let mp = u.attributes.mp_reach.as_ref().expect("mp_reach");
    assert_eq!(mp.next_hop, MpNextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(u.attributes.mp_unreach.as_ref().expect("unreach").withdrawn, vec![net("10.2.0.0/16")]);
    assert_eq!(decode_all(&updates, &ctx), (vec![net("10.1.0.0/16")], vec![net("10.2.0.0/16")]));
}

fn vectors() -> Vec<Vec<u8>> {
    vec![
        sample_open().0,
        full_v4_update().0,
        v6_update().0,
        hex(&format!("{MARKER} 0018 03 06 02 627965")),
        hex(&format!("{MARKER} 0017 05 0002 00 01")),
        hex(&format!("{MARKER} 0013 04")),
        Update::end_of_rib(Family::IPV6_UNICAST).encode(&ctx4()).expect("eor"),
    ]
}

#[test]
fn truncation_at_every_offset_never_panics() {
    for ctx in [ctx4(), ctx2()] {
        for v in vectors() {
            for cut in 0..v.len() {
                let _ = Message::decode(&v[..cut], &ctx);
                if cut >= 19 {
                    // Lie about the length too: the header says `cut` octets.
                    let mut w = v[..cut].to_vec();
                    w[16..18].copy_from_slice(&(cut as u16).to_be_bytes());
                    let _ = Message::decode(&w, &ctx);
                    let _ = decode_update(&w[19..], &ctx);
                    let _ = Open::decode_body(&w[19..]);
                }
            }
        }
    }
}

#[test]
fn pseudo_random_garbage_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let ctxs = [ctx4(), ctx2(), Context { ipv4_in_mp: true, ..ctx2() }];
    let seeds = vectors();
    for i in 0..20_000 {
        let ctx = &ctxs[i % ctxs.len()];
        let input = match rng.below(3) {
            // Pure garbage behind a valid header.
            0 => {
                let kind = 1 + rng.below(5) as u8;
                let n = rng.below(300) as usize;
                message(kind, &rng.bytes(n))
            }
            // A valid vector with a few bytes flipped.
            1 => {
                let mut v = seeds[rng.below(seeds.len() as u64) as usize].clone();
                for _ in 0..1 + rng.below(4) {
                    let at = 19 + rng.below((v.len() - 19).max(1) as u64) as usize;
                    if at < v.len() {
                        v[at] = rng.next() as u8;
                    }
                }
                v
            }
            // A plausible UPDATE: random attributes with sane framing.
            _ => {
                let mut attrs = Vec::new();
                for _ in 0..rng.below(6) {
                    let flags = (rng.next() as u8) & 0xf0;
                    let t = [1u8, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32, 99][rng.below(14) as usize];
                    let len = rng.below(40) as usize;
                    attrs.push(flags & !0x10);
                    attrs.push(t);
                    attrs.push(len as u8);
                    attrs.extend(rng.bytes(len));
                }
                let mut body = vec![0, 0];
                body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
                body.extend(attrs);
                let n = rng.below(10) as usize;
                body.extend(rng.bytes(n));
                message(msg_type::UPDATE, &body)
            }
        };
        if let Ok((Message::Update(u), _)) = Message::decode(&input, ctx) {
            // Whatever decodes re-encodes without panicking.
            let _ = u.encode(ctx);
        }
    }
}

// Captured from FRR 8.4.4 (bgpd in a namespace, tests/frr_interop.rs printing the bytes it read).
const FRR_OPEN: &str = "ffffffffffffffffffffffffffffffff00710104fdea00090aff00025402060104000100010206010400020001020280000202020002024600020641040000fdea02020600020a450800010101000201010206490402766d0002044002c0780210470e0001018000000000020180000000";
const FRR_UPDATE_V4: &str =
    "ffffffffffffffffffffffffffffffff0037020000001c400101005002000602010000fdea400304c612660280040400000000180a4d00";
const FRR_UPDATE_V6: &str = "ffffffffffffffffffffffffffffffff005c0200000045900e002c00020120fe800000000000008826f7fffe2a9b0dfe800000000000008826f7fffe2a9b0d003020010db80077400101005002000602010000fdea80040400000000";
const FRR_EOR_V4: &str = "ffffffffffffffffffffffffffffffff00170200000000";
const FRR_EOR_V6: &str = "ffffffffffffffffffffffffffffffff001d0200000006800f03000201";

/// Decodes, re-encodes, decodes again: the same structure (FRR's own encoding choices, such as
/// one parameter per capability or extended lengths, need not be reproduced byte for byte).
fn structural_round_trip(bytes: &[u8]) -> Message {
    let (m, actions) = Message::decode(bytes, &ctx4()).expect("FRR's bytes decode");
    assert!(actions.is_empty(), "{actions:?}");
    let again = m.encode(&ctx4()).expect("re-encodes");
    assert_eq!(Message::decode(&again, &ctx4()).expect("decodes").0, m);
    m
}

#[test]
fn captured_frr_open() {
    let Message::Open(open) = structural_round_trip(&hex(FRR_OPEN)) else { panic!("not an OPEN") };
    assert_eq!((open.version, open.my_as, open.hold_time), (4, 65002, 9));
    assert_eq!(open.bgp_id, Ipv4Addr::new(10, 255, 0, 2));
    assert_eq!(open.asn(), 65002);
    assert_eq!(open.multiprotocol(), vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert!(open.route_refresh());
    let gr = open.graceful_restart().expect("GR capability");
    assert!(gr.restart_state && gr.notification);
    assert_eq!((gr.restart_time, gr.families.len()), (120, 0));
    // Old Cisco route refresh, enhanced route refresh, extended message, ADD-PATH, FQDN,
    // long-lived GR: kept, not used.
    let unknown: Vec<u8> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Unknown { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(unknown, vec![128, 70, 6, 69, 73, 71]);
}

#[test]
fn captured_frr_updates() {
    let Message::Update(u) = structural_round_trip(&hex(FRR_UPDATE_V4)) else { panic!("not an UPDATE") };
    assert_eq!(u.nlri, vec![v4("10.77.0.0/24")]);
    assert_eq!(u.attributes.origin, Some(Origin::Igp));
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65002])));
    assert_eq!(u.attributes.next_hop, Some(Ipv4Addr::new(198, 18, 102, 2)));
    assert_eq!(u.attributes.med, Some(0));

    let Message::Update(u) = structural_round_trip(&hex(FRR_UPDATE_V6)) else { panic!("not an UPDATE") };
    let mp = u.attributes.mp_reach.as_ref().expect("MP_REACH_NLRI");
    let ll: Ipv6Addr = "fe80::8826:f7ff:fe2a:9b0d".parse().expect("ip");
    assert_eq!(mp.next_hop, MpNextHop::V6 { global: ll, link_local: Some(ll) });
    assert_eq!(mp.nlri, vec![net("2001:db8:77::/48")]);
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence(vec![65002])));

    for (bytes, family) in [(FRR_EOR_V4, Family::IPV4_UNICAST), (FRR_EOR_V6, Family::IPV6_UNICAST)] {
        let Message::Update(u) = structural_round_trip(&hex(bytes)) else { panic!("not an UPDATE") };
        assert_eq!(u.is_end_of_rib(), Some(family));
    }
}

#[test]
fn route_attributes_are_shared_and_repack_as_is() {
    let (_, v6) = v6_update();
    let ra = v6.route_attributes();
    assert_eq!(ra.mp_unreach, None);
    let mp = ra.mp_reach.as_ref().expect("family and next hop kept");
    assert!(mp.nlri.is_empty());
    assert_eq!(ra.next_hop_for(Family::IPV6_UNICAST), Some("2001:db8::1".parse().expect("ip")));
    // Two UPDATEs with the same path but other prefixes share their route attributes.
    let mut other = v6.clone();
    other.attributes.mp_reach.as_mut().expect("mp").nlri = vec![net("2001:db8:5::/48")];
    other.attributes.mp_unreach = None;
    assert_eq!(other.route_attributes(), ra);
    // And they pack back without naming the next hop again.
    let updates = pack_updates(&ctx4(), &ra, None, &[net("2001:db8:9::/48")], &[]).expect("packs");
    assert_eq!(updates.len(), 1);
    let mp = updates[0].attributes.mp_reach.as_ref().expect("mp_reach");
    assert_eq!(
        (mp.next_hop, mp.nlri.clone()),
        (v6.attributes.mp_reach.expect("mp").next_hop, vec![net("2001:db8:9::/48")])
    );
}
