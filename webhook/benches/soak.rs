//! Soak benchmark of the admission webhook: `cargo bench -p ws3-webhook --bench soak`.
//!
//! Runs the server for `WS3_SOAK_SECONDS` (default 600) under a steady, mixed load and prints
//! figures; it asserts nothing, except that it could run. It exits with status 1 when a
//! well-formed review of the steady load failed (an HTTP status other than 200, a connection
//! error, or no answer within 10 s, the webhook's default `timeoutSeconds`), so that a CI job
//! running it can notice; everything else is printed for the reader.
//!
//! - **Server**: a child process (this same binary, `WS3_SOAK_CHILD=1`), as in `load.rs`, with
//!   the built-in rules, the default connection limits (256 connections, 10 s handshake and
//!   header timeouts, 120 s idle timeout, 3 MiB bodies) and real watch caches
//!   (`ClusterContext::Kube`). RSS and open file descriptors are therefore the server's alone.
//! - **Cluster context**: the server's caches are fed by a small fake Kubernetes API server
//!   served from this process (axum on hyper, loopback, plain HTTP): list and watch of the five
//!   kinds the rules read (namespaces, networkpolicies, services, configmaps, statefulsets),
//!   with resource versions and an event history, so that a watch resumed after its
//!   `timeoutSeconds` misses nothing. Why a fake API rather than the static context
//!   (`ClusterContext::Static`): the static context is a fixed `ObjectSource` that the server
//!   never reloads, and changing it would mean a test-only mechanism in the server; the
//!   watch caches are what runs in a cluster, and feeding them through the real kube client
//!   exercises their code (re-lists, views, removals) for the whole run. Every second objects
//!   are created, modified and deleted: a ConfigMap per second (each deleted ten seconds
//!   later), the `nginx` Service that the `web` StatefulSet needs (deleted and re-created every
//!   ten seconds: the verdict of `statefulset-create-web-013` flips with it), the default-deny
//!   NetworkPolicy, the `web` StatefulSet (modified) and a Namespace every 20 s.
//! - **Steady load**: `WS3_SOAK_RATE` reviews/s (default 500, or `--rate N`), open loop (a
//!   request is due at a fixed time whether or not the previous ones were answered; latency is
//!   measured from that time, so a stall shows in the latency instead of lowering the rate), on
//!   `WS3_SOAK_CONNECTIONS` keep-alive connections (default 16), each reconnected every 30 s
//!   (staggered) outside the hostile phase, so that handshakes meet the rotated certificates.
//!   The mix: 45 % creates/updates allowed, 25 % denied (classified by a first review of every
//!   captured fixture in `tests/fixtures/admission`, before the load), 15 % DELETE reviews (the
//!   captured ones and some creates turned into deletes) and 15 % malformed bodies (not JSON,
//!   truncated, wrong kind and apiVersion, no request, 100,000-deep nesting, non-UTF-8,
//!   duplicate keys). Malformed ones only have their statuses counted.
//! - **Certificate rotation** at 1/3 and 2/3 of the run: a new leaf of the same CA written as a
//!   kubelet updates a Secret volume (a new `..gen_N` folder, the `..data` symlink swapped);
//!   the time until a new connection is served the new certificate is printed.
//! - **Hostile phase** from 40 % to 60 % of the run (`WS3_SOAK_HOSTILE=0` or `--no-hostile` turns
//!   it off): `WS3_SOAK_IDLE` idle TCP connections (default 2,000; half of them finish a TLS
//!   handshake first), each reopened when the server closes it; `WS3_SOAK_SLOWLORIS` slowloris
//!   clients (default 50; half trickle header lines, half a body, one piece a second); over-limit
//!   bodies (4 MiB with a Content-Length, and a chunked body that never ends), plain HTTP and TLS
//!   garbage on the TLS port, a few a second each. The steady load goes on, on its established
//!   connections, and its latency during the phase is printed on its own line. A probe also
//!   opens a new connection every second and sends one review: at the connection cap, new
//!   connections wait in the listen backlog behind the idle ones, and the probe shows how long.
//!   The probe's failures are printed but do not set the exit status (a real API server keeps
//!   its connections alive, as the steady load does).
//! - **Figures**: every second the server's RSS (`VmRSS` of `/proc/<pid>/status`) and open file
//!   descriptors (entries of `/proc/<pid>/fd`); start, peak and end of each. Latency (p50, p90,
//!   p99, max) of the well-formed reviews in the first and last minute (a fifth of the run when
//!   shorter) and during the hostile phase; counts per class; the time of a fixed native CPU
//!   workload (200M xorshift rounds on one thread, as in the lint bench) at start and end, and
//!   the load average, so that runs on different or busy machines can be compared.
//!
//! `WS3_SOAK_SETTLE` sets the server's `--cache-settle` (default `0` here, `1s` in a
//! deployment): the settle delay is a deliberate sleep before a cross-object denial is judged
//! again, and would put every such denial at over a second, hiding the server's own latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../tests/benches/measure.rs"]
mod measure;

use std::{
    collections::BTreeMap,
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use child::ServerChild;
use common::{as_delete, client, fixture, pki, write_secret_volume};
use futures::StreamExt;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::broadcast,
};
use ws3_webhook::{ClusterContext, ServeOptions, tls::TlsFiles};

/// A well-formed review not answered within this is a failure (the webhook's default
/// `timeoutSeconds`).
const TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Settings {
    rate: f64,
    seconds: f64,
    hostile: bool,
    idle: usize,
    slowloris: usize,
    connections: usize,
    settle: String,
}

impl Settings {
    /// `--name value` or `--name=value` after `cargo bench ... --`, else the variable.
    fn read() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let get = |flag: &str, var: &str| -> Option<String> {
            let long = format!("--{flag}");
            let mut it = args.iter();
            while let Some(a) = it.next() {
                if *a == long {
                    return it.next().cloned();
                }
                if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                    return Some(v.to_owned());
                }
            }
            std::env::var(var).ok()
        };
        let num = |flag: &str, var: &str, default: f64| -> f64 {
            get(flag, var)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let hostile = !args.iter().any(|a| a == "--no-hostile")
            && !matches!(
                std::env::var("WS3_SOAK_HOSTILE").as_deref(),
                Ok("0" | "off" | "false" | "no")
            );
        Self {
            rate: num("rate", "WS3_SOAK_RATE", 500.0).max(1.0),
            seconds: num("seconds", "WS3_SOAK_SECONDS", 600.0).max(5.0),
            hostile,
            idle: num("idle", "WS3_SOAK_IDLE", 2000.0) as usize,
            slowloris: num("slowloris", "WS3_SOAK_SLOWLORIS", 50.0) as usize,
            connections: (num("connections", "WS3_SOAK_CONNECTIONS", 16.0) as usize).max(1),
            settle: get("settle", "WS3_SOAK_SETTLE").unwrap_or_else(|| "0".to_owned()),
        }
    }
}

/// When things happen, from the start of the load.
#[derive(Debug, Clone, Copy)]
struct Phases {
    start: Instant,
    end: Instant,
    hostile: Option<(Instant, Instant)>,
}

impl Phases {
    fn hostile_at(&self, t: Instant) -> bool {
        self.hostile.is_some_and(|(a, b)| t >= a && t < b)
    }

    fn at(&self, fraction: f64) -> Instant {
        self.start + (self.end - self.start).mul_f64(fraction)
    }

    fn secs(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }
}

// ---------------------------------------------------------------------------------------------
// The server, as a child process
// ---------------------------------------------------------------------------------------------

fn child_main() {
    child::serve(|| {
        let certs = PathBuf::from(std::env::var("WS3_SOAK_CERTS").unwrap());
        let tls = TlsFiles {
            cert: certs.join("tls.crt"),
            key: certs.join("tls.key"),
            client_ca: None,
        };
        let loopback = "127.0.0.1:0".parse().unwrap();
        let mut options = ServeOptions::new(tls, loopback, loopback);
        options.cache_dir = Some(common::module_cache());
        options.cache_settle =
            ws3_webhook::cli::parse_duration_or_zero(&std::env::var("WS3_SOAK_SETTLE").unwrap())
                .unwrap();
        let api: axum::http::Uri = std::env::var("WS3_SOAK_API").unwrap().parse().unwrap();
        let client = kube::Client::try_from(kube::Config::new(api)).unwrap();
        (options, ClusterContext::Kube(client))
    });
}

async fn spawn_server(certs: &Path, api: SocketAddr, settle: &str) -> ServerChild {
    ServerChild::spawn(
        [
            ("WS3_SOAK_CHILD", OsString::from("1")),
            ("WS3_SOAK_CERTS", certs.into()),
            ("WS3_SOAK_API", format!("http://{api}").into()),
            ("WS3_SOAK_SETTLE", settle.into()),
        ],
        Duration::from_secs(300),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// The fake Kubernetes API server
// ---------------------------------------------------------------------------------------------

/// The resources the watch caches list and watch: (path, kind, apiVersion).
const RESOURCES: [(&str, &str, &str); 5] = [
    ("/api/v1/namespaces", "Namespace", "v1"),
    (
        "/apis/networking.k8s.io/v1/networkpolicies",
        "NetworkPolicy",
        "networking.k8s.io/v1",
    ),
    ("/api/v1/services", "Service", "v1"),
    ("/api/v1/configmaps", "ConfigMap", "v1"),
    ("/apis/apps/v1/statefulsets", "StatefulSet", "apps/v1"),
];

#[derive(Debug)]
struct WatchEvent {
    rv: u64,
    path: &'static str,
    line: String,
}

#[derive(Debug, Default)]
struct ApiState {
    rv: u64,
    /// (path, namespace, name) -> object.
    objects: BTreeMap<(&'static str, String, String), Value>,
    /// Every event so far: a watch resumed from a resource version gets what it missed.
    history: Vec<Arc<WatchEvent>>,
}

#[derive(Debug)]
struct FakeApi {
    state: Mutex<ApiState>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    requests: AtomicU64,
    watches: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Churn {
    added: u64,
    modified: u64,
    deleted: u64,
}

impl FakeApi {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ApiState::default()),
            events: broadcast::channel(4096).0,
            requests: AtomicU64::new(0),
            watches: AtomicU64::new(0),
        })
    }

    fn path_of(kind: &str) -> &'static str {
        RESOURCES.iter().find(|r| r.1 == kind).unwrap().0
    }

    /// Creates or replaces an object; returns whether it existed.
    fn apply(&self, mut object: Value) -> bool {
        let kind = object["kind"].as_str().unwrap().to_owned();
        let path = Self::path_of(&kind);
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let mut state = self.state.lock().unwrap();
        state.rv += 1;
        let rv = state.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if object["metadata"].get("uid").is_none() {
            object["metadata"]["uid"] = json!(format!("uid-{kind}-{namespace}-{name}-{rv}"));
        }
        let existed = state
            .objects
            .insert((path, namespace, name), object.clone())
            .is_some();
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        self.record(&mut state, path, kind, object);
        existed
    }

    /// Deletes an object; returns whether it existed.
    fn delete(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let path = Self::path_of(kind);
        let mut state = self.state.lock().unwrap();
        let Some(mut object) = state
            .objects
            .remove(&(path, namespace.to_owned(), name.to_owned()))
        else {
            return false;
        };
        state.rv += 1;
        object["metadata"]["resourceVersion"] = json!(state.rv.to_string());
        self.record(&mut state, path, "DELETED", object);
        true
    }

    fn record(&self, state: &mut ApiState, path: &'static str, kind: &str, object: Value) {
        let event = Arc::new(WatchEvent {
            rv: state.rv,
            path,
            line: format!("{}\n", json!({ "type": kind, "object": object })),
        });
        state.history.push(Arc::clone(&event));
        // Sent under the lock: a watch subscribing under the lock sees every event once.
        let _ = self.events.send(event);
    }

    async fn serve(self: Arc<Self>) -> SocketAddr {
        let app = Router::new().fallback(api).with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

async fn api(State(fake): State<Arc<FakeApi>>, req: Request) -> Response {
    fake.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let Some(&(path, kind, api_version)) = RESOURCES.iter().find(|r| r.0 == path) else {
        let status = json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404 });
        return (StatusCode::NOT_FOUND, status.to_string()).into_response();
    };
    if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
        fake.watches.fetch_add(1, Ordering::Relaxed);
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(290);
        let (missed, live) = {
            let state = fake.state.lock().unwrap();
            let missed: Vec<String> = state
                .history
                .iter()
                .filter(|e| e.path == path && e.rv > from)
                .map(|e| e.line.clone())
                .collect();
            (missed, fake.events.subscribe())
        };
        let live = futures::stream::unfold(live, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.path == path => return Some((e.line.clone(), rx)),
                    Ok(_) => {}
                    // Fell behind or closed: end the watch; the client resumes from its last
                    // resource version and the history fills the gap.
                    Err(_) => return None,
                }
            }
        });
        // As a real API server: the watch ends after its timeoutSeconds.
        let stream = futures::stream::iter(missed)
            .chain(live)
            .take_until(tokio::time::sleep(Duration::from_secs(timeout)))
            .map(Ok::<_, std::io::Error>);
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let (rv, items) = {
        let state = fake.state.lock().unwrap();
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((p, _, _), _)| *p == path)
            .map(|(_, v)| v.clone())
            .collect();
        (state.rv, items)
    };
    let list = json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": { "resourceVersion": rv.to_string() },
        "items": items,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        list.to_string(),
    )
        .into_response()
}

/// The object of a captured review, with its namespace and without status.
fn object_of(name: &str) -> Value {
    let review: Value = serde_json::from_str(&fixture(name)).unwrap();
    let mut object = review["request"]["object"].clone();
    if object["metadata"].get("namespace").is_none()
        && let Some(ns) = review["request"]["namespace"].as_str()
        && !ns.is_empty()
    {
        object["metadata"]["namespace"] = json!(ns);
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

/// The course namespace as it should be, plus a namespace for churn.
fn seed(fake: &FakeApi) {
    for name in [
        "namespace-create-kubernetes-ws-3-001",
        "namespace-create-codewizard-002",
        "networkpolicy-create-default-deny-ingress-017",
        "networkpolicy-create-db-allow-backend-018",
        "service-create-nginx-012",
        "service-create-db-headless-004",
        "service-create-backend-008",
        "service-create-postgres-010",
        "configmap-create-db-config-003",
        "configmap-create-postgres-config-009",
        "statefulset-create-web-013",
    ] {
        fake.apply(object_of(name));
    }
    fake.apply(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "soak" } }));
}

/// One churn step a second: objects created, modified and deleted under the caches.
fn churn_step(fake: &FakeApi, k: u64, churn: &mut Churn) {
    let mut count = |existed: bool, deleted: bool| match (existed, deleted) {
        (_, true) => churn.deleted += 1,
        (true, false) => churn.modified += 1,
        (false, false) => churn.added += 1,
    };
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": format!("churn-{k}"), "namespace": "soak" },
        "data": { "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": format!("pw-{k}"), "blob": "x".repeat(2000) } });
    count(fake.apply(cm), false);
    if k >= 10 && fake.delete("ConfigMap", "soak", &format!("churn-{}", k - 10)) {
        count(true, true);
    }
    match k % 10 {
        5 if fake.delete("Service", "kubernetes-ws-3", "nginx") => count(true, true),
        0 => count(fake.apply(object_of("service-create-nginx-012")), false),
        _ => {}
    }
    match k % 14 {
        7 if fake.delete("NetworkPolicy", "kubernetes-ws-3", "default-deny-ingress") => {
            count(true, true);
        }
        0 => count(
            fake.apply(object_of("networkpolicy-create-default-deny-ingress-017")),
            false,
        ),
        _ => {}
    }
    if k.is_multiple_of(3) {
        let mut web = object_of("statefulset-create-web-013");
        web["metadata"]["labels"]["soak-step"] = json!(k.to_string());
        count(fake.apply(web), false);
    }
    if k.is_multiple_of(20) {
        let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": format!("churn-{k}") } });
        count(fake.apply(ns), false);
        if k >= 20 && fake.delete("Namespace", "", &format!("churn-{}", k - 20)) {
            count(true, true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Allowed,
    Denied,
    Delete,
    Malformed,
}

impl Class {
    const ALL: [Self; 4] = [Self::Allowed, Self::Denied, Self::Delete, Self::Malformed];

    fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Delete => "delete",
            Self::Malformed => "malformed",
        }
    }
}

#[derive(Debug)]
struct Review {
    name: String,
    class: Class,
    body: Bytes,
}

/// Every captured review that is not a DELETE, judged once (the verdict is its class); the
/// captured DELETEs and a few creates turned into DELETEs; malformed bodies.
async fn reviews(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Vec<Review> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".json")?.to_owned())
        })
        .collect();
    names.sort();
    let mut conn = client::connect(addr, config).await.unwrap();
    let mut out = Vec::new();
    for name in &names {
        let body = fixture(name);
        let class = if name.contains("-delete-") {
            Class::Delete
        } else {
            let (status, text) = conn.post("/validate", body.clone()).await.unwrap();
            assert_eq!(status, 200, "{name}: {text}");
            if text.contains("\"allowed\":true") {
                Class::Allowed
            } else {
                Class::Denied
            }
        };
        out.push(Review {
            name: name.clone(),
            class,
            body: Bytes::from(body),
        });
    }
    for name in [
        "statefulset-create-web-013",
        "service-create-nginx-012",
        "configmap-create-db-config-003",
        "namespace-create-codewizard-002",
    ] {
        out.push(Review {
            name: format!("{name} as DELETE"),
            class: Class::Delete,
            body: Bytes::from(as_delete(&fixture(name))),
        });
    }
    let sts = fixture("statefulset-create-db-006");
    let mut non_utf8 = sts.clone().into_bytes();
    let at = non_utf8.len() / 2;
    non_utf8.splice(at..at, [0xff, 0xfe, 0xc3]);
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"this is not an AdmissionReview".to_vec()),
        ("truncated", sts.as_bytes()[..sts.len() / 2].to_vec()),
        (
            "wrong kind",
            sts.replacen("\"kind\":\"AdmissionReview\"", "\"kind\":\"ConfigMap\"", 1)
                .replacen(
                    "\"kind\": \"AdmissionReview\"",
                    "\"kind\": \"ConfigMap\"",
                    1,
                )
                .into_bytes(),
        ),
        (
            "wrong apiVersion",
            sts.replacen("admission.k8s.io/v1", "admission.k8s.io/v0", 1)
                .into_bytes(),
        ),
        (
            "no request",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        ),
        ("deep nesting", {
            let mut v = b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":".to_vec();
            v.extend(std::iter::repeat_n(b'[', 100_000));
            v.extend(std::iter::repeat_n(b']', 100_000));
            v.push(b'}');
            v
        }),
        ("non-UTF-8", non_utf8),
        (
            "duplicate keys",
            format!(
                "{{\"kind\":\"AdmissionReview\",{}",
                sts.trim_start().trim_start_matches('{')
            )
            .into_bytes(),
        ),
    ];
    for (name, body) in malformed {
        out.push(Review {
            name: name.to_owned(),
            class: Class::Malformed,
            body: Bytes::from(body),
        });
    }
    out
}

/// The mix, as a cycle of 20 slots: 9 allowed, 5 denied, 3 delete, 3 malformed.
fn schedule(reviews: &[Review]) -> Vec<usize> {
    let of = |class: Class| -> Vec<usize> {
        (0..reviews.len())
            .filter(|&i| reviews[i].class == class)
            .collect()
    };
    let pattern = [
        Class::Allowed,
        Class::Denied,
        Class::Allowed,
        Class::Delete,
        Class::Allowed,
        Class::Malformed,
        Class::Denied,
        Class::Allowed,
        Class::Allowed,
        Class::Delete,
        Class::Denied,
        Class::Allowed,
        Class::Malformed,
        Class::Allowed,
        Class::Denied,
        Class::Delete,
        Class::Allowed,
        Class::Denied,
        Class::Malformed,
        Class::Allowed,
    ];
    let pools: BTreeMap<Class, Vec<usize>> = Class::ALL.iter().map(|&c| (c, of(c))).collect();
    let mut next: BTreeMap<Class, usize> = BTreeMap::new();
    // A cycle long enough that every pool goes round.
    let rounds = pools.values().map(Vec::len).max().unwrap_or(1).max(1) * 4;
    let mut out = Vec::new();
    for _ in 0..rounds {
        for class in pattern {
            let pool = &pools[&class];
            if pool.is_empty() {
                continue;
            }
            let n = next.entry(class).or_default();
            out.push(pool[*n % pool.len()]);
            *n += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The steady load
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Job {
    due: Instant,
    review: usize,
}

/// A well-formed review answered: when it was due (s from the start) and its latency (µs).
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: f32,
    micros: u32,
    class: Class,
}

#[derive(Debug, Default)]
struct Tally {
    samples: Vec<Sample>,
    /// Per review name: (allowed, denied).
    verdicts: BTreeMap<String, (u64, u64)>,
    /// Malformed bodies: status (0 for no answer) -> count.
    malformed: BTreeMap<u16, u64>,
    /// Failures of well-formed reviews: (s from start, class, what).
    failures: Vec<(f64, Class, String)>,
    reconnects: u64,
}

#[derive(Debug, Default)]
struct Live {
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    id: usize,
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    jobs: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Job>>>,
    reviews: Arc<Vec<Review>>,
    phases: Phases,
    live: Arc<Live>,
    connections: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<client::Conn> = None;
    let reconnect_every = Duration::from_secs(30);
    // Staggered: not every connection is renewed at once.
    let mut connected_at = Instant::now() - reconnect_every.mul_f64(id as f64 / connections as f64);
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            break;
        };
        live.sent.fetch_add(1, Ordering::Relaxed);
        let review = &reviews[job.review];
        let now = Instant::now();
        if conn.as_ref().is_some_and(client::Conn::is_closed)
            || (conn.is_some() && now - connected_at > reconnect_every && !phases.hostile_at(now))
        {
            conn = None;
        }
        let result = tokio::time::timeout_at((job.due + TIMEOUT).into(), async {
            if conn.is_none() {
                conn = Some(client::connect(addr, &config).await?);
                connected_at = Instant::now();
                tally.reconnects += 1;
            }
            conn.as_mut()
                .unwrap()
                .post("/validate", review.body.clone())
                .await
                .map_err(std::io::Error::other)
        })
        .await;
        let latency = job.due.elapsed();
        let at = phases.secs(job.due);
        match (review.class, result) {
            (Class::Malformed, Ok(Ok((status, _)))) => {
                live.answered.fetch_add(1, Ordering::Relaxed);
                *tally.malformed.entry(status.as_u16()).or_default() += 1;
            }
            (Class::Malformed, _) => {
                conn = None;
                *tally.malformed.entry(0).or_default() += 1;
            }
            (class, Ok(Ok((status, text)))) if status == 200 => {
                live.answered.fetch_add(1, Ordering::Relaxed);
                let verdict = tally.verdicts.entry(review.name.clone()).or_default();
                if text.contains("\"allowed\":true") {
                    verdict.0 += 1;
                } else {
                    verdict.1 += 1;
                }
                tally.samples.push(Sample {
                    at: at as f32,
                    micros: u32::try_from(latency.as_micros()).unwrap_or(u32::MAX),
                    class,
                });
            }
            (class, outcome) => {
                live.failed.fetch_add(1, Ordering::Relaxed);
                let what = match outcome {
                    Ok(Ok((status, text))) => {
                        format!(
                            "HTTP {status}: {}",
                            text.chars().take(200).collect::<String>()
                        )
                    }
                    Ok(Err(e)) => {
                        conn = None;
                        format!("error: {e}")
                    }
                    Err(_) => {
                        conn = None;
                        format!("no answer within {TIMEOUT:?}")
                    }
                };
                tally
                    .failures
                    .push((at, class, format!("{}: {what}", review.name)));
            }
        }
    }
    tally
}

// ---------------------------------------------------------------------------------------------
// Hostile clients
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Hostile {
    idle_opened: AtomicU64,
    idle_tls: AtomicU64,
    idle_closed_by_server: AtomicU64,
    idle_held_ms_max: AtomicU64,
    idle_connect_failed: AtomicU64,
    slow_opened: AtomicU64,
    slow_closed: AtomicU64,
    slow_answered_408: AtomicU64,
    slow_held_ms_max: AtomicU64,
    /// Over-limit bodies: status -> count (0: no answer / error).
    over_limit: Mutex<BTreeMap<String, u64>>,
    plain_http: AtomicU64,
    plain_http_closed: AtomicU64,
    garbage: AtomicU64,
    garbage_closed: AtomicU64,
    /// New connection + one review during the phase: (s from start, ms or None when failed).
    probes: Mutex<Vec<(f64, Option<f64>, String)>>,
}

fn max_ms(a: &AtomicU64, d: Duration) {
    a.fetch_max(d.as_millis() as u64, Ordering::Relaxed);
}

async fn tls_connect(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Opens a connection, does nothing on it (after a TLS handshake when `tls`) until the server
/// closes it, and opens another, until `stop`.
async fn idle_client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    tls: bool,
    stop: Instant,
    h: Arc<Hostile>,
) {
    while Instant::now() < stop {
        let opened = Instant::now();
        let held = async {
            let mut buf = [0u8; 256];
            if tls {
                let mut s = tls_connect(addr, &config).await?;
                h.idle_tls.fetch_add(1, Ordering::Relaxed);
                h.idle_opened.fetch_add(1, Ordering::Relaxed);
                while s.read(&mut buf).await? > 0 {}
            } else {
                let mut s = TcpStream::connect(addr).await?;
                h.idle_opened.fetch_add(1, Ordering::Relaxed);
                while s.read(&mut buf).await? > 0 {}
            }
            Ok::<_, std::io::Error>(())
        };
        tokio::select! {
            () = tokio::time::sleep_until(stop.into()) => return,
            r = held => match r {
                Ok(()) => {
                    h.idle_closed_by_server.fetch_add(1, Ordering::Relaxed);
                    max_ms(&h.idle_held_ms_max, opened.elapsed());
                }
                Err(_) => {
                    h.idle_connect_failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Trickles a request, one piece a second (header lines, or a declared body), until the
/// server closes the connection or answers; then starts again, until `stop`.
async fn slowloris(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    body: bool,
    stop: Instant,
    h: Arc<Hostile>,
) {
    while Instant::now() < stop {
        let opened = Instant::now();
        let round = async {
            let s = tls_connect(addr, &config).await?;
            h.slow_opened.fetch_add(1, Ordering::Relaxed);
            let (mut r, mut w) = tokio::io::split(s);
            if body {
                w.write_all(b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{").await?;
            } else {
                w.write_all(b"POST /validate HTTP/1.1\r\n").await?;
            }
            let trickle = async {
                let mut i = 0u64;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let piece = if body {
                        b" ".to_vec()
                    } else {
                        format!("x-slow-{i}: a\r\n").into_bytes()
                    };
                    if w.write_all(&piece).await.is_err() || w.flush().await.is_err() {
                        return;
                    }
                    i += 1;
                }
            };
            let mut answer = Vec::new();
            let read = async {
                let mut buf = [0u8; 1024];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                    }
                }
            };
            tokio::select! {
                () = trickle => {}
                () = read => {}
            }
            if answer.starts_with(b"HTTP/1.1 408") {
                h.slow_answered_408.fetch_add(1, Ordering::Relaxed);
            }
            h.slow_closed.fetch_add(1, Ordering::Relaxed);
            max_ms(&h.slow_held_ms_max, opened.elapsed());
            Ok::<_, std::io::Error>(())
        };
        tokio::select! {
            () = tokio::time::sleep_until(stop.into()) => return,
            r = round => if r.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            },
        }
    }
}

/// Bodies over the limit, with and without a declared length, on new connections.
async fn over_limit(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    stop: Instant,
    h: Arc<Hostile>,
) {
    let big = Bytes::from(vec![b' '; 4 << 20]);
    let mut declared = true;
    while Instant::now() < stop {
        let body = if declared {
            Body::from(big.clone())
        } else {
            // Chunked, and it never ends.
            let chunk = Bytes::from(vec![b' '; 64 << 10]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        };
        let outcome = tokio::time::timeout(Duration::from_secs(15), async {
            let mut conn = client::connect(addr, &config).await?;
            conn.post("/validate", body)
                .await
                .map_err(std::io::Error::other)
        })
        .await;
        let key = format!(
            "{} -> {}",
            if declared {
                "4 MiB declared"
            } else {
                "chunked, endless"
            },
            match outcome {
                Ok(Ok((status, _))) => status.as_u16().to_string(),
                Ok(Err(_)) => "error".to_owned(),
                Err(_) => "no answer in 15 s".to_owned(),
            }
        );
        *h.over_limit.lock().unwrap().entry(key).or_default() += 1;
        declared = !declared;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Plain HTTP and TLS garbage on the TLS port; counts the connections the server closed.
async fn garbage(addr: SocketAddr, stop: Instant, h: Arc<Hostile>) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut plain = true;
    while Instant::now() < stop {
        let bytes: Vec<u8> = if plain {
            b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}".to_vec()
        } else {
            // A TLS handshake record header, then noise.
            let mut v = vec![0x16, 0x03, 0x01, 0x02, 0x00];
            v.extend((0..512).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }));
            v
        };
        let round = async {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(&bytes).await?;
            let mut buf = [0u8; 1024];
            while s.read(&mut buf).await? > 0 {}
            Ok::<_, std::io::Error>(())
        };
        let closed = matches!(
            tokio::time::timeout(Duration::from_secs(15), round).await,
            Ok(Ok(()) | Err(_))
        );
        let (count, closed_count) = if plain {
            (&h.plain_http, &h.plain_http_closed)
        } else {
            (&h.garbage, &h.garbage_closed)
        };
        count.fetch_add(1, Ordering::Relaxed);
        if closed {
            closed_count.fetch_add(1, Ordering::Relaxed);
        }
        plain = !plain;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new connection and one review, every second of the hostile phase.
async fn probe(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    body: Bytes,
    phases: Phases,
    stop: Instant,
    h: Arc<Hostile>,
) {
    let mut tasks = Vec::new();
    while Instant::now() < stop {
        let (config, body, h) = (Arc::clone(&config), body.clone(), Arc::clone(&h));
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(TIMEOUT, async {
                let mut conn = client::connect(addr, &config).await?;
                conn.post("/validate", body)
                    .await
                    .map_err(std::io::Error::other)
            })
            .await;
            let at = phases.secs(started);
            let entry = match outcome {
                Ok(Ok((status, _))) if status == 200 => (
                    at,
                    Some(started.elapsed().as_secs_f64() * 1000.0),
                    String::new(),
                ),
                Ok(Ok((status, _))) => (at, None, format!("HTTP {status}")),
                Ok(Err(e)) => (at, None, e.to_string()),
                Err(_) => (at, None, format!("no answer within {TIMEOUT:?}")),
            };
            h.probes.lock().unwrap().push(entry);
        }));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn histogram(label: &str, mut micros: Vec<u32>) {
    if micros.is_empty() {
        println!("  {label:<34} {:>8}", 0);
        return;
    }
    micros.sort_unstable();
    let p = |q: f64| {
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        f64::from(micros[i]) / 1000.0
    };
    println!(
        "  {label:<34} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>9.1}",
        micros.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        f64::from(*micros.last().unwrap()) / 1000.0
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

fn main() {
    if std::env::var_os("WS3_SOAK_CHILD").is_some() {
        return child_main();
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak: run with `cargo bench -p ws3-webhook --bench soak`");
        return;
    }
    let settings = Settings::read();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let failed = runtime.block_on(run(settings));
    drop(runtime);
    if failed > 0 {
        std::process::exit(1);
    }
}

#[allow(clippy::too_many_lines)]
async fn run(settings: Settings) -> usize {
    let calibration_start = measure::calibration();
    let load_start = load_average();
    println!(
        "soak: {} s at {} reviews/s on {} connections; hostile phase {}; cache settle {}",
        settings.seconds,
        settings.rate,
        settings.connections,
        if settings.hostile {
            format!(
                "from {:.0} to {:.0} s ({} idle connections, {} slowloris)",
                settings.seconds * 0.4,
                settings.seconds * 0.6,
                settings.idle,
                settings.slowloris
            )
        } else {
            "off".to_owned()
        },
        settings.settle,
    );
    println!(
        "calibration: 200M xorshift rounds on one thread took {calibration_start:.2?}; load average {load_start}"
    );

    // Certificates in a Secret volume layout.
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let ca = pki::Ca::new("ws3 soak CA");
    let leaf = ca.server();
    write_secret_volume(
        &certs,
        1,
        &[("tls.crt", &leaf.cert_pem), ("tls.key", &leaf.key_pem)],
    );
    let config = client::config(&[&ca.pem], None);

    let fake = FakeApi::new();
    seed(&fake);
    let api = Arc::clone(&fake).serve().await;
    let started = Instant::now();
    let server = spawn_server(&certs, api, &settings.settle).await;
    println!(
        "server ready after {:.1} s (pid {}, {}); fake API on {api}",
        started.elapsed().as_secs_f64(),
        server.pid(),
        server.addr
    );
    let addr = server.addr;

    let reviews = Arc::new(reviews(addr, &config).await);
    for class in Class::ALL {
        let names: Vec<&str> = reviews
            .iter()
            .filter(|r| r.class == class)
            .map(|r| r.name.as_str())
            .collect();
        println!("{} ({}): {}", class.name(), names.len(), names.join(", "));
    }
    let cycle = Arc::new(schedule(&reviews));

    let start = Instant::now() + Duration::from_millis(200);
    let duration = Duration::from_secs_f64(settings.seconds);
    let mut phases = Phases {
        start,
        end: start + duration,
        hostile: None,
    };
    if settings.hostile {
        phases.hostile = Some((phases.at(0.4), phases.at(0.6)));
    }

    // Samples of the server's RSS and descriptors, and a progress line every twentieth.
    let live = Arc::new(Live::default());
    let samples = Arc::new(Mutex::new(Vec::<(f64, u64, u64)>::new()));
    let sampler = {
        let (samples, live) = (Arc::clone(&samples), Arc::clone(&live));
        let seconds = settings.seconds;
        let pid = server.pid();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start.into(), Duration::from_secs(1));
            let every = (seconds / 20.0).max(1.0).round() as u64;
            let mut n = 0u64;
            loop {
                let t = tick.tick().await.into_std();
                if t > phases.end {
                    break;
                }
                let (rss, fds) = (measure::status_kib(pid, "VmRSS:"), measure::fds(pid));
                samples.lock().unwrap().push((phases.secs(t), rss, fds));
                if n.is_multiple_of(every) {
                    println!(
                        "  t={:>4.0} s  sent {:>7}  answered {:>7}  failed {:>3}  server RSS {:>6.1} MiB  fds {:>5}  load {}{}",
                        phases.secs(t),
                        live.sent.load(Ordering::Relaxed),
                        live.answered.load(Ordering::Relaxed),
                        live.failed.load(Ordering::Relaxed),
                        mib(rss),
                        fds,
                        load_average(),
                        if phases.hostile_at(t) {
                            "  (hostile)"
                        } else {
                            ""
                        }
                    );
                }
                n += 1;
            }
        })
    };

    // Context churn through the fake API.
    let churner = {
        let fake = Arc::clone(&fake);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start.into(), Duration::from_secs(1));
            let mut churn = Churn::default();
            let mut k = 1u64;
            loop {
                if tick.tick().await.into_std() >= phases.end {
                    break churn;
                }
                churn_step(&fake, k, &mut churn);
                k += 1;
            }
        })
    };

    // Certificate rotations at 1/3 and 2/3.
    let rotations = {
        let (config, certs) = (Arc::clone(&config), certs.clone());
        let leaves: Vec<pki::Leaf> = (0..2).map(|_| ca.server()).collect();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for (i, leaf) in leaves.into_iter().enumerate() {
                let at = phases.at((i as f64 + 1.0) / 3.0);
                tokio::time::sleep_until(at.into()).await;
                let generation = i as u32 + 2;
                write_secret_volume(
                    &certs,
                    generation,
                    &[("tls.crt", &leaf.cert_pem), ("tls.key", &leaf.key_pem)],
                );
                let written = Instant::now();
                let mut served = None;
                while written.elapsed() < Duration::from_secs(30) {
                    if let Ok(Ok(conn)) =
                        tokio::time::timeout(Duration::from_secs(2), client::connect(addr, &config))
                            .await
                        && conn.peer_cert == leaf.der
                    {
                        served = Some(written.elapsed());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                out.push((phases.secs(written), served));
            }
            out
        })
    };

    // Hostile clients.
    let hostile = Arc::new(Hostile::default());
    let hostile_task = phases.hostile.map(|(from, to)| {
        let (config, h) = (Arc::clone(&config), Arc::clone(&hostile));
        let probe_body = reviews
            .iter()
            .find(|r| r.class == Class::Allowed && r.name.starts_with("service-"))
            .or_else(|| reviews.iter().find(|r| r.class == Class::Allowed))
            .map(|r| r.body.clone())
            .unwrap();
        let (idle, slow) = (settings.idle, settings.slowloris);
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let mut tasks = Vec::new();
            for i in 0..idle {
                tasks.push(tokio::spawn(idle_client(
                    addr,
                    Arc::clone(&config),
                    i % 2 == 1,
                    to,
                    Arc::clone(&h),
                )));
            }
            for i in 0..slow {
                tasks.push(tokio::spawn(slowloris(
                    addr,
                    Arc::clone(&config),
                    i % 2 == 1,
                    to,
                    Arc::clone(&h),
                )));
            }
            tasks.push(tokio::spawn(over_limit(
                addr,
                Arc::clone(&config),
                to,
                Arc::clone(&h),
            )));
            tasks.push(tokio::spawn(garbage(addr, to, Arc::clone(&h))));
            tasks.push(tokio::spawn(probe(
                addr,
                Arc::clone(&config),
                probe_body,
                phases,
                to,
                Arc::clone(&h),
            )));
            for t in tasks {
                let _ = t.await;
            }
        })
    });

    // The steady load.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for id in 0..settings.connections {
        workers.push(tokio::spawn(worker(
            id,
            addr,
            Arc::clone(&config),
            Arc::clone(&rx),
            Arc::clone(&reviews),
            phases,
            Arc::clone(&live),
            settings.connections,
        )));
    }
    let period = Duration::from_secs_f64(1.0 / settings.rate);
    let mut due = start;
    let mut i = 0usize;
    while due < phases.end {
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        while due <= now && due < phases.end {
            let _ = tx.send(Job {
                due,
                review: cycle[i % cycle.len()],
            });
            i += 1;
            due += period;
        }
    }
    drop(tx);
    let mut tally = Tally::default();
    for w in workers {
        let t = w.await.unwrap();
        tally.samples.extend(t.samples);
        for (name, (a, d)) in t.verdicts {
            let v = tally.verdicts.entry(name).or_default();
            v.0 += a;
            v.1 += d;
        }
        for (status, n) in t.malformed {
            *tally.malformed.entry(status).or_default() += n;
        }
        tally.failures.extend(t.failures);
        tally.reconnects += t.reconnects;
    }
    let load_took = start.elapsed();
    if let Some(t) = hostile_task {
        let _ = t.await;
    }
    let churn = churner.await.unwrap();
    let rotations = rotations.await.unwrap();
    let _ = sampler.await;
    let calibration_end = measure::calibration();
    let load_end = load_average();
    let (rss_now, fds_now) = (server.status_kib("VmRSS:"), measure::fds(server.pid()));
    drop(server);

    // ---- Report ----
    println!();
    println!(
        "load: {i} reviews due over {:.0} s ({:.1}/s), finished after {:.1} s; {} connection (re)opens",
        settings.seconds,
        i as f64 / settings.seconds,
        load_took.as_secs_f64(),
        tally.reconnects
    );
    println!(
        "  {:<10} {:>8} {:>9} {:>9} {:>7}",
        "class", "sent", "allowed", "denied", "failed"
    );
    for class in [Class::Allowed, Class::Denied, Class::Delete] {
        let (mut a, mut d) = (0, 0);
        for r in reviews.iter().filter(|r| r.class == class) {
            if let Some(v) = tally.verdicts.get(&r.name) {
                a += v.0;
                d += v.1;
            }
        }
        let f = tally.failures.iter().filter(|f| f.1 == class).count();
        println!(
            "  {:<10} {:>8} {:>9} {:>9} {:>7}",
            class.name(),
            a + d + f as u64,
            a,
            d,
            f
        );
    }
    let malformed: Vec<String> = tally
        .malformed
        .iter()
        .map(|(s, n)| {
            if *s == 0 {
                format!("no answer {n}")
            } else {
                format!("HTTP {s} {n}")
            }
        })
        .collect();
    println!(
        "  {:<10} {:>8}  {}",
        "malformed",
        tally.malformed.values().sum::<u64>(),
        malformed.join(", ")
    );
    let flips: Vec<String> = tally
        .verdicts
        .iter()
        .filter(|(_, (a, d))| *a > 0 && *d > 0)
        .map(|(name, (a, d))| format!("{name} allowed {a} / denied {d}"))
        .collect();
    println!(
        "verdicts that followed the context changes: {}",
        if flips.is_empty() {
            "none".to_owned()
        } else {
            flips.join("; ")
        }
    );
    println!(
        "context churn through the fake API: {} added, {} modified, {} deleted; {} API requests, {} watches opened",
        churn.added,
        churn.modified,
        churn.deleted,
        fake.requests.load(Ordering::Relaxed),
        fake.watches.load(Ordering::Relaxed)
    );
    for (at, served) in &rotations {
        match served {
            Some(d) => println!(
                "certificate rotated at {at:.0} s: new connections got the new certificate after {:.1} s",
                d.as_secs_f64()
            ),
            None => println!(
                "certificate rotated at {at:.0} s: NOT served to new connections within 30 s"
            ),
        }
    }
    if let Some((from, to)) = phases.hostile {
        let h = &hostile;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        println!(
            "hostile phase {:.0}-{:.0} s:",
            phases.secs(from),
            phases.secs(to)
        );
        println!(
            "  idle connections: {} opened ({} after a TLS handshake), {} closed by the server (longest held {:.1} s), {} connects failed",
            g(&h.idle_opened),
            g(&h.idle_tls),
            g(&h.idle_closed_by_server),
            g(&h.idle_held_ms_max) as f64 / 1000.0,
            g(&h.idle_connect_failed)
        );
        println!(
            "  slowloris: {} connections, {} ended by the server ({} with 408), longest held {:.1} s",
            g(&h.slow_opened),
            g(&h.slow_closed),
            g(&h.slow_answered_408),
            g(&h.slow_held_ms_max) as f64 / 1000.0
        );
        let over: Vec<String> = h
            .over_limit
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        println!("  over-limit bodies: {}", over.join(", "));
        println!(
            "  plain HTTP on the TLS port: {} sent, {} closed by the server; TLS garbage: {} sent, {} closed",
            g(&h.plain_http),
            g(&h.plain_http_closed),
            g(&h.garbage),
            g(&h.garbage_closed)
        );
        let probes = h.probes.lock().unwrap();
        let mut ok: Vec<f64> = probes.iter().filter_map(|p| p.1).collect();
        ok.sort_by(f64::total_cmp);
        let failed: Vec<&(f64, Option<f64>, String)> =
            probes.iter().filter(|p| p.1.is_none()).collect();
        println!(
            "  new connection + one review, every second: {} tried, {} answered within {TIMEOUT:?} (p50 {:.0} ms, max {:.0} ms), {} not{}",
            probes.len(),
            ok.len(),
            ok.get(ok.len() / 2).copied().unwrap_or(0.0),
            ok.last().copied().unwrap_or(0.0),
            failed.len(),
            failed
                .first()
                .map(|f| format!(" (first at {:.0} s: {})", f.0, f.2))
                .unwrap_or_default()
        );
    }

    println!();
    println!("latency of well-formed reviews, from when each was due to its answer (ms):");
    println!(
        "  {:<34} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "window", "count", "p50", "p90", "p99", "max"
    );
    let window = settings.seconds.min(300.0) / 5.0;
    let window = window.min(60.0);
    let pick = |from: f64, to: f64| -> Vec<u32> {
        tally
            .samples
            .iter()
            .filter(|s| f64::from(s.at) >= from && f64::from(s.at) < to)
            .map(|s| s.micros)
            .collect()
    };
    histogram(&format!("first {window:.0} s"), pick(0.0, window));
    if let Some((from, to)) = phases.hostile {
        let (a, b) = (phases.secs(from), phases.secs(to));
        histogram(&format!("hostile phase {a:.0}-{b:.0} s"), pick(a, b));
    }
    histogram(
        &format!("last {window:.0} s"),
        pick(settings.seconds - window, settings.seconds),
    );
    histogram("whole run", pick(0.0, f64::MAX));
    for class in [Class::Allowed, Class::Denied, Class::Delete] {
        histogram(
            &format!("whole run, {}", class.name()),
            tally
                .samples
                .iter()
                .filter(|s| s.class == class)
                .map(|s| s.micros)
                .collect(),
        );
    }

    let samples = samples.lock().unwrap().clone();
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let peak_rss = samples.iter().max_by_key(|s| s.1).unwrap();
        let peak_fds = samples.iter().max_by_key(|s| s.2).unwrap();
        // After the first window: warmed up (connections open, caches and pools filled).
        let warm = samples.iter().find(|s| s.0 >= window).unwrap_or(first);
        println!();
        println!(
            "server RSS: start {:.1} MiB, at {:.0} s {:.1} MiB, peak {:.1} MiB (at {:.0} s), end {:.1} MiB; after the run {:.1} MiB",
            mib(first.1),
            warm.0,
            mib(warm.1),
            mib(peak_rss.1),
            peak_rss.0,
            mib(last.1),
            mib(rss_now)
        );
        println!(
            "server open fds: start {}, at {:.0} s {}, peak {} (at {:.0} s), end {}; after the run {}",
            first.2, warm.0, warm.2, peak_fds.2, peak_fds.0, last.2, fds_now
        );
    }
    println!(
        "calibration: start {calibration_start:.2?}, end {calibration_end:.2?}; load average start {load_start}, end {load_end}"
    );
    let failures = tally.failures.len();
    if failures > 0 {
        tally.failures.sort_by(|a, b| a.0.total_cmp(&b.0));
        println!("FAILED well-formed reviews: {failures}; the first ones:");
        for (at, class, what) in tally.failures.iter().take(10) {
            println!("  {at:.1} s {}: {what}", class.name());
        }
    } else {
        println!("failed well-formed reviews: 0");
    }
    failures
}
