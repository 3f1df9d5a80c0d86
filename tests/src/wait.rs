//! Waiting for something to become true by polling it, never by sleeping a fixed time.

use std::{future::Future, time::Duration};

/// How often a condition is looked at.
pub const POLL_EVERY: Duration = Duration::from_millis(50);

/// Polls `check` every `POLL_EVERY` until it yields a value; panics (naming `what`) after
/// `within`.
pub async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}
