#![allow(clippy::unwrap_used)] // a test that panics has failed, which is what we want
use serde_json::{Value, json};
use ws3_engine::testing::{FakeCluster, lint, run};
use ws3_policy_sdk::prelude::*;

use super::PostgresCredentialsInConfigMap as R;

#[path = "../../fixtures.rs"]
mod fixtures;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

const ID: &str = "postgres-credentials-in-configmap";
const NS: &str = "kubernetes-ws-3";

fn config_map(name: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS},
        "data": data,
    })
}

/// Course manifest 01's ConfigMap.
fn db_config() -> Value {
    config_map(
        "db-config",
        json!({"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "password", "POSTGRES_DB": "database"}),
    )
}

/// A workload of `kind` whose pod spec is `pod_spec`.
fn workload(kind: &str, pod_spec: Value) -> Value {
    let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": pod_spec});
    let selector = json!({"matchLabels": {"app": "x"}});
    let (api_version, spec) = match kind {
        "Pod" => ("v1", pod_spec),
        "Job" => ("batch/v1", json!({"template": template})),
        "CronJob" => (
            "batch/v1",
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}),
        ),
        _ => (
            "apps/v1",
            json!({"selector": selector, "serviceName": "x", "template": template}),
        ),
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "app", "namespace": NS},
        "spec": spec,
    })
}

/// A Deployment with one container `app` and the given env list.
fn with_env(env: Value) -> Value {
    workload(
        "Deployment",
        json!({"containers": [{"name": "app", "image": "example/app:1", "env": env}]}),
    )
}

/// A Deployment with one container `app` loading the given envFrom list.
fn with_env_from(env_from: Value) -> Value {
    workload(
        "Deployment",
        json!({"containers": [{"name": "app", "image": "example/app:1", "envFrom": env_from}]}),
    )
}

fn paths(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.path.as_str()).collect()
}

/// No message, hint or path mentions any of `secrets`.
fn assert_no_secret(findings: &[Finding], secrets: &[&str]) {
    for f in findings {
        for s in secrets {
            for text in [&f.message, &f.hint, &f.path] {
                assert!(!text.contains(s), "{s:?} leaked in {text:?}");
            }
        }
    }
}

#[test]
fn metadata() {
    assert_eq!(R::META.id, ID);
    assert_eq!(R::META.severity, Severity::Error);
    assert_eq!(
        R::META.applies_to,
        &[
            Scope::new(
                KindRef::new("", "ConfigMap"),
                Operations::CREATE.with(Operations::UPDATE)
            ),
            Scope::new(KindRef::new("", "Pod"), Operations::CREATE),
        ]
    );
    // Every pod-template holder the host knows, when created or changed.
    assert_eq!(
        R::META.workloads,
        Operations::CREATE.with(Operations::UPDATE)
    );
    assert_eq!(R::META.reads, &[KindRef::new("", "ConfigMap")]);
    assert!(
        R::META
            .docs
            .starts_with("# postgres-credentials-in-configmap\n")
    );
}

// (a) ConfigMaps

#[test]
fn course_01_config_map_with_postgres_password() {
    let findings = lint::<R>(db_config(), &[]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.rule_id, ID);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "data.POSTGRES_PASSWORD");
    assert_eq!(
        f.message,
        r#"configmap key "POSTGRES_PASSWORD" holds a postgres password"#
    );
    assert!(
        f.hint.contains("Secret") && f.hint.contains("secretKeyRef"),
        "{}",
        f.hint
    );
}

#[test]
fn course_07_config_map_without_credentials() {
    let cm = config_map(
        "manifest-example",
        json!({"city": "Ann Arbor", "state": "Michigan"}),
    );
    assert_eq!(lint::<R>(cm, &[]), vec![]);
}

#[test]
fn credential_key_names() {
    let cm = config_map(
        "creds",
        json!({
            "PGPASSWORD": "a1",
            "POSTGRESQL_PASSWORD": "a2",
            "POSTGRES_REPLICATION_PASSWORD": "a3",
            "pg_pass": "a4",
            "postgres.password": "a5",
        }),
    );
    let findings = lint::<R>(cm, &[]);
    assert_eq!(
        paths(&findings),
        [
            "data.PGPASSWORD",
            "data.POSTGRESQL_PASSWORD",
            "data.POSTGRES_REPLICATION_PASSWORD",
            "data.pg_pass",
            r#"data["postgres.password"]"#,
        ]
    );
    assert_eq!(
        findings[4].message,
        r#"configmap key "postgres.password" holds a postgres password"#
    );
    assert_no_secret(&findings, &["a1", "a2", "a3", "a4", "a5"]);
}

#[test]
fn config_map_near_misses() {
    let cm = config_map(
        "near",
        json!({
            "POSTGRES_PASSWORD": "",
            "PGPASSWORD": "   ",
            "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password",
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "app",
            "UPGRADE_PASS": "yes",
            "MYSQL_PASSWORD": "not-postgres",
            "DATABASE_URL": "postgresql://postgres@db-service:5432/database",
            "JDBC_URL": "jdbc:postgresql://db:5432/app?user=app&sslmode=require",
            "TEMPLATE_URL": "postgresql://app:${PGPASSWORD}@db/app",
            "PGHOST": "db",
        }),
    );
    assert_eq!(lint::<R>(cm, &[]), vec![]);
}

#[test]
fn connection_strings_in_config_map_values() {
    let cm = config_map(
        "urls",
        json!({
            "DATABASE_URL": "postgresql://app:s3cr3t-pw@db:5432/app",
            "JDBC_URL": "jdbc:postgresql://db:5432/app?user=app&password=s3cr3t-pw",
            "PG_DSN": "host=db dbname=app user=app password='s3cr3t pw'",
            "application.properties": "server.port=8080\nspring.datasource.url=jdbc:postgresql://db/app?password=s3cr3t-pw\n",
            "PGPASSWORD": "postgresql://app:s3cr3t-pw@db/app",
        }),
    );
    let findings = lint::<R>(cm, &[]);
    assert_eq!(
        paths(&findings),
        [
            "data.DATABASE_URL",
            "data.JDBC_URL",
            "data.PGPASSWORD",
            "data.PG_DSN",
            r#"data["application.properties"]"#
        ]
    );
    assert_eq!(
        findings[0].message,
        r#"configmap key "DATABASE_URL" holds a postgres connection string with an inline password"#
    );
    // One finding per key: a credential name holding a url is reported as a password.
    assert_eq!(
        findings[2].message,
        r#"configmap key "PGPASSWORD" holds a postgres password"#
    );
    assert_no_secret(&findings, &["s3cr3t", "app:", "db:5432"]);
}

#[test]
fn binary_data_keys_by_name() {
    let mut cm = config_map("bin", json!({}));
    // base64 of "hunter2" and of a postgres url; binary values are never parsed
    cm["binaryData"] = json!({"PGPASSWORD": "aHVudGVyMg==", "dsn.bin": "cG9zdGdyZXM6Ly9hOmJAYw==", "POSTGRES_USER": "YQ=="});
    let findings = lint::<R>(cm, &[]);
    assert_eq!(paths(&findings), ["binaryData.PGPASSWORD"]);
    assert_eq!(
        findings[0].message,
        r#"configmap binaryData key "PGPASSWORD" holds a postgres password"#
    );
}

// (b) env vars

#[test]
fn course_01_password_from_config_map_key_ref() {
    let db = workload(
        "StatefulSet",
        json!({"containers": [{
            "name": "postgres",
            "image": "postgres:13.3",
            "env": [
                {"name": "POSTGRES_USER", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_USER"}}},
                {"name": "POSTGRES_PASSWORD", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_PASSWORD"}}},
                {"name": "POSTGRES_DB", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_DB"}}},
            ],
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
        }], "volumes": [{"name": "data", "emptyDir": {}}]}),
    );
    let findings = lint::<R>(db, &[db_config()]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(
        f.path,
        "spec.template.spec.containers[0].env[1].valueFrom.configMapKeyRef"
    );
    assert_eq!(
        f.message,
        r#"container "postgres" takes the postgres password in env var "POSTGRES_PASSWORD" from configmap "db-config" key "POSTGRES_PASSWORD""#
    );
    assert!(f.hint.contains("secretKeyRef"), "{}", f.hint);
}

#[test]
fn config_map_key_ref_to_a_credential_key_under_another_name() {
    let d = with_env(json!([
        {"name": "DB_PASS", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "PGPASSWORD"}}},
        {"name": "DB_NAME", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_DB"}}},
    ]));
    let findings = lint::<R>(d, &[]);
    assert_eq!(
        paths(&findings),
        ["spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef"]
    );
    assert!(
        findings[0]
            .message
            .contains(r#"env var "DB_PASS" from configmap "db-config" key "PGPASSWORD""#)
    );
}

#[test]
fn course_02_database_url_literal() {
    let backend = with_env(json!([
        {"name": "DATABASE_URL", "value": "postgresql://postgres:password@db-service:5432/database"},
    ]));
    let findings = lint::<R>(backend, &[]);
    assert_eq!(
        paths(&findings),
        ["spec.template.spec.containers[0].env[0]"]
    );
    assert_eq!(
        findings[0].message,
        r#"container "app" sets env var "DATABASE_URL" to a postgres connection string with an inline password"#
    );
    assert!(findings[0].hint.contains("$(VAR)"), "{}", findings[0].hint);
    assert_no_secret(
        &findings,
        &["postgresql://", "postgres:password", "db-service"],
    );
}

#[test]
fn literal_password_in_env() {
    let d = with_env(json!([
        {"name": "POSTGRES_USER", "value": "app"},
        {"name": "POSTGRES_PASSWORD", "value": "hunter2-XYZ"},
        {"name": "PGPASSWORD", "value": "hunter3-XYZ"},
    ]));
    let findings = lint::<R>(d, &[]);
    assert_eq!(
        paths(&findings),
        [
            "spec.template.spec.containers[0].env[1]",
            "spec.template.spec.containers[0].env[2]"
        ]
    );
    assert_eq!(
        findings[0].message,
        r#"container "app" sets env var "POSTGRES_PASSWORD" to a literal postgres password"#
    );
    assert_no_secret(&findings, &["hunter2", "hunter3"]);
}

#[test]
fn env_near_misses() {
    let d = with_env(json!([
        {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "POSTGRES_PASSWORD"}}},
        {"name": "PGPASSWORD", "value": ""},
        {"name": "PG_PASS", "value": "$(POSTGRES_PASSWORD)"},
        {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/postgres-password"},
        {"name": "POSTGRES_USER", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_USER"}}},
        {"name": "POSTGRES_DB", "value": "app"},
        {"name": "UPGRADE_PASS", "value": "1"},
        {"name": "DATABASE_URL", "value": "postgresql://postgres:$(POSTGRES_PASSWORD)@db-service:5432/database"},
        {"name": "READONLY_URL", "value": "postgresql://reader@db-service:5432/database"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]));
    assert_eq!(lint::<R>(d, &[db_config()]), vec![]);
}

#[test]
fn every_workload_kind_and_container_list() {
    let env = json!([{"name": "POSTGRES_PASSWORD", "value": "x"}]);
    for (kind, prefix) in [
        ("Pod", "spec"),
        ("Deployment", "spec.template.spec"),
        ("StatefulSet", "spec.template.spec"),
        ("DaemonSet", "spec.template.spec"),
        ("ReplicaSet", "spec.template.spec"),
        ("Job", "spec.template.spec"),
        ("CronJob", "spec.jobTemplate.spec.template.spec"),
    ] {
        let o = workload(
            kind,
            json!({
                "initContainers": [{"name": "migrate", "image": "example/migrate:1", "env": env}],
                "containers": [
                    {"name": "sidecar", "image": "example/sidecar:1"},
                    {"name": "app", "image": "example/app:1", "env": env},
                ],
                "ephemeralContainers": [{"name": "debug", "image": "busybox", "env": env}],
            }),
        );
        let findings = lint::<R>(o, &[]);
        let expected = [
            format!("{prefix}.initContainers[0].env[0]"),
            format!("{prefix}.containers[1].env[0]"),
            format!("{prefix}.ephemeralContainers[0].env[0]"),
        ];
        assert_eq!(paths(&findings), expected, "{kind}");
        assert!(
            findings[0]
                .message
                .starts_with(r#"init container "migrate" sets"#),
            "{kind}"
        );
        assert!(
            findings[1].message.starts_with(r#"container "app" sets"#),
            "{kind}"
        );
        assert!(
            findings[2]
                .message
                .starts_with(r#"ephemeral container "debug" sets"#),
            "{kind}"
        );
    }
}

#[test]
fn controlled_pods_are_judged_here() {
    // The engine skips a Pod whose controller (a ReplicaSet) ws3 reviews; the rule does not.
    let mut pod = workload(
        "Pod",
        json!({"containers": [{"name": "app", "image": "x",
        "env": [{"name": "POSTGRES_PASSWORD", "value": "x"}]}]}),
    );
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-1", "uid": "u", "controller": true,
    }]);
    assert_eq!(lint::<R>(pod.clone(), &[]), vec![], "the engine skips it");
    let findings = run::<R>(Operation::Lint, Some(pod), None, &FakeCluster::default()).unwrap();
    assert_eq!(findings.len(), 1, "the rule judges it");
}

// (c) envFrom

#[test]
fn course_05_env_from_config_map_with_password() {
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "postgres-config", "namespace": "codewizard"},
        "data": {"POSTGRES_DB": "codewizard", "POSTGRES_USER": "codewizard", "POSTGRES_PASSWORD": "admin123"},
    });
    let sts = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "postgres", "namespace": "codewizard"},
        "spec": {
            "serviceName": "postgres",
            "selector": {"matchLabels": {"app": "postgres"}},
            "template": {"metadata": {"labels": {"app": "postgres"}}, "spec": {"containers": [{
                "name": "postgres", "image": "postgres:10.4",
                "envFrom": [{"configMapRef": {"name": "postgres-config"}}],
            }]}},
        },
    });
    assert_eq!(
        paths(&lint::<R>(cm.clone(), std::slice::from_ref(&sts))),
        ["data.POSTGRES_PASSWORD"]
    );
    let findings = lint::<R>(sts, &[cm]);
    assert_eq!(
        paths(&findings),
        ["spec.template.spec.containers[0].envFrom[0].configMapRef"]
    );
    assert_eq!(
        findings[0].message,
        r#"container "postgres" loads configmap "postgres-config" with envFrom, which holds postgres credentials in key "POSTGRES_PASSWORD""#
    );
    assert!(
        findings[0].hint.contains("secretRef"),
        "{}",
        findings[0].hint
    );
    assert_no_secret(&findings, &["admin123"]);
}

#[test]
fn course_08_env_from_needs_the_config_map_in_the_set() {
    let sts = workload(
        "StatefulSet",
        json!({"containers": [{"name": "postgres", "image": "postgres:13.3",
            "envFrom": [{"configMapRef": {"name": "db-config"}}]}]}),
    );
    assert_eq!(lint::<R>(sts.clone(), &[db_config()]).len(), 1);
    assert_eq!(lint::<R>(sts, &[]), vec![]);
}

#[test]
fn env_from_lists_every_credential_key_and_respects_namespaces() {
    let cm = config_map(
        "app-config",
        json!({"POSTGRES_PASSWORD": "x", "DATABASE_URL": "postgres://a:b@db/app", "LOG_LEVEL": "debug"}),
    );
    let d = with_env_from(json!([
        {"secretRef": {"name": "db"}},
        {"prefix": "APP_", "configMapRef": {"name": "app-config"}},
        {"configMapRef": {"name": "clean"}},
        {"configMapRef": {"name": "missing", "optional": true}},
    ]));
    let clean = config_map("clean", json!({"POSTGRES_USER": "app", "PGHOST": "db"}));
    let findings = lint::<R>(d.clone(), &[cm.clone(), clean]);
    assert_eq!(
        paths(&findings),
        ["spec.template.spec.containers[0].envFrom[1].configMapRef"]
    );
    assert!(
        findings[0].message.ends_with(r#"configmap "app-config" with envFrom, which holds postgres credentials in keys "DATABASE_URL", "POSTGRES_PASSWORD""#),
        "{}",
        findings[0].message
    );
    assert_no_secret(&findings, &["a:b", "postgres://"]);

    // The same ConfigMap in another namespace is not the one referenced.
    let mut elsewhere = cm;
    elsewhere["metadata"]["namespace"] = json!("other");
    assert_eq!(lint::<R>(d, &[elsewhere]), vec![]);
}

// Admission

#[test]
fn admission_operations() {
    let cluster = FakeCluster::new([db_config()]);
    let clean = config_map("db-config", json!({"POSTGRES_USER": "postgres"}));

    let created = run::<R>(Operation::Create, Some(db_config()), None, &cluster).unwrap();
    assert_eq!(paths(&created), ["data.POSTGRES_PASSWORD"]);
    let cleaned = run::<R>(
        Operation::Update,
        Some(clean.clone()),
        Some(db_config()),
        &cluster,
    )
    .unwrap();
    assert_eq!(cleaned, vec![]);
    let dirtied = run::<R>(Operation::Update, Some(db_config()), Some(clean), &cluster).unwrap();
    assert_eq!(dirtied.len(), 1);
    let deleted = run::<R>(Operation::Delete, None, Some(db_config()), &cluster).unwrap();
    assert_eq!(deleted, vec![]);

    // A workload admitted into a namespace whose cached ConfigMap holds a password.
    let d = with_env_from(json!([{"configMapRef": {"name": "db-config"}}]));
    let created = run::<R>(Operation::Create, Some(d.clone()), None, &cluster).unwrap();
    assert_eq!(
        paths(&created),
        ["spec.template.spec.containers[0].envFrom[0].configMapRef"]
    );
    let deleted = run::<R>(Operation::Delete, None, Some(d), &cluster).unwrap();
    assert_eq!(deleted, vec![]);
}

#[test]
fn other_kinds_are_ignored() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": NS},
        "stringData": {"POSTGRES_PASSWORD": "x"}});
    assert_eq!(lint::<R>(secret, &[]), vec![]);
}

#[test]
fn unreadable_objects_are_errors_that_name_the_field_not_the_value() {
    let d = with_env(json!([{"name": "POSTGRES_PASSWORD", "value": ["hunter2"]}]));
    let err = run::<R>(Operation::Lint, Some(d), None, &FakeCluster::default()).unwrap_err();
    assert!(
        err.message()
            .contains("spec.template.spec.containers[0].env[0].value"),
        "{err}"
    );
    assert!(!err.message().contains("hunter2"), "{err}");
}

// Fixtures and precision (issue 14)

#[test]
fn fixtures_natively() {
    fixtures::check_all::<R>(DIR, &[]);
}

/// Each finding of `object` (linted among `others`): its path, and the path of the secret value
/// it marks for redaction.
fn marked(object: &Value, others: &[Value]) -> Vec<(String, Option<String>)> {
    lint::<R>(object.clone(), others)
        .into_iter()
        .map(|f| (f.path, f.redact.first().cloned()))
        .collect()
}

fn owned(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    pairs
        .iter()
        .map(|(p, s)| ((*p).to_owned(), s.map(str::to_owned)))
        .collect()
}

#[test]
fn secret_paths_mark_the_values_not_the_references() {
    let cm = config_map(
        "db",
        json!({"POSTGRES_PASSWORD": "pw-1", "postgres.url": "postgres://a:pw-2@db/app"}),
    );
    assert_eq!(
        marked(&cm, &[]),
        owned(&[
            ("data.POSTGRES_PASSWORD", Some("data.POSTGRES_PASSWORD")),
            (r#"data["postgres.url"]"#, Some(r#"data["postgres.url"]"#)),
        ])
    );
    let mut bin = config_map("bin", json!({}));
    bin["binaryData"] = json!({"PGPASSWORD": "aHVudGVyMg=="});
    assert_eq!(
        marked(&bin, &[]),
        owned(&[("binaryData.PGPASSWORD", Some("binaryData.PGPASSWORD"))])
    );
    let d = with_env(json!([
        {"name": "DATABASE_URL", "value": "postgresql://a:pw-3@db/app"},
        {"name": "PGPASSWORD", "valueFrom": {"configMapKeyRef": {"name": "db", "key": "PGPASSWORD"}}},
        {"name": "POSTGRES_PASSWORD", "value": "pw-4"},
    ]));
    let env_from = with_env_from(json!([{"configMapRef": {"name": "db"}}]));
    let p = |s: &str| format!("spec.template.spec.containers[0].{s}");
    assert_eq!(
        marked(&d, &[]),
        vec![
            (p("env[0]"), Some(p("env[0].value"))),
            (p("env[1].valueFrom.configMapKeyRef"), None),
            (p("env[2]"), Some(p("env[2].value"))),
        ]
    );
    assert_eq!(
        marked(&env_from, &[cm]),
        vec![(p("envFrom[0].configMapRef"), None)]
    );
}

#[test]
fn patroni_pgpass_is_a_file_path() {
    let objects = fixtures::load(DIR, "near-miss-patroni-pgpass.yaml");
    assert_eq!(ws3_engine::testing::lint_set::<R>(&objects), vec![]);
    // The same name with a password in it would be a file path still; a real password is not.
    let cm = config_map(
        "p",
        json!({"PATRONI_POSTGRESQL_PGPASS": "/tmp/pgpass", "PATRONI_SUPERUSER_PASSWORD": "pw"}),
    );
    assert_eq!(
        paths(&lint::<R>(cm, &[])),
        ["data.PATRONI_SUPERUSER_PASSWORD"]
    );
}

#[test]
fn pgadmin_login_is_not_a_postgres_credential() {
    let objects = fixtures::load(DIR, "near-miss-pgadmin.yaml");
    assert_eq!(ws3_engine::testing::lint_set::<R>(&objects), vec![]);
}

#[test]
fn npgsql_connection_strings() {
    let objects = fixtures::load(DIR, "bad-npgsql-connection-string.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(
        paths(&findings),
        [
            "data.ConnectionStrings__Default",
            r#"data["appsettings.json"]"#,
            "spec.template.spec.containers[0].env[0]",
        ]
    );
    assert_eq!(
        findings[0].message,
        r#"configmap key "ConnectionStrings__Default" holds a postgres connection string with an inline password"#
    );
    assert_eq!(
        findings[2].message,
        r#"container "api" sets env var "ConnectionStrings__OrderingDb" to a postgres connection string with an inline password"#
    );
    assert_eq!(
        marked(&objects[2], &objects)[0].1.as_deref(),
        Some("spec.template.spec.containers[0].env[0].value")
    );
    assert_no_secret(&findings, &["C4talog", "B4sket", "0rdering", "Host="]);
    for clean in [
        "good-npgsql-connection-string.yaml",
        "near-miss-npgsql-connection-string.yaml",
    ] {
        let objects = fixtures::load(DIR, clean);
        assert_eq!(
            ws3_engine::testing::lint_set::<R>(&objects),
            vec![],
            "{clean}"
        );
    }
    // A string naming no database counts once something else in the ConfigMap points at postgres.
    let cm = config_map(
        "audit",
        json!({"ConnectionStrings__Default": "Host=db;Username=audit;Password=Aud1t-pw", "DB_HOST": "postgres"}),
    );
    let findings = lint::<R>(cm, &[]);
    assert_eq!(
        findings[0].message,
        r#"configmap key "ConnectionStrings__Default" holds a connection string with an inline password, and the configmap points at postgres"#
    );
}

#[test]
fn spring_datasource_password_next_to_a_postgres_url() {
    let objects = fixtures::load(DIR, "bad-spring-datasource.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(
        paths(&findings),
        [
            "data.SPRING_DATASOURCE_PASSWORD",
            "spec.template.spec.containers[0].envFrom[0].configMapRef",
            "spec.template.spec.containers[1].env[2]",
        ]
    );
    assert_eq!(
        findings[0].message,
        r#"configmap key "SPRING_DATASOURCE_PASSWORD" holds a password, and the configmap points at postgres"#
    );
    assert_eq!(
        findings[2].message,
        r#"container "orders-migrations" sets env var "SPRING_DATASOURCE_PASSWORD" to a literal password, and the container points at postgres"#
    );
    assert_no_secret(&findings, &["0rders-pw"]);
    for clean in [
        "good-spring-datasource.yaml",
        "near-miss-spring-datasource.yaml",
    ] {
        let objects = fixtures::load(DIR, clean);
        assert_eq!(
            ws3_engine::testing::lint_set::<R>(&objects),
            vec![],
            "{clean}"
        );
    }
}

#[test]
fn db_password_consumed_by_a_postgres_image() {
    let objects = fixtures::load(DIR, "bad-db-password-postgres-image.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(
        paths(&findings),
        [
            "spec.template.spec.containers[0].envFrom[0].configMapRef",
            "spec.template.spec.containers[0].env[2].valueFrom.configMapKeyRef",
        ]
    );
    assert_eq!(
        findings[0].message,
        r#"container "postgres" loads configmap "db-env" with envFrom, which holds postgres credentials in key "DB_PASSWORD""#
    );
    // The ConfigMap alone does not say postgres.
    assert_eq!(lint::<R>(objects[0].clone(), &objects), vec![]);
    for clean in [
        "good-db-password-postgres-image.yaml",
        "near-miss-db-password-postgres-image.yaml",
    ] {
        let objects = fixtures::load(DIR, clean);
        assert_eq!(
            ws3_engine::testing::lint_set::<R>(&objects),
            vec![],
            "{clean}"
        );
    }
    // A literal DB_PASSWORD in the env of a postgres container.
    let db = workload(
        "StatefulSet",
        json!({"containers": [{"name": "db", "image": "bitnami/postgresql:16",
            "env": [{"name": "DB_PASSWORD", "value": "pw-5"}]}]}),
    );
    assert_eq!(
        lint::<R>(db, &[])[0].message,
        r#"container "db" sets env var "DB_PASSWORD" to a literal password, and the container points at postgres"#
    );
}

#[test]
fn openshift_deployment_config() {
    let objects = fixtures::load(DIR, "bad-openshift-deploymentconfig.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(
        paths(&findings),
        ["spec.template.spec.containers[0].env[1]"]
    );
}
