//! JSON logs on stdout, filtered by `RUST_LOG` (default `info`), and spans over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`otlp`).
//!
//! Lines logged while serving a request carry its `request` span (request id, tenant, route,
//! trace id) and are kept or dropped with it (see `observability::request_log`).

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::{
    filter::Targets, fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer,
};

use crate::observability::{
    otlp,
    request_log::{LogSink, RequestLogWriter},
};

/// What was set up; dropping it sends the spans still in hand (keep it until the process ends).
#[derive(Debug, Default)]
#[must_use = "dropping it stops exporting spans"]
pub struct Telemetry {
    exporting: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.exporting.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("spans not sent at shutdown: {error}");
            }
        }
    }
}

/// Whose spans are exported: the origin's (the request span and what it encloses).
const SPANS_OF: &str = "origin";

pub fn init() -> Telemetry {
    init_with(LogSink::Stdout)
}

/// Logs to `sink` (tests and benchmarks read an in-memory one).
pub fn init_with(sink: LogSink) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(RequestLogWriter::new(sink));
    let (exporting, spans) = match otlp::from_env() {
        // The origin's own spans, whatever `RUST_LOG` keeps in the log: a quiet log must not
        // cut the trace.
        Ok(Some((provider, tracer))) => (
            Some(provider),
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(Targets::new().with_target(SPANS_OF, Level::INFO)),
            ),
        ),
        Ok(None) => (None, None),
        Err(error) => {
            eprintln!("spans will not be exported: {error}");
            (None, None)
        }
    };
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .try_init();
    Telemetry { exporting }
}
