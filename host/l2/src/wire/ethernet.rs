//! Ethernet II frames (IEEE 802.3 with an EtherType, RFC 894), with an optional IEEE 802.1Q tag.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination MAC address                      |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                    Source MAC address                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   TPID = 0x8100 (802.1Q)      | PCP |D|         VID           |  <- optional tag
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          EtherType            |  Payload ...                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Only one tag is understood; a second (QinQ) tag shows up as EtherType 0x8100 of the payload,
//! which no caller here accepts. The frame check sequence is not part of the buffer (the NIC adds
//! and strips it), so the shortest frame on the wire is 60 bytes here: [`EthernetRepr::emit_frame`]
//! pads to it.

use super::{MacAddr, WireError, need};

/// EtherType IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Tag protocol identifier of an IEEE 802.1Q VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// Header length without a tag.
pub const HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag.
pub const TAG_LEN: usize = 4;
/// Shortest Ethernet frame without its FCS.
pub const MIN_FRAME_LEN: usize = 60;

/// A checked, zero-copy view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    tagged: bool,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer`, checking it holds a whole header (and the tag, if the TPID says so).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need("Ethernet header", b, HEADER_LEN)?;
        let tagged = u16::from_be_bytes([b[12], b[13]]) == TPID_8021Q;
        if tagged {
            need("Ethernet 802.1Q header", b, HEADER_LEN + TAG_LEN)?;
        }
        Ok(EthernetFrame { buffer, tagged })
    }

    /// The destination MAC.
    pub fn dst(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[0..6])
    }

    /// The source MAC.
    pub fn src(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[6..12])
    }

    /// The 802.1Q tag control information (PCP, DEI, VID), if the frame is tagged.
    pub fn tci(&self) -> Option<u16> {
        let b = self.buffer.as_ref();
        self.tagged.then(|| u16::from_be_bytes([b[14], b[15]]))
    }

    /// The VLAN id (12 bits) of a tagged frame.
    pub fn vlan(&self) -> Option<u16> {
        self.tci().map(|t| t & 0x0fff)
    }

    /// Length of the header including the tag.
    pub fn header_len(&self) -> usize {
        if self.tagged { HEADER_LEN + TAG_LEN } else { HEADER_LEN }
    }

    /// The EtherType after the (optional) tag.
    pub fn ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        let at = self.header_len() - 2;
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// The payload (including any padding to the minimum frame size).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// A parsed Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// VLAN id of an 802.1Q tag (priority 0 when emitted), or untagged.
    pub vlan: Option<u16>,
    /// The EtherType of the payload.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr, WireError> {
        Ok(EthernetRepr { dst: frame.dst(), src: frame.src(), vlan: frame.vlan(), ethertype: frame.ethertype() })
    }

    /// Bytes the header takes.
    pub fn buffer_len(&self) -> usize {
        if self.vlan.is_some() { HEADER_LEN + TAG_LEN } else { HEADER_LEN }
    }

    /// Writes the header to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.buffer_len();
        need("Ethernet header", buf, len)?;
        buf[0..6].copy_from_slice(&self.dst.0);
        buf[6..12].copy_from_slice(&self.src.0);
        let mut at = 12;
        if let Some(vid) = self.vlan {
            buf[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
            buf[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            at = 16;
        }
        buf[at..at + 2].copy_from_slice(&self.ethertype.to_be_bytes());
        Ok(len)
    }

    /// A whole frame: this header, then `payload`, zero-padded to [`MIN_FRAME_LEN`].
    pub fn emit_frame(&self, payload: &[u8]) -> Vec<u8> {
        let hl = self.buffer_len();
        let mut out = vec![0u8; (hl + payload.len()).max(MIN_FRAME_LEN)];
        // The buffer was sized for the header above, so emit cannot fail.
        let _ = self.emit(&mut out);
        out[hl..hl + payload.len()].copy_from_slice(payload);
        out
    }
}
