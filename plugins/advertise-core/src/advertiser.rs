//! The advertiser: `open` resolves a configuration once (module `config`) and computes the
//! node-dependent state (module `nodes`); `update_nodes` recomputes the latter; `announce`
//! decides one service.
//!
//! # Complexity of `announce`
//!
//! With `A`/`L` the BGP/L2 advertisements of the service's pool, `P` the peers a BGP
//! advertisement sends to from this node, `I` the service's addresses (1 or 2), `E` its
//! endpoints, `N` the nodes and `C` the election candidates:
//! `O(log pools + (A + L) · selector + I·A·P·log(I·A·P) + E·log E + L·N/64 + C·SHA-256)`.
//! Nothing depends on the number of other services; a typical call (one address, a handful of
//! advertisements and peers, a few endpoints) costs a few microseconds.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use sha2::Digest;

use crate::addr::{Ip, go_string, route_prefix};
use crate::bitset::Bitset;
use crate::bytes::sort_dedup;
use crate::config::{Pool, Resolved, resolve};
use crate::endpoints::{bgp_healthy, l2_active, l2_usable_nodes};
use crate::nodes::{EXCLUDE_LABEL, Local, NodeState};
use crate::selector::any_matches;
use crate::types::{
    BgpRoute, Community, Config, L2Announcement, Node, ObjectRef, OpenError, RouteGroup, Service, ServiceAnnouncements,
    TrafficPolicy,
};

/// The advertiser for one configuration (see the crate documentation for the rules).
pub struct Advertiser {
    cfg: Resolved,
    nodes: NodeState,
}

/// The refusal text for a service without any ready endpoint.
const NO_READY_ENDPOINT: &str =
    "no ready endpoint: nothing is announced for the service (MetalLB withdraws it until an endpoint is ready)";

/// The text for the refused combination of a sharing key and L2 serviceSelectors.
const SHARED_IP_WITH_L2_SELECTORS: &str = "allow-shared-ip with L2 serviceSelectors is refused as MetalLB does";

impl Advertiser {
    /// Resolves a configuration: communities (aliases and literals), aggregation lengths, the
    /// pools each advertisement selects, and the node-dependent state. Every configuration
    /// problem found is returned (`OpenError::Config`); input that breaks the contract (a pool
    /// block of bad shape, a pool given twice) is `OpenError::InvalidInput`.
    pub fn open(config: &Config) -> Result<Advertiser, OpenError> {
        let cfg = resolve(config)?;
        let nodes = NodeState::compute(&cfg, &config.nodes);
        Ok(Advertiser { cfg, nodes })
    }

    /// Replaces the node list (labels, conditions, liveness): elections, the local node's
    /// standing and the peers/advertisements that apply to it use the new list from now on.
    pub fn update_nodes(&mut self, nodes: &[Node]) {
        self.nodes = NodeState::compute(&self.cfg, nodes);
    }

    /// Decides what to announce for one service: the BGP routes the local node sends to each
    /// peer, and for every address the node elected to answer ARP/NDP, with refusals explaining
    /// what the service does not get. Routes are named per peer: [`Advertiser::announce_grouped`]
    /// expanded.
    pub fn announce(&self, svc: &Service) -> ServiceAnnouncements {
        let g = self.announce_grouped(svc);
        let mut bgp = Vec::with_capacity(g.bgp.iter().map(|r| r.peers.len()).sum());
        let mut i = 0;
        while i < g.bgp.len() {
            // Groups of one prefix are adjacent; within the prefix, routes go by peer.
            let prefix = g.bgp[i].prefix;
            let end = i + g.bgp[i..].iter().take_while(|r| r.prefix == prefix).count();
            let mut pairs: Vec<(usize, &RouteGroup)> =
                g.bgp[i..end].iter().flat_map(|r| r.peers.iter().map(move |&p| (p, r))).collect();
            pairs.sort_unstable_by_key(|(p, _)| *p);
            for (p, r) in pairs {
                let peer = &self.cfg.peers[p];
                bgp.push(BgpRoute {
                    peer: peer.name.clone(),
                    vrf: peer.vrf.clone(),
                    prefix,
                    local_pref: r.local_pref,
                    communities: r.communities.clone(),
                    advertisement: self.cfg.bgp[r.advertisement].id.clone(),
                });
            }
            i = end;
        }
        ServiceAnnouncements { service: g.service, bgp, l2: g.l2, refusals: g.refusals }
    }

    /// [`Advertiser::announce`] in the compact form that crosses the component boundary: each
    /// route once with the indices of the peers that hear it.
    pub fn announce_grouped(&self, svc: &Service) -> ServiceAnnouncements<RouteGroup> {
        let mut out =
            ServiceAnnouncements { service: svc.id.clone(), bgp: Vec::new(), l2: Vec::new(), refusals: Vec::new() };
        let Some(pool) = self.cfg.pool(&svc.pool) else {
            out.refusals
                .push(format!("IPAddressPool \"{}\" is not in the configuration: nothing is announced", svc.pool));
            return out;
        };
        let mut ips: Vec<Ip> = Vec::with_capacity(svc.ips.len());
        for a in &svc.ips {
            let ip = Ip::of(*a);
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        if ips.is_empty() {
            out.refusals.push(String::from("no address is allocated: nothing is announced"));
            return out;
        }
        let bgp_ads: Vec<usize> = pool
            .bgp
            .iter()
            .copied()
            .filter(|&a| any_matches(&self.cfg.bgp[a].service_selectors, &svc.labels))
            .collect();
        let l2_ads: Vec<usize> =
            pool.l2.iter().copied().filter(|&a| any_matches(&self.cfg.l2[a].service_selectors, &svc.labels)).collect();
        if bgp_ads.is_empty() && l2_ads.is_empty() {
            let why = if pool.bgp.is_empty() && pool.l2.is_empty() {
                "no BGPAdvertisement or L2Advertisement selects it"
            } else {
                "the serviceSelectors of its advertisements do not select the service"
            };
            out.refusals.push(format!("IPAddressPool \"{}\" is not advertised: {why}", pool.name));
            return out;
        }
        let mut told_no_endpoint = false;
        if !bgp_ads.is_empty() {
            self.bgp(svc, &ips, &bgp_ads, &mut out, &mut told_no_endpoint);
        }
        if !l2_ads.is_empty() {
            self.l2(svc, pool, &ips, &l2_ads, &mut out, &mut told_no_endpoint);
        }
        out
    }

    /// The routes the local node announces (MetalLB's BGP `ShouldAnnounce` then `SetBalancer`
    /// and the per-peer filtering of `adsForPeer`).
    fn bgp(
        &self,
        svc: &Service,
        ips: &[Ip],
        ads: &[usize],
        out: &mut ServiceAnnouncements<RouteGroup>,
        told: &mut bool,
    ) {
        let me = &self.cfg.local_node;
        let standing = match self.nodes.local {
            Local::Ok => None,
            Local::Missing => Some(format!("node {me} is not among the configured nodes")),
            Local::NetworkUnavailable => Some(format!("node {me} has condition NetworkUnavailable")),
            Local::Excluded => Some(format!("node {me} is labelled {EXCLUDE_LABEL}")),
        };
        if let Some(why) = standing {
            out.refusals.push(format!("{why}: it announces no BGP route"));
            return;
        }
        // Advertisements that select this node; those that do not are not a refusal: the
        // configuration says another node announces.
        let here: Vec<usize> = ads.iter().copied().filter(|&a| self.nodes.bgp_targets[a].is_some()).collect();
        if here.is_empty() {
            return;
        }
        if svc.traffic_policy == TrafficPolicy::Local && !bgp_healthy(&svc.endpoints, Some(me)) {
            if bgp_healthy(&svc.endpoints, None) {
                out.refusals.push(format!(
                    "no ready endpoint on {me} (externalTrafficPolicy Local): no BGP route from this node"
                ));
            } else {
                out.refusals.push(String::from(NO_READY_ENDPOINT));
                *told = true;
            }
            return;
        }
        if !bgp_healthy(&svc.endpoints, None) {
            out.refusals.push(String::from(NO_READY_ENDPOINT));
            *told = true;
            return;
        }

        // Per address, the advertisements grouped by aggregation length: one length gives one
        // prefix, so only advertisements of equal length can meet on a (peer, prefix).
        let mut by_len: Vec<(u8, usize)> = Vec::with_capacity(here.len());
        let mut pairs: Vec<(usize, usize, Option<u32>)> = Vec::new();
        for &ip in ips {
            by_len.clear();
            by_len.extend(here.iter().map(|&a| (if ip.v6 { self.cfg.bgp[a].len6 } else { self.cfg.bgp[a].len4 }, a)));
            by_len.sort_unstable();
            let mut k = 0;
            while k < by_len.len() {
                let len = by_len[k].0;
                let end = k + by_len[k..].iter().take_while(|(l, _)| *l == len).count();
                let prefix = route_prefix(ip, len);
                if let [(_, a)] = by_len[k..end] {
                    let ad = &self.cfg.bgp[a];
                    for t in self.nodes.bgp_targets[a].iter().flatten() {
                        self.push_route(out, t.peer, prefix, t.local_pref, &ad.communities, a);
                    }
                } else {
                    // Several advertisements: one route per peer, communities unioned, LOCAL_PREF
                    // and `advertisement` from the first in configuration order.
                    pairs.clear();
                    for &(_, a) in &by_len[k..end] {
                        pairs.extend(self.nodes.bgp_targets[a].iter().flatten().map(|t| (t.peer, a, t.local_pref)));
                    }
                    pairs.sort_unstable();
                    let mut i = 0;
                    while i < pairs.len() {
                        let peer = pairs[i].0;
                        let j = i + pairs[i..].iter().take_while(|p| p.0 == peer).count();
                        let group = &pairs[i..j];
                        let mut communities: Vec<Community> =
                            group.iter().flat_map(|p| self.cfg.bgp[p.1].communities.iter().copied()).collect();
                        communities.sort_unstable();
                        communities.dedup();
                        let local_pref = group.iter().find_map(|p| p.2);
                        self.push_route(out, peer, prefix, local_pref, &communities, group[0].1);
                        i = j;
                    }
                }
                k = end;
            }
        }
    }

    /// Adds one (peer, route): to the group of the same prefix and attributes when there is one
    /// (the groups of the prefix being built are the last ones), else as a new group.
    fn push_route(
        &self,
        out: &mut ServiceAnnouncements<RouteGroup>,
        peer: usize,
        prefix: crate::types::Prefix,
        local_pref: Option<u32>,
        communities: &[Community],
        ad: usize,
    ) {
        for g in out.bgp.iter_mut().rev().take_while(|g| g.prefix == prefix) {
            if g.local_pref == local_pref && g.advertisement == ad && g.communities == communities {
                if let Err(at) = g.peers.binary_search(&peer) {
                    g.peers.insert(at, peer);
                }
                return;
            }
        }
        out.bgp.push(RouteGroup {
            peers: alloc::vec![peer],
            prefix,
            local_pref,
            communities: communities.to_vec(),
            advertisement: ad,
        });
    }

    /// The layer-2 announcements (MetalLB's layer-2 `ShouldAnnounce`, run as every node would:
    /// the same answer on every node for the same live set).
    fn l2(
        &self,
        svc: &Service,
        pool: &Pool,
        ips: &[Ip],
        ads: &[usize],
        out: &mut ServiceAnnouncements<RouteGroup>,
        told: &mut bool,
    ) {
        if svc.sharing_key.is_some()
            && let Some(&a) = ads.iter().find(|&&a| !self.cfg.l2[a].service_selectors.is_empty())
        {
            out.refusals.push(format!(
                "{SHARED_IP_WITH_L2_SELECTORS} (L2Advertisement {} selects services by label and the service has metallb.io/allow-shared-ip): no L2 announcement",
                self.cfg.l2[a].id
            ));
            return;
        }
        if !l2_active(&svc.endpoints) {
            if !*told {
                out.refusals.push(String::from(NO_READY_ENDPOINT));
                *told = true;
            }
            return;
        }
        let mut candidates = Bitset::new(self.nodes.len());
        for &a in ads {
            candidates.union_with(&self.nodes.l2_eligible[a]);
        }
        let local = svc.traffic_policy == TrafficPolicy::Local;
        if local {
            candidates.intersect_with(&l2_usable_nodes(&svc.endpoints, &self.nodes));
        }
        // MetalLB keys the election of every address of the service with its first address.
        let mut key = String::new();
        go_string(ips[0].addr(), &mut key);
        let winner = self.elect(&candidates, &key);
        let (node, interfaces, advertisement) = match winner {
            Some(w) => {
                let (interfaces, ad) = self.interfaces(ads, w);
                (self.nodes.names[w].clone(), interfaces, ad)
            }
            None => {
                let why = if local {
                    "no eligible node (live, without NetworkUnavailable or the exclude-from-external-load-balancers label, selected by an L2Advertisement's nodeSelectors) has a ready endpoint (externalTrafficPolicy Local)"
                } else {
                    "no node is eligible (live, without NetworkUnavailable or the exclude-from-external-load-balancers label, selected by an L2Advertisement's nodeSelectors)"
                };
                out.refusals.push(format!("{why}: no node answers ARP/NDP for the addresses of pool {}", pool.name));
                (String::new(), Vec::new(), self.cfg.l2[ads[0]].id.clone())
            }
        };
        for ip in ips {
            out.l2.push(L2Announcement {
                ip: ip.addr(),
                node: node.clone(),
                interfaces: interfaces.clone(),
                advertisement: advertisement.clone(),
            });
        }
    }

    /// The candidate whose `sha256("<name>#<key>")` is smallest (byte-wise), as MetalLB sorts
    /// the available nodes and takes the first.
    fn elect(&self, candidates: &Bitset, key: &str) -> Option<usize> {
        let mut best: Option<(usize, [u128; 2])> = None;
        for i in candidates.iter() {
            let Some(prefix) = self.nodes.hash_prefix.get(i) else { continue };
            let mut h = prefix.clone();
            h.update(key.as_bytes());
            let d: [u8; 32] = h.finalize().into();
            let (hi, lo) = d.split_at(16);
            let k = [
                u128::from_be_bytes(hi.try_into().unwrap_or([0; 16])),
                u128::from_be_bytes(lo.try_into().unwrap_or([0; 16])),
            ];
            if best.is_none_or(|(_, b)| k.cmp(&b) == Ordering::Less) {
                best = Some((i, k));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The interfaces the elected node answers on (MetalLB's `ipAdvertisementFor`): over the
    /// service's L2Advertisements that select the node, every interface if one of them has no
    /// `interfaces`, else the union; and the first of those advertisements.
    fn interfaces(&self, ads: &[usize], node: usize) -> (Vec<String>, ObjectRef) {
        let mut all = false;
        let mut list: Vec<String> = Vec::new();
        let mut first: Option<usize> = None;
        for &a in ads {
            if !self.nodes.l2_selected[a].contains(node) {
                continue;
            }
            first.get_or_insert(a);
            let ifs = &self.cfg.l2[a].interfaces;
            if ifs.is_empty() {
                all = true;
            } else {
                list.extend(ifs.iter().cloned());
            }
        }
        if all {
            list.clear();
        } else {
            sort_dedup(&mut list);
        }
        let ad = first.or(ads.first().copied()).map(|a| self.cfg.l2[a].id.clone()).unwrap_or_default();
        (list, ad)
    }
}
