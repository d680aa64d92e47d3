//! Output formats: one [`Emitter`] per format, one module each.

use std::io::{self, Write};

use crate::{Report, cli::Format};

pub mod github;
pub mod json;
pub mod sarif;
pub mod text;

/// How to write a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmitOptions {
    /// ANSI colours (text only).
    pub color: bool,
    /// Show suppressed findings (text and GitHub; JSON and SARIF always include them).
    pub show_suppressed: bool,
}

/// Writes a report in one format.
pub trait Emitter {
    /// Writes the report to `out`.
    fn emit(&self, report: &Report, options: &EmitOptions, out: &mut dyn Write) -> io::Result<()>;
}

/// The emitter of a format.
pub fn emitter(format: Format) -> Box<dyn Emitter> {
    match format {
        Format::Text => Box::new(text::Text),
        Format::Json => Box::new(json::Json),
        Format::Sarif => Box::new(sarif::Sarif),
        Format::Github => Box::new(github::Github),
    }
}

/// `1 error`, `2 errors`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
