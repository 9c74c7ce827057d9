//! [`Metrics`]: the values behind `/metrics` and their encoding.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::samples::{BfdPeerSample, BgpPeerSample, PoolSample, vrf_label};
use crate::text::{Kind, Writer, format_float};

/// Upper bounds (seconds) of `ferrolb_plugin_call_duration_seconds`: 1 µs to 2 s in 1-2.5-5 steps.
/// A native-speed call into a warm instance is a few µs; the default deadline is 50 ms; a cold
/// instantiation or a cluster-scale merge can take seconds.
pub const CALL_DURATION_BUCKETS: [f64; 20] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.0,
];

/// A histogram with [`CALL_DURATION_BUCKETS`].
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); observations above the last bound only count.
    buckets: [u64; CALL_DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = CALL_DURATION_BUCKETS.iter().position(|&b| seconds <= b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counters keyed by label values, without allocating on the hot path when the key exists.
type Map1 = BTreeMap<String, u64>;
type Map2 = BTreeMap<String, Map1>;
type Map3 = BTreeMap<String, Map2>;

fn bump1(m: &mut Map1, a: &str) {
    match m.get_mut(a) {
        Some(v) => *v += 1,
        None => {
            m.insert(a.to_owned(), 1);
        }
    }
}

fn bump2(m: &mut Map2, a: &str, b: &str) {
    match m.get_mut(a) {
        Some(inner) => bump1(inner, b),
        None => {
            m.insert(a.to_owned(), BTreeMap::from([(b.to_owned(), 1)]));
        }
    }
}

fn bump3(m: &mut Map3, a: &str, b: &str, c: &str) {
    match m.get_mut(a) {
        Some(inner) => bump2(inner, b, c),
        None => {
            let mut inner = Map2::new();
            bump2(&mut inner, b, c);
            m.insert(a.to_owned(), inner);
        }
    }
}

#[derive(Debug, Default)]
struct Plugins {
    /// world → plugin → calls.
    calls: Map2,
    /// world → plugin → cause → failures.
    failures: Map3,
    /// world → call durations.
    durations: BTreeMap<String, Histogram>,
    swaps: Map1,
    rollbacks: Map1,
    quarantines: Map1,
}

#[derive(Debug, Default)]
struct Config {
    last_success: Option<SystemTime>,
    /// When the first refusal after the last success happened.
    stale_since: Option<SystemTime>,
    loads_ok: u64,
    loads_failed: u64,
}

#[derive(Debug, Default)]
struct Snapshots {
    bgp: Vec<BgpPeerSample>,
    bfd: Vec<BfdPeerSample>,
    pools: Vec<PoolSample>,
    refresh_timeouts: u64,
}

/// All metrics of one daemon. Share it (`Arc<Metrics>`) between the places that update it and
/// [`crate::serve`].
///
/// Two kinds of families:
/// - **updated directly** by the host as things happen: plugin calls, failures, swaps,
///   rollbacks, quarantines, configuration loads;
/// - **snapshot-fed**: the speakers and the allocator count themselves, and the daemon hands over
///   absolute values with [`Metrics::set_bgp`], [`Metrics::set_bfd`], [`Metrics::set_pools`]
///   (typically from the refresh callback of [`crate::serve`], just before each scrape). Each call
///   replaces the whole family: a peer or pool absent from the new snapshot is absent from the
///   output.
#[derive(Debug, Default)]
pub struct Metrics {
    plugins: Mutex<Plugins>,
    config: Mutex<Config>,
    snapshots: Mutex<Snapshots>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Expose the per-world plugin families of `world` at zero before anything happens, so that
    /// `rate()` and `increase()` see the first event and absent-series alerts stay quiet. The host
    /// calls it once per world at start.
    pub fn init_world(&self, world: &str) {
        let mut guard = lock(&self.plugins);
        let p = &mut *guard;
        p.durations.entry(world.to_owned()).or_default();
        for m in [&mut p.swaps, &mut p.rollbacks, &mut p.quarantines] {
            m.entry(world.to_owned()).or_insert(0);
        }
    }

    /// One call into plugin `plugin` (its label, `Plugin::label()`: `name@version`) of `world`, which
    /// took `elapsed`. `failure` is the cause's stable label (`PluginError::cause.kind()`:
    /// `deadline`, `trap`, `invalid-answer`, ...) when the call failed. Every call counts in
    /// `ferrolb_plugin_calls_total` and the duration histogram, failed ones also in
    /// `ferrolb_plugin_failures_total`.
    pub fn plugin_call(&self, world: &str, plugin: &str, elapsed: Duration, failure: Option<&str>) {
        let mut p = lock(&self.plugins);
        bump2(&mut p.calls, world, plugin);
        match p.durations.get_mut(world) {
            Some(h) => h.observe(elapsed.as_secs_f64()),
            None => {
                let mut h = Histogram::default();
                h.observe(elapsed.as_secs_f64());
                p.durations.insert(world.to_owned(), h);
            }
        }
        if let Some(cause) = failure {
            bump3(&mut p.failures, world, plugin, cause);
        }
    }

    /// A failure outside a call (loading: `read`, `compile`, `forbidden-imports`, `wrong-world`,
    /// `incompatible`, `instantiate`): counts in `ferrolb_plugin_failures_total` only.
    pub fn plugin_failure(&self, world: &str, plugin: &str, cause: &str) {
        bump3(&mut lock(&self.plugins).failures, world, plugin, cause);
    }

    /// The active plugin of `world` was replaced by an install.
    pub fn plugin_swapped(&self, world: &str) {
        bump1(&mut lock(&self.plugins).swaps, world);
    }

    /// The previous plugin of `world` was made active again. A rollback is a swap too: this
    /// counts in both `ferrolb_plugin_rollbacks_total` and `ferrolb_plugin_swaps_total`.
    pub fn plugin_rolled_back(&self, world: &str) {
        let mut p = lock(&self.plugins);
        bump1(&mut p.rollbacks, world);
        bump1(&mut p.swaps, world);
    }

    /// The plugin of `world` was quarantined (taken out of service after failing).
    pub fn plugin_quarantined(&self, world: &str) {
        bump1(&mut lock(&self.plugins).quarantines, world);
    }

    /// The manifests loaded cleanly now; see [`Metrics::config_loaded_at`].
    pub fn config_loaded(&self) {
        self.config_loaded_at(SystemTime::now());
    }

    /// The manifests loaded cleanly at `at` and are in force: the configuration is current.
    pub fn config_loaded_at(&self, at: SystemTime) {
        let mut c = lock(&self.config);
        c.last_success = Some(at);
        c.stale_since = None;
        c.loads_ok += 1;
    }

    /// A manifest set was refused now; see [`Metrics::config_refused_at`].
    pub fn config_refused(&self) {
        self.config_refused_at(SystemTime::now());
    }

    /// A manifest set was refused at `at`: the last good one (if any) stays in force, so what
    /// runs is not what the manifests say. Stale until the next [`Metrics::config_loaded_at`].
    pub fn config_refused_at(&self, at: SystemTime) {
        let mut c = lock(&self.config);
        if c.stale_since.is_none() {
            c.stale_since = Some(at);
        }
        c.loads_failed += 1;
    }

    /// Replace the BGP neighbors (the `frrk8s_bgp_*` families). Sorted by (vrf, peer); of
    /// samples with the same (peer, vrf) labels, the first is kept.
    pub fn set_bgp(&self, mut peers: Vec<BgpPeerSample>) {
        peers.sort_by(|a, b| (vrf_label(&a.vrf), &a.peer).cmp(&(vrf_label(&b.vrf), &b.peer)));
        peers.dedup_by(|b, a| vrf_label(&a.vrf) == vrf_label(&b.vrf) && a.peer == b.peer);
        lock(&self.snapshots).bgp = peers;
    }

    /// Replace the BFD sessions (the `frrk8s_bfd_*` families). Sorted and deduplicated like
    /// [`Metrics::set_bgp`].
    pub fn set_bfd(&self, mut peers: Vec<BfdPeerSample>) {
        peers.sort_by(|a, b| (vrf_label(&a.vrf), &a.peer).cmp(&(vrf_label(&b.vrf), &b.peer)));
        peers.dedup_by(|b, a| vrf_label(&a.vrf) == vrf_label(&b.vrf) && a.peer == b.peer);
        lock(&self.snapshots).bfd = peers;
    }

    /// Replace the address pools (the `metallb_allocator_*` families). Sorted by pool; of samples
    /// with the same pool name, the first is kept.
    pub fn set_pools(&self, mut pools: Vec<PoolSample>) {
        pools.sort_by(|a, b| a.pool.cmp(&b.pool));
        pools.dedup_by(|b, a| a.pool == b.pool);
        lock(&self.snapshots).pools = pools;
    }

    /// The refresh callback did not finish in time for a scrape (the scrape went out with the
    /// previous snapshots).
    pub(crate) fn refresh_timed_out(&self) {
        lock(&self.snapshots).refresh_timeouts += 1;
    }

    /// The exposition text (Prometheus text format 0.0.4, [`crate::CONTENT_TYPE`]) at the current
    /// time.
    pub fn encode(&self) -> String {
        self.encode_at(SystemTime::now())
    }

    /// The exposition text, with `now` as the time the staleness gauge is computed against.
    pub fn encode_at(&self, now: SystemTime) -> String {
        let mut w = Writer::new();
        let refresh_timeouts = {
            let s = lock(&self.snapshots);
            encode_bgp(&mut w, &s.bgp);
            encode_bfd(&mut w, &s.bfd);
            encode_pools(&mut w, &s.pools);
            s.refresh_timeouts
        };
        encode_plugins(&mut w, &lock(&self.plugins));
        encode_config(&mut w, &lock(&self.config), now);
        w.family(
            "ferrolb_metrics_refresh_timeouts_total",
            "Scrapes answered with the previous snapshots because refreshing them took too long",
            Kind::Counter,
        );
        w.sample("ferrolb_metrics_refresh_timeouts_total", &[], refresh_timeouts);
        w.finish()
    }
}

/// A per-peer sample: the `peer` and `vrf` labels of the frr-k8s families.
trait PeerLabels {
    fn peer(&self) -> &str;
    fn vrf(&self) -> &str;
}

impl PeerLabels for BgpPeerSample {
    fn peer(&self) -> &str {
        &self.peer
    }
    fn vrf(&self) -> &str {
        &self.vrf
    }
}

impl PeerLabels for BfdPeerSample {
    fn peer(&self) -> &str {
        &self.peer
    }
    fn vrf(&self) -> &str {
        &self.vrf
    }
}

/// A family name, its help, its type and its value per sample.
type PeerFamily<S> = (&'static str, &'static str, Kind, fn(&S) -> u64);

/// Families over per-peer samples, each omitted when there are no samples (as client_golang does).
fn peer_families<S: PeerLabels>(w: &mut Writer, samples: &[S], families: &[PeerFamily<S>]) {
    if samples.is_empty() {
        return;
    }
    for (name, help, kind, value) in families {
        w.family(name, help, *kind);
        for s in samples {
            w.sample(name, &[("peer", s.peer()), ("vrf", vrf_label(s.vrf()))], value(s));
        }
    }
}

fn encode_bgp(w: &mut Writer, peers: &[BgpPeerSample]) {
    use Kind::{Counter, Gauge};
    #[rustfmt::skip]
    let families: [PeerFamily<BgpPeerSample>; 13] = [
        ("frrk8s_bgp_session_up", "BGP session state (1 is up, 0 is down)", Gauge, |p| u64::from(p.established)),
        ("frrk8s_bgp_announced_prefixes_total", "Number of prefixes currently being advertised on the BGP session", Gauge, |p| p.announced_prefixes),
        ("frrk8s_bgp_received_prefixes_total", "Number of prefixes currently being received on the BGP session", Gauge, |p| p.received_prefixes),
        ("frrk8s_bgp_opens_sent", "Number of BGP open messages sent", Counter, |p| p.sent.opens),
        ("frrk8s_bgp_opens_received", "Number of BGP open messages received", Counter, |p| p.received.opens),
        ("frrk8s_bgp_notifications_sent", "Number of BGP notification messages sent", Counter, |p| p.sent.notifications),
        ("frrk8s_bgp_updates_total", "Number of BGP UPDATE messages sent", Counter, |p| p.sent.updates),
        ("frrk8s_bgp_updates_total_received", "Number of BGP UPDATE messages received", Counter, |p| p.received.updates),
        ("frrk8s_bgp_keepalives_sent", "Number of BGP keepalive messages sent", Counter, |p| p.sent.keepalives),
        ("frrk8s_bgp_keepalives_received", "Number of BGP keepalive messages received", Counter, |p| p.received.keepalives),
        ("frrk8s_bgp_route_refresh_sent", "Number of BGP route refresh messages sent", Counter, |p| p.sent.route_refreshes),
        ("frrk8s_bgp_total_sent", "Number of total BGP messages sent", Counter, |p| p.sent.total()),
        ("frrk8s_bgp_total_received", "Number of total BGP messages received", Counter, |p| p.received.total()),
    ];
    peer_families(w, peers, &families);
}

fn encode_bfd(w: &mut Writer, peers: &[BfdPeerSample]) {
    use Kind::{Counter, Gauge};
    #[rustfmt::skip]
    let families: [PeerFamily<BfdPeerSample>; 8] = [
        ("frrk8s_bfd_session_up", "BFD session state (1 is up, 0 is down)", Gauge, |p| u64::from(p.up)),
        ("frrk8s_bfd_control_packet_input", "Number of received BFD control packets", Counter, |p| p.control_in),
        ("frrk8s_bfd_control_packet_output", "Number of sent BFD control packets", Counter, |p| p.control_out),
        ("frrk8s_bfd_echo_packet_input", "Number of received BFD echo packets", Counter, |p| p.echo_in),
        ("frrk8s_bfd_echo_packet_output", "Number of sent BFD echo packets", Counter, |p| p.echo_out),
        ("frrk8s_bfd_session_up_events", "Number of BFD session up events", Counter, |p| p.up_events),
        ("frrk8s_bfd_session_down_events", "Number of BFD session down events", Counter, |p| p.down_events),
        ("frrk8s_bfd_zebra_notifications", "Number of BFD zebra notifications (always 0: ferrolb has no zebra)", Counter, |p| p.zebra_notifications),
    ];
    peer_families(w, peers, &families);
}

fn encode_pools(w: &mut Writer, pools: &[PoolSample]) {
    if pools.is_empty() {
        return;
    }
    let one = |w: &mut Writer, name: &str, help: &str, value: &dyn Fn(&PoolSample) -> crate::text::Value| {
        w.family(name, help, Kind::Gauge);
        for p in pools {
            w.sample(name, &[("pool", p.pool.as_str())], value(p));
        }
    };
    use crate::text::Value::{Float, Int};
    one(w, "metallb_allocator_addresses_total", "Number of usable IP addresses, per pool", &|p| {
        Float(p.addresses_total())
    });
    one(w, "metallb_allocator_addresses_in_use_total", "Number of IP addresses in use, per pool", &|p| {
        Int(p.addresses_in_use())
    });
    one(w, "metallb_allocator_ipv4_addresses_total", "Number of usable IPV4 addresses, per pool", &|p| {
        Int(p.ipv4_total)
    });
    one(w, "metallb_allocator_ipv6_addresses_total", "Number of usable IPV6 addresses, per pool", &|p| {
        Float(p.ipv6_total as f64)
    });
    one(w, "metallb_allocator_ipv4_addresses_in_use_total", "Number of IPV4 addresses in use, per pool", &|p| {
        Int(p.ipv4_in_use)
    });
    one(w, "metallb_allocator_ipv6_addresses_in_use_total", "Number of IPV6 addresses in use, per pool", &|p| {
        Int(p.ipv6_in_use)
    });
    one(w, "metallb_allocator_services_allocated_total", "Number of services allocated, per pool", &|p| {
        Int(p.services_allocated)
    });
}

fn encode_plugins(w: &mut Writer, p: &Plugins) {
    if !p.calls.is_empty() {
        let name = "ferrolb_plugin_calls_total";
        w.family(name, "Calls into policy plugins, failed ones included", Kind::Counter);
        for (world, plugins) in &p.calls {
            for (plugin, n) in plugins {
                w.sample(name, &[("world", world), ("plugin", plugin)], *n);
            }
        }
    }
    if !p.durations.is_empty() {
        let name = "ferrolb_plugin_call_duration_seconds";
        w.family(name, "Duration of calls into policy plugins, per world", Kind::Histogram);
        let bucket = format!("{name}_bucket");
        let bounds: Vec<String> = CALL_DURATION_BUCKETS.iter().map(|b| format_float(*b)).collect();
        for (world, h) in &p.durations {
            let mut cumulative = 0;
            for (n, le) in h.buckets.iter().zip(&bounds) {
                cumulative += n;
                w.sample(&bucket, &[("world", world), ("le", le)], cumulative);
            }
            w.sample(&bucket, &[("world", world), ("le", "+Inf")], h.count);
            w.sample(&format!("{name}_sum"), &[("world", world)], h.sum);
            w.sample(&format!("{name}_count"), &[("world", world)], h.count);
        }
    }
    if !p.failures.is_empty() {
        let name = "ferrolb_plugin_failures_total";
        w.family(
            name,
            "Policy plugin failures (calls and loads), by cause; the last good decision stayed in force",
            Kind::Counter,
        );
        for (world, plugins) in &p.failures {
            for (plugin, causes) in plugins {
                for (cause, n) in causes {
                    w.sample(name, &[("world", world), ("plugin", plugin), ("cause", cause)], *n);
                }
            }
        }
    }
    #[rustfmt::skip]
    let per_world: [(&str, &str, &Map1); 3] = [
        ("ferrolb_plugin_swaps_total", "Times the active plugin of a world changed (installs and rollbacks)", &p.swaps),
        ("ferrolb_plugin_rollbacks_total", "Times the previous plugin of a world was made active again", &p.rollbacks),
        ("ferrolb_plugin_quarantines_total", "Times the plugin of a world was quarantined after failing", &p.quarantines),
    ];
    for (name, help, values) in per_world {
        if values.is_empty() {
            continue;
        }
        w.family(name, help, Kind::Counter);
        for (world, n) in values {
            w.sample(name, &[("world", world)], *n);
        }
    }
}

fn encode_config(w: &mut Writer, c: &Config, now: SystemTime) {
    let name = "ferrolb_config_stale";
    w.family(
        name,
        "1 when the latest manifests were refused and an older configuration (or none) is in force",
        Kind::Gauge,
    );
    w.sample(name, &[], c.stale_since.is_some());
    let name = "ferrolb_config_stale_seconds";
    w.family(name, "Seconds since the configuration in force became stale (0 when current)", Kind::Gauge);
    let stale_for = c.stale_since.map(|t| now.duration_since(t).unwrap_or_default().as_secs_f64()).unwrap_or(0.0);
    w.sample(name, &[], stale_for);
    let name = "ferrolb_config_last_success_timestamp_seconds";
    w.family(name, "Unix time the manifests last loaded cleanly (0: never)", Kind::Gauge);
    w.sample(name, &[], c.last_success.map(unix_seconds).unwrap_or(0.0));
    let name = "ferrolb_config_loads_total";
    w.family(name, "Manifest sets loaded, by result", Kind::Counter);
    w.sample(name, &[("result", "success")], c.loads_ok);
    w.sample(name, &[("result", "failure")], c.loads_failed);
}
