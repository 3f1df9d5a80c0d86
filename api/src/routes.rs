//! The tenant routes, written once. A shop's domain serves each at `/api/{route}` (the edge
//! matches what a client sent against this table) and the origin mounts each under
//! `TENANT_ROOT` (`/api/tenant/{org_id}/{route}`). A `{name}` segment stands for one
//! non-empty path segment.

/// Where the origin mounts the tenant routes.
pub const TENANT_ROOT: &str = "/api/tenant/{org_id}";

/// `GET`: a page of the shop's items (cached at the edge).
pub const INVENTORY: &str = "inventory";
/// `GET`: one item (cached at the edge).
pub const INVENTORY_ITEM: &str = "inventory/{item_id}";
/// `GET`: the shop's public profile.
pub const SHOP: &str = "shop";
/// `POST`: buy an item.
pub const BUY: &str = "buy";
/// `GET`: where a queued purchase stands.
pub const PURCHASE: &str = "purchases/{purchase_id}";
/// `GET`: whether the shop's sales are paused.
pub const SALES: &str = "sales";
/// `GET`: the shop's live stream of stock changes and purchase outcomes.
pub const EVENTS: &str = "events";
/// `POST`: create an item (admin).
pub const ADMIN_ITEMS: &str = "admin/items";
/// `PATCH`: change an item, a restock included (admin).
pub const ADMIN_ITEM: &str = "admin/items/{item_id}";
/// `POST`: upload a picture of an item (admin; the edge stores the bytes and sends the origin
/// the metadata); `PUT`: set the order of its pictures.
pub const ADMIN_ITEM_IMAGES: &str = "admin/items/{item_id}/images";
/// `DELETE`: remove a picture of an item (admin).
pub const ADMIN_ITEM_IMAGE: &str = "admin/items/{item_id}/images/{image_id}";
/// `GET`, `PUT`: the shop's kill switch (admin).
pub const KILL_SWITCH: &str = "admin/kill-switch";
/// `GET`: the audit log (admin).
pub const AUDIT: &str = "admin/audit";
/// `GET`: the live sale view, a second at a time (admin).
pub const ADMIN_EVENTS: &str = "admin/events";
/// `GET`: the shop's domains; `POST`: claim a hostname (admin).
pub const ADMIN_DOMAINS: &str = "admin/domains";
/// `DELETE`: release a hostname (admin).
pub const ADMIN_DOMAIN: &str = "admin/domains/{hostname}";
/// `POST`: check a claimed hostname now (admin).
pub const ADMIN_DOMAIN_VERIFY: &str = "admin/domains/{hostname}/verify";
/// `PUT`: make a live hostname the shop's primary domain (admin).
pub const ADMIN_DOMAIN_PRIMARY: &str = "admin/domains/{hostname}/primary";
/// `POST`: the edge's report of the purchases it refused (the edge's own, never a client's).
pub const EDGE_REFUSALS: &str = "edge/refusals";
/// `POST`: which of the shop's stored picture keys its pictures still name (the edge's orphan
/// sweep, never a client's).
pub const EDGE_IMAGE_KEYS: &str = "edge/images/referenced";

/// Every route under this segment needs an admin's token.
pub const ADMIN_SCOPE: &str = "admin";
/// Every route under this segment is about one purchase, and needs its buyer's token.
pub const PURCHASE_SCOPE: &str = "purchases";
/// Every route under this segment is the edge's own: a client asking for one is told there is
/// no such route.
pub const EDGE_SCOPE: &str = "edge";

/// Every tenant route, for tables that must cover them all.
pub const ALL: [&str; 20] = [
    INVENTORY,
    INVENTORY_ITEM,
    SHOP,
    BUY,
    PURCHASE,
    SALES,
    EVENTS,
    ADMIN_ITEMS,
    ADMIN_ITEM,
    ADMIN_ITEM_IMAGES,
    ADMIN_ITEM_IMAGE,
    KILL_SWITCH,
    AUDIT,
    ADMIN_EVENTS,
    ADMIN_DOMAINS,
    ADMIN_DOMAIN,
    ADMIN_DOMAIN_VERIFY,
    ADMIN_DOMAIN_PRIMARY,
    EDGE_REFUSALS,
    EDGE_IMAGE_KEYS,
];

/// Whether `path` (after `/api/`) is `route`, each `{name}` matched by one non-empty segment.
pub fn matches(route: &str, path: &str) -> bool {
    first_param(route, path).is_some()
}

/// The segment standing for `route`'s first `{name}`, when `path` is `route`.
pub fn param<'p>(route: &str, path: &'p str) -> Option<&'p str> {
    first_param(route, path).flatten()
}

/// Whether `path` is `scope` or lies under it (`admin`, `admin/items`, not `admins`).
pub fn is_under(scope: &str, path: &str) -> bool {
    path.strip_prefix(scope)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `route` with its first `{name}` filled by `value`: the path a client sends.
pub fn filled(route: &str, value: &str) -> String {
    match (route.find('{'), route.find('}')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{value}{}", &route[..open], &route[close + 1..])
        }
        _ => route.to_owned(),
    }
}

/// Where the origin serves `route`, relative to `TENANT_ROOT`: what its router mounts.
pub fn mounted(route: &str) -> String {
    format!("/{route}")
}

/// When `path` is `route`: the segment standing for its first `{name}`, if it has one. Every
/// request is matched against several routes, so this walks both without allocating.
fn first_param<'p>(route: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut wanted = route.split('/');
    let mut first = None;
    for segment in path.split('/') {
        let expected = wanted.next()?;
        if expected.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            first = first.or(Some(segment));
        } else if expected != segment {
            return None;
        }
    }
    wanted.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_matches_its_own_paths_only() {
        assert!(matches(INVENTORY, "inventory"));
        assert!(matches(INVENTORY_ITEM, "inventory/5f0c"));
        assert!(!matches(INVENTORY_ITEM, "inventory/"));
        assert!(!matches(INVENTORY_ITEM, "inventory/a/b"));
        assert!(!matches(INVENTORY_ITEM, "inventory"));
        assert!(!matches(INVENTORY, "inventory/5f0c"));
        assert!(!matches(BUY, "buyer"));
        assert_eq!(param(ADMIN_ITEM, "admin/items/42"), Some("42"));
        assert_eq!(param(ADMIN_ITEM, "admin/items"), None);
    }

    #[test]
    fn scopes_hold_whole_segments() {
        assert!(is_under(ADMIN_SCOPE, "admin"));
        assert!(is_under(ADMIN_SCOPE, KILL_SWITCH));
        assert!(!is_under(ADMIN_SCOPE, "administrator"));
        assert!(is_under(EDGE_SCOPE, EDGE_REFUSALS));
        assert!(!is_under(EDGE_SCOPE, "edges"));
    }

    #[test]
    fn a_filled_route_matches_it() {
        let path = filled(INVENTORY_ITEM, "abc");
        assert_eq!(path, "inventory/abc");
        assert_eq!(param(INVENTORY_ITEM, &path), Some("abc"));
        assert_eq!(filled(SHOP, "x"), "shop");
        assert_eq!(mounted(PURCHASE), "/purchases/{purchase_id}");
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut all = ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), ALL.len());
    }
}
