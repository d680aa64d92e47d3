//! Shared test helpers: rule components written in WAT against the real `ws3:policy` WIT,
//! certificates from rcgen, captured AdmissionReview fixtures and a fake object source.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use ws3_engine::{
    Budget, Config, Engine, EngineOptions, KindRef, Limits, Mode, ObjectSource, OnError, Origin,
    RuleSet, RuleSetOptions, config::RuleConfig,
};

pub use ws3_engine::testing::{Behaviour, TestFinding, TestRule};

/// An engine for tests: pooling, short deadline, no cache.
pub fn engine(deadline_ms: u64) -> Engine {
    Engine::new(&EngineOptions {
        limits: Limits {
            budget: Budget::Deadline(std::time::Duration::from_millis(deadline_ms)),
            max_memory: 64 << 20,
        },
        cache_dir: None,
        pooling: Some(8),
    })
    .expect("engine")
}

/// Test rules with a mode and failure policy each, configured as `.ws3.yaml` would; `disabled`
/// ids are turned off and `exempt` namespaces skipped by every rule.
pub fn rule_set(
    engine: &Engine,
    rules: &[(TestRule, Mode, OnError)],
    disabled: &[&str],
    exempt: &[&str],
) -> RuleSet {
    let mut config = Config {
        exempt_namespaces: exempt.iter().map(|s| (*s).to_owned()).collect(),
        disable: disabled.iter().map(|s| (*s).to_owned()).collect(),
        ..Config::default()
    };
    let loaded = rules
        .iter()
        .map(|(rule, mode, on_error)| {
            config.rules.insert(
                rule.id.to_owned(),
                RuleConfig {
                    mode: Some(*mode),
                    on_error: Some(*on_error),
                    ..RuleConfig::default()
                },
            );
            let loaded = engine
                .load(&rule.component(), Origin::Bytes(rule.id.to_owned()))
                .expect("test rule loads");
            (loaded, false)
        })
        .collect();
    RuleSet::configure(loaded, &config, &RuleSetOptions::default()).expect("test rules configure")
}

/// A compiled-module cache shared by the tests, so that the built-in rules are compiled once.
pub fn module_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ws3-webhook-module-cache")
}

/// Writes test rules as `.wasm` files into `dir`.
pub fn write_components(dir: &Path, rules: &[TestRule]) {
    for rule in rules {
        std::fs::write(dir.join(format!("{}.wasm", rule.id)), rule.component()).unwrap();
    }
}

/// The usual set: a denying and a warning rule on StatefulSets, a trapping rule on ConfigMaps,
/// a looping one on Services, and a delete guard on NetworkPolicies.
pub fn standard_rules() -> Vec<TestRule> {
    vec![
        TestRule::new(
            "test-deny",
            &[("apps", "StatefulSet")],
            Behaviour::Findings(vec![TestFinding {
                severity: 2,
                message: "statefulset keeps data on emptyDir",
                path: "spec.template.spec.volumes[0].emptyDir",
                hint: "use volumeClaimTemplates",
            }]),
        ),
        TestRule::new(
            "test-warn",
            &[("apps", "StatefulSet")],
            Behaviour::Findings(vec![TestFinding {
                severity: 1,
                message: "statefulset could be nicer",
                path: "spec.replicas",
                hint: "add replicas",
            }]),
        ),
        TestRule::new("test-trap", &[("", "ConfigMap")], Behaviour::Trap),
        TestRule::new("test-loop", &[("", "Service")], Behaviour::Loop),
        TestRule::new(
            "test-delete-guard",
            &[("networking.k8s.io", "NetworkPolicy")],
            Behaviour::DenyDelete,
        ),
    ]
}

/// Writes `pem` files the way a Kubernetes secret volume holds them: `tls.crt` and `tls.key`
/// are symlinks through `..data`, which points at a timestamped folder and is swapped atomically.
pub fn write_secret_volume(dir: &Path, generation: u32, files: &[(&str, &str)]) {
    let data = dir.join(format!("..gen_{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    for (name, content) in files {
        std::fs::write(data.join(name), content).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..gen_{generation}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

/// A captured AdmissionReview body.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture with a `ws3.dev/ignore` annotation added to its object.
pub fn with_ignore(body: &str, rules: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    let obj = &mut v["request"]["object"]["metadata"];
    if obj.get("annotations").is_none() {
        obj["annotations"] = serde_json::json!({});
    }
    obj["annotations"]["ws3.dev/ignore"] = serde_json::Value::String(rules.to_owned());
    v.to_string()
}

/// An object source from a fixed map, recording its lookups.
#[derive(Debug, Default)]
pub struct FakeSource {
    pub objects: BTreeMap<(String, String, String), String>,
    pub lookups: Mutex<Vec<String>>,
}

impl FakeSource {
    pub fn with(mut self, kind: &str, namespace: &str, name: &str, json: &str) -> Self {
        self.objects.insert(
            (kind.to_owned(), namespace.to_owned(), name.to_owned()),
            json.to_owned(),
        );
        self
    }
}

impl ObjectSource for FakeSource {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.lookups
            .lock()
            .unwrap()
            .push(format!("get {kind} {namespace}/{name}"));
        self.objects
            .get(&(kind.to_string(), namespace.to_owned(), name.to_owned()))
            .map(|s| Arc::from(s.as_str()))
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        self.lookups
            .lock()
            .unwrap()
            .push(format!("list {kind} {namespace}"));
        self.objects
            .iter()
            .filter(|((k, ns, _), _)| *k == kind.to_string() && ns == namespace)
            .map(|(_, v)| Arc::from(v.as_str()))
            .collect()
    }
}

pub mod pki {
    //! Certificates for tests: a CA, server and client leaves.
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// A test CA.
    pub struct Ca {
        pub pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    /// A PEM certificate and key.
    pub struct Leaf {
        pub cert_pem: String,
        pub key_pem: String,
        pub der: Vec<u8>,
    }

    impl Ca {
        pub fn new(name: &str) -> Self {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            Self {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, names[0]);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            Leaf {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                der: cert.der().to_vec(),
            }
        }

        /// A server certificate for localhost and 127.0.0.1.
        pub fn server(&self) -> Leaf {
            self.leaf(
                &["localhost", "127.0.0.1"],
                ExtendedKeyUsagePurpose::ServerAuth,
            )
        }

        /// A client certificate, as the API server would present.
        pub fn client(&self) -> Leaf {
            self.leaf(&["kube-apiserver"], ExtendedKeyUsagePurpose::ClientAuth)
        }
    }
}

pub mod client {
    //! An HTTPS client over tokio-rustls and hyper's HTTP/1 connection API.
    use std::{net::SocketAddr, sync::Arc};

    use axum::body::Body;
    use hyper::{StatusCode, client::conn::http1};
    use hyper_util::rt::TokioIo;
    use rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    };
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A TLS client configuration trusting `ca_pems`, optionally presenting a client cert.
    pub fn config(ca_pems: &[&str], client: Option<(&str, &str)>) -> Arc<ClientConfig> {
        config_with(ca_pems, client, rustls::DEFAULT_VERSIONS)
    }

    /// Like [`config`], offering only these TLS versions.
    pub fn config_with(
        ca_pems: &[&str],
        client: Option<(&str, &str)>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for pem in ca_pems {
            for cert in certs(pem) {
                roots.add(cert).unwrap();
            }
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => {
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(certs(cert), key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }

    /// One keep-alive HTTPS connection.
    pub struct Conn {
        sender: http1::SendRequest<Body>,
        /// The server's leaf certificate.
        pub peer_cert: Vec<u8>,
    }

    /// Connects to `addr` as `localhost`.
    pub async fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(Arc::clone(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        let peer_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (sender, connection) = http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { sender, peer_cert })
    }

    impl Conn {
        /// Whether the connection is closed (by the server, or after an error): a new request
        /// on it would fail without reaching the server.
        pub fn is_closed(&self) -> bool {
            self.sender.is_closed()
        }

        /// POSTs a body to `path`; returns the status and the body.
        pub async fn post(
            &mut self,
            path: &str,
            body: impl Into<Body>,
        ) -> Result<(StatusCode, String), hyper::Error> {
            self.sender.ready().await?;
            let request = hyper::Request::post(path)
                .header("host", "localhost")
                .header("content-type", "application/json")
                .body(body.into())
                .unwrap();
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let bytes = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
                .await
                .unwrap_or_default();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

/// A plain HTTP GET (health port); returns status and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, axum::body::Body>(
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The `request.object` of a captured review, as JSON.
pub fn fixture_object(name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    v["request"]["object"].to_string()
}

/// A review body turned into a DELETE of its object (object becomes oldObject).
pub fn as_delete(body: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
    let req = &mut v["request"];
    req["operation"] = "DELETE".into();
    req["oldObject"] = req["object"].take();
    req["object"] = serde_json::Value::Null;
    v.to_string()
}

/// The cluster of the course's `kubernetes-ws-3` namespace once it is set up properly: the
/// default-deny NetworkPolicy, the headless Services `db-headless` and `nginx`, and the
/// StatefulSet `web` that uses `nginx`.
pub fn course_cluster() -> FakeSource {
    let ns = "kubernetes-ws-3";
    FakeSource::default()
        .with(
            "networking.k8s.io/NetworkPolicy",
            ns,
            "default-deny-ingress",
            &fixture_object("networkpolicy-create-default-deny-ingress-017"),
        )
        .with(
            "Service",
            ns,
            "db-headless",
            &fixture_object("service-create-db-headless-004"),
        )
        .with(
            "Service",
            ns,
            "nginx",
            &fixture_object("service-create-nginx-012"),
        )
        .with(
            "apps/StatefulSet",
            ns,
            "web",
            &fixture_object("statefulset-create-web-013"),
        )
        .with(
            "Namespace",
            "",
            ns,
            &fixture_object("namespace-create-kubernetes-ws-3-001"),
        )
}
