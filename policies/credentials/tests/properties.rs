//! Properties over many values: every string of the rule fixtures, and generated connection
//! strings.
//!
//! - `classify(summarize(key, v)) == classify(v)`, so a host may keep the stand-in;
//! - a stand-in of a value with a password never holds the password;
//! - every password put into a generated value lies inside one of `password_spans`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failing test with its message"
)]

use std::ops::Range;
use std::path::Path;

use serde_json::Value;
use ws3_credentials::{Presence, classify, password_spans, presence, summarize};

/// Keys to summarise every value under: plain, a connection-string name, a secret-like one.
const KEYS: &[&str] = &["LOG_LEVEL", "DATABASE_URL", "DB_PASSWORD"];

fn check_summary(key: &str, value: &str) {
    let summary = summarize(key, value);
    assert_eq!(
        classify(&summary),
        classify(value),
        "key {key:?}: the stand-in {summary:?} is classified unlike the value"
    );
}

/// Every `(key, string)` of a JSON tree: mapping entries, and `{name, value}` env entries.
fn strings(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(n)), Some(Value::String(s))) =
                (map.get("name"), map.get("value"))
            {
                out.push((n.clone(), s.clone()));
            }
            for (k, v) in map {
                if let Value::String(s) = v {
                    out.push((k.clone(), s.clone()));
                }
                strings(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        _ => {}
    }
}

#[test]
fn fixture_values_keep_their_class() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut all = Vec::new();
    for rule in std::fs::read_dir(&rules).unwrap() {
        let Ok(files) = std::fs::read_dir(rule.unwrap().path().join("fixtures")) else {
            continue;
        };
        for file in files {
            let path = file.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.iter().for_each(|d| strings(d, &mut all));
        }
    }
    assert!(
        all.len() > 500,
        "only {} strings in the fixtures",
        all.len()
    );
    let mut with_passwords = 0;
    for (key, value) in &all {
        check_summary(key, value);
        for key in KEYS {
            check_summary(key, value);
        }
        let c = classify(value);
        if c.postgres_password || c.unnamed_password {
            with_passwords += 1;
            assert!(!password_spans(value).is_empty(), "{key}: no span");
        }
    }
    assert!(with_passwords >= 5, "{with_passwords} connection strings");
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// A value being built, with the ranges of the literal passwords put into it.
#[derive(Default)]
struct Built {
    text: String,
    passwords: Vec<Range<usize>>,
}

impl Built {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn password(&mut self, pw: &str) {
        let start = self.text.len();
        self.text.push_str(pw);
        if presence(pw) == Presence::Literal {
            self.passwords.push(start..self.text.len());
        }
    }
}

const PASSWORDS: &[&str] = &[
    "pw",
    "s3cr3t-XYZ",
    "$(DB_PASSWORD)",
    "${DB_PASSWORD}",
    "",
    "p@ss",
    "pässwörd",
    "a%2Fb",
    "x=y",
    "c2VjcmV0==",
];
/// Passwords that need quoting in conninfo and ADO.NET strings.
const AWKWARD: &[&str] = &["p w", "p;w", "it's", "say \"hi\"", "a,b"];
const HOSTS: &[&str] = &[
    "db",
    "postgres",
    "pg-1:5432",
    "mysql:3306",
    "db.shop.svc",
    "my-postgresql.db.svc.cluster.local",
    "redacted",
    "cache",
];
const SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "jdbc:postgresql",
    "postgresql+asyncpg",
    "mysql",
    "jdbc:mysql",
    "redis",
    "https",
];
const USERS: &[&str] = &["app", "postgres", "", "reader"];

fn url(rng: &mut Rng, b: &mut Built) {
    b.push(rng.pick(SCHEMES));
    b.push("://");
    let user = rng.pick(USERS);
    if !rng.next().is_multiple_of(4) {
        b.push(user);
        b.push(":");
        b.password(rng.pick(PASSWORDS));
        b.push("@");
    }
    b.push(rng.pick(HOSTS));
    b.push(rng.pick(&["/app", "", "/"]));
    match rng.next() % 4 {
        0 => {
            b.push("?user=app&password=");
            b.password(rng.pick(PASSWORDS));
        }
        1 => b.push("?sslmode=require"),
        _ => {}
    }
}

fn conninfo(rng: &mut Rng, b: &mut Built) {
    b.push("host=");
    b.push(rng.pick(HOSTS));
    b.push(rng.pick(&[" dbname=app", " port=5432", ""]));
    b.push(" user=app password=");
    let pw = if rng.next().is_multiple_of(2) {
        rng.pick(PASSWORDS)
    } else {
        rng.pick(AWKWARD)
    };
    if pw.is_empty() || pw.contains([' ', '\'', '"', ',']) {
        b.push("'");
        b.password(&pw.replace('\'', "\\'"));
        b.push("'");
    } else {
        b.password(pw);
    }
    b.push(rng.pick(&["", " sslmode=require"]));
}

fn ado(rng: &mut Rng, b: &mut Built) {
    b.push(rng.pick(&["Host=", "Server="]));
    b.push(rng.pick(HOSTS));
    b.push(rng.pick(&[";Username=app", ";User Id=app", ";Uid=app"]));
    b.push(rng.pick(&[";Password=", ";Pwd="]));
    let pw = if rng.next().is_multiple_of(2) {
        rng.pick(PASSWORDS)
    } else {
        rng.pick(AWKWARD)
    };
    if pw.contains([';', '"', '\'']) {
        b.push("\"");
        b.password(&pw.replace('"', "\"\""));
        b.push("\"");
    } else {
        b.password(pw);
    }
    b.push(rng.pick(&[
        "",
        ";Port=5432",
        ";Port=3306",
        ";Search Path=app",
        ";Initial Catalog=app",
        ";",
    ]));
}

fn plain(rng: &mut Rng, b: &mut Built) {
    match rng.next() % 3 {
        0 => b.push(rng.pick(HOSTS)),
        1 => b.push(rng.pick(PASSWORDS)),
        _ => {
            b.push(rng.pick(&["spring.datasource.password=", "DB_PASSWORD=", "password: "]));
            b.password(rng.pick(&["pw", "s3cr3t-XYZ", "pässwörd"]));
        }
    }
}

fn generate(rng: &mut Rng) -> Built {
    let mut b = Built::default();
    let parts = 1 + rng.next() % 3;
    for i in 0..parts {
        if i > 0 {
            b.push(rng.pick(&["\n", " ", "\n\n"]));
        }
        b.push(rng.pick(&["", "DSN=\"", "url: ", "  ", "DATABASE_URL="]));
        match rng.next() % 4 {
            0 => url(rng, &mut b),
            1 => conninfo(rng, &mut b),
            2 => ado(rng, &mut b),
            _ => plain(rng, &mut b),
        }
        b.push(rng.pick(&["", "\"", " ", "\r"]));
    }
    b
}

#[test]
fn generated_values_keep_their_class_and_hide_their_passwords() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut hidden = 0;
    for _ in 0..20_000 {
        let b = generate(&mut rng);
        let value = &b.text;
        for key in KEYS {
            check_summary(key, value);
        }
        let spans = password_spans(value);
        for pw in &b.passwords {
            assert!(
                spans.iter().any(|s| s.start <= pw.start && pw.end <= s.end),
                "password at {pw:?} of {value:?} is outside the spans {spans:?}"
            );
            hidden += 1;
        }
        let c = classify(value);
        if c.postgres_password || c.unnamed_password {
            let summary = summarize("DATABASE_URL", value);
            for pw in &b.passwords {
                let secret = &value[pw.clone()];
                if secret.len() >= 4 {
                    assert!(!summary.contains(secret), "{value:?} -> {summary:?}");
                }
            }
        }
    }
    assert!(hidden > 10_000, "only {hidden} passwords generated");
}
