//! JSON logs on stdout, filtered by `RUST_LOG` (default `info`).
//!
//! Lines logged while serving a request carry its `request` span (request id, tenant, route)
//! and are kept or dropped with it (see `observability::request_log`).

use tracing_subscriber::{fmt, EnvFilter};

use crate::observability::request_log::{LogSink, RequestLogWriter};

pub fn init() {
    init_with(LogSink::Stdout);
}

/// Logs to `sink` (tests and benchmarks read an in-memory one).
pub fn init_with(sink: LogSink) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(RequestLogWriter::new(sink))
        .try_init();
}
