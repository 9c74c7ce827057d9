//! Layer 2 in the daemon: the ARP/NDP speaker and the membership protocol between ferrolb nodes.
//!
//! Both start with the first configuration that has an L2Advertisement (a node without layer-2
//! mode opens no packet socket and sends no heartbeat). The membership driver heartbeats every
//! other Node of the manifests at its InternalIP addresses and reports the live set; the daemon
//! re-plans with that set ([`crate::controller::plan_live`]), so the advertise policy elects
//! among nodes that are actually alive, and hands this node's share of `plan.l2` to the speaker.
//!
//! Until the first live set arrives (the membership's start-up hold, about `(rise + 1) ×
//! interval`), this node announces nothing: a restarting node must not grab an address that a
//! live peer still answers for. When the membership fences this node (it hears none of its ≥ 2
//! peers), the speaker stops answering at once; see `host/l2/src/membership.rs` for the
//! split-brain cases.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ferrolb_l2::announcer::Announcement;
use ferrolb_l2::membership::{MembershipConfig, Peer};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::Model;
use crate::controller::Plan;
use crate::l2::{
    L2Handle, L2Options, L2Service, MembershipEvent, MembershipHandle, MembershipOptions, MembershipService,
};

/// How the membership protocol runs (every node of a cluster must use the same values).
#[derive(Debug, Clone)]
pub struct MembershipSettings {
    /// The cluster's identity, hashed into every heartbeat (nodes of other clusters are ignored).
    pub cluster_id: String,
    /// UDP port (the same on every node).
    pub port: u16,
    /// Heartbeat interval.
    pub interval: Duration,
    /// Heartbeats missed before a peer is dead.
    pub multiplier: u8,
}

impl Default for MembershipSettings {
    fn default() -> Self {
        MembershipSettings {
            cluster_id: "ferrolb".into(),
            port: crate::l2::membership::DEFAULT_PORT,
            interval: Duration::from_millis(100),
            multiplier: 3,
        }
    }
}

/// The daemon's layer-2 side.
pub struct L2Link {
    node: String,
    settings: MembershipSettings,
    l2: Option<L2Handle>,
    membership: Option<MembershipHandle>,
    events: Option<UnboundedReceiver<MembershipEvent>>,
    live: Option<BTreeSet<String>>,
    peers: Vec<Peer>,
    announcements: Vec<Announcement>,
}

/// The other nodes of the manifests, heartbeated at their addresses.
pub fn peers(model: &Model, node: &str, port: u16) -> Vec<Peer> {
    model
        .nodes
        .iter()
        .filter(|n| n.name != node)
        .map(|n| Peer { name: n.name.clone(), addrs: n.addresses.iter().map(|a| SocketAddr::new(*a, port)).collect() })
        .collect()
}

/// This node's share of the plan's layer-2 decisions.
pub fn announcements(plan: &Plan) -> Vec<Announcement> {
    plan.l2
        .iter()
        .filter(|a| a.node == plan.node)
        .map(|a| Announcement { ip: a.ip, interfaces: a.interfaces.clone() })
        .collect()
}

impl L2Link {
    /// Nothing runs until [`L2Link::apply`] sees layer-2 mode in use.
    pub fn new(node: impl Into<String>, settings: MembershipSettings) -> L2Link {
        L2Link {
            node: node.into(),
            settings,
            l2: None,
            membership: None,
            events: None,
            live: None,
            peers: Vec::new(),
            announcements: Vec::new(),
        }
    }

    /// The membership's live set, once it reported one.
    pub fn live(&self) -> Option<&BTreeSet<String>> {
        self.live.as_ref()
    }

    /// The running speaker and membership (for `show l2`).
    pub fn handles(&self) -> (Option<L2Handle>, Option<MembershipHandle>) {
        (self.l2.clone(), self.membership.clone())
    }

    /// Makes the layer-2 side match a new plan: starts the speaker and the membership when
    /// `in_use` first becomes true, updates the peers, and announces this node's addresses
    /// (held back until the first live set). Returns the problems.
    pub fn apply(&mut self, in_use: bool, peers: Vec<Peer>, announcements: Vec<Announcement>) -> Vec<String> {
        let mut errors = Vec::new();
        if !in_use && self.l2.is_none() {
            return errors;
        }
        if self.l2.is_none() {
            match L2Service::start(L2Options::default()) {
                Ok(h) => self.l2 = Some(h),
                Err(e) => {
                    errors.push(format!("the layer-2 speaker could not start: {e}"));
                    return errors;
                }
            }
        }
        if self.membership.is_none() {
            let mut config = MembershipConfig::new(self.settings.cluster_id.clone(), self.node.clone());
            config.interval = self.settings.interval;
            config.multiplier = self.settings.multiplier;
            let mut options = MembershipOptions::new(config, peers.clone());
            options.bind = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.settings.port);
            match MembershipService::start(options, self.l2.clone()) {
                Ok((h, rx)) => {
                    tracing::info!(peers = peers.len(), port = self.settings.port, "membership started");
                    self.membership = Some(h);
                    self.events = Some(rx);
                    self.peers = peers.clone();
                }
                Err(e) => errors.push(format!("the membership protocol could not start: {e}")),
            }
        }
        if let Some(m) = &self.membership
            && peers != self.peers
        {
            if let Err(e) = m.set_peers(peers.clone()) {
                errors.push(format!("membership peers not updated: {e}"));
            }
            self.peers = peers;
        }
        self.announcements = announcements;
        // Without a membership protocol there is no live set to wait for (it failed to start:
        // the Ready conditions decide, as in `ferrolb plan`).
        if self.live.is_some() || self.membership.is_none() {
            self.push(&mut errors);
        } else {
            tracing::debug!(
                addresses = self.announcements.len(),
                "layer-2 announcements held until the first live set"
            );
        }
        errors
    }

    fn push(&self, errors: &mut Vec<String>) {
        if let Some(l2) = &self.l2
            && let Err(e) = l2.set_announcements(self.announcements.clone())
        {
            errors.push(format!("layer-2 announcements not applied: {e}"));
        }
    }

    /// The next membership event (pending forever while the membership does not run).
    pub async fn next_event(&mut self) -> Option<MembershipEvent> {
        match self.events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Acts on a membership event; returns the new live set when the daemon must re-plan.
    pub fn on_event(&mut self, event: MembershipEvent) -> Option<BTreeSet<String>> {
        match event {
            MembershipEvent::LiveChanged { live, became_alive, became_dead } => {
                tracing::info!(live = ?live, alive = ?became_alive, dead = ?became_dead, "live nodes changed");
                self.live = Some(live.clone());
                Some(live)
            }
            MembershipEvent::Isolated => {
                tracing::warn!("this node hears none of its peers: layer-2 announcements fenced");
                None
            }
            MembershipEvent::Rejoined => {
                tracing::info!("this node hears its peers again");
                None
            }
        }
    }

    /// Stops answering and heartbeating.
    pub fn stop(&mut self) {
        if let Some(m) = self.membership.take() {
            m.stop();
        }
        if let Some(l) = self.l2.take() {
            l.stop();
        }
    }
}
