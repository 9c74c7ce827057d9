//! Egress cases: the case format (see `conformance/README.md`) and the runner that plays the
//! host — it opens the plugin's `egress-planner` for the case's local node, hands it each
//! EgressService with the load-balancer addresses the case gives and the node the service was
//! assigned last time (`current-node`, which the kit remembers as ferrolb's host does), tells it
//! when nodes go down or come back, and reopens a fresh instance on `restart`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::policy::convert::{ip_from_wit, prefix_from_wit};
use crate::policy::egress::exports::ferrolb::policy::egress_policy as egr;
use crate::policy::input;
use crate::policy::types::Node;
use crate::policy::{Cause, EgressInstance, Plugin, PluginError, Runtime};
use ferrolb_config::Model;
use ferrolb_config::model::ObjectRef;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use super::Options;
use super::manifests::Manifests;

/// One egress case file.
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
    /// The node the kit plays: rules and SNAT are computed for it.
    #[serde(rename = "local-node")]
    pub local_node: String,
    /// The initial manifests (multi-document YAML).
    pub manifests: String,
    /// The load-balancer addresses services hold (a service not listed here has the addresses of
    /// its `status.loadBalancer.ingress`).
    #[serde(default)]
    pub allocations: Vec<AddressSpec>,
    /// The node each service was assigned before the case starts (`NS/NAME: node`).
    #[serde(default, rename = "current-nodes")]
    pub current_nodes: BTreeMap<String, String>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// The load-balancer addresses a service holds.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AddressSpec {
    /// `namespace/name`.
    pub service: String,
    /// The addresses (primary family first); empty: none allocated.
    pub ips: Vec<IpAddr>,
    /// The pool they came from (informative: the egress world does not see pools).
    #[serde(default)]
    pub pool: Option<String>,
}

/// A step of a case: exactly one of the actions, and for `decide` what it must answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `decide: NS/NAME`.
    #[serde(default)]
    pub decide: Option<String>,
    /// `nodes-down: [...]`: the membership protocol sees these nodes dead (`update-nodes`).
    #[serde(default, rename = "nodes-down")]
    pub nodes_down: Option<Vec<String>>,
    /// `nodes-up: [...]`: the membership protocol sees these nodes alive (`update-nodes`).
    #[serde(default, rename = "nodes-up")]
    pub nodes_up: Option<Vec<String>>,
    /// `apply: <yaml>`: add or replace objects.
    #[serde(default)]
    pub apply: Option<String>,
    /// `delete: [Kind/NS/NAME]`.
    #[serde(default)]
    pub delete: Option<Vec<String>>,
    /// `allocations: [...]`: the listed services now hold these addresses.
    #[serde(default)]
    pub allocations: Option<Vec<AddressSpec>>,
    /// `restart: {}`: a fresh instance from the same configuration and remembered assignments.
    #[serde(default)]
    pub restart: Option<RestartSpec>,
    /// `local-node: NAME`: the kit now plays another node (a fresh instance, same assignments).
    #[serde(default, rename = "local-node")]
    pub local_node: Option<String>,
    /// What `decide` must answer.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// `restart` options (none yet).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {}

/// Deserialize a present field (even `null`) as `Some`, so that `Option<Option<T>>` tells an
/// absent field (`None`: unchecked) from `null` (`Some(None)`: must be none).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What a `decide` must answer: a decision, or (`error`) an `invalid-input` refusal.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The node that handles the service's egress ("" for none / every node).
    #[serde(default)]
    pub node: Option<String>,
    /// The label key (value ""); `null`: none; absent: unchecked.
    #[serde(default, rename = "node-label", deserialize_with = "present")]
    pub node_label: Option<Option<String>>,
    /// The source address; `null`: none; absent: unchecked.
    #[serde(default, rename = "source-ip", deserialize_with = "present")]
    pub source_ip: Option<Option<IpAddr>>,
    /// The table; `null`: none (main); absent: unchecked.
    #[serde(default, deserialize_with = "present")]
    pub table: Option<Option<u32>>,
    /// The ip rules (absent: none); the kit sorts and deduplicates them before comparing.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// The SNAT rules (absent: none); sorted and deduplicated before comparing.
    #[serde(default)]
    pub snat: Vec<SnatSpec>,
    /// Refusals must be given, mentioning each text (with `--check-messages`); absent: none.
    #[serde(default, rename = "refusals-contain")]
    pub refusals_contain: Option<Vec<String>>,
    /// `decide` must fail with `invalid-input` (its text containing these, with `--check-messages`).
    #[serde(default)]
    pub error: Option<Texts>,
}

/// One text or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Texts {
    /// `error: "text"`.
    One(String),
    /// `error: [text, text]`.
    Many(Vec<String>),
}

impl Texts {
    /// The texts.
    pub fn all(&self) -> Vec<&str> {
        match self {
            Texts::One(t) => vec![t.as_str()],
            Texts::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// An expected ip rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The priority.
    pub priority: u32,
    /// The source prefix (`10.0.0.1/32`).
    pub from: IpNet,
    /// The table.
    pub table: u32,
}

/// An expected SNAT rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct SnatSpec {
    /// The endpoint address.
    pub from: IpAddr,
    /// The load-balancer address.
    pub to: IpAddr,
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn rule_of(r: &egr::IpRule) -> Result<RuleSpec, String> {
    Ok(RuleSpec { priority: r.priority, from: prefix_from_wit(&r.from)?, table: r.table })
}

fn show_rules(v: &[RuleSpec]) -> String {
    let items: Vec<String> = v.iter().map(|r| format!("{} from {} table {}", r.priority, r.from, r.table)).collect();
    format!("[{}]", items.join(", "))
}

fn show_snat(v: &[SnatSpec]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{} -> {}", s.from, s.to)).collect();
    format!("[{}]", items.join(", "))
}

/// Compare a list the plugin gave (in its order) with the expected one (as a sorted,
/// deduplicated list): the same items in the same order, or a message saying what differs.
fn check_list<T: Ord + Clone>(what: &str, got: &[T], want: &[T], show: impl Fn(&[T]) -> String) -> Result<(), String> {
    let want = sorted(want);
    if got == want.as_slice() {
        return Ok(());
    }
    if sorted(got) == want {
        return Err(format!("{what}: {} are the expected ones but not sorted and deduplicated", show(got)));
    }
    Err(format!("{what}: {}, expected {}", show(got), show(&want)))
}

/// Judge one decision against its expectation (`expect.error` must be `None`).
pub fn check_decision(expect: &Expect, d: &egr::EgressDecision, opts: &Options) -> Result<(), String> {
    let node = expect.node.as_deref().unwrap_or_default();
    if d.node != node {
        return Err(format!("node {:?}, expected {node:?} (refusals: {:?})", d.node, d.refusals));
    }
    if let Some(want) = &expect.node_label {
        match (&d.node_label, want) {
            (None, None) => {}
            (Some(l), Some(key)) if l.key == *key && l.value.is_empty() => {}
            (got, want) => {
                let got = got.as_ref().map(|l| format!("{}={:?}", l.key, l.value));
                let want = want.as_ref().map(|k| format!("{k}=\"\""));
                return Err(format!("node-label {got:?}, expected {want:?}"));
            }
        }
    }
    if let Some(want) = &expect.source_ip {
        let got = d.source_ip.as_ref().map(ip_from_wit);
        if got != *want {
            return Err(format!("source-ip {got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &expect.table
        && d.table != *want
    {
        return Err(format!("table {:?}, expected {want:?}", d.table));
    }
    let rules: Vec<RuleSpec> = d.rules.iter().map(rule_of).collect::<Result<_, _>>()?;
    check_list("rules", &rules, &expect.rules, show_rules)?;
    let snat: Vec<SnatSpec> =
        d.snat.iter().map(|s| SnatSpec { from: ip_from_wit(&s.from), to: ip_from_wit(&s.to) }).collect();
    check_list("snat", &snat, &expect.snat, show_snat)?;
    match &expect.refusals_contain {
        None if !d.refusals.is_empty() => Err(format!("unexpected refusals {:?}", d.refusals)),
        None => Ok(()),
        Some(_) if d.refusals.is_empty() => Err("expected a refusal, got none".into()),
        Some(texts) => {
            if opts.check_messages {
                for t in texts {
                    if !d.refusals.iter().any(|r| r.contains(t.as_str())) {
                        return Err(format!("refusals {:?} do not mention {t:?}", d.refusals));
                    }
                }
            }
            Ok(())
        }
    }
}

/// Judge a failed `decide` against an expected `invalid-input` refusal.
pub fn check_error(texts: &Texts, e: &PluginError, opts: &Options) -> Result<(), String> {
    let message = match &e.cause {
        Cause::Refused(m) => m.strip_prefix("invalid input: "),
        _ => None,
    };
    let Some(m) = message else {
        return Err(format!("expected an invalid-input refusal ({:?}), got: {e}", texts.all()));
    };
    if opts.check_messages
        && let Some(t) = texts.all().into_iter().find(|t| !m.contains(t))
    {
        return Err(format!("refused with {m:?}, expected the reason to contain {t:?}"));
    }
    Ok(())
}

/// The same decision, or what differs (refusal texts only with `--check-messages`).
fn same_decision(before: &egr::EgressDecision, after: &egr::EgressDecision, opts: &Options) -> Result<(), String> {
    let strip = |d: &egr::EgressDecision| egr::EgressDecision {
        refusals: if opts.check_messages { d.refusals.clone() } else { vec![String::new(); d.refusals.len().min(1)] },
        ..d.clone()
    };
    if strip(before) == strip(after) { Ok(()) } else { Err(format!("{after:?}, before it was {before:?}")) }
}

/// The kit's host state during a case.
struct Host<'a> {
    runtime: &'a Arc<Runtime>,
    plugin: &'a Arc<Plugin>,
    local_node: String,
    manifests: Manifests,
    model: Model,
    /// Liveness the membership protocol reports (default: the node's Ready condition).
    live: BTreeMap<String, bool>,
    /// Load-balancer addresses per service, overriding the Services' status.
    addresses: BTreeMap<String, Vec<IpAddr>>,
    /// The node each service was assigned (what the host labels and remembers).
    assigned: BTreeMap<String, String>,
    /// The last decision per service, with the generation of the inputs it was made from.
    last: BTreeMap<String, (u64, egr::EgressDecision)>,
    /// Bumped whenever an input changes (manifests, liveness, addresses).
    generation: u64,
    instance: EgressInstance,
}

impl Host<'_> {
    fn nodes(&self) -> Vec<Node> {
        self.model
            .nodes
            .iter()
            .map(|n| input::node(n, self.live.get(&n.name).copied().unwrap_or(n.conditions.ready)))
            .collect()
    }

    fn config(&self) -> egr::EgressConfig {
        input::egress_config(&self.model, &self.local_node, self.nodes())
    }

    /// A fresh instance, opened with the current configuration.
    fn open_fresh(&mut self) -> Result<(), String> {
        self.instance = EgressInstance::new(self.runtime, self.plugin).map_err(|e| e.to_string())?;
        let config = self.config();
        self.instance.open(&config).map_err(|e| format!("open: {e}"))
    }

    /// The input for `decide`.
    fn service(&self, name: &str) -> Result<egr::EgressService, String> {
        let id = ObjectRef::parse(name);
        let e = self
            .model
            .egress_services
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| format!("no EgressService {name} in the manifests"))?;
        let s = self.model.service(&id).ok_or_else(|| format!("no Service {name} in the manifests"))?;
        let ips = self.addresses.get(name).cloned().unwrap_or_else(|| s.current_ips.clone());
        Ok(input::egress_service(e, s, &ips, self.assigned.get(name).map(String::as_str)))
    }

    /// `decide` twice with the same input (equal inputs must give equal answers); remembers the
    /// assignment and the decision.
    fn decide(&mut self, name: &str) -> Result<Result<egr::EgressDecision, PluginError>, String> {
        let svc = self.service(name)?;
        let first = match self.instance.decide(&svc) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let again = self.instance.decide(&svc).map_err(|e| format!("the same decide again failed: {e}"))?;
        if again != first {
            return Err(format!(
                "the same input gave two different answers (equal inputs must give byte-equal answers): {first:?} then {again:?}"
            ));
        }
        if first.node.is_empty() {
            self.assigned.remove(name);
        } else {
            self.assigned.insert(name.to_string(), first.node.clone());
        }
        self.last.insert(name.to_string(), (self.generation, first.clone()));
        Ok(Ok(first))
    }

    fn reload(&mut self, notes: &std::cell::RefCell<Vec<String>>) -> Result<(), String> {
        let model = self.manifests.load().map(|(m, e)| {
            notes.borrow_mut().extend(e);
            m
        })?;
        let tables_changed = model.route_tables() != self.model.route_tables();
        let old_nodes = self.nodes();
        self.model = model;
        self.generation += 1;
        if tables_changed {
            // The configuration changed: the host opens the planner again.
            let config = self.config();
            self.instance.open(&config).map_err(|e| format!("reopen: {e}"))
        } else if self.nodes() != old_nodes {
            let nodes = self.nodes();
            self.instance.update_nodes(&nodes).map_err(|e| format!("update-nodes: {e}"))
        } else {
            Ok(())
        }
    }

    fn set_live(&mut self, names: &[String], live: bool) -> Result<(), String> {
        for n in names {
            if self.model.node(n).is_none() {
                return Err(format!("no Node {n} in the manifests"));
            }
            self.live.insert(n.clone(), live);
        }
        self.generation += 1;
        let nodes = self.nodes();
        self.instance.update_nodes(&nodes).map_err(|e| format!("update-nodes: {e}"))
    }

    /// After a restart: every service decided since the inputs last changed must get the same
    /// decision from the fresh instance.
    fn redecide_all(&mut self, opts: &Options) -> Result<(), String> {
        let current: Vec<(String, egr::EgressDecision)> = self
            .last
            .iter()
            .filter(|(_, (g, _))| *g == self.generation)
            .map(|(n, (_, d))| (n.clone(), d.clone()))
            .collect();
        for (name, before) in current {
            let after = self.decide(&name)?.map_err(|e| format!("decide {name} after the restart: {e}"))?;
            same_decision(&before, &after, opts)
                .map_err(|m| format!("decide {name} after the restart gave another decision: {m}"))?;
        }
        Ok(())
    }
}

/// Run one case; `Err` says which step failed and how.
pub fn run(runtime: &Arc<Runtime>, plugin: &Arc<Plugin>, case: &Case, opts: &Options) -> Result<(), String> {
    let notes = std::cell::RefCell::new(Vec::new());
    run_case(runtime, plugin, case, opts, &notes).map_err(|e| super::with_loader_notes(e, &notes.borrow()))
}

fn addresses_of(specs: &[AddressSpec]) -> BTreeMap<String, Vec<IpAddr>> {
    specs.iter().map(|a| (a.service.clone(), a.ips.clone())).collect()
}

fn run_case(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    case: &Case,
    opts: &Options,
    notes: &std::cell::RefCell<Vec<String>>,
) -> Result<(), String> {
    let manifests = Manifests::parse(&case.manifests)?;
    let model = manifests.load().map(|(m, e)| {
        notes.borrow_mut().extend(e);
        m
    })?;
    let instance = EgressInstance::new(runtime, plugin).map_err(|e| e.to_string())?;
    let mut host = Host {
        runtime,
        plugin,
        local_node: case.local_node.clone(),
        manifests,
        model,
        live: BTreeMap::new(),
        addresses: addresses_of(&case.allocations),
        assigned: case.current_nodes.clone(),
        last: BTreeMap::new(),
        generation: 0,
        instance,
    };
    host.open_fresh()?;

    for (i, step) in case.steps.iter().enumerate() {
        let fail = |m: String| format!("step {}: {m}", i + 1);
        let kinds = [
            step.decide.is_some(),
            step.nodes_down.is_some(),
            step.nodes_up.is_some(),
            step.apply.is_some() || step.delete.is_some(),
            step.allocations.is_some(),
            step.restart.is_some(),
            step.local_node.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail(
                "a step must have exactly one of decide, nodes-down, nodes-up, apply/delete, allocations, restart, local-node"
                    .into(),
            ));
        }
        if step.expect.is_some() && step.decide.is_none() {
            return Err(fail("only a decide step has an expect".into()));
        }
        if let Some(name) = &step.decide {
            let answer = host.decide(name).map_err(|m| fail(format!("decide {name}: {m}")))?;
            let Some(expect) = &step.expect else { continue };
            match (&expect.error, answer) {
                (Some(text), Err(e)) => check_error(text, &e, opts),
                (Some(text), Ok(d)) => Err(format!("expected an invalid-input refusal ({:?}), got {d:?}", text.all())),
                (None, Err(e)) => Err(e.to_string()),
                (None, Ok(_)) if expect.node.is_none() => Err("the expect has neither node nor error".into()),
                (None, Ok(d)) => check_decision(expect, &d, opts),
            }
            .map_err(|m| fail(format!("decide {name}: {m}")))?;
        } else if let Some(names) = &step.nodes_down {
            host.set_live(names, false).map_err(fail)?;
        } else if let Some(names) = &step.nodes_up {
            host.set_live(names, true).map_err(fail)?;
        } else if let Some(specs) = &step.allocations {
            host.addresses.extend(addresses_of(specs));
            host.generation += 1;
        } else if step.restart.is_some() {
            host.open_fresh().map_err(|m| fail(format!("restart: {m}")))?;
            host.redecide_all(opts).map_err(|m| fail(format!("restart: {m}")))?;
        } else if let Some(node) = &step.local_node {
            host.local_node = node.clone();
            host.generation += 1;
            host.open_fresh().map_err(|m| fail(format!("local-node {node}: {m}")))?;
        } else {
            if let Some(text) = &step.apply {
                host.manifests.apply(text).map_err(fail)?;
            }
            if let Some(keys) = &step.delete {
                host.manifests.delete(keys).map_err(fail)?;
            }
            host.reload(notes).map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::policy::convert::{ip_to_wit, prefix_to_wit};
    use crate::policy::types::{Label, ObjectRef as WitRef};

    fn decision() -> egr::EgressDecision {
        let ip = |s: &str| ip_to_wit(s.parse().unwrap());
        let rule = |from: &str| egr::IpRule { priority: 5000, from: prefix_to_wit(from.parse().unwrap()), table: 2 };
        egr::EgressDecision {
            service: WitRef { namespace: "test".into(), name: "server1".into() },
            node: "node-a".into(),
            node_label: Some(Label { key: "egress-service.k8s.ovn.org/test-server1".into(), value: String::new() }),
            source_ip: Some(ip("192.169.10.0")),
            table: Some(2),
            rules: vec![rule("10.128.0.5/32"), rule("10.128.1.7/32")],
            snat: vec![
                egr::SnatRule { from: ip("10.128.0.5"), to: ip("192.169.10.0") },
                egr::SnatRule { from: ip("10.128.1.7"), to: ip("192.169.10.0") },
            ],
            refusals: vec![],
        }
    }

    fn expect(yaml: &str) -> Expect {
        serde_norway::from_str(yaml).unwrap()
    }

    const FULL: &str = r#"
node: node-a
node-label: egress-service.k8s.ovn.org/test-server1
source-ip: 192.169.10.0
table: 2
rules:
  - {priority: 5000, from: 10.128.1.7/32, table: 2}
  - {priority: 5000, from: 10.128.0.5/32, table: 2}
  - {priority: 5000, from: 10.128.0.5/32, table: 2}
snat:
  - {from: 10.128.1.7, to: 192.169.10.0}
  - {from: 10.128.0.5, to: 192.169.10.0}
"#;

    #[test]
    fn expected_lists_are_sorted_and_deduplicated_before_comparing() {
        let opts = Options::default();
        check_decision(&expect(FULL), &decision(), &opts).unwrap();
    }

    #[test]
    fn unsorted_or_duplicated_answers_are_refused() {
        let opts = Options::default();
        let mut d = decision();
        d.rules.reverse();
        let e = check_decision(&expect(FULL), &d, &opts).unwrap_err();
        assert!(e.contains("not sorted"), "{e}");
        let mut d = decision();
        d.snat.push(d.snat[1]);
        let e = check_decision(&expect(FULL), &d, &opts).unwrap_err();
        assert!(e.contains("snat") && e.contains("not sorted and deduplicated"), "{e}");
    }

    #[test]
    fn every_field_is_compared() {
        let opts = Options::default();
        let mut d = decision();
        d.node = "node-b".into();
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().starts_with("node"));
        let mut d = decision();
        d.table = Some(3);
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().starts_with("table"));
        let mut d = decision();
        d.source_ip = None;
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().starts_with("source-ip"));
        let mut d = decision();
        d.node_label = Some(Label { key: "egress-service.k8s.ovn.org/test-server1".into(), value: "x".into() });
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().starts_with("node-label"));
        let mut d = decision();
        d.rules.pop();
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().starts_with("rules"));
        let mut d = decision();
        d.refusals.push("something".into());
        assert!(check_decision(&expect(FULL), &d, &opts).unwrap_err().contains("unexpected refusals"));
    }

    #[test]
    fn absent_optional_fields_are_unchecked_and_null_means_none() {
        let opts = Options::default();
        let mut d = decision();
        d.rules.clear();
        d.snat.clear();
        // Absent node-label/source-ip/table: unchecked; absent rules/snat: must be empty.
        check_decision(&expect("node: node-a"), &d, &opts).unwrap();
        assert!(check_decision(&expect("node: node-a"), &decision(), &opts).is_err());
        // null: must be none.
        let e = check_decision(&expect("{node: node-a, table: null}"), &d, &opts).unwrap_err();
        assert!(e.starts_with("table"), "{e}");
        let e = check_decision(&expect("{node: node-a, node-label: null}"), &d, &opts).unwrap_err();
        assert!(e.starts_with("node-label"), "{e}");
        d.table = None;
        check_decision(&expect("{node: node-a, table: null}"), &d, &opts).unwrap();
    }

    #[test]
    fn refusal_texts_only_with_check_messages() {
        let mut d = decision();
        d.refusals = vec!["no load-balancer address is allocated to test/server1".into()];
        let e = expect(
            "{node: node-a, rules: [{priority: 5000, from: 10.128.1.7/32, table: 2}, {priority: 5000, from: 10.128.0.5/32, table: 2}], snat: [{from: 10.128.1.7, to: 192.169.10.0}, {from: 10.128.0.5, to: 192.169.10.0}], refusals-contain: [elsewhere]}",
        );
        check_decision(&e, &d, &Options::default()).unwrap();
        let err = check_decision(&e, &d, &Options { check_messages: true }).unwrap_err();
        assert!(err.contains("do not mention"), "{err}");
        d.refusals.clear();
        let err = check_decision(&e, &d, &Options::default()).unwrap_err();
        assert!(err.contains("expected a refusal"), "{err}");
    }

    #[test]
    fn only_invalid_input_counts_as_the_expected_error() {
        let err = |cause: Cause| PluginError { world: crate::policy::World::Egress, plugin: "p".into(), cause };
        let texts: Texts = serde_norway::from_str("[server1, blue]").unwrap();
        let strict = Options { check_messages: true };
        let good = err(Cause::Refused("invalid input: test/server1: unknown table blue".into()));
        check_error(&texts, &good, &strict).unwrap();
        let vague = err(Cause::Refused("invalid input: unknown table".into()));
        check_error(&texts, &vague, &Options::default()).unwrap();
        assert!(check_error(&texts, &vague, &strict).unwrap_err().contains("server1"));
        let stub = err(Cause::Refused("not implemented: egress".into()));
        assert!(check_error(&texts, &stub, &Options::default()).is_err());
        let trap = err(Cause::Trap("unreachable".into()));
        assert!(check_error(&Texts::One("blue".into()), &trap, &Options::default()).is_err());
    }

    #[test]
    fn unknown_fields_and_steps_are_refused() {
        let base = "description: x\nlocal-node: a\nmanifests: \"\"\n";
        let ok: Result<Case, _> =
            serde_norway::from_str(&format!("{base}steps: [{{decide: ns/x, expect: {{node: a}}}}]"));
        assert!(ok.is_ok(), "{ok:?}");
        for bad in [
            format!("{base}steps: [{{decide: ns/x, expect: {{nodes: a}}}}]"),
            format!("{base}steps: [{{decied: ns/x}}]"),
            format!("{base}steps: [{{restart: {{from-status: true}}}}]"),
            format!(
                "{base}steps: [{{decide: ns/x, expect: {{rules: [{{priority: 1, from: 10.0.0.1/32, tabel: 2}}]}}}}]"
            ),
            format!("{base}node: a\nsteps: []"),
            format!("{base}steps: [{{allocations: [{{service: ns/x, ip: [10.0.0.1]}}]}}]"),
        ] {
            let r: Result<Case, _> = serde_norway::from_str(&bad);
            assert!(r.is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn a_bad_case_file_stops_the_kit_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("egresskit-bad-{}", std::process::id()));
        let wdir = dir.join("egress");
        std::fs::create_dir_all(&wdir).unwrap();
        let file = wdir.join("bad.yaml");
        std::fs::write(&file, "description: x\nlocal-node: a\nmanifests: \"\"\nsteps: [{nodes-dwn: [a]}]\n").unwrap();
        let world = crate::policy::World::Egress;
        let files = super::super::case_files(&dir, world).unwrap();
        assert_eq!(files, vec![file.clone()]);
        let rt = Arc::new(Runtime::new(crate::policy::RuntimeConfig::default()).unwrap());
        let plugin = rt.load(world, &crate::policy::PluginSource::Builtin(world)).unwrap();
        let err = super::super::run_cases(&rt, &plugin, world, &files, &Options::default()).unwrap_err().to_string();
        assert!(err.contains("bad.yaml") && err.contains("nodes-dwn"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_shipped_case_parses() {
        let files = super::super::case_files(&super::super::default_cases_dir(), crate::policy::World::Egress).unwrap();
        assert!(files.len() >= 45, "only {} egress cases", files.len());
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let case: Case = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(!case.rules.is_empty(), "{}: no rules tag", f.display());
            Manifests::parse(&case.manifests).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            for s in &case.steps {
                if let Some(e) = &s.expect {
                    assert!(e.node.is_some() != e.error.is_some(), "{}: expect needs node or error", f.display());
                }
            }
        }
    }
}
