//! The `RateLimit-Policy` and `RateLimit` fields of the IETF draft httpapi-ratelimit-headers,
//! for example `RateLimit-Policy: "write";q=30;w=60` and `RateLimit: "write";r=29;t=60`; a
//! shop's ceiling is named `"shop-read"` (anonymous reads), `"shop-signed-in-read"` or
//! `"shop-write"`, an admin's own quota `"admin-read"` or `"admin-write"`, an admin's picture
//! uploads `"upload"`. Both are HTTP structured fields
//! (RFC 9651), written with `sfv`.

use serde::{Deserialize, Serialize};
use sfv::{key_ref, string_ref, Integer, ItemSerializer};

use super::policy::Quota;
use crate::route::RouteClass;

/// Whose quota: one client's, one admin's, or a ceiling across the shop's anonymous clients
/// (`Shop`) or its signed-in shoppers (`SignedIn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Client,
    Admin,
    Shop,
    SignedIn,
    /// One admin's picture uploads: a budget of their own, so pictures cannot spend the
    /// admin's (or the sale's).
    Upload,
}

impl Scope {
    /// Whether the quota is one holder's (a client's or an admin's), not shop-wide.
    pub fn is_holders_own(self) -> bool {
        matches!(self, Self::Client | Self::Admin | Self::Upload)
    }
}

/// Where a request stands against one quota after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub scope: Scope,
    pub class: RouteClass,
    pub quota: Quota,
    pub remaining: u32,
    /// Whole seconds until a slot frees up (or the cooldown ends), at least 1 when refused.
    pub reset_seconds: u64,
}

impl Standing {
    /// The policy's name in both fields, e.g. `read` or `shop-write`.
    pub fn policy_name(&self) -> &'static str {
        match (self.scope, self.class) {
            (Scope::Client, class) => class.name(),
            (Scope::Admin, RouteClass::Read) => "admin-read",
            (Scope::Admin, RouteClass::Write) => "admin-write",
            (Scope::Shop, RouteClass::Read) => "shop-read",
            (Scope::Shop, RouteClass::Write) => "shop-write",
            (Scope::SignedIn, _) => "shop-signed-in-read",
            (Scope::Upload, _) => "upload",
        }
    }

    pub fn policy_field(&self) -> String {
        ItemSerializer::new()
            .bare_item(string_ref(self.policy_name()))
            .parameter(key_ref("q"), Integer::from(self.quota.limit))
            .parameter(key_ref("w"), Integer::from(self.quota.window_seconds))
            .finish()
    }

    pub fn ratelimit_field(&self) -> String {
        let reset = Integer::try_from(self.reset_seconds).unwrap_or(Integer::MAX);
        ItemSerializer::new()
            .bare_item(string_ref(self.policy_name()))
            .parameter(key_ref("r"), Integer::from(self.remaining))
            .parameter(key_ref("t"), reset)
            .finish()
    }
}

/// Milliseconds to the whole seconds a client should wait: rounded up, so a client that waits
/// as told is never early.
pub fn whole_seconds(ms: u64) -> u64 {
    ms.div_ceil(1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_draft() {
        let mut standing = Standing {
            scope: Scope::Client,
            class: RouteClass::Write,
            quota: Quota {
                limit: 30,
                window_seconds: 60,
            },
            remaining: 29,
            reset_seconds: 60,
        };
        assert_eq!(standing.policy_field(), r#""write";q=30;w=60"#);
        assert_eq!(standing.ratelimit_field(), r#""write";r=29;t=60"#);
        standing.scope = Scope::Shop;
        assert_eq!(standing.policy_field(), r#""shop-write";q=30;w=60"#);
        assert_eq!(whole_seconds(1), 1);
        assert_eq!(whole_seconds(1_000), 1);
        assert_eq!(whole_seconds(1_001), 2);
    }
}
