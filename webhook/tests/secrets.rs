//! Planted secrets at admission: a review whose objects carry passwords (quoted, numeric, in a
//! postgres URL, JDBC, libpq conninfo and Npgsql strings, in ConfigMaps and env values) is denied
//! by the built-in rules, and neither the AdmissionResponse (denial message, warnings) nor any
//! log line, at debug level, holds one of the values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Body, http::Request};
use serde_json::{Value, json};
use tower::ServiceExt;
use ws3_engine::{Config, Engine, EngineOptions, NoObjects, RuleSet};
use ws3_webhook::{AppState, admission::Evaluator, metrics::Metrics, router};

/// The planted values; none may appear anywhere ws3 writes.
const PLANTED: &[&str] = &[
    "Quoted-Planted-1",
    "73915824601",
    "Url-Planted-2",
    "Jdbc-Planted-3",
    "Conninfo-Planted-4",
    "Npgsql-Planted-5",
    "Env-Planted-6",
];

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn review(uid: &str, operation: &str, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap();
    let api = object["apiVersion"].as_str().unwrap();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
            "name": object["metadata"]["name"], "namespace": "shop", "operation": operation,
            "userInfo": {"username": "alice"}, "object": object, "oldObject": null, "dryRun": false
        }
    })
}

fn planted_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db", "namespace": "shop"},
        "data": {
            "POSTGRES_PASSWORD": "Quoted-Planted-1",
            "PGPASSWORD": "73915824601",
            "DATABASE_URL": "postgresql://app:Url-Planted-2@db:5432/app",
            "JDBC_URL": "jdbc:postgresql://db:5432/app?user=app&password=Jdbc-Planted-3",
            "PGBOUNCER": "host=db dbname=app user=app password=Conninfo-Planted-4",
            "ConnectionStrings__Db": "Host=postgres;Database=app;Username=app;Password=Npgsql-Planted-5"
        }}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {"containers": [{"name": "api", "image": "example/api:1", "env": [
                {"name": "POSTGRES_PASSWORD", "value": "Env-Planted-6"},
                {"name": "DATABASE_URL", "value": "postgres://app:Url-Planted-2@db/app"}
            ]}]}}}}),
    ]
}

#[tokio::test(flavor = "current_thread")]
async fn no_planted_secret_reaches_a_response_or_a_log_line() {
    let sink = Sink::default();
    let (writer, guard) = ws3_webhook::logging::non_blocking(sink.clone());
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _default =
        tracing::subscriber::set_default(ws3_webhook::logging::subscriber("debug", writer));
    tracing::callsite::rebuild_interest_cache();
    let engine = Engine::new(&EngineOptions {
        cache_dir: Some(common::module_cache()),
        pooling: Some(2),
        ..EngineOptions::default()
    })
    .unwrap();
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
    let evaluator = Arc::new(Evaluator::new(engine, rules, Arc::new(Metrics::new())));
    let app = router(AppState::new(
        evaluator,
        Arc::new(NoObjects),
        2,
        Duration::from_secs(8),
    ));
    let mut responses = String::new();
    for (i, object) in planted_objects().iter().enumerate() {
        let body = review(&format!("uid-{i}"), "CREATE", object).to_string();
        let response = app
            .clone()
            .oneshot(
                Request::post("/validate")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["response"]["allowed"], false, "{answer}");
        assert!(
            answer["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("[postgres-credentials-in-configmap]"),
            "{answer}"
        );
        responses.push_str(&answer.to_string());
    }
    drop(guard);
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("admission decision"), "{logs}");
    for value in PLANTED {
        assert!(
            !responses.contains(value),
            "{value} in a response: {responses}"
        );
        assert!(!logs.contains(value), "{value} in the logs: {logs}");
    }
}
