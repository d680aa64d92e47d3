//! Native test helpers: run a rule against objects in memory, no wasm involved.
//!
//! ```ignore
//! let cluster = FakeCluster::new([json!({"apiVersion": "v1", "kind": "Service", ...})]);
//! let findings = run::<MyRule>(Operation::Lint, json!({...}), None, &cluster);
//! ```

use crate::{Cluster, Error, Finding, KindRef, Operation, Request, Rule};

/// An in-memory object set that answers [`Cluster`] calls, refusing kinds the rule does not
/// declare, as hosts do.
#[derive(Debug, Default, Clone)]
pub struct FakeCluster {
    objects: Vec<serde_json::Value>,
    allowed: Option<Vec<KindRef>>,
}

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// The API group of an `apiVersion` (`apps/v1` is `apps`, `v1` is core).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl FakeCluster {
    /// A cluster holding these objects.
    pub fn new(objects: impl IntoIterator<Item = serde_json::Value>) -> Self {
        Self {
            objects: objects.into_iter().collect(),
            allowed: None,
        }
    }

    fn check(&self, kind: KindRef) -> Result<(), Error> {
        match &self.allowed {
            Some(allowed) if !allowed.contains(&kind) => Err(Error::new(format!(
                "kind {} is not declared in the rule's reads",
                kind.kind
            ))),
            _ => Ok(()),
        }
    }

    fn matching(&self, kind: KindRef, namespace: &str) -> impl Iterator<Item = &serde_json::Value> {
        self.objects.iter().filter(move |o| {
            str_at(o, &["kind"]) == kind.kind
                && group_of(str_at(o, &["apiVersion"])) == kind.group
                && (kind.kind == "Namespace" || str_at(o, &["metadata", "namespace"]) == namespace)
        })
    }
}

impl Cluster for FakeCluster {
    fn get_json(
        &self,
        kind: KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, Error> {
        self.check(kind)?;
        Ok(self
            .matching(kind, namespace)
            .find(|o| str_at(o, &["metadata", "name"]) == name)
            .map(ToString::to_string))
    }

    fn list_json(&self, kind: KindRef, namespace: &str) -> Result<Vec<String>, Error> {
        self.check(kind)?;
        Ok(self
            .matching(kind, namespace)
            .map(ToString::to_string)
            .collect())
    }
}

/// Runs rule `R` on an object (and old object) with the given cluster, as a host would:
/// the cluster refuses kinds outside `R::META.reads`, and the namespace comes from the object
/// (`default` when it has none; its own name for a Namespace).
pub fn run<R: Rule>(
    operation: Operation,
    object: Option<serde_json::Value>,
    old_object: Option<serde_json::Value>,
    cluster: &FakeCluster,
) -> Result<Vec<Finding>, Error> {
    let reviewed = object.as_ref().or(old_object.as_ref());
    let namespace = reviewed.map_or("default", |o| {
        if str_at(o, &["kind"]) == "Namespace" {
            str_at(o, &["metadata", "name"])
        } else {
            match str_at(o, &["metadata", "namespace"]) {
                "" => "default",
                ns => ns,
            }
        }
    });
    let request = Request::new(
        operation,
        object.as_ref().map(ToString::to_string),
        old_object.as_ref().map(ToString::to_string),
        namespace,
    );
    let mut cluster = cluster.clone();
    cluster.allowed = Some(R::META.reads.to_vec());
    R::validate(&request, &cluster)
}

/// Lints one object among `others` (the file set), as `ws3-lint` does.
pub fn lint<R: Rule>(object: serde_json::Value, others: &[serde_json::Value]) -> Vec<Finding> {
    let cluster = FakeCluster::new(others.iter().cloned());
    match run::<R>(Operation::Lint, Some(object), None, &cluster) {
        Ok(findings) => findings,
        Err(e) => panic!("rule {} returned an error: {e}", R::META.id),
    }
}

/// Lints a whole file set as `ws3-lint` does: objects without a namespace are in `default`
/// (Namespaces excepted), every object of a kind `R` applies to is reviewed in order, and
/// findings about another object (with a `subject`) are kept once per (rule id, subject), the
/// first in file order.
pub fn lint_set<R: Rule>(objects: &[serde_json::Value]) -> Vec<Finding> {
    let objects: Vec<serde_json::Value> = objects
        .iter()
        .cloned()
        .map(|mut o| {
            if o["kind"] != "Namespace" && o["metadata"]["namespace"].is_null() {
                o["metadata"]["namespace"] = serde_json::json!("default");
            }
            o
        })
        .collect();
    let mut out: Vec<Finding> = Vec::new();
    for object in &objects {
        let applies = R::META.applies_to.iter().any(|k| {
            str_at(object, &["kind"]) == k.kind
                && group_of(str_at(object, &["apiVersion"])) == k.group
        });
        if !applies {
            continue;
        }
        for finding in lint::<R>(object.clone(), &objects) {
            let seen = finding.subject.is_some()
                && out
                    .iter()
                    .any(|f| f.rule_id == finding.rule_id && f.subject == finding.subject);
            if !seen {
                out.push(finding);
            }
        }
    }
    out
}
