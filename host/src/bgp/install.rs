//! The route installer: one task owning the Loc-RIB (best path per kernel table across
//! neighbors) and the netlink connection. Neighbor tasks send it Adj-RIB-In deltas; it drains
//! everything queued, coalesces the Loc-RIB changes per (table, prefix) and programs the kernel
//! in one pipelined batch through `ferrolb-netlink`'s incremental path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrolb_bgp::rib::{BestPathInputs, InDelta, LocChange, LocRib, PeerInfo, TableId};
use ferrolb_netlink::{NextHop, Route, RouteKey, RouteOrigin};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

use super::PeerId;

/// What the speaker keeps of a received route's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RxAttrs {
    /// The next hop (MP_REACH global address for IPv6).
    pub next_hop: IpAddr,
    /// ORIGIN (0 IGP, 1 EGP, 2 INCOMPLETE).
    pub origin: u8,
    /// AS_PATH flattened (sets included in order).
    pub as_path: Vec<u32>,
    /// AS_PATH length as best-path selection counts it.
    pub as_path_len: u32,
    /// MED.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP).
    pub local_pref: Option<u32>,
    /// Communities.
    pub communities: Vec<u32>,
    /// Large communities.
    pub large_communities: Vec<(u32, u32, u32)>,
}

impl BestPathInputs for RxAttrs {
    fn local_pref(&self) -> u32 {
        self.local_pref.unwrap_or(100)
    }
    fn as_path_len(&self) -> u32 {
        self.as_path_len
    }
    fn origin(&self) -> u8 {
        self.origin
    }
    fn med(&self) -> u32 {
        self.med.unwrap_or(0)
    }
    fn neighbor_as(&self) -> Option<u32> {
        self.as_path.first().copied()
    }
}

/// Messages to the installer.
#[derive(Debug)]
pub(crate) enum RibMsg {
    /// A neighbor's session is up (or its facts changed).
    SetPeer(PeerId, PeerInfo),
    /// Changes to a neighbor's accepted routes.
    Delta(PeerId, InDelta<RxAttrs>),
    /// A neighbor is gone with all its routes.
    RemovePeer(PeerId),
    /// Remove everything installed (unless `keep_routes`), then end.
    Shutdown { keep_routes: bool, done: oneshot::Sender<()> },
}

/// Counters of the installer.
#[derive(Debug, Default)]
pub(crate) struct RibStats {
    rib: AtomicU64,
    kernel: AtomicU64,
    errors: AtomicU64,
}

impl RibStats {
    pub(crate) fn rib_routes(&self) -> u64 {
        self.rib.load(Ordering::Relaxed)
    }
    pub(crate) fn kernel_routes(&self) -> u64 {
        self.kernel.load(Ordering::Relaxed)
    }
    pub(crate) fn kernel_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// At most this many queued messages are folded into one kernel batch: a message carries up to
/// one UPDATE's worth of prefixes (~800 /24s), so a batch stays near 25k routes and a full table
/// never sits in memory as netlink requests at once.
const BATCH: usize = 32;
/// Routes per netlink call (bounds the messages built at once).
const NETLINK_SLICE: usize = 8192;

/// What the installer finds in the kernel when it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Startup {
    /// A normal start: BGP routes left behind by an earlier run are removed.
    Clean,
    /// A graceful restart: the routes of the previous run are kept (forwarding preserved), adopted,
    /// and those not learned again within this time are removed.
    Adopt(std::time::Duration),
}

pub(crate) fn spawn(
    netlink: Option<ferrolb_netlink::Netlink>,
    metric: u32,
    startup: Startup,
) -> (mpsc::UnboundedSender<RibMsg>, Arc<RibStats>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(RibStats::default());
    tokio::spawn(run(rx, netlink, metric, stats.clone(), startup));
    (tx, stats)
}

/// Reads the BGP routes already in the kernel: removes them (clean start) or adopts them.
async fn startup(nl: &ferrolb_netlink::Netlink, startup: Startup, stats: &RibStats) -> Vec<RouteKey> {
    let ours: Vec<Route> = match nl.routes().await {
        Ok(all) => all.into_iter().filter(|o| o.protocol == RouteOrigin::Bgp.protocol()).map(|o| o.value).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading the kernel's routes at start failed");
            return Vec::new();
        }
    };
    if ours.is_empty() {
        return Vec::new();
    }
    match startup {
        Startup::Clean => {
            if let Err(e) = nl.sync_routes(RouteOrigin::Bgp, &[]).await {
                tracing::warn!(error = %e, "removing BGP routes left by an earlier run failed");
            }
            Vec::new()
        }
        Startup::Adopt(_) => {
            // Same routes: nothing is sent, but the connection learns they are ours to replace.
            if let Err(e) = nl.sync_routes(RouteOrigin::Bgp, &ours).await {
                tracing::warn!(error = %e, "adopting the BGP routes of the previous run failed");
            }
            stats.kernel.store(ours.len() as u64, Ordering::Relaxed);
            ours.iter().map(Route::key).collect()
        }
    }
}

fn route(table: TableId, prefix: IpNet, attrs: &RxAttrs, metric: u32) -> Route {
    Route { dst: prefix, table, next_hop: NextHop::Gateway { address: attrs.next_hop, interface: None }, metric }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<RibMsg>,
    netlink: Option<ferrolb_netlink::Netlink>,
    metric: u32,
    stats: Arc<RibStats>,
    start: Startup,
) {
    let mut loc: LocRib<PeerId, RxAttrs> = LocRib::new();
    let mut msgs = Vec::with_capacity(BATCH);
    let mut adopted = match &netlink {
        Some(nl) => startup(nl, start, &stats).await,
        None => Vec::new(),
    };
    let sweep_at = match start {
        Startup::Adopt(d) => tokio::time::Instant::now() + d,
        Startup::Clean => tokio::time::Instant::now(),
    };
    loop {
        tokio::select! {
            n = rx.recv_many(&mut msgs, BATCH) => if n == 0 { return },
            _ = tokio::time::sleep_until(sweep_at), if !adopted.is_empty() => {
                // Graceful restart over: what the peers did not give us again goes.
                let gone: Vec<RouteKey> =
                    std::mem::take(&mut adopted).into_iter().filter(|k| loc.best(k.table, &k.dst).is_none()).collect();
                if let Some(nl) = &netlink && !gone.is_empty() {
                    let rep = nl.remove_routes(RouteOrigin::Bgp, &gone).await;
                    let _ = stats.kernel.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| Some(k.saturating_sub(rep.deleted)));
                    note_errors(&stats, &rep.errors);
                }
                continue;
            }
        }
        // (table, prefix) → the route to have in the kernel (None: none).
        let mut pending: HashMap<(TableId, IpNet), Option<Route>> = HashMap::new();
        let mut shutdown = None;
        for msg in msgs.drain(..) {
            let delta = match msg {
                RibMsg::SetPeer(peer, info) => loc.set_peer(peer, info),
                RibMsg::Delta(peer, d) => loc.apply(&peer, &d),
                RibMsg::RemovePeer(peer) => Ok(loc.remove_peer(&peer)),
                RibMsg::Shutdown { keep_routes, done } => {
                    shutdown = Some((keep_routes, done));
                    break;
                }
            };
            match delta {
                Ok(d) => {
                    for c in d.changes {
                        match c {
                            LocChange::Install { table, prefix, attrs, .. }
                            | LocChange::Replace { table, prefix, attrs, .. } => {
                                pending.insert((table, prefix), Some(route(table, prefix, &attrs, metric)));
                            }
                            LocChange::Remove { table, prefix } => {
                                pending.insert((table, prefix), None);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Loc-RIB refused a change"),
            }
        }
        let total: usize = loc.tables().iter().map(|t| loc.len(*t)).sum();
        stats.rib.store(total as u64, Ordering::Relaxed);
        if let Some(nl) = &netlink
            && !pending.is_empty()
        {
            let mut installs = Vec::new();
            let mut removes = Vec::new();
            for ((table, prefix), r) in pending {
                match r {
                    Some(r) => installs.push(r),
                    None => removes.push(RouteKey { table, dst: prefix, metric }),
                }
            }
            // In slices: the netlink messages of a slice are built at once, so a full table
            // arriving in one batch must not be turned into a million messages in memory.
            for chunk in installs.chunks(NETLINK_SLICE) {
                let rep = nl.install_routes(RouteOrigin::Bgp, chunk).await;
                stats.kernel.fetch_add(rep.added, Ordering::Relaxed);
                note_errors(&stats, &rep.errors);
            }
            for chunk in removes.chunks(NETLINK_SLICE) {
                let rep = nl.remove_routes(RouteOrigin::Bgp, chunk).await;
                let _ = stats
                    .kernel
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| Some(k.saturating_sub(rep.deleted)));
                note_errors(&stats, &rep.errors);
            }
        }
        if let Some((keep_routes, done)) = shutdown {
            if !keep_routes && let Some(nl) = &netlink {
                let keys: Vec<RouteKey> = loc
                    .tables()
                    .into_iter()
                    .flat_map(|t| loc.routes(t).into_iter().map(move |(p, _, _)| RouteKey { table: t, dst: p, metric }))
                    .collect();
                for chunk in keys.chunks(NETLINK_SLICE) {
                    let rep = nl.remove_routes(RouteOrigin::Bgp, chunk).await;
                    let _ = stats
                        .kernel
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| Some(k.saturating_sub(rep.deleted)));
                    note_errors(&stats, &rep.errors);
                }
            }
            let _ = done.send(());
            return;
        }
    }
}

fn note_errors(stats: &RibStats, errors: &[ferrolb_netlink::ObjectError]) {
    if errors.is_empty() {
        return;
    }
    stats.errors.fetch_add(errors.len() as u64, Ordering::Relaxed);
    tracing::warn!(count = errors.len(), first = %errors[0], "kernel refused BGP routes");
}
