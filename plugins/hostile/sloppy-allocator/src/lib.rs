//! A deliberately wrong allocator for the conformance kit's own test: the default allocator's
//! glue and core, verbatim, except that it ignores `avoidBuggyIPs`. The kit must report it, with
//! the names of the failing cases.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_allocator_core as core_alloc;
use ferrolb_guest as _;

#[path = "../../../allocator/src/glue.rs"]
mod glue;

/// Bindings generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "allocator", path: "../../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "hostile-sloppy-allocator".to_string(),
            version: "0.1.0".to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The bug: every pool's `avoidBuggyIPs` is dropped.
fn adjust(mut config: core_alloc::Config) -> core_alloc::Config {
    for p in &mut config.pools {
        p.avoid_buggy_ips = false;
    }
    config
}
