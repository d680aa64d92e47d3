//! The server over real TLS on loopback: captured reviews allowed and denied, warnings, dry-run,
//! DELETE, malformed and oversized bodies, client certificates, certificate rotation under
//! traffic, health and metrics, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::PathBuf,
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
        // No namespace is exempt by default (only `namespace-default-deny` exempts the system
        // namespaces): the configuration's global list exempts this one from every rule.
        exempt_namespaces: vec!["kube-system".to_owned()],
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

    // A dry-run UPDATE that keeps the violation the StatefulSet already had: allowed, with the
    // finding as an existing violation.
    let body = fixture("statefulset-update-db-028");
    let response = &review(&mut conn, &body).await["response"];
    assert_eq!(response["uid"], uid(&body));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response["warnings"]
            .to_string()
            .contains("existing violation, not introduced by this change: [test-deny]"),
        "{response}"
    );

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

    // Allowed at once: scale subresource, a kind no rule reviews, a namespace the configuration
    // exempts.
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

/// The admission router behind [`ws3_webhook::serve_connections`] on loopback, without the rest
/// of the server: connection limits, and the health port next to busy evaluations.
struct Edge {
    addr: std::net::SocketAddr,
    ca: pki::Ca,
    state: ws3_webhook::AppState,
    drain: tokio::sync::watch::Sender<bool>,
    _dir: TempDir,
}

/// Starts an edge on the current runtime with the standard test rules (the looping one stops at
/// `deadline`).
async fn edge(
    limits: ws3_webhook::ConnectionLimits,
    slots: usize,
    deadline: Duration,
    request_timeout: Duration,
) -> Edge {
    use ws3_engine::{Mode, OnError};
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("ws3 edge CA");
    let leaf = ca.server();
    std::fs::write(dir.path().join("tls.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &leaf.key_pem).unwrap();
    let tls = ws3_webhook::tls::ReloadingTls::load(TlsFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        client_ca: None,
    })
    .unwrap();
    let engine = engine(u64::try_from(deadline.as_millis()).unwrap());
    let rules = rule_set(
        &engine,
        &standard_rules()
            .into_iter()
            .map(|r| (r, Mode::Enforce, OnError::Deny))
            .collect::<Vec<_>>(),
        &[],
        &[],
    );
    let metrics = Arc::new(ws3_webhook::metrics::Metrics::new());
    metrics.register_rules(standard_rules().iter().map(|r| r.id));
    let evaluator = Arc::new(ws3_webhook::admission::Evaluator::new(
        engine,
        rules,
        Arc::clone(&metrics),
    ));
    let state = ws3_webhook::AppState::new(
        evaluator,
        Arc::new(FakeSource::default()),
        slots,
        request_timeout,
    )
    .with_max_body(limits.max_body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (drain, drained) = tokio::sync::watch::channel(false);
    tokio::spawn(ws3_webhook::serve_connections(
        listener,
        Arc::new(tls),
        ws3_webhook::router(state.clone()),
        drained,
        Duration::from_secs(1),
        limits,
    ));
    Edge {
        addr,
        ca,
        state,
        drain,
        _dir: dir,
    }
}

impl Edge {
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        client::config(&[&self.ca.pem], None)
    }

    /// A TLS stream to the edge, without HTTP on top.
    async fn raw(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        tokio_rustls::TlsConnector::from(self.client_config())
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap()
    }
}

/// Reads until the server closes the stream; panics if it is still open after a minute.
async fn closed_by_server(stream: &mut (impl tokio::io::AsyncRead + Unpin)) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

/// Sends one request by hand and reads its response: status and body.
async fn raw_post(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    body: &str,
) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let request = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response");
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        if body.len() >= length {
            let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            return (status, body.to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_new_connections_until_one_closes() {
    let limits = ws3_webhook::ConnectionLimits {
        max_connections: 2,
        ..Default::default()
    };
    let edge = edge(limits, 2, Duration::from_secs(1), Duration::from_secs(8)).await;
    let body = fixture("secret-create-manifest-secret-015");
    let mut first = client::connect(edge.addr, &edge.client_config())
        .await
        .unwrap();
    let mut second = client::connect(edge.addr, &edge.client_config())
        .await
        .unwrap();
    for conn in [&mut first, &mut second] {
        assert_eq!(review(conn, &body).await["response"]["allowed"], true);
    }
    // A third connection waits to be accepted: its handshake does not finish.
    let (addr, config) = (edge.addr, edge.client_config());
    let third = tokio::spawn(async move { client::connect(addr, &config).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third connection was served");
    // Once one closes, it is served.
    drop(first);
    let mut third = tokio::time::timeout(Duration::from_secs(60), third)
        .await
        .expect("the third connection was never accepted")
        .unwrap()
        .unwrap();
    assert_eq!(review(&mut third, &body).await["response"]["allowed"], true);
    assert_eq!(
        review(&mut second, &body).await["response"]["allowed"],
        true
    );
    let _ = edge.drain.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_clients_are_cut_off_while_idle_keep_alive_connections_stay() {
    use tokio::io::AsyncWriteExt;
    let limits = ws3_webhook::ConnectionLimits {
        handshake_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let edge = edge(limits, 2, Duration::from_secs(1), Duration::from_secs(8)).await;
    let body = fixture("secret-create-manifest-secret-015");

    // A keep-alive connection that stays idle well past the header timeout still serves.
    let mut kept = edge.raw().await;
    assert_eq!(raw_post(&mut kept, &body).await.0, 200);

    // No TLS handshake at all.
    let mut tcp = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    closed_by_server(&mut tcp).await;
    // A handshake, then not a byte.
    let mut silent = edge.raw().await;
    closed_by_server(&mut silent).await;
    // Half the headers, then nothing (slowloris).
    let mut slow = edge.raw().await;
    slow.write_all(b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-")
        .await
        .unwrap();
    closed_by_server(&mut slow).await;

    let (status, text) = raw_post(&mut kept, &body).await;
    assert_eq!(status, 200, "{text}");
    let _ = edge.drain.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let limits = ws3_webhook::ConnectionLimits {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let edge = edge(limits, 2, Duration::from_secs(1), Duration::from_secs(8)).await;
    let mut conn = edge.raw().await;
    let (status, _) = raw_post(&mut conn, &fixture("secret-create-manifest-secret-015")).await;
    assert_eq!(status, 200);
    closed_by_server(&mut conn).await;
    let _ = edge.drain.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_configured_limit_or_too_slow_are_refused() {
    use tokio::io::AsyncWriteExt;
    let limits = ws3_webhook::ConnectionLimits {
        max_body: 4 << 10,
        ..Default::default()
    };
    let edge = edge(
        limits,
        2,
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
    .await;
    // Declared too large.
    let mut conn = edge.raw().await;
    let (status, text) = raw_post(&mut conn, &"x".repeat(5 << 10)).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("4 KiB limit"), "{text}");
    // Undeclared (chunked) and too large.
    let mut conn = client::connect(edge.addr, &edge.client_config())
        .await
        .unwrap();
    let chunks = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 1024]))),
    );
    let (status, text) = conn
        .post("/validate", axum::body::Body::from_stream(chunks))
        .await
        .unwrap();
    assert_eq!(status, 413, "{text}");
    // Within the limit but never finished: answered within the review deadline.
    let mut conn = edge.raw().await;
    conn.write_all(
        b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"apiVersion\"",
    )
    .await
    .unwrap();
    let (status, text) = tokio::time::timeout(Duration::from_secs(60), read_response(&mut conn))
        .await
        .expect("no answer to a body that never ends");
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("did not arrive"), "{text}");
    // The limits change nothing for a well-formed review.
    let mut conn = edge.raw().await;
    let (status, text) = raw_post(&mut conn, &fixture("secret-create-manifest-secret-015")).await;
    assert_eq!(status, 200, "{text}");
    assert!(edge.state.max_body == 4 << 10);
    let _ = edge.drain.send(true);
}

/// A plain HTTP/1.0 GET on a std socket, independent of any tokio runtime: status and body,
/// or an error once `timeout` passes without an answer.
fn blocking_get(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    write!(tcp, "GET {path} HTTP/1.0\r\nhost: localhost\r\n\r\n")?;
    let mut text = String::new();
    tcp.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// Every evaluation slot runs a rule that loops until its 8 s deadline, inline on the runtime's
/// two workers, so the runtime cannot poll anything else. The health port, on its own thread,
/// still answers at once. (Served by the admission runtime instead, the probes would wait for
/// the loops to end and time out after 2 s.)
#[test]
fn health_answers_while_every_evaluation_slot_runs_a_slow_rule() {
    let admission = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let slots = 2;
    let edge = admission.block_on(edge(
        ws3_webhook::ConnectionLimits::default(),
        slots,
        Duration::from_secs(8),
        Duration::from_secs(20),
    ));
    let metrics = Arc::clone(&edge.state.metrics);
    metrics.set_modules_ready();
    for resource in ws3_webhook::metrics::RESOURCES {
        metrics.set_cache_synced(resource, true);
    }
    let health = admission.block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        ws3_webhook::HealthServer::start(listener, Arc::clone(&metrics)).unwrap()
    });
    let health_addr = health.local_addr();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            blocking_get(health_addr, path, Duration::from_secs(10))
                .unwrap()
                .0,
            200
        );
    }

    // The clients run on a runtime of their own.
    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let looping = fixture("service-create-db-headless-004");
    clients.block_on(async {
        for _ in 0..slots * 2 {
            let (addr, config, body) = (edge.addr, edge.client_config(), looping.clone());
            tokio::spawn(async move {
                let mut conn = client::connect(addr, &config).await.unwrap();
                let _ = conn.post("/validate", body).await;
            });
        }
        // Every slot is taken by a looping evaluation.
        for _ in 0..6000 {
            if edge.state.slots.available_permits() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(edge.state.slots.available_permits(), 0);
    });
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, text) = blocking_get(health_addr, path, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("{path} did not answer while the slots were busy: {e}"));
        assert_eq!(status, 200, "{path}: {text}");
        if path == "/metrics" {
            assert!(text.contains("ws3_admission_in_flight "), "{text}");
            assert!(!text.contains("ws3_admission_in_flight 0"), "{text}");
        }
    }
    drop(health);
    admission.shutdown_background();
}
