//! Recognising credentials in Kubernetes configuration: ConfigMap keys and values, env var names
//! and values, container images.
//!
//! One detector, used by the `postgres-credentials-in-configmap` rule (inside its wasm module),
//! by the engine (to keep a verdict instead of a ConfigMap value in its caches) and by
//! `ws3-lint` (to mask secrets in code frames). Every function here answers *whether* and
//! *where*, never *what*: they return classes, booleans and byte ranges, and [`summarize`]
//! returns a stand-in that holds none of the secret.
//!
//! ```
//! use ws3_credentials::{Credential, classify, postgres_credential, password_spans, summarize};
//!
//! let url = "postgresql://app:s3cr3t@db:5432/app";
//! assert!(classify(url).postgres_password);
//! assert_eq!(postgres_credential("DATABASE_URL", classify(url), false), Some(Credential::ConnectionString));
//! assert_eq!(password_spans(url).iter().map(|r| &url[r.clone()]).collect::<Vec<_>>(), ["s3cr3t"]);
//! assert!(!summarize("DATABASE_URL", url).contains("s3cr3t"));
//! assert_eq!(classify(&summarize("DATABASE_URL", url)), classify(url));
//! ```

mod conn;
mod keys;
mod postgres;
mod spans;
mod summary;
mod value;

pub use keys::{KeyClass, classify_key, is_secret_like_key};
pub use postgres::is_postgres_image;
pub use spans::password_spans;
pub use summary::summarize;
pub use value::{Presence, presence};

use conn::Db;

/// What a value holds, as far as the postgres credential rule is concerned. Two values of the
/// same class are judged alike; [`summarize`] keeps the class and drops the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Class {
    /// Whether the value is empty, only a reference to another variable, or a literal.
    pub presence: Presence,
    /// It holds a postgres connection string with a literal password: a `postgres://` or
    /// `postgresql://` URL (any `+driver`), a `jdbc:postgresql:` URL, a libpq conninfo, or an
    /// Npgsql/ADO.NET string that names postgres (its host, port 5432, an Npgsql-only keyword).
    pub postgres_password: bool,
    /// It holds an ADO.NET-style connection string (`Host=db;Username=app;Password=...`) with a
    /// literal password that names no database: postgres when something else in the same object
    /// points at postgres.
    pub unnamed_password: bool,
    /// It points at postgres: a postgres URL, conninfo or Npgsql string (with or without a
    /// password), or a host name such as `postgres`, `db-postgresql.shop.svc` or `pg-1:5432`.
    pub postgres_mention: bool,
}

/// Classifies a value. Reads the value; keeps nothing of it.
pub fn classify(value: &str) -> Class {
    let mut class = Class {
        presence: presence(value),
        ..Class::default()
    };
    for c in conn::connections(value) {
        let literal = c
            .password
            .is_some_and(|r| presence(&value[r]) == Presence::Literal);
        match c.db {
            Db::Postgres => {
                class.postgres_mention = true;
                class.postgres_password |= literal;
            }
            Db::Unnamed => class.unnamed_password |= literal,
            Db::Other => {}
        }
    }
    class.postgres_mention |= postgres::mentions_postgres(value);
    class
}

/// A postgres credential, by how the detector recognised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A literal value under a name that says postgres password (`POSTGRES_PASSWORD`).
    PostgresPassword,
    /// A literal value under a generic password name (`DB_PASSWORD`,
    /// `SPRING_DATASOURCE_PASSWORD`) in an object that points at postgres.
    Password,
    /// A postgres connection string with a literal password.
    ConnectionString,
    /// A connection string naming no database, with a literal password, in an object that points
    /// at postgres.
    UnnamedConnectionString,
}

/// Whether `key: value` (value given as its [`Class`]) holds a postgres credential.
/// `points_at_postgres` says whether something else in the same object does (see
/// [`is_postgres_signal`], [`is_postgres_image`]); generic names count only then.
pub fn postgres_credential(
    key: &str,
    class: Class,
    points_at_postgres: bool,
) -> Option<Credential> {
    let literal = class.presence == Presence::Literal;
    match classify_key(key) {
        KeyClass::PostgresPassword if literal => return Some(Credential::PostgresPassword),
        KeyClass::Password if literal && points_at_postgres => return Some(Credential::Password),
        _ => {}
    }
    if class.postgres_password {
        Some(Credential::ConnectionString)
    } else if class.unnamed_password && points_at_postgres {
        Some(Credential::UnnamedConnectionString)
    } else {
        None
    }
}

/// Whether a key names a postgres password, or (given `points_at_postgres`) any database
/// password; for references such as `configMapKeyRef`, whose value is elsewhere.
pub fn is_postgres_password_name(key: &str, points_at_postgres: bool) -> bool {
    credential_by_name(key, points_at_postgres).is_some()
}

/// The credential a key's name alone says it holds: [`Credential::PostgresPassword`] for a
/// postgres password name, [`Credential::Password`] for any database password name given
/// `points_at_postgres`. For values that are not read (a ConfigMap's `binaryData`).
pub fn credential_by_name(key: &str, points_at_postgres: bool) -> Option<Credential> {
    match classify_key(key) {
        KeyClass::PostgresPassword => Some(Credential::PostgresPassword),
        KeyClass::Password if points_at_postgres => Some(Credential::Password),
        _ => None,
    }
}

/// Whether `key: value` points at postgres: a key naming a postgres setting (`POSTGRES_USER`,
/// `PGHOST`), or a value that mentions postgres (see [`Class::postgres_mention`]). The second
/// signal that makes `DB_PASSWORD` next to it a postgres password.
pub fn is_postgres_signal(key: &str, class: Class) -> bool {
    matches!(
        classify_key(key),
        KeyClass::PostgresPassword | KeyClass::PostgresSetting
    ) || class.postgres_mention
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg_password(value: &str) -> bool {
        classify(value).postgres_password
    }

    #[test]
    fn postgres_urls_with_a_password() {
        for v in [
            "postgresql://postgres:password@db-service:5432/database",
            "postgres://app:s3cr%40t@db/app?sslmode=require",
            "POSTGRESQL://app:x@db",
            "postgresql+psycopg2://app:x@db/app",
            "postgresql://app@db/app?password=x",
            "postgresql://db/app?sslmode=disable&PASSWORD=x",
            "jdbc:postgresql://db:5432/app?user=app&password=x",
            "jdbc:postgresql://db:5432/app?password=x&user=app",
            "jdbc:postgresql://app:x@db:5432/app",
            "r2dbc:postgresql://app:x@db/app",
            "postgresql://app:x@db1:5432,db2:5432/app?target_session_attrs=read-write",
            "spring.datasource.url=jdbc:postgresql://db/app?user=app&password=x\nother=1",
            "DSN=\"postgres://app:x@db/app\"",
        ] {
            assert!(pg_password(v), "{v}");
            assert!(classify(v).postgres_mention, "{v}");
        }
    }

    #[test]
    fn urls_without_a_postgres_password() {
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
            "jdbc:mysql://db/app?user=root&password=secret",
            "redis://:secret@cache:6379",
            "https://user:pass@example.com/",
            "postgres",
            "",
        ] {
            assert!(!pg_password(v), "{v}");
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
            assert!(pg_password(v), "{v}");
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
            "mysql --host=db --user=root --password=x",
        ] {
            assert!(!pg_password(v), "{v}");
        }
    }

    #[test]
    fn npgsql_strings() {
        // Postgres by the host name, the port or an Npgsql-only keyword.
        for v in [
            "Host=postgres;Database=app;Username=app;Password=x",
            "Host=db;Port=5432;Database=app;Username=app;Password=x",
            "Server=db.shop.svc;Search Path=app;User Id=app;Password=x",
            "Host=my-postgresql.db.svc:5432;Username=app;Password='x;y'",
        ] {
            let c = classify(v);
            assert!(c.postgres_password && !c.unnamed_password, "{v}");
        }
        // Naming no database: a postgres password only with a second signal.
        let c = classify("Host=db;Username=app;Password=x");
        assert!(c.unnamed_password && !c.postgres_password && !c.postgres_mention);
        assert_eq!(
            postgres_credential("ConnectionStrings__Default", c, false),
            None
        );
        assert_eq!(
            postgres_credential("ConnectionStrings__Default", c, true),
            Some(Credential::UnnamedConnectionString)
        );
        // Near misses: MySQL, SQL Server, a password file, empty, a reference.
        for v in [
            "Server=mysql;Port=3306;Database=app;Uid=app;Pwd=x",
            "Server=db;Port=3306;Database=app;Uid=app;Pwd=x",
            "Server=tcp:db,1433;Initial Catalog=app;User ID=sa;Password=x",
            "Data Source=db;Initial Catalog=app;User Id=sa;Password=x",
            "Host=postgres;Username=app;Passfile=/run/secrets/pgpass",
            "Host=postgres;Username=app;Password=",
            "Host=postgres;Username=app;Password=$(DB_PASSWORD)",
            "Host=db;Username=app;Password=",
            "redis:6379,password=x,ssl=true",
        ] {
            let c = classify(v);
            assert!(!c.postgres_password && !c.unnamed_password, "{v}");
        }
        assert!(
            classify("Host=postgres;Username=app;Passfile=/run/secrets/pgpass").postgres_mention
        );
    }

    #[test]
    fn mentions_of_postgres() {
        for v in [
            "postgres",
            "db-postgresql.shop.svc.cluster.local",
            "pg-1:5432",
            "jdbc:postgresql://db:5432/app",
            "postgresql://db/app",
            "host=db dbname=app",
        ] {
            assert!(classify(v).postgres_mention, "{v}");
        }
        for v in [
            "db",
            "mysql",
            "jdbc:mysql://db:3306/app",
            "redis://cache:6379",
            "/tmp/pgpass",
            "",
            "$(PGHOST)",
        ] {
            assert!(!classify(v).postgres_mention, "{v}");
        }
    }

    #[test]
    fn credentials_by_key_and_context() {
        let lit = classify("hunter2");
        assert_eq!(
            postgres_credential("POSTGRES_PASSWORD", lit, false),
            Some(Credential::PostgresPassword)
        );
        assert_eq!(postgres_credential("DB_PASSWORD", lit, false), None);
        assert_eq!(
            postgres_credential("DB_PASSWORD", lit, true),
            Some(Credential::Password)
        );
        assert_eq!(
            postgres_credential("SPRING_DATASOURCE_PASSWORD", lit, true),
            Some(Credential::Password)
        );
        // Not postgres credentials, whatever the context.
        for key in [
            "PATRONI_POSTGRESQL_PGPASS",
            "PGADMIN_DEFAULT_PASSWORD",
            "MYSQL_PASSWORD",
            "SPRING_REDIS_PASSWORD",
            "DB_PASSWORD_FILE",
            "POSTGRES_PASSWORD_FILE",
            "POSTGRES_USER",
        ] {
            assert_eq!(postgres_credential(key, lit, true), None, "{key}");
        }
        for value in ["", "  ", "$(DB_PASSWORD)", "${DB_PASSWORD}"] {
            let c = classify(value);
            assert_eq!(postgres_credential("POSTGRES_PASSWORD", c, true), None);
            assert_eq!(postgres_credential("DB_PASSWORD", c, true), None);
        }
        // A connection string is one whatever its key.
        let url = classify("postgresql://app:x@db/app");
        assert_eq!(
            postgres_credential("PGPASSWORD", url, false),
            Some(Credential::PostgresPassword)
        );
        assert_eq!(
            postgres_credential("DATABASE_URL", url, false),
            Some(Credential::ConnectionString)
        );
        assert!(is_postgres_password_name("PGPASSWORD", false));
        assert!(!is_postgres_password_name("DB_PASS", false));
        assert!(is_postgres_password_name("DB_PASS", true));
        assert!(!is_postgres_password_name("PGADMIN_DEFAULT_PASSWORD", true));
        assert_eq!(
            credential_by_name("PGPASSWORD", false),
            Some(Credential::PostgresPassword)
        );
        assert_eq!(credential_by_name("DB_PASS", false), None);
        assert_eq!(
            credential_by_name("DB_PASS", true),
            Some(Credential::Password)
        );
        assert_eq!(credential_by_name("PGHOST", true), None);
    }

    #[test]
    fn signals() {
        assert!(is_postgres_signal("POSTGRES_USER", classify("app")));
        assert!(is_postgres_signal("PGHOST", classify("db")));
        assert!(is_postgres_signal("DB_HOST", classify("postgres")));
        assert!(is_postgres_signal(
            "SPRING_DATASOURCE_URL",
            classify("jdbc:postgresql://db/app")
        ));
        assert!(!is_postgres_signal("DB_HOST", classify("db")));
        assert!(!is_postgres_signal(
            "PGADMIN_DEFAULT_EMAIL",
            classify("a@b.c")
        ));
        assert!(!is_postgres_signal(
            "SPRING_DATASOURCE_URL",
            classify("jdbc:mysql://db/app")
        ));
    }
}
