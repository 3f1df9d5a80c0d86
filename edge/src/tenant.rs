//! Which shop a request is for: its host, looked up in the `TENANT_DOMAINS` KV namespace
//! (host -> org id). Answers, misses included, are remembered in the isolate for a few seconds
//! so a flood of requests costs one KV read per host, not one per request.

use uuid::Uuid;
use worker::{Env, Request, Result};

use crate::{clock::now_ms, isolate_memo::IsolateMemo};

const KV_BINDING: &str = "TENANT_DOMAINS";
const REMEMBER_MS: u64 = 5_000;

thread_local! {
    static KNOWN: IsolateMemo<String, Option<Uuid>> = IsolateMemo::default();
}

/// The shop's host as the shopper typed it: the `Host` header (lowercase, without port).
pub fn request_host(req: &Request) -> String {
    let raw = req
        .headers()
        .get("host")
        .ok()
        .flatten()
        .or_else(|| req.url().ok().and_then(|u| u.host_str().map(str::to_owned)))
        .unwrap_or_default();
    let without_port = raw.rsplit_once(':').map_or(raw.as_str(), |(host, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            host
        } else {
            raw.as_str()
        }
    });
    without_port.to_ascii_lowercase()
}

pub async fn org_for_host(env: &Env, host: &str) -> Result<Option<Uuid>> {
    let now = now_ms();
    let host = host.to_owned();
    if let Some(org) = KNOWN.with(|known| known.get(&host, now)) {
        return Ok(org);
    }
    let org = env
        .kv(KV_BINDING)?
        .get(&host)
        .text()
        .await?
        .and_then(|raw| Uuid::parse_str(raw.trim()).ok());
    KNOWN.with(|known| known.remember(host, org, now + REMEMBER_MS, now));
    Ok(org)
}
