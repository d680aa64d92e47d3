//! Hostile and broken modules, written in WAT and wrapped into components against the real WIT:
//! each must end in its typed error, within the deadline, without taking the host down.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test with its message

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use ws3_engine::{
    Budget, Engine, EngineOptions, EvalError, KindRef, Limits, LoadError, MAX_RESULT_BYTES,
    MAX_TEXT, NoObjects, Operation, Origin, Request, Severity,
    testing::{Behaviour, HEX_RESULT_AT, HEX_RESULT_MAX, TestFinding, TestRule},
};

fn rule(behaviour: Behaviour) -> TestRule {
    TestRule::new("adversarial", &[("apps", "StatefulSet")], behaviour)
}

fn ok_empty() -> TestRule {
    rule(Behaviour::Findings(vec![]))
}

fn engine(deadline_ms: u64, max_memory: usize) -> Engine {
    Engine::new(&EngineOptions {
        limits: Limits {
            budget: Budget::Deadline(Duration::from_millis(deadline_ms)),
            max_memory,
        },
        ..EngineOptions::default()
    })
    .unwrap()
}

fn request() -> Request<'static> {
    static KIND: std::sync::LazyLock<KindRef> =
        std::sync::LazyLock::new(|| KindRef::new("apps", "StatefulSet"));
    Request {
        operation: Operation::Lint,
        kind: &KIND,
        name: "db",
        object: Some(r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"}}"#),
        old_object: None,
        namespace: "default",
        settings: "{}",
        pod_template: Some("spec.template"),
        context: 1,
    }
}

fn evaluate(engine: &Engine, test_rule: &TestRule) -> Result<Vec<ws3_engine::Finding>, EvalError> {
    let rule = engine
        .load(&test_rule.component(), Origin::Bytes("test".into()))
        .unwrap();
    assert_eq!(rule.meta().id, "adversarial");
    rule.evaluate(engine, Arc::new(NoObjects), &request())
}

#[test]
fn a_well_behaved_module_loads_and_runs() {
    let engine = engine(500, 16 << 20);
    let findings = evaluate(
        &engine,
        &rule(Behaviour::Findings(vec![TestFinding {
            severity: 1,
            message: "m",
            path: "spec.replicas",
            hint: "h",
        }])),
    )
    .unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].rule_id.as_str(), findings[0].path.as_str()),
        ("adversarial", "spec.replicas")
    );
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(evaluate(&engine, &ok_empty()).unwrap().is_empty());
}

#[test]
fn an_endless_loop_times_out() {
    let engine = engine(100, 16 << 20);
    let start = Instant::now();
    let err = evaluate(&engine, &rule(Behaviour::Loop)).unwrap_err();
    assert!(
        matches!(err, EvalError::Timeout { ref rule, .. } if rule == "adversarial"),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the deadline did not stop the loop"
    );
    assert!(err.to_string().contains("adversarial"));
}

#[test]
fn a_shorter_deadline_for_one_evaluation_stops_the_rule_then() {
    // The engine allows a minute per call; the caller (an admission review with little time
    // left) allows 100 ms.
    let engine = engine(60_000, 16 << 20);
    let rule = engine
        .load(
            &rule(Behaviour::Loop).component(),
            Origin::Bytes("test".into()),
        )
        .unwrap();
    let start = Instant::now();
    let err = rule
        .evaluate_within(
            &engine,
            Arc::new(NoObjects),
            &request(),
            Duration::from_millis(100),
        )
        .unwrap_err();
    assert_eq!(
        err,
        EvalError::Timeout {
            rule: "adversarial".into(),
            deadline: Duration::from_millis(100)
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the shorter deadline did not stop the loop"
    );
    // A longer one than the engine's is cut to the engine's.
    let engine = self::engine(100, 16 << 20);
    let rule = engine
        .load(
            &self::rule(Behaviour::Loop).component(),
            Origin::Bytes("test".into()),
        )
        .unwrap();
    let err = rule
        .evaluate_within(
            &engine,
            Arc::new(NoObjects),
            &request(),
            Duration::from_secs(3600),
        )
        .unwrap_err();
    assert!(
        matches!(err, EvalError::Timeout { deadline, .. } if deadline == Duration::from_millis(100)),
        "{err:?}"
    );
}

#[test]
fn a_trap_is_a_crash_naming_the_rule() {
    let engine = engine(500, 16 << 20);
    let err = evaluate(&engine, &rule(Behaviour::Trap)).unwrap_err();
    assert!(matches!(err, EvalError::Trap { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("rule adversarial crashed"),
        "{err}"
    );
}

#[test]
fn a_memory_bomb_hits_the_cap() {
    let engine = engine(2_000, 4 << 20);
    let err = evaluate(&engine, &rule(Behaviour::GrowMemory)).unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfMemory { limit_mib: 4, .. }),
        "{err:?}"
    );
}

#[test]
fn garbage_results_are_refused() {
    let engine = engine(500, 16 << 20);
    let err = evaluate(&engine, &rule(Behaviour::BadDiscriminant)).unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
    let err = evaluate(&engine, &rule(Behaviour::WildPointer)).unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
}

#[test]
fn interface_0_2_modules_of_the_test_support_load_and_run() {
    let engine = engine(500, 16 << 20);
    let v0_2 = |behaviour| rule(behaviour).with_interface_version("0.2.0");
    let component = v0_2(Behaviour::Findings(vec![]));
    let loaded = engine
        .load(&component.component(), Origin::Bytes("test".into()))
        .unwrap();
    assert_eq!(loaded.meta().interface, "0.2");
    assert_eq!(loaded.meta().applies_to.len(), 1);
    let findings = evaluate(
        &engine,
        &v0_2(Behaviour::Findings(vec![TestFinding {
            severity: 2,
            message: "m",
            path: "spec.replicas",
            hint: "h",
        }])),
    )
    .unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "spec.replicas");
    assert!(findings[0].redact.is_empty());
    // The request is read through its pointer: the object's length decides.
    assert_eq!(
        evaluate(&engine, &v0_2(Behaviour::DenyLongerThan(10)))
            .unwrap()
            .len(),
        1
    );
    assert!(
        evaluate(&engine, &v0_2(Behaviour::DenyLongerThan(10_000)))
            .unwrap()
            .is_empty()
    );
    let err = evaluate(&engine, &v0_2(Behaviour::Reject("bad input"))).unwrap_err();
    assert!(matches!(err, EvalError::Rejected { .. }), "{err:?}");
    let err = evaluate(&engine, &v0_2(Behaviour::WildPointer)).unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
}

#[test]
fn an_error_result_is_a_rejection() {
    let engine = engine(500, 16 << 20);
    let err = evaluate(&engine, &rule(Behaviour::Reject("bad input"))).unwrap_err();
    assert_eq!(
        err,
        EvalError::Rejected {
            rule: "adversarial".into(),
            message: "bad input".into()
        }
    );
}

#[test]
fn a_module_for_another_interface_version_is_refused() {
    let engine = engine(500, 16 << 20);
    let bytes = ok_empty().with_interface_version("0.3.0").component();
    let err = engine
        .load(&bytes, Origin::Bytes("future.wasm".into()))
        .unwrap_err();
    assert!(
        matches!(err, LoadError::Version { ref found, .. } if found == "0.3.0"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("ws3:policy@0.3.0") && msg.contains("0.1.x or 0.2.x"),
        "{msg}"
    );
}

#[test]
fn core_modules_and_garbage_are_refused_with_a_clear_message() {
    let engine = engine(500, 16 << 20);
    let core = wat::parse_str("(module)").unwrap();
    let err = engine
        .load(&core, Origin::Bytes("core.wasm".into()))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("core wasm module, not a component"),
        "{err}"
    );
    let err = engine
        .load(b"not wasm at all", Origin::Bytes("junk.wasm".into()))
        .unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
}

#[test]
fn a_component_that_is_not_a_rule_is_refused() {
    let engine = engine(500, 16 << 20);
    let err = engine
        .load(
            &wat::parse_str("(component)").unwrap(),
            Origin::Bytes("empty".into()),
        )
        .unwrap_err();
    assert!(matches!(err, LoadError::NotARule { .. }), "{err:?}");
}

#[test]
fn a_module_that_traps_in_metadata_cannot_load() {
    let engine = engine(500, 16 << 20);
    let bytes = ok_empty().trapping_in_metadata().component();
    let err = engine.load(&bytes, Origin::Bytes("m".into())).unwrap_err();
    assert!(matches!(err, LoadError::Metadata { .. }), "{err:?}");
}

#[test]
fn a_failed_instance_does_not_affect_the_next_evaluation() {
    let engine = engine(100, 16 << 20);
    let looping = engine
        .load(
            &rule(Behaviour::Loop).component(),
            Origin::Bytes("l".into()),
        )
        .unwrap();
    let fine = engine
        .load(&ok_empty().component(), Origin::Bytes("f".into()))
        .unwrap();
    for _ in 0..3 {
        assert!(
            looping
                .evaluate(&engine, Arc::new(NoObjects), &request())
                .is_err()
        );
        assert!(
            fine.evaluate(&engine, Arc::new(NoObjects), &request())
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn compiled_modules_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = ok_empty().component();
    let options = EngineOptions {
        cache_dir: Some(dir.path().to_owned()),
        ..EngineOptions::default()
    };
    let first = Engine::new(&options).unwrap();
    first.load(&bytes, Origin::Bytes("c".into())).unwrap();
    assert_eq!(first.cache_stats(), Some((0, 1)), "first start compiles");
    drop(first);
    let second = Engine::new(&options).unwrap();
    second.load(&bytes, Origin::Bytes("c".into())).unwrap();
    assert_eq!(
        second.cache_stats(),
        Some((1, 0)),
        "second start reuses the compiled module"
    );
}

/// The webhook's engine (pooled instances, bounds-checked memories without guard regions)
/// enforces the same limits, and its slots come back clean after a failure.
#[test]
fn the_pooled_engine_enforces_the_same_limits() {
    let engine = Engine::new(&EngineOptions {
        limits: Limits {
            budget: Budget::Deadline(Duration::from_millis(100)),
            max_memory: 4 << 20,
        },
        pooling: Some(2),
        ..EngineOptions::default()
    })
    .unwrap();
    let err = evaluate(&engine, &rule(Behaviour::Loop)).unwrap_err();
    assert!(matches!(err, EvalError::Timeout { .. }), "{err:?}");
    let err = evaluate(&engine, &rule(Behaviour::Trap)).unwrap_err();
    assert!(matches!(err, EvalError::Trap { .. }), "{err:?}");
    let err = evaluate(&engine, &rule(Behaviour::GrowMemory)).unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfMemory { limit_mib: 4, .. }),
        "{err:?}"
    );
    let err = evaluate(&engine, &rule(Behaviour::WildPointer)).unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
    // Many more evaluations than slots: each gets a fresh, working instance.
    let fine = engine
        .load(&ok_empty().component(), Origin::Bytes("f".into()))
        .unwrap();
    for _ in 0..50 {
        assert!(
            fine.evaluate(&engine, Arc::new(NoObjects), &request())
                .unwrap()
                .is_empty()
        );
    }
}

/// Offline, work is bounded by fuel: an endless loop ends with the same typed error however busy
/// the machine is, and a module that finishes within its fuel is never cut short by a clock.
#[test]
fn offline_budgets_are_fuel_not_time() {
    let engine = Engine::new(&EngineOptions {
        limits: Limits {
            budget: Budget::Fuel(5_000_000),
            max_memory: 16 << 20,
        },
        ..EngineOptions::default()
    })
    .unwrap();
    for _ in 0..2 {
        let err = evaluate(&engine, &rule(Behaviour::Loop)).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::OutOfFuel {
                    fuel: 5_000_000,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(evaluate(&engine, &ok_empty()).unwrap().is_empty());
}

/// A 0.2 result of one finding whose `redact` list has `entries` entries, all the same
/// `MAX_TEXT` bytes of zeros: a few KiB of module memory for `entries` × 16 KiB to copy. Laid
/// out for [`Behaviour::HexResult`] (see `fuzz/checks/module_result.rs` for the layout) and
/// returned as the object's JSON in hex.
fn redact_heavy_result(entries: u32) -> String {
    let at = HEX_RESULT_AT;
    let (finding, list, text) = (at + 0x10, at + 0x100, at + 0x4000);
    let text_len = u32::try_from(MAX_TEXT).unwrap();
    assert!(
        text + text_len <= at + HEX_RESULT_MAX,
        "the text lies in the zeroed region"
    );
    assert!(list + 8 * entries <= text, "the list ends before the text");
    let mut bytes = vec![0u8; (list + 8 * entries - at) as usize];
    let mut put = |addr: u32, value: u32| {
        let i = (addr - at) as usize;
        bytes[i..i + 4].copy_from_slice(&value.to_le_bytes());
    };
    // `ok`, one finding; every string but the redact entries empty, no subject.
    put(at + 4, finding);
    put(at + 8, 1);
    put(finding + 8, 2); // severity: error
    put(finding + 72, list);
    put(finding + 76, entries);
    for i in 0..entries {
        put(list + 8 * i, text);
        put(list + 8 * i + 4, text_len);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The host's per-finding checks come after wasmtime has copied the result out of the module;
/// what bounds the whole copy is `MAX_RESULT_BYTES`. A result just past it is refused with a
/// typed error naming the rule, one just under it is accepted, and the refusal leaves nothing
/// behind.
#[test]
fn a_result_too_large_to_copy_is_refused() {
    // A finding of `MAX_RESULT_BYTES / MAX_TEXT` redact entries of `MAX_TEXT` bytes is within the
    // per-finding limits (1,024 entries) yet copies more than `MAX_RESULT_BYTES` (24 bytes more
    // per entry for the host's `String`s).
    let past = u32::try_from(MAX_RESULT_BYTES / MAX_TEXT).unwrap();
    assert!(past <= 1024, "within the host's redact limit");
    // A few entries fewer: under by more than the finding record's own size.
    let under = past - 4;
    let engine = engine(5_000, 16 << 20);
    let rule = engine
        .load(
            &rule(Behaviour::HexResult)
                .with_interface_version("0.2.0")
                .component(),
            Origin::Bytes("test".into()),
        )
        .unwrap();
    let run = |entries: u32| {
        let object = redact_heavy_result(entries);
        let request = Request {
            object: Some(&object),
            ..request()
        };
        rule.evaluate(&engine, Arc::new(NoObjects), &request)
    };
    for _ in 0..2 {
        let err = run(past).unwrap_err();
        let EvalError::Invalid { rule: id, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(id, "adversarial");
        assert!(!err.poisons_instance());
        assert_eq!(
            message,
            "the result is too large: the host copies at most 16 MiB out of a module in one \
             call (its result, or the arguments of one lookup)"
        );
        let findings = run(under).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].redact.len(), under as usize);
        assert!(findings[0].redact.iter().all(|p| p.len() == MAX_TEXT));
    }
}
