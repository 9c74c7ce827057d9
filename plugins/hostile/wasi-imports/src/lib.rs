//! Hostile egress plugin: a `std` guest, so it imports WASI. It prints, reads its environment and
//! the clock, to show what the `wasi-restricted` profile gives it (nothing real).

use bindings::PluginInfo;
use bindings::exports::ferrolb::policy::egress_policy::{
    EgressConfig, EgressDecision, EgressPlanner, EgressService, Guest as Policy, GuestEgressPlanner, Node, PolicyError,
};

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
        println!("hello from a wasi plugin");
        eprintln!("env vars seen: {}", std::env::vars().count());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        eprintln!("clock says {now}");
        let home = std::fs::read_dir("/").map(|_| "readable").unwrap_or("not readable");
        eprintln!("root directory is {home}");
        PluginInfo {
            name: "hostile-wasi-imports".to_string(),
            version: "0.1.0".to_string(),
            contract: "0.1.0".to_string(),
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
        Err(PolicyError::NotImplemented("hostile test plugin".to_string()))
    }
}
