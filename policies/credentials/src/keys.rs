//! What a key (a ConfigMap key, an env var name, a setting) names, word by word.

/// The words of a key, lowercase: split at every character that is not a letter or a digit and
/// at camelCase humps (`postgresPassword` is `postgres password`, `APIKey` is `api key`).
/// `PGPASSWORD` stays one word.
pub(crate) fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let hump = c.is_uppercase()
            && (prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(char::is_lowercase)));
        if hump && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Words that name postgres in a key besides those of its images and hosts
/// ([`crate::postgres::names_postgres`]): libpq's `PG*` environment variables and Crunchy's `pgo`.
const POSTGRES_KEY_WORDS: &[&str] = &[
    "pgo",
    "pghost",
    "pghostaddr",
    "pgport",
    "pgdatabase",
    "pguser",
    "pgpassword",
    "pgpasswd",
    "pgpass",
    "pgpassfile",
    "pgservice",
    "pgservicefile",
    "pgsslmode",
    "pgappname",
    "pgoptions",
    "pgdata",
];

/// Words that make a key about another system, even next to a postgres word: pgAdmin's and
/// pgweb's own web logins, other databases and services.
const OTHER_SYSTEMS: &[&str] = &[
    "pgadmin",
    "pgadmin4",
    "pgweb",
    "pghero",
    "mysql",
    "mariadb",
    "mssql",
    "sqlserver",
    "oracle",
    "redis",
    "valkey",
    "memcached",
    "mongo",
    "mongodb",
    "cassandra",
    "elastic",
    "elasticsearch",
    "opensearch",
    "rabbitmq",
    "amqp",
    "kafka",
    "minio",
    "s3",
    "ldap",
    "smtp",
    "mail",
    "email",
    "grafana",
];

/// Words that make a password some other secret of a postgres setup: the key store of a TLS
/// client, Patroni's REST API login, a PGP key.
const OTHER_SECRETS: &[&str] = &[
    "ssl",
    "tls",
    "cert",
    "keystore",
    "truststore",
    "jks",
    "restapi",
    "pgp",
    "gpg",
    "jwt",
    "oauth",
];

/// Words that make the key name a file or a directory rather than its contents:
/// `POSTGRES_PASSWORD_FILE`, `PGPASSFILE`, and Patroni's `PATRONI_POSTGRESQL_PGPASS` (the path
/// of the pgpass file it writes).
const FILE_WORDS: &[&str] = &[
    "file",
    "files",
    "filename",
    "path",
    "dir",
    "directory",
    "passfile",
    "pgpass",
    "pgpassfile",
];

fn is_postgres_word(w: &str) -> bool {
    crate::postgres::names_postgres(w) || POSTGRES_KEY_WORDS.contains(&w)
}

/// `password`, `passwd`, `pwd`, or a word ending in `password`/`passwd` (`PGPASSWORD`).
fn is_password_word(w: &str) -> bool {
    w == "pwd" || w.ends_with("password") || w.ends_with("passwd")
}

/// Words that make `pass` next to them a password (`DB_PASS`); alone, `pass` may be a verdict
/// (`UPGRADE_PASS`).
const DATABASE_WORDS: &[&str] = &["db", "database", "datasource", "jdbc"];

/// What a key names, for the postgres credential rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// A postgres password on its own: `POSTGRES_PASSWORD`, `POSTGRESQL_PASSWORD`, `PGPASSWORD`,
    /// `PG_PASS`, `PATRONI_SUPERUSER_PASSWORD`, `PGPOOL_ADMIN_PASSWORD`, `postgresPassword`.
    PostgresPassword,
    /// A password without saying of what: `DB_PASSWORD`, `DB_PASS`, `SPRING_DATASOURCE_PASSWORD`,
    /// `spring.datasource.password`. A postgres password when something else in the same object
    /// points at postgres.
    Password,
    /// Another postgres setting: `POSTGRES_USER`, `PGHOST`, `PGPASSFILE`. A sign that the object
    /// configures postgres.
    PostgresSetting,
    /// Anything else, including `pass` as a verdict (`UPGRADE_PASS`), passwords of other systems (`MYSQL_PASSWORD`,
    /// `PGADMIN_DEFAULT_PASSWORD`, `PATRONI_RESTAPI_PASSWORD`), paths of password files
    /// (`POSTGRES_PASSWORD_FILE`, `PATRONI_POSTGRESQL_PGPASS`) and the shell's `PWD`.
    Other,
}

/// What `key` names (ignoring case, by whole words).
pub fn classify_key(key: &str) -> KeyClass {
    let words = words(key);
    let has = |set: &[&str]| words.iter().any(|w| set.contains(&w.as_str()));
    if has(OTHER_SYSTEMS) || words == ["pwd"] {
        return KeyClass::Other;
    }
    let postgres = words.iter().any(|w| is_postgres_word(w));
    let pass = has(&["pass"]) && (postgres || has(DATABASE_WORDS));
    let password = !has(FILE_WORDS)
        && !has(OTHER_SECRETS)
        && (pass || words.iter().any(|w| is_password_word(w)));
    match (postgres, password) {
        (true, true) => KeyClass::PostgresPassword,
        (false, true) => KeyClass::Password,
        (true, false) => KeyClass::PostgresSetting,
        (false, false) => KeyClass::Other,
    }
}

/// Words that make any key secret-like.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "privatekey",
];

/// Endings that make a run-together word secret-like (`PGPASSWORD`, `accesstoken`,
/// `clientsecret`); `tokenizer` and `bypass` do not end in one.
const SECRET_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "credentials",
];

/// Words that make a following `key` a secret one: `api_key`, `private-key`, `signingKey`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "private",
    "secret",
    "signing",
    "encryption",
    "master",
];

/// Whether a key looks like it holds a secret: a whole word of it (ignoring case; words split
/// at punctuation and camelCase humps) is `password`, `passwd`, `pass`, `pwd`, `passphrase`,
/// `secret`, `token`, `apikey`, `credential(s)` or `privatekey`, or ends in one of these
/// (`PGPASSWORD`, `accessToken`), or the key says `api key`, `private key`, `secret key`,
/// `signing key`, `encryption key` or `master key`.
///
/// Not secret-like: `tokenizer`, `bypass`, `max_tokens`, `keyspace`, and `PWD` alone (the shell's
/// working directory).
pub fn is_secret_like_key(key: &str) -> bool {
    let words = words(key);
    words != ["pwd"]
        && words.iter().enumerate().any(|(i, w)| {
            SECRET_WORDS.contains(&w.as_str())
                || SECRET_ENDINGS
                    .iter()
                    .any(|e| w.len() > e.len() && w.ends_with(e))
                || (w == "key" && i > 0 && KEY_QUALIFIERS.contains(&words[i - 1].as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_punctuation_and_humps() {
        assert_eq!(words("POSTGRES_PASSWORD"), ["postgres", "password"]);
        assert_eq!(words("postgresPassword"), ["postgres", "password"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(
            words("spring.datasource.password"),
            ["spring", "datasource", "password"]
        );
        assert_eq!(
            words("ConnectionStrings__Default"),
            ["connection", "strings", "default"]
        );
        assert_eq!(words("S3Secret"), ["s3", "secret"]);
        assert_eq!(words("PGPASSWORD"), ["pgpassword"]);
        assert_eq!(words("--"), Vec::<String>::new());
    }

    #[test]
    fn postgres_passwords() {
        for key in [
            "POSTGRES_PASSWORD",
            "POSTGRESQL_PASSWORD",
            "PGPASSWORD",
            "POSTGRES_REPLICATION_PASSWORD",
            "PG_PASS",
            "pgpassword",
            "postgres.password",
            "postgresql-admin-password",
            "postgresPassword",
            "DB_PG_PASSWORD",
            "PGPOOL_ADMIN_PASSWORD",
            "PATRONI_SUPERUSER_PASSWORD",
            "PATRONI_REPLICATION_PASSWORD",
            "PGBOUNCER_AUTH_PASSWORD",
        ] {
            assert_eq!(classify_key(key), KeyClass::PostgresPassword, "{key}");
        }
    }

    #[test]
    fn generic_passwords() {
        for key in [
            "DB_PASSWORD",
            "DATABASE_PASSWORD",
            "SPRING_DATASOURCE_PASSWORD",
            "spring.datasource.password",
            "KC_DB_PASSWORD",
            "PASSWORD",
            "DB_PASS",
            "DB_PWD",
            "dbPassword",
            "PAGE_PASSWORD",
        ] {
            assert_eq!(classify_key(key), KeyClass::Password, "{key}");
        }
    }

    #[test]
    fn postgres_settings() {
        for key in [
            "POSTGRES_USER",
            "POSTGRES_DB",
            "PGHOST",
            "PGDATA",
            "PGPASSFILE",
            "POSTGRES_PASSWORD_FILE",
            "PATRONI_POSTGRESQL_PGPASS",
            "PATRONI_POSTGRESQL_DATA_DIR",
            "POSTGRES_SSL_PASSWORD",
            "PATRONI_RESTAPI_PASSWORD",
        ] {
            assert_eq!(classify_key(key), KeyClass::PostgresSetting, "{key}");
        }
    }

    #[test]
    fn other_keys() {
        for key in [
            "PGADMIN_DEFAULT_PASSWORD",
            "PGADMIN_DEFAULT_EMAIL",
            "MYSQL_PASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "REDIS_PASSWORD",
            "SPRING_REDIS_PASSWORD",
            "SPRING_DATA_REDIS_PASSWORD",
            "DB_PASSWORD_FILE",
            "PGP_PASSPHRASE",
            "UPGRADE_PASS",
            "BYPASS",
            "PWD",
            "DATABASE_URL",
            "DB_HOST",
            "SPRING_DATASOURCE_SSL_KEYSTORE_PASSWORD",
        ] {
            assert_eq!(classify_key(key), KeyClass::Other, "{key}");
        }
    }

    #[test]
    fn secret_like_keys() {
        for key in [
            "password",
            "DB_PASSWORD",
            "PGPASSWORD",
            "db_pass",
            "DB_PWD",
            "Pwd_Hash",
            "client_secret",
            "GITHUB_TOKEN",
            "accessToken",
            "X-API-KEY",
            "apiKey",
            "api_key",
            "apikey",
            "private-key",
            "privateKey",
            "tls.privatekey",
            "credentials.json",
            "AWS_SECRET_ACCESS_KEY",
            "ssh_passphrase",
            "signingKey",
        ] {
            assert!(is_secret_like_key(key), "{key}");
        }
        for key in [
            "tokenizer",
            "TOKENIZER_PATH",
            "bypass",
            "compass",
            "max_tokens",
            "keyspace",
            "public_key",
            "key",
            "cache_key",
            "PWD",
            "OLDPWD",
            "passage",
            "secretary",
            "POSTGRES_USER",
            "",
        ] {
            assert!(!is_secret_like_key(key), "{key}");
        }
    }
}
