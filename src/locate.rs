//! From a finding's JSON path back to the YAML it came from.
//!
//! Keys match mapping keys (as JSON names them), indices match sequence items. When the path
//! leaves the file (a field the rule expects but the file does not have), the location is the
//! deepest node that exists, and [`Location::exact`] is false.

use ws3_engine::path::{self, Segment};

use crate::yaml::{Entry, Node, NodeKind, Pos, Span};

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

/// What to underline for a mapping entry: the key, through its value when that is on the same
/// line (`emptyDir: {}`, `image: postgres:13`).
fn entry_span(entry: &Entry) -> Span {
    let key = entry.key.span;
    let value = entry.value.span;
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
fn node_span(node: &Node) -> Span {
    match &node.kind {
        NodeKind::Map(entries) => match entries.iter().min_by_key(|e| e.key.span.start) {
            Some(first) if first.key.span.start.line == node.span.start.line => Span {
                start: node.span.start.min(first.key.span.start),
                end: entry_span(first).end,
            },
            _ => Span {
                start: node.span.start,
                end: node.span.start,
            },
        },
        NodeKind::Seq(items) => match items.first() {
            Some(first) if first.span.start.line == node.span.start.line => {
                let inner = node_span(first);
                Span {
                    start: node.span.start,
                    end: if node.span.end.line == node.span.start.line {
                        node.span.end
                    } else {
                        inner.end
                    },
                }
            }
            _ => Span {
                start: node.span.start,
                end: node.span.start,
            },
        },
        NodeKind::Scalar(_) if node.span.end.line == node.span.start.line => node.span,
        NodeKind::Scalar(_) => Span {
            start: node.span.start,
            end: node.span.start,
        },
    }
}

/// Locates `path` in an object. An empty path (the whole object) points at its `kind`; a path
/// that does not parse points at the object.
pub fn locate(root: &Node, path: &str) -> Location {
    let whole = || match root.entry("kind") {
        Some(kind) => entry_span(kind),
        None => node_span(root),
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
        let next = match (segment, &node.kind) {
            (Segment::Key(key), NodeKind::Map(entries)) => entries
                .iter()
                .find(|e| e.key_str() == key.as_str())
                .map(|e| (entry_span(e), &e.value)),
            (Segment::Index(i), NodeKind::Seq(items)) => {
                items.get(*i).map(|item| (node_span(item), item))
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

/// The span of the value at `path`, when the whole path is in the file (the field a finding
/// marks as secret, say).
pub fn value_span(root: &Node, path: &str) -> Option<Span> {
    let segments = path::parse(path).ok()?;
    let mut node = root;
    for segment in &segments {
        node = match (segment, &node.kind) {
            (Segment::Key(key), NodeKind::Map(entries)) => entries
                .iter()
                .find(|e| e.key_str() == key.as_str())
                .map(|e| &e.value)?,
            (Segment::Index(i), NodeKind::Seq(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(node.span)
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
