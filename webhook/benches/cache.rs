//! Memory of the watch caches and review latency against cluster size:
//! `cargo bench -p ws3-webhook --bench cache`.
//!
//! For N = 0, 10,000 and 50,000 ConfigMaps of about 2 KiB (keys and values like a real
//! application's, some holding postgres credentials) plus 1,000 StatefulSets, a child process
//! fills the caches through the same path as the watches (`ClusterSource::apply` with watcher
//! events of typed objects), loads the built-in rules as `serve` does (pooled engine, warm module
//! cache), then judges a captured StatefulSet review that looks objects up. It prints the
//! process's RSS after the caches are filled and the median and p99 of one review. Each N runs
//! in a fresh process, so one size's memory does not count against the next.
//!
//! No assertions: the figures are for the reader. The first line is a calibration figure (a
//! fixed native workload) so that runs on different machines can be compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    collections::BTreeMap,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{apps::v1::StatefulSet, core::v1::ConfigMap},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::runtime::watcher::Event;
use ws3_engine::{Config, Engine, EngineOptions, KindRef, ObjectSource, RuleSet};
use ws3_webhook::{
    admission::{Evaluator, ReviewRequest},
    cluster::ClusterSource,
    metrics::Metrics,
};

const NAMESPACES: usize = 100;
const REVIEWED_NAMESPACE: &str = "kubernetes-ws-3";

fn namespace(i: usize) -> String {
    if i.is_multiple_of(NAMESPACES) {
        REVIEWED_NAMESPACE.to_owned()
    } else {
        format!("team-{}", i % NAMESPACES)
    }
}

/// A ConfigMap of about 2 KiB: an application's settings, a config file, and in one of ten a
/// postgres password.
fn config_map(i: usize) -> ConfigMap {
    let mut data = BTreeMap::new();
    data.insert("LOG_LEVEL".to_owned(), "info".to_owned());
    data.insert("DB_HOST".to_owned(), format!("postgres-{i}.db.svc"));
    data.insert("FEATURE_FLAGS".to_owned(), "a,b,c,d".to_owned());
    data.insert(
        "app.properties".to_owned(),
        format!("# settings of app {i}\n") + &"key.with.a.long.name=and-a-value\n".repeat(56),
    );
    if i.is_multiple_of(10) {
        data.insert("POSTGRES_PASSWORD".to_owned(), format!("s3cret-{i:08}"));
    }
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("config-{i}")),
            namespace: Some(namespace(i)),
            labels: Some(BTreeMap::from([("app".to_owned(), format!("app-{i}"))])),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

fn stateful_set(i: usize) -> StatefulSet {
    let mut sts: StatefulSet = serde_json::from_str(&fixture_object("statefulset-create-web-013"))
        .expect("the captured StatefulSet decodes");
    sts.metadata.name = Some(format!("web-{i}"));
    sts.metadata.namespace = Some(namespace(i));
    sts.metadata.managed_fields = None;
    sts
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/admission/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn fixture_object(name: &str) -> String {
    let review: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    review["request"]["object"].to_string()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A fixed native workload: parsing a captured review 2,000 times.
fn calibration() -> Duration {
    let body = fixture("statefulset-create-db-006");
    let started = Instant::now();
    for _ in 0..2_000 {
        std::hint::black_box(serde_json::from_str::<serde_json::Value>(&body).unwrap());
    }
    started.elapsed()
}

fn child(config_maps: usize) {
    let source = ClusterSource::new();
    let mut fresh = Vec::new();
    let cm = KindRef::new("", "ConfigMap");
    source.apply::<ConfigMap>(&cm, Event::Init, &mut fresh);
    for i in 0..config_maps {
        source.apply(&cm, Event::InitApply(config_map(i)), &mut fresh);
    }
    source.apply::<ConfigMap>(&cm, Event::InitDone, &mut fresh);
    let sts = KindRef::new("apps", "StatefulSet");
    source.apply::<StatefulSet>(&sts, Event::Init, &mut fresh);
    for i in 0..1_000 {
        source.apply(&sts, Event::InitApply(stateful_set(i)), &mut fresh);
    }
    source.apply::<StatefulSet>(&sts, Event::InitDone, &mut fresh);
    let engine = Engine::new(&EngineOptions {
        cache_dir: ws3_engine::default_cache_dir(),
        pooling: Some(4),
        ..EngineOptions::default()
    })
    .unwrap();
    let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
    let evaluator = Evaluator::new(engine, rules, Arc::new(Metrics::new()));
    let source: Arc<dyn ObjectSource> = Arc::new(source);
    let review = ReviewRequest::parse(fixture("statefulset-create-db-006").as_bytes()).unwrap();
    // Warm up, then time single reviews.
    for _ in 0..200 {
        std::hint::black_box(evaluator.evaluate(&review, &source));
    }
    let mut times: Vec<Duration> = (0..3_000)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(evaluator.evaluate(&review, &source));
            started.elapsed()
        })
        .collect();
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{:>8} {:>8} {:>10.1} {:>10.1} {:>11.1} {:>9.1}",
        config_maps,
        1_000,
        rss_kib("VmRSS:") as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
        us(times[times.len() / 2]),
        us(times[times.len() * 99 / 100]),
    );
}

fn main() {
    if let Ok(n) = std::env::var("WS3_CACHE_BENCH_CHILD") {
        return child(n.parse().unwrap());
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache: run with `cargo bench -p ws3-webhook --bench cache`");
        return;
    }
    println!(
        "calibration: 2,000 parses of a captured review in {:.0} ms",
        calibration().as_secs_f64() * 1e3
    );
    println!(
        "{:>8} {:>8} {:>10} {:>10} {:>11} {:>9}",
        "cms", "sts", "RSS MiB", "peak MiB", "review µs", "p99 µs"
    );
    for n in [0, 10_000, 50_000] {
        let status = Command::new(std::env::current_exe().unwrap())
            .env("WS3_CACHE_BENCH_CHILD", n.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
