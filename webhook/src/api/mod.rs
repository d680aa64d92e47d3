//! The HTTP edge: the admission router, its handler, its error type and body extractor.

pub mod error;
pub mod handlers;
pub mod placement;

use std::{sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, routing::post};
use tokio::sync::Semaphore;
use ws3_engine::ObjectSource;

use self::placement::Placement;
use crate::{admission::Evaluator, metrics::Metrics};

/// Largest AdmissionReview body accepted by default; larger ones get 413. The API server caps
/// objects at about 1.5 MiB, and a review of an UPDATE carries two of them.
pub const MAX_BODY: usize = 3 << 20;

/// What the admission handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The rules and the engine.
    pub evaluator: Arc<Evaluator>,
    /// Other objects of the cluster, for the cross-object rules.
    pub source: Arc<dyn ObjectSource>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Evaluation slots: at most this many reviews run wasm at once (the instance pool size).
    pub slots: Arc<Semaphore>,
    /// Whether evaluations run inline on the runtime's workers or on blocking threads.
    pub placement: Arc<Placement>,
    /// Deadline of one review, end to end.
    pub request_timeout: Duration,
    /// How long to wait before judging again a denial by a rule that reads other objects (the
    /// watch caches may lag an object created just before); zero never judges again.
    pub settle: Duration,
    /// Largest AdmissionReview body accepted, in bytes; larger ones get 413.
    pub max_body: usize,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("slots", &self.slots.available_permits())
            .field("request_timeout", &self.request_timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State with `slots` concurrent evaluations. Registers the kinds the rules review with the
    /// metrics (the `kind` label of every other kind is `other`).
    pub fn new(
        evaluator: Arc<Evaluator>,
        source: Arc<dyn ObjectSource>,
        slots: usize,
        request_timeout: Duration,
    ) -> Self {
        let metrics = Arc::clone(evaluator.metrics());
        let reviewed = evaluator.rules().registration().reviewed_kinds;
        metrics.register_kinds(reviewed.iter().map(|k| (k.group.as_str(), k.kind.as_str())));
        Self {
            evaluator,
            source,
            metrics,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            placement: Arc::new(Placement::new()),
            request_timeout,
            settle: Duration::ZERO,
            max_body: MAX_BODY,
        }
    }

    /// Accepts bodies up to `max_body` bytes (see [`AppState::max_body`]).
    #[must_use]
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// Judges a denial by a cross-object rule again after `settle` (see [`AppState::settle`]).
    #[must_use]
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

/// The admission router: `POST /validate`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(handlers::validate))
        .layer(DefaultBodyLimit::max(state.max_body))
        .with_state(state)
}
