//! `--format json`: one JSON document on standard output.
//!
//! The schema is stable: fields may be added, never renamed or removed. `version` changes only
//! on a breaking change.
//!
//! ```json
//! {
//!   "version": 1,
//!   "findings": [
//!     {
//!       "rule": "statefulset-emptydir-data",
//!       "severity": "error",
//!       "message": "...",
//!       "hint": "...",
//!       "file": "manifests/db.yaml",
//!       "line": 67,
//!       "column": 11,
//!       "end": { "line": 67, "column": 23 },
//!       "document": 4,
//!       "object": { "apiVersion": "apps/v1", "kind": "StatefulSet", "namespace": "ws3", "name": "db" },
//!       "path": "spec.template.spec.volumes[0].emptyDir",
//!       "subject": null,
//!       "template": null,
//!       "suppressed": false
//!     }
//!   ],
//!   "problems": [
//!     { "kind": "syntax", "file": "bad.yaml", "line": 3, "column": 5, "document": 2, "rule": null, "message": "..." }
//!   ],
//!   "summary": { "files": 14, "objects": 40, "errors": 3, "warnings": 0, "infos": 0, "suppressed": 1, "problems": 1 }
//! }
//! ```
//!
//! - `findings`: every finding, suppressed ones included (`suppressed: true`), sorted by file,
//!   line, column and rule. `severity` is `error`, `warning` or `info` after configuration.
//!   `line` and `column` (from 1, counted in characters) point at the offending field, or at its
//!   nearest existing parent when the field is absent; `end` is exclusive. `document` counts the
//!   file's YAML documents from 1. `object` is the object reviewed, `namespace` its effective
//!   namespace (empty for cluster-scoped kinds). `path` is the rule's JSON path of the field
//!   (empty for the whole object). `subject` is the object the finding is about when it is not
//!   the reviewed one (same shape as `object`), else `null`. `template` is the Helm template
//!   (`# Source:` comment) the object came from, else `null`. `hint` says how to fix it.
//! - `problems`: what kept the check from being complete — input errors and rule failures, not
//!   findings (`kind`: `io` for an unreadable file, `syntax` for invalid YAML or JSON, `object`
//!   for a Kubernetes object with a field of the wrong type, `rule` for a rule module that
//!   failed); any problem makes the exit status 2. `line`, `column`, `document` and `rule` may
//!   be `null`. A message never quotes a value from the input.
//! - `summary`: counts; `errors`, `warnings` and `infos` count unsuppressed findings of that
//!   severity, `problems` counts `problems` entries.
//!
//! Version 2 renamed version 1's `errors` array to `problems` and `summary.failed` to
//! `summary.problems`, so that `errors` always means findings of severity `error`.

use std::{
    borrow::Cow,
    io::{self, Write},
};

use serde::Serialize;
use ws3_engine::{ObjectRef, Severity};

use super::{EmitOptions, Emitter};
use crate::{Report, RuleInfo};

/// Version of the JSON schema.
pub const SCHEMA_VERSION: u32 = 2;

/// The JSON emitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    findings: Vec<JsonFinding<'a>>,
    problems: Vec<JsonProblem<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct Position {
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: Severity,
    message: &'a str,
    hint: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end: Position,
    document: usize,
    object: &'a ObjectRef,
    path: &'a str,
    subject: Option<&'a ObjectRef>,
    template: Option<&'a str>,
    suppressed: bool,
}

#[derive(Serialize)]
struct JsonProblem<'a> {
    kind: &'static str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    document: Option<usize>,
    rule: Option<&'a str>,
    message: Cow<'a, str>,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    objects: usize,
    errors: usize,
    warnings: usize,
    infos: usize,
    suppressed: usize,
    problems: usize,
}

impl Emitter for Json {
    fn emit(&self, report: &Report, _options: &EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let counts = report.counts();
        let doc = Document {
            version: SCHEMA_VERSION,
            findings: report
                .diagnostics
                .iter()
                .map(|d| JsonFinding {
                    rule: &d.rule,
                    severity: d.severity,
                    message: &d.message,
                    hint: &d.hint,
                    file: report.file_name(d),
                    line: d.location.line,
                    column: d.location.column,
                    end: Position {
                        line: d.location.end_line,
                        column: d.location.end_column,
                    },
                    document: d.document,
                    object: &d.object,
                    path: &d.path,
                    subject: d.subject.as_ref(),
                    template: d.template.as_deref(),
                    suppressed: d.suppressed,
                })
                .collect(),
            problems: report
                .problems
                .iter()
                .map(|p| JsonProblem {
                    kind: p.kind.as_str(),
                    file: p.file.as_deref(),
                    line: p.line,
                    column: p.column,
                    document: p.document,
                    rule: p.rule.as_deref(),
                    message: p.shown_message(),
                })
                .collect(),
            summary: Summary {
                files: report.files.len(),
                objects: report.objects.len(),
                errors: counts.errors,
                warnings: counts.warnings,
                infos: counts.infos,
                suppressed: counts.suppressed,
                problems: report.problems.len(),
            },
        };
        super::write_json(out, &doc)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRule<'a> {
    id: &'a str,
    title: &'a str,
    severity: Severity,
    enabled: bool,
    source: &'a str,
    rationale: &'a str,
    /// `[{group, kind, operations: ["CREATE", …]}]`: the kinds reviewed and the admission
    /// operations judged (linting always runs).
    reviews: &'a [ws3_engine::Scope],
    /// Operations judged on every pod-template holder.
    workloads: ws3_engine::Operations,
    exempt_namespaces: &'a [String],
    interface: &'a str,
}

/// `ws3-lint rules --format json`: an array of `{id, title, severity, enabled, source, rationale,
/// reviews, workloads, exemptNamespaces, interface}`.
pub fn write_rules(rules: &[RuleInfo], out: &mut dyn Write) -> io::Result<()> {
    let list: Vec<JsonRule<'_>> = rules
        .iter()
        .map(|r| JsonRule {
            id: &r.id,
            title: &r.title,
            severity: r.severity,
            enabled: r.enabled,
            source: &r.source,
            rationale: &r.rationale,
            reviews: &r.reviews,
            workloads: r.workloads,
            exempt_namespaces: &r.exempt_namespaces,
            interface: &r.interface,
        })
        .collect();
    super::write_json(out, &list)
}
