//! How a client hands a write position back: the latest position sealed for this shop by an
//! origin (see `api::write_position`) among the `X-Write-LSN` headers and cookies it sent.
//! Anything else (a bare LSN, another shop's position, an expired one, one issued to another
//! user) is ignored: a position is honoured only for a caller whose token (or whose claims the
//! edge sealed) names the user it was issued to, so a shopper cannot hand theirs to a bot that
//! then skips the replicas.

use std::convert::Infallible;

use api::{
    headers::{WRITE_LSN, WRITE_LSN_COOKIE},
    write_position::{latest_sent, Reader, WritePositionKey},
};
use axum::{
    extract::FromRequestParts,
    http::{header::COOKIE, request::Parts, HeaderMap},
};

pub use api::write_position::{Lsn, NotAnLsn};

use crate::{app::state::AppState, web::caller::Caller};

/// The write a read must see: the latest valid position the caller sent, in the `X-Write-LSN`
/// header or the `furnitureops_write_lsn` cookie. Values that are not positions are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAfter(pub Option<Lsn>);

impl ReadAfter {
    pub fn from_headers(headers: &HeaderMap, key: &WritePositionKey, reader: Reader<'_>) -> Self {
        let values = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
        };
        let now = chrono::Utc::now().timestamp();
        Self(
            latest_sent(values(WRITE_LSN), values(COOKIE.as_str()), key, reader, now)
                .map(|p| p.lsn),
        )
    }
}

impl FromRequestParts<AppState> for ReadAfter {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let sent_one = parts.headers.contains_key(WRITE_LSN)
            || parts
                .headers
                .get_all(COOKIE)
                .iter()
                .any(|cookie| cookie.to_str().is_ok_and(|c| c.contains(WRITE_LSN_COOKIE)));
        if !sent_one {
            return Ok(Self(None));
        }
        let Ok(caller) = Caller::from_request_parts(parts, state).await else {
            return Ok(Self(None));
        };
        let reader = Reader {
            org_id: caller.org_id,
            sub: caller.sub(),
        };
        Ok(Self::from_headers(
            &parts.headers,
            &state.write_positions,
            reader,
        ))
    }
}
