//! A rule module that fails is an error naming the rule, the file and the document (exit code
//! 2), never a finding and never a crash; the other rules' findings are still reported.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failing test with its message"
)]

use std::{path::Path, process::Command};

const WIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/policies/wit/since_v0.1.0/policy.wit"
);

/// Turns a core module in WAT into a `ws3:policy@0.1.0` component (as the engine's adversarial
/// tests do).
fn component(wat: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("policy.wit", &std::fs::read_to_string(WIT).unwrap())
        .unwrap();
    let world = resolve.select_world(&[pkg], Some("policy")).unwrap();
    let mut module = wat::parse_str(wat).unwrap();
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

/// A rule `crashing-rule` for StatefulSets whose `validate` traps.
fn crashing_rule() -> Vec<u8> {
    // rule-metadata at 1024 (id, title, severity, applies-to, reads, rationale, docs), its
    // strings at 2048.
    let mut strings: Vec<u8> = Vec::new();
    let mut put = |s: &str| {
        let at = 2048 + strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        while !strings.len().is_multiple_of(4) {
            strings.push(0);
        }
        (at, s.len() as u32)
    };
    let id = put("crashing-rule");
    let title = put("a rule that always traps");
    let group = put("apps");
    let kind = put("StatefulSet");
    let text = put("for tests");
    let kind_ref_at = 2048 + strings.len() as u32;
    for v in [group.0, group.1, kind.0, kind.1] {
        strings.extend_from_slice(&v.to_le_bytes());
    }
    let mut record = Vec::new();
    for v in [id.0, id.1, title.0, title.1] {
        record.extend_from_slice(&v.to_le_bytes());
    }
    record.extend_from_slice(&[2, 0, 0, 0]);
    for v in [kind_ref_at, 1, 0, 0, text.0, text.1, text.0, text.1] {
        record.extend_from_slice(&v.to_le_bytes());
    }
    let esc = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    };
    component(&format!(
        r#"(module
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 1024) "{record}")
  (data (i32.const 2048) "{strings}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.div_u (local.get 3) (i32.const 65536)) (i32.const 1)))))
    (local.get $p))
  (func (export "ws3:policy/rule@0.1.0#metadata") (result i32) (i32.const 1024))
  (func (export "ws3:policy/rule@0.1.0#validate")
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    unreachable)
)"#,
        record = esc(&record),
        strings = esc(&strings)
    ))
}

#[test]
fn a_crashing_rule_is_an_error_naming_rule_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crash.wasm"), crashing_rule()).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course/01-ws3-db-emptydir.yaml");
    std::fs::copy(&fixture, dir.path().join("db.yaml")).unwrap();
    std::fs::copy(&fixture, dir.path().join("db2.yaml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ws3-lint"))
        .args([
            "--no-color",
            "--rules",
            "crash.wasm",
            "--format",
            "json",
            "db.yaml",
            "db2.yaml",
        ])
        .current_dir(dir.path())
        .env(
            "WS3_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ws3-cache"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    // One error per StatefulSet: the trapped instance is replaced for the next object.
    for file in ["db.yaml", "db2.yaml"] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{file}:")))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("error: rule crashing-rule crashed"), "{line}");
        assert!(
            line.contains("reviewing StatefulSet kubernetes-ws-3/db, document 4"),
            "{line}"
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e["kind"] == "rule" && e["rule"] == "crashing-rule" && e["document"] == 4)
    );
    // The built-in rules still report their findings.
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "statefulset-emptydir-data"),
        "{findings:?}"
    );
    assert!(findings.iter().all(|f| f["rule"] != "crashing-rule"));
}
