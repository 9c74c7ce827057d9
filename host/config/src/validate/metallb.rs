//! MetalLB objects: IPAddressPool (and the legacy AddressPool), BGPPeer, BGPAdvertisement,
//! L2Advertisement, Community, BFDProfile and the operator's MetalLB CR.
//!
//! The checks follow MetalLB's `internal/config` (`config.go`, `validation.go` in FRR mode, which
//! is the mode whose features ferrolb offers: BFD, VRFs, dynamic ASNs) and the CRD schemas.
//! Deliberate differences, each because the issue or the reference documentation asks for it:
//! references to pools and peers that do not exist are errors (MetalLB ignores them silently), and
//! `keepaliveTime` needs `holdTime` and must be strictly lower (as the OpenShift documentation states).

use super::{Diags, describe, duration_ns, join, ms, selectors, show_duration, unique_names};
use crate::load::{Input, Loaded, ObjInfo};
use crate::model::{
    AddressBlock, AddressPool, BfdProfile, BfdSettings, BgpAdvertisement, BgpPeer, Community, CommunityAlias,
    DynamicAsn, IpFamily, L2Advertisement, LabelSelector, MetalLbSettings, Model, ObjectRef, Origin, PrefixSelector,
    ServiceAllocation,
};
use crate::parse::{self, CommunityError};
use crate::raw::{self, Object, RawObject};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

struct PoolInfo {
    obj: usize,
    pool: AddressPool,
    /// (index in `spec.addresses`, block, shortest prefix length of the block's CIDRs).
    entries: Vec<(usize, AddressBlock, u8)>,
}

/// An advertisement to check: a BGPAdvertisement, or one made from a legacy AddressPool.
struct AdvSource<'a> {
    obj: usize,
    base: String,
    id: ObjectRef,
    origin: Origin,
    spec: std::borrow::Cow<'a, raw::BgpAdvertisementSpec>,
}

struct L2Source<'a> {
    obj: usize,
    id: ObjectRef,
    origin: Origin,
    spec: std::borrow::Cow<'a, raw::L2AdvertisementSpec>,
}

pub(super) fn metallb(d: &mut Diags, input: &Input, objs: &[(usize, &Loaded)], model: &mut Model) {
    // BFD profiles.
    for (i, o) in objs {
        if let RawObject::BfdProfile(b) = &o.raw {
            let settings = bfd_settings(d, *i, "spec", &b.spec);
            model.bfd_profiles.push(BfdProfile { id: o.info.id.clone(), origin: o.info.origin.clone(), settings });
        }
    }
    model.bfd_profiles.sort_unstable_by(|a, b| a.id.cmp(&b.id));

    // Community aliases.
    let mut aliases: HashMap<String, (Community, usize)> = HashMap::new();
    for (i, o) in objs {
        if let RawObject::Community(c) = &o.raw {
            communities(d, *i, &o.info, c, &mut aliases, input, model);
        }
    }
    model.communities.sort_unstable_by(|a, b| a.name.cmp(&b.name));

    // Pools, and the advertisements of legacy AddressPools.
    let mut pools: Vec<PoolInfo> = Vec::new();
    let mut advs: Vec<AdvSource<'_>> = Vec::new();
    let mut l2s: Vec<L2Source<'_>> = Vec::new();
    for (i, o) in objs {
        match &o.raw {
            RawObject::IpAddressPool(p) => {
                pools.push(pool(
                    d,
                    *i,
                    &o.info,
                    p.spec.addresses.as_deref(),
                    p.spec.auto_assign,
                    p.spec.avoid_buggy_ips,
                    p.spec.service_allocation.as_ref(),
                    &p.metadata.labels,
                ));
            }
            RawObject::AddressPool(p) => {
                legacy_pool(d, *i, &o.info, p, &mut pools, &mut advs, &mut l2s);
            }
            RawObject::BgpAdvertisement(a) => advs.push(AdvSource {
                obj: *i,
                base: "spec".into(),
                id: o.info.id.clone(),
                origin: o.info.origin.clone(),
                spec: std::borrow::Cow::Borrowed(&a.spec),
            }),
            RawObject::L2Advertisement(a) => l2s.push(L2Source {
                obj: *i,
                id: o.info.id.clone(),
                origin: o.info.origin.clone(),
                spec: std::borrow::Cow::Borrowed(&a.spec),
            }),
            _ => {}
        }
    }
    pools.sort_by(|a, b| a.pool.id.name.cmp(&b.pool.id.name));
    overlaps(d, input, &pools);

    // Peers.
    let vrf_names: Option<BTreeSet<String>> =
        (!model.network_policies.is_empty()).then(|| model.route_tables().into_iter().map(|t| t.name).collect());
    let mut peers: Vec<(usize, BgpPeer)> = Vec::new();
    for (i, o) in objs {
        let peer = match &o.raw {
            RawObject::BgpPeer(p) => peer(d, *i, &o.info, &p.spec, model, vrf_names.as_ref()),
            RawObject::BgpPeerV1beta1(p) => {
                let s = &p.spec;
                let v2 = raw::BgpPeerSpec {
                    my_asn: s.my_asn,
                    peer_asn: s.peer_asn,
                    peer_address: s.peer_address.clone(),
                    source_address: s.source_address.clone(),
                    peer_port: s.peer_port,
                    hold_time: s.hold_time.clone(),
                    keepalive_time: s.keepalive_time.clone(),
                    router_id: s.router_id.clone(),
                    node_selectors: s.node_selectors.clone(),
                    password: s.password.clone(),
                    bfd_profile: s.bfd_profile.clone(),
                    ebgp_multi_hop: s.ebgp_multi_hop,
                    ..Default::default()
                };
                peer(d, *i, &o.info, &v2, model, vrf_names.as_ref())
            }
            _ => continue,
        };
        peers.push((*i, peer));
    }
    peer_consistency(d, input, &peers);

    // Advertisements.
    let node_names: Option<Vec<&crate::model::Node>> = (!model.nodes.is_empty()).then(|| model.nodes.iter().collect());
    let mut checked: Vec<(usize, BgpAdvertisement, Option<BTreeSet<String>>)> = Vec::new();
    for a in &advs {
        let adv = bgp_advertisement(d, a, &pools, &peers, &aliases);
        let nodes = node_names.as_ref().map(|ns| {
            ns.iter()
                .filter(|n| LabelSelector::any_matches(&adv.node_selectors, &n.labels))
                .map(|n| n.name.clone())
                .collect()
        });
        checked.push((a.obj, adv, nodes));
    }
    local_prefs(d, input, &pools, &checked);
    bfd_echo(d, &pools, &checked, &peers, model);
    for (_, a, _) in checked {
        model.bgp_advertisements.push(a);
    }
    for l in &l2s {
        model.l2_advertisements.push(l2_advertisement(d, l, &pools));
    }
    model.bgp_advertisements.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    model.l2_advertisements.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    model.pools = pools.into_iter().map(|p| p.pool).collect();
    model.bgp_peers = peers.into_iter().map(|(_, p)| p).collect();
    model.bgp_peers.sort_unstable_by(|a, b| a.id.cmp(&b.id));

    // The MetalLB CR.
    let mut first: Option<&ObjInfo> = None;
    for (i, o) in objs {
        if let RawObject::MetalLb(m) = &o.raw {
            if let Some(f) = first {
                d.err(*i, "metadata.name", format!("only one MetalLB object is allowed; {} is another", describe(f)));
                continue;
            }
            first = Some(&o.info);
            model.metallb = Some(metallb_cr(d, *i, &o.info, m));
        }
    }
    namespaces(d, objs, model);
}

/// MetalLB reads its objects from the one namespace it runs in: warn about strays.
fn namespaces(d: &mut Diags, objs: &[(usize, &Loaded)], model: &Model) {
    let is_metallb = |r: &RawObject| {
        matches!(
            r,
            RawObject::IpAddressPool(_)
                | RawObject::AddressPool(_)
                | RawObject::BgpAdvertisement(_)
                | RawObject::L2Advertisement(_)
                | RawObject::Community(_)
                | RawObject::BfdProfile(_)
                | RawObject::BgpPeer(_)
                | RawObject::BgpPeerV1beta1(_)
        )
    };
    // The namespace of the MetalLB CR, else metallb-system if used, else the most used one.
    let home = match &model.metallb {
        Some(m) => m.id.namespace.clone(),
        None => {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for (_, o) in objs.iter().filter(|(_, o)| is_metallb(&o.raw)) {
                *counts.entry(o.info.id.namespace.as_str()).or_default() += 1;
            }
            let mut best: Vec<(&str, usize)> = counts.into_iter().collect();
            best.sort_by(|a, b| {
                (b.0 == "metallb-system").cmp(&(a.0 == "metallb-system")).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0))
            });
            match best.first() {
                Some((ns, _)) => (*ns).to_string(),
                None => return,
            }
        }
    };
    for (i, o) in objs.iter().filter(|(_, o)| is_metallb(&o.raw)) {
        if o.info.id.namespace != home {
            d.warn(
                *i,
                "metadata.namespace",
                format!(
                    "MetalLB reads its objects from the one namespace it runs in: this one is in \"{}\", the others in \"{home}\"",
                    o.info.id.namespace
                ),
            );
        }
    }
}

fn bfd_settings(d: &mut Diags, obj: usize, base: &str, s: &raw::BfdProfileSpec) -> BfdSettings {
    let mut range = |field: &str, v: Option<u32>, lo: u32, hi: u32, unit: &str| {
        if let Some(v) = v
            && !(lo..=hi).contains(&v)
        {
            d.err(obj, join(base, field), format!("{v}{unit} is out of range: must be {lo}..={hi}{unit}"));
        }
        v
    };
    BfdSettings {
        receive_interval: range("receiveInterval", s.receive_interval, 10, 60000, " ms"),
        transmit_interval: range("transmitInterval", s.transmit_interval, 10, 60000, " ms"),
        detect_multiplier: range("detectMultiplier", s.detect_multiplier, 2, 255, ""),
        echo_interval: range("echoInterval", s.echo_interval, 10, 60000, " ms"),
        echo_mode: s.echo_mode,
        passive_mode: s.passive_mode,
        minimum_ttl: range("minimumTtl", s.minimum_ttl, 1, 254, ""),
    }
}

/// The settings of frr-k8s `bfdProfiles[]` (same ranges as MetalLB's BFDProfile).
pub(super) fn frr_bfd_settings(d: &mut Diags, obj: usize, base: &str, s: &raw::FrrBfdProfile) -> BfdSettings {
    let spec = raw::BfdProfileSpec {
        receive_interval: s.receive_interval,
        transmit_interval: s.transmit_interval,
        detect_multiplier: s.detect_multiplier,
        echo_interval: s.echo_interval,
        echo_mode: s.echo_mode,
        passive_mode: s.passive_mode,
        minimum_ttl: s.minimum_ttl,
    };
    bfd_settings(d, obj, base, &spec)
}

fn communities(
    d: &mut Diags,
    obj: usize,
    info: &ObjInfo,
    c: &Object<raw::CommunitySpec>,
    aliases: &mut HashMap<String, (Community, usize)>,
    input: &Input,
    model: &mut Model,
) {
    if c.spec.communities.is_empty() {
        d.warn(obj, "spec.communities", "defines no alias");
    }
    for (j, a) in c.spec.communities.iter().enumerate() {
        let base = format!("spec.communities[{j}]");
        let name = a.name.clone().unwrap_or_default();
        if name.is_empty() {
            d.err(obj, format!("{base}.name"), "name is required");
            continue;
        }
        let value = a.value.clone().unwrap_or_default();
        // An alias that is refused still goes into the model (with a zero community): the model
        // is only handed out unchecked when there are errors, and then it must show a policy the
        // alias exactly as written, so the policy can be seen refusing it too.
        let alias = |community| CommunityAlias {
            defined_by: info.id.clone(),
            origin: info.origin.clone(),
            name: name.clone(),
            value: value.clone(),
            community,
        };
        let community = match parse::parse_community(&value) {
            Ok(c) => c,
            Err(CommunityError::Value(m)) => {
                d.err(obj, format!("{base}.value"), m);
                model.communities.push(alias(Community::Standard(0)));
                continue;
            }
            Err(CommunityError::Format) => {
                d.err(
                    obj,
                    format!("{base}.value"),
                    format!("\"{value}\" is not a community: write a:b (16-bit parts) or large:a:b:c (32-bit parts)"),
                );
                model.communities.push(alias(Community::Standard(0)));
                continue;
            }
        };
        if let Some((_, other)) = aliases.get(&name) {
            let other = &input.objects[*other].info;
            d.err(obj, format!("{base}.name"), format!("alias \"{name}\" is already defined by {}", describe(other)));
            model.communities.push(alias(community));
            continue;
        }
        aliases.insert(name.clone(), (community, obj));
        model.communities.push(alias(community));
    }
}

#[allow(clippy::too_many_arguments)]
fn pool(
    d: &mut Diags,
    obj: usize,
    info: &ObjInfo,
    addresses: Option<&[String]>,
    auto_assign: Option<bool>,
    avoid_buggy_ips: Option<bool>,
    allocation: Option<&raw::ServiceAllocation>,
    labels: &crate::model::Labels,
) -> PoolInfo {
    let mut entries = Vec::new();
    match addresses {
        None | Some([]) => d.err(obj, "spec.addresses", "at least one address range is required"),
        Some(list) => {
            for (j, a) in list.iter().enumerate() {
                match parse::parse_address_block(a) {
                    Ok((block, fixed)) => {
                        if let Some(net) = fixed {
                            d.warn(
                                obj,
                                format!("spec.addresses[{j}]"),
                                format!("\"{a}\" has host bits set: MetalLB uses {net}"),
                            );
                        }
                        let min_len = block.cidrs().iter().map(ipnet::IpNet::prefix_len).min().unwrap_or(0);
                        entries.push((j, block, min_len));
                    }
                    Err(m) => d.err(obj, format!("spec.addresses[{j}]"), m),
                }
            }
        }
    }
    let service_allocation = allocation.map(|a| {
        let namespaces = unique_names(d, obj, "spec.serviceAllocation.namespaces", "namespace", &a.namespaces);
        ServiceAllocation {
            priority: a.priority,
            namespaces,
            namespace_selectors: selectors(d, obj, "spec.serviceAllocation.namespaceSelectors", &a.namespace_selectors),
            service_selectors: selectors(d, obj, "spec.serviceAllocation.serviceSelectors", &a.service_selectors),
        }
    });
    PoolInfo {
        obj,
        pool: AddressPool {
            id: info.id.clone(),
            origin: info.origin.clone(),
            labels: labels.clone(),
            addresses: entries.iter().map(|(_, b, _)| *b).collect(),
            auto_assign: auto_assign.unwrap_or(true),
            avoid_buggy_ips: avoid_buggy_ips.unwrap_or(false),
            service_allocation,
        },
        entries,
    }
}

/// A metallb.io/v1beta1 AddressPool: an IPAddressPool plus the advertisement its `protocol`
/// implies (what MetalLB 0.13 did with these objects).
fn legacy_pool<'a>(
    d: &mut Diags,
    obj: usize,
    info: &ObjInfo,
    p: &'a Object<raw::AddressPoolSpec>,
    pools: &mut Vec<PoolInfo>,
    advs: &mut Vec<AdvSource<'a>>,
    l2s: &mut Vec<L2Source<'a>>,
) {
    let s = &p.spec;
    pools.push(pool(d, obj, info, s.addresses.as_deref(), s.auto_assign, s.avoid_buggy_ips, None, &p.metadata.labels));
    let name = info.id.name.clone();
    match s.protocol.as_deref() {
        Some("bgp") => {
            d.warn(
                obj,
                "kind",
                "AddressPool is deprecated (removed in MetalLB 0.14): read as an IPAddressPool plus a BGPAdvertisement",
            );
            let legacy: Vec<raw::LegacyBgpAdvertisement> = if s.bgp_advertisements.is_empty() {
                vec![raw::LegacyBgpAdvertisement::default()]
            } else {
                s.bgp_advertisements.clone()
            };
            let many = legacy.len() > 1;
            for (j, a) in legacy.into_iter().enumerate() {
                let spec = raw::BgpAdvertisementSpec {
                    aggregation_length: a.aggregation_length,
                    aggregation_length_v6: a.aggregation_length_v6,
                    local_pref: a.local_pref,
                    communities: a.communities,
                    ip_address_pools: vec![name.clone()],
                    ..Default::default()
                };
                advs.push(AdvSource {
                    obj,
                    base: format!("spec.bgpAdvertisements[{j}]"),
                    id: ObjectRef::new(
                        info.id.namespace.clone(),
                        if many { format!("{name}-{j}") } else { name.clone() },
                    ),
                    origin: info.origin.clone(),
                    spec: std::borrow::Cow::Owned(spec),
                });
            }
        }
        Some("layer2") => {
            d.warn(
                obj,
                "kind",
                "AddressPool is deprecated (removed in MetalLB 0.14): read as an IPAddressPool plus an L2Advertisement",
            );
            if !s.bgp_advertisements.is_empty() {
                d.err(obj, "spec.bgpAdvertisements", "bgpAdvertisements apply to the bgp protocol only");
            }
            l2s.push(L2Source {
                obj,
                id: info.id.clone(),
                origin: info.origin.clone(),
                spec: std::borrow::Cow::Owned(raw::L2AdvertisementSpec {
                    ip_address_pools: vec![name],
                    ..Default::default()
                }),
            });
        }
        Some(other) => d.err(obj, "spec.protocol", format!("\"{other}\" is not a protocol: bgp or layer2")),
        None => d.err(obj, "spec.protocol", "protocol is required (bgp or layer2)"),
    }
}

/// Address ranges may not overlap, within a pool or across pools (MetalLB: "CIDR ... overlaps
/// with already defined CIDR"). One sweep over the ranges sorted by first address.
fn overlaps(d: &mut Diags, input: &Input, pools: &[PoolInfo]) {
    // (family, first, last, pool index, entry index)
    let mut ranges: Vec<(IpFamily, u128, u128, usize, usize)> = Vec::new();
    for (pi, p) in pools.iter().enumerate() {
        for (ei, (_, block, _)) in p.entries.iter().enumerate() {
            let (a, b) = block.bounds();
            ranges.push((block.family(), parse::ip_value(a), parse::ip_value(b), pi, ei));
        }
    }
    ranges.sort_unstable_by_key(|a| (a.0, a.1, a.2));
    let mut reported = BTreeSet::new();
    let mut widest: Option<(IpFamily, u128, usize, usize)> = None; // family, last, pool, entry
    for &(fam, first, last, pi, ei) in &ranges {
        if let Some((wfam, wlast, wpi, wei)) = widest
            && wfam == fam
            && first <= wlast
        {
            // The later-defined of the two is the one in error, naming the other.
            let a = (pools[pi].obj, pools[pi].entries[ei].0);
            let b = (pools[wpi].obj, pools[wpi].entries[wei].0);
            let ((subj, subj_pool, subj_entry), (other_pool, other_entry)) =
                if a >= b { ((a, pi, ei), (wpi, wei)) } else { ((b, wpi, wei), (pi, ei)) };
            if reported.insert(subj) {
                let other = &pools[other_pool];
                let other_info = &input.objects[other.obj].info;
                let (oidx, oblock, _) = &other.entries[other_entry];
                let (_, sblock, _) = &pools[subj_pool].entries[subj_entry];
                d.err(
                        subj.0,
                        format!("spec.addresses[{}]", subj.1),
                        format!(
                            "{sblock} overlaps {oblock} (spec.addresses[{oidx}] of {}): address ranges may not overlap, within a pool or across pools",
                            describe(other_info)
                        ),
                    );
            }
            if last > wlast {
                widest = Some((fam, last, pi, ei));
            }
            continue;
        }
        widest = Some((fam, last, pi, ei));
    }
}

fn peer(
    d: &mut Diags,
    obj: usize,
    info: &ObjInfo,
    s: &raw::BgpPeerSpec,
    model: &Model,
    vrf_names: Option<&BTreeSet<String>>,
) -> BgpPeer {
    let my_asn = s.my_asn.unwrap_or(0);
    if my_asn == 0 {
        d.err(obj, "spec.myASN", "myASN is required and may not be 0");
    }
    let peer_asn = s.peer_asn.filter(|a| *a != 0);
    let dynamic_asn = s.dynamic_asn.map(|a| match a {
        raw::DynamicAsn::Internal => DynamicAsn::Internal,
        raw::DynamicAsn::External => DynamicAsn::External,
    });
    match (peer_asn, dynamic_asn) {
        (Some(_), Some(_)) => d.err(obj, "spec.dynamicASN", "peerASN and dynamicASN are mutually exclusive"),
        (None, None) => d.err(obj, "spec.peerASN", "one of peerASN and dynamicASN is required"),
        _ => {}
    }
    let ebgp_multi_hop = s.ebgp_multi_hop.unwrap_or(false);
    if ebgp_multi_hop && peer_asn == Some(my_asn) {
        d.err(obj, "spec.ebgpMultiHop", "ebgpMultiHop is set but the peer is iBGP (peerASN equals myASN)");
    }
    let interface = s.interface.clone().filter(|i| !i.is_empty());
    let address = match (s.peer_address.as_deref().filter(|a| !a.is_empty()), &interface) {
        (Some(_), Some(_)) => {
            d.err(obj, "spec.interface", "peerAddress and interface are mutually exclusive");
            None
        }
        (None, None) => {
            d.err(obj, "spec.peerAddress", "peerAddress is required (or interface, for BGP unnumbered)");
            None
        }
        (Some(a), None) => {
            let ip = parse::parse_ip(a);
            if ip.is_none() {
                d.err(obj, "spec.peerAddress", format!("\"{a}\" is not an IP address"));
            }
            ip
        }
        (None, Some(_)) => None,
    };
    if interface.as_deref().is_some_and(|i| i.contains(['\n', '\r'])) {
        d.err(obj, "spec.interface", "contains a line break");
    }
    let source_address = s.source_address.as_deref().filter(|a| !a.is_empty()).and_then(|a| {
        let ip = parse::parse_ip(a);
        match (ip, address) {
            (None, _) => d.err(obj, "spec.sourceAddress", format!("\"{a}\" is not an IP address")),
            // The documentation says IPv4; for an IPv6 session the source must be IPv6.
            (Some(src), Some(peer)) if IpFamily::of(&src) != IpFamily::of(&peer) => {
                d.err(obj, "spec.sourceAddress", format!("{src} is not of the family of peerAddress {peer}"))
            }
            _ => {}
        }
        ip
    });
    let port = port(d, obj, "spec.peerPort", s.peer_port);
    let (hold, keepalive) = timers(d, obj, "spec", s.hold_time.as_deref(), s.keepalive_time.as_deref(), true);
    let connect = connect_time(d, obj, "spec.connectTime", s.connect_time.as_deref());
    let router_id = s.router_id.as_deref().filter(|r| !r.is_empty()).and_then(|r| match parse::parse_ip(r) {
        Some(ip @ IpAddr::V4(_)) => Some(ip),
        Some(_) => {
            d.err(obj, "spec.routerID", format!("\"{r}\" is not an IPv4 address: a BGP router ID is 32 bits"));
            None
        }
        None => {
            d.err(obj, "spec.routerID", format!("\"{r}\" is not an IPv4 address"));
            None
        }
    });
    let password = s.password.clone().filter(|p| !p.is_empty());
    if password.as_deref().is_some_and(|p| p.contains(['\n', '\r'])) {
        d.err(obj, "spec.password", "contains a line break");
    }
    let password_secret = secret(d, obj, "spec.passwordSecret", s.password_secret.as_ref());
    if password.is_some() && password_secret.is_some() {
        d.err(obj, "spec.passwordSecret", "password and passwordSecret are mutually exclusive");
    }
    let bfd_profile = s.bfd_profile.clone().filter(|b| !b.is_empty());
    if let Some(b) = &bfd_profile
        && model.bfd_profile(b).is_none()
    {
        d.err(obj, "spec.bfdProfile", format!("BFDProfile \"{b}\" is not defined"));
    }
    let vrf = s.vrf.clone().unwrap_or_default();
    if vrf.contains(['\n', '\r']) {
        d.err(obj, "spec.vrf", "contains a line break");
    } else if let Some(names) = vrf_names
        && !vrf.is_empty()
        && !names.contains(&vrf)
    {
        d.warn(
            obj,
            "spec.vrf",
            format!("VRF \"{vrf}\" is not defined by any NodeNetworkConfigurationPolicy: it must exist on the nodes"),
        );
    }
    BgpPeer {
        id: info.id.clone(),
        origin: info.origin.clone(),
        my_asn,
        peer_asn,
        dynamic_asn,
        address,
        interface,
        source_address,
        port,
        hold_time_ms: hold.map(ms),
        keepalive_time_ms: keepalive.map(ms),
        connect_time_ms: connect.map(ms),
        router_id,
        node_selectors: selectors(d, obj, "spec.nodeSelectors", &s.node_selectors),
        password,
        password_secret,
        bfd_profile,
        enable_graceful_restart: s.enable_graceful_restart.unwrap_or(false),
        ebgp_multi_hop,
        vrf,
        disable_mp: s.disable_mp.unwrap_or(false),
        dual_stack_address_family: s.dual_stack_address_family.unwrap_or(false),
    }
}

/// A BGP port: 0..=16384 as the CRDs say, 0 meaning the default 179.
pub(super) fn port(d: &mut Diags, obj: usize, field: &str, p: Option<i64>) -> Option<u16> {
    match p? {
        0 => None,
        p @ 1..=16384 => u16::try_from(p).ok(),
        p => {
            d.err(obj, field, format!("{p} is out of range: must be 0..=16384"));
            None
        }
    }
}

/// A Secret reference: its name (a plain string is accepted, with a warning).
pub(super) fn secret(d: &mut Diags, obj: usize, field: &str, r: Option<&raw::SecretRef>) -> Option<String> {
    let r = r?;
    let name = r.name.clone().filter(|n| !n.is_empty())?;
    if r.as_string {
        d.warn(
            obj,
            field,
            format!("Kubernetes expects an object here ({{name: {name}}}): read \"{name}\" as the Secret's name"),
        );
    }
    Some(name)
}

/// `holdTime` and `keepaliveTime` (nanoseconds). MetalLB's `parseTimers`: the hold time, rounded
/// down to seconds, is 0 or at least 3 s; the documentation adds that keepaliveTime needs holdTime
/// (`require_hold`) and must be lower.
pub(super) fn timers(
    d: &mut Diags,
    obj: usize,
    base: &str,
    hold: Option<&str>,
    keepalive: Option<&str>,
    require_hold: bool,
) -> (Option<i128>, Option<i128>) {
    let h = duration_ns(d, obj, &join(base, "holdTime"), hold);
    let k = duration_ns(d, obj, &join(base, "keepaliveTime"), keepalive);
    if let Some(h) = h {
        let secs = h / 1_000_000_000;
        if secs != 0 && secs < 3 {
            d.err(
                obj,
                join(base, "holdTime"),
                format!("{} is too short: the hold time is 0 (no keepalives) or at least 3s", show_duration(h)),
            );
        }
    }
    match (h, k) {
        (None, Some(_)) if require_hold && hold.is_none() => {
            d.err(obj, join(base, "keepaliveTime"), "keepaliveTime requires holdTime to be set too");
        }
        (Some(h), Some(k)) if k >= h => d.err(
            obj,
            join(base, "keepaliveTime"),
            format!("{} must be lower than holdTime {}", show_duration(k), show_duration(h)),
        ),
        _ => {}
    }
    (h, k)
}

/// `connectTime`: 1 to 65535 whole seconds (the CRD's validation rules).
pub(super) fn connect_time(d: &mut Diags, obj: usize, field: &str, s: Option<&str>) -> Option<i128> {
    let ns = duration_ns(d, obj, field, s)?;
    if ns % 1_000_000_000 != 0 {
        d.err(obj, field, format!("{} is not a whole number of seconds", show_duration(ns)));
    } else if !(1..=65535).contains(&(ns / 1_000_000_000)) {
        d.err(obj, field, format!("{} is out of range: must be 1s..=65535s", show_duration(ns)));
    }
    Some(ns)
}

/// Cross-peer rules of MetalLB in FRR mode (`DiscardNativeOnly`, `peersFor`).
fn peer_consistency(d: &mut Diags, input: &Input, peers: &[(usize, BgpPeer)]) {
    let Some((first_obj, first)) = peers.first() else { return };
    let first_info = &input.objects[*first_obj].info;
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (i, (obj, p)) in peers.iter().enumerate() {
        if i > 0 && p.router_id != first.router_id {
            let show = |r: &Option<IpAddr>| r.map_or_else(|| "unset".to_string(), |r| r.to_string());
            d.err(
                *obj,
                "spec.routerID",
                format!(
                    "routerID is {} but {} on {}: every BGPPeer must have the same routerID",
                    show(&p.router_id),
                    show(&first.router_id),
                    describe(first_info)
                ),
            );
        }
        if let Some((oobj, o)) = peers[..i].iter().find(|(_, o)| o.vrf == p.vrf && o.my_asn != p.my_asn) {
            d.err(
                *obj,
                "spec.myASN",
                format!(
                    "myASN {} differs from myASN {} of {}: every BGPPeer of a VRF must have the same myASN",
                    p.my_asn,
                    o.my_asn,
                    describe(&input.objects[*oobj].info)
                ),
            );
        }
        let target = p.address.map(|a| a.to_string()).or_else(|| p.interface.clone()).unwrap_or_default();
        if target.is_empty() {
            continue;
        }
        if let Some(other) = seen.get(&(target.clone(), p.vrf.clone())) {
            d.err(
                *obj,
                if p.address.is_some() { "spec.peerAddress" } else { "spec.interface" },
                format!(
                    "{} already peers with {target}{}",
                    describe(&input.objects[*other].info),
                    if p.vrf.is_empty() { String::new() } else { format!(" in VRF {}", p.vrf) }
                ),
            );
        } else {
            seen.insert((target, p.vrf.clone()), *obj);
        }
    }
}

/// The pools an advertisement names or selects (all pools when it names none), as indices.
fn selected_pools(
    d: &mut Diags,
    obj: usize,
    base: &str,
    names: &[String],
    sels: &[LabelSelector],
    pools: &[PoolInfo],
) -> Vec<usize> {
    let mut out = BTreeSet::new();
    for (j, n) in names.iter().enumerate() {
        match pools.binary_search_by(|p| p.pool.id.name.as_str().cmp(n)) {
            Ok(i) => {
                out.insert(i);
            }
            Err(_) => d.err(
                obj,
                format!("{}[{j}]", join(base, "ipAddressPools")),
                format!("IPAddressPool \"{n}\" is not defined"),
            ),
        }
    }
    for (j, s) in sels.iter().enumerate() {
        let before = out.len();
        let mut any = false;
        for (i, p) in pools.iter().enumerate() {
            if s.matches(&p.pool.labels) {
                any = true;
                out.insert(i);
            }
        }
        if !any && before == out.len() {
            d.warn(obj, format!("{}[{j}]", join(base, "ipAddressPoolSelectors")), "selects no IPAddressPool");
        }
    }
    if names.is_empty() && sels.is_empty() {
        return (0..pools.len()).collect();
    }
    out.into_iter().collect()
}

fn bgp_advertisement(
    d: &mut Diags,
    a: &AdvSource<'_>,
    pools: &[PoolInfo],
    peers: &[(usize, BgpPeer)],
    aliases: &HashMap<String, (Community, usize)>,
) -> BgpAdvertisement {
    let (obj, base, s) = (a.obj, a.base.as_str(), &a.spec);
    let pool_names = unique_names(d, obj, &join(base, "ipAddressPools"), "pool", &s.ip_address_pools);
    let pool_selectors = selectors(d, obj, &join(base, "ipAddressPoolSelectors"), &s.ip_address_pool_selectors);
    let node_selectors = selectors(d, obj, &join(base, "nodeSelectors"), &s.node_selectors);
    let service_selectors = selectors(d, obj, &join(base, "serviceSelectors"), &s.service_selectors);
    let peer_names = unique_names(d, obj, &join(base, "peers"), "peer", &s.peers);
    for (j, p) in peer_names.iter().enumerate() {
        if !peers.iter().any(|(_, x)| &x.id.name == p) {
            d.err(obj, format!("{}[{j}]", join(base, "peers")), format!("BGPPeer \"{p}\" is not defined"));
        }
    }

    let agg = |d: &mut Diags, field: &str, v: Option<i32>, lo: i32, hi: i32| -> Option<u8> {
        let v = v?;
        if (lo..=hi).contains(&v) {
            u8::try_from(v).ok()
        } else {
            d.err(obj, join(base, field), format!("{v} is out of range: must be {lo}..={hi}"));
            None
        }
    };
    let aggregation_length = agg(d, "aggregationLength", s.aggregation_length, 1, 32);
    let aggregation_length_v6 = agg(d, "aggregationLengthV6", s.aggregation_length_v6, 0, 128);
    if !service_selectors.is_empty() {
        if aggregation_length.is_some_and(|l| l != 32) {
            d.err(
                obj,
                join(base, "aggregationLength"),
                "serviceSelectors and aggregationLength are mutually exclusive",
            );
        }
        if aggregation_length_v6.is_some_and(|l| l != 128) {
            d.err(
                obj,
                join(base, "aggregationLengthV6"),
                "serviceSelectors and aggregationLengthV6 are mutually exclusive",
            );
        }
    }

    // MetalLB's validateBGPAdvPerPool: the aggregation length may not be shorter than any prefix
    // of the pool's address ranges, or the route would cover addresses outside the pool.
    let selected = selected_pools(d, obj, base, &pool_names, &pool_selectors, pools);
    let (len4, len6) = (aggregation_length.unwrap_or(32), aggregation_length_v6.unwrap_or(128));
    for &pi in &selected {
        let p = &pools[pi];
        for fam in [IpFamily::Ipv4, IpFamily::Ipv6] {
            let (len, field) =
                if fam == IpFamily::Ipv4 { (len4, "aggregationLength") } else { (len6, "aggregationLengthV6") };
            if let Some((j, block, min)) = p.entries.iter().find(|(_, b, min)| b.family() == fam && len < *min) {
                d.err(
                    obj,
                    join(base, field),
                    format!(
                        "{len} is shorter than the /{min} of {block} (spec.addresses[{j}] of IPAddressPool \"{}\"): the aggregated route would cover addresses outside the pool",
                        p.pool.id.name
                    ),
                );
            }
        }
    }

    let communities = s.communities.clone();
    let mut resolved = BTreeSet::new();
    let mut seen = Vec::new();
    for (j, c) in communities.iter().enumerate() {
        let field = format!("{}[{j}]", join(base, "communities"));
        if seen.contains(c) {
            d.err(obj, &field, format!("duplicate community \"{c}\""));
            continue;
        }
        seen.push(c.clone());
        if let Some((v, _)) = aliases.get(c) {
            resolved.insert(*v);
            continue;
        }
        match parse::parse_community(c) {
            Ok(v) => {
                resolved.insert(v);
            }
            Err(CommunityError::Value(m)) => d.err(obj, &field, m),
            Err(CommunityError::Format) => d.err(
                obj,
                &field,
                format!(
                    "\"{c}\" is neither a community (a:b with 16-bit parts, or large:a:b:c with 32-bit parts) nor an alias defined by a Community object"
                ),
            ),
        }
    }
    BgpAdvertisement {
        id: a.id.clone(),
        origin: a.origin.clone(),
        pools: pool_names,
        pool_selectors,
        aggregation_length,
        aggregation_length_v6,
        local_pref: s.local_pref,
        communities,
        resolved_communities: resolved.into_iter().collect(),
        peers: peer_names,
        node_selectors,
        service_selectors,
    }
}

fn l2_advertisement(d: &mut Diags, a: &L2Source<'_>, pools: &[PoolInfo]) -> L2Advertisement {
    let (obj, s) = (a.obj, &a.spec);
    let pool_names = unique_names(d, obj, "spec.ipAddressPools", "pool", &s.ip_address_pools);
    let pool_selectors = selectors(d, obj, "spec.ipAddressPoolSelectors", &s.ip_address_pool_selectors);
    selected_pools(d, obj, "spec", &pool_names, &pool_selectors, pools);
    L2Advertisement {
        id: a.id.clone(),
        origin: a.origin.clone(),
        pools: pool_names,
        pool_selectors,
        node_selectors: selectors(d, obj, "spec.nodeSelectors", &s.node_selectors),
        interfaces: unique_names(d, obj, "spec.interfaces", "interface", &s.interfaces),
        service_selectors: selectors(d, obj, "spec.serviceSelectors", &s.service_selectors),
    }
}

/// MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref`: two advertisements of the same pool
/// (without service selectors) that send the same prefixes to the same peers from the same nodes
/// must agree on localPref.
fn local_prefs(
    d: &mut Diags,
    input: &Input,
    pools: &[PoolInfo],
    advs: &[(usize, BgpAdvertisement, Option<BTreeSet<String>>)],
) {
    let mut per_pool: Vec<Vec<usize>> = vec![Vec::new(); pools.len()];
    for (ai, (_, a, _)) in advs.iter().enumerate() {
        if !a.service_selectors.is_empty() {
            continue;
        }
        for (pi, p) in pools.iter().enumerate() {
            let selected = (a.pools.is_empty() && a.pool_selectors.is_empty())
                || a.pools.contains(&p.pool.id.name)
                || a.pool_selectors.iter().any(|s| s.matches(&p.pool.labels));
            if selected {
                per_pool[pi].push(ai);
            }
        }
    }
    let mut reported = BTreeSet::new();
    for (pi, list) in per_pool.iter().enumerate() {
        let p = &pools[pi];
        let has4 = p.entries.iter().any(|(_, b, _)| b.family() == IpFamily::Ipv4);
        let has6 = p.entries.iter().any(|(_, b, _)| b.family() == IpFamily::Ipv6);
        for (k, &bi) in list.iter().enumerate() {
            for &ai in &list[..k] {
                let (aobj, a, anodes) = &advs[ai];
                let (bobj, b, bnodes) = &advs[bi];
                if a.local_pref.unwrap_or(0) == b.local_pref.unwrap_or(0) {
                    continue;
                }
                let (a4, b4) = (a.aggregation_length.unwrap_or(32), b.aggregation_length.unwrap_or(32));
                let (a6, b6) = (a.aggregation_length_v6.unwrap_or(128), b.aggregation_length_v6.unwrap_or(128));
                // MetalLB's isAggrLengthDifferent, simplified: the routes differ unless a family the pool
                // has is aggregated to the same length by both.
                let aggr_differ = !((has4 && a4 == b4) || (has6 && a6 == b6));
                if aggr_differ {
                    continue;
                }
                if !a.peers.is_empty() && !b.peers.is_empty() && !a.peers.iter().any(|x| b.peers.contains(x)) {
                    continue;
                }
                let nodes_meet = match (anodes, bnodes) {
                    (Some(x), Some(y)) => x.intersection(y).next().is_some(),
                    // Without Node objects, selectors are compared as written: two non-empty lists
                    // with no selector in common are taken to select different nodes.
                    _ => {
                        a.node_selectors.is_empty()
                            || b.node_selectors.is_empty()
                            || a.node_selectors.iter().any(|s| b.node_selectors.contains(s))
                    }
                };
                if !nodes_meet || !reported.insert((*bobj, b.id.clone())) {
                    continue;
                }
                d.err(
                    *bobj,
                    "spec.localPref",
                    format!(
                        "localPref {} conflicts with localPref {} of {} for IPAddressPool \"{}\": both announce the same prefixes to the same peers from the same nodes",
                        b.local_pref.unwrap_or(0),
                        a.local_pref.unwrap_or(0),
                        describe(&input.objects[*aobj].info),
                        p.pool.id.name
                    ),
                );
            }
        }
    }
}

/// MetalLB's `validateConfig`: a BFD profile with echo mode cannot serve a peer that gets IPv6
/// routes.
fn bfd_echo(
    d: &mut Diags,
    pools: &[PoolInfo],
    advs: &[(usize, BgpAdvertisement, Option<BTreeSet<String>>)],
    peers: &[(usize, BgpPeer)],
    model: &Model,
) {
    let echo = |p: &BgpPeer| {
        p.bfd_profile.as_deref().and_then(|b| model.bfd_profile(b)).is_some_and(|b| b.settings.echo_mode == Some(true))
    };
    if !peers.iter().any(|(_, p)| echo(p)) {
        return;
    }
    for (obj, a, _) in advs {
        let v6_pool = pools.iter().find(|p| {
            let selected = (a.pools.is_empty() && a.pool_selectors.is_empty())
                || a.pools.contains(&p.pool.id.name)
                || a.pool_selectors.iter().any(|s| s.matches(&p.pool.labels));
            selected && p.entries.iter().any(|(_, b, _)| b.family() == IpFamily::Ipv6)
        });
        let Some(pool) = v6_pool else { continue };
        for (_, p) in peers {
            if (a.peers.is_empty() || a.peers.contains(&p.id.name)) && echo(p) {
                d.err(
                    *obj,
                    "spec.peers",
                    format!(
                        "advertises the IPv6 addresses of IPAddressPool \"{}\" to BGPPeer \"{}\", whose BFD profile \"{}\" enables echo mode: BFD echo is not possible with IPv6",
                        pool.pool.id.name,
                        p.id.name,
                        p.bfd_profile.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
    }
}

fn metallb_cr(d: &mut Diags, obj: usize, info: &ObjInfo, m: &Object<raw::MetalLbSpec>) -> MetalLbSettings {
    let s = &m.spec;
    if let Some(b) = s.bgp_backend.as_deref()
        && !matches!(b, "native" | "frr" | "frr-k8s" | "frr-k8s-external")
    {
        d.err(
            obj,
            "spec.bgpBackend",
            format!("\"{b}\" is not a BGP backend: native, frr, frr-k8s or frr-k8s-external"),
        );
    }
    if let Some(l) = s.log_level.as_deref()
        && !matches!(l, "all" | "debug" | "info" | "warn" | "error" | "none")
    {
        d.err(obj, "spec.logLevel", format!("\"{l}\" is not a log level: all, debug, info, warn, error or none"));
    }
    super::check_labels(d, obj, "spec.nodeSelector", &s.node_selector);
    let mut always_block = Vec::new();
    if let Some(f) = &s.frrk8s_config {
        for (j, p) in f.always_block.iter().enumerate() {
            match parse::parse_cidr(p) {
                Ok((net, host_bits)) => {
                    if host_bits {
                        d.warn(
                            obj,
                            format!("spec.frrk8sConfig.alwaysBlock[{j}]"),
                            format!("\"{p}\" has host bits set: read as {net}"),
                        );
                    }
                    always_block.push(PrefixSelector { prefix: net, ge: None, le: None });
                }
                Err(e) => d.err(obj, format!("spec.frrk8sConfig.alwaysBlock[{j}]"), e),
            }
        }
    }
    MetalLbSettings {
        id: info.id.clone(),
        origin: info.origin.clone(),
        bgp_backend: s.bgp_backend.clone(),
        log_level: s.log_level.clone(),
        speaker_node_selector: s.node_selector.clone(),
        always_block,
    }
}
