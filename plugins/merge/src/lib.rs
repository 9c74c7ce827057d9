//! ferrolb's default merge policy: combine router configurations into one per node with frr-k8s's
//! merging semantics, or refuse them with every conflict listed.
//!
//! All the logic lives in `ferrolb-merge-core` (a plain `no_std` library the host can also call
//! natively); this component only converts the WIT records of `ferrolb:policy/merge` to the
//! core's types and back. Sources are converted and merged one at a time, so the guest never
//! holds two copies of the whole input. Every input is converted totally (no value of a WIT type
//! is rejected by a trap); contract breaches the core detects come back as `invalid-input`,
//! configuration conflicts as `conflicts`.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_guest as _;
use ferrolb_merge_core as core_merge;

mod glue;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "merge", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "ferrolb-merge".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The source hook of the glue: the default policy merges every source as it is.
fn adjust(source: core_merge::ConfigSource) -> core_merge::ConfigSource {
    source
}
