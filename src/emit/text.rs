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
//! The code frame (drawn by `annotate-snippets`, as rustc and cargo draw theirs) shows the
//! offending line with one line of context, taken from [`Redacted`] lines only: secret
//! values are never shown (`POSTGRES_PASSWORD: ****`). Lines wider than [`FRAME_WIDTH`] columns
//! are cut to a window around the finding, marked with `...` as rustc marks them. Names and messages are printed with
//! their control characters escaped.

use std::{
    io::{self, Write},
    ops::Range,
    rc::Rc,
};

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use unicode_width::UnicodeWidthChar;
use ws3_engine::{Severity, object::IGNORE_ANNOTATION};

use super::{EmitOptions, Emitter, plural};
use crate::{
    Diagnostic, Report, RuleInfo,
    escape::display_name,
    redact::{Redacted, Redactor},
    yaml::{Pos, Span},
};

/// The widest a code frame's source lines get, in terminal columns.
pub const FRAME_WIDTH: usize = 120;

/// Marks where a line of a code frame is cut.
const ELLIPSIS: &str = "...";

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
            // The colours annotate-snippets gives each level (bright red, yellow, blue).
            Severity::Error => "1;91",
            Severity::Warning => "1;93",
            Severity::Info => "1;94",
        };
        self.wrap(code, text)
    }

    fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    /// The gutter's colour, as annotate-snippets draws it (bright blue, bold).
    fn gutter(self, text: &str) -> String {
        self.wrap("1;94", text)
    }
}

impl Emitter for Text {
    fn emit(&self, report: &Report, options: &EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let paint = Paint { on: options.color };
        let renderer = if options.color {
            Renderer::styled()
        } else {
            Renderer::plain()
        }
        // Frames are cut to FRAME_WIDTH here; the renderer must not cut them again.
        .term_width(4 * FRAME_WIDTH);
        let mut frames = Frames::new(report);
        for d in report
            .diagnostics
            .iter()
            .filter(|d| options.show_suppressed || !d.suppressed)
        {
            write_diagnostic(report, d, &mut frames, paint, &renderer, out)?;
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
    frames: &mut Frames<'_>,
    paint: Paint,
    renderer: &Renderer,
    out: &mut dyn Write,
) -> io::Result<()> {
    let l = &d.location;
    let severity = paint.severity(d.severity, &format!("{}[{}]", d.severity, d.rule));
    let suppressed = if d.suppressed { " (suppressed)" } else { "" };
    writeln!(
        out,
        "{}: {severity} {}{suppressed}",
        paint.bold(&format!(
            "{}:{}:{}",
            display_name(report.file_name(d)),
            l.line,
            l.column
        )),
        display_name(&d.message)
    )?;
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
        Severity::Info => Level::INFO,
    };
    let frame = frames.frame(d);
    // The frame is drawn by annotate-snippets; the `= name: text` lines under it are plain
    // lines (drawing them too doubles the renderer's cost).
    let width = frame
        .as_ref()
        .map_or(l.line, |f| f.last_line)
        .to_string()
        .len();
    let pad = " ".repeat(width);
    let bar = paint.gutter("|");
    if let Some(frame) = &frame {
        let group = Group::with_level(level).element(
            Snippet::source(frame.source.as_str())
                .line_start(frame.first_line)
                .fold(false)
                .annotation(AnnotationKind::Primary.span(frame.span.clone())),
        );
        writeln!(out, "{}", renderer.render(&[group]))?;
        writeln!(out, "{pad} {bar}")?;
    }
    let eq = paint.gutter("=");
    for (name, text) in notes(d) {
        let name = if name == "help" {
            paint.bold(name)
        } else {
            name.to_owned()
        };
        writeln!(out, "{pad} {eq} {name}: {text}")?;
    }
    Ok(())
}

/// The `= name: text` lines under a frame.
fn notes(d: &Diagnostic) -> Vec<(&'static str, String)> {
    let mut notes = vec![(
        "object",
        format!(
            "{} (document {})",
            display_name(&d.object.to_string()),
            d.document
        ),
    )];
    if let Some(template) = &d.template {
        notes.push(("template", display_name(template).into_owned()));
    }
    if let Some(subject) = d.subject.as_ref().filter(|s| **s != d.object) {
        notes.push(("about", display_name(&subject.to_string()).into_owned()));
    }
    if !d.location.exact && !d.path.is_empty() {
        notes.push((
            "note",
            format!(
                "`{}` is not in the file; this is its nearest parent",
                display_name(&d.path)
            ),
        ));
    }
    if !d.hint.is_empty() {
        notes.push(("help", display_name(&d.hint).into_owned()));
    }
    let target = match &d.subject {
        Some(s) => s.to_string(),
        None => format!("the {}", d.object.kind),
    };
    notes.push((
        "note",
        format!(
            "to suppress, annotate {} with `{IGNORE_ANNOTATION}: {}`",
            display_name(&target),
            display_name(&d.rule)
        ),
    ));
    notes
}

/// A code frame: the source lines to show, the first one's number, and the span to underline
/// (byte offsets in `source`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    source: String,
    first_line: usize,
    last_line: usize,
    span: Range<usize>,
}

/// Masks the lines of the file being reported on, and keeps the lines last shown.
struct Frames<'r> {
    report: &'r Report,
    /// What the parsed documents of each file mark as secret (byte ranges).
    secrets: Vec<Vec<Range<usize>>>,
    /// Spans findings mark as secret, per file (of every finding, shown or not).
    marked: Vec<Vec<Span>>,
    file: Option<(usize, Redactor<'r>)>,
    /// Recently shown lines of `file` (findings come sorted by line: mostly hits).
    shown: Vec<Rc<Shown<'r>>>,
}

/// Lines of a file, masked, and where their characters are shown.
struct Shown<'r> {
    first: usize,
    last: usize,
    lines: Redacted<'r>,
    layouts: Vec<Layout>,
}

impl<'r> Frames<'r> {
    fn new(report: &'r Report) -> Self {
        let mut secrets = vec![Vec::new(); report.files.len()];
        for object in &report.objects {
            if let Some(list) = secrets.get_mut(object.file) {
                list.extend_from_slice(&object.secrets);
            }
        }
        let mut marked = vec![Vec::new(); report.files.len()];
        for d in &report.diagnostics {
            if let Some(list) = marked.get_mut(d.file) {
                list.extend_from_slice(&d.redactions);
            }
        }
        Self {
            report,
            secrets,
            marked,
            file: None,
            shown: Vec::new(),
        }
    }

    fn redactor(&mut self, file: usize) -> Option<&Redactor<'r>> {
        if self.file.as_ref().is_none_or(|(f, _)| *f != file) {
            let source = self.report.files.get(file)?;
            let secrets = self.secrets.get(file).cloned().unwrap_or_default();
            let marked = self.marked.get(file).map(Vec::as_slice).unwrap_or_default();
            self.file = Some((file, Redactor::with_secrets(&source.text, secrets, marked)));
            self.shown.clear();
        }
        self.file.as_ref().map(|(_, r)| r)
    }

    /// Lines `first..=last` of `file`, masked.
    fn shown(&mut self, file: usize, first: usize, last: usize) -> Option<Rc<Shown<'r>>> {
        self.redactor(file)?;
        if let Some(hit) = self
            .shown
            .iter()
            .find(|s| s.first == first && s.last == last)
        {
            return Some(Rc::clone(hit));
        }
        let lines = self.redactor(file)?.redact(first, last);
        let layouts = (first..=last)
            .map(|n| Layout::new(lines.line(n).unwrap_or_default()))
            .collect();
        let shown = Rc::new(Shown {
            first,
            last,
            lines,
            layouts,
        });
        if self.shown.len() >= 4 {
            self.shown.remove(0);
        }
        self.shown.push(Rc::clone(&shown));
        Some(shown)
    }

    fn frame(&mut self, d: &Diagnostic) -> Option<Frame> {
        let l = &d.location;
        let redactor = self.redactor(d.file)?;
        let line = l.line.clamp(1, redactor.line_count());
        let first = if line > d.object_line.max(1) && !redactor.is_blank(line - 1) {
            line - 1
        } else {
            line
        };
        let shown = self.shown(d.file, first, line)?;
        let red = &shown.lines;
        let start = Pos {
            line,
            col: l.column.saturating_sub(1),
        };
        let (_, from) = red.position(start, false)?;
        let len = red.line(line)?.len();
        let to = if l.end_line == l.line {
            let end = Pos {
                line,
                col: l.end_column.saturating_sub(1),
            };
            red.position(end, true).map_or(len, |(_, b)| b)
        } else {
            len
        };
        let from = from.min(len);
        let span = from..to.clamp(from, len);
        let primary = shown.layouts.last()?;
        let widest = shown.layouts.iter().map(|l| l.width).max().unwrap_or(0);
        let window = Window::around(primary.col(span.start), primary.col(span.end), widest);
        let mut source = String::new();
        let mut placed = 0..0;
        for (n, layout) in (first..=line).zip(&shown.layouts) {
            let text = red.line(n)?;
            if n == line {
                placed = layout.clip(text, window, &mut source, Some(span.clone()));
            } else {
                layout.clip(text, window, &mut source, None);
                source.push('\n');
            }
        }
        Some(Frame {
            source,
            first_line: first,
            last_line: line,
            span: placed,
        })
    }
}

/// Which columns of a frame's lines are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    left: usize,
    right: usize,
}

impl Window {
    /// Columns `start..end` (the underlined span) in lines up to `widest` columns wide: all
    /// of them when they fit, else [`FRAME_WIDTH`] columns with the span centred (its start
    /// when it is wider).
    fn around(start: usize, end: usize, widest: usize) -> Self {
        if widest <= FRAME_WIDTH {
            return Self {
                left: 0,
                right: usize::MAX,
            };
        }
        let room = FRAME_WIDTH.saturating_sub(end.saturating_sub(start));
        let left = start
            .saturating_sub(room / 2)
            .min(widest.saturating_sub(FRAME_WIDTH))
            .min(start);
        Self {
            left,
            right: left + FRAME_WIDTH,
        }
    }
}

/// Where each character of a line is shown: byte offsets and terminal columns (characters are
/// shown as [`shown`] writes them).
#[derive(Debug, Clone, Default)]
struct Layout {
    /// Byte offset of each character, and the line's length at the end; empty when every
    /// character is one printable ASCII byte wide (then bytes are columns).
    bytes: Vec<usize>,
    /// Column of each character, and the line's width at the end.
    cols: Vec<usize>,
    /// Columns the line takes.
    width: usize,
}

impl Layout {
    fn new(text: &str) -> Self {
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Self {
                width: text.len(),
                ..Self::default()
            };
        }
        let mut layout = Self::default();
        let mut col = 0;
        for (i, c) in text.char_indices() {
            layout.bytes.push(i);
            layout.cols.push(col);
            col += shown_width(c);
        }
        layout.bytes.push(text.len());
        layout.cols.push(col);
        layout.width = col;
        layout
    }

    /// The column where byte `offset` (a character boundary) is shown.
    fn col(&self, offset: usize) -> usize {
        if self.bytes.is_empty() {
            return offset;
        }
        let i = self.bytes.partition_point(|&b| b < offset);
        self.cols.get(i).copied().unwrap_or(self.width)
    }

    /// The first character (as a byte offset) that starts at or after column `col`.
    fn byte_at(&self, text: &str, col: usize) -> usize {
        if self.bytes.is_empty() {
            return col.min(text.len());
        }
        let i = self.cols.partition_point(|&c| c < col);
        self.bytes.get(i).copied().unwrap_or(text.len())
    }

    /// Appends the window's part of `text` to `out`, [`ELLIPSIS`] where it is cut, and returns where
    /// `span` (byte offsets in `text`) ended up in `out`.
    fn clip(
        &self,
        text: &str,
        window: Window,
        out: &mut String,
        span: Option<Range<usize>>,
    ) -> Range<usize> {
        let from = self.byte_at(text, window.left);
        let mut to = self.byte_at(text, window.right);
        // A character that would end past the window stays out.
        while to > from && self.col(to) > window.right {
            to = text[..to]
                .char_indices()
                .next_back()
                .map_or(from, |(i, _)| i);
        }
        if window.left > 0 {
            out.push_str(ELLIPSIS);
            // A wide character cut in two by the window's edge: blanks keep columns aligned.
            let skipped = self.col(from).saturating_sub(window.left);
            out.extend(std::iter::repeat_n(' ', skipped));
        }
        let span = span.unwrap_or(0..0);
        let mut placed = out.len()..out.len();
        for (i, c) in text[from..to].char_indices() {
            let at = from + i;
            if at == span.start {
                placed.start = out.len();
            }
            if at == span.end {
                placed.end = out.len();
            }
            push_shown(out, c);
        }
        if span.start >= to {
            placed.start = out.len();
        }
        if span.end >= to {
            placed.end = out.len();
        }
        if to < text.len() {
            out.push_str(ELLIPSIS);
            if span.end > to {
                placed.end = out.len();
            }
        }
        placed.start..placed.end.max(placed.start)
    }
}

/// How wide a character of a source line is shown (see [`push_shown`]).
fn shown_width(c: char) -> usize {
    match c {
        '\t' => 4,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => 1,
        c if is_hidden(c) => 1,
        c => c.width().unwrap_or(0),
    }
}

/// Characters that would reorder, hide or break what a terminal shows.
fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

/// Appends a character of a source line as it is shown: tabs as four spaces, control
/// characters as their Unicode pictures (`␛`), C1 controls, bidirectional controls and line
/// separators as `�`.
fn push_shown(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("    "),
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('�')),
        '\u{7f}' => out.push('␡'),
        '\u{80}'..='\u{9f}' => out.push('�'),
        c if is_hidden(c) => out.push('�'),
        c => out.push(c),
    }
}

/// Writes problems (and, when verbose, notices) for standard error. Problems are the input and
/// rule errors that kept a check from being complete (not findings of severity `error`).
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
                .map(|f| format!("{}: ", display_name(f)))
                .unwrap_or_default();
            let doc = n
                .document
                .map(|d| format!("document {d}: "))
                .unwrap_or_default();
            writeln!(
                out,
                "{at}{} {doc}{}",
                paint.bold("note:"),
                display_name(&n.message)
            )?;
        }
    }
    for p in &report.problems {
        let at = p
            .location()
            .map(|l| format!("{}: ", paint.bold(&display_name(&l))))
            .unwrap_or_default();
        writeln!(
            out,
            "{at}{} {}",
            paint.severity(Severity::Error, "error:"),
            display_name(&p.shown_message())
        )?;
    }
    Ok(())
}

/// `ws3-lint rules`: a table.
pub fn write_rules(rules: &[RuleInfo], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 4]> = rules
        .iter()
        .map(|r| {
            let severity = if r.enabled {
                r.severity.as_str()
            } else {
                "off"
            };
            [
                display_name(&r.id).into_owned(),
                severity.to_owned(),
                display_name(&r.source).into_owned(),
                display_name(&r.title).into_owned(),
            ]
        })
        .collect();
    let id_w = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(2);
    let src_w = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(6);
    writeln!(
        out,
        "{:id_w$}  {:8}  {:src_w$}  TITLE",
        "ID", "SEVERITY", "SOURCE"
    )?;
    for [id, severity, source, title] in &rows {
        writeln!(out, "{id:id_w$}  {severity:8}  {source:src_w$}  {title}")?;
    }
    if rules.is_empty() {
        writeln!(out, "(no rules loaded)")?;
    }
    Ok(())
}

/// A multi-line text (a rule's documentation) as it may be printed: each line through
/// [`display_name`], so control characters are escaped and line feeds kept.
fn display_text(text: &str) -> String {
    text.split('\n')
        .map(display_name)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ws3-lint explain ID`: the rule's Markdown documentation (control characters escaped).
pub fn write_explanation(rule: &RuleInfo, out: &mut dyn Write) -> io::Result<()> {
    if rule.docs.trim().is_empty() {
        writeln!(
            out,
            "# {}\n\n{}\n\n{}",
            display_name(&rule.id),
            display_text(&rule.title),
            display_text(&rule.rationale)
        )?;
    } else {
        write!(out, "{}", display_text(&rule.docs))?;
        if !rule.docs.ends_with('\n') {
            writeln!(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use unicode_width::UnicodeWidthStr;

    use super::*;

    /// Renders one line with `span` (byte offsets) underlined, as the text format does.
    fn render(text: &str, span: Range<usize>) -> (String, String) {
        let layout = Layout::new(text);
        let window = Window::around(layout.col(span.start), layout.col(span.end), layout.width);
        let mut source = String::new();
        let placed = layout.clip(text, window, &mut source, Some(span));
        let out = Renderer::plain()
            .term_width(4 * FRAME_WIDTH)
            .render(&[Group::with_level(Level::ERROR).element(
                Snippet::source(source.as_str())
                    .line_start(7)
                    .fold(false)
                    .annotation(AnnotationKind::Primary.span(placed)),
            )]);
        let mut lines = out.lines().filter(|l| l.contains(" | ") || l.contains("^"));
        let shown = lines.next().unwrap_or_default().to_owned();
        let carets = lines.next().unwrap_or_default().to_owned();
        (shown, carets)
    }

    /// The columns of the first and past the last caret, and where `needle` is shown.
    fn columns(shown: &str, carets: &str, needle: &str) -> ((usize, usize), usize) {
        let first = carets.find('^').unwrap();
        let last = carets.rfind('^').unwrap() + 1;
        let at = shown.find(needle).unwrap();
        ((first, last), shown[..at].width())
    }

    #[test]
    fn carets_sit_under_wide_characters_and_tabs() {
        let text = "  描述: \"数据\tx\", emptyDir: {}";
        let start = text.find("emptyDir").unwrap();
        let (shown, carets) = render(text, start..text.len());
        assert!(shown.contains("数据    x"), "{shown}");
        let ((first, last), at) = columns(&shown, &carets, "emptyDir");
        assert_eq!(first, at, "\n{shown}\n{carets}");
        assert_eq!(last - first, "emptyDir: {}".len(), "\n{shown}\n{carets}");
    }

    #[test]
    fn long_lines_are_cut_to_a_window_around_the_span() {
        let text = format!("{}emptyDir: {{}}{}", "a".repeat(50_000), "b".repeat(50_000));
        let start = text.find("emptyDir").unwrap();
        let (shown, carets) = render(&text, start..start + "emptyDir: {}".len());
        assert!(
            shown.width() < FRAME_WIDTH + 20,
            "{} columns",
            shown.width()
        );
        assert!(
            shown.contains("...aaa") && shown.contains("bbb..."),
            "{shown}"
        );
        let ((first, last), at) = columns(&shown, &carets, "emptyDir");
        assert_eq!((first, last - first), (at, 12), "\n{shown}\n{carets}");
        // A span longer than the window: its start is shown, the carets run to the cut.
        let (shown, carets) = render(&text, 10..text.len() - 10);
        assert!(shown.width() < FRAME_WIDTH + 20, "{shown}");
        assert!(carets.ends_with("^^^"), "{carets}");
    }

    #[test]
    fn short_lines_are_not_cut() {
        let text = "x".repeat(FRAME_WIDTH);
        let (shown, _) = render(&text, 3..5);
        assert!(shown.ends_with(&text) && !shown.contains("..."), "{shown}");
    }

    #[test]
    fn control_characters_in_source_lines_are_shown_as_pictures() {
        let text = "name: \"db\u{1b}[2J\u{9b}x\u{202e}y\u{7}\"";
        let (shown, _) = render(text, 0..4);
        assert!(
            !shown.contains(['\u{1b}', '\u{9b}', '\u{202e}', '\u{7}']),
            "{shown:?}"
        );
        assert!(shown.contains("db␛[2J�x�y␇"), "{shown}");
    }

    #[test]
    fn a_window_fits_its_span() {
        assert_eq!(
            Window::around(5, 10, 100),
            Window {
                left: 0,
                right: usize::MAX
            }
        );
        let w = Window::around(1_000, 1_010, 5_000);
        assert!(w.left <= 1_000 && w.right >= 1_010 && w.right - w.left == FRAME_WIDTH);
        let w = Window::around(4_990, 5_000, 5_000);
        assert_eq!(w.right, 5_000);
        let w = Window::around(0, 3, 5_000);
        assert_eq!(w.left, 0);
    }
}
