//! `open`'s second half, redone by `update-nodes`: everything that depends on the nodes.
//!
//! - The local node's standing (MetalLB's `ShouldAnnounce` of the BGP controller: a node with
//!   `NetworkUnavailable`, or labelled `node.kubernetes.io/exclude-from-external-load-balancers`,
//!   announces nothing; a node that is not in the list is selected by no advertisement).
//! - Which BGPPeers have a session on the local node (`syncPeers`: a peer whose nodeSelectors do
//!   not match the local node's labels has no session there, so no routes).
//! - For every BGPAdvertisement that selects the local node (`adCfg.Nodes[myNode]`), the peers it
//!   sends to from here, each with the LOCAL_PREF it carries (iBGP only).
//! - For every L2Advertisement, the nodes its nodeSelectors select and, among them, the nodes
//!   eligible for election (`speakersForPool`: live, no `NetworkUnavailable`, not excluded).
//! - Per node, the SHA-256 state after `"<name>#"`, so that the election hashes only the address.

use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::bitset::Bitset;
use crate::bytes::{cmp, contains, eq};
use crate::config::Resolved;
use crate::selector::{any_matches, value};
use crate::types::{Label, Node};

/// The label that removes a node from load-balancer duty (`corev1.LabelNodeExcludeBalancers`).
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The local node's standing for BGP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    /// Not among the nodes: no advertisement selects it.
    Missing,
    /// Condition NetworkUnavailable is True.
    NetworkUnavailable,
    /// Labelled with [`EXCLUDE_LABEL`].
    Excluded,
    /// May announce.
    Ok,
}

/// One peer an advertisement sends to from the local node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    /// Index into `Resolved::peers`.
    pub peer: usize,
    /// LOCAL_PREF for this session (`None` for eBGP peers).
    pub local_pref: Option<u32>,
}

/// The node-dependent state.
pub(crate) struct NodeState {
    /// Node names, in input order (node indices).
    pub names: Vec<String>,
    /// Node indices sorted by name, for lookups (the first of equal names wins).
    by_name: Vec<usize>,
    /// SHA-256 state after absorbing `"<name>#"`, per node.
    pub hash_prefix: Vec<Sha256>,
    /// The local node's standing.
    pub local: Local,
    /// Per BGPAdvertisement: `None` when it does not select the local node, else its targets.
    pub bgp_targets: Vec<Option<Vec<Target>>>,
    /// Per L2Advertisement: the nodes its nodeSelectors select.
    pub l2_selected: Vec<Bitset>,
    /// Per L2Advertisement: the selected nodes eligible for election.
    pub l2_eligible: Vec<Bitset>,
}

/// Whether a node carries the exclusion label (whatever its value, as MetalLB checks presence).
fn excluded(labels: &[Label]) -> bool {
    value(labels, EXCLUDE_LABEL).is_some()
}

impl NodeState {
    /// Computes the state for `nodes` under `cfg`.
    pub fn compute(cfg: &Resolved, nodes: &[Node]) -> NodeState {
        let n = nodes.len();
        let names: Vec<String> = nodes.iter().map(|x| x.name.clone()).collect();
        let mut by_name: Vec<usize> = (0..n).collect();
        by_name.sort_by(|&a, &b| cmp(&names[a], &names[b]));
        let hash_prefix = names
            .iter()
            .map(|name| {
                let mut h = Sha256::new();
                h.update(name.as_bytes());
                h.update(b"#");
                h
            })
            .collect();

        let local_node = nodes.iter().find(|x| eq(&x.name, &cfg.local_node));
        let local = match local_node {
            None => Local::Missing,
            Some(x) if x.network_unavailable => Local::NetworkUnavailable,
            Some(x) if excluded(&x.labels) => Local::Excluded,
            Some(_) => Local::Ok,
        };
        let sessions: Vec<bool> =
            cfg.peers.iter().map(|p| local_node.is_some_and(|x| any_matches(&p.node_selectors, &x.labels))).collect();
        let bgp_targets = cfg
            .bgp
            .iter()
            .map(|ad| {
                let x = local_node?;
                if !any_matches(&ad.node_selectors, &x.labels) {
                    return None;
                }
                Some(
                    cfg.peers
                        .iter()
                        .enumerate()
                        .filter(|(i, p)| sessions[*i] && (ad.peers.is_empty() || contains(&ad.peers, &p.name)))
                        .map(|(i, p)| Target { peer: i, local_pref: if p.ibgp { ad.local_pref } else { None } })
                        .collect(),
                )
            })
            .collect();

        let mut l2_selected = Vec::with_capacity(cfg.l2.len());
        let mut l2_eligible = Vec::with_capacity(cfg.l2.len());
        for ad in &cfg.l2 {
            let mut sel = Bitset::new(n);
            let mut elig = Bitset::new(n);
            for (i, x) in nodes.iter().enumerate() {
                if any_matches(&ad.node_selectors, &x.labels) {
                    sel.insert(i);
                    if x.live && !x.network_unavailable && !excluded(&x.labels) {
                        elig.insert(i);
                    }
                }
            }
            l2_selected.push(sel);
            l2_eligible.push(elig);
        }
        NodeState { names, by_name, hash_prefix, local, bgp_targets, l2_selected, l2_eligible }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The index of the node called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        let k = self.by_name.partition_point(|&i| cmp(&self.names[i], name).is_lt());
        self.by_name.get(k).copied().filter(|&i| eq(&self.names[i], name))
    }
}
