//! The Kubernetes objects of the linted files.
//!
//! This module turns YAML documents into objects: one per document, or one per item of a
//! `kind: List`, each with its JSON, its YAML node (to place findings) and the Helm template it
//! came from. What an object means to the rules (its effective namespace, its controller, the
//! JSON a rule sees, what other rules may look up of it) is decided by the engine's
//! [`ws3_engine::review::lint::FileSet`], which the linter fills from these objects.

use std::sync::Arc;

use ws3_engine::{KindRef, ObjectRef};

use crate::{
    error::{Notice, Problem, ProblemKind},
    input::SourceFile,
    yaml::{Document, Node, NodeKind, Pos, Span, write_json},
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
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Group and kind.
    pub kind_ref: KindRef,
    /// Its namespace: its own or the default; empty for cluster-scoped kinds (filled in from
    /// the engine's file set).
    pub namespace: String,
    /// `metadata.name` (empty when it has none, e.g. with `generateName`).
    pub name: String,
    /// The object as JSON: as written in the file until it joins the file set, then as rules
    /// see it.
    pub json: Arc<str>,
    /// The object's node (spans are positions in its file).
    pub root: Node,
    /// The Helm template it came from (`# Source:` comment), if any.
    pub template: Option<String>,
}

impl Object {
    /// The object as findings name it.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether this is a core Secret, whose values are never shown.
    pub fn is_secret(&self) -> bool {
        self.kind_ref.is_secret()
    }
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
            Some((n, rest.trim().to_owned()))
        })
        .collect()
}

/// What reading one file's documents produced.
#[derive(Debug, Default)]
pub struct FileObjects {
    /// The objects, in document order.
    pub objects: Vec<Object>,
    /// Objects with fields of the wrong type.
    pub problems: Vec<Problem>,
    /// Documents skipped because they are not Kubernetes objects.
    pub notices: Vec<Notice>,
}

/// Turns the documents of one file into objects.
pub fn file_objects(file_index: usize, file: &SourceFile, documents: Vec<Document>) -> FileObjects {
    let sources = helm_sources(file);
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
        let ctx = Ctx {
            file_index,
            file,
            document: doc.index,
            template,
        };
        ctx.document(root, &mut out);
    }
    out
}

struct Ctx<'a> {
    file_index: usize,
    file: &'a SourceFile,
    document: usize,
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

    fn notice(&self, message: &str) -> Notice {
        Notice {
            file: Some(self.file.name.clone()),
            document: Some(self.document),
            message: message.to_owned(),
        }
    }

    fn document(&self, root: Node, out: &mut FileObjects) {
        if !matches!(root.kind, NodeKind::Map(_)) {
            let what = root.type_name();
            out.notices
                .push(self.notice(&format!("skipped: {what}, not a Kubernetes object")));
            return;
        }
        let has = |key: &str| root.get(key).is_some_and(|n| !n.is_null());
        if !(has("apiVersion") && has("kind")) {
            out.notices
                .push(self.notice("skipped: no apiVersion and kind, not a Kubernetes object"));
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
            let missing = if api_version.is_none() {
                "apiVersion"
            } else {
                "kind"
            };
            return Err(self.problem(root.span.start, format!("`{prefix}{missing}` is missing")));
        };
        if api_version.is_empty() || kind.is_empty() {
            let field = if api_version.is_empty() {
                "apiVersion"
            } else {
                "kind"
            };
            return Err(self.problem(root.span.start, format!("`{prefix}{field}` is empty")));
        }
        let (mut name, mut namespace) = (None, None);
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
            name = self.string_field(meta, "name", &format!("{prefix}metadata.name"))?;
            namespace =
                self.string_field(meta, "namespace", &format!("{prefix}metadata.namespace"))?;
        }
        let mut json = String::with_capacity(256);
        write_json(&mut json, &root);
        Ok(Some(Object {
            file: self.file_index,
            document: self.document,
            item,
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            kind_ref: KindRef::from_type(api_version, kind),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.unwrap_or_default().to_owned(),
            json: Arc::from(json),
            root,
            template: self.template.clone(),
        }))
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

    #[test]
    fn lists_yield_their_items() {
        let out = objects(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n",
        );
        let got: Vec<_> = out
            .objects
            .iter()
            .map(|o| {
                (
                    o.kind.as_str(),
                    o.name.as_str(),
                    o.item,
                    o.root.span.start.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Service", "s", Some(0), 4),
                ("Deployment", "d", Some(1), 7)
            ]
        );
        let out = objects(
            "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n",
        );
        assert_eq!(out.objects.len(), 1);
    }

    #[test]
    fn non_objects_are_skipped_with_a_notice_and_bad_fields_are_problems() {
        let out = objects(
            "name: chart\nversion: 1\n---\n- a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x]\n---\napiVersion: v1\nkind: 3\n",
        );
        assert!(out.objects.is_empty());
        assert_eq!(out.notices.len(), 2);
        let messages: Vec<_> = out
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    Some(9),
                    "document 3: `metadata.name` must be a string, not a list"
                ),
                (
                    Some(12),
                    "document 4: `kind` must be a string, not an integer"
                )
            ]
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
        let spans = secret_value_spans(&out.objects[0].root);
        assert_eq!(
            spans
                .iter()
                .map(|s| (s.start.line, s.start.col))
                .collect::<Vec<_>>(),
            vec![(5, 12), (7, 9)]
        );
    }
}
