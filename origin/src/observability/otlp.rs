//! Spans exported over OTLP (HTTP, protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, for a
//! collector or tracing backend to join with the edge's spans (`trace_context`). Unset, nothing
//! is exported and the OpenTelemetry layer is not installed: the hot path pays nothing.
//!
//! The standard variables apply: `OTEL_EXPORTER_OTLP_ENDPOINT` (spans go to its `/v1/traces`),
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`
//! (default `origin`), `OTEL_BSP_SCHEDULE_DELAY` (how often batches go out, default 5 s). Spans
//! are batched on a thread of the SDK's own, so a slow collector never holds a request; the
//! batch in hand is sent at shutdown.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    trace::{SdkTracer, SdkTracerProvider},
    Resource,
};

/// The variable that switches exporting on.
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";
const SERVICE_NAME: &str = "origin";

/// The tracer provider when exporting is configured (`None` when it is not), and its tracer.
pub fn from_env() -> anyhow::Result<Option<(SdkTracerProvider, SdkTracer)>> {
    let configured = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty());
    if !configured(ENDPOINT_VAR) && !configured("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    let mut resource = Resource::builder();
    if !configured(SERVICE_NAME_VAR) {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(SERVICE_NAME);
    Ok(Some((provider, tracer)))
}
