//! The daemon's Prometheus endpoint (`ferrolb run --metrics-address ADDR`; off by default).
//!
//! The families and their names are [`ferrolb_metrics`]'s (frr-k8s and MetalLB names where a
//! dashboard expects them). Plugin calls are counted as they happen ([`CallCounter`], installed
//! on the plugin runtime); swaps, rollbacks, quarantines and configuration staleness by the
//! reconcile loop; BGP neighbors, BFD sessions and pool usage are sampled from the engines right
//! before each scrape (the `refresh` callback), so counters are current.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrolb_metrics::{BfdPeerSample, BgpPeerSample, MessageCounts, Metrics, PoolSample, peer_label};

use super::{EngineHandles, Shared};
use crate::config::model::AddressBlock;
use crate::policy::{CallObserver, World};

/// Counts plugin calls into the metrics.
pub struct CallCounter(pub Arc<Metrics>);

impl CallObserver for CallCounter {
    fn call(&self, world: World, plugin: &str, elapsed: Duration, failure: Option<&str>) {
        self.0.plugin_call(world.name(), plugin, elapsed, failure);
    }
}

fn counts(c: &crate::bgp::show::MessageCounts) -> MessageCounts {
    MessageCounts {
        opens: c.opens,
        updates: c.updates,
        keepalives: c.keepalives,
        notifications: c.notifications,
        route_refreshes: c.route_refreshes,
    }
}

/// Addresses of each pool by family: `(name, IPv4, IPv6)`.
pub fn pool_sizes(model: &crate::config::Model) -> Vec<(String, u64, u128)> {
    model
        .pools
        .iter()
        .map(|p| {
            let (v4, v6) = p
                .addresses
                .iter()
                .map(block_size)
                .fold((0u64, 0u128), |(a, b), (c, d)| (a.saturating_add(c), b.saturating_add(d)));
            (p.id.name.clone(), v4, v6)
        })
        .collect()
}

/// Addresses in a block, by family (IPv4, IPv6).
fn block_size(b: &AddressBlock) -> (u64, u128) {
    fn span(first: IpAddr, last: IpAddr) -> (u64, u128) {
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u64::from(u32::from(b).saturating_sub(u32::from(a))) + 1, 0),
            (IpAddr::V6(a), IpAddr::V6(b)) => (0, u128::from(b).saturating_sub(u128::from(a)).saturating_add(1)),
            _ => (0, 0),
        }
    }
    match b {
        AddressBlock::Cidr(net) => span(net.network(), net.broadcast()),
        AddressBlock::Range { first, last } => span(*first, *last),
    }
}

/// Pool usage from the configuration and the plan in force.
fn pools(shared: &Mutex<Shared>) -> Vec<PoolSample> {
    let s = shared.lock().unwrap_or_else(|p| p.into_inner());
    s.pool_sizes
        .iter()
        .map(|(name, v4, v6)| {
            let mut sample = PoolSample { pool: name.clone(), ipv4_total: *v4, ipv6_total: *v6, ..Default::default() };
            for a in s.plan.iter().flat_map(|plan| &plan.allocations).filter(|a| &a.pool == name) {
                sample.services_allocated += 1;
                for ip in &a.ips {
                    match ip {
                        IpAddr::V4(_) => sample.ipv4_in_use += 1,
                        IpAddr::V6(_) => sample.ipv6_in_use += 1,
                    }
                }
            }
            sample
        })
        .collect()
}

/// Samples the engines into `metrics`.
async fn refresh(
    metrics: &Metrics,
    speaker: &crate::bgp::SpeakerHandle,
    engines: &Mutex<EngineHandles>,
    shared: &Mutex<Shared>,
) {
    let ports: std::collections::HashMap<(String, IpAddr), u16> = {
        let s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.bgp.neighbors.values().filter_map(|n| Some(((n.key.vrf.clone(), n.key.address?), n.port))).collect()
    };
    let bgp = speaker
        .neighbors()
        .into_iter()
        .map(|n| BgpPeerSample {
            peer: match n.address {
                Some(a) => peer_label(a, ports.get(&(n.vrf.clone(), a)).copied().unwrap_or(super::intent::BGP_PORT)),
                None => n.neighbor.clone(),
            },
            vrf: n.vrf.clone(),
            established: n.state == "Established",
            announced_prefixes: n.prefixes_sent,
            received_prefixes: n.prefixes_received,
            sent: counts(&n.sent),
            received: counts(&n.received),
        })
        .collect();
    metrics.set_bgp(bgp);
    let bfd = engines.lock().unwrap_or_else(|p| p.into_inner()).bfd.clone();
    let peers = match bfd {
        Some(h) => h.peers().await.unwrap_or_default(),
        None => vec![],
    };
    metrics.set_bfd(
        peers
            .into_iter()
            .map(|p| BfdPeerSample {
                peer: p.key.peer.to_string(),
                vrf: p.key.vrf.clone().unwrap_or_default(),
                up: p.state == crate::bfd::State::Up,
                control_in: p.counters.control_in,
                control_out: p.counters.control_out,
                echo_in: p.counters.echo_in,
                echo_out: p.counters.echo_out,
                up_events: p.counters.up_events,
                down_events: p.counters.down_events,
                zebra_notifications: 0,
            })
            .collect(),
    );
    metrics.set_pools(pools(shared));
}

/// Serves `/metrics` on `addr` until the process ends (a bind error is logged: the daemon runs
/// on without metrics rather than not at all).
pub fn start(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    speaker: crate::bgp::SpeakerHandle,
    engines: Arc<Mutex<EngineHandles>>,
    shared: Arc<Mutex<Shared>>,
) {
    let m = metrics.clone();
    tokio::spawn(async move {
        let r = ferrolb_metrics::serve(addr, metrics, move || {
            let (m, speaker, engines, shared) = (m.clone(), speaker.clone(), engines.clone(), shared.clone());
            async move { refresh(&m, &speaker, &engines, &shared).await }
        })
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "the metrics endpoint is not available");
        }
    });
    tracing::info!(%addr, "metrics endpoint listening");
}
