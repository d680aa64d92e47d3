//! Pod templates of workloads, found where the host says they are.

use std::collections::BTreeMap;

use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    Error, Path,
    request::decode,
    shape::{Metadata, nullable},
};

/// The pod template of a workload, with the pod spec decoded as the rule's own type `S` (a
/// struct of the fields it reads, see [`crate::shape`]).
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

/// A pod (or pod template): metadata and spec, lenient about `null`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct Pod<S> {
    #[serde(default, deserialize_with = "nullable")]
    metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    spec: S,
}

impl<S: Default> Default for Pod<S> {
    fn default() -> Self {
        Self {
            metadata: Metadata::default(),
            spec: S::default(),
        }
    }
}

/// `{metadata, spec: {template}}`: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
/// DeploymentConfig, ReplicationController and most custom workloads.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct Templated<S> {
    #[serde(default, deserialize_with = "nullable")]
    metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    spec: TemplateSpec<S>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct TemplateSpec<S> {
    #[serde(default, deserialize_with = "nullable")]
    template: Pod<S>,
}

impl<S: Default> Default for TemplateSpec<S> {
    fn default() -> Self {
        Self {
            template: Pod::default(),
        }
    }
}

/// CronJob: `spec.jobTemplate.spec.template`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct CronJob<S> {
    #[serde(default, deserialize_with = "nullable")]
    metadata: Metadata,
    #[serde(default, deserialize_with = "nullable")]
    spec: CronJobSpec<S>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct CronJobSpec<S> {
    #[serde(rename = "jobTemplate", default, deserialize_with = "nullable")]
    job_template: JobTemplate<S>,
}

impl<S: Default> Default for CronJobSpec<S> {
    fn default() -> Self {
        Self {
            job_template: JobTemplate::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
struct JobTemplate<S> {
    #[serde(default, deserialize_with = "nullable")]
    spec: TemplateSpec<S>,
}

impl<S: Default> Default for JobTemplate<S> {
    fn default() -> Self {
        Self {
            spec: TemplateSpec::default(),
        }
    }
}

/// The template at `path` (dotted keys; `""`: the object is a Pod) of an object of `kind`.
/// The two paths of the built-in kinds are decoded in one narrow pass; any other path (a custom
/// workload the configuration names) walks a parsed copy.
pub(crate) fn template_at<S: DeserializeOwned + Default>(
    kind: &str,
    path: &str,
    json: &str,
) -> Result<Template<S>, Error> {
    let spec_path = if path.is_empty() {
        Path::root().key("spec")
    } else {
        Path::root()
            .keys(&path.split('.').collect::<Vec<_>>())
            .key("spec")
    };
    let (metadata, template) = match path {
        "" => {
            let pod: Pod<S> = decode(kind, json)?;
            (pod.metadata.clone(), pod)
        }
        "spec.template" => {
            let o: Templated<S> = decode(kind, json)?;
            (o.metadata, o.spec.template)
        }
        "spec.jobTemplate.spec.template" => {
            let o: CronJob<S> = decode(kind, json)?;
            (o.metadata, o.spec.job_template.spec.template)
        }
        _ => {
            #[derive(Deserialize)]
            struct Object {
                #[serde(default, deserialize_with = "nullable")]
                metadata: Metadata,
            }
            let object: Object = decode(kind, json)?;
            let value: serde_json::Value = decode(kind, json)?;
            let at = path
                .split('.')
                .try_fold(&value, |v, key| v.get(key))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            let template: Pod<S> = if at.is_null() {
                Pod::default()
            } else {
                decode(kind, &at.to_string()).map_err(|e| {
                    Error::new(format!("{} (in the pod template at {path})", e.message()))
                })?
            };
            (object.metadata, template)
        }
    };
    Ok(Template {
        kind: kind.to_owned(),
        metadata,
        labels: template.metadata.labels,
        spec: template.spec,
        spec_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug)]
    struct Names {
        #[serde(default, deserialize_with = "crate::shape::nullable")]
        containers: Vec<Name>,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Name {
        name: String,
    }

    #[test]
    fn finds_the_template_wherever_the_host_says() {
        let cron = r#"{"kind":"CronJob","metadata":{"name":"c"},
            "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"a":"b"}},
            "spec":{"containers":[{"name":"x","image":"y"}]}}}}}}"#;
        let t = template_at::<Names>("CronJob", "spec.jobTemplate.spec.template", cron).unwrap();
        assert_eq!(t.spec_path.as_str(), "spec.jobTemplate.spec.template.spec");
        assert_eq!(t.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(t.spec.containers[0].name, "x");
        assert_eq!(t.metadata.name, "c");
        let pod = r#"{"metadata":{"name":"p","labels":{"k":"v"}},"spec":{"containers":null}}"#;
        let t = template_at::<Names>("Pod", "", pod).unwrap();
        assert_eq!((t.spec_path.as_str(), t.labels.len()), ("spec", 1));
        assert!(t.spec.containers.is_empty());
        let sts = r#"{"metadata":{"name":"s"},"spec":{"template":null}}"#;
        let t = template_at::<Names>("StatefulSet", "spec.template", sts).unwrap();
        assert!(t.spec.containers.is_empty() && t.labels.is_empty());
        let custom = r#"{"metadata":{"name":"r"},"spec":{"workload":{"pod":{"metadata":{"labels":{"a":"1"}},"spec":{"containers":[{"name":"c"}]}}}}}"#;
        let t = template_at::<Names>("Rollout", "spec.workload.pod", custom).unwrap();
        assert_eq!(t.spec_path.as_str(), "spec.workload.pod.spec");
        assert_eq!(
            (t.metadata.name.as_str(), t.spec.containers[0].name.as_str()),
            ("r", "c")
        );
        let err = template_at::<Names>(
            "Deployment",
            "spec.template",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":7}]}}}}"#,
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("spec.template.spec.containers[0].name"),
            "{err}"
        );
    }
}
