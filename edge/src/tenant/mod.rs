//! Which shop a request is for: its host, normalised (`host`), looked up in the isolate, the
//! `TENANT_DOMAINS` KV namespace and at last the origin, which holds the truth (`lookup`).
//!
//! A host is one of: a live shop's (served; its pages answer `301` to the shop's primary
//! domain when it is not that domain), a pending claim's (only its HTTP challenge is answered,
//! `challenge`), or nothing (`404 unknown-shop`). A client that makes the edge ask about too
//! many hosts it knows nothing of is refused with `429` (`lookup_budget`). The bounds are in
//! `policy` and `docs/edge.md`.

mod asking;
mod challenge;
mod host;
mod lookup;
mod lookup_budget;
mod policy;
mod record;

use uuid::Uuid;
use worker::{Env, Request};

pub use asking::Asking;
pub use challenge::{answer_challenge, is_challenge_path, over_budget};
pub use host::request_host;

use crate::rate_limit::{Audience, Client};
use lookup::{Found, Question};

/// What a host serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// A live shop; `primary` names the shop's primary domain when this host is not it.
    Shop {
        org_id: Uuid,
        primary: Option<String>,
    },
    /// No shop (a pending claim serves nothing but its challenge).
    Unknown,
    /// The client spent its lookups of unknown hosts: try again in this many seconds.
    OverBudget(u64),
}

/// Forgets what this isolate knows of the shop's hosts after its owner changed them through
/// this isolate (`PUT`/`POST`/`DELETE` under `admin/domains`), so the change shows at once here;
/// elsewhere within the cache bounds.
pub async fn forget_domains(env: &Env, org_id: Uuid, api_path: &str) {
    let named = api_path
        .strip_prefix(api::routes::ADMIN_DOMAINS)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split('/').next())
        .map(host::normalise);
    lookup::forget(env, named.as_deref(), org_id).await;
}

/// What `req`'s host serves.
pub async fn site(req: &Request, env: &Env, asking: Asking<'_>) -> Site {
    let host = request_host(req);
    if !host::is_hostname(&host) {
        return Site::Unknown;
    }
    let client = Client::of(None, Audience::Anonymous, req);
    let question = Question {
        host: &host,
        client: &client,
        asking,
        afresh: false,
    };
    match lookup::find(env, question).await {
        Found::OverBudget(retry) => Site::OverBudget(retry),
        Found::Record(record) => match record.lookup.org_id {
            Some(org_id) => Site::Shop {
                org_id,
                primary: record.lookup.primary.filter(|primary| *primary != host),
            },
            None => Site::Unknown,
        },
    }
}
