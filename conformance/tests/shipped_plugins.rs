//! The shipped plugins pass every shipped case through the kit (with message checks), and the
//! kit catches a deliberately wrong plugin by case name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrolb::policy::{Limits, Plugin, PluginSource, Runtime, RuntimeConfig, World};
use ferrolb_conformance::{CaseResult, Options, case_files, default_cases_dir, run_cases};

fn runtime() -> Arc<Runtime> {
    let config = RuntimeConfig {
        fuel_metering: true,
        limits: Limits { fuel: Some(2_000_000_000), deadline: Duration::from_secs(10), ..Limits::default() },
        ..RuntimeConfig::default()
    };
    Arc::new(Runtime::new(config).expect("runtime"))
}

fn run(world: World, plugin: &PluginSource) -> (Arc<Plugin>, Vec<CaseResult>) {
    let rt = runtime();
    let p = rt.load(world, plugin).expect("plugin loads");
    let files = case_files(&default_cases_dir(), world).expect("cases");
    assert!(!files.is_empty());
    let results = run_cases(&rt, &p, world, &files, &Options { check_messages: true }).expect("kit runs");
    (p, results)
}

fn failures(results: &[CaseResult]) -> Vec<String> {
    results.iter().filter_map(|r| r.failure.as_ref().map(|f| format!("{}: {f}", r.name))).collect()
}

#[test]
fn builtin_allocator_passes_every_case() {
    let (_, results) = run(World::Allocator, &PluginSource::Builtin(World::Allocator));
    assert!(results.len() >= 120, "only {} allocator cases", results.len());
    let failed = failures(&results);
    assert!(failed.is_empty(), "{} of {} cases failed:\n{}", failed.len(), results.len(), failed.join("\n"));
}

#[test]
fn a_wrong_allocator_is_caught_by_case_name() {
    let sloppy = PathBuf::from(ferrolb::policy::builtin::PLUGIN_DIR).join("hostile_sloppy_allocator.wasm");
    let (p, results) = run(World::Allocator, &PluginSource::Path(sloppy));
    assert_eq!(p.info.name, "hostile-sloppy-allocator");
    let failed: Vec<&str> = results.iter().filter(|r| !r.passed()).map(|r| r.name.as_str()).collect();
    // It ignores avoidBuggyIPs: exactly the avoid-buggy cases (and cases that rely on the rule) fail.
    assert!(!failed.is_empty(), "the kit did not notice");
    assert!(failed.iter().any(|n| n.starts_with("avoid-buggy-")), "{failed:?}");
    for r in results.iter().filter(|r| !r.passed()) {
        let f = r.failure.as_deref().unwrap_or_default();
        assert!(f.starts_with("step "), "{}: failure names no step: {f}", r.name);
    }
}

#[test]
fn builtin_advertise_passes_every_case() {
    let (_, results) = run(World::Advertise, &PluginSource::Builtin(World::Advertise));
    assert!(results.len() >= 80, "only {} advertise cases", results.len());
    let failed = failures(&results);
    assert!(failed.is_empty(), "{} of {} cases failed:\n{}", failed.len(), results.len(), failed.join("\n"));
}

#[test]
fn a_wrong_advertise_plugin_is_caught_by_case_name() {
    let sloppy = PathBuf::from(ferrolb::policy::builtin::PLUGIN_DIR).join("hostile_sloppy_advertise.wasm");
    let (p, results) = run(World::Advertise, &PluginSource::Path(sloppy));
    assert_eq!(p.info.name, "hostile-sloppy-advertise");
    let failed: Vec<&str> = results.iter().filter(|r| !r.passed()).map(|r| r.name.as_str()).collect();
    // It ignores BGPAdvertisement `peers`: the cases where an advertisement names its peers fail,
    // among them the reference's pool-per-peer example; cases without `peers` still pass.
    assert!(failed.contains(&"peers-listed-limits-the-peers"), "{failed:?}");
    assert!(failed.contains(&"doc-pool-per-peer"), "{failed:?}");
    assert!(failed.len() < results.len() / 4, "a bug about peers fails unrelated cases too: {failed:?}");
    for r in results.iter().filter(|r| !r.passed()) {
        let f = r.failure.as_deref().unwrap_or_default();
        assert!(f.starts_with("step "), "{}: failure names no step: {f}", r.name);
    }
}

#[test]
fn builtin_merge_passes_every_case() {
    let (_, results) = run(World::Merge, &PluginSource::Builtin(World::Merge));
    assert!(results.len() >= 60, "only {} merge cases", results.len());
    let failed = failures(&results);
    assert!(failed.is_empty(), "{} of {} cases failed:\n{}", failed.len(), results.len(), failed.join("\n"));
}

#[test]
fn builtin_egress_passes_every_case() {
    let (_, results) = run(World::Egress, &PluginSource::Builtin(World::Egress));
    assert!(results.len() >= 45, "only {} egress cases", results.len());
    let failed = failures(&results);
    assert!(failed.is_empty(), "{} of {} cases failed:\n{}", failed.len(), results.len(), failed.join("\n"));
}

#[test]
fn a_wrong_merge_plugin_is_caught_by_case_name() {
    let sloppy = PathBuf::from(ferrolb::policy::builtin::PLUGIN_DIR).join("hostile_sloppy_merge.wasm");
    let (p, results) = run(World::Merge, &PluginSource::Path(sloppy));
    assert_eq!(p.info.name, "hostile-sloppy-merge");
    let failed: Vec<&str> = results.iter().filter(|r| !r.passed()).map(|r| r.name.as_str()).collect();
    // It ignores nodeSelectors: the node-selector cases fail, by name.
    assert!(!failed.is_empty(), "the kit did not notice");
    assert!(failed.iter().all(|n| n.starts_with("node-selector-")), "{failed:?}");
    assert!(failed.len() >= 4, "{failed:?}");
}
