//! How a client hands a write position back: the latest position sealed for this shop by an
//! origin (see `api::write_position`) among the `X-Write-LSN` headers and cookies it sent.
//! Anything else (a bare LSN, another shop's position, an expired one) is ignored.

use std::convert::Infallible;

use api::{
    headers::WRITE_LSN,
    write_position::{latest_sent, WritePositionKey},
};
use axum::{
    extract::FromRequestParts,
    http::{header::COOKIE, request::Parts, HeaderMap},
};
use uuid::Uuid;

pub use api::write_position::{Lsn, NotAnLsn};

use crate::http::{caller::Tenant, state::AppState};

/// The write a read must see: the latest valid position the caller sent, in the `X-Write-LSN`
/// header or the `furnitureops_write_lsn` cookie. Values that are not positions are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAfter(pub Option<Lsn>);

impl ReadAfter {
    pub fn from_headers(headers: &HeaderMap, key: &WritePositionKey, org_id: Uuid) -> Self {
        let values = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
        };
        let now = chrono::Utc::now().timestamp();
        Self(
            latest_sent(values(WRITE_LSN), values(COOKIE.as_str()), key, org_id, now)
                .map(|p| p.lsn),
        )
    }
}

impl FromRequestParts<AppState> for ReadAfter {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let Ok(Tenant(org_id)) = Tenant::from_request_parts(parts, state).await else {
            return Ok(Self(None));
        };
        Ok(Self::from_headers(
            &parts.headers,
            &state.write_positions,
            org_id,
        ))
    }
}
