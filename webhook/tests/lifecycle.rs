//! A namespace's ordinary life, as a real kube-apiserver with a controller-manager sent it
//! (`tests/fixtures/admission/lifecycle`, copied from the captures): routine updates of a
//! StatefulSet that violated two rules before any webhook existed, controllers making and
//! deleting Pods, garbage collection, and the namespace's deletion (the namespace controller
//! deletes through delete-collection). Replayed in order through the real router, with every
//! built-in rule in enforce mode and the watch caches as they were at each moment: nothing is
//! denied, and the legacy StatefulSet's updates come back with its existing violations as
//! warnings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{body::Body, http::Request};
use serde_json::Value;
use tower::ServiceExt;
use ws3_engine::{
    Config, Engine, EngineOptions, KindRef, ObjectSource, RuleSet,
    context::{SharedContext, view},
    object::PodTemplates,
};
use ws3_webhook::{AppState, admission::Evaluator, metrics::Metrics, router};

fn lifecycle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission/lifecycle")
}

/// The captures in the order the API server sent them (the number at the end of the name).
fn captures() -> Vec<(u32, String, Value)> {
    let mut out: Vec<(u32, String, Value)> = std::fs::read_dir(lifecycle_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let order = name.rsplit('-').next().unwrap().parse().unwrap();
            let body: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (order, name, body)
        })
        .collect();
    out.sort_by_key(|(order, _, _)| *order);
    out
}

fn capture(all: &[(u32, String, Value)], order: u32) -> &Value {
    &all.iter().find(|(o, _, _)| *o == order).unwrap().2
}

/// Puts an object into the caches as a watch would.
fn cache(context: &SharedContext, object: &Value) {
    let kind = KindRef::from_type(
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
    );
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
    let name = object["metadata"]["name"].as_str().unwrap();
    let json = view(&kind, &object.to_string(), &PodTemplates::default()).unwrap();
    context.update(|index| index.insert(kind, namespace, name, Arc::from(json)));
}

async fn post(app: &axum::Router, body: &Value) -> Value {
    let response = app
        .clone()
        .oneshot(
            Request::post("/validate")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_namespace_lives_and_dies_without_a_denial() {
    let all = captures();
    assert_eq!(all.len(), 49, "the captured requests");
    let engine = Engine::new(&EngineOptions {
        cache_dir: Some(common::module_cache()),
        pooling: Some(4),
        ..EngineOptions::default()
    })
    .unwrap();
    // Every built-in rule, in enforce mode (the default).
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
    assert_eq!(rules.enabled().count(), 4);
    let evaluator = Arc::new(Evaluator::new(engine, rules, Arc::new(Metrics::new())));
    // The caches before the namespace is deleted: the namespace, its default-deny policy,
    // its headless Service, its ConfigMap and the legacy StatefulSet (as the deletes that
    // remove them carry them).
    let context = Arc::new(SharedContext::new());
    let namespace_delete = 44;
    cache(
        &context,
        &capture(&all, namespace_delete)["request"]["oldObject"],
    );
    for order in [61, 65, 48, 49] {
        cache(&context, &capture(&all, order)["request"]["oldObject"]);
    }
    let source: Arc<dyn ObjectSource> = Arc::clone(&context) as Arc<dyn ObjectSource>;
    let app = router(AppState::new(evaluator, source, 4, Duration::from_secs(8)));
    let mut legacy_updates = 0;
    for (order, name, body) in &all {
        if *order > namespace_delete {
            // From the user's DELETE on, the watch cache holds the namespace as terminating.
            cache(&context, &capture(&all, 67)["request"]["object"]);
        }
        let answer = post(&app, body).await;
        let response = &answer["response"];
        assert_eq!(response["allowed"], true, "{name}: {response}");
        if name.starts_with("statefulset-update-legacy") {
            legacy_updates += 1;
            let warnings = response["warnings"].to_string();
            for rule in ["statefulset-emptydir-data", "statefulset-headless-service"] {
                assert!(
                    warnings.contains(&format!(
                        "existing violation, not introduced by this change: [{rule}]"
                    )),
                    "{name}: {warnings}"
                );
            }
        }
    }
    assert_eq!(legacy_updates, 4, "image, label, annotation and restart");
}

#[tokio::test]
async fn a_change_that_adds_a_violation_to_the_legacy_statefulset_is_denied() {
    let all = captures();
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
        Arc::new(ws3_engine::NoObjects),
        2,
        Duration::from_secs(8),
    ));
    // `kubectl set image` on the legacy StatefulSet, with a literal postgres password added to
    // its container in the same change.
    let mut body = capture(&all, 1).clone();
    let container = &mut body["request"]["object"]["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().cloned().unwrap_or_default();
    let mut env = env;
    env.push(serde_json::json!({"name": "POSTGRES_PASSWORD", "value": "not-a-real-password"}));
    container["env"] = Value::Array(env);
    let response = &post(&app, &body).await["response"];
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "introduced by this change: [postgres-credentials-in-configmap] container \"postgres\" sets env var \"POSTGRES_PASSWORD\""
        ),
        "{message}"
    );
    assert!(!message.contains("not-a-real-password"), "{message}");
    // The violations the StatefulSet already had are warnings, not reasons to deny.
    assert!(
        !message.contains("[statefulset-emptydir-data]"),
        "{message}"
    );
    assert!(
        response["warnings"].to_string().contains(
            "existing violation, not introduced by this change: [statefulset-emptydir-data]"
        ),
        "{response}"
    );
}
