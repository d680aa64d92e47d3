//! Narrow, lenient building blocks for rules that decode only the fields they read.
//!
//! Decoding a whole Kubernetes object is most of what a rule costs, and full typed deserializers
//! would be most of a rule module's code. A rule that declares structs of just the
//! fields it reads lets serde skip the rest of the JSON at scanning speed. These types read
//! fields the way Kubernetes' own clients do: a missing or `null` field is empty, never an error.
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

use serde::{Deserialize, Deserializer};

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

#[cfg(test)]
mod tests {
    use super::*;

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
