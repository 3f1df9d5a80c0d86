//! Claiming a hostname: the rules a claim must pass before it is recorded, and the secrets it
//! gets (the HTTP challenge's path and body, the TXT value), fresh per claim.
//!
//! - A hostname the shop holds already is answered as it stands (a retried claim is harmless).
//! - Names under the platform's own domains are refused (422), unless the shop holds them.
//! - A hostname live for another shop is refused (409): it is theirs until they release it.
//! - Other shops' unverified claims do not block one: whoever proves the hostname first gets it.
//! - A hostname live for another shop in the last 30 days needs the TXT proof as well.
//! - A shop holds at most `DOMAIN_CAP_PER_SHOP` domains, live or claimed (409 past it).
//! - A claim lapses after `DOMAIN_CLAIM_DAYS` unverified.

use chrono::Utc;
use rand_core::{OsRng, RngCore};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    hostname::{is_platform_name, Hostname},
    settings::DomainSettings,
    store::{self, DomainRow, NewClaim},
};
use crate::web::error::ApiError;

/// What a claim came to.
#[derive(Debug)]
pub enum Claimed {
    /// Recorded now.
    Fresh(DomainRow),
    /// The shop held it already.
    Held(DomainRow),
}

/// Claims `host` for `org_id`, in the caller's scoped transaction.
pub async fn claim(
    conn: &mut PgConnection,
    settings: &DomainSettings,
    org_id: Uuid,
    host: &Hostname,
) -> Result<Claimed, ApiError> {
    if let Some(held) = store::find(conn, org_id, host).await? {
        return Ok(Claimed::Held(held));
    }
    if is_platform_name(host, &settings.platform_domains) {
        return Err(ApiError::InvalidHostname(format!(
            "{host} is one of the platform's own names: claim a hostname of your own domain"
        )));
    }
    let facts = store::claim_facts(conn, host).await?;
    if facts.live_elsewhere {
        return Err(ApiError::Conflict("the hostname is live for another shop"));
    }
    if store::count(conn, org_id).await? >= settings.per_shop_cap {
        return Err(ApiError::DomainCap {
            cap: settings.per_shop_cap,
        });
    }
    let claim = NewClaim {
        org_id,
        host,
        http_token: random_hex(16),
        http_body: format!("furnitureops-domain-{}", random_hex(16)),
        txt_value: format!("furnitureops-verify={}", random_hex(16)),
        txt_required: facts.lately_elsewhere,
        expires_at: Utc::now() + settings.claim_lifetime,
    };
    match store::insert_claim(conn, &claim).await {
        Ok(row) => Ok(Claimed::Fresh(row)),
        Err(err) if is_unique_violation(&err) => Err(ApiError::Conflict(
            "the hostname was claimed by a request of this shop at the same moment",
        )),
        Err(err) => Err(err.into()),
    }
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0; bytes];
    OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}
