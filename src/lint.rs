//! Running the rules over the objects.
//!
//! Each object is reviewed by the enabled rules that apply to its kind, unless its namespace is
//! exempt. The work is shared by worker threads; each worker keeps one warm [`Instance`] per rule
//! and replaces it after a failure that leaves it unusable. A rule failure is reported, never a
//! finding and never a panic.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use ws3_engine::{
    ConfiguredRule, Engine, EvalError, Finding, Instance, KindRef, ObjectSource, Operation,
    Request, RuleSet,
};

use crate::objects::Object;

/// Objects a worker takes at a time.
const CHUNK: usize = 16;

/// A rule that failed on an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    /// Index of the object.
    pub object: usize,
    /// What went wrong.
    pub error: EvalError,
}

/// What evaluation produced, in object order.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Findings with the index of the object they are about, before suppressions and
    /// configuration are applied.
    pub findings: Vec<(usize, Finding)>,
    /// Rule failures.
    pub failures: Vec<RuleFailure>,
    /// How many rule calls were made.
    pub calls: usize,
}

/// Evaluates every enabled rule on every object it applies to, on `jobs` threads.
pub fn evaluate(
    engine: &Engine,
    rules: &RuleSet,
    objects: &[Object],
    source: &Arc<dyn ObjectSource>,
    jobs: usize,
) -> Evaluation {
    let enabled: Vec<&ConfiguredRule> = rules.enabled().collect();
    // The rules of each kind, computed once per kind.
    let mut by_kind: HashMap<&KindRef, Arc<[usize]>> = HashMap::new();
    let mut work: Vec<(usize, Arc<[usize]>)> = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        if rules.is_exempt(&object.request_namespace) {
            continue;
        }
        let list = by_kind.entry(&object.kind_ref).or_insert_with(|| {
            enabled
                .iter()
                .enumerate()
                .filter(|(_, r)| r.rule.meta().applies_to(&object.kind_ref))
                .map(|(j, _)| j)
                .collect()
        });
        if !list.is_empty() {
            work.push((i, Arc::clone(list)));
        }
    }
    let jobs = jobs.clamp(1, work.len().div_ceil(CHUNK).max(1));
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut w = Worker {
            engine,
            rules: &enabled,
            source,
            instances: (0..enabled.len()).map(|_| None).collect(),
            out: Evaluation::default(),
        };
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= work.len() {
                break;
            }
            for (object, rule_ids) in &work[start..(start + CHUNK).min(work.len())] {
                for &rule in rule_ids.iter() {
                    w.call(*object, &objects[*object], rule);
                }
            }
        }
        w.out
    };
    let mut parts = if jobs == 1 {
        vec![worker()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Vec<_>>()
        })
    };
    let mut out = Evaluation::default();
    for part in &mut parts {
        out.calls += part.calls;
        out.findings.append(&mut part.findings);
        out.failures.append(&mut part.failures);
    }
    // Back to input order; a stable sort keeps each object's findings in the rules' order.
    out.findings.sort_by_key(|(object, _)| *object);
    out.failures.sort_by_key(|f| f.object);
    out
}

struct Worker<'a> {
    engine: &'a Engine,
    rules: &'a [&'a ConfiguredRule],
    source: &'a Arc<dyn ObjectSource>,
    instances: Vec<Option<Instance>>,
    out: Evaluation,
}

impl Worker<'_> {
    fn call(&mut self, index: usize, object: &Object, rule: usize) {
        let configured = self.rules[rule];
        let slot = &mut self.instances[rule];
        if slot.is_none() {
            match configured
                .rule
                .instantiate(self.engine, Arc::clone(self.source))
            {
                Ok(instance) => *slot = Some(instance),
                Err(error) => {
                    self.out.failures.push(RuleFailure {
                        object: index,
                        error,
                    });
                    return;
                }
            }
        }
        let Some(instance) = slot.as_mut() else {
            return;
        };
        let request = Request {
            operation: Operation::Lint,
            object: Some(&object.json),
            old_object: None,
            namespace: &object.request_namespace,
            settings: &configured.settings,
        };
        self.out.calls += 1;
        match instance.validate(self.engine, &request) {
            Ok(findings) => self
                .out
                .findings
                .extend(findings.into_iter().map(|f| (index, f))),
            Err(error) => {
                if error.poisons_instance() {
                    *slot = None;
                }
                self.out.failures.push(RuleFailure {
                    object: index,
                    error,
                });
            }
        }
    }
}
