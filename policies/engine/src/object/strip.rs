//! [`rule_view`]: an object's JSON without the bookkeeping no rule reads, in one pass.
//!
//! The input is JSON that was already checked (the webhook's `RawValue`, the linter's own
//! writer), so this scanner only finds where members and values start and end: it never has to
//! report a syntax error, and on anything it does not expect it gives the input back unchanged.
//! Members are copied byte for byte; only the dropped members and the separators around them go.
//!
//! Why a hand-written scanner and not `serde_json::Value`: a round trip through `Value` costs
//! 5.3 µs for a captured StatefulSet, this pass 2.5 µs, and the webhook pays it twice per review
//! (object and old object). A differential test below (and the `strip_noise` fuzz target) checks it
//! against `serde_json` on odd shapes and every captured object.

use std::{borrow::Cow, ops::Range};

use super::LAST_APPLIED;

/// The object under review as rules see it: without `metadata.managedFields` and the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation. Both are bookkeeping no rule
/// judges (the annotation also holds a copy of every value, Secrets' included), and together
/// often more than half of the JSON every rule would otherwise parse again. Anything else is
/// passed as it came, byte for byte. `json` must be valid JSON; JSON that is not an object is
/// passed unchanged (the rule reports it).
pub fn rule_view(json: &str) -> Cow<'_, str> {
    rule_view_in(json, None)
}

/// [`rule_view`], with `metadata.namespace` set to `namespace` when one is given (the linter's
/// effective namespace of an object whose file names none): any `namespace` member of
/// `metadata` is replaced, and a missing (or non-object) `metadata` becomes
/// `{"namespace": …}`.
pub fn rule_view_in<'a>(json: &'a str, namespace: Option<&str>) -> Cow<'a, str> {
    let mut edits = Edits::default();
    if strip(json.as_bytes(), namespace, &mut edits).is_none()
        || (edits.drop.is_empty() && edits.insert.is_none())
    {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 32);
    let mut at = 0;
    let mut insert = edits.insert;
    // Ranges may overlap (a key dropped twice after the same kept member): skip what is cut.
    for range in edits.drop {
        if let Some((pos, text)) = insert.take_if(|(pos, _)| *pos <= range.start.max(at)) {
            let Some(kept) = json.get(at..pos.max(at)) else {
                return Cow::Borrowed(json);
            };
            out.push_str(kept);
            out.push_str(&text);
            at = at.max(pos);
        }
        let Some(kept) = json.get(at..range.start.max(at)) else {
            return Cow::Borrowed(json);
        };
        out.push_str(kept);
        at = at.max(range.end);
    }
    if let Some((pos, text)) = insert {
        let Some(kept) = json.get(at..pos.max(at)) else {
            return Cow::Borrowed(json);
        };
        out.push_str(kept);
        out.push_str(&text);
        at = at.max(pos);
    }
    let Some(rest) = json.get(at..) else {
        return Cow::Borrowed(json);
    };
    out.push_str(rest);
    Cow::Owned(out)
}

/// What to change: byte ranges to cut (in order) and one text to insert at a position.
#[derive(Default)]
struct Edits {
    drop: Vec<Range<usize>>,
    insert: Option<(usize, String)>,
}

/// `"namespace":"…"` as a JSON member.
fn namespace_member(namespace: &str) -> String {
    let mut out = String::from("\"namespace\":");
    // Writing a string to a String cannot fail.
    out.push_str(&serde_json::to_string(namespace).unwrap_or_else(|_| "\"\"".to_owned()));
    out
}

/// Collects the edits of the top-level object `json`; `None` when it is not an object or not
/// JSON this scanner follows.
fn strip(json: &[u8], namespace: Option<&str>, edits: &mut Edits) -> Option<()> {
    let mut s = Scanner { json, at: 0 };
    s.skip_ws();
    let mut has_metadata = false;
    let mut top_kept = 0usize;
    let drop = &mut edits.drop;
    let insert = &mut edits.insert;
    s.members(drop, |s, key, drop| {
        if key_is(s.json, key.clone(), "metadata") && s.peek() == Some(b'{') {
            has_metadata = true;
            let mut kept = 0usize;
            s.members(drop, |s, key, drop| {
                if key_is(s.json, key.clone(), "managedFields")
                    || (namespace.is_some() && key_is(s.json, key.clone(), "namespace"))
                {
                    s.value()?;
                    return Some(true);
                }
                kept += 1;
                if key_is(s.json, key, "annotations") && s.peek() == Some(b'{') {
                    s.members(drop, |s, key, _| {
                        s.value()?;
                        Some(key_is(s.json, key, LAST_APPLIED))
                    })?;
                } else {
                    s.value()?;
                }
                Some(false)
            })?;
            if let Some(ns) = namespace {
                // Before the closing brace of `metadata`.
                let sep = if kept > 0 { "," } else { "" };
                *insert = Some((s.at - 1, format!("{sep}{}", namespace_member(ns))));
            }
        } else if namespace.is_some() && key_is(s.json, key, "metadata") {
            // `metadata: null` or another non-object: replaced below.
            s.value()?;
            return Some(true);
        } else {
            s.value()?;
        }
        top_kept += 1;
        Some(false)
    })?;
    if let (Some(ns), false) = (namespace, has_metadata) {
        let sep = if top_kept > 0 { "," } else { "" };
        *insert = Some((
            s.at - 1,
            format!("{sep}\"metadata\":{{{}}}", namespace_member(ns)),
        ));
    }
    s.skip_ws();
    // Inner members are cut before the leading members of their parent are known.
    drop.sort_by_key(|r| r.start);
    (s.at == json.len()).then_some(())
}

/// Whether the key at `key` (its raw text, quotes included) is `name`.
fn key_is(json: &[u8], key: Range<usize>, name: &str) -> bool {
    let Some(raw) = json.get(key) else {
        return false;
    };
    if raw.len() == name.len() + 2 && !raw.contains(&b'\\') {
        return raw.get(1..raw.len() - 1) == Some(name.as_bytes());
    }
    // Escapes in the key: compare what it says. Rare, and never in the keys the API server
    // writes.
    raw.contains(&b'\\')
        && std::str::from_utf8(raw)
            .ok()
            .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
            .is_some_and(|key| key == name)
}

struct Scanner<'a> {
    json: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Walks the members of the object at the cursor. For each, `visit(key, drop)` is called
    /// with the cursor on the value and the byte range of the key (quoted); it moves the cursor
    /// past the value, and when it returns `true` the member is added to `drop` with the comma
    /// that separates it from its neighbours. Leaves the cursor after the closing brace.
    fn members(
        &mut self,
        drop: &mut Vec<Range<usize>>,
        mut visit: impl FnMut(&mut Self, Range<usize>, &mut Vec<Range<usize>>) -> Option<bool>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        // Where the last kept member ended (after its value), once there is one.
        let mut kept_end: Option<usize> = None;
        // Where the dropped members before the first kept one start: they take the comma after
        // them.
        let mut leading_drop: Option<usize> = None;
        loop {
            self.skip_ws();
            let member_start = self.at;
            let key = self.string()?;
            self.eat(b':')?;
            self.skip_ws();
            let dropped = visit(self, key, drop)?;
            let member_end = self.at;
            self.skip_ws();
            let last = match self.peek()? {
                b',' => false,
                b'}' => true,
                _ => return None,
            };
            self.at += 1;
            if dropped {
                match kept_end {
                    // `,"dropped":value` after a kept member.
                    Some(end) => drop.push(end..member_end),
                    None => {
                        leading_drop.get_or_insert(member_start);
                    }
                }
            } else {
                if let Some(start) = leading_drop.take() {
                    drop.push(start..member_start);
                }
                kept_end = Some(member_end);
            }
            if last {
                if let Some(start) = leading_drop {
                    // Every member was dropped.
                    drop.push(start..member_end);
                }
                return Some(());
            }
        }
    }

    /// Skips the string at the cursor; returns its range, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        (self.peek()? == b'"').then_some(())?;
        let mut at = start + 1;
        loop {
            let rest = self.json.get(at..)?;
            let i = memchr::memchr2(b'"', b'\\', rest)?;
            if rest.get(i)? == &b'\\' {
                at += i + 2;
            } else {
                self.at = at + i + 1;
                return Some(start..self.at);
            }
        }
    }

    /// Skips the value at the cursor.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                // A number, true, false or null.
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::value::RawValue;

    fn strip(json: &str) -> String {
        rule_view(json).into_owned()
    }

    /// What the stripped object must mean: the input parsed, without the two members.
    fn reference(json: &str) -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("managedFields");
            if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
                a.remove(LAST_APPLIED);
            }
        }
        v
    }

    #[test]
    fn rules_see_objects_without_bookkeeping() {
        let json = r#"{"kind":"ConfigMap","metadata":{"name":"a","managedFields":[{"manager":"kubectl"}],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}","ws3.dev/ignore":"x"}},"data":{"k":"v"}}"#;
        assert_eq!(
            strip(json),
            r#"{"kind":"ConfigMap","metadata":{"name":"a","annotations":{"ws3.dev/ignore":"x"}},"data":{"k":"v"}}"#
        );
        assert!(matches!(
            rule_view(r#"{"kind":"ConfigMap"}"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn stripping_keeps_everything_else_byte_for_byte() {
        // Order, spacing inside values and escaped keys survive; the dropped members may be
        // first, last or alone.
        assert_eq!(
            strip(
                r#"{"metadata":{"managedFields":[],"name":"a","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},"data":{ "k" : "v\n" },"a\"b":1}"#
            ),
            r#"{"metadata":{"name":"a","annotations":{}},"data":{ "k" : "v\n" },"a\"b":1}"#
        );
        assert_eq!(
            strip(r#"{"kind":"X","metadata":{"name":"a","managedFields":[{"manager":"m"}]}}"#),
            r#"{"kind":"X","metadata":{"name":"a"}}"#
        );
        assert_eq!(
            strip(r#"{"metadata":{"managedFields":[]}}"#),
            r#"{"metadata":{}}"#
        );
        // Pretty-printed, as a file or another client may send it.
        assert_eq!(
            strip(
                "{\n  \"metadata\" : {\n    \"managedFields\" : [ ],\n    \"name\" : \"a\"\n  }\n}"
            ),
            "{\n  \"metadata\" : {\n    \"name\" : \"a\"\n  }\n}"
        );
        // Separators around a dropped member go with it.
        assert_eq!(
            strip(r#"{"metadata":{"name":"a" , "managedFields":[] ,"uid":"u" }}"#),
            r#"{"metadata":{"name":"a" ,"uid":"u" }}"#
        );
        assert_eq!(
            strip(r#"{"metadata":{"name":"a" , "managedFields":[] }}"#),
            r#"{"metadata":{"name":"a" }}"#
        );
        // Shapes that are not what the API server sends are passed on as they are.
        for odd in [
            r#"{"metadata":"managedFields"}"#,
            r#"{"metadata":{"annotations":["kubectl.kubernetes.io/last-applied-configuration"]}}"#,
            r#"["managedFields"]"#,
            r#""managedFields""#,
            r#"{"spec":{"metadata":{"managedFields":[]}}}"#,
        ] {
            assert_eq!(strip(odd), odd);
        }
    }

    #[test]
    fn the_effective_namespace_is_placed_in_metadata() {
        let place = |json: &str| rule_view_in(json, Some("dflt")).into_owned();
        let ns = |out: &str| {
            serde_json::from_str::<serde_json::Value>(out).unwrap()["metadata"]["namespace"].clone()
        };
        for json in [
            r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#,
            r#"{"kind":"ConfigMap"}"#,
            r#"{}"#,
            r#"{"metadata":null,"kind":"X"}"#,
            r#"{"metadata":{}}"#,
            r#"{"metadata":{"namespace":"","name":"a"}}"#,
            r#"{"metadata":{"name":"a","namespace":null}}"#,
            r#"{"metadata":{"managedFields":[],"namespace":"x","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}}}"#,
            r#"{ "metadata" : { "name" : "a" } , "data" : { } }"#,
        ] {
            let out = place(json);
            assert_eq!(ns(&out), "dflt", "{json} -> {out}");
            let mut expected = reference(json);
            expected
                .as_object_mut()
                .unwrap()
                .entry("metadata")
                .and_modify(|m| {
                    if !m.is_object() {
                        *m = serde_json::json!({});
                    }
                })
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
                .unwrap()
                .insert("namespace".into(), "dflt".into());
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&out).unwrap(),
                expected,
                "{json} -> {out}"
            );
        }
        assert_eq!(
            place(r#"{"metadata":{"name":"a"}}"#),
            r#"{"metadata":{"name":"a","namespace":"dflt"}}"#
        );
    }

    #[test]
    fn the_result_means_the_object_without_the_two_members() {
        let cases = [
            r#"{"metadata":{"managedFields":[{"a":"}]{[\"\\"}],"annotations":{"x":"1","kubectl.kubernetes.io/last-applied-configuration":"{\"a\":[1,2]}","y":"2"},"name":"n"},"spec":[1,-2.5e3,true,false,null,{"a":[]}]}"#,
            r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"x"},"managedFields":null}}"#,
            r#"{"metadata":{"name":"a","managedFields":[],"labels":{"managedFields":"kept"}}}"#,
            r#"{"metad\u0061ta":{"m\u0061nagedFields":[],"name":"escaped keys"}}"#,
            r#"{"metadata":{"name":"a"},"metadata2":{"managedFields":[]}}"#,
            r#"{"a":"\u00e9\ud83d\ude00","metadata":{"managedFields":[1],"annotations":{}},"z":{}}"#,
            r#"{}"#,
            r#"{ }"#,
            r#"{"metadata":{"name":"a","managedFields":1,"managedFields":2}}"#,
            r#"{"metadata":{"managedFields":1,"managedFields":2,"name":"a"}}"#,
        ];
        for json in cases {
            let out = strip(json);
            let parsed: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{json} -> {out}: {e}"));
            assert_eq!(parsed, reference(json), "{json} -> {out}");
        }
        // A key dropped many times over (a sort of many equal starts).
        let repeated = format!(
            r#"{{"metadata":{{"annotations":{{"x":"1"{}}},"managedFields":[]{}}}}}"#,
            format!(r#","{LAST_APPLIED}":"v""#).repeat(25),
            r#","managedFields":[1]"#.repeat(25)
        );
        let out = strip(&repeated);
        assert_eq!(out, r#"{"metadata":{"annotations":{"x":"1"}}}"#);
        // The captured objects, bookkeeping and all, in the API server's byte order.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Request {
            object: Option<Box<RawValue>>,
            old_object: Option<Box<RawValue>>,
        }
        #[derive(serde::Deserialize)]
        struct Review {
            request: Request,
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../webhook/tests/fixtures/admission");
        let lifecycle = std::fs::read_dir(dir.join("lifecycle")).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap().chain(lifecycle) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let body = std::fs::read_to_string(path).unwrap();
            let review: Review = serde_json::from_str(&body).unwrap();
            for raw in [review.request.object, review.request.old_object]
                .into_iter()
                .flatten()
            {
                let json = raw.get();
                let out = strip(json);
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&out).unwrap(),
                    reference(json)
                );
                assert!(!out.contains("managedFields") && !out.contains(LAST_APPLIED));
            }
        }
    }
}
