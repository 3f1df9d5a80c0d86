//! The pages the Worker serves on every shop domain: the storefront a shopper sees at `/`
//! (`edge/storefront/`: `/`, `/app.js`, `/style.css`) and the admin console at `/admin`
//! (`edge/admin/`: `/admin`, `/admin/console.js`, `/admin/console.css`), each a page, a script
//! and a stylesheet. What both pages do and look like alike is written once in `edge/shared/`:
//! `/shared/common.js` (sign-in from the link's fragment, the event-stream reader, writes retried
//! with one Idempotency-Key, ...) and `/shared/common.css` (palette, frame, notices, buttons),
//! which each page loads before its own script and stylesheet.
//!
//! The files are the same for every shop: the pages ask the API for everything shop-specific
//! (the console only with an admin token). They are Workers Static Assets (`[assets]` in
//! wrangler.toml, the directory `scripts/build-edge` lays out, minified, in `edge/build/assets/`), not
//! strings inside the wasm: a Worker's size is what it costs to start, and the pages were a
//! fifth of it. The Worker still runs first for every request (`run_worker_first`), so a page
//! is served only on a known shop domain (an unknown host still gets `404`), only at the paths
//! below, and with the same headers as the API: it fetches the file through the `ASSETS`
//! binding, which answers the content's ETag and the `304` of a revalidation, and adds the
//! rest. Browsers and the CDN may keep a file for a minute, then revalidate (a `304` costs a
//! few bytes). Both pages run under the same strict Content Security Policy: scripts and
//! stylesheets from the shop's own domain (theirs and the shared ones), their own API, and
//! pictures from the shop's own domain, nothing else.

use api::{headers, ProblemKind};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

use crate::{
    forward,
    problem::problem_response,
    tenant::{self, Site},
};

/// How long browsers and the CDN may reuse an asset before revalidating it.
const MAX_AGE_SECONDS: u32 = 60;

/// A page may load only scripts and stylesheets of its own domain, and its own API: a token in
/// `sessionStorage` is worth protecting from injected scripts (an admin's most of all).
/// Pictures come from the shop's own domain (`/images/...`).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The name of the static assets' binding (wrangler.toml `[assets] binding`).
const ASSETS_BINDING: &str = "ASSETS";

/// One file of a page: the path it is served at, the file among the static assets, and the
/// content type it is served with.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub file: &'static str,
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const fn asset(path: &'static str, file: &'static str, content_type: &'static str) -> Asset {
    Asset {
        path,
        file,
        content_type,
    }
}

/// Every file served, the storefront's, the console's and the shared ones, as
/// `scripts/build-edge` lays them out.
pub static ASSETS: [Asset; 8] = [
    asset("/", "/index.html", HTML),
    asset("/app.js", "/app.js", JAVASCRIPT),
    asset("/style.css", "/style.css", CSS),
    asset("/admin", "/admin/index.html", HTML),
    asset("/admin/console.js", "/admin/console.js", JAVASCRIPT),
    asset("/admin/console.css", "/admin/console.css", CSS),
    asset("/shared/common.js", "/shared/common.js", JAVASCRIPT),
    asset("/shared/common.css", "/shared/common.css", CSS),
];

/// The asset served at `path`, if any.
pub fn asset_at(path: &str) -> Option<&'static Asset> {
    let path = match path {
        "/index.html" => "/",
        "/admin/" | "/admin/index.html" => "/admin",
        path => path,
    };
    ASSETS.iter().find(|asset| asset.path == path)
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
    let stored = fetch_asset(env, asset, req.headers().get("if-none-match")?).await?;
    if !matches!(stored.status_code(), 200 | 304) {
        worker::console_error!(
            "request {request_id}: the static asset {} answered {}",
            asset.file,
            stored.status_code()
        );
        return problem_response(ProblemKind::Internal, "the page is missing", request_id);
    }
    let etag = stored.headers().get("etag")?.unwrap_or_default();
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
    Ok(if stored.status_code() == 304 {
        builder.with_status(304).empty()
    } else if method == Method::Head {
        builder.empty()
    } else {
        let mut stored = stored;
        builder.fixed(stored.bytes().await?)
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

/// `asset`'s file from the static assets, revalidated against the client's `If-None-Match`.
async fn fetch_asset(env: &Env, asset: &Asset, if_none_match: Option<String>) -> Result<Response> {
    let headers = Headers::new();
    if let Some(tags) = if_none_match {
        headers.set("if-none-match", &tags)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    // The host is not looked at: the binding serves the one directory of this Worker.
    let url = format!("https://assets.invalid{}", asset.file);
    let request = Request::new_with_init(&url, &init)?;
    env.assets(ASSETS_BINDING)?.fetch_request(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files as the browser gets them (the tests read the sources the build copies).
    fn source(asset: &Asset) -> &'static str {
        match asset.path {
            "/" => include_str!("../storefront/index.html"),
            "/app.js" => include_str!("../storefront/app.js"),
            "/style.css" => include_str!("../storefront/style.css"),
            "/admin" => include_str!("../admin/index.html"),
            "/admin/console.js" => include_str!("../admin/console.js"),
            "/admin/console.css" => include_str!("../admin/console.css"),
            "/shared/common.js" => include_str!("../shared/common.js"),
            "/shared/common.css" => include_str!("../shared/common.css"),
            other => panic!("no source for {other}"),
        }
    }

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
        assert!(served("/admin/index.html/").is_none());
    }

    #[test]
    fn each_page_loads_the_shared_files_before_its_own() {
        for (page, script, stylesheet) in [
            (&ASSETS[0], "/app.js", "/style.css"),
            (&ASSETS[3], "/admin/console.js", "/admin/console.css"),
        ] {
            let body = source(page);
            let at = |needle: &str| body.find(needle);
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
}
