//! The wasmtime engine, its limits, and compiled plugins ready to instantiate.
//!
//! One [`Runtime`] per process: a wasmtime `Engine` with the component model, epoch interruption
//! (a ticker thread advances the epoch every [`RuntimeConfig::epoch_tick`]), the pooling instance
//! allocator sized for the memory cap, and optionally fuel metering. A [`Plugin`] is a compiled,
//! checked component with its `InstancePre`; instantiating one costs microseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::PluginInfo;
use super::error::{Cause, PluginError};
use super::{World, bindings};

/// Which imports a plugin may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportProfile {
    /// No imports at all (the default; ferrolb's own plugins import nothing).
    #[default]
    Pure,
    /// WASI 0.2 imports only, for toolchains that cannot avoid them (componentize-py, jco): linked
    /// to a WASI context with no preopened directories, no network, no environment or arguments,
    /// fixed clocks and a fixed random seed; stdout/stderr are captured into the host log.
    WasiRestricted,
}

impl ImportProfile {
    /// The profile's name as written in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImportProfile::Pure => "pure",
            ImportProfile::WasiRestricted => "wasi-restricted",
        }
    }
}

/// Per-call limits of a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline of one per-object call (`assign`, `announce`, `decide`; default 50 ms),
    /// enforced by epoch interruption.
    pub deadline: Duration,
    /// Deadline of a whole-configuration call (`open`, `reconfigure`, `allocations`, `merge`),
    /// whose work grows with the configuration (default 2 s; at 100k services `open` takes ~90 ms).
    pub bulk_deadline: Duration,
    /// Linear memory cap of one instance (default 64 MiB).
    pub memory_bytes: usize,
    /// Fuel budget of one call, for deterministic runs (conformance); `None`: unmetered.
    pub fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(50),
            bulk_deadline: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            fuel: None,
        }
    }
}

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Default limits of every plugin.
    pub limits: Limits,
    /// The import profile plugins are checked against.
    pub profile: ImportProfile,
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances; deadlines are rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Whether fuel metering is compiled in (needed for `Limits::fuel`; costs ~13 % per call).
    pub fuel_metering: bool,
    /// How many instances the pooling allocator can hold at once.
    pub max_instances: u32,
    /// The largest memory cap of any plugin loaded with its own [`Limits`]
    /// ([`Runtime::load_with`]): the pooling allocator's memory slots are sized for the larger of
    /// this and `limits.memory_bytes` (`None`: `limits.memory_bytes`).
    pub max_memory_bytes: Option<usize>,
}

impl RuntimeConfig {
    /// A runtime that can enforce `limits` on the plugins loaded with them
    /// ([`Runtime::load_with`]) while the others (the default plugins) keep the default limits:
    /// fuel metering is compiled in when `limits.fuel` is set (the others then get an unlimited
    /// budget), and the memory slots are sized for the larger memory cap.
    pub fn for_plugin_limits(limits: &Limits) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        if limits.fuel.is_some() {
            config.fuel_metering = true;
            config.limits.fuel = Some(u64::MAX);
        }
        config.max_memory_bytes = Some(limits.memory_bytes);
        config
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: Limits::default(),
            profile: ImportProfile::Pure,
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            fuel_metering: false,
            max_instances: 128,
            max_memory_bytes: None,
        }
    }
}

/// The plugin runtime: a configured wasmtime engine with its epoch ticker.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) config: RuntimeConfig,
    pure_linker: Linker<HostState>,
    wasi_linker: Linker<HostState>,
    stop: Arc<AtomicBool>,
    observer: std::sync::OnceLock<Arc<dyn CallObserver>>,
}

/// Told about every plugin call (the daemon's metrics: calls, latency, failures).
pub trait CallObserver: Send + Sync {
    /// One call of `plugin` (`name@version`) of `world` took `elapsed`; `failure` is the cause's
    /// kind (`trap`, `deadline`, `memory`, ...) when it failed.
    fn call(&self, world: super::World, plugin: &str, elapsed: std::time::Duration, failure: Option<&str>);
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Errors setting up the runtime itself (not a plugin's fault).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration.
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    /// The WASI linker could not be built.
    #[error("cannot link WASI: {0}")]
    Wasi(String),
    /// The epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker: {0}")]
    Ticker(String),
}

impl Runtime {
    /// Create a runtime.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let mut wc = Config::new();
        wc.wasm_component_model(true);
        wc.epoch_interruption(true);
        wc.consume_fuel(config.fuel_metering);
        // Plugins are small and compiled once (then cached); a deep stack is not needed and a
        // runaway recursion should trap early.
        wc.max_wasm_stack(512 << 10);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances);
        pool.total_core_instances(config.max_instances * 2);
        pool.total_memories(config.max_instances * 2);
        pool.total_tables(config.max_instances * 2);
        pool.max_memory_size(config.limits.memory_bytes.max(config.max_memory_bytes.unwrap_or(0)).max(1 << 20));
        wc.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wc).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let pure_linker = Linker::new(&engine);
        let mut wasi_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut wasi_linker).map_err(|e| RuntimeError::Wasi(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let tick = config.epoch_tick;
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("ferrolb-epoch".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| RuntimeError::Ticker(e.to_string()))?;
        Ok(Runtime { engine, config, pure_linker, wasi_linker, stop, observer: std::sync::OnceLock::new() })
    }

    /// Reports every plugin call made from now on to `observer` (set once; later calls are
    /// ignored).
    pub fn observe_calls(&self, observer: Arc<dyn CallObserver>) {
        let _ = self.observer.set(observer);
    }

    pub(crate) fn observer(&self) -> Option<Arc<dyn CallObserver>> {
        self.observer.get().cloned()
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    pub(crate) fn linker(&self, profile: ImportProfile) -> &Linker<HostState> {
        match profile {
            ImportProfile::Pure => &self.pure_linker,
            ImportProfile::WasiRestricted => &self.wasi_linker,
        }
    }

    /// Epoch ticks that make up a deadline (at least one, rounded up).
    pub(crate) fn deadline_ticks(&self, deadline: Duration) -> u64 {
        let tick = self.config.epoch_tick.as_nanos().max(1);
        u64::try_from(deadline.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).max(1)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The pre-linked, world-typed form of a plugin.
#[derive(Clone)]
pub(crate) enum WorldPre {
    Allocator(bindings::allocator::AllocatorPre<HostState>),
    Advertise(bindings::advertise::AdvertisePre<HostState>),
    Merge(bindings::merge::MergePre<HostState>),
    Egress(bindings::egress::EgressPre<HostState>),
}

impl WorldPre {
    /// Type-check the component against the world's exports.
    pub(crate) fn new(world: World, pre: InstancePre<HostState>) -> wasmtime::Result<WorldPre> {
        Ok(match world {
            World::Allocator => WorldPre::Allocator(bindings::allocator::AllocatorPre::new(pre)?),
            World::Advertise => WorldPre::Advertise(bindings::advertise::AdvertisePre::new(pre)?),
            World::Merge => WorldPre::Merge(bindings::merge::MergePre::new(pre)?),
            World::Egress => WorldPre::Egress(bindings::egress::EgressPre::new(pre)?),
        })
    }
}

/// A compiled, checked plugin, ready to instantiate. Cheap to share (`Arc`).
pub struct Plugin {
    /// The world it implements.
    pub world: World,
    /// What `metadata()` said.
    pub info: PluginInfo,
    /// Where it came from (`builtin:allocator`, a path, ...).
    pub source: String,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Size of the component in bytes.
    pub bytes: usize,
    /// The component's imports.
    pub imports: Vec<String>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// The limits its calls run under.
    pub limits: Limits,
    /// The import profile it was admitted under.
    pub profile: ImportProfile,
    pub(crate) component: Component,
    pub(crate) pre: WorldPre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("world", &self.world)
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("source", &self.source)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// `name@version`, how the plugin is named in messages.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    /// The wasmtime component (for benchmarks and inspection).
    pub fn component(&self) -> &Component {
        &self.component
    }

    pub(crate) fn error(&self, cause: Cause) -> PluginError {
        PluginError { world: self.world, plugin: self.label(), cause }
    }
}

/// The data of one instance's store: the memory cap and, for the wasi-restricted profile, the
/// WASI context.
pub(crate) struct HostState {
    pub(crate) cap: MemoryCap,
    wasi: Option<WasiState>,
    profile: ImportProfile,
}

struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// Output a plugin wrote, captured (wasi-restricted profile only); at most this much is kept.
const CAPTURE_LIMIT: usize = 64 << 10;

impl WasiState {
    fn deny_all() -> WasiState {
        let stdout = MemoryOutputPipe::new(CAPTURE_LIMIT);
        let stderr = MemoryOutputPipe::new(CAPTURE_LIMIT);
        let mut b = WasiCtx::builder();
        b.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(SEED.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(SEED.to_vec()))
            .insecure_random_seed(0);
        WasiState { ctx: b.build(), table: ResourceTable::new(), stdout, stderr }
    }
}

impl HostState {
    pub(crate) fn new(limits: &Limits, profile: ImportProfile) -> HostState {
        HostState { cap: MemoryCap { limit: limits.memory_bytes, exceeded: false }, wasi: None, profile }
    }

    /// Take what the plugin printed since the last call (wasi-restricted profile only).
    pub(crate) fn take_output(&mut self) -> Option<(String, String)> {
        let w = self.wasi.as_mut()?;
        let out = String::from_utf8_lossy(&w.stdout.contents()).into_owned();
        let err = String::from_utf8_lossy(&w.stderr.contents()).into_owned();
        if out.is_empty() && err.is_empty() {
            return None;
        }
        // The pipes only grow; start afresh so the next call logs only its own output.
        let fresh = WasiState::deny_all();
        *w = fresh;
        Some((out, err))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Only the wasi-restricted linker calls this; a pure plugin never reaches WASI.
        debug_assert_eq!(self.profile, ImportProfile::WasiRestricted);
        let w = self.wasi.get_or_insert_with(WasiState::deny_all);
        WasiCtxView { ctx: &mut w.ctx, table: &mut w.table }
    }
}

/// The memory cap of one instance: growth past `limit` fails (the guest sees `memory.grow`
/// return -1, and usually traps), and `exceeded` records why.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// A clock stuck at the epoch: plugins must not depend on time.
struct FixedClock;

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The bytes the deterministic "random" source cycles through: plugins must be reproducible.
const SEED: [u8; 16] = *b"ferrolb-no-rand!";

/// Create a store for one instance of `plugin`.
pub(crate) fn new_store(runtime: &Runtime, limits: &Limits, profile: ImportProfile) -> Store<HostState> {
    let mut store = Store::new(&runtime.engine, HostState::new(limits, profile));
    store.limiter(|s| &mut s.cap);
    store.epoch_deadline_trap();
    store
}
