//! What ws3 knows about a Kubernetes object before any rule runs: the JSON a rule sees of it,
//! its identity (kind, name, effective namespace), its controller, whether it is being deleted,
//! where its pod template is, and the `ws3.dev/ignore` annotation. The linter and the webhook
//! both build their requests from these functions, so the two faces agree.

mod strip;

use std::borrow::Cow;

use serde::Deserialize;

pub use self::strip::{rule_view, rule_view_in};
use crate::types::KindRef;

/// The annotation `kubectl apply` keeps the whole previous manifest in (values included).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The annotation that suppresses findings: `ws3.dev/ignore: "rule-id[,rule-id]"`.
pub const IGNORE_ANNOTATION: &str = "ws3.dev/ignore";

/// Built-in cluster-scoped kinds, by (API group, kind).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("scheduling.k8s.io", "PriorityClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// Whether objects of this kind live outside namespaces.
pub fn is_cluster_scoped(kind: &KindRef) -> bool {
    CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| kind.group == *g && kind.kind == *k)
}

/// Whether this is the core Namespace kind.
pub fn is_namespace(kind: &KindRef) -> bool {
    kind.group.is_empty() && kind.kind == "Namespace"
}

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The object's namespace: its own, else the default; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The namespace of requests about it: [`Self::namespace`], or a Namespace's own name.
    pub request_namespace: String,
}

/// The effective namespace of an object of `kind` named `name` whose own namespace is
/// `own` (absent or empty: none), with `default` for namespaced objects that have none (the
/// linter's `--namespace`; the API server always fills it in at admission).
pub fn place(kind: &KindRef, own: Option<&str>, name: &str, default: &str) -> Placement {
    let namespace = if is_cluster_scoped(kind) {
        String::new()
    } else {
        own.filter(|n| !n.is_empty()).unwrap_or(default).to_owned()
    };
    let request_namespace = if is_namespace(kind) {
        name.to_owned()
    } else {
        namespace.clone()
    };
    Placement {
        namespace,
        request_namespace,
    }
}

/// Built-in pod-template holders: (API group, kind, path of the template).
const POD_TEMPLATE_HOLDERS: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "spec.template"),
    ("apps", "StatefulSet", "spec.template"),
    ("apps", "DaemonSet", "spec.template"),
    ("apps", "ReplicaSet", "spec.template"),
    ("batch", "Job", "spec.template"),
    ("batch", "CronJob", "spec.jobTemplate.spec.template"),
    ("", "ReplicationController", "spec.template"),
    ("apps.openshift.io", "DeploymentConfig", "spec.template"),
];

/// A kind whose objects hold a pod template, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplateHolder {
    /// The kind.
    pub kind: KindRef,
    /// JSON path of the template (`metadata` and `spec` of the pods it makes).
    pub path: String,
    /// The resource (plural) the API serves the kind as, for webhook registration.
    pub resource: String,
    /// The API versions to register.
    pub versions: Vec<String>,
}

/// The pod-template holders ws3 knows: the built-in ones and those the configuration adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplates {
    holders: Vec<PodTemplateHolder>,
}

impl Default for PodTemplates {
    fn default() -> Self {
        Self {
            holders: POD_TEMPLATE_HOLDERS
                .iter()
                .map(|(group, kind, path)| PodTemplateHolder {
                    kind: KindRef::new(*group, *kind),
                    path: (*path).to_owned(),
                    resource: plural(kind),
                    versions: vec![default_version(group).to_owned()],
                })
                .collect(),
        }
    }
}

/// The served version of a built-in group's workload kinds.
fn default_version(group: &str) -> &'static str {
    match group {
        "" | "apps" | "batch" | "apps.openshift.io" => "v1",
        _ => "*",
    }
}

/// The resource name the API uses for a kind: lowercase, `s` added (`y` → `ies`, `s`/`x`/`ch`
/// → `es`), as Kubernetes' own kinds and most custom resources are named.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

impl PodTemplates {
    /// The built-in holders plus `extra` (a configured kind replaces a built-in one).
    pub fn with(extra: impl IntoIterator<Item = PodTemplateHolder>) -> Self {
        let mut out = Self::default();
        for holder in extra {
            out.holders.retain(|h| h.kind != holder.kind);
            out.holders.push(holder);
        }
        out
    }

    /// Every holder.
    pub fn holders(&self) -> &[PodTemplateHolder] {
        &self.holders
    }

    /// Where the pod template of an object of `kind` is: `""` for a Pod (its own template),
    /// the holder's path for a holder, `None` otherwise.
    pub fn path_of(&self, kind: &KindRef) -> Option<&str> {
        if kind.group.is_empty() && kind.kind == "Pod" {
            return Some("");
        }
        self.holder(kind).map(|h| h.path.as_str())
    }

    /// The holder entry of `kind`, if it holds a pod template.
    pub fn holder(&self, kind: &KindRef) -> Option<&PodTemplateHolder> {
        self.holders.iter().find(|h| h.kind == *kind)
    }
}

/// The metadata ws3 itself reads of an object, in one narrow pass over its JSON (serde skips
/// everything else at scanning speed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generateName`.
    pub generate_name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// The kind of the owner whose reference says `controller: true`, if any.
    pub controller: Option<KindRef>,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The `ws3.dev/ignore` annotation.
    pub ignore: Option<String>,
}

impl ObjectMeta {
    /// Reads an object's JSON; anything that is not an object, or fields of unexpected types,
    /// read as empty (the rules report malformed objects, not this).
    pub fn read(json: &str) -> Self {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta<'a> {
            #[serde(default, borrow)]
            name: Lenient<'a>,
            #[serde(default, borrow)]
            generate_name: Lenient<'a>,
            #[serde(default, borrow)]
            namespace: Lenient<'a>,
            #[serde(default)]
            owner_references: Option<Vec<OwnerRef>>,
            #[serde(default)]
            deletion_timestamp: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            annotations: Option<Annotations>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Object<'a> {
            #[serde(default, borrow)]
            api_version: Lenient<'a>,
            #[serde(default, borrow)]
            kind: Lenient<'a>,
            #[serde(default, borrow)]
            metadata: Option<Meta<'a>>,
        }
        let Ok(object) = serde_json::from_str::<Object<'_>>(json) else {
            return Self::default();
        };
        let meta = object.metadata;
        let controller = meta
            .as_ref()
            .and_then(|m| m.owner_references.as_ref())
            .and_then(|refs| refs.iter().find(|r| r.controller))
            .map(|r| KindRef::from_type(&r.api_version, &r.kind));
        Self {
            api_version: object.api_version.into_string(),
            kind: object.kind.into_string(),
            name: meta
                .as_ref()
                .map_or_else(String::new, |m| m.name.to_string()),
            generate_name: meta
                .as_ref()
                .map_or_else(String::new, |m| m.generate_name.to_string()),
            namespace: meta
                .as_ref()
                .map_or_else(String::new, |m| m.namespace.to_string()),
            deleting: meta
                .as_ref()
                .is_some_and(|m| m.deletion_timestamp.is_some()),
            ignore: meta.and_then(|m| m.annotations).and_then(|a| a.ignore),
            controller,
        }
    }

    /// The kind, from `apiVersion` and `kind`.
    pub fn kind_ref(&self) -> KindRef {
        KindRef::from_type(&self.api_version, &self.kind)
    }
}

/// An owner reference, read leniently.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerRef {
    #[serde(default, deserialize_with = "lenient_string")]
    api_version: String,
    #[serde(default, deserialize_with = "lenient_string")]
    kind: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    controller: bool,
}

/// The annotations, of which only `ws3.dev/ignore` is kept.
#[derive(Debug, Default)]
struct Annotations {
    ignore: Option<String>,
}

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Annotations;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("annotations")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Annotations, A::Error> {
                let mut out = Annotations::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == IGNORE_ANNOTATION {
                        out.ignore = map.next_value::<Lenient<'de>>()?.into_option();
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Annotations, E> {
                Ok(Annotations::default())
            }
        }
        de.deserialize_any(Visitor)
    }
}

/// A string field that reads as empty when absent, `null` or of another type.
#[derive(Debug, Default)]
struct Lenient<'a>(Option<Cow<'a, str>>);

impl Lenient<'_> {
    fn into_string(self) -> String {
        self.0.map(Cow::into_owned).unwrap_or_default()
    }

    fn into_option(self) -> Option<String> {
        self.0.map(Cow::into_owned)
    }
}

impl std::fmt::Display for Lenient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or(""))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Lenient<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Lenient(None))
            }
        }
        de.deserialize_any(Visitor)
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    Ok(Lenient::deserialize(de)?.into_string())
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
    }
    de.deserialize_any(Visitor)
}

/// The `ws3.dev/ignore` annotation of an object given as JSON, if any.
pub fn ignore_annotation(object_json: &str) -> Option<String> {
    // Most objects have no such annotation: say so without parsing them. The key can only be
    // missing from the text if it is absent or spelled with escapes (`\/`, `\u0077`).
    if !object_json.contains(IGNORE_ANNOTATION)
        && !object_json.contains("\\/")
        && !object_json.contains("\\u")
    {
        return None;
    }
    ObjectMeta::read(object_json).ignore
}

/// Whether an `ws3.dev/ignore` annotation value names this rule. Lenient: ids are separated by
/// commas or spaces, case and surrounding blanks do not matter.
pub fn ignores(annotation: Option<&str>, rule_id: &str) -> bool {
    annotation.is_some_and(|value| {
        value
            .split([',', ' ', '\n'])
            .map(str::trim)
            .any(|id| !id.is_empty() && id.eq_ignore_ascii_case(rule_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_ws3_needs_and_nothing_else() {
        let json = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-1","namespace":"shop","ownerReferences":[{"apiVersion":"v1","kind":"Other","name":"x"},{"apiVersion":"apps/v1","kind":"Deployment","name":"web","controller":true}],"deletionTimestamp":"2024-01-01T00:00:00Z","annotations":{"a":"1","ws3.dev/ignore":"r1,r2"}},"spec":{"replicas":1}}"#;
        let m = ObjectMeta::read(json);
        assert_eq!(m.kind_ref(), KindRef::new("apps", "ReplicaSet"));
        assert_eq!((m.name.as_str(), m.namespace.as_str()), ("web-1", "shop"));
        assert_eq!(m.controller, Some(KindRef::new("apps", "Deployment")));
        assert!(m.deleting);
        assert_eq!(m.ignore.as_deref(), Some("r1,r2"));
    }

    #[test]
    fn odd_shapes_read_as_empty() {
        for json in [
            "[]",
            "not json",
            r#"{"metadata":null}"#,
            r#"{"metadata":{"name":3,"namespace":null,"ownerReferences":null,"annotations":null}}"#,
            r#"{"metadata":{"ownerReferences":[{"kind":"X","controller":"yes"}],"annotations":{"ws3.dev/ignore":5}}}"#,
            r#"{"apiVersion":["v1"],"kind":{"a":1}}"#,
        ] {
            let m = ObjectMeta::read(json);
            assert_eq!(m.controller, None, "{json}");
            assert_eq!(m.ignore, None, "{json}");
            assert!(m.name.is_empty() && m.kind.is_empty(), "{json}");
        }
        let m = ObjectMeta::read(r#"{"metadata":{"generateName":"web-","name":null}}"#);
        assert_eq!(m.generate_name, "web-");
    }

    #[test]
    fn effective_namespaces() {
        let cm = KindRef::new("", "ConfigMap");
        let ns = KindRef::new("", "Namespace");
        let role = KindRef::new("rbac.authorization.k8s.io", "ClusterRole");
        let p = |k, own, name| place(k, own, name, "dflt");
        assert_eq!(p(&cm, None, "a").namespace, "dflt");
        assert_eq!(p(&cm, Some(""), "a").namespace, "dflt");
        assert_eq!(p(&cm, Some("own"), "a").request_namespace, "own");
        assert_eq!(
            p(&ns, Some("ignored"), "ns1"),
            Placement {
                namespace: String::new(),
                request_namespace: "ns1".into()
            }
        );
        assert_eq!(p(&role, Some("x"), "r").request_namespace, "");
    }

    #[test]
    fn pod_templates() {
        let t = PodTemplates::default();
        assert_eq!(t.path_of(&KindRef::new("", "Pod")), Some(""));
        assert_eq!(
            t.path_of(&KindRef::new("batch", "CronJob")),
            Some("spec.jobTemplate.spec.template")
        );
        assert_eq!(
            t.path_of(&KindRef::new("apps.openshift.io", "DeploymentConfig")),
            Some("spec.template")
        );
        assert_eq!(t.path_of(&KindRef::new("", "ConfigMap")), None);
        let rollout = KindRef::new("argoproj.io", "Rollout");
        let t = PodTemplates::with([PodTemplateHolder {
            kind: rollout.clone(),
            path: "spec.template".into(),
            resource: plural("Rollout"),
            versions: vec!["v1alpha1".into()],
        }]);
        assert_eq!(t.path_of(&rollout), Some("spec.template"));
        assert_eq!(
            t.holder(&rollout).map(|h| h.resource.as_str()),
            Some("rollouts")
        );
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("Gateway"), "gateways");
    }

    #[test]
    fn reads_the_annotation_from_json() {
        let json = r#"{"metadata":{"name":"x","annotations":{"ws3.dev/ignore":"a,b"}}}"#;
        assert_eq!(ignore_annotation(json).as_deref(), Some("a,b"));
        assert_eq!(ignore_annotation(r#"{"metadata":{}}"#), None);
        assert_eq!(ignore_annotation("not json"), None);
        // Escaped spellings of the key are still the key.
        let escaped = r#"{"metadata":{"annotations":{"ws3.dev\/ignore":"a","x":"\u00e9"}}}"#;
        assert_eq!(ignore_annotation(escaped).as_deref(), Some("a"));
        let escaped = r#"{"metadata":{"annotations":{"\u0077s3.dev/ignore":"b"}}}"#;
        assert_eq!(ignore_annotation(escaped).as_deref(), Some("b"));
    }

    #[test]
    fn ignore_annotation_is_parsed_leniently() {
        assert!(ignores(
            Some("statefulset-emptydir-data"),
            "statefulset-emptydir-data"
        ));
        assert!(ignores(
            Some(" a , Statefulset-EmptyDir-Data "),
            "statefulset-emptydir-data"
        ));
        assert!(!ignores(
            Some("statefulset-emptydir"),
            "statefulset-emptydir-data"
        ));
        assert!(!ignores(None, "x"));
    }
}
