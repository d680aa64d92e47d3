//! The Kubernetes objects of the linted files, and the [`ObjectSource`] rules read them through.
//!
//! Every object gets its effective namespace: its own, else the default namespace (`--namespace`,
//! `defaultNamespace` in `.ws3.yaml`, else `default`); cluster-scoped kinds have none. The JSON a
//! rule receives carries that namespace in `metadata.namespace`, so that what a rule reads and
//! what the index answers agree.

use std::{collections::HashMap, sync::Arc};

use ws3_engine::{KindRef, ObjectRef, ObjectSource};

use crate::{
    error::{Notice, Problem, ProblemKind},
    input::SourceFile,
    yaml::{Document, Node, NodeKind, Pos, Span, write_json, write_json_str},
};

/// Built-in cluster-scoped kinds, by (API group, kind).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("scheduling.k8s.io", "PriorityClass"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// Whether objects of this kind live outside namespaces.
pub fn is_cluster_scoped(kind: &KindRef) -> bool {
    CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| kind.group == *g && kind.kind == *k)
}

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
    /// Its namespace: its own or the default; empty for cluster-scoped kinds.
    pub namespace: String,
    /// The namespace of requests about it: [`Self::namespace`], or a Namespace's own name.
    pub request_namespace: String,
    /// `metadata.name` (empty when it has none, e.g. with `generateName`).
    pub name: String,
    /// The object as JSON, with the effective namespace filled in.
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
pub fn file_objects(
    file_index: usize,
    file: &SourceFile,
    documents: Vec<Document>,
    default_namespace: &str,
) -> FileObjects {
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
            default_namespace,
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
    default_namespace: &'a str,
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
        let kind_ref = KindRef::from_type(api_version, kind);
        let name = name.unwrap_or_default().to_owned();
        let cluster_scoped = is_cluster_scoped(&kind_ref);
        let own_namespace = namespace.filter(|n| !n.is_empty());
        let effective = match (cluster_scoped, own_namespace) {
            (true, _) => String::new(),
            (false, Some(ns)) => ns.to_owned(),
            (false, None) => self.default_namespace.to_owned(),
        };
        let inject = (!cluster_scoped && own_namespace.is_none()).then_some(effective.as_str());
        let json = object_json(&root, inject);
        let request_namespace = if kind_ref.group.is_empty() && kind_ref.kind == "Namespace" {
            name.clone()
        } else {
            effective.clone()
        };
        Ok(Some(Object {
            file: self.file_index,
            document: self.document,
            item,
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            kind_ref,
            namespace: effective,
            request_namespace,
            name,
            json: Arc::from(json),
            root,
            template: self.template.clone(),
        }))
    }
}

/// The object's JSON; with `inject`, `metadata.namespace` is set to it.
fn object_json(root: &Node, inject: Option<&str>) -> String {
    let mut out = String::with_capacity(256);
    let (Some(ns), NodeKind::Map(entries)) = (inject, &root.kind) else {
        write_json(&mut out, root);
        return out;
    };
    let write_ns = |out: &mut String| {
        out.push_str("\"namespace\":");
        write_json_str(out, ns);
    };
    out.push('{');
    let mut has_metadata = false;
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key = entry.key_str();
        write_json_str(&mut out, &key);
        out.push(':');
        match (&*key, &entry.value.kind) {
            ("metadata", NodeKind::Map(meta)) => {
                has_metadata = true;
                out.push('{');
                let mut first = true;
                for m in meta.iter().filter(|m| m.key_str() != "namespace") {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_str(&mut out, &m.key_str());
                    out.push(':');
                    write_json(&mut out, &m.value);
                }
                if !first {
                    out.push(',');
                }
                write_ns(&mut out);
                out.push('}');
            }
            ("metadata", _) => {
                has_metadata = true;
                out.push('{');
                write_ns(&mut out);
                out.push('}');
            }
            _ => write_json(&mut out, &entry.value),
        }
    }
    if !has_metadata {
        if !entries.is_empty() {
            out.push(',');
        }
        out.push_str("\"metadata\":{");
        write_ns(&mut out);
        out.push('}');
    }
    out.push('}');
    out
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

/// The objects of all files, indexed for rules.
#[derive(Debug, Default)]
pub struct Index {
    kinds: HashMap<KindRef, HashMap<String, Namespace>>,
}

#[derive(Debug, Default)]
struct Namespace {
    by_name: HashMap<String, usize>,
    objects: Vec<Arc<str>>,
}

impl Index {
    /// Indexes objects by kind, namespace and name. When the same object appears twice, the later
    /// one wins, as it would with `kubectl apply`.
    pub fn new(objects: &[Object]) -> Self {
        let mut kinds: HashMap<KindRef, HashMap<String, Namespace>> = HashMap::new();
        for object in objects {
            let ns = kinds
                .entry(object.kind_ref.clone())
                .or_default()
                .entry(object.namespace.clone())
                .or_default();
            match ns.by_name.get(&object.name) {
                Some(&i) if !object.name.is_empty() => ns.objects[i] = Arc::clone(&object.json),
                _ => {
                    ns.by_name.insert(object.name.clone(), ns.objects.len());
                    ns.objects.push(Arc::clone(&object.json));
                }
            }
        }
        Self { kinds }
    }

    fn namespace(&self, kind: &KindRef, namespace: &str) -> Option<&Namespace> {
        self.kinds.get(kind)?.get(namespace)
    }
}

impl ObjectSource for Index {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        let ns = self.namespace(kind, namespace)?;
        ns.by_name.get(name).map(|&i| Arc::clone(&ns.objects[i]))
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.namespace(kind, namespace)
            .map(|ns| ns.objects.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;

    fn objects(text: &str) -> FileObjects {
        let file = SourceFile::new("f.yaml", text);
        let stream = parse_stream(&file.text);
        assert_eq!(stream.error, None);
        file_objects(0, &file, stream.documents, "dflt")
    }

    #[test]
    fn injects_the_effective_namespace() {
        let out = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: own\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: ''\n  name: e\n",
        );
        let got: Vec<_> = out
            .objects
            .iter()
            .map(|o| {
                (
                    o.json.to_string(),
                    o.namespace.as_str(),
                    o.request_namespace.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"dflt"}}"#.into(), "dflt", "dflt"),
                (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"dflt"}}"#.into(), "dflt", "dflt"),
                (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"own"}}"#.into(), "own", "own"),
                (r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns1"}}"#.into(), "", "ns1"),
                (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e","namespace":"dflt"}}"#.into(), "dflt", "dflt"),
            ]
        );
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
    fn the_index_answers_with_effective_namespaces() {
        let out = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {v: '2'}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n",
        );
        let index = Index::new(&out.objects);
        let cm = KindRef::new("", "ConfigMap");
        assert!(
            index
                .get(&cm, "dflt", "a")
                .is_some_and(|j| j.contains("labels"))
        );
        assert_eq!(index.list(&cm, "dflt").len(), 1);
        assert!(
            index
                .get(&KindRef::new("", "Namespace"), "", "ns")
                .is_some()
        );
        assert!(index.list(&cm, "other").is_empty());
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
