#![doc = include_str!("../README.md")]

use serde::de::IgnoredAny;
use ws3_policy_sdk::prelude::*;
use ws3_policy_sdk::shape::{Labels, Service, StatefulSet, matches_labels, selector_string};

const STATEFUL_SET: KindRef = KindRef::new("apps", "StatefulSet");
const SERVICE: KindRef = KindRef::new("", "Service");

/// A StatefulSet names an existing headless Service that selects its pods.
#[derive(Debug, Clone, Copy)]
pub struct StatefulSetHeadlessService;

impl Rule for StatefulSetHeadlessService {
    const META: Meta = Meta {
        id: "statefulset-headless-service",
        title: "statefulset without a matching headless service",
        severity: Severity::Error,
        applies_to: &[
            Scope::new(STATEFUL_SET, Operations::CREATE.with(Operations::UPDATE)),
            Scope::new(SERVICE, Operations::UPDATE.with(Operations::DELETE)),
        ],
        workloads: Operations::NONE,
        reads: &[SERVICE, STATEFUL_SET],
        exempt_namespaces: &[],
        rationale: "A StatefulSet's pods get their stable DNS names (`db-0.db-headless.ns.svc`) from \
            the headless Service named in `spec.serviceName`. Without that Service, or with one that \
            has a cluster IP or does not select the pods, the names never resolve, and the API \
            server accepts such a StatefulSet without complaint.",
        docs: include_str!("../README.md"),
    };

    fn validate(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
        match req.kind() {
            "StatefulSet" => review_statefulset(req, cluster),
            "Service" => review_service(req, cluster),
            _ => Ok(vec![]), // e.g. a `Scale` sent for a StatefulSet
        }
    }
}

ws3_policy_sdk::export_rule!(StatefulSetHeadlessService);

/// What the headless Service should select, for hints.
fn selector_hint(labels: &Labels) -> String {
    if labels.is_empty() {
        "selector matching the pod template labels".to_owned()
    } else {
        format!("selector {}", selector_string(labels))
    }
}

/// A StatefulSet read for its name, `serviceName` and pod labels; serde skips the pod spec.
type LeanStatefulSet = StatefulSet<IgnoredAny>;

fn review_statefulset(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
    // No object on delete: removing a StatefulSet is never blocked.
    let Some(sts) = req.object_as::<LeanStatefulSet>()? else {
        return Ok(vec![]);
    };
    let ns = req.namespace.as_str();
    let sts_name = sts.metadata.describe("statefulset");
    let spec = sts.spec;
    let labels = spec.template.metadata.labels;
    let service_path = "spec.serviceName";

    let Some(service_name) = spec.service_name.as_deref().filter(|n| !n.is_empty()) else {
        let path = if spec.service_name.is_some() {
            service_path
        } else {
            "spec"
        };
        return Ok(vec![StatefulSetHeadlessService::finding(
            format!("{sts_name} names no headless service in serviceName"),
            path,
            format!(
                "create a headless service (clusterIP: None, {}) before the statefulset and put \
                 its name in spec.serviceName",
                selector_hint(&labels)
            ),
        )]);
    };

    let Some(service) = cluster.get_as::<Service>(SERVICE, ns, service_name)? else {
        return Ok(vec![StatefulSetHeadlessService::finding(
            format!(
                "{sts_name} names service {service_name:?} in serviceName, but there is \
                 no such service in namespace {ns:?}"
            ),
            service_path,
            format!(
                "create headless service {service_name:?} (clusterIP: None, {}) before the \
                 statefulset",
                selector_hint(&labels)
            ),
        )]);
    };

    if let Some(why) = service.not_headless() {
        return Ok(vec![StatefulSetHeadlessService::finding(
            format!(
                "service {service_name:?} named by {sts_name} is not headless: {}",
                why
            ),
            service_path,
            format!(
                "name a headless service (clusterIP: None, {}) in serviceName; a cluster IP \
                 cannot be removed in place, so create a new one such as \"{service_name}-headless\"",
                selector_hint(&labels)
            ),
        )]);
    }

    let selector = service.selector();
    let mismatch = if selector.is_empty() {
        Some(format!(
            "headless service {service_name:?} named by {sts_name} has no selector, so \
             its pods get no dns records"
        ))
    } else if !matches_labels(&selector, &labels) {
        Some(format!(
            "selector {} of headless service {service_name:?} does not match the pod labels of \
             {sts_name} ({})",
            selector_string(&selector),
            if labels.is_empty() {
                "none".to_owned()
            } else {
                selector_string(&labels)
            }
        ))
    } else {
        None
    };
    Ok(mismatch
        .map(|message| {
            StatefulSetHeadlessService::finding(
                message,
                service_path,
                format!("give service {service_name:?} a {}", selector_hint(&labels)),
            )
        })
        .into_iter()
        .collect())
}

/// Deleting a headless Service that StatefulSets name, or making it not headless, is refused.
fn review_service(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
    let Some((old, new)) = req.change_as::<Service>()? else {
        return Ok(vec![]);
    };
    // `None`: deleted; `Some(None)`: still headless.
    let change = new.as_ref().map(Service::not_headless);
    if !old.is_headless() || matches!(change, Some(None)) {
        return Ok(vec![]);
    }
    let ns = req.namespace.as_str();
    let service_name = old.metadata.name_or_prefix();
    let users: Vec<String> = cluster
        .list_as::<LeanStatefulSet>(STATEFUL_SET, ns)?
        .into_iter()
        .filter_map(|sts| {
            let name = format!("{:?}", sts.metadata.name_or_prefix());
            (sts.spec.service_name.as_deref() == Some(service_name)).then_some(name)
        })
        .collect();
    if users.is_empty() {
        return Ok(vec![]);
    }
    let (noun, verb) = if users.len() == 1 {
        ("statefulset", "names")
    } else {
        ("statefulsets", "name")
    };
    let users = users.join(", ");
    Ok(vec![match change.flatten() {
        None => StatefulSetHeadlessService::finding(
            format!(
                "deleting headless service {service_name:?} breaks {noun} {users}, which {verb} it in \
                 serviceName"
            ),
            "metadata.name",
            format!("delete {noun} {users} first, or keep the service"),
        ),
        Some(why) => StatefulSetHeadlessService::finding(
            format!(
                "service {service_name:?} would no longer be headless ({why}), but {noun} {users} \
                     {verb} it in serviceName"
            ),
            why.path(),
            format!(
                "keep clusterIP: None on {service_name:?}; give other clients a separate service"
            ),
        ),
    }])
}

#[cfg(test)]
mod tests;
