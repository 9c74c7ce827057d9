//! A deliberately wrong merge policy for the conformance kit's own test: the default merge glue
//! and core, verbatim, except that it ignores every configuration's `nodeSelector` (so a
//! configuration meant for other nodes is merged in). The kit must report it by case name.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_guest as _;
use ferrolb_merge_core as core_merge;

#[path = "../../../merge/src/glue.rs"]
mod glue;

/// Bindings generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "merge", path: "../../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "hostile-sloppy-merge".to_string(),
            version: "0.1.0".to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The bug: every source applies to every node.
fn adjust(mut source: core_merge::ConfigSource) -> core_merge::ConfigSource {
    source.node_selector = core_merge::LabelSelector::default();
    source
}
