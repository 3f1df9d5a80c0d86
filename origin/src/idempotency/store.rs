//! Claiming a key and recording the answer, inside the caller's transaction.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::{
    key::{KeyUse, RETENTION_HOURS},
    key_state::KeyState,
};

/// The answer given the first time, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl StoredResponse {
    /// A 2xx answer: the request did what it asked, and its key replays it.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
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

/// How far back lookups search: every partition that may still hold a live key.
pub fn lookup_since() -> DateTime<Utc> {
    Utc::now() - Duration::hours(RETENTION_HOURS + 24)
}

impl Claim {
    /// A row of the database's `settle_idempotency_keys`; `None` for an order without a key.
    pub fn from_settled(
        state: KeyState,
        status: Option<i16>,
        body: Option<Vec<u8>>,
    ) -> Option<Self> {
        Some(match state {
            KeyState::Fresh => Self::Fresh,
            KeyState::InFlight => Self::InFlight,
            KeyState::Reused => Self::Mismatch,
            KeyState::Replay => Self::Replay(StoredResponse {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                body: body.unwrap_or_default(),
            }),
            KeyState::None => return None,
        })
    }
}

/// Takes the key's lock (without waiting) and reads what it already holds, in one round trip.
pub async fn claim(conn: &mut PgConnection, key: &KeyUse) -> Result<Claim, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT state AS "state!: KeyState", response_status, response_body
           FROM settle_idempotency_keys($1, $2, $3, $4, $5, $6)"#,
        key.org_id,
        &[lock_id(key)] as &[i64],
        &[key.customer_sub.as_str()] as &[&str],
        &[key.key.as_str()] as &[&str],
        &[key.fingerprint.as_slice()] as &[&[u8]],
        lookup_since()
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(
        Claim::from_settled(row.state, row.response_status, row.response_body)
            .unwrap_or(Claim::Fresh),
    )
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
