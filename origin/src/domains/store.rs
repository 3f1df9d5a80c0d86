//! The `domains` table as the feature reads and writes it: every query runs in a transaction
//! scoped to the calling shop (row-level security), except the edge's lookup and the claim's
//! facts about other shops, which go through the two SECURITY DEFINER functions made for them.
//!
//! An unverified claim past its `expires_at` has lapsed: no query here returns it, and a new
//! claim of the same hostname by the same shop replaces it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::hostname::Hostname;

/// `domain_status`, as Postgres stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "domain_status", rename_all = "lowercase")]
pub enum StoredStatus {
    Pending,
    Active,
    Failed,
}

impl From<StoredStatus> for api::domains::DomainStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Pending => Self::Pending,
            StoredStatus::Active => Self::Active,
            StoredStatus::Failed => Self::Failed,
        }
    }
}

/// One row of `domains`.
#[derive(Debug, Clone)]
pub struct DomainRow {
    pub host: String,
    pub status: StoredStatus,
    pub is_primary: bool,
    pub http_token: Option<String>,
    pub http_body: Option<String>,
    pub txt_value: Option<String>,
    pub txt_required: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub cloudflare_id: Option<String>,
    pub hostname_status: Option<String>,
    pub certificate_status: Option<String>,
}

/// A fresh claim's secrets and terms.
#[derive(Debug, Clone)]
pub struct NewClaim<'a> {
    pub org_id: Uuid,
    pub host: &'a Hostname,
    pub http_token: String,
    pub http_body: String,
    pub txt_value: String,
    pub txt_required: bool,
    pub expires_at: DateTime<Utc>,
}

/// What a check found, to store on the claim.
#[derive(Debug, Clone, Default)]
pub struct CheckRecord {
    pub status: Option<StoredStatus>,
    pub reason: Option<String>,
    pub txt_required: bool,
    pub cloudflare_id: Option<String>,
    pub hostname_status: Option<String>,
    pub certificate_status: Option<String>,
}

/// What other shops do with a hostname, as far as a claim must know.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimFacts {
    pub live_elsewhere: bool,
    pub lately_elsewhere: bool,
}

/// One row of the edge's lookup: the serving shop, or one challenge.
#[derive(Debug, Clone)]
pub struct LookupRow {
    pub organization_id: Option<Uuid>,
    pub primary_host: Option<String>,
    pub http_token: Option<String>,
    pub http_body: Option<String>,
}

/// The shop's live domains and unlapsed claims, primary first.
pub async fn list(conn: &mut PgConnection, org_id: Uuid) -> Result<Vec<DomainRow>, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        r#"SELECT host, status AS "status: StoredStatus", is_primary, http_token, http_body,
                  txt_value, txt_required, expires_at, last_checked_at, reason, cloudflare_id,
                  hostname_status, certificate_status
             FROM domains
            WHERE organization_id = $1 AND (status = 'active' OR expires_at > now())
            ORDER BY is_primary DESC, host"#,
        org_id
    )
    .fetch_all(conn)
    .await
}

/// The shop's live domain or unlapsed claim of `host`.
pub async fn find(
    conn: &mut PgConnection,
    org_id: Uuid,
    host: &Hostname,
) -> Result<Option<DomainRow>, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        r#"SELECT host, status AS "status: StoredStatus", is_primary, http_token, http_body,
                  txt_value, txt_required, expires_at, last_checked_at, reason, cloudflare_id,
                  hostname_status, certificate_status
             FROM domains
            WHERE organization_id = $1 AND host = $2 AND (status = 'active' OR expires_at > now())
              FOR UPDATE"#,
        org_id,
        host.as_str()
    )
    .fetch_optional(conn)
    .await
}

/// How many domains the shop holds: live ones and unlapsed claims.
pub async fn count(conn: &mut PgConnection, org_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM domains
            WHERE organization_id = $1 AND (status = 'active' OR expires_at > now())"#,
        org_id
    )
    .fetch_one(conn)
    .await
}

/// Whether `host` is live for another shop than the transaction's, now or in the last 30 days.
pub async fn claim_facts(
    conn: &mut PgConnection,
    host: &Hostname,
) -> Result<ClaimFacts, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT live_elsewhere AS "live_elsewhere!", lately_elsewhere AS "lately_elsewhere!"
             FROM domain_claim_facts($1)"#,
        host.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or_else(ClaimFacts::default, |row| ClaimFacts {
        live_elsewhere: row.live_elsewhere,
        lately_elsewhere: row.lately_elsewhere,
    }))
}

/// Records a claim, replacing the shop's own lapsed claim of the hostname if there is one.
pub async fn insert_claim(
    conn: &mut PgConnection,
    claim: &NewClaim<'_>,
) -> Result<DomainRow, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM domains WHERE organization_id = $1 AND host = $2
            AND status <> 'active' AND expires_at <= now()",
        claim.org_id,
        claim.host.as_str()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_as!(
        DomainRow,
        r#"INSERT INTO domains (host, organization_id, status, http_token, http_body, txt_value,
                                txt_required, expires_at)
           VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7)
           RETURNING host, status AS "status: StoredStatus", is_primary, http_token, http_body,
                     txt_value, txt_required, expires_at, last_checked_at, reason,
                     cloudflare_id, hostname_status, certificate_status"#,
        claim.host.as_str(),
        claim.org_id,
        claim.http_token,
        claim.http_body,
        claim.txt_value,
        claim.txt_required,
        claim.expires_at
    )
    .fetch_one(conn)
    .await
}

/// Stores what a check found. Turning a claim active makes it the shop's primary when the
/// shop has none; a hostname live for another shop fails here (`domains_live_host_idx`).
pub async fn record_check(
    conn: &mut PgConnection,
    org_id: Uuid,
    host: &str,
    record: &CheckRecord,
) -> Result<DomainRow, sqlx::Error> {
    sqlx::query_as!(
        DomainRow,
        r#"UPDATE domains
              SET status = coalesce($3, status),
                  reason = $4,
                  txt_required = $5,
                  cloudflare_id = coalesce($6, cloudflare_id),
                  hostname_status = $7,
                  certificate_status = $8,
                  last_checked_at = now(),
                  expires_at = CASE WHEN $3 = 'active'::domain_status THEN NULL ELSE expires_at END,
                  is_primary = is_primary OR ($3 = 'active'::domain_status AND NOT EXISTS (
                      SELECT 1 FROM domains p WHERE p.organization_id = $1 AND p.is_primary))
            WHERE organization_id = $1 AND host = $2
        RETURNING host, status AS "status: StoredStatus", is_primary, http_token, http_body,
                  txt_value, txt_required, expires_at, last_checked_at, reason, cloudflare_id,
                  hostname_status, certificate_status"#,
        org_id,
        host,
        record.status as Option<StoredStatus>,
        record.reason,
        record.txt_required,
        record.cloudflare_id,
        record.hostname_status,
        record.certificate_status
    )
    .fetch_one(conn)
    .await
}

/// Remembers the Cloudflare custom hostname made for a claim.
pub async fn set_cloudflare_id(
    conn: &mut PgConnection,
    org_id: Uuid,
    host: &str,
    cloudflare_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE domains SET cloudflare_id = $3 WHERE organization_id = $1 AND host = $2",
        org_id,
        host,
        cloudflare_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the shop's domain or claim of `host`.
pub async fn delete(conn: &mut PgConnection, org_id: Uuid, host: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM domains WHERE organization_id = $1 AND host = $2",
        org_id,
        host
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes the shop's live `host` its primary (the old one first lets go: the one-primary index
/// is checked row by row).
pub async fn make_primary(
    conn: &mut PgConnection,
    org_id: Uuid,
    host: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE domains SET is_primary = false
          WHERE organization_id = $1 AND is_primary AND host <> $2",
        org_id,
        host
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE domains SET is_primary = true WHERE organization_id = $1 AND host = $2",
        org_id,
        host
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The edge's lookup of `host`, across shops.
pub async fn lookup(db: &PgPool, host: &str) -> Result<Vec<LookupRow>, sqlx::Error> {
    sqlx::query_as!(
        LookupRow,
        r#"SELECT organization_id, primary_host, http_token, http_body
             FROM edge_host_lookup($1)"#,
        host
    )
    .fetch_all(db)
    .await
}
