//! Hostile egress plugin: loops forever in `metadata()`, so it can never load.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::egress_policy::{
    EgressConfig, EgressDecision, EgressPlanner, EgressService, Guest as Policy, GuestEgressPlanner, Node, PolicyError,
};
use ferrolb_guest as _;

/// Bindings generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "egress", path: "../../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        let mut x: u64 = 0;
        loop {
            x = core::hint::black_box(x.wrapping_add(1));
        }
    }
}

impl Policy for Plugin {
    type EgressPlanner = State;
}

struct State;

impl GuestEgressPlanner for State {
    fn open(_config: EgressConfig) -> Result<EgressPlanner, PolicyError> {
        Ok(EgressPlanner::new(State))
    }
    fn update_nodes(&self, _nodes: Vec<Node>) {}
    fn decide(&self, _svc: EgressService) -> Result<EgressDecision, PolicyError> {
        Err(PolicyError::NotImplemented(alloc::string::String::new()))
    }
}
