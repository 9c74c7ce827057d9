//! The merge policy's inputs and outputs: plain Rust mirrors of the WIT records of
//! `ferrolb:policy/merge` (`wit/types.wit`, `wit/merge.wit`).
//!
//! Addresses are `core::net` types and prefixes are typed; names stay strings. Nothing here knows
//! wit-bindgen, so the host (or a native benchmark) can build these values directly and the
//! plugin converts the WIT records into them. `Option` means "unset in the manifest", as in the
//! contract: the merge applies the documented defaults itself when it compares.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

/// The default BGP port (`port` unset).
pub const DEFAULT_PORT: u16 = 179;
/// The default hold time in ms (`holdTime` unset).
pub const DEFAULT_HOLD_TIME_MS: u32 = 180_000;
/// The default keepalive time in ms (`keepaliveTime` unset).
pub const DEFAULT_KEEPALIVE_TIME_MS: u32 = 60_000;
/// The default connect time in ms (`connectTime` unset).
pub const DEFAULT_CONNECT_TIME_MS: u32 = 60_000;

/// A reference to a namespaced Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ObjectRef {
        ObjectRef { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// One label: key and value.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The key, e.g. `kubernetes.io/hostname`.
    pub key: String,
    /// The value (may be empty).
    pub value: String,
}

impl Label {
    /// A label from a key and a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Label {
        Label { key: key.into(), value: value.into() }
    }
}

/// The operator of a `matchExpressions` requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// How `values` is applied.
    pub operator: SelectorOperator,
    /// The values for `In` / `NotIn`.
    pub values: Vec<String>,
}

/// A Kubernetes label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    /// `matchLabels`: pairs that must all be present.
    pub match_labels: Vec<Label>,
    /// `matchExpressions`: requirements that must all hold.
    pub match_expressions: Vec<SelectorRequirement>,
}

/// An IP prefix (CIDR). Ordered by address (IPv4 before IPv6), then length.
#[derive(Clone, Copy, Debug)]
pub struct Prefix {
    /// The network address (host bits are kept as given: two spellings are two values).
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub len: u8,
}

impl Prefix {
    /// A prefix from an address and a length (not checked: see [`Prefix::is_valid`]).
    pub fn new(addr: IpAddr, len: u8) -> Prefix {
        Prefix { addr, len }
    }

    /// The longest length of the prefix's family (32 or 128).
    pub fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether the length fits the family.
    pub fn is_valid(&self) -> bool {
        self.len <= self.max_len()
    }
}

// Compared as integers: `Ipv6Addr`'s own comparison may call `memcmp` (see `bytes`).
impl PartialEq for Prefix {
    fn eq(&self, other: &Prefix) -> bool {
        self.cmp(other) == core::cmp::Ordering::Equal
    }
}

impl Eq for Prefix {}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Prefix) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Prefix {
    fn cmp(&self, other: &Prefix) -> core::cmp::Ordering {
        (crate::bytes::ip_key(self.addr), self.len).cmp(&(crate::bytes::ip_key(other.addr), other.len))
    }
}

impl core::hash::Hash for Prefix {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        (crate::bytes::ip_key(self.addr), self.len).hash(state);
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A prefix with optional `ge` / `le` bounds (toReceive, alwaysBlock). Ordered by prefix, then
/// `ge`, then `le`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrefixSelector {
    /// The prefix.
    pub prefix: Prefix,
    /// Match prefixes at least this long.
    pub ge: Option<u8>,
    /// Match prefixes at most this long.
    pub le: Option<u8>,
}

impl PrefixSelector {
    /// A selector without bounds.
    pub fn exact(prefix: Prefix) -> PrefixSelector {
        PrefixSelector { prefix, ge: None, le: None }
    }

    /// Why the selector is malformed (frr-k8s: prefix length <= ge <= le <= family maximum), if
    /// it is.
    pub fn problem(&self) -> Option<String> {
        use alloc::format;
        let p = &self.prefix;
        if !p.is_valid() {
            return Some(format!("prefix {p} has a length over {}", p.max_len()));
        }
        for (name, v) in [("ge", self.ge), ("le", self.le)] {
            if let Some(v) = v
                && (v < p.len || v > p.max_len())
            {
                return Some(format!("{p} {name} {v} is outside {}..={}", p.len, p.max_len()));
            }
        }
        if let (Some(ge), Some(le)) = (self.ge, self.le)
            && ge > le
        {
            return Some(format!("{p} ge {ge} is greater than le {le}"));
        }
        None
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

/// A BGP community. Standard communities sort before large ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    /// RFC 1997: the high 16 bits are the AS part.
    Standard(u32),
    /// RFC 8092: (global administrator, local data 1, local data 2).
    Large(u32, u32, u32),
}

impl fmt::Display for Community {
    /// frr-k8s's spelling: `a:b`, `large:a:b:c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xffff),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// `dynamicASN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DynamicAsn {
    /// The peer is in our AS.
    Internal,
    /// The peer is in another AS.
    External,
}

impl fmt::Display for DynamicAsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DynamicAsn::Internal => "internal",
            DynamicAsn::External => "external",
        })
    }
}

/// `allowed.mode` of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilterMode {
    /// Only the listed prefixes.
    Filtered,
    /// Every prefix.
    All,
}

/// `toAdvertise.withCommunity[]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommunityPrefixes {
    /// The community attached.
    pub community: Community,
    /// The prefixes it is attached to.
    pub prefixes: Vec<Prefix>,
}

/// `toAdvertise.withLocalPref[]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LocalPrefPrefixes {
    /// The LOCAL_PREF value.
    pub local_pref: u32,
    /// The prefixes it applies to.
    pub prefixes: Vec<Prefix>,
}

/// A neighbor's `toAdvertise`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AdvertiseFilter {
    /// `allowed.mode` (unset: filtered).
    pub mode: Option<FilterMode>,
    /// `allowed.prefixes`.
    pub prefixes: Vec<Prefix>,
    /// `withCommunity`.
    pub with_community: Vec<CommunityPrefixes>,
    /// `withLocalPref`.
    pub with_local_pref: Vec<LocalPrefPrefixes>,
}

/// A neighbor's `toReceive`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReceiveFilter {
    /// `allowed.mode` (unset: filtered).
    pub mode: Option<FilterMode>,
    /// `allowed.prefixes`.
    pub prefixes: Vec<PrefixSelector>,
}

/// `spec.bgp.routers[].neighbors[]`. Times in ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Neighbor {
    /// `address` (unset for an unnumbered neighbor).
    pub address: Option<IpAddr>,
    /// `interface` (BGP unnumbered).
    pub interface: Option<String>,
    /// `asn`.
    pub asn: Option<u32>,
    /// `dynamicASN`.
    pub dynamic_asn: Option<DynamicAsn>,
    /// `port` (default 179).
    pub port: Option<u16>,
    /// `sourceaddress`.
    pub source_address: Option<IpAddr>,
    /// `password`.
    pub password: Option<String>,
    /// `passwordSecret`.
    pub password_secret: Option<String>,
    /// `holdTime` (default 180 s).
    pub hold_time: Option<u32>,
    /// `keepaliveTime` (default 60 s).
    pub keepalive_time: Option<u32>,
    /// `connectTime` (default 60 s).
    pub connect_time: Option<u32>,
    /// `ebgpMultiHop` (default false).
    pub ebgp_multi_hop: Option<bool>,
    /// `bfdProfile`.
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart` (default false).
    pub enable_graceful_restart: Option<bool>,
    /// `disableMP` (default false).
    pub disable_mp: Option<bool>,
    /// `toAdvertise`.
    pub to_advertise: AdvertiseFilter,
    /// `toReceive`.
    pub to_receive: ReceiveFilter,
}

impl Neighbor {
    /// A neighbor at `address` with `asn`, nothing else set.
    pub fn new(address: IpAddr, asn: u32) -> Neighbor {
        Neighbor { address: Some(address), asn: Some(asn), ..Neighbor::default() }
    }
}

/// `spec.bgp.routers[]`: one router per VRF.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Router {
    /// `asn`.
    pub asn: u32,
    /// `id` (an IPv4 address).
    pub id: Option<IpAddr>,
    /// `vrf` ("" is the default VRF).
    pub vrf: String,
    /// `prefixes`.
    pub prefixes: Vec<Prefix>,
    /// `neighbors`.
    pub neighbors: Vec<Neighbor>,
    /// `imports[].vrf`.
    pub imports: Vec<String>,
}

impl Router {
    /// A router of `asn` in `vrf`, nothing else set.
    pub fn new(asn: u32, vrf: impl Into<String>) -> Router {
        Router { asn, vrf: vrf.into(), ..Router::default() }
    }
}

/// `spec.bgp.bfdProfiles[]`. Intervals in ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BfdProfile {
    /// `name`.
    pub name: String,
    /// `receiveInterval` (default 300).
    pub receive_interval: Option<u32>,
    /// `transmitInterval` (default 300).
    pub transmit_interval: Option<u32>,
    /// `detectMultiplier` (default 3).
    pub detect_multiplier: Option<u32>,
    /// `echoInterval` (default 50).
    pub echo_interval: Option<u32>,
    /// `echoMode` (default false).
    pub echo_mode: Option<bool>,
    /// `passiveMode` (default false).
    pub passive_mode: Option<bool>,
    /// `minimumTtl` (default 254).
    pub minimum_ttl: Option<u32>,
}

impl BfdProfile {
    /// A profile with every field unset.
    pub fn named(name: impl Into<String>) -> BfdProfile {
        BfdProfile { name: name.into(), ..BfdProfile::default() }
    }
}

/// A router configuration: the shape of an FRRConfiguration's `spec.bgp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouterConfig {
    /// `routers`.
    pub routers: Vec<Router>,
    /// `bfdProfiles`.
    pub bfd_profiles: Vec<BfdProfile>,
}

/// One configuration to merge, and where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfigSource {
    /// The FRRConfiguration (or `metallb-system/metallb` for the host's MetalLB translation).
    pub origin: ObjectRef,
    /// `spec.nodeSelector` (empty: every node).
    pub node_selector: LabelSelector,
    /// `spec.bgp`.
    pub config: RouterConfig,
}

/// The node merged for: its labels decide which sources apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Vec<Label>,
}

/// What to merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MergeInput {
    /// The node to merge for.
    pub node: Node,
    /// Every configuration (the merge keeps this order for `applied`).
    pub sources: Vec<ConfigSource>,
    /// MetalLB CR `spec.frrk8sConfig.alwaysBlock`.
    pub always_block: Vec<PrefixSelector>,
}

/// The merged configuration for one node. Every list is sorted and free of duplicates: routers
/// by VRF, neighbors by address (then interface), prefixes and selectors by value, communities
/// standard before large, local preferences by value, BFD profiles and imports by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MergedConfig {
    /// The merged `spec.bgp`.
    pub config: RouterConfig,
    /// The sources that applied to the node, in input order.
    pub applied: Vec<ObjectRef>,
    /// Prefixes never accepted from any neighbor, sorted, without duplicates.
    pub always_block: Vec<PrefixSelector>,
}

/// A conflict between configurations (or a configuration that is not self-contained).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The objects that disagree (one when a single configuration is at fault), without
    /// duplicates, in input order.
    pub objects: Vec<ObjectRef>,
    /// The field path, e.g. `routers[vrf=red].neighbors[192.0.2.1].asn`.
    pub field: String,
    /// The explanation, e.g. `asn 64512 in ns/a but 64513 in ns/b`.
    pub reason: String,
}

/// Why a merge produced no configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MergeError {
    /// The configurations conflict: every conflict found, in a deterministic order.
    Conflicts(Vec<Conflict>),
    /// The input broke the contract (a prefix longer than its family allows, a malformed
    /// alwaysBlock selector): the host sent something it must not.
    InvalidInput(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Conflicts(c) => {
                write!(f, "{} conflict(s)", c.len())?;
                for c in c {
                    let objects: Vec<String> = c.objects.iter().map(|o| alloc::format!("{o}")).collect();
                    write!(f, "; {}: {}: {}", objects.join(", "), c.field, c.reason)?;
                }
                Ok(())
            }
            MergeError::InvalidInput(m) => write!(f, "invalid input: {m}"),
        }
    }
}
