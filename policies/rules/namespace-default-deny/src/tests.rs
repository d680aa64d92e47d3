use serde_json::{Value, json};
use ws3_engine::testing::{FakeCluster, lint, run};
use ws3_policy_sdk::{Finding, KindRef, ObjectRef, Operation, Operations, Rule, Scope, Severity};

/// The kinds a workload rule reviews: a bare Pod and the host's built-in pod-template holders.
const WORKLOAD_KINDS: &[KindRef] = &[
    KindRef::new("", "Pod"),
    KindRef::new("apps", "Deployment"),
    KindRef::new("apps", "StatefulSet"),
    KindRef::new("apps", "DaemonSet"),
    KindRef::new("apps", "ReplicaSet"),
    KindRef::new("batch", "Job"),
    KindRef::new("batch", "CronJob"),
    KindRef::new("", "ReplicationController"),
    KindRef::new("apps.openshift.io", "DeploymentConfig"),
];

use super::NamespaceDefaultDeny as R;

#[path = "../../fixtures.rs"]
mod fixtures;

const ID: &str = "namespace-default-deny";

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A minimal workload of the given kind; `ns` `None` leaves `metadata.namespace` out.
fn workload(kind: KindRef, name: &str, ns: Option<&str>) -> Value {
    let api_version = if kind.group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{}/v1", kind.group)
    };
    let mut o = json!({
        "apiVersion": api_version,
        "kind": kind.kind,
        "metadata": {"name": name},
        "spec": {},
    });
    if let Some(ns) = ns {
        o["metadata"]["namespace"] = json!(ns);
    }
    o
}

fn deployment(name: &str, ns: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "app:v1"}]},
            },
        },
    })
}

fn policy(name: &str, ns: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

/// The course's default deny (04): both directions, no rules.
fn default_deny(ns: &str) -> Value {
    policy(
        "default-deny-ingress",
        ns,
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
    )
}

/// The course's narrow allow policy (04).
fn db_allow_backend(ns: &str) -> Value {
    policy(
        "db-allow-backend",
        ns,
        json!({
            "podSelector": {"matchLabels": {"app": "db"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{
                "from": [{"podSelector": {"matchLabels": {"app": "backend"}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }],
            "egress": [],
        }),
    )
}

fn ingress_only(ns: &str) -> Value {
    policy(
        "deny-ingress",
        ns,
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )
}

fn egress_only(ns: &str) -> Value {
    policy(
        "deny-egress",
        ns,
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    )
}

fn controlled_pod(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "backend-7d9f-abcde",
            "namespace": ns,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "backend-7d9f", "uid": "u1", "controller": true,
            }],
        },
        "spec": {"containers": [{"name": "backend", "image": "app:v1"}]},
    })
}

fn admit(
    op: Operation,
    object: Option<Value>,
    old: Option<Value>,
    cluster: &[Value],
) -> Vec<Finding> {
    run::<R>(op, object, old, &FakeCluster::new(cluster.iter().cloned())).expect("rule succeeds")
}

fn lint_set(objects: &[Value]) -> Vec<Finding> {
    ws3_engine::testing::lint_set::<R>(objects)
}

fn subject(f: &Finding) -> &str {
    f.subject
        .as_ref()
        .map(|s| s.name.as_str())
        .unwrap_or_default()
}

#[test]
fn metadata_covers_namespaces_policies_and_every_workload_kind() {
    assert_eq!(R::META.id, ID);
    assert_eq!(R::META.severity, Severity::Error);
    assert_eq!(
        R::META.applies_to,
        &[
            // A new namespace gets a warning; workloads are refused until it is covered.
            Scope::new(KindRef::new("", "Namespace"), Operations::CREATE),
            // Weakening or deleting the default deny is refused.
            Scope::new(
                KindRef::new("networking.k8s.io", "NetworkPolicy"),
                Operations::UPDATE.with(Operations::DELETE)
            ),
            Scope::new(KindRef::new("", "Pod"), Operations::CREATE),
        ]
    );
    assert_eq!(R::META.workloads, Operations::CREATE);
    assert_eq!(
        R::META.exempt_namespaces,
        &["kube-system", "kube-public", "kube-node-lease"]
    );
    assert_eq!(
        R::META.reads,
        &[
            KindRef::new("networking.k8s.io", "NetworkPolicy"),
            KindRef::new("", "Namespace")
        ]
    );
    assert!(R::META.docs.starts_with("# namespace-default-deny\n"));
    assert!(!R::META.title.ends_with('.'));
    assert_eq!(R::META.title, R::META.title.to_lowercase());
}

// ---- lint: Namespace objects -------------------------------------------------------------------

#[test]
fn lint_namespace_without_policies_is_reported_at_its_name() {
    let ns = namespace("shop");
    let findings = lint::<R>(ns.clone(), std::slice::from_ref(&ns));
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.rule_id, ID);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "metadata.name");
    assert_eq!(f.subject, Some(ObjectRef::namespace("shop")));
    assert_eq!(
        f.message,
        "namespace \"shop\" has no default-deny networkpolicy for ingress and egress"
    );
    assert!(
        f.hint
            .contains("networkpolicy \"default-deny\" in namespace \"shop\""),
        "{}",
        f.hint
    );
    assert!(f.hint.contains("podSelector: {}"), "{}", f.hint);
    assert!(
        f.hint.contains("policyTypes: [Ingress, Egress]"),
        "{}",
        f.hint
    );
}

#[test]
fn lint_namespace_with_the_course_default_deny_is_clean() {
    let objects = [
        namespace("kubernetes-ws-3"),
        default_deny("kubernetes-ws-3"),
        db_allow_backend("kubernetes-ws-3"),
    ];
    assert!(lint::<R>(objects[0].clone(), &objects).is_empty());
}

#[test]
fn lint_namespace_with_split_policies_is_clean() {
    let objects = [namespace("shop"), ingress_only("shop"), egress_only("shop")];
    assert!(lint::<R>(objects[0].clone(), &objects).is_empty());
}

#[test]
fn lint_namespace_names_the_missing_direction() {
    let objects = [namespace("shop"), ingress_only("shop")];
    let findings = lint::<R>(objects[0].clone(), &objects);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0].message,
        "namespace \"shop\" has no default-deny networkpolicy for egress"
    );
    assert!(
        findings[0].hint.contains("\"default-deny-egress\""),
        "{}",
        findings[0].hint
    );
    assert!(
        findings[0].hint.contains("policyTypes: [Egress]"),
        "{}",
        findings[0].hint
    );

    let objects = [namespace("shop"), egress_only("shop")];
    let findings = lint::<R>(objects[0].clone(), &objects);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0].message,
        "namespace \"shop\" has no default-deny networkpolicy for ingress"
    );
    assert!(
        findings[0].hint.contains("policyTypes: [Ingress]"),
        "{}",
        findings[0].hint
    );
}

#[test]
fn lint_namespace_near_misses_are_not_coverage() {
    let near_misses = [
        // omitted policyTypes: ingress only
        policy("default-deny", "shop", json!({"podSelector": {}})),
        // a label selector covers some pods only
        policy(
            "deny",
            "shop",
            json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        // `ingress: [{}]` allows all ingress
        policy(
            "deny",
            "shop",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}),
        ),
    ];
    for p in near_misses {
        let objects = [namespace("shop"), p.clone()];
        assert_eq!(lint::<R>(objects[0].clone(), &objects).len(), 1, "{p}");
    }
}

#[test]
fn lint_namespace_ignores_policies_of_other_namespaces() {
    let objects = [namespace("shop"), default_deny("other")];
    let findings = lint::<R>(objects[0].clone(), &objects);
    assert_eq!(findings.len(), 1);
    assert_eq!(subject(&findings[0]), "shop");
}

// ---- lint: workloads ---------------------------------------------------------------------------

#[test]
fn lint_workload_is_silent_when_the_namespace_object_is_in_the_set() {
    let objects = [namespace("shop"), deployment("backend", "shop")];
    assert!(lint::<R>(objects[1].clone(), &objects).is_empty());
}

#[test]
fn lint_workload_without_namespace_object_reports_its_namespace() {
    let objects = [deployment("backend", "shop")];
    let findings = lint::<R>(objects[0].clone(), &objects);
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "metadata.namespace");
    assert_eq!(f.subject, Some(ObjectRef::namespace("shop")));
    assert_eq!(
        f.message,
        "namespace \"shop\" of deployment \"backend\" has no default-deny networkpolicy for ingress and egress"
    );
    assert!(
        f.hint.contains("policyTypes: [Ingress, Egress]"),
        "{}",
        f.hint
    );
}

#[test]
fn lint_workload_without_namespace_is_in_default() {
    let sts = workload(
        KindRef::new("apps", "StatefulSet"),
        "remindmeapi-statefulset",
        None,
    );
    let findings = lint::<R>(sts.clone(), &[sts]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].subject, Some(ObjectRef::namespace("default")));
    assert!(
        findings[0]
            .message
            .starts_with("namespace \"default\" of statefulset \"remindmeapi-statefulset\"")
    );
}

#[test]
fn lint_workload_in_a_covered_namespace_is_clean() {
    let objects = [deployment("backend", "shop"), default_deny("shop")];
    assert!(lint::<R>(objects[0].clone(), &objects).is_empty());
    let split = [
        deployment("backend", "shop"),
        egress_only("shop"),
        ingress_only("shop"),
    ];
    assert!(lint::<R>(split[0].clone(), &split).is_empty());
    let partial = [deployment("backend", "shop"), egress_only("shop")];
    let findings = lint::<R>(partial[0].clone(), &partial);
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0].message.ends_with("for ingress"),
        "{}",
        findings[0].message
    );
}

#[test]
fn lint_every_workload_kind_reports() {
    for kind in WORKLOAD_KINDS {
        let o = workload(*kind, "w", Some("shop"));
        let findings = lint::<R>(o.clone(), &[o]);
        assert_eq!(findings.len(), 1, "{kind:?}");
        let lower = kind.kind.to_lowercase();
        assert!(
            findings[0].message.contains(&format!("of {lower} \"w\"")),
            "{}",
            findings[0].message
        );
    }
}

#[test]
fn lint_controlled_pod_is_skipped_by_the_engine_and_judged_by_the_rule() {
    // The engine skips an object whose controller is a kind ws3 reviews (here the ReplicaSet);
    // the rule itself judges whatever it is given.
    let pod = controlled_pod("shop");
    assert_eq!(lint::<R>(pod.clone(), std::slice::from_ref(&pod)), vec![]);
    let findings = run::<R>(Operation::Lint, Some(pod), None, &FakeCluster::default()).unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0]
            .message
            .starts_with(r#"namespace "shop" of pod "backend-7d9f-abcde" has no"#),
        "{}",
        findings[0].message
    );
}

#[test]
fn unnamed_workloads_are_named_by_generate_name_or_as_unnamed() {
    let mut pod = controlled_pod("shop");
    pod["metadata"] = json!({"namespace": "shop", "generateName": "backend-"});
    let findings = lint::<R>(pod.clone(), &[]);
    assert!(
        findings[0]
            .message
            .starts_with(r#"namespace "shop" of pod with generateName "backend-" has no"#),
        "{}",
        findings[0].message
    );
    pod["metadata"] = json!({"namespace": "shop"});
    let findings = lint::<R>(pod, &[]);
    assert!(
        findings[0]
            .message
            .starts_with(r#"namespace "shop" of an unnamed pod has no"#),
        "{}",
        findings[0].message
    );
}

#[test]
fn lint_network_policy_gives_no_finding() {
    for p in [
        default_deny("shop"),
        db_allow_backend("shop"),
        ingress_only("shop"),
    ] {
        assert!(lint::<R>(p.clone(), std::slice::from_ref(&p)).is_empty());
    }
}

// ---- lint: whole file sets (the course, as the host deduplicates) -------------------------------

fn course_ws3_workloads() -> Vec<Value> {
    vec![
        workload(
            KindRef::new("apps", "StatefulSet"),
            "db",
            Some("kubernetes-ws-3"),
        ),
        deployment("backend", "kubernetes-ws-3"),
    ]
}

#[test]
fn course_workloads_without_policy_give_one_finding_at_the_first_workload() {
    let findings = lint_set(&course_ws3_workloads());
    assert_eq!(findings.len(), 1);
    assert_eq!(subject(&findings[0]), "kubernetes-ws-3");
    assert!(
        findings[0].message.contains("statefulset \"db\""),
        "{}",
        findings[0].message
    );
    assert_eq!(findings[0].path, "metadata.namespace");
}

#[test]
fn course_namespaces_give_one_finding_each_at_the_namespace() {
    let mut set = vec![namespace("kubernetes-ws-3"), namespace("codewizard")];
    set.extend(course_ws3_workloads());
    let findings = lint_set(&set);
    assert_eq!(findings.len(), 2);
    assert_eq!(subject(&findings[0]), "kubernetes-ws-3");
    assert_eq!(findings[0].path, "metadata.name");
    assert_eq!(subject(&findings[1]), "codewizard");
}

#[test]
fn course_with_network_policies_is_clean() {
    let mut set = course_ws3_workloads();
    set.extend([
        default_deny("kubernetes-ws-3"),
        db_allow_backend("kubernetes-ws-3"),
    ]);
    assert!(lint_set(&set).is_empty());
}

#[test]
fn course_remind_me_api_reports_default_once() {
    let set = [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "remind-me-api-ss"}, "spec": {"clusterIP": "None"}}),
        workload(
            KindRef::new("apps", "StatefulSet"),
            "remindmeapi-statefulset",
            None,
        ),
        workload(
            KindRef::new("apps", "Deployment"),
            "remindmeapi-deployment",
            None,
        ),
    ];
    let findings = lint_set(&set);
    assert_eq!(findings.len(), 1);
    assert_eq!(subject(&findings[0]), "default");
    assert!(
        findings[0]
            .message
            .contains("statefulset \"remindmeapi-statefulset\""),
        "{}",
        findings[0].message
    );
}

// ---- admission: workloads ----------------------------------------------------------------------

#[test]
fn creating_a_workload_in_an_uncovered_namespace_is_denied() {
    let findings = admit(
        Operation::Create,
        Some(deployment("backend", "shop")),
        None,
        &[namespace("shop")],
    );
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "metadata.namespace");
    assert_eq!(f.subject, Some(ObjectRef::namespace("shop")));
    assert!(
        f.message.contains("deployment \"backend\""),
        "{}",
        f.message
    );
    assert!(
        f.hint
            .contains("create networkpolicy \"default-deny\" in namespace \"shop\""),
        "{}",
        f.hint
    );
}

#[test]
fn creating_a_workload_in_a_covered_namespace_is_allowed() {
    let cluster = [namespace("shop"), default_deny("shop")];
    assert!(
        admit(
            Operation::Create,
            Some(deployment("backend", "shop")),
            None,
            &cluster
        )
        .is_empty()
    );
}

#[test]
fn creating_a_workload_with_only_ingress_denied_is_denied_for_egress() {
    let cluster = [namespace("shop"), ingress_only("shop")];
    let findings = admit(
        Operation::Create,
        Some(deployment("backend", "shop")),
        None,
        &cluster,
    );
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0].message.ends_with("for egress"),
        "{}",
        findings[0].message
    );
}

#[test]
fn creating_a_controlled_pod_is_judged_by_the_rule() {
    // At admission the engine skips it (its ReplicaSet was judged); the rule does not.
    let findings = admit(
        Operation::Create,
        Some(controlled_pod("shop")),
        None,
        &[namespace("shop")],
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

#[test]
fn updating_or_deleting_a_workload_is_never_blocked() {
    let d = deployment("backend", "shop");
    let cluster = [namespace("shop")];
    assert!(
        admit(
            Operation::Update,
            Some(d.clone()),
            Some(d.clone()),
            &cluster
        )
        .is_empty()
    );
    assert!(admit(Operation::Delete, None, Some(d), &cluster).is_empty());
}

#[test]
fn a_scale_subresource_request_is_not_judged() {
    let scale = json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "db", "namespace": "shop"}, "spec": {"replicas": 3},
    });
    assert!(
        admit(
            Operation::Update,
            Some(scale.clone()),
            Some(scale.clone()),
            &[]
        )
        .is_empty()
    );
    assert!(admit(Operation::Create, Some(scale), None, &[]).is_empty());
}

// ---- admission: namespaces ---------------------------------------------------------------------

#[test]
fn creating_a_namespace_is_a_warning() {
    let findings = admit(Operation::Create, Some(namespace("codewizard")), None, &[]);
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.path, "metadata.name");
    assert_eq!(f.subject, Some(ObjectRef::namespace("codewizard")));
    assert_eq!(
        f.message,
        "new namespace \"codewizard\" has no default-deny networkpolicy for ingress and egress yet"
    );
    assert!(
        f.hint
            .starts_with("right after creating it, create networkpolicy \"default-deny\""),
        "{}",
        f.hint
    );
}

#[test]
fn updating_or_deleting_a_namespace_gives_no_finding() {
    let ns = namespace("codewizard");
    assert!(admit(Operation::Update, Some(ns.clone()), Some(ns.clone()), &[]).is_empty());
    assert!(admit(Operation::Delete, None, Some(ns), &[]).is_empty());
}

// ---- admission: network policies ---------------------------------------------------------------

#[test]
fn creating_a_network_policy_gives_no_finding() {
    assert!(admit(Operation::Create, Some(default_deny("shop")), None, &[]).is_empty());
    assert!(admit(Operation::Create, Some(ingress_only("shop")), None, &[]).is_empty());
}

#[test]
fn deleting_the_covering_policy_is_denied_whether_or_not_the_cache_holds_it() {
    let dd = default_deny("kubernetes-ws-3");
    let allow = db_allow_backend("kubernetes-ws-3");
    for cluster in [vec![dd.clone(), allow.clone()], vec![allow.clone()]] {
        let findings = admit(Operation::Delete, None, Some(dd.clone()), &cluster);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.path, "metadata.name");
        assert_eq!(f.subject, Some(ObjectRef::namespace("kubernetes-ws-3")));
        assert_eq!(
            f.message,
            "deleting networkpolicy \"default-deny-ingress\" removes the default deny of ingress and egress in namespace \"kubernetes-ws-3\""
        );
        assert!(
            f.hint.contains("policyTypes: [Ingress, Egress]"),
            "{}",
            f.hint
        );
        assert!(
            f.hint.contains("keep \"default-deny-ingress\""),
            "{}",
            f.hint
        );
    }
}

#[test]
fn deleting_half_of_a_split_cover_names_what_is_lost() {
    let cluster = [ingress_only("shop"), egress_only("shop")];
    let findings = admit(Operation::Delete, None, Some(egress_only("shop")), &cluster);
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0]
            .message
            .ends_with("removes the default deny of egress in namespace \"shop\"")
    );
    assert!(
        findings[0].hint.contains("policyTypes: [Egress]"),
        "{}",
        findings[0].hint
    );
}

#[test]
fn deleting_a_policy_that_is_not_needed_is_allowed() {
    let dd = default_deny("shop");
    // a narrow allow policy
    let allow = db_allow_backend("shop");
    assert!(
        admit(
            Operation::Delete,
            None,
            Some(allow.clone()),
            &[dd.clone(), allow]
        )
        .is_empty()
    );
    // another policy still covers the namespace
    let mut second = default_deny("shop");
    second["metadata"]["name"] = json!("default-deny");
    assert!(admit(Operation::Delete, None, Some(dd.clone()), &[dd, second]).is_empty());
    // the namespace was not covered before either
    let ingress = ingress_only("shop");
    assert!(
        admit(
            Operation::Delete,
            None,
            Some(ingress.clone()),
            std::slice::from_ref(&ingress)
        )
        .is_empty()
    );
}

#[test]
fn weakening_the_covering_policy_is_denied_at_spec() {
    let old = default_deny("shop");
    let mut new = old.clone();
    new["spec"]["ingress"] = json!([{}]);
    // the cache may hold the old or already the new version
    for cluster in [[old.clone()], [new.clone()]] {
        let findings = admit(
            Operation::Update,
            Some(new.clone()),
            Some(old.clone()),
            &cluster,
        );
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.path, "spec");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.subject, Some(ObjectRef::namespace("shop")));
        assert_eq!(
            f.message,
            "this change to networkpolicy \"default-deny-ingress\" removes the default deny of ingress in namespace \"shop\""
        );
        assert!(
            f.hint
                .contains("no ingress rules in \"default-deny-ingress\""),
            "{}",
            f.hint
        );
    }
}

#[test]
fn dropping_egress_or_narrowing_the_selector_is_denied() {
    let old = default_deny("shop");
    let mut no_egress = old.clone();
    no_egress["spec"]["policyTypes"] = json!(["Ingress"]);
    let findings = admit(
        Operation::Update,
        Some(no_egress),
        Some(old.clone()),
        std::slice::from_ref(&old),
    );
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0].message.contains("default deny of egress"),
        "{}",
        findings[0].message
    );

    let mut narrowed = old.clone();
    narrowed["spec"]["podSelector"] = json!({"matchLabels": {"app": "db"}});
    let findings = admit(
        Operation::Update,
        Some(narrowed),
        Some(old.clone()),
        std::slice::from_ref(&old),
    );
    assert_eq!(findings.len(), 1);
    assert!(
        findings[0]
            .message
            .contains("default deny of ingress and egress"),
        "{}",
        findings[0].message
    );
}

#[test]
fn harmless_or_strengthening_policy_updates_are_allowed() {
    let old = default_deny("shop");
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"team": "a"});
    assert!(
        admit(
            Operation::Update,
            Some(relabelled),
            Some(old.clone()),
            std::slice::from_ref(&old)
        )
        .is_empty()
    );

    // weakening a policy is fine when another one still covers the namespace
    let mut weakened = old.clone();
    weakened["spec"]["ingress"] = json!([{}]);
    let mut other = default_deny("shop");
    other["metadata"]["name"] = json!("default-deny");
    assert!(
        admit(
            Operation::Update,
            Some(weakened),
            Some(old.clone()),
            &[old, other]
        )
        .is_empty()
    );

    // strengthening an ingress-only policy
    let ingress = ingress_only("shop");
    let mut both = ingress.clone();
    both["spec"]["policyTypes"] = json!(["Ingress", "Egress"]);
    assert!(
        admit(
            Operation::Update,
            Some(both),
            Some(ingress.clone()),
            &[ingress]
        )
        .is_empty()
    );
}

/// The old object of a DELETE a real kube-apiserver sent (fixtures/admission
/// `networkpolicy-delete-default-deny-ingress-031.json`; managedFields and annotations dropped).
const CAPTURED_DEFAULT_DENY: &str = r#"{"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1","metadata":{"name":"default-deny-ingress","namespace":"kubernetes-ws-3","uid":"4f2b7539-36c4-42cf-af92-47a2433aab01","resourceVersion":"223","generation":1,"creationTimestamp":"2026-11-21T23:51:26Z"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"]}}"#;

#[test]
fn captured_delete_of_the_course_default_deny_is_denied() {
    let old: Value = serde_json::from_str(CAPTURED_DEFAULT_DENY).expect("valid JSON");
    let cluster = [
        namespace("kubernetes-ws-3"),
        old.clone(),
        db_allow_backend("kubernetes-ws-3"),
    ];
    let findings = admit(Operation::Delete, None, Some(old), &cluster);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "metadata.name");
    assert!(
        findings[0]
            .message
            .contains("ingress and egress in namespace \"kubernetes-ws-3\"")
    );
}

#[test]
fn fixtures_natively() {
    fixtures::check_all::<R>(env!("CARGO_MANIFEST_DIR"), &[]);
}
