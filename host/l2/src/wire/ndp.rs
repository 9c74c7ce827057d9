//! NDP Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4), their options
//! (§4.6.1) and their validation (§7.1.1, §7.1.2).
//!
//! Neighbor Solicitation (type 135):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Reserved                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       Target Address                          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options (Source Link-Layer Address) ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! Neighbor Advertisement (type 136): R = sender is a router, S = sent in response to a
//! solicitation, O = override an existing cache entry.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       Target Address                          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options (Target Link-Layer Address) ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! Source/Target Link-Layer Address option (types 1 and 2; length in units of 8 octets, 1 on
//! Ethernet):
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |    Link-Layer Address ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Validation ([`NdpRepr::parse`]) applies every rule of §7.1.1 (NS) and §7.1.2 (NA) that does
//! not need the node's own state, and refuses a multicast source (RFC 4291 §2.7: never a source,
//! and an answer to it would be a solicited NA to a multicast address): hop limit 255, valid checksum, code 0, length ≥ 24, target not
//! multicast, no option of length 0; an NS from the unspecified address (DAD) must go to a
//! solicited-node multicast address and must not carry a Source Link-Layer Address option; an NA
//! to a multicast address must have S = 0. Unknown options are skipped (§4.6), a repeated
//! link-layer address option is ignored after the first (as Linux does), and a link-layer address
//! option whose length is not 1 unit is rejected (it cannot carry an Ethernet address).

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use super::ipv6::icmpv6_checksum;
use super::{MacAddr, WireError, need};

/// ICMPv6 type of a Neighbor Solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// Option type Source Link-Layer Address.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// Option type Target Link-Layer Address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// Length of an NS/NA without options.
pub const MESSAGE_LEN: usize = 24;
/// Length of an Ethernet link-layer address option.
pub const LLADDR_OPTION_LEN: usize = 8;
/// The hop limit every NDP message must be sent and received with.
pub const HOP_LIMIT: u8 = 255;
/// ff02::1, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1): ff02::1:ff00:0/104 with the
/// low 24 bits of `addr`.
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15]])
}

/// Whether `addr` is a solicited-node multicast address (ff02::1:ffxx:xxxx).
pub fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet MAC an IPv6 multicast address maps to (RFC 2464 §7): 33:33 and the low 32 bits,
/// so a solicited-node address maps to 33:33:ff:xx:xx:xx.
pub fn multicast_mac(addr: &Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The link-local address a MAC gives by modified EUI-64 (RFC 4291 Appendix A): fe80::/64 with
/// the MAC split by ff:fe and the universal/local bit inverted.
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
}

/// A checked, zero-copy view of an NS or NA message (the ICMPv6 message, without IPv6 header).
#[derive(Debug, Clone, Copy)]
pub struct NdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdpPacket<T> {
    /// Wraps `buffer`, checking it is an NS or NA at least 24 bytes long whose options each have a
    /// non-zero length and fit in the message.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need("ICMPv6 header", b, 4)?;
        if b[0] != TYPE_NEIGHBOR_SOLICIT && b[0] != TYPE_NEIGHBOR_ADVERT {
            return Err(WireError::Icmpv6Type(b[0]));
        }
        need("NDP message", b, MESSAGE_LEN)?;
        let p = NdpPacket { buffer };
        for opt in p.options() {
            opt?;
        }
        Ok(p)
    }

    /// ICMPv6 type (135 or 136).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// ICMPv6 code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }
    /// The NA flags byte (R = 0x80, S = 0x40, O = 0x20); reserved in an NS.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[4]
    }
    /// The target address.
    pub fn target(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[8..24]);
        Ipv6Addr::from(a)
    }
    /// The options as (type, bytes including the 2-byte option header), or the first length error.
    pub fn options(&self) -> Options<'_> {
        Options { rest: &self.buffer.as_ref()[MESSAGE_LEN..] }
    }
    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Iterator over NDP options; stops after the first malformed one.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u8, &'a [u8]), WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.rest {
            [] => None,
            [kind] => {
                let kind = *kind;
                self.rest = &[];
                Some(Err(WireError::NdpOptionOverrun { kind, len: 2 }))
            }
            [kind, units, ..] => {
                let (kind, len) = (*kind, usize::from(*units) * 8);
                if len == 0 {
                    self.rest = &[];
                    return Some(Err(WireError::NdpOptionZeroLength(kind)));
                }
                if len > self.rest.len() {
                    self.rest = &[];
                    return Some(Err(WireError::NdpOptionOverrun { kind, len }));
                }
                let (opt, rest) = self.rest.split_at(len);
                self.rest = rest;
                Some(Ok((kind, opt)))
            }
        }
    }
}

/// The flags of a Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a Neighbor Solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
}

impl NaFlags {
    fn to_byte(self) -> u8 {
        (u8::from(self.router) << 7) | (u8::from(self.solicited) << 6) | (u8::from(self.override_) << 5)
    }
    fn from_byte(b: u8) -> NaFlags {
        NaFlags { router: b & 0x80 != 0, solicited: b & 0x40 != 0, override_: b & 0x20 != 0 }
    }
}

/// What the IP layer says about a received NDP message (from the IPv6 header, or from the ancillary
/// data of a raw ICMPv6 socket: IPV6_PKTINFO and IPV6_HOPLIMIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpContext {
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// Hop limit as received.
    pub hop_limit: u8,
}

/// A validated NS or NA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NdpRepr {
    /// Neighbor Solicitation.
    NeighborSolicit {
        /// The address whose link-layer address is asked for.
        target: Ipv6Addr,
        /// The Source Link-Layer Address option.
        source_lladdr: Option<MacAddr>,
    },
    /// Neighbor Advertisement.
    NeighborAdvert {
        /// R, S, O.
        flags: NaFlags,
        /// The address advertised.
        target: Ipv6Addr,
        /// The Target Link-Layer Address option.
        target_lladdr: Option<MacAddr>,
    },
}

impl NdpRepr {
    /// Validates a checked message received with `ip` (RFC 4861 §7.1.1 / §7.1.2).
    pub fn parse<T: AsRef<[u8]>>(p: &NdpPacket<T>, ip: &IpContext) -> Result<NdpRepr, WireError> {
        if ip.hop_limit != HOP_LIMIT {
            return Err(WireError::NdpHopLimit(ip.hop_limit));
        }
        if ip.src.is_multicast() {
            return Err(WireError::Ipv6SourceMulticast(ip.src));
        }
        if icmpv6_checksum(&ip.src, &ip.dst, p.as_bytes()) != 0 {
            let mut zeroed = p.as_bytes().to_vec();
            zeroed[2..4].copy_from_slice(&[0, 0]);
            let expected = icmpv6_checksum(&ip.src, &ip.dst, &zeroed);
            return Err(WireError::Icmpv6Checksum { got: p.checksum(), expected });
        }
        if p.code() != 0 {
            return Err(WireError::NdpCode(p.code()));
        }
        let target = p.target();
        if target.is_multicast() {
            return Err(WireError::NdpTargetMulticast(target));
        }
        let wanted = if p.msg_type() == TYPE_NEIGHBOR_SOLICIT { OPT_SOURCE_LLADDR } else { OPT_TARGET_LLADDR };
        let mut lladdr = None;
        for opt in p.options() {
            let (kind, bytes) = opt?;
            if kind == wanted {
                if bytes.len() != LLADDR_OPTION_LEN {
                    return Err(WireError::NdpLinkLayerOptionLength(bytes[1]));
                }
                if lladdr.is_none() {
                    lladdr = Some(MacAddr::from_slice(&bytes[2..8]));
                }
            }
        }
        if p.msg_type() == TYPE_NEIGHBOR_SOLICIT {
            if ip.src.is_unspecified() {
                if !is_solicited_node(&ip.dst) {
                    return Err(WireError::NdpDadDestination(ip.dst));
                }
                if lladdr.is_some() {
                    return Err(WireError::NdpDadWithSourceLinkLayer);
                }
            }
            Ok(NdpRepr::NeighborSolicit { target, source_lladdr: lladdr })
        } else {
            let flags = NaFlags::from_byte(p.flags());
            if ip.dst.is_multicast() && flags.solicited {
                return Err(WireError::NdpSolicitedToMulticast(ip.dst));
            }
            Ok(NdpRepr::NeighborAdvert { flags, target, target_lladdr: lladdr })
        }
    }

    /// Checks the length and validates in one step: the usual entry point for received bytes.
    pub fn parse_bytes(message: &[u8], ip: &IpContext) -> Result<NdpRepr, WireError> {
        NdpRepr::parse(&NdpPacket::new_checked(message)?, ip)
    }

    /// The target address.
    pub fn target(&self) -> Ipv6Addr {
        match self {
            NdpRepr::NeighborSolicit { target, .. } | NdpRepr::NeighborAdvert { target, .. } => *target,
        }
    }

    fn lladdr(&self) -> Option<MacAddr> {
        match self {
            NdpRepr::NeighborSolicit { source_lladdr: l, .. } | NdpRepr::NeighborAdvert { target_lladdr: l, .. } => *l,
        }
    }

    /// Bytes the message takes.
    pub fn buffer_len(&self) -> usize {
        MESSAGE_LEN + if self.lladdr().is_some() { LLADDR_OPTION_LEN } else { 0 }
    }

    /// Writes the message to the start of `buf` with its checksum for `src` → `dst`; returns its
    /// length. The checksum is what a raw ICMPv6 socket would compute too, so the bytes are good
    /// either way.
    pub fn emit(&self, src: &Ipv6Addr, dst: &Ipv6Addr, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.buffer_len();
        need("NDP message", buf, len)?;
        let buf = &mut buf[..len];
        buf.fill(0);
        let (kind, flags, opt) = match self {
            NdpRepr::NeighborSolicit { .. } => (TYPE_NEIGHBOR_SOLICIT, 0, OPT_SOURCE_LLADDR),
            NdpRepr::NeighborAdvert { flags, .. } => (TYPE_NEIGHBOR_ADVERT, flags.to_byte(), OPT_TARGET_LLADDR),
        };
        buf[0] = kind;
        buf[4] = flags;
        buf[8..24].copy_from_slice(&self.target().octets());
        if let Some(mac) = self.lladdr() {
            buf[24] = opt;
            buf[25] = 1;
            buf[26..32].copy_from_slice(&mac.0);
        }
        let sum = icmpv6_checksum(src, dst, buf);
        buf[2..4].copy_from_slice(&sum.to_be_bytes());
        Ok(len)
    }

    /// The message as a new vector, checksummed for `src` → `dst`.
    pub fn to_bytes(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        let _ = self.emit(src, dst, &mut v);
        v
    }
}
