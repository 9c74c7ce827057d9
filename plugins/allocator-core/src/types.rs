//! The allocator's inputs and outputs: plain Rust mirrors of the WIT records of
//! `ferrolb:policy/allocator` (`wit/types.wit`, `wit/allocator.wit`).
//!
//! Addresses are `core::net` types; names stay strings. Nothing here knows wit-bindgen, so the
//! host can build these values directly (the native benchmark) and the plugin converts the WIT
//! records into them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::Ipv4 => Family::Ipv6,
            Family::Ipv6 => Family::Ipv4,
        }
    }

    /// 0 for IPv4, 1 for IPv6 (index into per-family arrays).
    pub(crate) fn index(self) -> usize {
        match self {
            Family::Ipv4 => 0,
            Family::Ipv6 => 1,
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

/// One label (or annotation): key and value.
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

/// One entry of an IPAddressPool's `spec.addresses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressBlock {
    /// CIDR notation (host bits must be zero).
    Cidr {
        /// The network address.
        address: IpAddr,
        /// The prefix length (at most 32 / 128).
        prefix_len: u8,
    },
    /// `first-last`, inclusive, one family.
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address.
        last: IpAddr,
    },
}

/// `spec.serviceAllocation` of a pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceAllocation {
    /// Lower is preferred; unset (and, as in MetalLB, `0`) ranks after every number.
    pub priority: Option<i32>,
    /// Namespaces whose services the pool admits.
    pub namespaces: Vec<String>,
    /// Selectors on namespace labels; any one matching admits the namespace.
    pub namespace_selectors: Vec<LabelSelector>,
    /// Selectors on service labels; any one matching admits the service.
    pub service_selectors: Vec<LabelSelector>,
}

/// A metallb.io IPAddressPool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddressPool {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels` (unused by the allocator; kept to mirror the contract).
    pub labels: Vec<Label>,
    /// `spec.addresses` in manifest order: allocation tries them in this order.
    pub addresses: Vec<AddressBlock>,
    /// `spec.autoAssign`.
    pub auto_assign: bool,
    /// `spec.avoidBuggyIPs`: never hand out IPv4 x.x.x.0 or x.x.x.255.
    pub avoid_buggy_ips: bool,
    /// `spec.serviceAllocation`.
    pub service_allocation: Option<ServiceAllocation>,
}

impl AddressPool {
    /// A pool with the given blocks, `autoAssign: true`, nothing else set.
    pub fn new(name: impl Into<String>, addresses: Vec<AddressBlock>) -> AddressPool {
        AddressPool {
            name: name.into(),
            labels: Vec::new(),
            addresses,
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        }
    }
}

/// A namespace and its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespaceInfo {
    /// The namespace name.
    pub name: String,
    /// Its labels.
    pub labels: Vec<Label>,
}

/// The allocator's configuration: everything but the services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config {
    /// All pools (any order: the allocator sorts them by name).
    pub pools: Vec<AddressPool>,
    /// All namespaces with their labels.
    pub namespaces: Vec<NamespaceInfo>,
}

/// `spec.ipFamilyPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpFamilyPolicy {
    /// One address, of the primary family.
    #[default]
    SingleStack,
    /// One address of each family where possible, else one.
    PreferDualStack,
    /// One address of each family, or nothing.
    RequireDualStack,
}

impl fmt::Display for IpFamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamilyPolicy::SingleStack => "SingleStack",
            IpFamilyPolicy::PreferDualStack => "PreferDualStack",
            IpFamilyPolicy::RequireDualStack => "RequireDualStack",
        })
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrafficPolicy {
    /// Any node forwards (the default).
    #[default]
    Cluster,
    /// Only nodes with a local endpoint.
    Local,
}

/// A transport protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// One entry of `spec.ports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// The port's name.
    pub name: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
}

impl ServicePort {
    /// An unnamed port.
    pub fn new(protocol: Protocol, port: u16) -> ServicePort {
        ServicePort { name: String::new(), protocol, port }
    }
}

/// A namespaced service reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ServiceId {
    /// `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ServiceId {
        ServiceId { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// A LoadBalancer service as the allocator sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Service {
    /// Namespace and name.
    pub id: ServiceId,
    /// `metadata.labels`.
    pub labels: Vec<Label>,
    /// `spec.ipFamilies` in order (the first is the primary family); empty means the cluster
    /// default: the family of the first requested address, else IPv4.
    pub ip_families: Vec<Family>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: IpFamilyPolicy,
    /// `metallb.io/address-pool`.
    pub requested_pool: Option<String>,
    /// `metallb.io/loadBalancerIPs`, in order.
    pub requested_ips: Vec<IpAddr>,
    /// The deprecated `spec.loadBalancerIP`.
    pub spec_load_balancer_ip: Option<IpAddr>,
    /// `metallb.io/allow-shared-ip`.
    pub sharing_key: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// `spec.selector`.
    pub selector: Vec<Label>,
    /// `status.loadBalancer.ingress[].ip`.
    pub current_ips: Vec<IpAddr>,
}

impl Service {
    /// A single-stack service `namespace/name` with nothing else set.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Service {
        Service { id: ServiceId::new(namespace, name), ..Service::default() }
    }
}

/// The addresses granted to one service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Allocation {
    /// The service.
    pub service: ServiceId,
    /// Its addresses, primary family first, at most one per family.
    pub ips: Vec<IpAddr>,
    /// The pool they belong to.
    pub pool: String,
}

/// Why a service got (or kept) no address; `reason` is written for a person.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// The service.
    pub service: ServiceId,
    /// The explanation, naming the pool, address or rule.
    pub reason: String,
}

/// How allocations changed when a configuration was applied (`open` or `reconfigure`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReconfigureOutcome {
    /// Allocations kept but now attributed to another pool (renamed or split pools).
    pub rehomed: Vec<Allocation>,
    /// Services that lost their addresses (no pool contains them, or the pool no longer admits
    /// the service); the host assigns them again.
    pub released: Vec<Refusal>,
}

/// A configuration (or `existing` list) that breaks the contract: overlapping pools, a prefix
/// longer than its family allows, host bits set, a range ending before it starts, ...
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
