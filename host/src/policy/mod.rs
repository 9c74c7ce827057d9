//! The policy runtime: wasmtime hosting untrusted policy components.
//!
//! Only this module knows wasmtime. Plugins are loaded ([`Runtime::load`]), checked (component,
//! world, imports, contract version), compiled once (with an on-disk cache keyed by content hash),
//! and instantiated cheaply from a pre-linked `InstancePre` in the pooling allocator. Every call
//! runs under a deadline (epoch interruption), a memory cap and optionally a fuel budget; any
//! failure becomes a typed [`PluginError`] naming the world, the plugin and the cause.
//! The [`Registry`] holds the active plugin per world, swaps atomically, keeps the previous one for
//! rollback, and keeps the last good decision when a call fails.

mod bindings;
pub mod builtin;
mod cache;
pub mod convert;
mod error;
pub mod input;
mod instance;
mod load;
mod registry;
mod runtime;

pub use bindings::{PluginInfo, advertise, allocator, egress, merge, types};
pub use error::{Cause, PluginError};
pub use instance::{AdvertiseInstance, AllocatorInstance, EgressInstance, MergeInstance};
pub use load::{Inspection, PluginSource};
pub use registry::{Decision, Registry, RegistryError};
pub use runtime::{CallObserver, ImportProfile, Limits, Plugin, Runtime, RuntimeConfig, RuntimeError};

use std::fmt;

/// The contract version this host implements (`wit/` package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// One of the four policy worlds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    /// Which addresses a LoadBalancer service gets.
    Allocator,
    /// Which routes / L2 announcements go to which peer.
    Advertise,
    /// Combining router configurations.
    Merge,
    /// Egress source address and routing table.
    Egress,
}

impl World {
    /// All worlds, in a fixed order.
    pub const ALL: [World; 4] = [World::Allocator, World::Advertise, World::Merge, World::Egress];

    /// The world's name in WIT.
    pub fn name(self) -> &'static str {
        match self {
            World::Allocator => "allocator",
            World::Advertise => "advertise",
            World::Merge => "merge",
            World::Egress => "egress",
        }
    }

    /// The policy interface the world exports, e.g. `ferrolb:policy/allocator-policy@0.1.0`.
    pub fn policy_export(self) -> String {
        format!("ferrolb:policy/{}-policy@{CONTRACT_VERSION}", self.name())
    }

    /// Parse a world name.
    pub fn parse(s: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.name() == s)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
