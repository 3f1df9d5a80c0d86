//! Claiming a key and recording the answer, inside the caller's transaction.

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::{KeyUse, RETENTION_HOURS};

/// The answer given the first time, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What a key's history says about this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use: go ahead, then `record` the answer in the same transaction.
    Fresh,
    /// Seen with the same fingerprint: answer with this.
    Replay(StoredResponse),
    /// Seen with another fingerprint.
    Mismatch,
    /// Another transaction holds the key right now.
    InFlight,
}

/// The advisory-lock id of a key: first uses of one key are serialised on it across processes.
pub fn lock_id(key: &KeyUse) -> i64 {
    let mut hash = Sha256::new();
    hash.update(key.org_id.as_bytes());
    hash.update(key.customer_sub.as_bytes());
    hash.update([0]);
    hash.update(key.key.as_str().as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Takes the key's lock (without waiting) and reads what it already holds.
pub async fn claim(conn: &mut PgConnection, key: &KeyUse) -> Result<Claim, sqlx::Error> {
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        lock_id(key)
    )
    .fetch_one(&mut *conn)
    .await?;
    if !locked {
        return Ok(Claim::InFlight);
    }
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS + 24);
    let found = sqlx::query!(
        "SELECT fingerprint, response_status, response_body FROM idempotency_keys
         WHERE organization_id = $1 AND customer_sub = $2 AND idempotency_key = $3
           AND created_at >= $4",
        key.org_id,
        key.customer_sub,
        key.key.as_str(),
        cutoff
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match found {
        None => Claim::Fresh,
        Some(row) if row.fingerprint == key.fingerprint => Claim::Replay(StoredResponse {
            status: u16::try_from(row.response_status).unwrap_or(500),
            body: row.response_body,
        }),
        Some(_) => Claim::Mismatch,
    })
}

/// Stores the final answer for a freshly claimed key.
pub async fn record(
    conn: &mut PgConnection,
    key: &KeyUse,
    response: &StoredResponse,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint,
              response_status, response_body, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key.org_id,
        key.customer_sub,
        key.key.as_str(),
        key.fingerprint,
        i16::try_from(response.status).unwrap_or(500),
        response.body,
        key.request_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
