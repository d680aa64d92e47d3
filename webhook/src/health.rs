//! The plain-HTTP side port: `/healthz` (the process answers), `/readyz` (rule modules compiled
//! and every watch cache synced, and not shutting down) and `/metrics` (Prometheus text).

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::metrics::Metrics;

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
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}
