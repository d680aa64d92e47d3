//! The properties the `strip_noise` fuzz target checks, shared with the stable-toolchain replay
//! of the corpus (`policies/engine/tests/fuzz_corpus.rs`). Panics when one does not hold.
//!
//! Input: one byte choosing the namespace to place (none, a plain one, one that needs escaping),
//! then the JSON text. `rule_view_in` is checked differentially against a reference built on
//! `serde_json::Value`: for valid JSON without repeated keys, the output means exactly the input
//! without `metadata.managedFields` and the last-applied annotation, with `metadata.namespace`
//! placed; JSON that is not an object comes back unchanged. Invalid JSON (which the hosts never
//! pass) must only not panic.

use std::collections::HashSet;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use ws3_engine::object::{LAST_APPLIED, rule_view_in};

const NAMESPACES: &[Option<&str>] = &[None, Some("fuzz"), Some("a\"b\\c\u{1}é😀")];

/// Checks one input.
pub fn check(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(json) = std::str::from_utf8(rest) else {
        return;
    };
    let namespace = NAMESPACES[usize::from(selector) % NAMESPACES.len()];
    let out = rule_view_in(json, namespace);
    let Ok(input) = serde_json::from_str::<Value>(json) else {
        return;
    };
    if !input.is_object() {
        assert_eq!(out, json, "JSON that is not an object is passed unchanged");
        return;
    }
    let parsed: Value = match serde_json::from_str(&out) {
        Ok(v) => v,
        Err(e) => panic!("the output is not JSON: {e}"),
    };
    if has_repeated_keys(json) {
        // Which of two members counts is the reader's business; the output stays JSON.
        return;
    }
    assert_eq!(
        parsed,
        reference(input, namespace),
        "not what serde_json makes of it"
    );
}

/// What the output must mean.
pub fn reference(mut v: Value, namespace: Option<&str>) -> Value {
    let Some(object) = v.as_object_mut() else {
        return v;
    };
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(LAST_APPLIED);
        }
    }
    if let Some(ns) = namespace {
        let meta = object
            .entry("metadata")
            .and_modify(|m| {
                if !m.is_object() {
                    *m = Value::Object(Default::default());
                }
            })
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("namespace".into(), Value::String(ns.to_owned()));
        }
    }
    v
}

/// Whether any object in `json` (valid JSON) names a key twice.
fn has_repeated_keys(json: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(json);
    NoRepeats::deserialize(&mut de).is_err()
}

/// Deserializes any JSON value, failing on a repeated key.
struct NoRepeats;

impl<'de> Deserialize<'de> for NoRepeats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoRepeatsVisitor)
    }
}

struct NoRepeatsVisitor;

impl<'de> Visitor<'de> for NoRepeatsVisitor {
    type Value = NoRepeats;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_unit<E>(self) -> Result<NoRepeats, E> {
        Ok(NoRepeats)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoRepeats, A::Error> {
        while seq.next_element::<NoRepeats>()?.is_some() {}
        Ok(NoRepeats)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoRepeats, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("repeated key"));
            }
            map.next_value::<NoRepeats>()?;
        }
        Ok(NoRepeats)
    }
}
