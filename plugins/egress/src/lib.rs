//! ferrolb's default egress policy: source address and routing table of traffic leaving a service.
//!
//! Not written yet (its own issue gives it OVN-Kubernetes EgressService semantics): every entry
//! point answers an explicit `not-implemented` error so that the host never acts on a made-up answer.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::egress_policy::{
    EgressConfig, EgressDecision, EgressPlanner, EgressService, Guest as Policy, GuestEgressPlanner, Node, PolicyError,
};
use ferrolb_guest as _;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "egress", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

const NOT_IMPLEMENTED: &str = "the default egress policy is not implemented yet";

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "ferrolb-egress".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

impl Policy for Plugin {
    type EgressPlanner = State;
}

/// The planner's state (never constructed until the policy is written).
struct State;

impl GuestEgressPlanner for State {
    fn open(_config: EgressConfig) -> Result<EgressPlanner, PolicyError> {
        Err(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string()))
    }

    fn update_nodes(&self, _nodes: Vec<Node>) {}

    fn decide(&self, _svc: EgressService) -> Result<EgressDecision, PolicyError> {
        Err(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string()))
    }
}
