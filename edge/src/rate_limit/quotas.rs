//! Which quota a request spends: the caller's own (a client's, an admin's, an uploader's) and
//! the shop's ceilings.

use super::{
    audience::Audience,
    fields::Scope,
    policy::{Quota, ShopLimits},
};
use crate::route::RouteClass;

/// The caller's own quota for `class`: a client's, or an admin's.
pub(super) fn own_quota(
    limits: &ShopLimits,
    audience: Audience,
    class: RouteClass,
) -> Option<Quota> {
    match audience {
        Audience::Admin => limits.admin_quota(),
        Audience::Uploader => limits.upload_quota(),
        Audience::Anonymous | Audience::SignedIn => limits.quota(class),
    }
}

/// The quota of one of the shop's ceilings.
pub(super) fn ceiling_quota(limits: &ShopLimits, scope: Scope, class: RouteClass) -> Option<Quota> {
    match scope {
        Scope::SignedIn => limits.signed_in_read_quota(),
        Scope::Shop => limits.shop_quota(class),
        Scope::Client | Scope::Admin | Scope::Upload => None,
    }
}
