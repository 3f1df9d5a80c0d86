//! The audit log: who changed what, when, under which request. Entries are written in the same
//! transaction as the change (so there is never a change without its entry, or an entry without
//! its change) and the application role can only add and read them.

use axum::{
    extract::{Query, State},
    Json,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use api::{admin::AUDIT_PAGE, Problem};

use crate::web::doc_types::{TenantPath, TokenRefusals, Unavailable};
use crate::{app::state::AppState, db, web::caller::Admin, web::error::ApiError};

/// One change to record.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub org_id: Uuid,
    pub actor_sub: &'a str,
    pub action: &'a str,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: &'a str,
}

pub async fn record(conn: &mut PgConnection, entry: AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_log (organization_id, actor_sub, action, target, before, after, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        entry.org_id,
        entry.actor_sub,
        entry.action,
        entry.target,
        entry.before,
        entry.after,
        entry.request_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `oldest` (the default) pages forward from `after`; `newest` pages back from `before`.
    #[param(inline)]
    pub order: Option<PageOrder>,
    /// Oldest first: the cursor of the last entry already seen.
    pub after: Option<i64>,
    /// Newest first: the cursor of the last entry already seen.
    pub before: Option<i64>,
    pub limit: Option<i64>,
    /// Only entries of this action (`purchase`, `item.create`, `kill_switch.engage`, ...).
    pub action: Option<String>,
}

/// Which way a page of the audit log runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PageOrder {
    #[default]
    Oldest,
    Newest,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Oldest first: pass as `after` for the next page (entries written later will follow it).
    /// Newest first: pass as `before` for older entries; absent when there are none.
    pub next: Option<i64>,
}

const MAX_ACTION_LEN: usize = 64;
/// The action nearly every row has: the primary key serves a filter for it, and the partial
/// index `audit_log_by_action` (see `db/schema.sql`) every other action.
const PURCHASE: &str = "purchase";

/// `GET /api/tenant/{org_id}/admin/audit?order=&after=&before=&limit=&action=`
#[utoipa::path(
    get,
    path = "/api/tenant/{org_id}/admin/audit",
    summary = "Page through the audit log, oldest or newest first, optionally of one action",
    tag = "admin",
    params(TenantPath, PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries and the cursor for the next", body = Page),
        (status = 400, description = "limit outside 1..=500, or a malformed order or action", body = Problem, content_type = "application/problem+json"),
        TokenRefusals,
        Unavailable,
    )
)]
pub async fn list_audit_entries(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = AUDIT_PAGE.check(page.limit).map_err(ApiError::Malformed)?;
    let action = checked_action(&page)?;
    let order = page.order.unwrap_or_default();
    let mut tx = db::begin_scoped(&state.db, &caller.scope()).await?;
    let entries = entries_of(&mut tx, caller.org_id, order, action, &page, limit).await?;
    tx.commit().await?;
    let next = match order {
        PageOrder::Oldest => entries.last().map(|e| e.id).or(page.after),
        PageOrder::Newest => entries
            .last()
            .filter(|_| entries.len() == usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|e| e.id),
    };
    Ok(Json(Page { entries, next }))
}

/// The action filter, if any: at most `MAX_ACTION_LEN` of a-z, `_` and `.`.
fn checked_action(page: &PageQuery) -> Result<Option<&str>, ApiError> {
    let action = page.action.as_deref().filter(|a| !a.is_empty());
    if action.is_some_and(|a| {
        a.len() > MAX_ACTION_LEN
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
    }) {
        return Err(ApiError::Malformed(format!(
            "action must be at most {MAX_ACTION_LEN} of a-z, '_' and '.'"
        )));
    }
    Ok(action)
}

/// One page of `org`'s entries. Purchases (most of the log) and the other actions are read
/// through different indexes, so each order has a query for each. A batch's row expands into
/// its sales (`sales`, see `db/schema.sql`), entry `id * 1024 + position`; any other row is
/// one entry, position 0.
async fn entries_of(
    tx: &mut PgConnection,
    org: Uuid,
    order: PageOrder,
    action: Option<&str>,
    page: &PageQuery,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let cursor = match order {
        PageOrder::Oldest => page.after.unwrap_or(0),
        PageOrder::Newest => page.before.unwrap_or(i64::MAX),
    };
    match action {
        None | Some(PURCHASE) => entries_with_sales(tx, org, order, action, cursor, limit).await,
        Some(action) => entries_of_action(tx, org, order, action, cursor, limit).await,
    }
}

/// Every entry, or only purchases: read by the primary key, batch rows expanded
/// (`audit_entries`).
async fn entries_with_sales(
    tx: &mut PgConnection,
    org: Uuid,
    order: PageOrder,
    action: Option<&str>,
    cursor: i64,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    match order {
        PageOrder::Oldest => sqlx::query_as!(
            Entry,
            r#"SELECT id AS "id!", actor_sub AS "actor!", action AS "action!",
                      target AS "target!", before, after, request_id AS "request_id!",
                      created_at AS "at!"
               FROM audit_entries WHERE organization_id = $1 AND row_id >= $2::bigint / 1024 AND id > $2
                 AND ($3::text IS NULL OR action = $3)
               ORDER BY row_id, position LIMIT $4"#,
            org,
            cursor,
            action,
            limit
        )
        .fetch_all(tx)
        .await,
        PageOrder::Newest => sqlx::query_as!(
            Entry,
            r#"SELECT id AS "id!", actor_sub AS "actor!", action AS "action!",
                      target AS "target!", before, after, request_id AS "request_id!",
                      created_at AS "at!"
               FROM audit_entries WHERE organization_id = $1 AND row_id <= $2::bigint / 1024 AND id < $2
                 AND ($3::text IS NULL OR action = $3)
               ORDER BY row_id DESC, position DESC LIMIT $4"#,
            org,
            cursor,
            action,
            limit
        )
        .fetch_all(tx)
        .await,
    }
}

/// One action other than `purchase`: read by `audit_log_by_action`, one entry per row.
async fn entries_of_action(
    tx: &mut PgConnection,
    org: Uuid,
    order: PageOrder,
    action: &str,
    cursor: i64,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    match order {
        PageOrder::Oldest => {
            sqlx::query_as!(
                Entry,
                r#"SELECT id * 1024 AS "id!", actor_sub AS actor, action, target, before, after,
                      request_id, created_at AS at
               FROM audit_log WHERE organization_id = $1 AND action = $3 AND action <> 'purchase'
                 AND id >= $2::bigint / 1024 AND id * 1024 > $2
               ORDER BY id LIMIT $4"#,
                org,
                cursor,
                action,
                limit
            )
            .fetch_all(tx)
            .await
        }
        PageOrder::Newest => {
            sqlx::query_as!(
                Entry,
                r#"SELECT id * 1024 AS "id!", actor_sub AS actor, action, target, before, after,
                      request_id, created_at AS at
               FROM audit_log WHERE organization_id = $1 AND action = $3 AND action <> 'purchase'
                 AND id <= $2::bigint / 1024 AND id * 1024 < $2
               ORDER BY id DESC LIMIT $4"#,
                org,
                cursor,
                action,
                limit
            )
            .fetch_all(tx)
            .await
        }
    }
}
