//! The request a rule reviews.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::{Operation, Template, shape::Metadata, workload};

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
        let detail = err.inner().to_string();
        // serde_json adds where in the JSON the host passed it failed: not a place in the
        // user's file (hosts point at `field` there).
        let detail = match detail.rsplit_once(" at line ") {
            Some((before, _)) => before,
            None => &detail,
        };
        let detail = redact_quoted(detail);
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

/// Removes the values a decoder message quotes (serde quotes the offending value, which may be a
/// password: ``invalid type: integer `73915824601`, expected a string``, `unknown variant
/// "hunter2"`): the contents of double-quoted strings become `…`, backquoted values go.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"') => {
                quote = Some('"');
                out.push_str("\"…");
            }
            (None, '`') => {
                quote = Some('`');
                // `type `value`` becomes `type`.
                while out.ends_with(' ') {
                    out.pop();
                }
            }
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => {
                quote = None;
                if q == '"' {
                    out.push('"');
                }
            }
            (Some(_), _) => {}
            (None, c) => out.push(c),
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
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// API group of the object under review (`""` for core).
    pub group: String,
    /// Kind of the object under review.
    pub kind: String,
    /// Name of the object under review (empty when it has none yet).
    pub name: String,
    /// The object under review as JSON (absent on delete).
    pub object: Option<String>,
    /// The previous object as JSON (update and delete).
    pub old_object: Option<String>,
    /// Effective namespace of the object.
    pub namespace: String,
    /// Rule settings as a JSON object.
    pub settings: String,
    /// Where the pod template is when the kind holds one (`""` for a Pod).
    pub pod_template: Option<String>,
    /// Names the set of objects [`Cluster`](crate::Cluster) answers from (see [`crate::memo`]).
    pub context: u64,
}

impl Request {
    /// A request to lint one object of `group`/`kind` given as JSON (doc tests and examples;
    /// rule tests go through `ws3_engine::testing`, which builds requests as the hosts do).
    pub fn lint(group: &str, kind: &str, json: impl Into<String>) -> Self {
        Self {
            operation: Operation::Lint,
            group: group.to_owned(),
            kind: kind.to_owned(),
            object: Some(json.into()),
            namespace: "default".to_owned(),
            settings: "{}".to_owned(),
            ..Self::default()
        }
    }

    /// The JSON of the object the decision is about: the object, or on delete the old object.
    pub fn reviewed_json(&self) -> Option<&str> {
        self.object.as_deref().or(self.old_object.as_deref())
    }

    /// The kind of the object under review.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The object under review decoded as `T`, a struct of the fields the rule reads (serde
    /// skips the rest quickly); `None` on delete.
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
    /// let req = Request::lint("apps", "StatefulSet", json);
    /// let sts: Option<Sts> = req.object_as()?;
    /// assert_eq!(sts.unwrap().spec.service_name.as_deref(), Some("db"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn object_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.object
            .as_deref()
            .map(|j| decode(&self.kind, j))
            .transpose()
    }

    /// The previous object decoded as `T` (`None` on create and lint).
    pub fn old_object_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.old_object
            .as_deref()
            .map(|j| decode(&self.kind, j))
            .transpose()
    }

    /// The object the decision is about decoded as `T`: the object, or on delete the old one.
    pub fn reviewed_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.reviewed_json()
            .map(|j| decode(&self.kind, j))
            .transpose()
    }

    /// The versions of an object being changed, decoded as `T`: on update the old object and
    /// `Some` new one, on delete the old object and `None`. `None` on create and lint, which
    /// change nothing that was there, and when the host sent no old object. Both versions are
    /// decoded (the old one first) before either is returned, so a new version that does not
    /// decode is an error even without an old one.
    pub fn change_as<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<T>)>, Error> {
        let new = match self.operation {
            Operation::Update => self.object_as::<T>(),
            Operation::Delete => Ok(None),
            Operation::Create | Operation::Lint => return Ok(None),
        };
        let old = self.old_object_as::<T>()?;
        let new = new?;
        Ok(old.map(|old| (old, new)))
    }

    /// The metadata of the object the decision is about, without decoding the rest of it.
    pub fn metadata(&self) -> Result<Metadata, Error> {
        #[derive(serde::Deserialize)]
        struct Object {
            #[serde(default, deserialize_with = "crate::shape::nullable")]
            metadata: Metadata,
        }
        Ok(self
            .reviewed_as::<Object>()?
            .map(|o| o.metadata)
            .unwrap_or_default())
    }

    /// The pod template of the object under review (the old one on delete), with the pod spec
    /// decoded as `S`; `None` when the kind holds no pod template. Where the template is comes
    /// from the host, which knows the built-in workload kinds and the configured ones.
    pub fn pod_template_as<S: DeserializeOwned + Default>(
        &self,
    ) -> Result<Option<Template<S>>, Error> {
        match (&self.pod_template, self.reviewed_json()) {
            (Some(path), Some(json)) => workload::template_at(&self.kind, path, json).map(Some),
            _ => Ok(None),
        }
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

    /// Remembers what `derive` computes under `key` for as long as the host answers lookups
    /// from the same objects (one linted file set, one admission review), so that a rule asked
    /// about ten thousand workloads of a namespace reads its NetworkPolicies once. See
    /// [`crate::memo`].
    pub fn memo<T: Clone + 'static>(
        &self,
        key: &str,
        derive: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        crate::memo::get_or_insert(self.context, key, derive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_name_the_field_not_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Spec {
            replicas: Option<i32>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Sts {
            spec: Spec,
        }
        let json = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"replicas":"hunter2"}}"#;
        let req = Request::lint("apps", "StatefulSet", json);
        let err = req.object_as::<Sts>().unwrap_err();
        assert!(err.message().contains("spec.replicas"), "{err}");
        assert!(!err.message().contains("hunter2"), "{err}");
        let json = r#"{"spec":{"replicas":73915824601}}"#;
        let err = Request::lint("apps", "StatefulSet", json)
            .object_as::<Sts>()
            .unwrap_err();
        assert!(!err.message().contains("73915824601"), "{err}");
        assert!(err.message().contains("invalid value: integer"), "{err}");
    }

    #[test]
    fn quoted_values_never_reach_a_message() {
        assert_eq!(
            redact_quoted("invalid type: integer `73915824601`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            redact_quoted(r#"unknown variant "hunter\"2", expected one of"#),
            r#"unknown variant "…", expected one of"#
        );
    }

    #[test]
    fn a_change_is_the_old_version_and_the_new_one() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Named {
            name: String,
        }
        let named = |n: &str| Some(format!(r#"{{"name":"{n}"}}"#));
        let req = |operation, old_object, object| Request {
            operation,
            kind: "Service".into(),
            old_object,
            object,
            ..Request::default()
        };
        let n = |s: &str| Named { name: s.into() };
        let update = req(Operation::Update, named("a"), named("b"));
        assert_eq!(update.change_as().unwrap(), Some((n("a"), Some(n("b")))));
        let delete = req(Operation::Delete, named("a"), None);
        assert_eq!(delete.change_as().unwrap(), Some((n("a"), None)));
        let create = req(Operation::Create, None, named("b"));
        assert_eq!(create.change_as::<Named>().unwrap(), None);
        let no_old = req(Operation::Update, None, named("b"));
        assert_eq!(no_old.change_as::<Named>().unwrap(), None);
        let bad_new = req(Operation::Update, None, Some(r#"{"name":7}"#.into()));
        assert!(bad_new.change_as::<Named>().is_err());
    }

    #[test]
    fn metadata_alone_is_decoded_from_the_reviewed_object() {
        let json = r#"{"kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{"containers":"not read"}}"#;
        let req = Request {
            operation: Operation::Delete,
            kind: "Pod".into(),
            old_object: Some(json.into()),
            ..Request::default()
        };
        assert_eq!(req.metadata().unwrap().name, "p");
        let bad = Request::lint("", "Pod", r#"{"metadata":{"name":7}}"#);
        let err = bad.metadata().unwrap_err();
        assert!(err.message().contains("metadata.name"), "{err}");
    }
}
