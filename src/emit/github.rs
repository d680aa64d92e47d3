//! `--format github`: GitHub Actions workflow commands, one annotation per finding:
//!
//! ```text
//! ::error file=db.yaml,line=67,col=11,endLine=67,endColumn=23,title=statefulset-emptydir-data::message
//! ```
//!
//! Errors are `error`, warnings `warning`, infos `notice`. Suppressed findings appear only with
//! `--show-suppressed`, as notices. Input and rule errors are `error` annotations too.

use std::io::{self, Write};

use ws3_engine::Severity;

use super::{EmitOptions, Emitter};
use crate::Report;

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
                props.push(format!("file={}", escape_property(file)));
            }
            if let Some(line) = p.line {
                props.push(format!("line={line}"));
            }
            if let Some(col) = p.column {
                props.push(format!("col={col}"));
            }
            props.push("title=ws3-lint".to_owned());
            writeln!(
                out,
                "::error {}::{}",
                props.join(","),
                escape_data(&p.message)
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
            let mut message = format!("{} ({})", d.message, d.object);
            if d.suppressed {
                message.push_str(" (suppressed)");
            }
            if !d.hint.is_empty() {
                message.push_str(&format!("\nhelp: {}", d.hint));
            }
            writeln!(
                out,
                "::{command} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                escape_property(report.file_name(d)),
                l.line,
                l.column,
                l.end_line,
                l.end_column,
                escape_property(&d.rule),
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
}
