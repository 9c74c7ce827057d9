//! Codec tests: byte vectors assembled from the RFC layouts and captured from the Linux kernel,
//! `arping` and `ndisc6` (tcpdump -XX inside two namespaces joined by a veth pair), both ways; every
//! validation rule; truncation and garbage never panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrolb_l2::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use ferrolb_l2::wire::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame, EthernetRepr};
use ferrolb_l2::wire::ipv6::{Ipv6Packet, Ipv6Repr, icmpv6_checksum};
use ferrolb_l2::wire::ndp::{self, IpContext, NaFlags, NdpPacket, NdpRepr};
use ferrolb_l2::{MacAddr, WireError};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits")).collect()
}

const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);

/// `arping -c 1 -I va 192.0.2.10` from 02:00:00:00:00:0a, as tcpdump printed it (arping pads to 58).
const ARPING_REQUEST: &str = "ffff ffff ffff 0200 0000 000a 0806 0001
    0800 0604 0001 0200 0000 000a c000 0201 0000 0000 0000 c000 020a 0000 0000 0000
    0000 0000 0000 0000 0000";
/// The kernel's reply "192.0.2.10 is-at 02:00:00:00:00:0b" (42 bytes, unpadded on a veth).
const KERNEL_ARP_REPLY: &str = "0200 0000 000a 0200 0000 000b 0806 0001
    0800 0604 0002 0200 0000 000b c000 020a 0200 0000 000a c000 0201";
/// `ndisc6 -1 2001:db8::10 va`: NS from fe80::ff:fe00:a to ff02::1:ff00:10, SLLA option, flow label.
const NDISC6_NS: &str = "3333 ff00 0010 0200 0000 000a 86dd 6001
    2782 0020 3aff fe80 0000 0000 0000 0000 00ff fe00 000a ff02 0000 0000 0000 0000
    0001 ff00 0010 8700 4c31 0000 0000 2001 0db8 0000 0000 0000 0000 0000 0010 0101
    0200 0000 000a";
/// The kernel's NA answering it: S and O set, TLLA option.
const KERNEL_NA: &str = "0200 0000 000a 0200 0000 000b 86dd 6000
    0000 0020 3aff 2001 0db8 0000 0000 0000 0000 0000 0010 fe80 0000 0000 0000 0000
    00ff fe00 000a 8800 ba7b 6000 0000 2001 0db8 0000 0000 0000 0000 0000 0010 0201
    0200 0000 000b";
/// The kernel's DAD NS for its link-local address: from ::, with a Nonce option (RFC 7527, type 14).
const KERNEL_DAD_NS: &str = "3333 ff00 000b 0200 0000 000b 86dd 6000
    0000 0020 3aff 0000 0000 0000 0000 0000 0000 0000 0000 ff02 0000 0000 0000 0000
    0001 ff00 000b 8700 ea2d 0000 0000 fe80 0000 0000 0000 0000 00ff fe00 000b 0e01
    0ce7 39c4 3e2f";

fn ipv6(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

/// Splits an Ethernet+IPv6 frame into the IP context and the ICMPv6 message.
fn split_v6(frame: &[u8]) -> (IpContext, Vec<u8>) {
    let eth = EthernetFrame::new_checked(frame).expect("ethernet");
    assert_eq!(eth.ethertype(), ETHERTYPE_IPV6);
    let ip = Ipv6Packet::new_checked(eth.payload()).expect("ipv6");
    let r = Ipv6Repr::parse(&ip).expect("ipv6 repr");
    (IpContext { src: r.src, dst: r.dst, hop_limit: r.hop_limit }, ip.payload().to_vec())
}

#[test]
fn arping_request_parses_and_reemits_identically() {
    let bytes = hex(ARPING_REQUEST);
    let eth = EthernetFrame::new_checked(&bytes[..]).expect("frame");
    let eth_repr = EthernetRepr::parse(&eth).expect("eth repr");
    assert_eq!(eth_repr, EthernetRepr { dst: MacAddr::BROADCAST, src: MAC_A, vlan: None, ethertype: ETHERTYPE_ARP });
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).expect("arp")).expect("arp repr");
    assert_eq!(
        arp,
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: MAC_A,
            sender_ip: Ipv4Addr::new(192, 0, 2, 1),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(192, 0, 2, 10),
        }
    );
    assert!(!arp.is_gratuitous() && !arp.is_probe());
    // Re-emitted: the same 42 bytes arping put on the wire, then zero padding (ours to 60).
    let ours = eth_repr.emit_frame(&arp.to_bytes());
    assert_eq!(&ours[..42], &bytes[..42]);
    assert_eq!(ours.len(), 60);
    assert!(ours[42..].iter().chain(&bytes[42..]).all(|b| *b == 0));
}

#[test]
fn our_reply_equals_the_kernels_reply() {
    let request = {
        let b = hex(ARPING_REQUEST);
        let eth = EthernetFrame::new_checked(b).expect("frame");
        ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).expect("arp")).expect("repr")
    };
    let reply = ArpRepr::reply_to(&request, MAC_B);
    let eth = EthernetRepr { dst: MAC_A, src: MAC_B, vlan: None, ethertype: ETHERTYPE_ARP };
    let ours = eth.emit_frame(&reply.to_bytes());
    let kernel = hex(KERNEL_ARP_REPLY);
    // Same 42 bytes; ours is padded to the 60-byte minimum with zeros.
    assert_eq!(&ours[..42], &kernel[..]);
    assert_eq!(ours.len(), 60);
    assert!(ours[42..].iter().all(|b| *b == 0));
}

#[test]
fn gratuitous_forms_follow_rfc5227() {
    let ip = Ipv4Addr::new(192, 0, 2, 10);
    let a = ArpRepr::announcement(MAC_B, ip);
    assert_eq!(a.operation, ArpOperation::Request);
    assert!(a.is_gratuitous());
    assert_eq!(a.target_mac, MacAddr::ZERO);
    let r = ArpRepr::gratuitous_reply(MAC_B, ip);
    assert_eq!(r.operation, ArpOperation::Reply);
    assert!(r.is_gratuitous());
    let bytes = a.to_bytes();
    assert_eq!(bytes, hex("0001 0800 0604 0001 0200 0000 000b c000 020a 0000 0000 0000 c000 020a"));
    let probe = ArpRepr { sender_ip: Ipv4Addr::UNSPECIFIED, ..a };
    assert!(probe.is_probe());
}

#[test]
fn arp_validation() {
    let good = hex("0001 0800 0604 0001 0200 0000 000a c000 0201 0000 0000 0000 c000 020a");
    let parse = |b: &[u8]| ArpPacket::new_checked(b).and_then(|p| ArpRepr::parse(&p));
    assert!(parse(&good).is_ok());
    let mut b = good.clone();
    b[1] = 6; // IEEE 802 hardware type
    assert_eq!(parse(&b), Err(WireError::ArpHardwareType(6)));
    let mut b = good.clone();
    b[2..4].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(parse(&b), Err(WireError::ArpProtocolType(0x86dd)));
    let mut b = good.clone();
    b[4] = 8;
    assert_eq!(parse(&b), Err(WireError::ArpAddressLength { hlen: 8, plen: 4 }));
    let mut b = good.clone();
    b[7] = 3; // RARP request
    assert_eq!(parse(&b), Err(WireError::ArpOperation(3)));
    for len in 0..good.len() {
        assert!(matches!(parse(&good[..len]), Err(WireError::Truncated { .. })), "length {len}");
    }
    assert!(matches!(
        ArpRepr::announcement(MAC_A, Ipv4Addr::LOCALHOST).emit(&mut [0u8; 27]),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn ethernet_vlan_tag_round_trip() {
    let repr = EthernetRepr { dst: MacAddr::BROADCAST, src: MAC_A, vlan: Some(341), ethertype: ETHERTYPE_ARP };
    let frame = repr.emit_frame(&[0xaa; 28]);
    assert_eq!(&frame[..18], &hex("ffff ffff ffff 0200 0000 000a 8100 0155 0806")[..]);
    let f = EthernetFrame::new_checked(&frame[..]).expect("tagged frame");
    assert_eq!(f.vlan(), Some(341));
    assert_eq!(f.header_len(), 18);
    assert_eq!(EthernetRepr::parse(&f).expect("repr"), repr);
    assert_eq!(&f.payload()[..28], &[0xaa; 28]);
    // Priority bits are not part of the VID.
    let mut pcp = frame.clone();
    pcp[14] |= 0xe0;
    assert_eq!(EthernetFrame::new_checked(&pcp[..]).expect("frame").vlan(), Some(341));
    // A tag cut short is a truncation, not a panic.
    assert!(matches!(EthernetFrame::new_checked(&frame[..16]), Err(WireError::Truncated { .. })));
    assert!(matches!(EthernetFrame::new_checked(&frame[..13]), Err(WireError::Truncated { .. })));
}

#[test]
fn ndisc6_solicitation_validates_and_reemits_identically() {
    let frame = hex(NDISC6_NS);
    let (ctx, msg) = split_v6(&frame);
    assert_eq!(ctx, IpContext { src: ipv6("fe80::ff:fe00:a"), dst: ipv6("ff02::1:ff00:10"), hop_limit: 255 });
    let ns = NdpRepr::parse_bytes(&msg, &ctx).expect("valid NS");
    assert_eq!(ns, NdpRepr::NeighborSolicit { target: ipv6("2001:db8::10"), source_lladdr: Some(MAC_A) });
    // Our emitter produces the kernel-checked bytes, checksum 0x4c31 included.
    assert_eq!(ns.to_bytes(&ctx.src, &ctx.dst), msg);
    assert_eq!(ndp::solicited_node(&ns.target()), ctx.dst);
    assert_eq!(ndp::multicast_mac(&ctx.dst), MacAddr([0x33, 0x33, 0xff, 0, 0, 0x10]));
    assert_eq!(ndp::link_local_from_mac(MAC_A), ctx.src);
}

#[test]
fn kernel_advertisement_validates_and_reemits_identically() {
    let frame = hex(KERNEL_NA);
    let (ctx, msg) = split_v6(&frame);
    let na = NdpRepr::parse_bytes(&msg, &ctx).expect("valid NA");
    assert_eq!(
        na,
        NdpRepr::NeighborAdvert {
            flags: NaFlags { router: false, solicited: true, override_: true },
            target: ipv6("2001:db8::10"),
            target_lladdr: Some(MAC_B),
        }
    );
    assert_eq!(na.to_bytes(&ctx.src, &ctx.dst), msg);
    // And the whole frame, IPv6 header included.
    let ip = Ipv6Repr { src: ctx.src, dst: ctx.dst, next_header: 58, payload_len: 32, hop_limit: 255 };
    let mut packet = vec![0u8; 40];
    ip.emit(&mut packet).expect("ipv6 header");
    packet.extend_from_slice(&msg);
    let eth = EthernetRepr { dst: MAC_A, src: MAC_B, vlan: None, ethertype: ETHERTYPE_IPV6 };
    assert_eq!(eth.emit_frame(&packet), frame);
}

#[test]
fn kernel_dad_solicitation_with_nonce_option_is_valid() {
    let (ctx, msg) = split_v6(&hex(KERNEL_DAD_NS));
    assert!(ctx.src.is_unspecified());
    let ns = NdpRepr::parse_bytes(&msg, &ctx).expect("valid DAD NS");
    // The nonce option (type 14) is unknown to us and skipped.
    assert_eq!(ns, NdpRepr::NeighborSolicit { target: ipv6("fe80::ff:fe00:b"), source_lladdr: None });
}

#[test]
fn checksum_of_a_valid_message_is_zero() {
    let (ctx, msg) = split_v6(&hex(NDISC6_NS));
    assert_eq!(icmpv6_checksum(&ctx.src, &ctx.dst, &msg), 0);
    // Odd length: the last byte is padded with zero (RFC 1071) and the result still verifies.
    let mut odd = vec![0x80, 0, 0, 0, 0x12, 0x34, 0x56];
    let sum = icmpv6_checksum(&ctx.src, &ctx.dst, &odd);
    odd[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(icmpv6_checksum(&ctx.src, &ctx.dst, &odd), 0);
    // A one-bit change anywhere is caught.
    let mut flipped = msg.clone();
    flipped[31] ^= 1;
    assert_ne!(icmpv6_checksum(&ctx.src, &ctx.dst, &flipped), 0);
}

/// A valid NS, re-checksummed after `edit`, for the validation-rule tests.
fn ns_with(ctx: &IpContext, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut msg = NdpRepr::NeighborSolicit { target: ipv6("2001:db8::10"), source_lladdr: Some(MAC_A) }
        .to_bytes(&ctx.src, &ctx.dst);
    edit(&mut msg);
    msg[2..4].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(&ctx.src, &ctx.dst, &msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

#[test]
fn rfc4861_7_1_1_solicitation_rules() {
    let ctx = IpContext { src: ipv6("fe80::1"), dst: ipv6("ff02::1:ff00:10"), hop_limit: 255 };
    let ok = ns_with(&ctx, |_| {});
    assert!(NdpRepr::parse_bytes(&ok, &ctx).is_ok());
    // Hop limit must be 255.
    let routed = IpContext { hop_limit: 254, ..ctx };
    assert_eq!(NdpRepr::parse_bytes(&ok, &routed), Err(WireError::NdpHopLimit(254)));
    // Checksum must be valid.
    let mut bad = ok.clone();
    bad[2] ^= 0xff;
    assert!(matches!(NdpRepr::parse_bytes(&bad, &ctx), Err(WireError::Icmpv6Checksum { .. })));
    // ... and it covers the pseudo-header: another destination breaks it.
    let other_dst = IpContext { dst: ipv6("ff02::1:ff00:11"), ..ctx };
    assert!(matches!(NdpRepr::parse_bytes(&ok, &other_dst), Err(WireError::Icmpv6Checksum { .. })));
    // Code must be 0.
    let coded = ns_with(&ctx, |m| m[1] = 1);
    assert_eq!(NdpRepr::parse_bytes(&coded, &ctx), Err(WireError::NdpCode(1)));
    // ICMP length must be at least 24.
    for len in 0..24 {
        assert!(matches!(NdpRepr::parse_bytes(&ok[..len], &ctx), Err(WireError::Truncated { .. })), "len {len}");
    }
    // Target must not be multicast.
    let mcast = ns_with(&ctx, |m| m[8..24].copy_from_slice(&ipv6("ff02::1").octets()));
    assert_eq!(NdpRepr::parse_bytes(&mcast, &ctx), Err(WireError::NdpTargetMulticast(ipv6("ff02::1"))));
    // Every option must have a length > 0.
    let zero = ns_with(&ctx, |m| m[25] = 0);
    assert_eq!(NdpRepr::parse_bytes(&zero, &ctx), Err(WireError::NdpOptionZeroLength(1)));
    // An option may not run past the end.
    let long = ns_with(&ctx, |m| m[25] = 2);
    assert_eq!(NdpRepr::parse_bytes(&long, &ctx), Err(WireError::NdpOptionOverrun { kind: 1, len: 16 }));
    let stub = ns_with(&ctx, |m| m.push(7));
    assert!(matches!(NdpRepr::parse_bytes(&stub, &ctx), Err(WireError::NdpOptionOverrun { kind: 7, .. })));
    // An SLLA option that cannot hold an Ethernet address.
    let wide = ns_with(&ctx, |m| {
        m[25] = 2;
        m.extend_from_slice(&[0; 8]);
    });
    assert_eq!(NdpRepr::parse_bytes(&wide, &ctx), Err(WireError::NdpLinkLayerOptionLength(2)));
    // DAD (source ::) must go to a solicited-node address and must not carry SLLA.
    let dad = IpContext { src: Ipv6Addr::UNSPECIFIED, ..ctx };
    let dad_ok = ns_with(&dad, |m| m.truncate(24));
    assert_eq!(
        NdpRepr::parse_bytes(&dad_ok, &dad),
        Ok(NdpRepr::NeighborSolicit { target: ipv6("2001:db8::10"), source_lladdr: None })
    );
    let dad_slla = ns_with(&dad, |_| {});
    assert_eq!(NdpRepr::parse_bytes(&dad_slla, &dad), Err(WireError::NdpDadWithSourceLinkLayer));
    let dad_unicast = IpContext { dst: ipv6("2001:db8::10"), ..dad };
    let m = ns_with(&dad_unicast, |m| m.truncate(24));
    assert_eq!(NdpRepr::parse_bytes(&m, &dad_unicast), Err(WireError::NdpDadDestination(ipv6("2001:db8::10"))));
    let dad_all_nodes = IpContext { dst: ndp::ALL_NODES, ..dad };
    let m = ns_with(&dad_all_nodes, |m| m.truncate(24));
    assert_eq!(NdpRepr::parse_bytes(&m, &dad_all_nodes), Err(WireError::NdpDadDestination(ndp::ALL_NODES)));
    // Unknown options are skipped, a second SLLA is ignored after the first.
    let extra = ns_with(&ctx, |m| {
        m.extend_from_slice(&[99, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&[1, 1, 9, 9, 9, 9, 9, 9]);
    });
    assert_eq!(
        NdpRepr::parse_bytes(&extra, &ctx),
        Ok(NdpRepr::NeighborSolicit { target: ipv6("2001:db8::10"), source_lladdr: Some(MAC_A) })
    );
    // A multicast source is refused (an answer would be a solicited NA to a group).
    let from_group = IpContext { src: ipv6("ff02::1"), ..ctx };
    let m = ns_with(&from_group, |_| {});
    assert_eq!(NdpRepr::parse_bytes(&m, &from_group), Err(WireError::Ipv6SourceMulticast(ipv6("ff02::1"))));
    // Not an NS/NA at all.
    let echo = ns_with(&ctx, |m| m[0] = 128);
    assert_eq!(NdpRepr::parse_bytes(&echo, &ctx), Err(WireError::Icmpv6Type(128)));
}

#[test]
fn rfc4861_7_1_2_advertisement_rules() {
    let na =
        |flags: NaFlags| NdpRepr::NeighborAdvert { flags, target: ipv6("2001:db8::10"), target_lladdr: Some(MAC_B) };
    let so = NaFlags { router: false, solicited: true, override_: true };
    let unsolicited = NaFlags { solicited: false, ..so };
    let to_all = IpContext { src: ipv6("fe80::b"), dst: ndp::ALL_NODES, hop_limit: 255 };
    let to_one = IpContext { dst: ipv6("fe80::a"), ..to_all };
    // Round trips, all flag combinations.
    for bits in 0..8u8 {
        let f = NaFlags { router: bits & 4 != 0, solicited: bits & 2 != 0, override_: bits & 1 != 0 };
        let bytes = na(f).to_bytes(&to_one.src, &to_one.dst);
        assert_eq!(NdpRepr::parse_bytes(&bytes, &to_one), Ok(na(f)), "flags {f:?}");
    }
    // S = 1 to a multicast destination is invalid.
    let bytes = na(so).to_bytes(&to_all.src, &to_all.dst);
    assert_eq!(NdpRepr::parse_bytes(&bytes, &to_all), Err(WireError::NdpSolicitedToMulticast(ndp::ALL_NODES)));
    let bytes = na(unsolicited).to_bytes(&to_all.src, &to_all.dst);
    assert_eq!(NdpRepr::parse_bytes(&bytes, &to_all), Ok(na(unsolicited)));
    // Hop limit, code, multicast target apply to NAs too.
    let hop = IpContext { hop_limit: 1, ..to_all };
    assert_eq!(NdpRepr::parse_bytes(&bytes, &hop), Err(WireError::NdpHopLimit(1)));
    let mcast = NdpRepr::NeighborAdvert { flags: unsolicited, target: ndp::ALL_NODES, target_lladdr: None }
        .to_bytes(&to_all.src, &to_all.dst);
    assert_eq!(NdpRepr::parse_bytes(&mcast, &to_all), Err(WireError::NdpTargetMulticast(ndp::ALL_NODES)));
    let mut coded = bytes.clone();
    coded[1] = 3;
    coded[2..4].copy_from_slice(&[0, 0]);
    let sum = icmpv6_checksum(&to_all.src, &to_all.dst, &coded);
    coded[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(NdpRepr::parse_bytes(&coded, &to_all), Err(WireError::NdpCode(3)));
    // The NA layout: flags in the top bits of byte 4.
    assert_eq!(bytes[4], 0x20);
    assert_eq!(na(so).to_bytes(&to_one.src, &to_one.dst)[4], 0x60);
}

#[test]
fn solicited_node_addresses() {
    assert_eq!(ndp::solicited_node(&ipv6("2001:db8::abcd:1234:5678")), ipv6("ff02::1:ff34:5678"));
    assert!(ndp::is_solicited_node(&ipv6("ff02::1:ff34:5678")));
    assert!(!ndp::is_solicited_node(&ipv6("ff02::1")));
    assert!(!ndp::is_solicited_node(&ipv6("ff05::1:ff34:5678")));
    assert_eq!(ndp::multicast_mac(&ipv6("ff02::1:ff34:5678")).to_string(), "33:33:ff:34:56:78");
    assert_eq!(ndp::multicast_mac(&ndp::ALL_NODES).to_string(), "33:33:00:00:00:01");
}

#[test]
fn ipv6_header_validation() {
    let (_, _) = split_v6(&hex(KERNEL_NA));
    let frame = hex(KERNEL_NA);
    let packet = &frame[14..];
    let mut v4 = packet.to_vec();
    v4[0] = 0x45;
    assert_eq!(Ipv6Packet::new_checked(&v4[..]).err(), Some(WireError::Ipv6Version(4)));
    assert_eq!(
        Ipv6Packet::new_checked(&packet[..60]).err(),
        Some(WireError::Ipv6PayloadLength { claimed: 32, available: 20 })
    );
    assert!(matches!(Ipv6Packet::new_checked(&packet[..39]), Err(WireError::Truncated { .. })));
    // Trailing bytes (Ethernet padding) are not part of the payload.
    let mut padded = packet.to_vec();
    padded.extend_from_slice(&[0; 6]);
    assert_eq!(Ipv6Packet::new_checked(&padded[..]).expect("padded").payload().len(), 32);
}

#[test]
fn mac_parse_and_display() {
    let m: MacAddr = "02:00:00:00:00:0a".parse().expect("mac");
    assert_eq!(m, MAC_A);
    assert_eq!(m.to_string(), "02:00:00:00:00:0a");
    assert!(m.is_unicast() && !MacAddr::BROADCAST.is_unicast() && !MacAddr::ZERO.is_unicast());
    assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
    assert!("02:00:00:00:00:0a:0b".parse::<MacAddr>().is_err());
    assert!("02:00:00:00:00:zz".parse::<MacAddr>().is_err());
    assert!("002:00:00:00:00:0".parse::<MacAddr>().is_err());
}

/// xorshift64*: a fixed seed makes every run the same.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn parse_everything(bytes: &[u8]) {
    if let Ok(f) = EthernetFrame::new_checked(bytes) {
        let _ = EthernetRepr::parse(&f);
        let _ = ArpPacket::new_checked(f.payload()).and_then(|p| ArpRepr::parse(&p));
        if let Ok(ip) = Ipv6Packet::new_checked(f.payload()) {
            let r = Ipv6Repr::parse(&ip).expect("parse of a checked header cannot fail");
            let ctx = IpContext { src: r.src, dst: r.dst, hop_limit: r.hop_limit };
            let _ = NdpRepr::parse_bytes(ip.payload(), &ctx);
        }
    }
    let _ = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p));
    let ctx = IpContext { src: Ipv6Addr::UNSPECIFIED, dst: ipv6("ff02::1:ff00:10"), hop_limit: 255 };
    let _ = NdpRepr::parse_bytes(bytes, &ctx);
    if let Ok(p) = NdpPacket::new_checked(bytes) {
        let _ = (p.target(), p.flags(), p.code(), p.checksum(), p.options().count());
    }
}

#[test]
fn truncation_and_garbage_never_panic() {
    let seeds = [ARPING_REQUEST, KERNEL_ARP_REPLY, NDISC6_NS, KERNEL_NA, KERNEL_DAD_NS].map(hex);
    for s in &seeds {
        for len in 0..=s.len() {
            parse_everything(&s[..len]);
        }
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..50_000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            b[i] = rng.next() as u8;
        }
        if rng.below(3) == 0 {
            b.truncate(rng.below(b.len() + 1));
        }
        parse_everything(&b);
        let random: Vec<u8> = (0..rng.below(100)).map(|_| rng.next() as u8).collect();
        parse_everything(&random);
    }
}
