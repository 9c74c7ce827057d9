//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) matched against a list of
//! labels: a node's, a pool's or a service's.

use crate::bytes::{contains, eq};
use crate::types::{Label, LabelSelector, SelectorOperator};

/// The value of label `key` in `labels`, if present (the first one, should a key repeat).
pub(crate) fn value<'a>(labels: &'a [Label], key: &str) -> Option<&'a str> {
    labels.iter().find(|l| eq(&l.key, key)).map(|l| l.value.as_str())
}

/// Whether `sel` matches `labels` (Kubernetes semantics; the empty selector matches everything).
pub(crate) fn matches(sel: &LabelSelector, labels: &[Label]) -> bool {
    sel.match_labels.iter().all(|l| value(labels, &l.key).is_some_and(|v| eq(v, &l.value)))
        && sel.match_expressions.iter().all(|r| {
            let v = value(labels, &r.key);
            match r.operator {
                SelectorOperator::In => v.is_some_and(|v| contains(&r.values, v)),
                SelectorOperator::NotIn => v.is_none_or(|v| !contains(&r.values, v)),
                SelectorOperator::Exists => v.is_some(),
                SelectorOperator::DoesNotExist => v.is_none(),
            }
        })
}

/// MetalLB's list-of-selectors rule (`nodeSelectors`, `serviceSelectors`): an empty list
/// matches everything, otherwise any one selector matching is enough.
pub(crate) fn any_matches(sels: &[LabelSelector], labels: &[Label]) -> bool {
    sels.is_empty() || sels.iter().any(|s| matches(s, labels))
}

/// Whether two selectors are written identically (used only to compare node selectors when the
/// configuration lists no nodes).
pub(crate) fn same(a: &LabelSelector, b: &LabelSelector) -> bool {
    a.match_labels.len() == b.match_labels.len()
        && a.match_labels.iter().zip(&b.match_labels).all(|(x, y)| eq(&x.key, &y.key) && eq(&x.value, &y.value))
        && a.match_expressions.len() == b.match_expressions.len()
        && a.match_expressions.iter().zip(&b.match_expressions).all(|(x, y)| {
            eq(&x.key, &y.key)
                && x.operator == y.operator
                && x.values.len() == y.values.len()
                && x.values.iter().zip(&y.values).all(|(p, q)| eq(p, q))
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

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: vec![],
            match_expressions: vec![SelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| (*v).into()).collect(),
            }],
        }
    }

    #[test]
    fn empty_selector_and_empty_list_match_everything() {
        assert!(matches(&LabelSelector::default(), &[]));
        assert!(any_matches(&[], &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let sel = LabelSelector::labels(&[("zone", "east"), ("tier", "web")]);
        assert!(matches(&sel, &labels(&[("tier", "web"), ("zone", "east"), ("x", "y")])));
        assert!(!matches(&sel, &labels(&[("zone", "east")])));
        assert!(!matches(&sel, &labels(&[("zone", "west"), ("tier", "web")])));
    }

    #[test]
    fn expressions() {
        let l = labels(&[("security", "S1"), ("env", "")]);
        assert!(matches(&req("security", SelectorOperator::In, &["S1", "S2"]), &l));
        assert!(!matches(&req("security", SelectorOperator::In, &["S2"]), &l));
        assert!(!matches(&req("missing", SelectorOperator::In, &["S1"]), &l));
        assert!(matches(&req("security", SelectorOperator::NotIn, &["S2"]), &l));
        assert!(!matches(&req("security", SelectorOperator::NotIn, &["S1"]), &l));
        assert!(matches(&req("missing", SelectorOperator::NotIn, &["S1"]), &l));
        assert!(matches(&req("env", SelectorOperator::Exists, &[]), &l));
        assert!(!matches(&req("missing", SelectorOperator::Exists, &[]), &l));
        assert!(matches(&req("missing", SelectorOperator::DoesNotExist, &[]), &l));
        assert!(!matches(&req("env", SelectorOperator::DoesNotExist, &[]), &l));
    }

    #[test]
    fn a_list_matches_when_any_selector_does() {
        let sels = [LabelSelector::labels(&[("zone", "a")]), LabelSelector::labels(&[("zone", "b")])];
        assert!(any_matches(&sels, &labels(&[("zone", "b")])));
        assert!(!any_matches(&sels, &labels(&[("zone", "c")])));
    }

    #[test]
    fn selectors_compare_as_written() {
        let a = LabelSelector::labels(&[("zone", "a")]);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &LabelSelector::labels(&[("zone", "b")])));
        assert!(!same(&a, &req("zone", SelectorOperator::Exists, &[])));
    }
}
