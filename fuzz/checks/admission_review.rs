//! The properties the `admission_review` fuzz target checks, shared with the stable-toolchain
//! replay of the corpus (`webhook/tests/fuzz_corpus.rs`). Panics when one does not hold.
//!
//! What is fuzzed: AdmissionReview decoding (`ReviewRequest::parse`) and the `/validate` handler
//! end to end, in-process: the webhook's own router (`ws3_webhook::router`) with the built-in
//! rules and a static cluster context (a Namespace, its default-deny NetworkPolicy and a
//! headless Service), driven without a port. Input: the POST body, sent as `application/json`.
//!
//! Properties: never panics, and every request gets an HTTP answer whose body is JSON;
//! - a body `ReviewRequest::parse` reads gets 200 and an `admission.k8s.io/v1` AdmissionReview
//!   whose `response.uid` is the request's uid, with `allowed` a boolean, no `request`, and, when
//!   not allowed, a status with code 403 and a non-empty message;
//! - any other body gets 400 with `{"code": 400, "message": …}`, the message being the parse
//!   error (or the empty-body message), as `webhook/src/api/error.rs` documents;
//! - secret values never reach the answer: the values of a Secret's `data` and `stringData`, the
//!   values under secret-like keys of any object's `data` and of `env` entries, and every
//!   password the credential detector finds in those values. Differential: the body is sent
//!   again with each such value replaced by a stand-in of the same shape (letters, digits, the
//!   rest kept), and a value that appears in the first answer must also appear in the second (it
//!   came from elsewhere: a name, the uid, a rule's own text), never from the value itself.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use serde_json::Value;
use tower::ServiceExt;
use ws3_credentials::{is_secret_like_key, password_spans};
use ws3_engine::{
    Config, Engine, EngineOptions, KindRef, ObjectSource, RuleSet,
    context::{ContextIndex, view},
};
use ws3_webhook::{
    AppState,
    admission::{API_VERSION, Evaluator, ReviewRequest},
    metrics::Metrics,
    router,
};

/// The empty-body answer (`webhook/src/api/error.rs`).
const EMPTY_BODY: &str = "the request body is empty; expected an AdmissionReview";

/// The static cluster context: other objects the cross-object rules read.
const CLUSTER: &[(&str, &str, &str)] = &[
    (
        "",
        "Namespace",
        r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kubernetes-ws-3","labels":{"kubernetes.io/metadata.name":"kubernetes-ws-3"}},"spec":{"finalizers":["kubernetes"]}}"#,
    ),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        r#"{"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1","metadata":{"name":"default-deny-ingress","namespace":"kubernetes-ws-3"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"]}}"#,
    ),
    (
        "",
        "Service",
        r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"db-headless","namespace":"kubernetes-ws-3","labels":{"app":"db"}},"spec":{"ports":[{"protocol":"TCP","port":5432,"targetPort":5432}],"selector":{"app":"db"},"clusterIP":"None","type":"ClusterIP"}}"#,
    ),
];

struct App {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

static APP: LazyLock<App> = LazyLock::new(|| {
    // As the server sets it up (`webhook/src/server.rs`), without a port or watch caches.
    let engine = Engine::new(&EngineOptions {
        pooling: Some(2),
        ..EngineOptions::default()
    })
    .expect("the engine starts");
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).expect("built-in rules load");
    assert!(!rules.all().is_empty(), "the built-in rules are embedded");
    let mut index = ContextIndex::new();
    for (group, kind, json) in CLUSTER {
        let kind = KindRef::new(*group, *kind);
        let object: Value = serde_json::from_str(json).expect("a cluster object is JSON");
        let meta = &object["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or_default();
        let name = meta["name"].as_str().unwrap_or_default();
        let view = view(&kind, json, rules.pod_templates()).expect("a cluster object has a view");
        index.insert(kind, namespace, name, view.into());
    }
    let source: Arc<dyn ObjectSource> = Arc::new(index);
    let evaluator = Arc::new(Evaluator::new(engine, rules, Arc::new(Metrics::new())));
    let state = AppState::new(evaluator, source, 2, Duration::from_secs(8));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    App {
        runtime,
        router: router(state),
    }
});

/// Sets up the router (compiles the built-in rules) ahead of the first input.
#[allow(dead_code)] // the stable replay sets up on its first input
pub fn init() {
    LazyLock::force(&APP);
}

/// Posts `body` to `/validate`; the answer's status and body.
fn post(body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let app = &*APP;
    app.runtime.block_on(async {
        let request = Request::post("/validate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a request");
        let Ok(response) = app.router.clone().oneshot(request).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the answer's body is read");
        (status, bytes.to_vec())
    })
}

/// Checks one input.
pub fn check(data: &[u8]) {
    let parsed = ReviewRequest::parse(data);
    let (status, body) = post(data.to_vec());
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{status}: the answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    match &parsed {
        Ok(req) => {
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["apiVersion"], API_VERSION, "{answer}");
            assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
            assert!(
                answer.get("request").is_none(),
                "the request echoed: {answer}"
            );
            let response = &answer["response"];
            assert_eq!(response["uid"].as_str(), Some(req.uid.as_str()), "{answer}");
            let allowed = response["allowed"].as_bool();
            assert!(allowed.is_some(), "`allowed` is not a boolean: {answer}");
            if allowed == Some(false) {
                assert_eq!(response["status"]["code"], 403, "{answer}");
                let message = response["status"]["message"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "a denial without a message: {answer}");
            }
            if let Some(warnings) = response.get("warnings") {
                let all_strings = warnings
                    .as_array()
                    .is_some_and(|w| w.iter().all(Value::is_string));
                assert!(all_strings, "warnings: {answer}");
            }
        }
        Err(e) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert_eq!(answer["code"], 400, "{answer}");
            let expected = if data.is_empty() {
                EMPTY_BODY.to_owned()
            } else {
                e.to_string()
            };
            assert_eq!(answer["message"].as_str(), Some(expected.as_str()));
        }
    }
    if parsed.is_ok() {
        secrets(data, &body);
    }
}

/// No secret value of the review's objects reaches the answer (see the module documentation).
fn secrets(data: &[u8], answer: &[u8]) {
    let Ok(mut review) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut replaced = Vec::new();
    for field in ["object", "oldObject"] {
        if let Some(object) = review.pointer_mut(&format!("/request/{field}")) {
            hide(object, &mut replaced);
        }
    }
    if replaced.is_empty() {
        return;
    }
    let answer = String::from_utf8_lossy(answer);
    let body = serde_json::to_vec(&review).expect("a Value serializes");
    let (_, second) = post(body);
    let second = String::from_utf8_lossy(&second);
    for (secret, _) in &replaced {
        // The answer is JSON: look for the value as JSON writes it inside a string.
        let written = serde_json::to_string(secret).expect("a string serializes");
        let written = &written[1..written.len() - 1];
        assert!(
            !answer.contains(written) || second.contains(written),
            "a secret value of the review reaches the answer (shown with its stand-in): {}",
            second
        );
    }
}

/// Replaces the secret values of one object by stand-ins; records (value, stand-in).
fn hide(object: &mut Value, replaced: &mut Vec<(String, String)>) {
    let is_secret = object["kind"] == "Secret";
    if let Some(map) = object.as_object_mut() {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(entries)) = map.get_mut(field) {
                for (key, value) in entries.iter_mut() {
                    let whole = is_secret || is_secret_like_key(key);
                    stand_in(value, whole, replaced);
                }
            }
        }
    }
    env(object, replaced);
}

/// `env` entries anywhere in the object: `{"name": …, "value": …}`.
fn env(value: &mut Value, replaced: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "env"
                    && let Value::Array(entries) = inner
                {
                    for entry in entries.iter_mut() {
                        let whole = entry["name"].as_str().is_some_and(is_secret_like_key);
                        if let Some(v) = entry.get_mut("value") {
                            stand_in(v, whole, replaced);
                        }
                    }
                } else {
                    env(inner, replaced);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| env(v, replaced)),
        _ => {}
    }
}

/// Replaces a string value (`whole`) or the passwords in it by stand-ins of the same shape.
/// Only values of at least 8 characters mixing letters and digits are followed: shorter or plainer
/// ones could be a rule's own words.
fn stand_in(value: &mut Value, whole: bool, replaced: &mut Vec<(String, String)>) {
    let Value::String(text) = value else {
        return;
    };
    let spans = if whole {
        std::iter::once(0..text.len()).collect()
    } else {
        password_spans(text)
    };
    let mut out = String::new();
    let mut at = 0;
    for span in spans {
        let secret = &text[span.clone()];
        out.push_str(&text[at..span.start]);
        if followed(secret) {
            let shape = shape(secret);
            replaced.push((secret.to_owned(), shape.clone()));
            out.push_str(&shape);
        } else {
            out.push_str(secret);
        }
        at = span.end;
    }
    out.push_str(&text[at..]);
    *text = out;
}

fn followed(secret: &str) -> bool {
    secret.chars().count() >= 8
        && secret.chars().any(|c| c.is_ascii_alphabetic())
        && secret.chars().any(|c| c.is_ascii_digit())
}

/// Every letter and digit changed, keeping its class (and so the value's structure).
fn shape(secret: &str) -> String {
    secret
        .chars()
        .map(|c| match c {
            'Q' => 'R',
            'A'..='Z' => 'Q',
            'q' => 'r',
            'a'..='z' => 'q',
            '7' => '8',
            '0'..='9' => '7',
            other => other,
        })
        .collect()
}
