#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test with its message

//! Hostile and broken modules, written in WAT and wrapped into components against the real WIT:
//! each must end in its typed error, within the deadline, without taking the host down.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use ws3_engine::{
    Engine, EngineOptions, EvalError, Limits, LoadError, NoObjects, Operation, Origin, Request,
};

const WIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/since_v0.1.0");

/// Turns a core module in WAT, written against `ws3:policy@<version>`, into a component.
fn component(wat: &str, version: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let wit = std::fs::read_to_string(format!("{WIT_DIR}/policy.wit"))
        .unwrap()
        .replace(
            "package ws3:policy@0.1.0;",
            &format!("package ws3:policy@{version};"),
        );
    let pkg = resolve.push_str("policy.wit", &wit).unwrap();
    let world = resolve.select_world(&[pkg], Some("policy")).unwrap();
    let mut module = wat::parse_str(wat.replace("@VERSION", version)).unwrap();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// Writes a string into the data blob at `at`, returning (ptr, len).
fn put(blob: &mut Vec<u8>, base: u32, s: &str) -> (u32, u32) {
    let ptr = base + blob.len() as u32;
    blob.extend_from_slice(s.as_bytes());
    while !blob.len().is_multiple_of(4) {
        blob.push(0);
    }
    (ptr, s.len() as u32)
}

/// A data segment holding a valid `rule-metadata` record at address 1024 (canonical ABI layout:
/// id, title, severity u8, applies-to, reads, rationale, docs = 52 bytes).
fn metadata_segment(id: &str) -> String {
    const RECORD: u32 = 1024;
    const STRINGS: u32 = 2048;
    let mut strings = Vec::new();
    let id = put(&mut strings, STRINGS, id);
    let title = put(&mut strings, STRINGS, "adversarial test rule");
    let group = put(&mut strings, STRINGS, "apps");
    let kind = put(&mut strings, STRINGS, "StatefulSet");
    let text = put(&mut strings, STRINGS, "for tests");
    let kind_ref_at = STRINGS + strings.len() as u32;
    for v in [group.0, group.1, kind.0, kind.1] {
        strings.extend_from_slice(&v.to_le_bytes());
    }
    let mut record = Vec::new();
    for v in [id.0, id.1, title.0, title.1] {
        record.extend_from_slice(&v.to_le_bytes());
    }
    record.extend_from_slice(&[2, 0, 0, 0]); // severity error + padding
    for v in [kind_ref_at, 1, 0, 0, text.0, text.1, text.0, text.1] {
        record.extend_from_slice(&v.to_le_bytes());
    }
    let esc = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    };
    format!(
        "(data (i32.const {RECORD}) \"{}\")\n(data (i32.const {STRINGS}) \"{}\")",
        esc(&record),
        esc(&strings)
    )
}

/// A rule module whose `validate` body is `body` (it must leave an i32 return pointer).
fn rule_wat(body: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  {data}
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.div_u (local.get 3) (i32.const 65536)) (i32.const 1)))))
    (local.get $p))
  (func (export "ws3:policy/rule@@VERSION#metadata") (result i32) (i32.const 1024))
  (func (export "ws3:policy/rule@@VERSION#validate")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    {body})
)"#,
        data = metadata_segment("adversarial")
    )
}

/// `validate` returns `ok([])`.
const OK_EMPTY: &str = "(i32.store8 (i32.const 4096) (i32.const 0)) (i32.store (i32.const 4100) (i32.const 0)) (i32.store (i32.const 4104) (i32.const 0)) (i32.const 4096)";

fn engine(deadline_ms: u64, max_memory: usize) -> Engine {
    Engine::new(&EngineOptions {
        limits: Limits {
            deadline: Duration::from_millis(deadline_ms),
            max_memory,
        },
        ..EngineOptions::default()
    })
    .unwrap()
}

fn request() -> Request<'static> {
    Request {
        operation: Operation::Lint,
        object: Some(r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"}}"#),
        old_object: None,
        namespace: "default",
        settings: "{}",
    }
}

fn evaluate(engine: &Engine, body: &str) -> Result<Vec<ws3_engine::Finding>, EvalError> {
    let rule = engine
        .load(
            &component(&rule_wat(body), "0.1.0"),
            Origin::Bytes("test".into()),
        )
        .unwrap();
    assert_eq!(rule.meta().id, "adversarial");
    rule.evaluate(engine, Arc::new(NoObjects), &request())
}

#[test]
fn a_well_behaved_module_loads_and_runs() {
    let engine = engine(500, 16 << 20);
    let findings = evaluate(&engine, OK_EMPTY).unwrap();
    assert!(findings.is_empty());
}

#[test]
fn an_endless_loop_times_out() {
    let engine = engine(100, 16 << 20);
    let start = Instant::now();
    let err = evaluate(&engine, "(loop $l (br $l)) (unreachable)").unwrap_err();
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
fn a_trap_is_a_crash_naming_the_rule() {
    let engine = engine(500, 16 << 20);
    let err = evaluate(&engine, "(unreachable)").unwrap_err();
    assert!(matches!(err, EvalError::Trap { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("rule adversarial crashed"),
        "{err}"
    );
}

#[test]
fn a_memory_bomb_hits_the_cap() {
    let engine = engine(2_000, 4 << 20);
    // Grow one page at a time; a refused grow returns -1, after which the guest aborts,
    // as Rust's allocator does.
    let err = evaluate(
        &engine,
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (unreachable)",
    )
    .unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfMemory { limit_mib: 4, .. }),
        "{err:?}"
    );
}

#[test]
fn garbage_results_are_refused() {
    let engine = engine(500, 16 << 20);
    // result discriminant 7 does not exist.
    let err = evaluate(
        &engine,
        "(i32.store8 (i32.const 4096) (i32.const 7)) (i32.const 4096)",
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
    // ok(list) pointing outside memory.
    let err = evaluate(
        &engine,
        "(i32.store8 (i32.const 4096) (i32.const 0)) (i32.store (i32.const 4100) (i32.const 0x7fff0000)) (i32.store (i32.const 4104) (i32.const 5)) (i32.const 4096)",
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::Invalid { .. }), "{err:?}");
}

#[test]
fn an_error_result_is_a_rejection() {
    let engine = engine(500, 16 << 20);
    // err("bad input"): discriminant 1, string at 2048 ("adversarial" is there, 11 bytes).
    let err = evaluate(
        &engine,
        "(i32.store8 (i32.const 4096) (i32.const 1)) (i32.store (i32.const 4100) (i32.const 2048)) (i32.store (i32.const 4104) (i32.const 11)) (i32.const 4096)",
    )
    .unwrap_err();
    assert_eq!(
        err,
        EvalError::Rejected {
            rule: "adversarial".into(),
            message: "adversarial".into()
        }
    );
}

#[test]
fn a_module_for_another_interface_version_is_refused() {
    let engine = engine(500, 16 << 20);
    let bytes = component(&rule_wat(OK_EMPTY), "0.2.0");
    let err = engine
        .load(&bytes, Origin::Bytes("future.wasm".into()))
        .unwrap_err();
    assert!(
        matches!(err, LoadError::Version { ref found, .. } if found == "0.2.0"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("ws3:policy@0.2.0") && msg.contains("0.1.x"),
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
    let wat = rule_wat(OK_EMPTY).replace(
        "(result i32) (i32.const 1024))",
        "(result i32) (unreachable))",
    );
    let err = engine
        .load(&component(&wat, "0.1.0"), Origin::Bytes("m".into()))
        .unwrap_err();
    assert!(matches!(err, LoadError::Metadata { .. }), "{err:?}");
}

#[test]
fn a_failed_instance_does_not_affect_the_next_evaluation() {
    let engine = engine(100, 16 << 20);
    let looping = engine
        .load(
            &component(&rule_wat("(loop $l (br $l)) (unreachable)"), "0.1.0"),
            Origin::Bytes("l".into()),
        )
        .unwrap();
    let fine = engine
        .load(
            &component(&rule_wat(OK_EMPTY), "0.1.0"),
            Origin::Bytes("f".into()),
        )
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
    let bytes = component(&rule_wat(OK_EMPTY), "0.1.0");
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
