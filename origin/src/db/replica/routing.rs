//! Choosing the database a read runs on.

use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    db::{self, is_unavailable, Scope},
    observability::recorder::{names, ReadRoute},
};
use api::write_position::Lsn;

/// Opens a read transaction scoped to `scope`'s tenant: on the replica when there is one and it
/// has replayed the caller's last write (`after`), else on the primary.
pub async fn begin_read(
    primary: &PgPool,
    replica: Option<&PgPool>,
    scope: &Scope,
    after: Option<Lsn>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let Some(replica) = replica else {
        count(ReadRoute::NoReplica);
        return db::begin_scoped(primary, scope).await;
    };
    match begin_if_caught_up(replica, scope, after).await {
        Ok(Some(tx)) => {
            count(ReadRoute::Replica);
            Ok(tx)
        }
        Ok(None) => {
            count(ReadRoute::ReplicaBehind);
            db::begin_scoped(primary, scope).await
        }
        Err(err) if is_unavailable(&err) => {
            tracing::warn!(error = %err, "replica unavailable: reading from the primary");
            count(ReadRoute::ReplicaUnavailable);
            db::begin_scoped(primary, scope).await
        }
        Err(err) => Err(err),
    }
}

/// A scoped transaction on `replica` if it has replayed `after`; `None` (and nothing held) if
/// it has not yet. Claims and the position check travel in one statement.
async fn begin_if_caught_up(
    replica: &PgPool,
    scope: &Scope,
    after: Option<Lsn>,
) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let mut tx = replica.begin().await?;
    let after = after.map(|lsn| lsn.to_string());
    let row = sqlx::query!(
        r#"SELECT set_config('request.jwt.claims', $1, true) AS claims,
                  ($2::text IS NULL
                   OR NOT pg_is_in_recovery()
                   OR coalesce(pg_last_wal_replay_lsn() >= $2::text::pg_lsn, false)) AS "caught_up!""#,
        scope.claims_json,
        after
    )
    .fetch_one(&mut *tx)
    .await?;
    if row.caught_up {
        Ok(Some(tx))
    } else {
        tx.rollback().await?;
        Ok(None)
    }
}

fn count(route: ReadRoute) {
    let (pool, reason) = route.labels();
    metrics::counter!(names::DB_READS, "pool" => pool, "reason" => reason).increment(1);
}
