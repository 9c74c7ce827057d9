//! The fixed IPv6 header (RFC 8200 §3) and the ICMPv6 checksum (RFC 4443 §2.3).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                         Source Address (128 bits)             +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                      Destination Address (128 bits)           +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The ICMPv6 checksum covers this pseudo-header (RFC 8200 §8.1) and then the ICMPv6 message:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Source Address (16 octets)                        |
//! |             Destination Address (16 octets)                   |
//! |                   Upper-Layer Packet Length (32 bits)         |
//! |                      zero (24 bits)           |  Next Header  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Extension headers are not walked: NDP messages sent by real stacks carry none, and a packet
//! whose next header is not ICMPv6 is simply not ours.

use std::net::Ipv6Addr;

use super::{WireError, need};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Next header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// A checked, zero-copy view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer`, checking the fixed header is present, the version is 6, and the payload
    /// length fits in the buffer (bytes beyond it, e.g. Ethernet padding, are ignored).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need("IPv6 header", b, HEADER_LEN)?;
        let p = Ipv6Packet { buffer };
        if p.version() != 6 {
            return Err(WireError::Ipv6Version(p.version()));
        }
        let available = p.buffer.as_ref().len() - HEADER_LEN;
        if usize::from(p.payload_len()) > available {
            return Err(WireError::Ipv6PayloadLength { claimed: p.payload_len().into(), available });
        }
        Ok(p)
    }

    fn addr_at(&self, at: usize) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[at..at + 16]);
        Ipv6Addr::from(a)
    }

    /// Version (6 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    /// Payload length.
    pub fn payload_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[4], b[5]])
    }
    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }
    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        self.addr_at(8)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        self.addr_at(24)
    }
    /// The payload, exactly `payload_len` bytes.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

/// The fields of the fixed header ferrolb reads and writes (traffic class and flow label are
/// zero when emitted and ignored when parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads a checked packet's header.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Result<Ipv6Repr, WireError> {
        Ok(Ipv6Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
        })
    }

    /// Bytes the header takes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        need("IPv6 header", buf, HEADER_LEN)?;
        buf[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
        buf[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        buf[6] = self.next_header;
        buf[7] = self.hop_limit;
        buf[8..24].copy_from_slice(&self.src.octets());
        buf[24..40].copy_from_slice(&self.dst.octets());
        Ok(HEADER_LEN)
    }
}

/// The Internet checksum (RFC 1071) of the ICMPv6 pseudo-header and `message`, with the message's
/// own checksum field taken as whatever it holds: over a message with a correct checksum this is
/// 0; over one whose checksum field is zero it is the value to store.
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // A message longer than 4 GiB cannot exist in a Vec we are handed from one frame.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above leaves at most 16 bits.
    !(sum as u16)
}
