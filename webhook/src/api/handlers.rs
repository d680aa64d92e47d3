//! `POST /validate`.

use std::{sync::Arc, time::Instant};

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tracing::{debug, info, warn};

use super::{
    AppState,
    error::{AdmissionBody, ApiError},
    placement,
};
use crate::admission::{Decision, ReviewRequest, response};

/// Judges one AdmissionReview. Reviews that need no rule are answered at once; the others wait
/// for an evaluation slot and run, inline or on a blocking thread (see [`placement`]), all within
/// the request deadline. Every
/// review that can be read gets HTTP 200, whatever the rules say or however they fail.
pub async fn validate(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let metrics = Arc::clone(&state.metrics);
    let _in_flight = metrics.in_flight();
    // A body trickled in byte by byte gets no longer than a review would.
    let body = AdmissionBody::read(request, state.max_body);
    let req = match tokio::time::timeout(state.request_timeout, body).await {
        Ok(Ok(AdmissionBody(req))) => Arc::new(req),
        Ok(Err(error)) => return invalid(&state, error, started),
        Err(_) => {
            let error = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within the {:?} review deadline",
                    state.request_timeout
                ),
            );
            return invalid(&state, error, started);
        }
    };
    // No span per review: the JSON lines carry no span fields, so every event of a review
    // names its uid itself (a span would cost a tenth of the review's CPU for nothing).
    let decision = judge(&state, &req).await;
    let latency = started.elapsed();
    state.metrics.review(
        &req.kind.group,
        &req.kind.kind,
        req.operation_str(),
        decision.as_str(),
        latency,
    );
    log_decision(&req, &decision, latency);
    Json(response(&decision, &req.uid).into_review()).into_response()
}

/// Answers a request that is not a readable AdmissionReview with its HTTP error.
fn invalid(state: &AppState, error: ApiError, started: Instant) -> Response {
    warn!(status = error.status.as_u16(), error = %error.message, "rejected a request that is not an AdmissionReview");
    state.metrics.invalid(started.elapsed());
    error.into_response()
}

async fn judge(state: &AppState, req: &Arc<ReviewRequest>) -> Decision {
    if let Some(skip) = state.evaluator.skip(req, &state.source) {
        return Decision::skip(skip);
    }
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    let decision = evaluate(state, req, deadline).await;
    // Watch caches lag the API server by a few milliseconds: a Service created just before the
    // StatefulSet that names it (one `kubectl apply`) may not be cached yet. A denial by a rule
    // that reads other objects is judged once more after the caches had time to settle.
    let recheck = !decision.allowed
        && !state.settle.is_zero()
        && decision.failed.is_empty()
        && decision
            .denied_by
            .iter()
            .any(|id| state.evaluator.reads_cluster(id))
        && deadline.saturating_duration_since(tokio::time::Instant::now()) > state.settle * 2;
    if !recheck {
        return decision;
    }
    debug!(
        uid = %req.uid,
        settle_ms = state.settle.as_millis() as u64,
        "denied by a cross-object rule; judging again once the caches settle"
    );
    tokio::time::sleep(state.settle).await;
    evaluate(state, req, deadline).await
}

async fn evaluate(
    state: &AppState,
    req: &Arc<ReviewRequest>,
    deadline: tokio::time::Instant,
) -> Decision {
    let evaluation = async {
        let permit = Arc::clone(&state.slots).acquire_owned().await;
        if state.placement.inline(Instant::now()) {
            let timer = placement::Timer::start();
            let decision =
                state
                    .evaluator
                    .evaluate_until(req, &state.source, Some(deadline.into_std()));
            drop(permit);
            if let Some(took) = state.placement.finish(timer) {
                state.metrics.offload();
                warn!(
                    uid = %req.uid,
                    took_ms = took.as_millis() as u64,
                    budget_ms = placement::INLINE_BUDGET.as_millis() as u64,
                    offload_s = placement::OFFLOAD_FOR.as_secs(),
                    "a slow evaluation: running evaluations on blocking threads for a while"
                );
            }
            return Ok(decision);
        }
        let evaluator = Arc::clone(&state.evaluator);
        let source = Arc::clone(&state.source);
        let req = Arc::clone(req);
        let placement = Arc::clone(&state.placement);
        let metrics = Arc::clone(&state.metrics);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let timer = placement::Timer::start();
            let decision = evaluator.evaluate_until(&req, &source, Some(deadline.into_std()));
            if placement.finish(timer).is_some() {
                metrics.offload();
            }
            decision
        })
        .await
    };
    match tokio::time::timeout_at(deadline, evaluation).await {
        Ok(Ok(decision)) => decision,
        Ok(Err(join_error)) => {
            warn!(uid = %req.uid, error = %join_error, "the evaluation task failed");
            state
                .evaluator
                .unavailable(req, &state.source, "the evaluation stopped unexpectedly")
        }
        Err(_) => {
            warn!(
                uid = %req.uid,
                timeout_ms = state.request_timeout.as_millis() as u64,
                "review deadline exceeded"
            );
            state.evaluator.unavailable(
                req,
                &state.source,
                &format!(
                    "the rules did not finish within the {:?} review deadline",
                    state.request_timeout
                ),
            )
        }
    }
}

/// One line per decision. Never the object, never a finding's text: only ids and names.
fn log_decision(req: &ReviewRequest, decision: &Decision, latency: std::time::Duration) {
    info!(
        uid = %req.uid,
        kind = %req.kind.kind,
        group = %req.kind.group,
        namespace = req.namespace.as_deref().unwrap_or(""),
        name = %req.name,
        operation = req.operation_str(),
        user = %req.user,
        dry_run = req.dry_run,
        decision = decision.as_str(),
        skipped = decision.skipped.map(|s| s.as_str()),
        denied_by = %decision.denied_by.join(","),
        warned_by = %decision.warned_by.join(","),
        failed = %decision.failed.join(","),
        latency_us = latency.as_micros() as u64,
        "admission decision"
    );
}
