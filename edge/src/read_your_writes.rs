//! Which write a reader insists on seeing: the latest write position it sent (`X-Write-LSN` or
//! its cookie) that an origin sealed for this shop and that has not expired
//! (`api::write_position`).
//!
//! Such a reader may be answered only by something that has seen that write, so its read may go
//! past the shared cache; that costs the origin a request. A position a client made up, edited,
//! took from another shop or kept past its expiry is therefore ignored, exactly as if none had
//! been sent: a header or cookie of the client's own choosing never switches the cache off.
//! The key is derived from `EDGE_SHARED_SECRET`, as the origin's is; without that secret no
//! position can be checked and none is honoured (reads are then at most one cache lifetime old).

use api::{
    headers,
    write_position::{latest_sent, Lsn, WritePosition, WritePositionKey},
};
use uuid::Uuid;
use worker::{Env, Request};

use crate::clock::now_ms;

/// A position that checked out: what it guarantees, and its sealed form to pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HonouredPosition {
    pub lsn: Lsn,
    pub sealed: String,
}

/// The reader's honoured position for `org_id`, if it sent one.
pub fn honoured(req: &Request, env: &Env, org_id: Uuid) -> Option<HonouredPosition> {
    let header = req.headers().get(headers::WRITE_LSN).ok().flatten();
    let cookie = req.headers().get("cookie").ok().flatten();
    if header.is_none() && cookie.is_none() {
        return None;
    }
    let secret = env.secret("EDGE_SHARED_SECRET").ok()?.to_string();
    let key = WritePositionKey::from_edge_secret(secret.as_bytes());
    let now = i64::try_from(now_ms() / 1_000).unwrap_or(i64::MAX);
    // The Fetch API joins repeated headers with ", "; a sealed position holds no comma.
    let sent = header.iter().flat_map(|value| value.split(','));
    let position: WritePosition = latest_sent(sent, cookie.as_deref(), &key, org_id, now)?;
    Some(HonouredPosition {
        lsn: position.lsn,
        sealed: position.seal(&key),
    })
}
