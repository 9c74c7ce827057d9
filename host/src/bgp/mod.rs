//! The BGP speaker of the daemon: tokio tasks around the sans-IO core of `ferrolb-bgp`.
//!
//! ```text
//!  daemon ── SpeakerHandle::apply(&BgpIntent) ──► one task per neighbor (driver.rs)
//!                                                  Session + AdjRibOut + AdjRibIn
//!   listener per VRF (port 179, v4 + v6) ──accepted TCP by peer address──┘   │ InDelta
//!                                                                            ▼
//!                                              installer task (install.rs): LocRib per table
//!                                              ──► ferrolb-netlink incremental route path, batched
//! ```
//!
//! - [`Speaker::start`] opens the netlink connection and spawns the installer; every socket is
//!   created inside [`SpeakerOptions::netns`] (a helper thread enters the namespace, the socket stays
//!   there), so the speaker can run in-process against a lab namespace and no thread of the caller
//!   ever changes namespace.
//! - [`SpeakerHandle::apply`] diffs the intent against the running neighbors by
//!   [`NeighborKey`]: new ones start, removed ones get Cease / Peer De-configured,
//!   [`NeighborIntent::needs_reset`] resets only that session (Cease / Other Configuration Change),
//!   anything else updates the desired routes (only changed routes are sent, packed) and the
//!   receive filter (re-applied to the Adj-RIB-In; a ROUTE-REFRESH fetches what it now accepts).
//! - Status for `ferrolb show bgp …` comes from [`SpeakerHandle::summary`],
//!   [`SpeakerHandle::neighbors`] and [`SpeakerHandle::routes`]; [`show`] renders them.

mod driver;
mod install;
pub mod show;
pub mod sock;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ferrolb_bgp::filter::{AllowMode, PrefixSelector, ReceiveFilter, ReceivePolicy};
use ferrolb_netlink::Netns;
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

pub use show::{BgpSummary, MessageCounts, NeighborStatus, RouteDirection, RouteEntry};

use crate::daemon::intent::{BgpIntent, NeighborIntent, NeighborKey, PrefixRule};

/// How the speaker runs.
#[derive(Debug, Clone)]
pub struct SpeakerOptions {
    /// The network namespace of every socket and of the kernel routes (the daemon's own by default).
    pub netns: Netns,
    /// The router id of neighbors whose intent has none.
    pub router_id_fallback: Option<Ipv4Addr>,
    /// The kernel table of routes received in the default VRF (254 = main).
    pub table: u32,
    /// The kernel table of each VRF's received routes; a VRF missing here installs nothing.
    pub vrf_tables: BTreeMap<String, u32>,
    /// Install accepted routes into the kernel.
    pub install_routes: bool,
    /// Metric of installed routes (FRR's zebra uses 20 for BGP).
    pub route_metric: u32,
    /// Accept incoming connections (a listener per VRF on `listen_port`).
    pub listen: bool,
    /// The port listened on.
    pub listen_port: u16,
    /// Graceful restart (RFC 4724): we have just restarted, so OPENs carry the Restart State bit and
    /// peers keep our routes until our End-of-RIB. The daemon knows this from its state store.
    pub restarted: bool,
    /// Graceful restart time advertised to GR-enabled neighbors, seconds.
    pub restart_time: u16,
    /// First automatic restart delay after a session failure (doubles up to 120 s).
    pub idle_hold: Duration,
}

impl Default for SpeakerOptions {
    fn default() -> Self {
        SpeakerOptions {
            netns: Netns::Current,
            router_id_fallback: None,
            table: 254,
            vrf_tables: BTreeMap::new(),
            install_routes: true,
            route_metric: 20,
            listen: true,
            listen_port: crate::daemon::intent::BGP_PORT,
            restarted: false,
            restart_time: 120,
            idle_hold: Duration::from_secs(1),
        }
    }
}

/// Errors of the speaker.
#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    /// The netlink connection for received routes could not be opened.
    #[error("netlink: {0}")]
    Netlink(#[from] ferrolb_netlink::NetlinkError),
    /// One neighbor of an intent cannot run (the others do).
    #[error("neighbor {neighbor}: {reason}")]
    Neighbor {
        /// The neighbor.
        neighbor: String,
        /// Why.
        reason: String,
    },
    /// The speaker was shut down.
    #[error("the BGP speaker is shut down")]
    Shutdown,
}

/// A neighbor's index inside the speaker (the Loc-RIB's peer key).
pub(crate) type PeerId = u32;

/// Control messages of a neighbor task.
pub(crate) enum Control {
    /// New routes and receive policy, same session.
    Update(Box<NeighborIntent>, ReceivePolicy),
    /// Reset the session with this configuration.
    Reset(Box<NeighborIntent>, ReceivePolicy),
    /// Stop: NOTIFICATION Cease with `subcode` (none: just close, for a graceful restart), remove the
    /// routes, end the task.
    Stop { subcode: Option<u8>, done: oneshot::Sender<()> },
    /// BFD says the path is down / up again.
    Bfd { up: bool },
    /// Routes for `show`.
    Routes { direction: RouteDirection, reply: oneshot::Sender<Vec<RouteEntry>> },
}

struct NeighborEntry {
    intent: NeighborIntent,
    ctl: mpsc::UnboundedSender<Control>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Running {
    neighbors: BTreeMap<NeighborKey, NeighborEntry>,
    always_block: Vec<IpNet>,
    listeners: HashMap<String, driver::Listeners>,
    shut: bool,
}

pub(crate) struct Shared {
    pub(crate) opts: SpeakerOptions,
    /// Accepted connections are handed over by (VRF, peer address).
    pub(crate) peers: RwLock<HashMap<(String, IpAddr), mpsc::Sender<driver::NetEvent>>>,
    pub(crate) rib: mpsc::UnboundedSender<install::RibMsg>,
    pub(crate) rib_stats: Arc<install::RibStats>,
    /// Every running neighbor's status, for `show` without waiting for an apply in progress.
    statuses: Mutex<BTreeMap<NeighborKey, Arc<Mutex<driver::LiveStatus>>>>,
    next_id: AtomicU32,
}

/// The speaker.
#[derive(Debug)]
pub struct Speaker;

impl Speaker {
    /// Starts the speaker (inside a tokio runtime): the route installer now, neighbors on
    /// [`SpeakerHandle::apply`].
    pub async fn start(opts: SpeakerOptions) -> Result<SpeakerHandle, BgpError> {
        let netlink =
            if opts.install_routes { Some(ferrolb_netlink::Netlink::connect(opts.netns.clone()).await?) } else { None };
        let startup = if opts.restarted {
            install::Startup::Adopt(Duration::from_secs(u64::from(opts.restart_time)))
        } else {
            install::Startup::Clean
        };
        let (rib, rib_stats) = install::spawn(netlink, opts.route_metric, startup);
        let shared = Arc::new(Shared {
            opts,
            peers: RwLock::new(HashMap::new()),
            rib,
            rib_stats,
            statuses: Mutex::new(BTreeMap::new()),
            next_id: AtomicU32::new(1),
        });
        Ok(SpeakerHandle { shared, running: Arc::new(tokio::sync::Mutex::new(Running::default())) })
    }
}

/// The daemon's handle on the running speaker (cheap to clone).
#[derive(Clone)]
pub struct SpeakerHandle {
    shared: Arc<Shared>,
    running: Arc<tokio::sync::Mutex<Running>>,
}

impl std::fmt::Debug for SpeakerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerHandle").finish_non_exhaustive()
    }
}

/// The compiled receive policy of one neighbor.
pub(crate) fn receive_policy(n: &NeighborIntent, always_block: &[IpNet]) -> Result<ReceivePolicy, String> {
    let selectors: Vec<PrefixSelector> = n
        .receive
        .prefixes
        .iter()
        .map(|r: &PrefixRule| PrefixSelector::new(r.prefix, r.ge, r.le).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mode = if n.receive.all { AllowMode::All } else { AllowMode::Filtered };
    let filter = ReceiveFilter::new(mode, &selectors, always_block).map_err(|e| e.to_string())?;
    let policy = ReceivePolicy::new(filter);
    Ok(match n.max_prefix {
        Some(limit) => policy.with_max_prefix(ferrolb_bgp::filter::MaxPrefix::new(limit).map_err(|e| e.to_string())?),
        None => policy,
    })
}

/// How long a stopping neighbor may take to flush its NOTIFICATION.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

impl SpeakerHandle {
    /// Makes the running neighbors match `intent` (see the module docs). Returns the neighbors that
    /// could not be started or changed; every other neighbor is running as intended.
    pub async fn apply(&self, intent: &BgpIntent) -> Vec<BgpError> {
        let mut errors = Vec::new();
        let mut running = self.running.lock().await;
        if running.shut {
            return vec![BgpError::Shutdown];
        }
        let always_block: Vec<IpNet> = intent.always_block.iter().map(|r| r.prefix).collect();
        let block_changed = always_block != running.always_block;
        running.always_block = always_block.clone();

        let gone: Vec<NeighborKey> =
            running.neighbors.keys().filter(|k| !intent.neighbors.contains_key(*k)).cloned().collect();
        for key in gone {
            if let Some(entry) = running.neighbors.remove(&key) {
                self.stop_neighbor(&mut running, entry, Some(ferrolb_bgp::wire::code::cease::PEER_DECONFIGURED)).await;
            }
        }
        for (key, n) in &intent.neighbors {
            let policy = match receive_policy(n, &always_block) {
                Ok(p) => p,
                Err(reason) => {
                    errors.push(BgpError::Neighbor { neighbor: key.to_string(), reason });
                    continue;
                }
            };
            let existing = running.neighbors.get(key).map(|e| e.intent.clone());
            match existing {
                None => match self.start_neighbor(&mut running, n, policy) {
                    Ok(()) => {}
                    Err(reason) => errors.push(BgpError::Neighbor { neighbor: key.to_string(), reason }),
                },
                Some(old) if n.needs_reset(&old) => {
                    if let Err(reason) = driver::validate(n, &self.shared.opts) {
                        errors.push(BgpError::Neighbor { neighbor: key.to_string(), reason });
                        continue;
                    }
                    self.update_md5(&mut running, Some(&old), Some(n));
                    if let Some(e) = running.neighbors.get_mut(key) {
                        e.intent = n.clone();
                        let _ = e.ctl.send(Control::Reset(Box::new(n.clone()), policy));
                    }
                }
                Some(old) if old != *n || block_changed => {
                    if let Some(e) = running.neighbors.get_mut(key) {
                        e.intent = n.clone();
                        let _ = e.ctl.send(Control::Update(Box::new(n.clone()), policy));
                    }
                }
                Some(_) => {}
            }
        }
        errors
    }

    fn start_neighbor(&self, running: &mut Running, n: &NeighborIntent, policy: ReceivePolicy) -> Result<(), String> {
        driver::validate(n, &self.shared.opts)?;
        let address = n.key.address.ok_or("unnumbered (interface-only) neighbors are not supported yet")?;
        if self.shared.opts.listen && !running.listeners.contains_key(&n.key.vrf) {
            let l = driver::Listeners::start(&self.shared, &n.key.vrf);
            running.listeners.insert(n.key.vrf.clone(), l);
        }
        self.update_md5(running, None, Some(n));
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let (net_tx, net_rx) = mpsc::channel(256);
        let status = Arc::new(Mutex::new(driver::LiveStatus::new(n)));
        let task =
            driver::spawn(self.shared.clone(), id, n.clone(), policy, status.clone(), ctl_rx, net_tx.clone(), net_rx)?;
        self.shared.peers.write().unwrap_or_else(|p| p.into_inner()).insert((n.key.vrf.clone(), address), net_tx);
        self.shared.statuses.lock().unwrap_or_else(|p| p.into_inner()).insert(n.key.clone(), status.clone());
        running.neighbors.insert(n.key.clone(), NeighborEntry { intent: n.clone(), ctl, task });
        Ok(())
    }

    fn update_md5(&self, running: &mut Running, old: Option<&NeighborIntent>, new: Option<&NeighborIntent>) {
        let n = new.or(old);
        let Some(n) = n else { return };
        let Some(addr) = n.key.address else { return };
        let Some(l) = running.listeners.get(&n.key.vrf) else { return };
        let key = new.and_then(|n| n.password.clone()).unwrap_or_default();
        let had = old.and_then(|o| o.password.as_ref()).is_some();
        if key.is_empty() && !had {
            return;
        }
        if let Err(e) = l.set_md5(addr, key.as_bytes()) {
            tracing::warn!(neighbor = %n.key, error = %e, "setting the TCP MD5 key on the listener failed");
        }
    }

    async fn stop_neighbor(&self, running: &mut Running, entry: NeighborEntry, subcode: Option<u8>) {
        let (done, wait) = oneshot::channel();
        let _ = entry.ctl.send(Control::Stop { subcode, done });
        let _ = tokio::time::timeout(STOP_TIMEOUT, wait).await;
        self.shared.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(&entry.intent.key);
        if let Some(addr) = entry.intent.key.address {
            self.shared.peers.write().unwrap_or_else(|p| p.into_inner()).remove(&(entry.intent.key.vrf.clone(), addr));
        }
        if subcode.is_some() {
            self.update_md5(running, Some(&entry.intent), None);
        }
        entry.task.abort();
    }

    /// Stops every session with NOTIFICATION Cease / Administrative Shutdown and removes the kernel
    /// routes the speaker installed unless `keep_routes`. The handle refuses work afterwards.
    pub async fn shutdown(&self, keep_routes: bool) {
        self.stop_all(Some(ferrolb_bgp::wire::code::cease::ADMINISTRATIVE_SHUTDOWN), keep_routes).await;
    }

    /// Stops for a graceful restart (RFC 4724): connections are closed without NOTIFICATION, so
    /// peers that negotiated graceful restart keep our routes for the restart time, and the kernel
    /// routes stay (forwarding preserved). Start the next speaker with
    /// [`SpeakerOptions::restarted`].
    pub async fn shutdown_for_restart(&self) {
        self.stop_all(None, true).await;
    }

    async fn stop_all(&self, subcode: Option<u8>, keep_routes: bool) {
        let mut running = self.running.lock().await;
        if running.shut {
            return;
        }
        running.shut = true;
        let entries = std::mem::take(&mut running.neighbors);
        for (_, entry) in entries {
            let (done, wait) = oneshot::channel();
            let _ = entry.ctl.send(Control::Stop { subcode, done });
            let _ = tokio::time::timeout(STOP_TIMEOUT, wait).await;
            entry.task.abort();
        }
        self.shared.peers.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.shared.statuses.lock().unwrap_or_else(|p| p.into_inner()).clear();
        for (_, l) in running.listeners.drain() {
            l.stop();
        }
        let (done, wait) = oneshot::channel();
        if self.shared.rib.send(install::RibMsg::Shutdown { keep_routes, done }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), wait).await;
        }
    }

    /// The speaker-wide summary with one line per neighbor (`show bgp summary`).
    pub fn summary(&self) -> BgpSummary {
        let neighbors = self.neighbors();
        BgpSummary {
            router_id: neighbors.iter().find_map(|n| n.router_id),
            local_asn: neighbors.first().map(|n| n.local_asn),
            rib_routes: self.shared.rib_stats.rib_routes(),
            kernel_routes: self.shared.rib_stats.kernel_routes(),
            kernel_errors: self.shared.rib_stats.kernel_errors(),
            neighbors,
        }
    }

    /// Every neighbor's status, sorted by key (`show bgp neighbors`).
    pub fn neighbors(&self) -> Vec<NeighborStatus> {
        let statuses = self.shared.statuses.lock().unwrap_or_else(|p| p.into_inner());
        statuses.values().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).snapshot()).collect()
    }

    /// Routes advertised to or received from (accepted) one neighbor, or all (`show bgp routes`).
    pub async fn routes(&self, direction: RouteDirection, neighbor: Option<IpAddr>) -> Vec<RouteEntry> {
        let ctls: Vec<mpsc::UnboundedSender<Control>> = {
            let running = self.running.lock().await;
            running
                .neighbors
                .values()
                .filter(|e| neighbor.is_none() || e.intent.key.address == neighbor)
                .map(|e| e.ctl.clone())
                .collect()
        };
        let mut out = Vec::new();
        for ctl in ctls {
            let (reply, rx) = oneshot::channel();
            if ctl.send(Control::Routes { direction, reply }).is_ok()
                && let Ok(Ok(mut r)) = tokio::time::timeout(Duration::from_secs(10), rx).await
            {
                out.append(&mut r);
            }
        }
        out
    }

    /// BFD reports the path to `neighbor` down: the session is torn down at once (Cease) and stays
    /// down until [`SpeakerHandle::bfd_up`]. Returns whether the neighbor exists.
    pub async fn bfd_down(&self, neighbor: &NeighborKey) -> bool {
        self.bfd(neighbor, false).await
    }

    /// BFD reports the path to `neighbor` up again: the session may start.
    pub async fn bfd_up(&self, neighbor: &NeighborKey) -> bool {
        self.bfd(neighbor, true).await
    }

    async fn bfd(&self, neighbor: &NeighborKey, up: bool) -> bool {
        let running = self.running.lock().await;
        match running.neighbors.get(neighbor) {
            Some(e) => e.ctl.send(Control::Bfd { up }).is_ok(),
            None => false,
        }
    }
}
