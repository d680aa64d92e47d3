//! `ws3-lint`: the offline face of ws3. It reads Kubernetes manifests (YAML, JSON, Helm output),
//! runs the ws3 rule components over them with [`ws3_engine`], and reports findings at the YAML
//! line and column of the offending field.
//!
//! The pipeline: [`input`] finds and reads files, [`yaml`] parses them keeping spans,
//! [`objects`] turns documents into objects (`kind: List` items, Helm template names), the
//! engine's [`FileSet`] decides what each means to the rules and judges them, [`locate`] maps
//! each finding's JSON path back to YAML, and [`emit`] writes the [`Report`] as text, JSON,
//! SARIF or GitHub annotations. Everything a rule's verdict depends on lives in the engine; this
//! crate owns files and diagnostics.
//!
//! ```no_run
//! use ws3_lint::{LintOptions, Linter, input::SourceFile};
//!
//! let linter = Linter::load(&ws3_engine::Config::default(), &[], &[], true)?;
//! let file = SourceFile::new("db.yaml", std::fs::read_to_string("db.yaml")?);
//! let report = linter.lint(vec![file], &LintOptions::default());
//! println!("{} findings", report.diagnostics.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cli;
pub mod emit;
pub mod error;
pub mod escape;
pub mod input;
pub mod locate;
pub mod objects;
pub mod redact;
pub mod yaml;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

use rayon::prelude::*;
use ws3_engine::{
    Config, Engine, EngineOptions, Finding, Limits, ObjectRef, Origin, RuleSet, Severity,
    review::lint::{EntryError, FileSet, Prepared},
};

pub use crate::cli::{Console, run};
pub use crate::error::{Error, Notice, Problem, ProblemKind};
use crate::{
    input::SourceFile,
    locate::{Location, Spans},
    objects::Object,
};

/// The namespace of objects without one when neither the command line nor the configuration
/// names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// How a run ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No unsuppressed finding at or above `--fail-on`: exit code 0.
    Clean,
    /// Some finding at or above `--fail-on`: exit code 1.
    Findings,
    /// Bad usage, input, configuration, or a rule failure: exit code 2.
    Failed,
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Clean => 0,
            Self::Findings => 1,
            Self::Failed => 2,
        }
    }
}

/// Options of one lint.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// Namespace of objects that have none.
    pub default_namespace: String,
    /// Worker threads.
    pub jobs: usize,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            default_namespace: DEFAULT_NAMESPACE.to_owned(),
            jobs: default_jobs(),
        }
    }
}

/// The number of cores, at least 1.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What a rule is, for listings and SARIF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// Id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity after configuration.
    pub severity: Severity,
    /// Why it matters.
    pub rationale: String,
    /// Markdown documentation.
    pub docs: String,
    /// `built-in` or the module's path.
    pub source: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Kinds it reviews, with the operations it judges at admission.
    pub reviews: Vec<ws3_engine::Scope>,
    /// Operations it judges on every pod-template holder (empty: none).
    pub workloads: ws3_engine::Operations,
    /// Namespaces it skips, after configuration.
    pub exempt_namespaces: Vec<String>,
    /// The `ws3:policy` interface version of its module.
    pub interface: String,
}

/// One finding, placed in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Rule id.
    pub rule: String,
    /// Severity after configuration.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// Index of the file in [`Report::files`].
    pub file: usize,
    /// Document in the file, from 1.
    pub document: usize,
    /// Where in the file.
    pub location: Location,
    /// The object reviewed.
    pub object: ObjectRef,
    /// JSON path of the offending field, as the rule gave it.
    pub path: String,
    /// The object the finding is about, when not the reviewed one.
    pub subject: Option<ObjectRef>,
    /// Whether a `ws3.dev/ignore` annotation suppresses it.
    pub suppressed: bool,
    /// The Helm template the object came from.
    pub template: Option<String>,
    /// First line of the object (code frames show no context before it).
    pub object_line: usize,
    /// Secret values in the object, never shown.
    pub redactions: Vec<yaml::Span>,
}

/// Unsuppressed findings by severity, and suppressed ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Unsuppressed errors.
    pub errors: usize,
    /// Unsuppressed warnings.
    pub warnings: usize,
    /// Unsuppressed infos.
    pub infos: usize,
    /// Suppressed findings.
    pub suppressed: usize,
}

/// Where the time of a lint went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Parsing files and building objects and the index.
    pub load: std::time::Duration,
    /// Running the rules.
    pub evaluate: std::time::Duration,
    /// Suppressions, de-duplication, locating and sorting findings.
    pub report: std::time::Duration,
}

/// Everything a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// The files read, in input order.
    pub files: Vec<SourceFile>,
    /// Findings, sorted by file, line, column and rule.
    pub diagnostics: Vec<Diagnostic>,
    /// Input problems and rule failures.
    pub problems: Vec<Problem>,
    /// Verbose-mode notices.
    pub notices: Vec<Notice>,
    /// Hidden entries skipped below the directories named.
    pub hidden_skipped: usize,
    /// The rules (enabled or not).
    pub rules: Vec<RuleInfo>,
    /// The objects linted, in input order (each knows its file and document).
    pub objects: Vec<Object>,
    /// How many rule calls were made.
    pub calls: usize,
    /// Where the time went.
    pub timings: Timings,
}

impl Report {
    /// Counts of findings.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for d in &self.diagnostics {
            match (d.suppressed, d.severity) {
                (true, _) => c.suppressed += 1,
                (false, Severity::Error) => c.errors += 1,
                (false, Severity::Warning) => c.warnings += 1,
                (false, Severity::Info) => c.infos += 1,
            }
        }
        c
    }

    /// The exit status for this threshold.
    pub fn status(&self, fail_on: Severity) -> Status {
        if !self.problems.is_empty() {
            Status::Failed
        } else if self
            .diagnostics
            .iter()
            .any(|d| !d.suppressed && d.severity >= fail_on)
        {
            Status::Findings
        } else {
            Status::Clean
        }
    }

    /// The name of a diagnostic's file.
    pub fn file_name(&self, d: &Diagnostic) -> &str {
        self.files.get(d.file).map_or("", |f| f.name.as_str())
    }
}

/// The engine and the rules in force.
#[derive(Debug, Clone)]
pub struct Linter {
    engine: Engine,
    rules: RuleSet,
}

/// Sets up the engine, using the compiled-module cache when asked and possible.
fn engine(cache: bool) -> Result<Engine, Error> {
    let cache_dir = if cache {
        ws3_engine::default_cache_dir()
    } else {
        None
    };
    if cache_dir.is_some() {
        // An unusable cache directory (read-only home, ...) only costs compile time.
        if let Ok(engine) = Engine::new(&EngineOptions {
            cache_dir,
            limits: Limits::offline(),
            ..Default::default()
        }) {
            return Ok(engine);
        }
    }
    Ok(Engine::new(&EngineOptions {
        limits: Limits::offline(),
        ..Default::default()
    })?)
}

impl Linter {
    /// A linter with these rules.
    pub fn new(engine: Engine, rules: RuleSet) -> Self {
        Self { engine, rules }
    }

    /// Loads the built-in rules, the configuration's modules and `extra_modules`, with the
    /// configuration and `disabled` applied.
    pub fn load(
        config: &Config,
        extra_modules: &[PathBuf],
        disabled: &[String],
        cache: bool,
    ) -> Result<Self, Error> {
        let engine = engine(cache)?;
        let rules = RuleSet::load(&engine, config, extra_modules, disabled)?;
        Ok(Self { engine, rules })
    }

    /// The rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// What each loaded rule is.
    pub fn rule_infos(&self) -> Vec<RuleInfo> {
        self.rules
            .all()
            .iter()
            .map(|r| {
                let meta = r.rule.meta();
                RuleInfo {
                    id: meta.id.clone(),
                    title: meta.title.clone(),
                    severity: r.effective_severity(),
                    rationale: meta.rationale.clone(),
                    docs: meta.docs.clone(),
                    source: match r.rule.origin() {
                        Origin::Builtin(_) => "built-in".to_owned(),
                        Origin::File(path) => path.display().to_string(),
                        Origin::Bytes(name) => name.clone(),
                    },
                    enabled: r.enabled,
                    reviews: meta.applies_to.clone(),
                    workloads: meta.workloads,
                    exempt_namespaces: r.exempt_namespaces.clone(),
                    interface: meta.interface.clone(),
                }
            })
            .collect()
    }

    /// Lints a set of files as one context.
    pub fn lint(&self, files: Vec<SourceFile>, options: &LintOptions) -> Report {
        self.lint_with_context(files, Vec::new(), options)
    }

    /// Lints `files`, with `context` files read for lookups only: their objects are what other
    /// objects may refer to (a Service, a NetworkPolicy, a ConfigMap), and nothing is reported
    /// about them.
    pub fn lint_with_context(
        &self,
        files: Vec<SourceFile>,
        context: Vec<SourceFile>,
        options: &LintOptions,
    ) -> Report {
        let mut report = Report {
            rules: self.rule_infos(),
            ..Report::default()
        };
        let judged_files = files.len();
        let mut files = files;
        files.extend(context);
        let started = Instant::now();
        let mut set = FileSet::new(&self.rules, &options.default_namespace);
        let parsed = load_objects(&files, &set, options.jobs);
        let total = parsed.iter().map(|(f, _)| f.objects.len()).sum();
        set.reserve(total);
        // The objects that join the set, in its order (an entry's index is its object's).
        let mut objects: Vec<Object> = Vec::with_capacity(total);
        let mut refused = Vec::new();
        // File by file, so that what was prepared is freed as it is inserted.
        for (mut file, prepared) in parsed {
            report.problems.append(&mut file.problems);
            report.notices.append(&mut file.notices);
            for (object, prepared) in file.objects.into_iter().zip(prepared) {
                match prepared.and_then(|p| set.insert(p, object.file < judged_files)) {
                    Ok(_) => objects.push(object),
                    Err(error) => {
                        let first = match &error {
                            EntryError::Duplicate { first, .. } => Some(&objects[*first]),
                            EntryError::Missing(_) => None,
                        };
                        refused.push(entry_problem(&files, &object, first, &error));
                    }
                }
            }
        }
        report.problems.append(&mut refused);
        // Context files are read for lookups only, and best effort: a repository holds YAML that
        // is not Kubernetes (CI workflows, Helm values, `.pre-commit-config.yaml`), so what cannot
        // be read as objects there costs a notice, not a failed check.
        if judged_files < files.len() {
            let context: std::collections::HashSet<&str> = files[judged_files..]
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            let (skipped, judged): (Vec<Problem>, Vec<Problem>) = report
                .problems
                .drain(..)
                .partition(|p| p.file.as_deref().is_some_and(|name| context.contains(name)));
            report.problems = judged;
            report.notices.extend(skipped.into_iter().map(|p| Notice {
                file: p.file,
                document: p.document,
                message: format!("context file skipped: {}", p.message),
            }));
        }
        let objects = objects;
        report.timings.load = started.elapsed();
        let started = Instant::now();
        let outcome = set.lint(&self.rules, &self.engine, options.jobs);
        report.timings.evaluate = started.elapsed();
        let started = Instant::now();
        report.calls = outcome.calls;
        let named: BTreeSet<usize> = outcome
            .findings
            .iter()
            .map(|(i, _)| *i)
            .chain(outcome.failures.iter().map(|f| f.object))
            .collect();
        // What findings name of their objects: the set's entries and the objects that joined it
        // are in the same order. The rest of the set (entries, names, context views) is freed
        // before the findings' documents are read again, which can then reuse its memory.
        let refs: HashMap<usize, ObjectRef> = named
            .iter()
            .map(|&i| (i, set.entries()[i].object_ref()))
            .collect();
        drop(set);
        let spans = field_spans(&files, &objects, &named, options.jobs);
        for failure in &outcome.failures {
            let object = &objects[failure.object];
            let file = &files[object.file];
            // A rule that cannot read a field names it: point at it in the file.
            let at = field_of(&failure.error)
                .and_then(|path| Some(spans.get(&failure.object)?.locate(path)))
                .filter(|l| l.exact)
                .map_or((object.start().line, object.start().col + 1), |l| {
                    (l.line, l.column)
                });
            report.problems.push(Problem::rule(
                failure.error.rule(),
                file.name.clone(),
                at.0,
                at.1,
                object.document,
                &format!(
                    "{} (reviewing {}, document {})",
                    failure.error,
                    refs[&failure.object], // `refs` names every object a rule failed on
                    object.document
                ),
            ));
        }
        report.diagnostics = diagnostics(outcome.findings, &objects, &refs, &spans);
        files.truncate(judged_files);
        report.files = files;
        report.timings.report = started.elapsed();
        report.objects = objects
            .into_iter()
            .filter(|o| o.file < judged_files)
            .collect();
        report
    }
}

/// The field a rule says it cannot read (the SDK words it ``field `spec.x`: …``).
fn field_of(error: &ws3_engine::EvalError) -> Option<&str> {
    let ws3_engine::EvalError::Rejected { message, .. } = error else {
        return None;
    };
    let (_, rest) = message.split_once("field `")?;
    rest.split_once('`').map(|(path, _)| path)
}

/// A problem for an object the file set refused.
fn entry_problem(
    files: &[SourceFile],
    object: &Object,
    first: Option<&Object>,
    error: &EntryError,
) -> Problem {
    let message = match first {
        Some(first) => format!(
            "document {}: {error}; first defined in {}:{} (document {}); kubectl would apply the second over the first",
            object.document,
            files[first.file].name,
            first.start().line,
            first.document
        ),
        None => format!("document {}: {error}", object.document),
    };
    Problem {
        kind: ProblemKind::Object,
        file: Some(files[object.file].name.clone()),
        line: Some(object.start().line),
        column: Some(object.start().col + 1),
        document: Some(object.document),
        rule: None,
        message,
    }
}

/// Places each finding in its file, sorted by file, line, column and rule.
fn diagnostics(
    findings: Vec<(usize, Finding)>,
    objects: &[Object],
    refs: &HashMap<usize, ObjectRef>,
    spans: &HashMap<usize, Spans>,
) -> Vec<Diagnostic> {
    let none = Spans::default();
    let mut out: Vec<Diagnostic> = findings
        .into_iter()
        .map(|(i, finding)| {
            let object = &objects[i];
            let fields = spans.get(&i).unwrap_or(&none);
            let mut redactions = object.secret_values.clone();
            for path in &finding.redact {
                if let Some(span) = fields.value_span(path) {
                    redactions.push(span);
                }
            }
            Diagnostic {
                location: fields.locate(&finding.path),
                rule: finding.rule_id,
                severity: finding.severity,
                message: finding.message,
                hint: finding.hint,
                file: object.file,
                document: object.document,
                // `refs` names every object with a finding.
                object: refs[&i].clone(),
                path: finding.path,
                subject: finding.subject,
                suppressed: finding.suppressed,
                template: object.template.clone(),
                object_line: object.start().line,
                redactions,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.file, a.location.line, a.location.column, &a.rule).cmp(&(
            b.file,
            b.location.line,
            b.location.column,
            &b.rule,
        ))
    });
    out
}

/// The spans of the fields of the objects `wanted` (indexes into `objects`), read again from
/// their files on up to `jobs` threads: see [`objects::reread_spans`].
fn field_spans(
    files: &[SourceFile],
    objects: &[Object],
    wanted: &BTreeSet<usize>,
    jobs: usize,
) -> HashMap<usize, Spans> {
    let mut by_file: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in wanted {
        by_file.entry(objects[i].file).or_default().push(i);
    }
    let by_file: Vec<(usize, Vec<usize>)> = by_file.into_iter().collect();
    let reread = |(file, wanted): &(usize, Vec<usize>)| {
        let of: Vec<&Object> = wanted.iter().map(|&i| &objects[i]).collect();
        wanted
            .iter()
            .copied()
            .zip(objects::reread_spans(&files[*file], &of))
            .collect::<Vec<_>>()
    };
    let jobs = jobs.clamp(1, by_file.len().max(1));
    let read: Vec<Vec<(usize, Spans)>> =
        match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
            Ok(pool) if jobs > 1 => pool.install(|| by_file.par_iter().map(reread).collect()),
            _ => by_file.iter().map(reread).collect(),
        };
    read.into_iter().flatten().collect()
}

/// Parses every file (on up to `jobs` threads): for each file in input order, its objects and
/// problems, and what `set` makes of each object ([`FileSet::prepare`]; an object that `set`
/// can take already holds the JSON rules see). Problems of context files are reported too: a
/// broken context file would otherwise hide objects the lookups need.
fn load_objects(
    files: &[SourceFile],
    set: &FileSet,
    jobs: usize,
) -> Vec<(objects::FileObjects, Vec<Result<Prepared, EntryError>>)> {
    // One budget for the whole file set: anchors and aliases cannot multiply memory by
    // spreading over many documents or files.
    let budget = yaml::ExpansionBudget::default();
    let parse = |(i, file): (usize, &SourceFile)| {
        let stream = yaml::parse_stream_with(&file.text, &budget);
        let json = stream.json;
        let mut out = objects::file_objects(i, file, stream.documents);
        if let Some(e) = stream.error {
            let what = if json { "JSON" } else { "YAML" };
            out.problems.insert(
                0,
                Problem {
                    kind: ProblemKind::Syntax,
                    file: Some(file.name.clone()),
                    line: Some(e.line),
                    column: Some(e.column),
                    document: Some(e.document),
                    rule: None,
                    message: format!("invalid {what} in document {}: {}", e.document, e.message),
                },
            );
        }
        // The object takes the set's view of it at once: the JSON as written is not kept
        // alongside.
        let prepared = out
            .objects
            .iter_mut()
            .map(|object| {
                let prepared = set.prepare(&object.json);
                if let Ok(p) = &prepared {
                    object.json = Arc::clone(p.json());
                }
                prepared
            })
            .collect::<Vec<_>>();
        (out, prepared)
    };
    let jobs = jobs.clamp(1, files.len().max(1));
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) if jobs > 1 => pool.install(|| files.par_iter().enumerate().map(parse).collect()),
        _ => files.iter().enumerate().map(parse).collect(),
    }
}
