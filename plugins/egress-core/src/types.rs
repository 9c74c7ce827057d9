//! The planner's inputs and outputs: plain Rust mirrors of the WIT records of
//! `ferrolb:policy/egress` (`wit/types.wit`, `wit/egress.wit`).
//!
//! Addresses are `core::net` types; names stay strings. Nothing here knows wit-bindgen, so the
//! host can build these values directly and the plugin converts the WIT records into them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

/// One label: key and value.
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
    /// The namespace.
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
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A Kubernetes node as the planner sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Vec<Label>,
    /// `status.addresses` (unused by the rules; kept so the mirror is complete).
    pub addresses: Vec<IpAddr>,
    /// Condition `Ready` is True.
    pub ready: bool,
    /// Condition `NetworkUnavailable` is True.
    pub network_unavailable: bool,
    /// The host's membership protocol sees the node alive.
    pub live: bool,
}

impl Node {
    /// A live, ready node with the given labels and no addresses.
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

/// One endpoint of a service (from EndpointSlices).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint's addresses (pod IPs).
    pub addresses: Vec<IpAddr>,
    /// `nodeName` ("" when unknown).
    pub node: String,
    /// `conditions.ready`.
    pub ready: bool,
}

impl Endpoint {
    /// An endpoint with one address.
    pub fn new(address: IpAddr, node: impl Into<String>, ready: bool) -> Endpoint {
        Endpoint { addresses: alloc::vec![address], node: node.into(), ready }
    }
}

/// Kubernetes `spec.externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// Any node forwards traffic.
    #[default]
    Cluster,
    /// Only nodes with a ready local endpoint take traffic.
    Local,
}

/// `spec.sourceIPBy` of an EgressService.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SourceIpBy {
    /// One chosen node; egress is SNATed to the load-balancer address.
    #[default]
    LoadBalancerIp,
    /// Every node with endpoints; egress keeps the node's address.
    Network,
}

/// A routing table known by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteTable {
    /// The name, e.g. `ens4vrf`.
    pub name: String,
    /// The table id.
    pub id: u32,
}

/// Everything the planner needs but the services.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The node this host runs on: rules and SNAT are computed for it.
    pub local_node: String,
    /// Every node.
    pub nodes: Vec<Node>,
    /// Routing tables known by name.
    pub tables: Vec<RouteTable>,
}

/// A k8s.ovn.org EgressService with its LoadBalancer service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Namespace and name.
    pub id: ObjectRef,
    /// `spec.sourceIPBy`.
    pub source_ip_by: SourceIpBy,
    /// `spec.nodeSelector` (load-balancer-ip mode only).
    pub node_selector: LabelSelector,
    /// `spec.network`: a table id or name; `None` is the main table.
    pub network: Option<String>,
    /// The allocated load-balancer addresses, in the service's order.
    pub load_balancer_ips: Vec<IpAddr>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
    /// The node the host assigned the service to last time.
    pub current_node: Option<String>,
}

/// An IP prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// The address.
    pub address: IpAddr,
    /// The prefix length in bits.
    pub prefix_len: u8,
}

impl Prefix {
    /// The host prefix of `address` (`/32` or `/128`).
    pub fn host(address: IpAddr) -> Prefix {
        Prefix { address, prefix_len: if address.is_ipv4() { 32 } else { 128 } }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// `ip rule add priority <priority> from <from> lookup <table>`.
///
/// Ordered by (priority, from, table), the order of the decision's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRule {
    /// The rule priority.
    pub priority: u32,
    /// The source prefix.
    pub from: Prefix,
    /// The table to look up.
    pub table: u32,
}

/// Source NAT from an endpoint address to a load-balancer address. Ordered by (from, to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnatRule {
    /// The endpoint address.
    pub from: IpAddr,
    /// The load-balancer address.
    pub to: IpAddr,
}

/// The decision for one EgressService, as seen from the local node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The service.
    pub service: ObjectRef,
    /// The node handling the egress ("" in network mode, or when none is eligible).
    pub node: String,
    /// The label the host puts on that node.
    pub node_label: Option<Label>,
    /// The source address of egress traffic (load-balancer-ip mode with a chosen node).
    pub source_ip: Option<IpAddr>,
    /// The table egress traffic uses (`None`: main).
    pub table: Option<u32>,
    /// ip rules the local node installs, sorted and deduplicated.
    pub rules: Vec<IpRule>,
    /// SNAT rules the local node installs, sorted and deduplicated.
    pub snat: Vec<SnatRule>,
    /// Why nothing, or less than asked, is done.
    pub refusals: Vec<String>,
}

/// An input that breaks the contract (the WIT `policy-error::invalid-input`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
