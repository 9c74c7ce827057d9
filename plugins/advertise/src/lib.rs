//! ferrolb's default advertise policy: which routes go to which BGP peer, which node answers
//! ARP/NDP for which address.
//!
//! Not written yet (its own issue gives it MetalLB's BGPAdvertisement / L2Advertisement
//! semantics): every entry point answers an explicit `not-implemented` error so that the host never
//! acts on a made-up answer.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::advertise_policy::{
    AdvertiseConfig, Advertiser, Guest as Policy, GuestAdvertiser, Node, OpenError, PolicyError, Service,
    ServiceAnnouncements,
};
use ferrolb_guest as _;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "advertise", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

const NOT_IMPLEMENTED: &str = "the default advertise policy is not implemented yet";

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "ferrolb-advertise".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

impl Policy for Plugin {
    type Advertiser = State;
}

/// The advertiser's state (never constructed until the policy is written).
struct State;

impl GuestAdvertiser for State {
    fn open(_config: AdvertiseConfig) -> Result<Advertiser, OpenError> {
        Err(OpenError::Policy(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string())))
    }

    fn update_nodes(&self, _nodes: Vec<Node>) {}

    fn announce(&self, _svc: Service) -> Result<ServiceAnnouncements, PolicyError> {
        Err(PolicyError::NotImplemented(NOT_IMPLEMENTED.to_string()))
    }
}
