//! ARP for Ethernet and IPv4 (RFC 826), and the gratuitous forms of RFC 5227.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Hardware type (HTYPE) = 1 |  Protocol type (PTYPE)=0x0800 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HLEN = 6     |  PLEN = 4     |  Operation: 1 request 2 reply |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Sender hardware address (SHA), 6 octets          |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               | Sender protocol address (SPA) |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |       (SPA, 4 octets)         |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |              Target hardware address (THA), 6 octets          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Target protocol address (TPA), 4 octets          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 5227 names two special requests: an *ARP Probe* (SPA = 0.0.0.0, asking whether anybody
//! uses TPA) and an *ARP Announcement* (SPA = TPA = the announced address, THA ignored and sent as
//! zero), which is the gratuitous ARP ferrolb sends on taking an address over. Some older gear
//! only refreshes its cache from replies, hence also the reply form (SPA = TPA, THA broadcast).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{MacAddr, WireError, need};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

/// A checked, zero-copy view of an ARP packet (Ethernet/IPv4 only).
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer`, checking it is long enough and that it is Ethernet/IPv4 ARP.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need("ARP packet", b, 8)?;
        let p = ArpPacket { buffer };
        if p.hardware_type() != HTYPE_ETHERNET {
            return Err(WireError::ArpHardwareType(p.hardware_type()));
        }
        if p.protocol_type() != super::ethernet::ETHERTYPE_IPV4 {
            return Err(WireError::ArpProtocolType(p.protocol_type()));
        }
        if p.hardware_len() != 6 || p.protocol_len() != 4 {
            return Err(WireError::ArpAddressLength { hlen: p.hardware_len(), plen: p.protocol_len() });
        }
        need("ARP packet", p.buffer.as_ref(), PACKET_LEN)?;
        Ok(p)
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn ip_at(&self, at: usize) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
    }

    /// HTYPE.
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(0)
    }
    /// PTYPE.
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(2)
    }
    /// HLEN.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[4]
    }
    /// PLEN.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[5]
    }
    /// The raw operation code.
    pub fn operation(&self) -> u16 {
        self.u16_at(6)
    }
    /// SHA.
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[8..14])
    }
    /// SPA.
    pub fn sender_ip(&self) -> Ipv4Addr {
        self.ip_at(14)
    }
    /// THA.
    pub fn target_mac(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[18..24])
    }
    /// TPA.
    pub fn target_ip(&self) -> Ipv4Addr {
        self.ip_at(24)
    }
}

/// An ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArpOperation {
    /// 1: who has TPA? tell SPA.
    Request,
    /// 2: SPA is at SHA.
    Reply,
}

/// A validated Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// SHA.
    pub sender_mac: MacAddr,
    /// SPA.
    pub sender_ip: Ipv4Addr,
    /// THA.
    pub target_mac: MacAddr,
    /// TPA.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Validates a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr, WireError> {
        let operation = match p.operation() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => return Err(WireError::ArpOperation(other)),
        };
        Ok(ArpRepr {
            operation,
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        })
    }

    /// RFC 5227 ARP Announcement (request form): "`ip` is at `mac`", SPA = TPA, THA zero.
    pub fn announcement(mac: MacAddr, ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        }
    }

    /// Gratuitous ARP in the reply form (SPA = TPA, THA broadcast), for gear that only learns from replies.
    pub fn gratuitous_reply(mac: MacAddr, ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::BROADCAST,
            target_ip: ip,
        }
    }

    /// The reply to `request` saying the requested address is at `mac`.
    pub fn reply_to(request: &ArpRepr, mac: MacAddr) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: mac,
            sender_ip: request.target_ip,
            target_mac: request.sender_mac,
            target_ip: request.sender_ip,
        }
    }

    /// SPA = TPA: an announcement of the sender's own binding (gratuitous ARP), either operation.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// RFC 5227 ARP Probe: a request from 0.0.0.0.
    pub fn is_probe(&self) -> bool {
        self.operation == ArpOperation::Request && self.sender_ip.is_unspecified()
    }

    /// Bytes the packet takes.
    pub fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        need("ARP packet", buf, PACKET_LEN)?;
        buf[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        buf[2..4].copy_from_slice(&super::ethernet::ETHERTYPE_IPV4.to_be_bytes());
        buf[4] = 6;
        buf[5] = 4;
        let op: u16 = match self.operation {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        };
        buf[6..8].copy_from_slice(&op.to_be_bytes());
        buf[8..14].copy_from_slice(&self.sender_mac.0);
        buf[14..18].copy_from_slice(&self.sender_ip.octets());
        buf[18..24].copy_from_slice(&self.target_mac.0);
        buf[24..28].copy_from_slice(&self.target_ip.octets());
        Ok(PACKET_LEN)
    }

    /// The packet as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0u8; PACKET_LEN];
        let _ = self.emit(&mut v);
        v
    }
}
