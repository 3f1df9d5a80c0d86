//! Receipts: the edge's copy of each purchase it saw succeed, so a buyer retrying the same
//! `Idempotency-Key` after the item sold out gets its sale replayed, not the edge's `409`.
//!
//! The origin replays a retried key itself, but a sold-out buy no longer reaches the origin.
//! So every `2xx` purchase answer is kept in the Cache API under the shop, the caller's
//! subject, the key and the body (hashed, as the origin fingerprints a retry), written after
//! the answer is sent (`waitUntil`), and a buy the edge is about to refuse as sold out is
//! looked up there first: a hit is answered with the stored sale and `Idempotent-Replayed:
//! true`, as the origin would. Only such buys pay the lookup; buys that go to the origin do not.
//!
//! Limits: the Cache API is per data centre and may evict an entry early, and a receipt is
//! written a moment after its answer. A retry that lands in another data centre, after an
//! eviction, or within that moment, finds no receipt and is refused as sold out although its
//! first attempt bought: the order exists all the same (`GET /api/purchases/...` and the
//! admin's audit show it), nothing is sold twice, and a retry that reaches the origin (the item
//! restocked, or the mark run out) is replayed by the origin as always. Receipts live as long
//! as the origin keeps idempotency keys.

use sha2::{Digest, Sha256};
use uuid::Uuid;
use worker::{Cache, Context, Response, Result};

use crate::respond::Answer;

/// Path prefix of receipts in the Cache API.
const RECEIPTS: &str = "__edge-receipts";
/// How long a receipt is kept: as long as the origin keeps idempotency keys (48 h).
const KEEP_SECONDS: u64 = 48 * 3_600;
/// The origin's header on a replayed answer.
const REPLAYED: &str = "idempotent-replayed";
/// The sale's own status (201, 202): a cache keeps only answers of a cacheable status (200),
/// so a receipt is stored as a 200 that names it.
const SALE_STATUS: &str = "x-edge-sale-status";

/// Which purchase a receipt is for: the shop, the buyer, the key and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptKey {
    url: String,
}

impl ReceiptKey {
    /// `None` when the buy carries no key (the origin then refuses it anyway).
    pub fn new(
        host: &str,
        org_id: Uuid,
        sub: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> Option<Self> {
        let key = key?;
        let mut hash = Sha256::new();
        for part in [sub.as_bytes(), key.as_bytes(), body] {
            hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            hash.update(part);
        }
        let digest: String = hash
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Some(Self {
            url: format!("https://{host}/{RECEIPTS}/{org_id}/{digest}"),
        })
    }

    /// The stored sale, answered as the origin answers a replay.
    pub async fn recall(&self) -> Option<Answer> {
        let mut stored = match Cache::default().get(self.url.as_str(), false).await {
            Ok(stored) => stored?,
            Err(err) => {
                worker::console_error!("receipt read failed: {err}");
                return None;
            }
        };
        let status = stored
            .headers()
            .get(SALE_STATUS)
            .ok()
            .flatten()
            .and_then(|status| status.parse::<u16>().ok())?;
        let body = stored.bytes().await.ok()?;
        let response = Response::from_bytes(body).ok()?.with_status(status);
        let _ = response.headers().set("content-type", "application/json");
        let _ = response.headers().set(REPLAYED, "true");
        Some(Answer::from(response))
    }

    /// Keeps the sale `answer` carries, after the answer is sent.
    pub fn keep(self, ctx: &Context, answer: &mut Answer) -> Result<()> {
        let status = answer.status();
        let mut copy = answer.response_mut().cloned()?;
        ctx.wait_until(async move {
            let stored = async {
                // A fresh response: the origin's carries the caller's cookies and request id.
                let body = copy.bytes().await?;
                let response = Response::from_bytes(body)?;
                response.headers().set(SALE_STATUS, &status.to_string())?;
                let cache_control = format!("public, max-age={KEEP_SECONDS}");
                response.headers().set("cache-control", &cache_control)?;
                Cache::default().put(self.url.as_str(), response).await
            };
            if let Err(err) = stored.await {
                worker::console_error!("receipt not kept: {err}");
            }
        });
        Ok(())
    }
}
