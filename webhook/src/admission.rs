//! From an `AdmissionReview` to a decision. Synchronous and free of I/O: the rules read other
//! objects through the [`ObjectSource`] they are given, so tests drive this module with a fake
//! source and the HTTP layer runs [`Evaluator::evaluate`] (inline or on a blocking thread).
//!
//! What is decided here:
//! - CONNECT, any subresource (`scale`, `status`, ...), exempt namespaces and kinds no enabled
//!   rule applies to are allowed at once, without running a module.
//! - Otherwise every enabled rule for the kind runs, in a fresh instance, on the object as the API
//!   server sent it (DELETE: `oldObject`, no object). `dryRun` changes nothing.
//! - A rule in `enforce` mode denies with its unsuppressed error findings; its warning and info
//!   findings become admission warnings. In `warn` mode every finding is a warning.
//! - Findings suppressed by a `ws3.dev/ignore` annotation never deny; one warning names the rule.
//! - A module that fails (trap, timeout, memory cap, invalid or refused result) denies with a
//!   message naming the rule, or with `onError: allow` (and in `warn` mode) allows with a warning.

mod strip;

use std::{sync::Arc, time::Instant};

use kube::core::{
    GroupVersionKind, Status, admission::AdmissionResponse, admission::Operation as KubeOperation,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use ws3_engine::{
    ConfiguredRule, Engine, EvalError, Finding, KindRef, Mode, ObjectSource, OnError, Operation,
    Request, RuleSet, Severity, apply_suppressions, ignore_annotation,
};

pub use self::strip::strip_noise;
use crate::metrics::{FindingAction, Metrics};

/// The only AdmissionReview version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Longest warning sent back; the API server may truncate longer ones.
const MAX_WARNING: usize = 256;
/// Most warnings sent back for one review.
const MAX_WARNINGS: usize = 32;

/// The parts of an `AdmissionReview` request the webhook uses. The objects are kept as the raw
/// JSON the API server sent; rules get them without managed fields and the last-applied
/// annotation ([`strip_noise`]).
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

    /// The namespace rules see: the object's own name for a Namespace, empty for other
    /// cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if self.kind.group.is_empty() && self.kind.kind == "Namespace" {
            &self.name
        } else {
            self.namespace.as_deref().unwrap_or("")
        }
    }

    /// The kind as rules name it.
    pub fn kind_ref(&self) -> KindRef {
        KindRef::new(self.kind.group.clone(), self.kind.kind.clone())
    }
}

/// Why a review was allowed without running any rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// CONNECT is not reviewed.
    Connect,
    /// A subresource (`scale`, `status`, ...) is not reviewed.
    Subresource,
    /// The namespace is exempt.
    ExemptNamespace,
    /// No enabled rule reviews this kind.
    NoRule,
}

impl Skip {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect-not-reviewed",
            Self::Subresource => "subresource-not-reviewed",
            Self::ExemptNamespace => "exempt-namespace",
            Self::NoRule => "no-rule-for-kind",
        }
    }
}

/// The outcome of one review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Set when no rule ran.
    pub skipped: Option<Skip>,
    /// One line per denying finding or failed rule.
    pub denials: Vec<String>,
    /// Admission warnings.
    pub warnings: Vec<String>,
    /// Ids of the rules that denied.
    pub denied_by: Vec<String>,
    /// Ids of the rules that produced a warning (findings, suppressions or failures).
    pub warned_by: Vec<String>,
    /// Ids of the rules that failed to evaluate.
    pub failed: Vec<String>,
}

impl Decision {
    /// Allowed without running any rule.
    pub fn skip(reason: Skip) -> Self {
        Self {
            allowed: true,
            skipped: Some(reason),
            denials: Vec::new(),
            warnings: Vec::new(),
            denied_by: Vec::new(),
            warned_by: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn evaluated() -> Self {
        Self {
            skipped: None,
            ..Self::skip(Skip::NoRule)
        }
    }

    /// `allowed` or `denied`, for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        if self.allowed { "allowed" } else { "denied" }
    }

    /// The status message of a denial: every finding, one per line.
    pub fn message(&self) -> String {
        let mut out = String::from("denied by ws3");
        for line in &self.denials {
            out.push_str("\n- ");
            out.push_str(line);
        }
        out
    }

    /// The admission response for the request with this uid.
    pub fn response(&self, uid: &str) -> AdmissionResponse {
        // `invalid` is the public constructor that needs no AdmissionRequest; every field that
        // matters is set below.
        let mut response = AdmissionResponse::invalid("");
        response.uid = uid.to_owned();
        response.allowed = self.allowed;
        response.result = if self.allowed {
            Status::default()
        } else {
            Status::failure(&self.message(), "Forbidden").with_code(403)
        };
        if !self.warnings.is_empty() {
            response.warnings = Some(self.warnings.clone());
        }
        response
    }

    fn deny(&mut self, rule: &str, line: String) {
        self.allowed = false;
        self.denials.push(line);
        push_unique(&mut self.denied_by, rule);
    }

    fn warn(&mut self, rule: &str, text: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(truncate(text, MAX_WARNING));
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings
                .push("ws3: more warnings were left out".to_owned());
        }
        push_unique(&mut self.warned_by, rule);
    }
}

fn push_unique(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|x| x == id) {
        list.push(id.to_owned());
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// One finding as a line: `[rule] message (at path); fix: hint`.
pub fn describe(finding: &Finding) -> String {
    let mut line = format!("[{}] {}", finding.rule_id, finding.message);
    if let Some(subject) = &finding.subject {
        line.push_str(&format!(" ({subject})"));
    }
    if !finding.path.is_empty() {
        line.push_str(&format!(" at {}", finding.path));
    }
    if !finding.hint.is_empty() {
        line.push_str(&format!("; fix: {}", finding.hint));
    }
    line
}

/// Why a rule failed when the review's deadline, not its own, ran out.
const REVIEW_DEADLINE: &str = "the review deadline ran out before the rule finished";

/// The rules in force and the wasm engine that runs them.
#[derive(Debug)]
pub struct Evaluator {
    engine: Engine,
    rules: Vec<ConfiguredRule>,
    exempt: Vec<String>,
    metrics: Arc<Metrics>,
}

impl Evaluator {
    /// An evaluator over these rules; requests in `exempt` namespaces are allowed at once.
    pub fn new(
        engine: Engine,
        rules: Vec<ConfiguredRule>,
        exempt: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            rules,
            exempt,
            metrics,
        }
    }

    /// An evaluator over a loaded rule set, with its exempt namespaces plus `extra_exempt`.
    pub fn from_rule_set(
        engine: Engine,
        rules: &RuleSet,
        extra_exempt: &[String],
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut exempt = rules.exempt_namespaces().to_vec();
        for ns in extra_exempt {
            if !exempt.contains(ns) {
                exempt.push(ns.clone());
            }
        }
        Self::new(engine, rules.all().to_vec(), exempt, metrics)
    }

    /// Every rule, enabled or not.
    pub fn rules(&self) -> &[ConfiguredRule] {
        &self.rules
    }

    /// The exempt namespaces.
    pub fn exempt_namespaces(&self) -> &[String] {
        &self.exempt
    }

    /// Whether the rule with this id reads other objects of the cluster.
    pub fn reads_cluster(&self, id: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.rule.meta().id == id && !r.rule.meta().reads.is_empty())
    }

    /// The metrics this evaluator records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn applicable<'a>(
        &'a self,
        kind: &'a KindRef,
    ) -> impl Iterator<Item = &'a ConfiguredRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.enabled && r.rule.meta().applies_to(kind))
    }

    /// Whether the request needs no rule at all, and why.
    pub fn skip(&self, req: &ReviewRequest) -> Option<Skip> {
        if req.operation == KubeOperation::Connect {
            return Some(Skip::Connect);
        }
        if req.sub_resource.is_some() {
            return Some(Skip::Subresource);
        }
        let namespace = req.effective_namespace();
        if !namespace.is_empty() && self.exempt.iter().any(|n| n == namespace) {
            return Some(Skip::ExemptNamespace);
        }
        let kind = req.kind_ref();
        if self.applicable(&kind).next().is_none() {
            return Some(Skip::NoRule);
        }
        None
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
        if let Some(skip) = self.skip(req) {
            return Decision::skip(skip);
        }
        let operation = match req.operation {
            KubeOperation::Create => Operation::Create,
            KubeOperation::Update => Operation::Update,
            KubeOperation::Delete => Operation::Delete,
            KubeOperation::Connect => return Decision::skip(Skip::Connect),
        };
        let object = if operation == Operation::Delete {
            None
        } else {
            req.object.as_deref().map(strip_noise)
        };
        let old_object = req.old_object.as_deref().map(strip_noise);
        let (object, old_object) = (object.as_deref(), old_object.as_deref());
        // Read only when a rule finds something: most reviews have no finding.
        let mut annotation: Option<Option<String>> = None;
        let namespace = req.effective_namespace();
        let kind = req.kind_ref();
        let mut decision = Decision::evaluated();
        for rule in self.applicable(&kind) {
            let request = Request {
                operation,
                object,
                old_object,
                namespace,
                settings: &rule.settings,
            };
            let started = Instant::now();
            let id = rule.rule.meta().id.as_str();
            let left = deadline.map(|d| d.saturating_duration_since(started));
            if left.is_some_and(|left| left.is_zero()) {
                self.metrics.rule_error(id);
                self.fail(rule, REVIEW_DEADLINE, &mut decision);
                continue;
            }
            let result = match left {
                Some(left) => {
                    rule.rule
                        .evaluate_within(&self.engine, Arc::clone(source), &request, left)
                }
                None => rule
                    .rule
                    .evaluate(&self.engine, Arc::clone(source), &request),
            };
            // Stopped by the review's deadline rather than the rule's own.
            let result = match result {
                Err(EvalError::Timeout { deadline, .. })
                    if left.is_some_and(|left| deadline == left) =>
                {
                    Err(REVIEW_DEADLINE.to_owned())
                }
                other => other.map_err(|e| e.to_string()),
            };
            self.metrics
                .evaluation(id, started.elapsed(), result.is_err());
            match result {
                Ok(mut findings) => {
                    for f in &mut findings {
                        rule.apply_severity(f);
                    }
                    if !findings.is_empty() {
                        let annotation = annotation.get_or_insert_with(|| {
                            object.or(old_object).and_then(ignore_annotation)
                        });
                        apply_suppressions(&mut findings, annotation.as_deref(), source.as_ref());
                    }
                    self.judge(rule, &findings, &mut decision);
                }
                Err(error) => self.fail(rule, &error, &mut decision),
            }
        }
        decision
    }

    fn judge(&self, rule: &ConfiguredRule, findings: &[Finding], decision: &mut Decision) {
        let id = rule.rule.meta().id.as_str();
        let mut suppressed = Vec::new();
        for finding in findings {
            if finding.suppressed {
                self.metrics.finding(id, FindingAction::Suppressed);
                if let Some(subject) = &finding.subject {
                    push_unique(&mut suppressed, &subject.to_string());
                } else {
                    push_unique(&mut suppressed, "this object");
                }
            } else if rule.mode == Mode::Enforce && finding.severity == Severity::Error {
                self.metrics.finding(id, FindingAction::Deny);
                decision.deny(id, describe(finding));
            } else {
                self.metrics.finding(id, FindingAction::Warn);
                decision.warn(id, format!("ws3 {}", describe(finding)));
            }
        }
        for on in suppressed {
            decision.warn(
                id,
                format!("ws3 [{id}] findings suppressed by the ws3.dev/ignore annotation on {on}"),
            );
        }
    }

    fn fail(&self, rule: &ConfiguredRule, error: &str, decision: &mut Decision) {
        let id = rule.rule.meta().id.as_str();
        push_unique(&mut decision.failed, id);
        if rule.on_error == OnError::Deny && rule.mode == Mode::Enforce {
            decision.deny(id, format!("[{id}] the rule could not be evaluated, so the request is denied (onError: deny): {error}"));
        } else {
            let why = if rule.on_error == OnError::Allow {
                "onError: allow"
            } else {
                "warn mode"
            };
            decision.warn(
                id,
                format!("ws3 [{id}] the rule could not be evaluated; allowed ({why}): {error}"),
            );
        }
    }

    /// The decision when the rules could not run at all (no evaluation slot before the
    /// deadline, or the evaluation did not finish): every applicable rule counts as failed.
    pub fn unavailable(&self, req: &ReviewRequest, why: &str) -> Decision {
        if let Some(skip) = self.skip(req) {
            return Decision::skip(skip);
        }
        let kind = req.kind_ref();
        let mut decision = Decision::evaluated();
        for rule in self.applicable(&kind) {
            self.metrics.rule_error(&rule.rule.meta().id);
            self.fail(rule, why, &mut decision);
        }
        decision
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
        assert_eq!(r.operation, KubeOperation::Delete);
        assert!(r.object.is_none());
        assert_eq!(
            r.old_object.as_ref().unwrap().get(),
            r#"{"kind":"StatefulSet","metadata":{"name":"db"}}"#
        );
        assert!(r.dry_run);
        assert_eq!(r.user, "alice");
        assert_eq!(r.effective_namespace(), "shop");
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
        let mut d = Decision::evaluated();
        d.deny("r", "[r] bad at spec.x; fix: do y".into());
        d.warn("w", "ws3 [w] meh".into());
        let resp = d.response("abc");
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

    #[test]
    fn warnings_are_bounded() {
        let mut d = Decision::evaluated();
        for _ in 0..100 {
            d.warn("w", "x".repeat(1000));
        }
        assert_eq!(d.warnings.len(), MAX_WARNINGS + 1);
        assert!(d.warnings.iter().all(|w| w.len() <= MAX_WARNING));
    }
}
