//! The process: binds the HTTPS admission port and the plain-HTTP health port, starts the watch
//! caches, compiles the rule modules, serves, and drains on shutdown.
//!
//! Start-up order: the health port answers at once (`/readyz` says what it waits for); the watch
//! caches start; the modules compile on a blocking thread; then admission connections are
//! served (the listening socket is bound from the start, so early connections wait in the
//! backlog instead of being refused). Ready = modules compiled and every cache synced.
//!
//! Shutdown: `/readyz` fails, the admission listener closes, every connection finishes the
//! review it is answering and is closed (bounded by the review deadline plus a margin), then
//! the health port closes.
//!
//! The health port is served from a thread of its own ([`HealthServer`]), so that evaluations
//! holding every runtime worker cannot delay the probes; the admission connections are served
//! by [`serve_connections`] within [`ConnectionLimits`].

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{net::TcpListener, sync::watch};
use tracing::{debug, info, warn};
use ws3_engine::{
    Config, Engine, EngineError, EngineOptions, Limits, NoObjects, ObjectSource, RuleSet,
    RuleSetError, RuleSetOptions,
};

use crate::{
    admission::Evaluator,
    api::{AppState, router},
    cluster::ClusterWatches,
    conn::{ConnectionLimits, serve_connections},
    health::HealthServer,
    metrics::{Metrics, RESOURCES},
    tls::{ReloadingTls, TlsError, TlsFiles},
};

/// Everything `serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Certificate, key and optional client CA.
    pub tls: TlsFiles,
    /// HTTPS admission address.
    pub addr: SocketAddr,
    /// Plain-HTTP health and metrics address.
    pub health_addr: SocketAddr,
    /// The ws3 configuration (modes, onError, settings, exempt namespaces, extra modules).
    pub config: Config,
    /// Whether the built-in rules run (tests and benchmarks may run only their own modules).
    pub builtin_rules: bool,
    /// Deadline of one review, end to end.
    pub request_timeout: Duration,
    /// Limits of one module evaluation.
    pub limits: Limits,
    /// Concurrent evaluations, and wasm instance pool slots.
    pub slots: u32,
    /// How often the TLS files are checked for changes.
    pub cert_reload_interval: Duration,
    /// Compiled-module cache directory; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Namespaces exempt on top of the configured ones (the webhook's own).
    pub extra_exempt: Vec<String>,
    /// With live watch caches: wait this long, then judge again a denial by a rule that reads
    /// other objects (an object created just before may not be cached yet). Zero disables it.
    pub cache_settle: Duration,
    /// Connection cap, handshake, header and idle timeouts, body size of the admission port.
    pub connections: ConnectionLimits,
}

impl ServeOptions {
    /// Options with the defaults of the command line.
    pub fn new(tls: TlsFiles, addr: SocketAddr, health_addr: SocketAddr) -> Self {
        Self {
            tls,
            addr,
            health_addr,
            config: Config::default(),
            builtin_rules: true,
            request_timeout: Duration::from_secs(8),
            limits: Limits::default(),
            slots: default_slots(),
            cert_reload_interval: Duration::from_secs(2),
            cache_dir: ws3_engine::default_cache_dir(),
            extra_exempt: Vec::new(),
            cache_settle: Duration::from_secs(1),
            connections: ConnectionLimits::default(),
        }
    }
}

/// Twice the CPUs, at least 4.
pub fn default_slots() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cpus * 2).unwrap_or(u32::MAX).max(4)
}

/// Where other objects come from.
#[derive(Clone)]
pub enum ClusterContext {
    /// Watch caches fed by this client.
    Kube(kube::Client),
    /// No cluster: the cross-object rules see no other object (offline tests).
    Empty,
    /// A fixed set of objects, considered synced (benchmarks, tests).
    Static(Arc<dyn ObjectSource>),
}

impl std::fmt::Debug for ClusterContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Kube(_) => "Kube",
            Self::Empty => "Empty",
            Self::Static(_) => "Static",
        })
    }
}

/// Why the server cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// TLS material unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A port cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The wasm engine cannot be set up.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The rules cannot be loaded.
    #[error(transparent)]
    Rules(#[from] RuleSetError),
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] ws3_engine::ConfigError),
    /// The API server cannot be reached with the given kubeconfig or in-cluster config.
    #[error("cannot set up the Kubernetes client: {0}")]
    Kube(String),
    /// A task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    options: ServeOptions,
    cluster: ClusterContext,
    tls: Arc<ReloadingTls>,
    admission: TcpListener,
    /// Served by its own thread and runtime: a std listener.
    health: std::net::TcpListener,
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Server {
    /// Loads TLS and binds both ports.
    pub async fn bind(options: ServeOptions, cluster: ClusterContext) -> Result<Self, Error> {
        let started = Instant::now();
        let tls = Arc::new(ReloadingTls::load(options.tls.clone())?);
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        let admission = bind(options.addr).await?;
        let health =
            std::net::TcpListener::bind(options.health_addr).map_err(|source| Error::Bind {
                addr: options.health_addr,
                source,
            })?;
        Ok(Self {
            options,
            cluster,
            tls,
            admission,
            health,
            metrics: Arc::new(Metrics::new()),
            started,
        })
    }

    /// The bound admission address.
    pub fn local_addr(&self) -> SocketAddr {
        self.admission.local_addr().unwrap_or(self.options.addr)
    }

    /// The bound health address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr().unwrap_or(self.options.health_addr)
    }

    /// The metrics (readiness included).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Self {
            options,
            cluster,
            tls,
            admission,
            health,
            metrics,
            started,
        } = self;
        let (drain_tx, drain_rx) = watch::channel(false);
        tokio::spawn({
            let metrics = Arc::clone(&metrics);
            async move {
                shutdown.await;
                info!("shutting down: no new connections, finishing reviews in flight");
                metrics.set_shutting_down();
                let _ = drain_tx.send(true);
            }
        });

        let health =
            HealthServer::start(health, Arc::clone(&metrics)).map_err(|source| Error::Bind {
                addr: options.health_addr,
                source,
            })?;

        let (source, watches): (Arc<dyn ObjectSource>, Option<ClusterWatches>) = match &cluster {
            ClusterContext::Kube(client) => {
                let watches = ClusterWatches::start(client, &metrics);
                (Arc::new(watches.source.clone()), Some(watches))
            }
            ClusterContext::Empty | ClusterContext::Static(_) => {
                for resource in RESOURCES {
                    metrics.set_cache_synced(resource, true);
                }
                let source: Arc<dyn ObjectSource> = match &cluster {
                    ClusterContext::Static(source) => Arc::clone(source),
                    _ => Arc::new(NoObjects),
                };
                (source, None)
            }
        };

        let compile = {
            let options = options.clone();
            let metrics = Arc::clone(&metrics);
            tokio::task::spawn_blocking(move || load_rules(&options, metrics))
        };
        let evaluator = tokio::select! {
            result = compile => match result {
                Ok(result) => Arc::new(result?),
                Err(e) => return Err(Error::Task(e.to_string())),
            },
            () = signalled(drain_rx.clone()) => {
                health.stop().await;
                return Ok(());
            }
        };
        let ids: Vec<&str> = evaluator
            .rules()
            .all()
            .iter()
            .map(|r| r.rule.meta().id.as_str())
            .collect();
        metrics.register_rules(ids.iter().copied());
        metrics.set_modules_ready();
        info!(
            rules = %ids.join(","),
            exempt = %options.config.exempt_namespaces.iter().chain(&options.extra_exempt).cloned().collect::<Vec<_>>().join(","),
            took_ms = started.elapsed().as_millis() as u64,
            "rule modules compiled"
        );

        tokio::spawn(
            Arc::clone(&tls).watch(options.cert_reload_interval, signalled(drain_rx.clone())),
        );

        let settle = if matches!(cluster, ClusterContext::Kube(_)) {
            options.cache_settle
        } else {
            Duration::ZERO
        };
        let state = AppState::new(
            evaluator,
            source,
            options.slots as usize,
            options.request_timeout,
        )
        .with_settle(settle)
        .with_max_body(options.connections.max_body);
        info!(addr = %admission.local_addr().map_or(options.addr, |a| a), "serving admission reviews over HTTPS");
        serve_connections(
            admission,
            tls,
            router(state),
            drain_rx,
            options.request_timeout + Duration::from_secs(2),
            options.connections,
        )
        .await;

        if let Some(watches) = watches {
            watches.stop();
        }
        health.stop().await;
        info!("stopped");
        Ok(())
    }
}

/// Builds the engine and loads the rules (blocking: compiles wasm).
fn load_rules(options: &ServeOptions, metrics: Arc<Metrics>) -> Result<Evaluator, Error> {
    let mut engine_options = EngineOptions {
        limits: options.limits,
        cache_dir: options.cache_dir.clone(),
        pooling: Some(options.slots),
    };
    let engine = match Engine::new(&engine_options) {
        Ok(engine) => engine,
        Err(error) if engine_options.cache_dir.is_some() => {
            warn!(%error, "cannot use the module cache; compiling without it");
            engine_options.cache_dir = None;
            Engine::new(&engine_options)?
        }
        Err(error) => return Err(error.into()),
    };
    let rules = RuleSet::load_with(
        &engine,
        &options.config,
        &RuleSetOptions {
            without_builtin: !options.builtin_rules,
            extra_exempt: options.extra_exempt.clone(),
            ..RuleSetOptions::default()
        },
    )?;
    if let Some((hits, misses)) = engine.cache_stats() {
        debug!(hits, misses, "module cache");
    }
    Ok(Evaluator::new(engine, rules, metrics))
}

/// Resolves once the flag is set (or its sender is gone).
async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|set| *set).await;
}
