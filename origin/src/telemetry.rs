//! JSON logs on stdout, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .try_init();
}
