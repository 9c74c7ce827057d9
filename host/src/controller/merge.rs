//! The merge policy's part of the plan: one router configuration per node (frr-k8s
//! FRRConfiguration merging), or every conflict.
//!
//! [`merge_input`] hands the policy every FRRConfiguration of the model plus the configuration
//! MetalLB would emit for this node (its `internal/bgp/frrk8s` translation), [`merge`] calls the
//! active merge plugin through [`Registry::decide`], checks the answer against the input, and keeps
//! the last valid merged configuration per node when the plugin refuses (conflicts) or fails: the
//! plan then shows the conflicts in `mergeErrors` next to the retained `router`, a warning is
//! logged and [`stale_merges`] counts it. [`render_router`] writes the merged configuration in the
//! shape of an FRRConfiguration's `spec.bgp`, with frr-k8s's field names.
//!
//! # The MetalLB translation (what MetalLB emits for frr-k8s, `metallb-system/metallb`)
//!
//! - Only on a node that runs a speaker (the MetalLB CR's `nodeSelector`, when set, matches it);
//!   the source has no node selector of its own (MetalLB selects `kubernetes.io/hostname`, which
//!   is this node by construction).
//! - One router per (VRF, myASN) of the BGPPeers whose `nodeSelectors` match the node, with the
//!   peers' `routerID`; one neighbor per peer: `asn` / `dynamicASN`, `address` or `interface`,
//!   `port` (always set, 179 when the peer leaves it unset, as MetalLB does), `password` /
//!   `passwordSecret`, hold / keepalive / connect times when set, `ebgpMultiHop`,
//!   `enableGracefulRestart` and `disableMP` when true, `bfdProfile`, and `sourceaddress`
//!   (MetalLB's frrk8s translation drops it; ferrolb keeps it, since its router *is* the session
//!   configuration).
//! - The routes the advertise policy decided for the peer: the router's `prefixes` are their
//!   union, the neighbor's `toAdvertise.allowed.prefixes` its own, `withLocalPref` grouped by
//!   value (a local preference of 0 means none, as in MetalLB) and `withCommunity` grouped by
//!   community (`large:` for large ones). `toReceive` stays empty.
//! - Every BFDProfile of the model (MetalLB emits all of them, referenced or not); unset fields
//!   stay unset (MetalLB writes `echoMode: false` / `passiveMode: false`; the merge compares
//!   effective values, so this changes nothing but the rendering).
//! - `alwaysBlock` from the MetalLB CR.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrolb_config::Model;
use ferrolb_config::model::{self, Community, LabelSelector};
use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::{BgpRoute, PolicyStatus};
use crate::policy::convert::{ip_from_wit, ip_to_wit, prefix_from_wit, prefix_to_wit};
use crate::policy::input;
use crate::policy::merge::exports::ferrolb::policy::merge_policy as mrg;
use crate::policy::types as wit;
use crate::policy::{Cause, MergeInstance, PluginError, Registry, World};

/// The merged configuration as the merge policy returned it.
pub use mrg::MergedConfig;

/// The origin of the configuration translated from the host's MetalLB objects.
pub const METALLB_ORIGIN: (&str, &str) = ("metallb-system", "metallb");

static STALE_MERGES: AtomicU64 = AtomicU64::new(0);

/// How many merges in this process left a node on its last valid (stale) configuration, because
/// the configurations conflicted or the plugin failed. A metric.
pub fn stale_merges() -> u64 {
    STALE_MERGES.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// model → WIT

fn dynamic_asn(d: model::DynamicAsn) -> wit::DynamicAsn {
    match d {
        model::DynamicAsn::Internal => wit::DynamicAsn::Internal,
        model::DynamicAsn::External => wit::DynamicAsn::External,
    }
}

fn mode(m: model::FilterMode) -> mrg::FilterMode {
    match m {
        model::FilterMode::Filtered => mrg::FilterMode::Filtered,
        model::FilterMode::All => mrg::FilterMode::All,
    }
}

fn community(c: Community) -> wit::Community {
    match c {
        Community::Standard(v) => wit::Community::Standard(v),
        Community::Large(a, b, c) => wit::Community::Large((a, b, c)),
    }
}

fn prefix_selector(s: &model::PrefixSelector) -> mrg::PrefixSelector {
    mrg::PrefixSelector { prefix: prefix_to_wit(s.prefix), ge: s.ge, le: s.le }
}

fn prefixes(p: &[IpNet]) -> Vec<wit::IpPrefix> {
    p.iter().copied().map(prefix_to_wit).collect()
}

fn bfd_profile(name: &str, s: &model::BfdSettings) -> mrg::BfdProfile {
    mrg::BfdProfile {
        name: name.to_string(),
        receive_interval: s.receive_interval,
        transmit_interval: s.transmit_interval,
        detect_multiplier: s.detect_multiplier,
        echo_interval: s.echo_interval,
        echo_mode: s.echo_mode,
        passive_mode: s.passive_mode,
        minimum_ttl: s.minimum_ttl,
    }
}

fn frr_neighbor(n: &model::Neighbor, origin: &model::ObjectRef) -> mrg::Neighbor {
    let source_address = match &n.source_address {
        Some(model::SourceAddress::Ip(ip)) => Some(ip_to_wit(*ip)),
        Some(model::SourceAddress::Interface(i)) => {
            // The contract carries an address only.
            tracing::warn!(config = %origin, interface = %i, "sourceaddress given as an interface cannot be passed to the merge policy; ignored");
            None
        }
        None => None,
    };
    let a = &n.to_advertise;
    mrg::Neighbor {
        address: n.address.map(ip_to_wit),
        interface: n.interface.clone(),
        asn: n.asn,
        dynamic_asn: n.dynamic_asn.map(dynamic_asn),
        port: n.port,
        source_address,
        password: n.password.clone(),
        password_secret: n.password_secret.clone(),
        hold_time: n.hold_time_ms,
        keepalive_time: n.keepalive_time_ms,
        connect_time: n.connect_time_ms,
        ebgp_multi_hop: n.ebgp_multi_hop,
        bfd_profile: n.bfd_profile.clone(),
        enable_graceful_restart: n.enable_graceful_restart,
        disable_mp: n.disable_mp,
        to_advertise: mrg::AdvertiseFilter {
            mode: a.mode.map(mode),
            prefixes: prefixes(&a.prefixes),
            with_community: a
                .with_community
                .iter()
                .map(|c| mrg::CommunityPrefixes { community: community(c.community), prefixes: prefixes(&c.prefixes) })
                .collect(),
            with_local_pref: a
                .with_local_pref
                .iter()
                .map(|l| mrg::LocalPrefPrefixes { local_pref: l.local_pref, prefixes: prefixes(&l.prefixes) })
                .collect(),
        },
        to_receive: mrg::ReceiveFilter {
            mode: n.to_receive.mode.map(mode),
            prefixes: n.to_receive.prefixes.iter().map(prefix_selector).collect(),
        },
    }
}

/// An FRRConfiguration as a merge source: durations in ms, communities parsed, prefixes typed.
pub fn frr_source(c: &model::FrrConfiguration) -> mrg::ConfigSource {
    mrg::ConfigSource {
        origin: input::object_ref(&c.id),
        node_selector: input::selector(&c.node_selector),
        config: mrg::RouterConfig {
            routers: c
                .routers
                .iter()
                .map(|r| mrg::Router {
                    asn: r.asn,
                    id: r.id.map(ip_to_wit),
                    vrf: r.vrf.clone(),
                    prefixes: prefixes(&r.prefixes),
                    neighbors: r.neighbors.iter().map(|n| frr_neighbor(n, &c.id)).collect(),
                    imports: r.imports.clone(),
                })
                .collect(),
            bfd_profiles: c.bfd_profiles.iter().map(|p| bfd_profile(&p.name, &p.settings)).collect(),
        },
    }
}

/// A community as the advertise step wrote it (`a:b`, or `a:b:c` for large ones).
fn parse_community(s: &str, large: bool) -> Option<Community> {
    let mut parts = s.split(':');
    if large {
        let (a, b, c) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        parts.next().is_none().then_some(Community::Large(a, b, c))
    } else {
        let (hi, lo): (u16, u16) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        parts.next().is_none().then_some(Community::Standard((u32::from(hi) << 16) | u32::from(lo)))
    }
}

/// The configuration MetalLB emits for frr-k8s on `node` (see the module documentation), or
/// `None` when it would configure nothing.
pub fn metallb_source(model: &Model, labels: &model::Labels, routes: &[BgpRoute]) -> Option<mrg::ConfigSource> {
    if let Some(m) = &model.metallb
        && !m.speaker_node_selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return None; // no speaker on this node
    }
    #[derive(Default)]
    struct Build {
        id: Option<IpAddr>,
        prefixes: BTreeSet<IpNet>,
        neighbors: Vec<mrg::Neighbor>,
    }
    let mut routers: BTreeMap<(String, u32), Build> = BTreeMap::new();
    for p in model.bgp_peers.iter().filter(|p| LabelSelector::any_matches(&p.node_selectors, labels)) {
        let build = routers.entry((p.vrf.clone(), p.my_asn)).or_default();
        build.id = build.id.or(p.router_id);
        let mut allowed: BTreeSet<IpNet> = BTreeSet::new();
        let mut by_pref: BTreeMap<u32, BTreeSet<IpNet>> = BTreeMap::new();
        let mut by_community: BTreeMap<Community, BTreeSet<IpNet>> = BTreeMap::new();
        for r in routes.iter().filter(|r| r.peer == p.id.name) {
            allowed.insert(r.prefix);
            if let Some(lp) = r.local_pref.filter(|lp| *lp != 0) {
                by_pref.entry(lp).or_default().insert(r.prefix);
            }
            let standard = r.communities.iter().map(|c| (c, false));
            for (text, large) in standard.chain(r.large_communities.iter().map(|c| (c, true))) {
                match parse_community(text, large) {
                    Some(c) => {
                        by_community.entry(c).or_default().insert(r.prefix);
                    }
                    None => {
                        tracing::warn!(peer = %p.id.name, community = %text, "unreadable community in a route; ignored")
                    }
                }
            }
        }
        build.prefixes.extend(allowed.iter().copied());
        let list = |s: &BTreeSet<IpNet>| s.iter().copied().map(prefix_to_wit).collect::<Vec<_>>();
        build.neighbors.push(mrg::Neighbor {
            address: p.address.map(ip_to_wit),
            interface: p.interface.clone(),
            asn: p.peer_asn,
            dynamic_asn: p.dynamic_asn.map(dynamic_asn),
            port: Some(p.port.unwrap_or(179)),
            source_address: p.source_address.map(ip_to_wit),
            password: p.password.clone(),
            password_secret: p.password_secret.clone(),
            hold_time: p.hold_time_ms,
            // MetalLB (parseTimers): a holdTime without keepaliveTime keeps alive every holdTime / 3.
            keepalive_time: p.keepalive_time_ms.or(p.hold_time_ms.map(|h| h / 3)),
            connect_time: p.connect_time_ms,
            ebgp_multi_hop: p.ebgp_multi_hop.then_some(true),
            bfd_profile: p.bfd_profile.clone(),
            enable_graceful_restart: p.enable_graceful_restart.then_some(true),
            disable_mp: p.disable_mp.then_some(true),
            to_advertise: mrg::AdvertiseFilter {
                mode: None,
                prefixes: list(&allowed),
                with_community: by_community
                    .iter()
                    .map(|(c, p)| mrg::CommunityPrefixes { community: community(*c), prefixes: list(p) })
                    .collect(),
                with_local_pref: by_pref
                    .iter()
                    .map(|(lp, p)| mrg::LocalPrefPrefixes { local_pref: *lp, prefixes: list(p) })
                    .collect(),
            },
            to_receive: mrg::ReceiveFilter { mode: None, prefixes: vec![] },
        });
    }
    if routers.is_empty() && model.bfd_profiles.is_empty() {
        return None;
    }
    Some(mrg::ConfigSource {
        origin: wit::ObjectRef { namespace: METALLB_ORIGIN.0.into(), name: METALLB_ORIGIN.1.into() },
        node_selector: wit::LabelSelector { match_labels: vec![], match_expressions: vec![] },
        config: mrg::RouterConfig {
            routers: routers
                .into_iter()
                .map(|((vrf, asn), b)| mrg::Router {
                    asn,
                    id: b.id.map(ip_to_wit),
                    vrf,
                    prefixes: b.prefixes.into_iter().map(prefix_to_wit).collect(),
                    neighbors: b.neighbors,
                    imports: vec![],
                })
                .collect(),
            // MetalLB writes echoMode / passiveMode explicitly (false when the BFDProfile omits them).
            bfd_profiles: model
                .bfd_profiles
                .iter()
                .map(|p| {
                    let mut b = bfd_profile(&p.id.name, &p.settings);
                    b.echo_mode = b.echo_mode.or(Some(false));
                    b.passive_mode = b.passive_mode.or(Some(false));
                    b
                })
                .collect(),
        },
    })
}

/// The merge policy's input for `node`: every FRRConfiguration of the model, plus the host's
/// MetalLB translation as `metallb-system/metallb` (built from the BGPPeers that apply to the
/// node and the `routes` the advertise policy decided), sorted by origin; `alwaysBlock` from the
/// MetalLB CR. A node the model does not describe has no labels.
pub fn merge_input(model: &Model, node: &str, routes: &[BgpRoute]) -> mrg::MergeInput {
    let (wit_node, labels) = match model.node(node) {
        Some(n) => (input::node(n, n.conditions.ready), n.labels.clone()),
        None => (
            wit::Node {
                name: node.to_string(),
                labels: vec![],
                addresses: vec![],
                conditions: wit::NodeConditions { ready: false, network_unavailable: false },
                live: false,
            },
            model::Labels::new(),
        ),
    };
    let mut sources: Vec<mrg::ConfigSource> = model.frr_configurations.iter().map(frr_source).collect();
    sources.extend(metallb_source(model, &labels, routes));
    sources.sort_by(|a, b| (&a.origin.namespace, &a.origin.name).cmp(&(&b.origin.namespace, &b.origin.name)));
    mrg::MergeInput {
        node: wit_node,
        sources,
        always_block: model
            .metallb
            .as_ref()
            // alwaysBlock blocks the prefix and everything more specific (frr-k8s renders it with
            // `le 32` / `le 128`): without `le`, a selector would match the exact prefix only.
            .map(|m| {
                m.always_block
                    .iter()
                    .map(|s| {
                        let mut sel = prefix_selector(s);
                        sel.le = sel.le.or(Some(s.prefix.max_prefix_len()));
                        sel
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// checks

fn selector_matches(s: &wit::LabelSelector, labels: &[wit::Label]) -> bool {
    let value = |k: &str| labels.iter().find(|l| l.key == k).map(|l| l.value.as_str());
    s.match_labels.iter().all(|l| value(&l.key) == Some(l.value.as_str()))
        && s.match_expressions.iter().all(|r| {
            let v = value(&r.key);
            match r.operator {
                wit::SelectorOperator::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                wit::SelectorOperator::NotIn => v.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                wit::SelectorOperator::Exists => v.is_some(),
                wit::SelectorOperator::DoesNotExist => v.is_none(),
            }
        })
}

/// How a neighbor is identified within a router (address, or interface when unnumbered).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key<'a> {
    Address(IpAddr),
    Interface(&'a str),
}

fn key(n: &mrg::Neighbor) -> Result<Key<'_>, String> {
    match (&n.address, &n.interface) {
        (Some(a), None) => Ok(Key::Address(ip_from_wit(a))),
        (None, Some(i)) => Ok(Key::Interface(i)),
        _ => Err("a neighbor must have exactly one of address and interface".into()),
    }
}

fn same_prefix_selector(a: &mrg::PrefixSelector, b: &mrg::PrefixSelector) -> bool {
    a.prefix == b.prefix && a.ge == b.ge && a.le == b.le
}

/// The host's checks of a merged configuration against what it asked (beyond the well-formedness
/// [`MergeInstance::merge`] checks): exactly the sources whose node selector matches were applied;
/// routers, neighbors and router prefixes come from those sources; one router per VRF and one
/// neighbor per address; router IDs are IPv4; advertised prefixes belong to their router, and
/// communities / local preferences to advertised prefixes, one local preference per prefix; BFD
/// profile names are unique; every `alwaysBlock` entry is kept.
pub fn check_merged(input: &mrg::MergeInput, m: &mrg::MergedConfig) -> Result<(), String> {
    let name = |o: &wit::ObjectRef| input::object_name(o);
    let applied: Vec<&mrg::ConfigSource> =
        input.sources.iter().filter(|s| selector_matches(&s.node_selector, &input.node.labels)).collect();
    let want: BTreeSet<String> = applied.iter().map(|s| name(&s.origin)).collect();
    let got: BTreeSet<String> = m.applied.iter().map(name).collect();
    if want != got {
        let missing: Vec<&String> = want.difference(&got).collect();
        let extra: Vec<&String> = got.difference(&want).collect();
        return Err(format!(
            "applied configurations differ from those that select node {}: missing {missing:?}, unexpected {extra:?}",
            input.node.name
        ));
    }
    // What the applied sources define, per VRF.
    let mut known: BTreeMap<&str, (BTreeSet<IpNet>, HashSet<Key<'_>>)> = BTreeMap::new();
    for s in &applied {
        for r in &s.config.routers {
            let entry = known.entry(r.vrf.as_str()).or_default();
            entry.0.extend(r.prefixes.iter().filter_map(|p| prefix_from_wit(p).ok()));
            entry.1.extend(r.neighbors.iter().filter_map(|n| key(n).ok()));
        }
    }
    let mut vrfs = BTreeSet::new();
    for r in &m.config.routers {
        let at = if r.vrf.is_empty() { "the default VRF".to_string() } else { format!("VRF {}", r.vrf) };
        if !vrfs.insert(r.vrf.as_str()) {
            return Err(format!("two routers for {at}"));
        }
        let Some((source_prefixes, source_neighbors)) = known.get(r.vrf.as_str()) else {
            return Err(format!("a router for {at}, which no applied configuration defines"));
        };
        if let Some(id) = &r.id
            && !ip_from_wit(id).is_ipv4()
        {
            return Err(format!("router id {} in {at} is not an IPv4 address", ip_from_wit(id)));
        }
        let own: BTreeSet<IpNet> = r.prefixes.iter().map(prefix_from_wit).collect::<Result<_, _>>()?;
        if let Some(p) = own.iter().find(|p| !source_prefixes.contains(p)) {
            return Err(format!("prefix {p} in {at}, which no applied configuration declares"));
        }
        let mut seen = HashSet::with_capacity(r.neighbors.len());
        for n in &r.neighbors {
            let k = key(n)?;
            if !source_neighbors.contains(&k) {
                return Err(format!("neighbor {k:?} in {at}, which no applied configuration defines"));
            }
            if !seen.insert(k.clone()) {
                return Err(format!("two neighbors {k:?} in {at}"));
            }
            let ta = &n.to_advertise;
            for p in &ta.prefixes {
                let p = prefix_from_wit(p)?;
                if !own.contains(&p) {
                    return Err(format!("{p} advertised to {k:?} in {at} is not a prefix of the router"));
                }
            }
            if ta.with_community.is_empty() && ta.with_local_pref.is_empty() {
                continue;
            }
            let allowed: BTreeSet<IpNet> = ta.prefixes.iter().map(prefix_from_wit).collect::<Result<_, _>>()?;
            let advertised = if ta.mode == Some(mrg::FilterMode::All) { &own } else { &allowed };
            for p in ta.with_community.iter().flat_map(|c| &c.prefixes) {
                let p = prefix_from_wit(p)?;
                if !advertised.contains(&p) {
                    return Err(format!("a community on {p}, which is not advertised to {k:?} in {at}"));
                }
            }
            let mut pref_of: BTreeMap<IpNet, u32> = BTreeMap::new();
            for lp in &ta.with_local_pref {
                for p in &lp.prefixes {
                    let p = prefix_from_wit(p)?;
                    if !advertised.contains(&p) {
                        return Err(format!("a localPref on {p}, which is not advertised to {k:?} in {at}"));
                    }
                    if pref_of.insert(p, lp.local_pref).is_some_and(|old| old != lp.local_pref) {
                        return Err(format!("two local preferences for {p} to {k:?} in {at}"));
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    if let Some(p) = m.config.bfd_profiles.iter().find(|p| !names.insert(p.name.as_str())) {
        return Err(format!("two BFD profiles named {:?}", p.name));
    }
    if let Some(s) = input.always_block.iter().find(|s| !m.always_block.iter().any(|x| same_prefix_selector(s, x))) {
        return Err(format!("alwaysBlock entry {} was dropped", selector_text(s)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rendering

fn prefix_text(p: &wit::IpPrefix) -> String {
    match prefix_from_wit(p) {
        Ok(n) => n.to_string(),
        Err(_) => format!("{}/{}", ip_from_wit(&p.address), p.prefix_len),
    }
}

fn selector_text(s: &mrg::PrefixSelector) -> String {
    let mut t = prefix_text(&s.prefix);
    if let Some(ge) = s.ge {
        t.push_str(&format!(" ge {ge}"));
    }
    if let Some(le) = s.le {
        t.push_str(&format!(" le {le}"));
    }
    t
}

fn prefix_list(p: &[wit::IpPrefix]) -> Value {
    Value::Array(p.iter().map(|p| Value::String(prefix_text(p))).collect())
}

fn selector_json(s: &mrg::PrefixSelector) -> Value {
    let mut o = Map::new();
    o.insert("prefix".into(), Value::String(prefix_text(&s.prefix)));
    if let Some(ge) = s.ge {
        o.insert("ge".into(), json!(ge));
    }
    if let Some(le) = s.le {
        o.insert("le".into(), json!(le));
    }
    Value::Object(o)
}

/// A duration in ms as FRRConfiguration writes it: `90s`, or `1500ms` when not whole seconds.
pub fn duration_text(ms: u32) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// A community as FRRConfiguration writes it: `a:b`, or `large:a:b:c`.
pub fn community_text(c: &wit::Community) -> String {
    match c {
        wit::Community::Standard(v) => format!("{}:{}", v >> 16, v & 0xffff),
        wit::Community::Large((a, b, c)) => format!("large:{a}:{b}:{c}"),
    }
}

fn mode_text(m: mrg::FilterMode) -> &'static str {
    match m {
        mrg::FilterMode::Filtered => "filtered",
        mrg::FilterMode::All => "all",
    }
}

fn put<T: Into<Value>>(o: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        o.insert(key.into(), v.into());
    }
}

fn put_list(o: &mut Map<String, Value>, key: &str, v: Vec<Value>) {
    if !v.is_empty() {
        o.insert(key.into(), Value::Array(v));
    }
}

fn allowed_json(mode: Option<mrg::FilterMode>, prefixes: Value, empty: bool) -> Option<Value> {
    if mode.is_none() && empty {
        return None;
    }
    let mut o = Map::new();
    put(&mut o, "mode", mode.map(mode_text));
    if !empty {
        o.insert("prefixes".into(), prefixes);
    }
    Some(Value::Object(o))
}

fn neighbor_json(n: &mrg::Neighbor) -> Value {
    let mut o = Map::new();
    put(&mut o, "address", n.address.as_ref().map(|a| ip_from_wit(a).to_string()));
    put(&mut o, "interface", n.interface.clone());
    put(&mut o, "asn", n.asn);
    put(
        &mut o,
        "dynamicASN",
        n.dynamic_asn.map(|d| match d {
            wit::DynamicAsn::Internal => "internal",
            wit::DynamicAsn::External => "external",
        }),
    );
    put(&mut o, "port", n.port);
    put(&mut o, "sourceaddress", n.source_address.as_ref().map(|a| ip_from_wit(a).to_string()));
    put(&mut o, "password", n.password.clone());
    put(&mut o, "passwordSecret", n.password_secret.as_ref().map(|s| json!({ "name": s })));
    put(&mut o, "holdTime", n.hold_time.map(duration_text));
    put(&mut o, "keepaliveTime", n.keepalive_time.map(duration_text));
    put(&mut o, "connectTime", n.connect_time.map(duration_text));
    put(&mut o, "ebgpMultiHop", n.ebgp_multi_hop);
    put(&mut o, "bfdProfile", n.bfd_profile.clone());
    put(&mut o, "enableGracefulRestart", n.enable_graceful_restart);
    put(&mut o, "disableMP", n.disable_mp);

    let ta = &n.to_advertise;
    let mut adv = Map::new();
    put(&mut adv, "allowed", allowed_json(ta.mode, prefix_list(&ta.prefixes), ta.prefixes.is_empty()));
    put_list(
        &mut adv,
        "withLocalPref",
        ta.with_local_pref
            .iter()
            .map(|l| json!({ "localPref": l.local_pref, "prefixes": prefix_list(&l.prefixes) }))
            .collect(),
    );
    put_list(
        &mut adv,
        "withCommunity",
        ta.with_community
            .iter()
            .map(|c| json!({ "community": community_text(&c.community), "prefixes": prefix_list(&c.prefixes) }))
            .collect(),
    );
    if !adv.is_empty() {
        o.insert("toAdvertise".into(), Value::Object(adv));
    }
    let tr = &n.to_receive;
    let selectors = Value::Array(tr.prefixes.iter().map(selector_json).collect());
    if let Some(allowed) = allowed_json(tr.mode, selectors, tr.prefixes.is_empty()) {
        o.insert("toReceive".into(), json!({ "allowed": allowed }));
    }
    Value::Object(o)
}

/// A merged configuration as an FRRConfiguration's `spec.bgp` (frr-k8s field names; unset
/// fields and empty lists omitted, but `routers`, `asn` and `vrf` always present; durations as
/// `90s`; communities as `a:b` / `large:a:b:c`), plus `alwaysBlock` when not empty.
pub fn render_router(m: &mrg::MergedConfig) -> Value {
    let routers: Vec<Value> = m
        .config
        .routers
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("asn".into(), json!(r.asn));
            put(&mut o, "id", r.id.as_ref().map(|a| ip_from_wit(a).to_string()));
            o.insert("vrf".into(), json!(r.vrf));
            put_list(&mut o, "prefixes", r.prefixes.iter().map(|p| Value::String(prefix_text(p))).collect());
            put_list(&mut o, "neighbors", r.neighbors.iter().map(neighbor_json).collect());
            put_list(&mut o, "imports", r.imports.iter().map(|v| json!({ "vrf": v })).collect());
            Value::Object(o)
        })
        .collect();
    let mut out = Map::new();
    out.insert("routers".into(), Value::Array(routers));
    put_list(
        &mut out,
        "bfdProfiles",
        m.config
            .bfd_profiles
            .iter()
            .map(|p| {
                let mut o = Map::new();
                o.insert("name".into(), json!(p.name));
                put(&mut o, "receiveInterval", p.receive_interval);
                put(&mut o, "transmitInterval", p.transmit_interval);
                put(&mut o, "detectMultiplier", p.detect_multiplier);
                put(&mut o, "echoInterval", p.echo_interval);
                put(&mut o, "echoMode", p.echo_mode);
                put(&mut o, "passiveMode", p.passive_mode);
                put(&mut o, "minimumTtl", p.minimum_ttl);
                Value::Object(o)
            })
            .collect(),
    );
    put_list(&mut out, "alwaysBlock", m.always_block.iter().map(selector_json).collect());
    Value::Object(out)
}

/// Conflicts as `mergeErrors`: `{objects: ["ns/name", ...], field, reason}`.
pub fn render_conflicts(c: &[mrg::Conflict]) -> Vec<Value> {
    c.iter()
        .map(|c| {
            let objects: Vec<String> = c.objects.iter().map(input::object_name).collect();
            json!({ "objects": objects, "field": c.field, "reason": c.reason })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// the call

/// Merge the configurations that apply to `node` with the active merge plugin.
///
/// Returns the `router` section (the fresh merged configuration, or the last valid one for this
/// node when the plugin refuses or fails, `{}` if there never was one), the `mergeErrors`, and
/// the policy status: `ok`; `failed` when the section holds the last valid configuration (the
/// message says whether it is because of conflicts or of the plugin); `not-implemented`.
pub fn merge(registry: &Registry, model: &Model, node: &str, routes: &[BgpRoute]) -> (Value, Vec<Value>, PolicyStatus) {
    let (router, errors, status, _) = merge_typed(registry, model, node, routes);
    (router, errors, status)
}

/// [`merge`], also returning the merged configuration itself (fresh or last valid) for the
/// daemon, which turns it into BGP sessions.
pub fn merge_typed(
    registry: &Registry,
    model: &Model,
    node: &str,
    routes: &[BgpRoute],
) -> (Value, Vec<Value>, PolicyStatus, Option<mrg::MergedConfig>) {
    let input = merge_input(model, node, routes);
    let mut conflicts: Option<Vec<mrg::Conflict>> = None;
    let decision = registry.decide(World::Merge, node, |runtime, plugin| {
        let mut inst = MergeInstance::new(runtime, plugin)?;
        let fail = |cause| PluginError { world: World::Merge, plugin: plugin.label(), cause };
        match inst.merge(&input)? {
            Ok(m) => {
                check_merged(&input, &m).map_err(|e| fail(Cause::InvalidAnswer(e)))?;
                Ok(m)
            }
            Err(c) => {
                let n = c.len();
                conflicts = Some(c);
                Err(fail(Cause::Refused(format!("{n} conflict(s) between the configurations (see mergeErrors)"))))
            }
        }
    });
    let plugin = registry.active(World::Merge);
    let router = decision.value.as_ref().map(render_router).unwrap_or_else(|| Value::Object(Map::new()));
    let typed = decision.value.clone();
    let Some(error) = decision.error else {
        return (router, vec![], PolicyStatus::of(World::Merge, plugin.as_ref(), Ok(())), typed);
    };
    STALE_MERGES.fetch_add(1, Ordering::Relaxed);
    let kept = if decision.value.is_some() {
        "the router section is the last valid merged configuration (stale)"
    } else {
        "there is no valid merged configuration for this node yet"
    };
    tracing::warn!(node, stale = true, stale_merges = stale_merges(), error = %error, "router configuration not updated: {kept}");
    match conflicts {
        Some(c) => {
            let status = PolicyStatus {
                world: World::Merge,
                plugin: plugin.map(|p| p.label()).unwrap_or_default(),
                status: "failed".into(),
                message: format!("{} conflict(s) between the configurations (see mergeErrors); {kept}", c.len()),
            };
            (router, render_conflicts(&c), status, typed)
        }
        None => {
            let mut status = PolicyStatus::of(World::Merge, plugin.as_ref(), Err(error));
            status.message = format!("{}; {kept}", status.message);
            (router, vec![], status, typed)
        }
    }
}

#[cfg(test)]
mod tests {
    //! The translation, the rendering, the host's checks, and the call with last-good retention.

    use std::sync::Arc;

    use super::*;
    use crate::policy::{Runtime, RuntimeConfig};

    fn model(yaml: &str) -> Model {
        let loaded = ferrolb_config::load_str("test.yaml", yaml);
        let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        loaded.model.expect("a model")
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("literal")
    }

    fn p(s: &str) -> wit::IpPrefix {
        prefix_to_wit(net(s))
    }

    fn ip(s: &str) -> wit::IpAddress {
        ip_to_wit(s.parse().expect("literal"))
    }

    fn route(peer: &str, prefix: &str, local_pref: Option<u32>, communities: &[&str], large: &[&str]) -> BgpRoute {
        BgpRoute {
            peer: peer.into(),
            vrf: String::new(),
            prefix: net(prefix),
            local_pref,
            communities: communities.iter().map(|c| c.to_string()).collect(),
            large_communities: large.iter().map(|c| c.to_string()).collect(),
            services: vec![],
        }
    }

    const NODES: &str = "
apiVersion: v1
kind: Node
metadata: {name: worker-0, labels: {kubernetes.io/hostname: worker-0, rack: r1}}
---
apiVersion: v1
kind: Node
metadata: {name: worker-1, labels: {kubernetes.io/hostname: worker-1, rack: r2}}
";

    const FRR: &str = "
apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {name: b, namespace: frr-k8s-system}
spec:
  nodeSelector: {matchLabels: {rack: r1}}
  bgp:
    routers:
    - asn: 64512
      id: 10.10.10.10
      vrf: red
      prefixes: [192.0.2.0/24, 2001:db8::/64]
      imports: [{vrf: blue}]
      neighbors:
      - address: 172.30.0.3
        asn: 4200000000
        port: 180
        sourceaddress: 172.30.0.1
        holdTime: 90s
        keepaliveTime: 30s
        connectTime: 10s
        ebgpMultiHop: true
        passwordSecret: {name: bgp-secret}
        bfdProfile: fast
        disableMP: true
        enableGracefulRestart: true
        toAdvertise:
          allowed: {mode: filtered, prefixes: [192.0.2.0/24]}
          withLocalPref: [{localPref: 200, prefixes: [192.0.2.0/24]}]
          withCommunity:
          - {community: '65535:65282', prefixes: [192.0.2.0/24]}
          - {community: 'large:1:2:3', prefixes: [192.0.2.0/24]}
        toReceive:
          allowed:
            prefixes: [{prefix: 10.0.0.0/8, ge: 24, le: 28}]
    bfdProfiles: [{name: fast, receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}]
";

    #[test]
    fn frr_configurations_translate_field_for_field() {
        let m = model(&format!("{NODES}---{FRR}"));
        let s = frr_source(&m.frr_configurations[0]);
        assert_eq!(s.origin, wit::ObjectRef { namespace: "frr-k8s-system".into(), name: "b".into() });
        assert_eq!(s.node_selector.match_labels, [wit::Label { key: "rack".into(), value: "r1".into() }]);
        let r = &s.config.routers[0];
        assert_eq!((r.asn, r.id, r.vrf.as_str()), (64512, Some(ip("10.10.10.10")), "red"));
        assert_eq!(r.prefixes, [p("192.0.2.0/24"), p("2001:db8::/64")]);
        assert_eq!(r.imports, ["blue"]);
        let n = &r.neighbors[0];
        assert_eq!(n.address, Some(ip("172.30.0.3")));
        assert_eq!((n.asn, n.dynamic_asn, n.port), (Some(4_200_000_000), None, Some(180)));
        assert_eq!(n.source_address, Some(ip("172.30.0.1")));
        assert_eq!((n.hold_time, n.keepalive_time, n.connect_time), (Some(90_000), Some(30_000), Some(10_000)));
        assert_eq!((n.ebgp_multi_hop, n.disable_mp, n.enable_graceful_restart), (Some(true), Some(true), Some(true)));
        assert_eq!((n.password.as_deref(), n.password_secret.as_deref()), (None, Some("bgp-secret")));
        assert_eq!(n.bfd_profile.as_deref(), Some("fast"));
        let ta = &n.to_advertise;
        assert_eq!((ta.mode, ta.prefixes.clone()), (Some(mrg::FilterMode::Filtered), vec![p("192.0.2.0/24")]));
        assert_eq!(ta.with_local_pref, [mrg::LocalPrefPrefixes { local_pref: 200, prefixes: vec![p("192.0.2.0/24")] }]);
        let communities: Vec<wit::Community> = ta.with_community.iter().map(|c| c.community).collect();
        assert_eq!(communities, [wit::Community::Standard(0xFFFF_FF02), wit::Community::Large((1, 2, 3))]);
        assert_eq!(
            n.to_receive,
            mrg::ReceiveFilter {
                mode: None,
                prefixes: vec![mrg::PrefixSelector { prefix: p("10.0.0.0/8"), ge: Some(24), le: Some(28) }]
            }
        );
        assert_eq!(
            s.config.bfd_profiles,
            [mrg::BfdProfile {
                name: "fast".into(),
                receive_interval: Some(50),
                transmit_interval: Some(50),
                detect_multiplier: Some(3),
                echo_interval: None,
                echo_mode: None,
                passive_mode: None,
                minimum_ttl: None,
            }]
        );
    }

    const METALLB: &str = "
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 50, transmitInterval: 50}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: unused, namespace: metallb-system}
spec: {detectMultiplier: 5}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec:
  peerAddress: 10.0.0.1
  peerASN: 64501
  myASN: 64500
  routerID: 10.10.10.10
  holdTime: 90s
  keepaliveTime: 30s
  sourceAddress: 10.0.0.10
  bfdProfile: fast
  ebgpMultiHop: true
  password: s3cret
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2, namespace: metallb-system}
spec:
  peerAddress: 10.0.0.2
  dynamicASN: internal
  myASN: 64500
  routerID: 10.10.10.10
  peerPort: 1179
  enableGracefulRestart: true
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: elsewhere, namespace: metallb-system}
spec:
  peerAddress: 10.0.0.3
  peerASN: 64501
  myASN: 64500
  routerID: 10.10.10.10
  nodeSelectors: [{matchLabels: {rack: r2}}]
";

    #[test]
    fn metallb_objects_translate_as_metallb_emits_them() {
        let m = model(&format!("{NODES}---{METALLB}"));
        let routes = [
            route("peer1", "203.0.113.200/32", None, &["65535:65282", "8000:800"], &["1:2:3"]),
            route("peer1", "203.0.113.200/30", None, &["8000:800"], &[]),
            route("peer2", "203.0.113.200/32", Some(100), &[], &[]),
            route("peer2", "203.0.113.204/32", Some(0), &[], &[]),
            route("elsewhere", "198.51.100.1/32", None, &[], &[]),
        ];
        let labels = m.node("worker-0").map(|n| n.labels.clone()).expect("node");
        let s = metallb_source(&m, &labels, &routes).expect("a configuration");
        assert_eq!(s.origin, wit::ObjectRef { namespace: "metallb-system".into(), name: "metallb".into() });
        assert!(s.node_selector.match_labels.is_empty());
        assert_eq!(s.config.routers.len(), 1);
        let r = &s.config.routers[0];
        assert_eq!((r.asn, r.id, r.vrf.as_str()), (64500, Some(ip("10.10.10.10")), ""));
        assert_eq!(r.prefixes, [p("203.0.113.200/30"), p("203.0.113.200/32"), p("203.0.113.204/32")]);
        assert_eq!(r.neighbors.len(), 2, "the peer of another rack is not configured");
        let n1 = &r.neighbors[0];
        assert_eq!((n1.address, n1.asn, n1.port), (Some(ip("10.0.0.1")), Some(64501), Some(179)));
        assert_eq!((n1.hold_time, n1.keepalive_time, n1.connect_time), (Some(90_000), Some(30_000), None));
        assert_eq!(n1.source_address, Some(ip("10.0.0.10")));
        assert_eq!((n1.bfd_profile.as_deref(), n1.password.as_deref()), (Some("fast"), Some("s3cret")));
        assert_eq!((n1.ebgp_multi_hop, n1.enable_graceful_restart, n1.disable_mp), (Some(true), None, None));
        assert_eq!(n1.to_advertise.prefixes, [p("203.0.113.200/30"), p("203.0.113.200/32")]);
        assert!(n1.to_advertise.with_local_pref.is_empty());
        assert_eq!(
            n1.to_advertise.with_community,
            [
                mrg::CommunityPrefixes {
                    community: wit::Community::Standard((8000 << 16) | 800),
                    prefixes: vec![p("203.0.113.200/30"), p("203.0.113.200/32")]
                },
                mrg::CommunityPrefixes {
                    community: wit::Community::Standard(0xFFFF_FF02),
                    prefixes: vec![p("203.0.113.200/32")]
                },
                mrg::CommunityPrefixes {
                    community: wit::Community::Large((1, 2, 3)),
                    prefixes: vec![p("203.0.113.200/32")]
                },
            ]
        );
        assert_eq!(n1.to_receive, mrg::ReceiveFilter { mode: None, prefixes: vec![] });
        let n2 = &r.neighbors[1];
        assert_eq!((n2.asn, n2.dynamic_asn, n2.port), (None, Some(wit::DynamicAsn::Internal), Some(1179)));
        assert_eq!((n2.ebgp_multi_hop, n2.enable_graceful_restart), (None, Some(true)));
        assert_eq!(
            n2.to_advertise.with_local_pref,
            [mrg::LocalPrefPrefixes { local_pref: 100, prefixes: vec![p("203.0.113.200/32")] }],
            "a local preference of 0 is none"
        );
        let names: Vec<&str> = s.config.bfd_profiles.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["fast", "unused"], "MetalLB emits every BFD profile");
        assert_eq!(s.config.bfd_profiles[0].receive_interval, Some(50));
        // MetalLB writes echoMode / passiveMode explicitly.
        assert_eq!(
            (s.config.bfd_profiles[0].echo_mode, s.config.bfd_profiles[0].passive_mode),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn no_speaker_no_metallb_configuration() {
        let yaml = format!(
            "{NODES}---{METALLB}---
apiVersion: metallb.io/v1beta1
kind: MetalLB
metadata: {{name: metallb, namespace: metallb-system}}
spec:
  nodeSelector: {{rack: r2}}
  frrk8sConfig: {{alwaysBlock: [192.168.1.0/24]}}
"
        );
        let m = model(&yaml);
        let labels = m.node("worker-0").map(|n| n.labels.clone()).expect("node");
        assert!(metallb_source(&m, &labels, &[]).is_none());
        let labels = m.node("worker-1").map(|n| n.labels.clone()).expect("node");
        assert!(metallb_source(&m, &labels, &[]).is_some());
        assert!(metallb_source(&model(NODES), &labels, &[]).is_none(), "nothing to configure");
    }

    #[test]
    fn merge_input_has_every_source_sorted_and_always_block() {
        let yaml = format!(
            "{NODES}---{METALLB}---{FRR}---
apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {{name: a, namespace: zzz}}
spec: {{bgp: {{routers: [{{asn: 64512}}]}}}}
---
apiVersion: metallb.io/v1beta1
kind: MetalLB
metadata: {{name: metallb, namespace: metallb-system}}
spec:
  frrk8sConfig: {{alwaysBlock: [192.168.1.0/24]}}
"
        );
        let m = model(&yaml);
        let i = merge_input(&m, "worker-0", &[]);
        assert_eq!(i.node.name, "worker-0");
        assert_eq!(i.node.labels.len(), 2);
        let origins: Vec<String> = i.sources.iter().map(|s| input::object_name(&s.origin)).collect();
        assert_eq!(origins, ["frr-k8s-system/b", "metallb-system/metallb", "zzz/a"]);
        // alwaysBlock covers more-specifics too.
        assert_eq!(i.always_block, [mrg::PrefixSelector { prefix: p("192.168.1.0/24"), ge: None, le: Some(32) }]);
        let unknown = merge_input(&m, "nowhere", &[]);
        assert!(unknown.node.labels.is_empty() && !unknown.node.live);
    }

    fn readme_example() -> mrg::MergedConfig {
        let n = mrg::Neighbor {
            address: Some(ip("172.30.0.3")),
            interface: None,
            asn: Some(4_200_000_000),
            dynamic_asn: None,
            port: Some(180),
            source_address: None,
            password: None,
            password_secret: None,
            hold_time: Some(90_000),
            keepalive_time: None,
            connect_time: Some(1_500),
            ebgp_multi_hop: None,
            bfd_profile: None,
            enable_graceful_restart: None,
            disable_mp: None,
            to_advertise: mrg::AdvertiseFilter {
                mode: Some(mrg::FilterMode::Filtered),
                prefixes: vec![p("192.0.2.0/24")],
                with_community: vec![
                    mrg::CommunityPrefixes {
                        community: wit::Community::Standard(0xFFFF_FF02),
                        prefixes: vec![p("192.0.2.0/24")],
                    },
                    mrg::CommunityPrefixes {
                        community: wit::Community::Large((1, 2, 3)),
                        prefixes: vec![p("192.0.2.0/24")],
                    },
                ],
                with_local_pref: vec![mrg::LocalPrefPrefixes { local_pref: 200, prefixes: vec![p("192.0.2.0/24")] }],
            },
            to_receive: mrg::ReceiveFilter {
                mode: Some(mrg::FilterMode::Filtered),
                prefixes: vec![mrg::PrefixSelector { prefix: p("10.0.0.0/8"), ge: Some(24), le: Some(28) }],
            },
        };
        let bare = mrg::Neighbor {
            address: None,
            interface: Some("eth1".into()),
            asn: None,
            dynamic_asn: Some(wit::DynamicAsn::External),
            port: None,
            to_advertise: mrg::AdvertiseFilter {
                mode: None,
                prefixes: vec![],
                with_community: vec![],
                with_local_pref: vec![],
            },
            to_receive: mrg::ReceiveFilter { mode: Some(mrg::FilterMode::All), prefixes: vec![] },
            hold_time: None,
            connect_time: None,
            password_secret: Some("s".into()),
            ..n.clone()
        };
        mrg::MergedConfig {
            config: mrg::RouterConfig {
                routers: vec![mrg::Router {
                    asn: 64512,
                    id: None,
                    vrf: String::new(),
                    prefixes: vec![p("192.0.2.0/24")],
                    neighbors: vec![n, bare],
                    imports: vec!["red".into()],
                }],
                bfd_profiles: vec![mrg::BfdProfile {
                    name: "fast".into(),
                    receive_interval: Some(50),
                    transmit_interval: Some(50),
                    detect_multiplier: Some(3),
                    echo_interval: None,
                    echo_mode: Some(false),
                    passive_mode: None,
                    minimum_ttl: None,
                }],
            },
            applied: vec![],
            always_block: vec![mrg::PrefixSelector { prefix: p("192.168.1.0/24"), ge: None, le: Some(32) }],
        }
    }

    #[test]
    fn router_renders_as_frr_configuration_spec_bgp() {
        let want = json!({
            "routers": [{
                "asn": 64512,
                "vrf": "",
                "prefixes": ["192.0.2.0/24"],
                "imports": [{"vrf": "red"}],
                "neighbors": [
                    {
                        "address": "172.30.0.3",
                        "asn": 4200000000u32,
                        "port": 180,
                        "holdTime": "90s",
                        "connectTime": "1500ms",
                        "toAdvertise": {
                            "allowed": {"mode": "filtered", "prefixes": ["192.0.2.0/24"]},
                            "withLocalPref": [{"localPref": 200, "prefixes": ["192.0.2.0/24"]}],
                            "withCommunity": [
                                {"community": "65535:65282", "prefixes": ["192.0.2.0/24"]},
                                {"community": "large:1:2:3", "prefixes": ["192.0.2.0/24"]}
                            ]
                        },
                        "toReceive": {
                            "allowed": {"mode": "filtered", "prefixes": [{"prefix": "10.0.0.0/8", "ge": 24, "le": 28}]}
                        }
                    },
                    {
                        "interface": "eth1",
                        "dynamicASN": "external",
                        "passwordSecret": {"name": "s"},
                        "toReceive": {"allowed": {"mode": "all"}}
                    }
                ]
            }],
            "bfdProfiles": [{"name": "fast", "receiveInterval": 50, "transmitInterval": 50, "detectMultiplier": 3, "echoMode": false}],
            "alwaysBlock": [{"prefix": "192.168.1.0/24", "le": 32}]
        });
        assert_eq!(render_router(&readme_example()), want);
    }

    #[test]
    fn an_empty_merge_renders_routers_only() {
        let m = mrg::MergedConfig {
            config: mrg::RouterConfig { routers: vec![], bfd_profiles: vec![] },
            applied: vec![],
            always_block: vec![],
        };
        assert_eq!(render_router(&m), json!({"routers": []}));
    }

    #[test]
    fn conflicts_render_with_object_names() {
        let c = mrg::Conflict {
            objects: vec![
                wit::ObjectRef { namespace: "frr-k8s-system".into(), name: "a".into() },
                wit::ObjectRef { namespace: "frr-k8s-system".into(), name: "b".into() },
            ],
            field: "routers[vrf=\"\"].neighbors[192.0.2.1].asn".into(),
            reason: "asn 1 in frr-k8s-system/a but asn 2 in frr-k8s-system/b".into(),
        };
        assert_eq!(
            render_conflicts(&[c]),
            [json!({
                "objects": ["frr-k8s-system/a", "frr-k8s-system/b"],
                "field": "routers[vrf=\"\"].neighbors[192.0.2.1].asn",
                "reason": "asn 1 in frr-k8s-system/a but asn 2 in frr-k8s-system/b"
            })]
        );
    }

    #[test]
    fn texts() {
        assert_eq!(duration_text(90_000), "90s");
        assert_eq!(duration_text(1_500), "1500ms");
        assert_eq!(duration_text(0), "0s");
        assert_eq!(parse_community("65535:65282", false), Some(Community::Standard(0xFFFF_FF02)));
        assert_eq!(parse_community("1:2:3", true), Some(Community::Large(1, 2, 3)));
        assert_eq!(parse_community("65536:1", false), None);
        assert_eq!(parse_community("1:2", true), None);
        assert_eq!(parse_community("1:2:3", false), None);
    }

    /// The merged configuration of `readme_example` as the answer to an input with one source
    /// defining exactly that.
    fn answered() -> (mrg::MergeInput, mrg::MergedConfig) {
        let mut m = readme_example();
        let origin = wit::ObjectRef { namespace: "frr-k8s-system".into(), name: "a".into() };
        m.applied = vec![origin.clone()];
        let input = mrg::MergeInput {
            node: wit::Node {
                name: "worker-0".into(),
                labels: vec![],
                addresses: vec![],
                conditions: wit::NodeConditions { ready: true, network_unavailable: false },
                live: true,
            },
            sources: vec![mrg::ConfigSource {
                origin,
                node_selector: wit::LabelSelector { match_labels: vec![], match_expressions: vec![] },
                config: m.config.clone(),
            }],
            always_block: m.always_block.clone(),
        };
        (input, m)
    }

    #[test]
    fn the_host_checks_merged_answers() {
        let (input, good) = answered();
        assert_eq!(check_merged(&input, &good), Ok(()));
        let bad = |f: &dyn Fn(&mut mrg::MergedConfig)| {
            let mut m = good.clone();
            f(&mut m);
            check_merged(&input, &m).expect_err("refused")
        };
        assert!(bad(&|m| m.always_block.clear()).contains("alwaysBlock entry 192.168.1.0/24 le 32 was dropped"));
        assert!(bad(&|m| m.applied.clear()).contains("missing [\"frr-k8s-system/a\"]"));
        assert!(
            bad(&|m| m.config.routers[0].prefixes.push(p("198.51.100.0/24")))
                .contains("no applied configuration declares")
        );
        assert!(bad(&|m| m.config.routers[0].vrf = "blue".into()).contains("no applied configuration defines"));
        assert!(
            bad(&|m| {
                let r = m.config.routers[0].clone();
                m.config.routers.push(r);
            })
            .contains("two routers")
        );
        assert!(
            bad(&|m| {
                let n = m.config.routers[0].neighbors[0].clone();
                m.config.routers[0].neighbors.push(n);
            })
            .contains("two neighbors")
        );
        assert!(
            bad(&|m| m.config.routers[0].neighbors[0].address = Some(ip("192.0.2.99")))
                .contains("no applied configuration defines")
        );
        assert!(bad(&|m| m.config.routers[0].neighbors[0].to_advertise.prefixes.clear()).contains("not advertised"));
        assert!(
            bad(&|m| m.config.routers[0].neighbors[0]
                .to_advertise
                .with_local_pref
                .push(mrg::LocalPrefPrefixes { local_pref: 1, prefixes: vec![p("192.0.2.0/24")] }))
            .contains("two local preferences")
        );
        assert!(bad(&|m| m.config.routers[0].id = Some(ip("2001:db8::1"))).contains("not an IPv4 address"));
        assert!(
            bad(&|m| {
                let b = m.config.bfd_profiles[0].clone();
                m.config.bfd_profiles.push(b);
            })
            .contains("two BFD profiles")
        );
    }

    fn registry() -> Registry {
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
        Registry::with_builtins(runtime).expect("the default plugins load")
    }

    #[test]
    fn merge_fills_the_router_and_keeps_it_when_configurations_conflict() {
        let registry = registry();
        let user = "
apiVersion: frrk8s.metallb.io/v1beta1
kind: FRRConfiguration
metadata: {name: receive-all, namespace: frr-k8s-system}
spec:
  bgp:
    routers:
    - asn: 64500
      neighbors:
      - {address: 10.0.0.1, asn: 64501, toReceive: {allowed: {mode: all}}}
";
        let peer = "
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec: {peerAddress: 10.0.0.1, peerASN: 64501, myASN: 64500}
";
        let good = model(&format!("{NODES}---{user}---{peer}"));
        let routes = [route("peer1", "203.0.113.200/32", None, &[], &[])];
        let (router, errors, status) = merge(&registry, &good, "worker-0", &routes);
        assert_eq!(status.status, "ok", "{status:?}");
        assert!(errors.is_empty());
        assert_eq!(
            router,
            json!({"routers": [{
                "asn": 64500,
                "vrf": "",
                "prefixes": ["203.0.113.200/32"],
                "neighbors": [{
                    "address": "10.0.0.1",
                    "asn": 64501,
                    "port": 179,
                    "toAdvertise": {"allowed": {"prefixes": ["203.0.113.200/32"]}},
                    "toReceive": {"allowed": {"mode": "all"}}
                }]
            }]})
        );

        // The user's configuration now disagrees with the BGPPeer: refused, the router stays.
        let before = stale_merges();
        let conflicting = model(&format!("{NODES}---{}---{peer}", user.replace("asn: 64501", "asn: 64502")));
        let (kept, errors, status) = merge(&registry, &conflicting, "worker-0", &routes);
        assert_eq!(kept, router);
        assert_eq!(status.status, "failed");
        assert!(status.message.contains("last valid merged configuration"), "{}", status.message);
        assert_eq!(
            errors,
            [json!({
                "objects": ["frr-k8s-system/receive-all", "metallb-system/metallb"],
                "field": "routers[vrf=\"\"].neighbors[10.0.0.1].asn",
                "reason": "asn 64502 in frr-k8s-system/receive-all but asn 64501 in metallb-system/metallb"
            })]
        );
        assert!(stale_merges() > before);

        // Another node has no valid configuration yet.
        let (none, errors, _) = merge(&registry, &conflicting, "worker-1", &routes);
        assert_eq!(none, json!({}));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn without_a_merge_plugin_the_section_is_empty() {
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
        let registry = Registry::new(runtime);
        let (router, errors, status) = merge(&registry, &model(NODES), "worker-0", &[]);
        assert_eq!(router, json!({}));
        assert!(errors.is_empty());
        assert_eq!(status.status, "failed");
        assert!(status.message.contains("no merge plugin is active"), "{}", status.message);
    }
}
