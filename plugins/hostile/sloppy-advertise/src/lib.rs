//! A deliberately wrong advertise policy for the conformance kit's own test: the default advertise
//! glue and core, verbatim, except that it ignores every BGPAdvertisement's `peers` (so a route
//! meant for some peers goes to all of them). The kit must report it by case name.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_advertise_core as core_adv;
use ferrolb_guest as _;

#[path = "../../../advertise/src/glue.rs"]
mod glue;

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
        PluginInfo {
            name: "hostile-sloppy-advertise".to_string(),
            version: "0.1.0".to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The bug: every BGPAdvertisement goes to every peer.
fn adjust(mut config: core_adv::Config) -> core_adv::Config {
    for a in &mut config.bgp_advertisements {
        a.peers.clear();
    }
    config
}
