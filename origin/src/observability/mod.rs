//! What the origin tells its operators: one JSON line per request (sampled, never with secrets),
//! Prometheus metrics on `GET /metrics`, and the plumbing that keeps a request's lines together.
//!
//! - `access_log`: the middleware around every request: a span carrying the request id, tenant and
//!   matched route, the request line at the end, and the request metrics.
//! - `sampling`: which request lines are written (deterministic on the request id).
//! - `request_log`: holds a request's lines until the sampling decision, then writes or drops them
//!   all together.
//! - `recorder`: the recorder, and every metric's name and description (`GET /metrics` itself is
//!   `app::metrics_endpoint`).
//! - `telemetry`: the JSON log subscriber, and the span exporter when one is configured.
//! - `request_id`: `X-Request-ID`, settled before anything else runs.
//! - `trace_context`: the edge's `traceparent` continued by the request span.
//! - `otlp`: spans over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

pub mod access_log;
pub mod otlp;
pub mod recorder;
pub mod request_id;
pub mod request_log;
pub mod sampling;
pub mod telemetry;
pub mod trace_context;
