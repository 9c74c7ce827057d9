//! `ferrolb run`: the long-running daemon.
//!
//! One reconcile loop: read the manifests → validate → run the controller with the active
//! plugins ([`controller::plan_with_router`]) → persist the allocations → hand the decisions to
//! the engines (BGP speaker; BFD, layer 2 and netlink as they are connected). It re-runs when a
//! manifest file changes (polled fingerprint, [`watch`]) and on engine events. A manifest set
//! with errors is reported and ignored: the last good configuration stays in force (frr-k8s
//! behaves the same way). The admin socket ([`admin`]) serves `ferrolb show ...`.

pub mod admin;
pub mod bfd;
pub mod intent;
pub mod l2;
pub mod metrics;
pub mod swap;
pub mod watch;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::config::{Model, Source, load};
use crate::controller::{self, Plan};
use crate::policy::{PluginSource, Registry, Runtime, RuntimeConfig, World};
use crate::store::{Allocation, Change, Store};

/// How the daemon is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Manifest files or directories.
    pub files: Vec<PathBuf>,
    /// This node's name.
    pub node: String,
    /// The state directory (allocations).
    pub state: PathBuf,
    /// The admin socket path.
    pub socket: PathBuf,
    /// How often the manifests are checked for changes.
    pub poll: Duration,
    /// Plugins to use instead of the defaults.
    pub plugins: Vec<(World, PluginSource)>,
    /// On shutdown, leave the routes ferrolb installed in the kernel.
    pub keep_routes: bool,
    /// The membership protocol between nodes (layer-2 mode).
    pub membership: l2::MembershipSettings,
    /// Where to serve Prometheus metrics (`None`: no endpoint).
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Plugin signatures required (or not) for plugin files, at start and on hot swap.
    pub trust: ferrolb_trust::TrustPolicy,
    /// Limits of plugins loaded from files (`None`: the defaults).
    pub limits: Option<crate::policy::Limits>,
    /// Applied to every BGP neighbor (the manifests' neighbor types have no such fields).
    pub neighbors: NeighborDefaults,
}

/// Session protections ferrolb applies to every BGP neighbor.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeighborDefaults {
    /// Most prefixes of one family accepted from a neighbor (RFC 4486 Cease beyond).
    pub max_prefix: Option<u32>,
    /// GTSM (RFC 5082) on directly connected neighbors: TTL 255 out, at least 254 in.
    pub gtsm: bool,
}

/// Errors that stop the daemon from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state store could not be opened or written.
    #[error("state store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The plugin runtime or a plugin failed to load.
    #[error("plugins: {0}")]
    Plugins(String),
    /// The admin socket.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// The BGP speaker.
    #[error("bgp: {0}")]
    Bgp(String),
    /// Signal handling.
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// What the daemon knows about its configuration, for `show` commands.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// How many times a configuration was applied.
    pub generation: u64,
    /// Whether the newest manifests were valid (false: an older configuration is in force).
    pub valid: bool,
    /// The newest manifests' errors (when `valid` is false).
    pub errors: Vec<String>,
    /// When the configuration in force was applied.
    #[serde(with = "unix_time")]
    pub applied_at: Option<SystemTime>,
    /// Errors turning the merged router configuration into sessions.
    pub intent_errors: Vec<String>,
}

mod unix_time {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

/// The state shared between the reconcile loop and the admin socket.
pub struct Shared {
    /// Configuration status.
    pub config: ConfigStatus,
    /// The plan in force.
    pub plan: Option<Plan>,
    /// The BGP intent in force.
    pub bgp: intent::BgpIntent,
    /// Address pools' sizes `(name, IPv4, IPv6)`, for the pool metrics.
    pub pool_sizes: Vec<(String, u64, u128)>,
}

/// What one reconcile decided, for the engines.
#[derive(Debug, Clone)]
pub struct Intents {
    /// The BGP speaker's neighbors and routes.
    pub bgp: intent::BgpIntent,
    /// The kernel state (VRFs, routes, rules, SNAT) this node must have.
    pub kernel: ferrolb_netlink::intent::DesiredState,
    /// Whether layer-2 mode is in use (some L2Advertisement exists).
    pub l2_in_use: bool,
    /// The addresses this node answers ARP/NDP for.
    pub l2: Vec<ferrolb_l2::announcer::Announcement>,
    /// The other nodes, for the membership protocol.
    pub l2_peers: Vec<ferrolb_l2::membership::Peer>,
}

/// The daemon's reconcile state.
pub struct Daemon {
    opts: Options,
    store: Store,
    registry: Registry,
    shared: Arc<Mutex<Shared>>,
    model: Option<Model>,
    fingerprint: Option<watch::Fingerprint>,
    restarted: bool,
    live: Option<BTreeSet<String>>,
    /// Consecutive failed plans per world (quarantine, [`swap`]).
    failures: [u32; 4],
    /// Automatic rollbacks per world.
    quarantines: [u64; 4],
    /// The metrics the daemon counts into (served only with `--metrics-address`).
    metrics: Arc<ferrolb_metrics::Metrics>,
    /// A plan already computed with the plugins now active (a swap plans before switching);
    /// the next forced reconcile uses it instead of planning again, unless the manifests changed.
    prepared: Option<(Plan, Option<controller::merge::MergedConfig>)>,
}

impl Daemon {
    /// Opens the store and the plugins.
    pub fn new(opts: Options) -> Result<Daemon, DaemonError> {
        let store = Store::open(&opts.state)?;
        // Compiled plugins are cached under the state directory: loading a component again (a
        // rollback target, a re-deployed file) skips compilation.
        let mut config = opts.limits.as_ref().map(RuntimeConfig::for_plugin_limits).unwrap_or_default();
        config.cache_dir = Some(opts.state.join("plugin-cache"));
        let runtime = Arc::new(Runtime::new(config).map_err(|e| DaemonError::Plugins(e.to_string()))?);
        let metrics = Arc::new(ferrolb_metrics::Metrics::new());
        for w in World::ALL {
            metrics.init_world(w.name());
        }
        runtime.observe_calls(Arc::new(metrics::CallCounter(metrics.clone())));
        let registry = Registry::with_builtins(runtime).map_err(|e| DaemonError::Plugins(e.to_string()))?;
        for (world, source) in &opts.plugins {
            let plugin = registry
                .runtime()
                .load_with(*world, source, opts.limits.unwrap_or_default())
                .map_err(|e| DaemonError::Plugins(e.to_string()))?;
            if plugin.world != *world {
                return Err(DaemonError::Plugins(format!(
                    "{} is a {} plugin, not {world}",
                    plugin.label(),
                    plugin.world
                )));
            }
            registry.install(plugin).map_err(|e| DaemonError::Plugins(e.to_string()))?;
        }
        let shared = Arc::new(Mutex::new(Shared {
            config: ConfigStatus {
                generation: 0,
                valid: false,
                errors: vec![],
                applied_at: None,
                intent_errors: vec![],
            },
            plan: None,
            bgp: intent::BgpIntent::default(),
            pool_sizes: vec![],
        }));
        // The store remembers the last good configuration: its presence means an earlier run
        // (graceful restart), and it is what runs when the manifests are broken at start-up.
        let last = store.last_good_config()?;
        let restarted = last.is_some();
        let model = last.and_then(|c| match serde_json::from_slice::<Model>(&c.data) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "the stored last good configuration is unreadable; ignored");
                None
            }
        });
        Ok(Daemon {
            opts,
            store,
            registry,
            shared,
            model,
            fingerprint: None,
            restarted,
            live: None,
            failures: [0; 4],
            quarantines: [0; 4],
            metrics,
            prepared: None,
        })
    }

    /// The state the admin socket reads.
    pub fn shared(&self) -> Arc<Mutex<Shared>> {
        self.shared.clone()
    }

    /// The routing tables of VRFs the manifests define (NodeNetworkConfigurationPolicies), for
    /// installing routes received in a VRF.
    pub fn route_tables(&self) -> std::collections::BTreeMap<String, u32> {
        let Some(m) = self.model.as_ref() else { return Default::default() };
        m.route_tables().into_iter().map(|t| (t.name, t.id)).collect()
    }

    /// This node's first IPv4 address (the router id of neighbors whose configuration has none).
    pub fn node_ipv4(&self) -> Option<std::net::Ipv4Addr> {
        let node = self.model.as_ref()?.nodes.iter().find(|n| n.name == self.opts.node)?;
        node.addresses.iter().find_map(|a| match a {
            std::net::IpAddr::V4(v4) => Some(*v4),
            std::net::IpAddr::V6(_) => None,
        })
    }

    /// Whether this start follows an earlier run on the same state (graceful restart: peers
    /// keep our routes until our End-of-RIB).
    pub fn restarted(&self) -> bool {
        self.restarted
    }

    /// The metrics the daemon counts into.
    pub fn metrics(&self) -> Arc<ferrolb_metrics::Metrics> {
        self.metrics.clone()
    }

    /// The plugin registry (hot swap goes through it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The membership protocol's live set (from now on the policies elect among these nodes).
    pub fn set_live(&mut self, live: BTreeSet<String>) {
        self.live = Some(live);
    }

    /// Whether the manifests changed since the last reconcile.
    pub fn manifests_changed(&self) -> bool {
        self.fingerprint.as_ref() != Some(&watch::fingerprint(&self.opts.files))
    }

    /// Reads the manifests (when they changed or `force`), plans, persists the allocations and
    /// returns the new intents when there is a new plan. A manifest set with errors leaves
    /// the model in force; a plan is still recomputed from it when `force` (e.g. liveness).
    pub fn reconcile(&mut self, force: bool) -> Result<Option<Intents>, DaemonError> {
        let fp = watch::fingerprint(&self.opts.files);
        let changed = self.fingerprint.as_ref() != Some(&fp);
        self.fingerprint = Some(fp);
        if changed {
            let sources: Vec<Source> = self.opts.files.iter().map(|p| Source::from_arg(p)).collect();
            let loaded = load(&sources);
            let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
            match loaded.model {
                Some(model) if errors.is_empty() => {
                    if self.model.as_ref() != Some(&model) {
                        match serde_json::to_vec(&model) {
                            Ok(bytes) => {
                                self.store.commit(&[Change::SetConfig(bytes)])?;
                            }
                            Err(e) => tracing::warn!(error = %e, "the configuration could not be saved"),
                        }
                    }
                    self.lock().pool_sizes = metrics::pool_sizes(&model);
                    self.model = Some(model);
                    self.metrics.config_loaded();
                    self.lock().config.valid = true;
                    self.lock().config.errors.clear();
                }
                _ => {
                    for e in &errors {
                        tracing::error!(error = %e, "configuration refused; the previous configuration stays in force");
                    }
                    self.metrics.config_refused();
                    let first = {
                        let mut s = self.lock();
                        s.config.valid = false;
                        s.config.errors = errors;
                        s.config.generation == 0
                    };
                    // At start-up the stored last good configuration (if any) still runs.
                    if !force && !first {
                        return Ok(None);
                    }
                }
            }
        } else if !force {
            return Ok(None);
        }
        let Some(model) = &self.model else { return Ok(None) };
        let held = self.store.allocations()?;
        let started = Instant::now();
        let prepared = self.prepared.take().filter(|_| !changed);
        let (mut plan, mut merged) = match prepared {
            Some(p) => p,
            None => controller::plan_live(&self.registry, model, &self.opts.node, &held, self.live.as_ref()),
        };
        if !self.quarantine(&plan).is_empty() {
            // A quarantined plugin was rolled back: decide again with the restored one.
            let Some(model) = &self.model else { return Ok(None) };
            (plan, merged) = controller::plan_live(&self.registry, model, &self.opts.node, &held, self.live.as_ref());
        }
        let Some(model) = &self.model else { return Ok(None) };
        tracing::debug!(took_ms = started.elapsed().as_secs_f64() * 1e3, "planned");
        self.persist(&held, &plan.allocations)?;
        let (mut bgp, intent_errors) = match &merged {
            Some(m) => intent::bgp_intent(m),
            None => (intent::BgpIntent::default(), vec![]),
        };
        for n in bgp.neighbors.values_mut() {
            n.max_prefix = self.opts.neighbors.max_prefix;
            if self.opts.neighbors.gtsm && !n.ebgp_multihop {
                n.min_ttl = Some(254);
            }
        }
        for e in &intent_errors {
            tracing::error!(error = %e, "neighbor not configured");
        }
        for e in &plan.kernel_errors {
            tracing::error!(error = %e, "kernel object not configured");
        }
        let kernel = plan.kernel.clone();
        let l2_in_use = !model.l2_advertisements.is_empty();
        let l2 = l2::announcements(&plan);
        let l2_peers = l2::peers(model, &self.opts.node, self.opts.membership.port);
        let mut s = self.lock();
        s.config.generation += 1;
        s.config.applied_at = Some(SystemTime::now());
        s.config.intent_errors = intent_errors.iter().map(|e| e.to_string()).collect();
        s.plan = Some(plan);
        s.bgp = bgp.clone();
        Ok(Some(Intents { bgp, kernel, l2_in_use, l2, l2_peers }))
    }

    /// Writes the allocation changes in one transaction (nothing when nothing changed).
    fn persist(&self, held: &[Allocation], now: &[Allocation]) -> Result<(), DaemonError> {
        // By service name: O(n) for 100k services (a linear `contains` per service is not).
        let before: std::collections::HashMap<&str, &Allocation> =
            held.iter().map(|a| (a.service.as_str(), a)).collect();
        let after: std::collections::HashSet<&str> = now.iter().map(|a| a.service.as_str()).collect();
        let mut changes: Vec<Change> =
            now.iter().filter(|a| before.get(a.service.as_str()) != Some(a)).cloned().map(Change::Put).collect();
        changes.extend(
            held.iter().filter(|h| !after.contains(h.service.as_str())).map(|h| Change::Remove(h.service.clone())),
        );
        if !changes.is_empty() {
            self.store.commit(&changes)?;
            tracing::info!(changes = changes.len(), "allocations saved");
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Answers `show bgp ...` from the speaker.
async fn show_bgp(speaker: &crate::bgp::SpeakerHandle, args: &[String], json: bool) -> Option<admin::Response> {
    use crate::bgp::{RouteDirection, show};
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let text_or_json = |text: String, value: serde_json::Result<String>| {
        if json { admin::Response::ok(value.unwrap_or_default()) } else { admin::Response::ok(text) }
    };
    match words.as_slice() {
        ["show", "bgp", "summary"] => {
            let s = speaker.summary();
            Some(text_or_json(show::summary_text(&s), serde_json::to_string_pretty(&s)))
        }
        ["show", "bgp", "neighbors", rest @ ..] => {
            let mut n = speaker.neighbors();
            if let Some(addr) = rest.first() {
                let Ok(a) = addr.parse::<std::net::IpAddr>() else {
                    return Some(admin::Response::error(format!("{addr:?} is not an IP address")));
                };
                n.retain(|x| x.address == Some(a));
                if n.is_empty() {
                    return Some(admin::Response::error(format!("no neighbor {a}")));
                }
            }
            Some(text_or_json(show::neighbors_text(&n), serde_json::to_string_pretty(&n)))
        }
        ["show", "bgp", "routes", rest @ ..] => {
            let direction = match rest.first() {
                None | Some(&"advertised") => RouteDirection::Advertised,
                Some(&"received") => RouteDirection::Received,
                Some(other) => return Some(admin::Response::error(format!("routes {other}: advertised or received"))),
            };
            let neighbor = match rest.get(1).map(|a| a.parse::<std::net::IpAddr>()) {
                None => None,
                Some(Ok(a)) => Some(a),
                Some(Err(_)) => return Some(admin::Response::error(format!("{:?} is not an IP address", rest[1]))),
            };
            let r = speaker.routes(direction, neighbor).await;
            Some(text_or_json(show::routes_text(direction, &r), serde_json::to_string_pretty(&r)))
        }
        _ => None,
    }
}

/// Answers the daemon-level `show` commands (`show config`, `show plan`); the engines answer
/// their own.
pub fn show_daemon(shared: &Mutex<Shared>, args: &[String], json: bool) -> Option<admin::Response> {
    let s = shared.lock().unwrap_or_else(|p| p.into_inner());
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["show", "config"] => Some(if json {
            admin::Response::ok(serde_json::to_string_pretty(&s.config).unwrap_or_default())
        } else {
            let mut out = format!(
                "generation {}; newest manifests {}\n",
                s.config.generation,
                if s.config.valid { "valid" } else { "REFUSED (the previous configuration is in force)" }
            );
            for e in s.config.errors.iter().chain(&s.config.intent_errors) {
                out.push_str(&format!("  {e}\n"));
            }
            admin::Response::ok(out)
        }),
        ["log-level"] => Some(admin::Response::ok(crate::logging::level().unwrap_or_else(|| "unknown".into()))),
        ["log-level", level] => Some(match crate::logging::set_level(level) {
            Ok(previous) => admin::Response::ok(format!("log level {level} (was {previous})")),
            Err(e) => admin::Response::error(e.to_string()),
        }),
        ["show", "plan"] => Some(match &s.plan {
            Some(p) => admin::Response::ok(serde_json::to_string_pretty(p).unwrap_or_default()),
            None => admin::Response::error("no plan yet: the configuration was never valid"),
        }),
        _ => None,
    }
}

/// Where `ferrolb run` listens and `ferrolb show` connects by default.
pub const DEFAULT_SOCKET: &str = "/run/ferrolb/admin.sock";

/// The engines' handles the admin socket reads (the BFD and layer-2 services start lazily).
#[derive(Default, Clone)]
pub struct EngineHandles {
    /// The BFD service, once a neighbor has a profile.
    pub bfd: Option<crate::bfd::BfdHandle>,
    /// The layer-2 speaker, once layer-2 mode is in use.
    pub l2: Option<crate::l2::L2Handle>,
    /// The membership protocol, once layer-2 mode is in use.
    pub membership: Option<crate::l2::MembershipHandle>,
}

/// Answers `show bfd peers [brief]` and `show l2`.
async fn show_engines(engines: &EngineHandles, args: &[String], json: bool) -> Option<admin::Response> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["show", "bfd", "peers", rest @ ..] => {
            let brief = match rest {
                [] => false,
                ["brief"] => true,
                _ => return Some(admin::Response::error("usage: show bfd peers [brief]")),
            };
            let peers = match &engines.bfd {
                None => vec![],
                Some(h) => match h.peers().await {
                    Ok(p) => p,
                    Err(e) => return Some(admin::Response::error(e.to_string())),
                },
            };
            Some(if json {
                admin::Response::ok(
                    serde_json::to_string_pretty(&crate::bfd::render_peers_json(&peers, brief)).unwrap_or_default(),
                )
            } else {
                admin::Response::ok(crate::bfd::render_peers(&peers, brief))
            })
        }
        ["show", "l2"] => {
            let Some(l2) = &engines.l2 else {
                return Some(if json {
                    admin::Response::ok("null")
                } else {
                    admin::Response::ok("layer-2 mode is not in use (no L2Advertisement)\n")
                });
            };
            let status = match l2.status().await {
                Ok(s) => s,
                Err(e) => return Some(admin::Response::error(e.to_string())),
            };
            let membership = match &engines.membership {
                Some(m) => m.status().await.ok(),
                None => None,
            };
            Some(if json {
                let v = serde_json::json!({"l2": crate::l2::l2_json(&status), "membership": membership});
                admin::Response::ok(serde_json::to_string_pretty(&v).unwrap_or_default())
            } else {
                let mut out = crate::l2::render_l2(&status);
                if let Some(m) = membership {
                    out.push_str(&format!(
                        "membership: {}\n",
                        if m.status.isolated { "ISOLATED (fenced)" } else { "hears its peers" }
                    ));
                    for p in &m.status.peers {
                        out.push_str(&format!(
                            "  {:<20} {:<5} last heard {}\n",
                            p.name,
                            if p.live { "live" } else { "dead" },
                            p.last_heard_ago.map_or("never".to_string(), |d| format!("{} ms ago", d.as_millis()))
                        ));
                    }
                }
                admin::Response::ok(out)
            })
        }
        _ => None,
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(opts: Options) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};

    let poll = opts.poll;
    let socket = opts.socket.clone();
    let o = opts.clone();
    let (mut daemon, first) = tokio::task::spawn_blocking(move || -> Result<_, DaemonError> {
        let mut d = Daemon::new(o)?;
        let first = d.reconcile(true);
        Ok((d, first))
    })
    .await
    .map_err(|e| DaemonError::Plugins(e.to_string()))??;
    let listener = admin::bind(&socket).await?;
    let shared = daemon.shared();
    // The BGP speaker: sessions and routes follow the merged router configuration.
    let speaker = crate::bgp::Speaker::start(crate::bgp::SpeakerOptions {
        router_id_fallback: daemon.node_ipv4(),
        vrf_tables: daemon.route_tables(),
        restarted: daemon.restarted(),
        ..crate::bgp::SpeakerOptions::default()
    })
    .await
    .map_err(|e| DaemonError::Bgp(e.to_string()))?;
    let engines: Arc<Mutex<EngineHandles>> = Arc::default();
    let sp = speaker.clone();
    let en = engines.clone();
    let runtime = tokio::runtime::Handle::current();
    // `plugin ...` commands change the daemon's state: the reconcile loop runs them.
    let (op_tx, mut op_rx) = tokio::sync::mpsc::unbounded_channel::<PluginRequest>();
    let handler: admin::Handler = Arc::new(move |req: admin::Request| {
        if let Some(op) = swap::parse(&req.args) {
            let op = match op {
                Ok(op) => op,
                Err(e) => return admin::Response::error(e),
            };
            let (reply, rx) = tokio::sync::oneshot::channel();
            if op_tx.send(PluginRequest { op, json: req.json, reply }).is_err() {
                return admin::Response::error("the daemon is shutting down");
            }
            return rx.blocking_recv().unwrap_or_else(|_| admin::Response::error("the daemon dropped the command"));
        }
        let engines = en.lock().unwrap_or_else(|p| p.into_inner()).clone();
        show_daemon(&shared, &req.args, req.json)
            .or_else(|| runtime.block_on(show_bgp(&sp, &req.args, req.json)))
            .or_else(|| runtime.block_on(show_engines(&engines, &req.args, req.json)))
            .unwrap_or_else(|| admin::Response::error(format!("unknown command: {}", req.args.join(" "))))
    });
    tokio::spawn(admin::serve(listener, handler));
    // The kernel: ferrolb's VRFs, routes, rules and SNAT (only what it owns is ever touched).
    let netlink = match ferrolb_netlink::Netlink::connect(ferrolb_netlink::Netns::Current).await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::error!(error = %e, "netlink unavailable: kernel state (VRFs, egress rules, SNAT) is not programmed");
            None
        }
    };
    if let Some(addr) = opts.metrics_address {
        metrics::start(addr, daemon.metrics(), speaker.clone(), engines.clone(), daemon.shared());
    }
    let mut engine = Engines {
        speaker: speaker.clone(),
        netlink,
        bfd: bfd::BfdLink::default(),
        l2: l2::L2Link::new(opts.node.clone(), opts.membership.clone()),
        handles: engines,
        last_bgp: None,
    };
    match first {
        Ok(Some(intents)) => engine.apply(&intents).await,
        Ok(None) => tracing::warn!("no valid configuration yet: nothing is announced"),
        Err(e) => tracing::error!(error = %e, "the first reconcile failed"),
    }
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(node = %opts.node, socket = %socket.display(), "ferrolb running");
    loop {
        // Why re-plan: the manifests changed, or the live set did (forced).
        let force = tokio::select! {
            _ = tick.tick() => {
                engine.retry().await;
                if !daemon.manifests_changed() {
                    continue;
                }
                false
            }
            ev = engine.bfd.next_event() => {
                if let Some(ev) = ev {
                    engine.bfd.on_event(ev, &speaker).await;
                }
                continue;
            }
            ev = engine.l2.next_event() => {
                match ev.and_then(|ev| engine.l2.on_event(ev)) {
                    Some(live) => {
                        daemon.set_live(live);
                        true
                    }
                    None => continue,
                }
            }
            Some(req) = op_rx.recv() => {
                let started = Instant::now();
                let PluginRequest { op, json, reply } = req;
                let (d, result) = tokio::task::spawn_blocking(move || {
                    let r = run_plugin_op(&mut daemon, op, json);
                    (daemon, r)
                })
                .await
                .map_err(|e| DaemonError::Plugins(format!("the plugin command failed: {e}")))?;
                daemon = d;
                let response = match result {
                    PluginOutcome::Done(response) => response,
                    PluginOutcome::Refused(r) => {
                        if json {
                            admin::Response { ok: false, output: serde_json::to_string_pretty(&r).unwrap_or_default() }
                        } else {
                            admin::Response::error(r.text())
                        }
                    }
                    PluginOutcome::Swapped(mut report, intents) => {
                        if let Some(intents) = intents {
                            engine.apply(&intents).await;
                        }
                        report.took_ms = started.elapsed().as_secs_f64() * 1e3;
                        tracing::info!(world = %report.world, plugin = %report.active, action = %report.action,
                            took_ms = report.took_ms, moved = report.diff.moved.len(),
                            routes_added = report.diff.routes_added.len(), routes_removed = report.diff.routes_removed.len(),
                            "plugin swapped; decisions applied");
                        if json {
                            admin::Response::ok(serde_json::to_string_pretty(&report).unwrap_or_default())
                        } else {
                            admin::Response::ok(report.text())
                        }
                    }
                };
                let _ = reply.send(response);
                continue;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let (d, result) = tokio::task::spawn_blocking(move || {
            let r = daemon.reconcile(force);
            (daemon, r)
        })
        .await
        .map_err(|e| DaemonError::Plugins(format!("the reconcile task failed: {e}")))?;
        daemon = d;
        match result {
            Ok(Some(intents)) => engine.apply(&intents).await,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "reconcile failed; the previous decisions stay in force"),
        }
    }
    tracing::info!("shutting down");
    engine.l2.stop();
    engine.bfd.shutdown().await;
    speaker.shutdown(opts.keep_routes).await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// A `plugin ...` command from the admin socket.
struct PluginRequest {
    op: swap::PluginOp,
    json: bool,
    reply: tokio::sync::oneshot::Sender<admin::Response>,
}

/// What a plugin command produced.
enum PluginOutcome {
    /// Answered (list, dry run).
    Done(admin::Response),
    /// Refused; nothing changed.
    Refused(swap::SwapRefused),
    /// Switched: the new decisions to apply.
    Swapped(Box<swap::SwapReport>, Option<Box<Intents>>),
}

/// Runs a plugin command on the daemon (blocking: compiles and plans).
fn run_plugin_op(daemon: &mut Daemon, op: swap::PluginOp, json: bool) -> PluginOutcome {
    let report = match op {
        swap::PluginOp::List => {
            let slots = daemon.plugin_slots();
            let mut text =
                format!("{:<10} {:<36} {:<14} {:<36} {}\n", "WORLD", "ACTIVE", "DIGEST", "PREVIOUS", "SWAPS");
            for s in &slots {
                text.push_str(&format!(
                    "{:<10} {:<36} {:<14} {:<36} {}{}\n",
                    s.world.name(),
                    s.active,
                    &s.digest[..s.digest.len().min(12)],
                    s.previous.as_deref().unwrap_or("-"),
                    s.swaps,
                    if s.quarantines > 0 { format!(" (quarantined {}x)", s.quarantines) } else { String::new() }
                ));
            }
            if json {
                return PluginOutcome::Done(admin::Response::ok(
                    serde_json::to_string_pretty(&slots).unwrap_or_default(),
                ));
            }
            return PluginOutcome::Done(admin::Response::ok(text));
        }
        swap::PluginOp::Load { world, source, dry_run, apply } => daemon.load_plugin(world, &source, dry_run, apply),
        swap::PluginOp::Rollback(world) => daemon.rollback_plugin(world),
    };
    match report {
        Err(r) => PluginOutcome::Refused(r),
        Ok(report) if !report.switched => PluginOutcome::Done(admin::Response::ok(if json {
            serde_json::to_string_pretty(&report).unwrap_or_default()
        } else {
            report.text()
        })),
        Ok(report) => match daemon.reconcile(true) {
            Ok(intents) => PluginOutcome::Swapped(Box::new(report), intents.map(Box::new)),
            Err(e) => PluginOutcome::Refused(swap::SwapRefused {
                reason: format!("switched, but re-planning failed (the previous decisions stay in force): {e}"),
                diff: None,
            }),
        },
    }
}

/// The engines the decisions drive.
struct Engines {
    speaker: crate::bgp::SpeakerHandle,
    netlink: Option<ferrolb_netlink::Netlink>,
    bfd: bfd::BfdLink,
    l2: l2::L2Link,
    handles: Arc<Mutex<EngineHandles>>,
    /// The BGP intent in force (BFD sessions that failed to start are retried against it).
    last_bgp: Option<intent::BgpIntent>,
}

impl Engines {
    /// Hands one reconcile's decisions to the engines.
    async fn apply(&mut self, intents: &Intents) {
        tracing::info!(neighbors = intents.bgp.neighbors.len(), l2 = intents.l2.len(), "configuration applied");
        for e in self.speaker.apply(&intents.bgp).await {
            tracing::error!(error = %e, "BGP neighbor not running as configured");
        }
        for e in self.bfd.apply(&intents.bgp, &self.speaker).await {
            tracing::error!(error = %e, "BFD session not running as configured");
        }
        self.last_bgp = Some(intents.bgp.clone());
        for e in self.l2.apply(intents.l2_in_use, intents.l2_peers.clone(), intents.l2.clone()) {
            tracing::error!(error = %e, "layer-2 mode not running as configured");
        }
        if let Some(nl) = &self.netlink {
            match nl.apply(&intents.kernel).await {
                Ok(report) => {
                    for e in &report.errors {
                        tracing::error!(object = %e.object, error = %e.message, "the kernel refused a change");
                    }
                    tracing::debug!(requests = report.requests, "kernel state applied");
                }
                Err(e) => tracing::error!(error = %e, "kernel state not applied"),
            }
        }
        let (l2, membership) = self.l2.handles();
        let mut h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        *h = EngineHandles { bfd: self.bfd.handle(), l2, membership };
    }

    /// Retries what could not be set up (BFD sessions without a route to the peer yet).
    async fn retry(&mut self) {
        if self.bfd.has_pending()
            && let Some(bgp) = self.last_bgp.clone()
        {
            let errors = self.bfd.apply(&bgp, &self.speaker).await;
            if errors.is_empty() {
                tracing::info!("BFD sessions set up on retry");
            }
            let mut h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
            h.bfd = self.bfd.handle();
        }
    }
}
