//! The pages the Worker serves itself on every shop domain: the storefront a shopper sees at
//! `/` (`edge/storefront/`: `/`, `/app.js`, `/style.css`) and the admin console at `/admin`
//! (`edge/admin/`: `/admin`, `/admin/console.js`, `/admin/console.css`), each a page, a script
//! and a stylesheet. What both pages do and look like alike is written once in `edge/shared/`:
//! `/shared/common.js` (sign-in from the link's fragment, the event-stream reader, writes retried
//! with one Idempotency-Key, ...) and `/shared/common.css` (palette, frame, notices, buttons),
//! which each page loads before its own script and stylesheet.
//!
//! The files are the same for every shop: the pages ask the API for everything shop-specific
//! (the console only with an admin token). So they are compiled into the Worker and answered
//! without an origin round trip, and browsers and the CDN may keep them for a minute and then
//! revalidate with the ETag (a `304` costs a few bytes). They are served only on known shop
//! domains, like the API, so an unknown host still gets `404`. Both pages run under the same
//! strict Content Security Policy: scripts and stylesheets from the shop's own domain (theirs
//! and the shared ones), their own API, nothing else.

use api::{headers, ProblemKind};
use worker::{Env, Method, Request, Response, Result};

use crate::{
    forward,
    problem::problem_response,
    tenant::{self, Site},
};

/// How long browsers and the CDN may reuse an asset before revalidating it.
const MAX_AGE_SECONDS: u32 = 60;

/// A page may load only scripts and stylesheets of its own domain, and its own API: a token in
/// `sessionStorage` is worth protecting from injected scripts (an admin's most of all).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of a page.
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

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The storefront's files.
pub static STOREFRONT: [Asset; 3] = [
    Asset::new("/", HTML, include_str!("../storefront/index.html")),
    Asset::new("/app.js", JAVASCRIPT, include_str!("../storefront/app.js")),
    Asset::new("/style.css", CSS, include_str!("../storefront/style.css")),
];

/// The admin console's files.
pub static CONSOLE: [Asset; 3] = [
    Asset::new("/admin", HTML, include_str!("../admin/index.html")),
    Asset::new(
        "/admin/console.js",
        JAVASCRIPT,
        include_str!("../admin/console.js"),
    ),
    Asset::new(
        "/admin/console.css",
        CSS,
        include_str!("../admin/console.css"),
    ),
];

/// The script and stylesheet both pages load before their own.
pub static SHARED: [Asset; 2] = [
    Asset::new(
        "/shared/common.js",
        JAVASCRIPT,
        include_str!("../shared/common.js"),
    ),
    Asset::new(
        "/shared/common.css",
        CSS,
        include_str!("../shared/common.css"),
    ),
];

/// The asset served at `path`, if any.
pub fn asset_at(path: &str) -> Option<&'static Asset> {
    let path = match path {
        "/index.html" => "/",
        "/admin/" | "/admin/index.html" => "/admin",
        path => path,
    };
    STOREFRONT
        .iter()
        .chain(CONSOLE.iter())
        .chain(SHARED.iter())
        .find(|asset| asset.path == path)
}

/// True when an `If-None-Match` header names `etag` (or `*`); weak validators match too.
pub fn not_modified(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// Answers a request outside `/api/`: a page's file on a shop's domain, or `404`.
/// On a live shop's host that is not the shop's primary domain, the answer is `301` to the same
/// path on the primary.
pub async fn serve(req: &Request, env: &Env, asking: tenant::Asking<'_>) -> Result<Response> {
    let request_id = asking.request_id;
    let method = req.method();
    let asset = asset_at(&req.path()).filter(|_| matches!(method, Method::Get | Method::Head));
    let Some(asset) = asset else {
        return problem_response(ProblemKind::NotFound, "no such route", request_id);
    };
    match tenant::site(req, env, asking).await {
        Site::Shop { primary: None, .. } => {}
        Site::Shop {
            primary: Some(primary),
            ..
        } => return moved_to(req, env, &primary, request_id),
        Site::Unknown => {
            let host = tenant::request_host(req);
            let detail = format!("no shop is served on {host}");
            return problem_response(ProblemKind::UnknownShop, &detail, request_id);
        }
        Site::OverBudget(retry) => return tenant::over_budget(request_id, retry),
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

/// `301` to the request's path and query on `primary`: over https, or in development (a
/// Worker whose origin is on loopback) over the request's own scheme and port.
fn moved_to(req: &Request, env: &Env, primary: &str, request_id: &str) -> Result<Response> {
    let url = req.url()?;
    let development = !forward::origin_is_remote(env);
    let (scheme, port) = if development {
        let host = req.headers().get("host")?.unwrap_or_default();
        let port = host
            .rsplit_once(':')
            .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            .map(|(_, port)| format!(":{port}"));
        (url.scheme().to_owned(), port.unwrap_or_default())
    } else {
        ("https".to_owned(), String::new())
    };
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let location = format!("{scheme}://{primary}{port}{}{query}", url.path());
    let fields = worker::Headers::new();
    fields.set("location", &location)?;
    // The owner may choose another primary tomorrow: browsers must not keep this one.
    fields.set("cache-control", "no-store")?;
    fields.set(headers::REQUEST_ID, request_id)?;
    Ok(Response::empty()?.with_status(301).with_headers(fields))
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
    fn each_page_script_and_stylesheet_is_served_and_nothing_else() {
        let served = |path| asset_at(path).map(|a| a.path);
        assert_eq!(served("/"), Some("/"));
        assert_eq!(served("/index.html"), Some("/"));
        assert_eq!(served("/app.js"), Some("/app.js"));
        assert_eq!(served("/style.css"), Some("/style.css"));
        assert_eq!(served("/admin"), Some("/admin"));
        assert_eq!(served("/admin/"), Some("/admin"));
        assert_eq!(served("/admin/console.js"), Some("/admin/console.js"));
        assert_eq!(served("/admin/console.css"), Some("/admin/console.css"));
        assert_eq!(served("/shared/common.js"), Some("/shared/common.js"));
        assert_eq!(served("/shared/common.css"), Some("/shared/common.css"));
        assert!(served("/app.js/").is_none());
        assert!(served("/admin/app.js").is_none());
        assert!(served("/admin/console.js/").is_none());
        assert!(served("/shared").is_none());
        assert!(served("/shared/").is_none());
        assert!(served("/admin/shared/common.js").is_none());
    }

    #[test]
    fn each_page_loads_the_shared_files_before_its_own() {
        for (page, script, stylesheet) in [
            (&STOREFRONT[0], "/app.js", "/style.css"),
            (&CONSOLE[0], "/admin/console.js", "/admin/console.css"),
        ] {
            let at = |needle: &str| page.body.find(needle);
            let link = |href: &str| format!(r#"<link rel="stylesheet" href="{href}">"#);
            let script_tag = |src: &str| format!(r#"<script src="{src}" defer></script>"#);
            let shared_css = at(&link("/shared/common.css")).expect("shared stylesheet");
            let own_css = at(&link(stylesheet)).expect("own stylesheet");
            let shared_js = at(&script_tag("/shared/common.js")).expect("shared script");
            let own_js = at(&script_tag(script)).expect("own script");
            assert!(shared_css < own_css, "{}", page.path);
            assert!(shared_js < own_js, "{}", page.path);
        }
    }

    #[test]
    fn each_page_stays_small() {
        let shared: usize = SHARED.iter().map(|a| a.body.len()).sum();
        for (name, files) in [("storefront", &STOREFRONT), ("console", &CONSOLE)] {
            let total = shared + files.iter().map(|a| a.body.len()).sum::<usize>();
            assert!(total < 64 * 1024, "the {name} is {total} bytes");
        }
    }

    #[test]
    fn etags_follow_the_content() {
        assert_ne!(STOREFRONT[0].etag(), STOREFRONT[1].etag());
        assert_ne!(STOREFRONT[0].etag(), CONSOLE[0].etag());
        let again = Asset::new("/", "", STOREFRONT[0].body);
        assert_eq!(STOREFRONT[0].etag(), again.etag());
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
