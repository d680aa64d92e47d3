//! How a plain scalar is read: YAML 1.1 as go-yaml v2 decodes it into `interface{}`, which is
//! what `sigs.k8s.io/yaml` (kubectl) does before it turns a document into JSON.
//!
//! This is the Kubernetes semantic no YAML crate has: YAML 1.2 (every Rust parser) reads
//! `yes`, `on`, `y`, `0755` and `0b101` as strings or decimals; Kubernetes reads them as the
//! boolean `true`, the octal 493 and the integer 5.

use super::node::{Resolved, ScalarStyle};

/// Resolves a scalar like go-yaml v2 decoding into `interface{}`: quoted and block scalars are
/// strings unless a core tag says otherwise; `!!str`, `!!binary` and `!!timestamp` stay strings.
pub(super) fn resolve(value: &str, style: ScalarStyle, tag: Option<&str>) -> Resolved {
    match tag {
        Some("!!str" | "!!binary" | "!!timestamp") => return Resolved::Str,
        Some("!!null" | "!!bool" | "!!int" | "!!float") => {}
        _ if style != ScalarStyle::Plain => return Resolved::Str,
        _ => {}
    }
    resolve_plain(value)
}

/// Resolves a plain scalar (YAML 1.1 as go-yaml v2 reads it).
pub fn resolve_plain(value: &str) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = value.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Resolved::Str;
    }
    let plain: String = value.chars().filter(|&c| c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return i;
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint`, plus go-yaml's `0b` forms.
fn parse_go_int(s: &str) -> Option<Resolved> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let v = -i128::from(magnitude);
        i64::try_from(v).ok().map(Resolved::Int)
    } else {
        Some(i64::try_from(magnitude).map_or(Resolved::Uint(magnitude), Resolved::Int))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

pub(super) fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_scalars_like_go_yaml_v2() {
        for (text, want) in [
            ("", Resolved::Null),
            ("~", Resolved::Null),
            ("NULL", Resolved::Null),
            ("yes", Resolved::Bool(true)),
            ("Y", Resolved::Bool(true)),
            ("On", Resolved::Bool(true)),
            ("TRUE", Resolved::Bool(true)),
            ("no", Resolved::Bool(false)),
            ("n", Resolved::Bool(false)),
            ("OFF", Resolved::Bool(false)),
            ("False", Resolved::Bool(false)),
            ("12", Resolved::Int(12)),
            ("-3", Resolved::Int(-3)),
            ("+7", Resolved::Int(7)),
            ("0x1F", Resolved::Int(31)),
            ("0o17", Resolved::Int(15)),
            ("0755", Resolved::Int(493)),
            ("0b101", Resolved::Int(5)),
            ("1_000", Resolved::Int(1000)),
            (
                "18446744073709551615",
                Resolved::Uint(18_446_744_073_709_551_615),
            ),
            ("-9223372036854775808", Resolved::Int(i64::MIN)),
            (
                "-9223372036854775809",
                Resolved::Float(-9_223_372_036_854_775_809.0),
            ),
            ("1.5", Resolved::Float(1.5)),
            ("1e3", Resolved::Float(1000.0)),
            (".5", Resolved::Float(0.5)),
            ("-.inf", Resolved::Float(f64::NEG_INFINITY)),
            ("1Gi", Resolved::Str),
            ("tRue", Resolved::Str),
            ("yEs", Resolved::Str),
            ("08x", Resolved::Str),
            ("1.2.3", Resolved::Str),
            ("2020-01-01", Resolved::Str),
            ("-", Resolved::Str),
            ("+", Resolved::Str),
            (".", Resolved::Str),
        ] {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
        // "08" is not octal, but it is a float.
        assert_eq!(resolve_plain("08"), Resolved::Float(8.0));
    }
}
