//! The document tree: nodes with the spans they were read from.

use std::borrow::Cow;

use super::resolve::format_float;

/// A position in a file: line 1-based, column 0-based, both counted in characters. Lines end
/// at `\n`, `\r\n` or a lone `\r`, as in [`crate::input::SourceFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 0, in characters.
    pub col: usize,
}

/// A range of a file; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// The character after the last.
    pub end: Pos,
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// Unquoted (JSON numbers, `true`, `false` and `null` too).
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"` (every JSON string).
    DoubleQuoted,
    /// A `|` block.
    Literal,
    /// A `>` block.
    Folded,
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
    pub fn json_key(&self) -> Cow<'_, str> {
        match &self.resolved {
            Resolved::Str => self.value.as_str().into(),
            Resolved::Null => "null".into(),
            Resolved::Bool(b) => if *b { "true" } else { "false" }.into(),
            Resolved::Int(i) => i.to_string().into(),
            Resolved::Uint(u) => u.to_string().into(),
            Resolved::Float(f) => format_float(*f).into(),
        }
    }

    /// Whether this is null (JSON cannot hold non-finite floats either, so they count as null).
    pub fn is_null(&self) -> bool {
        match self.resolved {
            Resolved::Null => true,
            Resolved::Float(f) => !f.is_finite(),
            _ => false,
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
    pub fn key_str(&self) -> Cow<'_, str> {
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
    /// A mapping: keys unique (a repeated key is an error), merge keys applied.
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

    /// Whether this is null (rules never see it: the JSON writer leaves null mapping values out).
    pub fn is_null(&self) -> bool {
        self.as_scalar().is_some_and(Scalar::is_null)
    }

    /// A short name of the node's type, for messages (never the value).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => s.type_name(),
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
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
