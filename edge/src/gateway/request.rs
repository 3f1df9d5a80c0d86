//! Steps 1-3: what a request is, settled before anything admits it: its body (capped), its
//! route and shop, its caller, and an inventory read's canonical form. Each is refused here
//! when it cannot be served at all.

use api::{
    token::{Role, VerifiedToken},
    ProblemKind,
};
use uuid::Uuid;
use worker::{Env, Method, Request, Result, Url};

use super::refusals::refuse;
use crate::{
    auth, body, edge_secret, forward, images,
    inventory_read::{self, InventoryRead},
    origin_calls::{Budget, OriginPolicy},
    pages,
    purchases::Buy,
    rate_limit::{Audience, Client},
    respond::Answer,
    route::Route,
    tenant::{self, Site},
    trace_context::TraceContext,
};

/// Who is asking for what, settled before the request is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
}

impl<'a> Identity<'a> {
    /// The request on whose behalf the edge asks the origin about a host.
    pub fn asking(&self) -> tenant::Asking<'a> {
        tenant::Asking {
            request_id: self.request_id,
            trace: self.trace,
        }
    }
}

/// A request the edge will serve, with what it learnt on the way.
#[derive(Debug)]
pub struct Settled {
    pub body: Vec<u8>,
    /// The path after `/api/`.
    pub api_path: String,
    pub method: Method,
    pub url: Url,
    pub host: String,
    pub org_id: Uuid,
    /// The verified token, when the route needs one.
    pub caller: Option<VerifiedToken>,
    /// A shopper's token on a public read: it says whose budgets the read spends, and whose
    /// write position it may insist on.
    pub signed_in: Option<VerifiedToken>,
    pub audience: Audience,
    pub client: Client,
    pub policy: OriginPolicy,
    /// The request's one deadline for its calls to the origin.
    pub budget: Budget,
    /// An inventory read in its canonical form: what it is cached under and forwarded as.
    pub inventory_read: Option<InventoryRead>,
    /// A purchase, until it is sent.
    pub buy: Option<Buy>,
    /// The item a purchase names, whose cached answers a sale makes stale.
    pub bought_item: Option<Uuid>,
}

impl Settled {
    pub fn route(&self) -> Route<'_> {
        Route {
            method: &self.method,
            api_path: &self.api_path,
        }
    }

    /// Steps 1-3, or the answer that ends the request there (a page is served from here too).
    pub async fn settle(
        req: &mut Request,
        env: &Env,
        id: Identity<'_>,
    ) -> Result<std::result::Result<Self, Answer>> {
        let (request_id, asking) = (id.request_id, id.asking());
        let path = req.path();
        let method = req.method();
        let (body, upload) = match capped_body(req, &path, &method, request_id).await? {
            Ok(read) => read,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Some(name) = path.strip_prefix(api::images::IMAGE_PATH_PREFIX) {
            return images::serve(req, env, name, asking).await.map(Err);
        }
        let Some(api_path) = path.strip_prefix("/api/") else {
            return Ok(Err(outside_api(req, env, asking, &path).await?));
        };
        if let Some(detail) = misconfiguration(env) {
            return refuse(ProblemKind::Misconfigured, detail, request_id).map(Err);
        }
        if Route::is_origin_only(api_path) {
            return refuse(ProblemKind::NotFound, "no such route", request_id).map(Err);
        }
        let host = tenant::request_host(req);
        let org_id = match shop_of(req, env, asking, &host).await? {
            Ok(org_id) => org_id,
            Err(answer) => return Ok(Err(answer)),
        };
        let access = auth::Access::of(&method, api_path);
        let caller = match auth::authorize(req, env, org_id, access).await {
            Ok(caller) => caller,
            Err(refusal) => return refuse(refusal.kind, &refusal.detail, request_id).map(Err),
        };
        let route = Route {
            method: &method,
            api_path,
        };
        // Every public route counts its caller as who they are: a signed-in shopper reading the
        // shop's profile or its sales status spends the shoppers' budget, not the anonymous one.
        let signed_in = match &caller {
            None if access == auth::Access::Public => auth::signed_in(req, env, org_id).await,
            _ => None,
        };
        let url = req.url()?;
        let inventory_read = match inventory_read(&route, &url, env, org_id) {
            Ok(read) => read,
            Err(detail) => {
                return refuse(ProblemKind::MalformedRequest, &detail, request_id).map(Err)
            }
        };
        let claims = caller.as_ref().or(signed_in.as_ref()).map(|v| &v.claims);
        // The shop's admin is an admin wherever they are: the console's item list and the
        // shop's profile spend the admin's own quota, not a ceiling shoppers can fill.
        let admin = access == auth::Access::Admin
            || claims.is_some_and(|claims| claims.app_metadata.role == Role::Admin);
        let audience = if upload {
            Audience::Uploader
        } else {
            Audience::of(admin, claims.is_some())
        };
        let client = Client::of(claims, audience, req);
        let policy = OriginPolicy::from_env(env);
        let budget = policy.deadlines.budget(route.class());
        let subject = caller.as_ref().map(|verified| verified.claims.sub.as_str());
        let buy = route
            .is_purchase()
            .then(|| Buy::new(&host, org_id, req, &body, subject));
        let bought_item = buy.as_ref().and_then(Buy::item_id);
        Ok(Ok(Self {
            api_path: api_path.to_owned(),
            body,
            method,
            url,
            host,
            org_id,
            caller,
            signed_in,
            audience,
            client,
            policy,
            budget,
            inventory_read,
            buy,
            bought_item,
        }))
    }
}

/// A request outside `/api/`: a pending claim's challenge, or a page.
async fn outside_api(
    req: &Request,
    env: &Env,
    asking: tenant::Asking<'_>,
    path: &str,
) -> Result<Answer> {
    let response = if tenant::is_challenge_path(path) {
        tenant::answer_challenge(req, env, asking).await?
    } else {
        pages::serve(req, env, asking).await?
    };
    Ok(response.into())
}

/// The shop whose API `host` serves, or the refusal: a live shop's API is served on every one
/// of its hosts (a `301` would lose a body).
async fn shop_of(
    req: &Request,
    env: &Env,
    asking: tenant::Asking<'_>,
    host: &str,
) -> Result<std::result::Result<Uuid, Answer>> {
    let request_id = asking.request_id;
    match tenant::site(req, env, asking).await {
        Site::Shop { org_id, .. } => Ok(Ok(org_id)),
        Site::Unknown => {
            let detail = format!("no shop is served on {host}");
            refuse(ProblemKind::UnknownShop, &detail, request_id).map(Err)
        }
        Site::OverBudget(retry) => Ok(Err(tenant::over_budget(request_id, retry)?.into())),
    }
}

/// Step 1: the body, capped by what the route may carry (a picture upload's 10 MB, else the
/// API's 16 KiB), and whether it is a picture upload; or the `413` that ends the request.
async fn capped_body(
    req: &mut Request,
    path: &str,
    method: &Method,
    request_id: &str,
) -> Result<std::result::Result<(Vec<u8>, bool), Answer>> {
    let upload = path
        .strip_prefix("/api/")
        .is_some_and(|api_path| Route { method, api_path }.is_image_upload());
    let cap = if upload {
        api::images::MAX_IMAGE_BYTES
    } else {
        body::MAX_BODY_BYTES
    };
    match body::read_capped(req, cap).await? {
        Some(body) => Ok(Ok((body, upload))),
        None => {
            let detail = format!("the request body is larger than {cap} bytes");
            refuse(ProblemKind::PayloadTooLarge, &detail, request_id).map(Err)
        }
    }
}

/// Why this Worker may not serve the API at all, if it may not: a secret too weak to trust, or
/// an origin it would reach in the clear.
fn misconfiguration(env: &Env) -> Option<&'static str> {
    if edge_secret::keys(env).is_err() {
        return Some(
            "the edge's shared secret is too weak to trust; its operator must set a strong \
             EDGE_SHARED_SECRET",
        );
    }
    if !forward::origin_url_is_private(env) {
        return Some(
            "the edge would reach its origin in the clear; its operator must set an https:// \
             ORIGIN_URL",
        );
    }
    None
}

/// An inventory read's canonical form, or why its query is malformed; `None` for any other
/// route.
fn inventory_read(
    route: &Route<'_>,
    url: &Url,
    env: &Env,
    org_id: Uuid,
) -> std::result::Result<Option<InventoryRead>, String> {
    if !route.is_cacheable() {
        return Ok(None);
    }
    let pairs = url
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()));
    let cursors = inventory_read::cursors(env);
    InventoryRead::parse(route.api_path, pairs, &cursors, org_id).map(Some)
}
