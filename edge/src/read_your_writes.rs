//! Which write a reader insists on seeing: the latest write position it sent (`X-Write-LSN` or
//! its cookie) that an origin sealed for this shop and for this very reader, and that has not
//! expired (`api::write_position`).
//!
//! Such a reader may be answered only by something that has seen that write, so its read may go
//! past the shared cache; that costs the origin a request. A position a client made up, edited,
//! took from another shop or kept past its expiry is therefore ignored, exactly as if none had
//! been sent: a header or cookie of the client's own choosing never switches the cache off. Nor
//! does one a real shopper handed to a bot: a position is honoured only with a valid token of
//! the user it was issued to (the gateway verifies a token on an inventory read anyway, for the
//! signed-in budget), and that token's claims go to the origin sealed, where the same rule holds.
//! The key is derived from `EDGE_SHARED_SECRET`, as the origin's is; without that secret no
//! position can be checked and none is honoured (reads are then at most one cache lifetime old).

use api::{
    headers,
    token::VerifiedToken,
    write_position::{latest_for, sent, Lsn, Reader},
};
use uuid::Uuid;
use worker::{Env, Request};

use crate::{clock::now_ms, edge_secret};

/// A position that checked out: what it guarantees, its sealed form to pass on, and the reader
/// it was issued to.
#[derive(Debug, Clone)]
pub struct HonouredPosition {
    pub lsn: Lsn,
    pub sealed: String,
    pub reader: VerifiedToken,
}

/// The honoured position for `org_id` of `reader` (the verified token the read carried), if it
/// sent one of its own.
pub fn honoured(
    req: &Request,
    env: &Env,
    org_id: Uuid,
    reader: Option<&VerifiedToken>,
) -> Option<HonouredPosition> {
    let reader = reader?;
    let header = req.headers().get(headers::WRITE_LSN).ok().flatten();
    let cookie = req.headers().get("cookie").ok().flatten();
    if header.is_none() && cookie.is_none() {
        return None;
    }
    let keys = edge_secret::trusted(env)?;
    let now = i64::try_from(now_ms() / 1_000).unwrap_or(i64::MAX);
    // The Fetch API joins repeated headers with ", "; a sealed position holds no comma.
    let values = header.iter().flat_map(|value| value.split(','));
    let positions = sent(values, cookie.as_deref(), &keys.positions, org_id, now);
    if positions.is_empty() {
        return None;
    }
    let position = latest_for(
        positions,
        Reader {
            org_id,
            sub: &reader.claims.sub,
        },
    )?;
    Some(HonouredPosition {
        lsn: position.lsn,
        sealed: position.seal(&keys.positions),
        reader: reader.clone(),
    })
}
