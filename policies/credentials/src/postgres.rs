//! Signs of postgres outside credentials: images and host names.

/// Words of image and host names that mean postgres or one of its tools, besides every word
/// starting with `postgres`.
const POSTGRES_NAMES: &[&str] = &[
    "pg",
    "pgsql",
    "psql",
    "postgis",
    "pgvector",
    "timescaledb",
    "patroni",
    "spilo",
    "pgbouncer",
    "pgpool",
    "pgpool2",
    "pgbackrest",
    "pgcat",
];

/// Whether a word of a name (image, host or key) names postgres or one of its tools.
pub(crate) fn names_postgres(word: &str) -> bool {
    word.starts_with("postgres") || POSTGRES_NAMES.contains(&word)
}

/// Whether a container image runs postgres or a postgres tool: the last part of its repository
/// has a word starting with `postgres` or one of `pg`, `pgsql`, `psql`, `postgis`, `pgvector`,
/// `timescaledb`, `patroni`, `spilo`, `pgbouncer`, `pgpool`, `pgbackrest`, `pgcat` (`postgres:16`,
/// `bitnami/postgresql-repmgr`, `ghcr.io/cloudnative-pg/postgresql`, `timescale/timescaledb-ha`,
/// `edoburu/pgbouncer`). `dpage/pgadmin4` and `mysql` do not.
pub fn is_postgres_image(image: &str) -> bool {
    let image = image.split('@').next().unwrap_or_default();
    let name = image.rsplit('/').next().unwrap_or_default();
    let name = name.split(':').next().unwrap_or_default();
    name.to_ascii_lowercase()
        .split(['-', '_', '.'])
        .any(names_postgres)
}

/// Whether a value is a host name (optionally with `:port`, a comma-separated list of them
/// allowed) that names postgres (`postgres`, `db-postgresql.shop.svc`, `pg-1`) or uses port 5432.
pub(crate) fn host_mentions_postgres(value: &str) -> bool {
    let value = value.trim();
    let value = value.strip_prefix("tcp:").unwrap_or(value);
    value.split(',').any(|host| {
        let (name, port) = match host.trim().rsplit_once(':') {
            Some((n, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (n, p),
            _ => (host.trim(), ""),
        };
        let is_host = name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        is_host
            && (port == "5432"
                || name
                    .to_ascii_lowercase()
                    .split(['.', '-', '_'])
                    .any(names_postgres))
    })
}

/// Whether a value points at postgres by itself: a `jdbc:postgresql:` (or `jdbc:pgsql:`,
/// `r2dbc:postgresql:`) URL in any form, or a postgres host name. URLs, conninfo and Npgsql
/// strings are recognised by [`crate::conn`].
pub(crate) fn mentions_postgres(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["jdbc:postgresql:", "jdbc:pgsql:", "r2dbc:postgresql:"]
        .iter()
        .any(|p| lower.contains(p))
        || host_mentions_postgres(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_images() {
        for image in [
            "postgres",
            "postgres:16",
            "docker.io/library/postgres:13.3@sha256:abc",
            "bitnami/postgresql:16",
            "bitnami/postgresql-repmgr",
            "ghcr.io/cloudnative-pg/postgresql:16.2",
            "registry.example.com:5000/db/postgres",
            "crunchydata/crunchy-postgres:ubi8-15",
            "timescale/timescaledb-ha:pg16",
            "postgis/postgis:16-3.4",
            "pgvector/pgvector:pg16",
            "ghcr.io/zalando/spilo-15:3.0-p1",
            "edoburu/pgbouncer",
            "quay.io/prometheuscommunity/postgres-exporter",
        ] {
            assert!(is_postgres_image(image), "{image}");
        }
        for image in [
            "dpage/pgadmin4:8",
            "mysql:8.4",
            "redis:7",
            "registry.postgres.example.com/app:1",
            "example/app:pg16",
            "",
        ] {
            assert!(!is_postgres_image(image), "{image}");
        }
    }

    #[test]
    fn postgres_hosts() {
        for v in [
            "postgres",
            "db-postgresql.shop.svc.cluster.local",
            "pg-primary:5432",
            "db:5432",
            "pg-1,pg-2",
            "tcp:postgres",
            " postgres ",
        ] {
            assert!(host_mentions_postgres(v), "{v}");
        }
        for v in [
            "db",
            "mysql:3306",
            "5432",
            "page",
            "postgres user",
            "http://postgres",
            "-postgres",
            "",
        ] {
            assert!(!host_mentions_postgres(v), "{v}");
        }
        assert!(mentions_postgres("jdbc:postgresql:app"));
        assert!(mentions_postgres("x=JDBC:PGSQL://db/app"));
        assert!(!mentions_postgres("jdbc:mysql://db/app"));
    }
}
