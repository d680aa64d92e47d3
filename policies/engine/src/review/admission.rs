//! Judging one admission request.
//!
//! What is decided here (the webhook only turns the [`Decision`] into an AdmissionResponse):
//! - Subresources (`scale`, `status`, ...), exempt namespaces, and kinds and operations no
//!   enabled rule judges are allowed at once, without running a module.
//! - The cluster's own lifecycle is never blocked: anything the garbage collector or the
//!   namespace controller does (deletes, and the garbage collector's orphaning updates), anything
//!   in a namespace that is being deleted, and updates of an object that is being deleted
//!   (finalizers) are allowed without running a module.
//! - An object whose controller is a kind ws3 reviews (a Pod of a ReplicaSet) is not judged
//!   again; its controller was.
//! - Otherwise every rule that judges the kind and operation runs in a fresh instance on the
//!   object (DELETE: `oldObject`, whose metadata also names the object when the request's
//!   `name` is empty, as in a delete-collection). `dryRun` changes nothing.
//! - A rule in `enforce` mode denies with its unsuppressed error findings; its warning and info
//!   findings become admission warnings. In `warn` mode every finding is a warning.
//! - On UPDATE, a finding the old object already had (same rule, subject and path) does not deny
//!   (`allowExistingViolations`, default true): it comes back as a warning saying it is an
//!   existing violation; the denial names only what the change introduces.
//! - Findings suppressed by a `ws3.dev/ignore` annotation never deny; one warning names the rule.
//! - A module that fails (trap, timeout, memory cap, invalid or refused result) denies with a
//!   message naming the rule, or with `onError: allow` (and in `warn` mode) allows with a warning.

use std::{
    borrow::Cow,
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{Annotation, Source, Subject, configure, next_context};
use crate::{
    config::{Mode, OnError},
    engine::Engine,
    error::EvalError,
    object::{ObjectMeta, is_namespace, rule_view},
    ruleset::{ConfiguredRule, RuleSet},
    types::{Finding, KindRef, ObjectRef, Operation, Severity},
};

/// Longest warning sent back; the API server may truncate longer ones.
const MAX_WARNING: usize = 256;
/// Most warnings sent back for one review.
const MAX_WARNINGS: usize = 32;

/// The identities whose requests are the cluster's own housekeeping: the garbage collector
/// (deleting what lost its owner, removing owner references and finalizers when orphaning), the
/// namespace controller (emptying a namespace being deleted, through delete-collection), and the
/// controller manager itself when it runs without one service account per controller. Denying
/// them leaves orphans behind or a namespace `Terminating` forever.
pub const LIFECYCLE_USERS: &[&str] = &[
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:kube-controller-manager",
];

/// The parts of an admission request a decision depends on. Objects are JSON as the API server
/// sent them (valid JSON; `managedFields` and the last-applied annotation are dropped here).
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest<'a> {
    /// CREATE, UPDATE or DELETE (CONNECT is never reviewed; the webhook skips it).
    pub operation: Operation,
    /// The kind of the object (for the `scale` subresource: the parent's).
    pub kind: &'a KindRef,
    /// Subresource, if any.
    pub sub_resource: Option<&'a str>,
    /// The request's `name` (empty in a delete-collection).
    pub name: &'a str,
    /// The request's `namespace` (empty for cluster-scoped objects).
    pub namespace: &'a str,
    /// Who is asking.
    pub user: &'a str,
    /// The new object (absent on DELETE).
    pub object: Option<&'a str>,
    /// The old object (UPDATE and DELETE).
    pub old_object: Option<&'a str>,
}

impl AdmissionRequest<'_> {
    /// The object judged: the new one, or on DELETE the old one.
    fn judged(&self) -> Option<&str> {
        if self.operation == Operation::Delete {
            self.old_object
        } else {
            self.object
        }
    }
}

/// Why a review was allowed without running any rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// CONNECT is not reviewed.
    Connect,
    /// A subresource (`scale`, `status`, ...) is not reviewed.
    Subresource,
    /// The namespace is exempt for every rule that would judge the request.
    ExemptNamespace,
    /// No enabled rule judges this kind and operation.
    NoRule,
    /// A request of the garbage collector, the namespace controller or the controller manager.
    Housekeeping,
    /// The namespace is being deleted.
    NamespaceTerminating,
    /// The object itself is being deleted (an update that removes finalizers, say).
    ObjectDeleting,
    /// The object's controller is a kind ws3 reviews.
    Controlled,
}

impl Skip {
    /// For logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect-not-reviewed",
            Self::Subresource => "subresource-not-reviewed",
            Self::ExemptNamespace => "exempt-namespace",
            Self::NoRule => "no-rule-for-kind",
            Self::Housekeeping => "lifecycle-housekeeping",
            Self::NamespaceTerminating => "lifecycle-namespace-terminating",
            Self::ObjectDeleting => "lifecycle-object-deleting",
            Self::Controlled => "controlled-by-reviewed-kind",
        }
    }
}

/// What happened to one finding, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingAction {
    /// It denied the request.
    Deny,
    /// It became a warning.
    Warn,
    /// An annotation suppressed it.
    Suppressed,
    /// The old object had it already; it became a warning.
    Existing,
}

/// What the webhook records about evaluations.
pub trait Observer {
    /// A rule ran (or failed to) in `took`.
    fn evaluated(&self, _rule: &str, _took: Duration, _failed: bool) {}
    /// A rule failed without running (no time left, no slot).
    fn rule_error(&self, _rule: &str) {}
    /// What became of a finding.
    fn finding(&self, _rule: &str, _action: FindingAction) {}
}

/// An observer that records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

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

    /// Adds a denial by `rule`.
    pub fn deny(&mut self, rule: &str, line: String) {
        self.allowed = false;
        self.denials.push(line);
        push_unique(&mut self.denied_by, rule);
    }

    /// Adds a warning by `rule` (bounded in length and number).
    pub fn warn(&mut self, rule: &str, text: String) {
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

/// One finding as a line: `[rule] message (subject) at path; fix: hint`.
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

/// A request read once: identity, metadata and the JSON rules see.
struct Read<'a> {
    meta: ObjectMeta,
    name: Cow<'a, str>,
    namespace: Cow<'a, str>,
}

fn read<'a>(req: &AdmissionRequest<'a>) -> Read<'a> {
    let meta = req.judged().map(ObjectMeta::read).unwrap_or_default();
    let name: Cow<'a, str> = if req.name.is_empty() {
        Cow::Owned(meta.name.clone())
    } else {
        Cow::Borrowed(req.name)
    };
    // A Namespace's requests are about the namespace of its own name.
    let namespace = if is_namespace(req.kind) {
        name.clone()
    } else {
        Cow::Borrowed(req.namespace)
    };
    Read {
        meta,
        name,
        namespace,
    }
}

impl RuleSet {
    /// Whether the request needs no rule at all, and why. Reads the object's metadata and, for
    /// namespaced objects, the Namespace from `source`.
    pub fn admission_skip(&self, req: &AdmissionRequest<'_>, source: &Source) -> Option<Skip> {
        self.skip_read(req, &read(req), source)
    }

    fn skip_read(&self, req: &AdmissionRequest<'_>, r: &Read<'_>, source: &Source) -> Option<Skip> {
        if req.sub_resource.is_some_and(|s| !s.is_empty()) {
            return Some(Skip::Subresource);
        }
        if LIFECYCLE_USERS.contains(&req.user) {
            return Some(Skip::Housekeeping);
        }
        let mut judging = self.for_kind(req.kind, req.operation).peekable();
        if judging.peek().is_none() {
            return Some(Skip::NoRule);
        }
        if judging.all(|rule| rule.is_exempt(&r.namespace)) {
            return Some(Skip::ExemptNamespace);
        }
        if req.operation == Operation::Update && r.meta.deleting {
            return Some(Skip::ObjectDeleting);
        }
        if !is_namespace(req.kind) && !r.namespace.is_empty() {
            let terminating = source
                .get(&KindRef::new("", "Namespace"), "", &r.namespace)
                .is_some_and(|json| ObjectMeta::read(&json).deleting);
            if terminating {
                return Some(Skip::NamespaceTerminating);
            }
        }
        if self.skips_controlled(r.meta.controller.as_ref()) {
            return Some(Skip::Controlled);
        }
        None
    }

    /// Judges one request: runs every rule that judges it, each within the engine's deadline
    /// and all by `deadline` (the review's): a rule still running then is stopped, and it and
    /// the rules not started yet fail with a message that says so.
    pub fn admit(
        &self,
        engine: &Engine,
        req: &AdmissionRequest<'_>,
        source: &Source,
        deadline: Option<Instant>,
        observer: &dyn Observer,
    ) -> Decision {
        let r = read(req);
        if let Some(skip) = self.skip_read(req, &r, source) {
            return Decision::skip(skip);
        }
        let object = match req.operation {
            Operation::Delete => None,
            _ => req.object.map(rule_view),
        };
        let old_object = req.old_object.map(rule_view);
        let subject = Subject {
            operation: req.operation,
            kind: req.kind,
            name: &r.name,
            namespace: &r.namespace,
            object: object.as_deref(),
            old_object: old_object.as_deref(),
            context: next_context(),
        };
        let mut annotation = Annotation::known(r.meta.ignore.clone());
        let mut decision = Decision::evaluated();
        for rule in self.select(req.kind, req.operation, &r.namespace) {
            let run =
                |subject: &Subject<'_>| self.run(engine, rule, subject, source, deadline, observer);
            match run(&subject) {
                Ok(mut findings) => {
                    configure(rule, &mut findings, &mut annotation, source.as_ref());
                    let existing = if req.operation == Operation::Update
                        && rule.allow_existing_violations
                        && findings.iter().any(|f| denies(rule, f))
                    {
                        // What the old object, left as it was, already had.
                        let unchanged = Subject {
                            object: subject.old_object,
                            ..subject
                        };
                        match run(&unchanged) {
                            Ok(mut old) => {
                                for f in &mut old {
                                    rule.apply_severity(f);
                                }
                                old.iter()
                                    .map(|f| (f.subject.clone(), f.path.clone()))
                                    .collect()
                            }
                            // Cannot tell: every finding counts as new (fail closed).
                            Err(_) => HashSet::new(),
                        }
                    } else {
                        HashSet::new()
                    };
                    judge(
                        rule,
                        &findings,
                        &existing,
                        req.operation,
                        &mut decision,
                        observer,
                    );
                }
                Err(error) => fail(rule, &error, &mut decision),
            }
        }
        decision
    }

    /// One rule on one subject, within what is left of `deadline`.
    fn run(
        &self,
        engine: &Engine,
        rule: &ConfiguredRule,
        subject: &Subject<'_>,
        source: &Source,
        deadline: Option<Instant>,
        observer: &dyn Observer,
    ) -> Result<Vec<Finding>, String> {
        let started = Instant::now();
        let id = rule.id();
        let left = deadline.map(|d| d.saturating_duration_since(started));
        if left.is_some_and(|left| left.is_zero()) {
            observer.rule_error(id);
            return Err(REVIEW_DEADLINE.to_owned());
        }
        let request = subject.request(self, rule);
        let result = match left {
            Some(left) => rule
                .rule
                .evaluate_within(engine, Arc::clone(source), &request, left),
            None => rule.rule.evaluate(engine, Arc::clone(source), &request),
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
        observer.evaluated(id, started.elapsed(), result.is_err());
        result
    }

    /// The decision when the rules could not run at all (no evaluation slot before the
    /// deadline, or the evaluation did not finish): every rule that would judge it failed.
    pub fn unavailable(
        &self,
        req: &AdmissionRequest<'_>,
        source: &Source,
        why: &str,
        observer: &dyn Observer,
    ) -> Decision {
        let r = read(req);
        if let Some(skip) = self.skip_read(req, &r, source) {
            return Decision::skip(skip);
        }
        let mut decision = Decision::evaluated();
        for rule in self.select(req.kind, req.operation, &r.namespace) {
            observer.rule_error(rule.id());
            fail(rule, why, &mut decision);
        }
        decision
    }

    /// Whether any rule that would judge this request reads other objects (a denial by one may
    /// be worth judging again once the caches caught up).
    pub fn reads_cluster(&self, kind: &KindRef, operation: Operation) -> bool {
        self.for_kind(kind, operation)
            .any(|r| !r.rule.meta().reads.is_empty())
    }
}

/// Whether a finding would deny in the rule's mode.
fn denies(rule: &ConfiguredRule, finding: &Finding) -> bool {
    !finding.suppressed && rule.mode == Mode::Enforce && finding.severity == Severity::Error
}

fn judge(
    rule: &ConfiguredRule,
    findings: &[Finding],
    existing: &HashSet<(Option<ObjectRef>, String)>,
    operation: Operation,
    decision: &mut Decision,
    observer: &dyn Observer,
) {
    let id = rule.id();
    let mut suppressed = Vec::new();
    for finding in findings {
        if finding.suppressed {
            observer.finding(id, FindingAction::Suppressed);
            let on = finding
                .subject
                .as_ref()
                .map_or_else(|| "this object".to_owned(), ToString::to_string);
            if !suppressed.contains(&on) {
                suppressed.push(on);
            }
        } else if denies(rule, finding) {
            if existing.contains(&(finding.subject.clone(), finding.path.clone())) {
                observer.finding(id, FindingAction::Existing);
                decision.warn(
                    id,
                    format!(
                        "ws3 existing violation, not introduced by this change: {}",
                        describe(finding)
                    ),
                );
            } else {
                observer.finding(id, FindingAction::Deny);
                let line = describe(finding);
                decision.deny(
                    id,
                    if operation == Operation::Update {
                        format!("introduced by this change: {line}")
                    } else {
                        line
                    },
                );
            }
        } else {
            observer.finding(id, FindingAction::Warn);
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

fn fail(rule: &ConfiguredRule, error: &str, decision: &mut Decision) {
    let id = rule.id();
    push_unique(&mut decision.failed, id);
    if rule.on_error == OnError::Deny && rule.mode == Mode::Enforce {
        decision.deny(
            id,
            format!(
                "[{id}] the rule could not be evaluated, so the request is denied (onError: deny): {error}"
            ),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_bounded() {
        let mut d = Decision::evaluated();
        for _ in 0..100 {
            d.warn("w", "x".repeat(1000));
        }
        assert_eq!(d.warnings.len(), MAX_WARNINGS + 1);
        assert!(d.warnings.iter().all(|w| w.len() <= MAX_WARNING));
    }

    #[test]
    fn a_denial_lists_every_line() {
        let mut d = Decision::evaluated();
        d.deny("r", "[r] bad at spec.x; fix: do y".into());
        d.deny("r", "[r] worse".into());
        assert!(!d.allowed);
        assert_eq!(
            d.message(),
            "denied by ws3\n- [r] bad at spec.x; fix: do y\n- [r] worse"
        );
        assert_eq!(d.denied_by, ["r"]);
    }
}
