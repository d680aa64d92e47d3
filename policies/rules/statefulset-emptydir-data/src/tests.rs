#![allow(clippy::unwrap_used)] // a test that panics has failed, which is what we want
use serde_json::{Value, json};
use ws3_engine::testing::{FakeCluster, lint, run};
use ws3_policy_sdk::prelude::*;

use super::StatefulSetEmptyDirData as R;

#[path = "../../fixtures.rs"]
mod fixtures;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

const ID: &str = "statefulset-emptydir-data";

/// A StatefulSet with the given pod spec and extra `spec` fields.
fn sts(pod_spec: Value, extra_spec: Value) -> Value {
    let mut spec = json!({
        "serviceName": "db-headless",
        "replicas": 1,
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": pod_spec},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "kubernetes-ws-3"},
        "spec": spec,
    })
}

/// A one-container StatefulSet mounting volume `volume` at `path`.
fn one_mount(volume: Value, path: &str, extra_spec: Value) -> Value {
    let name = volume["name"].clone();
    sts(
        json!({
            "volumes": [volume],
            "containers": [{
                "name": "app",
                "image": "example/app:1",
                "volumeMounts": [{"name": name, "mountPath": path}],
            }],
        }),
        extra_spec,
    )
}

fn claim_templates(name: &str) -> Value {
    json!({"volumeClaimTemplates": [{
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }]})
}

/// Course manifest 01: the postgres StatefulSet with its data on emptyDir.
fn course_db_emptydir() -> Value {
    sts(
        json!({
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{
                "name": "postgres",
                "image": "postgres:13.3",
                "ports": [{"containerPort": 5432, "name": "postgres"}],
                "env": [
                    {"name": "POSTGRES_USER", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_USER"}}},
                    {"name": "POSTGRES_PASSWORD", "valueFrom": {"configMapKeyRef": {"name": "db-config", "key": "POSTGRES_PASSWORD"}}},
                ],
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
            }],
        }),
        json!({}),
    )
}

fn paths(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn metadata() {
    assert_eq!(R::META.id, ID);
    assert_eq!(R::META.severity, Severity::Error);
    // Judged when created and when changed (existing violations are the engine's business).
    assert_eq!(
        R::META.applies_to,
        &[Scope::new(
            KindRef::new("apps", "StatefulSet"),
            Operations::CREATE.with(Operations::UPDATE)
        )]
    );
    assert_eq!(R::META.workloads, Operations::NONE);
    assert!(R::META.reads.is_empty());
    assert!(R::META.docs.starts_with("# statefulset-emptydir-data\n"));
}

#[test]
fn course_01_postgres_data_on_emptydir() {
    let findings = lint::<R>(course_db_emptydir(), &[]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.rule_id, ID);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.path, "spec.template.spec.volumes[0].emptyDir");
    assert_eq!(
        f.message,
        r#"container "postgres" keeps its data at /var/lib/postgresql/data on emptyDir volume "data", which is deleted with the pod"#
    );
    assert!(f.hint.contains("volumeClaimTemplates"), "{}", f.hint);
    assert!(f.hint.contains("persistentVolumeClaim"), "{}", f.hint);
    assert!(f.hint.contains(r#""data""#), "{}", f.hint);
    assert_eq!(f.subject, None);
}

#[test]
fn course_03_pvc_fixes_it() {
    let mut fixed = course_db_emptydir();
    fixed["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "db-pvc"}}]);
    assert_eq!(lint::<R>(fixed, &[]), vec![]);
}

#[test]
fn course_06_volume_claim_templates_are_fine() {
    let web = sts(
        json!({"containers": [{
            "name": "nginx",
            "image": "registry.k8s.io/nginx-slim:0.24",
            "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}],
        }]}),
        claim_templates("www"),
    );
    assert_eq!(lint::<R>(web, &[]), vec![]);
}

#[test]
fn course_07_a_pod_is_not_a_statefulset() {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nginx-with-volume", "namespace": "kubernetes-ws-3"},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "nginx", "image": "nginx:stable-alpine",
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
        },
    });
    assert_eq!(lint::<R>(pod, &[]), vec![]);
}

#[test]
fn course_08_statefulset_without_service_name() {
    let mut db = course_db_emptydir();
    db["metadata"]["name"] = json!("db-no-servicename");
    db["spec"].as_object_mut().map(|s| s.remove("serviceName"));
    db["spec"]["template"]["spec"]["containers"][0]["env"] = json!(null);
    db["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
        json!([{"configMapRef": {"name": "db-config"}}]);
    let findings = lint::<R>(db, &[]);
    assert_eq!(paths(&findings), ["spec.template.spec.volumes[0].emptyDir"]);
}

#[test]
fn course_10_secret_volume_is_fine() {
    let api = one_mount(
        json!({"name": "secretvolume", "secret": {"secretName": "api-secret"}}),
        "/app/secrets",
        json!({}),
    );
    assert_eq!(lint::<R>(api, &[]), vec![]);
}

#[test]
fn known_data_dirs_count_even_with_other_storage() {
    // Another volume is persistent, so only the path (or the volume name) can make it data.
    for path in [
        "/var/lib/mysql",
        "/data/db",
        "/data",
        "/usr/share/elasticsearch/data",
        "/var/lib/cassandra",
        "/var/lib/etcd",
        "/var/lib/kafka/data",
        "/var/lib/rabbitmq",
        "/bitnami/postgresql",
        "/var/lib/postgresql",
        "/var/lib/postgresql/data/pgdata",
    ] {
        let o = one_mount(
            json!({"name": "scratch1", "emptyDir": {}}),
            path,
            claim_templates("other"),
        );
        let findings = lint::<R>(o, &[]);
        assert_eq!(
            paths(&findings),
            ["spec.template.spec.volumes[0].emptyDir"],
            "{path}"
        );
        assert!(
            findings[0].message.contains(&format!(" at {path} on ")),
            "{}",
            findings[0].message
        );
    }
}

#[test]
fn near_miss_paths_next_to_data_dirs() {
    for path in [
        "/var/lib/postgres",
        "/database",
        "/srv/mysql",
        "/usr/share/nginx/html",
        "/",
    ] {
        let o = one_mount(
            json!({"name": "scratch1", "emptyDir": {}}),
            path,
            claim_templates("other"),
        );
        assert_eq!(lint::<R>(o, &[]), vec![], "{path}");
    }
}

#[test]
fn any_medium_counts() {
    let o = one_mount(
        json!({"name": "scratch1", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}),
        "/var/lib/mysql",
        claim_templates("other"),
    );
    assert_eq!(lint::<R>(o, &[]).len(), 1);
}

#[test]
fn pgdata_env_names_the_data_dir() {
    let pod_spec = |pgdata: Option<&str>| {
        let env = pgdata.map_or(json!([]), |v| json!([{"name": "PGDATA", "value": v}]));
        json!({
            "volumes": [{"name": "pg", "emptyDir": {}}],
            "containers": [{"name": "postgres", "image": "postgres:16", "env": env,
                "volumeMounts": [{"name": "pg", "mountPath": "/pgdata"}]}],
        })
    };
    let with = lint::<R>(
        sts(pod_spec(Some("/pgdata/16")), claim_templates("other")),
        &[],
    );
    assert_eq!(paths(&with), ["spec.template.spec.volumes[0].emptyDir"]);
    assert!(
        with[0]
            .message
            .contains(r#"container "postgres" keeps its data at /pgdata on emptyDir volume "pg""#)
    );
    // Same mount without PGDATA, or with an empty one: not a known data dir, name not data-like.
    assert_eq!(
        lint::<R>(sts(pod_spec(None), claim_templates("other")), &[]),
        vec![]
    );
    assert_eq!(
        lint::<R>(sts(pod_spec(Some("")), claim_templates("other")), &[]),
        vec![]
    );
}

#[test]
fn data_like_volume_names_count_anywhere() {
    for name in [
        "data",
        "pgdata",
        "db",
        "datadir",
        "storage",
        "postgres-data",
        "Redis-Data",
    ] {
        let o = one_mount(
            json!({"name": name, "emptyDir": {}}),
            "/srv/app",
            claim_templates("other"),
        );
        let findings = lint::<R>(o, &[]);
        assert_eq!(findings.len(), 1, "{name}");
        assert!(
            findings[0]
                .message
                .contains(&format!(r#"emptyDir volume "{name}""#))
        );
    }
    for name in ["www", "database", "metadata", "data-cache"] {
        let o = one_mount(
            json!({"name": name, "emptyDir": {}}),
            "/srv/app",
            claim_templates("other"),
        );
        assert_eq!(lint::<R>(o, &[]), vec![], "{name}");
    }
}

#[test]
fn without_persistent_storage_every_writable_mount_is_data() {
    let o = one_mount(
        json!({"name": "www", "emptyDir": {}}),
        "/usr/share/nginx/html",
        json!({}),
    );
    let findings = lint::<R>(o, &[]);
    assert_eq!(paths(&findings), ["spec.template.spec.volumes[0].emptyDir"]);
    assert_eq!(
        findings[0].message,
        r#"container "app" keeps its data at /usr/share/nginx/html on emptyDir volume "www", which is deleted with the pod"#
    );
}

#[test]
fn without_persistent_storage_scratch_and_read_only_mounts_are_fine() {
    for path in [
        "/tmp",
        "/var/tmp",
        "/run/app",
        "/dev/shm",
        "/app/tmp",
        "/home/app/.cache",
        "/var/cache/nginx",
    ] {
        let o = one_mount(json!({"name": "scratch", "emptyDir": {}}), path, json!({}));
        assert_eq!(lint::<R>(o, &[]), vec![], "{path}");
    }
    let mut ro = one_mount(
        json!({"name": "www", "emptyDir": {}}),
        "/usr/share/nginx/html",
        json!({}),
    );
    ro["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = json!(true);
    assert_eq!(lint::<R>(ro, &[]), vec![]);
}

#[test]
fn read_only_does_not_hide_a_known_data_dir() {
    let mut ro = one_mount(
        json!({"name": "x", "emptyDir": {}}),
        "/var/lib/mysql",
        json!({}),
    );
    ro["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = json!(true);
    assert_eq!(lint::<R>(ro, &[]).len(), 1);
}

#[test]
fn pvc_or_ephemeral_volume_counts_as_persistent_storage() {
    for other in [
        json!({"name": "keep", "persistentVolumeClaim": {"claimName": "keep"}}),
        json!({"name": "keep", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}),
    ] {
        let o = sts(
            json!({
                "volumes": [other, {"name": "www", "emptyDir": {}}],
                "containers": [{"name": "app", "image": "example/app:1",
                    "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}],
            }),
            json!({}),
        );
        assert_eq!(lint::<R>(o, &[]), vec![]);
    }
    // An empty volumeClaimTemplates list is no storage.
    let o = one_mount(
        json!({"name": "www", "emptyDir": {}}),
        "/usr/share/nginx/html",
        json!({"volumeClaimTemplates": []}),
    );
    assert_eq!(lint::<R>(o, &[]).len(), 1);
}

#[test]
fn one_finding_per_mount_with_the_volume_index() {
    let o = sts(
        json!({
            "volumes": [
                {"name": "config", "configMap": {"name": "cfg"}},
                {"name": "data", "emptyDir": {}},
            ],
            "initContainers": [{"name": "init-perms", "image": "busybox",
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
            "containers": [
                {"name": "postgres", "image": "postgres:16",
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/postgresql"},
                        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                    ]},
                {"name": "backup", "image": "example/backup:1",
                    "volumeMounts": [{"name": "data", "mountPath": "/backup/source", "readOnly": true}]},
            ],
        }),
        json!({}),
    );
    let findings = lint::<R>(o, &[]);
    // The backup mount counts too: its volume is named `data`.
    assert_eq!(findings.len(), 3, "{findings:#?}");
    assert!(
        findings
            .iter()
            .all(|f| f.path == "spec.template.spec.volumes[1].emptyDir")
    );
    assert!(
        findings[0].message.starts_with(
            r#"init container "init-perms" keeps its data at /var/lib/postgresql/data"#
        )
    );
    assert!(
        findings[1]
            .message
            .starts_with(r#"container "postgres" keeps its data at /var/lib/postgresql/data"#)
    );
    assert!(
        findings[2]
            .message
            .starts_with(r#"container "backup" keeps its data at /backup/source"#)
    );
}

#[test]
fn mounts_of_other_or_missing_volumes_are_ignored() {
    let o = sts(
        json!({
            "volumes": [{"name": "data", "hostPath": {"path": "/srv/db"}}],
            "containers": [{"name": "postgres", "image": "postgres:16",
                "volumeMounts": [
                    {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                    {"name": "nowhere", "mountPath": "/var/lib/mysql"},
                ]}],
        }),
        json!({}),
    );
    assert_eq!(lint::<R>(o, &[]), vec![]);
}

#[test]
fn operator_owned_statefulsets_are_judged() {
    // Nothing else ws3 reviews judges an operator's StatefulSet.
    let mut o = course_db_emptydir();
    o["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "example.com/v1", "kind": "Postgres", "name": "db", "uid": "1", "controller": true,
    }]);
    assert_eq!(lint::<R>(o, &[]).len(), 1);
}

#[test]
fn admission_operations() {
    let cluster = FakeCluster::default();
    let bad = course_db_emptydir();
    let mut good = bad.clone();
    good["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "db-pvc"}}]);

    let created = run::<R>(Operation::Create, Some(bad.clone()), None, &cluster).unwrap();
    assert_eq!(paths(&created), ["spec.template.spec.volumes[0].emptyDir"]);
    // An update is judged on the new object only.
    let broke = run::<R>(
        Operation::Update,
        Some(bad.clone()),
        Some(good.clone()),
        &cluster,
    )
    .unwrap();
    assert_eq!(broke.len(), 1);
    let fixed = run::<R>(Operation::Update, Some(good), Some(bad.clone()), &cluster).unwrap();
    assert_eq!(fixed, vec![]);
    let deleted = run::<R>(Operation::Delete, None, Some(bad), &cluster).unwrap();
    assert_eq!(deleted, vec![]);
}

#[test]
fn unreadable_objects_are_errors_that_name_the_field() {
    let mut o = course_db_emptydir();
    o["spec"]["template"]["spec"]["volumes"] = json!("data");
    let err = run::<R>(Operation::Lint, Some(o), None, &FakeCluster::default()).unwrap_err();
    assert!(
        err.message().contains("spec.template.spec.volumes"),
        "{err}"
    );
}

#[test]
fn fixtures_natively() {
    fixtures::check_all::<R>(DIR, &[]);
}

#[test]
fn scratch_paths_win_over_data_like_names() {
    for path in [
        "/tmp",
        "/var/tmp",
        "/run/app",
        "/var/cache/app",
        "/app/tmp/data",
    ] {
        for extra in [claim_templates("other"), json!({})] {
            let o = one_mount(json!({"name": "tmp-data", "emptyDir": {}}), path, extra);
            assert_eq!(lint::<R>(o, &[]), vec![], "{path}");
        }
    }
    // A known data directory is data wherever PGDATA puts it, scratch or not.
    let mut o = one_mount(json!({"name": "tmp", "emptyDir": {}}), "/tmp", json!({}));
    o["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "PGDATA", "value": "/tmp/pgdata"}]);
    assert_eq!(lint::<R>(o, &[]).len(), 1);
    let objects = fixtures::load(DIR, "near-miss-scratch-data-names.yaml");
    assert_eq!(ws3_engine::testing::lint_set::<R>(&objects), vec![]);
}

#[test]
fn configuration_under_etc_is_not_data_without_storage() {
    let o = one_mount(
        json!({"name": "config-out", "emptyDir": {"medium": "Memory"}}),
        "/etc/prometheus/config_out",
        json!({}),
    );
    assert_eq!(lint::<R>(o, &[]), vec![]);
    // A data-like name under /etc still counts.
    let o = one_mount(
        json!({"name": "data", "emptyDir": {}}),
        "/etc/app",
        json!({}),
    );
    assert_eq!(lint::<R>(o, &[]).len(), 1);
}

#[test]
fn prometheus_tsdb_on_emptydir() {
    let objects = fixtures::load(DIR, "bad-prometheus-operator.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(paths(&findings), ["spec.template.spec.volumes[5].emptyDir"]);
    assert_eq!(
        findings[0].message,
        r#"container "prometheus" keeps its data at /prometheus on emptyDir volume "prometheus-k8s-db", which is deleted with the pod"#
    );
    let objects = fixtures::load(DIR, "good-prometheus-operator.yaml");
    assert_eq!(ws3_engine::testing::lint_set::<R>(&objects), vec![]);
}

#[test]
fn prometheus_operator_statefulset_is_judged() {
    let objects = fixtures::load(DIR, "bad-prometheus-operator.yaml");
    assert_eq!(ws3_engine::testing::lint_set::<R>(&objects).len(), 1);
}

#[test]
fn kube_system_is_judged_like_any_namespace() {
    let objects = fixtures::load(DIR, "bad-kube-system-elasticsearch.yaml");
    let findings = ws3_engine::testing::lint_set::<R>(&objects);
    assert_eq!(paths(&findings), ["spec.template.spec.volumes[0].emptyDir"]);
}
