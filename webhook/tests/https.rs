//! The server over real TLS on loopback: captured reviews allowed and denied, warnings, dry-run,
//! DELETE, malformed and oversized bodies, client certificates, certificate rotation under
//! traffic, health and metrics, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{client, pki, *};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use ws3_engine::{Budget, Config, Limits};
use ws3_webhook::{ClusterContext, ServeOptions, Server, tls::TlsFiles};

/// A running server and what the test needs to reach it.
struct Running {
    addr: std::net::SocketAddr,
    health: std::net::SocketAddr,
    ca: pki::Ca,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ws3_webhook::Error>>,
}

/// Writes `pem` files the way a Kubernetes secret volume holds them: `tls.crt` and `tls.key`
/// are symlinks through `..data`, which points at a timestamped folder and is swapped atomically.
fn write_secret_volume(dir: &Path, generation: u32, files: &[(&str, &str)]) {
    let data = dir.join(format!("..gen_{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    for (name, content) in files {
        std::fs::write(data.join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..gen_{generation}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

async fn start(client_ca: bool, tweak: impl FnOnce(&mut ServeOptions)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("ws3 test CA");
    let leaf = ca.server();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    write_secret_volume(
        &certs,
        1,
        &[
            ("tls.crt", &leaf.cert_pem),
            ("tls.key", &leaf.key_pem),
            ("ca.crt", &ca.pem),
        ],
    );
    let modules = dir.path().join("modules");
    std::fs::create_dir_all(&modules).unwrap();
    write_components(&modules, &standard_rules());
    let config = Config {
        modules: vec![modules],
        ..Config::default()
    };
    let tls = TlsFiles {
        cert: certs.join("tls.crt"),
        key: certs.join("tls.key"),
        client_ca: client_ca.then(|| certs.join("ca.crt")),
    };
    let loopback = "127.0.0.1:0".parse().unwrap();
    let mut options = ServeOptions::new(tls, loopback, loopback);
    options.config = config;
    options.builtin_rules = false;
    options.cache_dir = Some(module_cache());
    options.slots = 4;
    options.limits = Limits {
        budget: Budget::Deadline(Duration::from_millis(300)),
        max_memory: 64 << 20,
    };
    options.cert_reload_interval = Duration::from_millis(100);
    tweak(&mut options);
    let server = Server::bind(options, ClusterContext::Empty).await.unwrap();
    let addr = server.local_addr();
    let health = server.health_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let running = Running {
        addr,
        health,
        ca,
        dir,
        stop: Some(stop),
        task,
    };
    running.wait_ready().await;
    running
}

impl Running {
    async fn wait_ready(&self) {
        for _ in 0..6000 {
            if http_get(self.health, "/readyz").await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "server not ready: {:?}",
            http_get(self.health, "/readyz").await
        );
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        client::config(&[&self.ca.pem], None)
    }

    async fn connect(&self) -> client::Conn {
        client::connect(self.addr, &self.client_config())
            .await
            .unwrap()
    }

    fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

async fn review(conn: &mut client::Conn, body: &str) -> Value {
    let (status, text) = conn.post("/validate", body.to_owned()).await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn uid(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["request"]["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_reviews_over_tls() {
    let server = start(false, |_| {}).await;
    let mut conn = server.connect().await;

    // Denied, with the findings in the message, code 403, and the warning rule's warning.
    let body = fixture("statefulset-create-db-006");
    let answer = review(&mut conn, &body).await;
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    let response = &answer["response"];
    assert_eq!(response["uid"], uid(&body));
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(message.contains("[test-deny] statefulset keeps data on emptyDir at spec.template.spec.volumes[0].emptyDir; fix: use volumeClaimTemplates"), "{message}");
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .contains("[test-warn]"),
        "{response}"
    );

    // Dry run: the same verdict.
    let body = fixture("statefulset-update-db-028");
    let response = &review(&mut conn, &body).await["response"];
    assert_eq!(response["uid"], uid(&body));
    assert_eq!(response["allowed"], false);

    // Suppressed: allowed with a warning naming the rule.
    let body = with_ignore(&fixture("statefulset-create-web-013"), "test-deny");
    let response = &review(&mut conn, &body).await["response"];
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].to_string();
    assert!(
        warnings.contains("[test-deny] findings suppressed"),
        "{warnings}"
    );

    // DELETE judged on oldObject.
    let body = fixture("networkpolicy-delete-default-deny-ingress-031");
    let response = &review(&mut conn, &body).await["response"];
    assert_eq!(response["allowed"], false, "{response}");
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("[test-delete-guard]")
    );

    // Allowed at once: scale subresource, a kind no rule reviews, an exempt namespace.
    for name in [
        "scale-update-web-021",
        "secret-create-manifest-secret-015",
        "pod-create-nginx-with-volume-016",
    ] {
        let body = fixture(name);
        let response = &review(&mut conn, &body).await["response"];
        assert_eq!(response["allowed"], true, "{name}: {response}");
        assert_eq!(response["uid"], uid(&body));
        assert!(response.get("warnings").is_none(), "{name}: {response}");
    }
    let body = fixture("statefulset-create-db-006").replace(
        "\"namespace\":\"kubernetes-ws-3\"",
        "\"namespace\":\"kube-system\"",
    );
    assert_eq!(review(&mut conn, &body).await["response"]["allowed"], true);

    // A module that traps: denied naming the rule, HTTP 200.
    let response = &review(&mut conn, &fixture("configmap-create-db-config-003")).await["response"];
    assert_eq!(response["allowed"], false);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("[test-trap] the rule could not be evaluated")
    );

    // Malformed: 400 with a clear message; the connection stays usable.
    let (status, text) = conn
        .post("/validate", "{\"kind\": \"AdmissionReview\", ")
        .await
        .unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not a valid AdmissionReview"), "{text}");
    let (status, text) = conn
        .post(
            "/validate",
            fixture("statefulset-create-db-006").replace("\"uid\":", "\"uuid\":"),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(text.contains("uid"), "{text}");

    // Oversized: 413.
    let mut big = client::connect(server.addr, &server.client_config())
        .await
        .unwrap();
    let padding = "x".repeat(4 << 20);
    let (status, text) = big
        .post("/validate", format!("{{\"pad\":\"{padding}\"}}"))
        .await
        .unwrap();
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("3 MiB"), "{text}");

    // Metrics count the decisions.
    let (status, metrics) = http_get(server.health, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("ws3_admission_requests_total{kind=\"StatefulSet\",operation=\"CREATE\",decision=\"denied\"} 1"), "{metrics}");
    assert!(metrics.contains("decision=\"invalid\""), "{metrics}");
    assert!(
        metrics.contains("ws3_findings_total{rule=\"test-deny\",action=\"suppressed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ws3_rule_errors_total{rule=\"test-trap\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ws3_rule_evaluation_seconds_count{rule=\"test-deny\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("ws3_ready 1"), "{metrics}");
    assert_eq!(
        http_get(server.health, "/healthz").await,
        (200, "ok\n".to_owned())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_requires_the_api_server_certificate() {
    let server = start(true, |_| {}).await;
    let body = fixture("secret-create-manifest-secret-015");

    // Without a client certificate: the handshake or the first request fails.
    let anonymous = client::config(&[&server.ca.pem], None);
    match client::connect(server.addr, &anonymous).await {
        Err(_) => {}
        Ok(mut conn) => assert!(
            conn.post("/validate", body.clone()).await.is_err(),
            "served without a client cert"
        ),
    }
    // A certificate from another CA is refused too.
    let other = pki::Ca::new("someone else").client();
    let stranger = client::config(&[&server.ca.pem], Some((&other.cert_pem, &other.key_pem)));
    match client::connect(server.addr, &stranger).await {
        Err(_) => {}
        Ok(mut conn) => assert!(
            conn.post("/validate", body.clone()).await.is_err(),
            "served a foreign client cert"
        ),
    }
    // With the API server's certificate: served.
    let apiserver = server.ca.client();
    let trusted = client::config(
        &[&server.ca.pem],
        Some((&apiserver.cert_pem, &apiserver.key_pem)),
    );
    let mut conn = client::connect(server.addr, &trusted).await.unwrap();
    assert_eq!(review(&mut conn, &body).await["response"]["allowed"], true);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_traffic_fails_no_request() {
    let server = start(false, |_| {}).await;
    // cert-manager renews with a new CA here; clients trust both, as during a CA rollover.
    let new_ca = pki::Ca::new("ws3 rotated CA");
    let new_leaf = new_ca.server();
    let config = client::config(&[&server.ca.pem, &new_ca.pem], None);
    let old_cert = client::connect(server.addr, &config)
        .await
        .unwrap()
        .peer_cert;

    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body = fixture("statefulset-create-db-006");
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (failures, done, stop, config, body) = (
            Arc::clone(&failures),
            Arc::clone(&done),
            Arc::clone(&stop),
            Arc::clone(&config),
            body.clone(),
        );
        let addr = server.addr;
        workers.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // Half the workers reconnect every few requests (new handshakes), half keep alive.
                let mut conn = match client::connect(addr, &config).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("connect failed: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                for _ in 0..if worker % 2 == 0 { 3 } else { 50 } {
                    match conn.post("/validate", body.clone()).await {
                        Ok((status, _)) if status == 200 => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            eprintln!("request failed: {other:?}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            }
            i
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_secret_volume(
        &server.certs_dir(),
        2,
        &[
            ("tls.crt", &new_leaf.cert_pem),
            ("tls.key", &new_leaf.key_pem),
            ("ca.crt", &new_ca.pem),
        ],
    );
    let mut rotated = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if client::connect(server.addr, &config)
            .await
            .unwrap()
            .peer_cert
            == new_leaf.der
        {
            rotated = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(rotated, "the server never presented the new certificate");
    assert_ne!(old_cert, new_leaf.der);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during rotation"
    );
    assert!(
        done.load(Ordering::Relaxed) > 20,
        "too little traffic: {}",
        done.load(Ordering::Relaxed)
    );
    // Clients that only trust the new CA get in now.
    let only_new = client::config(&[&new_ca.pem], None);
    let mut conn = client::connect(server.addr, &only_new).await.unwrap();
    assert_eq!(
        review(&mut conn, &fixture("secret-create-manifest-secret-015")).await["response"]["allowed"],
        true
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rotation_keeps_the_current_certificate() {
    let server = start(false, |_| {}).await;
    let first = server.connect().await.peer_cert;
    // A key that does not match the certificate (a rotation caught half-way).
    let a = server.ca.server();
    let b = server.ca.server();
    write_secret_volume(
        &server.certs_dir(),
        2,
        &[
            ("tls.crt", &a.cert_pem),
            ("tls.key", &b.key_pem),
            ("ca.crt", &server.ca.pem),
        ],
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.connect().await.peer_cert, first);
    // Completed: picked up.
    write_secret_volume(
        &server.certs_dir(),
        3,
        &[
            ("tls.crt", &a.cert_pem),
            ("tls.key", &a.key_pem),
            ("ca.crt", &server.ca.pem),
        ],
    );
    let mut seen = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if server.connect().await.peer_cert == a.der {
            seen = true;
            break;
        }
    }
    assert!(seen);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_reviews_in_flight() {
    // The looping rule runs until its 300 ms deadline: a review that is surely in flight.
    let server = start(false, |_| {}).await;
    let mut conn = server.connect().await;
    let health = server.health;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        conn.post("/validate", fixture("service-create-db-headless-004"))
            .await
    });
    // Wait until the server is answering it.
    let mut answering = false;
    for _ in 0..2000 {
        if http_get(health, "/metrics")
            .await
            .1
            .contains("ws3_admission_in_flight 1")
        {
            answering = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(answering, "the review never reached the server");
    let Running { stop, task, ca, .. } = server;
    let _ = stop.unwrap().send(());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Draining: not ready, and no new connections.
    let (status, text) = http_get(health, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("shutting down"), "{text}");
    assert!(
        client::connect(addr, &client::config(&[&ca.pem], None))
            .await
            .is_err()
    );
    let (status, text) = in_flight.await.unwrap().unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["response"]["allowed"], false);
    assert!(text.contains("test-loop"), "{text}");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_deadline_answers_before_the_api_server_gives_up() {
    let server = start(false, |o| {
        o.limits.budget = Budget::Deadline(Duration::from_secs(5));
        o.request_timeout = Duration::from_millis(250);
    })
    .await;
    let mut conn = server.connect().await;
    let started = std::time::Instant::now();
    let answer = review(&mut conn, &fixture("service-create-db-headless-004")).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("[test-loop]") && message.contains("review deadline"),
        "{message}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_are_served() {
    let server = start(false, |_| {}).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client::config_with(&[&server.ca.pem], None, &[version]);
        let mut conn = client::connect(server.addr, &config).await.unwrap();
        let body = fixture("secret-create-manifest-secret-015");
        assert_eq!(
            review(&mut conn, &body).await["response"]["allowed"],
            true,
            "{version:?}"
        );
    }
    server.shutdown().await;
}
