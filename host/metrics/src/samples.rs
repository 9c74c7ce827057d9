//! Snapshots the daemon takes from the speakers and the allocator, with absolute values.
//!
//! The fields mirror what the host already has, so converting is one struct literal:
//! `ferrolb::bgp::show::NeighborStatus` (message counters, prefixes, state), the BFD driver's
//! `PeerStatus` (`ferrolb_bfd::manager::Counters` per session) and the allocator's pools. This crate
//! does not depend on `ferrolb` (that would pull wasmtime into a metrics crate).
//!
//! In the daemon (a sketch; `port_of` gives the neighbor's configured port, `NeighborIntent::port`):
//!
//! ```ignore
//! let bgp = speaker.neighbors().into_iter().map(|n| BgpPeerSample {
//!     peer: n.address.map_or(n.neighbor.clone(), |a| peer_label(a, port_of(&n))),
//!     vrf: n.vrf.clone(),
//!     established: n.state == "Established",
//!     announced_prefixes: n.prefixes_sent,
//!     received_prefixes: n.prefixes_received,
//!     sent: counts(n.sent),         // MessageCounts field by field
//!     received: counts(n.received),
//! });
//! let bfd = bfd_handle.peers().await?.into_iter().map(|p| BfdPeerSample {
//!     peer: p.key.peer.to_string(),
//!     vrf: p.key.vrf.clone().unwrap_or_default(),
//!     up: p.state == State::Up,
//!     control_in: p.counters.control_in,
//!     control_out: p.counters.control_out,
//!     echo_in: p.counters.echo_in,
//!     echo_out: p.counters.echo_out,
//!     up_events: p.counters.up_events,
//!     down_events: p.counters.down_events,
//!     zebra_notifications: 0,
//! });
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

/// The `vrf` label of the default VRF, as frr-k8s writes it (the VRF list of `show bgp vrf all`).
pub const DEFAULT_VRF: &str = "default";

/// BGP messages of each type, one direction. Same fields as the speaker's `MessageCounts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// OPEN.
    pub opens: u64,
    /// UPDATE (End-of-RIB markers included).
    pub updates: u64,
    /// KEEPALIVE.
    pub keepalives: u64,
    /// NOTIFICATION.
    pub notifications: u64,
    /// ROUTE-REFRESH.
    pub route_refreshes: u64,
}

impl MessageCounts {
    /// All messages (`frrk8s_bgp_total_sent` / `_received`).
    pub fn total(&self) -> u64 {
        self.opens
            .saturating_add(self.updates)
            .saturating_add(self.keepalives)
            .saturating_add(self.notifications)
            .saturating_add(self.route_refreshes)
    }
}

/// One BGP neighbor at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BgpPeerSample {
    /// The `peer` label. frr-k8s writes `ADDRESS:PORT` (Go's `"%s:%d"`, so IPv6 without brackets);
    /// [`peer_label`] builds it. Interface (unnumbered) neighbors: the interface name.
    pub peer: String,
    /// The VRF; empty means the default one and is exposed as `vrf="default"`.
    pub vrf: String,
    /// Established (`frrk8s_bgp_session_up` 1) or not.
    pub established: bool,
    /// Prefixes the neighbor has from us (`frrk8s_bgp_announced_prefixes_total`).
    pub announced_prefixes: u64,
    /// Prefixes accepted from the neighbor (`frrk8s_bgp_received_prefixes_total`).
    pub received_prefixes: u64,
    /// Messages sent.
    pub sent: MessageCounts,
    /// Messages received.
    pub received: MessageCounts,
}

/// One BFD session at one instant. Same counters as `ferrolb_bfd::manager::Counters`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BfdPeerSample {
    /// The `peer` label: the peer's address (frr-k8s: the `peer` field of `show bfd peers`).
    pub peer: String,
    /// The VRF; empty means the default one and is exposed as `vrf="default"`.
    pub vrf: String,
    /// The session is Up (`frrk8s_bfd_session_up` 1) or not.
    pub up: bool,
    /// Control packets received and accepted.
    pub control_in: u64,
    /// Control packets sent.
    pub control_out: u64,
    /// Echo packets that came back and were accepted.
    pub echo_in: u64,
    /// Echo packets sent.
    pub echo_out: u64,
    /// Transitions into Up.
    pub up_events: u64,
    /// Transitions from Up to Down or AdminDown.
    pub down_events: u64,
    /// FRR's zebra notifications for the peer. ferrolb has no zebra: the host leaves this 0;
    /// the family is kept so dashboards built for frr-k8s find it.
    pub zebra_notifications: u64,
}

/// One address pool at one instant (MetalLB's `metallb_allocator_*` families).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSample {
    /// The `pool` label: the IPAddressPool's name.
    pub pool: String,
    /// Usable IPv4 addresses in the pool.
    pub ipv4_total: u64,
    /// Usable IPv6 addresses in the pool (a /64 holds 2^64).
    pub ipv6_total: u128,
    /// IPv4 addresses assigned to services.
    pub ipv4_in_use: u64,
    /// IPv6 addresses assigned to services.
    pub ipv6_in_use: u64,
    /// Services with at least one address from the pool.
    pub services_allocated: u64,
}

impl PoolSample {
    /// All usable addresses (`metallb_allocator_addresses_total`), as a float: IPv6 pools exceed u64.
    pub fn addresses_total(&self) -> f64 {
        self.ipv4_total as f64 + self.ipv6_total as f64
    }

    /// Addresses in use (`metallb_allocator_addresses_in_use_total`).
    pub fn addresses_in_use(&self) -> u64 {
        self.ipv4_in_use.saturating_add(self.ipv6_in_use)
    }
}

/// The frr-k8s `peer` label of a BGP neighbor: `ADDRESS:PORT`, IPv6 without brackets
/// (`192.0.2.1:179`, `2001:db8::1:179`), exactly as frr-k8s formats it.
///
/// frr-k8s takes the port from the live TCP connection (`portForeign`, 0 while down), so its
/// series change identity when a session drops. Pass the neighbor's configured port (179 unless
/// set) to keep one series per neighbor; it is the same string whenever the session is up on
/// the BGP port.
pub fn peer_label(address: IpAddr, port: u16) -> String {
    let mut s = String::with_capacity(48);
    let _ = write!(s, "{address}:{port}");
    s
}

pub(crate) fn vrf_label(vrf: &str) -> &str {
    if vrf.is_empty() { DEFAULT_VRF } else { vrf }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn peer_labels_match_frr_k8s() {
        assert_eq!(peer_label("172.18.0.4".parse().unwrap(), 179), "172.18.0.4:179");
        assert_eq!(peer_label("2001:db8::1".parse().unwrap(), 179), "2001:db8::1:179");
    }

    #[test]
    fn totals() {
        let m = MessageCounts { opens: 1, updates: 3, keepalives: 4, notifications: 2, route_refreshes: 5 };
        assert_eq!(m.total(), 15);
        let p =
            PoolSample { ipv4_total: 10, ipv6_total: 1 << 64, ipv4_in_use: 2, ipv6_in_use: 3, ..Default::default() };
        assert_eq!(p.addresses_in_use(), 5);
        assert_eq!(p.addresses_total(), 18446744073709551626.0);
    }
}
