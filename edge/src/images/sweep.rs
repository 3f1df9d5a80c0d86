//! The orphan sweep: deletes stored pictures no picture of their shop names any more.
//!
//! An object becomes an orphan when an admin removes the last picture that names it (or the
//! item it belongs to goes), and when the origin refuses an upload after the edge stored its
//! bytes (an unknown item, a full item). The Worker's scheduled handler (wrangler.toml
//! `[triggers]`, every 15 minutes) lists the bucket a shop prefix at a time, asks the origin
//! which of the shop's keys older than `IMAGE_ORPHAN_GRACE_SECONDS` (default one hour) its
//! pictures still name (`POST /api/tenant/{org_id}/edge/images/referenced`, a proved request,
//! at most `MAX_SWEEP_KEYS` keys at a time) and deletes the rest. The grace period keeps an
//! object whose upload is still on its way to the origin. So no orphan outlives its grace
//! period by more than the sweep's interval (one hour fifteen minutes with the defaults). An
//! origin that cannot answer deletes nothing: a key is only deleted on the origin's word.

use api::images::{ImageKeys, MAX_SWEEP_KEYS};
use uuid::Uuid;
use worker::{Bucket, Env, Method, Request, Result};

use super::bucket::BUCKET;
use crate::{
    clock::now_ms,
    forward,
    origin_calls::{self, OriginPolicy},
    request_id,
    route::RouteClass,
    settings,
    trace_context::TraceContext,
};

const GRACE_VAR: &str = "IMAGE_ORPHAN_GRACE_SECONDS";
const DEFAULT_GRACE_SECONDS: u64 = 3_600;

/// Deletes every shop's orphans older than the grace period; answers how many it deleted.
pub async fn sweep(env: &Env) -> Result<usize> {
    let bucket = env.bucket(BUCKET)?;
    let grace_ms = settings::number_var(env, GRACE_VAR, DEFAULT_GRACE_SECONDS) * 1_000;
    let older_than = now_ms().saturating_sub(grace_ms);
    let mut deleted = 0;
    for prefix in shop_prefixes(&bucket).await? {
        let Ok(org_id) = Uuid::parse_str(prefix.trim_end_matches('/')) else {
            continue;
        };
        deleted += sweep_shop(env, &bucket, org_id, older_than).await?;
    }
    Ok(deleted)
}

/// Every `{org_id}/` the bucket holds objects under.
async fn shop_prefixes(bucket: &Bucket) -> Result<Vec<String>> {
    let mut prefixes = Vec::new();
    let mut cursor = None;
    loop {
        let mut list = bucket.list().delimiter("/");
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list.execute().await?;
        prefixes.extend(page.delimited_prefixes());
        match page.cursor().filter(|_| page.truncated()) {
            Some(next) => cursor = Some(next),
            None => return Ok(prefixes),
        }
    }
}

/// Deletes `org_id`'s objects stored before `older_than` (ms) that the origin says no picture
/// names, a page of keys at a time.
async fn sweep_shop(env: &Env, bucket: &Bucket, org_id: Uuid, older_than: u64) -> Result<usize> {
    let mut deleted = 0;
    let mut cursor = None;
    loop {
        let mut list = bucket
            .list()
            .prefix(format!("{org_id}/"))
            .limit(u32::try_from(MAX_SWEEP_KEYS).unwrap_or(1_000));
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list.execute().await?;
        let old: Vec<String> = page
            .objects()
            .iter()
            .filter(|object| object.uploaded().as_millis() < older_than)
            .map(worker::Object::key)
            .collect();
        if !old.is_empty() {
            let Some(referenced) = referenced(env, org_id, &old).await else {
                return Ok(deleted);
            };
            let orphans: Vec<String> = old
                .into_iter()
                .filter(|key| !referenced.contains(key))
                .collect();
            if !orphans.is_empty() {
                deleted += orphans.len();
                bucket.delete_multiple(orphans).await?;
            }
        }
        match page.cursor().filter(|_| page.truncated()) {
            Some(next) => cursor = Some(next),
            None => return Ok(deleted),
        }
    }
}

/// The proved question to the origin, with `body` (the keys) for `org_id`.
fn sweep_request(
    env: &Env,
    org_id: Uuid,
    body: &[u8],
    request_id: &str,
    trace: &TraceContext,
) -> Result<Request> {
    let headers = forward::edge_headers(request_id, trace)?;
    headers.set("content-type", "application/json")?;
    let url = forward::tenant_url(env, org_id, api::routes::EDGE_IMAGE_KEYS)?;
    forward::signed(env, Method::Post, &url, headers, body)
}

/// Which of `keys` the shop's pictures name, by the origin's word; `None` when it gave none.
async fn referenced(env: &Env, org_id: Uuid, keys: &[String]) -> Option<Vec<String>> {
    let request_id = request_id::mint();
    let trace = TraceContext::start();
    let body = serde_json::to_vec(&ImageKeys {
        keys: keys.to_vec(),
    })
    .ok()?;
    let request = match sweep_request(env, org_id, &body, &request_id, &trace) {
        Ok(request) => request,
        Err(err) => {
            worker::console_error!("image sweep {request_id} of {org_id} not asked: {err}");
            return None;
        }
    };
    let policy = OriginPolicy::from_env(env);
    let deadline = policy.deadlines.of(RouteClass::Write);
    let answered = origin_calls::call(
        &policy.breaker,
        request,
        deadline,
        |mut response| async move {
            if response.status_code() != 200 {
                return Err(worker::Error::RustError(format!(
                    "origin said {}",
                    response.status_code()
                )));
            }
            response.json::<ImageKeys>().await
        },
    )
    .await;
    match answered {
        Ok(referenced) => Some(referenced.keys),
        Err(failure) => {
            worker::console_error!("image sweep {request_id} of {org_id}: {failure:?}");
            None
        }
    }
}
