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

/// Waits until a connection of the product's database role (`furnitureops_app`) in `db`'s
/// database is waiting for a lock: a request or batch has reached the database and is held
/// there by a transaction the test keeps open.
pub async fn until_a_lock_is_awaited(db: &sqlx::PgPool) {
    until(Duration::from_secs(10), "a wait for a lock", || async {
        let waiting = sqlx::query_scalar!(
            r#"SELECT count(*) AS "waiting!" FROM pg_stat_activity
               WHERE usename = 'furnitureops_app' AND wait_event_type = 'Lock'
                 AND datname = current_database()"#
        )
        .fetch_one(db)
        .await
        .expect("pg_stat_activity");
        (waiting > 0).then_some(())
    })
    .await;
}
