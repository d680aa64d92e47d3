//! The plain-HTTP side port: `/healthz` (the process answers), `/readyz` (rule modules compiled
//! and every watch cache synced, and not shutting down) and `/metrics` (OpenMetrics text).
//!
//! The port is served by [`HealthServer`] on a thread of its own with a single-threaded tokio
//! runtime, never by the runtime that evaluates rules: with every evaluation slot held by a slow
//! rule module (each running inline on a worker until its deadline), the kubelet's probes and
//! Prometheus still get their answers at once.

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use tokio::sync::oneshot;
use tracing::warn;

use crate::metrics::{self, Metrics};

/// The health and metrics router.
pub fn health_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics)
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.ready() {
        return (StatusCode::OK, "ready\n".to_owned());
    }
    let mut waiting = Vec::new();
    if metrics.shutting_down() {
        waiting.push("shutting down".to_owned());
    }
    if !metrics.modules_ready() {
        waiting.push("rule modules compiling".to_owned());
    }
    let unsynced = metrics.unsynced();
    if !unsynced.is_empty() {
        waiting.push(format!("watch caches not synced: {}", unsynced.join(", ")));
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {}\n", waiting.join("; ")),
    )
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.render(),
    )
}

/// The health port, served on its own `ws3-health` thread until [`HealthServer::stop`] (or
/// drop).
#[derive(Debug)]
pub struct HealthServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HealthServer {
    /// Serves [`health_router`] on `listener` (bound, in non-blocking mode or not) from a new
    /// thread.
    pub fn start(listener: std::net::TcpListener, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ws3-health".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            warn!(%error, "cannot serve the health port");
                            return;
                        }
                    };
                    let served = axum::serve(listener, health_router(metrics))
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        warn!(%error, "the health port stopped");
                    }
                });
            })?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (requests being answered are finished) and waits for the thread.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        // Stops the thread without waiting for it.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
