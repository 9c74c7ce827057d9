//! ferrolb's default egress policy: the node, source address and routing table of traffic leaving
//! a service, with OVN-Kubernetes EgressService semantics.
//!
//! All the logic lives in `ferrolb-egress-core` (a plain `no_std` library the host can also call
//! natively); this component only converts the WIT records of `ferrolb:policy/egress` to the
//! core's types and back, and keeps the core's planner in the `egress-planner` resource. Every
//! input is converted totally (no value of a WIT type is rejected by a trap); contract breaches
//! the core detects come back as `invalid-input`, per-service problems as refusals.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_egress_core as core_egress;
use ferrolb_guest as _;

mod glue;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "egress", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

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

/// The service hook of the glue: the default policy decides every service as it is.
fn adjust(svc: core_egress::Service) -> core_egress::Service {
    svc
}
