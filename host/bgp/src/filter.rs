//! Receive filters: which routes a peer may give us, and how many.
//!
//! The semantics are those of frr-k8s (`FRRConfiguration.spec.bgp.routers[].neighbors[].toReceive`
//! and the MetalLB operator's `frrk8sConfig.alwaysBlock`), so a configuration behaves the same here
//! as it does under frr-k8s + FRR:
//!
//! - **Nothing is received by default.** "By default, FRR-K8s does not process any prefixes
//!   advertised by a neighbor" (OpenShift MetalLB chapter, *The toReceive field*). An absent
//!   `toReceive` is [`ReceiveFilter::deny_all`].
//! - **`allowed.mode: all`** accepts every prefix (frr-k8s renders a bare `route-map … permit`);
//!   **`filtered`** (the default) accepts only what one of `allowed.prefixes` selects. In `all`
//!   mode the prefix list is ignored, as in frr-k8s' `toReceiveToFRR`.
//! - **A [`PrefixSelector`]** (`prefix`, `ge`, `le`) is rendered by frr-k8s into an FRR prefix-list
//!   entry `permit PREFIX [le LE] [ge GE]` (`IncomingFilter.Matcher`), so the FRR prefix-list rules
//!   apply (FRR user guide, *Filtering › IP Prefix List*): the received prefix must lie inside
//!   `prefix` and its length must be in
//!   - `[len(prefix), len(prefix)]` (exact match) when neither `ge` nor `le` is given,
//!   - `[ge, max]` when only `ge` is given (`max` = 32 for IPv4, 128 for IPv6),
//!   - `[len(prefix), le]` when only `le` is given,
//!   - `[ge, le]` when both are given.
//!
//!   frr-k8s' API reference (`PrefixSelector`) bounds `ge`/`le` to 1..=128 and its
//!   `validateSelectorLengths` refuses selectors unless `len(prefix) <= ge <= le`; we check the same,
//!   plus the family's maximum length (FRR itself refuses `ge 33` on an IPv4 prefix-list).
//! - **`alwaysBlock`** prefixes refuse any received route inside them, of any length: frr-k8s'
//!   `alwaysBlockToFRR` renders each as a `deny` entry with `le 32` (IPv4) or `le 128` (IPv6), placed
//!   before the permit entries, so a block wins over any allow.
//! - **Maximum prefixes** ([`MaxPrefix`]) follows FRR's `neighbor … maximum-prefix N [THRESHOLD]
//!   [warning-only]`: counted per address family over the accepted routes, a warning once the count
//!   goes above `THRESHOLD`% of `N` (FRR's default `MAXIMUM_PREFIX_THRESHOLD_DEFAULT` is 75), and the
//!   limit is exceeded when the count goes above `N`; the session then closes with a NOTIFICATION
//!   Cease / Maximum Number of Prefixes Reached (RFC 4486 §4, subcode 1). frr-k8s itself exposes no
//!   maximum-prefix field; this is ferrolb's addition with FRR's meaning.
//!
//! Evaluation is a walk down a binary prefix trie ([`prefix_trie`]): at most one node per bit of
//! the received prefix, whatever the number of selectors.

use std::fmt;
use std::ops::RangeInclusive;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::{PrefixMap, PrefixSet};
use serde::{Deserialize, Serialize};

use crate::rib::Family;

/// Errors in a receive-filter configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// `ge` or `le` is outside 1..=32 (IPv4) or 1..=128 (IPv6).
    #[error("prefix selector {prefix}: {which} {value} is outside 1..={max}")]
    LengthOutOfRange {
        /// The selector's prefix.
        prefix: IpNet,
        /// `"ge"` or `"le"`.
        which: &'static str,
        /// The offending value.
        value: u8,
        /// The family's maximum prefix length.
        max: u8,
    },
    /// `ge` is greater than `le`.
    #[error("prefix selector {prefix}: ge {ge} is bigger than le {le}")]
    GeAboveLe {
        /// The selector's prefix.
        prefix: IpNet,
        /// The `ge` value.
        ge: u8,
        /// The `le` value.
        le: u8,
    },
    /// The selector's own mask is longer than `ge` or `le`.
    #[error("prefix selector {prefix}: the prefix length {mask} is bigger than {which} {value}")]
    MaskAboveBound {
        /// The selector's prefix.
        prefix: IpNet,
        /// The selector prefix's length.
        mask: u8,
        /// `"ge"` or `"le"`.
        which: &'static str,
        /// The bound it exceeds.
        value: u8,
    },
    /// A maximum-prefix limit of zero, or a warning threshold outside 1..=100.
    #[error("maximum-prefix: {0}")]
    BadMaxPrefix(&'static str),
}

/// One entry of `toReceive.allowed.prefixes`: a prefix with optional `ge`/`le` length bounds.
///
/// Construct with [`PrefixSelector::new`], which validates like frr-k8s (see the module docs for
/// the matching rules). Deserializing does not validate: call [`PrefixSelector::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrefixSelector {
    /// The covering prefix (host bits are cleared by [`PrefixSelector::new`]).
    pub prefix: IpNet,
    /// Minimum accepted length (`ge`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge: Option<u8>,
    /// Maximum accepted length (`le`), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub le: Option<u8>,
}

impl PrefixSelector {
    /// A validated selector; host bits of `prefix` are cleared (as Go's `net.ParseCIDR` does in
    /// frr-k8s).
    pub fn new(prefix: IpNet, ge: Option<u8>, le: Option<u8>) -> Result<Self, FilterError> {
        let s = Self { prefix: prefix.trunc(), ge, le };
        s.validate()?;
        Ok(s)
    }

    /// A selector matching exactly `prefix` (no `ge`, no `le`).
    pub fn exact(prefix: IpNet) -> Self {
        Self { prefix: prefix.trunc(), ge: None, le: None }
    }

    /// Checks the frr-k8s rules: `ge`/`le` within 1..=family maximum and `len(prefix) <= ge <= le`.
    pub fn validate(&self) -> Result<(), FilterError> {
        let max = self.prefix.max_prefix_len();
        let mask = self.prefix.prefix_len();
        for (which, v) in [("ge", self.ge), ("le", self.le)] {
            if let Some(value) = v {
                if value == 0 || value > max {
                    return Err(FilterError::LengthOutOfRange { prefix: self.prefix, which, value, max });
                }
                if mask > value {
                    return Err(FilterError::MaskAboveBound { prefix: self.prefix, mask, which, value });
                }
            }
        }
        if let (Some(ge), Some(le)) = (self.ge, self.le)
            && ge > le
        {
            return Err(FilterError::GeAboveLe { prefix: self.prefix, ge, le });
        }
        Ok(())
    }

    /// The accepted prefix lengths (FRR prefix-list rules, see the module docs).
    pub fn length_range(&self) -> RangeInclusive<u8> {
        let mask = self.prefix.prefix_len();
        match (self.ge, self.le) {
            (None, None) => mask..=mask,
            (Some(ge), None) => ge..=self.prefix.max_prefix_len(),
            (None, Some(le)) => mask..=le,
            (Some(ge), Some(le)) => ge..=le,
        }
    }

    /// Whether `received` is selected: inside [`Self::prefix`] with a length in
    /// [`Self::length_range`].
    pub fn matches(&self, received: &IpNet) -> bool {
        self.prefix.contains(received) && self.length_range().contains(&received.prefix_len())
    }
}

impl fmt::Display for PrefixSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        if let Some(ge) = self.ge {
            write!(f, " ge {ge}")?;
        }
        if let Some(le) = self.le {
            write!(f, " le {le}")?;
        }
        Ok(())
    }
}

/// `toReceive.allowed.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowMode {
    /// Accept every prefix (except `alwaysBlock`).
    All,
    /// Accept only the prefixes a selector matches (the default).
    #[default]
    Filtered,
}

/// Why a received prefix was refused, or that it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The route may be stored.
    Accept,
    /// Inside an `alwaysBlock` prefix (the first, shortest one found).
    Blocked {
        /// The blocking prefix.
        by: IpNet,
    },
    /// No `toReceive` selector matches (or the mode is `filtered` with no selectors).
    NotAllowed,
}

impl Verdict {
    /// Whether the route may be stored.
    pub fn is_accept(&self) -> bool {
        matches!(self, Verdict::Accept)
    }
}

/// A compiled receive filter for one peer: `toReceive` plus the node-wide `alwaysBlock` list.
#[derive(Debug, Clone)]
pub struct ReceiveFilter {
    mode: AllowMode,
    allowed_v4: PrefixMap<Ipv4Net, Vec<RangeInclusive<u8>>>,
    allowed_v6: PrefixMap<Ipv6Net, Vec<RangeInclusive<u8>>>,
    blocked_v4: PrefixSet<Ipv4Net>,
    blocked_v6: PrefixSet<Ipv6Net>,
    selectors: Vec<PrefixSelector>,
    always_block: Vec<IpNet>,
}

impl Default for ReceiveFilter {
    /// [`ReceiveFilter::deny_all`]: frr-k8s receives nothing unless told to.
    fn default() -> Self {
        Self::deny_all()
    }
}

impl PartialEq for ReceiveFilter {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode && self.selectors == other.selectors && self.always_block == other.always_block
    }
}

impl Eq for ReceiveFilter {}

impl ReceiveFilter {
    /// Compiles a filter. `selectors` is `toReceive.allowed.prefixes` (ignored in [`AllowMode::All`]),
    /// `always_block` the node-wide blocked prefixes. Every selector is validated.
    pub fn new(mode: AllowMode, selectors: &[PrefixSelector], always_block: &[IpNet]) -> Result<Self, FilterError> {
        let mut f = Self {
            mode,
            allowed_v4: PrefixMap::new(),
            allowed_v6: PrefixMap::new(),
            blocked_v4: PrefixSet::new(),
            blocked_v6: PrefixSet::new(),
            selectors: Vec::new(),
            always_block: Vec::new(),
        };
        for s in selectors {
            let s = PrefixSelector::new(s.prefix, s.ge, s.le)?;
            let range = s.length_range();
            match s.prefix {
                IpNet::V4(p) => f.allowed_v4.entry(p).or_default().push(range),
                IpNet::V6(p) => f.allowed_v6.entry(p).or_default().push(range),
            }
            f.selectors.push(s);
        }
        f.selectors.sort();
        f.selectors.dedup();
        for b in always_block {
            let b = b.trunc();
            match b {
                IpNet::V4(p) => f.blocked_v4.insert(p),
                IpNet::V6(p) => f.blocked_v6.insert(p),
            };
            f.always_block.push(b);
        }
        f.always_block.sort();
        f.always_block.dedup();
        Ok(f)
    }

    /// Receives nothing (frr-k8s' behaviour when `toReceive` is absent).
    pub fn deny_all() -> Self {
        Self {
            mode: AllowMode::Filtered,
            allowed_v4: PrefixMap::new(),
            allowed_v6: PrefixMap::new(),
            blocked_v4: PrefixSet::new(),
            blocked_v6: PrefixSet::new(),
            selectors: Vec::new(),
            always_block: Vec::new(),
        }
    }

    /// Receives everything (`mode: all`, no `alwaysBlock`).
    pub fn accept_all() -> Self {
        Self { mode: AllowMode::All, ..Self::deny_all() }
    }

    /// The mode.
    pub fn mode(&self) -> AllowMode {
        self.mode
    }

    /// The validated selectors, sorted and deduplicated.
    pub fn selectors(&self) -> &[PrefixSelector] {
        &self.selectors
    }

    /// The `alwaysBlock` prefixes, sorted and deduplicated.
    pub fn always_block(&self) -> &[IpNet] {
        &self.always_block
    }

    /// Judges one received prefix. `alwaysBlock` is checked first and wins over any allow.
    pub fn check(&self, received: &IpNet) -> Verdict {
        let received = received.trunc();
        match received {
            IpNet::V4(p) => {
                if let Some(by) = self.blocked_v4.get_spm(&p) {
                    return Verdict::Blocked { by: IpNet::V4(by) };
                }
                if self.mode == AllowMode::All {
                    return Verdict::Accept;
                }
                let len = p.prefix_len();
                if self.allowed_v4.cover_values(&p).any(|ranges| ranges.iter().any(|r| r.contains(&len))) {
                    Verdict::Accept
                } else {
                    Verdict::NotAllowed
                }
            }
            IpNet::V6(p) => {
                if let Some(by) = self.blocked_v6.get_spm(&p) {
                    return Verdict::Blocked { by: IpNet::V6(by) };
                }
                if self.mode == AllowMode::All {
                    return Verdict::Accept;
                }
                let len = p.prefix_len();
                if self.allowed_v6.cover_values(&p).any(|ranges| ranges.iter().any(|r| r.contains(&len))) {
                    Verdict::Accept
                } else {
                    Verdict::NotAllowed
                }
            }
        }
    }

    /// Shorthand for `self.check(received).is_accept()`.
    pub fn accepts(&self, received: &IpNet) -> bool {
        self.check(received).is_accept()
    }
}

/// FRR's default warning threshold for `maximum-prefix`, in percent (`MAXIMUM_PREFIX_THRESHOLD_DEFAULT`).
pub const DEFAULT_WARNING_THRESHOLD_PERCENT: u8 = 75;

/// A per-family maximum on accepted prefixes (FRR `neighbor … maximum-prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxPrefix {
    /// The most prefixes of one family the peer may have accepted; one more exceeds the limit.
    pub limit: u32,
    /// Warn once the count goes above this percentage of `limit` (1..=100, FRR default 75).
    #[serde(default = "default_threshold")]
    pub warning_threshold_percent: u8,
    /// Only report exceeding the limit (and keep accepting), instead of refusing the excess
    /// prefixes and closing the session.
    #[serde(default)]
    pub warning_only: bool,
}

fn default_threshold() -> u8 {
    DEFAULT_WARNING_THRESHOLD_PERCENT
}

impl MaxPrefix {
    /// A limit with FRR's default 75 % warning threshold, enforced.
    pub fn new(limit: u32) -> Result<Self, FilterError> {
        let m = Self { limit, warning_threshold_percent: DEFAULT_WARNING_THRESHOLD_PERCENT, warning_only: false };
        m.validate()?;
        Ok(m)
    }

    /// Checks `limit > 0` and the threshold within 1..=100.
    pub fn validate(&self) -> Result<(), FilterError> {
        if self.limit == 0 {
            return Err(FilterError::BadMaxPrefix("the limit must be at least 1"));
        }
        if !(1..=100).contains(&self.warning_threshold_percent) {
            return Err(FilterError::BadMaxPrefix("the warning threshold must be within 1..=100 percent"));
        }
        Ok(())
    }

    /// The count above which the warning fires: `limit * threshold / 100` (FRR's integer formula).
    pub fn warning_count(&self) -> u64 {
        u64::from(self.limit) * u64::from(self.warning_threshold_percent) / 100
    }
}

/// Everything that decides what an Adj-RIB-In stores for one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceivePolicy {
    /// Which prefixes are accepted.
    pub filter: ReceiveFilter,
    /// The per-family maximum, if any.
    pub max_prefix: Option<MaxPrefix>,
}

impl ReceivePolicy {
    /// A policy with a filter and no maximum.
    pub fn new(filter: ReceiveFilter) -> Self {
        Self { filter, max_prefix: None }
    }

    /// Adds a maximum.
    pub fn with_max_prefix(mut self, max: MaxPrefix) -> Self {
        self.max_prefix = Some(max);
        self
    }
}

/// A maximum-prefix event, reported once when a threshold is crossed upwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrefixLimitEvent {
    /// The count went above the warning threshold.
    Warning {
        /// The address family counted.
        family: Family,
        /// The configured limit.
        limit: u32,
        /// The warning threshold in percent.
        threshold_percent: u8,
        /// The accepted count now.
        count: u64,
    },
    /// The count went above the limit.
    Exceeded {
        /// The address family counted.
        family: Family,
        /// The configured limit.
        limit: u32,
        /// How many prefixes of the family the peer has tried to have accepted (stored ones plus
        /// the new ones refused because of the limit).
        count: u64,
        /// `false` for `warning_only`: the prefixes were accepted anyway and the session stays.
        enforced: bool,
    },
}

impl PrefixLimitEvent {
    /// RFC 4486 Cease subcode for "Maximum Number of Prefixes Reached".
    pub const CEASE_SUBCODE: u8 = 1;

    /// Whether the session must be closed with NOTIFICATION Cease / Maximum Number of Prefixes
    /// Reached (an enforced [`PrefixLimitEvent::Exceeded`]).
    pub fn requires_cease(&self) -> bool {
        matches!(self, PrefixLimitEvent::Exceeded { enforced: true, .. })
    }

    /// The optional NOTIFICATION data of RFC 4486 §4: AFI (2 octets), SAFI (1 octet, unicast) and
    /// the upper bound (4 octets), network byte order. `None` for warnings.
    pub fn cease_data(&self) -> Option<[u8; 7]> {
        match *self {
            PrefixLimitEvent::Exceeded { family, limit, .. } => {
                let afi = family.afi().to_be_bytes();
                let l = limit.to_be_bytes();
                Some([afi[0], afi[1], 1, l[0], l[1], l[2], l[3]])
            }
            PrefixLimitEvent::Warning { .. } => None,
        }
    }
}

impl fmt::Display for PrefixLimitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PrefixLimitEvent::Warning { family, limit, threshold_percent, count } => write!(
                f,
                "the peer has {count} {family} prefixes accepted, above {threshold_percent}% of its maximum of {limit}"
            ),
            PrefixLimitEvent::Exceeded { family, limit, count, enforced: true } => write!(
                f,
                "the peer sent {count} {family} prefixes, more than its maximum of {limit}: the excess was refused \
                 and the session is closed with NOTIFICATION Cease/Maximum Number of Prefixes Reached"
            ),
            PrefixLimitEvent::Exceeded { family, limit, count, enforced: false } => write!(
                f,
                "the peer sent {count} {family} prefixes, more than its maximum of {limit} (warning-only: all accepted)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn selector_ranges_follow_frr_prefix_lists() {
        assert_eq!(PrefixSelector::new(n("10.0.0.0/8"), None, None).unwrap().length_range(), 8..=8);
        assert_eq!(PrefixSelector::new(n("10.0.0.0/8"), Some(24), None).unwrap().length_range(), 24..=32);
        assert_eq!(PrefixSelector::new(n("10.0.0.0/8"), None, Some(16)).unwrap().length_range(), 8..=16);
        assert_eq!(PrefixSelector::new(n("2001:db8::/32"), Some(48), None).unwrap().length_range(), 48..=128);
    }

    #[test]
    fn selector_validation_matches_frr_k8s() {
        assert!(matches!(
            PrefixSelector::new(n("10.0.0.0/24"), Some(16), None),
            Err(FilterError::MaskAboveBound { which: "ge", .. })
        ));
        assert!(matches!(
            PrefixSelector::new(n("10.0.0.0/24"), None, Some(20)),
            Err(FilterError::MaskAboveBound { which: "le", .. })
        ));
        assert!(matches!(PrefixSelector::new(n("10.0.0.0/8"), Some(28), Some(25)), Err(FilterError::GeAboveLe { .. })));
        assert!(matches!(
            PrefixSelector::new(n("10.0.0.0/8"), Some(33), None),
            Err(FilterError::LengthOutOfRange { max: 32, .. })
        ));
        assert!(PrefixSelector::new(n("10.0.0.0/8"), Some(8), Some(8)).is_ok());
        assert_eq!(PrefixSelector::new(n("10.1.2.3/8"), None, None).unwrap().prefix, n("10.0.0.0/8"));
    }

    #[test]
    fn cease_data_is_afi_safi_bound() {
        let e = PrefixLimitEvent::Exceeded { family: Family::Ipv6, limit: 0x0102_0304, count: 5, enforced: true };
        assert_eq!(e.cease_data(), Some([0, 2, 1, 1, 2, 3, 4]));
        assert!(e.requires_cease());
    }
}
