//! The request a rule reviews.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use crate::Operation;

/// An error a rule returns when it cannot read its input. Crosses the wasm boundary as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// A JSON document that does not decode as `what`; names the field, never the value.
    pub(crate) fn decode(what: &str, err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let field = err.path().to_string();
        let detail = redact_quoted(&err.inner().to_string());
        if field.is_empty() || field == "." {
            Self(format!("cannot read {what}: {detail}"))
        } else {
            Self(format!("cannot read {what}: field `{field}`: {detail}"))
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Replaces the contents of double-quoted strings in a decoder message (serde quotes the
/// offending value, which may be a password) with `…`.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match (in_quote, c) {
            (false, '"') => {
                in_quote = true;
                out.push_str("\"…");
            }
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => {
                in_quote = false;
                out.push('"');
            }
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// Decodes JSON into `T`, naming the failing field on error.
///
/// Tracking the path of every field costs more than half again the decoding itself, so the path
/// is only worked out, by decoding a second time, when the first attempt fails.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).or_else(|_| {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| Error::decode(what, e))
    })
}

/// One evaluation: what happens, to which object.
#[derive(Debug, Clone)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// The object under review as JSON (absent on delete).
    pub object: Option<String>,
    /// The previous object as JSON (update and delete).
    pub old_object: Option<String>,
    /// Effective namespace of the object.
    pub namespace: String,
    /// Rule settings as a JSON object.
    pub settings: String,
}

/// The string value of the top-level `kind` key of a JSON object, read without scanning past
/// it; `None` when the object has no such key or the JSON up to it does not read.
fn leading_kind(json: &str) -> Option<String> {
    use serde::Deserializer as _;
    use serde::de::{self, IgnoredAny, MapAccess, Visitor};

    /// A map key, compared with `kind` without being kept.
    struct IsKind(bool);

    impl<'de> de::Deserialize<'de> for IsKind {
        fn deserialize<D: de::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Key;
            impl Visitor<'_> for Key {
                type Value = IsKind;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a key")
                }
                fn visit_str<E: de::Error>(self, key: &str) -> Result<IsKind, E> {
                    Ok(IsKind(key == "kind"))
                }
            }
            de.deserialize_str(Key)
        }
    }

    struct Leading<'a>(&'a mut Option<String>);

    impl<'de> Visitor<'de> for Leading<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(IsKind(is_kind)) = map.next_key()? {
                if is_kind {
                    *self.0 = Some(map.next_value()?);
                    // Stop here: the decoder reports the unread rest as an error, ignored below.
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut kind = None;
    let mut de = serde_json::Deserializer::from_str(json);
    // Once `kind` is read, the error about the keys after it says nothing about the kind.
    let _ = de.deserialize_map(Leading(&mut kind));
    kind
}

#[derive(serde::Deserialize)]
struct TypeMeta {
    #[serde(default)]
    kind: String,
}

impl Request {
    /// A request for the given operation and object JSON.
    pub fn new(
        operation: Operation,
        object: Option<String>,
        old_object: Option<String>,
        namespace: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            object,
            old_object,
            namespace: namespace.into(),
            settings: "{}".into(),
        }
    }

    /// The JSON of the object the decision is about: the object, or on delete the old object.
    pub fn reviewed_json(&self) -> Option<&str> {
        self.object.as_deref().or(self.old_object.as_deref())
    }

    /// The kind of the reviewed object.
    ///
    /// Reads the top-level keys only up to `kind` (the API server and most manifests put it
    /// first), so asking costs a few bytes of scanning rather than a pass over the whole object.
    /// The rest of the JSON is checked by whatever decodes it next.
    pub fn kind(&self) -> Result<String, Error> {
        match self.reviewed_json() {
            Some(json) => match leading_kind(json) {
                Some(kind) => Ok(kind),
                // No `kind`, or JSON that does not read: decode it all for the exact error.
                None => Ok(decode::<TypeMeta>("object", json)?.kind),
            },
            None => Ok(String::new()),
        }
    }

    /// The object under review decoded as `K` (`None` on delete).
    pub fn object<K: DeserializeOwned + k8s_openapi::Resource>(&self) -> Result<Option<K>, Error> {
        self.object
            .as_deref()
            .map(|j| decode(K::KIND, j))
            .transpose()
    }

    /// The previous object decoded as `K` (`None` on create and lint).
    pub fn old_object<K: DeserializeOwned + k8s_openapi::Resource>(
        &self,
    ) -> Result<Option<K>, Error> {
        self.old_object
            .as_deref()
            .map(|j| decode(K::KIND, j))
            .transpose()
    }

    /// The object the decision is about decoded as `K`: the object, or on delete the old object.
    pub fn reviewed<K: DeserializeOwned + k8s_openapi::Resource>(
        &self,
    ) -> Result<Option<K>, Error> {
        self.reviewed_json().map(|j| decode(K::KIND, j)).transpose()
    }

    /// The metadata of the object the decision is about (the object, or on delete the old
    /// object), without decoding the rest of it.
    pub fn metadata(&self) -> Result<Option<ObjectMeta>, Error> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            #[serde(default)]
            metadata: ObjectMeta,
        }
        self.reviewed_json()
            .map(|j| decode::<Metadata>("object", j).map(|m| m.metadata))
            .transpose()
    }

    /// The object under review decoded as any serde type (`None` on delete).
    ///
    /// Decoding a whole Kubernetes object is most of what a rule costs. A rule that needs a few
    /// fields can declare a struct of just those (serde skips the rest of the JSON quickly):
    ///
    /// ```
    /// # use ws3_policy_sdk::prelude::*;
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Spec { service_name: Option<String> }
    /// #[derive(serde::Deserialize)]
    /// struct Sts { spec: Spec }
    ///
    /// let json = r#"{"kind":"StatefulSet","spec":{"serviceName":"db","replicas":3}}"#;
    /// let req = Request::new(Operation::Lint, Some(json.into()), None, "default");
    /// let sts: Option<Sts> = req.object_as("StatefulSet")?;
    /// assert_eq!(sts.unwrap().spec.service_name.as_deref(), Some("db"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn object_as<T: DeserializeOwned>(&self, what: &str) -> Result<Option<T>, Error> {
        self.object.as_deref().map(|j| decode(what, j)).transpose()
    }

    /// The previous object decoded as any serde type (`None` on create and lint); see
    /// [`object_as`](Self::object_as).
    pub fn old_object_as<T: DeserializeOwned>(&self, what: &str) -> Result<Option<T>, Error> {
        self.old_object
            .as_deref()
            .map(|j| decode(what, j))
            .transpose()
    }

    /// The rule's settings decoded as `T`.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode(
            "settings",
            if self.settings.is_empty() {
                "{}"
            } else {
                &self.settings
            },
        )
    }

    /// Whether this is an admission request (not an offline lint).
    pub fn is_admission(&self) -> bool {
        self.operation != Operation::Lint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSet;

    #[test]
    fn decode_errors_name_the_field_not_the_value() {
        let json = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"replicas":"hunter2","selector":{},"template":{}}}"#;
        let req = Request::new(Operation::Lint, Some(json.into()), None, "default");
        let err = req.object::<StatefulSet>().unwrap_err();
        assert!(err.message().contains("spec.replicas"), "{err}");
        assert!(!err.message().contains("hunter2"), "{err}");
    }

    #[test]
    fn metadata_alone_is_decoded_from_the_reviewed_object() {
        let json = r#"{"kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":"not read"}}"#;
        let req = Request::new(Operation::Delete, None, Some(json.into()), "ns");
        let meta = req.metadata().unwrap().unwrap();
        assert_eq!(meta.name.as_deref(), Some("p"));
        let bad = Request::new(
            Operation::Create,
            Some(r#"{"metadata":{"name":7}}"#.into()),
            None,
            "ns",
        );
        let err = bad.metadata().unwrap_err();
        assert!(err.message().contains("metadata.name"), "{err}");
    }

    #[test]
    fn kind_comes_from_the_reviewed_object() {
        let req = Request::new(
            Operation::Delete,
            None,
            Some(r#"{"kind":"Service"}"#.into()),
            "ns",
        );
        assert_eq!(req.kind().unwrap(), "Service");
    }

    #[test]
    fn kind_is_read_wherever_it_is_and_however_it_is_spelled() {
        let kind = |json: &str| {
            Request::new(Operation::Lint, Some(json.into()), None, "ns")
                .kind()
                .map_err(|e| e.to_string())
        };
        assert_eq!(kind(r#"{"kind":"Pod","spec":{"#).unwrap(), "Pod");
        assert_eq!(
            kind(r#"{"apiVersion":"v1","metadata":{"kind":"x"},"kind":"Service"}"#).unwrap(),
            "Service"
        );
        assert_eq!(
            kind(r#"{"ki\u006ed":"Namespace","a":1}"#).unwrap(),
            "Namespace"
        );
        assert_eq!(kind(r#"{"kind":"Sec\u0072et"}"#).unwrap(), "Secret");
        assert_eq!(kind(r#"{"apiVersion":"v1"}"#).unwrap(), "");
        assert_eq!(kind("{}").unwrap(), "");
        // A `kind` that is not a string, or JSON that breaks before it, is an error that names
        // the field and not the value.
        let err = kind(r#"{"kind":{"s3cr3t":1}}"#).unwrap_err();
        assert!(err.contains("kind") && !err.contains("s3cr3t"), "{err}");
        assert!(kind(r#"{"apiVersion":"v1","#).is_err());
        assert!(kind("7").is_err());
    }
}
