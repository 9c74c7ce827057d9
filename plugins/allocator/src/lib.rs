//! ferrolb's default allocator policy: which addresses a LoadBalancer service gets, with
//! MetalLB's allocation semantics.
//!
//! All the logic lives in `ferrolb-allocator-core` (a plain `no_std` library the host can also
//! call natively); this component only converts the WIT records of `ferrolb:policy/allocator` to
//! the core's types and back, and keeps the core's state in the `pool-state` resource. Every
//! input is converted totally (no value of a WIT type is rejected by a trap); contract breaches
//! the core detects come back as `invalid-input`, per-service problems as refusals.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_allocator_core as core_alloc;
use ferrolb_guest as _;

mod glue;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "allocator", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "ferrolb-allocator".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The configuration hook of the glue: the default policy takes the configuration as it is.
fn adjust(config: core_alloc::Config) -> core_alloc::Config {
    config
}
