//! The speaker's state machine: answers ARP and Neighbor Solicitations for the addresses this node
//! announces, and tells the link when it takes an address over.
//!
//! # Model
//!
//! Sans-IO, in the quinn-proto style: the driver feeds [`Input`]s with [`Announcer::handle`] (or the
//! `set_*`/`handle_*` methods it dispatches to), calls [`Announcer::handle_timeout`] when
//! [`Announcer::poll_timeout`] is reached, and drains [`Announcer::poll_action`] after each call.
//!
//! - **What to announce** ([`Announcement`]): the addresses the advertise policy elected this node
//!   for, each with the interfaces it may be announced on (empty: every interface). The daemon
//!   passes an empty set while the membership layer says this node is isolated.
//! - **Interfaces** ([`InterfaceFacts`]): index, name, MAC, up/down, VLAN, link-local address.
//!   An address is *active* on an interface when it is wanted there and the interface is up.
//! - **Takeover**: an (address, interface) pair becoming active — a new address, an interface
//!   coming up, or an interface's MAC changing — starts the gratuitous schedule at once.
//! - **Give-up**: a pair ceasing to be active stops answering at once and drops its pending
//!   gratuitous announcements; nothing is sent (there is no "withdraw" in ARP/NDP: the new owner's
//!   gratuitous announcements overwrite the caches).
//!
//! # The gratuitous schedule
//!
//! IPv4: an RFC 5227 ARP Announcement (request, SPA = TPA, broadcast) and/or the reply form
//! ([`GarpForm`]). IPv6: an unsolicited Neighbor Advertisement to ff02::1 with O = 1, S = 0 and the
//! Target Link-Layer Address option. Each is sent at the offsets of
//! [`AnnouncerConfig::schedule`] after the takeover, by default +0, +100 ms, +300 ms, +1 s, +2 s.
//! The first copy updates the switch's MAC table and every host that hears it; the repeats are for
//! those that did not: the loss that killed the previous owner often comes in bursts (a link
//! flapping, a switch relearning, a busy receiver dropping broadcasts), so the repeats are spread
//! with growing gaps. After ~2 s, hosts that still hold the old MAC recover by their own neighbour
//! unreachability detection, which our ARP/NS replies answer. The offsets are measured from the
//! takeover, not from the previous copy, so a late timer call does not shift the rest; a timer
//! call that is late past several offsets sends one copy, not a burst.
//!
//! # Answers
//!
//! - ARP request "who has A tell B" on interface I, A active on I: a unicast reply to B's MAC.
//!   RFC 5227 probes (from 0.0.0.0) are answered the same way (target 0.0.0.0), which defends the
//!   address. A request for A arriving on an interface where A is not active is not answered.
//! - NS for target A on I, A active on I: an NA with S = 1, O = 1 and the TLLA option to the
//!   solicitor; a DAD NS (from ::) gets an NA to ff02::1 with S = 0, O = 1 (RFC 4861 §7.2.4).
//! - Frames whose source MAC (or NDP link-layer option) is one of our interfaces' MACs are ignored.
//! - Someone else claiming an address we announce (a gratuitous ARP, an ARP from it, an NA with
//!   another MAC) is counted as a conflict and shown in the status; we do not fight back beyond
//!   answering requests (two ferrolb nodes answering means a split brain, see `membership`).
//!
//! # Output paths
//!
//! ARP goes out as whole Ethernet frames ([`Action::SendFrame`], for an AF_PACKET socket). NDP goes
//! out either as ICMPv6 messages for a raw ICMPv6 socket with hop limit 255 ([`Action::SendIcmpv6`],
//! [`NdpOutput::Icmpv6Socket`], the default) or as whole Ethernet frames ([`NdpOutput::EthernetFrame`]).
//! The NA source address is the target address by default ([`NaSource`]).
//! Received NDP can come either way too ([`Input::Frame`] or [`Input::Icmpv6`]). For every IPv6
//! address active on an interface the announcer asks the driver to join its solicited-node group
//! there ([`Action::JoinGroup`]/[`Action::LeaveGroup`]): a raw ICMPv6 socket only sees an NS sent to
//! that group after `IPV6_JOIN_GROUP`, an AF_PACKET socket after `PACKET_ADD_MEMBERSHIP`.
//!
//! # VLANs
//!
//! [`InterfaceFacts::vlan`] set means the driver sends on the parent device and the frames must
//! carry that 802.1Q tag: emitted frames are tagged, received tagged frames with another VID are
//! ignored. Untagged received frames are accepted (AF_PACKET usually moves the tag to
//! `PACKET_AUXDATA`; a driver that reads it should drop mismatches itself). On a VLAN
//! sub-interface (`eth0.341`) leave `vlan` unset: the kernel tags.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame, EthernetRepr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr, NEXT_HEADER_ICMPV6};
use crate::wire::ndp::{
    self, ALL_NODES, HOP_LIMIT, IpContext, NaFlags, NdpRepr, TYPE_NEIGHBOR_ADVERT, TYPE_NEIGHBOR_SOLICIT,
};
use crate::wire::{MacAddr, WireError};

/// Which gratuitous ARP form(s) to send on takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GarpForm {
    /// RFC 5227 ARP Announcement: a request with SPA = TPA (what Linux `arping -U` sends).
    #[default]
    Request,
    /// A reply with SPA = TPA and THA broadcast (what `arping -A` sends, and MetalLB).
    Reply,
    /// Both, request first.
    Both,
}

/// How NDP messages leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NdpOutput {
    /// [`Action::SendIcmpv6`]: for a raw ICMPv6 socket (hop limit 255 set on the socket).
    #[default]
    Icmpv6Socket,
    /// [`Action::SendFrame`] with Ethernet + IPv6 headers: for an AF_PACKET socket.
    EthernetFrame,
}

/// The IPv6 source address of the Neighbor Advertisements the announcer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NaSource {
    /// The target address itself, as Linux does for its own addresses. Some tools (ndisc6 1.0.5)
    /// drop an answer for a global target that comes from a link-local source, because its scope
    /// id differs from the target's. On a raw ICMPv6 socket the driver needs `IPV6_FREEBIND` (or
    /// the address configured locally, as kube-proxy's IPVS mode does on `kube-ipvs0`).
    #[default]
    Target,
    /// The interface's link-local address ([`InterfaceFacts::link_local`], else the EUI-64 one
    /// of its MAC; on a raw socket `None` lets the kernel choose), as MetalLB does.
    LinkLocal,
}

/// Announcer settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncerConfig {
    /// Offsets after a takeover at which gratuitous ARP / unsolicited NA are sent (non-decreasing,
    /// at most [`MAX_SCHEDULE_LEN`] entries; empty: none are sent).
    pub schedule: Vec<Duration>,
    /// Gratuitous ARP form.
    pub garp_form: GarpForm,
    /// NDP output path.
    pub ndp_output: NdpOutput,
    /// Source address of Neighbor Advertisements.
    pub na_source: NaSource,
}

/// Longest allowed gratuitous schedule.
pub const MAX_SCHEDULE_LEN: usize = 16;

impl Default for AnnouncerConfig {
    fn default() -> Self {
        AnnouncerConfig {
            schedule: [0, 100, 300, 1000, 2000].into_iter().map(Duration::from_millis).collect(),
            garp_form: GarpForm::default(),
            ndp_output: NdpOutput::default(),
            na_source: NaSource::default(),
        }
    }
}

/// A configuration the announcer refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The schedule goes backwards.
    #[error("gratuitous schedule must be non-decreasing: {later:?} comes after {earlier:?}")]
    ScheduleNotSorted {
        /// The earlier entry.
        earlier: Duration,
        /// The later, smaller entry.
        later: Duration,
    },
    /// The schedule is too long.
    #[error("gratuitous schedule has {0} entries, at most {MAX_SCHEDULE_LEN} allowed")]
    ScheduleTooLong(usize),
}

/// What the driver knows about one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceFacts {
    /// Kernel interface index.
    pub index: u32,
    /// Interface name (matched against [`Announcement::interfaces`]).
    pub name: String,
    /// Its MAC address: the one announced.
    pub mac: MacAddr,
    /// Operationally up.
    pub up: bool,
    /// 802.1Q VLAN id to tag frames with when the driver sends on a parent device (see module docs).
    pub vlan: Option<u16>,
    /// Its link-local IPv6 address, the source of NAs; `None`: the kernel chooses (raw socket) or
    /// the EUI-64 address of `mac` is used (Ethernet frames).
    pub link_local: Option<Ipv6Addr>,
}

/// One address this node must answer for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The service address.
    pub ip: IpAddr,
    /// Interface names to announce on; empty: every interface.
    pub interfaces: Vec<String>,
}

/// An input to the announcer (serializable, so a recorded log replays a bug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The full current interface list.
    SetInterfaces(Vec<InterfaceFacts>),
    /// The full current set of addresses to announce (the policy decision for this node).
    SetAnnouncements(Vec<Announcement>),
    /// An Ethernet frame received on an interface (AF_PACKET).
    Frame {
        /// Interface index it arrived on.
        ifindex: u32,
        /// The frame, from the destination MAC on, without FCS.
        bytes: Vec<u8>,
    },
    /// An ICMPv6 message received on a raw ICMPv6 socket.
    Icmpv6 {
        /// Interface index (IPV6_PKTINFO).
        ifindex: u32,
        /// Source address.
        src: Ipv6Addr,
        /// Destination address (IPV6_PKTINFO).
        dst: Ipv6Addr,
        /// Hop limit (IPV6_HOPLIMIT).
        hop_limit: u8,
        /// The ICMPv6 message.
        message: Vec<u8>,
    },
}

/// Why a packet is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendKind {
    /// Reply to an ARP request.
    ArpReply,
    /// Gratuitous ARP on takeover.
    GratuitousArp,
    /// Solicited NA (S = 1) to a solicitor.
    SolicitedNa,
    /// NA to ff02::1 answering a DAD solicitation.
    DadDefenceNa,
    /// Unsolicited NA to ff02::1 on takeover.
    UnsolicitedNa,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send a whole Ethernet frame on an interface (AF_PACKET).
    SendFrame {
        /// Interface index.
        ifindex: u32,
        /// Interface name (for logs).
        interface: String,
        /// Why.
        kind: SendKind,
        /// The frame, from the destination MAC on.
        frame: Vec<u8>,
    },
    /// Send an ICMPv6 message on a raw ICMPv6 socket, out of `ifindex`, with hop limit 255.
    SendIcmpv6 {
        /// Interface index (IPV6_PKTINFO / sin6_scope_id).
        ifindex: u32,
        /// Interface name (for logs).
        interface: String,
        /// Why.
        kind: SendKind,
        /// Source address to set with IPV6_PKTINFO (see [`NaSource`]); `None`: let the kernel choose.
        src: Option<Ipv6Addr>,
        /// Destination address.
        dst: Ipv6Addr,
        /// Always 255 (RFC 4861 §7.1).
        hop_limit: u8,
        /// The ICMPv6 message (checksummed; the kernel recomputes it on raw ICMPv6 sockets anyway).
        message: Vec<u8>,
    },
    /// Start receiving a multicast group on an interface.
    JoinGroup {
        /// Interface index.
        ifindex: u32,
        /// Interface name.
        interface: String,
        /// The solicited-node group.
        group: Ipv6Addr,
        /// Its MAC (33:33:ff:xx:xx:xx) for PACKET_ADD_MEMBERSHIP.
        mac: MacAddr,
    },
    /// Stop receiving a multicast group on an interface.
    LeaveGroup {
        /// Interface index.
        ifindex: u32,
        /// Interface name.
        interface: String,
        /// The solicited-node group.
        group: Ipv6Addr,
        /// Its MAC.
        mac: MacAddr,
    },
}

/// Counters, for metrics and `ferrolb show l2`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// ARP requests received (from others, on known interfaces).
    pub arp_requests_seen: u64,
    /// ARP replies sent.
    pub arp_replies_sent: u64,
    /// Gratuitous ARP packets sent.
    pub gratuitous_arp_sent: u64,
    /// Neighbor Solicitations received (valid, from others).
    pub ns_seen: u64,
    /// NAs sent in answer to an NS (solicited and DAD defence).
    pub na_sent: u64,
    /// Of which: answers to DAD solicitations for an address we announce.
    pub dad_defended: u64,
    /// Unsolicited NAs sent on takeover.
    pub unsolicited_na_sent: u64,
    /// Requests for addresses this node does not announce.
    pub not_owned: u64,
    /// Requests for an address this node announces, on an interface it is not announced on.
    pub wrong_interface: u64,
    /// Our own frames seen again.
    pub own_frames_ignored: u64,
    /// Frames tagged with another VLAN than the interface's.
    pub wrong_vlan: u64,
    /// Frames or messages on an unknown or down interface.
    pub unknown_interface: u64,
    /// Frames of other protocols, other ICMPv6 types, ARP replies and NAs about other addresses.
    pub ignored: u64,
    /// Someone else claiming an address we announce.
    pub conflicts: u64,
    /// Malformed input dropped, by `<layer>.<WireError::kind>` (e.g. `ndp.ndp_hop_limit`).
    pub malformed: BTreeMap<String, u64>,
}

impl Counters {
    /// All malformed drops together.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }
}

/// Another machine claiming one of our addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The address.
    pub ip: IpAddr,
    /// The MAC that claimed it.
    pub mac: MacAddr,
    /// Where it was heard.
    pub ifindex: u32,
}

/// One interface an address is announced on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    /// Interface name.
    pub interface: String,
    /// Interface index.
    pub ifindex: u32,
    /// The MAC announced.
    pub mac: MacAddr,
    /// How long it has been announced here.
    pub announced_for: Duration,
    /// Gratuitous announcements still to send.
    pub gratuitous_pending: usize,
}

/// One wanted address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressStatus {
    /// The address.
    pub ip: IpAddr,
    /// The interfaces it may be announced on (empty: every interface).
    pub wanted_on: Vec<String>,
    /// Where it is announced now (empty: wanted, but no such interface is up).
    pub announced_on: Vec<InterfaceStatus>,
}

/// What `ferrolb show l2` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Every wanted address, sorted.
    pub addresses: Vec<AddressStatus>,
    /// The counters.
    pub counters: Counters,
    /// The last conflict seen, if any.
    pub last_conflict: Option<Conflict>,
}

#[derive(Debug, Clone)]
struct Active {
    since: Instant,
    mac: MacAddr,
    /// Index into the schedule of the next gratuitous announcement.
    next: usize,
}

/// The layer-2 speaker of one node.
#[derive(Debug)]
pub struct Announcer {
    config: AnnouncerConfig,
    interfaces: BTreeMap<u32, InterfaceFacts>,
    wanted: BTreeMap<IpAddr, Vec<String>>,
    active: BTreeMap<(IpAddr, u32), Active>,
    groups: BTreeSet<(u32, Ipv6Addr)>,
    actions: VecDeque<Action>,
    counters: Counters,
    last_conflict: Option<Conflict>,
}

impl Announcer {
    /// A speaker announcing nothing yet.
    pub fn new(config: AnnouncerConfig) -> Result<Announcer, ConfigError> {
        if config.schedule.len() > MAX_SCHEDULE_LEN {
            return Err(ConfigError::ScheduleTooLong(config.schedule.len()));
        }
        for w in config.schedule.windows(2) {
            if w[1] < w[0] {
                return Err(ConfigError::ScheduleNotSorted { earlier: w[0], later: w[1] });
            }
        }
        Ok(Announcer {
            config,
            interfaces: BTreeMap::new(),
            wanted: BTreeMap::new(),
            active: BTreeMap::new(),
            groups: BTreeSet::new(),
            actions: VecDeque::new(),
            counters: Counters::default(),
            last_conflict: None,
        })
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::SetInterfaces(list) => self.set_interfaces(now, list),
            Input::SetAnnouncements(list) => self.set_announcements(now, list),
            Input::Frame { ifindex, bytes } => self.handle_frame(now, ifindex, &bytes),
            Input::Icmpv6 { ifindex, src, dst, hop_limit, message } => {
                self.handle_icmpv6(now, ifindex, IpContext { src, dst, hop_limit }, &message)
            }
        }
    }

    /// Replaces the interface list.
    pub fn set_interfaces(&mut self, now: Instant, list: Vec<InterfaceFacts>) {
        self.interfaces = list.into_iter().map(|i| (i.index, i)).collect();
        self.reconcile(now);
    }

    /// Replaces the set of addresses to announce (later duplicates of an address win).
    pub fn set_announcements(&mut self, now: Instant, list: Vec<Announcement>) {
        self.wanted = list.into_iter().map(|a| (a.ip, a.interfaces)).collect();
        self.reconcile(now);
    }

    /// Sends the gratuitous announcements that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_due(now);
    }

    /// When [`Announcer::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.active.values().filter_map(|a| self.config.schedule.get(a.next).map(|off| a.since + *off)).min()
    }

    /// The next action, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether `ip` is announced on interface `ifindex` now.
    pub fn is_announced(&self, ip: IpAddr, ifindex: u32) -> bool {
        self.active.contains_key(&(ip, ifindex))
    }

    /// What is announced where, since when, and the counters.
    pub fn status(&self, now: Instant) -> Status {
        let addresses = self
            .wanted
            .iter()
            .map(|(ip, wanted_on)| AddressStatus {
                ip: *ip,
                wanted_on: wanted_on.clone(),
                announced_on: self
                    .active
                    .range((*ip, 0)..=(*ip, u32::MAX))
                    .map(|((_, ifindex), a)| InterfaceStatus {
                        interface: self.interfaces.get(ifindex).map(|i| i.name.clone()).unwrap_or_default(),
                        ifindex: *ifindex,
                        mac: a.mac,
                        announced_for: now.saturating_duration_since(a.since),
                        gratuitous_pending: self.config.schedule.len().saturating_sub(a.next),
                    })
                    .collect(),
            })
            .collect();
        Status { addresses, counters: self.counters.clone(), last_conflict: self.last_conflict }
    }

    // ---------------------------------------------------------------------------------------
    // Takeover and give-up.

    fn reconcile(&mut self, now: Instant) {
        let mut desired: BTreeMap<(IpAddr, u32), MacAddr> = BTreeMap::new();
        for (ip, names) in &self.wanted {
            for iface in self.interfaces.values() {
                if iface.up && (names.is_empty() || names.contains(&iface.name)) {
                    desired.insert((*ip, iface.index), iface.mac);
                }
            }
        }
        // Give-up: stop answering and cancel pending announcements at once.
        self.active.retain(|k, _| desired.contains_key(k));
        // Takeover, or the MAC changed under an active pair: (re)start the schedule now.
        for (key, mac) in &desired {
            let restart = self.active.get(key).is_none_or(|a| a.mac != *mac);
            if restart {
                self.active.insert(*key, Active { since: now, mac: *mac, next: 0 });
            }
        }
        let groups: BTreeSet<(u32, Ipv6Addr)> = self
            .active
            .keys()
            .filter_map(|(ip, ifindex)| match ip {
                IpAddr::V6(v6) => Some((*ifindex, ndp::solicited_node(v6))),
                IpAddr::V4(_) => None,
            })
            .collect();
        for (ifindex, group) in self.groups.difference(&groups) {
            let interface = self.interfaces.get(ifindex).map(|i| i.name.clone()).unwrap_or_default();
            let mac = ndp::multicast_mac(group);
            self.actions.push_back(Action::LeaveGroup { ifindex: *ifindex, interface, group: *group, mac });
        }
        for (ifindex, group) in groups.difference(&self.groups) {
            let interface = self.interfaces.get(ifindex).map(|i| i.name.clone()).unwrap_or_default();
            let mac = ndp::multicast_mac(group);
            self.actions.push_back(Action::JoinGroup { ifindex: *ifindex, interface, group: *group, mac });
        }
        self.groups = groups;
        self.fire_due(now);
    }

    fn fire_due(&mut self, now: Instant) {
        let mut due = Vec::new();
        for ((ip, ifindex), a) in self.active.iter_mut() {
            let schedule = &self.config.schedule;
            if schedule.get(a.next).is_some_and(|off| a.since + *off <= now) {
                // One copy however late we are; skip every offset already passed.
                while schedule.get(a.next).is_some_and(|off| a.since + *off <= now) {
                    a.next += 1;
                }
                due.push((*ip, *ifindex));
            }
        }
        for (ip, ifindex) in due {
            self.send_gratuitous(ip, ifindex);
        }
    }

    fn send_gratuitous(&mut self, ip: IpAddr, ifindex: u32) {
        let Some(iface) = self.interfaces.get(&ifindex).cloned() else { return };
        match ip {
            IpAddr::V4(v4) => {
                let forms: &[ArpRepr] = &match self.config.garp_form {
                    GarpForm::Request => vec![ArpRepr::announcement(iface.mac, v4)],
                    GarpForm::Reply => vec![ArpRepr::gratuitous_reply(iface.mac, v4)],
                    GarpForm::Both => {
                        vec![ArpRepr::announcement(iface.mac, v4), ArpRepr::gratuitous_reply(iface.mac, v4)]
                    }
                };
                for arp in forms {
                    self.send_arp(&iface, MacAddr::BROADCAST, arp, SendKind::GratuitousArp);
                    self.counters.gratuitous_arp_sent += 1;
                }
            }
            IpAddr::V6(v6) => {
                let na = NdpRepr::NeighborAdvert {
                    flags: NaFlags { router: false, solicited: false, override_: true },
                    target: v6,
                    target_lladdr: Some(iface.mac),
                };
                self.send_ndp(&iface, ALL_NODES, ndp::multicast_mac(&ALL_NODES), &na, SendKind::UnsolicitedNa);
                self.counters.unsolicited_na_sent += 1;
            }
        }
    }

    fn send_arp(&mut self, iface: &InterfaceFacts, dst: MacAddr, arp: &ArpRepr, kind: SendKind) {
        let eth = EthernetRepr { dst, src: iface.mac, vlan: iface.vlan, ethertype: ETHERTYPE_ARP };
        let frame = eth.emit_frame(&arp.to_bytes());
        self.actions.push_back(Action::SendFrame { ifindex: iface.index, interface: iface.name.clone(), kind, frame });
    }

    fn send_ndp(&mut self, iface: &InterfaceFacts, dst: Ipv6Addr, dst_mac: MacAddr, msg: &NdpRepr, kind: SendKind) {
        let (src, socket_src) = match self.config.na_source {
            NaSource::Target => (msg.target(), Some(msg.target())),
            NaSource::LinkLocal => {
                (iface.link_local.unwrap_or_else(|| ndp::link_local_from_mac(iface.mac)), iface.link_local)
            }
        };
        let message = msg.to_bytes(&src, &dst);
        let action = match self.config.ndp_output {
            NdpOutput::Icmpv6Socket => Action::SendIcmpv6 {
                ifindex: iface.index,
                interface: iface.name.clone(),
                kind,
                src: socket_src,
                dst,
                hop_limit: HOP_LIMIT,
                message,
            },
            NdpOutput::EthernetFrame => {
                let ip = Ipv6Repr {
                    src,
                    dst,
                    next_header: NEXT_HEADER_ICMPV6,
                    // NDP messages are at most 32 bytes here.
                    payload_len: u16::try_from(message.len()).unwrap_or(u16::MAX),
                    hop_limit: HOP_LIMIT,
                };
                let mut packet = vec![0u8; ip.buffer_len() + message.len()];
                let _ = ip.emit(&mut packet);
                packet[ip.buffer_len()..].copy_from_slice(&message);
                let eth = EthernetRepr { dst: dst_mac, src: iface.mac, vlan: iface.vlan, ethertype: ETHERTYPE_IPV6 };
                Action::SendFrame {
                    ifindex: iface.index,
                    interface: iface.name.clone(),
                    kind,
                    frame: eth.emit_frame(&packet),
                }
            }
        };
        self.actions.push_back(action);
    }

    // ---------------------------------------------------------------------------------------
    // Received packets.

    fn malformed(&mut self, layer: &str, e: &WireError) {
        *self.counters.malformed.entry(format!("{layer}.{}", e.kind())).or_insert(0) += 1;
    }

    fn is_our_mac(&self, mac: &MacAddr) -> bool {
        self.interfaces.values().any(|i| i.mac == *mac)
    }

    fn owns_anywhere(&self, ip: IpAddr) -> bool {
        self.active.range((ip, 0)..=(ip, u32::MAX)).next().is_some()
    }

    fn conflict(&mut self, ip: IpAddr, mac: MacAddr, ifindex: u32) {
        self.counters.conflicts += 1;
        self.last_conflict = Some(Conflict { ip, mac, ifindex });
    }

    fn up_interface(&mut self, ifindex: u32) -> Option<InterfaceFacts> {
        match self.interfaces.get(&ifindex) {
            Some(i) if i.up => Some(i.clone()),
            _ => {
                self.counters.unknown_interface += 1;
                None
            }
        }
    }

    /// An Ethernet frame received on `ifindex` (AF_PACKET): ARP, or IPv6 carrying NDP.
    pub fn handle_frame(&mut self, _now: Instant, ifindex: u32, bytes: &[u8]) {
        let Some(iface) = self.up_interface(ifindex) else { return };
        let frame = match EthernetFrame::new_checked(bytes) {
            Ok(f) => f,
            Err(e) => return self.malformed("ethernet", &e),
        };
        if let (Some(vid), Some(want)) = (frame.vlan(), iface.vlan)
            && vid != want
        {
            self.counters.wrong_vlan += 1;
            return;
        }
        if self.is_our_mac(&frame.src()) {
            self.counters.own_frames_ignored += 1;
            return;
        }
        match frame.ethertype() {
            ETHERTYPE_ARP => {
                let arp = match ArpPacket::new_checked(frame.payload()).and_then(|p| ArpRepr::parse(&p)) {
                    Ok(a) => a,
                    Err(e) => return self.malformed("arp", &e),
                };
                self.on_arp(&iface, &arp);
            }
            ETHERTYPE_IPV6 => {
                let (ip, repr) =
                    match Ipv6Packet::new_checked(frame.payload()).and_then(|p| Ok((p, Ipv6Repr::parse(&p)?))) {
                        Ok(pr) => pr,
                        Err(e) => return self.malformed("ipv6", &e),
                    };
                if repr.next_header != NEXT_HEADER_ICMPV6 {
                    self.counters.ignored += 1;
                    return;
                }
                let ctx = IpContext { src: repr.src, dst: repr.dst, hop_limit: repr.hop_limit };
                self.on_icmpv6(&iface, &ctx, ip.payload(), Some(frame.src()));
            }
            _ => self.counters.ignored += 1,
        }
    }

    /// An ICMPv6 message received on a raw ICMPv6 socket on `ifindex`.
    pub fn handle_icmpv6(&mut self, _now: Instant, ifindex: u32, ip: IpContext, message: &[u8]) {
        let Some(iface) = self.up_interface(ifindex) else { return };
        if self.interfaces.values().any(|i| i.link_local == Some(ip.src)) {
            self.counters.own_frames_ignored += 1;
            return;
        }
        self.on_icmpv6(&iface, &ip, message, None);
    }

    fn on_arp(&mut self, iface: &InterfaceFacts, arp: &ArpRepr) {
        let sender = IpAddr::V4(arp.sender_ip);
        if !arp.sender_ip.is_unspecified() && self.owns_anywhere(sender) {
            // Someone else says it has one of our addresses (gratuitous ARP, or any ARP from it).
            self.conflict(sender, arp.sender_mac, iface.index);
            return;
        }
        if arp.operation != ArpOperation::Request {
            self.counters.ignored += 1;
            return;
        }
        self.counters.arp_requests_seen += 1;
        if !arp.sender_mac.is_unicast() || bogus_v4_sender(arp.sender_ip) {
            *self.counters.malformed.entry("arp.bad_sender".to_string()).or_insert(0) += 1;
            return;
        }
        let target = IpAddr::V4(arp.target_ip);
        if self.active.contains_key(&(target, iface.index)) {
            let reply = ArpRepr::reply_to(arp, iface.mac);
            self.send_arp(iface, arp.sender_mac, &reply, SendKind::ArpReply);
            self.counters.arp_replies_sent += 1;
        } else if self.owns_anywhere(target) {
            self.counters.wrong_interface += 1;
        } else {
            self.counters.not_owned += 1;
        }
    }

    fn on_icmpv6(&mut self, iface: &InterfaceFacts, ip: &IpContext, message: &[u8], frame_src: Option<MacAddr>) {
        match message.first() {
            Some(&TYPE_NEIGHBOR_SOLICIT) | Some(&TYPE_NEIGHBOR_ADVERT) => {}
            Some(_) => {
                self.counters.ignored += 1;
                return;
            }
            None => {
                let e = WireError::Truncated { what: "ICMPv6 header", need: 4, have: 0 };
                return self.malformed("ndp", &e);
            }
        }
        let ndp = match NdpRepr::parse_bytes(message, ip) {
            Ok(n) => n,
            Err(e) => return self.malformed("ndp", &e),
        };
        match ndp {
            NdpRepr::NeighborSolicit { target, source_lladdr } => {
                if source_lladdr.is_some_and(|m| self.is_our_mac(&m)) {
                    self.counters.own_frames_ignored += 1;
                    return;
                }
                self.counters.ns_seen += 1;
                let key = (IpAddr::V6(target), iface.index);
                if !self.active.contains_key(&key) {
                    if self.owns_anywhere(key.0) {
                        self.counters.wrong_interface += 1;
                    } else {
                        self.counters.not_owned += 1;
                    }
                    return;
                }
                if ip.src.is_unspecified() {
                    // DAD by someone else for our address: defend with an NA to all nodes (§7.2.4).
                    let na = NdpRepr::NeighborAdvert {
                        flags: NaFlags { router: false, solicited: false, override_: true },
                        target,
                        target_lladdr: Some(iface.mac),
                    };
                    self.send_ndp(iface, ALL_NODES, ndp::multicast_mac(&ALL_NODES), &na, SendKind::DadDefenceNa);
                    self.counters.dad_defended += 1;
                } else {
                    let na = NdpRepr::NeighborAdvert {
                        flags: NaFlags { router: false, solicited: true, override_: true },
                        target,
                        target_lladdr: Some(iface.mac),
                    };
                    // The solicitor's MAC: its SLLA option, else the frame's source; on a raw socket
                    // the kernel resolves it.
                    let dst_mac = source_lladdr.or(frame_src).unwrap_or(MacAddr::BROADCAST);
                    self.send_ndp(iface, ip.src, dst_mac, &na, SendKind::SolicitedNa);
                }
                self.counters.na_sent += 1;
            }
            NdpRepr::NeighborAdvert { target, target_lladdr, .. } => {
                let mac = target_lladdr.or(frame_src);
                match mac {
                    Some(m) if self.is_our_mac(&m) => self.counters.own_frames_ignored += 1,
                    Some(m) if self.owns_anywhere(IpAddr::V6(target)) => {
                        self.conflict(IpAddr::V6(target), m, iface.index)
                    }
                    _ => self.counters.ignored += 1,
                }
            }
        }
    }
}

/// Sender addresses no ARP request can legitimately come from (0.0.0.0 is a probe and allowed).
fn bogus_v4_sender(ip: Ipv4Addr) -> bool {
    ip.is_multicast() || ip.is_broadcast()
}
