//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! Every attribute on the wire:
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|   flags: O(ptional) T(ransitive) P(artial) E(xtended length)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Attr. Length (1 or 2 octets, E bit) | Attribute value ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`PathAttributes`] holds the known attributes as typed fields. AS numbers are always full
//! 4-octet values: on a 2-octet session AS_PATH/AS4_PATH and AGGREGATOR/AS4_AGGREGATOR are
//! merged on decode and regenerated on encode (RFC 6793 §4.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{AS_TRANS, Context, DecodeError, EncodeError, Family, Reader, code, decode_prefixes, encode_prefix};

/// Attribute flag bits.
pub mod flag {
    /// Optional (else well-known).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is 2 octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA).
pub mod attr_type {
    /// ORIGIN.
    pub const ORIGIN: u8 = 1;
    /// AS_PATH.
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP.
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC.
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF.
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE.
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR.
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITY: u8 = 32;
}

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Origin {
    /// 0: IGP.
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

impl Origin {
    fn from_u8(v: u8) -> Option<Origin> {
        match v {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }
    fn to_u8(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

/// AS_PATH segment types (RFC 4271 §4.3; confederation types RFC 5065).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SegmentType {
    /// 1: AS_SET, unordered.
    Set,
    /// 2: AS_SEQUENCE, ordered.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<SegmentType> {
        match v {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfedSequence),
            4 => Some(SegmentType::ConfedSet),
            _ => None,
        }
    }
    fn to_u8(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }
    fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One AS_PATH segment.
///
/// ```text
/// +---------------+---------------+-----------------------------+
/// | segment type  | segment length|  ASes (2 or 4 octets each)  |
/// +---------------+---------------+-----------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// AS numbers (never empty on the wire; longer than 255 is split on encode).
    pub asns: Vec<u32>,
}

/// AS_PATH (RFC 4271 §5.1.2), always with 4-octet AS numbers in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path made of one AS_SEQUENCE (empty path when `asns` is empty).
    pub fn sequence(asns: Vec<u32>) -> AsPath {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath { segments: vec![AsSegment { kind: SegmentType::Sequence, asns }] }
    }

    /// The path length used by route selection (RFC 4271 §9.1.2.2: a set counts 1,
    /// confederation segments 0).
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                _ => 0,
            })
            .sum()
    }

    /// The first AS of the path (the neighbor's AS for eBGP), if the path starts with a sequence.
    pub fn first_asn(&self) -> Option<u32> {
        self.segments.first().filter(|s| s.kind == SegmentType::Sequence).and_then(|s| s.asns.first().copied())
    }

    /// Returns this path with `asn` prepended (RFC 4271 §5.1.2 eBGP rule).
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut p = self.clone();
        match p.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => s.asns.insert(0, asn),
            _ => p.segments.insert(0, AsSegment { kind: SegmentType::Sequence, asns: vec![asn] }),
        }
        p
    }

    fn has_four_octet(&self) -> bool {
        self.segments.iter().filter(|s| !s.kind.is_confed()).flat_map(|s| &s.asns).any(|&a| a > 0xffff)
    }

    /// Encodes the segments with 2- or 4-octet ASes (2-octet: ASes above 65535 become AS_TRANS).
    fn encode(&self, four: bool, skip_confed: bool, out: &mut Vec<u8>) {
        for seg in &self.segments {
            if skip_confed && seg.kind.is_confed() {
                continue;
            }
            for chunk in seg.asns.chunks(255) {
                out.push(seg.kind.to_u8());
                out.push(chunk.len() as u8);
                for &asn in chunk {
                    if four {
                        out.extend_from_slice(&asn.to_be_bytes());
                    } else {
                        let a = u16::try_from(asn).unwrap_or(AS_TRANS as u16);
                        out.extend_from_slice(&a.to_be_bytes());
                    }
                }
            }
        }
    }

    /// Decodes segments; `None` when malformed (RFC 7606 §7.2: zero-length or truncated segment,
    /// unknown segment type).
    fn decode(value: &[u8], four: bool) -> Option<AsPath> {
        let width = if four { 4 } else { 2 };
        let mut r = Reader::new(value);
        let mut segments = Vec::new();
        while !r.is_empty() {
            let kind = SegmentType::from_u8(r.u8()?)?;
            let count = usize::from(r.u8()?);
            if count == 0 {
                return None;
            }
            let bytes = r.take(count * width)?;
            let asns = bytes
                .chunks_exact(width)
                .map(|c| {
                    if four {
                        u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u32::from(u16::from_be_bytes([c[0], c[1]]))
                    }
                })
                .collect();
            segments.push(AsSegment { kind, asns });
        }
        Some(AsPath { segments })
    }

    /// RFC 6793 §4.2.3: rebuilds the real path from a 2-octet AS_PATH and an AS4_PATH.
    fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let (len, len4) = (self.length(), as4.length());
        if len < len4 {
            return self.clone();
        }
        let mut keep = len - len4;
        let mut segments: Vec<AsSegment> = Vec::new();
        for seg in &self.segments {
            match seg.kind {
                SegmentType::Sequence if keep > 0 => {
                    let n = keep.min(seg.asns.len());
                    segments.push(AsSegment { kind: seg.kind, asns: seg.asns[..n].to_vec() });
                    keep -= n;
                }
                SegmentType::Set if keep > 0 => {
                    segments.push(seg.clone());
                    keep -= 1;
                }
                SegmentType::ConfedSequence | SegmentType::ConfedSet => segments.push(seg.clone()),
                _ => {}
            }
        }
        for seg in &as4.segments {
            match (segments.last_mut(), seg.kind) {
                (Some(last), SegmentType::Sequence) if last.kind == SegmentType::Sequence => {
                    last.asns.extend_from_slice(&seg.asns)
                }
                _ => segments.push(seg.clone()),
            }
        }
        AsPath { segments }
    }
}

/// AGGREGATOR (RFC 4271 §5.1.7) with a 4-octet AS in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Aggregator {
    /// The aggregating speaker's AS.
    pub asn: u32,
    /// Its BGP identifier / address.
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997): `asn:value` in one 32-bit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);

    /// `high:low` as one community.
    pub fn new(high: u16, low: u16) -> Community {
        Community((u32::from(high) << 16) | u32::from(low))
    }
}

/// A large community (RFC 8092): three 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LargeCommunity {
    /// Global administrator (an AS number).
    pub global: u32,
    /// Local data part 1.
    pub local1: u32,
    /// Local data part 2.
    pub local2: u32,
}

/// The next hop of MP_REACH_NLRI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MpNextHop {
    /// An IPv4 next hop (4 octets).
    V4(Ipv4Addr),
    /// An IPv6 next hop: global (16 octets) plus optional link-local (32 octets in all, RFC 2545).
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address.
        link_local: Option<Ipv6Addr>,
    },
}

impl MpNextHop {
    /// The next hop as one address (the global one for IPv6).
    pub fn addr(&self) -> IpAddr {
        match self {
            MpNextHop::V4(a) => IpAddr::V4(*a),
            MpNextHop::V6 { global, .. } => IpAddr::V6(*global),
        }
    }
}

/// MP_REACH_NLRI (RFC 4760 §3).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Length of Next Hop Network Address (1 octet)            |
/// +---------------------------------------------------------+
/// | Network Address of Next Hop (variable)                  |
/// +---------------------------------------------------------+
/// | Reserved (1 octet)                                      |
/// +---------------------------------------------------------+
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MpReach {
    /// The family of the NLRI.
    pub family: Family,
    /// The next hop.
    pub next_hop: MpNextHop,
    /// Reachable prefixes.
    pub nlri: Vec<IpNet>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// +---------------------------------------------------------+
/// | Subsequent Address Family Identifier (1 octet)          |
/// +---------------------------------------------------------+
/// | Withdrawn Routes (variable)                             |
/// +---------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MpUnreach {
    /// The family of the withdrawn prefixes.
    pub family: Family,
    /// Withdrawn prefixes (empty: End-of-RIB marker, RFC 4724 §2).
    pub withdrawn: Vec<IpNet>,
}

/// An attribute this codec does not interpret, kept verbatim (optional transitive ones are
/// passed on with the Partial bit set).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawAttribute {
    /// Flags as received (Partial set; the Extended Length bit is recomputed on encode).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The path attributes of an UPDATE, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PathAttributes {
    /// ORIGIN (well-known mandatory).
    pub origin: Option<Origin>,
    /// AS_PATH (well-known mandatory), 4-octet ASes (merged with AS4_PATH on 2-octet sessions).
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (well-known mandatory for plain IPv4 NLRI).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC (optional non-transitive).
    pub med: Option<u32>,
    /// LOCAL_PREF (well-known, iBGP).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE (well-known discretionary).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (optional transitive), merged with AS4_AGGREGATOR on 2-octet sessions.
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (RFC 1997); empty means absent.
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY (RFC 8092); empty means absent.
    pub large_communities: Vec<LargeCommunity>,
    /// MP_REACH_NLRI (RFC 4760).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (RFC 4760).
    pub mp_unreach: Option<MpUnreach>,
    /// Unrecognized optional transitive attributes, passed on.
    pub unknown: Vec<RawAttribute>,
}

/// What RFC 7606 made of one problem in a received UPDATE (session-reset problems are
/// [`DecodeError`]s instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rfc7606Action {
    /// Every route announced by the UPDATE must be treated as withdrawn (RFC 7606 §2).
    TreatAsWithdraw {
        /// The offending attribute's type code (0 when not attribute-specific).
        type_code: u8,
        /// What was wrong.
        reason: String,
    },
    /// The attribute was discarded, the UPDATE is otherwise processed (RFC 7606 §2).
    AttributeDiscard {
        /// The discarded attribute's type code.
        type_code: u8,
        /// What was wrong.
        reason: String,
    },
}

impl Rfc7606Action {
    /// Whether this action withdraws the UPDATE's routes.
    pub fn is_treat_as_withdraw(&self) -> bool {
        matches!(self, Rfc7606Action::TreatAsWithdraw { .. })
    }
}

/// Appends one attribute; the Extended Length bit is set when the value needs it or `force_ext`.
fn put_attr(out: &mut Vec<u8>, flags: u8, type_code: u8, value: &[u8], force_ext: bool) -> Result<(), EncodeError> {
    let len = u16::try_from(value.len()).map_err(|_| EncodeError::AttributeTooLong(type_code))?;
    let flags = flags & !flag::EXTENDED_LENGTH;
    if force_ext || len > 255 {
        out.push(flags | flag::EXTENDED_LENGTH);
        out.push(type_code);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(flags);
        out.push(type_code);
        out.push(len as u8);
    }
    out.extend_from_slice(value);
    Ok(())
}

const WELL_KNOWN: u8 = flag::TRANSITIVE;
const OPT_TRANS: u8 = flag::OPTIONAL | flag::TRANSITIVE;
const OPT_NON_TRANS: u8 = flag::OPTIONAL;

/// Encoded MP_REACH_NLRI value header (everything before the NLRI).
pub(crate) fn mp_reach_head(family: Family, next_hop: &MpNextHop) -> Vec<u8> {
    let mut v = Vec::with_capacity(38);
    v.extend_from_slice(&family.afi.to_be_bytes());
    v.push(family.safi);
    match next_hop {
        MpNextHop::V4(a) => {
            v.push(4);
            v.extend_from_slice(&a.octets());
        }
        MpNextHop::V6 { global, link_local } => {
            v.push(if link_local.is_some() { 32 } else { 16 });
            v.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                v.extend_from_slice(&ll.octets());
            }
        }
    }
    v.push(0);
    v
}

/// Appends an MP_REACH_NLRI attribute (always with the Extended Length bit, as packing assumes).
pub(crate) fn put_mp_reach(out: &mut Vec<u8>, mp: &MpReach) -> Result<(), EncodeError> {
    let mut v = mp_reach_head(mp.family, &mp.next_hop);
    for p in &mp.nlri {
        encode_prefix(p, &mut v);
    }
    put_attr(out, OPT_NON_TRANS, attr_type::MP_REACH_NLRI, &v, true)
}

/// Appends an MP_UNREACH_NLRI attribute (always with the Extended Length bit).
pub(crate) fn put_mp_unreach(out: &mut Vec<u8>, mp: &MpUnreach) -> Result<(), EncodeError> {
    let mut v = Vec::with_capacity(3 + mp.withdrawn.len() * 5);
    v.extend_from_slice(&mp.family.afi.to_be_bytes());
    v.push(mp.family.safi);
    for p in &mp.withdrawn {
        encode_prefix(p, &mut v);
    }
    put_attr(out, OPT_NON_TRANS, attr_type::MP_UNREACH_NLRI, &v, true)
}

impl PathAttributes {
    /// The next hop for routes of `family`: MP_REACH_NLRI's when it is of that family, else
    /// NEXT_HOP for IPv4 unicast.
    pub fn next_hop_for(&self, family: Family) -> Option<IpAddr> {
        match &self.mp_reach {
            Some(mp) if mp.family == family => Some(mp.next_hop.addr()),
            _ if family == Family::IPV4_UNICAST => self.next_hop.map(IpAddr::V4),
            _ => None,
        }
    }

    /// Whether no attribute at all is set.
    pub fn is_empty(&self) -> bool {
        *self == PathAttributes::default()
    }

    /// Encodes every attribute except MP_REACH_NLRI/MP_UNREACH_NLRI, in type-code order.
    pub(crate) fn encode_without_mp(&self, ctx: &Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(origin) = self.origin {
            put_attr(out, WELL_KNOWN, attr_type::ORIGIN, &[origin.to_u8()], false)?;
        }
        let mut as4_path = None;
        if let Some(path) = &self.as_path {
            let mut v = Vec::new();
            path.encode(ctx.four_octet_as, false, &mut v);
            put_attr(out, WELL_KNOWN, attr_type::AS_PATH, &v, false)?;
            if !ctx.four_octet_as && path.has_four_octet() {
                let mut v4 = Vec::new();
                path.encode(true, true, &mut v4);
                as4_path = Some(v4);
            }
        }
        if let Some(nh) = self.next_hop {
            put_attr(out, WELL_KNOWN, attr_type::NEXT_HOP, &nh.octets(), false)?;
        }
        if let Some(med) = self.med {
            put_attr(out, OPT_NON_TRANS, attr_type::MULTI_EXIT_DISC, &med.to_be_bytes(), false)?;
        }
        if let Some(lp) = self.local_pref {
            put_attr(out, WELL_KNOWN, attr_type::LOCAL_PREF, &lp.to_be_bytes(), false)?;
        }
        if self.atomic_aggregate {
            put_attr(out, WELL_KNOWN, attr_type::ATOMIC_AGGREGATE, &[], false)?;
        }
        let mut as4_aggregator = None;
        if let Some(agg) = self.aggregator {
            let mut v = Vec::with_capacity(8);
            if ctx.four_octet_as {
                v.extend_from_slice(&agg.asn.to_be_bytes());
            } else {
                let short = u16::try_from(agg.asn).unwrap_or(AS_TRANS as u16);
                v.extend_from_slice(&short.to_be_bytes());
                if agg.asn > 0xffff {
                    let mut v4 = agg.asn.to_be_bytes().to_vec();
                    v4.extend_from_slice(&agg.address.octets());
                    as4_aggregator = Some(v4);
                }
            }
            v.extend_from_slice(&agg.address.octets());
            put_attr(out, OPT_TRANS, attr_type::AGGREGATOR, &v, false)?;
        }
        if !self.communities.is_empty() {
            let v: Vec<u8> = self.communities.iter().flat_map(|c| c.0.to_be_bytes()).collect();
            put_attr(out, OPT_TRANS, attr_type::COMMUNITIES, &v, false)?;
        }
        if let Some(v) = as4_path {
            put_attr(out, OPT_TRANS, attr_type::AS4_PATH, &v, false)?;
        }
        if let Some(v) = as4_aggregator {
            put_attr(out, OPT_TRANS, attr_type::AS4_AGGREGATOR, &v, false)?;
        }
        if !self.large_communities.is_empty() {
            let v: Vec<u8> = self
                .large_communities
                .iter()
                .flat_map(|c| [c.global.to_be_bytes(), c.local1.to_be_bytes(), c.local2.to_be_bytes()])
                .flatten()
                .collect();
            put_attr(out, OPT_TRANS, attr_type::LARGE_COMMUNITY, &v, false)?;
        }
        for raw in &self.unknown {
            put_attr(out, raw.flags, raw.type_code, &raw.value, false)?;
        }
        Ok(())
    }

    /// Encodes all attributes: MP_REACH_NLRI and MP_UNREACH_NLRI first (as common speakers do),
    /// then the others in type-code order.
    pub fn encode(&self, ctx: &Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(mp) = &self.mp_reach {
            put_mp_reach(out, mp)?;
        }
        if let Some(mp) = &self.mp_unreach {
            put_mp_unreach(out, mp)?;
        }
        self.encode_without_mp(ctx, out)
    }
}

/// The result of decoding the path attribute field.
#[derive(Debug, Clone, Default)]
pub(crate) struct DecodedAttributes {
    pub(crate) attrs: PathAttributes,
    pub(crate) actions: Vec<Rfc7606Action>,
    /// Type codes seen (a duplicate is counted once).
    pub(crate) seen: Vec<u8>,
}

/// The whole attribute as it appeared (for NOTIFICATION data).
fn whole(flags: u8, type_code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, type_code];
    if flags & flag::EXTENDED_LENGTH != 0 {
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend_from_slice(value);
    v
}

fn taw(actions: &mut Vec<Rfc7606Action>, type_code: u8, reason: impl Into<String>) {
    actions.push(Rfc7606Action::TreatAsWithdraw { type_code, reason: reason.into() });
}

fn discard(actions: &mut Vec<Rfc7606Action>, type_code: u8, reason: impl Into<String>) {
    actions.push(Rfc7606Action::AttributeDiscard { type_code, reason: reason.into() });
}

fn be_u32(v: &[u8]) -> Option<u32> {
    match v {
        [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

fn decode_mp_reach(value: &[u8], data: &[u8]) -> Result<MpReach, DecodeError> {
    let err = |why: &str| {
        DecodeError::update(code::update::OPTIONAL_ATTRIBUTE, data.to_vec(), format!("malformed MP_REACH_NLRI: {why}"))
    };
    let mut r = Reader::new(value);
    let afi = r.u16().ok_or_else(|| err("truncated"))?;
    let safi = r.u8().ok_or_else(|| err("truncated"))?;
    let family = Family { afi, safi };
    let nh_len = r.u8().ok_or_else(|| err("truncated"))?;
    let nh = r.take(usize::from(nh_len)).ok_or_else(|| err("next hop overruns"))?;
    let mut n = Reader::new(nh);
    let next_hop = match (family, nh_len) {
        (Family::IPV4_UNICAST, 4) => MpNextHop::V4(n.ipv4().ok_or_else(|| err("next hop"))?),
        (Family::IPV6_UNICAST, 16) => {
            MpNextHop::V6 { global: n.ipv6().ok_or_else(|| err("next hop"))?, link_local: None }
        }
        (Family::IPV6_UNICAST, 32) => MpNextHop::V6 {
            global: n.ipv6().ok_or_else(|| err("next hop"))?,
            link_local: Some(n.ipv6().ok_or_else(|| err("next hop"))?),
        },
        _ => return Err(err("next hop length does not fit the family")),
    };
    r.u8().ok_or_else(|| err("missing reserved octet"))?;
    let nlri = decode_prefixes(r.rest(), family).map_err(|_| err("invalid NLRI"))?;
    Ok(MpReach { family, next_hop, nlri })
}

fn decode_mp_unreach(value: &[u8], data: &[u8]) -> Result<MpUnreach, DecodeError> {
    let err = |why: &str| {
        DecodeError::update(
            code::update::OPTIONAL_ATTRIBUTE,
            data.to_vec(),
            format!("malformed MP_UNREACH_NLRI: {why}"),
        )
    };
    let mut r = Reader::new(value);
    let afi = r.u16().ok_or_else(|| err("truncated"))?;
    let safi = r.u8().ok_or_else(|| err("truncated"))?;
    let family = Family { afi, safi };
    let withdrawn = decode_prefixes(r.rest(), family).map_err(|_| err("invalid withdrawn routes"))?;
    Ok(MpUnreach { family, withdrawn })
}

/// Decodes the path attribute field, applying RFC 7606. Session-reset errors are returned as
/// `Err`; everything softer is recorded in `actions`.
pub(crate) fn decode_attributes(buf: &[u8], ctx: &Context) -> Result<DecodedAttributes, DecodeError> {
    let mut out = DecodedAttributes::default();
    let (attrs, actions) = (&mut out.attrs, &mut out.actions);
    let mut seen = [false; 256];
    let mut as4_path: Option<AsPath> = None;
    let mut as4_aggregator: Option<Aggregator> = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        // RFC 7606 §4: an attribute overrunning the field (or fewer octets left than a minimal
        // attribute) is treat-as-withdraw; the Total Attribute Length still locates the NLRI.
        let Some(head) = r.take(2) else {
            taw(actions, 0, "path attribute field ends inside an attribute header");
            break;
        };
        let (flags, type_code) = (head[0], head[1]);
        let len = if flags & flag::EXTENDED_LENGTH != 0 { r.u16() } else { r.u8().map(u16::from) };
        let Some(value) = len.and_then(|l| r.take(usize::from(l))) else {
            taw(actions, type_code, "attribute overruns the path attribute field");
            break;
        };
        let data = whole(flags, type_code, value);
        if seen[usize::from(type_code)] {
            // RFC 7606 §3 (g): duplicate MP attributes reset the session, others are discarded.
            if type_code == attr_type::MP_REACH_NLRI || type_code == attr_type::MP_UNREACH_NLRI {
                return Err(DecodeError::update(
                    code::update::MALFORMED_ATTRIBUTE_LIST,
                    Vec::new(),
                    format!("attribute {type_code} appears twice"),
                ));
            }
            discard(actions, type_code, "duplicate attribute");
            continue;
        }
        seen[usize::from(type_code)] = true;
        out.seen.push(type_code);
        let ot = flags & (flag::OPTIONAL | flag::TRANSITIVE);
        let expected = match type_code {
            attr_type::ORIGIN
            | attr_type::AS_PATH
            | attr_type::NEXT_HOP
            | attr_type::LOCAL_PREF
            | attr_type::ATOMIC_AGGREGATE => Some(WELL_KNOWN),
            attr_type::MULTI_EXIT_DISC | attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => Some(OPT_NON_TRANS),
            attr_type::AGGREGATOR
            | attr_type::COMMUNITIES
            | attr_type::AS4_PATH
            | attr_type::AS4_AGGREGATOR
            | attr_type::LARGE_COMMUNITY => Some(OPT_TRANS),
            _ => None,
        };
        let flags_ok = expected.is_none_or(|e| e == ot);
        match type_code {
            attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => {
                if !flags_ok {
                    return Err(DecodeError::update(code::update::ATTRIBUTE_FLAGS, data, "MP attribute flags"));
                }
                let family = value.get(..3).map(|b| Family { afi: u16::from_be_bytes([b[0], b[1]]), safi: b[2] });
                if let Some(f) = family.filter(|f| !ctx.has_family(*f) || !f.is_supported()) {
                    discard(actions, type_code, format!("multiprotocol attribute for family {f}, not negotiated"));
                    continue;
                }
                if type_code == attr_type::MP_REACH_NLRI {
                    attrs.mp_reach = Some(decode_mp_reach(value, &data)?);
                } else {
                    attrs.mp_unreach = Some(decode_mp_unreach(value, &data)?);
                }
            }
            attr_type::ORIGIN => match (flags_ok, value) {
                (true, [v]) if Origin::from_u8(*v).is_some() => attrs.origin = Origin::from_u8(*v),
                _ => taw(actions, type_code, "malformed ORIGIN"),
            },
            attr_type::AS_PATH => match AsPath::decode(value, ctx.four_octet_as).filter(|_| flags_ok) {
                Some(p) => attrs.as_path = Some(p),
                None => taw(actions, type_code, "malformed AS_PATH"),
            },
            attr_type::NEXT_HOP => match be_u32(value).map(Ipv4Addr::from).filter(|_| flags_ok) {
                Some(a) if !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast() => attrs.next_hop = Some(a),
                Some(a) => taw(actions, type_code, format!("NEXT_HOP {a} is not a unicast address")),
                None => taw(actions, type_code, "malformed NEXT_HOP"),
            },
            attr_type::MULTI_EXIT_DISC => match be_u32(value).filter(|_| flags_ok) {
                Some(v) => attrs.med = Some(v),
                None => taw(actions, type_code, "malformed MULTI_EXIT_DISC"),
            },
            attr_type::LOCAL_PREF => match be_u32(value).filter(|_| flags_ok) {
                Some(v) => attrs.local_pref = Some(v),
                None => taw(actions, type_code, "malformed LOCAL_PREF"),
            },
            attr_type::ATOMIC_AGGREGATE => {
                if flags_ok && value.is_empty() {
                    attrs.atomic_aggregate = true;
                } else {
                    discard(actions, type_code, "malformed ATOMIC_AGGREGATE");
                }
            }
            attr_type::AGGREGATOR => {
                let width = if ctx.four_octet_as { 8 } else { 6 };
                if flags_ok && value.len() == width {
                    let mut a = Reader::new(value);
                    let asn = if ctx.four_octet_as { a.u32() } else { a.u16().map(u32::from) };
                    if let (Some(asn), Some(address)) = (asn, a.ipv4()) {
                        attrs.aggregator = Some(Aggregator { asn, address });
                    }
                } else {
                    discard(actions, type_code, "malformed AGGREGATOR");
                }
            }
            attr_type::COMMUNITIES => {
                if flags_ok && !value.is_empty() && value.len().is_multiple_of(4) {
                    attrs.communities = value.chunks_exact(4).filter_map(be_u32).map(Community).collect();
                } else {
                    taw(actions, type_code, "malformed COMMUNITIES");
                }
            }
            attr_type::LARGE_COMMUNITY => {
                if flags_ok && !value.is_empty() && value.len().is_multiple_of(12) {
                    attrs.large_communities = value
                        .chunks_exact(12)
                        .filter_map(|c| {
                            Some(LargeCommunity {
                                global: be_u32(&c[0..4])?,
                                local1: be_u32(&c[4..8])?,
                                local2: be_u32(&c[8..12])?,
                            })
                        })
                        .collect();
                } else {
                    taw(actions, type_code, "malformed LARGE_COMMUNITY");
                }
            }
            attr_type::AS4_PATH => {
                if ctx.four_octet_as {
                    discard(actions, type_code, "AS4_PATH from a 4-octet-AS speaker");
                } else {
                    match AsPath::decode(value, true)
                        .filter(|p| flags_ok && !p.segments.iter().any(|s| s.kind.is_confed()))
                    {
                        Some(p) => as4_path = Some(p),
                        None => discard(actions, type_code, "malformed AS4_PATH"),
                    }
                }
            }
            attr_type::AS4_AGGREGATOR => {
                if ctx.four_octet_as {
                    discard(actions, type_code, "AS4_AGGREGATOR from a 4-octet-AS speaker");
                } else {
                    match (flags_ok, be_u32(value.get(..4).unwrap_or(&[])), value.len()) {
                        (true, Some(asn), 8) => {
                            let mut a = Reader::new(&value[4..]);
                            if let Some(address) = a.ipv4() {
                                as4_aggregator = Some(Aggregator { asn, address });
                            }
                        }
                        _ => discard(actions, type_code, "malformed AS4_AGGREGATOR"),
                    }
                }
            }
            _ => {
                if flags & flag::OPTIONAL == 0 {
                    return Err(DecodeError::update(
                        code::update::UNRECOGNIZED_WELL_KNOWN,
                        data,
                        format!("unrecognized well-known attribute {type_code}"),
                    ));
                }
                if flags & flag::TRANSITIVE != 0 {
                    attrs.unknown.push(RawAttribute {
                        flags: (flags | flag::PARTIAL) & !flag::EXTENDED_LENGTH,
                        type_code,
                        value: value.to_vec(),
                    });
                }
                // Unrecognized optional non-transitive attributes are quietly ignored (RFC 4271 §5).
            }
        }
    }
    // RFC 6793 §4.2.3: reconstruct 4-octet information from a 2-octet speaker.
    if !ctx.four_octet_as {
        let mut use_as4_path = true;
        if let (Some(agg), Some(agg4)) = (attrs.aggregator, as4_aggregator) {
            if agg.asn == AS_TRANS {
                attrs.aggregator = Some(agg4);
            } else {
                // The AGGREGATOR was set by a 2-octet speaker after the AS4 attributes: ignore them.
                use_as4_path = false;
            }
        }
        if let (true, Some(path), Some(p4)) = (use_as4_path, &attrs.as_path, &as4_path) {
            attrs.as_path = Some(path.merge_as4(p4));
        }
    }
    Ok(out)
}
