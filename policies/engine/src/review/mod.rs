//! Reviewing objects: the rules of the game that both faces of ws3 play by.
//!
//! [`lint`] judges a file set offline; [`admission`] judges one AdmissionReview. Both build
//! each rule's [`Request`] here, apply the configuration (severity, suppression) here, and so
//! agree on what a rule sees and what its findings mean.

pub mod admission;
pub mod lint;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use crate::{
    host::ObjectSource,
    object::{ignore_annotation, ignores},
    ruleset::{ConfiguredRule, RuleSet},
    types::{Finding, KindRef, Operation, Request},
};

/// A fresh `request.context` value: the set of objects lookups answer from changes with every
/// file set and every admission review.
pub(crate) fn next_context() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The parts of a request that are the same for every rule of one review.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) operation: Operation,
    pub(crate) kind: &'a KindRef,
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) object: Option<&'a str>,
    pub(crate) old_object: Option<&'a str>,
    pub(crate) context: u64,
}

impl<'a> Subject<'a> {
    /// The request `rule` gets.
    pub(crate) fn request(&self, rules: &'a RuleSet, rule: &'a ConfiguredRule) -> Request<'a> {
        Request {
            operation: self.operation,
            kind: self.kind,
            name: self.name,
            object: self.object,
            old_object: self.old_object,
            namespace: self.namespace,
            settings: &rule.settings,
            pod_template: rules.pod_templates().path_of(self.kind),
            context: self.context,
        }
    }
}

/// Applies a rule's configured severity to its findings and marks those a `ws3.dev/ignore`
/// annotation suppresses: a finding about another object (its `subject`, e.g. the Namespace)
/// honours that object's annotation when `source` has it, and otherwise the reviewed object's;
/// any other finding honours the reviewed object's. `reviewed` gives the reviewed object's
/// annotation; it is read only when there is a finding.
pub(crate) fn configure(
    rule: &ConfiguredRule,
    findings: &mut [Finding],
    reviewed: &mut Annotation<'_>,
    source: &dyn ObjectSource,
) {
    for finding in findings {
        rule.apply_severity(finding);
        let subject_annotation = finding.subject.as_ref().and_then(|s| {
            let kind = KindRef::from_type(&s.api_version, &s.kind);
            source
                .get(&kind, &s.namespace, &s.name)
                .map(|json| ignore_annotation(&json))
        });
        let annotation = match &subject_annotation {
            Some(found) => found.as_deref(),
            None => reviewed.get(),
        };
        if ignores(annotation, &finding.rule_id) {
            finding.suppressed = true;
        }
    }
}

/// The reviewed object's `ws3.dev/ignore` annotation, read at most once.
#[derive(Debug)]
pub(crate) struct Annotation<'a> {
    json: Option<&'a str>,
    value: Option<Option<String>>,
}

impl<'a> Annotation<'a> {
    pub(crate) fn of(json: Option<&'a str>) -> Self {
        Self { json, value: None }
    }

    pub(crate) fn known(value: Option<String>) -> Self {
        Self {
            json: None,
            value: Some(value),
        }
    }

    fn get(&mut self) -> Option<&str> {
        let json = self.json;
        self.value
            .get_or_insert_with(|| json.and_then(ignore_annotation))
            .as_deref()
    }
}

/// The source as the shared handle instances keep.
pub(crate) type Source = Arc<dyn ObjectSource>;
