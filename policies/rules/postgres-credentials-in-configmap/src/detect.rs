//! Recognising postgres credentials: key names, and connection strings with an inline password.
//!
//! Nothing here returns or formats a value; callers only learn *whether* something is a secret.

/// Whether `key` names a postgres password: `PASS` together with `POSTGRES` or a token starting
/// with `PG` (tokens split on `_`, `-`, `.`), ignoring case, and not a `*_FILE` path variable.
///
/// `POSTGRES_PASSWORD`, `POSTGRESQL_PASSWORD`, `PGPASSWORD`, `PG_PASS` and
/// `POSTGRES_REPLICATION_PASSWORD` are; `UPGRADE_PASS`, `POSTGRES_USER` and
/// `POSTGRES_PASSWORD_FILE` are not.
pub(crate) fn is_credential_key(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    !key.ends_with("_FILE")
        && key.contains("PASS")
        && (key.contains("POSTGRES")
            || key
                .split(['_', '-', '.'])
                .any(|token| token.starts_with("PG")))
}

/// Whether a credential value is really there: not empty and not just a reference to another
/// variable (`$(VAR)` as Kubernetes expands it in env values, `${VAR}` as templates do).
pub(crate) fn is_literal_secret(value: &str) -> bool {
    let v = value.trim();
    !v.is_empty() && !is_variable_reference(v)
}

fn is_variable_reference(v: &str) -> bool {
    let name = v
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| v.strip_prefix("${").and_then(|r| r.strip_suffix('}')));
    name.is_some_and(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

/// Whether `value` holds a postgres connection string with an inline password: a
/// `postgres://` / `postgresql://` / `jdbc:postgresql://` URL with `user:password@` or a
/// `password=` parameter, or a libpq conninfo line (`host=db user=app password=...`).
pub(crate) fn has_inline_password(value: &str) -> bool {
    has_url_with_password(value) || value.lines().any(is_conninfo_with_password)
}

/// Characters that end a URL embedded in a larger text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

fn has_url_with_password(value: &str) -> bool {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `value` too.
    let lower = value.to_ascii_lowercase();
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        lower.match_indices(scheme).any(|(at, _)| {
            let rest = &value[at + scheme.len()..];
            let url = &rest[..rest.find(ends_url).unwrap_or(rest.len())];
            url_has_password(url)
        })
    })
}

/// `url` is what follows `scheme://`: `[user[:password]@]host[:port][,...][/db][?params]`.
fn url_has_password(url: &str) -> bool {
    let authority = &url[..url.find(['/', '?', '#']).unwrap_or(url.len())];
    let userinfo_password = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .is_some_and(|(_, password)| is_literal_secret(password));
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = &query[..query.find('#').unwrap_or(query.len())];
    let param_password = query.split(['&', ';']).any(|param| {
        param
            .split_once('=')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("password") && is_literal_secret(v))
    });
    userinfo_password || param_password
}

/// A libpq conninfo line: `key=value` pairs (spaces around `=` allowed, values optionally
/// single-quoted) with a non-empty `password` and at least one of host, hostaddr, dbname, user
/// or port.
fn is_conninfo_with_password(line: &str) -> bool {
    let pairs = conninfo_pairs(line);
    let has = |key: &str| pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case(key));
    pairs
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("password") && is_literal_secret(v))
        && ["host", "hostaddr", "dbname", "user", "port"]
            .iter()
            .any(|k| has(k))
}

/// The `key=value` pairs of a line, skipping anything else. A bare value after a spaced `=` that
/// itself looks like `key=value` (as in pgbouncer's `name = host=... dbname=...`) starts the next
/// pair instead.
fn conninfo_pairs(line: &str) -> Vec<(&str, String)> {
    let bytes = line.as_bytes();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && is_key_byte(bytes[i]) {
            i += 1;
        }
        if i == start {
            i += 1; // not a key: skip one byte (all delimiters here are ASCII)
            continue;
        }
        let key = &line[start..i];
        let eq = skip_spaces(i);
        if bytes.get(eq) != Some(&b'=') {
            continue; // a bare word
        }
        let value_start = skip_spaces(eq + 1);
        if bytes.get(value_start) == Some(&b'\'') {
            let mut value = String::new();
            let mut j = value_start + 1;
            let mut chars = line[j..].char_indices();
            while let Some((offset, c)) = chars.next() {
                j = value_start + 1 + offset + c.len_utf8();
                match c {
                    '\\' => {
                        if let Some((offset, c)) = chars.next() {
                            j = value_start + 1 + offset + c.len_utf8();
                            value.push(c);
                        }
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
            pairs.push((key, value));
            i = j;
        } else {
            let end = line[value_start..]
                .find(char::is_whitespace)
                .map_or(line.len(), |n| value_start + n);
            let value = &line[value_start..end];
            // Only a spaced `name = key=value` nests; `password=abc=` is a value with `=` in it.
            let spaced = eq > i || value_start > eq + 1;
            let nested = spaced
                && value.find('=').is_some_and(|n| {
                    n > 0 && value.as_bytes()[..n].iter().all(|&b| is_key_byte(b))
                });
            if nested {
                pairs.push((key, String::new()));
                i = value_start;
            } else {
                pairs.push((key, value.to_owned()));
                i = end;
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys() {
        for key in [
            "POSTGRES_PASSWORD",
            "POSTGRESQL_PASSWORD",
            "PGPASSWORD",
            "POSTGRES_REPLICATION_PASSWORD",
            "PG_PASS",
            "pgpassword",
            "postgres.password",
            "postgresql-admin-password",
            "DB_PG_PASSWORD",
            "PGPOOL_ADMIN_PASSWORD",
        ] {
            assert!(is_credential_key(key), "{key}");
        }
        for key in [
            "POSTGRES_USER",
            "POSTGRES_DB",
            "POSTGRES_PASSWORD_FILE",
            "PGPASSFILE_FILE",
            "UPGRADE_PASS",
            "PAGE_PASSWORD",
            "MYSQL_PASSWORD",
            "PASSWORD",
            "PGUSER",
            "DATABASE_URL",
        ] {
            assert!(!is_credential_key(key), "{key}");
        }
    }

    #[test]
    fn literal_secrets() {
        assert!(is_literal_secret("password"));
        assert!(is_literal_secret("$ecret"));
        assert!(is_literal_secret("$(not a var)"));
        assert!(!is_literal_secret(""));
        assert!(!is_literal_secret("  "));
        assert!(!is_literal_secret("$(DB_PASSWORD)"));
        assert!(!is_literal_secret("${DB_PASSWORD}"));
        assert!(is_literal_secret("$DB_PASSWORD"));
    }

    #[test]
    fn urls_with_a_password() {
        for v in [
            "postgresql://postgres:password@db-service:5432/database",
            "postgres://app:s3cr%40t@db/app?sslmode=require",
            "POSTGRESQL://app:x@db",
            "postgresql://app@db/app?password=x",
            "postgresql://db/app?sslmode=disable&PASSWORD=x",
            "jdbc:postgresql://db:5432/app?user=app&password=x",
            "jdbc:postgresql://db:5432/app?password=x&user=app",
            "jdbc:postgresql://app:x@db:5432/app",
            "postgresql://app:x@db1:5432,db2:5432/app?target_session_attrs=read-write",
            "spring.datasource.url=jdbc:postgresql://db/app?user=app&password=x\nother=1",
            "DSN=\"postgres://app:x@db/app\"",
        ] {
            assert!(has_inline_password(v), "{v}");
        }
    }

    #[test]
    fn urls_without_a_password() {
        for v in [
            "postgresql://db-service:5432/database",
            "postgresql://postgres@db-service:5432/database",
            "postgresql://postgres:@db-service:5432/database",
            "postgresql://postgres:$(DB_PASSWORD)@db-service:5432/database",
            "postgres://app:${PGPASSWORD}@db/app",
            "jdbc:postgresql://db:5432/app?user=app",
            "jdbc:postgresql://db:5432/app?password=",
            "jdbc:postgresql://db:5432/app?sslpassword=x",
            "postgresql://db/app?user=a@example.com",
            "mysql://root:secret@db/app",
            "https://user:pass@example.com/",
            "postgres",
            "",
        ] {
            assert!(!has_inline_password(v), "{v}");
        }
    }

    #[test]
    fn conninfo_with_a_password() {
        for v in [
            "host=db port=5432 dbname=app user=app password=x",
            "host=db password='x y'",
            "host=db user=app password=c2VjcmV0=",
            "host=db user=app password=a=b",
            "user=app password='it\\'s'",
            "dbname = app password = x",
            "mydb = host=db dbname=mydb password=x",
            "[databases]\nmydb = host=db dbname=mydb user=app password=x\n",
        ] {
            assert!(has_inline_password(v), "{v}");
        }
        for v in [
            "host=db port=5432 dbname=app user=app",
            "host=db password=",
            "host=db password=''",
            "host=db password=$(PGPASSWORD)",
            "password=x",
            "password=x sslmode=require",
            "host=db\npassword=x",
            "hostname=db passwords=x",
        ] {
            assert!(!has_inline_password(v), "{v}");
        }
    }

    #[test]
    fn conninfo_pairs_are_split_like_libpq() {
        let pairs = conninfo_pairs("host = db  password='a \\'b' x port=1 é=2 'q=1' ");
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("host", "db"),
                ("password", "a 'b"),
                ("port", "1"),
                ("q", "1'")
            ]
        );
    }
}
