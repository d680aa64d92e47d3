//! `--format sarif`: SARIF 2.1.0 for code-scanning tools.
//!
//! One run. `tool.driver.rules` lists every enabled rule with its metadata from the module (id,
//! name, title as `shortDescription`, rationale as `fullDescription`, documentation as `help`,
//! severity as `defaultConfiguration.level`). Each result has the region of the offending field
//! (columns count Unicode code points), the reviewed object as a logical location, and
//! `suppressions: [{"kind": "inSource"}]` when a `ws3.dev/ignore` annotation suppresses it.
//! Problems (input and rule errors, not findings) are `toolExecutionNotifications` of the
//! invocation, with their kind in `properties.kind`; `executionSuccessful` is false when there
//! are any. Texts meant for people (messages, names) have their control characters escaped; a
//! problem's message never quotes a value from the input.

use std::io::{self, Write};

use serde_json::{Value, json};
use ws3_engine::Severity;

use super::{EmitOptions, Emitter};
use crate::{Diagnostic, Report, RuleInfo, escape::display_name};

/// The SARIF emitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sarif;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// `statefulset-emptydir-data` → `StatefulsetEmptydirData`.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A relative path as a URI reference; an absolute one as a `file://` URI.
pub fn path_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_descriptor(rule: &RuleInfo) -> Value {
    let mut help = json!({ "text": rule.docs });
    if !rule.docs.is_empty() {
        help["markdown"] = json!(rule.docs);
    }
    json!({
        "id": rule.id,
        "name": pascal_case(&rule.id),
        "shortDescription": { "text": rule.title },
        "fullDescription": { "text": if rule.rationale.is_empty() { &rule.title } else { &rule.rationale } },
        "help": help,
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": { "source": rule.source },
    })
}

fn result(report: &Report, d: &Diagnostic, rule_index: Option<usize>) -> Value {
    let l = &d.location;
    let mut text = display_name(&d.message).into_owned();
    if !d.hint.is_empty() {
        text.push_str(&format!("\nhelp: {}", display_name(&d.hint)));
    }
    let object = &d.object;
    let qualified = if object.namespace.is_empty() {
        format!("{}/{}", object.kind, object.name)
    } else {
        format!("{}/{}/{}", object.kind, object.namespace, object.name)
    };
    let mut r = json!({
        "ruleId": d.rule,
        "level": level(d.severity),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": path_uri(report.file_name(d)) },
                "region": {
                    "startLine": l.line,
                    "startColumn": l.column,
                    "endLine": l.end_line,
                    "endColumn": l.end_column,
                },
            },
            "logicalLocations": [{
                "name": display_name(&object.name),
                "fullyQualifiedName": display_name(&qualified),
                "kind": "resource",
            }],
        }],
        "properties": {
            "object": object,
            "path": d.path,
            "document": d.document,
            "hint": d.hint,
        },
    });
    if let Some(i) = rule_index {
        r["ruleIndex"] = json!(i);
    }
    if let Some(subject) = &d.subject {
        r["properties"]["subject"] = json!(subject);
    }
    if let Some(template) = &d.template {
        r["properties"]["template"] = json!(template);
    }
    if d.suppressed {
        r["suppressions"] = json!([{ "kind": "inSource" }]);
    }
    r
}

/// The whole SARIF log as a JSON value.
pub fn log(report: &Report) -> Value {
    let rules: Vec<&RuleInfo> = report.rules.iter().filter(|r| r.enabled).collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| result(report, d, rules.iter().position(|r| r.id == d.rule)))
        .collect();
    let notifications: Vec<Value> = report
        .problems
        .iter()
        .map(|p| {
            let mut n = json!({
                "level": "error",
                "message": { "text": display_name(&p.shown_message()) },
                "properties": { "kind": p.kind.as_str() },
            });
            if let Some(file) = &p.file {
                let mut region = json!({});
                if let Some(line) = p.line {
                    region["startLine"] = json!(line);
                }
                if let Some(column) = p.column {
                    region["startColumn"] = json!(column);
                }
                let mut physical = json!({ "artifactLocation": { "uri": path_uri(file) } });
                if p.line.is_some() {
                    physical["region"] = region;
                }
                n["locations"] = json!([{ "physicalLocation": physical }]);
            }
            if let Some(rule) = &p.rule {
                n["associatedRule"] = json!({ "id": rule });
            }
            n
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "ws3-lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules.iter().map(|r| rule_descriptor(r)).collect::<Vec<_>>(),
                },
            },
            "invocations": [{
                "executionSuccessful": report.problems.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

impl Emitter for Sarif {
    fn emit(&self, report: &Report, _options: &EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        super::write_json(out, &log(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_names() {
        assert_eq!(path_uri("dir/a b.yaml"), "dir/a%20b.yaml");
        assert_eq!(path_uri("/abs/x.yaml"), "file:///abs/x.yaml");
        assert_eq!(path_uri("<stdin>"), "%3Cstdin%3E");
        assert_eq!(
            pascal_case("statefulset-emptydir-data"),
            "StatefulsetEmptydirData"
        );
    }
}
