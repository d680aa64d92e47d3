// Shared narrow shapes for the built-in rules, ready to move into policies/sdk/src/shape.rs
// (issue 16, "One way to say each thing"). Not compiled where it lies.
//
// This is the union of the serde structs the four rule crates declare today
// (postgres-credentials-in-configmap: ConfigMap, PodSpec/Container/EnvVar/EnvFromSource;
// statefulset-emptydir-data: StatefulSet, PodSpec/Container/VolumeMount/Volume, Count;
// statefulset-headless-service: StatefulSet without its pod spec, Service; namespace-default-deny:
// NetworkPolicy), read as leniently as today: a missing or `null` field is empty, a wrong type is
// still an error naming the field. Lists are `Vec` + `nullable` everywhere (no `Option<Vec<_>>`
// left to `.iter().flatten()`), except where a rule tells "absent" from "empty"
// (`serviceName`, a Service's `spec`, a NetworkPolicy's `policyTypes`/`ingress`/`egress`/
// `podSelector`), which stay `Option`.
//
// Moving it: append everything below the marked `use` line to shape.rs, merge the `use`
// lines, and drop the `use ws3_policy_sdk::shape::{Metadata, nullable}` line (they are that
// module's own). `Metadata::describe` goes into the existing `impl Metadata`. Then the rules
// switch to these in a second round (each rule crate loses 60-110 lines).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

// Drop this line in shape.rs:
use ws3_policy_sdk::shape::{Metadata, nullable};

impl Metadata {
    /// The object as messages name it: `statefulset "db"`, `statefulset with generateName
    /// "db-"`, or `an unnamed statefulset` (never `statefulset ""`). `kind` is lowercase.
    pub fn describe(&self, kind: &str) -> String {
        if !self.name.is_empty() {
            format!("{kind} {:?}", self.name)
        } else if !self.generate_name.is_empty() {
            format!("{kind} with generateName {:?}", self.generate_name)
        } else {
            format!("an unnamed {kind}")
        }
    }
}

/// The length of a JSON array (`null` or absent counts as empty), its elements skipped unread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count(pub usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let items = Option::<Vec<IgnoredAny>>::deserialize(de)?;
        Ok(Self(items.map_or(0, |v| v.len())))
    }
}

/// Whether a string is empty, read without keeping it (the values of `binaryData`, which are
/// never decoded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty(pub bool);

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Empty;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Empty, E> {
                Ok(Empty(v.is_empty()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Empty, E> {
                Ok(Empty(true))
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// A pod spec: the containers of every kind and the volumes.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `initContainers`.
    #[serde(default, deserialize_with = "nullable")]
    pub init_containers: Vec<Container>,
    /// `containers`.
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    /// `ephemeralContainers`.
    #[serde(default, deserialize_with = "nullable")]
    pub ephemeral_containers: Vec<Container>,
    /// `volumes`.
    #[serde(default, deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
}

/// A container (also an init or ephemeral one).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `name`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `image`.
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    /// `env`.
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<EnvVar>,
    /// `envFrom`.
    #[serde(default, deserialize_with = "nullable")]
    pub env_from: Vec<EnvFromSource>,
    /// `volumeMounts`.
    #[serde(default, deserialize_with = "nullable")]
    pub volume_mounts: Vec<VolumeMount>,
}

/// One of a container's `env`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// `name`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `value`; `None` when absent (a `valueFrom` variable).
    #[serde(default)]
    pub value: Option<String>,
    /// `valueFrom`.
    #[serde(default)]
    pub value_from: Option<EnvVarSource>,
}

/// An env var's `valueFrom`: the references the rules read (field and resource references
/// are skipped).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// `configMapKeyRef`.
    #[serde(default)]
    pub config_map_key_ref: Option<KeySelector>,
    /// `secretKeyRef`.
    #[serde(default)]
    pub secret_key_ref: Option<KeySelector>,
}

/// A `configMapKeyRef` or `secretKeyRef`.
#[derive(Debug, Default, Deserialize)]
pub struct KeySelector {
    /// The ConfigMap's or Secret's name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The key.
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
    /// `optional`.
    #[serde(default)]
    pub optional: Option<bool>,
}

/// One of a container's `envFrom`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    /// `prefix` (empty when unset).
    #[serde(default, deserialize_with = "nullable")]
    pub prefix: String,
    /// `configMapRef`.
    #[serde(default)]
    pub config_map_ref: Option<Reference>,
    /// `secretRef`.
    #[serde(default)]
    pub secret_ref: Option<Reference>,
}

/// A `configMapRef` or `secretRef`.
#[derive(Debug, Default, Deserialize)]
pub struct Reference {
    /// The ConfigMap's or Secret's name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `optional`.
    #[serde(default)]
    pub optional: Option<bool>,
}

/// One of a container's `volumeMounts`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The volume's name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `mountPath`.
    #[serde(default, deserialize_with = "nullable")]
    pub mount_path: String,
    /// `readOnly`.
    #[serde(default)]
    pub read_only: Option<bool>,
}

/// One of a pod spec's `volumes`: its name and which source it has (sources are not read).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// `name`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `emptyDir`.
    #[serde(default)]
    pub empty_dir: Option<IgnoredAny>,
    /// `persistentVolumeClaim`.
    #[serde(default)]
    pub persistent_volume_claim: Option<IgnoredAny>,
    /// `ephemeral` (a generic ephemeral volume: a claim per pod).
    #[serde(default)]
    pub ephemeral: Option<IgnoredAny>,
}

/// A StatefulSet, its pod spec decoded as `S`: [`PodSpec`], or [`IgnoredAny`] for a rule that
/// reads only `serviceName` and the template's labels (serde then skips the pod spec).
#[derive(Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
pub struct StatefulSet<S = PodSpec> {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec`.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: StatefulSetSpec<S>,
}

/// A StatefulSet's `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "S: Deserialize<'de> + Default")
)]
pub struct StatefulSetSpec<S> {
    /// `serviceName`: `None` when absent, `Some("")` as the API server stores a left-out one.
    #[serde(default)]
    pub service_name: Option<String>,
    /// `template`.
    #[serde(default, deserialize_with = "nullable")]
    pub template: PodTemplate<S>,
    /// How many `volumeClaimTemplates` there are.
    #[serde(default)]
    pub volume_claim_templates: Count,
}

/// A pod template: its metadata (labels) and the pod spec as `S`.
#[derive(Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
pub struct PodTemplate<S> {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec`.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: S,
}

/// A Service.
#[derive(Debug, Default, Deserialize)]
pub struct Service {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec`; `None` when absent.
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
}

/// A Service's `spec`.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceSpec {
    /// `clusterIP` (`"None"` for a headless Service).
    #[serde(rename = "clusterIP", default)]
    pub cluster_ip: Option<String>,
    /// `type`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// `selector`.
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
}

/// A NetworkPolicy; rules are only counted, never read.
#[derive(Debug, Default, Deserialize)]
pub struct NetworkPolicy {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec`; `None` when absent.
    #[serde(default)]
    pub spec: Option<NetworkPolicySpec>,
}

/// A NetworkPolicy's `spec`. `None` and an empty list differ for `policyTypes` (absent means
/// Ingress, plus Egress when egress rules are given).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// `podSelector`.
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// `policyTypes`.
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    /// `ingress` rules.
    #[serde(default)]
    pub ingress: Option<Vec<IgnoredAny>>,
    /// `egress` rules.
    #[serde(default)]
    pub egress: Option<Vec<IgnoredAny>>,
}

/// A label selector.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `matchExpressions` (counted, not read).
    #[serde(default)]
    pub match_expressions: Option<Vec<IgnoredAny>>,
}

/// A ConfigMap. At admission, ConfigMaps read through `Cluster` are the engine's context views:
/// `data` values are short values or `ws3_credentials::summarize` stand-ins, which
/// `ws3_credentials::classify` reads as it reads the originals.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `data`.
    #[serde(default, deserialize_with = "nullable")]
    pub data: BTreeMap<String, String>,
    /// `binaryData`: keys, and whether each value is empty.
    #[serde(default, deserialize_with = "nullable")]
    pub binary_data: BTreeMap<String, Empty>,
}

#[cfg(test)]
mod shapes_tests {
    use super::*;

    #[test]
    fn null_and_missing_read_as_empty_and_wrong_types_fail() {
        let sts: StatefulSet = serde_json::from_str(
            r#"{"metadata":{"generateName":"db-"},"spec":{"serviceName":"","template":{"metadata":null,
                "spec":{"initContainers":null,"containers":[{"name":"pg","env":null,"volumeMounts":[
                {"name":"data","mountPath":"/var/lib/postgresql/data"}]}],"volumes":[{"name":"data","emptyDir":{}}]}},
                "volumeClaimTemplates":null}}"#,
        )
        .unwrap();
        assert_eq!(sts.metadata.describe("statefulset"), r#"statefulset with generateName "db-""#);
        assert_eq!(sts.spec.service_name.as_deref(), Some(""));
        assert_eq!(sts.spec.volume_claim_templates, Count(0));
        let spec = &sts.spec.template.spec;
        assert_eq!(spec.containers[0].volume_mounts[0].mount_path, "/var/lib/postgresql/data");
        assert!(spec.volumes[0].empty_dir.is_some() && spec.init_containers.is_empty());

        let lean: StatefulSet<IgnoredAny> =
            serde_json::from_str(r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":7}}}}"#)
                .unwrap();
        assert_eq!(lean.spec.template.metadata.labels.len(), 1);
        assert_eq!(lean.metadata.describe("statefulset"), "an unnamed statefulset");

        let cm: ConfigMap =
            serde_json::from_str(r#"{"data":null,"binaryData":{"a":"","b":"eA=="}}"#).unwrap();
        assert!(cm.data.is_empty());
        assert_eq!(cm.binary_data["a"], Empty(true));
        assert_eq!(cm.binary_data["b"], Empty(false));

        assert!(serde_json::from_str::<PodSpec>(r#"{"containers":[{"name":7}]}"#).is_err());
        assert!(serde_json::from_str::<Service>(r#"{"spec":{"clusterIP":["x"]}}"#).is_err());
    }
}
