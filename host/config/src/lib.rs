//! ferrolb's configuration: the Kubernetes manifests operators already run (MetalLB, frr-k8s,
//! OVN-Kubernetes EgressService, NMState, and the Services, Nodes, Namespaces and EndpointSlices
//! they refer to), loaded, validated with the upstream rules, and explained.
//!
//! ```
//! use ferrolb_config::{Source, load};
//!
//! let yaml = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: gold\n  namespace: metallb-system\nspec:\n  addresses: [192.168.10.0/24]\n";
//! let result = load(&[Source::Text { name: "pools.yaml".into(), text: yaml.into() }]);
//! let model = result.model.expect("valid");
//! assert_eq!(model.pools[0].id.name, "gold");
//! ```
//!
//! A user's YAML keeps its meaning: fields are read as Kubernetes reads them (YAML 1.1 scalars,
//! `null` as the zero value, unknown fields pruned with a warning), defaults are MetalLB's and
//! frr-k8s', and every problem is reported at once, naming the object, the field and file:line.

mod de;
mod diag;
mod fastyaml;
mod load;
pub mod model;
mod parse;
mod raw;
mod validate;
mod yaml;

pub use diag::{CheckReport, Diagnostic, Severity, SkippedObject};
pub use load::Source;
pub use model::Model;

use std::collections::BTreeMap;

/// Errors of the configuration crate that are not diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Json(#[source] serde_json::Error),
}

/// The outcome of [`load`].
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// The validated configuration, when there is no error (warnings allowed).
    pub model: Option<Model>,
    /// When there are errors: the model built anyway (fields that failed to parse hold their zero
    /// values; references may dangle). Never act on it: it exists for tools that must show a
    /// policy the input the validator refuses, such as the conformance kit proving that a plugin
    /// refuses it too.
    pub unchecked: Option<Model>,
    /// Every error and warning, by file and line.
    pub diagnostics: Vec<Diagnostic>,
    /// Objects of kinds ferrolb does not read (listed and skipped).
    pub skipped: Vec<SkippedObject>,
    /// Objects read, per kind.
    pub objects: BTreeMap<String, usize>,
}

impl LoadResult {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The `ferrolb check` report.
    pub fn report(&self) -> CheckReport {
        CheckReport::new(self.diagnostics.clone(), self.objects.clone(), self.skipped.clone())
    }
}

/// Load, validate and build the model from manifests (files, directories, standard input, text).
///
/// Never panics on bad input and never stops at the first problem: unreadable files, YAML syntax
/// errors, unknown fields and invalid values all become diagnostics.
pub fn load(sources: &[Source]) -> LoadResult {
    let (files, mut diagnostics) = load::read_sources(sources);
    let input = load::parse(files);
    let (model, pending) = validate::build(&input);
    // A field with a structural error (a type error, an out-of-range integer) was read as its zero
    // value: what validation says about that value is a consequence, not news.
    let broken: std::collections::HashSet<(usize, &str)> = input
        .pending
        .iter()
        .filter_map(|p| match p.subject {
            load::Subject::Object(i) if p.severity == Severity::Error => Some((i, p.field.as_str())),
            _ => None,
        })
        .collect();
    let mut all = input.pending.clone();
    all.extend(pending.into_iter().filter(|p| match p.subject {
        load::Subject::Object(i) => !broken.contains(&(i, p.field.as_str())),
        load::Subject::Place { .. } => true,
    }));
    diagnostics.extend(load::finish(&input, all));
    let objects = load::count_kinds(&input.objects);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let load::Input { objects: raw, skipped, .. } = input;
    drop_in_parallel(raw);
    let (model, unchecked) = if has_errors { (None, Some(model)) } else { (Some(model), None) };
    LoadResult { model, unchecked, diagnostics, skipped, objects }
}

/// Free the raw objects of a large input on two threads (a measurable part of a large load).
fn drop_in_parallel<T: Send>(mut v: Vec<T>) {
    if v.len() < 4096 || std::thread::available_parallelism().map_or(1, std::num::NonZero::get) < 2 {
        return;
    }
    let half = v.split_off(v.len() / 2);
    std::thread::scope(|s| {
        s.spawn(move || drop(half));
        drop(v);
    });
}

/// [`load`] of one text (a convenience for tests and tools).
pub fn load_str(name: &str, text: &str) -> LoadResult {
    load(&[Source::Text { name: name.to_string(), text: text.to_string() }])
}

/// Load and report: what `ferrolb check` prints.
pub fn check(sources: &[Source]) -> CheckReport {
    load(sources).report()
}
