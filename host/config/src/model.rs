//! The validated, typed configuration: what the controller and the policies consume.
//!
//! Everything here has been checked (see `validate.rs`): addresses are parsed, durations are in
//! milliseconds, selectors are well formed, references resolve. The records mirror the WIT
//! contract in `wit/*.wit` field for field (`option` there is `Option` here: unset in the
//! manifest, so that a policy can apply the documented default itself), plus the location of each
//! object for messages. Lists are sorted deterministically: pools by name, other objects by
//! namespace then name; lists whose order is meaningful (pool address blocks, `ip_families`) keep
//! the manifest order.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A reference to a Kubernetes object (`namespace` is empty for cluster-scoped objects).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectRef { namespace: namespace.into(), name: name.into() }
    }

    /// The inverse of `Display`: `namespace/name`, or `name` for a cluster-scoped object.
    pub fn parse(s: &str) -> Self {
        match s.split_once('/') {
            Some((ns, n)) => ObjectRef::new(ns, n),
            None => ObjectRef::new("", s),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// Where an object was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Origin {
    /// The file (`<stdin>` for standard input).
    pub file: String,
    /// The 1-based line of the object's first line.
    pub line: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Labels (or annotations), sorted by key.
pub type Labels = BTreeMap<String, String>;

/// The operator of a selector requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: SelectorOperator,
    /// The values (`In`, `NotIn`), sorted.
    pub values: Vec<String>,
}

/// A Kubernetes label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: Labels,
    /// `matchExpressions`.
    pub match_expressions: Vec<SelectorRequirement>,
}

impl LabelSelector {
    /// Whether the selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether the selector matches an object with these labels.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    SelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Whether any of `selectors` matches (an empty list matches everything).
    pub fn any_matches(selectors: &[LabelSelector], labels: &Labels) -> bool {
        selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    /// The `kubectl` selector syntax: `a=b,c in (d,e),!f`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                SelectorOperator::In => format!("{} in ({})", r.key, r.values.join(",")),
                SelectorOperator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                SelectorOperator::Exists => r.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", r.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> IpFamily {
        if ip.is_ipv4() { IpFamily::Ipv4 } else { IpFamily::Ipv6 }
    }
}

/// One entry of an IPAddressPool's `spec.addresses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddressBlock {
    /// CIDR notation (host bits zero).
    Cidr(IpNet),
    /// `first-last`, inclusive, one family.
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address.
        last: IpAddr,
    },
}

impl AddressBlock {
    /// The first and last address of the block.
    pub fn bounds(&self) -> (IpAddr, IpAddr) {
        match self {
            AddressBlock::Cidr(n) => (n.network(), n.broadcast()),
            AddressBlock::Range { first, last } => (*first, *last),
        }
    }

    /// Whether the block holds `ip`.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let (first, last) = self.bounds();
        IpFamily::of(&first) == IpFamily::of(ip) && first <= *ip && *ip <= last
    }

    /// The family of the block.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.bounds().0)
    }

    /// The smallest CIDRs that cover the block exactly (MetalLB's `ipaddr.Summarize`).
    pub fn cidrs(&self) -> Vec<IpNet> {
        match self {
            AddressBlock::Cidr(n) => vec![*n],
            AddressBlock::Range { first, last } => crate::parse::summarize(*first, *last),
        }
    }
}

impl fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressBlock::Cidr(n) => write!(f, "{n}"),
            AddressBlock::Range { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

/// `spec.serviceAllocation` of an IPAddressPool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceAllocation {
    /// Lower is higher priority; `None` is lower than every number.
    pub priority: Option<i32>,
    /// Namespaces whose services may use the pool.
    pub namespaces: Vec<String>,
    /// Selectors on namespace labels (any one admits the namespace).
    pub namespace_selectors: Vec<LabelSelector>,
    /// Selectors on service labels (any one admits the service).
    pub service_selectors: Vec<LabelSelector>,
}

/// A metallb.io IPAddressPool (or a legacy AddressPool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// Namespace and name (pools are referred to by name).
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `spec.addresses`, in manifest order.
    pub addresses: Vec<AddressBlock>,
    /// `spec.autoAssign` (default true).
    pub auto_assign: bool,
    /// `spec.avoidBuggyIPs` (default false).
    pub avoid_buggy_ips: bool,
    /// `spec.serviceAllocation`.
    pub service_allocation: Option<ServiceAllocation>,
}

impl AddressPool {
    /// Whether the pool holds `ip`.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.addresses.iter().any(|b| b.contains(ip))
    }
}

/// `dynamicASN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DynamicAsn {
    /// Same AS (iBGP).
    Internal,
    /// Another AS (eBGP).
    External,
}

/// A metallb.io BGPPeer (v1beta1 objects are converted to this form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPeer {
    /// Namespace and name (advertisements refer to the name).
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.myASN`.
    pub my_asn: u32,
    /// `spec.peerASN` (`None` when `dynamic_asn` is set).
    pub peer_asn: Option<u32>,
    /// `spec.dynamicASN`.
    pub dynamic_asn: Option<DynamicAsn>,
    /// `spec.peerAddress` (`None` for an unnumbered peer given by `interface`).
    pub address: Option<IpAddr>,
    /// `spec.interface` (BGP unnumbered).
    pub interface: Option<String>,
    /// `spec.sourceAddress`.
    pub source_address: Option<IpAddr>,
    /// `spec.peerPort` (`None`: 179).
    pub port: Option<u16>,
    /// `spec.holdTime` in ms.
    pub hold_time_ms: Option<u32>,
    /// `spec.keepaliveTime` in ms.
    pub keepalive_time_ms: Option<u32>,
    /// `spec.connectTime` in ms.
    pub connect_time_ms: Option<u32>,
    /// `spec.routerID`.
    pub router_id: Option<IpAddr>,
    /// `spec.nodeSelectors` (empty: every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.password`.
    pub password: Option<String>,
    /// `spec.passwordSecret` (a Secret name in the MetalLB namespace).
    pub password_secret: Option<String>,
    /// `spec.bfdProfile`.
    pub bfd_profile: Option<String>,
    /// `spec.enableGracefulRestart`.
    pub enable_graceful_restart: bool,
    /// `spec.ebgpMultiHop`.
    pub ebgp_multi_hop: bool,
    /// `spec.vrf` ("" is the default VRF).
    pub vrf: String,
    /// `spec.disableMP`.
    pub disable_mp: bool,
    /// `spec.dualStackAddressFamily`.
    pub dual_stack_address_family: bool,
}

/// A BGP community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Community {
    /// RFC 1997: high 16 bits are the AS part.
    Standard(u32),
    /// RFC 8092: (global administrator, local data 1, local data 2).
    Large(u32, u32, u32),
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xffff),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// A metallb.io BGPAdvertisement (legacy AddressPools produce one named after the pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpAdvertisement {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.ipAddressPools`.
    pub pools: Vec<String>,
    /// `spec.ipAddressPoolSelectors`.
    pub pool_selectors: Vec<LabelSelector>,
    /// `spec.aggregationLength` (`None`: 32).
    pub aggregation_length: Option<u8>,
    /// `spec.aggregationLengthV6` (`None`: 128).
    pub aggregation_length_v6: Option<u8>,
    /// `spec.localPref`.
    pub local_pref: Option<u32>,
    /// `spec.communities` as written (values or Community alias names).
    pub communities: Vec<String>,
    /// `communities` with aliases expanded, sorted and deduplicated.
    pub resolved_communities: Vec<Community>,
    /// `spec.peers` (empty: every peer).
    pub peers: Vec<String>,
    /// `spec.nodeSelectors` (empty: every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.serviceSelectors` (empty: every service).
    pub service_selectors: Vec<LabelSelector>,
}

/// A metallb.io L2Advertisement (legacy layer2 AddressPools produce one named after the pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2Advertisement {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityAlias {
    /// The Community object that defines it.
    pub defined_by: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// The alias.
    pub name: String,
    /// The value as written.
    pub value: String,
    /// The value parsed.
    pub community: Community,
}

/// BFD settings (MetalLB BFDProfile spec and frr-k8s `bfdProfiles[]`); intervals in ms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct BfdSettings {
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

/// A metallb.io BFDProfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdProfile {
    /// Namespace and name (peers refer to the name).
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// The settings.
    pub settings: BfdSettings,
}

/// `toAdvertise.allowed.mode` / `toReceive.allowed.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FilterMode {
    /// Only the listed prefixes.
    Filtered,
    /// Every prefix.
    All,
}

/// A prefix with optional `ge`/`le` bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefixSelector {
    /// The prefix.
    pub prefix: IpNet,
    /// Match prefixes at least this long.
    pub ge: Option<u8>,
    /// Match prefixes at most this long.
    pub le: Option<u8>,
}

/// `toAdvertise.withCommunity[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityPrefixes {
    /// The community.
    pub community: Community,
    /// The prefixes it is attached to.
    pub prefixes: Vec<IpNet>,
}

/// `toAdvertise.withLocalPref[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPrefPrefixes {
    /// LOCAL_PREF.
    pub local_pref: u32,
    /// The prefixes it applies to.
    pub prefixes: Vec<IpNet>,
}

/// A neighbor's `toAdvertise`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AdvertiseFilter {
    /// `allowed.mode` (`None`: filtered).
    pub mode: Option<FilterMode>,
    /// `allowed.prefixes`.
    pub prefixes: Vec<IpNet>,
    /// `withCommunity`.
    pub with_community: Vec<CommunityPrefixes>,
    /// `withLocalPref`.
    pub with_local_pref: Vec<LocalPrefPrefixes>,
}

/// A neighbor's `toReceive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReceiveFilter {
    /// `allowed.mode` (`None`: filtered).
    pub mode: Option<FilterMode>,
    /// `allowed.prefixes`.
    pub prefixes: Vec<PrefixSelector>,
}

/// `sourceaddress` of an FRRConfiguration neighbor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceAddress {
    /// An address (what the WIT `neighbor.source-address` carries).
    Ip(IpAddr),
    /// An interface name, whose address FRR uses.
    Interface(String),
}

/// `spec.bgp.routers[].neighbors[]` of an FRRConfiguration. Times in ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    /// `address` (`None` for an unnumbered neighbor).
    pub address: Option<IpAddr>,
    /// `interface`.
    pub interface: Option<String>,
    /// `asn`.
    pub asn: Option<u32>,
    /// `dynamicASN`.
    pub dynamic_asn: Option<DynamicAsn>,
    /// `port` (default 179).
    pub port: Option<u16>,
    /// `sourceaddress`: an address, or (frr-k8s allows it) an interface name.
    pub source_address: Option<SourceAddress>,
    /// `password`.
    pub password: Option<String>,
    /// `passwordSecret.name`.
    pub password_secret: Option<String>,
    /// `holdTime` (default 180 s).
    pub hold_time_ms: Option<u32>,
    /// `keepaliveTime` (default 60 s).
    pub keepalive_time_ms: Option<u32>,
    /// `connectTime`.
    pub connect_time_ms: Option<u32>,
    /// `ebgpMultiHop`.
    pub ebgp_multi_hop: Option<bool>,
    /// `bfdProfile`.
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart`.
    pub enable_graceful_restart: Option<bool>,
    /// `disableMP`.
    pub disable_mp: Option<bool>,
    /// `dualStackAddressFamily`.
    pub dual_stack_address_family: Option<bool>,
    /// `toAdvertise`.
    pub to_advertise: AdvertiseFilter,
    /// `toReceive`.
    pub to_receive: ReceiveFilter,
}

/// `spec.bgp.routers[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    /// `asn`.
    pub asn: u32,
    /// `id`.
    pub id: Option<IpAddr>,
    /// `vrf` ("" is the default VRF).
    pub vrf: String,
    /// `prefixes`.
    pub prefixes: Vec<IpNet>,
    /// `neighbors`.
    pub neighbors: Vec<Neighbor>,
    /// `imports[].vrf`.
    pub imports: Vec<String>,
}

/// A named BFD profile of an FRRConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamedBfdProfile {
    /// `name`.
    pub name: String,
    /// The settings.
    pub settings: BfdSettings,
}

/// An frrk8s.metallb.io FRRConfiguration (the WIT `config-source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrrConfiguration {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.nodeSelector` (empty: every node).
    pub node_selector: LabelSelector,
    /// `spec.bgp.routers`.
    pub routers: Vec<Router>,
    /// `spec.bgp.bfdProfiles`.
    pub bfd_profiles: Vec<NamedBfdProfile>,
}

/// The metallb.io MetalLB CR (the operator's settings that matter to ferrolb).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetalLbSettings {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.bgpBackend` (`frr`, `frr-k8s`, `native`).
    pub bgp_backend: Option<String>,
    /// `spec.logLevel`.
    pub log_level: Option<String>,
    /// `spec.nodeSelector`: the nodes that run a speaker.
    pub speaker_node_selector: Labels,
    /// `spec.frrk8sConfig.alwaysBlock`: never accepted from any neighbor.
    pub always_block: Vec<PrefixSelector>,
}

/// `spec.sourceIPBy` of an EgressService.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceIpBy {
    /// SNAT to the load-balancer address on one chosen node.
    LoadBalancerIp,
    /// The node's own address on every node with endpoints.
    Network,
}

/// A k8s.ovn.org EgressService (its LoadBalancer service has the same namespace and name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressService {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.sourceIPBy` (default LoadBalancerIP).
    pub source_ip_by: SourceIpBy,
    /// `spec.nodeSelector` (empty: every node).
    pub node_selector: LabelSelector,
    /// `spec.network`: a table id ("2") or name; `None`: the main table.
    pub network: Option<String>,
}

/// A routing table known by name (a VRF of a NodeNetworkConfigurationPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    /// The name, e.g. `ens4vrf`.
    pub name: String,
    /// The table id.
    pub id: u32,
}

/// `state` of an NMState interface, route or rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NmState {
    /// Present (`up`, or unset for routes and rules).
    Up,
    /// `down`.
    Down,
    /// `absent`: to be removed.
    Absent,
}

/// One interface of a policy's `desiredState.interfaces` that ferrolb understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NmInterface {
    /// `name`.
    pub name: String,
    /// `type` (`vrf` or `ethernet`).
    pub kind: String,
    /// `state`.
    pub state: NmState,
    /// `vrf.port` (VRF only).
    pub vrf_ports: Vec<String>,
    /// `vrf.route-table-id` (VRF only).
    pub vrf_table: Option<u32>,
    /// Static addresses (`ipv4.address` and `ipv6.address`) with their prefix lengths.
    pub addresses: Vec<IpNet>,
    /// `ipv4.dhcp` / `ipv6.dhcp` or `autoconf` enabled.
    pub dynamic_addressing: bool,
    /// `mtu`.
    pub mtu: Option<u32>,
}

/// One entry of `desiredState.routes.config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NmRoute {
    /// `destination`.
    pub destination: IpNet,
    /// `next-hop-address`.
    pub next_hop_address: Option<IpAddr>,
    /// `next-hop-interface`.
    pub next_hop_interface: Option<String>,
    /// `metric`.
    pub metric: Option<u32>,
    /// `table-id` (`None`: main).
    pub table_id: Option<u32>,
    /// `state: absent` removes the route.
    pub absent: bool,
}

/// One entry of `desiredState.route-rules.config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NmRouteRule {
    /// `ip-to`.
    pub ip_to: Option<IpNet>,
    /// `ip-from`.
    pub ip_from: Option<IpNet>,
    /// `priority`.
    pub priority: Option<u32>,
    /// `route-table` (`None`: main).
    pub route_table: Option<u32>,
    /// `state: absent` removes the rule.
    pub absent: bool,
}

/// An nmstate.io NodeNetworkConfigurationPolicy (the subset ferrolb interprets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicy {
    /// Name (cluster-scoped: namespace is empty).
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `spec.nodeSelector` (as `matchLabels`; empty: every node).
    pub node_selector: LabelSelector,
    /// Interfaces of type `vrf` and `ethernet`.
    pub interfaces: Vec<NmInterface>,
    /// `routes.config`.
    pub routes: Vec<NmRoute>,
    /// `route-rules.config`.
    pub rules: Vec<NmRouteRule>,
}

impl NetworkPolicy {
    /// The VRFs this policy defines, as routing tables.
    pub fn route_tables(&self) -> impl Iterator<Item = RouteTable> + '_ {
        self.interfaces
            .iter()
            .filter(|i| i.kind == "vrf" && i.state != NmState::Absent)
            .filter_map(|i| i.vrf_table.map(|id| RouteTable { name: i.name.clone(), id }))
    }
}

/// `spec.type` of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceType {
    /// ClusterIP (the default).
    ClusterIp,
    /// NodePort.
    NodePort,
    /// LoadBalancer: the services ferrolb serves.
    LoadBalancer,
    /// ExternalName.
    ExternalName,
}

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpFamilyPolicy {
    /// One address (the default).
    SingleStack,
    /// One of each family where possible.
    PreferDualStack,
    /// One of each family, or nothing.
    RequireDualStack,
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrafficPolicy {
    /// Any node forwards (the default).
    Cluster,
    /// Only nodes with a ready local endpoint.
    Local,
}

/// A port protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    /// `name` (may be empty).
    pub name: String,
    /// `protocol`.
    pub protocol: Protocol,
    /// `port`.
    pub port: u16,
}

/// A service endpoint (from EndpointSlices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Pod addresses.
    pub addresses: Vec<IpAddr>,
    /// `nodeName` ("" when unknown).
    pub node: String,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
}

/// A v1 Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Namespace and name.
    pub id: ObjectRef,
    /// Where it was defined.
    pub origin: Origin,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `spec.type`.
    pub service_type: ServiceType,
    /// `spec.loadBalancerClass` (MetalLB serves only services without one, by default).
    pub load_balancer_class: Option<String>,
    /// `spec.ipFamilies`, in order.
    pub ip_families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy` (default single-stack).
    pub ip_family_policy: IpFamilyPolicy,
    /// `spec.clusterIPs` (or `spec.clusterIP`), without `None`.
    pub cluster_ips: Vec<IpAddr>,
    /// `metallb.io/address-pool` (or `metallb.universe.tf/address-pool`).
    pub requested_pool: Option<String>,
    /// `metallb.io/loadBalancerIPs` (or the legacy annotation), in order.
    pub requested_ips: Vec<IpAddr>,
    /// `spec.loadBalancerIP`.
    pub spec_load_balancer_ip: Option<IpAddr>,
    /// `metallb.io/allow-shared-ip` (or the legacy annotation).
    pub sharing_key: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `spec.selector`.
    pub selector: Labels,
    /// `status.loadBalancer.ingress[].ip`.
    pub current_ips: Vec<IpAddr>,
    /// Endpoints from the EndpointSlices labelled `kubernetes.io/service-name: <name>`.
    pub endpoints: Vec<Endpoint>,
}

/// The conditions of a node that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct NodeConditions {
    /// `Ready` is `True`.
    pub ready: bool,
    /// `NetworkUnavailable` is `True`.
    pub network_unavailable: bool,
}

/// A v1 Node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Name (cluster-scoped).
    pub name: String,
    /// Where it was defined.
    pub origin: Origin,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `status.addresses` (InternalIP / ExternalIP), in order.
    pub addresses: Vec<IpAddr>,
    /// Conditions.
    pub conditions: NodeConditions,
}

/// A v1 Namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Where it was defined.
    pub origin: Origin,
    /// `metadata.labels`.
    pub labels: Labels,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Model {
    /// IPAddressPools (and legacy AddressPools), sorted by name.
    pub pools: Vec<AddressPool>,
    /// BGPPeers, sorted by namespace and name.
    pub bgp_peers: Vec<BgpPeer>,
    /// BGPAdvertisements, sorted.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// L2Advertisements, sorted.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// Every alias of every Community object, sorted by alias.
    pub communities: Vec<CommunityAlias>,
    /// BFDProfiles, sorted.
    pub bfd_profiles: Vec<BfdProfile>,
    /// FRRConfigurations, sorted.
    pub frr_configurations: Vec<FrrConfiguration>,
    /// The MetalLB CR, if one was given.
    pub metallb: Option<MetalLbSettings>,
    /// EgressServices, sorted.
    pub egress_services: Vec<EgressService>,
    /// NodeNetworkConfigurationPolicies, sorted.
    pub network_policies: Vec<NetworkPolicy>,
    /// Services (every type), sorted.
    pub services: Vec<Service>,
    /// Nodes, sorted by name.
    pub nodes: Vec<Node>,
    /// Namespaces, sorted by name.
    pub namespaces: Vec<Namespace>,
}

impl Model {
    /// The pool named `name`.
    pub fn pool(&self, name: &str) -> Option<&AddressPool> {
        self.pools.binary_search_by(|p| p.id.name.as_str().cmp(name)).ok().and_then(|i| self.pools.get(i))
    }

    /// The BGPPeer named `name`.
    pub fn bgp_peer(&self, name: &str) -> Option<&BgpPeer> {
        self.bgp_peers.iter().find(|p| p.id.name == name)
    }

    /// The BFDProfile named `name`.
    pub fn bfd_profile(&self, name: &str) -> Option<&BfdProfile> {
        self.bfd_profiles.iter().find(|p| p.id.name == name)
    }

    /// The service `namespace/name`.
    pub fn service(&self, id: &ObjectRef) -> Option<&Service> {
        self.services.binary_search_by(|s| s.id.cmp(id)).ok().and_then(|i| self.services.get(i))
    }

    /// The LoadBalancer services.
    pub fn load_balancers(&self) -> impl Iterator<Item = &Service> {
        self.services.iter().filter(|s| s.service_type == ServiceType::LoadBalancer)
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.name.as_str().cmp(name)).ok().and_then(|i| self.nodes.get(i))
    }

    /// Every routing table known by name (the VRFs of all NodeNetworkConfigurationPolicies).
    pub fn route_tables(&self) -> Vec<RouteTable> {
        let mut tables: Vec<RouteTable> = self.network_policies.iter().flat_map(|p| p.route_tables()).collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        tables.dedup();
        tables
    }

    /// The pools an advertisement applies to (by name, by selector, or every pool when it names
    /// none), sorted by name.
    pub fn pools_of(&self, names: &[String], selectors: &[LabelSelector]) -> Vec<&AddressPool> {
        self.pools
            .iter()
            .filter(|p| {
                (names.is_empty() && selectors.is_empty())
                    || names.contains(&p.id.name)
                    || selectors.iter().any(|s| s.matches(&p.labels))
            })
            .collect()
    }
}
