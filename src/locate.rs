//! From a finding's JSON path back to the YAML it came from.
//!
//! Keys match mapping keys (as JSON names them), indices match sequence items. When the path
//! leaves the file (a field the rule expects but the file does not have), the location is the
//! deepest node that exists, and [`Location::exact`] is false.

use ws3_engine::path::{self, Segment};

use crate::yaml::{Node, NodeKind, Pos, Span};

/// Where a finding points, lines and columns from 1; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// First line.
    pub line: usize,
    /// First column.
    pub column: usize,
    /// Last line.
    pub end_line: usize,
    /// The column after the last character.
    pub end_column: usize,
    /// Whether the whole path was found (otherwise this is its nearest existing ancestor).
    pub exact: bool,
}

impl Location {
    fn from_span(span: Span, exact: bool) -> Self {
        let end = if span.end > span.start {
            span.end
        } else {
            Pos {
                line: span.start.line,
                col: span.start.col + 1,
            }
        };
        Self {
            line: span.start.line,
            column: span.start.col + 1,
            end_line: end.line,
            end_column: end.col + 1,
            exact,
        }
    }
}

/// Where the fields of one object are: its YAML tree reduced to what [`locate`] and
/// [`value_span`] read (each node's span and kind, each mapping key's span and JSON name), in
/// one flat array. The linter keeps this for every object instead of the parsed document, whose
/// scalar values, tags and per-node allocations cost many times the file's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    /// `nodes[0]` is the root; a collection's children are `nodes[first..first + count]`.
    nodes: Box<[Slot]>,
    /// The mapping keys as JSON names them, one after another.
    keys: Box<str>,
}

/// A position with 32-bit fields (a file is at most 16 MiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct P {
    line: u32,
    col: u32,
}

impl P {
    fn of(pos: Pos) -> Self {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            line: narrow(pos.line),
            col: narrow(pos.col),
        }
    }

    fn pos(self) -> Pos {
        Pos {
            line: self.line as usize,
            col: self.col as usize,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Shape {
    #[default]
    Scalar,
    Seq,
    Map,
}

/// One node; for a mapping's value, its entry's key too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    start: P,
    end: P,
    key_start: P,
    key_end: P,
    /// The key's JSON name: `keys[key..key + key_len]`.
    key: u32,
    key_len: u32,
    first: u32,
    count: u32,
    shape: Shape,
}

impl Slot {
    fn span(&self) -> Span {
        Span {
            start: self.start.pos(),
            end: self.end.pos(),
        }
    }

    fn key_span(&self) -> Span {
        Span {
            start: self.key_start.pos(),
            end: self.key_end.pos(),
        }
    }
}

impl Spans {
    /// The spans of a node and everything under it.
    pub fn new(root: &Node) -> Self {
        let mut builder = Builder {
            nodes: vec![Slot::default()],
            keys: String::new(),
        };
        builder.fill(root, 0);
        Self {
            nodes: builder.nodes.into_boxed_slice(),
            keys: builder.keys.into_boxed_str(),
        }
    }

    /// Spans that know only the root's span (every path locates to it, not exactly).
    pub fn only(span: Span) -> Self {
        let p = |pos: Pos| P::of(pos);
        Self {
            nodes: Box::new([Slot {
                start: p(span.start),
                end: p(span.end),
                ..Slot::default()
            }]),
            keys: Box::default(),
        }
    }

    /// Moves every position `by` lines down (spans of a document parsed apart from the lines
    /// before it).
    pub fn shift_lines(&mut self, by: u32) {
        for slot in &mut self.nodes {
            for p in [
                &mut slot.start,
                &mut slot.end,
                &mut slot.key_start,
                &mut slot.key_end,
            ] {
                // Line 0: no position (the root's key).
                if p.line != 0 {
                    p.line = p.line.saturating_add(by);
                }
            }
        }
    }

    /// The root's span.
    pub fn span(&self) -> Span {
        self.nodes.first().map(Slot::span).unwrap_or_default()
    }

    /// Where the root starts (an object's first line).
    pub fn start(&self) -> Pos {
        self.span().start
    }

    fn at(&self, i: u32) -> N<'_> {
        N {
            spans: self,
            slot: &self.nodes[i as usize],
        }
    }

    fn root(&self) -> Option<N<'_>> {
        (!self.nodes.is_empty()).then(|| self.at(0))
    }

    /// Locates `path` in the object: see [`locate`].
    pub fn locate(&self, path: &str) -> Location {
        let Some(root) = self.root() else {
            return Location::from_span(Span::default(), false);
        };
        let whole = || match root.entry("kind") {
            Some(kind) => kind.entry_span(),
            None => root.node_span(),
        };
        let Ok(segments) = path::parse(path) else {
            return Location::from_span(whole(), false);
        };
        if segments.is_empty() {
            return Location::from_span(whole(), true);
        }
        let mut node = root;
        let mut span = whole();
        for segment in &segments {
            let next = match (segment, node.slot.shape) {
                (Segment::Key(key), Shape::Map) => node.entry(key).map(|e| (e.entry_span(), e)),
                (Segment::Index(i), Shape::Seq) => {
                    node.child(*i).map(|item| (item.node_span(), item))
                }
                _ => None,
            };
            match next {
                Some((s, n)) => {
                    span = s;
                    node = n;
                }
                None => return Location::from_span(span, false),
            }
        }
        Location::from_span(span, true)
    }

    /// The span of the value at `path`: see [`value_span`].
    pub fn value_span(&self, path: &str) -> Option<Span> {
        let segments = path::parse(path).ok()?;
        let mut node = self.root()?;
        for segment in &segments {
            node = match (segment, node.slot.shape) {
                (Segment::Key(key), Shape::Map) => node.entry(key)?,
                (Segment::Index(i), Shape::Seq) => node.child(*i)?,
                _ => return None,
            };
        }
        Some(node.slot.span())
    }
}

struct Builder {
    nodes: Vec<Slot>,
    keys: String,
}

impl Builder {
    /// Fills slot `at` (already pushed) from `node`, and its children after the last slot.
    fn fill(&mut self, node: &Node, at: usize) {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let first = self.nodes.len();
        let (shape, count) = match &node.kind {
            NodeKind::Scalar(_) => (Shape::Scalar, 0),
            NodeKind::Seq(items) => (Shape::Seq, items.len()),
            NodeKind::Map(entries) => (Shape::Map, entries.len()),
        };
        let slot = &mut self.nodes[at];
        slot.start = P::of(node.span.start);
        slot.end = P::of(node.span.end);
        slot.shape = shape;
        slot.first = narrow(first);
        slot.count = narrow(count);
        self.nodes.resize(first + count, Slot::default());
        match &node.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.fill(item, first + i);
                }
            }
            NodeKind::Map(entries) => {
                for (i, entry) in entries.iter().enumerate() {
                    let key = entry.key_str();
                    let slot = &mut self.nodes[first + i];
                    slot.key_start = P::of(entry.key.span.start);
                    slot.key_end = P::of(entry.key.span.end);
                    slot.key = narrow(self.keys.len());
                    slot.key_len = narrow(key.len());
                    self.keys.push_str(&key);
                    self.fill(&entry.value, first + i);
                }
            }
        }
    }
}

/// A node of [`Spans`].
#[derive(Clone, Copy)]
struct N<'s> {
    spans: &'s Spans,
    slot: &'s Slot,
}

impl<'s> N<'s> {
    fn children(self) -> impl Iterator<Item = N<'s>> {
        let first = self.slot.first;
        (first..first + self.slot.count).map(move |i| self.spans.at(i))
    }

    fn child(self, i: usize) -> Option<N<'s>> {
        let i = u32::try_from(i).ok().filter(|&i| i < self.slot.count)?;
        Some(self.spans.at(self.slot.first + i))
    }

    /// The key of this mapping value.
    fn key(self) -> &'s str {
        let start = self.slot.key as usize;
        self.spans
            .keys
            .get(start..start + self.slot.key_len as usize)
            .unwrap_or_default()
    }

    /// The first entry of this mapping under `key`.
    fn entry(self, key: &str) -> Option<N<'s>> {
        if self.slot.shape != Shape::Map {
            return None;
        }
        self.children().find(|e| e.key() == key)
    }

    /// What to underline for a mapping entry: the key, through its value when that is on the
    /// same line (`emptyDir: {}`, `image: postgres:13`).
    fn entry_span(self) -> Span {
        let key = self.slot.key_span();
        let value = self.slot.span();
        let end = if value.start.line == key.start.line
            && value.end.line == key.start.line
            && value.end > key.end
        {
            value.end
        } else {
            key.end
        };
        Span {
            start: key.start,
            end,
        }
    }

    /// What to underline for a node: its first line (for a mapping: its first entry).
    fn node_span(self) -> Span {
        let span = self.slot.span();
        let start_only = Span {
            start: span.start,
            end: span.start,
        };
        match self.slot.shape {
            Shape::Map => match self.children().min_by_key(|e| e.slot.key_start.pos()) {
                Some(first) if first.slot.key_start.line as usize == span.start.line => Span {
                    start: span.start.min(first.slot.key_span().start),
                    end: first.entry_span().end,
                },
                _ => start_only,
            },
            Shape::Seq => match self.child(0) {
                Some(first) if first.slot.start.line as usize == span.start.line => {
                    let inner = first.node_span();
                    Span {
                        start: span.start,
                        end: if span.end.line == span.start.line {
                            span.end
                        } else {
                            inner.end
                        },
                    }
                }
                _ => start_only,
            },
            Shape::Scalar if span.end.line == span.start.line => span,
            Shape::Scalar => start_only,
        }
    }
}

/// Locates `path` in an object. An empty path (the whole object) points at its `kind`; a path
/// that does not parse points at the object.
pub fn locate(root: &Node, path: &str) -> Location {
    Spans::new(root).locate(path)
}

/// The span of the value at `path`, when the whole path is in the file (the field a finding
/// marks as secret, say).
pub fn value_span(root: &Node, path: &str) -> Option<Span> {
    Spans::new(root).value_span(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;

    const STS: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  template:\n    spec:\n      volumes:\n        - name: data\n          emptyDir: {}\n        - name: x\n          configMap:\n            name: c\n";

    fn at(text: &str, path: &str) -> (usize, usize, usize, usize, bool) {
        let root = parse_stream(text).documents.remove(0).root.unwrap();
        let l = locate(&root, path);
        (l.line, l.column, l.end_line, l.end_column, l.exact)
    }

    #[test]
    fn points_at_the_key_and_its_same_line_value() {
        assert_eq!(
            at(STS, "spec.template.spec.volumes[0].emptyDir"),
            (10, 11, 10, 23, true)
        );
        assert_eq!(
            at(STS, "spec.template.spec.volumes[1].configMap"),
            (12, 11, 12, 20, true)
        );
        assert_eq!(at(STS, "metadata.name"), (4, 3, 4, 11, true));
    }

    #[test]
    fn points_at_sequence_items_by_their_first_line() {
        assert_eq!(
            at(STS, "spec.template.spec.volumes[1]"),
            (11, 11, 11, 18, true)
        );
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        assert_eq!(at(STS, "spec.serviceName"), (5, 1, 5, 5, false));
        assert_eq!(
            at(STS, "spec.template.spec.volumes[7].emptyDir"),
            (8, 7, 8, 14, false)
        );
        assert_eq!(at(STS, "metadata.name.x"), (4, 3, 4, 11, false));
    }

    #[test]
    fn the_whole_object_is_its_kind() {
        assert_eq!(at(STS, ""), (2, 1, 2, 18, true));
        assert_eq!(at(STS, "a..b"), (2, 1, 2, 18, false));
    }

    #[test]
    fn quoted_keys_and_json_input() {
        let text = "apiVersion: v1\nkind: ConfigMap\ndata:\n  app.conf: |\n    x\n  'q\"k': v\n";
        assert_eq!(at(text, r#"data["app.conf"]"#), (4, 3, 4, 11, true));
        assert_eq!(at(text, r#"data["q\"k"]"#), (6, 3, 6, 11, true));
        let json = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\n    \"volumes\": [{\"name\": \"a\", \"emptyDir\": {}}]\n  }\n}\n";
        assert_eq!(at(json, "spec.volumes[0].emptyDir"), (4, 31, 4, 45, true));
    }

    #[test]
    fn crlf_does_not_shift_columns() {
        let text = STS.replace('\n', "\r\n");
        assert_eq!(
            at(&text, "spec.template.spec.volumes[0].emptyDir"),
            (10, 11, 10, 23, true)
        );
    }
}
