//! frr-k8s FRRConfiguration objects, checked one by one as frr-k8s' webhook does (`apiToFRR` on
//! the configuration alone). Conflicts *between* configurations (different ASNs for one router,
//! ...) are the merge policy's business, not this module's.

use super::metallb::{connect_time, frr_bfd_settings, port, secret, timers};
use super::{Diags, join, ms, selector};
use crate::load::Loaded;
use crate::model::{
    AdvertiseFilter, CommunityPrefixes, DynamicAsn, FilterMode, FrrConfiguration, IpFamily, LocalPrefPrefixes, Model,
    NamedBfdProfile, Neighbor, PrefixSelector, ReceiveFilter, Router, SourceAddress,
};
use crate::parse::{self, CommunityError};
use crate::raw::{self, RawObject};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub(super) fn frr_configurations(d: &mut Diags, objs: &[(usize, &Loaded)], model: &mut Model) {
    for (i, o) in objs {
        let RawObject::FrrConfiguration(c) = &o.raw else { continue };
        let obj = *i;
        let s = &c.spec;
        let node_selector =
            s.node_selector.as_ref().map(|n| selector(d, obj, "spec.nodeSelector", n)).unwrap_or_default();
        if s.raw.as_ref().is_some_and(|r| r.raw_config.as_deref().is_some_and(|c| !c.trim().is_empty())) {
            d.warn(
                obj,
                "spec.raw.rawConfig",
                "raw FRR configuration cannot be applied by ferrolb (it runs no FRR): ignored",
            );
        }
        let mut bfd_profiles: Vec<NamedBfdProfile> = Vec::new();
        for (j, b) in s.bgp.bfd_profiles.iter().enumerate() {
            let base = format!("spec.bgp.bfdProfiles[{j}]");
            let name = b.name.clone().unwrap_or_default();
            if name.is_empty() {
                d.err(obj, format!("{base}.name"), "name is required");
                continue;
            }
            let settings = frr_bfd_settings(d, obj, &base, b);
            if bfd_profiles.iter().any(|p| p.name == name) {
                d.err(obj, format!("{base}.name"), format!("duplicate BFD profile name \"{name}\""));
                continue;
            }
            bfd_profiles.push(NamedBfdProfile { name, settings });
        }
        let mut routers = Vec::new();
        let mut asn_of_vrf: BTreeMap<String, (u32, usize)> = BTreeMap::new();
        for (j, r) in s.bgp.routers.iter().enumerate() {
            let router = router(d, obj, &format!("spec.bgp.routers[{j}]"), r, &bfd_profiles);
            match asn_of_vrf.get(&router.vrf) {
                Some((asn, k)) if *asn != router.asn && router.asn != 0 => d.err(
                    obj,
                    format!("spec.bgp.routers[{j}].asn"),
                    format!(
                        "asn {} differs from asn {asn} of routers[{k}] for the same VRF{}",
                        router.asn,
                        if router.vrf.is_empty() { String::new() } else { format!(" \"{}\"", router.vrf) }
                    ),
                ),
                Some(_) => {}
                None => {
                    asn_of_vrf.insert(router.vrf.clone(), (router.asn, j));
                }
            }
            routers.push(router);
        }
        if routers.is_empty() && bfd_profiles.is_empty() {
            d.warn(obj, "spec.bgp", "configures no router");
        }
        model.frr_configurations.push(FrrConfiguration {
            id: o.info.id.clone(),
            origin: o.info.origin.clone(),
            node_selector,
            routers,
            bfd_profiles,
        });
    }
    model.frr_configurations.sort_unstable_by(|a, b| a.id.cmp(&b.id));
}

/// A CIDR prefix; host bits are a warning (FRR masks them).
fn prefix(d: &mut Diags, obj: usize, field: &str, s: &str) -> Option<IpNet> {
    match parse::parse_cidr(s) {
        Ok((net, host_bits)) => {
            if host_bits {
                d.warn(obj, field, format!("\"{s}\" has host bits set: read as {net}"));
            }
            Some(net)
        }
        Err(m) => {
            d.err(obj, field, m);
            None
        }
    }
}

fn router(d: &mut Diags, obj: usize, base: &str, r: &raw::FrrRouter, bfd: &[NamedBfdProfile]) -> Router {
    let asn = r.asn.unwrap_or(0);
    if asn == 0 {
        d.err(obj, join(base, "asn"), "asn is required and may not be 0");
    }
    let id = r.id.as_deref().filter(|s| !s.is_empty()).and_then(|s| match parse::parse_ip(s) {
        Some(ip @ IpAddr::V4(_)) => Some(ip),
        _ => {
            d.err(obj, join(base, "id"), format!("\"{s}\" is not an IPv4 address: a BGP router ID is 32 bits"));
            None
        }
    });
    let vrf = r.vrf.clone().unwrap_or_default();
    let mut prefixes = Vec::new();
    for (j, p) in r.prefixes.iter().enumerate() {
        if let Some(net) = prefix(d, obj, &format!("{base}.prefixes[{j}]"), p) {
            if prefixes.contains(&net) {
                d.warn(obj, format!("{base}.prefixes[{j}]"), format!("duplicate prefix {net}"));
            } else {
                prefixes.push(net);
            }
        }
    }
    let neighbors = r
        .neighbors
        .iter()
        .enumerate()
        .map(|(j, n)| neighbor(d, obj, &format!("{base}.neighbors[{j}]"), n, asn, &prefixes, bfd))
        .collect();
    let imports = r
        .imports
        .iter()
        .enumerate()
        .filter_map(|(j, i)| {
            let v = i.vrf.clone().unwrap_or_default();
            if v.is_empty() {
                d.err(obj, format!("{base}.imports[{j}].vrf"), "vrf is required");
                None
            } else {
                Some(v)
            }
        })
        .collect();
    Router { asn, id, vrf, prefixes, neighbors, imports }
}

fn neighbor(
    d: &mut Diags,
    obj: usize,
    base: &str,
    n: &raw::FrrNeighbor,
    router_asn: u32,
    router_prefixes: &[IpNet],
    bfd: &[NamedBfdProfile],
) -> Neighbor {
    let interface = n.interface.clone().filter(|i| !i.is_empty());
    let address = match (n.address.as_deref().filter(|a| !a.is_empty()), &interface) {
        (Some(_), Some(_)) => {
            d.err(obj, join(base, "interface"), "address and interface are mutually exclusive");
            None
        }
        (None, None) => {
            d.err(obj, join(base, "address"), "address is required (or interface, for BGP unnumbered)");
            None
        }
        (Some(a), None) => {
            let ip = parse::parse_ip(a);
            if ip.is_none() {
                d.err(obj, join(base, "address"), format!("\"{a}\" is not an IP address"));
            }
            ip
        }
        (None, Some(_)) => None,
    };
    let asn = n.asn.filter(|a| *a != 0);
    let dynamic_asn = n.dynamic_asn.map(|a| match a {
        raw::DynamicAsn::Internal => DynamicAsn::Internal,
        raw::DynamicAsn::External => DynamicAsn::External,
    });
    match (asn, dynamic_asn) {
        (Some(_), Some(_)) => d.err(obj, join(base, "dynamicASN"), "asn and dynamicASN are mutually exclusive"),
        (None, None) => d.err(obj, join(base, "asn"), "one of asn and dynamicASN is required"),
        _ => {}
    }
    if n.ebgp_multi_hop == Some(true) && asn == Some(router_asn) {
        d.err(
            obj,
            join(base, "ebgpMultiHop"),
            "ebgpMultiHop is set but the neighbor is iBGP (asn equals the router's)",
        );
    }
    let port = port(d, obj, &join(base, "port"), n.port);
    let password = n.password.clone().filter(|p| !p.is_empty());
    let password_secret = secret(d, obj, &join(base, "passwordSecret"), n.password_secret.as_ref());
    if password.is_some() && password_secret.is_some() {
        d.err(obj, join(base, "passwordSecret"), "password and passwordSecret are mutually exclusive");
    }
    // frr-k8s defaults holdTime to 180s and keepaliveTime to 60s, so either may be given alone.
    let (hold, keepalive) = timers(d, obj, base, n.hold_time.as_deref(), n.keepalive_time.as_deref(), false);
    if let (None, Some(k)) = (hold, keepalive)
        && k >= 180_000_000_000
    {
        d.err(obj, join(base, "keepaliveTime"), "must be lower than the default holdTime 180s");
    }
    let connect = connect_time(d, obj, &join(base, "connectTime"), n.connect_time.as_deref());
    let bfd_profile = n.bfd_profile.clone().filter(|b| !b.is_empty());
    if let Some(b) = &bfd_profile
        && !bfd.iter().any(|p| &p.name == b)
    {
        d.err(
            obj,
            join(base, "bfdProfile"),
            format!("BFD profile \"{b}\" is not defined in spec.bgp.bfdProfiles of this FRRConfiguration"),
        );
    }
    let to_advertise = advertise(d, obj, &join(base, "toAdvertise"), &n.to_advertise, router_prefixes);
    let to_receive = receive(d, obj, &join(base, "toReceive"), &n.to_receive);
    Neighbor {
        address,
        interface,
        asn,
        dynamic_asn,
        port,
        source_address: n.source_address.as_deref().filter(|s| !s.is_empty()).map(|s| match parse::parse_ip(s) {
            Some(ip) => SourceAddress::Ip(ip),
            None => SourceAddress::Interface(s.to_string()),
        }),
        password,
        password_secret,
        hold_time_ms: hold.map(ms),
        keepalive_time_ms: keepalive.map(ms),
        connect_time_ms: connect.map(ms),
        ebgp_multi_hop: n.ebgp_multi_hop,
        bfd_profile,
        enable_graceful_restart: n.enable_graceful_restart,
        disable_mp: n.disable_mp,
        dual_stack_address_family: n.dual_stack_address_family,
        to_advertise,
        to_receive,
    }
}

fn mode(m: Option<raw::AllowMode>) -> Option<FilterMode> {
    m.map(|m| match m {
        raw::AllowMode::All => FilterMode::All,
        raw::AllowMode::Filtered => FilterMode::Filtered,
    })
}

/// `toAdvertise`: every prefix must be one of the router's ("each configuration must be self
/// contained"), and communities / local preferences may only be attached to advertised prefixes.
fn advertise(
    d: &mut Diags,
    obj: usize,
    base: &str,
    a: &raw::FrrAdvertise,
    router_prefixes: &[IpNet],
) -> AdvertiseFilter {
    let mode = mode(a.allowed.mode);
    let mut prefixes = Vec::new();
    for (j, p) in a.allowed.prefixes.iter().enumerate() {
        let field = format!("{base}.allowed.prefixes[{j}]");
        let Some(net) = prefix(d, obj, &field, p) else { continue };
        if !router_prefixes.contains(&net) {
            d.err(
                obj,
                &field,
                format!("{net} is not among the router's prefixes: a configuration may only advertise prefixes its router declares"),
            );
        }
        prefixes.push(net);
    }
    let advertised: BTreeSet<IpNet> = if mode == Some(FilterMode::All) {
        router_prefixes.iter().copied().collect()
    } else {
        prefixes.iter().copied().collect()
    };
    let mut with_community = Vec::new();
    for (j, c) in a.with_community.iter().enumerate() {
        let at = format!("{base}.withCommunity[{j}]");
        let text = c.community.clone().unwrap_or_default();
        let community = match parse::parse_community(&text) {
            Ok(v) => Some(v),
            Err(CommunityError::Value(m)) => {
                d.err(obj, format!("{at}.community"), m);
                None
            }
            Err(CommunityError::Format) => {
                d.err(
                    obj,
                    format!("{at}.community"),
                    format!("\"{text}\" is not a community: write a:b (16-bit parts) or large:a:b:c (32-bit parts)"),
                );
                None
            }
        };
        let nets = attached_prefixes(d, obj, &at, &c.prefixes, &advertised, "community");
        if let Some(community) = community {
            with_community.push(CommunityPrefixes { community, prefixes: nets });
        }
    }
    let mut with_local_pref = Vec::new();
    let mut local_pref_of: BTreeMap<IpNet, u32> = BTreeMap::new();
    for (j, l) in a.with_local_pref.iter().enumerate() {
        let at = format!("{base}.withLocalPref[{j}]");
        let Some(local_pref) = l.local_pref else {
            d.err(obj, format!("{at}.localPref"), "localPref is required");
            continue;
        };
        let nets = attached_prefixes(d, obj, &at, &l.prefixes, &advertised, "localPref");
        for (k, net) in nets.iter().enumerate() {
            if let Some(other) = local_pref_of.insert(*net, local_pref)
                && other != local_pref
            {
                d.err(
                    obj,
                    format!("{at}.prefixes[{k}]"),
                    format!("{net} gets localPref {local_pref} here and {other} in another withLocalPref entry"),
                );
            }
        }
        with_local_pref.push(LocalPrefPrefixes { local_pref, prefixes: nets });
    }
    AdvertiseFilter { mode, prefixes, with_community, with_local_pref }
}

fn attached_prefixes(
    d: &mut Diags,
    obj: usize,
    at: &str,
    list: &[String],
    advertised: &BTreeSet<IpNet>,
    what: &str,
) -> Vec<IpNet> {
    if list.is_empty() {
        d.err(obj, format!("{at}.prefixes"), "at least one prefix is required");
    }
    let mut out = Vec::new();
    for (k, p) in list.iter().enumerate() {
        let field = format!("{at}.prefixes[{k}]");
        let Some(net) = prefix(d, obj, &field, p) else { continue };
        if !advertised.contains(&net) {
            d.err(obj, &field, format!("{what} attached to {net}, which is not advertised to this neighbor"));
        }
        out.push(net);
    }
    out
}

/// `toReceive`: prefixes with `ge`/`le` such that prefix length < ge <= le <= family maximum, as
/// FRR's prefix lists require (`le` may equal the prefix length).
fn receive(d: &mut Diags, obj: usize, base: &str, r: &raw::FrrReceive) -> ReceiveFilter {
    let mode = mode(r.allowed.mode);
    let mut prefixes = Vec::new();
    for (j, p) in r.allowed.prefixes.iter().enumerate() {
        let at = format!("{base}.allowed.prefixes[{j}]");
        let Some(text) = p.prefix.as_deref().filter(|t| !t.is_empty()) else {
            d.err(obj, format!("{at}.prefix"), "prefix is required");
            continue;
        };
        let Some(net) = prefix(d, obj, &format!("{at}.prefix"), text) else { continue };
        let max = parse::max_len(if net.addr().is_ipv4() { IpFamily::Ipv4 } else { IpFamily::Ipv6 });
        let len = net.prefix_len();
        let bound = |d: &mut Diags, field: &str, v: Option<u32>| -> Option<u8> {
            let v = v.filter(|v| *v != 0)?;
            match u8::try_from(v).ok().filter(|v| *v <= max) {
                Some(v) => Some(v),
                None => {
                    d.err(obj, format!("{at}.{field}"), format!("{v} is out of range: must be 1..={max} for {net}"));
                    None
                }
            }
        };
        let ge = bound(d, "ge", p.ge);
        let le = bound(d, "le", p.le);
        if let Some(ge) = ge
            && ge <= len
        {
            d.err(obj, format!("{at}.ge"), format!("ge {ge} must be greater than the prefix length {len} of {net}"));
        }
        if let Some(le) = le {
            if le < len {
                d.err(obj, format!("{at}.le"), format!("le {le} is shorter than the prefix length {len} of {net}"));
            }
            if ge.is_some_and(|ge| le < ge) {
                d.err(obj, format!("{at}.le"), format!("le {le} is lower than ge {}", ge.unwrap_or_default()));
            }
        }
        prefixes.push(PrefixSelector { prefix: net, ge, le });
    }
    ReceiveFilter { mode, prefixes }
}
