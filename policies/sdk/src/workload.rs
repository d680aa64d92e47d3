//! Pod templates of workload kinds.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use serde::de::DeserializeOwned;

use crate::shape::Metadata;
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

/// The pod template of a workload, with the pod spec decoded as the rule's own type `S` (a
/// struct of the fields it reads, see [`crate::shape`]) and the narrow [`Metadata`].
#[derive(Debug, Clone)]
pub struct Template<S> {
    /// The workload's kind.
    pub kind: String,
    /// The workload's own metadata.
    pub metadata: Metadata,
    /// Labels of the pods it makes.
    pub labels: BTreeMap<String, String>,
    /// The pod spec, as much of it as `S` reads.
    pub spec: S,
    /// JSON path of the pod spec inside the workload, e.g. `spec.template.spec`.
    pub spec_path: Path,
}

/// The same walks to the pod spec as [`shape`], generic over the pod spec type and lenient
/// about `null` at every step.
mod lean {
    use serde::Deserialize;

    use crate::shape::{Metadata, nullable};

    #[derive(Deserialize)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct Pod<S> {
        #[serde(default, deserialize_with = "nullable")]
        pub metadata: Metadata,
        #[serde(default, deserialize_with = "nullable")]
        pub spec: S,
    }

    #[derive(Deserialize)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct Templated<S> {
        #[serde(default, deserialize_with = "nullable")]
        pub metadata: Metadata,
        #[serde(default, deserialize_with = "nullable")]
        pub spec: TemplateSpec<S>,
    }

    #[derive(Deserialize, Default)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct TemplateSpec<S> {
        #[serde(default, deserialize_with = "nullable")]
        pub template: Pod<S>,
    }

    impl<S: Default> Default for Pod<S> {
        fn default() -> Self {
            Self {
                metadata: Metadata::default(),
                spec: S::default(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct CronJob<S> {
        #[serde(default, deserialize_with = "nullable")]
        pub metadata: Metadata,
        #[serde(default, deserialize_with = "nullable")]
        pub spec: CronJobSpec<S>,
    }

    #[derive(Deserialize, Default)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct CronJobSpec<S> {
        #[serde(rename = "jobTemplate", default, deserialize_with = "nullable")]
        pub job_template: JobTemplate<S>,
    }

    #[derive(Deserialize, Default)]
    #[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
    pub(super) struct JobTemplate<S> {
        #[serde(default, deserialize_with = "nullable")]
        pub spec: TemplateSpec<S>,
    }
}

/// The pod template of a workload object given as JSON, with the pod spec decoded as `S`, or
/// `None` for other kinds. Like [`pod_template`], at a fraction of the cost when `S` holds only
/// the fields the rule reads.
pub fn pod_template_as<S: DeserializeOwned + Default>(
    kind: &str,
    json: &str,
) -> Result<Option<Template<S>>, Error> {
    let templated = |metadata: Metadata, template: lean::Pod<S>, spec_path: Path| Template {
        kind: kind.to_owned(),
        metadata,
        labels: template.metadata.labels,
        spec: template.spec,
        spec_path,
    };
    Ok(Some(match kind {
        "Pod" => {
            let pod: lean::Pod<S> = decode(kind, json)?;
            Template {
                kind: kind.to_owned(),
                labels: pod.metadata.labels.clone(),
                metadata: pod.metadata,
                spec: pod.spec,
                spec_path: Path::root().key("spec"),
            }
        }
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            let o: lean::Templated<S> = decode(kind, json)?;
            let path = Path::root().keys(&["spec", "template", "spec"]);
            templated(o.metadata, o.spec.template, path)
        }
        "CronJob" => {
            let o: lean::CronJob<S> = decode(kind, json)?;
            let path = Path::root().keys(&["spec", "jobTemplate", "spec", "template", "spec"]);
            templated(o.metadata, o.spec.job_template.spec.template, path)
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
    fn finds_the_lean_template_of_each_workload_kind() {
        #[derive(serde::Deserialize, Default, Debug)]
        struct Names {
            #[serde(default, deserialize_with = "crate::shape::nullable")]
            containers: Vec<Name>,
        }
        #[derive(serde::Deserialize, Debug)]
        struct Name {
            name: String,
        }
        let cron = r#"{"kind":"CronJob","metadata":{"name":"c","ownerReferences":[{"controller":true}]},
            "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"a":"b"}},
            "spec":{"containers":[{"name":"x","image":"y"}]}}}}}}"#;
        let t = pod_template_as::<Names>("CronJob", cron).unwrap().unwrap();
        assert_eq!(t.spec_path.as_str(), "spec.jobTemplate.spec.template.spec");
        assert_eq!(t.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(t.spec.containers[0].name, "x");
        assert!(t.metadata.is_controlled());
        let pod = r#"{"metadata":{"name":"p","labels":{"k":"v"}},"spec":{"containers":null}}"#;
        let t = pod_template_as::<Names>("Pod", pod).unwrap().unwrap();
        assert_eq!((t.spec_path.as_str(), t.labels.len()), ("spec", 1));
        assert!(t.spec.containers.is_empty());
        let sts = r#"{"metadata":{"name":"s"},"spec":{"template":null}}"#;
        let t = pod_template_as::<Names>("StatefulSet", sts)
            .unwrap()
            .unwrap();
        assert!(t.spec.containers.is_empty() && t.labels.is_empty());
        assert!(pod_template_as::<Names>("Service", "{}").unwrap().is_none());
        let err = pod_template_as::<Names>(
            "Deployment",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":7}]}}}}"#,
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("spec.template.spec.containers[0].name"),
            "{err}"
        );
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
