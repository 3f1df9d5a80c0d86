//! A handler that panics is answered like any other internal error: `500` problem+json with an
//! opaque body (the `internal` problem and the request id), the panic's message in the log
//! next to the request id. Without this layer hyper drops the connection: the client sees a
//! reset, the edge counts an origin failure, and no request line says what happened.
//!
//! tower-http's `CatchPanicLayer` catches the unwind. The router puts it inside the request id
//! and the access log, so the id is known when the answer is made, the message is logged in the
//! request's span, and the request line (status 500, level `ERROR`) is written as for any 5xx.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::web::error::ApiError;

/// What answers a panic.
pub type AnswerPanic = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer, answering with `answer`.
pub fn layer() -> CatchPanicLayer<AnswerPanic> {
    CatchPanicLayer::custom(answer as AnswerPanic)
}

/// The `500` for a panic whose payload is `panic` (its message, when it has one, is logged).
fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    ApiError::Panicked(message).into_response()
}
