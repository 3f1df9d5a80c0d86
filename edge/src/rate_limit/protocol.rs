//! What the Worker asks the limiter object and what it answers. The Worker sends the quotas
//! with every check, so the object needs no configuration of its own and a changed KV entry
//! takes effect on the next request.

use serde::{Deserialize, Serialize};

use super::{
    fields::Scope,
    policy::{Cooldown, Quota},
};
use crate::route::RouteClass;

/// The path the Worker posts checks to (the host part of a stub URL is ignored).
pub const CHECK_URL: &str = "https://rate-limiter/check";
/// The path that answers the object's own request counts. The Worker never sends a request
/// there, and nothing from outside reaches an object except through the Worker, so only
/// whoever holds the binding directly (the test harness) can read it.
pub const STATS_PATH: &str = "/stats";

/// One request to decide against one or more logs, all of which must admit it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRequest {
    pub class: RouteClass,
    pub checks: Vec<QuotaCheck>,
}

/// One log to check: a client's or an admin's, or one of the shop's ceilings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotaCheck {
    pub scope: Scope,
    /// The client's (or admin's) key; `None` for a ceiling.
    pub client: Option<String>,
    pub quota: Quota,
    pub cooldown: Cooldown,
    /// Admissions the isolate made on its own since it last reported: logged before deciding.
    pub admitted_locally: u32,
    /// Admissions given back since the isolate last reported (reads that found nothing, see
    /// `found_nothing`): taken off the log before deciding.
    pub given_back: u32,
}

impl QuotaCheck {
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Whose log this is in the object's storage: the client's key, or the ceiling's name.
    pub fn holder(&self) -> &str {
        match (&self.client, self.scope) {
            (Some(client), _) => client,
            (None, Scope::SignedIn) => "shop-signed-in",
            (None, _) => "shop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub admitted: bool,
    /// Whose quota the rest describes: the first check's when admitted, else the refusing one's.
    pub scope: Scope,
    /// Requests still admitted in the current window, after this one.
    pub remaining: u32,
    /// Milliseconds until a slot frees up (or the cooldown ends).
    pub reset_ms: u64,
    /// The client is in a cooldown that ends in `reset_ms`.
    pub cooling_down: bool,
}

/// What the object has served since it was last loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub checks: u64,
    pub alarms: u64,
}
