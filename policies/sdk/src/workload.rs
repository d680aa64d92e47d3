//! Pod templates of workload kinds.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::{Error, KindRef, Path, request::decode};

/// The kinds that carry a pod template (a bare Pod counts).
pub const WORKLOAD_KINDS: &[KindRef] = &[
    KindRef::new("", "Pod"),
    KindRef::new("apps", "Deployment"),
    KindRef::new("apps", "StatefulSet"),
    KindRef::new("apps", "DaemonSet"),
    KindRef::new("apps", "ReplicaSet"),
    KindRef::new("batch", "Job"),
    KindRef::new("batch", "CronJob"),
];

/// The pod template of a workload.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// The workload's kind.
    pub kind: String,
    /// The workload's own metadata.
    pub metadata: ObjectMeta,
    /// Labels of the pods it makes.
    pub labels: BTreeMap<String, String>,
    /// The pod spec.
    pub spec: PodSpec,
    /// JSON path of the pod spec inside the workload, e.g. `spec.template.spec`.
    pub spec_path: Path,
}

/// Whether an object is managed by a controller (e.g. a Pod of a ReplicaSet). Its owner's
/// template was already reviewed, so rules skip it at admission to avoid judging twice.
pub fn is_controlled(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.controller == Some(true)))
}

/// The parts of a workload that hold its pod template: decoding only these skips the rest of the
/// object (selectors, strategies, claim templates, status) at the speed of a scan.
mod shape {
    use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde::Deserialize;

    /// A Pod: the spec is the pod spec.
    #[derive(Deserialize)]
    pub(super) struct Pod {
        #[serde(default)]
        pub metadata: ObjectMeta,
        pub spec: Option<PodSpec>,
    }

    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job: `spec.template`.
    #[derive(Deserialize)]
    pub(super) struct Templated {
        #[serde(default)]
        pub metadata: ObjectMeta,
        pub spec: Option<TemplateSpec>,
    }

    #[derive(Deserialize)]
    pub(super) struct TemplateSpec {
        pub template: Option<PodTemplateSpec>,
    }

    /// CronJob: `spec.jobTemplate.spec.template`.
    #[derive(Deserialize)]
    pub(super) struct CronJob {
        #[serde(default)]
        pub metadata: ObjectMeta,
        pub spec: Option<CronJobSpec>,
    }

    #[derive(Deserialize)]
    pub(super) struct CronJobSpec {
        #[serde(rename = "jobTemplate")]
        pub job_template: Option<JobTemplate>,
    }

    #[derive(Deserialize)]
    pub(super) struct JobTemplate {
        pub spec: Option<TemplateSpec>,
    }
}

/// The pod template of a workload object given as JSON, or `None` for other kinds.
pub fn pod_template(kind: &str, json: &str) -> Result<Option<PodTemplate>, Error> {
    let from_template =
        |metadata: ObjectMeta, template: Option<PodTemplateSpec>, spec_path: Path| {
            let template = template.unwrap_or_default();
            PodTemplate {
                kind: kind.to_owned(),
                metadata,
                labels: template.metadata.and_then(|m| m.labels).unwrap_or_default(),
                spec: template.spec.unwrap_or_default(),
                spec_path,
            }
        };
    Ok(Some(match kind {
        "Pod" => {
            let pod: shape::Pod = decode(kind, json)?;
            PodTemplate {
                kind: kind.to_owned(),
                labels: pod.metadata.labels.clone().unwrap_or_default(),
                metadata: pod.metadata,
                spec: pod.spec.unwrap_or_default(),
                spec_path: Path::root().key("spec"),
            }
        }
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            let o: shape::Templated = decode(kind, json)?;
            let path = Path::root().keys(&["spec", "template", "spec"]);
            from_template(o.metadata, o.spec.and_then(|s| s.template), path)
        }
        "CronJob" => {
            let o: shape::CronJob = decode(kind, json)?;
            let template = o
                .spec
                .and_then(|s| s.job_template)
                .and_then(|j| j.spec)
                .and_then(|s| s.template);
            let path = Path::root().keys(&["spec", "jobTemplate", "spec", "template", "spec"]);
            from_template(o.metadata, template, path)
        }
        _ => return Ok(None),
    }))
}

/// Whether `kind` is one of [`WORKLOAD_KINDS`] (any group).
pub fn is_workload_kind(kind: &str) -> bool {
    WORKLOAD_KINDS.iter().any(|k| k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_template_of_each_workload_kind() {
        let cron = r#"{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},
            "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"a":"b"}},
            "spec":{"containers":[{"name":"x","image":"y"}]}}}}}}"#;
        let t = pod_template("CronJob", cron).unwrap().unwrap();
        assert_eq!(t.spec_path.as_str(), "spec.jobTemplate.spec.template.spec");
        assert_eq!(t.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(t.spec.containers.len(), 1);
        assert!(pod_template("Service", "{}").unwrap().is_none());
        assert!(is_workload_kind("CronJob") && !is_workload_kind("Scale"));
    }

    #[test]
    fn owned_pods_are_controlled() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_str(
            r#"{"metadata":{"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u","controller":true}]}}"#,
        )
        .unwrap();
        assert!(is_controlled(&pod.metadata));
        assert!(!is_controlled(&ObjectMeta::default()));
    }
}
