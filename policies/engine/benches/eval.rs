//! Cost of one rule evaluation: `cargo bench -p ws3-engine --bench eval`.
//!
//! For each built-in rule and a captured StatefulSet, prints the mean time to instantiate a
//! fresh instance, to instantiate and validate (what the webhook does per rule and review), and
//! to validate on a warm instance (what `ws3-lint` does), with the pooling allocator and without.
//! No assertions: the figures are for the reader.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../../../tests/benches/measure.rs"]
mod measure;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use ws3_engine::{
    Config, Engine, EngineOptions, KindRef, NoObjects, ObjectSource, Operation, Request, RuleSet,
    default_cache_dir,
};

const ROUND: Duration = Duration::from_millis(600);

fn per_call(mut f: impl FnMut()) -> Duration {
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < ROUND {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn main() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../webhook/tests/fixtures/admission/statefulset-create-web-013.json"
    );
    let review: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    // As the webhook passes it: without managedFields.
    let mut object = review["request"]["object"].clone();
    if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    let object = object.to_string();
    let kind = KindRef::new("apps", "StatefulSet");
    let request = Request {
        operation: Operation::Create,
        kind: &kind,
        name: "web",
        object: Some(&object),
        old_object: None,
        namespace: "kubernetes-ws-3",
        settings: "{}",
        pod_template: Some("spec.template"),
        context: 0,
    };
    let source: Arc<dyn ObjectSource> = Arc::new(NoObjects);
    println!(
        "calibration: a fixed native workload (200M xorshift rounds) took {:.0?} on one thread",
        measure::calibration()
    );
    println!("StatefulSet of {} bytes", object.len());
    for pooling in [None, Some(64)] {
        let engine = Engine::new(&EngineOptions {
            cache_dir: default_cache_dir(),
            pooling,
            ..EngineOptions::default()
        })
        .unwrap();
        let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
        println!(
            "\n{} allocator",
            if pooling.is_some() {
                "pooling"
            } else {
                "on-demand"
            }
        );
        println!(
            "{:<36} {:>12} {:>14} {:>12}",
            "rule", "instantiate", "fresh+validate", "warm validate"
        );
        for configured in rules.all() {
            let rule = &configured.rule;
            let inst = per_call(|| {
                rule.instantiate(&engine, Arc::clone(&source)).unwrap();
            });
            let fresh = per_call(|| {
                rule.evaluate(&engine, Arc::clone(&source), &request)
                    .unwrap();
            });
            let mut warm_instance = rule.instantiate(&engine, Arc::clone(&source)).unwrap();
            let warm = per_call(|| {
                warm_instance.validate(&engine, &request).unwrap();
            });
            println!(
                "{:<36} {:>10.1}µs {:>12.1}µs {:>10.1}µs",
                rule.meta().id,
                inst.as_secs_f64() * 1e6,
                fresh.as_secs_f64() * 1e6,
                warm.as_secs_f64() * 1e6
            );
        }
    }
}
