//! Output formats: one [`Emitter`] per format, one module each.

use std::io::{self, Write};

use serde_json::ser::{Formatter, PrettyFormatter};

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

/// Writes `value` as pretty JSON and a line break. Besides what JSON must escape, the C1
/// control characters, the line and paragraph separators and the bidirectional controls are
/// written as `\uXXXX` escapes: the data is the same, but a terminal shown the raw output is not
/// driven by names from the input.
pub(crate) fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> io::Result<()> {
    let mut ser =
        serde_json::Serializer::with_formatter(&mut *out, SafeFormatter(PrettyFormatter::new()));
    value.serialize(&mut ser).map_err(io::Error::from)?;
    writeln!(out)
}

/// serde_json's pretty formatter, escaping more characters in strings (see [`write_json`]).
struct SafeFormatter<'a>(PrettyFormatter<'a>);

impl Formatter for SafeFormatter<'_> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() || matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_what_could_drive_a_terminal() {
        let mut out = Vec::new();
        let name = "db\u{1b}[2J\u{9b}31m\u{202e}\u{2028}ü\"\\";
        write_json(&mut out, &serde_json::json!({ "name": name })).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"name\": \"db\\u001b[2J\\u009b31m\\u202e\\u2028ü\\\"\\\\\"\n}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], name);
    }
}
