//! The admission router driven with `tower::ServiceExt::oneshot`, without a port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::*;
use serde_json::Value;
use tower::ServiceExt;
use ws3_engine::{Mode, OnError};
use ws3_webhook::{AppState, admission::Evaluator, health_router, metrics::Metrics, router};

fn app(slots: usize, timeout: Duration) -> (axum::Router, Arc<Metrics>) {
    let (router, metrics, _) = app_with_slots(slots, timeout);
    (router, metrics)
}

fn app_with_slots(slots: usize, timeout: Duration) -> (axum::Router, Arc<Metrics>, AppState) {
    let engine = engine(300);
    let rules = rule_set(
        &engine,
        &standard_rules()
            .into_iter()
            .map(|r| (r, Mode::Enforce, OnError::Deny))
            .collect::<Vec<_>>(),
        &[],
        &["kube-system"],
    );
    let metrics = Arc::new(Metrics::new());
    metrics.register_rules(standard_rules().iter().map(|r| r.id));
    let evaluator = Arc::new(Evaluator::new(engine, rules, Arc::clone(&metrics)));
    let state = AppState::new(evaluator, Arc::new(FakeSource::default()), slots, timeout);
    (router(state.clone()), metrics, state)
}

async fn post(
    app: &axum::Router,
    body: impl Into<Body>,
    content_type: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::post("/validate");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let response = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn answers_with_the_request_uid_and_a_v1_review() {
    let (app, _) = app(2, Duration::from_secs(8));
    let body = fixture("statefulset-create-web-013");
    let (status, text) = post(&app, body, Some("application/json")).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    let uid = serde_json::from_str::<Value>(&fixture("statefulset-create-web-013")).unwrap()["request"]["uid"].clone();
    assert_eq!(v["response"]["uid"], uid);
    assert_eq!(v["response"]["allowed"], false);
    assert!(v.get("request").is_none());
}

#[tokio::test]
async fn bodies_that_are_not_reviews_get_http_errors_with_clear_messages() {
    let (app, metrics) = app(2, Duration::from_secs(8));
    let cases: [(&str, Option<&str>, StatusCode, &str); 6] = [
        (
            "",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "body is empty",
        ),
        (
            "[1,2",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "not a valid AdmissionReview",
        ),
        (
            "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":null}",
            None,
            StatusCode::BAD_REQUEST,
            "admission.k8s.io/v1",
        ),
        (
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
            None,
            StatusCode::BAD_REQUEST,
            "no `request`",
        ),
        (
            "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"PATCH\"}}",
            None,
            StatusCode::BAD_REQUEST,
            "request.operation",
        ),
        (
            "apiVersion: v1",
            Some("application/yaml"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
    ];
    for (body, ct, status, needle) in cases {
        let (got, text) = post(&app, body, ct).await;
        assert_eq!(got, status, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], status.as_u16());
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body}: {text}"
        );
    }
    let (got, text) = post(&app, vec![b' '; (3 << 20) + 1], Some("application/json")).await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(
        metrics.render().contains("decision=\"invalid\"} 7"),
        "{}",
        metrics.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_slot_counts_against_the_deadline() {
    // The one slot is taken; the review cannot get it within its 100 ms and is answered,
    // naming the rules it could not run.
    let (app, _, state) = app_with_slots(1, Duration::from_millis(100));
    let taken = Arc::clone(&state.slots).acquire_owned().await.unwrap();
    let (status, text) = post(&app, fixture("statefulset-create-db-006"), None).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("[test-deny]") && message.contains("review deadline"),
        "{message}"
    );
    // Once the slot is free the rules judge it.
    drop(taken);
    let (_, text) = post(&app, fixture("statefulset-create-db-006"), None).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("[test-deny]") && !message.contains("review deadline"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rule_moves_evaluations_off_the_runtime_workers() {
    let (app, _, state) = app_with_slots(2, Duration::from_secs(8));
    // Quick evaluations stay on the worker that read the request.
    let (status, _) = post(&app, fixture("statefulset-create-web-013"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(state.placement.inline(std::time::Instant::now()));
    // A rule that loops until its 300 ms deadline: denied, and the evaluations that follow run
    // on blocking threads, still judged the same.
    let (status, text) = post(&app, fixture("service-create-db-headless-004"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("test-loop"), "{text}");
    assert!(!state.placement.inline(std::time::Instant::now()));
    let (_, text) = post(&app, fixture("statefulset-create-db-006"), None).await;
    assert!(text.contains("[test-deny]"), "{text}");
}

#[tokio::test]
async fn health_endpoints() {
    let metrics = Arc::new(Metrics::new());
    let health = health_router(Arc::clone(&metrics));
    let get = |path: &'static str| {
        let health = health.clone();
        async move {
            let response = health
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let ct = response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, ct, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    let (status, _, text) = get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        text.contains("rule modules compiling") && text.contains("configmaps"),
        "{text}"
    );
    metrics.set_modules_ready();
    for r in ws3_webhook::metrics::RESOURCES {
        metrics.set_cache_synced(r, true);
    }
    assert_eq!(get("/readyz").await.0, StatusCode::OK);
    let (status, ct, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ct.unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    assert!(
        text.contains("# TYPE ws3_admission_request_duration_seconds histogram"),
        "{text}"
    );
}

/// A log output the test reads.
#[derive(Clone, Default)]
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_json_log_line_per_decision_naming_the_request_not_its_content() {
    let sink = LogSink::default();
    let (writer, guard) = ws3_webhook::logging::non_blocking(sink.clone());
    // tracing caches whether each call site is enabled. While only one subscriber exists in the
    // process (this scoped one), it asks the subscriber of the thread that first reaches a call
    // site, so a site first reached by a test running in parallel (no subscriber) would stay off
    // here. With a second live dispatcher it asks every subscriber.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _default =
        tracing::subscriber::set_default(ws3_webhook::logging::subscriber("info", writer));
    tracing::callsite::rebuild_interest_cache();
    let (app, _) = app(2, Duration::from_secs(8));
    let reviews = [
        "statefulset-create-db-006",
        "configmap-create-db-config-003",
        "secret-create-manifest-secret-015",
    ];
    for name in reviews {
        let (status, _) = post(&app, fixture(name), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The guard writes out every queued line when it goes, as at the end of `main`.
    drop(guard);
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let decisions: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["message"] == "admission decision")
        .collect();
    assert_eq!(decisions.len(), reviews.len(), "{text}");
    for (line, name) in decisions.iter().zip(reviews) {
        let review: Value = serde_json::from_str(&fixture(name)).unwrap();
        let request = &review["request"];
        for field in ["uid", "name", "namespace", "operation"] {
            assert_eq!(line[field], request[field], "{field} of {name}: {line}");
        }
        assert_eq!(line["kind"], request["kind"]["kind"]);
        assert_eq!(line["user"], "kubernetes-admin");
        assert_eq!(line["level"], "INFO");
        assert!(line["latency_us"].is_u64(), "{line}");
    }
    assert_eq!(decisions[0]["decision"], "denied");
    assert_eq!(decisions[0]["denied_by"], "test-deny");
    assert_eq!(decisions[0]["warned_by"], "test-warn");
    assert_eq!(decisions[1]["decision"], "denied");
    assert_eq!(decisions[1]["failed"], "test-trap");
    assert_eq!(decisions[2]["decision"], "allowed");
    assert_eq!(decisions[2]["skipped"], "no-rule-for-kind");
    // Never the objects: no image, no ConfigMap value, no Secret data, no finding text.
    for content in [
        "postgres:13.3",
        "\"password\"",
        "cGFzc3dvcmQ=",
        "S3ViZXJuZXRlcw==",
        "emptyDir",
    ] {
        assert!(!text.contains(content), "{content} logged: {text}");
    }
}

/// A review of `group/kind` named by the caller, otherwise like a captured one.
fn review_of(group: &str, kind: &str, operation: &str, i: usize) -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{i}"),
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": "things"},
            "name": format!("thing-{i}"),
            "namespace": "default",
            "operation": operation,
            "userInfo": {"username": format!("user-{i}")},
            "object": {"apiVersion": "v1", "kind": kind, "metadata": {"name": format!("thing-{i}")}},
        }
    })
    .to_string()
}

/// The series of the exposition: every line that is not a comment.
fn series(metrics: &Metrics) -> Vec<String> {
    metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
        .collect()
}

#[tokio::test]
async fn a_flood_of_odd_requests_cannot_grow_the_metrics() {
    let (app, metrics) = app(2, Duration::from_secs(8));
    // A pseudo-random sequence (xorshift), the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let operations = ["CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH"];
    let mut after_a_thousand = Vec::new();
    for i in 0..10_000 {
        let r = next();
        let body = match r % 8 {
            // A kind a rule reviews.
            0 => review_of("apps", "StatefulSet", operations[(r >> 8) as usize % 3], i),
            // Same name, another group: no rule reviews it.
            1 => review_of("example.com", "StatefulSet", "CREATE", i),
            // Not a review at all.
            2 => format!("{{\"kind\": {r}"),
            _ => review_of(
                &format!("g{}.example.com", r >> 40),
                &format!("Kind{r:x}\"\n{{}}"),
                operations[(r >> 8) as usize % operations.len()],
                i,
            ),
        };
        let (status, text) = post(&app, body, None).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{status}: {text}"
        );
        if i == 999 {
            after_a_thousand = series(&metrics);
        }
    }
    let text = metrics.render();
    let series = series(&metrics);
    // The same series after 1,000 requests and after 10,000: the label values come from fixed
    // sets, all seen by then.
    assert_eq!(series, after_a_thousand, "{text}");
    assert!(series.len() < 200, "{} series: {text}", series.len());
    let requests: Vec<&String> = series
        .iter()
        .filter(|s| s.starts_with("ws3_admission_requests_total"))
        .collect();
    for s in &requests {
        assert!(
            s.contains("kind=\"StatefulSet\"") || s.contains("kind=\"other\""),
            "{s}"
        );
        assert!(!s.contains("Kind") && !s.contains("example.com"), "{s}");
    }
    assert!(
        text.contains(
            "ws3_admission_requests_total{kind=\"other\",operation=\"CREATE\",decision=\"allowed\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ws3_admission_requests_total{kind=\"other\",operation=\"other\",decision=\"invalid\"}"
        ),
        "{text}"
    );
    // Every request was counted.
    let total: u64 = metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("ws3_admission_requests_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 10_000);
}
