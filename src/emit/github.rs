//! `--format github`: GitHub Actions workflow commands, one annotation per finding:
//!
//! ```text
//! ::error file=db.yaml,line=67,col=11,endLine=67,endColumn=23,title=statefulset-emptydir-data::message
//! ```
//!
//! Errors are `error`, warnings `warning`, infos `notice`. Suppressed findings appear only with
//! `--show-suppressed`, as notices. Problems (input and rule errors) are `error` annotations
//! titled `ws3-lint: <what kind of problem>`.
//!
//! Names and messages have their control characters escaped first; then the runner's own
//! escaping applies (`%`, CR and LF in messages; also `:` and `,` in properties), so no file
//! or object name can end a command or start another.

use std::io::{self, Write};

use ws3_engine::Severity;

use super::{EmitOptions, Emitter};
use crate::{Report, escape::display_name};

/// The GitHub emitter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Github;

/// Escapes a message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl Emitter for Github {
    fn emit(&self, report: &Report, options: &EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        for p in &report.problems {
            let mut props = Vec::new();
            if let Some(file) = &p.file {
                props.push(format!("file={}", escape_property(&display_name(file))));
            }
            if let Some(line) = p.line {
                props.push(format!("line={line}"));
            }
            if let Some(col) = p.column {
                props.push(format!("col={col}"));
            }
            props.push(format!(
                "title={}",
                escape_property(&format!("ws3-lint: {}", p.kind.title()))
            ));
            writeln!(
                out,
                "::error {}::{}",
                props.join(","),
                escape_data(&display_name(&p.shown_message()))
            )?;
        }
        for d in report
            .diagnostics
            .iter()
            .filter(|d| options.show_suppressed || !d.suppressed)
        {
            let command = match (d.suppressed, d.severity) {
                (true, _) | (false, Severity::Info) => "notice",
                (false, Severity::Warning) => "warning",
                (false, Severity::Error) => "error",
            };
            let l = &d.location;
            let mut message = format!(
                "{} ({})",
                display_name(&d.message),
                display_name(&d.object.to_string())
            );
            if d.suppressed {
                message.push_str(" (suppressed)");
            }
            if !d.hint.is_empty() {
                message.push_str(&format!("\nhelp: {}", display_name(&d.hint)));
            }
            writeln!(
                out,
                "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                escape_property(&display_name(report.file_name(d))),
                l.line,
                l.column,
                l.end_line,
                l.end_column,
                escape_property(&display_name(&d.rule)),
                escape_data(&message)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(escape_data("a%b\r\nc:d,e"), "a%25b%0D%0Ac:d,e");
        assert_eq!(escape_property("a%b\nc:d,e"), "a%25b%0Ac%3Ad%2Ce");
    }

    #[test]
    fn names_cannot_inject_workflow_commands() {
        let name = "x\n::error file=evil.yaml::pwned\r\n,title=y";
        let shown = escape_property(&display_name(name));
        assert!(!shown.contains(['\n', '\r', ':', ',']), "{shown}");
        let data = escape_data(&display_name(name));
        assert!(!data.contains(['\n', '\r']), "{data}");
        assert_eq!(display_name("a\u{1b}[31m"), "a\\x1b[31m");
    }
}
