//! Running a rule crate natively through the engine's semantics, for its unit tests.
//!
//! A rule's tests should not test a copy of the host: here the rule is a [`Rule`] like a loaded
//! module (only its code is compiled into the test binary instead of a component), and
//! [`lint_set`] goes through [`FileSet`] and [`RuleSet::lint`], [`admit`] through
//! [`RuleSet::admit`], [`run`] through the same request building and lookups (context views,
//! declared kinds, Secret values) as both hosts.
//!
//! ```ignore
//! use ws3_engine::testing::{FakeCluster, lint, lint_set, run};
//! let findings = lint_set::<MyRule>(&[json!({"apiVersion": "apps/v1", "kind": "StatefulSet", ...})]);
//! ```

use std::{cell::RefCell, marker::PhantomData, sync::Arc};

use ws3_policy_sdk as sdk;

use crate::{
    config::Config,
    context::{self, ContextIndex},
    engine::{Engine, EngineOptions, Limits},
    error::{EvalError, Origin},
    host::{Lookups, ObjectSource},
    object::{PodTemplates, place},
    review::{
        Subject,
        admission::{AdmissionRequest, Decision, NoObserver},
        lint::FileSet,
        next_context,
    },
    rule::{Imp, Rule},
    ruleset::{RuleSet, RuleSetOptions},
    types::{
        Finding, KindRef, ObjectRef, Operation, Operations, Request, RuleMeta, Scope, Severity,
    },
};

/// A rule compiled into the host process (tests only).
pub trait NativeRule: Send + Sync {
    /// What the rule declares.
    fn meta(&self) -> RuleMeta;
    /// One evaluation; lookups go through the same checks as a module's.
    fn validate(
        &self,
        request: &Request<'_>,
        lookups: &mut Lookups<'_>,
    ) -> Result<Vec<Finding>, String>;
}

/// Rule `R` of a rule crate, as the engine runs it natively.
pub fn native<R: sdk::Rule + 'static>() -> Rule {
    let native: Arc<dyn NativeRule> = Arc::new(Native::<R>(PhantomData));
    let meta = native.meta();
    Rule {
        reads: Arc::from(meta.reads.clone()),
        meta: Arc::new(meta),
        origin: Origin::Bytes(format!("native {}", R::META.id)),
        imp: Imp::Native(native),
    }
}

struct Native<R>(PhantomData<fn() -> R>);

fn kind_of(k: &sdk::KindRef) -> KindRef {
    KindRef::new(k.group, k.kind)
}

fn operations_of(o: sdk::Operations) -> Operations {
    Operations {
        create: o.create,
        update: o.update,
        delete: o.delete,
    }
}

fn severity_of(s: sdk::Severity) -> Severity {
    match s {
        sdk::Severity::Info => Severity::Info,
        sdk::Severity::Warning => Severity::Warning,
        sdk::Severity::Error => Severity::Error,
    }
}

fn sdk_severity(s: Severity) -> sdk::Severity {
    match s {
        Severity::Info => sdk::Severity::Info,
        Severity::Warning => sdk::Severity::Warning,
        Severity::Error => sdk::Severity::Error,
    }
}

/// An engine finding as the SDK spells it (what rule tests compare).
fn sdk_finding(f: Finding) -> sdk::Finding {
    sdk::Finding {
        rule_id: f.rule_id,
        severity: sdk_severity(f.severity),
        message: f.message,
        path: f.path,
        hint: f.hint,
        subject: f.subject.map(|s| sdk::ObjectRef {
            api_version: s.api_version,
            kind: s.kind,
            namespace: s.namespace,
            name: s.name,
        }),
        redact: f.redact,
    }
}

/// The SDK's `Cluster` over the engine's lookups.
struct Cluster<'a, 'b>(RefCell<&'a mut Lookups<'b>>);

impl sdk::Cluster for Cluster<'_, '_> {
    fn get_json(
        &self,
        kind: sdk::KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, sdk::Error> {
        self.0
            .borrow_mut()
            .get(kind_of(&kind), namespace, name)
            .map_err(sdk::Error::new)
    }

    fn list_json(&self, kind: sdk::KindRef, namespace: &str) -> Result<Vec<String>, sdk::Error> {
        self.0
            .borrow_mut()
            .list(kind_of(&kind), namespace)
            .map_err(sdk::Error::new)
    }
}

impl<R: sdk::Rule> NativeRule for Native<R> {
    fn meta(&self) -> RuleMeta {
        let m = R::META;
        RuleMeta {
            id: m.id.to_owned(),
            title: m.title.to_owned(),
            severity: severity_of(m.severity),
            applies_to: m
                .applies_to
                .iter()
                .map(|s| Scope {
                    kind: kind_of(&s.kind),
                    operations: operations_of(s.operations),
                })
                .collect(),
            workloads: operations_of(m.workloads),
            reads: m.reads.iter().map(kind_of).collect(),
            exempt_namespaces: m
                .exempt_namespaces
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            rationale: m.rationale.to_owned(),
            docs: m.docs.to_owned(),
            interface: "native".to_owned(),
        }
    }

    fn validate(
        &self,
        request: &Request<'_>,
        lookups: &mut Lookups<'_>,
    ) -> Result<Vec<Finding>, String> {
        let req = sdk::Request {
            operation: match request.operation {
                Operation::Create => sdk::Operation::Create,
                Operation::Update => sdk::Operation::Update,
                Operation::Delete => sdk::Operation::Delete,
                Operation::Lint => sdk::Operation::Lint,
            },
            group: request.kind.group.clone(),
            kind: request.kind.kind.clone(),
            name: request.name.to_owned(),
            object: request.object.map(str::to_owned),
            old_object: request.old_object.map(str::to_owned),
            namespace: request.namespace.to_owned(),
            settings: request.settings.to_owned(),
            pod_template: request.pod_template.map(str::to_owned),
            context: request.context,
        };
        let cluster = Cluster(RefCell::new(lookups));
        let findings = R::validate(&req, &cluster).map_err(|e| e.to_string())?;
        Ok(findings
            .into_iter()
            .map(|f| Finding {
                rule_id: f.rule_id,
                severity: severity_of(f.severity),
                message: f.message,
                path: f.path,
                hint: f.hint,
                subject: f.subject.map(|s| ObjectRef {
                    api_version: s.api_version,
                    kind: s.kind,
                    namespace: s.namespace,
                    name: s.name,
                }),
                redact: f.redact,
                suppressed: false,
            })
            .collect())
    }
}

fn engine() -> Engine {
    Engine::new(&EngineOptions {
        limits: Limits::offline(),
        ..EngineOptions::default()
    })
    .expect("a native-only engine starts")
}

/// The rule set of rule `R` alone, configured by `config_yaml` (`.ws3.yaml` text).
///
/// # Panics
/// When the configuration does not parse or names other rules: these are test fixtures.
pub fn rule_set<R: sdk::Rule + 'static>(config_yaml: &str) -> RuleSet {
    let config = Config::parse(config_yaml, std::path::Path::new("test.ws3.yaml"))
        .expect("test configuration parses");
    RuleSet::configure(
        vec![(native::<R>(), true)],
        &config,
        &RuleSetOptions::default(),
    )
    .expect("test configuration fits the rule")
}

/// Lints a whole file set as `ws3-lint` does (objects without a namespace are in `default`;
/// one finding per rule and subject; suppressed findings left out) with the default
/// configuration.
///
/// # Panics
/// When an object cannot join the set or the rule fails: these are test fixtures.
pub fn lint_set<R: sdk::Rule + 'static>(objects: &[serde_json::Value]) -> Vec<sdk::Finding> {
    lint_set_with(&rule_set::<R>(""), objects)
}

/// [`lint_set`] with a rule set of one's own (a configuration, say).
///
/// # Panics
/// As [`lint_set`].
pub fn lint_set_with(rules: &RuleSet, objects: &[serde_json::Value]) -> Vec<sdk::Finding> {
    lint_judging(rules, objects, objects.len())
}

fn lint_judging(
    rules: &RuleSet,
    objects: &[serde_json::Value],
    judged: usize,
) -> Vec<sdk::Finding> {
    let mut set = FileSet::new(rules, "default");
    for (i, object) in objects.iter().enumerate() {
        match set.add(&object.to_string(), i < judged) {
            Ok(_) => {}
            // The rest of a file set may hold the judged object again (tests pass it along).
            Err(crate::review::lint::EntryError::Duplicate { .. }) if i >= judged => {}
            Err(e) => panic!("object {i} cannot be linted: {e}"),
        }
    }
    let outcome = set.lint(rules, &engine(), 1);
    if let Some(failure) = outcome.failures.first() {
        panic!("{}", failure.error);
    }
    outcome
        .findings
        .into_iter()
        .filter(|(_, f)| !f.suppressed)
        .map(|(_, f)| sdk_finding(f))
        .collect()
}

/// Lints one object among `others` (the rest of the file set, not judged themselves).
///
/// # Panics
/// As [`lint_set`].
pub fn lint<R: sdk::Rule + 'static>(
    object: serde_json::Value,
    others: &[serde_json::Value],
) -> Vec<sdk::Finding> {
    let mut all = vec![object];
    all.extend(others.iter().cloned());
    lint_judging(&rule_set::<R>(""), &all, 1)
}

/// Objects a rule can look up at admission (the watch caches, as context views).
#[derive(Debug, Default, Clone)]
pub struct FakeCluster {
    index: ContextIndex,
}

impl FakeCluster {
    /// A cluster holding these objects (without a namespace, a namespaced object is in
    /// `default`).
    pub fn new(objects: impl IntoIterator<Item = serde_json::Value>) -> Self {
        let templates = PodTemplates::default();
        let mut index = ContextIndex::new();
        for object in objects {
            let json = object.to_string();
            let meta = crate::object::ObjectMeta::read(&json);
            let kind = meta.kind_ref();
            let placement = place(&kind, Some(&meta.namespace), &meta.name, "default");
            if let Some(view) = context::view(&kind, &json, &templates) {
                index.insert(kind, &placement.namespace, &meta.name, Arc::from(view));
            }
        }
        Self { index }
    }
}

impl ObjectSource for FakeCluster {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.index.get(kind, namespace, name)
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.index.list(kind, namespace)
    }
}

/// One evaluation of rule `R` as a host makes it: the request built by the engine (kind, name,
/// effective namespace, pod template path, the JSON rules see), lookups from `cluster`. No
/// selection, suppression or admission semantics: see [`admit`] for those.
///
/// # Errors
/// The rule's own error, as its message.
pub fn run<R: sdk::Rule + 'static>(
    operation: sdk::Operation,
    object: Option<serde_json::Value>,
    old_object: Option<serde_json::Value>,
    cluster: &FakeCluster,
) -> Result<Vec<sdk::Finding>, sdk::Error> {
    let operation = match operation {
        sdk::Operation::Create => Operation::Create,
        sdk::Operation::Update => Operation::Update,
        sdk::Operation::Delete => Operation::Delete,
        sdk::Operation::Lint => Operation::Lint,
    };
    let rules = rule_set::<R>("");
    let rule = &rules.all()[0];
    let object = object.map(|o| o.to_string());
    let old_object = old_object.map(|o| o.to_string());
    let reviewed = object.as_deref().or(old_object.as_deref()).unwrap_or("{}");
    let meta = crate::object::ObjectMeta::read(reviewed);
    let kind = meta.kind_ref();
    let placement = place(&kind, Some(&meta.namespace), &meta.name, "default");
    let view = |json: &Option<String>| {
        json.as_deref().map(|j| {
            let inject = (placement.namespace != meta.namespace && !placement.namespace.is_empty())
                .then_some(placement.namespace.as_str());
            crate::object::rule_view_in(j, inject).into_owned()
        })
    };
    let (object, old_object) = (view(&object), view(&old_object));
    let subject = Subject {
        operation,
        kind: &kind,
        name: &meta.name,
        namespace: &placement.request_namespace,
        object: object.as_deref(),
        old_object: old_object.as_deref(),
        context: next_context(),
    };
    let source: Arc<dyn ObjectSource> = Arc::new(cluster.clone());
    rule.rule
        .evaluate(&engine(), source, &subject.request(&rules, rule))
        .map(|findings| findings.into_iter().map(sdk_finding).collect())
        .map_err(|e| match e {
            EvalError::Rejected { message, .. } => sdk::Error::new(message),
            other => sdk::Error::new(other.to_string()),
        })
}

/// An admission review of rule `R` alone, configured by `config_yaml`, judged by the engine
/// as the webhook judges it (lifecycle, controllers, existing violations, modes).
pub fn admit<R: sdk::Rule + 'static>(
    config_yaml: &str,
    request: &AdmissionRequest<'_>,
    cluster: &FakeCluster,
) -> Decision {
    let rules = rule_set::<R>(config_yaml);
    let source: Arc<dyn ObjectSource> = Arc::new(cluster.clone());
    rules.admit(&engine(), request, &source, None, &NoObserver)
}
