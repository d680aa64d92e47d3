#![doc = include_str!("../README.md")]

mod wording;

use ws3_policy_sdk::prelude::*;
use ws3_policy_sdk::shape::{DefaultDeny, NetworkPolicy};

use wording::{policy_name, words};

const NAMESPACE: KindRef = KindRef::new("", "Namespace");
const NETWORK_POLICY: KindRef = KindRef::new("networking.k8s.io", "NetworkPolicy");

/// Every namespace denies all ingress and egress by default with `podSelector: {}` NetworkPolicies.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceDefaultDeny;

impl Rule for NamespaceDefaultDeny {
    const META: Meta = Meta {
        id: "namespace-default-deny",
        title: "namespace without a default-deny networkpolicy for ingress and egress",
        severity: Severity::Error,
        // Refusing workloads in an uncovered namespace only makes sense when they are created;
        // the policies are judged when they change or go.
        applies_to: &[
            Scope::new(NAMESPACE, Operations::CREATE),
            Scope::new(NETWORK_POLICY, Operations::UPDATE.with(Operations::DELETE)),
            Scope::new(KindRef::new("", "Pod"), Operations::CREATE),
        ],
        workloads: Operations::CREATE,
        reads: &[NETWORK_POLICY, NAMESPACE],
        // These have no default-deny policy by design: the control plane's own traffic.
        exempt_namespaces: &["kube-system", "kube-public", "kube-node-lease"],
        rationale: "Kubernetes allows all pod traffic until a NetworkPolicy selects a pod: without a \
            default deny of ingress and egress, any pod can reach the database and a compromised pod \
            can connect anywhere. A `podSelector: {}` policy denying both directions, followed by \
            narrow allow policies, limits each pod to the traffic it needs.",
        docs: include_str!("../README.md"),
    };

    fn validate(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
        match req.kind() {
            "Namespace" => review_namespace(req, cluster),
            "NetworkPolicy" => review_policy(req, cluster),
            kind => review_workload(kind, req, cluster),
        }
    }
}

ws3_policy_sdk::export_rule!(NamespaceDefaultDeny);

/// What the NetworkPolicies of a namespace deny. Remembered per file set or review: the
/// policies of a namespace with ten thousand workloads are read and judged once.
fn coverage_of(
    req: &Request,
    cluster: &dyn Cluster,
    namespace: &str,
) -> Result<DefaultDeny, Error> {
    req.memo(&format!("coverage/{namespace}"), || {
        Ok(DefaultDeny::of(
            &cluster.list_as::<NetworkPolicy>(NETWORK_POLICY, namespace)?,
        ))
    })
}

/// What to create so that the missing directions are denied.
fn create_hint(namespace: &str, missing: DefaultDeny) -> String {
    format!(
        "create networkpolicy {:?} in namespace {namespace:?} with podSelector: {{}}, \
         policyTypes: {} and no rules, then allow needed traffic with narrow policies",
        policy_name(missing),
        missing.policy_types(),
    )
}

/// A finding about the Namespace `namespace`.
fn finding(message: String, path: &str, hint: String, namespace: &str) -> Finding {
    NamespaceDefaultDeny::finding(message, path, hint).about(ObjectRef::namespace(namespace))
}

/// Offline, a Namespace object reports its namespace; at admission, a new one gets a warning.
fn review_namespace(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
    let ns = req.namespace.as_str();
    let created = match req.operation {
        Operation::Lint => false,
        Operation::Create => true,
        Operation::Update | Operation::Delete => return Ok(vec![]),
    };
    let coverage = coverage_of(req, cluster, ns)?;
    if coverage.is_complete() {
        return Ok(vec![]);
    }
    let missing = coverage.missing();
    let hint = create_hint(ns, missing);
    Ok(vec![if created {
        finding(
            format!(
                "new namespace {ns:?} has no default-deny networkpolicy for {} yet",
                words(missing)
            ),
            "metadata.name",
            format!("right after creating it, {hint}; workloads are refused until then"),
            ns,
        )
        .with_severity(Severity::Warning)
    } else {
        finding(
            format!(
                "namespace {ns:?} has no default-deny networkpolicy for {}",
                words(missing)
            ),
            "metadata.name",
            hint,
            ns,
        )
    }])
}

/// A workload reports its namespace offline when the files hold no Namespace object for it, and
/// is refused at creation in a namespace that is not covered.
fn review_workload(
    kind: &str,
    req: &Request,
    cluster: &dyn Cluster,
) -> Result<Vec<Finding>, Error> {
    if !matches!(req.operation, Operation::Lint | Operation::Create) {
        return Ok(vec![]); // never block fixing or removing existing workloads
    }
    if req.object.is_none() || req.pod_template.is_none() {
        return Ok(vec![]);
    }
    // Only the metadata matters here: the pod template is other rules' business.
    let metadata = req.metadata()?;
    let ns = req.namespace.as_str();
    if req.operation == Operation::Lint && cluster.get_json(NAMESPACE, "", ns)?.is_some() {
        return Ok(vec![]); // the Namespace object reports it
    }
    let coverage = coverage_of(req, cluster, ns)?;
    if coverage.is_complete() {
        return Ok(vec![]);
    }
    let missing = coverage.missing();
    let message = format!(
        "namespace {ns:?} of {} has no default-deny networkpolicy for {}",
        metadata.describe(&kind.to_lowercase()),
        words(missing),
    );
    Ok(vec![finding(
        message,
        "metadata.namespace",
        create_hint(ns, missing),
        ns,
    )])
}

/// Deleting or weakening the policies that cover a namespace is refused.
fn review_policy(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
    let Some((old, new)) = req.change_as::<NetworkPolicy>()? else {
        return Ok(vec![]);
    };
    let path = if req.operation == Operation::Delete {
        "metadata.name"
    } else {
        "spec"
    };
    let ns = req.namespace.as_str();
    let name = old.metadata.name_or_prefix();
    // The cache may or may not hold the reviewed policy (old or new version): replace it by name.
    let others: Vec<NetworkPolicy> = cluster
        .list_as::<NetworkPolicy>(NETWORK_POLICY, ns)?
        .into_iter()
        .filter(|p| p.metadata.name != name)
        .collect();
    let before = DefaultDeny::of(others.iter().chain([&old]));
    let after = DefaultDeny::of(others.iter().chain(new.as_ref()));
    if !before.is_complete() || after.is_complete() {
        return Ok(vec![]);
    }
    let lost = before.minus(after);
    let (message, hint) = if new.is_none() {
        (
            format!(
                "deleting networkpolicy {name:?} removes the default deny of {} in namespace {ns:?}",
                words(lost)
            ),
            format!(
                "first create another policy with podSelector: {{}}, policyTypes: {} and no rules, \
                 or keep {name:?}",
                lost.policy_types()
            ),
        )
    } else {
        (
            format!(
                "this change to networkpolicy {name:?} removes the default deny of {} in namespace {ns:?}",
                words(lost)
            ),
            format!(
                "keep podSelector: {{}}, policyTypes: {} and no {} rules in {name:?}, or first \
                 create another policy that denies {}",
                lost.policy_types(),
                words(lost),
                words(lost)
            ),
        )
    };
    Ok(vec![finding(message, path, hint, ns)])
}

#[cfg(test)]
mod tests;
