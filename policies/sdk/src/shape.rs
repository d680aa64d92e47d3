//! Narrow, lenient building blocks for rules that decode only the fields they read.
//!
//! Decoding a whole Kubernetes object is most of what a rule costs, and full typed deserializers
//! would be most of a rule module's code. A rule that declares structs of just the
//! fields it reads lets serde skip the rest of the JSON at scanning speed. These types read
//! fields the way Kubernetes' own clients do: a missing or `null` field is empty, never an error.
//!
//! The shapes also carry what their fields mean, once for every rule: label selectors
//! ([`matches_labels`], [`LabelSelector::selects_all`]), which traffic NetworkPolicies deny by
//! default ([`DefaultDeny`]), headless Services ([`Service::not_headless`]), and a pod spec's
//! env vars, envFrom ConfigMaps and mounted volumes with their paths ([`ContainerAt::env`],
//! [`PodSpec::mounts`]).
//!
//! ```
//! use serde::Deserialize;
//! use ws3_policy_sdk::shape::{Metadata, nullable};
//!
//! #[derive(Deserialize)]
//! struct Service {
//!     #[serde(default, deserialize_with = "nullable")]
//!     metadata: Metadata,
//!     #[serde(default, deserialize_with = "nullable")]
//!     spec: Spec,
//! }
//!
//! #[derive(Deserialize, Default)]
//! #[serde(rename_all = "camelCase")]
//! struct Spec {
//!     #[serde(rename = "clusterIP", default)]
//!     cluster_ip: Option<String>,
//! }
//!
//! let svc: Service = serde_json::from_str(
//!     r#"{"metadata":{"name":"db","labels":null},"spec":{"clusterIP":"None","ports":[]}}"#,
//! )?;
//! assert_eq!(svc.metadata.name, "db");
//! assert_eq!(svc.spec.cluster_ip.as_deref(), Some("None"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::Path;

mod labels;
mod network;
mod pod;
mod service;

pub use labels::{Labels, matches_labels, selector_string};
pub use network::DefaultDeny;
pub use pod::Mounted;
pub use service::NotHeadless;

/// Reads `null` as the default value, as Kubernetes' clients do; use with `#[serde(default,
/// deserialize_with = "nullable")]` on fields that are not `Option`s.
pub fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// The metadata fields rules read most: names, labels and owners. Annotations, timestamps and
/// the rest of `ObjectMeta` are skipped. Whether a controller owns the object is the host's
/// business: it does not send a rule objects whose controller ws3 reviews itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// `metadata.name` (empty when unset).
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `metadata.generateName` (empty when unset).
    #[serde(default, deserialize_with = "nullable")]
    pub generate_name: String,
    /// `metadata.namespace` (empty when unset).
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    /// `metadata.labels`.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.ownerReferences`.
    #[serde(default, deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerReference>,
}

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

    /// The name, or the `generateName` prefix of an object the API server has not named yet.
    pub fn name_or_prefix(&self) -> &str {
        if self.name.is_empty() {
            &self.generate_name
        } else {
            &self.name
        }
    }
}

/// One of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// The owner's kind.
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    /// The owner's name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Whether the owner is the managing controller.
    #[serde(default)]
    pub controller: Option<bool>,
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

impl PodSpec {
    /// Every container of the pod spec with its kind and its JSON path below `spec_path` (the
    /// path of this pod spec, e.g. [`crate::Template::spec_path`]): init containers, then
    /// containers, then ephemeral containers, each list in order.
    pub fn all_containers(&self, spec_path: &Path) -> impl Iterator<Item = ContainerAt<'_>> {
        let lists = [
            (ContainerKind::Init, &self.init_containers),
            (ContainerKind::Regular, &self.containers),
            (ContainerKind::Ephemeral, &self.ephemeral_containers),
        ];
        lists.into_iter().flat_map(move |(kind, list)| {
            list.iter()
                .enumerate()
                .map(move |(i, container)| ContainerAt {
                    kind,
                    path: spec_path.clone().key(kind.field()).index(i),
                    container,
                })
        })
    }
}

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `initContainers`.
    Init,
    /// `containers`.
    Regular,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// The pod spec field of the list: `initContainers`, `containers` or `ephemeralContainers`.
    pub fn field(self) -> &'static str {
        match self {
            Self::Init => "initContainers",
            Self::Regular => "containers",
            Self::Ephemeral => "ephemeralContainers",
        }
    }

    /// The kind as messages name it: `init container`, `container` or `ephemeral container`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Init => "init container",
            Self::Regular => "container",
            Self::Ephemeral => "ephemeral container",
        }
    }
}

/// A container found by [`PodSpec::all_containers`].
#[derive(Debug, Clone)]
pub struct ContainerAt<'a> {
    /// The list it is in.
    pub kind: ContainerKind,
    /// Its JSON path, e.g. `spec.template.spec.initContainers[0]`.
    pub path: Path,
    /// The container.
    pub container: &'a Container,
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
        assert_eq!(
            sts.metadata.describe("statefulset"),
            r#"statefulset with generateName "db-""#
        );
        assert_eq!(sts.spec.service_name.as_deref(), Some(""));
        assert_eq!(sts.spec.volume_claim_templates, Count(0));
        let spec = &sts.spec.template.spec;
        assert_eq!(
            spec.containers[0].volume_mounts[0].mount_path,
            "/var/lib/postgresql/data"
        );
        assert!(spec.volumes[0].empty_dir.is_some() && spec.init_containers.is_empty());

        let lean: StatefulSet<IgnoredAny> = serde_json::from_str(
            r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":7}}}}"#,
        )
        .unwrap();
        assert_eq!(lean.spec.template.metadata.labels.len(), 1);
        assert_eq!(
            lean.metadata.describe("statefulset"),
            "an unnamed statefulset"
        );

        let cm: ConfigMap =
            serde_json::from_str(r#"{"data":null,"binaryData":{"a":"","b":"eA=="}}"#).unwrap();
        assert!(cm.data.is_empty());
        assert_eq!(cm.binary_data["a"], Empty(true));
        assert_eq!(cm.binary_data["b"], Empty(false));

        assert!(serde_json::from_str::<PodSpec>(r#"{"containers":[{"name":7}]}"#).is_err());
        assert!(serde_json::from_str::<Service>(r#"{"spec":{"clusterIP":["x"]}}"#).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_containers_come_in_start_order_with_their_paths() {
        let spec: PodSpec = serde_json::from_str(
            r#"{"containers":[{"name":"a"},{"name":"b"}],"initContainers":[{"name":"i"}],
                "ephemeralContainers":null}"#,
        )
        .unwrap();
        let at = Path::root().keys(&["spec", "template", "spec"]);
        let found: Vec<_> = spec
            .all_containers(&at)
            .map(|c| {
                (
                    c.kind.label(),
                    c.path.to_string(),
                    c.container.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "init container",
                    "spec.template.spec.initContainers[0]".into(),
                    "i"
                ),
                ("container", "spec.template.spec.containers[0]".into(), "a"),
                ("container", "spec.template.spec.containers[1]".into(), "b"),
            ]
        );
        let debug: PodSpec =
            serde_json::from_str(r#"{"ephemeralContainers":[{"name":"d"}]}"#).unwrap();
        let c = debug
            .all_containers(&Path::root().key("spec"))
            .next()
            .unwrap();
        assert_eq!(c.kind, ContainerKind::Ephemeral);
        assert_eq!(
            (c.kind.field(), c.path.as_str()),
            ("ephemeralContainers", "spec.ephemeralContainers[0]")
        );
        assert_eq!(PodSpec::default().all_containers(&at).count(), 0);
    }

    #[test]
    fn missing_and_null_fields_read_as_empty() {
        let m: Metadata = serde_json::from_str(
            r#"{"name":null,"generateName":"web-","labels":null,"annotations":{"a":"b"},
                "creationTimestamp":"2024-01-01T00:00:00Z","managedFields":[{"x":1}]}"#,
        )
        .unwrap();
        assert_eq!(m.name_or_prefix(), "web-");
        assert!(m.labels.is_empty() && m.owner_references.is_empty());
        let owned: Metadata = serde_json::from_str(
            r#"{"name":"p","ownerReferences":[{"kind":"ReplicaSet","name":"r","controller":true}]}"#,
        )
        .unwrap();
        assert_eq!(owned.owner_references[0].controller, Some(true));
        assert_eq!(owned.name_or_prefix(), "p");
    }

    #[test]
    fn wrong_types_are_still_errors() {
        assert!(serde_json::from_str::<Metadata>(r#"{"labels":["a"]}"#).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"name":7}"#).is_err());
    }
}
