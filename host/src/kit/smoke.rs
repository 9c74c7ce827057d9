//! Smoke checks: a small built-in set of conformance cases per world, run against a plugin
//! before the daemon switches to it (`ferrolb plugin load`). The cases are files of the kit
//! (`conformance/cases/<world>/`), compiled into the binary: the reference documents' examples
//! and the rules a careless policy most often breaks (the hostile `sloppy-*` plugins fail them).
//! A plugin that fails any is refused with the failing cases' names.

use std::sync::Arc;

use super::{CaseResult, Options, run_case_text};
use crate::policy::{Plugin, Runtime, World};

macro_rules! case {
    ($world:literal, $name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/cases/", $world, "/", $name, ".yaml")),
        )
    };
}
const ALLOCATOR: &[(&str, &str)] = &[
    case!("allocator", "auto-assign-simple"),
    case!("allocator", "auto-assign-next-pool-when-first-full"),
    case!("allocator", "avoid-buggy-skips-dot-255"),
    case!("allocator", "avoid-buggy-requested-dot-255-refused"),
    case!("allocator", "dual-stack-prefer-both-families"),
    case!("allocator", "auto-assign-only-manual-pools-refused"),
];
const ADVERTISE: &[(&str, &str)] = &[
    case!("advertise", "doc-bgp-basic"),
    case!("advertise", "doc-bgp-advanced-two-advertisements"),
    case!("advertise", "doc-pool-per-peer"),
    case!("advertise", "peers-listed-limits-the-peers"),
    case!("advertise", "doc-community-alias"),
    case!("advertise", "doc-l2-basic"),
];
const MERGE: &[(&str, &str)] = &[
    case!("merge", "advertise-all-reference"),
    case!("merge", "node-selector-reference-example"),
    case!("merge", "node-selector-match-labels"),
    case!("merge", "errors-every-conflict-reported"),
    case!("merge", "bfd-profile-per-neighbor-reference"),
    case!("merge", "always-block-reference"),
];
const EGRESS: &[(&str, &str)] = &[
    case!("egress", "reference-symmetric-routing-vrf"),
    case!("egress", "reference-symmetric-routing-egress-node-fails"),
    case!("egress", "network-mode-local-endpoints-only"),
    case!("egress", "table-unknown-name-error"),
    case!("egress", "sticky-current-node-kept-when-not-hash-winner"),
    case!("egress", "snat-unready-endpoints-ignored"),
];

/// The smoke cases of `world`: `(name, case text)`.
pub fn cases(world: World) -> &'static [(&'static str, &'static str)] {
    match world {
        World::Allocator => ALLOCATOR,
        World::Advertise => ADVERTISE,
        World::Merge => MERGE,
        World::Egress => EGRESS,
    }
}

/// Runs the smoke cases of `world` against `plugin`; every result, in case order.
pub fn run(runtime: &Arc<Runtime>, plugin: &Arc<Plugin>, world: World) -> Vec<CaseResult> {
    let opts = Options { check_messages: false };
    cases(world)
        .iter()
        .map(|(name, text)| {
            run_case_text(runtime, plugin, world, name, text, &opts).unwrap_or_else(|e| CaseResult {
                name: name.to_string(),
                description: String::new(),
                failure: Some(format!("the built-in case is unreadable: {e}")),
                duration: std::time::Duration::ZERO,
            })
        })
        .collect()
}

/// The names of the failed cases, each with its first failure line.
pub fn failures(results: &[CaseResult]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {}", r.name, f.lines().next().unwrap_or_default())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PluginSource, RuntimeConfig};

    #[test]
    fn every_builtin_plugin_passes_its_smoke_cases() {
        let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
        for world in World::ALL {
            let plugin = rt.load(world, &PluginSource::Builtin(world)).expect("builtin");
            let results = run(&rt, &plugin, world);
            assert_eq!(results.len(), cases(world).len());
            assert!(failures(&results).is_empty(), "{world:?}: {:?}", failures(&results));
        }
    }

    #[test]
    fn a_sloppy_advertise_plugin_fails_them_by_name() {
        let rt = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
        let path = std::path::PathBuf::from(crate::policy::builtin::PLUGIN_DIR).join("hostile_sloppy_advertise.wasm");
        let plugin = rt.load(World::Advertise, &PluginSource::Path(path)).expect("loads");
        let failed = failures(&run(&rt, &plugin, World::Advertise));
        assert!(failed.iter().any(|f| f.starts_with("peers-listed-limits-the-peers: ")), "{failed:?}");
        assert!(failed.iter().any(|f| f.starts_with("doc-pool-per-peer: ")), "{failed:?}");
    }
}
