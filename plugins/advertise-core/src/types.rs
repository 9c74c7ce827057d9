//! The advertiser's inputs and outputs: plain Rust mirrors of the WIT records of
//! `ferrolb:policy/advertise` (`wit/types.wit`, `wit/advertise.wit`).
//!
//! Addresses are `core::net` types; names stay strings. Nothing here knows wit-bindgen, so the
//! host can build these values directly (a native benchmark) and the plugin converts the WIT
//! records into them. Fields of the WIT records that advertisement never reads (a pool's
//! `auto-assign`, `avoid-buggy-ips`, `service-allocation`; a peer's address and interface) are
//! left out or kept only for messages.
//!
//! The derived `PartialEq`/`Ord` implementations compare strings with `memcmp`; they exist for
//! tests and native callers. The crate's own code never uses them on strings (see `bytes`).

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;
use core::net::IpAddr;

/// One label (or annotation): key and value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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

impl LabelSelector {
    /// A selector with only `matchLabels`.
    pub fn labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: pairs.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
            match_expressions: Vec::new(),
        }
    }
}

/// A reference to a namespaced Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// The namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ObjectRef {
        ObjectRef { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// An IP prefix. In answers the address is always masked to `prefix_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The network address.
    pub address: IpAddr,
    /// The prefix length in bits (at most 32 / 128).
    pub prefix_len: u8,
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// One entry of an IPAddressPool's `spec.addresses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressBlock {
    /// CIDR notation.
    Cidr(Prefix),
    /// `first-last`, inclusive, one family.
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address.
        last: IpAddr,
    },
}

impl fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressBlock::Cidr(p) => p.fmt(f),
            AddressBlock::Range { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

/// A metallb.io IPAddressPool, as far as advertisement needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressPool {
    /// `metadata.name`: advertisements and services refer to it.
    pub name: String,
    /// `metadata.labels`, for `ipAddressPoolSelectors`.
    pub labels: Vec<Label>,
    /// `spec.addresses` (for the aggregation-length check).
    pub addresses: Vec<AddressBlock>,
}

/// A Kubernetes node as the advertiser sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Vec<Label>,
    /// `status.addresses` (unused by the policy; kept to mirror the contract).
    pub addresses: Vec<IpAddr>,
    /// Condition `Ready` is True (unused: liveness is `live`).
    pub ready: bool,
    /// Condition `NetworkUnavailable` is True.
    pub network_unavailable: bool,
    /// Whether the membership protocol sees the node alive.
    pub live: bool,
}

impl Node {
    /// A live node with the given labels and no condition set.
    pub fn new(name: impl Into<String>, labels: &[(&str, &str)]) -> Node {
        Node {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
            addresses: Vec::new(),
            ready: true,
            network_unavailable: false,
            live: true,
        }
    }
}

/// One endpoint of a service (from an EndpointSlice).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The pod addresses.
    pub addresses: Vec<IpAddr>,
    /// `nodeName` ("" when unknown).
    pub node: String,
    /// `conditions.ready`.
    pub ready: bool,
}

impl Endpoint {
    /// A ready or unready endpoint with one address on `node`.
    pub fn new(address: IpAddr, node: impl Into<String>, ready: bool) -> Endpoint {
        Endpoint { addresses: alloc::vec![address], node: node.into(), ready }
    }
}

/// `dynamicASN` of a BGPPeer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynamicAsn {
    /// The peer is in our AS (iBGP).
    Internal,
    /// The peer is in another AS (eBGP).
    External,
}

/// A BGP community value.
///
/// Ordered as MetalLB orders them (`community.LessThan`): a standard community `v` ranks as the
/// large community `v:0:0`; on a tie the standard one comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Community {
    /// RFC 1997: the high 16 bits are the AS part (`65535:65281` is `0xFFFF_FF01`).
    Standard(u32),
    /// RFC 8092: (global administrator, local data 1, local data 2).
    Large(u32, u32, u32),
}

impl Community {
    /// NO_EXPORT (`65535:65281`).
    pub const NO_EXPORT: Community = Community::Standard(0xFFFF_FF01);
    /// NO_ADVERTISE (`65535:65282`).
    pub const NO_ADVERTISE: Community = Community::Standard(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (`65535:65283`).
    pub const NO_EXPORT_SUBCONFED: Community = Community::Standard(0xFFFF_FF03);

    fn key(self) -> (u32, u32, u32, u8) {
        match self {
            Community::Standard(v) => (v, 0, 0, 0),
            Community::Large(a, b, c) => (a, b, c, 1),
        }
    }
}

impl Ord for Community {
    fn cmp(&self, other: &Community) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Community {
    fn partial_cmp(&self, other: &Community) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Community {
    /// `a:b` for standard communities, `large:a:b:c` for large ones (the form they are written in).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xffff),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// A metallb.io BGPPeer, as far as advertisement needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BgpPeer {
    /// `metadata.name`: advertisements' `peers` refer to it.
    pub name: String,
    /// `spec.myASN`.
    pub my_asn: u32,
    /// `spec.peerASN`.
    pub peer_asn: Option<u32>,
    /// `spec.dynamicASN`.
    pub dynamic_asn: Option<DynamicAsn>,
    /// `spec.peerAddress` (unused; mirrors the contract).
    pub address: Option<IpAddr>,
    /// `spec.interface` (unused; mirrors the contract).
    pub interface: Option<String>,
    /// `spec.vrf` ("" is the default VRF).
    pub vrf: String,
    /// `spec.nodeSelectors`: the nodes that have a session with it (empty: every node).
    pub node_selectors: Vec<LabelSelector>,
}

impl BgpPeer {
    /// Whether the session is iBGP: `peerASN == myASN`, or `dynamicASN: internal`.
    pub fn is_ibgp(&self) -> bool {
        self.peer_asn == Some(self.my_asn)
            || (self.peer_asn.is_none() && self.dynamic_asn == Some(DynamicAsn::Internal))
    }
}

/// A metallb.io BGPAdvertisement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BgpAdvertisement {
    /// Namespace and name.
    pub id: ObjectRef,
    /// `spec.ipAddressPools`.
    pub pools: Vec<String>,
    /// `spec.ipAddressPoolSelectors`.
    pub pool_selectors: Vec<LabelSelector>,
    /// `spec.aggregationLength` (default 32).
    pub aggregation_length: Option<u8>,
    /// `spec.aggregationLengthV6` (default 128).
    pub aggregation_length_v6: Option<u8>,
    /// `spec.localPref` (0 counts as unset, as in MetalLB).
    pub local_pref: Option<u32>,
    /// `spec.communities` as written: `a:b`, `large:a:b:c` or an alias name.
    pub communities: Vec<String>,
    /// `spec.peers` (empty: every peer).
    pub peers: Vec<String>,
    /// `spec.nodeSelectors` (empty: every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.serviceSelectors` (empty: every service).
    pub service_selectors: Vec<LabelSelector>,
}

/// A metallb.io L2Advertisement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct L2Advertisement {
    /// Namespace and name.
    pub id: ObjectRef,
    /// `spec.ipAddressPools`.
    pub pools: Vec<String>,
    /// `spec.ipAddressPoolSelectors`.
    pub pool_selectors: Vec<LabelSelector>,
    /// `spec.nodeSelectors` (empty: every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.interfaces` (empty: every interface).
    pub interfaces: Vec<String>,
    /// `spec.serviceSelectors` (empty: every service).
    pub service_selectors: Vec<LabelSelector>,
}

/// One alias of a metallb.io Community object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CommunityAlias {
    /// The Community object defining it.
    pub defined_by: ObjectRef,
    /// The alias name.
    pub name: String,
    /// The value as written: `a:b` or `large:a:b:c`.
    pub value: String,
}

/// Everything the advertiser needs but the services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config {
    /// The node this host runs on: BGP routes are computed for it.
    pub local_node: String,
    /// Every node (L2 election, node selectors).
    pub nodes: Vec<Node>,
    /// Every IPAddressPool.
    pub pools: Vec<AddressPool>,
    /// Every BGPPeer.
    pub peers: Vec<BgpPeer>,
    /// Every BGPAdvertisement.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// Every L2Advertisement.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// Every alias of every Community object.
    pub communities: Vec<CommunityAlias>,
}

/// `spec.externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// Any node forwards (the default).
    #[default]
    Cluster,
    /// Only nodes with a ready local endpoint.
    Local,
}

/// A service with its allocated addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Service {
    /// Namespace and name.
    pub id: ObjectRef,
    /// `metadata.labels`.
    pub labels: Vec<Label>,
    /// The pool the addresses came from.
    pub pool: String,
    /// The allocated addresses (the first one keys the layer-2 election).
    pub ips: Vec<IpAddr>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `metallb.io/allow-shared-ip`.
    pub sharing_key: Option<String>,
    /// The endpoints, ready or not.
    pub endpoints: Vec<Endpoint>,
}

/// One route the local node announces to one peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BgpRoute {
    /// The BGPPeer name.
    pub peer: String,
    /// The VRF of the session ("" is the default VRF).
    pub vrf: String,
    /// The address masked to the aggregation length.
    pub prefix: Prefix,
    /// LOCAL_PREF (iBGP peers only).
    pub local_pref: Option<u32>,
    /// Communities, sorted and deduplicated.
    pub communities: Vec<Community>,
    /// The (first) BGPAdvertisement that produced the route.
    pub advertisement: ObjectRef,
}

/// One route the local node announces and the peers that hear it: the compact form of
/// [`BgpRoute`] that crosses the component boundary (peers and the advertisement by their index
/// in the configuration, no names copied per route).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteGroup {
    /// Indices into `Config::peers`, ascending, distinct, at least one.
    pub peers: Vec<usize>,
    /// The address masked to the aggregation length.
    pub prefix: Prefix,
    /// LOCAL_PREF (iBGP peers only).
    pub local_pref: Option<u32>,
    /// Communities, sorted and deduplicated.
    pub communities: Vec<Community>,
    /// Index into `Config::bgp_advertisements` of the (first) advertisement that produced it.
    pub advertisement: usize,
}

/// One address answered for over layer 2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct L2Announcement {
    /// The address.
    pub ip: IpAddr,
    /// The elected node ("" when no node is eligible).
    pub node: String,
    /// The interfaces to answer on (empty: every interface), sorted.
    pub interfaces: Vec<String>,
    /// The (first) L2Advertisement that makes the elected node announce it.
    pub advertisement: ObjectRef,
}

/// The decisions for one service, with routes named per peer ([`BgpRoute`], from
/// `Advertiser::announce`) or grouped by peers ([`RouteGroup`], from `Advertiser::announce_grouped`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceAnnouncements<R = BgpRoute> {
    /// The service.
    pub service: ObjectRef,
    /// Routes the local node announces by address, then prefix length, then peer
    /// (configuration order); a (peer, prefix) pair appears once.
    pub bgp: Vec<R>,
    /// Layer-2 announcements (every address, whichever node is elected).
    pub l2: Vec<L2Announcement>,
    /// Why some or all announcements were refused, for a person.
    pub refusals: Vec<String>,
}

/// An error in the advertisement configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigError {
    /// The objects involved.
    pub objects: Vec<ObjectRef>,
    /// The field path, e.g. `spec.communities[1]`.
    pub field: String,
    /// The explanation.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, o) in self.objects.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            o.fmt(f)?;
        }
        write!(f, ": {}: {}", self.field, self.reason)
    }
}

/// Input that breaks the contract (a prefix longer than its family allows, a range whose ends
/// differ in family or are reversed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why `open` failed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpenError {
    /// The configuration is wrong; every problem found.
    Config(Vec<ConfigError>),
    /// The input broke the contract.
    InvalidInput(InvalidInput),
}
