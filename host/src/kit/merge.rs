//! Merge cases: the case format (see `conformance/README.md`) and the runner that plays the host —
//! it translates the manifests (FRRConfigurations, and the MetalLB objects plus the case's routes)
//! into the merge input exactly as ferrolb does, calls the plugin, and compares the merged
//! `spec.bgp` (or the conflicts) after normalising both sides.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::controller::BgpRoute;
use crate::controller::merge::{merge_input, render_conflicts, render_router};
use crate::policy::{MergeInstance, Plugin, Runtime};
use serde::Deserialize;
use serde_json::Value;

use super::Options;
use super::advertise::RouteSpec;
use super::manifests::Manifests;

/// One merge case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub description: String,
    /// Which rules it exercises (tags).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Where the behaviour is documented.
    #[serde(default)]
    pub reference: Option<String>,
    /// The node merged for.
    pub node: String,
    /// The initial manifests.
    pub manifests: String,
    /// What the advertise policy decided for this node.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `merge: {}`.
    #[serde(default)]
    pub merge: Option<serde_norway::Value>,
    /// `apply: <yaml>`.
    #[serde(default)]
    pub apply: Option<String>,
    /// `delete: [Kind/NS/NAME]`.
    #[serde(default)]
    pub delete: Option<Vec<String>>,
    /// What `merge` must produce.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// What a merge must produce.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The merged `spec.bgp`.
    #[serde(default)]
    pub router: Option<serde_norway::Value>,
    /// The conflicts (the merge must be refused).
    #[serde(default)]
    pub conflicts: Option<Vec<ConflictSpec>>,
}

/// An expected conflict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictSpec {
    /// The objects (a set).
    pub objects: Vec<String>,
    /// The field (substring, with --check-messages).
    #[serde(default)]
    pub field: String,
    /// The reason (substring, with --check-messages).
    #[serde(default)]
    pub reason: String,
}

/// Normalise a router document for comparison: drop nulls, empty strings, empty lists and maps,
/// and `mode: filtered` (the default); sort every list.
pub fn normalise(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().filter_map(normalise).collect();
            if items.is_empty() {
                return None;
            }
            items.sort_by_key(|i| i.to_string());
            Some(Value::Array(items))
        }
        Value::Object(map) => {
            // Under `mode: all` a prefix list selects nothing more: it is ignored.
            let all = map.get("mode").and_then(Value::as_str) == Some("all");
            let map: serde_json::Map<String, Value> = map
                .into_iter()
                .filter(|(k, v)| !(k == "mode" && v.as_str() == Some("filtered")))
                .filter(|(k, _)| !(all && k == "prefixes"))
                .filter_map(|(k, v)| normalise(v).map(|v| (k, v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        other => Some(other),
    }
}

fn route(r: &RouteSpec) -> BgpRoute {
    BgpRoute {
        peer: r.peer.clone(),
        vrf: r.vrf.clone(),
        prefix: r.prefix.trunc(),
        local_pref: r.local_pref,
        communities: r.communities.iter().cloned().collect(),
        large_communities: r.large_communities.iter().cloned().collect(),
        services: vec![],
    }
}

/// Run one case; `Err` says which step failed and how.
pub fn run(runtime: &Arc<Runtime>, plugin: &Arc<Plugin>, case: &Case, opts: &Options) -> Result<(), String> {
    let notes = std::cell::RefCell::new(Vec::new());
    run_case(runtime, plugin, case, opts, &notes).map_err(|e| super::with_loader_notes(e, &notes.borrow()))
}

fn run_case(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    case: &Case,
    opts: &Options,
    notes: &std::cell::RefCell<Vec<String>>,
) -> Result<(), String> {
    let mut manifests = Manifests::parse(&case.manifests)?;
    let routes: Vec<BgpRoute> = case.routes.iter().map(route).collect();
    for (i, step) in case.steps.iter().enumerate() {
        let fail = |m: String| format!("step {}: {m}", i + 1);
        let kinds = [step.merge.is_some(), step.apply.is_some() || step.delete.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail("a step must have exactly one of merge, apply/delete".into()));
        }
        if step.merge.is_none() {
            if let Some(text) = &step.apply {
                manifests.apply(text).map_err(fail)?;
            }
            if let Some(keys) = &step.delete {
                manifests.delete(keys).map_err(fail)?;
            }
            continue;
        }
        let (model, errors) = manifests.load().map_err(fail)?;
        notes.borrow_mut().extend(errors);
        let input = merge_input(&model, &case.node, &routes);
        let mut inst = MergeInstance::new(runtime, plugin).map_err(|e| fail(e.to_string()))?;
        let answer = inst.merge(&input).map_err(|e| fail(e.to_string()))?;
        let Some(expect) = &step.expect else { continue };
        match (answer, &expect.router, &expect.conflicts) {
            (Ok(merged), Some(want), _) => {
                let want = serde_json::to_value(want).map_err(|e| fail(e.to_string()))?;
                let got = normalise(render_router(&merged));
                let want = normalise(want);
                if got != want {
                    return Err(fail(format!(
                        "merged router differs:\n        got:      {}\n        expected: {}",
                        got.map(|v| v.to_string()).unwrap_or_default(),
                        want.map(|v| v.to_string()).unwrap_or_default()
                    )));
                }
            }
            (Ok(merged), None, Some(_)) => {
                return Err(fail(format!("expected conflicts, the plugin merged: {}", render_router(&merged))));
            }
            (Ok(_), None, None) => {}
            (Err(conflicts), _, Some(want)) => {
                let got = render_conflicts(&conflicts);
                for w in want {
                    let objects: BTreeSet<&str> = w.objects.iter().map(String::as_str).collect();
                    let found = got.iter().any(|c| {
                        let set: BTreeSet<&str> = c["objects"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        set == objects
                            && (!opts.check_messages
                                || (c["field"].as_str().unwrap_or_default().contains(w.field.as_str())
                                    && c["reason"].as_str().unwrap_or_default().contains(w.reason.as_str())))
                    });
                    if !found {
                        return Err(fail(format!(
                            "no conflict naming {objects:?} ({} / {}); the plugin reported {}",
                            w.field,
                            w.reason,
                            Value::Array(got.clone())
                        )));
                    }
                }
            }
            (Err(conflicts), _, None) => {
                return Err(fail(format!("the merge was refused: {}", Value::Array(render_conflicts(&conflicts)))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_ignores_order_defaults_and_empties() {
        let a = serde_json::json!({"routers": [{"asn": 1, "vrf": "", "prefixes": ["b", "a"],
            "neighbors": [{"address": "x", "toReceive": {"allowed": {"mode": "filtered", "prefixes": []}}}]}]});
        let b = serde_json::json!({"routers": [{"asn": 1, "prefixes": ["a", "b"], "neighbors": [{"address": "x"}]}],
            "bfdProfiles": []});
        assert_eq!(normalise(a), normalise(b));
        let c = serde_json::json!({"routers": [{"asn": 2}]});
        assert_ne!(normalise(c), normalise(serde_json::json!({"routers": [{"asn": 1}]})));
    }
}
