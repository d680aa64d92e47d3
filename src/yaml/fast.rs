//! A fast path for the YAML most manifests are written in: block mappings and sequences,
//! single-line plain and quoted scalars, `|` and `>` blocks, `[]` and `{}`, comments and `---`.
//!
//! Why a reader of our own next to the parser: on the lint benchmark's corpus, `saphyr-parser`'s
//! scanner and parser took about 30% of a run's CPU and the loader built from its events another
//! 10%; this reader, which walks the lines once and builds the tree directly, is several times
//! faster on the same files. It answers only when it is sure: anything else (anchors, aliases,
//! tags, flow collections with content, multi-line plain or quoted scalars, keys that are not
//! simple, tabs, non-ASCII text, `\r`, directives, `...`, duplicate or merge keys, and any
//! indentation it does not expect) makes it give up, and the file is parsed by the general path
//! (`super::parse_stream_general`) from the start. What it returns is exactly what the general
//! path returns, spans included: a unit test and the `yaml_loader` fuzz check compare the two on
//! every input where the fast path answers.

use super::{
    Stream,
    node::{Document, Entry, Node, NodeKind, Pos, Resolved, Scalar, ScalarStyle, Span},
    resolve::resolve_plain,
};

/// Deepest nesting the fast path follows (the general path takes deeper documents).
const MAX_DEPTH: usize = 64;

/// Most entries of one mapping the fast path reads (it finds repeated keys by comparing each
/// with those before it; the general path indexes larger mappings).
const MAX_ENTRIES: usize = 128;

/// Parses `text` when it is in the subset this reader knows, as the general path would.
pub(super) fn parse(text: &str) -> Option<Stream> {
    // Printable ASCII and `\n` only: columns are bytes, and no tab, `\r`, BOM or control
    // character needs the general path's rules.
    if !text
        .bytes()
        .all(|b| b == b'\n' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let mut reader = Reader::new(text);
    let documents = reader.stream().ok()?;
    Some(Stream {
        documents,
        error: None,
        json: false,
    })
}

/// Why the fast path gave up (the value is not used: the general path says what is wrong).
struct GiveUp;

type Read<T> = Result<T, GiveUp>;

/// What the next line that is neither blank nor a comment is.
#[derive(Clone, Copy)]
enum Next {
    /// The end of the text.
    End,
    /// A `---` line (index).
    Marker(usize),
    /// A line of content: its index and indentation.
    Content(usize, usize),
}

/// How a value's parent holds it, for the null a missing value reads as.
#[derive(Clone, Copy)]
enum Holder {
    /// A mapping entry at this indentation whose `:` is at this position.
    Entry { indent: usize, colon: Pos },
    /// A sequence entry whose `-` is at this column.
    Item { dash: usize },
}

impl Holder {
    fn indent(self) -> usize {
        match self {
            Holder::Entry { indent, .. } => indent,
            Holder::Item { dash } => dash,
        }
    }
}

struct Reader<'a> {
    src: &'a str,
    text: &'a [u8],
    /// Where each line starts; one more entry than lines, at the end of the text + 1.
    starts: Vec<usize>,
    /// The line being read (index from 0).
    line: usize,
    text_end: Pos,
    depth: usize,
    /// The entries of the mappings being read, innermost last (each mapping takes its own off
    /// the top when it ends: one allocation of the right size per mapping).
    entries: Vec<Entry>,
    /// The same for sequences' items.
    items: Vec<Node>,
}

impl<'a> Reader<'a> {
    fn new(src: &'a str) -> Self {
        let text = src.as_bytes();
        let mut starts = Vec::with_capacity(text.len() / 24 + 2);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', text).map(|i| i + 1));
        let last = starts[starts.len() - 1];
        starts.push(text.len() + 1);
        Self {
            src,
            text,
            text_end: Pos {
                line: starts.len() - 1,
                col: text.len() - last,
            },
            starts,
            line: 0,
            depth: 0,
            entries: Vec::new(),
            items: Vec::new(),
        }
    }

    fn lines(&self) -> usize {
        self.starts.len() - 1
    }

    /// The bytes of line `i`, without its `\n`.
    fn bytes(&self, i: usize) -> &'a [u8] {
        let end = (self.starts[i + 1] - 1).min(self.text.len());
        &self.text[self.starts[i]..end]
    }

    /// Columns `from..to` of line `i` (the text is ASCII: any column is a char boundary).
    fn str(&self, i: usize, from: usize, to: usize) -> &'a str {
        &self.src[self.starts[i] + from..self.starts[i] + to]
    }

    fn pos(&self, line: usize, col: usize) -> Pos {
        Pos {
            line: line + 1,
            col,
        }
        .min(self.text_end)
    }

    /// The next line from the current one that holds content or a `---`.
    fn peek(&self) -> Read<Next> {
        let mut i = self.line;
        while i < self.lines() {
            let b = self.bytes(i);
            let indent = b.iter().take_while(|&&c| c == b' ').count();
            match b.get(indent) {
                None | Some(b'#') => i += 1,
                Some(_) if indent == 0 && b.starts_with(b"---") => {
                    if b.len() == 3 || b[3] == b' ' {
                        return Ok(Next::Marker(i));
                    }
                    return Ok(Next::Content(i, 0));
                }
                Some(_) if indent == 0 && (b.starts_with(b"...") || b[0] == b'%') => {
                    return Err(GiveUp);
                }
                Some(_) => return Ok(Next::Content(i, indent)),
            }
        }
        Ok(Next::End)
    }

    fn stream(&mut self) -> Read<Vec<Document>> {
        let mut documents =
            Vec::with_capacity(memchr::memmem::find_iter(self.text, b"\n---").count() + 1);
        let mut explicit_start: Option<Pos> = None;
        loop {
            match self.peek()? {
                Next::End => {
                    if let Some(start) = explicit_start {
                        documents.push(self.document(&documents, start, None, self.text_end));
                    }
                    return Ok(documents);
                }
                Next::Marker(i) => {
                    if !rest_is_blank(&self.bytes(i)[3..]) {
                        return Err(GiveUp);
                    }
                    let here = self.pos(i, 0);
                    if let Some(start) = explicit_start {
                        // An empty document between two markers.
                        documents.push(self.document(&documents, start, None, here));
                    }
                    explicit_start = Some(here);
                    self.line = i + 1;
                }
                Next::Content(i, indent) => {
                    if explicit_start.is_none() && !documents.is_empty() {
                        return Err(GiveUp);
                    }
                    let start = explicit_start.unwrap_or(self.pos(i, indent));
                    self.line = i;
                    let root = self.block(i, indent)?;
                    let end = match self.peek()? {
                        Next::End => {
                            self.line = self.lines();
                            self.text_end
                        }
                        Next::Marker(m) => self.pos(m, 0),
                        Next::Content(..) => return Err(GiveUp),
                    };
                    documents.push(self.document(&documents, start, Some(root), end));
                    explicit_start = None;
                }
            }
        }
    }

    fn document(&self, done: &[Document], start: Pos, root: Option<Node>, end: Pos) -> Document {
        Document {
            index: done.len() + 1,
            root,
            start,
            end,
        }
    }

    /// A collection starting at line `i`, column `indent`.
    fn block(&mut self, i: usize, indent: usize) -> Read<Node> {
        let b = self.bytes(i);
        if is_dash(b, indent) {
            self.sequence(i, indent, false)
        } else {
            self.mapping(i, indent)
        }
    }

    fn enter(&mut self) -> Read<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }

    /// A block mapping whose first key is at line `i`, column `indent` (later keys are at
    /// the start of their lines).
    fn mapping(&mut self, mut i: usize, indent: usize) -> Read<Node> {
        self.enter()?;
        let base = self.entries.len();
        let mut end: Option<Pos> = None;
        let start = self.pos(i, indent);
        loop {
            let b = self.bytes(i);
            let len = key_len(b, indent).ok_or(GiveUp)?;
            if &b[indent..indent + len] == b"<<" {
                return Err(GiveUp);
            }
            let key = plain_node(
                self.str(i, indent, indent + len),
                Span {
                    start: self.pos(i, indent),
                    end: self.pos(i, indent + len),
                },
            );
            let colon = self.pos(i, indent + len);
            let value = self.value(i, indent + len + 1, Holder::Entry { indent, colon })?;
            end = end.max(Some(value.span.end));
            let entry = Entry { key, value };
            let name = entry.key_str();
            if self.entries.len() - base >= MAX_ENTRIES
                || self.entries[base..].iter().any(|e| e.key_str() == name)
            {
                // A repeated key is an error the general path words.
                return Err(GiveUp);
            }
            drop(name);
            self.entries.push(entry);
            match self.peek()? {
                Next::Content(next, at) if at == indent && !is_dash(self.bytes(next), at) => {
                    i = next;
                }
                Next::Content(_, at) if at >= indent => return Err(GiveUp),
                _ => break,
            }
        }
        self.depth -= 1;
        let entries: Vec<Entry> = self.entries.drain(base..).collect();
        Ok(Node {
            kind: NodeKind::Map(entries),
            span: Span {
                start,
                end: end.unwrap_or(start),
            },
        })
    }

    /// A block sequence whose first `-` is at line `i`, column `indent`. An indentless one
    /// (the value of a mapping entry at the same indentation) ends at the next key.
    fn sequence(&mut self, mut i: usize, indent: usize, indentless: bool) -> Read<Node> {
        self.enter()?;
        let dash = self.pos(i, indent);
        let base = self.items.len();
        loop {
            let item = self.value(i, indent + 1, Holder::Item { dash: indent })?;
            self.items.push(item);
            match self.peek()? {
                Next::Content(next, at) if at == indent && is_dash(self.bytes(next), at) => {
                    i = next;
                }
                Next::Content(_, at) if at > indent || (at == indent && !indentless) => {
                    return Err(GiveUp);
                }
                _ => break,
            }
        }
        self.depth -= 1;
        let items: Vec<Node> = self.items.drain(base..).collect();
        // As the general path places them: a sequence at its first `-`, an indentless one at
        // its first item.
        let start = if indentless {
            items[0].span.start
        } else {
            dash
        };
        let last = items[items.len() - 1].span.end;
        Ok(Node {
            kind: NodeKind::Seq(items),
            span: Span { start, end: last },
        })
    }

    /// The value after a key's `:` or an item's `-` (`from` is the column after it); leaves
    /// the reader on the line after the value.
    fn value(&mut self, i: usize, from: usize, holder: Holder) -> Read<Node> {
        let b = self.bytes(i);
        let col = from
            + b.get(from..)
                .map_or(0, |r| r.iter().take_while(|&&c| c == b' ').count());
        if col == from && col < b.len() {
            // `key:x` or `-x` is not what the caller thought it was.
            return Err(GiveUp);
        }
        let parent = holder.indent();
        match b.get(col) {
            None | Some(b'#') => {
                self.line = i + 1;
                match self.peek()? {
                    Next::Content(next, at) if at > parent => {
                        self.line = next;
                        self.block(next, at)
                    }
                    Next::Content(next, at)
                        if at == parent
                            && matches!(holder, Holder::Entry { .. })
                            && is_dash(self.bytes(next), at) =>
                    {
                        self.line = next;
                        self.sequence(next, at, true)
                    }
                    _ => {
                        let at = match holder {
                            Holder::Entry { colon, .. } => colon,
                            Holder::Item { .. } => self.pos(i, b.len()),
                        };
                        Ok(plain_node("", Span { start: at, end: at }))
                    }
                }
            }
            Some(b'|' | b'>') => self.block_scalar(i, col, parent),
            Some(&q @ (b'"' | b'\'')) => {
                let (value, close) = quoted(b, col, q).ok_or(GiveUp)?;
                if !rest_is_blank(&b[close..]) {
                    return Err(GiveUp);
                }
                self.rest_of_line(i, col, parent, quoted_kind(value, q))
            }
            Some(b'[') => {
                let items = self.flow_sequence(i, col).ok_or(GiveUp)?;
                self.rest_of_line(i, col, parent, NodeKind::Seq(items))
            }
            Some(b'{') => {
                if b.get(col + 1) != Some(&b'}') || !rest_is_blank(&b[col + 2..]) {
                    return Err(GiveUp);
                }
                self.rest_of_line(i, col, parent, NodeKind::Map(Vec::new()))
            }
            Some(_) => {
                if matches!(holder, Holder::Item { .. }) && key_len(b, col).is_some() {
                    // `- key: value`: a mapping whose keys are at this column.
                    self.line = i;
                    return self.mapping(i, col);
                }
                let len = plain_len(b, col).ok_or(GiveUp)?;
                let node = plain_node(
                    self.str(i, col, col + len),
                    Span {
                        start: self.pos(i, col),
                        end: self.pos(i, col + len),
                    },
                );
                self.end_of_line_value(i, parent)?;
                Ok(node)
            }
        }
    }

    /// A one-line flow sequence of scalars opening at line `i`, column `col`, with nothing but
    /// blanks or a comment after it: `["ReadWriteOnce"]`, `[sh, -c, 'exit 0']`.
    fn flow_sequence(&self, i: usize, col: usize) -> Option<Vec<Node>> {
        let b = self.bytes(i);
        let skip = |at: usize| at + b[at..].iter().take_while(|&&c| c == b' ').count();
        let mut items = Vec::new();
        let mut at = skip(col + 1);
        loop {
            match *b.get(at)? {
                b']' => break,
                q @ (b'"' | b'\'') => {
                    let (value, close) = quoted(b, at, q)?;
                    let next = skip(close);
                    items.push(Node {
                        kind: quoted_kind(value, q),
                        // A quoted scalar's span runs over the blanks after it.
                        span: Span {
                            start: self.pos(i, at),
                            end: self.pos(i, next),
                        },
                    });
                    at = next;
                }
                _ => {
                    let len = flow_plain_len(b, at)?;
                    items.push(plain_node(
                        self.str(i, at, at + len),
                        Span {
                            start: self.pos(i, at),
                            end: self.pos(i, at + len),
                        },
                    ));
                    at = skip(at + len);
                }
            }
            match *b.get(at)? {
                b',' => at = skip(at + 1),
                b']' => break,
                _ => return None,
            }
        }
        rest_is_blank(&b[at + 1..]).then_some(items)
    }

    /// A quoted scalar or a flow collection from column `col` of line `i`: its span runs to the
    /// end of the line, over the blanks and the comment after it, as the general path's does.
    fn rest_of_line(&mut self, i: usize, col: usize, parent: usize, kind: NodeKind) -> Read<Node> {
        let node = Node {
            kind,
            span: Span {
                start: self.pos(i, col),
                end: self.pos(i, self.bytes(i).len()),
            },
        };
        self.end_of_line_value(i, parent)?;
        Ok(node)
    }

    /// After a value that ends its line: the next content must not be more indented than
    /// the value's parent (it would continue the scalar, or be an error).
    fn end_of_line_value(&mut self, i: usize, parent: usize) -> Read<()> {
        self.line = i + 1;
        match self.peek()? {
            Next::Content(_, at) if at > parent => Err(GiveUp),
            _ => Ok(()),
        }
    }

    /// A `|` or `>` block whose indicator is at line `i`, column `col`; its lines must be more
    /// indented than `parent`.
    fn block_scalar(&mut self, i: usize, col: usize, parent: usize) -> Read<Node> {
        let b = self.bytes(i);
        let folded = b[col] == b'>';
        let mut at = col + 1;
        let chomp = match b.get(at) {
            Some(b'-') => {
                at += 1;
                Chomp::Strip
            }
            Some(b'+') => {
                at += 1;
                Chomp::Keep
            }
            _ => Chomp::Clip,
        };
        if !rest_is_blank(&b[at..]) {
            return Err(GiveUp);
        }
        // The first line sets the indentation; blank lines before it are left to the general
        // path.
        let first = i + 1;
        if first >= self.lines() {
            return Err(GiveUp);
        }
        let fb = self.bytes(first);
        let indent = fb.iter().take_while(|&&c| c == b' ').count();
        if indent == fb.len() || indent <= parent {
            return Err(GiveUp);
        }
        let mut value = String::new();
        // Blank lines seen since the last content line.
        let mut blanks = 0usize;
        let mut any = false;
        let mut line = first;
        while line < self.lines() {
            let lb = self.bytes(line);
            let spaces = lb.iter().take_while(|&&c| c == b' ').count();
            if spaces == lb.len() {
                if spaces > indent {
                    return Err(GiveUp);
                }
                blanks += 1;
                line += 1;
                continue;
            }
            if spaces < indent {
                break;
            }
            if folded && spaces > indent {
                return Err(GiveUp);
            }
            let content = self.str(line, indent, lb.len());
            if any {
                if folded && blanks == 0 {
                    value.push(' ');
                } else {
                    let breaks = if folded { blanks } else { blanks + 1 };
                    value.extend(std::iter::repeat_n('\n', breaks));
                }
            }
            value.push_str(content);
            any = true;
            blanks = 0;
            line += 1;
        }
        if line >= self.lines() && (chomp == Chomp::Keep || !self.text.ends_with(b"\n")) {
            // A block running to the end of the text: its last line break follows the general
            // path's own rules.
            return Err(GiveUp);
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => value.push('\n'),
            Chomp::Keep => value.extend(std::iter::repeat_n('\n', blanks + 1)),
        }
        let end = if line < self.lines() {
            let lb = self.bytes(line);
            self.pos(line, lb.iter().take_while(|&&c| c == b' ').count())
        } else {
            self.text_end
        };
        self.line = line;
        Ok(Node {
            kind: NodeKind::Scalar(Scalar {
                value,
                style: if folded {
                    ScalarStyle::Folded
                } else {
                    ScalarStyle::Literal
                },
                tag: None,
                resolved: Resolved::Str,
            }),
            span: Span {
                start: self.pos(first, indent),
                end,
            },
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// A plain scalar node.
fn plain_node(text: &str, span: Span) -> Node {
    let value = text.to_owned();
    let resolved = if value.is_empty() {
        Resolved::Null
    } else {
        resolve_plain(&value)
    };
    Node {
        kind: NodeKind::Scalar(Scalar {
            value,
            style: ScalarStyle::Plain,
            tag: None,
            resolved,
        }),
        span,
    }
}

/// A quoted scalar: a string.
fn quoted_kind(value: String, quote: u8) -> NodeKind {
    NodeKind::Scalar(Scalar {
        value,
        style: if quote == b'"' {
            ScalarStyle::DoubleQuoted
        } else {
            ScalarStyle::SingleQuoted
        },
        tag: None,
        resolved: Resolved::Str,
    })
}

/// Whether line `b` has a sequence entry's `-` at `col`.
fn is_dash(b: &[u8], col: usize) -> bool {
    b.get(col) == Some(&b'-') && matches!(b.get(col + 1), None | Some(b' '))
}

/// Whether the rest of a line is blank or a comment.
fn rest_is_blank(rest: &[u8]) -> bool {
    let spaces = rest.iter().take_while(|&&c| c == b' ').count();
    match rest.get(spaces) {
        None => true,
        Some(b'#') => spaces > 0,
        Some(_) => false,
    }
}

/// The length of a simple key at `col` followed by `:` and a space or the end of the line.
fn key_len(b: &[u8], col: usize) -> Option<usize> {
    let first = *b.get(col)?;
    if !(first.is_ascii_alphanumeric() || matches!(first, b'_' | b'.' | b'/' | b'$')) {
        return None;
    }
    let len = b[col..]
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-' | b'$')
        })
        .count();
    let after = col + len;
    (b.get(after) == Some(&b':') && matches!(b.get(after + 1), None | Some(b' '))).then_some(len)
}

/// The length of a one-line plain scalar at `col` (trailing spaces and a comment excluded);
/// `None` when it is not one the fast path reads.
fn plain_len(b: &[u8], col: usize) -> Option<usize> {
    let first = b[col];
    let next_safe = matches!(b.get(col + 1), Some(&c) if c != b' ');
    match first {
        b'-' | b'?' | b':' if next_safe => {}
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!'
        | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => return None,
        _ => {}
    }
    let mut end = col;
    let mut i = col;
    while i < b.len() {
        match b[i] {
            b' ' => {
                if b.get(i + 1) == Some(&b'#') {
                    break;
                }
            }
            b':' => {
                if matches!(b.get(i + 1), None | Some(b' ')) {
                    return None;
                }
                end = i + 1;
            }
            _ => end = i + 1,
        }
        i += 1;
    }
    Some(end - col)
}

/// The length of a plain scalar in a flow sequence at `col`, up to `,` or `]` (trailing
/// spaces excluded); `None` for anything but simple words.
fn flow_plain_len(b: &[u8], col: usize) -> Option<usize> {
    let first = *b.get(col)?;
    if first == b'-' {
        // `-x` is a word; `- x` is not.
        if matches!(b.get(col + 1), None | Some(b' ' | b',' | b']')) {
            return None;
        }
    } else if !(first.is_ascii_alphanumeric()
        || matches!(first, b'_' | b'.' | b'/' | b'$' | b'+' | b'='))
    {
        return None;
    }
    let mut end = col;
    for (i, &c) in b.iter().enumerate().skip(col) {
        match c {
            b',' | b']' => return Some(end - col),
            b' ' => {}
            b'[' | b'{' | b'}' | b':' | b'#' | b'"' | b'\'' | b'&' | b'*' | b'!' | b'?' | b'|'
            | b'>' | b'%' | b'@' | b'`' => return None,
            _ => end = i + 1,
        }
    }
    None
}

/// A quoted scalar opening at `col`, closed on the same line: its value and the column after
/// the closing quote.
fn quoted(b: &[u8], col: usize, quote: u8) -> Option<(String, usize)> {
    let mut value = Vec::new();
    let mut i = col + 1;
    while i < b.len() {
        let c = b[i];
        if c == quote {
            if quote == b'\'' && b.get(i + 1) == Some(&b'\'') {
                value.push(b'\'');
                i += 2;
                continue;
            }
            return String::from_utf8(value).ok().map(|v| (v, i + 1));
        }
        if c == b'\\' && quote == b'"' {
            let escaped = match b.get(i + 1)? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'0' => 0,
                _ => return None,
            };
            value.push(escaped);
            i += 2;
            continue;
        }
        value.push(c);
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{ExpansionBudget, NodeKind, parse_fast, parse_stream_general};

    /// The fast path's answer, checked against the general path's.
    fn agreed(text: &str) -> Option<super::Stream> {
        let fast = parse_fast(text)?;
        let general = parse_stream_general(text, &ExpansionBudget::default());
        assert_eq!(fast, general, "the fast path read {text:?} differently");
        Some(fast)
    }

    #[test]
    fn common_manifests_take_the_fast_path_and_read_as_the_general_path_does() {
        let text = "\
# a comment, then a StatefulSet
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db   # trailing comment
  labels: {}
  annotations:
    note: \"a \\\"quoted\\\" value\"
    other: 'it''s'
spec:
  serviceName: db-headless
  replicas: 3
  template:
    spec:
      containers:
      - name: postgres
        args: [\"-c\", max_connections=200, 'x' ]
        env:
          - name: PGDATA
            value: /var/lib/postgresql/data/pgdata
          -
          - yes
        command: []
      volumes:
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [\"ReadWriteOnce\"]
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
data:
  init.sql: |
    CREATE TABLE t (id int);

    -- more
  folded: >-
    one
    two

    three
  kept: |+
    x

  empty:
";
        let stream = agreed(text).expect("the fast path reads it");
        assert_eq!(stream.documents.len(), 3);
        assert!(stream.documents[1].root.is_none(), "the empty document");
        let root = stream.documents[2].root.as_ref().expect("the ConfigMap");
        let data = root.get("data").expect("data");
        let NodeKind::Map(entries) = &data.kind else {
            panic!("data is a mapping");
        };
        assert_eq!(entries.len(), 4);
        assert_eq!(
            data.get("init.sql").and_then(|n| n.as_str()),
            Some("CREATE TABLE t (id int);\n\n-- more\n")
        );
        assert_eq!(
            data.get("folded").and_then(|n| n.as_str()),
            Some("one two\nthree")
        );
    }

    #[test]
    fn what_the_fast_path_does_not_know_is_left_to_the_general_path() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: multi\n  line\n",
            "a: \"multi\n  line\"\n",
            "a:\tb\n",
            "a: café\n",
            "a: 1\r\nb: 2\r\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\n",
            "a: {b: 1}\n",
            "a: [[1]]\n",
            "%YAML 1.1\n---\na: 1\n",
            "a: 1\n...\n",
            "? a\n: 1\n",
            "a: |2\n   x\n",
            "a: \"\\u00e9\"\n",
            "\"quoted key\": 1\n",
            "a: 1\n b: 2\n",
            "- - x\n",
            "just a scalar\n",
        ] {
            assert!(parse_fast(text).is_none(), "the fast path read {text:?}");
            // The general path still reads it (or says what is wrong).
            let _ = parse_stream_general(text, &ExpansionBudget::default());
        }
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }

    /// Every YAML file of the repository's fixtures, and random edits of them (deleted and
    /// inserted characters, indentation changes, repeated lines, cut ends): wherever the fast
    /// path answers, it answers as the general path does. The `yaml_loader` fuzz target checks
    /// the same on its inputs.
    #[test]
    fn the_fast_path_agrees_with_the_general_path_on_fixtures_and_their_edits() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["tests", "policies/rules"] {
            yaml_files(&root.join(dir), &mut files);
        }
        files.sort();
        const PIECES: &[&str] = &[
            " ", "  ", "-", "- ", ":", ": ", "#", " #", "'", "\"", "\n", "[", "]", "|", ">", "a",
            "{", "}", ",", "\\", "|-", ">+", "---\n", "...", "&a ", "*a", "!t ", "? ", "<<: ",
            "\"\\t\"", "0x1", "1e3", "~",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % n as u64).unwrap_or(0)
        };
        let (mut fast_files, mut edits, mut fast_edits) = (0, 0, 0);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if agreed(&text).is_none() {
                continue;
            }
            fast_files += 1;
            for _ in 0..40 {
                let mut t = text.clone().into_bytes();
                for _ in 0..=random(3) {
                    if t.is_empty() {
                        break;
                    }
                    let at = random(t.len());
                    let line_start = t[..at]
                        .iter()
                        .rposition(|&c| c == b'\n')
                        .map_or(0, |p| p + 1);
                    match random(6) {
                        0 => {
                            t.remove(at);
                        }
                        1 | 2 => {
                            let piece = PIECES[random(PIECES.len())].as_bytes();
                            t.splice(at..at, piece.iter().copied());
                        }
                        3 if random(2) == 0 => t.insert(line_start, b' '),
                        3 => {
                            if t.get(line_start) == Some(&b' ') {
                                t.remove(line_start);
                            }
                        }
                        4 => {
                            let end = t[at..]
                                .iter()
                                .position(|&c| c == b'\n')
                                .map_or(t.len(), |p| at + p + 1);
                            let line = t[line_start..end].to_vec();
                            t.splice(end..end, line);
                        }
                        _ => t.truncate(at),
                    }
                }
                let Ok(edited) = String::from_utf8(t) else {
                    continue;
                };
                edits += 1;
                fast_edits += usize::from(agreed(&edited).is_some());
            }
        }
        // The fixtures are ordinary manifests: most take the fast path, and so do many edits.
        assert!(
            fast_files >= 40,
            "only {fast_files} fixtures took the fast path"
        );
        assert!(fast_edits * 5 >= edits, "{fast_edits} of {edits} edits");
    }
}
