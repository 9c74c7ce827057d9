//! The WIT glue of the merge policy: the conversions between the WIT records and the core's
//! types around `ferrolb_merge_core::Merger`.
//!
//! Kept apart from `lib.rs` so that a test plugin (`plugins/hostile/sloppy-merge`) can reuse it
//! verbatim with its own source hook (`crate::adjust`) and metadata.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Plugin;
use crate::bindings::exports::ferrolb::policy::merge_policy as wm;
use crate::bindings::exports::ferrolb::policy::types as wit;
use ferrolb_merge_core as core_merge;

impl wm::Guest for Plugin {
    fn merge(input: wm::MergeInput) -> Result<wm::MergedConfig, wm::MergeError> {
        let node = core_merge::Node { name: input.node.name, labels: labels_in(input.node.labels) };
        let always_block = input.always_block.into_iter().map(selector_prefix_in).collect();
        let mut merger = core_merge::Merger::new(&node, always_block);
        for source in input.sources {
            merger.add(crate::adjust(source_in(source)));
        }
        // Neighbors are converted as the merger produces them: never two copies of all of them.
        match merger.finish_map(neighbor_out) {
            Ok((m, neighbors)) => Ok(merged_out(m, neighbors)),
            Err(core_merge::MergeError::Conflicts(c)) => {
                Err(wm::MergeError::Conflicts(c.into_iter().map(conflict_out).collect()))
            }
            Err(core_merge::MergeError::InvalidInput(m)) => {
                Err(wm::MergeError::Policy(wm::PolicyError::InvalidInput(m)))
            }
        }
    }
}

// ---- WIT → core --------------------------------------------------------------------------------

fn ip_in(a: wit::IpAddress) -> IpAddr {
    match a {
        wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

fn prefix_in(p: wit::IpPrefix) -> core_merge::Prefix {
    core_merge::Prefix::new(ip_in(p.address), p.prefix_len)
}

fn prefixes_in(p: Vec<wit::IpPrefix>) -> Vec<core_merge::Prefix> {
    p.into_iter().map(prefix_in).collect()
}

fn selector_prefix_in(s: wm::PrefixSelector) -> core_merge::PrefixSelector {
    core_merge::PrefixSelector { prefix: prefix_in(s.prefix), ge: s.ge, le: s.le }
}

fn labels_in(l: Vec<wit::Label>) -> Vec<core_merge::Label> {
    l.into_iter().map(|l| core_merge::Label { key: l.key, value: l.value }).collect()
}

fn label_selector_in(s: wit::LabelSelector) -> core_merge::LabelSelector {
    core_merge::LabelSelector {
        match_labels: labels_in(s.match_labels),
        match_expressions: s
            .match_expressions
            .into_iter()
            .map(|r| core_merge::SelectorRequirement {
                key: r.key,
                operator: match r.operator {
                    wit::SelectorOperator::In => core_merge::SelectorOperator::In,
                    wit::SelectorOperator::NotIn => core_merge::SelectorOperator::NotIn,
                    wit::SelectorOperator::Exists => core_merge::SelectorOperator::Exists,
                    wit::SelectorOperator::DoesNotExist => core_merge::SelectorOperator::DoesNotExist,
                },
                values: r.values,
            })
            .collect(),
    }
}

fn mode_in(m: wm::FilterMode) -> core_merge::FilterMode {
    match m {
        wm::FilterMode::Filtered => core_merge::FilterMode::Filtered,
        wm::FilterMode::All => core_merge::FilterMode::All,
    }
}

fn community_in(c: wit::Community) -> core_merge::Community {
    match c {
        wit::Community::Standard(v) => core_merge::Community::Standard(v),
        wit::Community::Large((a, b, c)) => core_merge::Community::Large(a, b, c),
    }
}

fn neighbor_in(n: wm::Neighbor) -> core_merge::Neighbor {
    let adv = n.to_advertise;
    let recv = n.to_receive;
    core_merge::Neighbor {
        address: n.address.map(ip_in),
        interface: n.interface,
        asn: n.asn,
        dynamic_asn: n.dynamic_asn.map(|d| match d {
            wit::DynamicAsn::Internal => core_merge::DynamicAsn::Internal,
            wit::DynamicAsn::External => core_merge::DynamicAsn::External,
        }),
        port: n.port,
        source_address: n.source_address.map(ip_in),
        password: n.password,
        password_secret: n.password_secret,
        hold_time: n.hold_time,
        keepalive_time: n.keepalive_time,
        connect_time: n.connect_time,
        ebgp_multi_hop: n.ebgp_multi_hop,
        bfd_profile: n.bfd_profile,
        enable_graceful_restart: n.enable_graceful_restart,
        disable_mp: n.disable_mp,
        to_advertise: core_merge::AdvertiseFilter {
            mode: adv.mode.map(mode_in),
            prefixes: prefixes_in(adv.prefixes),
            with_community: adv
                .with_community
                .into_iter()
                .map(|c| core_merge::CommunityPrefixes {
                    community: community_in(c.community),
                    prefixes: prefixes_in(c.prefixes),
                })
                .collect(),
            with_local_pref: adv
                .with_local_pref
                .into_iter()
                .map(|l| core_merge::LocalPrefPrefixes { local_pref: l.local_pref, prefixes: prefixes_in(l.prefixes) })
                .collect(),
        },
        to_receive: core_merge::ReceiveFilter {
            mode: recv.mode.map(mode_in),
            prefixes: recv.prefixes.into_iter().map(selector_prefix_in).collect(),
        },
    }
}

fn source_in(s: wm::ConfigSource) -> core_merge::ConfigSource {
    core_merge::ConfigSource {
        origin: core_merge::ObjectRef { namespace: s.origin.namespace, name: s.origin.name },
        node_selector: label_selector_in(s.node_selector),
        config: core_merge::RouterConfig {
            routers: s
                .config
                .routers
                .into_iter()
                .map(|r| core_merge::Router {
                    asn: r.asn,
                    id: r.id.map(ip_in),
                    vrf: r.vrf,
                    prefixes: prefixes_in(r.prefixes),
                    neighbors: r.neighbors.into_iter().map(neighbor_in).collect(),
                    imports: r.imports,
                })
                .collect(),
            bfd_profiles: s
                .config
                .bfd_profiles
                .into_iter()
                .map(|p| core_merge::BfdProfile {
                    name: p.name,
                    receive_interval: p.receive_interval,
                    transmit_interval: p.transmit_interval,
                    detect_multiplier: p.detect_multiplier,
                    echo_interval: p.echo_interval,
                    echo_mode: p.echo_mode,
                    passive_mode: p.passive_mode,
                    minimum_ttl: p.minimum_ttl,
                })
                .collect(),
        },
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

fn prefix_out(p: core_merge::Prefix) -> wit::IpPrefix {
    wit::IpPrefix { address: ip_out(p.addr), prefix_len: p.len }
}

fn prefixes_out(p: Vec<core_merge::Prefix>) -> Vec<wit::IpPrefix> {
    p.into_iter().map(prefix_out).collect()
}

fn selector_prefix_out(s: core_merge::PrefixSelector) -> wm::PrefixSelector {
    wm::PrefixSelector { prefix: prefix_out(s.prefix), ge: s.ge, le: s.le }
}

fn object_out(o: core_merge::ObjectRef) -> wit::ObjectRef {
    wit::ObjectRef { namespace: o.namespace, name: o.name }
}

fn mode_out(m: core_merge::FilterMode) -> wm::FilterMode {
    match m {
        core_merge::FilterMode::Filtered => wm::FilterMode::Filtered,
        core_merge::FilterMode::All => wm::FilterMode::All,
    }
}

fn neighbor_out(n: core_merge::Neighbor) -> wm::Neighbor {
    let adv = n.to_advertise;
    wm::Neighbor {
        address: n.address.map(ip_out),
        interface: n.interface,
        asn: n.asn,
        dynamic_asn: n.dynamic_asn.map(|d| match d {
            core_merge::DynamicAsn::Internal => wit::DynamicAsn::Internal,
            core_merge::DynamicAsn::External => wit::DynamicAsn::External,
        }),
        port: n.port,
        source_address: n.source_address.map(ip_out),
        password: n.password,
        password_secret: n.password_secret,
        hold_time: n.hold_time,
        keepalive_time: n.keepalive_time,
        connect_time: n.connect_time,
        ebgp_multi_hop: n.ebgp_multi_hop,
        bfd_profile: n.bfd_profile,
        enable_graceful_restart: n.enable_graceful_restart,
        disable_mp: n.disable_mp,
        to_advertise: wm::AdvertiseFilter {
            mode: adv.mode.map(mode_out),
            prefixes: prefixes_out(adv.prefixes),
            with_community: adv
                .with_community
                .into_iter()
                .map(|c| wm::CommunityPrefixes {
                    community: match c.community {
                        core_merge::Community::Standard(v) => wit::Community::Standard(v),
                        core_merge::Community::Large(a, b, c) => wit::Community::Large((a, b, c)),
                    },
                    prefixes: prefixes_out(c.prefixes),
                })
                .collect(),
            with_local_pref: adv
                .with_local_pref
                .into_iter()
                .map(|l| wm::LocalPrefPrefixes { local_pref: l.local_pref, prefixes: prefixes_out(l.prefixes) })
                .collect(),
        },
        to_receive: wm::ReceiveFilter {
            mode: n.to_receive.mode.map(mode_out),
            prefixes: n.to_receive.prefixes.into_iter().map(selector_prefix_out).collect(),
        },
    }
}

fn merged_out(m: core_merge::MergedConfig, neighbors: Vec<Vec<wm::Neighbor>>) -> wm::MergedConfig {
    wm::MergedConfig {
        config: wm::RouterConfig {
            routers: m
                .config
                .routers
                .into_iter()
                .zip(neighbors)
                .map(|(r, neighbors)| wm::Router {
                    asn: r.asn,
                    id: r.id.map(ip_out),
                    vrf: r.vrf,
                    prefixes: prefixes_out(r.prefixes),
                    neighbors,
                    imports: r.imports,
                })
                .collect(),
            bfd_profiles: m
                .config
                .bfd_profiles
                .into_iter()
                .map(|p| wm::BfdProfile {
                    name: p.name,
                    receive_interval: p.receive_interval,
                    transmit_interval: p.transmit_interval,
                    detect_multiplier: p.detect_multiplier,
                    echo_interval: p.echo_interval,
                    echo_mode: p.echo_mode,
                    passive_mode: p.passive_mode,
                    minimum_ttl: p.minimum_ttl,
                })
                .collect(),
        },
        applied: m.applied.into_iter().map(object_out).collect(),
        always_block: m.always_block.into_iter().map(selector_prefix_out).collect(),
    }
}

fn conflict_out(c: core_merge::Conflict) -> wm::Conflict {
    wm::Conflict { objects: c.objects.into_iter().map(object_out).collect(), field: c.field, reason: c.reason }
}
