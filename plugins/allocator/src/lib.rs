//! ferrolb's default allocator policy: which addresses a LoadBalancer service gets.
//!
//! Not written yet (its own issue gives it MetalLB's allocation semantics): every entry point
//! answers an explicit `not-implemented` error so that the host never acts on a made-up answer.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::allocator_policy::{
    Allocation, AllocationError, AllocatorConfig, Guest as Policy, GuestPoolState, ObjectRef, PolicyError, PoolState,
    ReconfigureOutcome, Service,
};
use ferrolb_guest as _;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "allocator", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

const NOT_IMPLEMENTED: &str = "the default allocator policy is not implemented yet";

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

impl Policy for Plugin {
    type PoolState = State;
}

/// The allocator's state (never constructed until the policy is written).
struct State;

impl GuestPoolState for State {
    fn open(
        _config: AllocatorConfig,
        _existing: Vec<Allocation>,
    ) -> Result<(PoolState, ReconfigureOutcome), PolicyError> {
        Err(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string()))
    }

    fn assign(&self, svc: Service) -> Result<Allocation, AllocationError> {
        Err(AllocationError { service: svc.id, reason: NOT_IMPLEMENTED.to_string() })
    }

    fn release(&self, _svc: ObjectRef) {}

    fn reconfigure(&self, _config: AllocatorConfig) -> Result<ReconfigureOutcome, PolicyError> {
        Err(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string()))
    }

    fn allocations(&self) -> Vec<Allocation> {
        Vec::new()
    }
}
