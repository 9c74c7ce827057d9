//! Loc-RIB: the best path per prefix across peers, per kernel routing table (VRF), with the
//! changes the netlink installer must make.
//!
//! Selection follows RFC 4271 §9.1 as successive eliminations over all the paths of a prefix, so
//! the result depends only on the set of paths, never on arrival order:
//!
//! 1. highest LOCAL_PREF (degree of preference, §9.1.1);
//! 2. fewest AS numbers in AS_PATH (§9.1.2.2 a);
//! 3. lowest ORIGIN (b);
//! 4. lowest MULTI_EXIT_DISC, compared only among paths from the same neighbouring AS (c);
//! 5. eBGP-learned over iBGP-learned (d); the interior cost (e) is equal for all — the host has
//!    no IGP;
//! 6. lowest BGP Identifier of the advertising peer (f);
//! 7. lowest peer address (g);
//! 8. lowest peer key, so that even identical peers give one answer.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::InDelta;

/// A kernel routing table id (254 = main; a VRF's table otherwise).
pub type TableId = u32;

/// The path-attribute inputs of best-path selection, implemented by the attribute type.
pub trait BestPathInputs {
    /// The effective LOCAL_PREF (the configured default, usually 100, when absent).
    fn local_pref(&self) -> u32;
    /// The AS_PATH length as RFC 4271 §9.1.2.2 a counts it (an AS_SET counts 1).
    fn as_path_len(&self) -> u32;
    /// ORIGIN: 0 IGP, 1 EGP, 2 INCOMPLETE.
    fn origin(&self) -> u8;
    /// MULTI_EXIT_DISC, 0 when absent (§9.1.2.2 c: "the lowest possible MULTI_EXIT_DISC value").
    fn med(&self) -> u32;
    /// The neighbouring AS (the first AS of the AS_PATH), `None` for an empty AS_PATH.
    fn neighbor_as(&self) -> Option<u32>;
}

/// What the Loc-RIB needs to know about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerInfo {
    /// The kernel table its routes go to.
    pub table: TableId,
    /// Whether the session is eBGP.
    pub ebgp: bool,
    /// The peer's BGP Identifier (from its OPEN).
    pub router_id: Ipv4Addr,
    /// The peer's address.
    pub address: IpAddr,
}

/// Errors of the Loc-RIB.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocRibError {
    /// Routes were given for a peer never registered with [`LocRib::set_peer`].
    #[error("routes from a peer the Loc-RIB does not know")]
    UnknownPeer,
    /// A peer cannot move to another table while it has routes (remove them first).
    #[error("the peer still has {routes} routes in table {table}: it cannot move to another table")]
    PeerHasRoutes {
        /// Its current table.
        table: TableId,
        /// Its route count.
        routes: usize,
    },
}

/// One change to a kernel table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocChange<K, A> {
    /// A prefix gets its first route.
    Install {
        /// The table.
        table: TableId,
        /// The prefix.
        prefix: IpNet,
        /// The peer of the best path.
        peer: K,
        /// Its attributes (the next hop is in there).
        attrs: Arc<A>,
    },
    /// A prefix's route changes (another peer, or new attributes).
    Replace {
        /// The table.
        table: TableId,
        /// The prefix.
        prefix: IpNet,
        /// The peer of the new best path.
        peer: K,
        /// Its attributes.
        attrs: Arc<A>,
    },
    /// A prefix loses its route.
    Remove {
        /// The table.
        table: TableId,
        /// The prefix.
        prefix: IpNet,
    },
}

impl<K, A> LocChange<K, A> {
    /// The prefix concerned.
    pub fn prefix(&self) -> IpNet {
        match self {
            LocChange::Install { prefix, .. }
            | LocChange::Replace { prefix, .. }
            | LocChange::Remove { prefix, .. } => *prefix,
        }
    }

    /// The table concerned.
    pub fn table(&self) -> TableId {
        match self {
            LocChange::Install { table, .. } | LocChange::Replace { table, .. } | LocChange::Remove { table, .. } => {
                *table
            }
        }
    }
}

/// The changes of one Loc-RIB operation, at most one per (table, prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocDelta<K, A> {
    /// In the order the input was processed (see each operation).
    pub changes: Vec<LocChange<K, A>>,
}

impl<K, A> Default for LocDelta<K, A> {
    fn default() -> Self {
        Self { changes: Vec::new() }
    }
}

impl<K, A> LocDelta<K, A> {
    /// No change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Debug)]
struct Path<K, A> {
    peer: K,
    attrs: Arc<A>,
}

impl<K: Clone, A> Clone for Path<K, A> {
    fn clone(&self) -> Self {
        Path { peer: self.peer.clone(), attrs: self.attrs.clone() }
    }
}

#[derive(Debug)]
struct Dest<K, A> {
    paths: Vec<Path<K, A>>,
    best: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
struct PeerState {
    info: PeerInfo,
    routes: usize,
}

/// The Loc-RIB, keyed by table id then prefix. `K` identifies a peer (e.g. its address or a
/// session id).
#[derive(Debug)]
pub struct LocRib<K, A> {
    peers: HashMap<K, PeerState>,
    tables: BTreeMap<TableId, HashMap<IpNet, Dest<K, A>>>,
}

impl<K, A> Default for LocRib<K, A> {
    fn default() -> Self {
        Self { peers: HashMap::new(), tables: BTreeMap::new() }
    }
}

fn retain_min<T: Ord>(cands: &mut Vec<usize>, key: impl Fn(usize) -> T) {
    if let Some(min) = cands.iter().map(|&i| key(i)).min() {
        cands.retain(|&i| key(i) == min);
    }
}

fn select<K: Eq + Hash + Ord, A: BestPathInputs>(paths: &[Path<K, A>], peers: &HashMap<K, PeerState>) -> Option<usize> {
    match paths.len() {
        0 => return None,
        1 => return Some(0),
        _ => {}
    }
    let info = |i: usize| peers.get(&paths[i].peer).map(|s| s.info);
    let a = |i: usize| &*paths[i].attrs;
    let mut c: Vec<usize> = (0..paths.len()).collect();
    retain_min(&mut c, |i| Reverse(a(i).local_pref()));
    retain_min(&mut c, |i| a(i).as_path_len());
    retain_min(&mut c, |i| a(i).origin());
    if c.len() > 1 {
        let snapshot = c.clone();
        c.retain(|&i| !snapshot.iter().any(|&j| a(j).neighbor_as() == a(i).neighbor_as() && a(j).med() < a(i).med()));
    }
    if c.iter().any(|&i| info(i).is_some_and(|p| p.ebgp)) {
        c.retain(|&i| info(i).is_some_and(|p| p.ebgp));
    }
    // Unknown peers cannot hold paths (apply refuses them); rank them last anyway.
    retain_min(&mut c, |i| info(i).map_or(u32::MAX, |p| u32::from(p.router_id)));
    retain_min(&mut c, |i| info(i).map(|p| p.address).ok_or(()));
    c.into_iter().min_by(|&x, &y| paths[x].peer.cmp(&paths[y].peer))
}

impl<K: Clone + Eq + Hash + Ord, A: BestPathInputs + Eq> LocRib<K, A> {
    /// An empty Loc-RIB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a peer or updates what is known of it (e.g. its BGP Identifier after OPEN). When
    /// a peer with routes changes, the prefixes it has paths for are selected again; moving a
    /// peer with routes to another table is refused.
    pub fn set_peer(&mut self, peer: K, info: PeerInfo) -> Result<LocDelta<K, A>, LocRibError> {
        let Some(state) = self.peers.get_mut(&peer) else {
            self.peers.insert(peer, PeerState { info, routes: 0 });
            return Ok(LocDelta::default());
        };
        if state.info == info {
            return Ok(LocDelta::default());
        }
        if state.routes > 0 && state.info.table != info.table {
            return Err(LocRibError::PeerHasRoutes { table: state.info.table, routes: state.routes });
        }
        state.info = info;
        let mut delta = LocDelta::default();
        if state.routes == 0 {
            return Ok(delta);
        }
        let table = info.table;
        let Some(dests) = self.tables.get_mut(&table) else { return Ok(delta) };
        let mut prefixes: Vec<IpNet> =
            dests.iter().filter(|(_, d)| d.paths.iter().any(|p| p.peer == peer)).map(|(p, _)| *p).collect();
        prefixes.sort_unstable();
        for prefix in prefixes {
            if let Some(dest) = dests.get_mut(&prefix) {
                let old = dest.best.map(|b| dest.paths[b].clone());
                dest.best = select(&dest.paths, &self.peers);
                push_change(&mut delta, table, prefix, old, dest);
            }
        }
        Ok(delta)
    }

    /// Forgets a peer and removes all its paths. Changes sorted by prefix.
    pub fn remove_peer(&mut self, peer: &K) -> LocDelta<K, A> {
        let mut delta = LocDelta::default();
        let Some(state) = self.peers.get(peer).copied() else { return delta };
        if state.routes > 0 {
            let table = state.info.table;
            if let Some(dests) = self.tables.get_mut(&table) {
                let mut prefixes: Vec<IpNet> =
                    dests.iter().filter(|(_, d)| d.paths.iter().any(|p| p.peer == *peer)).map(|(p, _)| *p).collect();
                prefixes.sort_unstable();
                // Remove the paths first, select with the peer still known (it has no path left).
                for prefix in prefixes {
                    self.change_path(table, prefix, peer, None, &mut delta);
                }
            }
        }
        self.peers.remove(peer);
        delta
    }

    /// Applies a peer's Adj-RIB-In delta. Changes come in the order `removed`, `changed`,
    /// `added`, each list in its own order.
    pub fn apply(&mut self, peer: &K, delta: &InDelta<A>) -> Result<LocDelta<K, A>, LocRibError> {
        let table = self.peers.get(peer).ok_or(LocRibError::UnknownPeer)?.info.table;
        let mut out = LocDelta::default();
        for prefix in &delta.removed {
            self.change_path(table, prefix.trunc(), peer, None, &mut out);
        }
        for (prefix, attrs) in delta.changed.iter().chain(&delta.added) {
            self.change_path(table, prefix.trunc(), peer, Some(attrs), &mut out);
        }
        Ok(out)
    }

    /// Sets (`Some`) or removes (`None`) `peer`'s path to `prefix` and records the best-path change.
    fn change_path(
        &mut self,
        table: TableId,
        prefix: IpNet,
        peer: &K,
        attrs: Option<&Arc<A>>,
        out: &mut LocDelta<K, A>,
    ) {
        let dests = self.tables.entry(table).or_default();
        let dest = dests.entry(prefix).or_insert_with(|| Dest { paths: Vec::new(), best: None });
        let old = dest.best.map(|b| dest.paths[b].clone());
        let pos = dest.paths.iter().position(|p| p.peer == *peer);
        let routes_delta: isize = match (pos, attrs) {
            (Some(i), Some(a)) => {
                dest.paths[i].attrs = a.clone();
                0
            }
            (None, Some(a)) => {
                dest.paths.push(Path { peer: peer.clone(), attrs: a.clone() });
                1
            }
            (Some(i), None) => {
                dest.paths.swap_remove(i);
                -1
            }
            (None, None) => 0,
        };
        if let Some(state) = self.peers.get_mut(peer) {
            state.routes = state.routes.saturating_add_signed(routes_delta);
        }
        dest.best = select(&dest.paths, &self.peers);
        push_change(out, table, prefix, old, dest);
        if dest.paths.is_empty() {
            dests.remove(&prefix);
            if dests.is_empty() {
                self.tables.remove(&table);
            }
        }
    }

    /// The best path of `prefix` in `table`.
    pub fn best(&self, table: TableId, prefix: &IpNet) -> Option<(&K, &Arc<A>)> {
        let dest = self.tables.get(&table)?.get(&prefix.trunc())?;
        let p = &dest.paths[dest.best?];
        Some((&p.peer, &p.attrs))
    }

    /// All paths of `prefix` in `table`, sorted by peer.
    pub fn paths(&self, table: TableId, prefix: &IpNet) -> Vec<(&K, &Arc<A>)> {
        let mut v: Vec<_> = self
            .tables
            .get(&table)
            .and_then(|t| t.get(&prefix.trunc()))
            .map(|d| d.paths.iter().map(|p| (&p.peer, &p.attrs)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// The number of prefixes with a route in `table`.
    pub fn len(&self, table: TableId) -> usize {
        self.tables.get(&table).map_or(0, HashMap::len)
    }

    /// No route in any table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The tables that have routes, ascending.
    pub fn tables(&self) -> Vec<TableId> {
        self.tables.keys().copied().collect()
    }

    /// The best routes of `table`, sorted by prefix. For inspection and full resyncs of the
    /// kernel table.
    pub fn routes(&self, table: TableId) -> Vec<(IpNet, K, Arc<A>)> {
        let mut v: Vec<_> = self
            .tables
            .get(&table)
            .map(|t| {
                t.iter()
                    .filter_map(|(prefix, d)| {
                        let p = &d.paths[d.best?];
                        Some((*prefix, p.peer.clone(), p.attrs.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable_by_key(|r| r.0);
        v
    }

    /// The number of paths `peer` has in the Loc-RIB.
    pub fn peer_routes(&self, peer: &K) -> Option<usize> {
        self.peers.get(peer).map(|s| s.routes)
    }
}

fn push_change<K: Clone + Eq, A: Eq>(
    out: &mut LocDelta<K, A>,
    table: TableId,
    prefix: IpNet,
    old: Option<Path<K, A>>,
    dest: &Dest<K, A>,
) {
    let new = dest.best.map(|b| &dest.paths[b]);
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => {
            out.changes.push(LocChange::Install { table, prefix, peer: n.peer.clone(), attrs: n.attrs.clone() })
        }
        (Some(_), None) => out.changes.push(LocChange::Remove { table, prefix }),
        (Some(o), Some(n)) => {
            if o.peer != n.peer || !(Arc::ptr_eq(&o.attrs, &n.attrs) || *o.attrs == *n.attrs) {
                out.changes.push(LocChange::Replace { table, prefix, peer: n.peer.clone(), attrs: n.attrs.clone() });
            }
        }
    }
}
