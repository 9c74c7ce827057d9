//! Live plugin instances: every call under its limits, every failure classified, every answer
//! checked before the host may act on it.
//!
//! A [`Session`] is one store + one instance of a plugin. Each world has a typed wrapper
//! ([`AllocatorInstance`], ...) holding a session and the world's working resource. After a trap
//! (deadline, memory, fuel, panic, ...) the instance is *poisoned*: wasmtime cannot re-enter it, so
//! every later call fails fast, and the owner must build a new instance from the state the host
//! holds (that is what the resource `open` functions are for).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use super::bindings::PluginInfo;
use super::bindings::advertise::exports::ferrolb::policy::advertise_policy as adv;
use super::bindings::allocator::exports::ferrolb::policy::allocator_policy as alloc;
use super::bindings::egress::exports::ferrolb::policy::egress_policy as egr;
use super::bindings::merge::exports::ferrolb::policy::merge_policy as mrg;
use super::bindings::{advertise, allocator, egress, merge};
use super::convert::{block_contains, ip_from_wit, prefix_from_wit};
use super::error::{Cause, PluginError};
use super::runtime::{HostState, Plugin, Runtime, WorldPre, new_store};
use super::types::PolicyError;

/// A bound instance of one of the four worlds.
enum Bound {
    Allocator(allocator::Allocator),
    Advertise(advertise::Advertise),
    Merge(merge::Merge),
    Egress(egress::Egress),
}

/// One store and one instance of a plugin.
pub(crate) struct Session {
    store: Store<HostState>,
    bound: Bound,
    plugin: String,
    world: super::World,
    limits: super::Limits,
    ticks: u64,
    bulk_ticks: u64,
    poisoned: bool,
    observer: Option<Arc<dyn super::runtime::CallObserver>>,
}

/// Which deadline a call runs under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// A per-object call: `Limits::deadline`.
    Small,
    /// A whole-configuration call: `Limits::bulk_deadline`.
    Bulk,
}

impl Session {
    /// Instantiate `plugin` in a fresh store.
    pub(crate) fn new(runtime: &Runtime, plugin: &Plugin) -> Result<Session, PluginError> {
        let mut store = new_store(runtime, &plugin.limits, plugin.profile);
        let ticks = runtime.deadline_ticks(plugin.limits.deadline);
        let bulk_ticks = runtime.deadline_ticks(plugin.limits.bulk_deadline.max(plugin.limits.deadline));
        store.set_epoch_deadline(ticks);
        if let Some(fuel) = plugin.limits.fuel {
            // Only fails when fuel metering is off in the engine: then the limit cannot apply.
            store.set_fuel(fuel).map_err(|e| plugin.error(Cause::Instantiate(format!("{e:#}"))))?;
        }
        let inst = match &plugin.pre {
            WorldPre::Allocator(p) => p.instantiate(&mut store).map(Bound::Allocator),
            WorldPre::Advertise(p) => p.instantiate(&mut store).map(Bound::Advertise),
            WorldPre::Merge(p) => p.instantiate(&mut store).map(Bound::Merge),
            WorldPre::Egress(p) => p.instantiate(&mut store).map(Bound::Egress),
        };
        let bound = match inst {
            Ok(b) => b,
            Err(e) => {
                let cause = classify(&e, &store, &plugin.limits, Call::Small);
                let cause = if matches!(cause, Cause::Trap(_)) { Cause::Instantiate(format!("{e:#}")) } else { cause };
                return Err(plugin.error(cause));
            }
        };
        Ok(Session {
            store,
            bound,
            plugin: plugin.label(),
            world: plugin.world,
            limits: plugin.limits,
            ticks,
            bulk_ticks,
            observer: runtime.observer(),
            poisoned: false,
        })
    }

    fn error(&self, cause: Cause) -> PluginError {
        PluginError { world: self.world, plugin: self.plugin.clone(), cause }
    }

    /// Fail fast if the instance was discarded after an earlier failure.
    fn alive(&self) -> Result<(), PluginError> {
        if self.poisoned {
            return Err(
                self.error(Cause::Trap("this instance failed earlier and was discarded; it must be reopened".into()))
            );
        }
        Ok(())
    }

    /// Run one call under the plugin's limits and classify any failure.
    fn run<R>(
        &mut self,
        call: Call,
        f: impl FnOnce(&mut Store<HostState>, &Bound) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.alive()?;
        self.store.set_epoch_deadline(if call == Call::Bulk { self.bulk_ticks } else { self.ticks });
        if let Some(fuel) = self.limits.fuel {
            self.store.set_fuel(fuel).map_err(|e| self.error(Cause::Instantiate(format!("{e:#}"))))?;
        }
        self.store.data_mut().cap.exceeded = false;
        let _span = tracing::debug_span!("plugin", world = %self.world, plugin = %self.plugin).entered();
        let started = std::time::Instant::now();
        let result = f(&mut self.store, &self.bound);
        let elapsed = started.elapsed();
        if let Some((out, err)) = self.store.data_mut().take_output() {
            for line in out.lines() {
                tracing::info!(world = %self.world, plugin = %self.plugin, stream = "stdout", "{line}");
            }
            for line in err.lines() {
                tracing::warn!(world = %self.world, plugin = %self.plugin, stream = "stderr", "{line}");
            }
        }
        if let (Some(o), Ok(_)) = (&self.observer, &result) {
            o.call(self.world, &self.plugin, elapsed, None);
        }
        result.map_err(|e| {
            let cause = classify(&e, &self.store, &self.limits, call);
            if let Some(o) = &self.observer {
                o.call(self.world, &self.plugin, elapsed, Some(cause.kind()));
            }
            if cause.poisons_instance() {
                self.poisoned = true;
            }
            tracing::warn!(world = %self.world, plugin = %self.plugin, cause = cause.kind(), "plugin call failed: {cause}");
            self.error(cause)
        })
    }

    /// Whether the instance failed and must be replaced.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Call `metadata()`.
    pub(crate) fn metadata(&mut self) -> Result<PluginInfo, PluginError> {
        self.run(Call::Small, |store, bound| match bound {
            Bound::Allocator(b) => b.call_metadata(store).map(PluginInfo::from),
            Bound::Advertise(b) => b.call_metadata(store).map(PluginInfo::from),
            Bound::Merge(b) => b.call_metadata(store).map(PluginInfo::from),
            Bound::Egress(b) => b.call_metadata(store).map(PluginInfo::from),
        })
    }
}

/// Turn a wasmtime error into a cause a person understands.
fn classify(e: &wasmtime::Error, store: &Store<HostState>, limits: &super::Limits, call: Call) -> Cause {
    if store.data().cap.exceeded {
        return Cause::Memory { limit_bytes: store.data().cap.limit };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            let d = if call == Call::Bulk { limits.bulk_deadline.max(limits.deadline) } else { limits.deadline };
            Cause::Deadline { deadline_ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX) }
        }
        Some(Trap::OutOfFuel) => Cause::Fuel { fuel: limits.fuel.unwrap_or(0) },
        Some(Trap::StackOverflow) => Cause::Trap("call stack exhausted (unbounded recursion?)".into()),
        Some(Trap::UnreachableCodeReached) => {
            Cause::Trap("wasm `unreachable` executed (the plugin panicked or aborted)".into())
        }
        Some(t) => Cause::Trap(t.to_string()),
        None => Cause::Trap(format!("{e:#}")),
    }
}

fn refused(p: PolicyError) -> Cause {
    match p {
        PolicyError::NotImplemented(m) => Cause::Refused(format!("not implemented: {m}")),
        PolicyError::InvalidInput(m) => Cause::Refused(format!("invalid input: {m}")),
        PolicyError::Failed(m) => Cause::Refused(m),
    }
}

fn session_for(runtime: &Runtime, plugin: &Plugin, world: super::World) -> Result<Session, PluginError> {
    if plugin.world != world {
        return Err(
            plugin.error(Cause::WrongWorld { expected: world, reason: format!("it implements {}", plugin.world) })
        );
    }
    Session::new(runtime, plugin)
}

// ---------------------------------------------------------------------------------------------
// allocator

/// A live allocator plugin with its `pool-state`.
pub struct AllocatorInstance {
    session: Session,
    state: Option<ResourceAny>,
    config: Option<alloc::AllocatorConfig>,
}

impl AllocatorInstance {
    /// Instantiate an allocator plugin (no state yet: call [`AllocatorInstance::open`]).
    pub fn new(runtime: &Runtime, plugin: &Arc<Plugin>) -> Result<Self, PluginError> {
        Ok(AllocatorInstance {
            session: session_for(runtime, plugin, super::World::Allocator)?,
            state: None,
            config: None,
        })
    }

    /// Whether the instance failed and must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.session.is_poisoned()
    }

    /// Ask the plugin who it is (the smallest call there is: no input, three strings out).
    pub fn metadata(&mut self) -> Result<PluginInfo, PluginError> {
        self.session.metadata()
    }

    /// Start from a configuration and the allocations the host holds.
    pub fn open(
        &mut self,
        config: &alloc::AllocatorConfig,
        existing: &[alloc::Allocation],
    ) -> Result<alloc::ReconfigureOutcome, PluginError> {
        let answer = self.session.run(Call::Bulk, |store, b| match b {
            Bound::Allocator(b) => b.ferrolb_policy_allocator_policy().pool_state().call_open(store, config, existing),
            _ => unreachable_world(),
        })?;
        let (state, outcome) = answer.map_err(|p| self.session.error(refused(p)))?;
        if let Some(old) = self.state.replace(state) {
            let _ = old.resource_drop(&mut self.session.store);
        }
        self.config = Some(config.clone());
        for a in &outcome.rehomed {
            self.check_allocation(&a.service, a).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        }
        Ok(outcome)
    }

    fn state(&self) -> Result<ResourceAny, PluginError> {
        self.session.alive()?;
        self.state.ok_or_else(|| self.session.error(Cause::Refused("the allocator was not opened".into())))
    }

    /// Decide the addresses of one service. The outer error is the plugin's failure; the inner one
    /// is the plugin's reasoned refusal ("pool gold is full").
    pub fn assign(
        &mut self,
        svc: &alloc::Service,
    ) -> Result<Result<alloc::Allocation, alloc::AllocationError>, PluginError> {
        let state = self.state()?;
        let answer = self.session.run(Call::Small, |store, b| match b {
            Bound::Allocator(b) => b.ferrolb_policy_allocator_policy().pool_state().call_assign(store, state, svc),
            _ => unreachable_world(),
        })?;
        if let Ok(a) = &answer {
            self.check_allocation(&svc.id, a).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        }
        Ok(answer)
    }

    /// Free a service's addresses.
    pub fn release(&mut self, svc: &alloc::ObjectRef) -> Result<(), PluginError> {
        let state = self.state()?;
        self.session.run(Call::Small, |store, b| match b {
            Bound::Allocator(b) => b.ferrolb_policy_allocator_policy().pool_state().call_release(store, state, svc),
            _ => unreachable_world(),
        })
    }

    /// Replace the configuration.
    pub fn reconfigure(&mut self, config: &alloc::AllocatorConfig) -> Result<alloc::ReconfigureOutcome, PluginError> {
        let state = self.state()?;
        let answer = self.session.run(Call::Small, |store, b| match b {
            Bound::Allocator(b) => {
                b.ferrolb_policy_allocator_policy().pool_state().call_reconfigure(store, state, config)
            }
            _ => unreachable_world(),
        })?;
        let outcome = answer.map_err(|p| self.session.error(refused(p)))?;
        self.config = Some(config.clone());
        for a in &outcome.rehomed {
            self.check_allocation(&a.service, a).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        }
        Ok(outcome)
    }

    /// Every allocation the plugin holds.
    pub fn allocations(&mut self) -> Result<Vec<alloc::Allocation>, PluginError> {
        let state = self.state()?;
        let all = self.session.run(Call::Bulk, |store, b| match b {
            Bound::Allocator(b) => b.ferrolb_policy_allocator_policy().pool_state().call_allocations(store, state),
            _ => unreachable_world(),
        })?;
        for a in &all {
            self.check_allocation(&a.service, a).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        }
        Ok(all)
    }

    /// The host's checks on an allocation: for the service asked about, from a pool that exists,
    /// every address inside that pool, at most one address per family.
    fn check_allocation(&self, asked: &alloc::ObjectRef, a: &alloc::Allocation) -> Result<(), String> {
        let who = format!("{}/{}", a.service.namespace, a.service.name);
        if a.service != *asked {
            return Err(format!("asked about {}/{}, answered for {who}", asked.namespace, asked.name));
        }
        let config = self.config.as_ref().ok_or("an allocation before any configuration")?;
        let pool = config
            .pools
            .iter()
            .find(|p| p.name == a.pool)
            .ok_or_else(|| format!("{who} was given pool {:?}, which does not exist", a.pool))?;
        if a.ips.is_empty() {
            return Err(format!("{who} was given no address from pool {}", a.pool));
        }
        let mut families = BTreeSet::new();
        for ip in &a.ips {
            let ip: IpAddr = ip_from_wit(ip);
            if !families.insert(ip.is_ipv4()) {
                return Err(format!("{who} was given two addresses of one family"));
            }
            if !pool.addresses.iter().any(|b| block_contains(b, ip)) {
                return Err(format!("{who} was given {ip}, which is not in pool {}", a.pool));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// advertise

/// A live advertise plugin with its `advertiser`.
pub struct AdvertiseInstance {
    session: Session,
    state: Option<ResourceAny>,
    config: Option<adv::AdvertiseConfig>,
}

impl AdvertiseInstance {
    /// Instantiate an advertise plugin (call [`AdvertiseInstance::open`] next).
    pub fn new(runtime: &Runtime, plugin: &Arc<Plugin>) -> Result<Self, PluginError> {
        Ok(AdvertiseInstance {
            session: session_for(runtime, plugin, super::World::Advertise)?,
            state: None,
            config: None,
        })
    }

    /// Whether the instance failed and must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.session.is_poisoned()
    }

    /// Resolve a configuration. The inner error lists the configuration's problems.
    pub fn open(&mut self, config: &adv::AdvertiseConfig) -> Result<Result<(), Vec<adv::ConfigError>>, PluginError> {
        let answer = self.session.run(Call::Bulk, |store, b| match b {
            Bound::Advertise(b) => b.ferrolb_policy_advertise_policy().advertiser().call_open(store, config),
            _ => unreachable_world(),
        })?;
        match answer {
            Ok(state) => {
                if let Some(old) = self.state.replace(state) {
                    let _ = old.resource_drop(&mut self.session.store);
                }
                self.config = Some(config.clone());
                Ok(Ok(()))
            }
            Err(adv::OpenError::Config(errors)) => Ok(Err(errors)),
            Err(adv::OpenError::Policy(p)) => Err(self.session.error(refused(p))),
        }
    }

    fn state(&self) -> Result<ResourceAny, PluginError> {
        self.session.alive()?;
        self.state.ok_or_else(|| self.session.error(Cause::Refused("the advertiser was not opened".into())))
    }

    /// Node liveness changed.
    pub fn update_nodes(&mut self, nodes: &[super::types::Node]) -> Result<(), PluginError> {
        let state = self.state()?;
        self.session.run(Call::Small, |store, b| match b {
            Bound::Advertise(b) => {
                b.ferrolb_policy_advertise_policy().advertiser().call_update_nodes(store, state, nodes)
            }
            _ => unreachable_world(),
        })?;
        if let Some(c) = self.config.as_mut() {
            c.nodes = nodes.to_vec();
        }
        Ok(())
    }

    /// Decide the announcements of one service.
    pub fn announce(&mut self, svc: &adv::Service) -> Result<adv::ServiceAnnouncements, PluginError> {
        let state = self.state()?;
        let answer = self.session.run(Call::Small, |store, b| match b {
            Bound::Advertise(b) => b.ferrolb_policy_advertise_policy().advertiser().call_announce(store, state, svc),
            _ => unreachable_world(),
        })?;
        let a = answer.map_err(|p| self.session.error(refused(p)))?;
        self.check(svc, &a).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        Ok(a)
    }

    /// The configuration the advertiser was opened with: route answers refer to its peers and
    /// BGPAdvertisements by index.
    pub fn config(&self) -> Option<&adv::AdvertiseConfig> {
        self.config.as_ref()
    }

    /// The host's checks: about the service asked, well-formed prefixes covering one of its
    /// addresses, peers and advertisements that exist (by index), each (peer, prefix) once,
    /// layer-2 only for its addresses and known nodes.
    fn check(&self, svc: &adv::Service, a: &adv::ServiceAnnouncements) -> Result<(), String> {
        let config = self.config.as_ref().ok_or("announcements before any configuration")?;
        if a.service != svc.id {
            return Err(format!(
                "asked about {}/{}, answered for {}/{}",
                svc.id.namespace, svc.id.name, a.service.namespace, a.service.name
            ));
        }
        let ips: Vec<IpAddr> = svc.ips.iter().map(ip_from_wit).collect();
        let mut nets: Vec<(ipnet::IpNet, usize)> = Vec::with_capacity(a.bgp.len());
        for (i, r) in a.bgp.iter().enumerate() {
            let net = prefix_from_wit(&r.prefix)?;
            if r.peers.is_empty() {
                return Err(format!("route {net} to no peer"));
            }
            if r.peers.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("route {net}: peer indices {:?} are not ascending and distinct", r.peers));
            }
            for &p in &r.peers {
                if config.peers.get(p as usize).is_none() {
                    return Err(format!("route {net} to peer index {p}, but there are {} peers", config.peers.len()));
                }
            }
            nets.push((net, i));
            if config.bgp_advertisements.get(r.advertisement as usize).is_none() {
                return Err(format!(
                    "route {net} from advertisement index {}, but there are {} BGPAdvertisements",
                    r.advertisement,
                    config.bgp_advertisements.len()
                ));
            }
            if !ips.iter().any(|ip| net.contains(ip)) {
                return Err(format!("route {net} covers none of the service's addresses"));
            }
        }
        // Each (peer, prefix) once: only routes of one prefix can collide.
        nets.sort_unstable();
        for run in nets.chunk_by(|x, y| x.0 == y.0).filter(|run| run.len() > 1) {
            let mut peers: Vec<u32> = run.iter().flat_map(|&(_, i)| a.bgp[i].peers.iter().copied()).collect();
            peers.sort_unstable();
            if let Some(w) = peers.windows(2).find(|w| w[0] == w[1]) {
                let name = &config.peers[w[0] as usize].name;
                return Err(format!("route {} to peer {name} given twice", run[0].0));
            }
        }
        for l in &a.l2 {
            let ip = ip_from_wit(&l.ip);
            if !ips.contains(&ip) {
                return Err(format!("layer-2 announcement of {ip}, which the service does not hold"));
            }
            if !l.node.is_empty() && !config.nodes.iter().any(|n| n.name == l.node) {
                return Err(format!("layer-2 announcement of {ip} by unknown node {:?}", l.node));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// merge

/// A live merge plugin.
pub struct MergeInstance {
    session: Session,
}

impl MergeInstance {
    /// Instantiate a merge plugin.
    pub fn new(runtime: &Runtime, plugin: &Arc<Plugin>) -> Result<Self, PluginError> {
        Ok(MergeInstance { session: session_for(runtime, plugin, super::World::Merge)? })
    }

    /// Whether the instance failed and must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.session.is_poisoned()
    }

    /// Merge. The inner error lists the conflicts.
    pub fn merge(
        &mut self,
        input: &mrg::MergeInput,
    ) -> Result<Result<mrg::MergedConfig, Vec<mrg::Conflict>>, PluginError> {
        let answer = self.session.run(Call::Bulk, |store, b| match b {
            Bound::Merge(b) => b.ferrolb_policy_merge_policy().call_merge(store, input),
            _ => unreachable_world(),
        })?;
        match answer {
            Ok(m) => {
                check_merged(&m).map_err(|e| self.session.error(Cause::InvalidAnswer(e)))?;
                Ok(Ok(m))
            }
            Err(mrg::MergeError::Conflicts(c)) if c.is_empty() => {
                Err(self.session.error(Cause::InvalidAnswer("refused the merge with no conflict listed".into())))
            }
            Err(mrg::MergeError::Conflicts(c)) => Ok(Err(c)),
            Err(mrg::MergeError::Policy(p)) => Err(self.session.error(refused(p))),
        }
    }
}

fn check_prefix_selector(s: &mrg::PrefixSelector) -> Result<(), String> {
    let net = prefix_from_wit(&s.prefix)?;
    let max = net.max_prefix_len();
    for (name, v) in [("ge", s.ge), ("le", s.le)] {
        if let Some(v) = v
            && (v > max || v < net.prefix_len())
        {
            return Err(format!("{net} {name} {v} is outside {}..={max}", net.prefix_len()));
        }
    }
    if let (Some(ge), Some(le)) = (s.ge, s.le)
        && ge > le
    {
        return Err(format!("{net} ge {ge} is greater than le {le}"));
    }
    Ok(())
}

/// The host's checks on a merged configuration: every prefix well formed, every referenced BFD
/// profile present.
fn check_merged(m: &mrg::MergedConfig) -> Result<(), String> {
    for s in &m.always_block {
        check_prefix_selector(s)?;
    }
    let profiles: BTreeSet<&str> = m.config.bfd_profiles.iter().map(|p| p.name.as_str()).collect();
    for r in &m.config.routers {
        for p in &r.prefixes {
            prefix_from_wit(p)?;
        }
        for n in &r.neighbors {
            let ta = &n.to_advertise;
            for p in ta
                .prefixes
                .iter()
                .chain(ta.with_community.iter().flat_map(|c| &c.prefixes))
                .chain(ta.with_local_pref.iter().flat_map(|c| &c.prefixes))
            {
                prefix_from_wit(p)?;
            }
            for s in &n.to_receive.prefixes {
                check_prefix_selector(s)?;
            }
            if let Some(b) = &n.bfd_profile
                && !profiles.contains(b.as_str())
            {
                return Err(format!(
                    "a neighbor uses BFD profile {b:?}, which the merged configuration does not define"
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// egress

/// A live egress plugin with its `egress-planner`.
pub struct EgressInstance {
    session: Session,
    state: Option<ResourceAny>,
}

impl EgressInstance {
    /// Instantiate an egress plugin (call [`EgressInstance::open`] next).
    pub fn new(runtime: &Runtime, plugin: &Arc<Plugin>) -> Result<Self, PluginError> {
        Ok(EgressInstance { session: session_for(runtime, plugin, super::World::Egress)?, state: None })
    }

    /// Whether the instance failed and must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.session.is_poisoned()
    }

    /// Start from a configuration.
    pub fn open(&mut self, config: &egr::EgressConfig) -> Result<(), PluginError> {
        let answer = self.session.run(Call::Bulk, |store, b| match b {
            Bound::Egress(b) => b.ferrolb_policy_egress_policy().egress_planner().call_open(store, config),
            _ => unreachable_world(),
        })?;
        let state = answer.map_err(|p| self.session.error(refused(p)))?;
        if let Some(old) = self.state.replace(state) {
            let _ = old.resource_drop(&mut self.session.store);
        }
        Ok(())
    }

    fn state(&self) -> Result<ResourceAny, PluginError> {
        self.session.alive()?;
        self.state.ok_or_else(|| self.session.error(Cause::Refused("the egress planner was not opened".into())))
    }

    /// Node liveness changed.
    pub fn update_nodes(&mut self, nodes: &[super::types::Node]) -> Result<(), PluginError> {
        let state = self.state()?;
        self.session.run(Call::Small, |store, b| match b {
            Bound::Egress(b) => {
                b.ferrolb_policy_egress_policy().egress_planner().call_update_nodes(store, state, nodes)
            }
            _ => unreachable_world(),
        })
    }

    /// Decide one EgressService.
    pub fn decide(&mut self, svc: &egr::EgressService) -> Result<egr::EgressDecision, PluginError> {
        let state = self.state()?;
        let answer = self.session.run(Call::Small, |store, b| match b {
            Bound::Egress(b) => b.ferrolb_policy_egress_policy().egress_planner().call_decide(store, state, svc),
            _ => unreachable_world(),
        })?;
        let d = answer.map_err(|p| self.session.error(refused(p)))?;
        check_egress(svc, &d).map_err(|m| self.session.error(Cause::InvalidAnswer(m)))?;
        Ok(d)
    }
}

/// The host's checks: about the service asked, source and SNAT addresses among its load-balancer
/// addresses, well-formed rule prefixes.
fn check_egress(svc: &egr::EgressService, d: &egr::EgressDecision) -> Result<(), String> {
    if d.service != svc.id {
        return Err(format!(
            "asked about {}/{}, answered for {}/{}",
            svc.id.namespace, svc.id.name, d.service.namespace, d.service.name
        ));
    }
    let lb: Vec<IpAddr> = svc.load_balancer_ips.iter().map(ip_from_wit).collect();
    if let Some(ip) = &d.source_ip {
        let ip = ip_from_wit(ip);
        if !lb.contains(&ip) {
            return Err(format!("source address {ip} is not a load-balancer address of the service"));
        }
    }
    for s in &d.snat {
        let to = ip_from_wit(&s.to);
        if !lb.contains(&to) {
            return Err(format!("SNAT to {to}, which is not a load-balancer address of the service"));
        }
    }
    for r in &d.rules {
        prefix_from_wit(&r.from)?;
    }
    Ok(())
}

/// The session's instance is of the world its wrapper was built for (checked in `session_for`);
/// reaching another world is a host bug, reported as an error rather than a panic.
fn unreachable_world<T>() -> wasmtime::Result<T> {
    Err(wasmtime::Error::msg("internal error: instance of another world"))
}
