//! The Kubernetes objects of the linted files.
//!
//! This module turns YAML documents into objects: one per document, or one per item of a
//! `kind: List`, each with its JSON, where its document is in the file (to place findings), the
//! byte ranges its document marks as secret (to mask code frames) and the Helm template it came
//! from. The parsed document itself is dropped as soon as these are taken from it: it costs many
//! times the file's size, and a run keeps every object until its report is written. Placing a
//! finding reads its object's document again ([`reread_spans`]): only objects with findings pay
//! for the spans of their fields. What an object means to the rules (its effective namespace, its controller, the
//! JSON a rule sees, what other rules may look up of it) is decided by the engine's
//! [`ws3_engine::review::lint::FileSet`], which the linter fills from these objects.

use std::{ops::Range, sync::Arc};

use ws3_engine::KindRef;

use crate::{
    error::{Notice, Problem, ProblemKind},
    escape::display_name,
    input::SourceFile,
    locate::Spans,
    redact::{Lines, document_secrets},
    yaml::{self, Document, Entry, ExpansionBudget, Node, NodeKind, Pos, Span, write_json},
};

/// One Kubernetes object read from a file.
#[derive(Debug, Clone)]
pub struct Object {
    /// Index of its file in the file list.
    pub file: usize,
    /// Its document in the file, from 1.
    pub document: usize,
    /// Its position in a `kind: List`'s `items`, from 0.
    pub item: Option<usize>,
    /// The object as JSON: as written in the file until it joins the file set, then as rules
    /// see it. What it is (kind, name, effective namespace) is the file set's to say
    /// ([`ws3_engine::review::lint::Entry`]): objects do not keep copies.
    pub json: Arc<str>,
    /// Where it and its document are in its file.
    pub origin: Origin,
    /// Byte ranges of its file that its document marks as secret (see
    /// [`crate::redact::document_secrets`]).
    pub secrets: Vec<Range<usize>>,
    /// For a core Secret, the spans of its values ([`secret_value_spans`]); empty otherwise.
    pub secret_values: Vec<Span>,
    /// The Helm template it came from (`# Source:` comment), if any.
    pub template: Option<String>,
}

impl Object {
    /// Where the object starts in its file.
    pub fn start(&self) -> Pos {
        self.origin.span.start
    }

    /// The object's node in its document's root: the root, or the `kind: List` item.
    pub fn node_in<'n>(&self, root: &'n Node) -> Option<&'n Node> {
        match self.item {
            None => Some(root),
            Some(i) => match &root.get("items")?.kind {
                NodeKind::Seq(items) => items.get(i),
                _ => None,
            },
        }
    }

    /// The spans of the object's fields from its document alone (its lines of the file), when
    /// that gives the same object back.
    fn reread_alone(&self, file: &SourceFile) -> Option<Spans> {
        let (first, last) = self.origin.lines?;
        let start = file.line_start(first as usize)?;
        let end = file
            .line_start(last as usize + 1)
            .unwrap_or(file.text.len());
        let stream =
            yaml::parse_stream_with(file.text.get(start..end)?, &ExpansionBudget::default());
        let root = stream.documents.into_iter().next()?.root?;
        let mut spans = Spans::new(self.node_in(&root)?);
        spans.shift_lines(first - 1);
        (spans.span() == self.origin.span).then_some(spans)
    }
}

/// Where an object is in its file: enough to read its document again when a finding on it must
/// be placed. Objects keep this rather than the spans of all their fields, which cost several
/// times the file's size and are needed only for the few objects with findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The object's span (its document's root, or its `kind: List` item).
    span: Span,
    /// The first and last line of its document, when the document starts at the beginning of
    /// a line (then those lines, parsed alone, hold the same document).
    lines: Option<(u32, u32)>,
}

/// The spans of the fields of `objects`, all from `file`, in their order. Each object's document
/// is read again alone; when that does not give the same object back (a `%TAG` directive before
/// it, documents sharing a line in a JSON stream) the whole file is read again, once, as the
/// first time.
pub fn reread_spans(file: &SourceFile, objects: &[&Object]) -> Vec<Spans> {
    let mut out: Vec<Option<Spans>> = objects.iter().map(|o| o.reread_alone(file)).collect();
    if out.iter().any(Option::is_none) {
        // A file's own parse never takes more than a whole run's budget.
        let stream = yaml::parse_stream_with(&file.text, &ExpansionBudget::default());
        for (spans, object) in out.iter_mut().zip(objects) {
            if spans.is_none() {
                *spans = stream
                    .documents
                    .iter()
                    .find(|d| d.index == object.document)
                    .and_then(|d| d.root.as_ref())
                    .and_then(|root| object.node_in(root))
                    .map(Spans::new);
            }
        }
    }
    out.into_iter()
        .zip(objects)
        .map(|(spans, object)| spans.unwrap_or_else(|| Spans::only(object.origin.span)))
        .collect()
}

/// Where each `# Source: path` comment is (Helm writes one before each rendered template).
fn helm_sources(file: &SourceFile) -> Vec<(usize, String)> {
    if !file.text.contains("# Source: ") {
        return Vec::new();
    }
    (1..=file.line_count())
        .filter_map(|n| {
            let line = file.line(n)?;
            let rest = line.trim_start().strip_prefix("# Source: ")?;
            Some((n, display_name(rest.trim()).into_owned()))
        })
        .collect()
}

/// What reading one file's documents produced.
#[derive(Debug, Default)]
pub struct FileObjects {
    /// The objects, in document order.
    pub objects: Vec<Object>,
    /// Documents that are not Kubernetes objects, objects with fields of the wrong type.
    pub problems: Vec<Problem>,
    /// Remarks for verbose mode.
    pub notices: Vec<Notice>,
}

/// Turns the documents of one file into objects.
pub fn file_objects(file_index: usize, file: &SourceFile, documents: Vec<Document>) -> FileObjects {
    let sources = helm_sources(file);
    let lines = Lines::new(&file.text);
    let mut out = FileObjects::default();
    let mut previous_end = 0;
    for doc in documents {
        let Some(root) = doc.root else { continue };
        let start = root.span.start.line;
        let template = sources
            .iter()
            .rev()
            .find(|(line, _)| *line > previous_end && *line < start)
            .map(|(_, s)| s.clone());
        previous_end = root.span.end.line.max(doc.end.line.saturating_sub(1));
        let narrow = |n: usize| u32::try_from(n).ok();
        let ctx = Ctx {
            file_index,
            file,
            lines: &lines,
            document: doc.index,
            document_lines: (doc.start.col == 0)
                .then(|| Some((narrow(doc.start.line)?, narrow(doc.end.line)?)))
                .flatten(),
            template,
        };
        ctx.document(root, &mut out);
    }
    out
}

struct Ctx<'a> {
    file_index: usize,
    file: &'a SourceFile,
    lines: &'a Lines,
    document: usize,
    /// The first and last line of the document, when it starts at the beginning of a line.
    document_lines: Option<(u32, u32)>,
    template: Option<String>,
}

impl Ctx<'_> {
    fn problem(&self, at: Pos, message: String) -> Box<Problem> {
        Box::new(Problem {
            kind: ProblemKind::Object,
            file: Some(self.file.name.clone()),
            line: Some(at.line),
            column: Some(at.col + 1),
            document: Some(self.document),
            rule: None,
            message: format!("document {}: {message}", self.document),
        })
    }

    /// A document (or `kind: List` item) without `apiVersion` or `kind`: what is missing, and
    /// the key that looks like a misspelling of it (`Kind:`, `apiversion:`, `api_version:`).
    fn not_an_object(&self, root: &Node, prefix: &str) -> Box<Problem> {
        let mut at = None;
        let mut missing = Vec::new();
        for field in ["apiVersion", "kind"] {
            match root.get(field) {
                Some(value) if !value.is_null() => {}
                Some(value) => {
                    at = at.or(Some(value.span.start));
                    missing.push(format!("`{prefix}{field}` has no value"));
                }
                None => match misspelling(root, field) {
                    Some(entry) => {
                        at = at.or(Some(entry.key.span.start));
                        missing.push(format!(
                            "`{prefix}{field}` is missing (there is `{}`: field names are case-sensitive)",
                            display_name(&entry.key_str())
                        ));
                    }
                    None => missing.push(format!("`{prefix}{field}` is missing")),
                },
            }
        }
        let mut message = format!("not a Kubernetes object: {}", missing.join(", "));
        if at.is_none() && prefix.is_empty() {
            message.push_str(NOT_A_MANIFEST_HINT);
        }
        self.problem(at.unwrap_or(root.span.start), message)
    }

    fn document(&self, root: Node, out: &mut FileObjects) {
        if !matches!(root.kind, NodeKind::Map(_)) {
            out.problems.push(*self.problem(
                root.span.start,
                format!(
                    "not a Kubernetes object: {}, not a mapping with `apiVersion` and `kind`{NOT_A_MANIFEST_HINT}",
                    root.type_name()
                ),
            ));
            return;
        }
        let has = |key: &str| root.get(key).is_some_and(|n| !n.is_null());
        if !(has("apiVersion") && has("kind")) {
            out.problems.push(*self.not_an_object(&root, ""));
            return;
        }
        let is_list = root
            .get("kind")
            .and_then(Node::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && (root.get("kind").and_then(Node::as_str) == Some("List")
                || root
                    .get("items")
                    .is_some_and(|i| matches!(i.kind, NodeKind::Seq(_))));
        if !is_list {
            self.object(root, None, "", out);
            return;
        }
        let Some(items) = root.get("items").filter(|i| !i.is_null()) else {
            return;
        };
        if !matches!(items.kind, NodeKind::Seq(_)) {
            out.problems.push(*self.problem(
                items.span.start,
                format!("`items` must be a list, not {}", items.type_name()),
            ));
            return;
        }
        let NodeKind::Map(entries) = root.kind else {
            return;
        };
        let Some(NodeKind::Seq(items)) = entries
            .into_iter()
            .find(|e| e.key_str() == "items")
            .map(|e| e.value.kind)
        else {
            return;
        };
        for (i, item) in items.into_iter().enumerate() {
            let prefix = format!("items[{i}].");
            if !matches!(item.kind, NodeKind::Map(_)) {
                out.problems.push(*self.problem(
                    item.span.start,
                    format!("`items[{i}]` must be an object, not {}", item.type_name()),
                ));
                continue;
            }
            self.object(item, Some(i), &prefix, out);
        }
    }

    /// A string field: `Ok(None)` when absent or null, an error when of another type.
    fn string_field<'n>(
        &self,
        node: &'n Node,
        key: &str,
        path: &str,
    ) -> Result<Option<&'n str>, Box<Problem>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                self.problem(
                    v.span.start,
                    format!("`{path}` must be a string, not {}", v.type_name()),
                )
            }),
        }
    }

    fn object(&self, root: Node, item: Option<usize>, prefix: &str, out: &mut FileObjects) {
        match self.read_object(root, item, prefix) {
            Ok(Some(object)) => out.objects.push(object),
            Ok(None) => {}
            Err(problem) => out.problems.push(*problem),
        }
    }

    fn read_object(
        &self,
        root: Node,
        item: Option<usize>,
        prefix: &str,
    ) -> Result<Option<Object>, Box<Problem>> {
        let api_version = self.string_field(&root, "apiVersion", &format!("{prefix}apiVersion"))?;
        let kind = self.string_field(&root, "kind", &format!("{prefix}kind"))?;
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return Err(self.not_an_object(&root, prefix));
        };
        if api_version.is_empty() || kind.is_empty() {
            let field = if api_version.is_empty() {
                "apiVersion"
            } else {
                "kind"
            };
            return Err(self.problem(root.span.start, format!("`{prefix}{field}` is empty")));
        }
        // Checked here to name the field in the file; the file set reads them from the JSON.
        if let Some(meta) = root.get("metadata").filter(|m| !m.is_null()) {
            if !matches!(meta.kind, NodeKind::Map(_)) {
                return Err(self.problem(
                    meta.span.start,
                    format!(
                        "`{prefix}metadata` must be a mapping, not {}",
                        meta.type_name()
                    ),
                ));
            }
            self.string_field(meta, "name", &format!("{prefix}metadata.name"))?;
            self.string_field(meta, "namespace", &format!("{prefix}metadata.namespace"))?;
        }
        let mut json = String::with_capacity(256);
        write_json(&mut json, &root);
        let secret_values = if KindRef::from_type(api_version, kind).is_secret() {
            secret_value_spans(&root)
        } else {
            Vec::new()
        };
        Ok(Some(Object {
            file: self.file_index,
            document: self.document,
            item,
            json: Arc::from(json),
            origin: Origin {
                span: root.span,
                lines: self.document_lines,
            },
            secrets: document_secrets(&self.file.text, self.lines, [&root]),
            secret_values,
            template: self.template.clone(),
        }))
    }
}

/// Said when a whole document is not a Kubernetes object.
const NOT_A_MANIFEST_HINT: &str =
    " (only Kubernetes manifests are linted: leave other YAML out, e.g. with a `.ignore` file)";

/// A key of `root` that spells `field` with other cases or with `_`/`-` (`Kind`, `apiversion`,
/// `api_version`).
fn misspelling<'n>(root: &'n Node, field: &str) -> Option<&'n Entry> {
    fn fold(s: &str) -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect()
    }
    let want = fold(field);
    match &root.kind {
        NodeKind::Map(entries) => entries.iter().find(|e| {
            let key = e.key_str();
            key != field && fold(&key) == want
        }),
        _ => None,
    }
}

/// The spans of a Secret's values (`data`, `stringData`, and kubectl's last-applied annotation,
/// which holds the whole object), which are never shown.
pub fn secret_value_spans(root: &Node) -> Vec<Span> {
    let mut spans = Vec::new();
    for field in ["data", "stringData"] {
        match root.get(field).map(|n| &n.kind) {
            Some(NodeKind::Map(entries)) => spans.extend(entries.iter().map(|e| e.value.span)),
            Some(_) => spans.extend(root.get(field).map(|n| n.span)),
            None => {}
        }
    }
    if let Some(v) = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
    {
        spans.push(v.span);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;

    fn objects(text: &str) -> FileObjects {
        let file = SourceFile::new("f.yaml", text);
        let stream = parse_stream(&file.text);
        assert_eq!(stream.error, None);
        file_objects(0, &file, stream.documents)
    }

    /// Reading an object's document again gives the spans the first parse had, whether the
    /// document is read alone or the whole file again.
    #[test]
    fn reread_spans_are_the_first_parse_spans() {
        let cm = |name: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
        };
        let texts = [
            // Several documents, comments, an end marker, an anchor and its alias.
            format!("# head\n{}---\n# c\n{}...\n---\n{}", cm("a"), cm("b"), cm("c").replace("k: v", "k: &x v\n  j: *x")),
            // A document on the line of its `---`, then one in flow style over two lines.
            format!("--- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: a}}}}\n--- {{apiVersion: v1,\n  kind: ConfigMap, metadata: {{name: b}}}}\n{}", "--- \n".to_owned() + &cm("c")),
            // A `%YAML` directive before the second document.
            format!("{}...\n%YAML 1.2\n---\n{}", cm("a"), cm("b")),
            // A JSON stream on one line (documents share it), and one object per line.
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"k":"v"}}"#.to_owned(),
            "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\n \"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}\n".to_owned(),
            // A `kind: List`, CRLF line ends.
            "apiVersion: v1\r\nkind: List\r\nitems:\r\n- apiVersion: v1\r\n  kind: Service\r\n  metadata: {name: s}\r\n- apiVersion: apps/v1\r\n  kind: Deployment\r\n  metadata: {name: d}\r\n".to_owned(),
            // A quoted scalar the loader repairs (closing quote at the key's indentation).
            format!("{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    init: '[\n        {{\"name\": \"install\"}}\n    ]'\n    other: x\n", cm("a")),
        ];
        let mut alone = Vec::new();
        for text in &texts {
            let file = SourceFile::new("f.yaml", text.as_str());
            let first = parse_stream(&file.text);
            assert_eq!(first.error, None, "{text}");
            let roots: Vec<(usize, Node)> = first
                .documents
                .iter()
                .filter_map(|d| Some((d.index, d.root.clone()?)))
                .collect();
            let out = file_objects(0, &file, first.documents);
            assert!(out.objects.len() >= 2, "{text}: {:?}", out.problems);
            let objects: Vec<&Object> = out.objects.iter().collect();
            let reread = reread_spans(&file, &objects);
            alone.push(
                objects
                    .iter()
                    .map(|o| o.reread_alone(&file).is_some())
                    .collect::<Vec<_>>(),
            );
            for (object, spans) in objects.iter().zip(&reread) {
                let root = &roots
                    .iter()
                    .find(|(i, _)| *i == object.document)
                    .expect("doc")
                    .1;
                let node = object.node_in(root).expect("node");
                assert_eq!(
                    spans,
                    &Spans::new(node),
                    "{text}: document {}",
                    object.document
                );
            }
        }
        // Documents are read alone where they can be; the JSON stream on one line is read whole.
        assert_eq!(alone[0], [true, true, true]);
        assert_eq!(alone[3], [true, false]);
        assert!(alone[5].iter().all(|a| *a), "{alone:?}");
    }

    #[test]
    fn lists_yield_their_items() {
        let out = objects(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n",
        );
        let got: Vec<_> = out
            .objects
            .iter()
            .map(|o| {
                let v: serde_json::Value = serde_json::from_str(&o.json).unwrap();
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (
                    v["kind"].as_str().unwrap_or_default().to_owned(),
                    name,
                    o.item,
                    o.start().line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Service".to_owned(), "s".to_owned(), Some(0), 4),
                ("Deployment".to_owned(), "d".to_owned(), Some(1), 7)
            ]
        );
        let out = objects(
            "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n",
        );
        assert_eq!(out.objects.len(), 1);
    }

    #[test]
    fn documents_that_are_not_objects_and_bad_fields_are_problems() {
        let out = objects(
            "name: chart\nversion: 1\n---\n- a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x]\n---\napiVersion: v1\nkind: 3\n---\n# empty\n---\napiVersion: apps/v1\nKind: StatefulSet\n---\napiversion: v1\nkind:\n---\napiVersion: v1\nkind: List\nitems:\n- api_version: v1\n  kind: Service\n",
        );
        assert!(out.objects.is_empty());
        assert!(out.notices.is_empty());
        let messages: Vec<_> = out
            .problems
            .iter()
            .map(|p| (p.line, p.document, p.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    Some(1),
                    Some(1),
                    "document 1: not a Kubernetes object: `apiVersion` is missing, `kind` is missing (only Kubernetes manifests are linted: leave other YAML out, e.g. with a `.ignore` file)"
                ),
                (
                    Some(4),
                    Some(2),
                    "document 2: not a Kubernetes object: a list, not a mapping with `apiVersion` and `kind` (only Kubernetes manifests are linted: leave other YAML out, e.g. with a `.ignore` file)"
                ),
                (
                    Some(9),
                    Some(3),
                    "document 3: `metadata.name` must be a string, not a list"
                ),
                (
                    Some(12),
                    Some(4),
                    "document 4: `kind` must be a string, not an integer"
                ),
                (
                    Some(17),
                    Some(6),
                    "document 6: not a Kubernetes object: `kind` is missing (there is `Kind`: field names are case-sensitive)"
                ),
                (
                    Some(19),
                    Some(7),
                    "document 7: not a Kubernetes object: `apiVersion` is missing (there is `apiversion`: field names are case-sensitive), `kind` has no value"
                ),
                (
                    Some(25),
                    Some(8),
                    "document 8: not a Kubernetes object: `items[0].apiVersion` is missing (there is `api_version`: field names are case-sensitive)"
                ),
            ]
        );
    }

    #[test]
    fn null_values_are_left_out_of_the_object_json() {
        let out = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n  annotations: {x: ~, team: z}\ndata:\n  POSTGRES_PASSWORD:\n  USER: u\nbinaryData:\n",
        );
        assert_eq!(
            &*out.objects[0].json,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","annotations":{"team":"z"}},"data":{"USER":"u"}}"#
        );
    }

    #[test]
    fn helm_template_names_are_escaped() {
        // YAML refuses raw control characters; bidi overrides are printable and allowed.
        let out = objects(
            "# Source: chart/templates/\u{202e}lmth.yaml\u{2066}\napiVersion: v1\nkind: Service\n",
        );
        assert_eq!(
            out.objects[0].template.as_deref(),
            Some("chart/templates/\\u{202e}lmth.yaml\\u{2066}")
        );
    }

    #[test]
    fn helm_source_comments_name_the_template() {
        let out = objects(
            "---\n# Source: chart/templates/a.yaml\napiVersion: v1\nkind: Service\n---\n# Source: chart/templates/b.yaml\napiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Secret\n",
        );
        let got: Vec<_> = out.objects.iter().map(|o| o.template.as_deref()).collect();
        assert_eq!(
            got,
            vec![
                Some("chart/templates/a.yaml"),
                Some("chart/templates/b.yaml"),
                None
            ]
        );
    }

    #[test]
    fn secret_values_are_found() {
        let out = objects(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: cGFzcw==\nstringData:\n  token: abc\n",
        );
        let spans = &out.objects[0].secret_values;
        assert_eq!(
            spans
                .iter()
                .map(|s| (s.start.line, s.start.col))
                .collect::<Vec<_>>(),
            vec![(5, 12), (7, 9)]
        );
    }
}
