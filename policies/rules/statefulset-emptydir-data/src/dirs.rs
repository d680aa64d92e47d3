//! Which mount paths hold data and which are scratch space, compared by path components.

/// Data directories of well-known stateful images (postgres, mysql/mariadb, mongo, redis,
/// elasticsearch/opensearch, cassandra, etcd, zookeeper, kafka, rabbitmq, prometheus).
/// `/bitnami/<app>` is handled separately: everything under `/bitnami` is data.
const DATA_DIRS: &[&str] = &[
    "/var/lib/postgresql/data",
    "/var/lib/postgresql",
    "/var/lib/mysql",
    "/data/db",
    "/data/configdb",
    "/data",
    "/usr/share/elasticsearch/data",
    "/usr/share/opensearch/data",
    "/var/lib/cassandra",
    "/var/lib/etcd",
    "/etcd-data",
    "/var/lib/zookeeper",
    "/datalog",
    "/var/lib/kafka/data",
    "/var/lib/rabbitmq",
    "/prometheus",
];

/// Directories whose contents are disposable; a mount at or below one of them is scratch space.
const SCRATCH_DIRS: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/run",
    "/var/run",
    "/dev/shm",
    "/var/cache",
];

/// Directory names that mark scratch space wherever they appear (`/app/tmp`, `/home/x/.cache`).
const SCRATCH_NAMES: &[&str] = &["tmp", "cache", ".cache"];

/// Volume names that say "this is data".
const DATA_VOLUME_NAMES: &[&str] = &["data", "pgdata", "db", "datadir", "storage"];

/// The components of an absolute or relative path, without empty and `.` components.
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Whether one path is equal to, a parent of, or inside the other. The root never relates.
fn related(a: &[&str], b: &[&str]) -> bool {
    let n = a.len().min(b.len());
    n > 0 && a[..n] == b[..n]
}

/// Whether `mount_path` is, contains or lies inside a known data directory, or `pgdata` (the
/// container's literal `PGDATA`, if any).
pub(crate) fn is_data_dir(mount_path: &str, pgdata: Option<&str>) -> bool {
    let mount = components(mount_path);
    if mount.first() == Some(&"bitnami") {
        return true;
    }
    DATA_DIRS
        .iter()
        .copied()
        .chain(pgdata)
        .any(|dir| related(&mount, &components(dir)))
}

/// Whether `mount_path` is scratch space: at or below a scratch directory, or below a directory
/// named like one (`tmp`, `cache`).
pub(crate) fn is_scratch(mount_path: &str) -> bool {
    let mount = components(mount_path);
    SCRATCH_DIRS
        .iter()
        .any(|dir| mount.starts_with(&components(dir)))
        || mount
            .iter()
            .any(|c| SCRATCH_NAMES.contains(&c.to_ascii_lowercase().as_str()))
}

/// Whether `mount_path` is configuration: at or below `/etc` (rendered by an init container or
/// a config reloader, rebuilt on every start).
pub(crate) fn is_config(mount_path: &str) -> bool {
    components(mount_path).first() == Some(&"etc")
}

/// Whether a volume is named like a data volume (`data`, `pgdata`, `db`, `datadir`, `storage`,
/// `*-data`), ignoring case.
pub(crate) fn is_data_volume_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    DATA_VOLUME_NAMES.contains(&name.as_str()) || name.ends_with("-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dirs_match_by_components() {
        // equal, parent and child of a known directory
        assert!(is_data_dir("/var/lib/postgresql/data", None));
        assert!(is_data_dir("/var/lib/postgresql/data/", None));
        assert!(is_data_dir("/var/lib/postgresql", None));
        assert!(is_data_dir("/var/lib/postgresql/18/docker", None));
        assert!(is_data_dir("/var/lib", None));
        assert!(is_data_dir("/var/lib/mysql", None));
        assert!(is_data_dir("/data/db", None));
        assert!(is_data_dir("/data", None));
        assert!(is_data_dir("/data/redis", None));
        assert!(is_data_dir("/usr/share/elasticsearch/data", None));
        assert!(is_data_dir("/usr/share/opensearch/data/nodes", None));
        assert!(is_data_dir("/var/lib/kafka/data", None));
        assert!(is_data_dir("/etcd-data", None));
        assert!(is_data_dir("/datalog", None));
        assert!(is_data_dir("/bitnami/postgresql", None));
        assert!(is_data_dir("/bitnami", None));
        assert!(is_data_dir("/prometheus", None));
        assert!(is_data_dir("/prometheus/wal", None));
        // prefixes of a component are not parents
        assert!(!is_data_dir("/var/lib/postgres", None));
        assert!(!is_data_dir("/database", None));
        assert!(!is_data_dir("/data2", None));
        assert!(!is_data_dir("/var/lib/mysql-files", None));
        assert!(!is_data_dir("/usr/share/nginx/html", None));
        assert!(!is_data_dir("/srv/bitnami", None));
        assert!(!is_data_dir("/etc/prometheus", None));
        // the root is never a data directory
        assert!(!is_data_dir("/", None));
        assert!(!is_data_dir("", None));
    }

    #[test]
    fn pgdata_adds_a_data_dir() {
        assert!(!is_data_dir("/pgdata", None));
        assert!(is_data_dir("/pgdata", Some("/pgdata/pg13")));
        assert!(is_data_dir("/pgdata/pg13", Some("/pgdata/pg13")));
        assert!(!is_data_dir("/pgwal", Some("/pgdata/pg13")));
        assert!(!is_data_dir("/srv", Some("/")));
    }

    #[test]
    fn scratch_paths() {
        for p in [
            "/tmp",
            "/tmp/x",
            "/var/tmp",
            "/run",
            "/run/postgresql",
            "/var/run/postgresql",
        ] {
            assert!(is_scratch(p), "{p}");
        }
        for p in [
            "/dev/shm",
            "/var/cache/nginx",
            "/app/tmp",
            "/home/app/.cache",
            "/srv/cache",
        ] {
            assert!(is_scratch(p), "{p}");
        }
        for p in [
            "/srv/app",
            "/var/lib/app",
            "/usr/share/nginx/html",
            "/tmpfiles",
            "/",
            "/var",
        ] {
            assert!(!is_scratch(p), "{p}");
        }
    }

    #[test]
    fn config_paths() {
        for p in ["/etc", "/etc/prometheus/config_out", "etc/nginx/conf.d"] {
            assert!(is_config(p), "{p}");
        }
        for p in ["/var/etc", "/etcd-data", "/", "/srv/app"] {
            assert!(!is_config(p), "{p}");
        }
    }

    #[test]
    fn data_volume_names() {
        for n in [
            "data",
            "Data",
            "pgdata",
            "db",
            "datadir",
            "storage",
            "postgres-data",
            "MY-DATA",
        ] {
            assert!(is_data_volume_name(n), "{n}");
        }
        for n in [
            "www",
            "database",
            "data2",
            "metadata",
            "data-cache",
            "dbs",
            "config",
        ] {
            assert!(!is_data_volume_name(n), "{n}");
        }
    }
}
