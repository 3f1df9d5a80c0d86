//! Shops and their domains: creating them, finding them, and exporting the domain map the edge
//! reads from KV. These run as the schema owner from the CLI, never on the request path.
//!
//! A shop made here is served on its domain at once (active and primary): an operator's word
//! needs no proof. Owners add further domains themselves (`domains`); the map exported for KV
//! holds the live ones, and the edge asks the origin for any it lacks.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// The domain every fresh checkout serves its demo shop on.
pub const DEMO_DOMAIN: &str = "demo.furnitureops.test";

/// Creates a shop served on `domain` (its live, primary domain), or returns the one already
/// there.
pub async fn add(db: &PgPool, name: &str, domain: &str) -> Result<Uuid, sqlx::Error> {
    let domain = domain.trim().to_ascii_lowercase();
    if let Some(existing) = org_for_domain(db, &domain).await? {
        return Ok(existing);
    }
    let mut tx = db.begin().await?;
    let org_id = sqlx::query_scalar!(
        "INSERT INTO organizations (name) VALUES ($1) RETURNING id",
        name
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO domains (host, organization_id, status, is_primary)
         VALUES ($1, $2, 'active', true)",
        domain,
        org_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(org_id)
}

pub async fn org_for_domain(db: &PgPool, domain: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT organization_id FROM domains WHERE host = $1 AND status = 'active'",
        domain.trim().to_ascii_lowercase()
    )
    .fetch_optional(db)
    .await
}

/// One entry of `wrangler kv bulk put`'s input.
#[derive(Debug, Serialize)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
}

/// The whole map of live domains, host -> org id.
pub async fn domain_map(db: &PgPool) -> Result<Vec<KvEntry>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT host, organization_id FROM domains WHERE status = 'active' ORDER BY host"
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| KvEntry {
            key: row.host,
            value: row.organization_id.to_string(),
        })
        .collect())
}

/// An item to stock a shop with.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    pub sku: &'a str,
    pub name: &'a str,
    pub price_cents: i64,
    pub stock: i32,
}

/// Adds items by SKU, leaving SKUs the shop already has untouched.
pub async fn stock_items(
    db: &PgPool,
    org_id: Uuid,
    items: &[NewItem<'_>],
) -> Result<(), sqlx::Error> {
    let skus: Vec<&str> = items.iter().map(|i| i.sku).collect();
    let names: Vec<&str> = items.iter().map(|i| i.name).collect();
    let prices: Vec<i64> = items.iter().map(|i| i.price_cents).collect();
    let stocks: Vec<i32> = items.iter().map(|i| i.stock).collect();
    sqlx::query!(
        "INSERT INTO inventory (organization_id, sku, name, price_cents, stock)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::int[])
         ON CONFLICT (organization_id, sku) DO NOTHING",
        org_id,
        &skus as &[&str],
        &names as &[&str],
        &prices,
        &stocks
    )
    .execute(db)
    .await?;
    Ok(())
}
