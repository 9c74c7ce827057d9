//! ferrolb's default merge policy: combine router configurations into one per node, or refuse.
//!
//! Not written yet (its own issue gives it frr-k8s merging semantics): the entry point answers an
//! explicit `not-implemented` error so that the host never acts on a made-up answer.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::merge_policy::{
    Guest as Policy, MergeError, MergeInput, MergedConfig, PolicyError,
};
use ferrolb_guest as _;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "merge", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

const NOT_IMPLEMENTED: &str = "the default merge policy is not implemented yet";

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

impl Policy for Plugin {
    fn merge(_input: MergeInput) -> Result<MergedConfig, MergeError> {
        Err(MergeError::Policy(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string())))
    }
}
