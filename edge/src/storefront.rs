//! The storefront: the page a shopper sees at `/` on a shop's domain, plus its script and
//! stylesheet (`edge/storefront/`).
//!
//! The three files are the same for every shop: the page asks `/api/shop` and `/api/inventory`
//! for everything shop-specific. So they are compiled into the Worker and answered without an
//! origin round trip, and browsers and the CDN may keep them for a minute and then revalidate
//! with the ETag (a `304` costs a few bytes). They are served only on known shop domains, like
//! the API, so an unknown host still gets `404`.

use api::{headers, ProblemKind};
use worker::{Env, Method, Request, Response, Result};

use crate::{problem::problem_response, tenant};

/// How long browsers and the CDN may reuse an asset before revalidating it.
const MAX_AGE_SECONDS: u32 = 60;

/// The page may load only its own script, stylesheet and API: a token in `sessionStorage` is
/// worth protecting from injected scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of the storefront.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    etag: u64,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static str) -> Self {
        Self {
            path,
            content_type,
            body,
            etag: fnv1a(body.as_bytes()),
        }
    }

    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.etag)
    }
}

pub static ASSETS: [Asset; 3] = [
    Asset::new(
        "/",
        "text/html; charset=utf-8",
        include_str!("../storefront/index.html"),
    ),
    Asset::new(
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../storefront/app.js"),
    ),
    Asset::new(
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../storefront/style.css"),
    ),
];

/// The asset served at `path`, if any.
pub fn asset_at(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|asset| asset.path == path)
}

/// True when an `If-None-Match` header names `etag` (or `*`); weak validators match too.
pub fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// Answers a request outside `/api/`: a storefront file on a shop's domain, or `404`.
pub async fn serve(req: &Request, env: &Env, request_id: &str) -> Result<Response> {
    let method = req.method();
    let asset = asset_at(&req.path()).filter(|_| matches!(method, Method::Get | Method::Head));
    let Some(asset) = asset else {
        return problem_response(ProblemKind::NotFound, "no such route", request_id);
    };
    let host = tenant::request_host(req);
    if tenant::org_for_host(env, &host).await?.is_none() {
        let detail = format!("no shop is served on {host}");
        return problem_response(ProblemKind::UnknownShop, &detail, request_id);
    }
    let etag = asset.etag();
    let revalidated = req
        .headers()
        .get("if-none-match")?
        .is_some_and(|tags| not_modified(&tags, &etag));
    let builder = Response::builder()
        .with_header("content-type", asset.content_type)?
        .with_header(
            "cache-control",
            &format!("public, max-age={MAX_AGE_SECONDS}"),
        )?
        .with_header("etag", &etag)?
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)?
        .with_header("x-content-type-options", "nosniff")?
        .with_header("referrer-policy", "no-referrer")?
        .with_header(headers::REQUEST_ID, request_id)?;
    Ok(if revalidated {
        builder.with_status(304).empty()
    } else if method == Method::Head {
        builder.empty()
    } else {
        builder.fixed(asset.body.as_bytes().to_vec())
    })
}

/// FNV-1a, 64 bits: a content hash the compiler can work out, so each ETag is a constant.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_script_and_stylesheet_are_served_and_nothing_else() {
        assert_eq!(asset_at("/").map(|a| a.path), Some("/"));
        assert_eq!(asset_at("/index.html").map(|a| a.path), Some("/"));
        assert_eq!(asset_at("/app.js").map(|a| a.path), Some("/app.js"));
        assert_eq!(asset_at("/style.css").map(|a| a.path), Some("/style.css"));
        assert!(asset_at("/admin").is_none());
        assert!(asset_at("/app.js/").is_none());
    }

    #[test]
    fn the_storefront_stays_small() {
        let total: usize = ASSETS.iter().map(|a| a.body.len()).sum();
        assert!(total < 50 * 1024, "storefront is {total} bytes");
    }

    #[test]
    fn etags_follow_the_content() {
        assert_ne!(ASSETS[0].etag(), ASSETS[1].etag());
        assert_eq!(ASSETS[0].etag(), Asset::new("/", "", ASSETS[0].body).etag());
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"00ff\"";
        assert!(not_modified("\"00ff\"", etag));
        assert!(not_modified("\"1\", W/\"00ff\"", etag));
        assert!(not_modified("*", etag));
        assert!(!not_modified("\"1\"", etag));
    }
}
