//! Judging a file set offline.
//!
//! Every object is reviewed by the enabled rules that review its kind, unless the rule exempts
//! its namespace or its controller is a kind ws3 reviews itself. The work is shared by `jobs`
//! rayon workers; each keeps one warm [`Instance`] per rule (an instance serves many objects:
//! starting one costs about as much as ten calls) and replaces it after a failure that leaves it
//! unusable. A rule failure is reported, never a finding and never a panic. Findings come back
//! in object order, configured, marked when suppressed, and one per (rule, subject).

use std::{
    collections::HashSet,
    hash::{BuildHasher, RandomState},
    sync::{Arc, OnceLock},
};

use hashbrown::HashTable;
use rayon::prelude::*;

use super::{Annotation, Source, Subject, configure, next_context};
use crate::{
    context::{self, ContextIndex, Viewed},
    engine::Engine,
    error::EvalError,
    instance::Instance,
    object::{ObjectMeta, PodTemplates, place, rule_view_in},
    ruleset::{ConfiguredRule, RuleSet},
    types::{Finding, KindRef, Operation},
};

/// An object of a file set, as the engine keeps it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its kind.
    pub kind: KindRef,
    /// `apiVersion`.
    pub api_version: String,
    /// Its name (empty when it has none).
    pub name: String,
    /// Its namespace: its own or the default; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The namespace of requests about it (a Namespace's own name).
    pub request_namespace: String,
    /// The JSON rules see: without bookkeeping, with the effective namespace.
    pub json: Arc<str>,
    /// The kind of its controller.
    pub controller: Option<KindRef>,
    /// Whether its findings are reported (`false`: context only, e.g. `--context` files).
    pub judged: bool,
}

impl Entry {
    /// The object as findings name it.
    pub fn object_ref(&self) -> crate::types::ObjectRef {
        crate::types::ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// An object made ready to join a file set ([`FileSet::prepare`]), for [`FileSet::insert`].
#[derive(Debug, Clone)]
pub struct Prepared {
    entry: Entry,
    /// Whether some rule reads its kind (then lookups can find it).
    indexed: bool,
}

/// What a file set's index keeps of an object: its JSON, and its context view once a rule has
/// asked for it. Most objects are never looked up (a Service nothing names, a workload no rule
/// lists): making every view up front, a parse and a write of each object of a read kind, was
/// a tenth of a lint run's CPU on the lint bench.
#[derive(Debug, Clone)]
pub struct LazyView {
    /// The JSON rules see, which the view is made from.
    json: Arc<str>,
    pod_templates: Arc<PodTemplates>,
    view: OnceLock<Option<Arc<str>>>,
}

impl Viewed for LazyView {
    fn view(&self, kind: &KindRef) -> Option<Arc<str>> {
        self.view
            .get_or_init(|| context::view(kind, &self.json, &self.pod_templates).map(Arc::from))
            .clone()
    }
}

impl Prepared {
    /// Its effective namespace: its own or the default; empty for cluster-scoped kinds.
    pub fn namespace(&self) -> &str {
        &self.entry.namespace
    }

    /// The JSON rules see: without bookkeeping, with the effective namespace.
    pub fn json(&self) -> &Arc<str> {
        &self.entry.json
    }
}

/// The hash of an entry's (kind, namespace, name), by which [`FileSet`] finds duplicates.
fn name_hash(hasher: &RandomState, entry: &Entry) -> u64 {
    hasher.hash_one((&entry.kind, &entry.namespace, &entry.name))
}

/// Why an object cannot join a file set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// `apiVersion` or `kind` is missing or empty.
    #[error("`{0}` is missing or empty")]
    Missing(&'static str),
    /// The same kind, namespace and name is already in the set.
    #[error("{kind} {namespace}/{name} is defined twice")]
    Duplicate {
        /// Its kind.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The index of the first definition.
        first: usize,
    },
}

/// The objects of one lint: what each rule reviews, and the context views lookups answer
/// from. Built object by object from JSON (the linter's files, a test's objects), so that the
/// effective namespace, the controller, what a rule sees and what the index keeps are decided
/// here and nowhere else.
#[derive(Debug)]
pub struct FileSet {
    default_namespace: String,
    entries: Vec<Entry>,
    index: Arc<ContextIndex<LazyView>>,
    /// Named objects by (kind, namespace, name): their indexes in `entries`, hashed and
    /// compared through the entries (a table of `usize`, not of copied keys: 8 bytes an object
    /// instead of about 200).
    names: HashTable<usize>,
    /// Hashes the (kind, namespace, name) of `names`.
    hasher: RandomState,
    /// Kinds some rule reads: only these are indexed.
    read: HashSet<KindRef>,
    pod_templates: Arc<PodTemplates>,
}

impl FileSet {
    /// An empty set for `rules`, with `default_namespace` for objects that name none.
    pub fn new(rules: &RuleSet, default_namespace: &str) -> Self {
        Self {
            default_namespace: default_namespace.to_owned(),
            entries: Vec::new(),
            index: Arc::new(ContextIndex::default()),
            names: HashTable::new(),
            hasher: RandomState::new(),
            read: rules
                .enabled()
                .flat_map(|r| r.rule.meta().reads.iter().cloned())
                .collect(),
            pod_templates: Arc::new(rules.pod_templates().clone()),
        }
    }

    /// Makes room for `additional` more objects (a linter that knows how many it read: the
    /// entries are then allocated once, at their size).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.names
            .reserve(additional, |&i| name_hash(hasher, &entries[i]));
    }

    /// Adds an object given as JSON; `judged: false` makes it context only. Returns its index.
    /// [`Self::prepare`] then [`Self::insert`].
    pub fn add(&mut self, json: &str, judged: bool) -> Result<usize, EntryError> {
        let prepared = self.prepare(json)?;
        self.insert(prepared, judged)
    }

    /// What an object given as JSON means to this set (its kind, effective namespace, the JSON
    /// rules see and its context view), without adding it: the costly, per-object half of
    /// [`Self::add`], which needs only `&self`, so objects can be prepared on many threads and
    /// inserted in order afterwards.
    pub fn prepare(&self, json: &str) -> Result<Prepared, EntryError> {
        let meta = ObjectMeta::read(json);
        if meta.api_version.is_empty() {
            return Err(EntryError::Missing("apiVersion"));
        }
        if meta.kind.is_empty() {
            return Err(EntryError::Missing("kind"));
        }
        let kind = meta.kind_ref();
        let placement = place(
            &kind,
            Some(meta.namespace.as_str()),
            &meta.name,
            &self.default_namespace,
        );
        // The effective namespace goes into the JSON rules see, so that what a rule reads of the
        // object and what lookups answer agree.
        let inject = (!placement.namespace.is_empty() && placement.namespace != meta.namespace)
            .then_some(placement.namespace.as_str());
        let json: Arc<str> = Arc::from(rule_view_in(json, inject));
        let indexed = self.read.contains(&kind);
        Ok(Prepared {
            entry: Entry {
                kind,
                api_version: meta.api_version,
                name: meta.name,
                namespace: placement.namespace,
                request_namespace: placement.request_namespace,
                json,
                controller: meta.controller,
                judged: true,
            },
            indexed,
        })
    }

    /// Adds a [`Self::prepare`]d object; `judged: false` makes it context only. Returns its
    /// index, or the first definition of the same kind, namespace and name.
    pub fn insert(&mut self, prepared: Prepared, judged: bool) -> Result<usize, EntryError> {
        let Prepared { mut entry, indexed } = prepared;
        if !entry.name.is_empty() {
            let hash = name_hash(&self.hasher, &entry);
            let same = |&i: &usize| {
                let other = &self.entries[i];
                other.kind == entry.kind
                    && other.namespace == entry.namespace
                    && other.name == entry.name
            };
            if let Some(&first) = self.names.find(hash, same) {
                return Err(EntryError::Duplicate {
                    kind: entry.kind.kind,
                    namespace: entry.namespace,
                    name: entry.name,
                    first,
                });
            }
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.names
                .insert_unique(hash, entries.len(), |&i| name_hash(hasher, &entries[i]));
        }
        if indexed {
            let view = LazyView {
                json: Arc::clone(&entry.json),
                pod_templates: Arc::clone(&self.pod_templates),
                view: OnceLock::new(),
            };
            Arc::make_mut(&mut self.index).insert(
                entry.kind.clone(),
                &entry.namespace,
                &entry.name,
                view,
            );
        }
        entry.judged = judged;
        self.entries.push(entry);
        Ok(self.entries.len() - 1)
    }

    /// The objects, in the order they were added.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The context views lookups answer from.
    pub fn index(&self) -> &ContextIndex<LazyView> {
        &self.index
    }

    /// Judges every judged object with `rules` on `jobs` threads.
    pub fn lint(&self, rules: &RuleSet, engine: &Engine, jobs: usize) -> Outcome {
        let targets: Vec<(usize, Target<'_>)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.judged)
            .map(|(i, e)| {
                (
                    i,
                    Target {
                        kind: &e.kind,
                        name: &e.name,
                        namespace: &e.request_namespace,
                        json: &e.json,
                        controller: e.controller.as_ref(),
                    },
                )
            })
            .collect();
        let only: Vec<Target<'_>> = targets.iter().map(|(_, t)| *t).collect();
        let source: Source = self.index.clone();
        let mut outcome = rules.lint(engine, &only, &source, jobs);
        for (object, _) in &mut outcome.findings {
            *object = targets[*object].0;
        }
        for failure in &mut outcome.failures {
            failure.object = targets[failure.object].0;
        }
        outcome
    }
}

/// Most objects a worker takes at a time. Large chunks keep each rule's instance hot in the
/// caches for many calls (measured: a quarter less CPU than one object at a time).
const MAX_CHUNK: usize = 256;
/// Fewest objects a worker takes at a time.
const MIN_CHUNK: usize = 8;

/// One object of a file set, as the linter read it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Its kind.
    pub kind: &'a KindRef,
    /// Its name (empty when it has none).
    pub name: &'a str,
    /// The namespace of requests about it ([`crate::object::place`]).
    pub namespace: &'a str,
    /// Its JSON as rules see it ([`crate::object::rule_view`]).
    pub json: &'a str,
    /// The kind of its controller (the owner reference with `controller: true`).
    pub controller: Option<&'a KindRef>,
}

/// A rule that failed on an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Index of the object.
    pub object: usize,
    /// What went wrong.
    pub error: EvalError,
}

/// What judging a file set produced, in object order.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings with the index of the object they are about.
    pub findings: Vec<(usize, Finding)>,
    /// Rule failures.
    pub failures: Vec<Failure>,
    /// How many rule calls were made.
    pub calls: usize,
}

impl RuleSet {
    /// Judges `targets` as one file set, reading other objects from `source`, on `jobs`
    /// threads.
    pub fn lint(
        &self,
        engine: &Engine,
        targets: &[Target<'_>],
        source: &Source,
        jobs: usize,
    ) -> Outcome {
        let context = next_context();
        let enabled: Vec<&ConfiguredRule> = self.enabled().collect();
        // (object, rule indexes into `enabled`) for every object some rule judges.
        let mut work: Vec<(usize, Vec<usize>)> = targets
            .iter()
            .enumerate()
            .filter(|(_, t)| !self.skips_controlled(t.controller))
            .filter_map(|(i, t)| {
                let rules: Vec<usize> = self
                    .select(t.kind, Operation::Lint, t.namespace)
                    .filter_map(|r| enabled.iter().position(|e| std::ptr::eq(*e, r)))
                    .collect();
                (!rules.is_empty()).then_some((i, rules))
            })
            .collect();
        // Objects of one kind together: a chunk then calls each rule on similar objects. Results
        // are put back in input order below, so this changes only speed.
        work.sort_by(|a, b| targets[a.0].kind.cmp(targets[b.0].kind));
        // At least four chunks per worker, so that workers finish together.
        let jobs = jobs.max(1);
        let chunk = (work.len() / (jobs * 4)).clamp(MIN_CHUNK, MAX_CHUNK);
        // Each worker keeps one warm instance per rule.
        let worker = || Worker {
            engine,
            rules: self,
            enabled: &enabled,
            source,
            instances: (0..enabled.len()).map(|_| None).collect(),
            context,
        };
        let run = || {
            work.par_chunks(chunk)
                .map_init(worker, |worker, part| worker.run(targets, part))
                .collect::<Vec<Outcome>>()
        };
        let parts = match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
            Ok(pool) if jobs > 1 => pool.install(run),
            // One job, or no thread to be had: the calling thread does it all.
            _ => {
                let mut worker = worker();
                work.chunks(chunk)
                    .map(|part| worker.run(targets, part))
                    .collect()
            }
        };
        let mut out = Outcome::default();
        for mut part in parts {
            out.calls += part.calls;
            out.findings.append(&mut part.findings);
            out.failures.append(&mut part.failures);
        }
        // Back to input order; a stable sort keeps each object's findings in the rules' order.
        out.findings.sort_by_key(|(object, _)| *object);
        out.failures.sort_by_key(|f| f.object);
        // One finding per (rule, subject) about another object: the first in file order.
        let mut seen = HashSet::new();
        out.findings.retain(|(_, f)| {
            f.subject.is_none() || seen.insert((f.rule_id.clone(), f.subject.clone()))
        });
        out
    }
}

struct Worker<'a> {
    engine: &'a Engine,
    rules: &'a RuleSet,
    enabled: &'a [&'a ConfiguredRule],
    source: &'a Source,
    instances: Vec<Option<Instance>>,
    context: u64,
}

impl Worker<'_> {
    fn run(&mut self, targets: &[Target<'_>], part: &[(usize, Vec<usize>)]) -> Outcome {
        let mut out = Outcome::default();
        // Rule by rule through the chunk: one instance's code and heap stay hot in the caches,
        // instead of switching between every rule's instance on every object.
        for rule in 0..self.enabled.len() {
            for (object, rules) in part {
                if rules.contains(&rule) {
                    self.call(*object, &targets[*object], rule, &mut out);
                }
            }
        }
        out
    }

    fn call(&mut self, index: usize, target: &Target<'_>, rule: usize, out: &mut Outcome) {
        let configured = self.enabled[rule];
        let slot = &mut self.instances[rule];
        if slot.is_none() {
            match configured
                .rule
                .instantiate(self.engine, Arc::clone(self.source))
            {
                Ok(instance) => *slot = Some(instance),
                Err(error) => {
                    out.failures.push(Failure {
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
        let subject = Subject {
            operation: Operation::Lint,
            kind: target.kind,
            name: target.name,
            namespace: target.namespace,
            object: Some(target.json),
            old_object: None,
            context: self.context,
        };
        out.calls += 1;
        match instance.validate(self.engine, &subject.request(self.rules, configured)) {
            Ok(mut findings) => {
                configure(
                    configured,
                    &mut findings,
                    &mut Annotation::of(Some(target.json)),
                    self.source.as_ref(),
                );
                out.findings
                    .extend(findings.into_iter().map(|f| (index, f)));
            }
            Err(error) => {
                if error.poisons_instance() {
                    *slot = None;
                }
                out.failures.push(Failure {
                    object: index,
                    error,
                });
            }
        }
    }
}
