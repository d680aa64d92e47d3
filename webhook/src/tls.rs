//! TLS for the admission endpoint: rustls with ring, TLS 1.2 and 1.3, HTTP/1.1, and an optional
//! client CA that makes the server require the API server's client certificate.
//!
//! The certificate, key and client CA files are re-read every few seconds; when their content
//! changes (cert-manager rotating them, or Kubernetes swapping the `..data` symlink of a secret
//! volume), a new `ServerConfig` is built and swapped in atomically. New handshakes use it;
//! established connections keep theirs. A half-written rotation (a key that does not match the
//! certificate yet) is logged and retried on the next check; the old config stays in force.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{
        CertificateDer, PrivateKeyDer,
        pem::{self, PemObject},
    },
    server::WebPkiClientVerifier,
};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// A TLS setup that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("cannot read {path} as PEM ({what}): {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
        /// What is wrong (never the file's content).
        message: String,
    },
    /// A file holds no PEM item of the expected type.
    #[error("{path} holds no PEM {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// rustls refuses the certificate, key or CA.
    #[error("invalid TLS material ({what}): {source}")]
    Rustls {
        /// Which part.
        what: &'static str,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The client CA cannot be used to verify clients.
    #[error("cannot verify clients with {path}: {message}")]
    ClientCa {
        /// The CA file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The files TLS is configured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA bundle clients must be signed by.
    pub client_ca: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A PEM error as it may be shown: for a key file, without the decoder's details (they quote
/// bytes of the file).
fn pem_error(path: &Path, what: &'static str, error: &pem::Error) -> TlsError {
    let message = match error {
        pem::Error::Base64Decode(_) if what == "private key" => "base64 decode error".to_owned(),
        other => other.to_string(),
    };
    TlsError::Pem {
        path: path.to_owned(),
        what,
        message,
    }
}

fn certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", &e))?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::Missing {
            path: path.to_owned(),
            what: "private key",
        },
        other => pem_error(path, "private key", &other),
    })
}

/// The current contents of the files, read together.
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Material {
    fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            client_ca: files.client_ca.as_deref().map(read).transpose()?,
        })
    }

    /// A fingerprint to notice changes without keeping a copy of the key around.
    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (&self.cert, &self.key, &self.client_ca).hash(&mut h);
        h.finish()
    }

    fn server_config(&self, files: &TlsFiles) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|source| TlsError::Rustls {
                what: "protocol versions",
                source,
            })?;
        let builder = match (&self.client_ca, &files.client_ca) {
            (Some(pem), Some(path)) => {
                let mut roots = RootCertStore::empty();
                for cert in certs(path, pem)? {
                    roots.add(cert).map_err(|source| TlsError::Rustls {
                        what: "client CA",
                        source,
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| TlsError::ClientCa {
                            path: path.clone(),
                            message: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs(&files.cert, &self.cert)?, key(&files.key, &self.key)?)
            .map_err(|source| TlsError::Rustls {
                what: "certificate and key",
                source,
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A server TLS config that follows its files.
#[derive(Debug)]
pub struct ReloadingTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    fingerprint: Mutex<u64>,
}

impl ReloadingTls {
    /// Loads the files; fails when they do not make a usable config.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let material = Material::read(&files)?;
        let config = material.server_config(&files)?;
        Ok(Self {
            current: RwLock::new(Arc::new(config)),
            fingerprint: Mutex::new(material.fingerprint()),
            files,
        })
    }

    /// The files.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The config new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// An acceptor with the current config.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// Re-reads the files; swaps in a new config when they changed and make a valid one.
    /// Returns whether the config was replaced.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let material = Material::read(&self.files)?;
        let fingerprint = material.fingerprint();
        let mut last = self
            .fingerprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == fingerprint {
            return Ok(false);
        }
        let config = material.server_config(&self.files)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
        *last = fingerprint;
        Ok(true)
    }

    /// Checks the files every `interval` until `shutdown` resolves.
    pub async fn watch(self: Arc<Self>, interval: Duration, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let mut failing = false;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            let this = Arc::clone(&self);
            let result = tokio::task::spawn_blocking(move || this.reload()).await;
            match result {
                Ok(Ok(true)) => {
                    failing = false;
                    info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
                }
                Ok(Ok(false)) => failing = false,
                Ok(Err(error)) => {
                    // Rotations are not atomic across files: say it once, keep the old config.
                    if !failing {
                        warn!(%error, "cannot reload the TLS certificate yet; keeping the current one");
                    }
                    failing = true;
                }
                Err(error) => warn!(%error, "the TLS reload task failed"),
            }
        }
    }
}
