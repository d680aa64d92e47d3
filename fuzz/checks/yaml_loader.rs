//! The properties the `yaml_loader` fuzz target checks, shared with the stable-toolchain replay
//! of the corpus (`tests/fuzz_corpus.rs` of ws3-lint). Panics when one does not hold.
//!
//! Input: a file's bytes (not UTF-8 is skipped: ws3-lint refuses such a file before parsing).

use ws3_lint::{
    input::SourceFile,
    locate::Spans,
    objects::{Object, file_objects, reread_spans},
    yaml::{
        ExpansionBudget, Node, NodeKind, Pos, Span, parse_fast, parse_stream, parse_stream_general,
        write_json,
    },
};

/// Checks one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // What ws3-lint parses: the text without a byte-order mark, lines as SourceFile counts them.
    let file = SourceFile::new("fuzz.yaml", text);
    let stream = parse_stream(&file.text);
    // Where the fast path answers, it reads the text as the general path does.
    if let Some(fast) = parse_fast(&file.text) {
        let general = parse_stream_general(&file.text, &ExpansionBudget::default());
        assert_eq!(fast, general, "the fast path reads the text differently");
    }
    let lines = Lines(&file);
    for doc in &stream.documents {
        lines.pos(doc.start, "document start");
        lines.pos(doc.end, "document end");
        assert!(
            doc.start <= doc.end,
            "document {} ends before it starts",
            doc.index
        );
        if let Some(root) = &doc.root {
            lines.node(root, 0);
            // The JSON rules receive is JSON (serde_json stops at 128 levels; the loader at 512).
            let mut json = String::new();
            write_json(&mut json, root);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
                assert!(
                    e.to_string().starts_with("recursion limit exceeded"),
                    "the JSON written for document {} is not JSON: {e}",
                    doc.index
                );
            }
        }
    }
    for (i, doc) in stream.documents.iter().enumerate() {
        assert_eq!(doc.index, i + 1, "documents are numbered from 1 in order");
    }
    // Placing a finding reads its object's document again (alone when it can): the spans must
    // be the first parse's.
    let objects = file_objects(0, &file, stream.documents.clone()).objects;
    let objects: Vec<&Object> = objects.iter().collect();
    for (object, spans) in objects.iter().zip(reread_spans(&file, &objects)) {
        let node = stream
            .documents
            .iter()
            .find(|d| d.index == object.document)
            .and_then(|d| d.root.as_ref())
            .and_then(|root| object.node_in(root))
            .expect("an object's node is in its document");
        assert_eq!(
            spans,
            Spans::new(node),
            "document {}: the spans read again differ from the first parse's",
            object.document
        );
    }
    if let Some(e) = &stream.error {
        assert!(
            (1..=file.line_count()).contains(&e.line),
            "error line {} outside 1..={}",
            e.line,
            file.line_count()
        );
        let width = lines.width(e.line);
        assert!(
            (1..=width + 1).contains(&e.column),
            "error column {} outside line {} (width {width})",
            e.column,
            e.line
        );
        assert!(e.document >= 1, "documents are numbered from 1");
        assert!(e.message.contains("is not linted"), "{}", e.message);
    }
}

struct Lines<'a>(&'a SourceFile);

impl Lines<'_> {
    /// Characters in line `n` (from 1), without its break.
    fn width(&self, n: usize) -> usize {
        self.0.line(n).map_or(0, |l| l.chars().count())
    }

    /// A position lies inside the text: an existing line, a column up to the line's end.
    fn pos(&self, p: Pos, what: &str) {
        assert!(
            (1..=self.0.line_count()).contains(&p.line),
            "{what}: line {} outside 1..={}",
            p.line,
            self.0.line_count()
        );
        let width = self.width(p.line);
        assert!(
            p.col <= width,
            "{what}: column {} past the end of line {} (width {width})",
            p.col,
            p.line
        );
    }

    fn span(&self, s: Span, what: &str) {
        self.pos(s.start, what);
        self.pos(s.end, what);
        assert!(s.start <= s.end, "{what}: span {s:?} ends before it starts");
    }

    fn node(&self, node: &Node, depth: usize) {
        assert!(depth <= 600, "nesting deeper than the loader allows");
        self.span(node.span, "node");
        match &node.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => items.iter().for_each(|n| self.node(n, depth + 1)),
            NodeKind::Map(entries) => {
                for e in entries {
                    self.node(&e.key, depth + 1);
                    self.node(&e.value, depth + 1);
                }
            }
        }
    }
}
