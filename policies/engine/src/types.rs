//! Host-side types: what rules say about themselves and what they find.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
}

impl Severity {
    /// Lowercase name, as used in output and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is happening to the object under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// Admission CREATE.
    Create,
    /// Admission UPDATE.
    Update,
    /// Admission DELETE.
    Delete,
    /// Offline lint.
    Lint,
}

/// A kind by API group (`""` for core) and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KindRef {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl KindRef {
    /// A kind in a group.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
        }
    }

    /// The kind of an object with this `apiVersion` and `kind`.
    pub fn from_type(api_version: &str, kind: &str) -> Self {
        Self::new(group_of(api_version), kind)
    }

    /// Whether this names core Secrets, whose data never reaches a rule.
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind == "Secret"
    }
}

impl fmt::Display for KindRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}/{}", self.group, self.kind)
        }
    }
}

/// The API group of an `apiVersion`: `apps/v1` is `apps`, `v1` is core (`""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// An object by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// API version.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Admission operations a rule judges for a kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operations {
    /// CREATE.
    pub create: bool,
    /// UPDATE.
    pub update: bool,
    /// DELETE.
    pub delete: bool,
}

impl Operations {
    /// No admission operation: offline linting only.
    pub const NONE: Self = Self {
        create: false,
        update: false,
        delete: false,
    };
    /// Every admission operation (what a `ws3:policy@0.1` module is taken to judge).
    pub const ALL: Self = Self {
        create: true,
        update: true,
        delete: true,
    };

    /// Whether no admission operation is judged.
    pub fn is_empty(self) -> bool {
        self == Self::NONE
    }

    /// Whether `operation` is judged. [`Operation::Lint`] always is.
    pub fn contains(self, operation: Operation) -> bool {
        match operation {
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
            Operation::Lint => true,
        }
    }

    /// Both sets together.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self {
            create: self.create || other.create,
            update: self.update || other.update,
            delete: self.delete || other.delete,
        }
    }

    /// The operations as the Kubernetes API spells them, in API order.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.create, "CREATE"),
            (self.update, "UPDATE"),
            (self.delete, "DELETE"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

impl Serialize for Operations {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

/// A kind a rule reviews and the admission operations it judges for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Scope {
    /// The kind.
    #[serde(flatten)]
    pub kind: KindRef,
    /// Operations judged at admission (linting always runs).
    pub operations: Operations,
}

/// What a rule declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    /// Stable id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Default severity.
    pub severity: Severity,
    /// Kinds it reviews, with the operations judged at admission.
    pub applies_to: Vec<Scope>,
    /// Operations judged on every pod-template holder the host knows; empty: none.
    pub workloads: Operations,
    /// Kinds it may read.
    pub reads: Vec<KindRef>,
    /// Namespaces the rule skips unless configured otherwise.
    pub exempt_namespaces: Vec<String>,
    /// Why it matters.
    pub rationale: String,
    /// Full Markdown documentation.
    pub docs: String,
    /// The `ws3:policy` interface version the module was built against (`0.1`, `0.2`).
    pub interface: String,
}

impl RuleMeta {
    /// The operations judged for objects of a kind listed in `applies-to` (`None` when the
    /// kind is not listed there; pod-template holders are the rule set's business).
    pub fn listed(&self, kind: &KindRef) -> Option<Operations> {
        self.applies_to
            .iter()
            .filter(|s| s.kind == *kind)
            .map(|s| s.operations)
            .reduce(Operations::union)
    }
}

/// One finding, as the host keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Id of the rule that found it (always the loaded rule's own id).
    pub rule_id: String,
    /// Severity after configuration overrides.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// JSON path of the offending field in the reviewed object.
    pub path: String,
    /// How to fix it.
    pub hint: String,
    /// The object the finding is about when it is not the reviewed object.
    pub subject: Option<ObjectRef>,
    /// JSON paths of fields whose values are secret: never shown.
    pub redact: Vec<String>,
    /// Whether a `ws3.dev/ignore` annotation suppresses it.
    pub suppressed: bool,
}

impl Finding {
    /// What makes two findings the same violation: rule, subject and field. Used to keep one
    /// finding per subject in a file set and to tell existing violations from new ones.
    pub fn key(&self) -> (&str, Option<&ObjectRef>, &str) {
        (&self.rule_id, self.subject.as_ref(), &self.path)
    }
}

/// One evaluation request. JSON strings are passed to the rule as they are.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// What is happening.
    pub operation: Operation,
    /// The kind of the object under review.
    pub kind: &'a KindRef,
    /// Its name (empty when it has none yet).
    pub name: &'a str,
    /// The object (absent on delete).
    pub object: Option<&'a str>,
    /// The previous object (update and delete).
    pub old_object: Option<&'a str>,
    /// Effective namespace.
    pub namespace: &'a str,
    /// Rule settings as a JSON object.
    pub settings: &'a str,
    /// Path of the pod template when the kind holds one (`""` for a Pod).
    pub pod_template: Option<&'a str>,
    /// Identifies the set of objects lookups answer from (see the WIT's `request.context`).
    pub context: u64,
}
