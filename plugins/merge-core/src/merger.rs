//! The merge itself: configurations are folded one by one into per-VRF router accumulators,
//! per-neighbor accumulators and per-name BFD profile accumulators. Every disagreement is recorded
//! (never returned early), so one call reports every conflict at once.
//!
//! Cost: each source is visited once. Routers, neighbors and profiles are found in B-trees; a
//! neighbor's lists (advertised prefixes, communities, local preferences, receive selectors) are
//! appended to plain vectors and sorted, deduplicated and checked once in `finish`, so merging `n`
//! neighbor entries with `p` prefixes each costs `O(n·log + n·p·log)` and memory proportional to
//! the input. A source is identified by its index; object names are cloned only into conflicts.

use alloc::boxed::Box;
use alloc::collections::btree_map::Entry;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Display;
use core::net::IpAddr;

use crate::bytes::{Key, ip_key, opt_eq, opt_ip_eq};
use crate::report::{NeighborKey, Report, Slot, Src, neighbor_path, router_path};
use crate::selector;
use crate::types::*;

/// A field with a documented default: unset compares as the default (rule 3: port 179, holdTime
/// 180 s, keepaliveTime 60 s, connectTime 60 s; false for flags; the BFD defaults for profiles).
struct Defaulted<T> {
    /// The field name in FRRConfiguration.
    name: &'static str,
    /// The value unset stands for.
    default: T,
    /// How a value is written in a reason.
    show: fn(T) -> String,
}

fn plain<T: Display>(v: T) -> String {
    v.to_string()
}

/// A duration in ms the way FRRConfiguration spells it: `90s`, or `1500ms` when not whole seconds.
pub fn duration_text(ms: u32) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

const PORT: Defaulted<u16> = Defaulted { name: "port", default: DEFAULT_PORT, show: plain };
const HOLD_TIME: Defaulted<u32> = Defaulted { name: "holdTime", default: DEFAULT_HOLD_TIME_MS, show: duration_text };
const KEEPALIVE_TIME: Defaulted<u32> =
    Defaulted { name: "keepaliveTime", default: DEFAULT_KEEPALIVE_TIME_MS, show: duration_text };
const CONNECT_TIME: Defaulted<u32> =
    Defaulted { name: "connectTime", default: DEFAULT_CONNECT_TIME_MS, show: duration_text };
const EBGP_MULTI_HOP: Defaulted<bool> = Defaulted { name: "ebgpMultiHop", default: false, show: plain };
const DISABLE_MP: Defaulted<bool> = Defaulted { name: "disableMP", default: false, show: plain };
const RECEIVE_INTERVAL: Defaulted<u32> = Defaulted { name: "receiveInterval", default: 300, show: plain };
const TRANSMIT_INTERVAL: Defaulted<u32> = Defaulted { name: "transmitInterval", default: 300, show: plain };
const DETECT_MULTIPLIER: Defaulted<u32> = Defaulted { name: "detectMultiplier", default: 3, show: plain };
const ECHO_INTERVAL: Defaulted<u32> = Defaulted { name: "echoInterval", default: 50, show: plain };
const ECHO_MODE: Defaulted<bool> = Defaulted { name: "echoMode", default: false, show: plain };
const PASSIVE_MODE: Defaulted<bool> = Defaulted { name: "passiveMode", default: false, show: plain };
const MINIMUM_TTL: Defaulted<u32> = Defaulted { name: "minimumTtl", default: 254, show: plain };

/// Merge a defaulted field into `slot`; the merged value keeps an explicit setting.
fn merge_defaulted<T: PartialEq + Copy>(
    r: &mut Report,
    slot: &mut Slot<Option<T>>,
    new: Option<T>,
    from: Src,
    def: &Defaulted<T>,
    path: &dyn Fn() -> String,
) {
    if slot.value.unwrap_or(def.default) != new.unwrap_or(def.default) {
        let show = |v: Option<T>| match v {
            Some(v) => format!("{} {}", def.name, (def.show)(v)),
            None => format!("{} {} (unset)", def.name, (def.show)(def.default)),
        };
        r.disagree(slot.from, from, format!("{}.{}", path(), def.name), show(slot.value), show(new));
    } else if slot.value.is_none() && new.is_some() {
        slot.value = new;
    }
}

/// Merge a field where unset is a value of its own ("no source address", "no BFD"); `same`
/// compares without `memcmp` (see `bytes`).
fn merge_exact<T>(
    r: &mut Report,
    slot: &Slot<T>,
    (new, same): (&T, fn(&T, &T) -> bool),
    from: Src,
    field: impl FnOnce() -> String,
    show: impl Fn(&T) -> String,
) {
    if !same(&slot.value, new) {
        r.disagree(slot.from, from, field(), show(&slot.value), show(new));
    }
}

/// Merge a field where two set values must agree and unset takes no position (`bfdProfile`: "two
/// different bfdProfiles" conflict); the merged value is the set one, named after its setter.
fn merge_optional(
    r: &mut Report,
    slot: &mut Slot<Option<String>>,
    new: Option<String>,
    from: Src,
    field: impl FnOnce() -> String,
    show: impl Fn(&Option<String>) -> String,
) {
    match (&slot.value, new) {
        (Some(a), Some(b)) if !crate::bytes::eq(a, &b) => {
            let (a, b) = (show(&slot.value), show(&Some(b)));
            r.disagree(slot.from, from, field(), a, b);
        }
        (None, Some(b)) => *slot = Slot::new(Some(b), from),
        _ => {}
    }
}

fn show_asn(v: &(Option<u32>, Option<DynamicAsn>)) -> String {
    match v {
        (Some(a), None) => format!("asn {a}"),
        (None, Some(d)) => format!("dynamicASN {d}"),
        (Some(a), Some(d)) => format!("asn {a} with dynamicASN {d}"),
        (None, None) => "no asn".to_string(),
    }
}

fn show_source(v: &Option<IpAddr>) -> String {
    match v {
        Some(v) => format!("sourceaddress {v}"),
        None => "no sourceaddress".to_string(),
    }
}

fn show_bfd(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("bfdProfile {v:?}"),
        None => "no bfdProfile".to_string(),
    }
}

/// How a (password, passwordSecret) pair is described: a password is never shown.
fn show_password(p: &(Option<String>, Option<String>)) -> String {
    match p {
        (Some(_), None) => "a password".to_string(),
        (None, Some(s)) => format!("passwordSecret {s:?}"),
        (Some(_), Some(s)) => format!("a password and passwordSecret {s:?}"),
        (None, None) => "no password".to_string(),
    }
}

/// Everything merged into one neighbor.
struct NeighborAcc {
    address: Option<IpAddr>,
    interface: Option<String>,
    asn: Slot<(Option<u32>, Option<DynamicAsn>)>,
    port: Slot<Option<u16>>,
    source_address: Slot<Option<IpAddr>>,
    /// (password, passwordSecret).
    password: Slot<(Option<String>, Option<String>)>,
    hold_time: Slot<Option<u32>>,
    keepalive_time: Slot<Option<u32>>,
    connect_time: Slot<Option<u32>>,
    ebgp_multi_hop: Slot<Option<bool>>,
    bfd_profile: Slot<Option<String>>,
    enable_graceful_restart: Option<bool>,
    disable_mp: Slot<Option<bool>>,
    advertise_mode: Option<FilterMode>,
    // The lists below are plain vectors, sorted and deduplicated in `finish`: a neighbor merged
    // once costs no more than its input (no tree node per neighbor and list).
    advertise: Vec<Prefix>,
    communities: Vec<(Community, Prefix)>,
    /// (prefix, localPref, source), in input order.
    local_prefs: Vec<(Prefix, u32, Src)>,
    receive_mode: Option<FilterMode>,
    receive: Vec<PrefixSelector>,
}

/// Append `more` to `list`, reusing `more`'s buffer when `list` is empty.
fn append<T>(list: &mut Vec<T>, mut more: Vec<T>) {
    if list.is_empty() {
        *list = more;
    } else {
        list.append(&mut more);
    }
}

fn sort_dedup<T: Ord>(list: &mut Vec<T>) {
    list.sort_unstable();
    list.dedup();
}

impl NeighborAcc {
    fn new(n: Neighbor, from: Src) -> NeighborAcc {
        let mut acc = NeighborAcc {
            address: n.address,
            interface: n.interface,
            asn: Slot::new((n.asn, n.dynamic_asn), from),
            port: Slot::new(n.port, from),
            source_address: Slot::new(n.source_address, from),
            password: Slot::new((n.password, n.password_secret), from),
            hold_time: Slot::new(n.hold_time, from),
            keepalive_time: Slot::new(n.keepalive_time, from),
            connect_time: Slot::new(n.connect_time, from),
            ebgp_multi_hop: Slot::new(n.ebgp_multi_hop, from),
            bfd_profile: Slot::new(n.bfd_profile, from),
            enable_graceful_restart: n.enable_graceful_restart,
            disable_mp: Slot::new(n.disable_mp, from),
            advertise_mode: None,
            advertise: Vec::new(),
            communities: Vec::new(),
            local_prefs: Vec::new(),
            receive_mode: None,
            receive: Vec::new(),
        };
        acc.merge_filters(n.to_advertise, n.to_receive, from);
        acc
    }

    /// Merge another entry for the same neighbor (rule 3), then its filters (rules 4 and 5).
    fn merge(&mut self, n: Neighbor, from: Src, r: &mut Report, path: &dyn Fn() -> String) {
        let f = |name: &str| format!("{}.{name}", path());
        merge_exact(r, &self.asn, (&(n.asn, n.dynamic_asn), |a, b| a == b), from, || f("asn"), show_asn);
        merge_defaulted(r, &mut self.port, n.port, from, &PORT, path);
        merge_exact(r, &self.source_address, (&n.source_address, opt_ip_eq), from, || f("sourceaddress"), show_source);
        let pw = (n.password, n.password_secret);
        let field = if opt_eq(&self.password.value.1, &pw.1) { "password" } else { "passwordSecret" };
        merge_exact(
            r,
            &self.password,
            (&pw, |a, b| opt_eq(&a.0, &b.0) && opt_eq(&a.1, &b.1)),
            from,
            || f(field),
            show_password,
        );
        merge_defaulted(r, &mut self.hold_time, n.hold_time, from, &HOLD_TIME, path);
        merge_defaulted(r, &mut self.keepalive_time, n.keepalive_time, from, &KEEPALIVE_TIME, path);
        merge_defaulted(r, &mut self.connect_time, n.connect_time, from, &CONNECT_TIME, path);
        merge_defaulted(r, &mut self.ebgp_multi_hop, n.ebgp_multi_hop, from, &EBGP_MULTI_HOP, path);
        merge_optional(r, &mut self.bfd_profile, n.bfd_profile, from, || f("bfdProfile"), show_bfd);
        merge_defaulted(r, &mut self.disable_mp, n.disable_mp, from, &DISABLE_MP, path);
        // Not a conflict (frr-k8s does not compare it): graceful restart on if any entry asks.
        self.enable_graceful_restart = match (self.enable_graceful_restart, n.enable_graceful_restart) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (a, b) => a.or(b),
        };
        if self.interface.is_none() {
            self.interface = n.interface;
        }
        self.merge_filters(n.to_advertise, n.to_receive, from);
    }

    fn merge_filters(&mut self, adv: AdvertiseFilter, recv: ReceiveFilter, from: Src) {
        // Rule 4: `mode: all` wins; prefixes and attached values are unioned (in `finish`).
        self.advertise_mode = self.advertise_mode.max(adv.mode);
        append(&mut self.advertise, adv.prefixes);
        for c in adv.with_community {
            self.communities.extend(c.prefixes.into_iter().map(|p| (c.community, p)));
        }
        for lp in adv.with_local_pref {
            self.local_prefs.extend(lp.prefixes.into_iter().map(|p| (p, lp.local_pref, from)));
        }
        // Rule 5: the less restrictive filter wins: `all` beats filtered, selectors are unioned.
        self.receive_mode = self.receive_mode.max(recv.mode);
        append(&mut self.receive, recv.prefixes);
    }

    /// The merged neighbor; two local preferences for one prefix are reported here (the first
    /// one given, in input order, against each different one).
    fn finish(mut self, r: &mut Report, path: &dyn Fn() -> String) -> Neighbor {
        sort_dedup(&mut self.advertise);
        sort_dedup(&mut self.receive);
        sort_dedup(&mut self.communities);
        let with_community = self
            .communities
            .chunk_by(|a, b| a.0 == b.0)
            .map(|g| CommunityPrefixes { community: g[0].0, prefixes: g.iter().map(|c| c.1).collect() })
            .collect();
        // Stable: within one prefix, input order.
        self.local_prefs.sort_by_key(|e| e.0);
        let mut by_pref: BTreeMap<u32, Vec<Prefix>> = BTreeMap::new();
        for group in self.local_prefs.chunk_by(|a, b| a.0 == b.0) {
            let (p, value, first) = group[0];
            let mut reported: Vec<(u32, Src)> = Vec::new();
            for &(_, other, from) in &group[1..] {
                if other == value || reported.contains(&(other, from)) {
                    continue;
                }
                reported.push((other, from));
                let reason = if first == from {
                    format!("{p} has localPref {value} and {other} in {}", r.name(from))
                } else {
                    format!("{p} has localPref {value} in {} but {other} in {}", r.name(first), r.name(from))
                };
                r.conflict(&[first, from], format!("{}.toAdvertise.withLocalPref", path()), reason);
            }
            by_pref.entry(value).or_default().push(p);
        }
        let (password, password_secret) = self.password.value;
        let (asn, dynamic_asn) = self.asn.value;
        Neighbor {
            address: self.address,
            interface: self.interface,
            asn,
            dynamic_asn,
            port: self.port.value,
            source_address: self.source_address.value,
            password,
            password_secret,
            hold_time: self.hold_time.value,
            keepalive_time: self.keepalive_time.value,
            connect_time: self.connect_time.value,
            ebgp_multi_hop: self.ebgp_multi_hop.value,
            bfd_profile: self.bfd_profile.value,
            enable_graceful_restart: self.enable_graceful_restart,
            disable_mp: self.disable_mp.value,
            to_advertise: AdvertiseFilter {
                mode: self.advertise_mode,
                prefixes: self.advertise,
                with_community,
                with_local_pref: by_pref
                    .into_iter()
                    .map(|(local_pref, prefixes)| LocalPrefPrefixes { local_pref, prefixes })
                    .collect(),
            },
            to_receive: ReceiveFilter { mode: self.receive_mode, prefixes: self.receive },
        }
    }
}

/// Everything merged into the router of one VRF.
struct RouterAcc {
    vrf: String,
    asn: Slot<u32>,
    id: Option<Slot<IpAddr>>,
    prefixes: BTreeSet<Prefix>,
    imports: BTreeSet<Key>,
    /// Boxed: tree nodes are half full after ordered inserts, and an accumulator is large.
    neighbors: BTreeMap<NeighborKey, Box<NeighborAcc>>,
}

/// Everything merged into the BFD profile of one name.
struct BfdAcc {
    receive_interval: Slot<Option<u32>>,
    transmit_interval: Slot<Option<u32>>,
    detect_multiplier: Slot<Option<u32>>,
    echo_interval: Slot<Option<u32>>,
    echo_mode: Slot<Option<bool>>,
    passive_mode: Slot<Option<bool>>,
    minimum_ttl: Slot<Option<u32>>,
}

impl BfdAcc {
    fn new(p: &BfdProfile, from: Src) -> BfdAcc {
        BfdAcc {
            receive_interval: Slot::new(p.receive_interval, from),
            transmit_interval: Slot::new(p.transmit_interval, from),
            detect_multiplier: Slot::new(p.detect_multiplier, from),
            echo_interval: Slot::new(p.echo_interval, from),
            echo_mode: Slot::new(p.echo_mode, from),
            passive_mode: Slot::new(p.passive_mode, from),
            minimum_ttl: Slot::new(p.minimum_ttl, from),
        }
    }

    /// Rule 6: same name, different (effective) values is a conflict.
    fn merge(&mut self, p: &BfdProfile, from: Src, r: &mut Report) {
        let path = || format!("bfdProfiles[{}]", p.name);
        merge_defaulted(r, &mut self.receive_interval, p.receive_interval, from, &RECEIVE_INTERVAL, &path);
        merge_defaulted(r, &mut self.transmit_interval, p.transmit_interval, from, &TRANSMIT_INTERVAL, &path);
        merge_defaulted(r, &mut self.detect_multiplier, p.detect_multiplier, from, &DETECT_MULTIPLIER, &path);
        merge_defaulted(r, &mut self.echo_interval, p.echo_interval, from, &ECHO_INTERVAL, &path);
        merge_defaulted(r, &mut self.echo_mode, p.echo_mode, from, &ECHO_MODE, &path);
        merge_defaulted(r, &mut self.passive_mode, p.passive_mode, from, &PASSIVE_MODE, &path);
        merge_defaulted(r, &mut self.minimum_ttl, p.minimum_ttl, from, &MINIMUM_TTL, &path);
    }

    fn finish(self, name: String) -> BfdProfile {
        BfdProfile {
            name,
            receive_interval: self.receive_interval.value,
            transmit_interval: self.transmit_interval.value,
            detect_multiplier: self.detect_multiplier.value,
            echo_interval: self.echo_interval.value,
            echo_mode: self.echo_mode.value,
            passive_mode: self.passive_mode.value,
            minimum_ttl: self.minimum_ttl.value,
        }
    }
}

/// Folds configurations into one, source by source (see the crate documentation for the rules).
///
/// ```
/// use ferrolb_merge_core::{ConfigSource, Merger, Neighbor, Node, ObjectRef, Router, RouterConfig};
///
/// let source = |name: &str, asn: u32| ConfigSource {
///     origin: ObjectRef::new("frr-k8s-system", name),
///     config: RouterConfig {
///         routers: vec![Router { neighbors: vec![Neighbor::new("192.0.2.1".parse().unwrap(), asn)], ..Router::new(64512, "") }],
///         bfd_profiles: vec![],
///     },
///     ..ConfigSource::default()
/// };
/// let mut m = Merger::new(&Node::default(), vec![]);
/// m.add(source("a", 64600));
/// m.add(source("b", 64601));
/// let err = m.finish().unwrap_err();
/// assert!(err.to_string().contains("asn 64600 in frr-k8s-system/a but asn 64601 in frr-k8s-system/b"));
/// ```
pub struct Merger {
    node_labels: Vec<Label>,
    report: Report,
    always_block: BTreeSet<PrefixSelector>,
    routers: BTreeMap<Key, RouterAcc>,
    bfd: BTreeMap<Key, BfdAcc>,
}

impl Merger {
    /// A merger for `node`, with the MetalLB CR's `alwaysBlock`.
    pub fn new(node: &Node, always_block: Vec<PrefixSelector>) -> Merger {
        let mut report = Report { origins: Vec::new(), conflicts: Vec::new(), invalid: Vec::new() };
        for s in &always_block {
            if let Some(p) = s.problem() {
                report.invalid.push(format!("alwaysBlock: {p}"));
            }
        }
        Merger {
            node_labels: node.labels.clone(),
            report,
            always_block: always_block.into_iter().collect(),
            routers: BTreeMap::new(),
            bfd: BTreeMap::new(),
        }
    }

    /// Merge one configuration if its node selector matches the node; returns whether it applied.
    pub fn add(&mut self, source: ConfigSource) -> bool {
        if !selector::matches(&source.node_selector, &self.node_labels) {
            return false;
        }
        let from = Src::try_from(self.report.origins.len()).unwrap_or(Src::MAX);
        self.report.origins.push(source.origin);
        crate::validate::source(&mut self.report, from, &source.config);
        for p in &source.config.bfd_profiles {
            match self.bfd.entry(Key(p.name.clone())) {
                Entry::Occupied(mut acc) => acc.get_mut().merge(p, from, &mut self.report),
                Entry::Vacant(v) => {
                    v.insert(BfdAcc::new(p, from));
                }
            }
        }
        for router in source.config.routers {
            self.add_router(router, from);
        }
        true
    }

    fn add_router(&mut self, router: Router, from: Src) {
        let r = &mut self.report;
        let acc = match self.routers.entry(Key(router.vrf)) {
            Entry::Occupied(e) => {
                let acc = e.into_mut();
                let vrf = &acc.vrf;
                // Rule 2: one router per VRF; the ASN must agree, router IDs when both are set.
                if acc.asn.value != router.asn {
                    let (a, b) = (format!("asn {}", acc.asn.value), format!("asn {}", router.asn));
                    r.disagree(acc.asn.from, from, format!("{}.asn", router_path(vrf)), a, b);
                }
                match (&acc.id, router.id) {
                    (Some(id), Some(new)) if ip_key(id.value) != ip_key(new) => {
                        let (first, a, b) = (id.from, format!("router id {}", id.value), format!("router id {new}"));
                        r.disagree(first, from, format!("{}.id", router_path(vrf)), a, b);
                    }
                    (None, Some(new)) => acc.id = Some(Slot::new(new, from)),
                    _ => {}
                }
                acc
            }
            Entry::Vacant(e) => {
                let vrf = e.key().0.clone();
                e.insert(RouterAcc {
                    vrf,
                    asn: Slot::new(router.asn, from),
                    id: router.id.map(|id| Slot::new(id, from)),
                    prefixes: BTreeSet::new(),
                    imports: BTreeSet::new(),
                    neighbors: BTreeMap::new(),
                })
            }
        };
        acc.prefixes.extend(router.prefixes);
        acc.imports.extend(router.imports.into_iter().map(Key));
        let RouterAcc { vrf, neighbors, .. } = acc;
        for n in router.neighbors {
            let key = NeighborKey::of(&n);
            if key == NeighborKey::Nothing {
                continue; // reported by `validate`; nothing to merge it with
            }
            let path = || neighbor_path(vrf, &key);
            match neighbors.get_mut(&key) {
                Some(existing) => existing.merge(n, from, r, &path),
                None => {
                    neighbors.insert(key, Box::new(NeighborAcc::new(n, from)));
                }
            }
        }
    }

    /// The merged configuration, or every conflict found.
    pub fn finish(self) -> Result<MergedConfig, MergeError> {
        let (mut m, neighbors) = self.finish_map(|n| n)?;
        for (r, n) in m.config.routers.iter_mut().zip(neighbors) {
            r.neighbors = n;
        }
        Ok(m)
    }

    /// [`Merger::finish`], with each merged neighbor passed through `f` as it is produced: the
    /// routers of the result have no neighbors; the second value holds each router's neighbors,
    /// mapped, in the same order. A caller that converts neighbors to another representation (the
    /// WebAssembly component, to WIT records) never holds two copies of all of them.
    pub fn finish_map<N>(self, mut f: impl FnMut(Neighbor) -> N) -> Result<(MergedConfig, Vec<Vec<N>>), MergeError> {
        let Merger { mut report, always_block, routers, bfd, .. } = self;
        if !report.invalid.is_empty() {
            return Err(MergeError::InvalidInput(report.invalid.join("; ")));
        }
        let r = &mut report;
        let mut all_neighbors = Vec::with_capacity(routers.len());
        let routers = routers
            .into_values()
            .map(|acc| {
                let vrf = acc.vrf;
                all_neighbors.push(
                    acc.neighbors
                        .into_iter()
                        .map(|(key, n)| f(n.finish(r, &|| neighbor_path(&vrf, &key))))
                        .collect::<Vec<N>>(),
                );
                Router {
                    asn: acc.asn.value,
                    id: acc.id.map(|s| s.value),
                    prefixes: acc.prefixes.into_iter().collect(),
                    neighbors: Vec::new(),
                    imports: acc.imports.into_iter().map(|k| k.0).collect(),
                    vrf,
                }
            })
            .collect();
        if !report.conflicts.is_empty() {
            return Err(MergeError::Conflicts(report.conflicts));
        }
        let bfd_profiles = bfd.into_iter().map(|(name, acc)| acc.finish(name.0)).collect();
        let m = MergedConfig {
            config: RouterConfig { routers, bfd_profiles },
            applied: report.origins,
            always_block: always_block.into_iter().collect(),
        };
        Ok((m, all_neighbors))
    }
}
