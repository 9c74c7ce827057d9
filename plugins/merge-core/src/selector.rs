//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) against a node's labels: which
//! configurations apply to the node (an FRRConfiguration's `spec.nodeSelector`).

use crate::bytes::eq;
use crate::types::{Label, LabelSelector, SelectorOperator};

fn value<'a>(labels: &'a [Label], key: &str) -> Option<&'a str> {
    labels.iter().find(|l| eq(&l.key, key)).map(|l| l.value.as_str())
}

/// Whether `selector` matches an object with `labels` (the empty selector matches everything).
pub fn matches(selector: &LabelSelector, labels: &[Label]) -> bool {
    selector.match_labels.iter().all(|l| value(labels, &l.key).is_some_and(|v| eq(v, &l.value)))
        && selector.match_expressions.iter().all(|r| {
            let v = value(labels, &r.key);
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
    //! Selector matching against node labels.

    use super::*;
    use crate::types::SelectorRequirement;
    use alloc::string::ToString;
    use alloc::vec;

    fn labels() -> alloc::vec::Vec<Label> {
        vec![Label::new("zone", "east"), Label::new("role", "edge")]
    }

    fn req(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: vec![],
            match_expressions: vec![SelectorRequirement {
                key: key.to_string(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn empty_matches_everything() {
        assert!(matches(&LabelSelector::default(), &[]));
        assert!(matches(&LabelSelector::default(), &labels()));
    }

    #[test]
    fn match_labels_must_all_hold() {
        let s = LabelSelector { match_labels: vec![Label::new("zone", "east")], match_expressions: vec![] };
        assert!(matches(&s, &labels()));
        let s = LabelSelector {
            match_labels: vec![Label::new("zone", "east"), Label::new("role", "core")],
            match_expressions: vec![],
        };
        assert!(!matches(&s, &labels()));
        assert!(!matches(&s, &[]));
    }

    #[test]
    fn expressions() {
        assert!(matches(&req("zone", SelectorOperator::In, &["west", "east"]), &labels()));
        assert!(!matches(&req("zone", SelectorOperator::In, &["west"]), &labels()));
        assert!(!matches(&req("rack", SelectorOperator::In, &["r1"]), &labels()));
        assert!(matches(&req("zone", SelectorOperator::NotIn, &["west"]), &labels()));
        assert!(matches(&req("rack", SelectorOperator::NotIn, &["r1"]), &labels()));
        assert!(!matches(&req("zone", SelectorOperator::NotIn, &["east"]), &labels()));
        assert!(matches(&req("role", SelectorOperator::Exists, &[]), &labels()));
        assert!(!matches(&req("rack", SelectorOperator::Exists, &[]), &labels()));
        assert!(matches(&req("rack", SelectorOperator::DoesNotExist, &[]), &labels()));
        assert!(!matches(&req("zone", SelectorOperator::DoesNotExist, &[]), &labels()));
    }
}
