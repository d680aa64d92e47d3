//! The export glue between a [`Rule`] and the `ws3:policy` world. Used by [`export_rule!`] only;
//! rule crates never see the raw ABI.

#![allow(unsafe_code)] // wit-bindgen's generated canonical-ABI glue is the one unsafe place in ws3

use crate::{
    Cluster, Error, Finding, KindRef, ObjectRef, Operation, Operations, Request, Rule, Severity,
};

/// Bindings generated from the WIT package this SDK implements.
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "../wit/since_v0.2.0",
        pub_export_macro: true,
        export_macro_name: "__ws3_export_policy",
        default_bindings_module: "ws3_policy_sdk::guest::bindings",
        runtime_path: "ws3_policy_sdk::guest::wit_bindgen_rt",
    });
}

pub use wit_bindgen::rt as wit_bindgen_rt;

use bindings::ws3::policy::{cluster, types};

/// The list the generated `validate` returns.
pub type Findings = Vec<types::Finding>;

fn severity(s: Severity) -> types::Severity {
    match s {
        Severity::Info => types::Severity::Info,
        Severity::Warning => types::Severity::Warning,
        Severity::Error => types::Severity::Error,
    }
}

fn kind_ref(k: &KindRef) -> types::KindRef {
    types::KindRef {
        group: k.group.to_owned(),
        kind: k.kind.to_owned(),
    }
}

fn operations(o: Operations) -> types::Operations {
    let mut out = types::Operations::empty();
    if o.create {
        out |= types::Operations::CREATE;
    }
    if o.update {
        out |= types::Operations::UPDATE;
    }
    if o.delete {
        out |= types::Operations::DELETE;
    }
    out
}

/// The metadata of rule `R` in WIT form.
pub fn metadata<R: Rule>() -> types::RuleMetadata {
    let m = R::META;
    types::RuleMetadata {
        id: m.id.to_owned(),
        title: m.title.to_owned(),
        severity: severity(m.severity),
        applies_to: m
            .applies_to
            .iter()
            .map(|s| types::Scope {
                kind: kind_ref(&s.kind),
                operations: operations(s.operations),
            })
            .collect(),
        workloads: operations(m.workloads),
        reads: m.reads.iter().map(kind_ref).collect(),
        exempt_namespaces: m
            .exempt_namespaces
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
        rationale: m.rationale.to_owned(),
        docs: m.docs.to_owned(),
    }
}

struct HostCluster;

impl Cluster for HostCluster {
    fn get_json(
        &self,
        kind: KindRef,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, Error> {
        cluster::get_object(&kind_ref(&kind), namespace, name).map_err(Error::new)
    }

    fn list_json(&self, kind: KindRef, namespace: &str) -> Result<Vec<String>, Error> {
        cluster::list_objects(&kind_ref(&kind), namespace).map_err(Error::new)
    }
}

fn finding(f: Finding) -> types::Finding {
    types::Finding {
        rule_id: f.rule_id,
        severity: severity(f.severity),
        message: f.message,
        path: f.path,
        hint: f.hint,
        subject: f.subject.map(|s: ObjectRef| types::ObjectRef {
            api_version: s.api_version,
            kind: s.kind,
            namespace: s.namespace,
            name: s.name,
        }),
        redact: f.redact,
    }
}

/// Runs rule `R` on a WIT request.
pub fn validate<R: Rule>(request: types::Request) -> Result<Findings, String> {
    let request = Request {
        operation: match request.operation {
            types::Operation::Create => Operation::Create,
            types::Operation::Update => Operation::Update,
            types::Operation::Delete => Operation::Delete,
            types::Operation::Lint => Operation::Lint,
        },
        group: request.kind.group,
        kind: request.kind.kind,
        name: request.name,
        object: request.object,
        old_object: request.old_object,
        namespace: request.namespace,
        settings: request.settings,
        pod_template: request.pod_template,
        context: request.context,
    };
    R::validate(&request, &HostCluster)
        .map(|findings| findings.into_iter().map(finding).collect())
        .map_err(|e| e.to_string())
}
