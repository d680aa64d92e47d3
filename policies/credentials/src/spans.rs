//! Where the passwords in a value are, for hosts that must show the value without them.

use std::ops::Range;

use crate::{conn, is_secret_like_key};

/// Byte ranges of the passwords and other secrets inside `value`, sorted and merged, for
/// redaction: broader than the postgres rule, whatever the database or service.
///
/// - the password of a URL of any scheme (`postgres://`, `mysql://`, `redis://:pw@`, `https://`),
///   and its `password=` parameters;
/// - the password of a libpq conninfo line and of an ADO.NET string (Npgsql, SqlClient,
///   MySqlConnector: `Password=`, `Pwd=`, quoted or not);
/// - the value of every `key=value` or `key: value` whose key is secret-like (see
///   [`is_secret_like_key`], plus `pwd`): JDBC and URL parameters, properties and `.env` lines,
///   command-line options (`--password=...`), YAML and JSON embedded in the value. A quoted value
///   runs to its closing quote; after `:` a bare value runs to the end of the line; after `=` to
///   `;`, a quote, or a `&`, `,` or blank that starts another `key=`.
///
/// Empty ranges are left out. The ranges fall on character boundaries.
pub fn password_spans(value: &str) -> Vec<Range<usize>> {
    let mut spans = conn::password_ranges(value);
    secret_pairs(value, &mut spans);
    spans.retain(|r| !r.is_empty());
    spans.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for r in spans {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// The values of `key=value` and `key: value` pairs with a secret-like key.
fn secret_pairs(value: &str, out: &mut Vec<Range<usize>>) {
    let bytes = value.as_bytes();
    for (sep, s) in value.match_indices(['=', ':']) {
        let colon = s == ":";
        if colon && value[sep + 1..].starts_with("//") {
            continue; // a URL scheme
        }
        let mut end = sep;
        while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
            end -= 1; // a quoted JSON or YAML key
        }
        let mut start = end;
        while start > 0 && is_key_byte(bytes[start - 1]) {
            start -= 1;
        }
        let key = &value[start..end];
        if key.is_empty() || !(is_secret_like_key(key) || key.eq_ignore_ascii_case("pwd")) {
            continue;
        }
        if let Some(r) = pair_value(value, sep, colon) {
            out.push(r);
        }
    }
}

/// Whether `rest` starts (after blanks) with `key=`.
fn starts_pair(rest: &str) -> bool {
    let rest = rest.trim_start_matches([' ', '\t']);
    let key = rest.bytes().take_while(|&b| is_key_byte(b)).count();
    key > 0 && rest[key..].trim_start_matches([' ', '\t']).starts_with('=')
}

/// The value after the separator at `sep`, on the same line.
fn pair_value(value: &str, sep: usize, colon: bool) -> Option<Range<usize>> {
    let bytes = value.as_bytes();
    let line_end = value[sep..].find('\n').map_or(value.len(), |n| sep + n);
    let mut start = sep + 1;
    while start < line_end && matches!(bytes[start], b' ' | b'\t') {
        start += 1;
    }
    if start >= line_end {
        return None;
    }
    let quote = bytes[start];
    if matches!(quote, b'"' | b'\'') {
        let mut i = start + 1;
        while i < line_end {
            match bytes[i] {
                b'\\' => i += 2,
                b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
                b if b == quote => return Some(start + 1..i),
                _ => i += 1,
            }
        }
        return Some(start + 1..line_end);
    }
    let mut end = start;
    if colon {
        end = line_end;
        while end > start && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b',') {
            end -= 1;
        }
    } else {
        while end < line_end {
            match bytes[end] {
                b';' | b'"' | b'\'' | b'\r' => break,
                b'&' | b',' | b' ' | b'\t' if starts_pair(&value[end + 1..line_end]) => break,
                _ => end += 1,
            }
        }
        while end > start && matches!(bytes[end - 1], b' ' | b'\t') {
            end -= 1;
        }
    }
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts the spans cover.
    fn hidden(value: &str) -> Vec<&str> {
        password_spans(value)
            .into_iter()
            .map(|r| &value[r])
            .collect()
    }

    #[test]
    fn url_passwords_of_any_scheme() {
        assert_eq!(hidden("postgresql://app:s3cr3t@db:5432/app"), ["s3cr3t"]);
        assert_eq!(hidden("mysql://root:pw@db/app"), ["pw"]);
        assert_eq!(hidden("redis://:pw@cache:6379/0"), ["pw"]);
        assert_eq!(hidden("rediss://default:pw@cache"), ["pw"]);
        assert_eq!(hidden("amqp://guest:guest@rabbit//"), ["guest"]);
        assert_eq!(hidden("DSN=\"postgres://a:b%40c@db/app\""), ["b%40c"]);
        assert_eq!(
            hidden("jdbc:postgresql://db/app?user=app&password=pw&ssl=true"),
            ["pw"]
        );
        assert_eq!(hidden("jdbc:mysql://db/app?user=root&password=pw"), ["pw"]);
        assert_eq!(hidden("https://api.example.com/v1?token=abc&x=1"), ["abc"]);
        assert!(hidden("postgresql://app@db/app").is_empty());
        assert!(hidden("https://example.com/a:b@c").is_empty());
    }

    #[test]
    fn conninfo_and_ado_passwords() {
        assert_eq!(hidden("host=db user=app password='a b\\'c'"), ["a b\\'c"]);
        assert_eq!(hidden("host=db password = x port=5432"), ["x"]);
        assert_eq!(hidden("Host=db;Username=app;Password=pw;Port=5432"), ["pw"]);
        assert_eq!(hidden("Server=db;Uid=app;Pwd=p w ;"), ["p w"]);
        assert_eq!(hidden("Host=db;Password=\"a;b\"\"c\""), ["a;b\"\"c"]);
        assert_eq!(hidden("Host=db;Password='a;b'"), ["a;b"]);
        assert_eq!(
            hidden("redis:6379,password=pw,ssl=true,abortConnect=false"),
            ["pw"]
        );
    }

    #[test]
    fn secret_like_pairs() {
        assert_eq!(
            hidden("server.port=8080\nspring.datasource.password=p w\nx=1\n"),
            ["p w"]
        );
        assert_eq!(hidden("DB_PASSWORD=pw\nDB_USER=app"), ["pw"]);
        assert_eq!(hidden("mysqldump --password=pw --user=root"), ["pw"]);
        assert_eq!(
            hidden("auth:\n  password: my secret words  \n"),
            ["my secret words"]
        );
        assert_eq!(hidden(r#"{"user": "a", "apiKey": "k-1", "n": 2}"#), ["k-1"]);
        assert_eq!(hidden("token:abc"), ["abc"]);
        assert_eq!(hidden("GITHUB_TOKEN=ghp_x\r\n"), ["ghp_x"]);
        assert!(hidden("tokenizer=bert\nkeyspace: app\npassword:\n").is_empty());
        // Inside a value, `pwd=` is an ADO.NET password rather than the shell's directory.
        assert_eq!(hidden("PWD=/app"), ["/app"]);
    }

    #[test]
    fn spans_are_merged_and_on_char_boundaries() {
        let v = "postgresql://app:pässwörd@db/app?password=pässwörd";
        let spans = password_spans(v);
        assert_eq!(spans.len(), 2);
        for r in &spans {
            assert!(v.is_char_boundary(r.start) && v.is_char_boundary(r.end));
        }
        // A conninfo password is found both as conninfo and as a secret pair: one span.
        assert_eq!(password_spans("host=db password=pw").len(), 1);
        assert!(password_spans("").is_empty());
    }
}
