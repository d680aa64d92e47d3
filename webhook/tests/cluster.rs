//! The cluster-reading side against a Kubernetes API: a fake API server on loopback answers the
//! list and watch requests of the real kube `Client` with recorded JSON, including a watch event
//! that adds an object. Also an `#[ignore]`d end-to-end test against a real cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use ws3_engine::{KindRef, ObjectSource};
use ws3_webhook::{cluster::ClusterWatches, metrics::Metrics};

#[derive(Default)]
struct Fake {
    requests: Mutex<Vec<String>>,
    release_statefulsets: Notify,
    /// Watch events to send once, by resource path.
    events: Mutex<HashMap<&'static str, Vec<Value>>>,
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": api_version, "kind": format!("{kind}List"), "metadata": { "resourceVersion": "100" }, "items": items })
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "uid": format!("uid-{name}"),
        "resourceVersion": "90",
        "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{\"secret\":\"do-not-keep\"}", "team": "db" },
        "managedFields": [{ "manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {} }]
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn canned(path: &str) -> Option<Value> {
    Some(match path {
        "/api/v1/namespaces" => list(
            "Namespace",
            "v1",
            vec![
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta("shop", None) }),
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta("default", None) }),
            ],
        ),
        "/apis/networking.k8s.io/v1/networkpolicies" => list(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            vec![
                json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("allow-backend", Some("shop")),
                "spec": { "podSelector": { "matchLabels": { "app": "db" } }, "policyTypes": ["Ingress"] } }),
            ],
        ),
        "/api/v1/services" => list(
            "Service",
            "v1",
            vec![
                json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta("db-headless", Some("shop")),
                "spec": { "clusterIP": "None", "selector": { "app": "db" }, "ports": [{ "port": 5432 }] } }),
            ],
        ),
        "/api/v1/configmaps" => list(
            "ConfigMap",
            "v1",
            vec![
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("db-config", Some("shop")),
                    "data": { "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "password" } }),
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("other", Some("default")), "data": {} }),
            ],
        ),
        "/apis/apps/v1/statefulsets" => list(
            "StatefulSet",
            "apps/v1",
            vec![
                json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", Some("shop")),
                "spec": { "serviceName": "db-headless", "selector": { "matchLabels": { "app": "db" } },
                          "template": { "metadata": { "labels": { "app": "db" } }, "spec": { "containers": [{ "name": "pg", "image": "postgres" }] } } } }),
            ],
        ),
        _ => return None,
    })
}

async fn api(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    fake.requests
        .lock()
        .unwrap()
        .push(format!("{path}?{query}"));
    let Some(body) = canned(&path) else {
        return (StatusCode::NOT_FOUND, "{}").into_response();
    };
    if query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1")
    {
        let events: Vec<Value> = fake
            .events
            .lock()
            .unwrap()
            .remove(path.as_str())
            .unwrap_or_default();
        let lines = futures::stream::iter(events).then(|event| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, std::io::Error>(format!("{event}\n"))
        });
        // Then the watch stays open, as a real one does until its timeout.
        let stream = lines.chain(futures::stream::pending());
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    if path == "/apis/apps/v1/statefulsets" {
        fake.release_statefulsets.notified().await;
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn fake_api() -> (std::net::SocketAddr, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    fake.events.lock().unwrap().insert(
        "/apis/networking.k8s.io/v1/networkpolicies",
        vec![json!({ "type": "ADDED", "object": { "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "default-deny", "namespace": "shop", "uid": "uid-dd", "resourceVersion": "101" },
            "spec": { "podSelector": {}, "policyTypes": ["Ingress", "Egress"] } } })],
    );
    let app = Router::new().fallback(api).with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, fake)
}

fn names(objects: &[Arc<str>]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            serde_json::from_str::<Value>(o).unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..800 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_caches_serve_objects_and_readiness_follows_the_sync() {
    let (addr, fake) = fake_api().await;
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let metrics = Arc::new(Metrics::new());
    metrics.set_modules_ready();
    let watches = ClusterWatches::start(&client, &metrics);
    let source: &dyn ObjectSource = &watches.source;

    // Four caches sync; the StatefulSet list is held back, so the webhook is not ready.
    eventually("four caches", || metrics.unsynced() == ["statefulsets"]).await;
    assert!(!metrics.ready());
    fake.release_statefulsets.notify_one();
    tokio::time::timeout(Duration::from_secs(5), watches.wait_until_ready())
        .await
        .unwrap();
    assert!(metrics.ready(), "{:?}", metrics.unsynced());

    // Namespaces by name, with namespace "".
    let ns = source
        .get(&KindRef::new("", "Namespace"), "", "shop")
        .expect("namespace shop");
    let ns: Value = serde_json::from_str(&ns).unwrap();
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["apiVersion"], "v1");
    // Managed fields and the last-applied annotation are dropped; other annotations stay.
    assert!(
        ns["metadata"]
            .get("managedFields")
            .is_none_or(|m| m == &json!([])),
        "{ns}"
    );
    assert_eq!(ns["metadata"]["annotations"], json!({ "team": "db" }));
    assert!(
        source
            .get(&KindRef::new("", "Namespace"), "", "nope")
            .is_none()
    );

    // Lists by namespace; ConfigMaps keep their keys, and for values only what the credential
    // detector needs to give the same verdict: never the password itself.
    let cms = source.list(&KindRef::new("", "ConfigMap"), "shop");
    assert_eq!(names(&cms), ["db-config"]);
    let cm: Value = serde_json::from_str(&cms[0]).unwrap();
    let stand_in = cm["data"]["POSTGRES_PASSWORD"].as_str().unwrap();
    assert!(!stand_in.is_empty() && stand_in != "password", "{cm}");
    assert!(!cms[0].contains("do-not-keep"));
    assert_eq!(
        names(&source.list(&KindRef::new("", "ConfigMap"), "default")),
        ["other"]
    );
    assert_eq!(
        names(&source.list(&KindRef::new("", "Service"), "shop")),
        ["db-headless"]
    );
    let sts = source
        .get(&KindRef::new("apps", "StatefulSet"), "shop", "db")
        .unwrap();
    assert!(sts.contains("\"serviceName\":\"db-headless\""));
    assert!(
        source
            .get(&KindRef::new("apps", "StatefulSet"), "default", "db")
            .is_none()
    );
    assert!(
        source
            .get(&KindRef::new("", "Secret"), "shop", "x")
            .is_none()
    );
    assert!(source.list(&KindRef::new("", "Pod"), "shop").is_empty());

    // The watch event adds the default-deny policy.
    let np = KindRef::new("networking.k8s.io", "NetworkPolicy");
    eventually("the watched NetworkPolicy", || {
        source.list(&np, "shop").len() == 2
    })
    .await;
    assert_eq!(
        names(&source.list(&np, "shop")),
        ["allow-backend", "default-deny"]
    );
    assert!(
        source
            .get(&np, "shop", "default-deny")
            .unwrap()
            .contains("\"policyTypes\":[\"Ingress\",\"Egress\"]")
    );

    // Reads hit the caches: no request reaches the API server for them.
    let before = fake.requests.lock().unwrap().len();
    for _ in 0..100 {
        let _ = source.list(&np, "shop");
        let _ = source.get(&KindRef::new("", "Namespace"), "", "shop");
    }
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), before, "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces?") && r.contains("watch=true")),
        "{requests:?}"
    );
    assert!(
        requests.iter().all(|r| !r.contains("/secrets")),
        "{requests:?}"
    );
    watches.stop();
}

/// Against any cluster: `KUBECONFIG=~/.kube/config cargo test -p ws3-webhook -- --ignored`.
/// Needs get/list/watch on namespaces, services, configmaps, networkpolicies and statefulsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG)"]
async fn end_to_end_against_a_real_cluster() {
    let client = kube::Client::try_default()
        .await
        .expect("a cluster from KUBECONFIG or in-cluster config");
    let metrics = Arc::new(Metrics::new());
    metrics.set_modules_ready();
    let watches = ClusterWatches::start(&client, &metrics);
    tokio::time::timeout(Duration::from_secs(60), watches.wait_until_ready())
        .await
        .expect("caches sync within 60 s");
    eventually("readiness", || metrics.ready()).await;
    let source: &dyn ObjectSource = &watches.source;
    assert!(
        source
            .get(&KindRef::new("", "Namespace"), "", "default")
            .is_some(),
        "namespace default"
    );
    assert!(
        names(&source.list(&KindRef::new("", "Service"), "default"))
            .contains(&"kubernetes".to_owned())
    );

    // A captured review judged with the real built-in rules and the real cluster context.
    let engine = ws3_engine::Engine::new(&ws3_engine::EngineOptions {
        pooling: Some(4),
        ..Default::default()
    })
    .unwrap();
    let rules =
        ws3_engine::RuleSet::load(&engine, &ws3_engine::Config::default(), &[], &[]).unwrap();
    let evaluator = ws3_webhook::admission::Evaluator::new(engine, rules, Arc::clone(&metrics));
    let body = common::fixture("statefulset-create-db-006").replace("kubernetes-ws-3", "default");
    let req = ws3_webhook::admission::ReviewRequest::parse(body.as_bytes()).unwrap();
    let source: Arc<dyn ObjectSource> = Arc::new(watches.source.clone());
    let decision = evaluator.evaluate(&req, &source);
    eprintln!("decision on a StatefulSet in `default`: {decision:#?}");
    watches.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_ready_once_modules_compiled_and_caches_synced() {
    let (addr, fake) = fake_api().await;
    let client =
        kube::Client::try_from(kube::Config::new(format!("http://{addr}").parse().unwrap()))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = common::pki::Ca::new("ws3 test CA");
    let leaf = ca.server();
    std::fs::write(dir.path().join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &leaf.key_pem).unwrap();
    let tls = ws3_webhook::tls::TlsFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        client_ca: None,
    };
    let loopback = "127.0.0.1:0".parse().unwrap();
    let mut options = ws3_webhook::ServeOptions::new(tls, loopback, loopback);
    options.builtin_rules = false;
    options.cache_dir = Some(common::module_cache());
    options.slots = 2;
    let server = ws3_webhook::Server::bind(options, ws3_webhook::ClusterContext::Kube(client))
        .await
        .unwrap();
    let health = server.health_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut last = (0, String::new());
    for _ in 0..2400 {
        last = common::http_get(health, "/readyz").await;
        if last
            .1
            .contains("not ready: watch caches not synced: statefulsets")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last.0, 503, "{last:?}");
    assert!(last.1.contains("statefulsets"), "{last:?}");
    let (_, metrics) = common::http_get(health, "/metrics").await;
    assert!(
        metrics.contains("ws3_cache_synced{resource=\"statefulsets\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ws3_cache_synced{resource=\"namespaces\"} 1"),
        "{metrics}"
    );
    fake.release_statefulsets.notify_one();
    let mut ready = false;
    for _ in 0..2400 {
        if common::http_get(health, "/readyz").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
