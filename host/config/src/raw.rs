//! The Kubernetes objects as written: the only place manifests are deserialised.
//!
//! Field names and nesting follow the upstream Go types (metallb `api/v1beta1`, `api/v1beta2`,
//! frr-k8s `api/v1beta1`, OVN-Kubernetes `EgressService`, NMState, `k8s.io/api`). Every field is
//! optional here (a missing required field is reported by validation, with its path), and fields
//! Kubernetes defines but ferrolb does not use are declared as [`Ignored`] so that they are not
//! reported as unknown. Anything else is an unknown field: a warning, as with
//! `kubectl --validate=warn`.

#![allow(missing_docs)]

use crate::de::Ignored;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `metadata` of every object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generate_name: Option<Ignored>,
    pub uid: Option<Ignored>,
    pub resource_version: Option<Ignored>,
    pub generation: Option<Ignored>,
    pub creation_timestamp: Option<Ignored>,
    pub deletion_timestamp: Option<Ignored>,
    pub deletion_grace_period_seconds: Option<Ignored>,
    pub owner_references: Option<Ignored>,
    pub finalizers: Option<Ignored>,
    pub managed_fields: Option<Ignored>,
    pub self_link: Option<Ignored>,
}

/// A namespaced or cluster-scoped object with a `spec` and a `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Object<S, St = Ignored> {
    pub api_version: Option<Ignored>,
    pub kind: Option<Ignored>,
    pub metadata: ObjectMeta,
    pub spec: S,
    pub status: Option<St>,
}

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<SelectorRequirement>,
}

/// `metav1.LabelSelectorRequirement`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct SelectorRequirement {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub values: Vec<String>,
}

/// A Secret reference written either as an object (`{name, namespace}`, the Kubernetes type) or,
/// as some documentation shows it, as a plain name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretRef {
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Written as a plain string rather than an object.
    pub as_string: bool,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Secret reference")
            }
            fn visit_str<E>(self, s: &str) -> Result<SecretRef, E> {
                Ok(SecretRef { name: Some(s.to_string()), namespace: None, as_string: true })
            }
            fn visit_unit<E>(self) -> Result<SecretRef, E> {
                Ok(SecretRef::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
                let mut r = SecretRef::default();
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "name" => r.name = map.next_value()?,
                        "namespace" => r.namespace = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_any(V)
    }
}

/// `intstr.IntOrString`.
#[derive(Debug, Clone, PartialEq)]
pub enum IntOrString {
    Int(i64),
    Str(String),
    /// Neither (a type error already recorded by the caller's check).
    Other,
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E>(self, i: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<IntOrString, E> {
                Ok(i64::try_from(u).map_or(IntOrString::Other, IntOrString::Int))
            }
            fn visit_str<E>(self, s: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::Str(s.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IntOrString, E> {
                Ok(IntOrString::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<IntOrString, E> {
                Ok(IntOrString::Other)
            }
            fn visit_unit<E>(self) -> Result<IntOrString, E> {
                Ok(IntOrString::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IntOrString, A::Error> {
                while seq.next_element::<Ignored>()?.is_some() {}
                Ok(IntOrString::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<IntOrString, A::Error> {
                while map.next_entry::<Ignored, Ignored>()?.is_some() {}
                Ok(IntOrString::Other)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// metallb.io

/// metallb.io/v1beta1 IPAddressPool `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IpAddressPoolSpec {
    pub addresses: Option<Vec<String>>,
    pub auto_assign: Option<bool>,
    #[serde(rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: Option<bool>,
    pub service_allocation: Option<ServiceAllocation>,
}

/// `spec.serviceAllocation` of an IPAddressPool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceAllocation {
    pub priority: Option<i32>,
    pub namespaces: Vec<String>,
    pub namespace_selectors: Vec<LabelSelector>,
    pub service_selectors: Vec<LabelSelector>,
}

/// metallb.io/v1beta1 AddressPool `spec` (the deprecated pool that carries its own protocol).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AddressPoolSpec {
    pub protocol: Option<String>,
    pub addresses: Option<Vec<String>>,
    pub auto_assign: Option<bool>,
    #[serde(rename = "avoidBuggyIPs")]
    pub avoid_buggy_ips: Option<bool>,
    pub bgp_advertisements: Vec<LegacyBgpAdvertisement>,
}

/// `spec.bgpAdvertisements[]` of a legacy AddressPool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LegacyBgpAdvertisement {
    pub aggregation_length: Option<i32>,
    #[serde(rename = "aggregationLengthV6")]
    pub aggregation_length_v6: Option<i32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
}

/// metallb.io/v1beta1 BGPAdvertisement `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BgpAdvertisementSpec {
    pub aggregation_length: Option<i32>,
    #[serde(rename = "aggregationLengthV6")]
    pub aggregation_length_v6: Option<i32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub ip_address_pools: Vec<String>,
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    pub node_selectors: Vec<LabelSelector>,
    pub peers: Vec<String>,
    pub service_selectors: Vec<LabelSelector>,
}

/// metallb.io/v1beta1 L2Advertisement `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct L2AdvertisementSpec {
    pub ip_address_pools: Vec<String>,
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    pub node_selectors: Vec<LabelSelector>,
    pub interfaces: Vec<String>,
    pub service_selectors: Vec<LabelSelector>,
}

/// metallb.io/v1beta1 Community `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CommunitySpec {
    pub communities: Vec<CommunityAlias>,
}

/// One alias of a Community.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CommunityAlias {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// metallb.io/v1beta1 BFDProfile `spec` (also the items of FRRConfiguration `spec.bgp.bfdProfiles`,
/// which add `name`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BfdProfileSpec {
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub detect_multiplier: Option<u32>,
    pub echo_interval: Option<u32>,
    pub echo_mode: Option<bool>,
    pub passive_mode: Option<bool>,
    pub minimum_ttl: Option<u32>,
}

/// metallb.io/v1beta2 BGPPeer `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BgpPeerSpec {
    #[serde(rename = "myASN")]
    pub my_asn: Option<u32>,
    #[serde(rename = "peerASN")]
    pub peer_asn: Option<u32>,
    #[serde(rename = "dynamicASN")]
    pub dynamic_asn: Option<DynamicAsn>,
    pub peer_address: Option<String>,
    pub interface: Option<String>,
    pub source_address: Option<String>,
    pub peer_port: Option<i64>,
    pub hold_time: Option<String>,
    pub keepalive_time: Option<String>,
    pub connect_time: Option<String>,
    #[serde(rename = "routerID")]
    pub router_id: Option<String>,
    pub node_selectors: Vec<LabelSelector>,
    pub password: Option<String>,
    pub password_secret: Option<SecretRef>,
    pub bfd_profile: Option<String>,
    pub enable_graceful_restart: Option<bool>,
    pub ebgp_multi_hop: Option<bool>,
    pub vrf: Option<String>,
    #[serde(rename = "disableMP")]
    pub disable_mp: Option<bool>,
    pub dual_stack_address_family: Option<bool>,
}

/// metallb.io/v1beta1 BGPPeer `spec` (older manifests; converted to v1beta2 as MetalLB's
/// conversion webhook does).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BgpPeerSpecV1beta1 {
    #[serde(rename = "myASN")]
    pub my_asn: Option<u32>,
    #[serde(rename = "peerASN")]
    pub peer_asn: Option<u32>,
    pub peer_address: Option<String>,
    pub source_address: Option<String>,
    pub peer_port: Option<i64>,
    pub hold_time: Option<String>,
    pub keepalive_time: Option<String>,
    #[serde(rename = "routerID")]
    pub router_id: Option<String>,
    pub node_selectors: Vec<LabelSelector>,
    pub password: Option<String>,
    pub bfd_profile: Option<String>,
    pub ebgp_multi_hop: Option<bool>,
}

/// `dynamicASN` of BGPPeer and FRRConfiguration neighbors.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DynamicAsn {
    Internal,
    External,
}

/// metallb.io/v1beta1 MetalLB `spec` (the operator's CR).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetalLbSpec {
    pub bgp_backend: Option<String>,
    pub log_level: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub frrk8s_config: Option<FrrK8sConfig>,
    pub speaker_tolerations: Option<Ignored>,
    pub controller_tolerations: Option<Ignored>,
    pub controller_node_selector: Option<Ignored>,
    pub speaker_config: Option<Ignored>,
    pub controller_config: Option<Ignored>,
    pub load_balancer_class: Option<Ignored>,
    pub bgp_type: Option<Ignored>,
}

/// `spec.frrk8sConfig` of the MetalLB CR.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrK8sConfig {
    pub always_block: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// frrk8s.metallb.io

/// frrk8s.metallb.io/v1beta1 FRRConfiguration `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrConfigurationSpec {
    pub bgp: FrrBgp,
    pub raw: Option<FrrRaw>,
    pub node_selector: Option<LabelSelector>,
}

/// `spec.bgp` of an FRRConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrBgp {
    pub routers: Vec<FrrRouter>,
    pub bfd_profiles: Vec<FrrBfdProfile>,
}

/// `spec.raw` of an FRRConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrRaw {
    pub priority: Option<i64>,
    pub raw_config: Option<String>,
}

/// `spec.bgp.routers[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrRouter {
    pub asn: Option<u32>,
    pub id: Option<String>,
    pub vrf: Option<String>,
    pub neighbors: Vec<FrrNeighbor>,
    pub prefixes: Vec<String>,
    pub imports: Vec<FrrImport>,
}

/// `spec.bgp.routers[].imports[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrImport {
    pub vrf: Option<String>,
}

/// `spec.bgp.routers[].neighbors[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrNeighbor {
    pub asn: Option<u32>,
    #[serde(rename = "dynamicASN")]
    pub dynamic_asn: Option<DynamicAsn>,
    #[serde(rename = "sourceaddress")]
    pub source_address: Option<String>,
    pub address: Option<String>,
    pub interface: Option<String>,
    pub port: Option<i64>,
    pub password: Option<String>,
    pub password_secret: Option<SecretRef>,
    pub hold_time: Option<String>,
    pub keepalive_time: Option<String>,
    pub connect_time: Option<String>,
    pub ebgp_multi_hop: Option<bool>,
    pub bfd_profile: Option<String>,
    pub enable_graceful_restart: Option<bool>,
    pub to_advertise: FrrAdvertise,
    pub to_receive: FrrReceive,
    #[serde(rename = "disableMP")]
    pub disable_mp: Option<bool>,
    pub dual_stack_address_family: Option<bool>,
}

/// `toAdvertise`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrAdvertise {
    pub allowed: FrrAllowedOut,
    pub with_local_pref: Vec<FrrLocalPrefPrefixes>,
    pub with_community: Vec<FrrCommunityPrefixes>,
}

/// `toAdvertise.allowed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrAllowedOut {
    pub prefixes: Vec<String>,
    pub mode: Option<AllowMode>,
}

/// `toReceive`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrReceive {
    pub allowed: FrrAllowedIn,
}

/// `toReceive.allowed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrAllowedIn {
    pub prefixes: Vec<FrrPrefixSelector>,
    pub mode: Option<AllowMode>,
}

/// `toReceive.allowed.prefixes[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrPrefixSelector {
    pub prefix: Option<String>,
    pub le: Option<u32>,
    pub ge: Option<u32>,
}

/// `allowed.mode`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AllowMode {
    All,
    Filtered,
}

/// `toAdvertise.withLocalPref[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrLocalPrefPrefixes {
    pub prefixes: Vec<String>,
    pub local_pref: Option<u32>,
}

/// `toAdvertise.withCommunity[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrCommunityPrefixes {
    pub prefixes: Vec<String>,
    pub community: Option<String>,
}

/// `spec.bgp.bfdProfiles[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FrrBfdProfile {
    pub name: Option<String>,
    pub receive_interval: Option<u32>,
    pub transmit_interval: Option<u32>,
    pub detect_multiplier: Option<u32>,
    pub echo_interval: Option<u32>,
    pub echo_mode: Option<bool>,
    pub passive_mode: Option<bool>,
    pub minimum_ttl: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// k8s.ovn.org, nmstate.io

/// k8s.ovn.org/v1 EgressService `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EgressServiceSpec {
    #[serde(rename = "sourceIPBy")]
    pub source_ip_by: Option<SourceIpBy>,
    pub node_selector: Option<LabelSelector>,
    pub network: Option<String>,
}

/// `spec.sourceIPBy`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum SourceIpBy {
    #[serde(rename = "LoadBalancerIP")]
    LoadBalancerIp,
    Network,
}

/// nmstate.io/v1 NodeNetworkConfigurationPolicy `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NncpSpec {
    pub node_selector: BTreeMap<String, String>,
    pub max_unavailable: Option<IntOrString>,
    pub desired_state: DesiredState,
}

/// `spec.desiredState` (the subset ferrolb interprets).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DesiredState {
    pub interfaces: Vec<NmInterface>,
    pub routes: NmRoutes,
    #[serde(rename = "route-rules")]
    pub route_rules: NmRouteRules,
    #[serde(rename = "dns-resolver")]
    pub dns_resolver: Option<Ignored>,
}

/// `desiredState.interfaces[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmInterface {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub state: Option<String>,
    pub description: Option<Ignored>,
    pub mtu: Option<u32>,
    #[serde(rename = "mac-address")]
    pub mac_address: Option<Ignored>,
    pub vrf: Option<NmVrf>,
    pub ipv4: Option<NmIp>,
    pub ipv6: Option<NmIp>,
    pub ethernet: Option<Ignored>,
}

/// `interfaces[].vrf`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmVrf {
    pub port: Vec<String>,
    #[serde(rename = "route-table-id")]
    pub route_table_id: Option<i64>,
}

/// `interfaces[].ipv4` / `ipv6`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmIp {
    pub enabled: Option<bool>,
    pub dhcp: Option<bool>,
    pub autoconf: Option<bool>,
    pub address: Vec<NmAddress>,
}

/// `ipv4.address[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmAddress {
    pub ip: Option<String>,
    #[serde(rename = "prefix-length")]
    pub prefix_length: Option<u8>,
}

/// `desiredState.routes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmRoutes {
    pub config: Vec<NmRoute>,
}

/// `routes.config[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmRoute {
    pub destination: Option<String>,
    #[serde(rename = "next-hop-address")]
    pub next_hop_address: Option<String>,
    #[serde(rename = "next-hop-interface")]
    pub next_hop_interface: Option<String>,
    pub metric: Option<u32>,
    #[serde(rename = "table-id")]
    pub table_id: Option<u32>,
    pub state: Option<String>,
}

/// `desiredState.route-rules`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmRouteRules {
    pub config: Vec<NmRouteRule>,
}

/// `route-rules.config[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NmRouteRule {
    #[serde(rename = "ip-to")]
    pub ip_to: Option<String>,
    #[serde(rename = "ip-from")]
    pub ip_from: Option<String>,
    pub priority: Option<u32>,
    #[serde(rename = "route-table")]
    pub route_table: Option<u32>,
    pub state: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// core/v1, discovery.k8s.io/v1

/// v1 Service `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub ports: Vec<ServicePort>,
    pub selector: BTreeMap<String, String>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Vec<String>,
    #[serde(rename = "loadBalancerIP")]
    pub load_balancer_ip: Option<String>,
    pub external_traffic_policy: Option<String>,
    pub ip_families: Vec<String>,
    pub ip_family_policy: Option<String>,
    pub load_balancer_class: Option<String>,
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<Ignored>,
    pub external_name: Option<Ignored>,
    pub health_check_node_port: Option<Ignored>,
    pub internal_traffic_policy: Option<Ignored>,
    pub load_balancer_source_ranges: Option<Ignored>,
    pub allocate_load_balancer_node_ports: Option<Ignored>,
    pub publish_not_ready_addresses: Option<Ignored>,
    pub session_affinity: Option<Ignored>,
    pub session_affinity_config: Option<Ignored>,
    pub traffic_distribution: Option<Ignored>,
}

/// `spec.ports[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub target_port: Option<IntOrString>,
    pub node_port: Option<Ignored>,
    pub app_protocol: Option<Ignored>,
}

/// v1 Service `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceStatus {
    pub load_balancer: LoadBalancerStatus,
    pub conditions: Option<Ignored>,
}

/// `status.loadBalancer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    pub ingress: Vec<LoadBalancerIngress>,
}

/// `status.loadBalancer.ingress[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    pub ip: Option<String>,
    pub hostname: Option<Ignored>,
    pub ip_mode: Option<Ignored>,
    pub ports: Option<Ignored>,
}

/// v1 Node `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<Ignored>,
    #[serde(rename = "podCIDRs")]
    pub pod_cidrs: Option<Ignored>,
    #[serde(rename = "providerID")]
    pub provider_id: Option<Ignored>,
    pub taints: Option<Ignored>,
    pub unschedulable: Option<Ignored>,
    pub config_source: Option<Ignored>,
    #[serde(rename = "externalID")]
    pub external_id: Option<Ignored>,
}

/// v1 Node `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    pub addresses: Vec<NodeAddress>,
    pub conditions: Vec<NodeCondition>,
    pub allocatable: Option<Ignored>,
    pub capacity: Option<Ignored>,
    pub daemon_endpoints: Option<Ignored>,
    pub images: Option<Ignored>,
    pub node_info: Option<Ignored>,
    pub phase: Option<Ignored>,
    pub volumes_attached: Option<Ignored>,
    pub volumes_in_use: Option<Ignored>,
    pub config: Option<Ignored>,
    pub runtime_handlers: Option<Ignored>,
    pub features: Option<Ignored>,
}

/// `status.addresses[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub address: Option<String>,
}

/// `status.conditions[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeCondition {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub reason: Option<Ignored>,
    pub message: Option<Ignored>,
    pub last_heartbeat_time: Option<Ignored>,
    pub last_transition_time: Option<Ignored>,
}

/// v1 Namespace `spec` (nothing ferrolb uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NamespaceSpec {
    pub finalizers: Option<Ignored>,
}

/// discovery.k8s.io/v1 EndpointSlice (no `spec`: its fields are top level).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    pub api_version: Option<Ignored>,
    pub kind: Option<Ignored>,
    pub metadata: ObjectMeta,
    pub address_type: Option<String>,
    pub endpoints: Vec<SliceEndpoint>,
    pub ports: Option<Ignored>,
}

/// `endpoints[]` of an EndpointSlice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceEndpoint {
    pub addresses: Vec<String>,
    pub conditions: EndpointConditions,
    pub node_name: Option<String>,
    pub hostname: Option<Ignored>,
    pub target_ref: Option<Ignored>,
    pub zone: Option<Ignored>,
    pub hints: Option<Ignored>,
    pub deprecated_topology: Option<Ignored>,
}

/// `endpoints[].conditions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointConditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// Every object kind ferrolb reads, as written.
#[derive(Debug, Clone)]
pub enum RawObject {
    IpAddressPool(Object<IpAddressPoolSpec>),
    AddressPool(Object<AddressPoolSpec>),
    BgpAdvertisement(Object<BgpAdvertisementSpec>),
    L2Advertisement(Object<L2AdvertisementSpec>),
    Community(Object<CommunitySpec>),
    BfdProfile(Object<BfdProfileSpec>),
    BgpPeer(Object<BgpPeerSpec>),
    BgpPeerV1beta1(Object<BgpPeerSpecV1beta1>),
    MetalLb(Object<MetalLbSpec>),
    FrrConfiguration(Object<FrrConfigurationSpec>),
    EgressService(Object<EgressServiceSpec>),
    Nncp(Object<NncpSpec>),
    Service(Object<ServiceSpec, ServiceStatus>),
    Node(Object<NodeSpec, NodeStatus>),
    Namespace(Object<NamespaceSpec>),
    EndpointSlice(EndpointSlice),
}

impl RawObject {
    /// `metadata`.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            RawObject::IpAddressPool(o) => &o.metadata,
            RawObject::AddressPool(o) => &o.metadata,
            RawObject::BgpAdvertisement(o) => &o.metadata,
            RawObject::L2Advertisement(o) => &o.metadata,
            RawObject::Community(o) => &o.metadata,
            RawObject::BfdProfile(o) => &o.metadata,
            RawObject::BgpPeer(o) => &o.metadata,
            RawObject::BgpPeerV1beta1(o) => &o.metadata,
            RawObject::MetalLb(o) => &o.metadata,
            RawObject::FrrConfiguration(o) => &o.metadata,
            RawObject::EgressService(o) => &o.metadata,
            RawObject::Nncp(o) => &o.metadata,
            RawObject::Service(o) => &o.metadata,
            RawObject::Node(o) => &o.metadata,
            RawObject::Namespace(o) => &o.metadata,
            RawObject::EndpointSlice(o) => &o.metadata,
        }
    }
}
