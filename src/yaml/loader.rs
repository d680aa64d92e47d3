//! From parser events to the document tree: anchors and aliases, `<<` merge keys, duplicate
//! keys, and the expansion budget.
//!
//! Why a loader of our own rather than a YAML DOM crate: a node must keep its span (findings
//! point at lines), scalars must resolve the YAML 1.1 way ([`super::resolve`]), a repeated key
//! must be an error naming both lines, and an alias must be paid for before it is copied.
//! The DOM crates built on the same parser (`saphyr`) resolve YAML 1.2, let the last duplicate
//! win and copy aliases without a bound.

use std::{collections::HashMap, mem::size_of};

use saphyr_parser::{Event, Marker, ScalarStyle as GStyle, Span as GSpan, Tag};

use super::{
    ExpansionBudget,
    node::{Document, Entry, Node, NodeKind, Pos, Scalar, ScalarStyle, Span},
    repair::Remap,
    resolve::resolve,
};

/// Deepest nesting accepted.
pub(super) const MAX_DEPTH: usize = 512;

/// What a node and its copies cost, in bytes: the memory a copy takes (nodes and text). The
/// expansion budget is counted in these.
const NODE_BYTES: usize = size_of::<Node>();

/// Where loading stopped and why (the message never quotes a value).
#[derive(Debug)]
pub(super) struct LoadError {
    pub(super) at: Pos,
    pub(super) message: String,
}

pub(super) type LoadResult<T> = Result<T, LoadError>;

fn error(at: Pos, message: impl Into<String>) -> LoadError {
    LoadError {
        at,
        message: message.into(),
    }
}

/// A key shortened and escaped for a message.
pub(super) fn shown_key(key: &str) -> String {
    const MAX: usize = 80;
    let short = match key.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &key[..i]),
        None => key.to_owned(),
    };
    crate::escape::display_name(&short).into_owned()
}

/// A collection being built, with the bytes its children take so far.
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
        size: usize,
    },
    Map {
        builder: MapBuilder,
        pending_key: Option<(Node, usize)>,
        start: Span,
        anchor: usize,
        size: usize,
    },
}

/// Where `text` ends: its last line (from 1; lines end at `\n`, `\r\n` or a lone `\r`, as the
/// parser counts them) and the number of characters on it.
fn text_end(text: &str) -> (usize, usize) {
    let b = text.as_bytes();
    let mut line = 1;
    let mut last_start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
            line += 1;
            last_start = i + 1;
        }
    }
    (line, text[last_start..].chars().count())
}

/// Builds the documents of one parse of a YAML text.
pub(super) struct Loader<'a> {
    stack: Vec<Frame>,
    /// Anchored nodes with their size, by the parser's anchor id.
    anchors: HashMap<usize, (Node, usize)>,
    pub(super) doc_index: usize,
    /// Whether a document is open (started and not ended).
    doc_open: bool,
    doc_start: Pos,
    root: Option<Node>,
    budget: &'a ExpansionBudget,
    /// Bytes taken from the budget by this parse (given back if the text is parsed again).
    pub(super) charged: usize,
    remap: &'a Remap,
    /// The outermost flow collection (`[`, `{`) being read: its start (a character index) and
    /// the depth of its frame.
    pub(super) open_flow: Option<(usize, usize)>,
    /// Where the last node read ends (a character index).
    pub(super) last_end: usize,
    /// Where the text parsed ends (line, column in characters): the parser places the end of a
    /// text without a final line break on a line after it, and positions are clamped to this.
    text_end: (usize, usize),
}

impl<'a> Loader<'a> {
    pub(super) fn new(text: &str, budget: &'a ExpansionBudget, remap: &'a Remap) -> Self {
        Self {
            stack: Vec::new(),
            anchors: HashMap::new(),
            doc_index: 0,
            doc_open: false,
            doc_start: Pos::default(),
            root: None,
            budget,
            charged: 0,
            remap,
            open_flow: None,
            last_end: 0,
            text_end: text_end(text),
        }
    }

    /// The document an error at this point is in.
    pub(super) fn current_document(&self) -> usize {
        if self.doc_open {
            self.doc_index
        } else {
            self.doc_index + 1
        }
    }

    pub(super) fn pos(&self, marker: &Marker) -> Pos {
        let (line, col) = (marker.line(), marker.col()).min(self.text_end);
        self.remap.pos(line, col)
    }

    fn span(&self, span: &GSpan) -> Span {
        Span {
            start: self.pos(&span.start),
            end: self.pos(&span.end),
        }
    }

    /// Takes `bytes` from the expansion budget before a copy is made.
    fn charge(&mut self, bytes: usize, at: Pos) -> LoadResult<()> {
        if self.budget.take(bytes) {
            self.charged += bytes;
            return Ok(());
        }
        Err(error(
            at,
            format!(
                "anchors and aliases expand past {} MiB, the limit for all the files read together (a guard against \"billion laughs\" files)",
                self.budget.limit() >> 20
            ),
        ))
    }

    /// Handles one event; returns a document when one ends.
    pub(super) fn event(&mut self, event: Event<'_>, span: &GSpan) -> LoadResult<Option<Document>> {
        self.last_end = self.last_end.max(span.end.index());
        match event {
            Event::DocumentStart(_) => {
                self.doc_index += 1;
                self.doc_open = true;
                self.doc_start = self.pos(&span.start);
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                // An empty document reads as an empty plain scalar (zero-width): nothing in it.
                let root = self.root.take().filter(|r| {
                    !matches!(&r.kind, NodeKind::Scalar(s)
                        if s.style == ScalarStyle::Plain
                            && s.tag.is_none()
                            && (s.value.is_empty() || r.span.start == r.span.end))
                });
                self.anchors.clear();
                self.doc_open = false;
                return Ok(Some(Document {
                    index: self.doc_index,
                    root,
                    start: self.doc_start,
                    end: self.pos(&span.start),
                }));
            }
            Event::Alias(id) => {
                let at = self.pos(&span.start);
                let Some(&(_, size)) = self.anchors.get(&id) else {
                    return Err(error(
                        at,
                        "an alias names no anchor defined before it in this document (anchors do not carry over `---`)",
                    ));
                };
                self.charge(size, at)?;
                let node = self.anchors.get(&id).map(|(node, _)| node.clone());
                if let Some(node) = node {
                    self.complete(node, 0, size)?;
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| tag_name(&t).into_boxed_str());
                let style = scalar_style(style);
                let resolved = resolve(&value, style, tag.as_deref());
                let value = value.into_owned();
                let size = NODE_BYTES + value.len() + tag.as_ref().map_or(0, |t| t.len());
                let node = Node {
                    kind: NodeKind::Scalar(Scalar {
                        value,
                        style,
                        tag,
                        resolved,
                    }),
                    span: self.span(span),
                };
                self.complete(node, anchor, size)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.note_flow(span);
                let start = self.span(span);
                self.push(
                    Frame::Seq {
                        items: Vec::new(),
                        start,
                        anchor,
                        size: NODE_BYTES,
                    },
                    start.start,
                )?;
            }
            Event::MappingStart(anchor, _) => {
                self.note_flow(span);
                let start = self.span(span);
                self.push(
                    Frame::Map {
                        builder: MapBuilder::default(),
                        pending_key: None,
                        start,
                        anchor,
                        size: NODE_BYTES,
                    },
                    start.start,
                )?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.end_collection(span)?,
            // Stream start and end, and metadata events (comments) carry no content.
            _ => {}
        }
        Ok(None)
    }

    /// Remembers where the outermost flow collection starts (a flow collection's start event
    /// spans its bracket; a block collection's is empty).
    fn note_flow(&mut self, span: &GSpan) {
        if self.open_flow.is_none() && span.end.index() > span.start.index() {
            self.open_flow = Some((span.start.index(), self.stack.len()));
        }
    }

    fn end_collection(&mut self, span: &GSpan) -> LoadResult<()> {
        let end_event = self.span(span);
        let frame = self
            .stack
            .pop()
            .ok_or_else(|| error(end_event.start, "unbalanced collection"))?;
        if self
            .open_flow
            .is_some_and(|(_, depth)| depth >= self.stack.len())
        {
            self.open_flow = None;
        }
        let (node, anchor, size) = match frame {
            Frame::Seq {
                items,
                start,
                anchor,
                size,
            } => {
                let end = collection_end(start, end_event, items.last().map(|n| n.span.end));
                let node = Node {
                    kind: NodeKind::Seq(items),
                    span: Span {
                        start: start.start,
                        end,
                    },
                };
                (node, anchor, size)
            }
            Frame::Map {
                builder,
                start,
                anchor,
                size,
                ..
            } => {
                let entries = builder.finish();
                let end = collection_end(
                    start,
                    end_event,
                    entries.iter().map(|e| e.value.span.end).max(),
                );
                let node = Node {
                    kind: NodeKind::Map(entries),
                    span: Span {
                        start: start.start,
                        end,
                    },
                };
                (node, anchor, size)
            }
        };
        self.complete(node, anchor, size)
    }

    fn push(&mut self, frame: Frame, at: Pos) -> LoadResult<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(error(at, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// A node is complete: remember a copy under its anchor (paid from the budget) and hand it
    /// to its parent.
    fn complete(&mut self, node: Node, anchor: usize, size: usize) -> LoadResult<()> {
        if anchor != 0 {
            self.charge(size, node.span.start)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, size: total, ..
            }) => {
                *total += size;
                items.push(node);
            }
            Some(Frame::Map {
                builder,
                pending_key,
                size: total,
                ..
            }) => match pending_key.take() {
                None => {
                    if !matches!(node.kind, NodeKind::Scalar(_)) {
                        return Err(error(
                            node.span.start,
                            format!("a mapping key must be a scalar, not {}", node.type_name()),
                        ));
                    }
                    *pending_key = Some((node, size));
                }
                Some((key, key_size)) => {
                    *total += key_size + size;
                    builder.add(key, node)?;
                }
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

/// Builds a mapping: a key written twice is an error (kubectl's strict decoding refuses
/// duplicate fields), explicit keys win over merged ones, and earlier merge sources win over
/// later ones.
#[derive(Default)]
pub(super) struct MapBuilder {
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

    fn push(&mut self, entry: Entry) {
        if let Some(index) = &mut self.index {
            index.insert(entry.key_str().into_owned(), self.entries.len());
        }
        self.entries.push(entry);
    }

    /// Adds an entry written in the mapping (a `<<` key is kept for [`Self::finish`]).
    pub(super) fn add(&mut self, key: Node, value: Node) -> LoadResult<()> {
        let is_merge = matches!(&key.kind, NodeKind::Scalar(s)
            if s.value == "<<" && (s.style == ScalarStyle::Plain || s.tag.as_deref() == Some("!!merge")));
        if is_merge {
            match value.kind {
                NodeKind::Map(_) => self.merges.push(value),
                NodeKind::Seq(items)
                    if items.iter().all(|i| matches!(i.kind, NodeKind::Map(_))) =>
                {
                    self.merges.extend(items);
                }
                _ => {
                    return Err(error(
                        key.span.start,
                        "the value of a merge key `<<` must be a mapping or a list of mappings",
                    ));
                }
            }
            return Ok(());
        }
        let entry = Entry { key, value };
        let name = entry.key_str();
        if let Some(first) = self.position(&name) {
            let first_line = self.entries[first].key.span.start.line;
            return Err(error(
                entry.key.span.start,
                format!(
                    "duplicate key `{}`: first at line {first_line}, again at line {} (kubectl refuses duplicate fields; remove one)",
                    shown_key(&name),
                    entry.key.span.start.line
                ),
            ));
        }
        self.push(entry);
        Ok(())
    }

    /// The entries, with merged ones after the written ones.
    pub(super) fn finish(mut self) -> Vec<Entry> {
        for source in std::mem::take(&mut self.merges) {
            if let NodeKind::Map(entries) = source.kind {
                for entry in entries {
                    if self.position(&entry.key_str()).is_none() {
                        self.push(entry);
                    }
                }
            }
        }
        self.entries
    }
}

fn scalar_style(style: GStyle) -> ScalarStyle {
    match style {
        GStyle::SingleQuoted => ScalarStyle::SingleQuoted,
        GStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
        GStyle::Literal => ScalarStyle::Literal,
        GStyle::Folded => ScalarStyle::Folded,
        _ => ScalarStyle::Plain,
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
