//! The built-in rules at admission, on the captured reviews, with a fake cluster: what the
//! rules' READMEs promise at admission is what the webhook answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, LazyLock};

use common::*;
use ws3_engine::{Config, Engine, EngineOptions, ObjectSource, RuleSet};
use ws3_webhook::{
    admission::{Decision, Evaluator, ReviewRequest, Skip},
    metrics::Metrics,
};

static EVALUATOR: LazyLock<Evaluator> = LazyLock::new(|| {
    let cache = module_cache();
    let engine = Engine::new(&EngineOptions {
        cache_dir: Some(cache),
        pooling: Some(8),
        ..Default::default()
    })
    .unwrap();
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
    Evaluator::new(engine, rules, Arc::new(Metrics::new()))
});

const RULES: [&str; 4] = [
    "namespace-default-deny",
    "postgres-credentials-in-configmap",
    "statefulset-emptydir-data",
    "statefulset-headless-service",
];

/// The built-in components are in this build: they are committed, and a checkout without them
/// must fail these tests, not skip them.
fn expect_builtins() {
    let ids: Vec<&str> = EVALUATOR
        .rules()
        .all()
        .iter()
        .map(|r| r.rule.meta().id.as_str())
        .collect();
    assert_eq!(ids, RULES, "the built-in rules are embedded");
}

/// The Helm chart registers exactly what the built-in rules judge: `files/registration.json` is
/// what `ws3-webhook registration` prints for them (regenerate it with that command).
#[test]
fn the_chart_registers_what_the_rules_declare() {
    expect_builtins();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../charts/ws3/files/registration.json"
    );
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let derived = serde_json::to_value(EVALUATOR.rules().registration()).unwrap();
    assert_eq!(
        derived,
        committed,
        "charts/ws3/files/registration.json is stale; run `ws3-webhook registration > charts/ws3/files/registration.json`:\n{}",
        serde_json::to_string_pretty(&derived).unwrap()
    );
}

fn judge(body: &str, source: impl ObjectSource + 'static) -> Decision {
    let req = ReviewRequest::parse(body.as_bytes()).unwrap();
    let source: Arc<dyn ObjectSource> = Arc::new(source);
    EVALUATOR.evaluate(&req, &source)
}

#[test]
fn the_course_statefulset_is_denied_with_every_finding() {
    expect_builtins();
    // An empty cluster: no default-deny policy, no headless Service yet.
    let d = judge(&fixture("statefulset-create-db-006"), FakeSource::default());
    assert!(!d.allowed);
    let mut denied = d.denied_by.clone();
    denied.sort();
    assert_eq!(denied, RULES, "{d:#?}");
    let message = d.message();
    eprintln!("{message}\nwarnings: {:#?}", d.warnings);
    assert!(
        message.contains("[statefulset-emptydir-data]") && message.contains("emptyDir"),
        "{message}"
    );
    assert!(message.contains("; fix: "), "{message}");
    // Rule 3 says which NetworkPolicy to create.
    let line = d
        .denials
        .iter()
        .find(|l| l.starts_with("[namespace-default-deny]"))
        .unwrap();
    assert!(
        line.contains("NetworkPolicy") || line.contains("default-deny"),
        "{line}"
    );

    // In a namespace set up as the course teaches, only the object's own problems remain.
    let d = judge(&fixture("statefulset-create-db-006"), course_cluster());
    let mut denied = d.denied_by.clone();
    denied.sort();
    assert_eq!(
        denied,
        [
            "postgres-credentials-in-configmap",
            "statefulset-emptydir-data"
        ],
        "{d:#?}"
    );
}

#[test]
fn a_clean_statefulset_is_allowed_in_a_prepared_namespace() {
    expect_builtins();
    let d = judge(&fixture("statefulset-create-web-013"), course_cluster());
    assert!(d.allowed, "{d:#?}");
    assert!(d.denials.is_empty());
}

#[test]
fn a_namespace_create_gets_a_warning() {
    expect_builtins();
    let d = judge(
        &fixture("namespace-create-kubernetes-ws-3-001"),
        FakeSource::default(),
    );
    assert!(d.allowed, "{d:#?}");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("[namespace-default-deny]")),
        "{d:#?}"
    );
}

#[test]
fn deleting_the_covering_policy_is_denied() {
    expect_builtins();
    let d = judge(
        &fixture("networkpolicy-delete-default-deny-ingress-031"),
        course_cluster(),
    );
    assert!(!d.allowed, "{d:#?}");
    assert_eq!(d.denied_by, ["namespace-default-deny"]);
    // Deleting a policy that covers nothing is fine.
    let d = judge(
        &fixture("networkpolicy-delete-db-allow-backend-030"),
        course_cluster(),
    );
    assert!(d.allowed, "{d:#?}");
}

#[test]
fn weakening_the_covering_policy_is_denied() {
    expect_builtins();
    // An UPDATE that adds an allow-all ingress rule to the default-deny policy.
    let mut v: serde_json::Value =
        serde_json::from_str(&fixture("networkpolicy-create-default-deny-ingress-017")).unwrap();
    let request = &mut v["request"];
    request["operation"] = "UPDATE".into();
    request["oldObject"] = request["object"].clone();
    request["object"]["spec"]["ingress"] = serde_json::json!([{}]);
    let d = judge(&v.to_string(), course_cluster());
    assert!(!d.allowed, "{d:#?}");
    assert_eq!(d.denied_by, ["namespace-default-deny"]);
    // An update that keeps it denying everything (a new label) is fine.
    let request = &mut v["request"];
    request["object"] = request["oldObject"].clone();
    request["object"]["metadata"]["labels"] = serde_json::json!({ "team": "db" });
    let d = judge(&v.to_string(), course_cluster());
    assert!(d.allowed, "{d:#?}");
}

#[test]
fn deleting_a_headless_service_a_statefulset_uses_is_denied() {
    expect_builtins();
    let d = judge(
        &as_delete(&fixture("service-create-nginx-012")),
        course_cluster(),
    );
    assert!(!d.allowed, "{d:#?}");
    assert_eq!(d.denied_by, ["statefulset-headless-service"]);
    // Suppressed on the Service: allowed, with a warning naming the rule.
    let body = as_delete(&fixture("service-create-nginx-012"));
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["request"]["oldObject"]["metadata"]["annotations"] =
        serde_json::json!({ "ws3.dev/ignore": "statefulset-headless-service" });
    let d = judge(&v.to_string(), course_cluster());
    assert!(d.allowed, "{d:#?}");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("[statefulset-headless-service]") && w.contains("suppressed")),
        "{d:#?}"
    );
}

#[test]
fn credentials_in_a_configmap_are_denied_and_scale_is_not_reviewed() {
    expect_builtins();
    let d = judge(&fixture("configmap-create-db-config-003"), course_cluster());
    assert!(!d.allowed, "{d:#?}");
    assert_eq!(d.denied_by, ["postgres-credentials-in-configmap"]);
    assert!(
        !d.message().contains("password\""),
        "no secret value in the message: {}",
        d.message()
    );
    let d = judge(&fixture("scale-update-postgres-020"), FakeSource::default());
    assert_eq!(d.skipped, Some(Skip::Subresource));
}

#[test]
fn every_captured_review_is_answered_without_a_module_failure() {
    expect_builtins();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission");
    let lifecycle = std::fs::read_dir(dir.join("lifecycle")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap().chain(lifecycle) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let d = judge(&std::fs::read_to_string(&path).unwrap(), course_cluster());
        assert!(d.failed.is_empty(), "{}: {d:#?}", path.display());
    }
}

/// A cluster whose watch cache sees the StatefulSet's headless Service only a moment later.
struct Late(std::sync::Mutex<FakeSource>);

impl ObjectSource for Late {
    fn get(&self, kind: &ws3_engine::KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.0.lock().unwrap().get(kind, namespace, name)
    }
    fn list(&self, kind: &ws3_engine::KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.0.lock().unwrap().list(kind, namespace)
    }
}

async fn review_with_late_service(settle: std::time::Duration) -> serde_json::Value {
    use tower::ServiceExt;
    let engine = Engine::new(&EngineOptions {
        cache_dir: Some(module_cache()),
        pooling: Some(4),
        ..Default::default()
    })
    .unwrap();
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
    let evaluator = Arc::new(Evaluator::new(engine, rules, Arc::new(Metrics::new())));
    let mut cluster = course_cluster();
    cluster
        .objects
        .retain(|(kind, _, name), _| !(kind == "Service" && name == "nginx"));
    let source = Arc::new(Late(std::sync::Mutex::new(cluster)));
    let state = ws3_webhook::AppState::new(
        evaluator,
        Arc::clone(&source) as Arc<dyn ObjectSource>,
        2,
        std::time::Duration::from_secs(8),
    )
    .with_settle(settle);
    let app = ws3_webhook::router(state);
    let late = Arc::clone(&source);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut fake = late.0.lock().unwrap();
        let service = fixture_object("service-create-nginx-012");
        fake.objects.insert(
            ("Service".into(), "kubernetes-ws-3".into(), "nginx".into()),
            service,
        );
    });
    let request = axum::http::Request::post("/validate")
        .body(axum::body::Body::from(fixture(
            "statefulset-create-web-013",
        )))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_created_just_before_its_statefulset_is_seen_after_the_caches_settle() {
    expect_builtins();
    let answer = review_with_late_service(std::time::Duration::from_millis(400)).await;
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    // Without the second look, the lagging cache denies.
    let answer = review_with_late_service(std::time::Duration::ZERO).await;
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("[statefulset-headless-service]")
    );
}
