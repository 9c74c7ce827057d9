//! What the merge found wrong, and how fields are named in conflict reports
//! (`routers[vrf=red].neighbors[192.0.2.1].asn`, `bfdProfiles[fast].receiveInterval`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt::{self, Display};
use core::net::IpAddr;

use crate::bytes::{Key, eq, ip_key};
use crate::types::{Conflict, Neighbor, ObjectRef};

/// Index of an applied source in [`Report::origins`].
pub(crate) type Src = u32;

/// A merged value and the source that first gave it.
#[derive(Clone, Debug)]
pub(crate) struct Slot<T> {
    pub value: T,
    pub from: Src,
}

impl<T> Slot<T> {
    pub fn new(value: T, from: Src) -> Slot<T> {
        Slot { value, from }
    }
}

/// The applied sources and everything found wrong so far.
pub(crate) struct Report {
    pub origins: Vec<ObjectRef>,
    pub conflicts: Vec<Conflict>,
    pub invalid: Vec<String>,
}

impl Report {
    pub fn name(&self, s: Src) -> String {
        self.origins.get(s as usize).map(|o| o.to_string()).unwrap_or_default()
    }

    /// Record a conflict between the objects `srcs` (duplicates are dropped).
    pub fn conflict(&mut self, srcs: &[Src], field: String, reason: String) {
        let mut objects: Vec<ObjectRef> = Vec::with_capacity(srcs.len());
        for s in srcs {
            if let Some(o) = self.origins.get(*s as usize)
                && !objects.iter().any(|x| eq(&x.namespace, &o.namespace) && eq(&x.name, &o.name))
            {
                objects.push(o.clone());
            }
        }
        self.conflicts.push(Conflict { objects, field, reason });
    }

    /// Record a disagreement on `field` between the source that set the merged value and `from`.
    /// `a` and `b` describe the two values, field name included ("asn 64512").
    pub fn disagree(&mut self, first: Src, from: Src, field: String, a: impl Display, b: impl Display) {
        let reason = if first == from {
            format!("{a} and {b} in {} for the same entry", self.name(from))
        } else {
            format!("{a} in {} but {b} in {}", self.name(first), self.name(from))
        };
        self.conflict(&[first, from], field, reason);
    }
}

/// How a neighbor is identified within its router: frr-k8s keys neighbors by address (by
/// interface for unnumbered ones), not by port. Ordered: addresses (IPv4 first), interfaces.
#[derive(Clone, Debug)]
pub(crate) enum NeighborKey {
    Address(IpAddr),
    Interface(Key),
    /// Neither address nor interface (already reported as a conflict).
    Nothing,
}

impl NeighborKey {
    fn rank(&self) -> u8 {
        match self {
            NeighborKey::Address(_) => 0,
            NeighborKey::Interface(_) => 1,
            NeighborKey::Nothing => 2,
        }
    }
}

// By hand: addresses compare as integers (see `bytes`).
impl Ord for NeighborKey {
    fn cmp(&self, other: &NeighborKey) -> Ordering {
        match (self, other) {
            (NeighborKey::Address(a), NeighborKey::Address(b)) => ip_key(*a).cmp(&ip_key(*b)),
            (NeighborKey::Interface(a), NeighborKey::Interface(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for NeighborKey {
    fn partial_cmp(&self, other: &NeighborKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NeighborKey {
    fn eq(&self, other: &NeighborKey) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NeighborKey {}

impl NeighborKey {
    pub fn of(n: &Neighbor) -> NeighborKey {
        match (&n.address, &n.interface) {
            (Some(a), _) => NeighborKey::Address(*a),
            (None, Some(i)) => NeighborKey::Interface(Key(i.clone())),
            (None, None) => NeighborKey::Nothing,
        }
    }
}

impl Display for NeighborKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeighborKey::Address(a) => write!(f, "{a}"),
            NeighborKey::Interface(i) => write!(f, "interface={}", i.0),
            NeighborKey::Nothing => f.write_str("?"),
        }
    }
}

pub(crate) fn router_path(vrf: &str) -> String {
    if vrf.is_empty() { "routers[vrf=\"\"]".to_string() } else { format!("routers[vrf={vrf}]") }
}

pub(crate) fn neighbor_path(vrf: &str, key: &NeighborKey) -> String {
    format!("{}.neighbors[{key}]", router_path(vrf))
}

impl Report {
    /// Record a problem of the single source `from` (a configuration that is not self-contained).
    pub fn fault(&mut self, from: Src, field: String, reason: String) {
        self.conflict(&[from], field, reason);
    }
}
