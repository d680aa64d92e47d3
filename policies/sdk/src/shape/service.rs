//! Services: whether one is headless, and why not.

use std::fmt;

use super::{Labels, Service};

/// Why a Service is not headless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotHeadless {
    /// It has a cluster IP (`spec.clusterIP` is set and not `None`).
    ClusterIp(String),
    /// Its `spec.type` is not `ClusterIP` (e.g. `NodePort`).
    Type(String),
    /// It has no `clusterIP: None` (no spec, or no `clusterIP`, which the API server allocates).
    NoClusterIpNone,
}

impl NotHeadless {
    /// The path of the field that says so: `spec.clusterIP`, `spec.type` or `spec`.
    pub fn path(&self) -> &'static str {
        match self {
            Self::ClusterIp(_) => "spec.clusterIP",
            Self::Type(_) => "spec.type",
            Self::NoClusterIpNone => "spec",
        }
    }
}

/// As messages say it: `its clusterIP is "10.0.0.1", not None`, `its type is NodePort`, `it has
/// no clusterIP: None`.
impl fmt::Display for NotHeadless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClusterIp(ip) => write!(f, "its clusterIP is {ip:?}, not None"),
            Self::Type(kind) => write!(f, "its type is {kind}"),
            Self::NoClusterIpNone => f.write_str("it has no clusterIP: None"),
        }
    }
}

impl Service {
    /// Whether the Service is headless: `clusterIP: None` on a `ClusterIP` (or defaulted) Service.
    pub fn is_headless(&self) -> bool {
        self.not_headless().is_none()
    }

    /// Why the Service is not headless; `None` when it is.
    pub fn not_headless(&self) -> Option<NotHeadless> {
        let spec = self.spec.as_ref();
        let ip = spec.and_then(|s| s.cluster_ip.as_deref());
        let kind = spec
            .and_then(|s| s.type_.as_deref())
            .filter(|t| *t != "ClusterIP");
        match (ip, kind) {
            (Some("None"), None) => None,
            (Some(ip), _) if ip != "None" => Some(NotHeadless::ClusterIp(ip.to_owned())),
            (_, Some(kind)) => Some(NotHeadless::Type(kind.to_owned())),
            _ => Some(NotHeadless::NoClusterIpNone),
        }
    }

    /// `spec.selector` (empty when absent): a Service without one selects no pods.
    pub fn selector(&self) -> Labels {
        self.spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(spec: &str) -> Service {
        serde_json::from_str(&format!(r#"{{"metadata":{{"name":"db"}},"spec":{spec}}}"#)).unwrap()
    }

    #[test]
    fn headless_is_cluster_ip_none_on_a_cluster_ip_service() {
        assert!(service(r#"{"clusterIP":"None"}"#).is_headless());
        assert!(service(r#"{"clusterIP":"None","type":"ClusterIP"}"#).is_headless());
        let not = |spec: &str| service(spec).not_headless();
        assert_eq!(
            not(r#"{"clusterIP":"10.0.0.1"}"#),
            Some(NotHeadless::ClusterIp("10.0.0.1".into()))
        );
        assert_eq!(
            not(r#"{"clusterIP":"10.0.0.1","type":"NodePort"}"#),
            Some(NotHeadless::ClusterIp("10.0.0.1".into()))
        );
        assert_eq!(
            not(r#"{"clusterIP":"None","type":"NodePort"}"#),
            Some(NotHeadless::Type("NodePort".into()))
        );
        assert_eq!(
            not(r#"{"type":"LoadBalancer"}"#),
            Some(NotHeadless::Type("LoadBalancer".into()))
        );
        assert_eq!(not("{}"), Some(NotHeadless::NoClusterIpNone));
        assert_eq!(not("null"), Some(NotHeadless::NoClusterIpNone));
    }

    #[test]
    fn reasons_name_their_field() {
        let ip = NotHeadless::ClusterIp("10.0.0.1".into());
        assert_eq!(
            (ip.to_string().as_str(), ip.path()),
            (r#"its clusterIP is "10.0.0.1", not None"#, "spec.clusterIP")
        );
        let kind = NotHeadless::Type("NodePort".into());
        assert_eq!(
            (kind.to_string().as_str(), kind.path()),
            ("its type is NodePort", "spec.type")
        );
        let none = NotHeadless::NoClusterIpNone;
        assert_eq!(
            (none.to_string().as_str(), none.path()),
            ("it has no clusterIP: None", "spec")
        );
    }

    #[test]
    fn a_missing_selector_reads_as_empty() {
        let pods: Labels = [("app".to_owned(), "db".to_owned())].into();
        assert!(service("{}").selector().is_empty());
        assert!(service("null").selector().is_empty());
        assert_eq!(service(r#"{"selector":{"app":"db"}}"#).selector(), pods);
    }
}
