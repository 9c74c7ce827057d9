//! ferrolb's layer-2 announcement core, sans-IO: ARP and NDP codecs and the announcer state.
//!
//! - [`wire`]: Ethernet, ARP, IPv6 and NDP codecs (zero-copy checked views + validated reprs).
//! - [`announcer`]: the speaker's state machine: answers ARP/NS for the addresses this node owns,
//!   sends gratuitous ARP / unsolicited NA on takeover.
//! - [`membership`]: liveness between ferrolb nodes (UDP heartbeats), with self-fencing.
//!
//! Nothing here opens a socket or reads a clock: time comes in as [`std::time::Instant`], frames
//! come in as bytes, and what to send goes out as actions for a driver.
//!
//! # Driver contract (what the tokio side must do)
//!
//! - **ARP**: one AF_PACKET `SOCK_RAW` socket per interface bound to `ETH_P_ARP` (or `ETH_P_ALL`
//!   if NDP also goes that way); skip `PACKET_OUTGOING`; feed frames to
//!   [`announcer::Announcer::handle_frame`] with the interface index; write
//!   [`announcer::Action::SendFrame`] bytes as they are (they carry the Ethernet header, 802.1Q tag
//!   when the interface has `vlan`, padding to 60 bytes).
//! - **NDP** (default [`announcer::NdpOutput::Icmpv6Socket`]): one raw `IPPROTO_ICMPV6` socket with
//!   `ICMP6_FILTER` passing types 135 and 136, `IPV6_RECVPKTINFO` and `IPV6_RECVHOPLIMIT` (feed
//!   source, destination, ifindex and hop limit to [`announcer::Announcer::handle_icmpv6`]),
//!   `IPV6_UNICAST_HOPS` = `IPV6_MULTICAST_HOPS` = 255, `IPV6_MULTICAST_LOOP` = 0, and
//!   `IPV6_FREEBIND` because NAs are sent from the target address by default
//!   ([`announcer::NaSource`]). [`announcer::Action::SendIcmpv6`]: `sendmsg` to `dst` with
//!   `sin6_scope_id` = ifindex and an `IPV6_PKTINFO` carrying `src` and the ifindex.
//!   [`announcer::Action::JoinGroup`] / `LeaveGroup`: `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP` on that
//!   socket (or `PACKET_ADD_MEMBERSHIP` with the MAC if NDP is read from AF_PACKET).
//! - **Interfaces**: from rtnetlink (index, name, MAC, `IFF_UP`/oper state, link-local address),
//!   re-sent in full with [`announcer::Announcer::set_interfaces`] on every link event.
//! - **Membership**: one UDP socket on the membership port; datagrams to
//!   [`membership::Membership::handle_datagram`], [`membership::MembershipAction::Send`] with
//!   `send_to`. On `LiveChanged` set the nodes' `live` flags and re-run the advertise policy; on
//!   `Isolated` hand the announcer an empty set until `Rejoined`.
//! - **Timers**: after every input, drain `poll_action()`, then sleep until the earliest
//!   `poll_timeout()` of both cores and call their `handle_timeout(now)`.

pub mod announcer;
pub mod membership;
pub mod wire;

pub use wire::{MacAddr, WireError};
