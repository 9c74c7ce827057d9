//! The registry: the active plugin of each world, atomic swap, rollback, last good decisions.
//!
//! Swapping replaces an `Arc<Plugin>` under a lock, so a caller holds either the old plugin or the
//! new one, never a mixture; the replaced plugin stays as `previous` for [`Registry::rollback`].
//! Decisions are taken through [`Registry::decide`]: a failed call returns the last good
//! decision for the same key (marked stale) together with the error, so the host keeps acting on
//! the previous good state and says why.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::World;
use super::error::PluginError;
use super::load::PluginSource;
use super::runtime::{Plugin, Runtime};

#[derive(Default)]
struct Slot {
    active: Option<Arc<Plugin>>,
    previous: Option<Arc<Plugin>>,
    swaps: u64,
}

/// What a decision call produced.
#[derive(Debug)]
pub struct Decision<T> {
    /// The decision in force: fresh, or the last good one when the call failed (`None` if there
    /// never was a good one).
    pub value: Option<T>,
    /// Whether `value` is the last good decision rather than a fresh one.
    pub stale: bool,
    /// Why the call failed, if it did.
    pub error: Option<PluginError>,
}

/// Errors of registry operations.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Loading the candidate failed; the active plugin is unchanged.
    #[error(transparent)]
    Load(#[from] PluginError),
    /// Nothing to roll back to.
    #[error("no previous {0} plugin to roll back to")]
    NoPrevious(World),
    /// The plugin is of another world than the slot.
    #[error("cannot install a {found} plugin as the {world} plugin")]
    WrongSlot {
        /// The slot.
        world: World,
        /// The plugin's world.
        found: World,
    },
}

/// The plugin registry.
pub struct Registry {
    runtime: Arc<Runtime>,
    slots: [Mutex<Slot>; 4],
    last_good: Mutex<HashMap<(World, String), Box<dyn Any + Send>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a slot half-written (every write is one
    // assignment), so the data is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// An empty registry.
    pub fn new(runtime: Arc<Runtime>) -> Registry {
        Registry { runtime, slots: Default::default(), last_good: Mutex::new(HashMap::new()) }
    }

    /// A registry with the four default plugins active.
    pub fn with_builtins(runtime: Arc<Runtime>) -> Result<Registry, PluginError> {
        let r = Registry::new(runtime);
        for w in World::ALL {
            let p = r.runtime.load(w, &PluginSource::Builtin(w))?;
            r.install(p).map_err(|e| match e {
                RegistryError::Load(e) => e,
                other => PluginError {
                    world: w,
                    plugin: format!("builtin:{w}"),
                    cause: super::Cause::Instantiate(other.to_string()),
                },
            })?;
        }
        Ok(r)
    }

    /// The runtime plugins are loaded with.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The active plugin of a world.
    pub fn active(&self, world: World) -> Option<Arc<Plugin>> {
        lock(&self.slots[world.index()]).active.clone()
    }

    /// The plugin a rollback would restore.
    pub fn previous(&self, world: World) -> Option<Arc<Plugin>> {
        lock(&self.slots[world.index()]).previous.clone()
    }

    /// How many times the world's plugin was swapped (installs and rollbacks).
    pub fn swaps(&self, world: World) -> u64 {
        lock(&self.slots[world.index()]).swaps
    }

    /// Make `plugin` active for its world; the one it replaces becomes `previous`.
    pub fn install(&self, plugin: Arc<Plugin>) -> Result<Option<Arc<Plugin>>, RegistryError> {
        let world = plugin.world;
        let mut slot = lock(&self.slots[world.index()]);
        let label = plugin.label();
        let old = slot.active.replace(plugin);
        if old.is_some() {
            slot.previous = old.clone();
        }
        slot.swaps += 1;
        tracing::info!(world = %world, plugin = %label, "plugin activated");
        Ok(old)
    }

    /// Load, verify and activate a plugin. On any failure the active plugin is unchanged.
    pub fn load_and_install(&self, world: World, source: &PluginSource) -> Result<Arc<Plugin>, RegistryError> {
        let plugin = self.runtime.load(world, source)?;
        if plugin.world != world {
            return Err(RegistryError::WrongSlot { world, found: plugin.world });
        }
        self.install(plugin.clone())?;
        Ok(plugin)
    }

    /// Make the previous plugin active again (the current one becomes previous).
    pub fn rollback(&self, world: World) -> Result<Arc<Plugin>, RegistryError> {
        let mut slot = lock(&self.slots[world.index()]);
        let prev = slot.previous.take().ok_or(RegistryError::NoPrevious(world))?;
        slot.previous = slot.active.replace(prev.clone());
        slot.swaps += 1;
        tracing::info!(world = %world, plugin = %prev.label(), "plugin rolled back");
        Ok(prev)
    }

    /// Take a decision with the active plugin of `world`. On failure, the last good decision for
    /// the same `key` stays in force and is returned, marked stale, with the error.
    pub fn decide<T: Clone + Send + 'static>(
        &self,
        world: World,
        key: &str,
        f: impl FnOnce(&Arc<Runtime>, &Arc<Plugin>) -> Result<T, PluginError>,
    ) -> Decision<T> {
        let result = match self.active(world) {
            Some(p) => f(&self.runtime, &p),
            None => Err(PluginError {
                world,
                plugin: "(none)".into(),
                cause: super::Cause::Refused(format!("no {world} plugin is active")),
            }),
        };
        let mut last = lock(&self.last_good);
        match result {
            Ok(v) => {
                last.insert((world, key.to_string()), Box::new(v.clone()));
                Decision { value: Some(v), stale: false, error: None }
            }
            Err(e) => {
                let value = last.get(&(world, key.to_string())).and_then(|b| b.downcast_ref::<T>()).cloned();
                tracing::warn!(world = %world, key, error = %e, kept_last_good = value.is_some(), "decision failed");
                Decision { value, stale: true, error: Some(e) }
            }
        }
    }
}
