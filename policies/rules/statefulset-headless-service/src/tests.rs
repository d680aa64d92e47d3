use serde_json::{Value, json};
use ws3_engine::testing::{FakeCluster, lint, run};
use ws3_policy_sdk::{Finding, KindRef, Operation, Operations, Rule, Scope, Severity};

use super::StatefulSetHeadlessService as R;

#[path = "../../fixtures.rs"]
mod fixtures;

const ID: &str = "statefulset-headless-service";

/// A StatefulSet whose pod template carries `labels`; `service_name` `None` leaves the key out.
fn sts(name: &str, ns: &str, service_name: Option<&str>, labels: Value) -> Value {
    let mut o = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "postgres", "image": "postgres:13.3"}]},
            },
        },
    });
    if let Some(s) = service_name {
        o["spec"]["serviceName"] = json!(s);
    }
    o
}

fn service(name: &str, ns: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn headless(name: &str, ns: &str, selector: Value) -> Value {
    service(
        name,
        ns,
        json!({"clusterIP": "None", "selector": selector, "ports": [{"port": 5432}]}),
    )
}

/// The course's db StatefulSet and its headless Service (01).
fn course_db() -> (Value, Value) {
    (
        sts(
            "db",
            "kubernetes-ws-3",
            Some("db-headless"),
            json!({"app": "db"}),
        ),
        headless("db-headless", "kubernetes-ws-3", json!({"app": "db"})),
    )
}

/// The codewizard lab (05): `serviceName: postgres` names a NodePort Service.
fn course_codewizard() -> (Value, Value) {
    (
        sts(
            "postgres",
            "codewizard",
            Some("postgres"),
            json!({"app": "postgres"}),
        ),
        service(
            "postgres",
            "codewizard",
            json!({"type": "NodePort", "selector": {"app": "postgres"}, "ports": [{"port": 5432}]}),
        ),
    )
}

fn one(object: Value, others: &[Value]) -> Finding {
    let mut findings = lint::<R>(object, others);
    assert_eq!(findings.len(), 1, "{findings:?}");
    findings.remove(0)
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

#[test]
fn metadata() {
    assert_eq!(R::META.id, ID);
    assert_eq!(R::META.severity, Severity::Error);
    assert_eq!(
        R::META.applies_to,
        &[
            Scope::new(
                KindRef::new("apps", "StatefulSet"),
                Operations::CREATE.with(Operations::UPDATE)
            ),
            // A Service is judged when it changes or goes, not when it is created.
            Scope::new(
                KindRef::new("", "Service"),
                Operations::UPDATE.with(Operations::DELETE)
            ),
        ]
    );
    assert_eq!(
        R::META.reads,
        &[
            KindRef::new("", "Service"),
            KindRef::new("apps", "StatefulSet")
        ]
    );
    assert!(R::META.docs.starts_with("# statefulset-headless-service\n"));
    assert_eq!(R::META.title, R::META.title.to_lowercase());
}

// ---- lint: the course ----------------------------------------------------------------------------

#[test]
fn course_db_with_its_headless_service_is_clean() {
    let (db, svc) = course_db();
    let db_service = service(
        "db-service",
        "kubernetes-ws-3",
        json!({"type": "ClusterIP", "selector": {"app": "db"}}),
    );
    assert!(lint_set(&[svc, db_service, db]).is_empty());
}

#[test]
fn course_web_nginx_is_clean() {
    let set = [
        headless("nginx", "kubernetes-ws-3", json!({"app": "nginx"})),
        sts(
            "web",
            "kubernetes-ws-3",
            Some("nginx"),
            json!({"app": "nginx"}),
        ),
    ];
    assert!(lint_set(&set).is_empty());
}

#[test]
fn course_remind_me_api_without_namespaces_is_clean() {
    let mut svc = headless("remind-me-api-ss", "x", json!({"app": "remindmeapi"}));
    let mut set = sts(
        "remindmeapi-statefulset",
        "x",
        Some("remind-me-api-ss"),
        json!({"app": "remindmeapi"}),
    );
    for o in [&mut svc, &mut set] {
        o["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("namespace");
    }
    assert!(lint_set(&[svc, set]).is_empty());
}

#[test]
fn course_codewizard_names_a_nodeport_service() {
    let (pg, svc) = course_codewizard();
    let findings = lint_set(&[svc, pg]);
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.rule_id, ID);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "spec.serviceName");
    assert_eq!(f.subject, None);
    assert_eq!(
        f.message,
        "service \"postgres\" named by statefulset \"postgres\" is not headless: its type is NodePort"
    );
    assert!(
        f.hint.contains("clusterIP: None, selector app=postgres"),
        "{}",
        f.hint
    );
    assert!(f.hint.contains("\"postgres-headless\""), "{}", f.hint);
}

#[test]
fn course_statefulset_without_service_name() {
    let f = one(
        sts(
            "db-no-servicename",
            "kubernetes-ws-3",
            None,
            json!({"app": "db-nosvc"}),
        ),
        &[],
    );
    assert_eq!(f.path, "spec");
    assert_eq!(
        f.message,
        "statefulset \"db-no-servicename\" names no headless service in serviceName"
    );
    assert!(f.hint.contains("selector app=db-nosvc"), "{}", f.hint);
    assert!(f.hint.contains("before the statefulset"), "{}", f.hint);
}

#[test]
fn course_pvc_update_alone_misses_its_service() {
    // 03 on its own: the StatefulSet names db-headless, which the file set does not hold
    let (db, _) = course_db();
    let f = one(db, &[]);
    assert_eq!(f.path, "spec.serviceName");
    assert_eq!(
        f.message,
        "statefulset \"db\" names service \"db-headless\" in serviceName, but there is no such service in namespace \"kubernetes-ws-3\""
    );
    assert!(
        f.hint.starts_with(
            "create headless service \"db-headless\" (clusterIP: None, selector app=db)"
        ),
        "{}",
        f.hint
    );
}

// ---- lint: each condition ------------------------------------------------------------------------

#[test]
fn an_empty_service_name_as_stored_by_the_api_server_is_reported_at_the_field() {
    let f = one(
        sts("db", "ns", Some(""), json!({"app": "db"})),
        &[headless("db", "ns", json!({"app": "db"}))],
    );
    assert_eq!(f.path, "spec.serviceName");
    assert!(
        f.message.contains("names no headless service"),
        "{}",
        f.message
    );
}

#[test]
fn a_service_of_another_namespace_does_not_count() {
    let f = one(
        sts("db", "ns", Some("db-headless"), json!({"app": "db"})),
        &[headless("db-headless", "other", json!({"app": "db"}))],
    );
    assert!(
        f.message.ends_with("no such service in namespace \"ns\""),
        "{}",
        f.message
    );
}

#[test]
fn a_cluster_ip_service_is_not_headless() {
    let db = sts("db", "ns", Some("db"), json!({"app": "db"}));
    let allocated = service(
        "db",
        "ns",
        json!({"clusterIP": "10.96.0.12", "selector": {"app": "db"}}),
    );
    let f = one(db.clone(), &[allocated]);
    assert_eq!(f.path, "spec.serviceName");
    assert!(
        f.message
            .ends_with("is not headless: its clusterIP is \"10.96.0.12\", not None"),
        "{}",
        f.message
    );

    let defaulted = service("db", "ns", json!({"selector": {"app": "db"}}));
    let f = one(db.clone(), &[defaulted]);
    assert!(
        f.message
            .ends_with("is not headless: it has no clusterIP: None"),
        "{}",
        f.message
    );

    let no_spec = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "ns"}});
    let f = one(db, &[no_spec]);
    assert!(f.message.contains("is not headless"), "{}", f.message);
}

#[test]
fn a_node_port_service_is_not_headless_even_with_cluster_ip_none() {
    let db = sts("db", "ns", Some("db"), json!({"app": "db"}));
    let svc = service(
        "db",
        "ns",
        json!({"type": "NodePort", "clusterIP": "None", "selector": {"app": "db"}}),
    );
    let f = one(db, &[svc]);
    assert!(
        f.message.ends_with("is not headless: its type is NodePort"),
        "{}",
        f.message
    );
}

#[test]
fn not_headless_is_reported_before_a_selector_mismatch() {
    let db = sts("db", "ns", Some("db"), json!({"app": "db"}));
    let f = one(
        db,
        &[service(
            "db",
            "ns",
            json!({"type": "NodePort", "selector": {"app": "other"}}),
        )],
    );
    assert!(f.message.contains("is not headless"), "{}", f.message);
}

#[test]
fn a_headless_service_without_selector_gives_no_dns_names() {
    let db = sts("db", "ns", Some("db-headless"), json!({"app": "db"}));
    for svc in [
        service("db-headless", "ns", json!({"clusterIP": "None"})),
        headless("db-headless", "ns", json!({})),
    ] {
        let f = one(db.clone(), &[svc]);
        assert_eq!(f.path, "spec.serviceName");
        assert_eq!(
            f.message,
            "headless service \"db-headless\" named by statefulset \"db\" has no selector, so its pods get no dns records"
        );
        assert_eq!(f.hint, "give service \"db-headless\" a selector app=db");
    }
}

#[test]
fn a_selector_that_misses_the_pod_labels_is_reported() {
    let db = sts("db", "ns", Some("db-headless"), json!({"app": "db"}));
    let f = one(
        db.clone(),
        &[headless("db-headless", "ns", json!({"app": "database"}))],
    );
    assert_eq!(f.path, "spec.serviceName");
    assert_eq!(
        f.message,
        "selector app=database of headless service \"db-headless\" does not match the pod labels of statefulset \"db\" (app=db)"
    );
    // one key too many is a mismatch too
    let f = one(
        db,
        &[headless(
            "db-headless",
            "ns",
            json!({"app": "db", "tier": "data"}),
        )],
    );
    assert!(
        f.message.starts_with("selector app=db,tier=data"),
        "{}",
        f.message
    );

    let unlabelled = sts("db", "ns", Some("db-headless"), json!({}));
    let f = one(
        unlabelled,
        &[headless("db-headless", "ns", json!({"app": "db"}))],
    );
    assert!(f.message.ends_with("(none)"), "{}", f.message);
    assert_eq!(
        f.hint,
        "give service \"db-headless\" a selector matching the pod template labels"
    );
}

#[test]
fn a_selector_that_is_a_subset_of_the_pod_labels_matches() {
    let db = sts(
        "db",
        "ns",
        Some("db-headless"),
        json!({"app": "db", "tier": "data"}),
    );
    assert!(lint::<R>(db, &[headless("db-headless", "ns", json!({"app": "db"}))]).is_empty());
}

#[test]
fn an_operator_owned_statefulset_is_judged() {
    // Nothing else ws3 reviews judges an operator's StatefulSet; the engine skips only objects
    // whose controller is a kind ws3 reviews itself.
    let mut db = sts("db", "ns", None, json!({"app": "db"}));
    db["metadata"]["ownerReferences"] = json!([{"apiVersion": "example.com/v1", "kind": "Postgres", "name": "db", "uid": "u", "controller": true}]);
    let findings = lint::<R>(db, &[]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        findings[0].message,
        r#"statefulset "db" names no headless service in serviceName"#
    );
}

#[test]
fn unnamed_statefulsets_are_named_by_generate_name_or_as_unnamed() {
    let mut db = sts("db", "ns", None, json!({"app": "db"}));
    db["metadata"]["name"] = json!("");
    db["metadata"]["generateName"] = json!("db-");
    let findings = lint::<R>(db.clone(), &[]);
    assert_eq!(
        findings[0].message,
        r#"statefulset with generateName "db-" names no headless service in serviceName"#
    );
    db["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("generateName");
    db["metadata"].as_object_mut().unwrap().remove("name");
    db["spec"]["serviceName"] = json!("db-headless");
    let findings = lint::<R>(db, &[]);
    assert_eq!(
        findings[0].message,
        r#"an unnamed statefulset names service "db-headless" in serviceName, but there is no such service in namespace "ns""#
    );
}

#[test]
fn services_are_not_flagged_offline_or_at_creation() {
    let (_, nodeport) = course_codewizard();
    let (_, headless) = course_db();
    for svc in [nodeport, headless] {
        assert!(lint::<R>(svc.clone(), &[]).is_empty());
        assert!(admit(Operation::Create, Some(svc), None, &[]).is_empty());
    }
}

// ---- admission: StatefulSets -----------------------------------------------------------------------

#[test]
fn statefulset_create_and_update_are_judged_like_lint() {
    let (db, svc) = course_db();
    assert!(
        admit(
            Operation::Create,
            Some(db.clone()),
            None,
            std::slice::from_ref(&svc)
        )
        .is_empty()
    );
    let findings = admit(Operation::Create, Some(db.clone()), None, &[]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Error);
    assert!(
        findings[0].message.contains("no such service"),
        "{}",
        findings[0].message
    );

    let findings = admit(Operation::Update, Some(db.clone()), Some(db.clone()), &[]);
    assert_eq!(findings.len(), 1);
    assert!(admit(Operation::Update, Some(db.clone()), Some(db), &[svc]).is_empty());
}

#[test]
fn statefulset_delete_and_scale_are_not_judged() {
    let nosvc = sts(
        "db-no-servicename",
        "kubernetes-ws-3",
        Some(""),
        json!({"app": "db-nosvc"}),
    );
    assert!(admit(Operation::Delete, None, Some(nosvc), &[]).is_empty());
    let scale = json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "postgres", "namespace": "codewizard"}, "spec": {"replicas": 3},
    });
    assert!(admit(Operation::Update, Some(scale.clone()), Some(scale), &[]).is_empty());
}

// ---- admission: Services ---------------------------------------------------------------------------

#[test]
fn deleting_a_headless_service_a_statefulset_names_is_denied() {
    let (db, svc) = course_db();
    let findings = admit(
        Operation::Delete,
        None,
        Some(svc.clone()),
        &[db.clone(), svc],
    );
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.rule_id, ID);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "metadata.name");
    assert_eq!(
        f.message,
        "deleting headless service \"db-headless\" breaks statefulset \"db\", which names it in serviceName"
    );
    assert_eq!(
        f.hint,
        "delete statefulset \"db\" first, or keep the service"
    );
}

#[test]
fn deleting_a_service_several_statefulsets_name_gives_one_finding() {
    let svc = headless("shared", "ns", json!({"app": "db"}));
    let cluster = [
        sts("a", "ns", Some("shared"), json!({"app": "db"})),
        sts("b", "ns", Some("shared"), json!({"app": "db"})),
        sts("c", "ns", Some("other"), json!({"app": "db"})),
    ];
    let findings = admit(Operation::Delete, None, Some(svc), &cluster);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0].message,
        "deleting headless service \"shared\" breaks statefulsets \"a\", \"b\", which name it in serviceName"
    );
}

#[test]
fn deleting_an_unused_or_non_headless_service_is_allowed() {
    let (db, svc) = course_db();
    // no StatefulSet names it (one in another namespace does not count)
    let elsewhere = sts("db", "other", Some("db-headless"), json!({"app": "db"}));
    assert!(admit(Operation::Delete, None, Some(svc), &[elsewhere]).is_empty());
    // a StatefulSet names it, but it is not headless: it was already broken
    let (pg, nodeport) = course_codewizard();
    assert!(admit(Operation::Delete, None, Some(nodeport), &[pg]).is_empty());
    // deleting another Service of the namespace
    let db_service = service(
        "db-service",
        "kubernetes-ws-3",
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.5"}),
    );
    assert!(admit(Operation::Delete, None, Some(db_service), &[db]).is_empty());
}

#[test]
fn turning_a_named_headless_service_into_another_type_is_denied() {
    let (db, old) = course_db();
    let mut external = old.clone();
    external["spec"] = json!({"type": "ExternalName", "externalName": "db.example.com"});
    let findings = admit(
        Operation::Update,
        Some(external),
        Some(old.clone()),
        std::slice::from_ref(&db),
    );
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.path, "spec.type");
    assert_eq!(
        f.message,
        "service \"db-headless\" would no longer be headless (its type is ExternalName), but statefulset \"db\" names it in serviceName"
    );
    assert_eq!(
        f.hint,
        "keep clusterIP: None on \"db-headless\"; give other clients a separate service"
    );

    let mut allocated = old.clone();
    allocated["spec"]["clusterIP"] = json!("10.96.0.7");
    let findings = admit(
        Operation::Update,
        Some(allocated),
        Some(old.clone()),
        std::slice::from_ref(&db),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "spec.clusterIP");

    let mut dropped = old.clone();
    dropped["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("clusterIP");
    let findings = admit(Operation::Update, Some(dropped), Some(old), &[db]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "spec");
}

#[test]
fn harmless_service_updates_are_allowed() {
    let (db, old) = course_db();
    // still headless, even with another selector (the StatefulSet is judged on its own)
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"team": "a"});
    relabelled["spec"]["selector"] = json!({"app": "other"});
    assert!(
        admit(
            Operation::Update,
            Some(relabelled),
            Some(old.clone()),
            std::slice::from_ref(&db)
        )
        .is_empty()
    );
    // no StatefulSet names it
    let mut external = old.clone();
    external["spec"] = json!({"type": "ExternalName", "externalName": "db.example.com"});
    assert!(admit(Operation::Update, Some(external), Some(old), &[]).is_empty());
    // it was not headless before either
    let (pg, nodeport) = course_codewizard();
    let mut lb = nodeport.clone();
    lb["spec"]["type"] = json!("LoadBalancer");
    assert!(admit(Operation::Update, Some(lb), Some(nodeport), &[pg]).is_empty());
}

/// The object of a CREATE a real kube-apiserver sent for the course's template without
/// serviceName, stored as `""` (fixtures/admission `statefulset-create-db-no-servicename-036.json`;
/// managedFields dropped).
const CAPTURED_NO_SERVICE_NAME: &str = r#"{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":"db-no-servicename","namespace":"kubernetes-ws-3","uid":"c189dcbe-083b-4a80-906b-79c4dab124cf","generation":1,"creationTimestamp":"2026-11-21T23:51:36Z"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"db-nosvc"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"db-nosvc"}},"spec":{"volumes":[{"name":"data","emptyDir":{}}],"containers":[{"name":"postgres","image":"postgres:13.3","envFrom":[{"configMapRef":{"name":"db-config"}}],"resources":{},"volumeMounts":[{"name":"data","mountPath":"/var/lib/postgresql/data"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}},"serviceName":"","podManagementPolicy":"OrderedReady","updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},"revisionHistoryLimit":10},"status":{"replicas":0,"availableReplicas":0}}"#;

#[test]
fn captured_create_without_service_name_is_denied() {
    let object: Value = serde_json::from_str(CAPTURED_NO_SERVICE_NAME).expect("valid JSON");
    let findings = admit(Operation::Create, Some(object), None, &[course_db().1]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "spec.serviceName");
    assert_eq!(
        findings[0].message,
        "statefulset \"db-no-servicename\" names no headless service in serviceName"
    );
}

#[test]
fn fixtures_natively() {
    fixtures::check_all::<R>(env!("CARGO_MANIFEST_DIR"), &[]);
}

#[test]
fn kube_system_is_judged_like_any_namespace() {
    let objects = fixtures::load(
        env!("CARGO_MANIFEST_DIR"),
        "bad-kube-system-elasticsearch-service.yaml",
    );
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        findings[0].message,
        r#"service "elasticsearch-logging" named by statefulset "elasticsearch-logging" is not headless: it has no clusterIP: None"#
    );
}
