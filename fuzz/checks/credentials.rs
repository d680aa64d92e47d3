//! The properties the `credentials` fuzz target checks, shared with the stable-toolchain replay
//! of the corpus (`policies/credentials/tests/fuzz_corpus.rs`). Panics when one does not hold.
//!
//! Input: `key \0 value` (no `\0`: the whole input is the value, under the key `CONFIG`).

use ws3_credentials::{
    Credential, Presence, classify, classify_key, is_postgres_password_name, is_postgres_signal,
    is_secret_like_key, password_spans, postgres_credential, presence, summarize,
};

/// The stand-ins [`summarize`] may return instead of a value (its documentation lists them).
const STAND_INS: &[&str] = &[
    "",
    "$(REDACTED)",
    "redacted",
    "postgresql://redacted:redacted@redacted/redacted",
    "postgresql://redacted/redacted",
    "Host=redacted;Username=redacted;Password=redacted",
    "postgresql://redacted:redacted@redacted/redacted\nHost=redacted;Username=redacted;Password=redacted",
    "postgresql://redacted/redacted\nHost=redacted;Username=redacted;Password=redacted",
];

/// Checks one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (key, value) = text.split_once('\0').unwrap_or(("CONFIG", text));
    check_value(value);
    check_key_and_value(key, value);
}

fn check_value(value: &str) {
    // password_spans: non-empty ranges inside the value, on character boundaries, sorted and
    // merged (each starts after the previous one ends).
    let spans = password_spans(value);
    let mut prev_end = None;
    for r in &spans {
        assert!(r.start < r.end, "empty or reversed span {r:?}");
        assert!(
            r.end <= value.len(),
            "span {r:?} past the end ({})",
            value.len()
        );
        assert!(
            value.is_char_boundary(r.start) && value.is_char_boundary(r.end),
            "span {r:?} not on a character boundary"
        );
        if let Some(end) = prev_end {
            assert!(r.start > end, "spans not sorted and merged: {spans:?}");
        }
        prev_end = Some(r.end);
    }

    // classify: consistent with presence; a password the rule sees is one redaction hides
    // (password_spans is documented as broader than the postgres rule).
    let class = classify(value);
    assert_eq!(class.presence, presence(value));
    if class.postgres_password || class.unnamed_password {
        assert_eq!(class.presence, Presence::Literal, "{class:?}");
        assert!(
            !spans.is_empty(),
            "the rule sees a password ({class:?}) that redaction does not hide"
        );
    }
    if class.postgres_password {
        assert!(class.postgres_mention, "{class:?}");
    }
}

fn check_key_and_value(key: &str, value: &str) {
    let class = classify(value);
    // summarize: a stand-in classify reads exactly as the value, holding none of a secret.
    let summary = summarize(key, value);
    assert_eq!(
        classify(&summary),
        class,
        "the stand-in is not read as the value"
    );
    if summary != value {
        assert!(STAND_INS.contains(&summary.as_str()), "unknown stand-in");
    } else if !STAND_INS.contains(&value) {
        assert!(value.len() <= 64, "a long value kept");
        assert!(!is_secret_like_key(key), "a secret-like key's value kept");
        assert!(
            password_spans(value).is_empty(),
            "a value with a password kept"
        );
    }
    // The key functions answer for any key; the verdict on the stand-in is the verdict on the
    // value.
    let _ = classify_key(key);
    for points in [false, true] {
        let verdict = postgres_credential(key, class, points);
        assert_eq!(
            postgres_credential(key, classify(&summary), points),
            verdict
        );
        if verdict.is_some() {
            assert_eq!(class.presence, Presence::Literal);
        }
        if verdict == Some(Credential::Password) {
            assert!(points);
        }
        let _ = is_postgres_password_name(key, points);
    }
    let _ = is_postgres_signal(key, class);
}
