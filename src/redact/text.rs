//! The secret pieces of any text, whatever its format: passwords of URLs and connection
//! strings, and values after a secret-looking key (`password: x`, `DB_PASS=x`). The redactor
//! reads a file's parsed nodes; this reads what the parser cannot see into (scalar values,
//! comments, embedded `application.properties`).

use std::ops::Range;

/// The secret pieces of a text: passwords of URLs and connection strings, and values after a
/// secret-looking key (`password: x`, `"apiKey": "x"`).
pub fn text_secrets(text: &str) -> Vec<Range<usize>> {
    let mut out = password_spans(text);
    out.extend(assignment_spans(text));
    out
}

/// Seam for `ws3-credentials`: the byte ranges of the passwords in a value — the password of a
/// URL's user info (`postgresql://user:PASS@host`, `jdbc:mysql://user:PASS@host`), and the
/// value of a secret-looking `key=value` pair of a URL query
/// (`jdbc:postgresql://h/db?user=u&password=PASS`), a libpq conninfo (`host=h password=PASS`,
/// `password='a b'`) or an ADO.NET/Npgsql connection string (`Password=PASS;`).
pub(crate) fn password_spans(value: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    url_passwords(value, &mut out);
    let bytes = value.as_bytes();
    for (eq, _) in value.match_indices('=') {
        let Some((key, before)) = key_before(value, eq) else {
            continue;
        };
        if !is_secret_key(key) {
            continue;
        }
        let query = before > 0 && matches!(bytes[before - 1], b'?' | b'&');
        let start = skip_blanks(value, eq + 1);
        let end = value_end(value, start, |b| {
            b.is_ascii_whitespace()
                || matches!(b, b';' | b'"' | b'\'')
                || (query && matches!(b, b'&' | b'#'))
        });
        if start < end {
            out.push(start..end);
        }
    }
    out
}

/// Values after a secret-looking key and a colon: `password: x`, `"apiKey": "x"`. An unquoted
/// value runs to the end of the line (or a ` #` comment; for a quoted key, a `,` or `}`).
fn assignment_spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for (colon, _) in text.match_indices(':') {
        // `://` is a URL, `::` is not an assignment.
        if matches!(bytes.get(colon + 1), Some(b'/' | b':')) {
            continue;
        }
        let Some((key, before)) = key_before(text, colon) else {
            continue;
        };
        if !is_secret_key(key) {
            continue;
        }
        let quoted_key = before > 0 && matches!(bytes[before - 1], b'"' | b'\'');
        let start = skip_blanks(text, colon + 1);
        if !tells_something(&text[start..]) {
            continue;
        }
        let end = value_end(text, start, |b| {
            matches!(b, b'\n' | b'\r') || (quoted_key && matches!(b, b',' | b'}' | b']'))
        });
        // A plain value ends before a ` #` comment.
        let end = text[start..end]
            .find(" #")
            .map_or(end, |i| start + i)
            .max(start);
        let trimmed = text[start..end].trim_end().len();
        if trimmed > 0 {
            out.push(start..start + trimmed);
        }
    }
    out
}

/// Whether the text after `key:` can be a secret value: not a nested collection (`{`, `[`),
/// a block scalar indicator, a boolean or null.
fn tells_something(rest: &str) -> bool {
    let word = rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']')
        .next()
        .unwrap_or_default();
    if rest.starts_with(['{', '[']) {
        return false;
    }
    let indicator = word.starts_with(['|', '>'])
        && word[1..]
            .chars()
            .all(|c| matches!(c, '+' | '-' | '1'..='9'));
    !(indicator
        || matches!(
            word.to_ascii_lowercase().as_str(),
            "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        ))
}

/// The key right before a `=` or `:` at `at` (blanks and one closing quote allowed between):
/// the key and where it starts.
fn key_before(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let mut end = at;
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > 0
        && (bytes[start - 1].is_ascii_alphanumeric() || b"_-.".contains(&bytes[start - 1]))
    {
        start -= 1;
    }
    (start < end).then(|| (&text[start..end], start))
}

fn skip_blanks(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    from + (rest.len() - rest.trim_start_matches([' ', '\t']).len())
}

/// Where a value starting at `start` ends: after its closing quote (a backslash escapes; at
/// the end of the line for a quote left open), else at the first byte `stops` says ends it.
fn value_end(text: &str, start: usize, stops: impl Fn(u8) -> bool) -> usize {
    let bytes = text.as_bytes();
    match bytes.get(start) {
        Some(&q @ (b'"' | b'\'')) => {
            let mut i = start + 1;
            while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') && bytes[i] != q {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            // The whole quoted value, quotes included: an unterminated one runs to the end
            // of its line (a multi-line quoted scalar is masked whole from the parsed tree).
            let i = i.min(bytes.len());
            if bytes.get(i) == Some(&q) { i + 1 } else { i }
        }
        _ => bytes[start..]
            .iter()
            .position(|&b| stops(b))
            .map_or(bytes.len(), |i| start + i),
    }
}

/// The password of every `scheme://user:password@host` in `text`.
fn url_passwords(text: &str, out: &mut Vec<Range<usize>>) {
    for (sep, _) in text.match_indices("://") {
        let start = sep + 3;
        let authority_end = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\''
            })
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..authority_end];
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        if let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            out.push(start + colon + 1..start + at);
        }
    }
}

/// Seam for `ws3-credentials`: whether a key names a secret value. Keys are split into words
/// (`camelCase`, `snake_case`, `kebab-case`, dots); the last word (after dropping words such
/// as `value` or a number) decides: `password`, `passwd`, `pwd`, `pass`, `passphrase`,
/// `secret`, `token`, `credential(s)`, `apikey`, `privatekey`, `authorization`, a word ending
/// in `password`, `secret` or `token` (`PGPASSWORD`, `clientsecret`), or `key` after `api`,
/// `access`, `private`, `secret`, `signing`, `encryption` or `master`. So `secretKeyRef`,
/// `secretName`, `passwordFile`, `tokenizer`, `max_tokens` and `imagePullSecrets` are not.
pub fn is_secret_key(key: &str) -> bool {
    if !has_secret_stem(key) {
        return false;
    }
    const TRANSPARENT: &[&str] = &[
        "value",
        "val",
        "data",
        "b",
        "base",
        "hash",
        "plain",
        "plaintext",
        "raw",
        "enc",
        "encoded",
        "str",
        "string",
    ];
    let words = words(key);
    let mut end = words.len();
    while end > 1
        && (TRANSPARENT.contains(&words[end - 1].as_str())
            || words[end - 1].bytes().all(|b| b.is_ascii_digit()))
    {
        end -= 1;
    }
    let Some(last) = end.checked_sub(1).map(|i| words[i].as_str()) else {
        return false;
    };
    let before = end.checked_sub(2).map(|i| words[i].as_str());
    matches!(
        last,
        "password"
            | "passwd"
            | "pwd"
            | "pass"
            | "passphrase"
            | "secret"
            | "token"
            | "credential"
            | "credentials"
            | "apikey"
            | "privatekey"
            | "authorization"
    ) || [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
    ]
    .iter()
    .any(|w| last.len() > w.len() && last.ends_with(w))
        || (last == "key"
            && matches!(
                before,
                Some("api" | "access" | "private" | "secret" | "signing" | "encryption" | "master")
            ))
}

/// Whether `key` holds one of the stems a secret-looking key has (ASCII, any case): most keys
/// hold none, and are answered without being split into words.
fn has_secret_stem(key: &str) -> bool {
    let bytes = key.as_bytes();
    let at = |i: usize, stem: &[u8]| {
        bytes
            .get(i..i + stem.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(stem))
    };
    // One comparison or two by first letter, not every stem at every letter: this runs for
    // every key and name of every object (it was 2.4% of a lint run's CPU).
    (0..bytes.len()).any(|i| match bytes[i].to_ascii_lowercase() {
        b'p' => at(i, b"pass") || at(i, b"pwd"),
        b's' => at(i, b"secret"),
        b't' => at(i, b"token"),
        b'c' => at(i, b"credential"),
        b'k' => at(i, b"key"),
        b'a' => at(i, b"authorization"),
        _ => false,
    })
}

/// `STRIPE_API_TOKEN` → `stripe api token`, `apiKey` → `api key`, `APIKey` → `api key`.
fn words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = prev.is_some_and(|p| {
            (c.is_uppercase()
                && (p.is_lowercase()
                    || p.is_numeric()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))))
                || (c.is_numeric() != p.is_numeric())
        });
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}
