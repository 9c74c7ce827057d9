//! Wire formats of layer-2 announcement, in the smoltcp style: for every format a zero-copy view
//! (`*Packet::new_checked`, which checks the length before any accessor can be used) and a
//! validated representation (`*Repr`) with `parse`, `buffer_len` and `emit`.
//!
//! - [`ethernet`]: Ethernet II frames, with an optional 802.1Q tag.
//! - [`arp`]: ARP for Ethernet/IPv4 (RFC 826) and the gratuitous forms of RFC 5227.
//! - [`ipv6`]: the fixed IPv6 header (RFC 8200) and the ICMPv6 checksum (RFC 4443 §2.3).
//! - [`ndp`]: Neighbor Solicitation / Advertisement (RFC 4861 §4.3, §4.4) with their validation
//!   rules (§7.1.1, §7.1.2), solicited-node multicast addresses and IPv6 multicast MACs.
//!
//! Nothing that comes from the network can make these codecs panic: every malformed input is a
//! [`WireError`].

pub mod arp;
pub mod ethernet;
pub mod ipv6;
pub mod ndp;

use std::fmt;

use serde::{Deserialize, Serialize};

/// What is wrong with a received frame or packet, or why a representation cannot be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the format requires.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read or written.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// ARP hardware type other than Ethernet (1).
    #[error("ARP: hardware type {0} is not Ethernet (1)")]
    ArpHardwareType(u16),
    /// ARP protocol type other than IPv4 (0x0800).
    #[error("ARP: protocol type {0:#06x} is not IPv4")]
    ArpProtocolType(u16),
    /// ARP address lengths other than 6 and 4.
    #[error("ARP: address lengths {hlen}/{plen}, expected 6/4")]
    ArpAddressLength {
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
    /// ARP operation other than request (1) or reply (2).
    #[error("ARP: operation {0} is neither request (1) nor reply (2)")]
    ArpOperation(u16),
    /// The IP version field is not 6.
    #[error("IPv6: version {0}")]
    Ipv6Version(u8),
    /// The payload length claims more bytes than the buffer holds.
    #[error("IPv6: payload length {claimed} exceeds the {available} bytes present")]
    Ipv6PayloadLength {
        /// The header's payload length.
        claimed: usize,
        /// Bytes after the header.
        available: usize,
    },
    /// A multicast IPv6 source address (RFC 4291 §2.7: multicast addresses are never sources).
    #[error("IPv6: multicast source address {0}")]
    Ipv6SourceMulticast(std::net::Ipv6Addr),
    /// The ICMPv6 type is not the one expected.
    #[error("ICMPv6: type {0} is not a Neighbor Solicitation or Advertisement")]
    Icmpv6Type(u8),
    /// RFC 4861 §7.1: the IP hop limit must be 255 (the packet was not forwarded by a router).
    #[error("NDP: hop limit {0}, must be 255")]
    NdpHopLimit(u8),
    /// The ICMPv6 checksum does not match.
    #[error("ICMPv6: bad checksum {got:#06x}, expected {expected:#06x}")]
    Icmpv6Checksum {
        /// The checksum in the packet.
        got: u16,
        /// The checksum computed over pseudo-header and message.
        expected: u16,
    },
    /// RFC 4861 §7.1: the ICMP code must be 0.
    #[error("NDP: ICMP code {0}, must be 0")]
    NdpCode(u8),
    /// RFC 4861 §7.1: the target address must not be a multicast address.
    #[error("NDP: target {0} is a multicast address")]
    NdpTargetMulticast(std::net::Ipv6Addr),
    /// RFC 4861 §7.1: every option must have a length greater than zero.
    #[error("NDP: option type {0} with length 0")]
    NdpOptionZeroLength(u8),
    /// An option runs past the end of the message.
    #[error("NDP: option type {kind} of {len} bytes runs past the end of the message")]
    NdpOptionOverrun {
        /// The option type.
        kind: u8,
        /// Its claimed length in bytes.
        len: usize,
    },
    /// A link-layer address option whose length is not 1 (8 bytes) on Ethernet.
    #[error("NDP: link-layer address option of {0} units, expected 1 on Ethernet")]
    NdpLinkLayerOptionLength(u8),
    /// RFC 4861 §7.1.1: a solicitation from the unspecified address must go to a solicited-node
    /// multicast address.
    #[error("NDP: solicitation from :: to {0}, which is not a solicited-node multicast address")]
    NdpDadDestination(std::net::Ipv6Addr),
    /// RFC 4861 §7.1.1: a solicitation from the unspecified address must not carry a Source
    /// Link-Layer Address option.
    #[error("NDP: solicitation from :: carries a source link-layer address option")]
    NdpDadWithSourceLinkLayer,
    /// RFC 4861 §7.1.2: an advertisement to a multicast address must have S = 0.
    #[error("NDP: solicited advertisement sent to multicast address {0}")]
    NdpSolicitedToMulticast(std::net::Ipv6Addr),
}

impl WireError {
    /// A short stable name for counters (`malformed` by kind).
    pub fn kind(&self) -> &'static str {
        match self {
            WireError::Truncated { .. } => "truncated",
            WireError::ArpHardwareType(_) => "arp_hardware_type",
            WireError::ArpProtocolType(_) => "arp_protocol_type",
            WireError::ArpAddressLength { .. } => "arp_address_length",
            WireError::ArpOperation(_) => "arp_operation",
            WireError::Ipv6Version(_) => "ipv6_version",
            WireError::Ipv6PayloadLength { .. } => "ipv6_payload_length",
            WireError::Ipv6SourceMulticast(_) => "ipv6_source_multicast",
            WireError::Icmpv6Type(_) => "icmpv6_type",
            WireError::NdpHopLimit(_) => "ndp_hop_limit",
            WireError::Icmpv6Checksum { .. } => "icmpv6_checksum",
            WireError::NdpCode(_) => "ndp_code",
            WireError::NdpTargetMulticast(_) => "ndp_target_multicast",
            WireError::NdpOptionZeroLength(_) => "ndp_option_zero_length",
            WireError::NdpOptionOverrun { .. } => "ndp_option_overrun",
            WireError::NdpLinkLayerOptionLength(_) => "ndp_lladdr_option_length",
            WireError::NdpDadDestination(_) => "ndp_dad_destination",
            WireError::NdpDadWithSourceLinkLayer => "ndp_dad_with_slla",
            WireError::NdpSolicitedToMulticast(_) => "ndp_solicited_to_multicast",
        }
    }
}

/// Fails with [`WireError::Truncated`] unless `buf` holds at least `need` bytes.
pub(crate) fn need(what: &'static str, buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need { Err(WireError::Truncated { what, need, have: buf.len() }) } else { Ok(()) }
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00 (the "unknown" target of an ARP request).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads a MAC from the first six bytes of `b` (callers check the length).
    pub(crate) fn from_slice(b: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        MacAddr(m)
    }

    /// The group bit (least significant bit of the first octet): multicast or broadcast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// A unicast address (the group bit clear) that is not all zeros.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != MacAddr::ZERO
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(|| format!("{s:?}: expected six colon-separated octets"))?;
            if p.len() != 2 {
                return Err(format!("{s:?}: octet {p:?} must be two hex digits"));
            }
            *byte = u8::from_str_radix(p, 16).map_err(|e| format!("{s:?}: {e}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?}: more than six octets"));
        }
        Ok(MacAddr(out))
    }
}
