//! UPDATE message (RFC 4271 §4.3), End-of-RIB (RFC 4724 §2), RFC 7606 outcome and packing.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//!
//! Withdrawn Routes and NLRI entries:
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

pub use super::attrs::Rfc7606Action;
use super::attrs::{attr_type, decode_attributes, mp_reach_head};
use super::{
    Context, DecodeError, EncodeError, Family, HEADER_LEN, MAX_MESSAGE_LEN, MpNextHop, MpReach, MpUnreach,
    PathAttributes, Reader, code, decode_prefixes, encode_prefix, prefix_len,
};

/// An UPDATE message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Update {
    /// Withdrawn IPv4 unicast prefixes (plain field).
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes (including MP_REACH_NLRI / MP_UNREACH_NLRI).
    pub attributes: PathAttributes,
    /// Announced IPv4 unicast prefixes (plain field).
    pub nlri: Vec<Ipv4Net>,
}

impl Update {
    /// The End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    /// an UPDATE holding only an empty MP_UNREACH_NLRI for the others.
    pub fn end_of_rib(family: Family) -> Update {
        let mut u = Update::default();
        if family != Family::IPV4_UNICAST {
            u.attributes.mp_unreach = Some(MpUnreach { family, withdrawn: Vec::new() });
        }
        u
    }

    /// The family this UPDATE marks End-of-RIB for, if it is such a marker.
    pub fn is_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        if self.attributes.is_empty() {
            return Some(Family::IPV4_UNICAST);
        }
        match &self.attributes.mp_unreach {
            Some(mp) if mp.withdrawn.is_empty() => {
                let rest = PathAttributes { mp_unreach: None, ..self.attributes.clone() };
                rest.is_empty().then_some(mp.family)
            }
            _ => None,
        }
    }

    /// Every announced prefix (plain NLRI and MP_REACH_NLRI).
    pub fn announced(&self) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = self.nlri.iter().copied().map(IpNet::V4).collect();
        if let Some(mp) = &self.attributes.mp_reach {
            v.extend_from_slice(&mp.nlri);
        }
        v
    }

    /// Every withdrawn prefix (plain field and MP_UNREACH_NLRI).
    pub fn withdrawn_prefixes(&self) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = self.withdrawn.iter().copied().map(IpNet::V4).collect();
        if let Some(mp) = &self.attributes.mp_unreach {
            v.extend_from_slice(&mp.withdrawn);
        }
        v
    }

    /// The next hop of announced prefixes of `family`: MP_REACH_NLRI's when it carries that
    /// family, else NEXT_HOP for IPv4 unicast.
    pub fn next_hop(&self, family: Family) -> Option<IpAddr> {
        self.attributes.next_hop_for(family)
    }

    /// The attributes that describe the announced routes, for a RIB: everything but the
    /// prefix lists (MP_UNREACH_NLRI dropped, MP_REACH_NLRI kept with its family and next hop
    /// and no NLRI). Equal for every UPDATE carrying the same path, so RIBs can share it;
    /// [`pack_updates`] and `Session::announce` take it back as is.
    pub fn route_attributes(&self) -> PathAttributes {
        let mut a = self.attributes.clone();
        a.mp_unreach = None;
        if let Some(mp) = a.mp_reach.as_mut() {
            mp.nlri.clear();
        }
        a
    }

    /// Encodes the whole message (header included).
    pub fn encode(&self, ctx: &Context) -> Result<Vec<u8>, EncodeError> {
        super::Message::Update(self.clone()).encode(ctx)
    }

    pub(crate) fn encode_body(&self, ctx: &Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Vec::new();
        for p in &self.withdrawn {
            encode_prefix(&IpNet::V4(*p), &mut w);
        }
        let mut a = Vec::new();
        self.attributes.encode(ctx, &mut a)?;
        let wlen = u16::try_from(w.len()).map_err(|_| EncodeError::TooLong(w.len()))?;
        let alen = u16::try_from(a.len()).map_err(|_| EncodeError::TooLong(a.len()))?;
        out.extend_from_slice(&wlen.to_be_bytes());
        out.extend_from_slice(&w);
        out.extend_from_slice(&alen.to_be_bytes());
        out.extend_from_slice(&a);
        for p in &self.nlri {
            encode_prefix(&IpNet::V4(*p), out);
        }
        Ok(())
    }
}

fn v4_only(v: Vec<IpNet>) -> Vec<Ipv4Net> {
    v.into_iter()
        .filter_map(|n| match n {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect()
}

/// Decodes an UPDATE body (after the header) and applies RFC 7606.
///
/// `Err` means session reset with the NOTIFICATION it carries. `Ok` carries the update and the
/// softer outcomes: when any [`Rfc7606Action::TreatAsWithdraw`] is present, every prefix the
/// update announces must be handled as withdrawn.
pub fn decode_update(body: &[u8], ctx: &Context) -> Result<(Update, Vec<Rfc7606Action>), DecodeError> {
    let malformed =
        |why: &str| DecodeError::update(code::update::MALFORMED_ATTRIBUTE_LIST, Vec::new(), why.to_string());
    let mut r = Reader::new(body);
    let wlen = r.u16().ok_or_else(|| malformed("truncated withdrawn routes length"))?;
    let wbytes = r.take(usize::from(wlen)).ok_or_else(|| malformed("withdrawn routes overrun the message"))?;
    let alen = r.u16().ok_or_else(|| malformed("truncated total path attribute length"))?;
    let abytes = r.take(usize::from(alen)).ok_or_else(|| malformed("path attributes overrun the message"))?;
    let invalid_network =
        |why: &str| DecodeError::update(code::update::INVALID_NETWORK_FIELD, Vec::new(), why.to_string());
    let withdrawn =
        decode_prefixes(wbytes, Family::IPV4_UNICAST).map_err(|_| invalid_network("bad withdrawn route"))?;
    let nlri = decode_prefixes(r.rest(), Family::IPV4_UNICAST).map_err(|_| invalid_network("bad NLRI"))?;
    let decoded = decode_attributes(abytes, ctx)?;
    let mut actions = decoded.actions;
    let attrs = decoded.attrs;
    // RFC 7606 §3 (d): a missing well-known mandatory attribute with NLRI present is treat-as-withdraw.
    let reach = !nlri.is_empty() || attrs.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
    if reach {
        let mut required = vec![attr_type::ORIGIN, attr_type::AS_PATH];
        if !nlri.is_empty() {
            required.push(attr_type::NEXT_HOP);
        }
        for t in required {
            if !decoded.seen.contains(&t) {
                actions.push(Rfc7606Action::TreatAsWithdraw {
                    type_code: t,
                    reason: format!("missing well-known mandatory attribute {t}"),
                });
            }
        }
    }
    let update = Update { withdrawn: v4_only(withdrawn), attributes: attrs, nlri: v4_only(nlri) };
    Ok((update, actions))
}

/// Greedy packer for one family: withdrawals, then announcements, each message ≤ 4096 octets.
struct Packer {
    budget: usize,
    done: Vec<Update>,
    cur: Update,
    size: usize,
    has_reach: bool,
    has_unreach: bool,
}

impl Packer {
    fn new() -> Self {
        // Header, withdrawn routes length, total path attribute length.
        Packer {
            budget: MAX_MESSAGE_LEN - HEADER_LEN - 4,
            done: Vec::new(),
            cur: Update::default(),
            size: 0,
            has_reach: false,
            has_unreach: false,
        }
    }

    fn flush(&mut self) {
        if self.size > 0 {
            self.done.push(std::mem::take(&mut self.cur));
        }
        self.size = 0;
        self.has_reach = false;
        self.has_unreach = false;
    }

    /// Makes room for `item` octets plus `overhead` when the message lacks its container yet.
    fn room(&mut self, item: usize, overhead: usize, has: bool) -> Result<(), EncodeError> {
        if item + overhead > self.budget {
            return Err(EncodeError::AttributesTooLong(overhead));
        }
        let need = item + if has { 0 } else { overhead };
        if self.size + need > self.budget {
            self.flush();
        }
        Ok(())
    }
}

/// Packs one attribute set with many prefixes (and withdrawals) into as few UPDATEs as fit
/// 4096 octets each.
///
/// IPv4 unicast goes in the plain NLRI / withdrawn fields with `attrs.next_hop` as NEXT_HOP,
/// unless `ctx.ipv4_in_mp`, where it goes in MP_REACH_NLRI with `next_hop` (or `attrs.next_hop`).
/// IPv6 unicast always goes in MP_REACH_NLRI / MP_UNREACH_NLRI and needs a `next_hop` of
/// [`MpNextHop::V6`]. When `next_hop` is `None`, the next hop of `attrs.mp_reach` (as kept by
/// [`Update::route_attributes`]) is used; the NLRI of `attrs.mp_reach` / `attrs.mp_unreach`
/// are ignored. Withdrawals come before announcements, IPv4 before IPv6.
pub fn pack_updates(
    ctx: &Context,
    attrs: &PathAttributes,
    next_hop: Option<MpNextHop>,
    announce: &[IpNet],
    withdraw: &[IpNet],
) -> Result<Vec<Update>, EncodeError> {
    let next_hop = next_hop.or(attrs.mp_reach.as_ref().map(|m| m.next_hop));
    let base = PathAttributes { mp_reach: None, mp_unreach: None, ..attrs.clone() };
    let mut out = Vec::new();
    let (a4, a6): (Vec<IpNet>, Vec<IpNet>) = announce.iter().partition(|p| matches!(p, IpNet::V4(_)));
    let (w4, w6): (Vec<IpNet>, Vec<IpNet>) = withdraw.iter().partition(|p| matches!(p, IpNet::V4(_)));

    if !ctx.ipv4_in_mp {
        let mut with_nh = base.clone();
        if let Some(MpNextHop::V4(a)) = next_hop {
            with_nh.next_hop = Some(a);
        }
        if !a4.is_empty() && with_nh.next_hop.is_none() {
            return Err(EncodeError::NextHopFamily { next_hop: "none".into(), family: Family::IPV4_UNICAST });
        }
        let mut enc = Vec::new();
        with_nh.encode_without_mp(ctx, &mut enc)?;
        let overhead = enc.len();
        let mut p = Packer::new();
        for w in &w4 {
            let n = prefix_len(w);
            p.room(n, 0, true)?;
            if let IpNet::V4(w) = w {
                p.cur.withdrawn.push(*w);
            }
            p.size += n;
        }
        for a in &a4 {
            let n = prefix_len(a);
            p.room(n, overhead, p.has_reach)?;
            if !p.has_reach {
                p.cur.attributes = with_nh.clone();
                p.size += overhead;
                p.has_reach = true;
            }
            if let IpNet::V4(a) = a {
                p.cur.nlri.push(*a);
            }
            p.size += n;
        }
        p.flush();
        out.append(&mut p.done);
    } else {
        let nh = match next_hop {
            Some(nh @ MpNextHop::V4(_)) => Some(nh),
            _ => attrs.next_hop.map(MpNextHop::V4),
        };
        out.append(&mut pack_mp(ctx, &base, Family::IPV4_UNICAST, nh, &a4, &w4)?);
    }
    let nh6 = match next_hop {
        Some(nh @ MpNextHop::V6 { .. }) => Some(nh),
        _ => None,
    };
    out.append(&mut pack_mp(ctx, &base, Family::IPV6_UNICAST, nh6, &a6, &w6)?);
    Ok(out)
}

fn pack_mp(
    ctx: &Context,
    base: &PathAttributes,
    family: Family,
    next_hop: Option<MpNextHop>,
    announce: &[IpNet],
    withdraw: &[IpNet],
) -> Result<Vec<Update>, EncodeError> {
    let mut p = Packer::new();
    // MP attributes always use the Extended Length form: 4 octets of attribute header.
    let unreach_overhead = 4 + 3;
    for w in withdraw {
        let n = prefix_len(w);
        p.room(n, unreach_overhead, p.has_unreach)?;
        if !p.has_unreach {
            p.cur.attributes.mp_unreach = Some(MpUnreach { family, withdrawn: Vec::new() });
            p.size += unreach_overhead;
            p.has_unreach = true;
        }
        if let Some(mp) = p.cur.attributes.mp_unreach.as_mut() {
            mp.withdrawn.push(*w);
        }
        p.size += n;
    }
    if !announce.is_empty() {
        let Some(nh) = next_hop else {
            return Err(EncodeError::NextHopFamily { next_hop: "none".into(), family });
        };
        let attrs = PathAttributes { next_hop: None, ..base.clone() };
        let mut enc = Vec::new();
        attrs.encode_without_mp(ctx, &mut enc)?;
        let overhead = enc.len() + 4 + mp_reach_head(family, &nh).len();
        for a in announce {
            let n = prefix_len(a);
            p.room(n, overhead, p.has_reach)?;
            if !p.has_reach {
                let unreach = p.cur.attributes.mp_unreach.take();
                p.cur.attributes = attrs.clone();
                p.cur.attributes.mp_unreach = unreach;
                p.cur.attributes.mp_reach = Some(MpReach { family, next_hop: nh, nlri: Vec::new() });
                p.size += overhead;
                p.has_reach = true;
            }
            if let Some(mp) = p.cur.attributes.mp_reach.as_mut() {
                mp.nlri.push(*a);
            }
            p.size += n;
        }
    }
    p.flush();
    Ok(p.done)
}
