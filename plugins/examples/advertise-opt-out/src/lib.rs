//! An example of a policy a third party would write on top of the default one: the default
//! advertise glue and core, verbatim, plus one rule — a Service labelled
//! `ferrolb.io/bgp-advertise: "false"` is not announced over BGP (layer 2 is unchanged).
//!
//! It passes the kit's cases (none of them uses the label) and so the daemon's smoke checks; the
//! hot-swap lab test loads it into a running daemon and checks that only the labelled service's
//! route is withdrawn.
#![no_std]

extern crate alloc;

use alloc::string::ToString;
use alloc::vec;

use bindings::PluginInfo;
use core_adv::{LabelSelector, SelectorOperator, SelectorRequirement};
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
            name: "example-advertise-opt-out".to_string(),
            version: "0.1.0".to_string(),
            contract: ferrolb_guest::CONTRACT_VERSION.to_string(),
        }
    }
}

/// The opt-out label.
const LABEL: &str = "ferrolb.io/bgp-advertise";

/// Every BGPAdvertisement that announces host routes also requires "the service is not labelled
/// opt-out" (ANDed into each of its service selectors; selectors are ORed, so the requirement
/// goes into every one). Aggregating advertisements are left alone: MetalLB refuses service
/// selectors on them (an aggregate is shared by several services), and so does the core.
fn adjust(mut config: core_adv::Config) -> core_adv::Config {
    let not_opted_out = SelectorRequirement {
        key: LABEL.to_string(),
        operator: SelectorOperator::NotIn,
        values: vec!["false".to_string()],
    };
    let host_routes = |a: &core_adv::BgpAdvertisement| {
        a.aggregation_length.is_none_or(|l| l == 32) && a.aggregation_length_v6.is_none_or(|l| l == 128)
    };
    for a in config.bgp_advertisements.iter_mut().filter(|a| host_routes(a)) {
        if a.service_selectors.is_empty() {
            a.service_selectors.push(LabelSelector::default());
        }
        for s in &mut a.service_selectors {
            s.match_expressions.push(not_opted_out.clone());
        }
    }
    config
}
