//! Hostile merge plugin: claims a contract version the host does not implement.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::merge_policy::{
    Guest as Policy, MergeError, MergeInput, MergedConfig, PolicyError,
};
use ferrolb_guest as _;

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
            name: "hostile-old-contract".to_string(),
            version: "0.1.0".to_string(),
            contract: "0.0.1".to_string(),
        }
    }
}

impl Policy for Plugin {
    fn merge(_input: MergeInput) -> Result<MergedConfig, MergeError> {
        Err(MergeError::Policy(PolicyError::Failed("never called: the host refuses this plugin".to_string())))
    }
}
