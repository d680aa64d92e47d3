//! The compact JSON that rules receive.
//!
//! A mapping entry whose value is null (`tier: null`, `tier: ~`, `POSTGRES_PASSWORD:` with
//! nothing after it, `!!null ""`) is left out, so a rule never meets a null where its types
//! expect a string, a list or an object. kubectl decodes such a document into typed Go structs:
//! a null struct field becomes the field's zero value (an absent optional field), and a null
//! value in a map of strings (`labels`, `data`) becomes the empty string under the same key.
//! Leaving the key out agrees with the first everywhere, and with the second for every check
//! that reads values (an empty value is not a finding). Nulls inside sequences are kept, so
//! that item positions, and the paths findings name, stay those of the file.

use std::fmt::Write as _;

use super::node::{Node, NodeKind, Resolved, Scalar};

/// Writes `s` as a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes a node as compact JSON: mapping entries with a null value are left out (see the
/// module documentation); a null sequence item, or a non-finite float in one, is `null`.
pub fn write_json(out: &mut String, node: &Node) {
    match &node.kind {
        NodeKind::Scalar(s) => write_scalar(out, s),
        NodeKind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        NodeKind::Map(entries) => {
            out.push('{');
            let mut first = true;
            for entry in entries.iter().filter(|e| !e.value.is_null()) {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                write_json_str(out, &entry.key_str());
                out.push(':');
                write_json(out, &entry.value);
            }
            out.push('}');
        }
    }
}

fn write_scalar(out: &mut String, s: &Scalar) {
    match &s.resolved {
        Resolved::Null => out.push_str("null"),
        Resolved::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Resolved::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Resolved::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Resolved::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Resolved::Float(_) => out.push_str("null"),
        Resolved::Str => write_json_str(out, &s.value),
    }
}
