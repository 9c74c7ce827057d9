//! From raw objects to the [`Model`], checking everything on the way.
//!
//! The rules are MetalLB's (`internal/config`: `config.go`, `validation.go`, the CRD schemas),
//! frr-k8s' (`api_to_config.go`, the CRD schema), OVN-Kubernetes' (EgressService) and NMState's,
//! with the reference documentation deciding where it states a rule (e.g. "keepaliveTime must be
//! lower than holdTime"). Every problem is collected: nothing stops at the first error, and an
//! object with errors still enters the checks of the objects that refer to it, so that one typo
//! does not cause a cascade of "not defined" errors.

mod cluster;
mod frr;
mod metallb;

use crate::diag::Severity;
use crate::load::{Input, ObjInfo, Pending, Subject};
use crate::model::{LabelSelector, Labels, Model, ObjectRef, SelectorOperator, SelectorRequirement};
use crate::parse;
use crate::raw;
use std::collections::HashMap;

/// The Fx hash (rustc's): much cheaper than SipHash for the short keys of the identity maps,
/// and the keys are not attacker-chosen in a way that matters here (a slow check, at worst).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Collected diagnostics.
pub(crate) struct Diags {
    pub pending: Vec<Pending>,
}

impl Diags {
    fn push(&mut self, severity: Severity, obj: usize, field: impl Into<String>, message: impl Into<String>) {
        self.pending.push(Pending {
            severity,
            subject: Subject::Object(obj),
            field: field.into(),
            line: None,
            message: message.into(),
        });
    }

    /// An error about object `obj`.
    pub fn err(&mut self, obj: usize, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, obj, field, message);
    }

    /// A warning about object `obj`.
    pub fn warn(&mut self, obj: usize, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, obj, field, message);
    }
}

/// A short reference to another object for messages: `IPAddressPool metallb-system/gold (pools.yaml:3)`.
pub(crate) fn describe(info: &ObjInfo) -> String {
    format!("{} {} ({})", info.kind, info.id, info.origin)
}

/// Join a field path and a child key.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() { key.to_string() } else { format!("{base}.{key}") }
}

/// Build the model from everything loaded. Problems go to `diags`; the model is built even when
/// there are errors (the caller decides what to do with it).
pub(crate) fn build(input: &Input) -> (Model, Vec<Pending>) {
    let mut d = Diags { pending: Vec::new() };
    let keep = identities(input, &mut d);
    let objs: Vec<(usize, &crate::load::Loaded)> =
        input.objects.iter().enumerate().filter(|(i, _)| keep.get(*i).copied().unwrap_or(false)).collect();

    let mut model = Model::default();
    cluster::namespaces_and_nodes(&mut d, &objs, &mut model);
    cluster::network_policies(&mut d, &objs, &mut model);
    metallb::metallb(&mut d, input, &objs, &mut model);
    frr::frr_configurations(&mut d, &objs, &mut model);
    cluster::services(&mut d, &objs, &mut model);
    cluster::egress_services(&mut d, input, &objs, &mut model);
    (model, d.pending)
}

/// Check names, namespaces and labels of every object, and refuse objects defined twice.
/// Returns which objects to keep.
fn identities(input: &Input, d: &mut Diags) -> Vec<bool> {
    let mut keep = vec![true; input.objects.len()];
    let mut seen: FxMap<(&str, &ObjectRef), usize> =
        FxMap::with_capacity_and_hasher(input.objects.len(), Default::default());
    // MetalLB refers to pools, peers and BFD profiles by name alone (it reads one namespace).
    let mut by_name: FxMap<(&str, &str), usize> = FxMap::default();
    for (i, o) in input.objects.iter().enumerate() {
        let info = &o.info;
        let meta = o.raw.metadata();
        if info.id.name.is_empty() {
            d.err(i, "metadata.name", "metadata.name is required");
            keep[i] = false;
            continue;
        }
        let check = match info.kind {
            "Service" => parse::check_dns1035_label(&info.id.name),
            "Namespace" => parse::check_dns_label(&info.id.name),
            _ => parse::check_dns_subdomain(&info.id.name),
        };
        if let Err(m) = check {
            d.err(i, "metadata.name", m);
        }
        if let Some(ns) = meta.namespace.as_deref().filter(|ns| !ns.is_empty())
            && let Err(m) = parse::check_dns_label(ns)
        {
            d.err(i, "metadata.namespace", m);
        }
        check_labels(d, i, "metadata.labels", &meta.labels);
        for k in meta.annotations.keys() {
            if let Err(m) = parse::check_label_key(k) {
                d.err(i, format!("metadata.annotations{}", key_path(k)), m.replace("label key", "annotation key"));
            }
        }
        if let Some(first) = seen.get(&(info.kind, &info.id)) {
            let other = &input.objects[*first].info;
            d.err(i, "metadata.name", format!("{} {} is already defined at {}", info.kind, info.id, other.origin));
            keep[i] = false;
            continue;
        }
        seen.insert((info.kind, &info.id), i);
        let family = match info.kind {
            "IPAddressPool" | "AddressPool" => Some("pool"),
            "BGPPeer" => Some("BGPPeer"),
            "BFDProfile" => Some("BFDProfile"),
            _ => None,
        };
        if let Some(family) = family {
            if let Some(first) = by_name.get(&(family, info.id.name.as_str())) {
                let other = &input.objects[*first].info;
                d.err(
                    i,
                    "metadata.name",
                    format!(
                        "the name \"{}\" is already used by {}: MetalLB refers to {}s by name alone",
                        info.id.name,
                        describe(other),
                        if family == "pool" { "pool" } else { family }
                    ),
                );
                keep[i] = false;
                continue;
            }
            by_name.insert((family, info.id.name.as_str()), i);
        }
    }
    keep
}

/// `["key"]` or `.key` as a path suffix for a map key.
pub(crate) fn key_path(key: &str) -> String {
    let mut s = String::from("x");
    crate::yaml::push_key(&mut s, key);
    s.split_off(1)
}

/// Check the keys and values of a label map.
pub(crate) fn check_labels(d: &mut Diags, obj: usize, base: &str, labels: &Labels) {
    for (k, v) in labels {
        if let Err(m) = parse::check_label_key(k) {
            d.err(obj, format!("{base}{}", key_path(k)), m);
        } else if let Err(m) = parse::check_label_value(v) {
            d.err(obj, format!("{base}{}", key_path(k)), m);
        }
    }
}

/// A label selector, checked as `metav1.LabelSelectorAsSelector` does (and MetalLB's duplicate
/// checks).
pub(crate) fn selector(d: &mut Diags, obj: usize, base: &str, raw: &raw::LabelSelector) -> LabelSelector {
    check_labels(d, obj, &join(base, "matchLabels"), &raw.match_labels);
    let mut expressions = Vec::new();
    for (i, r) in raw.match_expressions.iter().enumerate() {
        let at = format!("{base}.matchExpressions[{i}]");
        let key = r.key.clone().unwrap_or_default();
        if key.is_empty() {
            d.err(obj, format!("{at}.key"), "key is required");
        } else if let Err(m) = parse::check_label_key(&key) {
            d.err(obj, format!("{at}.key"), m);
        }
        let operator = match r.operator.as_deref() {
            Some("In") => Some(SelectorOperator::In),
            Some("NotIn") => Some(SelectorOperator::NotIn),
            Some("Exists") => Some(SelectorOperator::Exists),
            Some("DoesNotExist") => Some(SelectorOperator::DoesNotExist),
            Some(other) => {
                d.err(
                    obj,
                    format!("{at}.operator"),
                    format!("\"{other}\" is not a valid operator: In, NotIn, Exists or DoesNotExist"),
                );
                None
            }
            None => {
                d.err(obj, format!("{at}.operator"), "operator is required");
                None
            }
        };
        let Some(operator) = operator else { continue };
        match operator {
            SelectorOperator::In | SelectorOperator::NotIn if r.values.is_empty() => {
                d.err(obj, format!("{at}.values"), "values must be non-empty for the In and NotIn operators");
            }
            SelectorOperator::Exists | SelectorOperator::DoesNotExist if !r.values.is_empty() => {
                d.err(obj, format!("{at}.values"), "values must be empty for the Exists and DoesNotExist operators");
            }
            _ => {}
        }
        let mut values = Vec::new();
        for (j, v) in r.values.iter().enumerate() {
            if let Err(m) = parse::check_label_value(v) {
                d.err(obj, format!("{at}.values[{j}]"), m);
            }
            if values.contains(v) {
                d.err(obj, format!("{at}.values[{j}]"), format!("duplicate value \"{v}\""));
            } else {
                values.push(v.clone());
            }
        }
        values.sort();
        let req = SelectorRequirement { key, operator, values };
        if expressions.contains(&req) {
            d.err(obj, at, "duplicate match expression");
        } else {
            expressions.push(req);
        }
    }
    LabelSelector { match_labels: raw.match_labels.clone(), match_expressions: expressions }
}

/// A list of selectors (`nodeSelectors`, `serviceSelectors`, ...); duplicates are refused as
/// MetalLB's `validateLabelSelectorDuplicate` does.
pub(crate) fn selectors(d: &mut Diags, obj: usize, base: &str, raws: &[raw::LabelSelector]) -> Vec<LabelSelector> {
    let mut out: Vec<LabelSelector> = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        let s = selector(d, obj, &format!("{base}[{i}]"), r);
        if out.contains(&s) {
            d.err(obj, format!("{base}[{i}]"), format!("duplicate selector \"{s}\""));
        } else {
            out.push(s);
        }
    }
    out
}

/// A list of names in which duplicates are refused (MetalLB's `validateDuplicate`).
pub(crate) fn unique_names(d: &mut Diags, obj: usize, base: &str, what: &str, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if out.contains(n) {
            d.err(obj, format!("{base}[{i}]"), format!("duplicate {what} \"{n}\""));
        } else {
            out.push(n.clone());
        }
    }
    out
}

/// A Go duration, in nanoseconds; negative durations are refused.
pub(crate) fn duration_ns(d: &mut Diags, obj: usize, field: &str, s: Option<&str>) -> Option<i128> {
    let s = s?;
    match parse::parse_go_duration(s) {
        Ok(ns) if ns < 0 => {
            d.err(obj, field, format!("\"{s}\" is negative"));
            None
        }
        Ok(ns) => Some(ns),
        Err(m) => {
            d.err(obj, field, m);
            None
        }
    }
}

/// Nanoseconds to milliseconds (saturating).
pub(crate) fn ms(ns: i128) -> u32 {
    u32::try_from(ns / 1_000_000).unwrap_or(u32::MAX)
}

/// A duration for messages: `2.5s`, `90s`.
pub(crate) fn show_duration(ns: i128) -> String {
    if ns % 1_000_000_000 == 0 { format!("{}s", ns / 1_000_000_000) } else { format!("{}ms", ns / 1_000_000) }
}
