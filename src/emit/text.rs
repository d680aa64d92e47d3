//! The human format, after rustc and ruff:
//!
//! ```text
//! db.yaml:67:11: error[statefulset-emptydir-data] container postgres keeps its data on emptyDir volume data
//!    |
//! 66 |         - name: data
//! 67 |           emptyDir: {}
//!    |           ^^^^^^^^^^^^
//!    |
//!    = object: StatefulSet kubernetes-ws-3/db (document 4)
//!    = help: move the data to volumeClaimTemplates
//!    = note: to suppress, annotate the StatefulSet with `ws3.dev/ignore: statefulset-emptydir-data`
//! ```
//!
//! The code frame shows the offending line with one line of context; a Secret's values are
//! never shown.

use std::io::{self, Write};

use ws3_engine::{Severity, object::IGNORE_ANNOTATION};

use super::{EmitOptions, Emitter, plural};
use crate::{Diagnostic, Report, RuleInfo, input::SourceFile, yaml::Span};

/// The text emitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text;

/// ANSI styles, or nothing.
#[derive(Debug, Clone, Copy)]
struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(self, severity: Severity, text: &str) -> String {
        let code = match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        self.wrap(code, text)
    }

    fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn gutter(self, text: &str) -> String {
        self.wrap("1;34", text)
    }
}

impl Emitter for Text {
    fn emit(&self, report: &Report, options: &EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let paint = Paint { on: options.color };
        for d in report
            .diagnostics
            .iter()
            .filter(|d| options.show_suppressed || !d.suppressed)
        {
            write_diagnostic(report, d, paint, out)?;
            writeln!(out)?;
        }
        writeln!(out, "{}", paint.bold(&summary(report)))
    }
}

/// The closing line.
pub fn summary(report: &Report) -> String {
    let c = report.counts();
    let scope = format!(
        "{} ({})",
        plural(report.files.len(), "file"),
        plural(report.objects.len(), "object")
    );
    let mut parts = Vec::new();
    for (n, word) in [
        (c.errors, "error"),
        (c.warnings, "warning"),
        (c.infos, "info"),
    ] {
        if n > 0 {
            parts.push(plural(n, word));
        }
    }
    let mut line = if parts.is_empty() && report.problems.is_empty() {
        format!("All checks passed: {scope}")
    } else if parts.is_empty() {
        format!("No findings in {scope}")
    } else {
        let last = parts.pop().unwrap_or_default();
        let head = if parts.is_empty() {
            last
        } else {
            format!("{} and {last}", parts.join(", "))
        };
        format!("Found {head} in {scope}")
    };
    if c.suppressed > 0 {
        line.push_str(&format!(", {} suppressed", c.suppressed));
    }
    if !report.problems.is_empty() {
        line.push_str(&format!(
            "; {} prevented a complete check",
            plural(report.problems.len(), "input or rule error")
        ));
    }
    line.push('.');
    line
}

fn write_diagnostic(
    report: &Report,
    d: &Diagnostic,
    paint: Paint,
    out: &mut dyn Write,
) -> io::Result<()> {
    let l = &d.location;
    let severity = paint.severity(d.severity, &format!("{}[{}]", d.severity, d.rule));
    let suppressed = if d.suppressed { " (suppressed)" } else { "" };
    writeln!(
        out,
        "{}: {severity} {}{suppressed}",
        paint.bold(&format!("{}:{}:{}", report.file_name(d), l.line, l.column)),
        d.message
    )?;
    let Some(file) = report.files.get(d.file) else {
        return Ok(());
    };
    let first =
        if l.line > d.object_line && file.line(l.line - 1).is_some_and(|s| !s.trim().is_empty()) {
            l.line - 1
        } else {
            l.line
        };
    let width = l.line.to_string().len();
    let pad = " ".repeat(width);
    let bar = paint.gutter("|");
    writeln!(out, "{pad} {bar}")?;
    for n in first..=l.line {
        let text = shown_line(file, n, &d.redactions);
        writeln!(
            out,
            "{} {bar} {text}",
            paint.gutter(&format!("{n:>width$}"))
        )?;
    }
    let line_len = file.line(l.line).map_or(0, |s| s.chars().count());
    let end = if l.end_line == l.line {
        l.end_column
    } else {
        line_len + 1
    };
    let carets = "^".repeat(end.saturating_sub(l.column).max(1));
    writeln!(
        out,
        "{pad} {bar} {}{}",
        " ".repeat(l.column - 1),
        paint.severity(d.severity, &carets)
    )?;
    writeln!(out, "{pad} {bar}")?;
    let eq = paint.gutter("=");
    writeln!(
        out,
        "{pad} {eq} object: {} (document {})",
        d.object, d.document
    )?;
    if let Some(template) = &d.template {
        writeln!(out, "{pad} {eq} template: {template}")?;
    }
    if let Some(subject) = d.subject.as_ref().filter(|s| **s != d.object) {
        writeln!(out, "{pad} {eq} about: {subject}")?;
    }
    if !l.exact && !d.path.is_empty() {
        writeln!(
            out,
            "{pad} {eq} note: `{}` is not in the file; this is its nearest parent",
            d.path
        )?;
    }
    if !d.hint.is_empty() {
        writeln!(out, "{pad} {eq} {}: {}", paint.bold("help"), d.hint)?;
    }
    let target = match &d.subject {
        Some(s) => format!("{s}"),
        None => format!("the {}", d.object.kind),
    };
    writeln!(
        out,
        "{pad} {eq} note: to suppress, annotate {target} with `{IGNORE_ANNOTATION}: {}`",
        d.rule
    )
}

/// A line of the file with tabs as spaces and Secret values replaced.
fn shown_line(file: &SourceFile, n: usize, redactions: &[Span]) -> String {
    let line = file.line(n).unwrap_or_default().replace('\t', " ");
    let cut = redactions
        .iter()
        .filter(|s| {
            s.start.line <= n
                && n <= s.end.line
                && !(s.end.line == n && s.end.col == 0 && s.start.line < n)
        })
        .map(|s| {
            if s.start.line == n {
                s.start.col
            } else {
                line.chars().take_while(|c| *c == ' ').count()
            }
        })
        .min();
    match cut {
        Some(col) => {
            let kept: String = line.chars().take(col).collect();
            format!("{kept}<redacted>")
        }
        None => line,
    }
}

/// Writes problems (and, when verbose, notices) for standard error.
pub fn write_problems(
    report: &Report,
    verbose: bool,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let paint = Paint { on: color };
    if verbose {
        for n in &report.notices {
            let at = n
                .file
                .as_deref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            let doc = n
                .document
                .map(|d| format!("document {d}: "))
                .unwrap_or_default();
            writeln!(out, "{at}{} {doc}{}", paint.bold("note:"), n.message)?;
        }
    }
    for p in &report.problems {
        let at = p
            .location()
            .map(|l| format!("{}: ", paint.bold(&l)))
            .unwrap_or_default();
        writeln!(
            out,
            "{at}{} {}",
            paint.severity(Severity::Error, "error:"),
            p.message
        )?;
    }
    Ok(())
}

/// `ws3-lint rules`: a table.
pub fn write_rules(rules: &[RuleInfo], out: &mut dyn Write) -> io::Result<()> {
    let id_w = rules.iter().map(|r| r.id.len()).max().unwrap_or(0).max(2);
    let src_w = rules
        .iter()
        .map(|r| r.source.len())
        .max()
        .unwrap_or(0)
        .max(6);
    writeln!(
        out,
        "{:id_w$}  {:8}  {:src_w$}  TITLE",
        "ID", "SEVERITY", "SOURCE"
    )?;
    for r in rules {
        let severity = if r.enabled {
            r.severity.as_str()
        } else {
            "off"
        };
        writeln!(
            out,
            "{:id_w$}  {severity:8}  {:src_w$}  {}",
            r.id, r.source, r.title
        )?;
    }
    if rules.is_empty() {
        writeln!(out, "(no rules loaded)")?;
    }
    Ok(())
}

/// `ws3-lint explain ID`: the rule's Markdown documentation.
pub fn write_explanation(rule: &RuleInfo, out: &mut dyn Write) -> io::Result<()> {
    if rule.docs.trim().is_empty() {
        writeln!(out, "# {}\n\n{}\n\n{}", rule.id, rule.title, rule.rationale)?;
    } else {
        write!(out, "{}", rule.docs)?;
        if !rule.docs.ends_with('\n') {
            writeln!(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Pos;

    #[test]
    fn secret_values_are_never_shown() {
        let file = SourceFile::new(
            "s.yaml",
            "data:\n  password: cGFzcw==\n  key: |\n    line one\n    line two\nother: 1\n",
        );
        let spans = [
            Span {
                start: Pos { line: 2, col: 12 },
                end: Pos { line: 2, col: 20 },
            },
            Span {
                start: Pos { line: 4, col: 4 },
                end: Pos { line: 6, col: 0 },
            },
        ];
        assert_eq!(shown_line(&file, 2, &spans), "  password: <redacted>");
        assert_eq!(shown_line(&file, 3, &spans), "  key: |");
        assert_eq!(shown_line(&file, 4, &spans), "    <redacted>");
        assert_eq!(shown_line(&file, 5, &spans), "    <redacted>");
        assert_eq!(shown_line(&file, 6, &spans), "other: 1");
    }
}
