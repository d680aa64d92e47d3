//! Connection strings inside a value: URLs of any scheme, libpq conninfo lines and ADO.NET
//! strings (Npgsql, SqlClient, MySqlConnector). Positions only; no value leaves this module.

use std::ops::Range;

use crate::postgres;

/// The database a connection string is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Db {
    /// Postgres, by the URL scheme, the libpq syntax, or an Npgsql string's host, port or
    /// keywords.
    Postgres,
    /// Another database or service (`mysql://`, `redis://`, `https://`, port 3306, `Initial
    /// Catalog`...).
    Other,
    /// An ADO.NET string that does not say.
    Unnamed,
}

/// One connection string, or one password parameter of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conn {
    pub(crate) db: Db,
    /// Byte range of its password in the value (possibly empty or a reference).
    pub(crate) password: Option<Range<usize>>,
}

/// Every connection string in `value`.
pub(crate) fn connections(value: &str) -> Vec<Conn> {
    let mut out = Vec::new();
    urls(value, &mut out);
    let mut offset = 0;
    for line in value.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        if !ado(text, offset, &mut out) {
            conninfo(&conninfo_pairs(text), offset, &mut out);
        }
        offset += line.len();
    }
    out
}

/// The range of every password any of the grammars sees in `value`, whichever grammar a line is
/// judged to be: for redaction, a line holding both an ADO.NET string and a conninfo shows neither
/// password.
pub(crate) fn password_ranges(value: &str) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = connections(value)
        .into_iter()
        .filter_map(|c| c.password)
        .collect();
    let mut offset = 0;
    for line in value.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        let pairs = conninfo_pairs(text);
        let anchored = pairs.iter().any(|(k, _)| {
            ["host", "hostaddr", "dbname", "user", "port"]
                .iter()
                .any(|a| k.eq_ignore_ascii_case(a))
        });
        let conninfo = pairs
            .into_iter()
            .filter(|(k, _)| anchored && k.eq_ignore_ascii_case("password"))
            .map(|(_, v)| v);
        let ado = if text.contains(';') {
            ado_pairs(text)
        } else {
            Vec::new()
        };
        let ado = ado
            .into_iter()
            .filter(|p| ADO_PASSWORD_KEYS.contains(&p.key.as_str()))
            .map(|p| p.value);
        out.extend(
            conninfo
                .chain(ado)
                .map(|v| offset + v.start..offset + v.end),
        );
        offset += line.len();
    }
    out
}

/// Characters that end a URL embedded in a larger text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-' | ':')
}

/// The database of a URL scheme: `postgres`, `postgresql`, `pgsql`, also after `jdbc:` or
/// `r2dbc:` and with a `+driver` (`postgresql+asyncpg`), are postgres.
fn scheme_db(scheme: &str) -> Option<Db> {
    let last = scheme.rsplit(':').next().unwrap_or_default();
    let base = last.split('+').next().unwrap_or_default();
    if base.is_empty() {
        return None;
    }
    let postgres = ["postgres", "postgresql", "pgsql"]
        .iter()
        .any(|s| base.eq_ignore_ascii_case(s));
    Some(if postgres { Db::Postgres } else { Db::Other })
}

/// `scheme://[user[:password]@]host[:port][,...][/path][?params]`: the userinfo password and
/// `password=` query parameters (separated by `&` or `;`).
fn urls(value: &str, out: &mut Vec<Conn>) {
    for (at, _) in value.match_indices("://") {
        let start = value[..at]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_scheme_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let Some(db) = scheme_db(&value[start..at]) else {
            continue;
        };
        let rest_start = at + 3;
        let rest = &value[rest_start..];
        let url = &rest[..rest.find(ends_url).unwrap_or(rest.len())];
        let authority = &url[..url.find(['/', '?', '#']).unwrap_or(url.len())];
        let password = authority.rfind('@').and_then(|a| {
            let colon = authority[..a].find(':')?;
            Some(rest_start + colon + 1..rest_start + a)
        });
        out.push(Conn { db, password });
        let Some(q) = url.find('?') else { continue };
        let query = &url[q + 1..];
        let query = &query[..query.find('#').unwrap_or(query.len())];
        let mut pos = rest_start + q + 1;
        for param in query.split(['&', ';']) {
            if let Some((k, _)) = param.split_once('=')
                && k.eq_ignore_ascii_case("password")
            {
                let password = Some(pos + k.len() + 1..pos + param.len());
                out.push(Conn { db, password });
            }
            pos += param.len() + 1;
        }
    }
}

/// libpq's connection keywords.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "service",
];

/// A libpq conninfo line (`host=db user=app password=...`): with a `password` (each one counts)
/// and one of host, hostaddr, dbname, user or port; or, without a password, two libpq keywords one of which is
/// host, hostaddr or dbname.
fn conninfo(pairs: &[(&str, Range<usize>)], offset: usize, out: &mut Vec<Conn>) {
    let has = |keys: &[&str]| {
        pairs
            .iter()
            .any(|(k, _)| keys.iter().any(|key| k.eq_ignore_ascii_case(key)))
    };
    let libpq = pairs
        .iter()
        .filter(|(k, _)| LIBPQ_KEYWORDS.iter().any(|key| k.eq_ignore_ascii_case(key)))
        .count();
    let passwords: Vec<Range<usize>> = pairs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("password"))
        .map(|(_, v)| offset + v.start..offset + v.end)
        .collect();
    if passwords.is_empty() {
        if libpq >= 2 && has(&["host", "hostaddr", "dbname"]) {
            out.push(Conn {
                db: Db::Postgres,
                password: None,
            });
        }
    } else if has(&["host", "hostaddr", "dbname", "user", "port"]) {
        out.extend(passwords.into_iter().map(|p| Conn {
            db: Db::Postgres,
            password: Some(p),
        }));
    }
}

/// The `key=value` pairs of a line as libpq reads them (spaces around `=` allowed, values
/// optionally single-quoted with backslash escapes), skipping anything else and command-line
/// options (`--password=...`). A value range excludes the quotes. A bare value after a spaced
/// `=` that itself looks like `key=value` (pgbouncer's `name = host=... dbname=...`) starts the
/// next pair instead.
fn conninfo_pairs(line: &str) -> Vec<(&str, Range<usize>)> {
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
        let option = start > 0 && bytes[start - 1] == b'-';
        let eq = skip_spaces(i);
        if bytes.get(eq) != Some(&b'=') {
            continue; // a bare word
        }
        let value_start = skip_spaces(eq + 1);
        if bytes.get(value_start) == Some(&b'\'') {
            let mut j = value_start + 1;
            while j < bytes.len() && bytes[j] != b'\'' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(bytes.len());
            if !option {
                pairs.push((key, value_start + 1..end));
            }
            i = end + 1;
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
                if !option {
                    pairs.push((key, value_start..value_start));
                }
                i = value_start;
            } else {
                if !option {
                    pairs.push((key, value_start..end));
                }
                i = end;
            }
        }
    }
    pairs
}

/// Keys (lowercase, without spaces) that make `k=v;k=v` a connection string.
const ADO_CONNECTION_KEYS: &[&str] = &[
    "host",
    "server",
    "address",
    "addr",
    "networkaddress",
    "datasource",
    "database",
    "initialcatalog",
    "username",
    "userid",
    "uid",
    "user",
    "port",
];
const ADO_HOST_KEYS: &[&str] = &[
    "host",
    "server",
    "address",
    "addr",
    "networkaddress",
    "datasource",
];
const ADO_PASSWORD_KEYS: &[&str] = &["password", "pwd", "psw", "userpassword"];
/// Keywords only Npgsql knows.
const NPGSQL_ONLY: &[&str] = &[
    "searchpath",
    "passfile",
    "targetsessionattributes",
    "servercompatibilitymode",
    "includeerrordetail",
    "rootcertificate",
    "loadbalancehosts",
    "hostrecheckseconds",
    "sslnegotiation",
    "gssencryptionmode",
    "kerberosservicename",
    "includerealm",
    "noresetonclose",
    "multiplexing",
];
/// Keywords of SqlClient, MySqlConnector and friends that Npgsql does not know.
const OTHER_ONLY: &[&str] = &[
    "datasource",
    "initialcatalog",
    "integratedsecurity",
    "trustedconnection",
    "multipleactiveresultsets",
    "attachdbfilename",
    "applicationintent",
    "allowuservariables",
    "treattinyasboolean",
    "convertzerodatetime",
];
/// Default ports of other databases: MySQL, SQL Server, Oracle, Redis, MongoDB, Cassandra.
const OTHER_PORTS: &[&str] = &["3306", "1433", "1521", "6379", "27017", "9042"];
/// Words of host names of other databases.
const OTHER_HOSTS: &[&str] = &[
    "mysql",
    "mariadb",
    "mssql",
    "sqlserver",
    "sqlexpress",
    "oracle",
    "redis",
    "valkey",
    "mongo",
    "mongodb",
    "cassandra",
    "sqlite",
];

/// A `key=value` pair of an ADO.NET string: the key lowercase without spaces.
struct AdoPair {
    key: String,
    value: Range<usize>,
}

/// An ADO.NET-style line (`Host=db;Username=app;Password=...`): its database from the host
/// name, the port and keywords only one driver knows. Returns whether the line is one.
fn ado(line: &str, offset: usize, out: &mut Vec<Conn>) -> bool {
    if !line.contains(';') {
        return false;
    }
    let pairs = ado_pairs(line);
    let get = |keys: &[&str]| pairs.iter().find(|p| keys.contains(&p.key.as_str()));
    let any = |keys: &[&str]| pairs.iter().any(|p| keys.contains(&p.key.as_str()));
    // `host=db password=a;b` is libpq's: a bare value holding more `key=value` pairs.
    let libpq = pairs.iter().any(|p| {
        let quoted =
            p.value.start > 0 && matches!(line.as_bytes()[p.value.start - 1], b'"' | b'\'');
        !quoted
            && line[p.value.clone()].split_whitespace().skip(1).any(|w| {
                w.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            })
    });
    if pairs.len() < 2 || !any(ADO_CONNECTION_KEYS) || libpq {
        return false;
    }
    let host = get(ADO_HOST_KEYS).map_or("", |p| &line[p.value.clone()]);
    let port = get(&["port"]).map_or("", |p| line[p.value.clone()].trim());
    let postgres = postgres::host_mentions_postgres(host) || port == "5432" || any(NPGSQL_ONLY);
    let other_host = host
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| OTHER_HOSTS.contains(&w));
    // SQL Server writes the port after a comma: `tcp:db,1433`.
    let sql_server_port = host
        .rsplit_once(',')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let other = other_host || sql_server_port || OTHER_PORTS.contains(&port) || any(OTHER_ONLY);
    let db = if postgres {
        Db::Postgres
    } else if other {
        Db::Other
    } else {
        Db::Unnamed
    };
    let password = get(ADO_PASSWORD_KEYS).map(|p| offset + p.value.start..offset + p.value.end);
    if password.is_some() || db == Db::Postgres {
        out.push(Conn { db, password });
    }
    true
}

/// The `key=value` segments of a line split at `;`. A key is the run of letters, digits, spaces
/// and `_` before its `=` (so `"Default": "Host=db` has the key `host`); a value is quoted with
/// `"` or `'` (a doubled quote inside is one quote) or runs up to `;` or a quote.
fn ado_pairs(line: &str) -> Vec<AdoPair> {
    let bytes = line.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let Some(eq) = line[i..].find(['=', ';']).map(|n| i + n) else {
            break;
        };
        if bytes[eq] == b';' {
            i = eq + 1;
            continue;
        }
        let mut key_start = eq;
        while key_start > i
            && (bytes[key_start - 1].is_ascii_alphanumeric()
                || matches!(bytes[key_start - 1], b' ' | b'_'))
        {
            key_start -= 1;
        }
        let key: String = line[key_start..eq]
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let mut start = eq + 1;
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        let (value, next) = match bytes.get(start) {
            Some(&q @ (b'"' | b'\'')) => {
                let mut j = start + 1;
                loop {
                    match bytes.get(j) {
                        None => break,
                        Some(&b) if b == q && bytes.get(j + 1) == Some(&q) => j += 2,
                        Some(&b) if b == q => break,
                        Some(_) => j += 1,
                    }
                }
                let end = j.min(bytes.len());
                let next = line[end..].find(';').map_or(bytes.len(), |n| end + n + 1);
                (start + 1..end, next)
            }
            _ => {
                let end = line[start..]
                    .find([';', '"', '\''])
                    .map_or(bytes.len(), |n| start + n);
                let trimmed = start + line[start..end].trim_end().len();
                let next = line[end..].find(';').map_or(bytes.len(), |n| end + n + 1);
                (start..trimmed, next)
            }
        };
        if !key.is_empty() {
            pairs.push(AdoPair { key, value });
        }
        i = next;
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conns(value: &str) -> Vec<(Db, Option<&str>)> {
        connections(value)
            .into_iter()
            .map(|c| (c.db, c.password.map(|r| &value[r])))
            .collect()
    }

    #[test]
    fn urls_of_any_scheme() {
        assert_eq!(
            conns("postgresql://app:pw@db:5432/app"),
            [(Db::Postgres, Some("pw"))]
        );
        assert_eq!(
            conns("url=jdbc:postgresql://db/app?user=a&password=pw;x=1"),
            [(Db::Postgres, None), (Db::Postgres, Some("pw"))]
        );
        assert_eq!(
            conns("postgresql+asyncpg://a:p@ss@db/app"),
            [(Db::Postgres, Some("p@ss"))]
        );
        assert_eq!(conns("redis://:pw@cache:6379/0"), [(Db::Other, Some("pw"))]);
        assert_eq!(conns("mysql://root@db/app"), [(Db::Other, None)]);
        assert_eq!(conns("é://x"), []);
        assert_eq!(conns("://x"), []);
    }

    #[test]
    fn conninfo_lines() {
        assert_eq!(
            conns("host=db user=app password='a b'"),
            [(Db::Postgres, Some("a b"))]
        );
        assert_eq!(conns("host=db dbname=app"), [(Db::Postgres, None)]);
        assert_eq!(conns("host=db"), []);
        assert_eq!(conns("mysql --host=db --user=root --password=x"), []);
        assert_eq!(
            conns("mydb = host=db dbname=mydb password=x"),
            [(Db::Postgres, Some("x"))]
        );
        // A `;` inside a libpq value, and ADO.NET pairs written with blanks after `;`.
        assert_eq!(
            conns("host=db user=app password=p;w sslmode=require"),
            [(Db::Postgres, Some("p;w"))]
        );
        assert_eq!(
            conns("Host=mysql; Port=3306; Username=app; Password=pw"),
            [(Db::Other, Some("pw"))]
        );
    }

    #[test]
    fn ado_strings() {
        assert_eq!(
            conns("Host=db;Username=app;Password=pw"),
            [(Db::Unnamed, Some("pw"))]
        );
        assert_eq!(
            conns("Host=my-postgres;Username=app;Password=\"p;w\"\"x\";Port=5433"),
            [(Db::Postgres, Some("p;w\"\"x"))]
        );
        assert_eq!(
            conns("Server=db;Port=5432;User Id=app;Password=pw;"),
            [(Db::Postgres, Some("pw"))]
        );
        assert_eq!(
            conns("Server=db;Database=app;Search Path=app;Username=app"),
            [(Db::Postgres, None)]
        );
        assert_eq!(
            conns("Server=mysql;Port=3306;Database=app;Uid=app;Pwd=pw"),
            [(Db::Other, Some("pw"))]
        );
        assert_eq!(
            conns("Server=tcp:db,1433;Initial Catalog=app;User ID=sa;Password=pw"),
            [(Db::Other, Some("pw"))]
        );
        assert_eq!(
            conns(r#"  "Default": "Host=postgres;Database=app;Username=app;Password=pw","#),
            [(Db::Postgres, Some("pw"))]
        );
        assert_eq!(conns("a=1;b=2"), []);
        assert_eq!(conns("Host=db;Username=app"), []);
    }
}
