//! Redaction by construction: what a file's text looks like with every secret value masked.
//!
//! Output that shows source text (the text format's code frames) is built from [`Redacted`]
//! lines only (a [`Redactor`] masks the lines asked for), never from the file itself. A value
//! is masked when
//! - it is under `data` or `stringData` of a `kind: Secret`, or it is kubectl's
//!   last-applied-configuration annotation (a copy of the whole object);
//! - a finding marks it ([`crate::Diagnostic::redactions`]);
//! - its key looks secret (`password`, `DB_PASS`, `STRIPE_API_TOKEN`, `apiKey`, `private_key`,
//!   `client_secret`, ...; not `tokenizer`, `secretKeyRef`, `passwordFile` or `max_tokens`), or it
//!   is the `value` of a `{name: <secret-looking>, value: ...}` pair (an env var);
//! - it is the password of a URL (`postgresql://user:PASS@host`), a JDBC URL, a libpq conninfo
//!   or an ADO.NET/Npgsql connection string (`password=PASS`, `Password=PASS;`), inside any
//!   scalar or any line of the file (comments and duplicate keys included);
//! - it follows a secret-looking key in a `key: value` or `key=value` line anywhere in the file
//!   (a commented-out password, an embedded `application.properties`).
//!
//! Masking replaces each masked piece with a fixed [`MASK`] (never as long as the value: the
//! length is a hint) and keeps every line break, so line numbers stay those of the file. Lines
//! are counted like the YAML parser counts them: LF, CRLF and a lone CR each end a line.

use std::ops::Range;

mod text;

pub(crate) use text::password_spans;
pub use text::{is_secret_key, text_secrets};

use crate::yaml::{Node, NodeKind, Pos, Resolved, Scalar, Span};

/// What a masked value is shown as.
pub const MASK: &str = "****";

/// kubectl's copy of the whole object as last applied (values of Secrets included).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where the lines of a text are, with the YAML parser's line breaks (LF, CRLF, lone CR).
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// Byte offset of each line's first byte.
    starts: Vec<usize>,
    /// Byte offset of each line's end (its line break, or the end of the text).
    ends: Vec<usize>,
    /// Whether each line is ASCII (then columns are byte offsets).
    ascii: Vec<bool>,
}

impl Lines {
    /// Indexes the lines of `text`.
    pub fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        // Sized once (growing three vectors line by line cost 3% of a lint run's CPU).
        let count = memchr::memchr_iter(b'\n', bytes).count() + 1;
        let mut lines = Self {
            starts: Vec::with_capacity(count),
            ends: Vec::with_capacity(count),
            ascii: Vec::with_capacity(count),
        };
        let mut start = 0;
        let mut ascii = true;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' | b'\r' => {
                    let next = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                        i + 2
                    } else {
                        i + 1
                    };
                    lines.push(start, i, ascii);
                    start = next;
                    ascii = true;
                    i = next;
                    continue;
                }
                b if b >= 0x80 => ascii = false,
                _ => {}
            }
            i += 1;
        }
        lines.push(start, bytes.len(), ascii);
        lines
    }

    fn push(&mut self, start: usize, end: usize, ascii: bool) {
        self.starts.push(start);
        self.ends.push(end);
        self.ascii.push(ascii);
    }

    /// How many lines (a text ending with a line break has an empty last line).
    pub fn count(&self) -> usize {
        self.starts.len()
    }

    /// The byte range of line `n` (from 1), without its line break.
    pub fn range(&self, n: usize) -> Option<Range<usize>> {
        let i = n.checked_sub(1)?;
        Some(*self.starts.get(i)?..*self.ends.get(i)?)
    }

    /// The line (from 1) that holds byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }

    /// The byte offset of a parser position (line from 1, column in characters from 0) in
    /// `text`, the text these lines index. Columns past the end of a line are its end.
    pub fn offset(&self, text: &str, pos: Pos) -> usize {
        if pos.line == 0 {
            return 0;
        }
        let Some(range) = self.range(pos.line) else {
            return text.len();
        };
        if self.ascii[pos.line - 1] {
            return (range.start + pos.col).min(range.end);
        }
        text[range.clone()]
            .char_indices()
            .nth(pos.col)
            .map_or(range.end, |(i, _)| range.start + i)
    }

    /// The byte range of a span in `text`.
    pub fn span(&self, text: &str, span: Span) -> Range<usize> {
        self.offset(text, span.start)..self.offset(text, span.end)
    }
}

/// A masked piece: `original` in the file is [`MASK`] at `redacted` in the redacted text.
#[derive(Debug, Clone)]
struct Cut {
    original: Range<usize>,
    redacted: usize,
}

/// What masking a file needs: its text, its parsed documents and the spans findings mark.
/// It masks the lines asked for ([`Redactor::redact`]), reading only the nodes on them, so that
/// showing a few lines of a large file costs a few lines' work.
#[derive(Debug, Clone)]
pub struct Redactor<'a> {
    text: &'a str,
    lines: Lines,
    /// What the parsed documents mark as secret ([`document_secrets`]), as byte ranges.
    secrets: Vec<Range<usize>>,
    marked: Vec<Span>,
}

impl<'a> Redactor<'a> {
    /// A redactor for `text`, whose parsed documents are `roots`, with the spans in `marked`
    /// masked too.
    pub fn new(text: &'a str, roots: impl IntoIterator<Item = &'a Node>, marked: &[Span]) -> Self {
        let lines = Lines::new(text);
        let secrets = document_secrets(text, &lines, roots);
        Self {
            text,
            lines,
            secrets,
            marked: marked.to_vec(),
        }
    }

    /// A redactor for `text` whose parsed documents mark `secrets` (byte ranges, what
    /// [`document_secrets`] found in them), with the spans in `marked` masked too.
    pub fn with_secrets(text: &'a str, secrets: Vec<Range<usize>>, marked: &[Span]) -> Self {
        Self {
            text,
            lines: Lines::new(text),
            secrets,
            marked: marked.to_vec(),
        }
    }

    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.lines.count()
    }

    /// Whether line `n` of the file is blank (masking does not change that).
    pub fn is_blank(&self, n: usize) -> bool {
        self.lines
            .range(n)
            .is_none_or(|r| self.text[r].trim().is_empty())
    }

    /// Lines `first..=last` (from 1) with every secret value on them masked.
    pub fn redact(&self, first: usize, last: usize) -> Redacted<'a> {
        let first = first.clamp(1, self.line_count());
        let last = last.clamp(first, self.line_count());
        let window = Window {
            first,
            last,
            bytes: self.lines.range(first).map_or(0, |r| r.start)
                ..self.lines.range(last).map_or(self.text.len(), |r| r.end),
        };
        let ranges = secret_ranges(self.text, &self.lines, &window, &self.secrets, &self.marked);
        let original = &self.text[window.bytes.clone()];
        let base = window.bytes.start;
        let mut redacted = String::with_capacity(original.len());
        let mut cuts = Vec::with_capacity(ranges.len());
        let mut at = 0;
        for range in ranges {
            let range = range.start - base..range.end - base;
            redacted.push_str(&original[at..range.start]);
            cuts.push(Cut {
                original: range.clone(),
                redacted: redacted.len(),
            });
            redacted.push_str(MASK);
            at = range.end;
        }
        redacted.push_str(&original[at..]);
        Redacted {
            first,
            original,
            original_lines: Lines::new(original),
            lines: Lines::new(&redacted),
            text: redacted,
            cuts,
        }
    }

    /// The whole file, masked.
    pub fn redact_all(&self) -> Redacted<'a> {
        self.redact(1, self.line_count())
    }
}

/// Lines of a file with every secret value masked, and the way back from file positions.
#[derive(Debug, Clone)]
pub struct Redacted<'a> {
    /// The number of the first line.
    first: usize,
    /// The original lines.
    original: &'a str,
    original_lines: Lines,
    /// The masked lines.
    text: String,
    lines: Lines,
    /// Offsets within `original` and `text`.
    cuts: Vec<Cut>,
}

impl<'a> Redacted<'a> {
    /// Masks the whole of `text`: the secret values found in `roots` (the file's parsed
    /// documents) and in its lines, and every span in `marked`.
    pub fn new(text: &'a str, roots: impl IntoIterator<Item = &'a Node>, marked: &[Span]) -> Self {
        Redactor::new(text, roots, marked).redact_all()
    }

    /// The masked lines, with their line breaks.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Line `n` (from 1, numbered as in the file) masked, without its line break; `None`
    /// outside the masked lines.
    pub fn line(&self, n: usize) -> Option<&str> {
        let i = n.checked_sub(self.first)? + 1;
        self.lines.range(i).map(|r| &self.text[r])
    }

    /// Where a file position is in the masked lines: its line (from 1) and byte offset in the
    /// masked line. A position inside a masked value is the start of the mask, or its end
    /// when `end` is set (for the end of a range).
    pub fn position(&self, pos: Pos, end: bool) -> Option<(usize, usize)> {
        let i = pos.line.checked_sub(self.first)? + 1;
        if i > self.lines.count() {
            return None;
        }
        let offset = self
            .original_lines
            .offset(self.original, Pos { line: i, ..pos });
        let k = self.cuts.partition_point(|c| c.original.start < offset);
        let mapped = match k.checked_sub(1).map(|j| &self.cuts[j]) {
            None => offset,
            Some(cut) if offset < cut.original.end => {
                cut.redacted + if end { MASK.len() } else { 0 }
            }
            Some(cut) => cut.redacted + MASK.len() + (offset - cut.original.end),
        };
        let start = self.lines.range(i)?.start;
        Some((pos.line, mapped.saturating_sub(start)))
    }
}

/// The lines being masked.
#[derive(Debug, Clone)]
struct Window {
    first: usize,
    last: usize,
    /// Their bytes in the file, line breaks between them included.
    bytes: Range<usize>,
}

impl Window {
    /// Whether a node's span touches these lines.
    fn touches(&self, span: Span) -> bool {
        span.start.line <= self.last && span.end.line >= self.first
    }
}

/// The byte ranges of `text` that its parsed documents `roots` say are secret: values under a
/// Secret's `data` and `stringData`, values of secret-looking keys, passwords inside strings.
/// Ranges may span lines and overlap; [`Redactor::redact`] clips, splits and merges them. The
/// linter keeps these for each object instead of its parsed document.
pub fn document_secrets<'n>(
    text: &str,
    lines: &Lines,
    roots: impl IntoIterator<Item = &'n Node>,
) -> Vec<Range<usize>> {
    let window = Window {
        first: 1,
        last: lines.count(),
        bytes: 0..text.len(),
    };
    let mut finder = Finder {
        text,
        lines,
        window: &window,
        out: Vec::new(),
    };
    for root in roots {
        finder.walk(root);
    }
    finder.out
}

/// The byte ranges of the window's lines never to be shown: one per masked piece, each within
/// one line, sorted and disjoint. `secrets` are the documents' ([`document_secrets`]); those
/// outside the window are clipped away.
fn secret_ranges(
    text: &str,
    lines: &Lines,
    window: &Window,
    secrets: &[Range<usize>],
    marked: &[Span],
) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = secrets
        .iter()
        .filter(|r| r.start < window.bytes.end && r.end > window.bytes.start)
        .cloned()
        .collect();
    for span in marked.iter().filter(|s| window.touches(**s)) {
        out.push(lines.span(text, *span));
    }
    // The window's lines in one pass: no value the detectors find runs past a line break.
    let start = window.bytes.start;
    out.extend(
        text_secrets(&text[window.bytes.clone()])
            .into_iter()
            .map(|r| r.start + start..r.end + start),
    );
    normalize(text, lines, window, out)
}

/// Splits ranges at line breaks (keeping the indentation of continuation lines), trims blanks,
/// sorts and merges them.
fn normalize(
    text: &str,
    lines: &Lines,
    window: &Window,
    ranges: Vec<Range<usize>>,
) -> Vec<Range<usize>> {
    let mut pieces = Vec::with_capacity(ranges.len());
    for range in ranges {
        let range = range.start.max(window.bytes.start)..range.end.min(window.bytes.end);
        if range.is_empty() {
            continue;
        }
        let mut n = lines.line_of(range.start);
        while let Some(line) = lines.range(n).filter(|_| n <= window.last) {
            if line.start >= range.end {
                break;
            }
            let start = range.start.max(line.start);
            let end = range.end.min(line.end);
            if start < end {
                let piece = &text[start..end];
                let trimmed = piece.trim_start_matches([' ', '\t']);
                let start = start + (piece.len() - trimmed.len());
                let end = start + trimmed.trim_end_matches([' ', '\t']).len();
                if start < end {
                    pieces.push(start..end);
                }
            }
            n += 1;
        }
    }
    pieces.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match merged.last_mut() {
            Some(last) if piece.start <= last.end => last.end = last.end.max(piece.end),
            _ => merged.push(piece),
        }
    }
    merged
}

struct Finder<'t> {
    text: &'t str,
    lines: &'t Lines,
    window: &'t Window,
    out: Vec<Range<usize>>,
}

impl Finder<'_> {
    fn mask(&mut self, node: &Node) {
        if self.window.touches(node.span) {
            self.out.push(self.lines.span(self.text, node.span));
        }
    }

    /// Masks every scalar under `node` (a Secret's `data`).
    fn mask_all(&mut self, node: &Node) {
        if !self.window.touches(node.span) {
            return;
        }
        match &node.kind {
            NodeKind::Scalar(_) => self.mask(node),
            NodeKind::Seq(items) => items.iter().for_each(|i| self.mask_all(i)),
            NodeKind::Map(entries) => entries.iter().for_each(|e| self.mask_all(&e.value)),
        }
    }

    /// Masks the value of a secret-looking key: a scalar, or the scalars of a list. A mapping's
    /// entries are judged by their own keys. `true`, `false` and null tell nothing.
    fn mask_value(&mut self, node: &Node) {
        let tells = |s: &Scalar| !matches!(s.resolved, Resolved::Bool(_) | Resolved::Null);
        match &node.kind {
            NodeKind::Scalar(s) if tells(s) => self.mask(node),
            NodeKind::Seq(items) => {
                for item in items {
                    if item.as_scalar().is_some_and(tells) {
                        self.mask(item);
                    }
                }
            }
            _ => {}
        }
    }

    fn walk(&mut self, node: &Node) {
        if !self.window.touches(node.span) {
            return;
        }
        match &node.kind {
            NodeKind::Scalar(s) => self.scalar(node, s),
            NodeKind::Seq(items) => items.iter().for_each(|i| self.walk(i)),
            NodeKind::Map(entries) => {
                // One pass for what decides how the entries are read: a Secret, and
                // `{name: DB_PASSWORD, value: ...}` (an env var, a Helm `--set` list...).
                let (mut kind, mut api_version, mut named_secret) = (None, false, false);
                for entry in entries {
                    match entry.key.as_str() {
                        Some("kind") => kind = entry.value.as_str(),
                        Some("apiVersion") => api_version = true,
                        Some("name" | "key") => {
                            named_secret |= entry.value.as_str().is_some_and(is_secret_key);
                        }
                        _ => {}
                    }
                }
                let is_secret = kind == Some("Secret") && api_version;
                for entry in entries {
                    if !self.window.touches(entry.value.span) {
                        continue;
                    }
                    let Some(key) = entry.key.as_str() else {
                        self.walk(&entry.value);
                        continue;
                    };
                    if (is_secret && (key == "data" || key == "stringData")) || key == LAST_APPLIED
                    {
                        self.mask_all(&entry.value);
                        continue;
                    }
                    if is_secret_key(key) || (named_secret && key == "value") {
                        self.mask_value(&entry.value);
                    }
                    self.walk(&entry.value);
                }
            }
        }
    }

    /// Passwords inside a string: where the value (unescaped, folded) and its source text agree,
    /// only the password is masked; otherwise the whole scalar.
    fn scalar(&mut self, node: &Node, scalar: &Scalar) {
        if !matches!(scalar.resolved, Resolved::Str) {
            return;
        }
        if !scalar.value.bytes().any(|b| b == b':' || b == b'=') {
            return;
        }
        let in_value = text_secrets(&scalar.value);
        if in_value.is_empty() {
            return;
        }
        let range = self.lines.span(self.text, node.span);
        let Some(source) = self.text.get(range.clone()) else {
            self.out.push(range);
            return;
        };
        let in_source = text_secrets(source);
        if in_source.len() < in_value.len() {
            self.out.push(range);
        } else {
            self.out.extend(
                in_source
                    .into_iter()
                    .map(|r| r.start + range.start..r.end + range.start),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;

    fn redact(text: &str) -> String {
        let stream = parse_stream(text);
        let roots: Vec<&Node> = stream
            .documents
            .iter()
            .filter_map(|d| d.root.as_ref())
            .collect();
        Redacted::new(text, roots, &[]).text().to_owned()
    }

    #[test]
    fn secret_keys() {
        for key in [
            "password",
            "POSTGRES_PASSWORD",
            "PGPASSWORD",
            "db_pass",
            "DB-PWD",
            "passwd",
            "STRIPE_API_TOKEN",
            "token",
            "accessToken",
            "apiKey",
            "API_KEY",
            "x-api-key",
            "APIKey",
            "apikey",
            "private_key",
            "privateKey",
            "ssh-privatekey",
            "client_secret",
            "clientSecret",
            "JWT_SECRET",
            "SECRET_KEY_BASE",
            "AWS_SECRET_ACCESS_KEY",
            "credentials",
            "password2",
            "password_hash",
            "Authorization",
            "sslpassword",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "tokenizer",
            "max_tokens",
            "secretName",
            "secretKeyRef",
            "secretRef",
            "imagePullSecrets",
            "secrets",
            "passwordFile",
            "POSTGRES_PASSWORD_FILE",
            "password_min_length",
            "tokenTTL",
            "name",
            "key",
            "tls.key",
            "keyPassphraseRef",
            "bypass",
            "compass",
            "",
            "_",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn passwords_in_urls_and_connection_strings() {
        fn find(s: &str) -> Vec<&str> {
            let mut spans = text_secrets(s);
            spans.sort_by_key(|r| r.start);
            spans.into_iter().map(|r| &s[r]).collect()
        }
        assert_eq!(find("postgresql://u:pw1@h:5432/db"), ["pw1"]);
        assert_eq!(find("postgres://u@h/db"), Vec::<&str>::new());
        assert_eq!(find("postgres://u:p@ss@h/db"), ["p@ss"]);
        assert_eq!(find("jdbc:mysql://u:pw2@h/db"), ["pw2"]);
        assert_eq!(
            find("jdbc:postgresql://h/db?user=u&password=pw3&ssl=true"),
            ["pw3"]
        );
        assert_eq!(find("host=h port=5432 password=pw4 user=u"), ["pw4"]);
        assert_eq!(find("host=h password = 'p w\\'5' user=u"), ["'p w\\'5'"]);
        assert_eq!(find("Host=h;Username=u;Password=pw6;Database=d"), ["pw6"]);
        assert_eq!(find("Server=h;User ID=u;Pwd=\"a;b\";"), ["\"a;b\""]);
        assert_eq!(find("DB_PASSWORD=pw7"), ["pw7"]);
        assert_eq!(find("--password=pw8 --user=u"), ["pw8"]);
        assert_eq!(find("password: pw 9 # old"), ["pw 9"]);
        assert_eq!(find(r#"{"apiKey": "k1", "n": 1}"#), ["\"k1\""]);
        assert_eq!(find("secretKeyRef: x"), Vec::<&str>::new());
        assert_eq!(find("url: http://h/x"), Vec::<&str>::new());
        assert_eq!(find("password:"), Vec::<&str>::new());
    }

    #[test]
    fn secrets_are_masked_and_lines_kept() {
        let text = "\
apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {\"data\":{\"password\":\"c2VjcmV0\"}}
data:
  password: c2VjcmV0
stringData:
  key: |
    line one
    line two
  n: 12345
type: Opaque
";
        let out = redact(text);
        assert_eq!(
            out,
            "\
apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      ****
data:
  password: ****
stringData:
  key: |
    ****
    ****
  n: ****
type: Opaque
"
        );
    }

    #[test]
    fn secret_looking_keys_env_pairs_and_urls() {
        let text = "\
apiVersion: v1
kind: ConfigMap
data:
  POSTGRES_PASSWORD: 73915824601
  quoted_password: \"a b\"
  STRIPE_API_TOKEN: sk_live_1
  DATABASE_URL: postgresql://app:hunter2@db:5432/app
  tokenizer: words
  enabled_token: true
  # POSTGRES_PASSWORD: oldpass
---
kind: Pod
apiVersion: v1
spec:
  containers:
    - env:
        - name: DB_PASSWORD
          value: \"s3cr3t\"
        - name: DB_PASSWORD_FILE
          value: /run/secrets/db
        - {name: API_TOKEN, value: tok1}
";
        let out = redact(text);
        for secret in [
            "73915824601",
            "a b",
            "sk_live_1",
            "hunter2",
            "oldpass",
            "s3cr3t",
            "tok1",
        ] {
            assert!(!out.contains(secret), "{secret} in\n{out}");
        }
        for kept in [
            "tokenizer: words",
            "enabled_token: true",
            "postgresql://app:****@db:5432/app",
            "value: /run/secrets/db",
            "- {name: API_TOKEN, value: ****}",
        ] {
            assert!(out.contains(kept), "{kept} in\n{out}");
        }
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn values_outside_the_parsed_tree_are_masked_too() {
        // A duplicate key (whether the parser keeps the last one or refuses the file), a
        // comment, a document after a syntax error.
        let text = "kind: ConfigMap\ndata:\n  dup_secret: firstdup\n  dup_secret: \"\"\n  # db_pass = oldpass\n---\na: [\n---\ntoken: aftererror\n";
        let out = redact(text);
        for secret in ["firstdup", "oldpass", "aftererror"] {
            assert!(!out.contains(secret), "{secret} in\n{out}");
        }
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn a_few_lines_are_masked_like_the_whole_file() {
        let text = "\
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData:
  key: |
    line one
    line two
  url: postgresql://u:pw@h/db
---
kind: Pod
apiVersion: v1
spec:
  containers:
    - env:
        - name: DB_PASSWORD
          value: \"s3cr3t\"
";
        let stream = parse_stream(text);
        let roots: Vec<&Node> = stream
            .documents
            .iter()
            .filter_map(|d| d.root.as_ref())
            .collect();
        let marked = [Span {
            start: Pos { line: 3, col: 10 },
            end: Pos { line: 3, col: 19 },
        }];
        let redactor = Redactor::new(text, roots.iter().copied(), &marked);
        let all = redactor.redact_all();
        assert!(all.text().contains("metadata: ****"), "{}", all.text());
        for first in 1..=redactor.line_count() {
            for last in first..=(first + 2).min(redactor.line_count()) {
                let part = redactor.redact(first, last);
                for n in first..=last {
                    assert_eq!(part.line(n), all.line(n), "line {n} of {first}..={last}");
                }
                assert_eq!(part.line(last + 1), None);
                assert_eq!(
                    part.position(
                        Pos {
                            line: last + 1,
                            col: 0
                        },
                        false
                    ),
                    None
                );
            }
        }
    }

    #[test]
    fn line_ends_are_counted_like_the_parser() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = [
                "kind: ConfigMap",
                "data:",
                "  password: pw",
                "  user: u",
                "",
            ]
            .join(eol);
            let stream = parse_stream(&text);
            let root = stream.documents[0].root.as_ref().unwrap();
            let user = root.get("data").unwrap().get("user").unwrap();
            assert_eq!(user.span.start.line, 4, "{eol:?}");
            let r = Redacted::new(&text, [root], &[]);
            assert_eq!(r.line(3), Some("  password: ****"), "{eol:?}");
            assert_eq!(r.line(4), Some("  user: u"), "{eol:?}");
            assert_eq!(r.position(user.span.start, false), Some((4, 8)));
        }
    }

    #[test]
    fn marked_spans_and_positions() {
        let text = "kind: X\nspec:\n  ünï: abcdef # x\n  next: 1\n";
        let stream = parse_stream(text);
        let root = stream.documents[0].root.as_ref().unwrap();
        let value = root.get("spec").unwrap().get("ünï").unwrap();
        let r = Redacted::new(text, [root], &[value.span]);
        assert_eq!(r.line(3), Some("  ünï: **** # x"));
        let key = root.get("spec").unwrap().entry("ünï").unwrap().key.span;
        assert_eq!(r.position(key.start, false), Some((3, 2)));
        // Inside the mask: its start, or its end for the end of a range.
        let inside = Pos { line: 3, col: 9 };
        assert_eq!(r.position(inside, false), Some((3, "  ünï: ".len())));
        assert_eq!(r.position(inside, true), Some((3, "  ünï: ****".len())));
        assert_eq!(
            r.position(value.span.end, true),
            Some((3, "  ünï: ****".len()))
        );
        assert_eq!(r.position(Pos { line: 4, col: 2 }, false), Some((4, 2)));
    }
}
