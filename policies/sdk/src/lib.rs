//! Guest SDK for ws3 rules.
//!
//! A rule is one crate: a type implementing [`Rule`] and one [`export_rule!`] line. The same code
//! compiles to a wasm component (`cargo xtask build-rules`) that ws3-lint and ws3-webhook load
//! (interface `ws3:policy@0.2.0`), and to a native library whose unit tests run it through the
//! engine's own semantics (`ws3_engine::testing`).
//!
//! Rules decode only the fields they read, with the narrow, lenient types of [`shape`] or their
//! own serde structs: serde skips the rest of the object at scanning speed.
//!
//! ```
//! use ws3_policy_sdk::prelude::*;
//!
//! pub struct ReplicasSet;
//!
//! #[derive(serde::Deserialize, Default)]
//! struct Sts { #[serde(default)] spec: Spec }
//! #[derive(serde::Deserialize, Default)]
//! struct Spec { replicas: Option<i32> }
//!
//! impl Rule for ReplicasSet {
//!     const META: Meta = Meta {
//!         id: "statefulset-replicas",
//!         title: "statefulset without explicit replicas",
//!         severity: Severity::Warning,
//!         applies_to: &[Scope::new(
//!             KindRef::new("apps", "StatefulSet"),
//!             Operations::CREATE.with(Operations::UPDATE),
//!         )],
//!         workloads: Operations::NONE,
//!         reads: &[],
//!         exempt_namespaces: &[],
//!         rationale: "an explicit replica count documents the intended size of the set",
//!         docs: "# statefulset-replicas",
//!     };
//!
//!     fn validate(req: &Request, _cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
//!         let Some(sts) = req.object_as::<Sts>()? else { return Ok(vec![]) };
//!         if sts.spec.replicas.is_some() {
//!             return Ok(vec![]);
//!         }
//!         Ok(vec![Self::finding("replicas is not set", Path::root().key("spec"), "set spec.replicas")])
//!     }
//! }
//!
//! ws3_policy_sdk::export_rule!(ReplicasSet);
//! ```

// The generated bindings name this crate by its external path, also from inside it.
extern crate self as ws3_policy_sdk;

// The guest allocator: private to the crate and installed only on (single-threaded) wasm32;
// compiled natively too so that its unit tests run.
#[cfg(any(target_arch = "wasm32", test))]
mod arena;
mod cluster;
pub mod memo;
mod path;
mod request;
pub mod shape;
mod workload;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

pub use cluster::Cluster;
pub use path::Path;
pub use request::{Error, Request};
pub use serde_json;
pub use workload::Template;

/// Everything a rule author needs in scope.
pub mod prelude {
    pub use crate::{
        Cluster, Error, Finding, KindRef, Meta, ObjectRef, Operation, Operations, Path, Request,
        Rule, Scope, Severity,
    };
}

/// The interface version this SDK builds against (the WIT package `ws3:policy`).
pub const INTERFACE_VERSION: &str = "0.2.0";

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Should be fixed.
    Warning,
    /// Must be fixed.
    Error,
}

/// What is happening to the object under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Operation {
    /// Admission: created.
    Create,
    /// Admission: replaced; the old object is available.
    Update,
    /// Admission: deleted; only the old object is available.
    Delete,
    /// Offline lint of a file set.
    #[default]
    Lint,
}

/// A Kubernetes kind, by API group (`""` for core) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindRef {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
}

impl KindRef {
    /// A kind in the given API group.
    pub const fn new(group: &'static str, kind: &'static str) -> Self {
        Self { group, kind }
    }
}

/// Admission operations a rule judges for a kind (linting always runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Operations {
    /// CREATE.
    pub create: bool,
    /// UPDATE.
    pub update: bool,
    /// DELETE.
    pub delete: bool,
}

impl Operations {
    /// None: offline linting only.
    pub const NONE: Self = Self {
        create: false,
        update: false,
        delete: false,
    };
    /// CREATE.
    pub const CREATE: Self = Self {
        create: true,
        ..Self::NONE
    };
    /// UPDATE.
    pub const UPDATE: Self = Self {
        update: true,
        ..Self::NONE
    };
    /// DELETE.
    pub const DELETE: Self = Self {
        delete: true,
        ..Self::NONE
    };

    /// Both sets.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self {
            create: self.create || other.create,
            update: self.update || other.update,
            delete: self.delete || other.delete,
        }
    }
}

/// A kind a rule reviews and the admission operations it judges for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The kind.
    pub kind: KindRef,
    /// Operations judged at admission.
    pub operations: Operations,
}

impl Scope {
    /// A kind and its operations.
    pub const fn new(kind: KindRef, operations: Operations) -> Self {
        Self { kind, operations }
    }
}

/// The object a finding is about, when it is not the object under review.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// API version, e.g. `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The Namespace object of the given name.
    pub fn namespace(name: &str) -> Self {
        Self {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }
}

/// A rule's metadata, declared once as [`Rule::META`].
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Stable id, e.g. `statefulset-emptydir-data`.
    pub id: &'static str,
    /// One line, lowercase, no trailing period.
    pub title: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Kinds the rule reviews, with the operations it judges at admission.
    pub applies_to: &'static [Scope],
    /// Operations judged on every pod-template holder the host knows (Deployment, StatefulSet,
    /// DaemonSet, ReplicaSet, Job, CronJob, DeploymentConfig, ReplicationController, and kinds
    /// the configuration adds); [`Operations::NONE`] for a rule that is not about pod templates.
    /// A bare Pod is not a holder: list it in `applies_to`.
    pub workloads: Operations,
    /// Kinds the rule may read through [`Cluster`].
    pub reads: &'static [KindRef],
    /// Namespaces the rule skips unless the configuration says otherwise.
    pub exempt_namespaces: &'static [&'static str],
    /// One paragraph on why it matters.
    pub rationale: &'static str,
    /// Full Markdown documentation (what, why, bad example, fixed example).
    pub docs: &'static str,
}

/// One problem in the object under review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule id.
    pub rule_id: String,
    /// Severity.
    pub severity: Severity,
    /// What is wrong; lowercase, no trailing period, never a secret value.
    pub message: String,
    /// JSON path of the offending field.
    pub path: String,
    /// How to fix it.
    pub hint: String,
    /// The object the finding is about when it is not the reviewed one.
    pub subject: Option<ObjectRef>,
    /// Paths of fields whose values are secret; hosts never show them.
    pub redact: Vec<String>,
}

impl Finding {
    /// Marks the value at `path` (in the reviewed object) as secret: no host shows it.
    #[must_use]
    pub fn redact(mut self, path: impl Into<String>) -> Self {
        self.redact.push(path.into());
        self
    }

    /// Sets the object the finding is about.
    #[must_use]
    pub fn about(mut self, subject: ObjectRef) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Overrides the severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// A ws3 rule.
pub trait Rule {
    /// The rule's metadata.
    const META: Meta;

    /// Reviews one object. Return findings for problems; return [`Error`] only when the input
    /// cannot be read.
    fn validate(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error>;

    /// A finding of this rule with its default severity.
    fn finding(
        message: impl Into<String>,
        path: impl Into<String>,
        hint: impl Into<String>,
    ) -> Finding {
        Finding {
            rule_id: Self::META.id.to_owned(),
            severity: Self::META.severity,
            message: message.into(),
            path: path.into(),
            hint: hint.into(),
            subject: None,
            redact: Vec::new(),
        }
    }
}

/// Exports a [`Rule`] as the component's `ws3:policy/rule` interface.
///
/// On targets other than `wasm32` it expands to nothing, so the rule crate also builds natively
/// for its unit tests.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // the generated export glue; see ws3_policy_sdk::guest
        const _: () = {
            struct __Ws3Export;
            impl $crate::guest::bindings::exports::ws3::policy::rule::Guest for __Ws3Export {
                fn metadata() -> $crate::guest::bindings::ws3::policy::types::RuleMetadata {
                    $crate::guest::metadata::<$rule>()
                }
                fn validate(
                    request: $crate::guest::bindings::ws3::policy::types::Request,
                ) -> ::core::result::Result<
                    $crate::guest::Findings,
                    ::std::string::String,
                > {
                    $crate::guest::validate::<$rule>(request)
                }
            }
            $crate::guest::bindings::__ws3_export_policy!(__Ws3Export with_types_in $crate::guest::bindings);
        };
    };
}
