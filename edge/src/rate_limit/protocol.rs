//! What the Worker asks the limiter object and what it answers. The Worker sends the quota
//! with every check, so the object needs no configuration of its own and a changed KV entry
//! takes effect on the next request.

use serde::{Deserialize, Serialize};

use super::policy::{Cooldown, Quota};
use crate::route::RouteClass;

/// The path the Worker posts checks to (the host part of a stub URL is ignored).
pub const CHECK_URL: &str = "https://rate-limiter/check";

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CheckRequest {
    pub class: RouteClass,
    pub quota: Quota,
    pub cooldown: Cooldown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub admitted: bool,
    /// Requests still admitted in the current window, after this one.
    pub remaining: u32,
    /// Milliseconds until a slot frees up (or the cooldown ends).
    pub reset_ms: u64,
    /// The client is in a cooldown that ends in `reset_ms`.
    pub cooling_down: bool,
}
