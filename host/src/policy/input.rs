//! From the validated configuration model (`ferrolb-config`) to the WIT records the plugins take,
//! and back from plugin answers to host types. The only place that knows both sides.

use ferrolb_config::model;

use super::allocator::exports::ferrolb::policy::allocator_policy as alloc;
use super::convert::{ip_from_wit, ip_to_wit, prefix_to_wit};
use super::types as wit;

/// A model object reference as a WIT one.
pub fn object_ref(r: &model::ObjectRef) -> wit::ObjectRef {
    wit::ObjectRef { namespace: r.namespace.clone(), name: r.name.clone() }
}

/// A WIT object reference as `namespace/name`.
pub fn object_name(r: &wit::ObjectRef) -> String {
    if r.namespace.is_empty() { r.name.clone() } else { format!("{}/{}", r.namespace, r.name) }
}

/// Labels (sorted by key) as WIT labels.
pub fn labels(l: &model::Labels) -> Vec<wit::Label> {
    l.iter().map(|(k, v)| wit::Label { key: k.clone(), value: v.clone() }).collect()
}

/// A label selector as a WIT selector.
pub fn selector(s: &model::LabelSelector) -> wit::LabelSelector {
    wit::LabelSelector {
        match_labels: labels(&s.match_labels),
        match_expressions: s
            .match_expressions
            .iter()
            .map(|r| wit::SelectorRequirement {
                key: r.key.clone(),
                operator: match r.operator {
                    model::SelectorOperator::In => wit::SelectorOperator::In,
                    model::SelectorOperator::NotIn => wit::SelectorOperator::NotIn,
                    model::SelectorOperator::Exists => wit::SelectorOperator::Exists,
                    model::SelectorOperator::DoesNotExist => wit::SelectorOperator::DoesNotExist,
                },
                values: r.values.clone(),
            })
            .collect(),
    }
}

fn selectors(s: &[model::LabelSelector]) -> Vec<wit::LabelSelector> {
    s.iter().map(selector).collect()
}

/// An IPAddressPool as a WIT pool.
pub fn pool(p: &model::AddressPool) -> wit::AddressPool {
    wit::AddressPool {
        name: p.id.name.clone(),
        labels: labels(&p.labels),
        addresses: p
            .addresses
            .iter()
            .map(|b| match b {
                model::AddressBlock::Cidr(n) => wit::AddressBlock::Cidr(prefix_to_wit(*n)),
                model::AddressBlock::Range { first, last } => {
                    wit::AddressBlock::Range(wit::AddressRange { first: ip_to_wit(*first), last: ip_to_wit(*last) })
                }
            })
            .collect(),
        auto_assign: p.auto_assign,
        avoid_buggy_ips: p.avoid_buggy_ips,
        service_allocation: p.service_allocation.as_ref().map(|a| wit::ServiceAllocation {
            priority: a.priority,
            namespaces: a.namespaces.clone(),
            namespace_selectors: selectors(&a.namespace_selectors),
            service_selectors: selectors(&a.service_selectors),
        }),
    }
}

/// The allocator's configuration: every pool and namespace of the model.
pub fn allocator_config(m: &model::Model) -> alloc::AllocatorConfig {
    alloc::AllocatorConfig {
        pools: m.pools.iter().map(pool).collect(),
        namespaces: m
            .namespaces
            .iter()
            .map(|n| wit::NamespaceInfo { name: n.name.clone(), labels: labels(&n.labels) })
            .collect(),
    }
}

fn family(f: model::IpFamily) -> wit::IpFamily {
    match f {
        model::IpFamily::Ipv4 => wit::IpFamily::Ipv4,
        model::IpFamily::Ipv6 => wit::IpFamily::Ipv6,
    }
}

fn traffic_policy(t: model::TrafficPolicy) -> wit::TrafficPolicy {
    match t {
        model::TrafficPolicy::Cluster => wit::TrafficPolicy::Cluster,
        model::TrafficPolicy::Local => wit::TrafficPolicy::Local,
    }
}

/// A Service as the allocator sees it.
pub fn allocator_service(s: &model::Service) -> alloc::Service {
    alloc::Service {
        id: object_ref(&s.id),
        labels: labels(&s.labels),
        ip_families: s.ip_families.iter().copied().map(family).collect(),
        ip_family_policy: match s.ip_family_policy {
            model::IpFamilyPolicy::SingleStack => wit::IpFamilyPolicy::SingleStack,
            model::IpFamilyPolicy::PreferDualStack => wit::IpFamilyPolicy::PreferDualStack,
            model::IpFamilyPolicy::RequireDualStack => wit::IpFamilyPolicy::RequireDualStack,
        },
        requested_pool: s.requested_pool.clone(),
        requested_ips: s.requested_ips.iter().copied().map(ip_to_wit).collect(),
        spec_load_balancer_ip: s.spec_load_balancer_ip.map(ip_to_wit),
        sharing_key: s.sharing_key.clone(),
        ports: s
            .ports
            .iter()
            .map(|p| wit::ServicePort {
                name: p.name.clone(),
                protocol: match p.protocol {
                    model::Protocol::Tcp => wit::Protocol::Tcp,
                    model::Protocol::Udp => wit::Protocol::Udp,
                    model::Protocol::Sctp => wit::Protocol::Sctp,
                },
                port: p.port,
            })
            .collect(),
        traffic_policy: traffic_policy(s.traffic_policy),
        selector: labels(&s.selector),
        current_ips: s.current_ips.iter().copied().map(ip_to_wit).collect(),
    }
}

/// A plugin's allocation as the store keeps it.
pub fn allocation_from_wit(a: &alloc::Allocation) -> ferrolb_store::Allocation {
    ferrolb_store::Allocation {
        service: object_name(&a.service),
        ips: a.ips.iter().map(ip_from_wit).collect(),
        pool: a.pool.clone(),
    }
}

/// A stored allocation as a plugin takes it (`existing` on open).
pub fn allocation_to_wit(a: &ferrolb_store::Allocation) -> alloc::Allocation {
    alloc::Allocation {
        service: object_ref(&model::ObjectRef::parse(&a.service)),
        ips: a.ips.iter().copied().map(ip_to_wit).collect(),
        pool: a.pool.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// advertise

use super::advertise::exports::ferrolb::policy::advertise_policy as adv;

fn dynamic_asn(d: model::DynamicAsn) -> wit::DynamicAsn {
    match d {
        model::DynamicAsn::Internal => wit::DynamicAsn::Internal,
        model::DynamicAsn::External => wit::DynamicAsn::External,
    }
}

/// A node as the policies see it; `live` is the membership protocol's view (without one, the
/// node's Ready condition).
pub fn node(n: &model::Node, live: bool) -> wit::Node {
    wit::Node {
        name: n.name.clone(),
        labels: labels(&n.labels),
        addresses: n.addresses.iter().copied().map(ip_to_wit).collect(),
        conditions: wit::NodeConditions {
            ready: n.conditions.ready,
            network_unavailable: n.conditions.network_unavailable,
        },
        live,
    }
}

/// Every node of the model, live when Ready (what `plan` assumes without a membership protocol).
pub fn nodes(m: &model::Model) -> Vec<wit::Node> {
    m.nodes.iter().map(|n| node(n, n.conditions.ready)).collect()
}

/// The advertise policy's configuration for `local_node`.
pub fn advertise_config(m: &model::Model, local_node: &str) -> adv::AdvertiseConfig {
    adv::AdvertiseConfig {
        local_node: local_node.to_string(),
        nodes: nodes(m),
        pools: m.pools.iter().map(pool).collect(),
        peers: m
            .bgp_peers
            .iter()
            .map(|p| adv::BgpPeer {
                name: p.id.name.clone(),
                my_asn: p.my_asn,
                peer_asn: p.peer_asn,
                dynamic_asn: p.dynamic_asn.map(dynamic_asn),
                address: p.address.map(ip_to_wit),
                interface: p.interface.clone(),
                vrf: p.vrf.clone(),
                node_selectors: selectors(&p.node_selectors),
            })
            .collect(),
        bgp_advertisements: m
            .bgp_advertisements
            .iter()
            .map(|a| adv::BgpAdvertisement {
                id: object_ref(&a.id),
                pools: a.pools.clone(),
                pool_selectors: selectors(&a.pool_selectors),
                aggregation_length: a.aggregation_length,
                aggregation_length_v6: a.aggregation_length_v6,
                local_pref: a.local_pref,
                communities: a.communities.clone(),
                peers: a.peers.clone(),
                node_selectors: selectors(&a.node_selectors),
                service_selectors: selectors(&a.service_selectors),
            })
            .collect(),
        l2_advertisements: m
            .l2_advertisements
            .iter()
            .map(|a| adv::L2Advertisement {
                id: object_ref(&a.id),
                pools: a.pools.clone(),
                pool_selectors: selectors(&a.pool_selectors),
                node_selectors: selectors(&a.node_selectors),
                interfaces: a.interfaces.clone(),
                service_selectors: selectors(&a.service_selectors),
            })
            .collect(),
        communities: m
            .communities
            .iter()
            .map(|c| adv::CommunityAlias {
                defined_by: object_ref(&c.defined_by),
                name: c.name.clone(),
                value: c.value.clone(),
            })
            .collect(),
    }
}

/// A service with its allocation, as the advertise policy sees it.
pub fn advertise_service(s: &model::Service, a: &ferrolb_store::Allocation) -> adv::Service {
    adv::Service {
        id: object_ref(&s.id),
        labels: labels(&s.labels),
        pool: a.pool.clone(),
        ips: a.ips.iter().copied().map(ip_to_wit).collect(),
        traffic_policy: traffic_policy(s.traffic_policy),
        sharing_key: s.sharing_key.clone(),
        endpoints: s
            .endpoints
            .iter()
            .map(|e| wit::Endpoint {
                addresses: e.addresses.iter().copied().map(ip_to_wit).collect(),
                node: e.node.clone(),
                ready: e.ready,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// egress

use super::egress::exports::ferrolb::policy::egress_policy as egr;

/// The endpoints of a Service, as the policies see them.
pub fn endpoints(s: &model::Service) -> Vec<wit::Endpoint> {
    s.endpoints
        .iter()
        .map(|e| wit::Endpoint {
            addresses: e.addresses.iter().copied().map(ip_to_wit).collect(),
            node: e.node.clone(),
            ready: e.ready,
        })
        .collect()
}

/// The egress planner's configuration for `local_node`: the given nodes (the host's liveness view)
/// and every routing table the NodeNetworkConfigurationPolicies name.
pub fn egress_config(m: &model::Model, local_node: &str, nodes: Vec<wit::Node>) -> egr::EgressConfig {
    egr::EgressConfig {
        local_node: local_node.to_string(),
        nodes,
        tables: m.route_tables().into_iter().map(|t| egr::RouteTable { name: t.name, id: t.id }).collect(),
    }
}

/// An EgressService with its LoadBalancer Service, the load-balancer addresses the service holds
/// and the node the host assigned it last time.
pub fn egress_service(
    e: &model::EgressService,
    s: &model::Service,
    load_balancer_ips: &[std::net::IpAddr],
    current_node: Option<&str>,
) -> egr::EgressService {
    egr::EgressService {
        id: object_ref(&e.id),
        source_ip_by: match e.source_ip_by {
            model::SourceIpBy::LoadBalancerIp => egr::SourceIpBy::LoadBalancerIp,
            model::SourceIpBy::Network => egr::SourceIpBy::Network,
        },
        node_selector: selector(&e.node_selector),
        network: e.network.clone(),
        load_balancer_ips: load_balancer_ips.iter().copied().map(ip_to_wit).collect(),
        traffic_policy: traffic_policy(s.traffic_policy),
        endpoints: endpoints(s),
        current_node: current_node.map(str::to_string),
    }
}
