//! ws3-webhook: the ws3 rules as a Kubernetes validating admission webhook.
//!
//! - [`admission`]: AdmissionReview in, decision out; pure, driven by an [`ws3_engine::ObjectSource`].
//! - [`api`]: `POST /validate` ([`router`]), its error type and body extractor.
//! - [`tls`]: rustls config that follows its certificate files.
//! - [`conn`]: the admission port's accept loop and connection limits (cap, handshake, header
//!   and idle timeouts, body size).
//! - [`cluster`]: watch caches of the objects the cross-object rules read (RBAC listed there).
//! - [`metrics`], [`health`]: OpenMetrics text (`prometheus-client`) and `/healthz`, `/readyz`
//!   on the side port, served from a thread of its own.
//! - [`logging`]: JSON log lines on stdout, written by a `tracing-appender` thread.
//! - [`Server`]: binds, compiles the modules, serves, drains on shutdown; [`serve`] runs it
//!   from the command line flags.
//!
//! Clippy posture: the workspace lints, nothing allowed crate-wide.

pub mod admission;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod conn;
pub mod health;
pub mod logging;
pub mod metrics;
mod server;
pub mod tls;

use std::time::Duration;

pub use api::{AppState, router};
pub use conn::{ConnectionLimits, serve_connections};
pub use health::{HealthServer, health_router};
pub use server::{ClusterContext, Error, ServeOptions, Server, default_slots};
use tracing::info;
use ws3_engine::{Budget, Config, Limits};

use crate::{cli::ServeArgs, tls::TlsFiles};

/// The server options the command line asks for (reads the configuration file).
pub fn serve_options(args: &ServeArgs) -> Result<ServeOptions, Error> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let cache_dir = match &args.cache_dir {
        Some(dir) if dir.as_os_str() == "none" => None,
        Some(dir) => Some(dir.clone()),
        None => ws3_engine::default_cache_dir(),
    };
    Ok(ServeOptions {
        tls: TlsFiles {
            cert: args.cert.clone(),
            key: args.key.clone(),
            client_ca: args.client_ca.clone(),
        },
        addr: args.addr,
        health_addr: args.health_addr,
        config,
        builtin_rules: true,
        request_timeout: args.request_timeout,
        limits: Limits {
            budget: Budget::Deadline(args.rule_timeout),
            max_memory: args.rule_memory_mib << 20,
        },
        slots: args.max_concurrency.unwrap_or_else(default_slots).max(1),
        cert_reload_interval: args.cert_reload_interval,
        cache_dir,
        cache_settle: args.cache_settle,
        extra_exempt: args
            .pod_namespace
            .iter()
            .filter(|ns| !ns.is_empty())
            .cloned()
            .collect(),
        connections: args.connection_limits(),
    })
}

/// `ws3-webhook registration`: the registration the rules in force ask for, as pretty JSON.
///
/// # Errors
/// The configuration or a module cannot be loaded.
pub fn registration(args: &cli::RegistrationArgs) -> Result<String, Error> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let engine = ws3_engine::Engine::new(&ws3_engine::EngineOptions {
        cache_dir: ws3_engine::default_cache_dir(),
        ..ws3_engine::EngineOptions::default()
    })
    .or_else(|_| ws3_engine::Engine::new(&ws3_engine::EngineOptions::default()))
    .map_err(Error::from)?;
    let rules = ws3_engine::RuleSet::load(&engine, &config, &[], &[]).map_err(Error::from)?;
    Ok(serde_json::to_string_pretty(&rules.registration()).unwrap_or_default())
}

/// Runs `ws3-webhook serve` until SIGTERM or ctrl-c; after SIGTERM, `/readyz` fails for
/// `--shutdown-delay` while reviews are still served, then the server drains.
pub async fn serve(args: ServeArgs) -> Result<(), Error> {
    let options = serve_options(&args)?;

    let client = kube_client(&args).await?;
    let server = Server::bind(options, ClusterContext::Kube(client)).await?;
    info!(addr = %server.local_addr(), health_addr = %server.health_addr(), "ws3-webhook starting");
    let metrics = server.metrics();
    let delay = args.shutdown_delay;
    server
        .run(async move {
            if shutdown_signal().await == Signal::Terminate && !delay.is_zero() {
                metrics.set_shutting_down();
                info!(
                    delay_ms = delay.as_millis() as u64,
                    "SIGTERM: not ready any more, still serving until endpoints drop the pod"
                );
                tokio::time::sleep(delay).await;
            }
        })
        .await
}

async fn kube_client(args: &ServeArgs) -> Result<kube::Client, Error> {
    let kube_err = |e: &dyn std::fmt::Display| Error::Kube(e.to_string());
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| kube_err(&e))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| kube_err(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| kube_err(&e))?,
    };
    // Watches are long requests; the list that starts each one must not hang forever.
    config.read_timeout = Some(Duration::from_secs(295));
    kube::Client::try_from(config).map_err(|e| kube_err(&e))
}

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM (Kubernetes stopping the pod).
    Terminate,
    /// Ctrl-c (SIGINT).
    Interrupt,
}

/// Resolves on SIGTERM or ctrl-c, saying which.
pub async fn shutdown_signal() -> Signal {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {
            info!("received ctrl-c");
            Signal::Interrupt
        }
        () = term => {
            info!("received SIGTERM");
            Signal::Terminate
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["ws3-webhook", "serve", "--cert", "c.pem", "--key", "k.pem"];
        argv.extend_from_slice(extra);
        let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("serve")
        };
        *args
    }

    #[test]
    fn options_follow_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".ws3.yaml");
        std::fs::write(&config, "exemptNamespaces: [ops]\n").unwrap();
        let config = config.to_str().unwrap();
        let o = serve_options(&args(&[
            "--client-ca",
            "ca.pem",
            "--config",
            config,
            "--pod-namespace",
            "ws3-system",
            "--cache-dir",
            "none",
            "--rule-timeout",
            "250ms",
            "--rule-memory-mib",
            "32",
            "--max-concurrency",
            "3",
            "--request-timeout",
            "5s",
            "--max-connections",
            "7",
            "--max-body",
            "1MiB",
        ]))
        .unwrap();
        assert_eq!(
            o.tls.client_ca.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        assert_eq!(o.config.exempt_namespaces, ["ops"]);
        assert_eq!(o.extra_exempt, ["ws3-system"]);
        assert_eq!(o.cache_dir, None);
        assert_eq!(o.limits.deadline(), Some(Duration::from_millis(250)));
        assert_eq!(o.limits.max_memory, 32 << 20);
        assert_eq!(o.slots, 3);
        assert_eq!(o.request_timeout, Duration::from_secs(5));
        assert_eq!(o.connections.max_connections, 7);
        assert_eq!(o.connections.max_body, 1 << 20);
        assert!(o.builtin_rules);
    }

    #[test]
    fn a_bad_configuration_file_is_an_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".ws3.yaml");
        std::fs::write(&config, "exemptNamespace: [ops]\n").unwrap();
        let err = serve_options(&args(&["--config", config.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exemptNamespace"), "{err}");
    }
}
