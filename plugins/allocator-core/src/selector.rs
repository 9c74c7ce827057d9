//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) and the label sets they are
//! matched against: a service's labels, a namespace's labels, or the compact copy of a service's
//! labels the allocator keeps to re-check admission when pools change.

use alloc::boxed::Box;
use alloc::string::String;

use crate::bytes::{eq, has_nul, split_nul};
use crate::types::{Label, LabelSelector, SelectorOperator};

/// The label Kubernetes puts on every namespace (since 1.21): `kubernetes.io/metadata.name`.
pub(crate) const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Something that answers "what is the value of label `key`".
pub(crate) trait Labels {
    /// The value of `key`, if the label is present.
    fn value(&self, key: &str) -> Option<&str>;
}

/// A plain list of labels.
pub(crate) struct LabelSlice<'a>(pub &'a [Label]);

impl Labels for LabelSlice<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        find(self.0, key)
    }
}

fn find<'a>(labels: &'a [Label], key: &str) -> Option<&'a str> {
    labels.iter().find(|l| eq(&l.key, key)).map(|l| l.value.as_str())
}

/// A namespace's labels plus the implicit `kubernetes.io/metadata.name: <name>`.
pub(crate) struct NamespaceLabels<'a> {
    /// The namespace name.
    pub name: &'a str,
    /// Its labels as configured (empty for a namespace the configuration does not list).
    pub labels: &'a [Label],
}

impl Labels for NamespaceLabels<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        find(self.labels, key).or_else(|| eq(key, NAMESPACE_NAME_LABEL).then_some(self.name))
    }
}

/// A service's labels packed into one string (`key\0value\0key\0value`), a tenth of the memory
/// of a `Vec<Label>`; kept per allocation for re-checking `serviceSelectors` on reconfigure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompactLabels(Box<str>);

impl CompactLabels {
    /// Packs labels; `None` if a key or value contains NUL (they cannot be told apart then; the
    /// labels count as unknown).
    pub fn pack(labels: &[Label]) -> Option<CompactLabels> {
        let mut s = String::new();
        for l in labels {
            if has_nul(&l.key) || has_nul(&l.value) {
                return None;
            }
            if !s.is_empty() {
                s.push('\0');
            }
            s.push_str(&l.key);
            s.push('\0');
            s.push_str(&l.value);
        }
        Some(CompactLabels(s.into_boxed_str()))
    }
}

impl Labels for CompactLabels {
    fn value(&self, key: &str) -> Option<&str> {
        if self.0.is_empty() {
            return None;
        }
        let mut rest: &str = &self.0;
        loop {
            let (k, after) = split_nul(rest)?;
            let (v, next) = match split_nul(after) {
                Some((v, next)) => (v, Some(next)),
                None => (after, None),
            };
            if eq(k, key) {
                return Some(v);
            }
            rest = next?;
        }
    }
}

/// Whether `sel` matches `labels` (Kubernetes semantics; the empty selector matches everything).
pub(crate) fn matches(sel: &LabelSelector, labels: &dyn Labels) -> bool {
    sel.match_labels.iter().all(|l| labels.value(&l.key).is_some_and(|v| eq(v, &l.value)))
        && sel.match_expressions.iter().all(|r| {
            let v = labels.value(&r.key);
            match r.operator {
                SelectorOperator::In => v.is_some_and(|v| r.values.iter().any(|x| eq(x, v))),
                SelectorOperator::NotIn => v.is_none_or(|v| !r.values.iter().any(|x| eq(x, v))),
                SelectorOperator::Exists => v.is_some(),
                SelectorOperator::DoesNotExist => v.is_none(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SelectorRequirement;
    use alloc::vec;
    use alloc::vec::Vec;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(k, v)| Label::new(*k, *v)).collect()
    }

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement { key: key.into(), operator, values: values.iter().map(|v| (*v).into()).collect() }
    }

    #[test]
    fn empty_selector_matches_everything() {
        let sel = LabelSelector::default();
        assert!(matches(&sel, &LabelSlice(&labels(&[]))));
        assert!(matches(&sel, &LabelSlice(&labels(&[("a", "b")]))));
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let sel = LabelSelector { match_labels: labels(&[("team", "a"), ("tier", "web")]), ..Default::default() };
        assert!(matches(&sel, &LabelSlice(&labels(&[("team", "a"), ("tier", "web"), ("x", "y")]))));
        assert!(!matches(&sel, &LabelSlice(&labels(&[("team", "a")]))));
        assert!(!matches(&sel, &LabelSlice(&labels(&[("team", "b"), ("tier", "web")]))));
    }

    #[test]
    fn expressions() {
        let l = labels(&[("security", "S1"), ("env", "")]);
        let m = |r: SelectorRequirement| {
            matches(&LabelSelector { match_labels: vec![], match_expressions: vec![r] }, &LabelSlice(&l))
        };
        assert!(m(req("security", SelectorOperator::In, &["S1", "S2"])));
        assert!(!m(req("security", SelectorOperator::In, &["S2"])));
        assert!(!m(req("missing", SelectorOperator::In, &["S1"])));
        assert!(m(req("security", SelectorOperator::NotIn, &["S2"])));
        assert!(!m(req("security", SelectorOperator::NotIn, &["S1"])));
        assert!(m(req("missing", SelectorOperator::NotIn, &["S1"])));
        assert!(m(req("env", SelectorOperator::Exists, &[])));
        assert!(!m(req("missing", SelectorOperator::Exists, &[])));
        assert!(m(req("missing", SelectorOperator::DoesNotExist, &[])));
        assert!(!m(req("env", SelectorOperator::DoesNotExist, &[])));
    }

    #[test]
    fn namespaces_carry_their_name_label() {
        let sel = LabelSelector { match_labels: labels(&[(NAMESPACE_NAME_LABEL, "prod")]), ..Default::default() };
        assert!(matches(&sel, &NamespaceLabels { name: "prod", labels: &[] }));
        assert!(!matches(&sel, &NamespaceLabels { name: "dev", labels: &[] }));
    }

    #[test]
    fn compact_labels_answer_like_the_originals() {
        let l = labels(&[("a", "1"), ("b", ""), ("c", "3")]);
        let c = CompactLabels::pack(&l).expect("no NUL");
        for k in ["a", "b", "c", "d"] {
            assert_eq!(c.value(k), LabelSlice(&l).value(k));
        }
        let empty = CompactLabels::pack(&[]).expect("empty");
        assert_eq!(empty.value(""), None);
        assert!(CompactLabels::pack(&labels(&[("a\0b", "c")])).is_none());
    }
}
