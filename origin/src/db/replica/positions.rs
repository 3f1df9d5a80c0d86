//! Asking Postgres where its WAL stands.

use sqlx::PgPool;

use api::write_position::{Lsn, NotAnLsn};

/// The primary's current WAL write position: at or past every commit that has returned.
pub async fn committed_position(primary: &PgPool) -> Result<Lsn, sqlx::Error> {
    let text = sqlx::query_scalar!(r#"SELECT pg_current_wal_lsn()::text AS "lsn!""#)
        .fetch_one(primary)
        .await?;
    parse(&text)
}

/// How far a replica has replayed; `None` on a server that is not replaying (a primary).
pub async fn replayed_position(replica: &PgPool) -> Result<Option<Lsn>, sqlx::Error> {
    let text = sqlx::query_scalar!(r#"SELECT pg_last_wal_replay_lsn()::text AS "lsn""#)
        .fetch_one(replica)
        .await?;
    text.as_deref().map(parse).transpose()
}

fn parse(text: &str) -> Result<Lsn, sqlx::Error> {
    text.parse()
        .map_err(|err: NotAnLsn| sqlx::Error::Decode(Box::new(err)))
}
