//! Which directions of traffic a set of NetworkPolicies denies for every pod of a namespace.

use ws3_policy_sdk::shape::{NetworkPolicy, NetworkPolicySpec};

/// The default denies that a set of policies provides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Coverage {
    /// All ingress to all pods is denied unless another policy allows it.
    pub(crate) ingress: bool,
    /// All egress from all pods is denied unless another policy allows it.
    pub(crate) egress: bool,
}

impl Coverage {
    /// What the given policies deny together.
    pub(crate) fn of<'a>(policies: impl IntoIterator<Item = &'a NetworkPolicy>) -> Self {
        policies.into_iter().fold(Self::default(), |acc, p| {
            let one = Self::of_policy(p);
            Self {
                ingress: acc.ingress || one.ingress,
                egress: acc.egress || one.egress,
            }
        })
    }

    /// What one policy denies: nothing unless it selects every pod (`podSelector: {}`, or no
    /// selector at all, which the API defaults to `{}`).
    fn of_policy(policy: &NetworkPolicy) -> Self {
        let default_spec = NetworkPolicySpec::default();
        let spec = policy.spec.as_ref().unwrap_or(&default_spec);
        let selects_all = spec.pod_selector.as_ref().is_none_or(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
        });
        if !selects_all {
            return Self::default();
        }
        // An omitted or empty `policyTypes` defaults to `Ingress`, plus `Egress` only when egress
        // rules are given, and those rules would allow traffic anyway.
        let types = spec.policy_types.as_deref().unwrap_or_default();
        let has = |t: &str| types.iter().any(|x| x == t);
        Self {
            ingress: (types.is_empty() || has("Ingress"))
                && spec.ingress.as_ref().is_none_or(Vec::is_empty),
            egress: has("Egress") && spec.egress.as_ref().is_none_or(Vec::is_empty),
        }
    }

    /// Both directions are denied.
    pub(crate) fn is_complete(self) -> bool {
        self.ingress && self.egress
    }

    /// The directions this coverage has and `other` lacks.
    pub(crate) fn minus(self, other: Self) -> Self {
        Self {
            ingress: self.ingress && !other.ingress,
            egress: self.egress && !other.egress,
        }
    }

    /// The directions not denied.
    pub(crate) fn missing(self) -> Self {
        Self {
            ingress: !self.ingress,
            egress: !self.egress,
        }
    }

    /// The directions set, in words: `ingress and egress`, `ingress`, `egress` or `nothing`.
    pub(crate) fn words(self) -> &'static str {
        match (self.ingress, self.egress) {
            (true, true) => "ingress and egress",
            (true, false) => "ingress",
            (false, true) => "egress",
            (false, false) => "nothing",
        }
    }

    /// The `policyTypes` value for the directions set, e.g. `[Ingress, Egress]`.
    pub(crate) fn policy_types(self) -> &'static str {
        match (self.ingress, self.egress) {
            (true, false) => "[Ingress]",
            (false, true) => "[Egress]",
            _ => "[Ingress, Egress]",
        }
    }

    /// A name for a policy that denies the directions set.
    pub(crate) fn policy_name(self) -> &'static str {
        match (self.ingress, self.egress) {
            (true, false) => "default-deny-ingress",
            (false, true) => "default-deny-egress",
            _ => "default-deny",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Coverage, NetworkPolicy};

    fn policy(spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
        }))
        .expect("valid NetworkPolicy")
    }

    fn of(spec: serde_json::Value) -> (bool, bool) {
        let c = Coverage::of([&policy(spec)]);
        (c.ingress, c.egress)
    }

    #[test]
    fn the_course_default_deny_denies_both_directions() {
        assert_eq!(
            of(serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})),
            (true, true)
        );
        // explicit empty rule lists are no rules
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []})
            ),
            (true, true)
        );
    }

    #[test]
    fn omitted_policy_types_mean_ingress_only() {
        assert_eq!(of(serde_json::json!({"podSelector": {}})), (true, false));
        assert_eq!(
            of(serde_json::json!({"podSelector": {}, "policyTypes": []})),
            (true, false)
        );
        assert_eq!(
            of(serde_json::json!({"podSelector": {}, "egress": []})),
            (true, false)
        );
        // no spec at all: the API defaults to an empty selector and Ingress
        let bare: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"}
        }))
        .expect("valid NetworkPolicy");
        assert_eq!(
            Coverage::of([&bare]),
            Coverage {
                ingress: true,
                egress: false
            }
        );
    }

    #[test]
    fn an_egress_only_policy_denies_egress_only() {
        assert_eq!(
            of(serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"]})),
            (false, true)
        );
    }

    #[test]
    fn a_missing_or_empty_selector_selects_all_pods() {
        assert_eq!(
            of(serde_json::json!({"policyTypes": ["Ingress", "Egress"]})),
            (true, true)
        );
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {"matchLabels": {}, "matchExpressions": []}, "policyTypes": ["Ingress", "Egress"]})
            ),
            (true, true)
        );
    }

    #[test]
    fn a_selector_with_labels_or_expressions_covers_nothing() {
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"]})
            ),
            (false, false)
        );
        let expr = serde_json::json!({"key": "app", "operator": "Exists"});
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {"matchExpressions": [expr]}, "policyTypes": ["Ingress", "Egress"]})
            ),
            (false, false)
        );
    }

    #[test]
    fn a_rule_allows_traffic_even_when_empty() {
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]})
            ),
            (false, true)
        );
        assert_eq!(
            of(
                serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{"ports": [{"port": 53}]}]})
            ),
            (true, false)
        );
    }

    #[test]
    fn coverage_adds_up_over_policies() {
        let ingress = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        let egress = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert!(Coverage::of([&ingress, &egress]).is_complete());
        assert!(!Coverage::of([&ingress]).is_complete());
        assert!(!Coverage::of([]).is_complete());
    }

    #[test]
    fn words_and_suggestions_follow_the_directions() {
        let both = Coverage {
            ingress: true,
            egress: true,
        };
        let egress = Coverage {
            ingress: false,
            egress: true,
        };
        assert_eq!(both.words(), "ingress and egress");
        assert_eq!(egress.words(), "egress");
        assert_eq!(both.minus(egress).words(), "ingress");
        assert_eq!(egress.missing().words(), "ingress");
        assert_eq!(Coverage::default().missing(), both);
        assert_eq!(both.policy_types(), "[Ingress, Egress]");
        assert_eq!(egress.policy_types(), "[Egress]");
        assert_eq!(egress.policy_name(), "default-deny-egress");
        assert_eq!(both.policy_name(), "default-deny");
    }
}
