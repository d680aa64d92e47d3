//! The properties the `sdk_decode` fuzz target checks, shared with the stable-toolchain replay
//! of the corpus (`policies/sdk/tests/fuzz_corpus.rs`). Panics when one does not hold.
//!
//! Input: the JSON of a reviewed object (any bytes; not UTF-8 is skipped, as hosts only pass
//! strings). It is decoded the ways the built-in rules decode theirs: the `shape` types through
//! `Request::object_as`, `Request::metadata`, and the pod template at each place a host may
//! name.

use serde_json::Value;
use ws3_policy_sdk::{
    Error, Request,
    shape::{ConfigMap, NetworkPolicy, PodSpec, Service, StatefulSet},
};

/// Where hosts say pod templates are: a Pod, the two built-in paths, a configured one.
const TEMPLATE_PATHS: &[&str] = &[
    "",
    "spec.template",
    "spec.jobTemplate.spec.template",
    "spec.workload.pod",
];

/// Checks one input.
pub fn check(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = decode_all(json);
    let value = serde_json::from_str::<Value>(json).ok();
    // Decoding never panics (decode_all returned) and every failure is an `Error` whose message
    // says what could not be read.
    for e in outcome.iter().filter_map(|r| r.as_ref().err()) {
        assert!(e.message().starts_with("cannot read "), "{e}");
    }
    let Some(value) = value else {
        return;
    };
    // What decodes agrees with serde_json's reading of the same text.
    if let Ok(Some(metadata)) = &outcome[4] {
        let name = value.pointer("/metadata/name").and_then(Value::as_str);
        assert_eq!(metadata.as_str(), name.unwrap_or(""));
    }
    // Messages never depend on the contents of string values (they name fields, never
    // values): the same JSON with every non-empty string value replaced decodes to the same
    // messages. Compared on serde_json's rewriting of both, so that both have the same shape.
    let mut redacted = value.clone();
    replace_strings(&mut redacted);
    let original = messages(&decode_all(&value.to_string()));
    let replaced = messages(&decode_all(&redacted.to_string()));
    assert_eq!(original, replaced, "a message depends on a value");
}

type Outcome = Result<Option<String>, Error>;

/// Every decoding the rules do; `Ok` holds a summary (the name, where there is one).
fn decode_all(json: &str) -> Vec<Outcome> {
    let req = Request::lint("fuzz", "Fuzzed", json);
    let mut out: Vec<Outcome> = vec![
        req.object_as::<StatefulSet>()
            .map(|s| s.map(|s| s.metadata.name)),
        req.object_as::<Service>()
            .map(|s| s.map(|s| s.metadata.name)),
        req.object_as::<NetworkPolicy>()
            .map(|s| s.map(|_| String::new())),
        req.object_as::<ConfigMap>()
            .map(|s| s.map(|c| c.metadata.name)),
        req.metadata().map(|m| Some(m.name)),
    ];
    for path in TEMPLATE_PATHS {
        let req = Request {
            pod_template: Some((*path).to_owned()),
            ..req.clone()
        };
        out.push(
            req.pod_template_as::<PodSpec>()
                .map(|t| t.map(|t| t.spec_path.as_str().to_owned())),
        );
    }
    let settings = Request {
        settings: json.to_owned(),
        ..req.clone()
    };
    out.push(
        settings
            .settings::<std::collections::BTreeMap<String, Value>>()
            .map(|s| Some(s.len().to_string())),
    );
    out
}

fn messages(outcome: &[Outcome]) -> Vec<Option<String>> {
    outcome
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.message().to_owned()))
        .collect()
}

/// Replaces every non-empty string value (not the keys) with another.
fn replace_strings(v: &mut Value) {
    match v {
        Value::String(s) if !s.is_empty() => *s = "x".to_owned(),
        Value::Array(items) => items.iter_mut().for_each(replace_strings),
        Value::Object(map) => map.values_mut().for_each(replace_strings),
        _ => {}
    }
}
