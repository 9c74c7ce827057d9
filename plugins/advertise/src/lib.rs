//! ferrolb's default advertise policy: which routes go to which BGP peer, which node answers
//! ARP/NDP for which address, with MetalLB's speaker semantics (BGPAdvertisement,
//! L2Advertisement, Community).
//!
//! All the logic lives in `ferrolb-advertise-core` (a plain `no_std` library the host can also
//! call natively); this component only converts the WIT records of `ferrolb:policy/advertise` to
//! the core's types and back, and keeps the core's state in the `advertiser` resource. Every
//! input is converted totally (no value of a WIT type is rejected by a trap); configuration
//! problems come back as `open-error::config`, contract breaches as `invalid-input`, per-service
//! problems as refusals.
#![no_std]

extern crate alloc;

use alloc::string::ToString;

use bindings::PluginInfo;
use ferrolb_advertise_core as core_adv;
use ferrolb_guest as _;

mod glue;

/// Bindings generated from `wit/` (the generated code is the only unsafe code of a plugin).
#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "advertise", path: "../../wit" });
    use super::Plugin;
    export!(Plugin);
}

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

/// The configuration hook of the glue: the default policy uses the configuration as it is.
fn adjust(config: core_adv::Config) -> core_adv::Config {
    config
}
