//! The announcer against a fake clock: answers only for owned addresses on allowed interfaces,
//! the gratuitous schedule to the nanosecond, give-up, DAD, conflicts, VLANs, garbage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ferrolb_l2::MacAddr;
use ferrolb_l2::announcer::{
    Action, Announcement, Announcer, AnnouncerConfig, ConfigError, GarpForm, Input, InterfaceFacts, NaSource,
    NdpOutput, SendKind,
};
use ferrolb_l2::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use ferrolb_l2::wire::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame, EthernetRepr};
use ferrolb_l2::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use ferrolb_l2::wire::ndp::{self, IpContext, NaFlags, NdpRepr};

const MAC0: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
const MAC1: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x02]);
const MAC2: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x03]);
const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);
const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn iface(index: u32, name: &str, mac: MacAddr, up: bool) -> InterfaceFacts {
    InterfaceFacts { index, name: name.into(), mac, up, vlan: None, link_local: Some(ndp::link_local_from_mac(mac)) }
}

fn interfaces() -> Vec<InterfaceFacts> {
    vec![iface(2, "eth0", MAC0, true), iface(3, "eth1", MAC1, true), iface(4, "eth2", MAC2, false)]
}

fn announcements() -> Vec<Announcement> {
    vec![
        Announcement { ip: IpAddr::V4(V4), interfaces: vec!["eth0".into()] },
        Announcement { ip: IpAddr::V6(v6("2001:db8::10")), interfaces: vec![] },
    ]
}

fn drain(a: &mut Announcer) -> Vec<Action> {
    std::iter::from_fn(|| a.poll_action()).collect()
}

fn started(config: AnnouncerConfig, t0: Instant) -> Announcer {
    let mut a = Announcer::new(config).expect("valid config");
    a.set_interfaces(t0, interfaces());
    a.set_announcements(t0, announcements());
    a
}

fn arp_request(src_mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let arp = ArpRepr {
        operation: ArpOperation::Request,
        sender_mac: src_mac,
        sender_ip: sender,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    };
    EthernetRepr { dst: MacAddr::BROADCAST, src: src_mac, vlan: None, ethertype: ETHERTYPE_ARP }
        .emit_frame(&arp.to_bytes())
}

fn decode_arp(frame: &[u8]) -> (EthernetRepr, ArpRepr) {
    let f = EthernetFrame::new_checked(frame).expect("frame");
    let e = EthernetRepr::parse(&f).expect("eth");
    let a = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).expect("arp")).expect("arp repr");
    (e, a)
}

fn decode_ndp_frame(frame: &[u8]) -> (EthernetRepr, IpContext, NdpRepr) {
    let f = EthernetFrame::new_checked(frame).expect("frame");
    let e = EthernetRepr::parse(&f).expect("eth");
    let ip = Ipv6Packet::new_checked(f.payload()).expect("ipv6");
    let r = Ipv6Repr::parse(&ip).expect("ipv6 repr");
    let ctx = IpContext { src: r.src, dst: r.dst, hop_limit: r.hop_limit };
    (e, ctx, NdpRepr::parse_bytes(ip.payload(), &ctx).expect("our NDP is valid"))
}

fn sends(actions: &[Action]) -> Vec<(u32, SendKind)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendFrame { ifindex, kind, .. } | Action::SendIcmpv6 { ifindex, kind, .. } => {
                Some((*ifindex, *kind))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn takeover_announces_at_once_on_allowed_up_interfaces() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    let acts = drain(&mut a);
    // Joins first: the solicited-node group of 2001:db8::10 on both up interfaces, not on eth2 (down).
    let joins: Vec<_> = acts
        .iter()
        .filter_map(|x| match x {
            Action::JoinGroup { ifindex, group, mac, .. } => Some((*ifindex, *group, *mac)),
            _ => None,
        })
        .collect();
    let g = v6("ff02::1:ff00:10");
    assert_eq!(
        joins,
        vec![(2, g, MacAddr([0x33, 0x33, 0xff, 0, 0, 0x10])), (3, g, MacAddr([0x33, 0x33, 0xff, 0, 0, 0x10]))]
    );
    assert_eq!(
        sends(&acts),
        vec![(2, SendKind::GratuitousArp), (2, SendKind::UnsolicitedNa), (3, SendKind::UnsolicitedNa)]
    );
    // The gratuitous ARP is an RFC 5227 announcement, broadcast, from eth0's MAC.
    let Action::SendFrame { frame, interface, .. } = &acts[2] else { panic!("expected a frame: {:?}", acts[2]) };
    assert_eq!(interface, "eth0");
    let (eth, arp) = decode_arp(frame);
    assert_eq!((eth.dst, eth.src, eth.vlan), (MacAddr::BROADCAST, MAC0, None));
    assert_eq!(arp, ArpRepr::announcement(MAC0, V4));
    // The unsolicited NA: to ff02::1, hop limit 255, S=0 O=1, TLLA = the interface's MAC, valid.
    let Action::SendIcmpv6 { src, dst, hop_limit, message, .. } = &acts[3] else { panic!("expected icmpv6") };
    // From the target address itself (NaSource::Target, the default, as Linux does).
    assert_eq!((*src, *dst, *hop_limit), (Some(v6("2001:db8::10")), ndp::ALL_NODES, 255));
    let ctx = IpContext { src: v6("2001:db8::10"), dst: ndp::ALL_NODES, hop_limit: 255 };
    assert_eq!(
        NdpRepr::parse_bytes(message, &ctx),
        Ok(NdpRepr::NeighborAdvert {
            flags: NaFlags { router: false, solicited: false, override_: true },
            target: v6("2001:db8::10"),
            target_lladdr: Some(MAC0),
        })
    );
    assert_eq!(a.counters().gratuitous_arp_sent, 1);
    assert_eq!(a.counters().unsolicited_na_sent, 2);
}

#[test]
fn gratuitous_schedule_is_exact() {
    let t0 = Instant::now();
    let config = AnnouncerConfig::default();
    let offsets = config.schedule.clone();
    assert_eq!(offsets, [0, 100, 300, 1000, 2000].map(Duration::from_millis));
    let mut a = started(config, t0);
    assert_eq!(sends(&drain(&mut a)).len(), 3);
    for off in &offsets[1..] {
        let due = a.poll_timeout().expect("more announcements pending");
        assert_eq!(due, t0 + *off);
        // A nanosecond early: nothing.
        a.handle_timeout(due - Duration::from_nanos(1));
        assert!(drain(&mut a).is_empty());
        a.handle_timeout(due);
        assert_eq!(
            sends(&drain(&mut a)),
            vec![(2, SendKind::GratuitousArp), (2, SendKind::UnsolicitedNa), (3, SendKind::UnsolicitedNa)]
        );
    }
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.counters().gratuitous_arp_sent, 5);
    assert_eq!(a.counters().unsolicited_na_sent, 10);
}

#[test]
fn a_late_timer_sends_one_copy_not_a_burst() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    a.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(sends(&drain(&mut a)).len(), 3);
    // The +2 s copy stays where it was.
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(2)));
}

#[test]
fn garp_forms() {
    let t0 = Instant::now();
    for (form, ops) in [
        (GarpForm::Request, vec![ArpOperation::Request]),
        (GarpForm::Reply, vec![ArpOperation::Reply]),
        (GarpForm::Both, vec![ArpOperation::Request, ArpOperation::Reply]),
    ] {
        let mut a = started(AnnouncerConfig { garp_form: form, ..AnnouncerConfig::default() }, t0);
        let got: Vec<_> = drain(&mut a)
            .into_iter()
            .filter_map(|x| match x {
                Action::SendFrame { frame, kind: SendKind::GratuitousArp, .. } => Some(decode_arp(&frame).1),
                _ => None,
            })
            .collect();
        assert_eq!(got.iter().map(|g| g.operation).collect::<Vec<_>>(), ops);
        assert!(got.iter().all(|g| g.is_gratuitous() && g.sender_ip == V4 && g.sender_mac == MAC0));
    }
}

#[test]
fn arp_replies_only_for_owned_addresses_on_allowed_interfaces() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    // Owned, on eth0: a unicast reply to the requester.
    a.handle(t0, Input::Frame { ifindex: 2, bytes: arp_request(CLIENT, CLIENT_V4, V4) });
    let acts = drain(&mut a);
    assert_eq!(sends(&acts), vec![(2, SendKind::ArpReply)]);
    let Action::SendFrame { frame, .. } = &acts[0] else { panic!("frame") };
    let (eth, arp) = decode_arp(frame);
    assert_eq!((eth.dst, eth.src), (CLIENT, MAC0));
    assert_eq!(
        arp,
        ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: MAC0,
            sender_ip: V4,
            target_mac: CLIENT,
            target_ip: CLIENT_V4
        }
    );
    // Owned, but eth1 is not allowed for it: silence.
    a.handle_frame(t0, 3, &arp_request(CLIENT, CLIENT_V4, V4));
    // Not owned at all: silence.
    a.handle_frame(t0, 2, &arp_request(CLIENT, CLIENT_V4, Ipv4Addr::new(192, 0, 2, 11)));
    // Down interface, unknown interface: silence.
    a.handle_frame(t0, 4, &arp_request(CLIENT, CLIENT_V4, V4));
    a.handle_frame(t0, 99, &arp_request(CLIENT, CLIENT_V4, V4));
    // Our own request (another of our interfaces' MACs): ignored.
    a.handle_frame(t0, 2, &arp_request(MAC1, CLIENT_V4, V4));
    // A probe (RFC 5227, from 0.0.0.0) for our address is answered: that defends it.
    a.handle_frame(t0, 2, &arp_request(CLIENT, Ipv4Addr::UNSPECIFIED, V4));
    let acts = drain(&mut a);
    assert_eq!(sends(&acts), vec![(2, SendKind::ArpReply)]);
    let Action::SendFrame { frame, .. } = &acts[0] else { panic!("frame") };
    assert_eq!(decode_arp(frame).1.target_ip, Ipv4Addr::UNSPECIFIED);
    let c = a.counters();
    assert_eq!((c.arp_requests_seen, c.arp_replies_sent), (4, 2));
    assert_eq!((c.wrong_interface, c.not_owned, c.unknown_interface, c.own_frames_ignored), (1, 1, 2, 1));
}

#[test]
fn give_up_stops_at_once_and_cancels_pending_announcements() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    a.handle_timeout(t0 + Duration::from_millis(100));
    drain(&mut a);
    let t1 = t0 + Duration::from_millis(150);
    a.set_announcements(t1, vec![Announcement { ip: IpAddr::V6(v6("2001:db8::10")), interfaces: vec![] }]);
    assert!(drain(&mut a).is_empty(), "giving up an IPv4 address sends nothing");
    a.handle_frame(t1, 2, &arp_request(CLIENT, CLIENT_V4, V4));
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.counters().not_owned, 1);
    // Only the IPv6 address's schedule remains: 4 more copies on 2 interfaces, no more ARP.
    let mut garps = 0;
    while let Some(t) = a.poll_timeout() {
        a.handle_timeout(t);
        garps += sends(&drain(&mut a)).iter().filter(|s| s.1 == SendKind::GratuitousArp).count();
    }
    assert_eq!(garps, 0);
    assert_eq!(a.counters().unsolicited_na_sent, 2 * 5);
    // Giving up the IPv6 address leaves its solicited-node group.
    a.set_announcements(t1, vec![]);
    let acts = drain(&mut a);
    assert_eq!(acts.len(), 2);
    assert!(acts.iter().all(|x| matches!(x, Action::LeaveGroup { group, .. } if *group == v6("ff02::1:ff00:10"))));
    assert_eq!(a.poll_timeout(), None);
    assert!(a.status(t1).addresses.is_empty());
}

fn ns(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, slla: Option<MacAddr>) -> (IpContext, Vec<u8>) {
    let ctx = IpContext { src, dst, hop_limit: 255 };
    let msg = NdpRepr::NeighborSolicit { target, source_lladdr: slla }.to_bytes(&src, &dst);
    (ctx, msg)
}

#[test]
fn neighbor_solicitations_on_the_raw_socket_path() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    let target = v6("2001:db8::10");
    let client = v6("2001:db8::99");
    // Address resolution: NA S=1 O=1 back to the solicitor.
    let (ctx, msg) = ns(client, ndp::solicited_node(&target), target, Some(CLIENT));
    a.handle(t0, Input::Icmpv6 { ifindex: 3, src: ctx.src, dst: ctx.dst, hop_limit: 255, message: msg.clone() });
    let acts = drain(&mut a);
    let [Action::SendIcmpv6 { ifindex: 3, kind: SendKind::SolicitedNa, src, dst, hop_limit: 255, message, .. }] =
        &acts[..]
    else {
        panic!("one solicited NA on eth1 expected, got {acts:?}")
    };
    assert_eq!((*src, *dst), (Some(target), client));
    let reply_ctx = IpContext { src: target, dst: client, hop_limit: 255 };
    assert_eq!(
        NdpRepr::parse_bytes(message, &reply_ctx),
        Ok(NdpRepr::NeighborAdvert {
            flags: NaFlags { router: false, solicited: true, override_: true },
            target,
            target_lladdr: Some(MAC1),
        })
    );
    // DAD by someone else for our address: defended with an NA to all nodes, S = 0.
    let (dctx, dmsg) = ns(Ipv6Addr::UNSPECIFIED, ndp::solicited_node(&target), target, None);
    a.handle_icmpv6(t0, 2, dctx, &dmsg);
    let acts = drain(&mut a);
    let [Action::SendIcmpv6 { kind: SendKind::DadDefenceNa, dst, message, .. }] = &acts[..] else {
        panic!("DAD defence expected, got {acts:?}")
    };
    assert_eq!(*dst, ndp::ALL_NODES);
    let dctx2 = IpContext { src: target, dst: ndp::ALL_NODES, hop_limit: 255 };
    assert!(matches!(
        NdpRepr::parse_bytes(message, &dctx2),
        Ok(NdpRepr::NeighborAdvert { flags: NaFlags { solicited: false, override_: true, .. }, .. })
    ));
    // Not ours; forwarded (hop limit 254); from one of our own link-local addresses: silence.
    let (octx, omsg) = ns(client, ndp::solicited_node(&v6("2001:db8::11")), v6("2001:db8::11"), Some(CLIENT));
    a.handle_icmpv6(t0, 2, octx, &omsg);
    a.handle_icmpv6(t0, 2, IpContext { hop_limit: 254, ..ctx }, &msg);
    a.handle_icmpv6(t0, 2, IpContext { src: ndp::link_local_from_mac(MAC1), ..ctx }, &msg);
    // Not owned on a down interface.
    a.handle_icmpv6(t0, 4, ctx, &msg);
    // An echo request is not for us and not malformed.
    a.handle_icmpv6(t0, 2, ctx, &[128, 0, 0, 0, 0, 0, 0, 0]);
    assert!(drain(&mut a).is_empty());
    let c = a.counters();
    assert_eq!((c.ns_seen, c.na_sent, c.dad_defended, c.not_owned), (3, 2, 1, 1));
    assert_eq!(c.malformed.get("ndp.ndp_hop_limit"), Some(&1));
    assert_eq!((c.own_frames_ignored, c.unknown_interface, c.ignored), (1, 1, 1));
}

/// The NS `ndisc6 -1 2001:db8::10 va` sent from 02:00:00:00:00:0a (captured with tcpdump).
const NDISC6_NS: &str = "3333 ff00 0010 0200 0000 000a 86dd 6001
    2782 0020 3aff fe80 0000 0000 0000 0000 00ff fe00 000a ff02 0000 0000 0000 0000
    0001 ff00 0010 8700 4c31 0000 0000 2001 0db8 0000 0000 0000 0000 0000 0010 0101
    0200 0000 000a";
/// The Linux kernel's answer from 02:00:00:00:00:0b, which owned 2001:db8::10.
const KERNEL_NA: &str = "0200 0000 000a 0200 0000 000b 86dd 6000
    0000 0020 3aff 2001 0db8 0000 0000 0000 0000 0000 0010 fe80 0000 0000 0000 0000
    00ff fe00 000a 8800 ba7b 6000 0000 2001 0db8 0000 0000 0000 0000 0000 0010 0201
    0200 0000 000b";

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn ethernet_path_answers_ndisc6_exactly_as_the_kernel_did() {
    let t0 = Instant::now();
    let mac_b = MacAddr([2, 0, 0, 0, 0, 0x0b]);
    let mut a = Announcer::new(AnnouncerConfig {
        ndp_output: NdpOutput::EthernetFrame,
        schedule: vec![],
        ..AnnouncerConfig::default()
    })
    .expect("config");
    // The kernel answers from the target address itself, as NaSource::Target (the default) does.
    a.set_interfaces(t0, vec![iface(7, "vb", mac_b, true)]);
    a.set_announcements(t0, vec![Announcement { ip: "2001:db8::10".parse().expect("ip"), interfaces: vec![] }]);
    assert!(matches!(&drain(&mut a)[..], [Action::JoinGroup { ifindex: 7, .. }]));
    a.handle_frame(t0, 7, &hex(NDISC6_NS));
    let acts = drain(&mut a);
    let [Action::SendFrame { kind: SendKind::SolicitedNa, frame, .. }] = &acts[..] else {
        panic!("one NA frame expected: {acts:?}")
    };
    let kernel = hex(KERNEL_NA);
    assert_eq!(&frame[..kernel.len()], &kernel[..]);
    assert!(frame[kernel.len()..].iter().all(|b| *b == 0));
}

#[test]
fn ethernet_path_unsolicited_na_and_dad_reply_frames() {
    let t0 = Instant::now();
    let config = AnnouncerConfig {
        ndp_output: NdpOutput::EthernetFrame,
        na_source: NaSource::LinkLocal,
        ..AnnouncerConfig::default()
    };
    let mut ifs = interfaces();
    ifs[0].link_local = None; // EUI-64 from the MAC then
    let mut a = Announcer::new(config).expect("config");
    a.set_interfaces(t0, ifs);
    a.set_announcements(t0, announcements());
    let acts = drain(&mut a);
    let na: Vec<_> = acts
        .iter()
        .filter_map(|x| match x {
            Action::SendFrame { ifindex: 2, kind: SendKind::UnsolicitedNa, frame, .. } => Some(decode_ndp_frame(frame)),
            _ => None,
        })
        .collect();
    let [(eth, ctx, _)] = &na[..] else { panic!("one unsolicited NA on eth0") };
    assert_eq!((eth.dst, eth.src, eth.ethertype), (MacAddr([0x33, 0x33, 0, 0, 0, 1]), MAC0, ETHERTYPE_IPV6));
    assert_eq!((ctx.src, ctx.dst, ctx.hop_limit), (ndp::link_local_from_mac(MAC0), ndp::ALL_NODES, 255));
    // A solicitation without SLLA, unicast (NUD): the reply goes to the frame's source MAC.
    let target = v6("2001:db8::10");
    let (c, m) = ns(v6("2001:db8::99"), target, target, None);
    let ip = Ipv6Repr { src: c.src, dst: c.dst, next_header: 58, payload_len: m.len() as u16, hop_limit: 255 };
    let mut pkt = vec![0u8; 40];
    ip.emit(&mut pkt).expect("header");
    pkt.extend_from_slice(&m);
    let frame = EthernetRepr { dst: MAC0, src: CLIENT, vlan: None, ethertype: ETHERTYPE_IPV6 }.emit_frame(&pkt);
    a.handle_frame(t0, 2, &frame);
    let acts = drain(&mut a);
    let [Action::SendFrame { kind: SendKind::SolicitedNa, frame, .. }] = &acts[..] else { panic!("{acts:?}") };
    let (eth, ctx, na) = decode_ndp_frame(frame);
    assert_eq!((eth.dst, ctx.dst), (CLIENT, v6("2001:db8::99")));
    assert!(matches!(
        na,
        NdpRepr::NeighborAdvert { flags: NaFlags { solicited: true, override_: true, router: false }, .. }
    ));
}

#[test]
fn interface_down_stops_and_up_restarts_the_schedule() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    a.handle_timeout(t0 + Duration::from_millis(300));
    drain(&mut a);
    let t1 = t0 + Duration::from_millis(500);
    let mut ifs = interfaces();
    ifs[0].up = false;
    a.set_interfaces(t1, ifs.clone());
    let acts = drain(&mut a);
    assert!(sends(&acts).is_empty());
    assert!(matches!(&acts[..], [Action::LeaveGroup { ifindex: 2, .. }]));
    a.handle_frame(t1, 2, &arp_request(CLIENT, CLIENT_V4, V4));
    assert!(drain(&mut a).is_empty());
    assert!(!a.is_announced(IpAddr::V4(V4), 2));
    // Back up at t2: a fresh takeover on eth0, schedule measured from t2.
    let t2 = t0 + Duration::from_millis(700);
    ifs[0].up = true;
    a.set_interfaces(t2, ifs.clone());
    assert_eq!(sends(&drain(&mut a)), vec![(2, SendKind::GratuitousArp), (2, SendKind::UnsolicitedNa)]);
    assert_eq!(a.poll_timeout(), Some(t2 + Duration::from_millis(100)));
    // eth1 (never down) still has its own schedule (next at t0 + 1 s).
    a.handle_timeout(t2 + Duration::from_millis(100));
    assert_eq!(sends(&drain(&mut a)), vec![(2, SendKind::GratuitousArp), (2, SendKind::UnsolicitedNa)]);
    assert_eq!(a.poll_timeout(), Some(t2 + Duration::from_millis(300)));
    // A MAC change is a takeover too.
    let t3 = t2 + Duration::from_millis(200);
    ifs[1].mac = MacAddr([2, 0, 0, 0, 0, 0x22]);
    a.set_interfaces(t3, ifs);
    assert_eq!(sends(&drain(&mut a)), vec![(3, SendKind::UnsolicitedNa)]);
    let st = a.status(t3);
    let v6s = st.addresses.iter().find(|s| s.ip == IpAddr::V6(v6("2001:db8::10"))).expect("v6 status");
    let eth1 = v6s.announced_on.iter().find(|i| i.interface == "eth1").expect("eth1");
    assert_eq!(
        (eth1.announced_for, eth1.gratuitous_pending, eth1.mac),
        (Duration::ZERO, 4, MacAddr([2, 0, 0, 0, 0, 0x22]))
    );
}

#[test]
fn vlan_tagging() {
    let t0 = Instant::now();
    let mut ifs = interfaces();
    ifs[0].vlan = Some(341);
    let mut a = Announcer::new(AnnouncerConfig::default()).expect("config");
    a.set_interfaces(t0, ifs);
    a.set_announcements(t0, announcements());
    let acts = drain(&mut a);
    let Some(Action::SendFrame { frame, .. }) = acts.iter().find(|x| matches!(x, Action::SendFrame { ifindex: 2, .. }))
    else {
        panic!("garp on eth0")
    };
    assert_eq!(decode_arp(frame).0.vlan, Some(341));
    let tagged = |vid| {
        let arp = ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: CLIENT,
            sender_ip: CLIENT_V4,
            target_mac: MacAddr::ZERO,
            target_ip: V4,
        };
        EthernetRepr { dst: MacAddr::BROADCAST, src: CLIENT, vlan: Some(vid), ethertype: ETHERTYPE_ARP }
            .emit_frame(&arp.to_bytes())
    };
    a.handle_frame(t0, 2, &tagged(342));
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.counters().wrong_vlan, 1);
    a.handle_frame(t0, 2, &tagged(341));
    let acts = drain(&mut a);
    let [Action::SendFrame { frame, kind: SendKind::ArpReply, .. }] = &acts[..] else { panic!("{acts:?}") };
    assert_eq!(decode_arp(frame).0.vlan, Some(341));
}

#[test]
fn conflicts_are_counted_not_fought() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    let other = MacAddr([2, 0, 0, 0, 0, 0xee]);
    let garp = EthernetRepr { dst: MacAddr::BROADCAST, src: other, vlan: None, ethertype: ETHERTYPE_ARP }
        .emit_frame(&ArpRepr::announcement(other, V4).to_bytes());
    a.handle_frame(t0, 2, &garp);
    assert!(drain(&mut a).is_empty());
    let st = a.status(t0);
    assert_eq!(st.counters.conflicts, 1);
    let c = st.last_conflict.expect("conflict recorded");
    assert_eq!((c.ip, c.mac, c.ifindex), (IpAddr::V4(V4), other, 2));
    // An NA from someone else for our IPv6 address.
    let target = v6("2001:db8::10");
    let src = v6("fe80::ee");
    let na = NdpRepr::NeighborAdvert {
        flags: NaFlags { override_: true, ..NaFlags::default() },
        target,
        target_lladdr: Some(other),
    }
    .to_bytes(&src, &ndp::ALL_NODES);
    a.handle_icmpv6(t0, 3, IpContext { src, dst: ndp::ALL_NODES, hop_limit: 255 }, &na);
    assert_eq!(a.counters().conflicts, 2);
}

#[test]
fn malformed_frames_are_counted_by_kind() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    drain(&mut a);
    a.handle_frame(t0, 2, &[0u8; 10]);
    let mut bad_arp = arp_request(CLIENT, CLIENT_V4, V4);
    bad_arp[14 + 7] = 9;
    a.handle_frame(t0, 2, &bad_arp);
    let mut bad_v6 =
        EthernetRepr { dst: MAC0, src: CLIENT, vlan: None, ethertype: ETHERTYPE_IPV6 }.emit_frame(&[0x40; 40]);
    a.handle_frame(t0, 2, &bad_v6);
    bad_v6[14] = 0x60;
    bad_v6[18] = 0xff; // payload length beyond the frame
    a.handle_frame(t0, 2, &bad_v6);
    assert!(drain(&mut a).is_empty());
    let m = &a.counters().malformed;
    assert_eq!(m.get("ethernet.truncated"), Some(&1));
    assert_eq!(m.get("arp.arp_operation"), Some(&1));
    assert_eq!(m.get("ipv6.ipv6_version"), Some(&1));
    assert_eq!(m.get("ipv6.ipv6_payload_length"), Some(&1));
    assert_eq!(a.counters().malformed_total(), 4);
}

#[test]
fn status_lists_addresses_interfaces_and_age() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig::default(), t0);
    let mut anns = announcements();
    anns.push(Announcement { ip: "192.0.2.20".parse().expect("ip"), interfaces: vec!["bond7".into()] });
    a.set_announcements(t0, anns);
    let st = a.status(t0 + Duration::from_millis(1234));
    let view: Vec<(String, Vec<(String, Duration)>)> = st
        .addresses
        .iter()
        .map(|s| (s.ip.to_string(), s.announced_on.iter().map(|i| (i.interface.clone(), i.announced_for)).collect()))
        .collect();
    let age = Duration::from_millis(1234);
    assert_eq!(
        view,
        vec![
            ("192.0.2.10".to_string(), vec![("eth0".to_string(), age)]),
            ("192.0.2.20".to_string(), vec![]),
            ("2001:db8::10".to_string(), vec![("eth0".to_string(), age), ("eth1".to_string(), age)]),
        ]
    );
    assert_eq!(st.addresses[1].wanted_on, vec!["bond7".to_string()]);
}

#[test]
fn config_is_checked() {
    let ms = Duration::from_millis;
    assert_eq!(
        Announcer::new(AnnouncerConfig { schedule: vec![ms(0), ms(300), ms(100)], ..AnnouncerConfig::default() }).err(),
        Some(ConfigError::ScheduleNotSorted { earlier: ms(300), later: ms(100) })
    );
    assert_eq!(
        Announcer::new(AnnouncerConfig { schedule: vec![ms(1); 17], ..AnnouncerConfig::default() }).err(),
        Some(ConfigError::ScheduleTooLong(17))
    );
    // An empty schedule: answers only, no gratuitous traffic, no timers.
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig { schedule: vec![], ..AnnouncerConfig::default() }, t0);
    assert!(sends(&drain(&mut a)).is_empty());
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn inputs_and_actions_serialize_for_replay() {
    // Recorded inputs replay to the same actions.
    let t0 = Instant::now();
    let inputs = vec![
        Input::SetInterfaces(interfaces()),
        Input::SetAnnouncements(announcements()),
        Input::Frame { ifindex: 2, bytes: arp_request(CLIENT, CLIENT_V4, V4) },
    ];
    let run = |inputs: Vec<Input>| {
        let mut a = Announcer::new(AnnouncerConfig::default()).expect("config");
        inputs
            .into_iter()
            .flat_map(|i| {
                a.handle(t0, i);
                drain(&mut a)
            })
            .collect::<Vec<_>>()
    };
    let first = run(inputs.clone());
    assert_eq!(run(inputs), first);
    assert_eq!(first.len(), 6);
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn garbage_into_the_announcer_never_panics() {
    let t0 = Instant::now();
    let mut a = started(AnnouncerConfig { ndp_output: NdpOutput::EthernetFrame, ..AnnouncerConfig::default() }, t0);
    drain(&mut a);
    let seeds = [arp_request(CLIENT, CLIENT_V4, V4), hex(NDISC6_NS), hex(KERNEL_NA)];
    let mut rng = Rng(42);
    for i in 0..30_000u64 {
        let mut b = seeds[(i % 3) as usize].clone();
        // Keep the NS's target ours now and then so the reply path runs on mangled input too.
        for _ in 0..(rng.next() % 4) {
            let at = (rng.next() as usize) % b.len();
            b[at] = rng.next() as u8;
        }
        let cut = (rng.next() as usize) % (b.len() + 1);
        let ifindex = 2 + (rng.next() % 3) as u32;
        a.handle_frame(t0, ifindex, &b[..cut]);
        a.handle_frame(t0, ifindex, &b);
        let ctx = IpContext { src: v6("fe80::1"), dst: v6("ff02::1:ff00:10"), hop_limit: 255 };
        a.handle_icmpv6(t0, ifindex, ctx, &b[(cut.min(b.len()))..]);
        drain(&mut a);
    }
    assert!(a.counters().malformed_total() > 0);
}

#[test]
fn link_local_na_source_on_the_raw_socket_path() {
    let t0 = Instant::now();
    let mut ifs = interfaces();
    ifs[1].link_local = None;
    let mut a = Announcer::new(AnnouncerConfig { na_source: NaSource::LinkLocal, ..AnnouncerConfig::default() })
        .expect("config");
    a.set_interfaces(t0, ifs);
    a.set_announcements(t0, announcements());
    let srcs: Vec<(u32, Option<Ipv6Addr>)> = drain(&mut a)
        .into_iter()
        .filter_map(|x| match x {
            Action::SendIcmpv6 { ifindex, src, message, dst, .. } => {
                // Checksummed for the link-local address (the kernel recomputes it anyway).
                let from = src.unwrap_or_else(|| ndp::link_local_from_mac(MAC1));
                let ctx = IpContext { src: from, dst, hop_limit: 255 };
                assert!(NdpRepr::parse_bytes(&message, &ctx).is_ok());
                Some((ifindex, src))
            }
            _ => None,
        })
        .collect();
    // eth0 knows its link-local; eth1 does not: the kernel chooses.
    assert_eq!(srcs, vec![(2, Some(ndp::link_local_from_mac(MAC0))), (3, None)]);
}
