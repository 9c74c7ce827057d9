//! Routing information bases, generic over the path attributes `A` so they stay independent of
//! the wire codec.
//!
//! - [`AdjRibOut`]: per peer, what we want the peer to have (set by the daemon) against what we
//!   last sent; [`AdjRibOut::take_plan`] yields the minimal [`UpdatePlan`] (withdrawals plus
//!   announcements grouped by identical attributes, per address family).
//! - [`AdjRibIn`]: per peer, the routes received and accepted by the [`crate::filter`] policy,
//!   with graceful-restart stale marking (RFC 4724 helper mode) and maximum-prefix accounting.
//!   Each change returns an [`InDelta`].
//! - [`LocRib`]: per kernel table (VRF), the best path per prefix across peers (RFC 4271 §9.1),
//!   fed with [`InDelta`]s, producing [`LocDelta`]s for the netlink installer.
//!
//! Attribute sets are shared through [`Arc`](std::sync::Arc): one allocation per distinct set in
//! the Adj-RIB-Out (interned), one per received UPDATE in the Adj-RIB-In.

mod adj_in;
mod attrs;
mod loc;
mod out;

use std::fmt;
use std::hash::Hash;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

pub use adj_in::{AdjRibIn, InDelta, InOutcome, InUpdate};
pub use loc::{BestPathInputs, LocChange, LocDelta, LocRib, LocRibError, PeerInfo, TableId};
pub use out::{AdjRibOut, FamilyPlan, UpdatePlan};

/// The address families the RIBs keep apart (unicast SAFI only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 unicast (AFI 1, SAFI 1).
    Ipv4,
    /// IPv6 unicast (AFI 2, SAFI 1).
    Ipv6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::Ipv4, Family::Ipv6];

    /// The family of a prefix.
    pub fn of(prefix: &IpNet) -> Self {
        match prefix {
            IpNet::V4(_) => Family::Ipv4,
            IpNet::V6(_) => Family::Ipv6,
        }
    }

    /// The IANA Address Family Identifier (1 for IPv4, 2 for IPv6).
    pub fn afi(self) -> u16 {
        match self {
            Family::Ipv4 => 1,
            Family::Ipv6 => 2,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// A family-specific prefix type, stored compactly in the per-family tables.
pub(crate) trait FamilyPrefix: Copy + Eq + Hash + Ord + Into<IpNet> {}

impl FamilyPrefix for Ipv4Net {}
impl FamilyPrefix for Ipv6Net {}
