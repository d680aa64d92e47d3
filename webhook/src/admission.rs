//! From an `AdmissionReview` to a decision, at the HTTP edge: reading the body, and turning the
//! engine's [`Decision`] into an `AdmissionResponse`. What is decided, and why, is the engine's
//! business ([`ws3_engine::review::admission`]): lifecycle requests, controllers, existing
//! violations, modes, failures. Synchronous and free of I/O: the rules read other objects
//! through the [`ObjectSource`] they are given (the watch caches), so tests drive this module
//! with a fake source and the HTTP layer runs [`Evaluator::evaluate_until`] (inline or on a
//! blocking thread).

use std::{sync::Arc, time::Instant};

use kube::core::{
    GroupVersionKind, Status, admission::AdmissionResponse, admission::Operation as KubeOperation,
};
use serde::Deserialize;
use serde_json::value::RawValue;
pub use ws3_engine::review::admission::{Decision, Skip, describe};
use ws3_engine::{
    Engine, KindRef, ObjectSource, Operation, RuleSet,
    review::admission::{AdmissionRequest, FindingAction as EngineAction, Observer},
};

use crate::metrics::{FindingAction, Metrics};

/// The only AdmissionReview version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// The parts of an `AdmissionReview` request the webhook uses. The objects are kept as the raw
/// JSON the API server sent; the engine drops managed fields and the last-applied annotation
/// before a rule sees them.
#[derive(Debug)]
pub struct ReviewRequest {
    /// Request uid, echoed in the response.
    pub uid: String,
    /// Kind of the object (for the `scale` subresource: `autoscaling/v1 Scale`).
    pub kind: GroupVersionKind,
    /// Subresource, if any.
    pub sub_resource: Option<String>,
    /// Object name.
    pub name: String,
    /// Object namespace; absent for cluster-scoped objects.
    pub namespace: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: KubeOperation,
    /// Who is asking (for logs only).
    pub user: String,
    /// Whether this is a dry run (judged the same way).
    pub dry_run: bool,
    /// The new object (absent on DELETE).
    pub object: Option<Box<RawValue>>,
    /// The old object (UPDATE and DELETE).
    pub old_object: Option<Box<RawValue>>,
    /// The kind as rules name it.
    pub kind_ref: KindRef,
}

/// A body that is not an `admission.k8s.io/v1` AdmissionReview request.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or a field of the wrong type.
    #[error("the body is not a valid AdmissionReview: {0}")]
    Json(String),
    /// Another apiVersion or kind.
    #[error(
        "expected an AdmissionReview of apiVersion {API_VERSION}, got kind `{kind}` of apiVersion `{api_version}`"
    )]
    Version {
        /// The apiVersion sent.
        api_version: String,
        /// The kind sent.
        kind: String,
    },
    /// No `request` field.
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
}

impl ReviewRequest {
    /// Reads an AdmissionReview body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Envelope {
            #[serde(default)]
            api_version: String,
            #[serde(default)]
            kind: String,
            request: Option<Wire>,
        }
        #[derive(Deserialize, Default)]
        struct User {
            #[serde(default)]
            username: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            uid: String,
            kind: GroupVersionKind,
            #[serde(default)]
            sub_resource: Option<String>,
            #[serde(default)]
            name: String,
            #[serde(default)]
            namespace: Option<String>,
            operation: KubeOperation,
            #[serde(default)]
            user_info: User,
            #[serde(default)]
            dry_run: Option<bool>,
            #[serde(default)]
            object: Option<Box<RawValue>>,
            #[serde(default)]
            old_object: Option<Box<RawValue>>,
        }
        // The fast path parses plainly; only a body that fails is parsed again to name the field.
        let envelope: Envelope = match serde_json::from_slice(body) {
            Ok(envelope) => envelope,
            Err(plain) => {
                let de = &mut serde_json::Deserializer::from_slice(body);
                let error = match serde_path_to_error::deserialize::<_, Envelope>(de) {
                    Ok(_) => plain.to_string(),
                    Err(e) => {
                        let path = e.path().to_string();
                        let inner = e.into_inner();
                        if path == "." || path == "?" || path.is_empty() {
                            inner.to_string()
                        } else {
                            format!("{path}: {inner}")
                        }
                    }
                };
                return Err(ParseError::Json(error));
            }
        };
        if envelope.api_version != API_VERSION || envelope.kind != "AdmissionReview" {
            return Err(ParseError::Version {
                api_version: envelope.api_version,
                kind: envelope.kind,
            });
        }
        let w = envelope.request.ok_or(ParseError::NoRequest)?;
        // `"object": null` arrives as a raw `null` when the field is present.
        let not_null = |v: Option<Box<RawValue>>| v.filter(|raw| raw.get().trim() != "null");
        Ok(Self {
            uid: w.uid,
            kind_ref: KindRef::new(w.kind.group.clone(), w.kind.kind.clone()),
            kind: w.kind,
            sub_resource: w.sub_resource.filter(|s| !s.is_empty()),
            name: w.name,
            namespace: w.namespace.filter(|s| !s.is_empty()),
            operation: w.operation,
            user: w.user_info.username.unwrap_or_default(),
            dry_run: w.dry_run.unwrap_or(false),
            object: not_null(w.object),
            old_object: not_null(w.old_object),
        })
    }

    /// The operation as the API spells it.
    pub fn operation_str(&self) -> &'static str {
        match self.operation {
            KubeOperation::Create => "CREATE",
            KubeOperation::Update => "UPDATE",
            KubeOperation::Delete => "DELETE",
            KubeOperation::Connect => "CONNECT",
        }
    }

    /// The request as the engine reads it; `None` for CONNECT, which is never reviewed.
    pub fn admission(&self) -> Option<AdmissionRequest<'_>> {
        let operation = match self.operation {
            KubeOperation::Create => Operation::Create,
            KubeOperation::Update => Operation::Update,
            KubeOperation::Delete => Operation::Delete,
            KubeOperation::Connect => return None,
        };
        Some(AdmissionRequest {
            operation,
            kind: &self.kind_ref,
            sub_resource: self.sub_resource.as_deref(),
            name: &self.name,
            namespace: self.namespace.as_deref().unwrap_or(""),
            user: &self.user,
            object: self.object.as_deref().map(RawValue::get),
            old_object: self.old_object.as_deref().map(RawValue::get),
        })
    }
}

/// The admission response for the request with this uid.
pub fn response(decision: &Decision, uid: &str) -> AdmissionResponse {
    // `invalid` is the public constructor that needs no AdmissionRequest; every field that
    // matters is set below.
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid.to_owned();
    response.allowed = decision.allowed;
    response.result = if decision.allowed {
        Status::default()
    } else {
        Status::failure(&decision.message(), "Forbidden").with_code(403)
    };
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.clone());
    }
    response
}

/// Records what the engine reports into the webhook's metrics.
struct Recorder<'a>(&'a Metrics);

impl Observer for Recorder<'_> {
    fn evaluated(&self, rule: &str, took: std::time::Duration, failed: bool) {
        self.0.evaluation(rule, took, failed);
    }

    fn rule_error(&self, rule: &str) {
        self.0.rule_error(rule);
    }

    fn finding(&self, rule: &str, action: EngineAction) {
        self.0.finding(
            rule,
            match action {
                EngineAction::Deny => FindingAction::Deny,
                EngineAction::Warn => FindingAction::Warn,
                EngineAction::Suppressed => FindingAction::Suppressed,
                EngineAction::Existing => FindingAction::Existing,
            },
        );
    }
}

/// The rules in force and the wasm engine that runs them.
#[derive(Debug)]
pub struct Evaluator {
    engine: Engine,
    rules: RuleSet,
    metrics: Arc<Metrics>,
}

impl Evaluator {
    /// An evaluator over a loaded rule set.
    pub fn new(engine: Engine, rules: RuleSet, metrics: Arc<Metrics>) -> Self {
        Self {
            engine,
            rules,
            metrics,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Whether the rule with this id reads other objects of the cluster.
    pub fn reads_cluster(&self, id: &str) -> bool {
        self.rules
            .get(id)
            .is_some_and(|r| !r.rule.meta().reads.is_empty())
    }

    /// The metrics this evaluator records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the request needs no rule at all, and why.
    pub fn skip(&self, req: &ReviewRequest, source: &Arc<dyn ObjectSource>) -> Option<Skip> {
        match req.admission() {
            None => Some(Skip::Connect),
            Some(admission) => self.rules.admission_skip(&admission, source),
        }
    }

    /// Judges one request: runs every applicable rule, each within the engine's deadline.
    pub fn evaluate(&self, req: &ReviewRequest, source: &Arc<dyn ObjectSource>) -> Decision {
        self.evaluate_until(req, source, None)
    }

    /// [`Evaluator::evaluate`], finishing by `deadline` (the review's): a rule still running
    /// then is stopped, and it and the rules not started yet fail with a message that says so.
    pub fn evaluate_until(
        &self,
        req: &ReviewRequest,
        source: &Arc<dyn ObjectSource>,
        deadline: Option<Instant>,
    ) -> Decision {
        match req.admission() {
            None => Decision::skip(Skip::Connect),
            Some(admission) => self.rules.admit(
                &self.engine,
                &admission,
                source,
                deadline,
                &Recorder(&self.metrics),
            ),
        }
    }

    /// The decision when the rules could not run at all (no evaluation slot before the
    /// deadline, or the evaluation did not finish): every applicable rule counts as failed.
    pub fn unavailable(
        &self,
        req: &ReviewRequest,
        source: &Arc<dyn ObjectSource>,
        why: &str,
    ) -> Decision {
        match req.admission() {
            None => Decision::skip(Skip::Connect),
            Some(admission) => {
                self.rules
                    .unavailable(&admission, source, why, &Recorder(&self.metrics))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STS: &str = r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u1","kind":{"group":"apps","version":"v1","kind":"StatefulSet"},"resource":{"group":"apps","version":"v1","resource":"statefulsets"},"name":"db","namespace":"shop","operation":"DELETE","userInfo":{"username":"alice","groups":["x"]},"object":null,"oldObject":{"kind":"StatefulSet","metadata":{"name":"db"}},"dryRun":true,"options":{}}}"#;

    #[test]
    fn parses_the_parts_it_needs() {
        let r = ReviewRequest::parse(STS.as_bytes()).unwrap();
        assert_eq!(r.uid, "u1");
        assert_eq!(r.kind.kind, "StatefulSet");
        assert_eq!(r.kind_ref, KindRef::new("apps", "StatefulSet"));
        assert_eq!(r.operation, KubeOperation::Delete);
        assert!(r.object.is_none());
        assert_eq!(
            r.old_object.as_ref().unwrap().get(),
            r#"{"kind":"StatefulSet","metadata":{"name":"db"}}"#
        );
        assert!(r.dry_run);
        assert_eq!(r.user, "alice");
        let a = r.admission().unwrap();
        assert_eq!(
            (a.namespace, a.name, a.operation),
            ("shop", "db", Operation::Delete)
        );
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let err = ReviewRequest::parse(b"{not json").unwrap_err().to_string();
        assert!(err.contains("not a valid AdmissionReview"), "{err}");
        let err = ReviewRequest::parse(b"{").unwrap_err().to_string();
        assert!(!err.contains('?'), "{err}");
        let err = ReviewRequest::parse(STS.replace("DELETE", "PATCH").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("request.operation") && err.contains("PATCH"),
            "{err}"
        );
        let err = ReviewRequest::parse(
            STS.replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("v1beta1"), "{err}");
        let err = ReviewRequest::parse(
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no `request`"), "{err}");
        let err = ReviewRequest::parse(STS.replace(r#""uid":"u1","#, "").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("uid"), "{err}");
    }

    #[test]
    fn denial_response_lists_findings_with_code_403() {
        let mut d = Decision::skip(Skip::NoRule);
        d.skipped = None;
        d.deny("r", "[r] bad at spec.x; fix: do y".into());
        d.warn("w", "ws3 [w] meh".into());
        let resp = response(&d, "abc");
        assert!(!resp.allowed);
        assert_eq!(resp.uid, "abc");
        assert_eq!(resp.result.code, 403);
        assert!(
            resp.result
                .message
                .contains("- [r] bad at spec.x; fix: do y"),
            "{}",
            resp.result.message
        );
        assert_eq!(
            resp.warnings.as_deref(),
            Some(&["ws3 [w] meh".to_owned()][..])
        );
        let json = serde_json::to_value(resp.into_review()).unwrap();
        assert_eq!(json["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(json["kind"], "AdmissionReview");
        assert_eq!(json["response"]["status"]["code"], 403);
    }
}
