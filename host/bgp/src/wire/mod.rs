//! BGP-4 wire codec (RFC 4271 and extensions): owned message structs with `encode`/`decode`.
//!
//! Every decoder works on untrusted bytes and never panics; a decode error carries the exact
//! NOTIFICATION (code, subcode, data) the session must send ([`DecodeError::notification`]).
//! UPDATE decoding additionally applies RFC 7606 and reports per-attribute outcomes
//! ([`update::Rfc7606Action`]) instead of failing where the RFC allows a softer reaction.
//!
//! Message header (RFC 4271 §4.1):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

pub mod attrs;
pub mod notification;
pub mod open;
pub mod refresh;
pub mod update;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

pub use attrs::{
    Aggregator, AsPath, AsSegment, Community, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttributes,
    RawAttribute, SegmentType,
};
pub use notification::Notification;
pub use open::{Capability, GracefulRestartCap, GracefulRestartFamily, Open};
pub use refresh::RouteRefresh;
pub use update::{Rfc7606Action, Update, pack_updates};

/// Length of the fixed message header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest BGP message (RFC 4271 §4.1; RFC 8654 extended messages are not negotiated).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The reserved 2-octet AS number standing in for a 4-octet AS (RFC 6793).
pub const AS_TRANS: u32 = 23456;
/// The only BGP version spoken.
pub const BGP_VERSION: u8 = 4;

/// Message type codes (RFC 4271 §4.1, RFC 2918).
pub mod msg_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Address family identifiers (IANA).
pub mod afi {
    /// IPv4.
    pub const IPV4: u16 = 1;
    /// IPv6.
    pub const IPV6: u16 = 2;
}

/// Subsequent address family identifiers (IANA).
pub mod safi {
    /// Unicast forwarding.
    pub const UNICAST: u8 = 1;
}

/// An AFI/SAFI pair (RFC 4760). Unknown pairs are representable so capabilities round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Family {
    /// Address family identifier.
    pub afi: u16,
    /// Subsequent address family identifier.
    pub safi: u8,
}

impl Family {
    /// IPv4 unicast (1/1).
    pub const IPV4_UNICAST: Family = Family { afi: afi::IPV4, safi: safi::UNICAST };
    /// IPv6 unicast (2/1).
    pub const IPV6_UNICAST: Family = Family { afi: afi::IPV6, safi: safi::UNICAST };

    /// The unicast family of a prefix.
    pub fn of(prefix: &IpNet) -> Family {
        match prefix {
            IpNet::V4(_) => Family::IPV4_UNICAST,
            IpNet::V6(_) => Family::IPV6_UNICAST,
        }
    }

    /// Whether this codec can parse NLRI of this family (IPv4/IPv6 unicast).
    pub fn is_supported(self) -> bool {
        self == Family::IPV4_UNICAST || self == Family::IPV6_UNICAST
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Family::IPV4_UNICAST => f.write_str("ipv4-unicast"),
            Family::IPV6_UNICAST => f.write_str("ipv6-unicast"),
            Family { afi, safi } => write!(f, "afi{afi}-safi{safi}"),
        }
    }
}

/// What the codec needs to know about the session: the negotiated capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS numbers in AS_PATH and
    /// AGGREGATOR are 4 octets; otherwise 2 octets with AS4_PATH/AS4_AGGREGATOR.
    pub four_octet_as: bool,
    /// The negotiated families (IPv4 unicast alone when no MP capability was exchanged).
    pub families: Vec<Family>,
    /// Send IPv4 unicast routes in MP_REACH_NLRI/MP_UNREACH_NLRI instead of the plain NLRI fields.
    pub ipv4_in_mp: bool,
}

impl Default for Context {
    /// A 4-octet-AS session with IPv4 and IPv6 unicast.
    fn default() -> Self {
        Context { four_octet_as: true, families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST], ipv4_in_mp: false }
    }
}

impl Context {
    /// Whether a family was negotiated.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

/// NOTIFICATION error codes and subcodes (RFC 4271 §4.5, §6; RFC 4486; RFC 6608; RFC 7313; RFC 8538).
pub mod code {
    /// Message Header Error.
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH_MESSAGE: u8 = 7;

    /// Message Header Error subcodes.
    pub mod header {
        /// Connection Not Synchronized (bad marker).
        pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
        /// Bad Message Length; data: the erroneous length field.
        pub const BAD_MESSAGE_LENGTH: u8 = 2;
        /// Bad Message Type; data: the erroneous type field.
        pub const BAD_MESSAGE_TYPE: u8 = 3;
    }

    /// OPEN Message Error subcodes.
    pub mod open {
        /// Unsupported Version Number; data: the largest supported version (2 octets).
        pub const UNSUPPORTED_VERSION: u8 = 1;
        /// Bad Peer AS.
        pub const BAD_PEER_AS: u8 = 2;
        /// Bad BGP Identifier.
        pub const BAD_BGP_IDENTIFIER: u8 = 3;
        /// Unsupported Optional Parameter.
        pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
        /// Authentication Failure (deprecated by RFC 4271).
        pub const AUTHENTICATION_FAILURE: u8 = 5;
        /// Unacceptable Hold Time.
        pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
        /// Unsupported Capability (RFC 5492).
        pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    }

    /// UPDATE Message Error subcodes.
    pub mod update {
        /// Malformed Attribute List.
        pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
        /// Unrecognized Well-known Attribute; data: the attribute.
        pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
        /// Missing Well-known Attribute; data: its type code.
        pub const MISSING_WELL_KNOWN: u8 = 3;
        /// Attribute Flags Error; data: the attribute.
        pub const ATTRIBUTE_FLAGS: u8 = 4;
        /// Attribute Length Error; data: the attribute.
        pub const ATTRIBUTE_LENGTH: u8 = 5;
        /// Invalid ORIGIN Attribute; data: the attribute.
        pub const INVALID_ORIGIN: u8 = 6;
        /// AS Routing Loop (deprecated).
        pub const AS_ROUTING_LOOP: u8 = 7;
        /// Invalid NEXT_HOP Attribute; data: the attribute.
        pub const INVALID_NEXT_HOP: u8 = 8;
        /// Optional Attribute Error; data: the attribute.
        pub const OPTIONAL_ATTRIBUTE: u8 = 9;
        /// Invalid Network Field.
        pub const INVALID_NETWORK_FIELD: u8 = 10;
        /// Malformed AS_PATH.
        pub const MALFORMED_AS_PATH: u8 = 11;
    }

    /// Finite State Machine Error subcodes (RFC 6608).
    pub mod fsm {
        /// Unspecified error.
        pub const UNSPECIFIED: u8 = 0;
        /// Receive unexpected message in OpenSent state.
        pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
        /// Receive unexpected message in OpenConfirm state.
        pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
        /// Receive unexpected message in Established state.
        pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    }

    /// Cease subcodes (RFC 4486, RFC 8538).
    pub mod cease {
        /// Maximum Number of Prefixes Reached.
        pub const MAX_PREFIXES: u8 = 1;
        /// Administrative Shutdown.
        pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
        /// Peer De-configured.
        pub const PEER_DECONFIGURED: u8 = 3;
        /// Administrative Reset.
        pub const ADMINISTRATIVE_RESET: u8 = 4;
        /// Connection Rejected.
        pub const CONNECTION_REJECTED: u8 = 5;
        /// Other Configuration Change.
        pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
        /// Connection Collision Resolution.
        pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
        /// Out of Resources.
        pub const OUT_OF_RESOURCES: u8 = 8;
        /// Hard Reset (RFC 8538).
        pub const HARD_RESET: u8 = 9;
    }

    /// ROUTE-REFRESH Message Error subcodes (RFC 7313).
    pub mod route_refresh {
        /// Invalid Message Length.
        pub const INVALID_MESSAGE_LENGTH: u8 = 1;
    }
}

/// A decode failure: the NOTIFICATION to send and a human reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{reason} (NOTIFICATION {code}/{subcode})")]
pub struct DecodeError {
    /// NOTIFICATION error code ([`code`]).
    pub code: u8,
    /// NOTIFICATION error subcode.
    pub subcode: u8,
    /// NOTIFICATION data field.
    pub data: Vec<u8>,
    /// What was wrong, for logs.
    pub reason: String,
}

impl DecodeError {
    /// A decode error with the given NOTIFICATION fields.
    pub fn new(code: u8, subcode: u8, data: Vec<u8>, reason: impl Into<String>) -> Self {
        DecodeError { code, subcode, data, reason: reason.into() }
    }

    /// The NOTIFICATION this error calls for (1:1).
    pub fn notification(&self) -> Notification {
        Notification { code: self.code, subcode: self.subcode, data: self.data.clone() }
    }

    pub(crate) fn update(subcode: u8, data: Vec<u8>, reason: impl Into<String>) -> Self {
        DecodeError::new(code::UPDATE_MESSAGE, subcode, data, reason)
    }

    pub(crate) fn open(subcode: u8, reason: impl Into<String>) -> Self {
        DecodeError::new(code::OPEN_MESSAGE, subcode, Vec::new(), reason)
    }
}

/// An encode failure: the structure cannot be expressed on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum EncodeError {
    /// The message would exceed 4096 octets.
    #[error("message of {0} octets exceeds the 4096-octet maximum")]
    TooLong(usize),
    /// An attribute value exceeds 65535 octets.
    #[error("attribute {0} is longer than 65535 octets")]
    AttributeTooLong(u8),
    /// The optional parameters exceed 255 octets.
    #[error("OPEN optional parameters exceed 255 octets")]
    OptionalParametersTooLong,
    /// A capability value exceeds 255 octets.
    #[error("capability {0} is longer than 255 octets")]
    CapabilityTooLong(u8),
    /// A single prefix with its attributes cannot fit one message.
    #[error("attributes ({0} octets) leave no room for NLRI in a 4096-octet message")]
    AttributesTooLong(usize),
    /// A next hop of the wrong family for the prefixes.
    #[error("next hop {next_hop} cannot be used for {family} prefixes")]
    NextHopFamily {
        /// The next hop given.
        next_hop: String,
        /// The prefixes' family.
        family: Family,
    },
    /// A family this codec cannot encode NLRI for.
    #[error("family {0} is not supported")]
    UnsupportedFamily(Family),
}

/// The fixed header of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Total message length including the header.
    pub length: u16,
    /// Message type ([`msg_type`]).
    pub kind: u8,
}

impl Header {
    /// Decodes and validates a header (§6.1): marker, length bounds per type, known type.
    /// `buf` must hold at least [`HEADER_LEN`] octets, otherwise an error is returned.
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let Some(head) = buf.get(..HEADER_LEN) else {
            return Err(DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::BAD_MESSAGE_LENGTH,
                Vec::new(),
                "truncated header",
            ));
        };
        if head[..16].iter().any(|&b| b != 0xff) {
            return Err(DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::CONNECTION_NOT_SYNCHRONIZED,
                Vec::new(),
                "marker is not all ones",
            ));
        }
        let length = u16::from_be_bytes([head[16], head[17]]);
        let kind = head[18];
        let min = match kind {
            msg_type::OPEN => 29,
            msg_type::UPDATE => 23,
            msg_type::NOTIFICATION => 21,
            msg_type::KEEPALIVE => 19,
            // RFC 7313 §5: a wrong ROUTE-REFRESH length is a ROUTE-REFRESH Message Error,
            // detected by the body decoder; the header only needs the minimum.
            msg_type::ROUTE_REFRESH => 19,
            other => {
                return Err(DecodeError::new(
                    code::MESSAGE_HEADER,
                    code::header::BAD_MESSAGE_TYPE,
                    vec![other],
                    format!("unknown message type {other}"),
                ));
            }
        };
        let too_long = usize::from(length) > MAX_MESSAGE_LEN;
        let bad_keepalive = kind == msg_type::KEEPALIVE && length != 19;
        if usize::from(length) < min || too_long || bad_keepalive {
            return Err(DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::BAD_MESSAGE_LENGTH,
                length.to_be_bytes().to_vec(),
                format!("bad length {length} for message type {kind}"),
            ));
        }
        Ok(Header { length, kind })
    }

    /// Appends the header (marker, length, type) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&self.length.to_be_bytes());
        out.push(self.kind);
    }
}

/// Any BGP message, owned.
// An UPDATE is much larger than a KEEPALIVE; messages are short-lived values, boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// OPEN (RFC 4271 §4.2).
    Open(Open),
    /// UPDATE (RFC 4271 §4.3).
    Update(Update),
    /// NOTIFICATION (RFC 4271 §4.5).
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4): a header alone.
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// Encodes a whole message (header included).
    pub fn encode(&self, ctx: &Context) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        Header { length: 0, kind: self.kind() }.encode(&mut out);
        match self {
            Message::Open(open) => open.encode_body(&mut out)?,
            Message::Update(update) => update.encode_body(ctx, &mut out)?,
            Message::Notification(n) => n.encode_body(&mut out),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => r.encode_body(&mut out),
        }
        finish_message(out)
    }

    /// The message type code.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Open(_) => msg_type::OPEN,
            Message::Update(_) => msg_type::UPDATE,
            Message::Notification(_) => msg_type::NOTIFICATION,
            Message::Keepalive => msg_type::KEEPALIVE,
            Message::RouteRefresh(_) => msg_type::ROUTE_REFRESH,
        }
    }

    /// Decodes one whole message (header included, `bytes.len()` must equal the header length).
    /// For UPDATEs the RFC 7606 outcomes come back alongside (empty for other messages).
    pub fn decode(bytes: &[u8], ctx: &Context) -> Result<(Message, Vec<Rfc7606Action>), DecodeError> {
        let header = Header::decode(bytes)?;
        if usize::from(header.length) != bytes.len() {
            return Err(DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::BAD_MESSAGE_LENGTH,
                header.length.to_be_bytes().to_vec(),
                format!("header says {} octets, message has {}", header.length, bytes.len()),
            ));
        }
        let body = &bytes[HEADER_LEN..];
        Ok(match header.kind {
            msg_type::OPEN => (Message::Open(Open::decode_body(body)?), Vec::new()),
            msg_type::UPDATE => {
                let (update, actions) = update::decode_update(body, ctx)?;
                (Message::Update(update), actions)
            }
            msg_type::NOTIFICATION => (Message::Notification(Notification::decode_body(body)?), Vec::new()),
            msg_type::KEEPALIVE => (Message::Keepalive, Vec::new()),
            _ => (Message::RouteRefresh(RouteRefresh::decode_body(body)?), Vec::new()),
        })
    }
}

/// Fills in the header length of a message assembled in `out` and checks the maximum.
pub(crate) fn finish_message(mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    if out.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::TooLong(out.len()));
    }
    let len = (out.len() as u16).to_be_bytes();
    out[16] = len[0];
    out[17] = len[1];
    Ok(out)
}

/// A cursor over untrusted bytes; every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn ipv4(&mut self) -> Option<Ipv4Addr> {
        self.u32().map(Ipv4Addr::from)
    }
    pub(crate) fn ipv6(&mut self) -> Option<Ipv6Addr> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Some(Ipv6Addr::from(a))
    }
}

/// Why a prefix could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrefixError {
    /// The length octet exceeds the family's maximum.
    BadLength(u8),
    /// The prefix runs past the end of its field.
    Truncated,
}

/// Decodes a run of `<length, prefix>` NLRI entries (RFC 4271 §4.3) of one family.
/// Host bits beyond the length are cleared.
pub(crate) fn decode_prefixes(buf: &[u8], family: Family) -> Result<Vec<IpNet>, PrefixError> {
    let max = if family.afi == afi::IPV6 { 128u8 } else { 32u8 };
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while let Some(len) = r.u8() {
        if len > max {
            return Err(PrefixError::BadLength(len));
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = r.take(n).ok_or(PrefixError::Truncated)?;
        let net = if max == 32 {
            let mut a = [0u8; 4];
            a[..n].copy_from_slice(bytes);
            Ipv4Net::new(Ipv4Addr::from(a), len).map(|n| IpNet::V4(n.trunc()))
        } else {
            let mut a = [0u8; 16];
            a[..n].copy_from_slice(bytes);
            Ipv6Net::new(Ipv6Addr::from(a), len).map(|n| IpNet::V6(n.trunc()))
        };
        out.push(net.map_err(|_| PrefixError::BadLength(len))?);
    }
    Ok(out)
}

/// Encoded size of one prefix.
pub(crate) fn prefix_len(prefix: &IpNet) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8)
}

/// Appends one prefix in `<length, prefix>` form.
pub(crate) fn encode_prefix(prefix: &IpNet, out: &mut Vec<u8>) {
    let len = prefix.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match prefix.network() {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
    }
}
