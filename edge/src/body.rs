//! Request bodies at the edge, read with a cap.
//!
//! A refusal must still read what the client already sent: workerd closes a keep-alive
//! connection whose request body was left unread, and a client that reuses it (or is still
//! sending) sees a reset instead of our answer. So an oversized body is read and thrown away up
//! to `DRAIN_LIMIT_BYTES`; only past that is the connection given up. Nothing past the cap is kept.

use futures::StreamExt;
use worker::{Method, Request, Result};

/// Largest request body the edge accepts (the origin enforces the same).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of an oversized body is read and discarded so the client still gets its 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// The body, or `None` when it is larger than `MAX_BODY_BYTES`.
pub async fn read_capped(req: &mut Request) -> Result<Option<Vec<u8>>> {
    // A request without a body (a bodiless POST too) has no stream to read.
    if matches!(req.method(), Method::Get | Method::Head) || req.inner().body().is_none() {
        return Ok(Some(Vec::new()));
    }
    let mut body = Vec::new();
    let mut seen = 0usize;
    let mut stream = req.stream()?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        seen += chunk.len();
        if seen <= MAX_BODY_BYTES {
            body.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT_BYTES {
            break;
        }
    }
    Ok((seen <= MAX_BODY_BYTES).then_some(body))
}
