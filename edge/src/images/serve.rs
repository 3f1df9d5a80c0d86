//! `GET`/`HEAD /images/{sha256}.{ext}` on a shop's domain: a picture's bytes.
//!
//! The name is looked up under the host's shop only (`{org_id}/{name}` in the bucket), so the
//! URL of shop A's picture is `404` on shop B's domain, whatever B's admins know of it. The
//! content never changes under a name (it is the content's hash), so the answer is
//! `Cache-Control: public, max-age=31536000, immutable` and its ETag is the hash: a browser
//! keeps it for a year, and one that asks again with `If-None-Match` gets `304`. The Cache API
//! sits in front of R2, per shop: a second reader in the same data centre costs no R2 read
//! (`X-Edge-Cache: hit|miss` says which it was). The edge keeps its copy only
//! `IMAGE_EDGE_CACHE_SECONDS` (default an hour), not the browser's year: a removed picture's
//! object goes with the sweep, and its last edge copy at most that long after. `Content-Type` is the type the bytes showed at
//! upload, with `nosniff`, and a sandboxing Content Security Policy in case a browser is ever
//! talked into rendering one as a document.

use api::{headers, images, ProblemKind};
use worker::{Cache, Env, Headers, Method, Request, Response, Result};

use super::bucket::BUCKET;
use crate::{problem::problem_response, respond::Answer, settings, tenant};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const EDGE_CACHE_VAR: &str = "IMAGE_EDGE_CACHE_SECONDS";
const DEFAULT_EDGE_CACHE_SECONDS: u64 = 3_600;
const PICTURE_POLICY: &str = "default-src 'none'; sandbox";

/// Answers a request for `/images/{name}`.
pub async fn serve(
    req: &Request,
    env: &Env,
    name: &str,
    asking: tenant::Asking<'_>,
) -> Result<Answer> {
    let request_id = asking.request_id;
    if !matches!(req.method(), Method::Get | Method::Head) || !images::is_file_name(name) {
        return Ok(problem_response(ProblemKind::NotFound, "no such picture", request_id)?.into());
    }
    let host = tenant::request_host(req);
    let org_id = match tenant::site(req, env, asking).await {
        tenant::Site::Shop { org_id, .. } => org_id,
        tenant::Site::Unknown => {
            let detail = format!("no shop is served on {host}");
            return Ok(problem_response(ProblemKind::UnknownShop, &detail, request_id)?.into());
        }
        tenant::Site::OverBudget(retry) => {
            return Ok(tenant::over_budget(request_id, retry)?.into())
        }
    };
    let key = format!("{org_id}/{name}");
    let cache_url = format!("https://{host}/images-cache/{key}");
    let cache = Cache::default();
    let (mut response, source) = match cache.get(cache_url.as_str(), false).await? {
        Some(hit) => (hit, "hit"),
        None => {
            let Some(mut fresh) = from_bucket(env, &key, name).await? else {
                return Ok(
                    problem_response(ProblemKind::NotFound, "no such picture", request_id)?.into(),
                );
            };
            let seconds = settings::number_var(env, EDGE_CACHE_VAR, DEFAULT_EDGE_CACHE_SECONDS);
            let edge_copy =
                with_cache_control(fresh.cloned()?, &format!("public, max-age={seconds}"))?;
            cache.put(cache_url.as_str(), edge_copy).await?;
            (fresh, "miss")
        }
    };
    let etag = etag_of(name);
    let revalidated = req
        .headers()
        .get("if-none-match")?
        .is_some_and(|tags| names(&tags, &etag));
    if revalidated {
        response = Response::empty()?
            .with_status(304)
            .with_headers(picture_headers(&etag, None)?);
    }
    // A hit is the edge's own copy, kept an hour: shoppers are still told a year.
    Ok(Answer::from(response)
        .with("cache-control", IMMUTABLE)
        .with(headers::EDGE_CACHE, source)
        .with(headers::REQUEST_ID, request_id.to_owned()))
}

/// The picture stored under `key`, as it is served; `None` when there is none.
async fn from_bucket(env: &Env, key: &str, name: &str) -> Result<Option<Response>> {
    let Some(object) = env.bucket(BUCKET)?.get(key).execute().await? else {
        return Ok(None);
    };
    let content_type = object.http_metadata().content_type;
    let Some(body) = object.body() else {
        return Ok(None);
    };
    let bytes = body.bytes().await?;
    let headers = picture_headers(&etag_of(name), content_type.as_deref())?;
    Ok(Some(Response::from_bytes(bytes)?.with_headers(headers)))
}

fn picture_headers(etag: &str, content_type: Option<&str>) -> Result<Headers> {
    let headers = Headers::new();
    if let Some(content_type) = content_type {
        headers.set("content-type", content_type)?;
    }
    headers.set("cache-control", IMMUTABLE)?;
    headers.set("etag", etag)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("content-security-policy", PICTURE_POLICY)?;
    Ok(headers)
}

/// The edge's own copy of `response`: the same, kept as long as `cache_control` says (the
/// Cache API reads it) rather than the browser's year.
fn with_cache_control(response: Response, cache_control: &str) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value)?;
    }
    headers.set("cache-control", cache_control)?;
    Ok(response.with_headers(headers))
}

/// The strong validator of a picture: its content hash, the name without the extension.
fn etag_of(name: &str) -> String {
    let hash = name.split('.').next().unwrap_or_default();
    format!("\"{hash}\"")
}

/// True when an `If-None-Match` header names `etag` (or `*`); weak validators match too.
fn names(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"00ff\"";
        assert!(names("\"00ff\"", etag));
        assert!(names("\"1\", W/\"00ff\"", etag));
        assert!(names("*", etag));
        assert!(!names("\"1\"", etag));
        assert_eq!(etag_of("abc.webp"), "\"abc\"");
    }
}
