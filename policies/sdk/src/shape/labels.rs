//! Labels and label selectors: which pods a selector picks, and selectors as `kubectl` writes
//! them.

use std::collections::BTreeMap;

use super::LabelSelector;

/// A label map: `metadata.labels`, a Service's `selector`, a `matchLabels`.
pub type Labels = BTreeMap<String, String>;

/// Whether every `key=value` of `selector` is among `labels` (an equality-based selector, as a
/// Service's `spec.selector` or a `matchLabels`). An empty selector matches every label set: a
/// caller for which it selects nothing (a Service without a selector) checks that first.
pub fn matches_labels(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Labels as a selector string, `k=v,k2=v2` in key order (empty for no labels).
pub fn selector_string(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl LabelSelector {
    /// Whether the selector selects every pod: no `matchLabels` and no `matchExpressions`
    /// (`{}`; a missing selector, which the API defaults to `{}`, is the caller's `None`).
    pub fn selects_all(&self) -> bool {
        self.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && self.match_expressions.as_ref().is_none_or(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_equality_selector_matches_a_superset_of_its_labels() {
        let pods = labels(&[("app", "db"), ("tier", "data")]);
        assert!(matches_labels(&labels(&[("app", "db")]), &pods));
        assert!(matches_labels(&pods, &pods));
        assert!(matches_labels(&Labels::new(), &pods));
        assert!(!matches_labels(&labels(&[("app", "web")]), &pods));
        assert!(!matches_labels(&labels(&[("role", "db")]), &pods));
        assert!(!matches_labels(&labels(&[("app", "db")]), &Labels::new()));
    }

    #[test]
    fn selector_strings_are_comma_separated_pairs_in_key_order() {
        assert_eq!(
            selector_string(&labels(&[("tier", "data"), ("app", "db")])),
            "app=db,tier=data"
        );
        assert_eq!(selector_string(&Labels::new()), "");
    }

    #[test]
    fn only_an_empty_selector_selects_all_pods() {
        let of = |json: &str| serde_json::from_str::<LabelSelector>(json).unwrap();
        assert!(of("{}").selects_all());
        assert!(of(r#"{"matchLabels":{},"matchExpressions":[]}"#).selects_all());
        assert!(of(r#"{"matchLabels":null,"matchExpressions":null}"#).selects_all());
        assert!(!of(r#"{"matchLabels":{"app":"db"}}"#).selects_all());
        assert!(!of(r#"{"matchExpressions":[{"key":"app","operator":"Exists"}]}"#).selects_all());
    }
}
