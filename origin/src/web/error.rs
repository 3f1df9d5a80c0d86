//! The origin's one error type, and its single conversion to problem+json.
//!
//! 5xx bodies are opaque: the cause goes to the log next to the request id, never to the client.

use api::{headers, token::TokenError, Problem, ProblemKind};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{db, observability::request_id};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    InvalidQuantity(String),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("a bearer token is required")]
    MissingToken,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("this Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still running; retry shortly")]
    KeyInFlight,
    #[error("the kill switch is in its cooldown until {until}; pass \"force\": true to override")]
    Cooldown {
        until: chrono::DateTime<chrono::Utc>,
    },
    #[error("sales are paused{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    SalesPaused {
        reason: Option<String>,
        retry_after_seconds: i64,
    },
    #[error("only {available} left")]
    OutOfStock { available: i32 },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    TooManyStreams(String),
    #[error("live events are not connected yet; retry shortly")]
    EventsNotConnected,
    #[error("the shop already holds {cap} items, as many as it may")]
    ItemCap { cap: i64 },
    #[error("the shop already has {cap} buys waiting in the queue; retry shortly")]
    QueueFull { cap: i64 },
    #[error("{0}")]
    InvalidHostname(String),
    #[error("{0}")]
    DomainNotVerified(String),
    #[error("{0}")]
    CheckUnavailable(String),
    #[error("the shop already holds {cap} domains, as many as it may")]
    DomainCap { cap: i64 },
    #[error("purchase batch: {0}")]
    Batch(std::sync::Arc<sqlx::Error>),
    #[error("a handler panicked: {0}")]
    Panicked(String),
}

/// Seconds a client refused an event stream should wait: about how long a closed stream takes
/// to give its place back.
const RETRY_AFTER_STREAMS: i64 = 5;

/// Seconds a buyer refused by a full queue should wait: workers decide hundreds of buys a
/// second, so places come back quickly.
const RETRY_AFTER_QUEUE_FULL: i64 = 2;

/// Seconds an owner should wait before checking a domain again when a service the check needs
/// (a resolver, Cloudflare's API) did not answer.
const RETRY_AFTER_CHECK: i64 = 5;

/// Seconds a client should wait before retrying when the database is overloaded or down.
const RETRY_AFTER_UNAVAILABLE: i64 = 1;

impl ApiError {
    /// Seconds to put in `Retry-After`, for refusals that will pass later.
    fn retry_after(&self) -> Option<i64> {
        match self {
            Self::SalesPaused {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            Self::KeyInFlight => Some(1),
            Self::TooManyStreams(_) => Some(RETRY_AFTER_STREAMS),
            Self::QueueFull { .. } => Some(RETRY_AFTER_QUEUE_FULL),
            Self::CheckUnavailable(_) => Some(RETRY_AFTER_CHECK),
            _ if self.kind() == ProblemKind::Unavailable => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        }
    }

    /// The problem body this error is answered with.
    pub fn problem(&self) -> Problem {
        let kind = self.kind();
        let request_id = request_id::current();
        // A paused sale's reason and an unanswered domain check's are the product's own
        // words, not a fault's: they are told.
        let told = matches!(
            kind,
            ProblemKind::SalesPaused | ProblemKind::CheckUnavailable
        );
        let detail = if kind.status() >= 500 && !told {
            tracing::error!(request_id = request_id.as_deref(), error = %self, "request failed");
            kind.title().to_owned()
        } else {
            self.to_string()
        };
        let problem = match self {
            Self::OutOfStock { available } => Problem::out_of_stock(*available),
            _ => Problem::new(kind, detail),
        };
        problem.with_request_id(request_id)
    }

    fn kind(&self) -> ProblemKind {
        match self {
            Self::Malformed(_) => ProblemKind::MalformedRequest,
            Self::InvalidQuantity(_) => ProblemKind::InvalidQuantity,
            Self::Token(err) => err.kind(),
            Self::MissingToken => ProblemKind::Unauthenticated,
            Self::Forbidden(_) => ProblemKind::Forbidden,
            Self::NotFound(_) => ProblemKind::NotFound,
            Self::OutOfStock { .. } => ProblemKind::OutOfStock,
            Self::Conflict(_)
            | Self::Cooldown { .. }
            | Self::ItemCap { .. }
            | Self::DomainCap { .. } => ProblemKind::Conflict,
            Self::InvalidHostname(_) => ProblemKind::InvalidHostname,
            Self::DomainNotVerified(_) => ProblemKind::DomainNotVerified,
            Self::CheckUnavailable(_) => ProblemKind::CheckUnavailable,
            Self::KeyReused => ProblemKind::KeyReused,
            Self::KeyInFlight => ProblemKind::KeyInFlight,
            Self::SalesPaused { .. } => ProblemKind::SalesPaused,
            Self::PayloadTooLarge { .. } => ProblemKind::PayloadTooLarge,
            Self::TooManyStreams(_) | Self::QueueFull { .. } => ProblemKind::RateLimited,
            Self::EventsNotConnected => ProblemKind::Unavailable,
            Self::Database(err) if db::is_unavailable(err) => ProblemKind::Unavailable,
            Self::Batch(err) if db::is_unavailable(err) => ProblemKind::Unavailable,
            Self::Database(_) | Self::Batch(_) | Self::Panicked(_) => ProblemKind::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(&self.problem());
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// Renders a problem as an HTTP response with the right status and content type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(headers::PROBLEM_JSON),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Every 503 says when to come back; callers with a better figure overwrite it.
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE),
        );
    }
    if problem.is(ProblemKind::Unavailable) {
        // The edge's admission control reads this, not the body, to learn the origin is
        // overloaded (a paused sale's 503 is not).
        headers.insert(headers::ORIGIN_OVERLOADED, HeaderValue::from_static("1"));
    }
    response
}
