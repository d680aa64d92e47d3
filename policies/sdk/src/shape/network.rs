//! What NetworkPolicies deny by default: a policy isolates the pods it selects for each of its
//! `policyTypes`, and allows only the traffic its rules list.

use super::{NetworkPolicy, NetworkPolicySpec};

/// The directions of traffic that a set of NetworkPolicies denies by default for every pod of
/// their namespace: a policy with `podSelector: {}` (or none) and no rules for the direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultDeny {
    /// All ingress to all pods is denied unless another policy allows it.
    pub ingress: bool,
    /// All egress from all pods is denied unless another policy allows it.
    pub egress: bool,
}

impl DefaultDeny {
    /// What the given policies deny together.
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a NetworkPolicy>) -> Self {
        policies.into_iter().fold(Self::default(), |acc, p| {
            let one = p.default_deny();
            Self {
                ingress: acc.ingress || one.ingress,
                egress: acc.egress || one.egress,
            }
        })
    }

    /// Both directions are denied.
    pub fn is_complete(self) -> bool {
        self.ingress && self.egress
    }

    /// The directions denied here and not in `other`.
    #[must_use]
    pub fn minus(self, other: Self) -> Self {
        Self {
            ingress: self.ingress && !other.ingress,
            egress: self.egress && !other.egress,
        }
    }

    /// The directions not denied.
    #[must_use]
    pub fn missing(self) -> Self {
        Self {
            ingress: !self.ingress,
            egress: !self.egress,
        }
    }

    /// The `policyTypes` of a policy denying the directions set, e.g. `[Ingress, Egress]` (both
    /// when none is set).
    pub fn policy_types(self) -> &'static str {
        match (self.ingress, self.egress) {
            (true, false) => "[Ingress]",
            (false, true) => "[Egress]",
            _ => "[Ingress, Egress]",
        }
    }
}

impl NetworkPolicy {
    /// What this policy denies by default: nothing unless it selects every pod (see
    /// [`NetworkPolicySpec::selects_all_pods`]); then each of its `policyTypes` without rules.
    pub fn default_deny(&self) -> DefaultDeny {
        let default_spec = NetworkPolicySpec::default();
        let spec = self.spec.as_ref().unwrap_or(&default_spec);
        if !spec.selects_all_pods() {
            return DefaultDeny::default();
        }
        // An omitted or empty `policyTypes` defaults to `Ingress`, plus `Egress` only when egress
        // rules are given, and those rules would allow traffic anyway.
        let types = spec.policy_types.as_deref().unwrap_or_default();
        let has = |t: &str| types.iter().any(|x| x == t);
        DefaultDeny {
            ingress: (types.is_empty() || has("Ingress"))
                && spec.ingress.as_ref().is_none_or(Vec::is_empty),
            egress: has("Egress") && spec.egress.as_ref().is_none_or(Vec::is_empty),
        }
    }
}

impl NetworkPolicySpec {
    /// Whether the policy applies to every pod of its namespace: `podSelector: {}`, or no
    /// selector at all, which the API defaults to `{}`.
    pub fn selects_all_pods(&self) -> bool {
        self.pod_selector
            .as_ref()
            .is_none_or(super::LabelSelector::selects_all)
    }
}

#[cfg(test)]
mod tests {
    use super::{DefaultDeny, NetworkPolicy};

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
        let d = policy(spec).default_deny();
        (d.ingress, d.egress)
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
            DefaultDeny::of([&bare]),
            DefaultDeny {
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
    fn default_denies_add_up_over_policies() {
        let ingress = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        let egress = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"]}));
        assert!(DefaultDeny::of([&ingress, &egress]).is_complete());
        assert!(!DefaultDeny::of([&ingress]).is_complete());
        assert!(!DefaultDeny::of([]).is_complete());
    }

    #[test]
    fn differences_and_policy_types_follow_the_directions() {
        let both = DefaultDeny {
            ingress: true,
            egress: true,
        };
        let egress = DefaultDeny {
            ingress: false,
            egress: true,
        };
        let ingress = DefaultDeny {
            ingress: true,
            egress: false,
        };
        assert_eq!(both.minus(egress), ingress);
        assert_eq!(egress.missing(), ingress);
        assert_eq!(DefaultDeny::default().missing(), both);
        assert_eq!(both.policy_types(), "[Ingress, Egress]");
        assert_eq!(egress.policy_types(), "[Egress]");
        assert_eq!(ingress.policy_types(), "[Ingress]");
    }
}
