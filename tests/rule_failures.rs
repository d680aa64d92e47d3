//! A rule module that fails is an error naming the rule, the file and the document (exit code
//! 2), never a finding and never a crash; the other rules' findings are still reported.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failing test with its message"
)]

use std::{path::Path, process::Command};

use ws3_engine::testing::{Behaviour, TestRule};

/// A rule `crashing-rule` for StatefulSets whose `validate` traps.
fn crashing_rule() -> Vec<u8> {
    TestRule::new("crashing-rule", &[("apps", "StatefulSet")], Behaviour::Trap).component()
}

#[test]
fn a_crashing_rule_is_an_error_naming_rule_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crash.wasm"), crashing_rule()).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course/01-ws3-db-emptydir.yaml");
    std::fs::copy(&fixture, dir.path().join("db.yaml")).unwrap();
    // The same objects in another namespace: one file set defines each object once.
    let text = std::fs::read_to_string(&fixture).unwrap();
    std::fs::write(
        dir.path().join("db2.yaml"),
        text.replace("kubernetes-ws-3", "kubernetes-ws-4"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ws3-lint"))
        .args([
            "--no-color",
            "--module",
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
    for (file, namespace) in [
        ("db.yaml", "kubernetes-ws-3"),
        ("db2.yaml", "kubernetes-ws-4"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{file}:")))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("error: rule crashing-rule crashed"), "{line}");
        assert!(
            line.contains(&format!("reviewing StatefulSet {namespace}/db, document 4")),
            "{line}"
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["problems"].as_array().unwrap();
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
