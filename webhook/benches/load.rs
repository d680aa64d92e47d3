//! Load benchmark of the admission webhook: `cargo bench -p ws3-webhook --bench load`.
//!
//! Starts the server as a child process (this same binary, `WS3_BENCH_CHILD=1`) on loopback with
//! the built-in rules and no watched cluster (a fixed, two-object namespace so that one review
//! is allowed), then drives it with a Rust HTTPS keep-alive client from this process. Prints
//! requests/s and p50/p99 latency at concurrency 1, 16 and 64 for an allowed and a denied
//! StatefulSet review (and, for comparison, a review no rule applies to), the server's peak
//! RSS, and its time to ready with a cold and a warm module cache. No assertions: the figures
//! are for the reader. Client and server share the machine's cores; the client runs on one
//! thread. The server logs as `ws3-webhook serve` does (a JSON line per decision on stdout),
//! and a thread of this process reads its stdout, as a container runtime would. Next to the
//! client's latencies it prints the server's CPU time per review and the mean time a review
//! spent in the admission handler: at a fixed concurrency the rest of the latency is queueing
//! (Little's law: mean latency = concurrency / throughput).
//!
//! Every point runs twice, with the client thread under two Linux scheduling policies (the
//! `client` column); the server always runs under the default policy, as in a pod:
//! - `batch` (`SCHED_BATCH`): the client gets its fair share of the CPU but does not preempt
//!   a server thread each time a response wakes it, as a client on another machine (the API
//!   server) would not. The performance targets are read from these rows.
//! - `normal` (`SCHED_OTHER`, the default): each response wakes the client, which then
//!   preempts a server thread in the middle of a review. On two cores that costs the server
//!   about a tenth of its throughput and doubles the client's own CPU time per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/child.rs"]
mod child;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../tests/benches/measure.rs"]
mod measure;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use child::ServerChild;
use common::{client, fixture, fixture_object, pki};
use ws3_engine::{KindRef, ObjectSource};
use ws3_webhook::{ClusterContext, ServeOptions, tls::TlsFiles};

/// Seconds of load per (review, concurrency) point, unless `WS3_BENCH_SECONDS` says otherwise.
const POINT: Duration = Duration::from_secs(3);
/// Upper bound on requests per point, whatever the speed.
const MAX_REQUESTS: usize = 200_000;

/// A fixed namespace: the default-deny policy and the headless Service of the `web` StatefulSet.
#[derive(Debug)]
struct Prepared {
    objects: Vec<(KindRef, String, String, Arc<str>)>,
}

impl Prepared {
    fn new() -> Self {
        let ns = "kubernetes-ws-3".to_owned();
        Self {
            objects: vec![
                (
                    KindRef::new("networking.k8s.io", "NetworkPolicy"),
                    ns.clone(),
                    "default-deny-ingress".into(),
                    cached("networkpolicy-create-default-deny-ingress-017"),
                ),
                (
                    KindRef::new("", "Service"),
                    ns,
                    "nginx".into(),
                    cached("service-create-nginx-012"),
                ),
            ],
        }
    }
}

impl ObjectSource for Prepared {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.objects
            .iter()
            .find(|(k, ns, n, _)| k == kind && ns == namespace && n == name)
            .map(|o| Arc::clone(&o.3))
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.objects
            .iter()
            .filter(|(k, ns, _, _)| k == kind && ns == namespace)
            .map(|o| Arc::clone(&o.3))
            .collect()
    }
}

/// A captured object as the watch caches keep it: its context view.
fn cached(name: &str) -> Arc<str> {
    let json = fixture_object(name);
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    let kind = KindRef::from_type(
        object["apiVersion"].as_str().unwrap_or(""),
        object["kind"].as_str().unwrap_or(""),
    );
    ws3_engine::context::view(&kind, &json, &ws3_engine::object::PodTemplates::default())
        .unwrap()
        .into()
}

/// A Linux scheduling policy for the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// `SCHED_BATCH`: does not preempt a running thread when it wakes up.
    Batch,
    /// `SCHED_OTHER`: the default.
    Normal,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Normal => "normal",
        }
    }

    /// Applies to the calling thread only (and to the threads and processes it starts later).
    fn apply(self) {
        let policy = match self {
            Self::Batch => libc::SCHED_BATCH,
            Self::Normal => libc::SCHED_OTHER,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid `sched_param` for the duration of the call and pid 0 names
        // the calling thread; the call reads nothing else.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
        assert_eq!(
            rc,
            0,
            "sched_setscheduler: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn child_main() {
    // The server runs under the default policy, whatever its parent runs under.
    Policy::Normal.apply();
    child::serve(|| {
        let dir = std::env::var("WS3_BENCH_DIR").unwrap();
        let dir = Path::new(&dir);
        let tls = TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            client_ca: None,
        };
        let loopback = "127.0.0.1:0".parse().unwrap();
        let mut options = ServeOptions::new(tls, loopback, loopback);
        options.cache_dir = std::env::var_os("WS3_CACHE_DIR").map(Into::into);
        if let Some(slots) = std::env::var("WS3_MAX_CONCURRENCY")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            options.slots = slots;
        }
        (options, ClusterContext::Static(Arc::new(Prepared::new())))
    });
}

async fn spawn_server(dir: &Path, cache: &Path) -> ServerChild {
    ServerChild::spawn(
        [
            ("WS3_BENCH_CHILD", Path::new("1")),
            ("WS3_BENCH_DIR", dir),
            ("WS3_CACHE_DIR", cache),
        ],
        Duration::from_secs(120),
    )
    .await
}

struct Point {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn load(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    body: &'static str,
    concurrency: usize,
) -> Point {
    let started = Instant::now();
    let point = std::env::var("WS3_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(POINT, Duration::from_secs_f64);
    let stop_at = started + point;
    let per_worker = MAX_REQUESTS / concurrency;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let mut conn = client::connect(addr, config).await.unwrap();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0;
            while Instant::now() < stop_at && latencies.len() < per_worker {
                let t = Instant::now();
                match conn.post("/validate", body).await {
                    Ok((status, _)) if status == 200 => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Point {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    if std::env::var_os("WS3_BENCH_CHILD").is_some() {
        return child_main();
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load: run with `cargo bench -p ws3-webhook --bench load`");
        return;
    }
    println!(
        "calibration: a fixed native workload (200M xorshift rounds) took {:.0?} on one thread",
        measure::calibration()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let ca = pki::Ca::new("ws3 bench CA");
        let leaf = ca.server();
        std::fs::write(dir.path().join("tls.crt"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &leaf.key_pem).unwrap();
        let cache = dir.path().join("module-cache");

        let cold = spawn_server(dir.path(), &cache).await;
        let cold_ready = cold.ready_after;
        // The first start compiles every module: its peak is the pod's highest memory use.
        let cold_peak = cold.status_kib("VmHWM:");
        drop(cold);
        let server = spawn_server(dir.path(), &cache).await;
        let warm_ready = server.ready_after;
        println!(
            "time to ready: cold module cache {:.0} ms, warm module cache {:.0} ms",
            ms(cold_ready),
            ms(warm_ready)
        );
        println!(
            "server peak RSS: first start (compiling) {:.1} MiB, warm start {:.1} MiB",
            cold_peak as f64 / 1024.0,
            server.status_kib("VmHWM:") as f64 / 1024.0
        );

        let config = client::config(&[&ca.pem], None);
        let allowed: &'static str =
            Box::leak(fixture("statefulset-create-web-013").into_boxed_str());
        let denied: &'static str = Box::leak(fixture("statefulset-create-db-006").into_boxed_str());
        // The webhook's own cost, without wasm: a `scale` subresource review, allowed at once.
        let no_rule: &'static str = Box::leak(fixture("scale-update-web-021").into_boxed_str());
        // Check the verdicts before measuring.
        let mut conn = client::connect(server.addr, &config).await.unwrap();
        for (body, expect) in [(allowed, "\"allowed\":true"), (denied, "\"allowed\":false")] {
            let (status, text) = conn.post("/validate", body).await.unwrap();
            assert!(status == 200 && text.contains(expect), "{status} {text}");
        }
        // Warm-up.
        let _ = load(server.addr, &config, allowed, 4).await;

        println!();
        println!(
            "{:<8} {:>4} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>12} {:>12} {:>14}",
            "review",
            "c",
            "client",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "server µs/r",
            "client µs/r",
            "in handler ms"
        );
        // Optional filters after `--`, e.g. `-- denied 16 batch` to profile one point.
        let filters: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let (counts, words): (Vec<&String>, Vec<&String>) =
            filters.iter().partition(|f| f.parse::<usize>().is_ok());
        let (policies, names): (Vec<&String>, Vec<&String>) = words
            .into_iter()
            .partition(|w| *w == "batch" || *w == "normal");
        let wanted = |name: &str, c: usize, policy: Policy| {
            (names.is_empty() || names.iter().any(|n| *n == name))
                && (counts.is_empty() || counts.iter().any(|n| **n == c.to_string()))
                && (policies.is_empty() || policies.iter().any(|p| *p == policy.name()))
        };
        for (name, body) in [
            ("allowed", allowed),
            ("denied", denied),
            ("no-rule", no_rule),
        ] {
            for (c, policy) in [1, 16, 64]
                .into_iter()
                .flat_map(|c| [(c, Policy::Batch), (c, Policy::Normal)])
            {
                if !wanted(name, c, policy) {
                    continue;
                }
                // The client is this thread: the runtime is a current-thread one.
                policy.apply();
                let (server_cpu, client_cpu) = (server.cpu_time(), measure::cpu_time("self"));
                let handled = handling_time(server.health).await;
                let p = load(server.addr, &config, body, c).await;
                let handled = handling_time(server.health).await - handled;
                let per_review = |d: Duration| d.as_secs_f64() * 1e6 / p.requests.max(1) as f64;
                let server_cpu = per_review(server.cpu_time().saturating_sub(server_cpu));
                let client_cpu = per_review(measure::cpu_time("self").saturating_sub(client_cpu));
                println!(
                    "{:<8} {:>4} {:>7} {:>10} {:>10.0} {:>10.3} {:>10.3} {:>7} {:>12.1} {:>12.1} {:>14.3}",
                    name,
                    c,
                    policy.name(),
                    p.requests,
                    p.requests as f64 / p.elapsed.as_secs_f64(),
                    ms(percentile(&p.latencies, 0.5)),
                    ms(percentile(&p.latencies, 0.99)),
                    p.errors,
                    server_cpu,
                    client_cpu,
                    handled.mean_ms()
                );
            }
        }
        println!();
        println!(
            "server peak RSS: {:.1} MiB",
            server.status_kib("VmHWM:") as f64 / 1024.0
        );
        // Let the server's log writer flush its last lines (every 50 ms).
        tokio::time::sleep(Duration::from_millis(200)).await;
        println!(
            "server log lines (one JSON line per decision, read from its stdout): {}",
            server.log_lines.load(Ordering::Relaxed)
        );
        let (_, metrics) = common::http_get(server.health, "/metrics").await;
        for line in metrics.lines().filter(|l| {
            l.starts_with("ws3_rule_evaluation_seconds_sum")
                || l.starts_with("ws3_rule_evaluation_seconds_count")
                || l.starts_with("ws3_evaluation_offloads_total")
        }) {
            println!("{line}");
        }
    });
}

/// The server's own account of the time spent in its admission handler (the
/// `ws3_admission_request_duration_seconds` histogram): what is left of a client's latency is
/// waiting for a CPU, in the sockets and in the runtime's queues.
#[derive(Debug, Clone, Copy, Default)]
struct Handled {
    seconds: f64,
    count: f64,
}

impl Handled {
    fn mean_ms(self) -> f64 {
        if self.count > 0.0 {
            self.seconds / self.count * 1000.0
        } else {
            0.0
        }
    }
}

impl std::ops::Sub for Handled {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            seconds: self.seconds - earlier.seconds,
            count: self.count - earlier.count,
        }
    }
}

async fn handling_time(health: SocketAddr) -> Handled {
    let (_, metrics) = common::http_get(health, "/metrics").await;
    let value = |name: &str| {
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Handled {
        seconds: value("ws3_admission_request_duration_seconds_sum"),
        count: value("ws3_admission_request_duration_seconds_count"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
