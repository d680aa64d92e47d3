//! Errors at the HTTP edge. A review that can be read is always answered with HTTP 200 (a denial
//! is `allowed: false`); only a body that is not a review gets an HTTP error, with a JSON body
//! that says what is wrong.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::admission::{ParseError, ReviewRequest};

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What is wrong, for the client.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.status.as_u16(), "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl ApiError {
    /// A body that could not be read whole; `max_body` is the limit it may have hit.
    fn body(rejection: &BytesRejection, max_body: usize) -> Self {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the AdmissionReview body is larger than the {} limit",
                size(max_body)
            )
        } else {
            format!("cannot read the request body: {}", rejection.body_text())
        };
        Self::new(status, message)
    }
}

/// `3 MiB`, `512 KiB` or `1000 bytes`.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Extracts an AdmissionReview request; any body that is not one becomes an [`ApiError`]
/// (400 for malformed JSON or a wrong shape, 413 for an oversized body, 415 for a content type
/// that is not JSON).
#[derive(Debug)]
pub struct AdmissionBody(pub ReviewRequest);

impl AdmissionBody {
    /// Reads the review from a request whose body may hold up to `max_body` bytes (the limit
    /// the router's `DefaultBodyLimit` sets; it only names it in the 413 message).
    pub async fn read(req: Request, max_body: usize) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "expected an application/json AdmissionReview, got content type `{ct}`"
                    ),
                ));
            }
        }
        let bytes = Bytes::from_request(req, &())
            .await
            .map_err(|rejection| ApiError::body(&rejection, max_body))?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request body is empty; expected an AdmissionReview",
            ));
        }
        Ok(Self(ReviewRequest::parse(&bytes)?))
    }
}
