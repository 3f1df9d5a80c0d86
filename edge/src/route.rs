//! What the edge needs to know about a shop route before it forwards it: which rate-limit
//! class it counts against, whether its answer may be cached, and whether it is a purchase.

use api::routes;
use serde::{Deserialize, Serialize};
use worker::Method;

/// Rate-limit classes: reads are cheap and frequent, writes (purchases, admin changes) are
/// what a flash sale is made of and get their own, tighter quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteClass {
    Read,
    Write,
}

impl RouteClass {
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// A request to `/api/{api_path}` on a shop domain.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub method: &'a Method,
    pub api_path: &'a str,
}

impl Route<'_> {
    pub fn class(&self) -> RouteClass {
        if matches!(self.method, Method::Get | Method::Head) {
            RouteClass::Read
        } else {
            RouteClass::Write
        }
    }

    /// `GET /api/inventory` and `GET /api/inventory/{id}`: public, identical for every caller
    /// of a shop, so the edge may answer them from its cache. `HEAD` of the same is answered
    /// from the same entry, without the body: it costs no more than the `GET`.
    pub fn is_cacheable(&self) -> bool {
        matches!(self.method, Method::Get | Method::Head)
            && (routes::matches(routes::INVENTORY, self.api_path)
                || routes::matches(routes::INVENTORY_ITEM, self.api_path))
    }

    pub fn is_purchase(&self) -> bool {
        *self.method == Method::Post && routes::matches(routes::BUY, self.api_path)
    }

    /// `/api/edge/...`: the origin's routes for the edge's own reports, never a client's.
    pub fn is_origin_only(api_path: &str) -> bool {
        routes::is_under(routes::EDGE_SCOPE, api_path)
    }

    /// A write to the shop's items (creating, changing or removing one: a restock, or its
    /// pictures).
    pub fn is_item_write(&self) -> bool {
        self.class() == RouteClass::Write
            && [
                routes::ADMIN_ITEMS,
                routes::ADMIN_ITEM,
                routes::ADMIN_ITEM_IMAGES,
                routes::ADMIN_ITEM_IMAGE,
            ]
            .iter()
            .any(|route| routes::matches(route, self.api_path))
    }

    /// The item a write to one item names (`admin/items/{item_id}...`), if it names one.
    pub fn written_item(&self) -> Option<&str> {
        [
            routes::ADMIN_ITEM,
            routes::ADMIN_ITEM_IMAGES,
            routes::ADMIN_ITEM_IMAGE,
        ]
        .iter()
        .find_map(|route| routes::param(route, self.api_path))
    }

    /// `POST /api/admin/items/{item_id}/images`: a picture's bytes, which the edge stores.
    pub fn is_image_upload(&self) -> bool {
        *self.method == Method::Post && routes::matches(routes::ADMIN_ITEM_IMAGES, self.api_path)
    }

    /// A change to the shop's custom domains (a claim, a check, the primary, a removal).
    pub fn is_domain_write(&self) -> bool {
        self.class() == RouteClass::Write && routes::is_under(routes::ADMIN_DOMAINS, self.api_path)
    }

    /// `PUT /api/admin/kill-switch`: pauses or resumes the shop's sales.
    pub fn is_kill_switch_flip(&self) -> bool {
        *self.method == Method::Put && routes::matches(routes::KILL_SWITCH, self.api_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route<'a>(method: &'a Method, api_path: &'a str) -> Route<'a> {
        Route { method, api_path }
    }

    #[test]
    fn only_inventory_reads_are_cacheable() {
        assert!(route(&Method::Get, "inventory").is_cacheable());
        assert!(route(&Method::Get, "inventory/5f0c").is_cacheable());
        assert!(!route(&Method::Get, "inventory/").is_cacheable());
        assert!(!route(&Method::Get, "inventory/a/b").is_cacheable());
        assert!(route(&Method::Head, "inventory").is_cacheable());
        assert!(route(&Method::Head, "inventory/5f0c").is_cacheable());
        assert!(!route(&Method::Get, "purchases/1").is_cacheable());
        assert!(!route(&Method::Post, "inventory").is_cacheable());
    }

    #[test]
    fn classes_follow_the_method() {
        assert_eq!(route(&Method::Get, "inventory").class(), RouteClass::Read);
        assert_eq!(route(&Method::Post, "buy").class(), RouteClass::Write);
        assert_eq!(
            route(&Method::Patch, "admin/items/1").class(),
            RouteClass::Write
        );
        assert!(route(&Method::Post, "buy").is_purchase());
        assert!(!route(&Method::Get, "buy").is_purchase());
    }

    #[test]
    fn the_edges_own_reports_are_not_a_clients_route() {
        assert!(Route::is_origin_only("edge/refusals"));
        assert!(Route::is_origin_only("edge"));
        assert!(!Route::is_origin_only("edges"));
        assert!(!Route::is_origin_only("admin/events"));
    }
}
