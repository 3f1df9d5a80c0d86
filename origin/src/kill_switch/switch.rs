//! The switch itself: whether a shop's (or every shop's) sales are paused, and flipping it
//! under the cooldown. Purchases read it inside their own transaction.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// The operators' switch that pauses every shop, flipped only from the CLI.
pub const GLOBAL: Uuid = Uuid::nil();

/// How long a paused buyer is told to wait when no cooldown says otherwise.
const DEFAULT_RETRY_AFTER_SECONDS: i64 = 30;

/// Sales are paused: why, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub reason: Option<String>,
    pub retry_after_seconds: i64,
}

impl Paused {
    /// The engaged switch's reason and cooldown, as seen at `now`.
    pub fn from_switch(
        reason: Option<String>,
        cooldown_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            reason,
            retry_after_seconds: cooldown_until
                .map(|until| (until - now).num_seconds())
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
        }
    }
}

/// Whether `org_id` may sell right now, read inside the caller's transaction (the database's
/// `sales_pause`, which purchase batches also read).
pub async fn paused(
    conn: &mut PgConnection,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Paused>, sqlx::Error> {
    let row = sqlx::query!("SELECT reason, cooldown_until FROM sales_pause($1)", org_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| Paused::from_switch(row.reason, row.cooldown_until, now)))
}

/// `PUT /api/admin/kill-switch` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlipRequest {
    pub engaged: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Flip even inside the cooldown (audited as forced).
    #[serde(default)]
    pub force: bool,
}

/// The switch as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SwitchState {
    pub engaged: bool,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub cooldown_until: Option<DateTime<Utc>>,
}

/// `GET /api/admin/kill-switch`: the shop's switch as its console shows it, and whether the
/// operators' switch pauses every shop meanwhile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SwitchView {
    pub engaged: bool,
    pub reason: Option<String>,
    /// When it last flipped; absent if it never has.
    pub since: Option<DateTime<Utc>>,
    /// Until when a flip back is refused without `force`.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// The operators' reason, while their switch pauses every shop.
    pub operators_paused: Option<String>,
}

/// The shop's switch and the operators', read inside the caller's transaction.
pub async fn view(conn: &mut PgConnection, org_id: Uuid) -> Result<SwitchView, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT organization_id, engaged, reason, changed_at, cooldown_until
           FROM kill_switches WHERE organization_id IN ($1, $2)"#,
        org_id,
        GLOBAL
    )
    .fetch_all(conn)
    .await?;
    let mut view = SwitchView {
        engaged: false,
        reason: None,
        since: None,
        cooldown_until: None,
        operators_paused: None,
    };
    for row in rows {
        if row.organization_id == GLOBAL {
            if row.engaged {
                view.operators_paused = Some(row.reason.unwrap_or_default());
            }
        } else {
            view.engaged = row.engaged;
            view.reason = row.reason;
            view.since = Some(row.changed_at);
            view.cooldown_until = row.cooldown_until;
        }
    }
    Ok(view)
}

/// What a flip did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flip {
    Changed {
        before: SwitchState,
        after: SwitchState,
    },
    Unchanged(SwitchState),
    InCooldown {
        until: DateTime<Utc>,
    },
}

/// Who flips, to what, and under which rules.
#[derive(Debug, Clone)]
pub struct FlipOrder<'a> {
    pub org_id: Uuid,
    pub engaged: bool,
    pub reason: Option<&'a str>,
    pub force: bool,
    pub actor: &'a str,
    pub cooldown: Duration,
    pub now: DateTime<Utc>,
}

/// Flips a switch inside the caller's transaction (the row is locked until it commits).
pub async fn flip(conn: &mut PgConnection, order: &FlipOrder<'_>) -> Result<Flip, sqlx::Error> {
    sqlx::query!(
        "INSERT INTO kill_switches (organization_id) VALUES ($1) ON CONFLICT DO NOTHING",
        order.org_id
    )
    .execute(&mut *conn)
    .await?;
    let before = sqlx::query_as!(
        SwitchState,
        r#"SELECT engaged, reason, changed_at AS since, cooldown_until
           FROM kill_switches WHERE organization_id = $1 FOR UPDATE"#,
        order.org_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if before.engaged == order.engaged {
        return Ok(Flip::Unchanged(before));
    }
    if let Some(until) = before.cooldown_until.filter(|until| *until > order.now) {
        if !order.force {
            return Ok(Flip::InCooldown { until });
        }
    }
    let after = sqlx::query_as!(
        SwitchState,
        r#"UPDATE kill_switches
           SET engaged = $2, reason = $3, changed_at = $4, changed_by = $5, cooldown_until = $6
           WHERE organization_id = $1
           RETURNING engaged, reason, changed_at AS since, cooldown_until"#,
        order.org_id,
        order.engaged,
        order.reason,
        order.now,
        order.actor,
        order.now + order.cooldown
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Flip::Changed { before, after })
}
