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

/// What a rule declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    /// Stable id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Default severity.
    pub severity: Severity,
    /// Kinds it reviews.
    pub applies_to: Vec<KindRef>,
    /// Kinds it may read.
    pub reads: Vec<KindRef>,
    /// Why it matters.
    pub rationale: String,
    /// Full Markdown documentation.
    pub docs: String,
}

impl RuleMeta {
    /// Whether the rule reviews objects of this kind.
    pub fn applies_to(&self, kind: &KindRef) -> bool {
        self.applies_to.iter().any(|k| k == kind)
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
    /// Whether a `ws3.dev/ignore` annotation suppresses it.
    pub suppressed: bool,
}

/// One evaluation request. JSON strings are passed to the rule as they are.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// What is happening.
    pub operation: Operation,
    /// The object (absent on delete).
    pub object: Option<&'a str>,
    /// The previous object (update and delete).
    pub old_object: Option<&'a str>,
    /// Effective namespace.
    pub namespace: &'a str,
    /// Rule settings as a JSON object.
    pub settings: &'a str,
}
