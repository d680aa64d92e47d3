//! Memory of the watch caches and review latency against cluster size:
//! `cargo bench -p ws3-webhook --bench cache`.
//!
//! For N = 0, 10,000 and 50,000 ConfigMaps of about 2 KiB (keys and values like a real
//! application's, some holding postgres credentials) plus 1,000 StatefulSets, a child process
//! fills the caches through the same path as the watches (`ClusterSource::apply` with watcher
//! events of typed objects), loads the built-in rules as `serve` does (pooled engine, warm module
//! cache), and judges a captured StatefulSet review that looks objects up. The caches grow
//! through the three sizes in one process, and at each it prints the process's RSS and the
//! median and p99 of one review: a review's time varies more from one process to the next (by up
//! to a third on the development VM) than between sizes, so sizes are compared within a process.
//! Five processes (`WS3_CACHE_BENCH_ROUNDS`) run one after the other; the table gives the
//! medians over them, and the median over processes of a review's time at N against its time at
//! N = 0 in the same process.
//!
//! No assertions: the figures are for the reader. The first line is a calibration figure (a
//! fixed native workload) so that runs on different machines can be compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../../tests/benches/measure.rs"]
mod measure;

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

/// Sizes of the cluster context, in ConfigMaps.
const SIZES: [usize; 3] = [0, 10_000, 50_000];

/// One process: the caches grow through the sizes as watch events would grow them, and at each
/// size it prints one line for the parent: size, RSS and peak in KiB, median and p99 of a
/// review in µs. A review is timed against each size in the same process, so that what differs
/// is the size and not the process.
fn child() {
    let source = ClusterSource::new();
    let mut fresh = Vec::new();
    let cm = KindRef::new("", "ConfigMap");
    source.apply::<ConfigMap>(&cm, Event::Init, &mut fresh);
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
    let objects: Arc<dyn ObjectSource> = Arc::new(source.clone());
    let review = ReviewRequest::parse(fixture("statefulset-create-db-006").as_bytes()).unwrap();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut held = 0;
    for size in SIZES {
        for i in held..size {
            source.apply(&cm, Event::Apply(config_map(i)), &mut fresh);
        }
        held = size;
        // Warm up, then time single reviews.
        for _ in 0..200 {
            std::hint::black_box(evaluator.evaluate(&review, &objects));
        }
        let mut times: Vec<Duration> = (0..3_000)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(evaluator.evaluate(&review, &objects));
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{size} {} {} {:.1} {:.1}",
            measure::status_kib("self", "VmRSS:"),
            measure::status_kib("self", "VmHWM:"),
            us(times[times.len() / 2]),
            us(times[times.len() * 99 / 100]),
        );
    }
}

/// The median of a few figures, and their range.
fn median_range(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn main() {
    if std::env::var_os("WS3_CACHE_BENCH_CHILD").is_some() {
        return child();
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache: run with `cargo bench -p ws3-webhook --bench cache`");
        return;
    }
    println!(
        "calibration: a fixed native workload (200M xorshift rounds) took {:.0?} on one thread",
        measure::calibration()
    );
    // A process's review time varies by up to a third from one process to the next (memory
    // layout, which core), more than between cluster sizes: several processes each time a review
    // at every size, and the table shows the medians over them.
    let rounds: usize = std::env::var("WS3_CACHE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut figures: Vec<Vec<[f64; 4]>> = vec![Vec::new(); SIZES.len()];
    for _ in 0..rounds {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("WS3_CACHE_BENCH_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "bench child failed");
        for (i, line) in String::from_utf8(out.stdout).unwrap().lines().enumerate() {
            let f: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap())
                .collect();
            figures[i].push([f[0], f[1], f[2], f[3]]);
        }
    }
    println!(
        "{rounds} processes, each growing through the sizes; medians over them (range of the review median in brackets)"
    );
    println!(
        "{:>8} {:>8} {:>10} {:>10} {:>24} {:>9} {:>9}",
        "cms", "sts", "RSS MiB", "peak MiB", "review µs", "p99 µs", "vs N=0"
    );
    for (n, runs) in SIZES.iter().zip(&figures) {
        let column = |c: usize| median_range(runs.iter().map(|r| r[c]).collect());
        let (review, low, high) = column(2);
        // Each process's review median at this size over its own at N = 0.
        let (ratio, _, _) = median_range(
            runs.iter()
                .zip(&figures[0])
                .map(|(r, zero)| r[2] / zero[2])
                .collect(),
        );
        println!(
            "{:>8} {:>8} {:>10.1} {:>10.1} {:>24} {:>9.1} {:>+8.1}%",
            n,
            1_000,
            column(0).0 / 1024.0,
            column(1).0 / 1024.0,
            format!("{review:.1} [{low:.1}–{high:.1}]"),
            column(3).0,
            (ratio - 1.0) * 100.0,
        );
    }
}
