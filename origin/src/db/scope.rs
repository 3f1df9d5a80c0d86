//! The tenant scope a transaction runs under, and opening such a transaction.
//!
//! Every request's transaction starts with `set_config('request.jwt.claims', ..., true)`: the
//! setting is local to the transaction, so a pooled connection never carries one tenant's claims
//! into another tenant's request, and row-level security reads them through `auth.jwt()`.

use api::token::TokenClaims;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The tenant scope a transaction runs under, as the JSON Postgres reads with `auth.jwt()`.
#[derive(Debug, Clone)]
pub struct Scope {
    pub org_id: Uuid,
    pub claims_json: String,
}

#[derive(Serialize)]
struct AnonymousClaims {
    role: &'static str,
    app_metadata: AnonymousMetadata,
}

#[derive(Serialize)]
struct AnonymousMetadata {
    org_id: Uuid,
    role: &'static str,
}

impl Scope {
    /// A verified caller's claims, in the product's layout (`auth.jwt() -> 'app_metadata'`).
    pub fn for_claims(org_id: Uuid, claims: &TokenClaims) -> Self {
        Self {
            org_id,
            claims_json: serde_json::to_string(claims).unwrap_or_default(),
        }
    }

    /// Read-only access to a shop's public data, for callers without a token.
    pub fn anonymous(org_id: Uuid) -> Self {
        Self::acting_as(org_id, "anon")
    }

    /// The origin itself working for one shop (purchase batches, queue workers): no user, the
    /// shop's rows only.
    pub fn service(org_id: Uuid) -> Self {
        Self::acting_as(org_id, "service")
    }

    fn acting_as(org_id: Uuid, role: &'static str) -> Self {
        let claims = AnonymousClaims {
            role,
            app_metadata: AnonymousMetadata { org_id, role },
        };
        Self {
            org_id,
            claims_json: serde_json::to_string(&claims).unwrap_or_default(),
        }
    }
}

/// Opens a transaction that Postgres scopes to `scope`'s tenant.
pub async fn begin_scoped(
    pool: &PgPool,
    scope: &Scope,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        "SELECT set_config('request.jwt.claims', $1, true)",
        scope.claims_json
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}
