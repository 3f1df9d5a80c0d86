//! The full-disk fault, in the two stages Postgres goes through (seen on this stack, Postgres
//! 15): with no free byte left, the primary keeps running and fails only the statements that
//! need new space (a table growing: `53100 could not extend file`), so sales are refused while
//! Patroni sees a healthy leader; once its WAL needs a new segment it cannot create, it
//! PANICs, cannot recover on the same full disk, and Patroni fails over as for a crash.
//!
//! How soon the second stage comes depends on how much WAL the sale writes and how many old
//! segments can be recycled; the phase brings it after `REFUSING` by switching to a new
//! segment, so both stages are seen in a short run.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::HaStack;

/// How long the primary runs with its disk full before its WAL needs a new segment.
const REFUSING: Duration = Duration::from_secs(5);

/// Fills `leader`'s disk, lets it refuse sales for `REFUSING`, then switches its WAL to a new
/// segment until it stops; returns when it stopped taking writes.
pub(super) async fn fill_until_the_primary_stops(stack: &HaStack, leader: &str) -> Instant {
    stack.ha.fill_disk(leader).expect("fill the leader's disk");
    tokio::time::sleep(REFUSING).await;
    let url = stack.ha.node_url(leader, "postgres");
    // A segment made ahead of time may take the first switch: switch until one fails.
    for _ in 0..20 {
        let attempt = Instant::now();
        let switched = async {
            let mut connection = PgConnection::connect(&url).await?;
            sqlx::query_scalar!(r#"SELECT pg_switch_wal()::text AS "lsn!""#)
                .fetch_one(&mut connection)
                .await
        }
        .await;
        if switched.is_err() {
            return attempt;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the primary with a full disk kept switching WAL segments");
}
