//! The WIT glue of the advertise policy: WIT records to the core's types and back, and the
//! `advertiser` resource. Shared verbatim (`#[path]`) by test plugins that reuse the default
//! policy with a deliberate bug injected through the configuration hook (`crate::adjust`).

use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bindings::exports::ferrolb::policy::advertise_policy::{
    AdvertiseConfig, Advertiser, BgpAdvertisement, BgpPeer, BgpRoute, CommunityAlias, ConfigError, Guest as Policy,
    GuestAdvertiser, L2Advertisement, L2Announcement, Node, OpenError, PolicyError, Service, ServiceAnnouncements,
};
use crate::bindings::exports::ferrolb::policy::types as wit;
use ferrolb_advertise_core as core_adv;

impl Policy for crate::Plugin {
    type Advertiser = State;
}

/// The `advertiser` resource: the core advertiser behind a `RefCell` (`update-nodes` needs to
/// mutate it through `&self`; calls into one instance never overlap).
pub(crate) struct State {
    inner: RefCell<core_adv::Advertiser>,
}

/// The message for the (impossible) case of a re-entrant call.
const BUSY: &str = "the advertiser state is already in use by another call";

impl GuestAdvertiser for State {
    fn open(config: AdvertiseConfig) -> Result<Advertiser, OpenError> {
        match core_adv::Advertiser::open(&crate::adjust(config_in(config))) {
            Ok(a) => Ok(Advertiser::new(State { inner: RefCell::new(a) })),
            Err(core_adv::OpenError::Config(errors)) => Err(OpenError::Config(
                errors
                    .into_iter()
                    .map(|e| ConfigError {
                        objects: e.objects.into_iter().map(object_ref_out).collect(),
                        field: e.field,
                        reason: e.reason,
                    })
                    .collect(),
            )),
            Err(core_adv::OpenError::InvalidInput(e)) => Err(OpenError::Policy(PolicyError::InvalidInput(e.0))),
        }
    }

    fn update_nodes(&self, nodes: Vec<Node>) {
        let nodes: Vec<core_adv::Node> = nodes.into_iter().map(node_in).collect();
        if let Ok(mut a) = self.inner.try_borrow_mut() {
            a.update_nodes(&nodes);
        }
    }

    fn announce(&self, svc: Service) -> Result<ServiceAnnouncements, PolicyError> {
        let Ok(a) = self.inner.try_borrow() else { return Err(PolicyError::Failed(BUSY.to_string())) };
        Ok(announcements_out(a.announce_grouped(&service_in(svc))))
    }
}

// ---- WIT → core --------------------------------------------------------------------------------

fn ip_in(a: wit::IpAddress) -> IpAddr {
    match a {
        wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

fn prefix_in(p: wit::IpPrefix) -> core_adv::Prefix {
    core_adv::Prefix { address: ip_in(p.address), prefix_len: p.prefix_len }
}

fn object_ref_in(r: wit::ObjectRef) -> core_adv::ObjectRef {
    core_adv::ObjectRef { namespace: r.namespace, name: r.name }
}

fn labels_in(l: Vec<wit::Label>) -> Vec<core_adv::Label> {
    l.into_iter().map(|l| core_adv::Label { key: l.key, value: l.value }).collect()
}

fn selector_in(s: wit::LabelSelector) -> core_adv::LabelSelector {
    core_adv::LabelSelector {
        match_labels: labels_in(s.match_labels),
        match_expressions: s
            .match_expressions
            .into_iter()
            .map(|r| core_adv::SelectorRequirement {
                key: r.key,
                operator: match r.operator {
                    wit::SelectorOperator::In => core_adv::SelectorOperator::In,
                    wit::SelectorOperator::NotIn => core_adv::SelectorOperator::NotIn,
                    wit::SelectorOperator::Exists => core_adv::SelectorOperator::Exists,
                    wit::SelectorOperator::DoesNotExist => core_adv::SelectorOperator::DoesNotExist,
                },
                values: r.values,
            })
            .collect(),
    }
}

fn selectors_in(s: Vec<wit::LabelSelector>) -> Vec<core_adv::LabelSelector> {
    s.into_iter().map(selector_in).collect()
}

fn node_in(n: wit::Node) -> core_adv::Node {
    core_adv::Node {
        name: n.name,
        labels: labels_in(n.labels),
        addresses: n.addresses.into_iter().map(ip_in).collect(),
        ready: n.conditions.ready,
        network_unavailable: n.conditions.network_unavailable,
        live: n.live,
    }
}

fn pool_in(p: wit::AddressPool) -> core_adv::AddressPool {
    core_adv::AddressPool {
        name: p.name,
        labels: labels_in(p.labels),
        addresses: p
            .addresses
            .into_iter()
            .map(|b| match b {
                wit::AddressBlock::Cidr(p) => core_adv::AddressBlock::Cidr(prefix_in(p)),
                wit::AddressBlock::Range(r) => {
                    core_adv::AddressBlock::Range { first: ip_in(r.first), last: ip_in(r.last) }
                }
            })
            .collect(),
    }
}

fn peer_in(p: BgpPeer) -> core_adv::BgpPeer {
    core_adv::BgpPeer {
        name: p.name,
        my_asn: p.my_asn,
        peer_asn: p.peer_asn,
        dynamic_asn: p.dynamic_asn.map(|d| match d {
            wit::DynamicAsn::Internal => core_adv::DynamicAsn::Internal,
            wit::DynamicAsn::External => core_adv::DynamicAsn::External,
        }),
        address: p.address.map(ip_in),
        interface: p.interface,
        vrf: p.vrf,
        node_selectors: selectors_in(p.node_selectors),
    }
}

fn bgp_advertisement_in(a: BgpAdvertisement) -> core_adv::BgpAdvertisement {
    core_adv::BgpAdvertisement {
        id: object_ref_in(a.id),
        pools: a.pools,
        pool_selectors: selectors_in(a.pool_selectors),
        aggregation_length: a.aggregation_length,
        aggregation_length_v6: a.aggregation_length_v6,
        local_pref: a.local_pref,
        communities: a.communities,
        peers: a.peers,
        node_selectors: selectors_in(a.node_selectors),
        service_selectors: selectors_in(a.service_selectors),
    }
}

fn l2_advertisement_in(a: L2Advertisement) -> core_adv::L2Advertisement {
    core_adv::L2Advertisement {
        id: object_ref_in(a.id),
        pools: a.pools,
        pool_selectors: selectors_in(a.pool_selectors),
        node_selectors: selectors_in(a.node_selectors),
        interfaces: a.interfaces,
        service_selectors: selectors_in(a.service_selectors),
    }
}

fn alias_in(a: CommunityAlias) -> core_adv::CommunityAlias {
    core_adv::CommunityAlias { defined_by: object_ref_in(a.defined_by), name: a.name, value: a.value }
}

fn config_in(c: AdvertiseConfig) -> core_adv::Config {
    core_adv::Config {
        local_node: c.local_node,
        nodes: c.nodes.into_iter().map(node_in).collect(),
        pools: c.pools.into_iter().map(pool_in).collect(),
        peers: c.peers.into_iter().map(peer_in).collect(),
        bgp_advertisements: c.bgp_advertisements.into_iter().map(bgp_advertisement_in).collect(),
        l2_advertisements: c.l2_advertisements.into_iter().map(l2_advertisement_in).collect(),
        communities: c.communities.into_iter().map(alias_in).collect(),
    }
}

fn service_in(s: Service) -> core_adv::Service {
    core_adv::Service {
        id: object_ref_in(s.id),
        labels: labels_in(s.labels),
        pool: s.pool,
        ips: s.ips.into_iter().map(ip_in).collect(),
        traffic_policy: match s.traffic_policy {
            wit::TrafficPolicy::Cluster => core_adv::TrafficPolicy::Cluster,
            wit::TrafficPolicy::Local => core_adv::TrafficPolicy::Local,
        },
        sharing_key: s.sharing_key,
        endpoints: s
            .endpoints
            .into_iter()
            .map(|e| core_adv::Endpoint {
                addresses: e.addresses.into_iter().map(ip_in).collect(),
                node: e.node,
                ready: e.ready,
            })
            .collect(),
    }
}

// ---- core → WIT --------------------------------------------------------------------------------

fn ip_out(a: IpAddr) -> wit::IpAddress {
    match a {
        IpAddr::V4(x) => {
            let [a, b, c, d] = x.octets();
            wit::IpAddress::Ipv4((a, b, c, d))
        }
        IpAddr::V6(x) => {
            let [a, b, c, d, e, f, g, h] = x.segments();
            wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h))
        }
    }
}

fn object_ref_out(r: core_adv::ObjectRef) -> wit::ObjectRef {
    wit::ObjectRef { namespace: r.namespace, name: r.name }
}

fn community_out(c: core_adv::Community) -> wit::Community {
    match c {
        core_adv::Community::Standard(v) => wit::Community::Standard(v),
        core_adv::Community::Large(a, b, c) => wit::Community::Large((a, b, c)),
    }
}

fn announcements_out(a: core_adv::ServiceAnnouncements<core_adv::RouteGroup>) -> ServiceAnnouncements {
    ServiceAnnouncements {
        service: object_ref_out(a.service),
        bgp: a
            .bgp
            .into_iter()
            .map(|r| BgpRoute {
                // Indices into lists the host gave us: they fit (a list's length is a u32).
                peers: r.peers.into_iter().map(|p| p as u32).collect(),
                prefix: wit::IpPrefix { address: ip_out(r.prefix.address), prefix_len: r.prefix.prefix_len },
                local_pref: r.local_pref,
                communities: r.communities.into_iter().map(community_out).collect(),
                advertisement: r.advertisement as u32,
            })
            .collect(),
        l2: a
            .l2
            .into_iter()
            .map(|l| L2Announcement {
                ip: ip_out(l.ip),
                node: l.node,
                interfaces: l.interfaces,
                advertisement: object_ref_out(l.advertisement),
            })
            .collect(),
        refusals: a.refusals,
    }
}
