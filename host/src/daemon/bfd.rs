//! BFD in the daemon: one BFD session per BGP neighbor that names a BFDProfile, and the link
//! between the two protocols.
//!
//! - The sessions follow the [`BgpIntent`]: a neighbor with `bfdProfile` gets a session with
//!   the profile's timers; a changed profile is applied to the running session (a Poll Sequence,
//!   no reset); a neighbor whose profile is removed loses its session at once (MetalLB's bug of
//!   keeping it, noted in the reference, is not reproduced) and its BGP session is released.
//! - BFD Down (not the peer's AdminDown, RFC 5882 §3.2) tears the BGP session down with a Cease
//!   and holds it down ([`SpeakerHandle::bfd_down`]); BFD Up releases it
//!   ([`SpeakerHandle::bfd_up`]). Before BFD has ever come up, BGP may start on its own (both
//!   come up together on a fresh start).
//! - The BFD service (UDP 3784/4784 listeners) starts with the first session, so a node without
//!   BFD profiles opens no BFD socket.
//!
//! Session keys: the peer's address; our address is the neighbor's `sourceAddress` or, when
//! unset, the address the kernel would use towards the peer (a connected UDP socket, bound to
//! the VRF device for a VRF neighbor: no packet is sent); single hop unless `ebgpMultiHop`
//! (RFC 5883 multi-hop, as frr-k8s configures it).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use ferrolb_bfd::manager::PeerKey;
use ferrolb_bfd::profile::{HopMode, Profile};
use tokio::sync::mpsc::UnboundedReceiver;

use super::intent::{BgpIntent, NeighborKey};
use crate::bfd::{BfdEvent, BfdHandle, BfdOptions, BfdService};
use crate::bgp::SpeakerHandle;

/// The daemon's BFD sessions and their BGP neighbors.
#[derive(Default)]
pub struct BfdLink {
    handle: Option<BfdHandle>,
    events: Option<UnboundedReceiver<BfdEvent>>,
    sessions: BTreeMap<NeighborKey, (PeerKey, Profile)>,
    neighbor_of: HashMap<PeerKey, NeighborKey>,
    /// Neighbors whose session could not be set up on the last apply (retried on the next).
    pending: Vec<String>,
}

/// The session a neighbor needs: its key and profile, or why it cannot have one.
fn wanted(intent: &BgpIntent) -> (BTreeMap<NeighborKey, (PeerKey, Profile)>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, n) in &intent.neighbors {
        let Some(name) = &n.bfd_profile else { continue };
        let fail = |why: String| format!("neighbor {key}: bfdProfile {name}: {why}");
        let profile = match intent.bfd_profiles.get(name) {
            None => {
                errors.push(fail("no BFDProfile of that name".into()));
                continue;
            }
            Some(p) => match p.resolve() {
                Ok(p) => p,
                Err(e) => {
                    errors.push(fail(e.to_string()));
                    continue;
                }
            },
        };
        let Some(peer) = key.address else {
            errors.push(fail("BFD needs the neighbor's address (interface-only neighbors have none)".into()));
            continue;
        };
        let vrf = (!key.vrf.is_empty()).then(|| key.vrf.clone());
        let local = match n.source_address {
            Some(a) => a,
            None => match local_address_for(peer, vrf.as_deref()) {
                Ok(a) => a,
                Err(e) => {
                    errors.push(fail(format!("no local address towards {peer}: {e}")));
                    continue;
                }
            },
        };
        if local.is_ipv4() != peer.is_ipv4() {
            errors.push(fail(format!("the source address {local} is not of the peer's family")));
            continue;
        }
        let hop = if n.ebgp_multihop { HopMode::MultiHop } else { HopMode::SingleHop };
        out.insert(key.clone(), (PeerKey { peer, local, interface: None, vrf, hop }, profile));
    }
    (out, errors)
}

/// The address the kernel would send from towards `peer` (in `vrf`): a connected UDP socket's
/// local address. Nothing is sent.
fn local_address_for(peer: IpAddr, vrf: Option<&str>) -> std::io::Result<IpAddr> {
    use socket2::{Domain, Socket, Type};
    let domain = if peer.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM, None)?;
    if let Some(dev) = vrf {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    s.connect(&SocketAddr::new(peer, ferrolb_bfd::profile::CONTROL_PORT).into())?;
    let local = s.local_addr()?.as_socket().ok_or_else(|| std::io::Error::other("not an IP socket"))?;
    Ok(local.ip())
}

impl BfdLink {
    /// The running service's handle (for `show bfd`), if any session was ever configured.
    pub fn handle(&self) -> Option<BfdHandle> {
        self.handle.clone()
    }

    /// Whether some neighbor's session could not be set up (the caller retries later).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Makes the BFD sessions match `intent`; returns the problems (each names the neighbor and
    /// the profile).
    pub async fn apply(&mut self, intent: &BgpIntent, speaker: &SpeakerHandle) -> Vec<String> {
        let (want, mut errors) = wanted(intent);
        // Removed neighbors or profiles: stop the session, release BGP.
        let gone: Vec<NeighborKey> = self
            .sessions
            .iter()
            .filter(|(k, (pk, _))| want.get(*k).is_none_or(|(w, _)| w != pk))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some((pk, _)) = self.sessions.remove(&key) {
                self.neighbor_of.remove(&pk);
                if let Some(h) = &self.handle
                    && let Err(e) = h.remove_peer(&pk).await
                {
                    tracing::warn!(neighbor = %key, error = %e, "BFD session not removed");
                }
                tracing::info!(neighbor = %key, "BFD session stopped (no profile any more)");
            }
            // Whatever BFD said last no longer holds the BGP session.
            speaker.bfd_up(&key).await;
        }
        if !want.is_empty() && self.handle.is_none() {
            match BfdService::start(BfdOptions::default()) {
                Ok((h, rx)) => {
                    self.handle = Some(h);
                    self.events = Some(rx);
                }
                Err(e) => {
                    errors.push(format!("the BFD service could not start: {e}"));
                    self.pending = errors.clone();
                    return errors;
                }
            }
        }
        let Some(handle) = self.handle.clone() else {
            self.pending = errors.clone();
            return errors;
        };
        for (key, (pk, profile)) in want {
            match self.sessions.get(&key) {
                Some((_, p)) if *p == profile => {}
                Some(_) => match handle.set_profile(&pk, profile.clone()).await {
                    Ok(()) => {
                        tracing::info!(neighbor = %key, "BFD profile changed");
                        self.sessions.insert(key, (pk, profile));
                    }
                    Err(e) => errors.push(format!("neighbor {key}: BFD profile not applied: {e}")),
                },
                None => match handle.add_peer(pk.clone(), profile.clone()).await {
                    Ok(id) => {
                        tracing::info!(neighbor = %key, local = %pk.local, session = ?id, "BFD session started");
                        self.neighbor_of.insert(pk.clone(), key.clone());
                        self.sessions.insert(key, (pk, profile));
                    }
                    Err(e) => errors.push(format!("neighbor {key}: BFD session not started: {e}")),
                },
            }
        }
        self.pending = errors.clone();
        errors
    }

    /// The next BFD event (pending forever while no session was ever configured).
    pub async fn next_event(&mut self) -> Option<BfdEvent> {
        match self.events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Acts on one BFD event: Down tears the BGP session down and holds it, Up releases it.
    pub async fn on_event(&mut self, event: BfdEvent, speaker: &SpeakerHandle) {
        let Some(key) = self.neighbor_of.get(event.peer()).cloned() else { return };
        match &event {
            BfdEvent::Up { .. } => {
                tracing::info!(neighbor = %key, "BFD up: the BGP session may run");
                speaker.bfd_up(&key).await;
            }
            BfdEvent::Down { diag, silent_for, .. } if event.tears_down_client() => {
                tracing::warn!(neighbor = %key, diag = ?diag, silent_ms = silent_for.map(|d| d.as_millis() as u64),
                    "BFD down: BGP session torn down (Cease) and held down until BFD is up");
                speaker.bfd_down(&key).await;
            }
            BfdEvent::Down { .. } => {
                tracing::info!(neighbor = %key, "the peer took BFD administratively down; BGP session kept (RFC 5882 §3.2)");
            }
        }
    }

    /// Takes every session administratively down (peers see AdminDown, not a failure).
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.shutdown().await;
        }
    }
}
