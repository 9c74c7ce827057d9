//! `open`'s first half: the configuration resolved once — communities expanded, aggregation
//! lengths defaulted and checked, advertisements attached to the pools they select — and
//! MetalLB's configuration checks (`internal/config/config.go`: `bgpAdvertisementFromCR`,
//! `validateBGPAdvPerPool`, `communitiesFromCrs`; the local-preference rule of
//! `BGPAdvertisementsHaveCompatibleLocalPref`; the serviceSelectors / aggregationLength
//! exclusion of the advertisements' service selectors).
//!
//! Nothing here depends on the nodes: what does is in `nodes`, recomputed by `update-nodes`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::addr::block_shortest_prefix;
use crate::bytes::{cmp, contains, eq, sort_dedup};
use crate::community::Aliases;
use crate::selector::{any_matches, matches, same};
use crate::types::{
    AddressPool, Community, Config, ConfigError, InvalidInput, LabelSelector, Node, ObjectRef, OpenError,
};

/// A BGPPeer as the advertiser keeps it.
#[derive(Debug)]
pub(crate) struct Peer {
    /// `metadata.name`.
    pub name: String,
    /// `spec.vrf`.
    pub vrf: String,
    /// iBGP (`peerASN == myASN` or `dynamicASN: internal`): only then is LOCAL_PREF sent.
    pub ibgp: bool,
    /// `spec.nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
}

/// A BGPAdvertisement, resolved.
#[derive(Debug)]
pub(crate) struct BgpAd {
    /// Namespace and name.
    pub id: ObjectRef,
    /// IPv4 aggregation length (default 32).
    pub len4: u8,
    /// IPv6 aggregation length (default 128).
    pub len6: u8,
    /// LOCAL_PREF (`None` when unset or 0, as MetalLB's zero value means "none").
    pub local_pref: Option<u32>,
    /// Resolved communities, sorted and deduplicated.
    pub communities: Vec<Community>,
    /// `spec.peers` (empty: every peer).
    pub peers: Vec<String>,
    /// `spec.nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.serviceSelectors`.
    pub service_selectors: Vec<LabelSelector>,
}

/// An L2Advertisement, resolved.
#[derive(Debug)]
pub(crate) struct L2Ad {
    /// Namespace and name.
    pub id: ObjectRef,
    /// `spec.interfaces`, sorted and deduplicated (empty: every interface).
    pub interfaces: Vec<String>,
    /// `spec.nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.serviceSelectors`.
    pub service_selectors: Vec<LabelSelector>,
}

/// A pool and the advertisements that select it (indices, in configuration order).
#[derive(Debug)]
pub(crate) struct Pool {
    /// `metadata.name`.
    pub name: String,
    /// BGPAdvertisements selecting it.
    pub bgp: Vec<usize>,
    /// L2Advertisements selecting it.
    pub l2: Vec<usize>,
}

/// The configuration, resolved.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The node this advertiser computes BGP routes for.
    pub local_node: String,
    /// Every BGPPeer, in configuration order.
    pub peers: Vec<Peer>,
    /// Every BGPAdvertisement, in configuration order.
    pub bgp: Vec<BgpAd>,
    /// Every L2Advertisement, in configuration order.
    pub l2: Vec<L2Ad>,
    /// Every pool, sorted by name (byte order).
    pub pools: Vec<Pool>,
}

impl Resolved {
    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.binary_search_by(|p| cmp(&p.name, name)).ok().and_then(|i| self.pools.get(i))
    }
}

/// Per pool: its name, labels, and per family the shortest prefix of its blocks (`None`: the
/// pool has no block of that family) with the block that has it.
struct PoolFacts<'a> {
    pool: &'a AddressPool,
    shortest: [Option<(u8, usize)>; 2],
}

/// Which pools (indices into the name-sorted list) an advertisement selects: `ipAddressPools` by
/// name plus `ipAddressPoolSelectors`; neither set means every pool. Names that do not exist are
/// ignored (MetalLB does; the host's configuration check reports them).
fn selected_pools(names: &[String], sels: &[LabelSelector], pools: &[PoolFacts<'_>]) -> Vec<usize> {
    if names.is_empty() && sels.is_empty() {
        return (0..pools.len()).collect();
    }
    (0..pools.len())
        .filter(|&i| {
            let p = pools[i].pool;
            contains(names, &p.name) || sels.iter().any(|s| matches(s, &p.labels))
        })
        .collect()
}

/// Resolves and checks a configuration.
pub(crate) fn resolve(config: &Config) -> Result<Resolved, OpenError> {
    let mut errors: Vec<ConfigError> = Vec::new();

    // Pools, sorted by name, with their shortest prefix per family.
    let mut order: Vec<usize> = (0..config.pools.len()).collect();
    order.sort_by(|&a, &b| cmp(&config.pools[a].name, &config.pools[b].name));
    let mut facts: Vec<PoolFacts<'_>> = Vec::with_capacity(order.len());
    for i in order {
        let pool = &config.pools[i];
        if facts.last().is_some_and(|f| eq(&f.pool.name, &pool.name)) {
            return Err(OpenError::InvalidInput(InvalidInput(format!(
                "IPAddressPool \"{}\" is given twice",
                pool.name
            ))));
        }
        let mut shortest: [Option<(u8, usize)>; 2] = [None, None];
        for (j, b) in pool.addresses.iter().enumerate() {
            let (v6, len) = block_shortest_prefix(b)
                .map_err(|e| OpenError::InvalidInput(InvalidInput(format!("IPAddressPool \"{}\": {e}", pool.name))))?;
            let slot = &mut shortest[usize::from(v6)];
            if slot.is_none_or(|(l, _)| len < l) {
                *slot = Some((len, j));
            }
        }
        facts.push(PoolFacts { pool, shortest });
    }
    let mut pools: Vec<Pool> =
        facts.iter().map(|f| Pool { name: f.pool.name.clone(), bgp: Vec::new(), l2: Vec::new() }).collect();

    let aliases = Aliases::resolve(&config.communities, &mut errors);

    let peers: Vec<Peer> = config
        .peers
        .iter()
        .map(|p| Peer {
            name: p.name.clone(),
            vrf: p.vrf.clone(),
            ibgp: p.is_ibgp(),
            node_selectors: p.node_selectors.clone(),
        })
        .collect();

    // BGPAdvertisements.
    let mut bgp: Vec<BgpAd> = Vec::with_capacity(config.bgp_advertisements.len());
    let mut bgp_pools: Vec<Vec<usize>> = Vec::with_capacity(config.bgp_advertisements.len());
    for a in &config.bgp_advertisements {
        let len4 = a.aggregation_length.unwrap_or(32);
        let len6 = a.aggregation_length_v6.unwrap_or(128);
        let err = |field: &str, reason: String| ConfigError {
            objects: alloc::vec![a.id.clone()],
            field: field.into(),
            reason,
        };
        if len4 > 32 {
            errors
                .push(err("spec.aggregationLength", format!("invalid aggregation length {len4} for IPv4: at most 32")));
        }
        if len6 > 128 {
            errors.push(err(
                "spec.aggregationLengthV6",
                format!("invalid aggregation length {len6} for IPv6: at most 128"),
            ));
        }
        if !a.service_selectors.is_empty() {
            if len4 != 32 {
                errors.push(err(
                    "spec.aggregationLength",
                    format!("aggregationLength {len4} with serviceSelectors: an advertisement that selects services must announce /32 routes"),
                ));
            }
            if len6 != 128 {
                errors.push(err(
                    "spec.aggregationLengthV6",
                    format!("aggregationLengthV6 {len6} with serviceSelectors: an advertisement that selects services must announce /128 routes"),
                ));
            }
        }
        let selected = selected_pools(&a.pools, &a.pool_selectors, &facts);
        for &pi in &selected {
            let f = &facts[pi];
            for (v6, len, field) in [(false, len4, "spec.aggregationLength"), (true, len6, "spec.aggregationLengthV6")]
            {
                if let Some((min, j)) = f.shortest[usize::from(v6)]
                    && len < min
                {
                    let block = f.pool.addresses.get(j).map(|b| format!("{b}")).unwrap_or_default();
                    errors.push(err(
                        field,
                        format!(
                            "invalid aggregation length {len}: prefix /{min} of {block} in IPAddressPool \"{}\" is more specific than the aggregation length (the route would cover addresses outside the pool)",
                            f.pool.name
                        ),
                    ));
                }
            }
        }
        let mut ad_peers = a.peers.clone();
        sort_dedup(&mut ad_peers);
        bgp.push(BgpAd {
            id: a.id.clone(),
            len4: len4.min(32),
            len6: len6.min(128),
            local_pref: a.local_pref.filter(|&l| l != 0),
            communities: aliases.resolve_list(&a.id, &a.communities, &mut errors),
            peers: ad_peers,
            node_selectors: a.node_selectors.clone(),
            service_selectors: a.service_selectors.clone(),
        });
        bgp_pools.push(selected);
    }
    local_pref_conflicts(&bgp, &bgp_pools, &facts, &config.nodes, &mut errors);

    // L2Advertisements.
    let mut l2: Vec<L2Ad> = Vec::with_capacity(config.l2_advertisements.len());
    for (ai, a) in config.l2_advertisements.iter().enumerate() {
        let mut interfaces = a.interfaces.clone();
        sort_dedup(&mut interfaces);
        for pi in selected_pools(&a.pools, &a.pool_selectors, &facts) {
            pools[pi].l2.push(ai);
        }
        l2.push(L2Ad {
            id: a.id.clone(),
            interfaces,
            node_selectors: a.node_selectors.clone(),
            service_selectors: a.service_selectors.clone(),
        });
    }
    for (ai, selected) in bgp_pools.iter().enumerate() {
        for &pi in selected {
            pools[pi].bgp.push(ai);
        }
    }

    if !errors.is_empty() {
        return Err(OpenError::Config(errors));
    }
    Ok(Resolved { local_node: config.local_node.clone(), peers, bgp, l2, pools })
}

/// MetalLB refuses two advertisements of one pool whose localPref differ when they would send
/// the same prefixes to the same peers from the same nodes ("BGP ADVs set a unique local
/// preference value per BGP update"): same aggregation length for a family the pool has,
/// overlapping `peers` (empty is every peer), overlapping node sets. Advertisements with
/// serviceSelectors are left out (they select different services). Both advertisements are named.
fn local_pref_conflicts(
    ads: &[BgpAd],
    ad_pools: &[Vec<usize>],
    pools: &[PoolFacts<'_>],
    nodes: &[Node],
    errors: &mut Vec<ConfigError>,
) {
    let node_sets: Vec<Vec<bool>> =
        ads.iter().map(|a| nodes.iter().map(|n| any_matches(&a.node_selectors, &n.labels)).collect()).collect();
    let mut reported: Vec<(usize, usize)> = Vec::new();
    for (pi, p) in pools.iter().enumerate() {
        let on_pool: Vec<usize> =
            (0..ads.len()).filter(|&i| ads[i].service_selectors.is_empty() && ad_pools[i].contains(&pi)).collect();
        for (k, &bi) in on_pool.iter().enumerate() {
            for &ai in &on_pool[..k] {
                let (a, b) = (&ads[ai], &ads[bi]);
                if a.local_pref == b.local_pref || reported.contains(&(ai, bi)) {
                    continue;
                }
                let same4 = p.shortest[0].is_some() && a.len4 == b.len4;
                let same6 = p.shortest[1].is_some() && a.len6 == b.len6;
                if !same4 && !same6 {
                    continue;
                }
                if !a.peers.is_empty() && !b.peers.is_empty() && !a.peers.iter().any(|x| contains(&b.peers, x)) {
                    continue;
                }
                let nodes_meet = if nodes.is_empty() {
                    a.node_selectors.is_empty()
                        || b.node_selectors.is_empty()
                        || a.node_selectors.iter().any(|s| b.node_selectors.iter().any(|t| same(s, t)))
                } else {
                    node_sets[ai].iter().zip(&node_sets[bi]).any(|(x, y)| *x && *y)
                };
                if !nodes_meet {
                    continue;
                }
                reported.push((ai, bi));
                errors.push(ConfigError {
                    objects: alloc::vec![a.id.clone(), b.id.clone()],
                    field: String::from("spec.localPref"),
                    reason: format!(
                        "localPref {} of {} conflicts with localPref {} of {} for IPAddressPool \"{}\": both announce the same prefixes to the same peers from the same nodes",
                        b.local_pref.unwrap_or(0),
                        b.id,
                        a.local_pref.unwrap_or(0),
                        a.id,
                        p.pool.name
                    ),
                });
            }
        }
    }
}
