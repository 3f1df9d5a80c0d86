//! Whether a shop is selling: the kill switch as the origin reports it on
//! `GET /api/tenant/{org_id}/sales` and the edge reads it to refuse purchases early.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesStatus {
    pub paused: bool,
    /// Why sales are paused, as the admin or operator put it.
    pub reason: Option<String>,
    /// How long a refused buyer should wait, while paused.
    pub retry_after_seconds: Option<i64>,
}
