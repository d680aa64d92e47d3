//! A span-aware YAML loader that reads manifests the way Kubernetes does.
//!
//! [`parse_stream`] turns a file (YAML or JSON; JSON is YAML) into documents whose nodes keep
//! their source [`Span`]s, with anchors, aliases and `<<` merge keys resolved. Plain scalars are
//! resolved like `sigs.k8s.io/yaml` (go-yaml v2, YAML 1.1): `null`/`~`/empty, the YAML 1.1
//! booleans (`yes`, `off`, `Y`...), decimal, hex, octal and binary integers, floats, and strings
//! for everything else; quoted and block scalars are strings. [`write_json`] serializes a node to
//! the compact JSON that rules receive.

use std::{collections::HashMap, fmt::Write as _};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};

/// Most nodes one document may expand to through aliases (a guard against "billion laughs").
const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted.
const MAX_DEPTH: usize = 512;

/// A position in a file: line 1-based, column 0-based, both counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 0, in characters.
    pub col: usize,
}

impl Pos {
    fn of(marker: &saphyr_parser::Marker) -> Self {
        Self {
            line: marker.line(),
            col: marker.col(),
        }
    }
}

/// A range of a file; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// The character after the last.
    pub end: Pos,
}

impl Span {
    fn of(span: &saphyr_parser::Span) -> Self {
        Self {
            start: Pos::of(&span.start),
            end: Pos::of(&span.end),
        }
    }
}

/// What a scalar resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `null`, `~` or empty.
    Null,
    /// A YAML 1.1 boolean.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A positive integer past `i64::MAX` that fits in `u64`.
    Uint(u64),
    /// A float.
    Float(f64),
    /// A string (the scalar's value).
    Str,
}

/// A scalar: its text, how it was written and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's value, after YAML unescaping and folding.
    pub value: String,
    /// Plain, quoted or block.
    pub style: ScalarStyle,
    /// The tag, e.g. `!!str`, when one is written.
    pub tag: Option<Box<str>>,
    /// What the value means.
    pub resolved: Resolved,
}

impl Scalar {
    /// The value as a string, when it resolves to one.
    pub fn as_str(&self) -> Option<&str> {
        matches!(self.resolved, Resolved::Str).then_some(self.value.as_str())
    }

    /// The key this scalar becomes in JSON (`sigs.k8s.io/yaml` turns non-string keys into text).
    pub fn json_key(&self) -> std::borrow::Cow<'_, str> {
        match &self.resolved {
            Resolved::Str => self.value.as_str().into(),
            Resolved::Null => "null".into(),
            Resolved::Bool(b) => if *b { "true" } else { "false" }.into(),
            Resolved::Int(i) => i.to_string().into(),
            Resolved::Uint(u) => u.to_string().into(),
            Resolved::Float(f) => format_float(*f).into(),
        }
    }

    /// A short name of the scalar's type, for messages (never the value).
    pub fn type_name(&self) -> &'static str {
        match self.resolved {
            Resolved::Null => "null",
            Resolved::Bool(_) => "a boolean",
            Resolved::Int(_) | Resolved::Uint(_) => "an integer",
            Resolved::Float(_) => "a number",
            Resolved::Str => "a string",
        }
    }
}

/// One mapping entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key node (a scalar; its span is the key's).
    pub key: Node,
    /// The value.
    pub value: Node,
}

impl Entry {
    /// The key as JSON names it.
    pub fn key_str(&self) -> std::borrow::Cow<'_, str> {
        match &self.key.kind {
            NodeKind::Scalar(s) => s.json_key(),
            // Only scalar keys are accepted by the loader.
            _ => "".into(),
        }
    }
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys unique, merge keys applied.
    Map(Vec<Entry>),
}

/// A node with the span it was read from (for aliased and merged nodes: where they were defined).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Where it is.
    pub span: Span,
}

impl Node {
    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry under `key` when this is a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key_str() == key),
            _ => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The string value, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().and_then(Scalar::as_str)
    }

    /// Whether this is null.
    pub fn is_null(&self) -> bool {
        matches!(
            &self.kind,
            NodeKind::Scalar(Scalar {
                resolved: Resolved::Null,
                ..
            })
        )
    }

    /// A short name of the node's type, for messages (never the value).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => s.type_name(),
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    fn count(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(_) => 1,
            NodeKind::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            NodeKind::Map(entries) => {
                1 + entries.iter().map(|e| 1 + e.value.count()).sum::<usize>()
            }
        }
    }
}

/// One document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Position in the file, from 1 (empty documents count).
    pub index: usize,
    /// The content; `None` for an empty document.
    pub root: Option<Node>,
    /// Where the document starts (its `---` when there is one).
    pub start: Pos,
    /// Where it ends.
    pub end: Pos,
}

/// A file that is not valid YAML (or uses YAML Kubernetes cannot read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Where: line from 1, column from 1.
    pub line: usize,
    /// Column from 1.
    pub column: usize,
    /// The document it is in, from 1.
    pub document: usize,
    /// What is wrong (never quotes a value).
    pub message: String,
}

/// What [`parse_stream`] read: every complete document before an error, and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// The documents read.
    pub documents: Vec<Document>,
    /// The syntax error that stopped reading, if any.
    pub error: Option<YamlError>,
}

/// Parses every document of a YAML (or JSON) text.
pub fn parse_stream(text: &str) -> Stream {
    let mut loader = Loader::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    while let Some(event) = parser.next_event() {
        match event {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, span)) => match loader.event(event, Span::of(&span)) {
                Ok(Some(doc)) => documents.push(doc),
                Ok(None) => {}
                Err((pos, message)) => {
                    let error = YamlError {
                        line: pos.line,
                        column: pos.col + 1,
                        document: loader.doc_index,
                        message,
                    };
                    return Stream {
                        documents,
                        error: Some(error),
                    };
                }
            },
            Err(e) => {
                return Stream {
                    documents,
                    error: Some(scan_error(&e, loader.doc_index.max(1))),
                };
            }
        }
    }
    Stream {
        documents,
        error: None,
    }
}

fn scan_error(e: &ScanError, document: usize) -> YamlError {
    let m = e.marker();
    YamlError {
        line: m.line(),
        column: m.col() + 1,
        document,
        message: e.info().to_owned(),
    }
}

/// A collection being built.
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
    },
    Map {
        builder: MapBuilder,
        pending_key: Option<Node>,
        start: Span,
        anchor: usize,
    },
}

#[derive(Default)]
struct Loader {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    doc_index: usize,
    doc_start: Pos,
    root: Option<Node>,
    nodes: usize,
}

type LoadResult<T> = Result<T, (Pos, String)>;

impl Loader {
    fn event(&mut self, event: Event<'_>, span: Span) -> LoadResult<Option<Document>> {
        match event {
            Event::StreamStart | Event::Nothing | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                self.doc_index += 1;
                self.doc_start = span.start;
                self.anchors.clear();
                self.root = None;
                self.nodes = 0;
            }
            Event::DocumentEnd => {
                // An empty document reads as an empty plain scalar: there is nothing in it.
                let root = self.root.take().filter(|r| {
                    !matches!(&r.kind, NodeKind::Scalar(s) if s.value.is_empty() && s.style == ScalarStyle::Plain && s.tag.is_none())
                });
                return Ok(Some(Document {
                    index: self.doc_index,
                    root,
                    start: self.doc_start,
                    end: span.start,
                }));
            }
            Event::Alias(id) => {
                let Some((node, count)) = self.anchors.get(&id) else {
                    return Err((span.start, "an alias names no anchor defined before it in this document (anchors do not carry over `---`)".into()));
                };
                self.nodes += count;
                if self.nodes > MAX_NODES {
                    return Err((
                        span.start,
                        format!("aliases expand to more than {MAX_NODES} nodes"),
                    ));
                }
                let node = node.clone();
                self.complete(node, 0)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                self.nodes += 1;
                let tag = tag.map(|t| tag_name(&t).into_boxed_str());
                let resolved = resolve(&value, style, tag.as_deref());
                let node = Node {
                    kind: NodeKind::Scalar(Scalar {
                        value: value.into_owned(),
                        style,
                        tag,
                        resolved,
                    }),
                    span,
                };
                self.complete(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.push(
                    Frame::Seq {
                        items: Vec::new(),
                        start: span,
                        anchor,
                    },
                    span,
                )?;
            }
            Event::MappingStart(anchor, _) => {
                self.push(
                    Frame::Map {
                        builder: MapBuilder::default(),
                        pending_key: None,
                        start: span,
                        anchor,
                    },
                    span,
                )?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self
                    .stack
                    .pop()
                    .ok_or((span.start, "unbalanced collection".to_owned()))?;
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        start,
                        anchor,
                    } => {
                        let end = collection_end(start, span, items.last().map(|n| n.span.end));
                        (
                            Node {
                                kind: NodeKind::Seq(items),
                                span: Span {
                                    start: start.start,
                                    end,
                                },
                            },
                            anchor,
                        )
                    }
                    Frame::Map {
                        builder,
                        start,
                        anchor,
                        ..
                    } => {
                        let entries = builder.finish()?;
                        let end = collection_end(
                            start,
                            span,
                            entries.iter().map(|e| e.value.span.end).max(),
                        );
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                span: Span {
                                    start: start.start,
                                    end,
                                },
                            },
                            anchor,
                        )
                    }
                };
                self.complete(node, anchor)?;
            }
        }
        Ok(None)
    }

    fn push(&mut self, frame: Frame, span: Span) -> LoadResult<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err((
                span.start,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.nodes += 1;
        self.stack.push(frame);
        Ok(())
    }

    /// A node is complete: remember its anchor and hand it to its parent.
    fn complete(&mut self, node: Node, anchor: usize) -> LoadResult<()> {
        if anchor != 0 {
            let count = node.count();
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                builder,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar(_)) {
                        return Err((
                            node.span.start,
                            format!("a mapping key must be a scalar, not {}", node.type_name()),
                        ));
                    }
                    *pending_key = Some(node);
                }
                Some(key) => builder.add(key, node)?,
            },
        }
        Ok(())
    }
}

/// The end of a collection: a flow collection ends at its closing bracket, a block collection at
/// its last child.
fn collection_end(start: Span, end_event: Span, last_child: Option<Pos>) -> Pos {
    if end_event.end > end_event.start {
        end_event.end
    } else {
        last_child.unwrap_or(start.end)
    }
}

/// Builds a mapping: later duplicates replace earlier ones, explicit keys win over merged ones,
/// and earlier merge sources win over later ones.
#[derive(Default)]
struct MapBuilder {
    entries: Vec<Entry>,
    index: Option<HashMap<String, usize>>,
    merges: Vec<Node>,
}

impl MapBuilder {
    fn position(&mut self, key: &str) -> Option<usize> {
        if self.index.is_none() && self.entries.len() > 16 {
            let index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key_str().into_owned(), i))
                .collect();
            self.index = Some(index);
        }
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|e| e.key_str() == key),
        }
    }

    fn insert(&mut self, entry: Entry, replace: bool) {
        match self.position(&entry.key_str()) {
            Some(i) if replace => self.entries[i] = entry,
            Some(_) => {}
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(entry.key_str().into_owned(), self.entries.len());
                }
                self.entries.push(entry);
            }
        }
    }

    fn add(&mut self, key: Node, value: Node) -> LoadResult<()> {
        let is_merge = matches!(&key.kind, NodeKind::Scalar(s)
            if s.value == "<<" && (s.style == ScalarStyle::Plain || s.tag.as_deref() == Some("!!merge")));
        if is_merge {
            match &value.kind {
                NodeKind::Map(_) => self.merges.push(value),
                NodeKind::Seq(items)
                    if items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))) =>
                {
                    self.merges.extend(items.iter().cloned());
                }
                _ => {
                    return Err((
                        key.span.start,
                        "the value of a merge key `<<` must be a mapping or a list of mappings"
                            .into(),
                    ));
                }
            }
            return Ok(());
        }
        self.insert(Entry { key, value }, true);
        Ok(())
    }

    fn finish(mut self) -> LoadResult<Vec<Entry>> {
        for source in std::mem::take(&mut self.merges) {
            if let NodeKind::Map(entries) = source.kind {
                for entry in entries {
                    self.insert(entry, false);
                }
            }
        }
        Ok(self.entries)
    }
}

/// `!!str` for core-schema tags, the written form otherwise.
fn tag_name(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// Resolves a scalar like go-yaml v2 decoding into `interface{}`.
fn resolve(value: &str, style: ScalarStyle, tag: Option<&str>) -> Resolved {
    match tag {
        Some("!!str" | "!!binary" | "!!timestamp") => return Resolved::Str,
        Some("!!null" | "!!bool" | "!!int" | "!!float") => {}
        _ if style != ScalarStyle::Plain => return Resolved::Str,
        _ => {}
    }
    resolve_plain(value)
}

/// Resolves a plain scalar (YAML 1.1 as go-yaml v2 reads it).
pub fn resolve_plain(value: &str) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = value.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Resolved::Str;
    }
    let plain: String = value.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return i;
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint`, plus go-yaml's `0b` forms.
fn parse_go_int(s: &str) -> Option<Resolved> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let v = -i128::from(magnitude);
        i64::try_from(v).ok().map(Resolved::Int)
    } else {
        Some(i64::try_from(magnitude).map_or(Resolved::Uint(magnitude), Resolved::Int))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes a node as compact JSON. Non-finite floats (which JSON cannot hold) become `null`.
pub fn write_json(out: &mut String, node: &Node) {
    match &node.kind {
        NodeKind::Scalar(s) => write_scalar(out, s),
        NodeKind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        NodeKind::Map(entries) => {
            out.push('{');
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, &entry.key_str());
                out.push(':');
                write_json(out, &entry.value);
            }
            out.push('}');
        }
    }
}

fn write_scalar(out: &mut String, s: &Scalar) {
    match &s.resolved {
        Resolved::Null => out.push_str("null"),
        Resolved::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Resolved::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Resolved::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Resolved::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Resolved::Float(_) => out.push_str("null"),
        Resolved::Str => write_json_str(out, &s.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let stream = parse_stream(text);
        assert_eq!(stream.error, None, "{text}");
        stream
            .documents
            .into_iter()
            .next()
            .and_then(|d| d.root)
            .expect("a document")
    }

    fn json(text: &str) -> String {
        let mut out = String::new();
        write_json(&mut out, &one(text));
        out
    }

    #[test]
    fn resolves_scalars_like_go_yaml_v2() {
        for (text, want) in [
            ("", Resolved::Null),
            ("~", Resolved::Null),
            ("NULL", Resolved::Null),
            ("yes", Resolved::Bool(true)),
            ("Y", Resolved::Bool(true)),
            ("On", Resolved::Bool(true)),
            ("TRUE", Resolved::Bool(true)),
            ("no", Resolved::Bool(false)),
            ("n", Resolved::Bool(false)),
            ("OFF", Resolved::Bool(false)),
            ("False", Resolved::Bool(false)),
            ("12", Resolved::Int(12)),
            ("-3", Resolved::Int(-3)),
            ("+7", Resolved::Int(7)),
            ("0x1F", Resolved::Int(31)),
            ("0o17", Resolved::Int(15)),
            ("0755", Resolved::Int(493)),
            ("0b101", Resolved::Int(5)),
            ("1_000", Resolved::Int(1000)),
            (
                "18446744073709551615",
                Resolved::Uint(18_446_744_073_709_551_615),
            ),
            ("-9223372036854775808", Resolved::Int(i64::MIN)),
            (
                "-9223372036854775809",
                Resolved::Float(-9_223_372_036_854_775_809.0),
            ),
            ("1.5", Resolved::Float(1.5)),
            ("1e3", Resolved::Float(1000.0)),
            (".5", Resolved::Float(0.5)),
            ("-.inf", Resolved::Float(f64::NEG_INFINITY)),
            ("1Gi", Resolved::Str),
            ("tRue", Resolved::Str),
            ("yEs", Resolved::Str),
            ("08x", Resolved::Str),
            ("1.2.3", Resolved::Str),
            ("2020-01-01", Resolved::Str),
            ("-", Resolved::Str),
            ("+", Resolved::Str),
            (".", Resolved::Str),
        ] {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
        // "08" is not octal, but it is a float.
        assert_eq!(resolve_plain("08"), Resolved::Float(8.0));
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        assert_eq!(
            json("a: \"yes\"\nb: '1'\nc: |\n  true\nd: !!str 5\ne: !!int \"5\"\nf: yes\n"),
            r#"{"a":"yes","b":"1","c":"true\n","d":"5","e":5,"f":true}"#
        );
    }

    #[test]
    fn escapes_json_strings() {
        assert_eq!(
            json("a: \"q\\\"b\\\\\\t\\u0001é\"\n"),
            r#"{"a":"q\"b\\\t\u0001é"}"#
        );
    }

    #[test]
    fn keys_become_strings() {
        // `on` is the boolean true, so it replaces the `true` key; go-yaml v2 reads `n` as false.
        assert_eq!(
            json("1: a\ntrue: b\n~: c\non: d\n0x10: e\nn: f\n'n': g\n"),
            r#"{"1":"a","true":"d","null":"c","16":"e","false":"f","n":"g"}"#
        );
    }

    #[test]
    fn resolves_anchors_aliases_and_merges() {
        let text = "base: &b\n  x: 1\n  w: 2\nother: &o {z: 3}\nm:\n  <<: [*b, *o]\n  w: 9\nk:\n  w: 8\n  <<: *b\nlist: [*o, *o]\n";
        assert_eq!(
            json(text),
            r#"{"base":{"x":1,"w":2},"other":{"z":3},"m":{"w":9,"x":1,"z":3},"k":{"w":8,"x":1},"list":[{"z":3},{"z":3}]}"#
        );
        // Merged entries keep the span where they are written.
        let root = one(text);
        let x = root.get("m").and_then(|m| m.entry("x")).expect("merged x");
        assert_eq!(x.key.span.start, Pos { line: 2, col: 2 });
    }

    #[test]
    fn later_duplicates_replace_earlier_ones() {
        assert_eq!(json("a: 1\nb: 2\na: 3\n"), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn bad_merges_and_unknown_aliases_are_errors() {
        let e = parse_stream("a:\n  <<: 1\n").error.expect("error");
        assert!(e.message.contains("merge"), "{e:?}");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(parse_stream("a: *nope\n").error.is_some());
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = parse_stream(&text).error.expect("refused");
        assert!(e.message.contains("aliases expand"), "{e:?}");
    }

    #[test]
    fn spans_are_right_with_crlf_and_comments() {
        let text = "# head\r\na: 1\r\nb:\r\n  c: d # tail\r\n";
        let root = one(text);
        let c = root.get("b").and_then(|b| b.entry("c")).expect("c");
        assert_eq!(c.key.span.start, Pos { line: 4, col: 2 });
        assert_eq!(
            c.value.span,
            Span {
                start: Pos { line: 4, col: 5 },
                end: Pos { line: 4, col: 6 }
            }
        );
        assert_eq!(c.value.as_str(), Some("d"));
    }

    #[test]
    fn json_files_keep_spans() {
        let text = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\"x\": [1, 2]}\n}\n";
        let root = one(text);
        let spec = root.entry("spec").expect("spec");
        assert_eq!(spec.key.span.start, Pos { line: 3, col: 2 });
        assert_eq!(spec.value.span.end, Pos { line: 3, col: 23 });
        assert_eq!(json(text), r#"{"kind":"Pod","spec":{"x":[1,2]}}"#);
    }

    #[test]
    fn multiple_documents_and_empty_ones() {
        let stream = parse_stream("a: 1\n---\n---\nb: 2\n...\n");
        assert_eq!(stream.error, None);
        let roots: Vec<_> = stream
            .documents
            .iter()
            .map(|d| (d.index, d.root.is_some()))
            .collect();
        assert_eq!(roots, vec![(1, true), (2, false), (3, true)]);
        assert_eq!(stream.documents[2].start.line, 3);
    }

    #[test]
    fn syntax_errors_keep_earlier_documents_and_say_where() {
        let stream = parse_stream("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert_eq!(stream.documents.len(), 1);
        let e = stream.error.expect("error");
        assert_eq!(e.document, 2);
        assert!(e.line >= 3, "{e:?}");
    }

    #[test]
    fn block_collection_spans_end_at_their_last_child() {
        let root = one("a:\n  - x\n  - y: z\n\n# trailing\nb: 1\n");
        let a = root.get("a").expect("a");
        assert_eq!(a.span.start, Pos { line: 2, col: 2 });
        assert_eq!(a.span.end, Pos { line: 3, col: 8 });
    }
}

#[cfg(test)]
mod robustness {
    use super::parse_stream;

    /// Every prefix of the course manifests, and some byte noise, parses or fails cleanly.
    #[test]
    fn truncated_and_noisy_input_never_panics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course");
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        texts.sort();
        for text in &texts {
            for (i, _) in text.char_indices().step_by(7) {
                let _ = parse_stream(&text[..i]);
            }
        }
        let mut seed: u32 = 0x2545_f491;
        for text in texts.iter().take(4) {
            for _ in 0..200 {
                let mut bytes: Vec<char> = text.chars().collect();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let at = seed as usize % bytes.len();
                    bytes[at] = [
                        '{', '[', ':', '&', '*', '"', '\'', '\n', ' ', '-', '|', '>', '!', '%',
                        '\t',
                    ][at % 15];
                }
                let noisy: String = bytes.into_iter().collect();
                let _ = parse_stream(&noisy);
            }
        }
    }
}
