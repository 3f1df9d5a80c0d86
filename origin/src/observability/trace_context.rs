//! The edge's trace continued at the origin. The Worker sends every request with a W3C
//! `traceparent` (`edge/src/trace_context.rs`); the origin's `request` span takes it as its
//! parent, so spans exported over OTLP (`otlp`) join the edge's trace, and the span carries the
//! trace id as its `trace_id` field, so every JSON log line of the request can be found by the
//! trace id a tracing backend shows.
//!
//! The header is read by the OpenTelemetry SDK's own `TraceContextPropagator`, the same rules
//! an exporter-side tool applies. Without a valid `traceparent` the span starts a trace of its
//! own when spans are exported, and has no `trace_id` in the log otherwise.

use axum::http::HeaderMap;
use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TraceId},
};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The span field that carries the trace id (declared empty by the span's maker).
pub const TRACE_ID_FIELD: &str = "trace_id";

/// Makes `span` a child of the trace context in `headers`, and records its trace id in the
/// span's `trace_id` field. Returns the trace id, when there is one.
pub fn continue_from(span: &Span, headers: &HeaderMap) -> Option<TraceId> {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let incoming = parent.span().span_context().clone();
    // Fails only when spans are not exported (no OpenTelemetry layer): the log still gets the id.
    let _ = span.set_parent(parent);
    let own = span.context().span().span_context().clone();
    let trace_id = [own, incoming]
        .into_iter()
        .find(|context| context.is_valid())
        .map(|context| context.trace_id())?;
    span.record(TRACE_ID_FIELD, tracing::field::display(trace_id));
    Some(trace_id)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn traced(traceparent: &str) -> Option<TraceId> {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_str(traceparent).unwrap());
        continue_from(&Span::none(), &headers)
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_and_an_invalid_one_none() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            traced(&format!("00-{id}-00f067aa0ba902b7-01")).map(|t| t.to_string()),
            Some(id.to_owned())
        );
        assert_eq!(
            traced("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(traced("not a traceparent"), None);
    }
}
