//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) matched against a node's labels.

use crate::types::{Label, LabelSelector, SelectorOperator};

/// The value of label `key` in `labels`, if present (the first one, should a key repeat).
pub(crate) fn value<'a>(labels: &'a [Label], key: &str) -> Option<&'a str> {
    labels.iter().find(|l| l.key == key).map(|l| l.value.as_str())
}

/// Whether `sel` matches `labels` (Kubernetes semantics; the empty selector matches everything).
pub(crate) fn matches(sel: &LabelSelector, labels: &[Label]) -> bool {
    sel.match_labels.iter().all(|l| value(labels, &l.key) == Some(l.value.as_str()))
        && sel.match_expressions.iter().all(|r| {
            let v = value(labels, &r.key);
            let listed = |v: &str| r.values.iter().any(|x| x == v);
            match r.operator {
                SelectorOperator::In => v.is_some_and(listed),
                SelectorOperator::NotIn => !v.is_some_and(listed),
                SelectorOperator::Exists => v.is_some(),
                SelectorOperator::DoesNotExist => v.is_none(),
            }
        })
}
