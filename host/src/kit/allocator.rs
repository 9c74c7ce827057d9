//! Allocator cases: the case format (see `conformance/README.md`) and the runner that plays the
//! host — it opens the plugin's `pool-state`, keeps the allocations it grants, reconfigures it
//! when pools or namespaces change, and reopens a fresh instance on `restart`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::policy::allocator::exports::ferrolb::policy::allocator_policy as alloc;
use crate::policy::input;
use crate::policy::{AllocatorInstance, Plugin, Runtime};
use ferrolb_config::model::ObjectRef;
use ferrolb_store::Allocation as HostAllocation;
use serde::Deserialize;

use super::Options;
use super::manifests::Manifests;

/// One allocator case file.
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
    /// The initial manifests (multi-document YAML).
    pub manifests: String,
    /// Allocations the host holds at the start.
    #[serde(default)]
    pub existing: Vec<AllocationSpec>,
    /// What the first `open` must report (unchecked when absent).
    #[serde(default, rename = "open-expect")]
    pub open_expect: Option<ReconfigureExpect>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// An allocation as written in a case.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct AllocationSpec {
    /// `namespace/name`.
    pub service: String,
    /// The addresses.
    pub ips: Vec<IpAddr>,
    /// The pool.
    pub pool: String,
}

/// A step of a case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `assign: NS/NAME`.
    #[serde(default)]
    pub assign: Option<String>,
    /// `release: NS/NAME`.
    #[serde(default)]
    pub release: Option<String>,
    /// `apply: <yaml>`.
    #[serde(default)]
    pub apply: Option<String>,
    /// `delete: [Kind/NS/NAME]`.
    #[serde(default)]
    pub delete: Option<Vec<String>>,
    /// `restart: {}` or `restart: {from-status: true}`.
    #[serde(default)]
    pub restart: Option<RestartSpec>,
    /// `allocations: [...]`.
    #[serde(default)]
    pub allocations: Option<Vec<AllocationSpec>>,
    /// What the step must produce.
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// `restart` options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    /// Forget the host's allocations: they must come back from `status.loadBalancer.ingress`.
    #[serde(default, rename = "from-status")]
    pub from_status: bool,
}

/// What a step must produce.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// For `assign`: the addresses, in order.
    #[serde(default)]
    pub ips: Option<Vec<IpAddr>>,
    /// For `assign`: the pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// For `assign`: a refusal (text checked with `--check-messages`).
    #[serde(default)]
    pub error: Option<String>,
    /// For reconfigure/open: services re-homed (with their new pool).
    #[serde(default)]
    pub rehomed: Option<Vec<RehomeSpec>>,
    /// For reconfigure/open: services that lost their addresses.
    #[serde(default)]
    pub released: Option<Vec<String>>,
}

/// A re-homed allocation as written in a case.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct RehomeSpec {
    /// `namespace/name`.
    pub service: String,
    /// The new pool.
    pub pool: String,
}

/// The reconfigure outcome a case expects.
pub type ReconfigureExpect = Expect;

/// The kit's host state during a case.
struct Host<'a> {
    runtime: &'a Arc<Runtime>,
    plugin: &'a Arc<Plugin>,
    manifests: Manifests,
    config: alloc::AllocatorConfig,
    held: BTreeMap<String, HostAllocation>,
    instance: AllocatorInstance,
}

impl Host<'_> {
    fn open(&mut self) -> Result<alloc::ReconfigureOutcome, String> {
        let existing: Vec<alloc::Allocation> = self.held.values().map(input::allocation_to_wit).collect();
        self.instance = AllocatorInstance::new(self.runtime, self.plugin).map_err(|e| e.to_string())?;
        let outcome = self.instance.open(&self.config, &existing).map_err(|e| e.to_string())?;
        self.absorb(&outcome);
        Ok(outcome)
    }

    /// Apply a reconfigure/open outcome to the host's allocations.
    fn absorb(&mut self, outcome: &alloc::ReconfigureOutcome) {
        for a in &outcome.rehomed {
            let h = input::allocation_from_wit(a);
            self.held.insert(h.service.clone(), h);
        }
        for r in &outcome.released {
            self.held.remove(&input::object_name(&r.service));
        }
    }

    /// After `apply`/`delete`: reload, and reconfigure when pools or namespaces changed.
    fn reload(&mut self, notes: &std::cell::RefCell<Vec<String>>) -> Result<Option<alloc::ReconfigureOutcome>, String> {
        let model = self.manifests.load().map(|(m, e)| {
            notes.borrow_mut().extend(e);
            m
        })?;
        let config = input::allocator_config(&model);
        if config == self.config {
            return Ok(None);
        }
        self.config = config;
        let outcome = self.instance.reconfigure(&self.config).map_err(|e| e.to_string())?;
        self.absorb(&outcome);
        Ok(Some(outcome))
    }
}

fn check_outcome(what: &str, outcome: &alloc::ReconfigureOutcome, expect: &Expect) -> Result<(), String> {
    let rehomed: BTreeSet<RehomeSpec> = outcome
        .rehomed
        .iter()
        .map(|a| RehomeSpec { service: input::object_name(&a.service), pool: a.pool.clone() })
        .collect();
    let want: BTreeSet<RehomeSpec> = expect.rehomed.clone().unwrap_or_default().into_iter().collect();
    if rehomed != want {
        return Err(format!("{what}: re-homed {rehomed:?}, expected {want:?}"));
    }
    let released: BTreeSet<String> = outcome.released.iter().map(|r| input::object_name(&r.service)).collect();
    let want: BTreeSet<String> = expect.released.clone().unwrap_or_default().into_iter().collect();
    if released != want {
        let reasons: Vec<String> =
            outcome.released.iter().map(|r| format!("{}: {}", input::object_name(&r.service), r.reason)).collect();
        return Err(format!("{what}: released {released:?} ({}), expected {want:?}", reasons.join("; ")));
    }
    Ok(())
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
    let manifests = Manifests::parse(&case.manifests)?;
    let model = manifests.load().map(|(m, e)| {
        notes.borrow_mut().extend(e);
        m
    })?;
    let config = input::allocator_config(&model);
    let held: BTreeMap<String, HostAllocation> = case
        .existing
        .iter()
        .map(|a| {
            (a.service.clone(), HostAllocation { service: a.service.clone(), ips: a.ips.clone(), pool: a.pool.clone() })
        })
        .collect();
    let instance = AllocatorInstance::new(runtime, plugin).map_err(|e| e.to_string())?;
    let mut host = Host { runtime, plugin, manifests, config, held, instance };
    let outcome = host.open().map_err(|e| format!("open: {e}"))?;
    if let Some(expect) = &case.open_expect {
        check_outcome("open", &outcome, expect)?;
    }

    for (i, step) in case.steps.iter().enumerate() {
        let n = i + 1;
        let fail = |m: String| format!("step {n}: {m}");
        let kinds = [
            step.assign.is_some(),
            step.release.is_some(),
            step.apply.is_some(),
            step.delete.is_some(),
            step.restart.is_some(),
            step.allocations.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail(
                "a step must have exactly one of assign, release, apply, delete, restart, allocations".into(),
            ));
        }
        if let Some(name) = &step.assign {
            let model = host
                .manifests
                .load()
                .map(|(m, e)| {
                    notes.borrow_mut().extend(e);
                    m
                })
                .map_err(fail)?;
            let svc = model
                .service(&ObjectRef::parse(name))
                .ok_or_else(|| fail(format!("no Service {name} in the manifests")))?;
            let answer = host.instance.assign(&input::allocator_service(svc)).map_err(|e| fail(e.to_string()))?;
            match answer {
                Ok(a) => {
                    let got = input::allocation_from_wit(&a);
                    host.held.insert(got.service.clone(), got.clone());
                    if let Some(expect) = &step.expect {
                        if let Some(err) = &expect.error {
                            return Err(fail(format!(
                                "assign {name}: expected a refusal ({err:?}), got {:?} from pool {}",
                                got.ips, got.pool
                            )));
                        }
                        if let Some(ips) = &expect.ips
                            && *ips != got.ips
                        {
                            return Err(fail(format!(
                                "assign {name}: got {:?} from pool {}, expected {ips:?}",
                                got.ips, got.pool
                            )));
                        }
                        if let Some(pool) = &expect.pool
                            && *pool != got.pool
                        {
                            return Err(fail(format!(
                                "assign {name}: got pool {}, expected pool {pool} ({:?})",
                                got.pool, got.ips
                            )));
                        }
                    }
                }
                Err(refusal) => {
                    // A refused service holds nothing (as MetalLB clears a service it cannot serve).
                    host.held.remove(name);
                    match step.expect.as_ref().and_then(|e| e.error.as_ref()) {
                        Some(text) if opts.check_messages && !refusal.reason.contains(text.as_str()) => {
                            return Err(fail(format!(
                                "assign {name}: refused with {:?}, expected the reason to contain {text:?}",
                                refusal.reason
                            )));
                        }
                        Some(_) => {}
                        None if step.expect.is_some() => {
                            return Err(fail(format!("assign {name}: refused: {}", refusal.reason)));
                        }
                        None => {}
                    }
                }
            }
        } else if let Some(name) = &step.release {
            let r = ObjectRef::parse(name);
            host.instance.release(&input::object_ref(&r)).map_err(|e| fail(e.to_string()))?;
            host.held.remove(name);
        } else if step.apply.is_some() || step.delete.is_some() {
            if let Some(text) = &step.apply {
                host.manifests.apply(text).map_err(fail)?;
            }
            if let Some(keys) = &step.delete {
                host.manifests.delete(keys).map_err(fail)?;
            }
            let outcome = host.reload(notes).map_err(fail)?;
            if let Some(expect) = &step.expect {
                let empty = alloc::ReconfigureOutcome { rehomed: vec![], released: vec![] };
                check_outcome("reconfigure", outcome.as_ref().unwrap_or(&empty), expect).map_err(fail)?;
            }
        } else if let Some(r) = &step.restart {
            if r.from_status {
                host.held.clear();
            }
            let model = host
                .manifests
                .load()
                .map(|(m, e)| {
                    notes.borrow_mut().extend(e);
                    m
                })
                .map_err(fail)?;
            host.config = input::allocator_config(&model);
            let outcome = host.open().map_err(|e| fail(format!("restart: {e}")))?;
            if let Some(expect) = &step.expect {
                check_outcome("restart", &outcome, expect).map_err(fail)?;
            }
        } else if let Some(want) = &step.allocations {
            let got: BTreeSet<AllocationSpec> = host
                .instance
                .allocations()
                .map_err(|e| fail(e.to_string()))?
                .iter()
                .map(|a| {
                    let h = input::allocation_from_wit(a);
                    AllocationSpec { service: h.service, ips: h.ips, pool: h.pool }
                })
                .collect();
            let want: BTreeSet<AllocationSpec> = want.iter().cloned().collect();
            if got != want {
                return Err(fail(format!("allocations: got {got:?}, expected {want:?}")));
            }
        }
    }
    Ok(())
}
