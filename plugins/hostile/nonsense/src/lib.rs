//! Hostile advertise plugin: announces a prefix of length 200 to a peer that does not exist.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec::Vec;
use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::advertise_policy::{
    AdvertiseConfig, Advertiser, BgpRoute, Guest as Policy, GuestAdvertiser, Node, OpenError, PolicyError, Service,
    ServiceAnnouncements,
};
use bindings::exports::ferrolb::policy::types::{IpAddress, IpPrefix};
use ferrolb_guest as _;

/// Bindings generated from `wit/`.
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "advertise", path: "../../../wit" });
    use super::Plugin;
    export!(Plugin);
}

struct Plugin;

impl bindings::Guest for Plugin {
    fn metadata() -> PluginInfo {
        PluginInfo { name: "hostile-nonsense".to_string(), version: "0.1.0".to_string(), contract: "0.1.0".to_string() }
    }
}

impl Policy for Plugin {
    type Advertiser = State;
}

struct State;

impl GuestAdvertiser for State {
    fn open(_config: AdvertiseConfig) -> Result<Advertiser, OpenError> {
        Ok(Advertiser::new(State))
    }

    fn update_nodes(&self, _nodes: Vec<Node>) {}

    fn announce(&self, svc: Service) -> Result<ServiceAnnouncements, PolicyError> {
        let route = BgpRoute {
            peers: alloc::vec![4_000_000_000],
            prefix: IpPrefix { address: IpAddress::Ipv4((10, 0, 0, 1)), prefix_len: 200 },
            local_pref: None,
            communities: Vec::new(),
            advertisement: 4_000_000_000,
        };
        Ok(ServiceAnnouncements { service: svc.id, bgp: alloc::vec![route], l2: Vec::new(), refusals: Vec::new() })
    }
}
