//! What the BGP speaker must do, derived from the merged router configuration: one
//! [`NeighborIntent`] per neighbor with the exact routes it hears and what it may send us.
//!
//! frr-k8s semantics (the merge policy's output is a `spec.bgp` of an FRRConfiguration): a
//! router announces its `prefixes`; each neighbor hears the ones its `toAdvertise.allowed`
//! lets through (`mode: all` = every prefix of the router), with the communities of every
//! `withCommunity` entry listing the prefix and the LOCAL_PREF of the `withLocalPref` entry
//! (iBGP only: the speaker drops it towards eBGP neighbors, RFC 4271 §5.1.5). MetalLB's own
//! objects reach this point through the same shape (`controller::merge::metallb_source`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use crate::policy::convert::{ip_from_wit, prefix_from_wit};
use crate::policy::merge::exports::ferrolb::policy::merge_policy as mrg;
use crate::policy::types as wit;

/// BGP's well-known port.
pub const BGP_PORT: u16 = 179;
/// MetalLB's default hold time (BGPPeer `holdTime`).
pub const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
/// frr-k8s / FRR default connect retry time.
pub const DEFAULT_CONNECT_TIME: Duration = Duration::from_secs(120);

/// How the remote AS is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PeerAsIntent {
    /// A fixed AS number.
    Asn(u32),
    /// Whatever the peer says, as long as it is our AS (iBGP).
    Internal,
    /// Whatever the peer says, as long as it is not our AS (eBGP).
    External,
}

/// Path attributes the speaker attaches to one announced prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteAttrs {
    /// Standard communities (RFC 1997), sorted, as 32-bit values.
    pub communities: Vec<u32>,
    /// Large communities (RFC 8092), sorted.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// LOCAL_PREF (sent to iBGP neighbors only).
    pub local_pref: Option<u32>,
}

/// One accepted-prefix rule of `toReceive.allowed.prefixes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixRule {
    /// The prefix.
    pub prefix: IpNet,
    /// Minimum length (`ge`).
    pub ge: Option<u8>,
    /// Maximum length (`le`).
    pub le: Option<u8>,
}

/// What a neighbor may send us.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveIntent {
    /// `mode: all`: everything (minus always-block).
    pub all: bool,
    /// Otherwise only these.
    pub prefixes: Vec<PrefixRule>,
}

/// A session's identity: the same key across reloads means "the same session".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NeighborKey {
    /// The VRF ("" is the default VRF).
    pub vrf: String,
    /// The neighbor's address (unset for an unnumbered, interface-only neighbor).
    pub address: Option<IpAddr>,
    /// The interface of an unnumbered neighbor.
    pub interface: Option<String>,
}

impl std::fmt::Display for NeighborKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.address, &self.interface) {
            (Some(a), _) => write!(f, "{a}")?,
            (None, Some(i)) => write!(f, "{i}")?,
            (None, None) => write!(f, "?")?,
        }
        if !self.vrf.is_empty() {
            write!(f, " (vrf {})", self.vrf)?;
        }
        Ok(())
    }
}

/// Everything about one BGP neighbor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborIntent {
    /// Which session.
    pub key: NeighborKey,
    /// Our AS.
    pub local_asn: u32,
    /// Our router id (unset: chosen by the speaker from the node's addresses).
    pub router_id: Option<Ipv4Addr>,
    /// The remote AS.
    pub peer_as: PeerAsIntent,
    /// TCP port of the neighbor.
    pub port: u16,
    /// Local address to bind.
    pub source_address: Option<IpAddr>,
    /// TCP MD5 password (already resolved from the secret, if one was named).
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Hold time we offer.
    pub hold_time: Duration,
    /// Keepalive interval (unset: a third of the negotiated hold time).
    pub keepalive_time: Option<Duration>,
    /// ConnectRetry time.
    pub connect_time: Duration,
    /// eBGP multi-hop (TTL 255 instead of 1).
    pub ebgp_multihop: bool,
    /// The BFD profile to run with this neighbor.
    pub bfd_profile: Option<String>,
    /// Graceful restart (RFC 4724).
    pub graceful_restart: bool,
    /// Do not negotiate multiprotocol: IPv4 unicast in plain NLRI only.
    pub disable_mp: bool,
    /// Most prefixes of one family accepted from the neighbor; one more ends the session with
    /// a Cease "maximum number of prefixes reached" (RFC 4486). Applies to a running session.
    pub max_prefix: Option<u32>,
    /// GTSM (RFC 5082): send with TTL 255 and accept only packets arriving with at least this
    /// TTL (254 for a directly connected neighbor).
    pub min_ttl: Option<u8>,
    /// The routes the neighbor hears.
    pub routes: BTreeMap<IpNet, RouteAttrs>,
    /// What we accept from it.
    pub receive: ReceiveIntent,
}

impl NeighborIntent {
    /// Whether a change from `old` to `self` needs the session reset (anything but the routes
    /// and the receive filter, which apply to a running session).
    pub fn needs_reset(&self, old: &NeighborIntent) -> bool {
        let strip = |n: &NeighborIntent| NeighborIntent {
            routes: BTreeMap::new(),
            receive: ReceiveIntent::default(),
            bfd_profile: None,
            max_prefix: None,
            ..n.clone()
        };
        strip(self) != strip(old)
    }
}

/// The BGP side of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpIntent {
    /// Every neighbor, by key.
    pub neighbors: BTreeMap<NeighborKey, NeighborIntent>,
    /// Prefixes never accepted from anyone.
    pub always_block: Vec<PrefixRule>,
    /// BFD profiles by name.
    pub bfd_profiles: BTreeMap<String, ferrolb_bfd::profile::BfdProfile>,
}

/// A problem turning a merged configuration into intents (the merge policy's answer passed the
/// host's checks, so these are rare: e.g. an IPv6 router id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("router {router} neighbor {neighbor}: {field}: {reason}")]
pub struct IntentError {
    /// The router (VRF and AS).
    pub router: String,
    /// The neighbor.
    pub neighbor: String,
    /// The field.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn community_value(c: &wit::Community) -> Result<u32, (u32, u32, u32)> {
    match c {
        wit::Community::Standard(v) => Ok(*v),
        wit::Community::Large((a, b, c)) => Err((*a, *b, *c)),
    }
}

fn rule(p: &mrg::PrefixSelector) -> Option<PrefixRule> {
    Some(PrefixRule { prefix: prefix_from_wit(&p.prefix).ok()?, ge: p.ge, le: p.le })
}

/// The intents of a merged configuration. Neighbors whose fields cannot be honoured are left out
/// and reported; the rest is returned.
pub fn bgp_intent(merged: &mrg::MergedConfig) -> (BgpIntent, Vec<IntentError>) {
    let mut out =
        BgpIntent { always_block: merged.always_block.iter().filter_map(rule).collect(), ..BgpIntent::default() };
    let mut errors = Vec::new();
    for p in &merged.config.bfd_profiles {
        let profile = ferrolb_bfd::profile::BfdProfile {
            receive_interval: p.receive_interval,
            transmit_interval: p.transmit_interval,
            detect_multiplier: p.detect_multiplier,
            echo_interval: p.echo_interval,
            echo_mode: p.echo_mode,
            passive_mode: p.passive_mode,
            minimum_ttl: p.minimum_ttl,
        };
        out.bfd_profiles.insert(p.name.clone(), profile);
    }
    for r in &merged.config.routers {
        let router_name = if r.vrf.is_empty() { format!("AS{}", r.asn) } else { format!("AS{} vrf {}", r.asn, r.vrf) };
        let router_id = match r.id.as_ref().map(ip_from_wit) {
            None => None,
            Some(IpAddr::V4(a)) => Some(a),
            Some(IpAddr::V6(a)) => {
                errors.push(IntentError {
                    router: router_name.clone(),
                    neighbor: "*".into(),
                    field: "id".into(),
                    reason: format!("the router id must be an IPv4 address, not {a}"),
                });
                continue;
            }
        };
        let prefixes: Vec<IpNet> = r.prefixes.iter().filter_map(|p| prefix_from_wit(p).ok()).collect();
        for n in &r.neighbors {
            let key = NeighborKey {
                vrf: r.vrf.clone(),
                address: n.address.as_ref().map(ip_from_wit),
                interface: n.interface.clone(),
            };
            let fail = |field: &str, reason: String| IntentError {
                router: router_name.clone(),
                neighbor: key.to_string(),
                field: field.into(),
                reason,
            };
            let peer_as = match (n.asn, n.dynamic_asn) {
                (Some(a), _) if a != 0 => PeerAsIntent::Asn(a),
                (_, Some(wit::DynamicAsn::Internal)) => PeerAsIntent::Internal,
                (_, Some(wit::DynamicAsn::External)) => PeerAsIntent::External,
                _ => {
                    errors.push(fail("asn", "neither asn nor dynamicASN is set".into()));
                    continue;
                }
            };
            if n.password.is_none() && n.password_secret.is_some() {
                errors.push(fail(
                    "passwordSecret",
                    "Secrets are not read by ferrolb: put the password in `password`".into(),
                ));
                continue;
            }
            let hold_time = n.hold_time.map(|s| Duration::from_secs(s.into())).unwrap_or(DEFAULT_HOLD_TIME);
            let ta = &n.to_advertise;
            let allowed: Vec<IpNet> = match ta.mode {
                Some(mrg::FilterMode::All) => prefixes.clone(),
                _ => {
                    let listed: std::collections::HashSet<IpNet> =
                        ta.prefixes.iter().filter_map(|p| prefix_from_wit(p).ok()).collect();
                    prefixes.iter().copied().filter(|p| listed.contains(p)).collect()
                }
            };
            let mut routes: BTreeMap<IpNet, RouteAttrs> = allowed.iter().map(|p| (*p, RouteAttrs::default())).collect();
            for wc in &ta.with_community {
                for p in wc.prefixes.iter().filter_map(|p| prefix_from_wit(p).ok()) {
                    if let Some(attrs) = routes.get_mut(&p) {
                        match community_value(&wc.community) {
                            Ok(v) => attrs.communities.push(v),
                            Err(l) => attrs.large_communities.push(l),
                        }
                    }
                }
            }
            for wl in &ta.with_local_pref {
                for p in wl.prefixes.iter().filter_map(|p| prefix_from_wit(p).ok()) {
                    if let Some(attrs) = routes.get_mut(&p) {
                        attrs.local_pref = Some(wl.local_pref);
                    }
                }
            }
            for attrs in routes.values_mut() {
                attrs.communities.sort_unstable();
                attrs.communities.dedup();
                attrs.large_communities.sort_unstable();
                attrs.large_communities.dedup();
            }
            let tr = &n.to_receive;
            let receive = ReceiveIntent {
                all: matches!(tr.mode, Some(mrg::FilterMode::All)),
                prefixes: tr.prefixes.iter().filter_map(rule).collect(),
            };
            let intent = NeighborIntent {
                key: key.clone(),
                local_asn: r.asn,
                router_id,
                peer_as,
                port: n.port.unwrap_or(BGP_PORT),
                source_address: n.source_address.as_ref().map(ip_from_wit),
                password: n.password.clone(),
                hold_time,
                keepalive_time: n.keepalive_time.map(|s| Duration::from_secs(s.into())),
                connect_time: n.connect_time.map(|s| Duration::from_secs(s.into())).unwrap_or(DEFAULT_CONNECT_TIME),
                ebgp_multihop: n.ebgp_multi_hop.unwrap_or(false),
                bfd_profile: n.bfd_profile.clone().filter(|p| !p.is_empty()),
                graceful_restart: n.enable_graceful_restart.unwrap_or(false),
                disable_mp: n.disable_mp.unwrap_or(false),
                max_prefix: None,
                min_ttl: None,
                routes,
                receive,
            };
            if out.neighbors.insert(key.clone(), intent).is_some() {
                errors.push(fail("address", "the same neighbor is configured twice in one VRF".into()));
            }
        }
    }
    (out, errors)
}
