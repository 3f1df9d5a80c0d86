//! Which quotas apply to a request: per route class (reads, writes), one for each client and a
//! ceiling for the shop as a whole, with platform defaults from the `RATE_LIMIT_DEFAULTS` var and
//! per-shop overrides in the `RATE_LIMITS` KV namespace (key: organization id). Both use the
//! same JSON shape, and a shop's entry only needs the parts it changes:
//!
//! ```json
//! {"read": {"limit": 300, "window_seconds": 60},
//!  "write": {"limit": 30, "window_seconds": 60},
//!  "shop_read": {"limit": 6000, "window_seconds": 60},
//!  "shop_write": "unlimited",
//!  "shop_signed_in_read": {"limit": 6000, "window_seconds": 60},
//!  "admin": {"limit": 600, "window_seconds": 60},
//!  "upload": {"limit": 60, "window_seconds": 60},
//!  "cooldown": {"after_refusals": 20, "seconds": 60},
//!  "exact_reads": false}
//! ```
//!
//! The shop's read ceilings are per audience, so one audience's demand cannot spend another's:
//! `shop_read` holds anonymous reads, `shop_signed_in_read` reads by signed-in shoppers. Admin
//! routes (reads and writes) count against neither, nor against `read`, `write` or
//! `shop_write`: each admin has `admin` for each class, with no cooldown, so a shop's owner can
//! pause or restock a sale whatever its shoppers and any flood have spent. Picture uploads
//! (up to 10 MB each, stored in R2) spend `upload`, each admin's own, and nothing else: a
//! console adding pictures never spends what the admin needs to run a sale. Upload logs are
//! swept with the admins' logs, by the window of whichever was checked last, so keep
//! `upload`'s window no longer than `admin`'s.
//!
//! Any quota may be `"unlimited"` (for example a shop's own monitoring domain). The shop's
//! write ceiling is unlimited by default: purchases are shed by admission control only while
//! the origin is overloaded (`purchases::admission`), never by a fixed count that would cap a
//! flash sale below what the origin sells. `exact_reads`
//! sends every read to the limiter object instead of counting it in the isolate first: exact,
//! and one object request per read. Shop entries are remembered in the isolate for a few
//! seconds: KV itself takes longer than that to spread.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use worker::Env;

use crate::{
    clock::now_ms,
    isolate_memo::IsolateMemo,
    route::RouteClass,
    settings::{self, SettingError},
};

const DEFAULTS_VAR: &str = "RATE_LIMIT_DEFAULTS";
const UNREACHABLE_VAR: &str = "RATE_LIMIT_WHEN_UNREACHABLE";
const KV_BINDING: &str = "RATE_LIMITS";
const REMEMBER_MS: u64 = 5_000;

/// At most `limit` admitted requests in any `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u32,
    pub window_seconds: u32,
}

/// A client refused `after_refusals` times within one window is refused outright for
/// `seconds`, without its requests being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldown {
    pub after_refusals: u32,
    pub seconds: u32,
}

impl Cooldown {
    /// No cooldown: the shop's ceiling refuses while it is reached and no longer.
    pub const NONE: Self = Self {
        after_refusals: 0,
        seconds: 0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Unlimited {
    Unlimited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum ClassSetting {
    Unlimited(Unlimited),
    Limited(Quota),
}

impl ClassSetting {
    fn quota(self) -> Option<Quota> {
        match self {
            Self::Unlimited(_) => None,
            Self::Limited(quota) => Some(quota),
        }
    }
}

/// A settings document: the defaults (all parts required) or a shop's overrides (any part).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitSettings {
    read: Option<ClassSetting>,
    write: Option<ClassSetting>,
    shop_read: Option<ClassSetting>,
    shop_write: Option<ClassSetting>,
    shop_signed_in_read: Option<ClassSetting>,
    admin: Option<ClassSetting>,
    upload: Option<ClassSetting>,
    cooldown: Option<Cooldown>,
    exact_reads: Option<bool>,
}

/// The limits in force for one shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopLimits {
    read: Option<Quota>,
    write: Option<Quota>,
    shop_read: Option<Quota>,
    shop_write: Option<Quota>,
    shop_signed_in_read: Option<Quota>,
    admin: Option<Quota>,
    upload: Option<Quota>,
    pub cooldown: Cooldown,
    /// Every read is checked by the object, none counted in the isolate first.
    pub exact_reads: bool,
}

impl ShopLimits {
    /// Used when `RATE_LIMIT_DEFAULTS` is missing or unreadable; the same as `wrangler.toml`.
    const BUILT_IN: Self = Self {
        read: Some(Quota {
            limit: 300,
            window_seconds: 60,
        }),
        write: Some(Quota {
            limit: 30,
            window_seconds: 60,
        }),
        // 20 times a client's quota: a busy sale passes, one shop's flood stays one shop's.
        shop_read: Some(Quota {
            limit: 6_000,
            window_seconds: 60,
        }),
        // None: a shop's purchases are limited per shopper and, when the origin is overloaded,
        // by admission control (`purchases::admission`), never by a fixed count that would cap
        // a flash sale below what the origin sells. A shop may still set one.
        shop_write: None,
        shop_signed_in_read: Some(Quota {
            limit: 6_000,
            window_seconds: 60,
        }),
        // Twice a shopper's read quota, per admin and class: an owner's console never nears it.
        admin: Some(Quota {
            limit: 600,
            window_seconds: 60,
        }),
        // A picture a second per admin: a console uploads three sizes of each picture.
        upload: Some(Quota {
            limit: 60,
            window_seconds: 60,
        }),
        cooldown: Cooldown {
            after_refusals: 20,
            seconds: 60,
        },
        exact_reads: false,
    };

    /// The quota of one client for `class`, or `None` when the class is unlimited for this shop.
    pub fn quota(&self, class: RouteClass) -> Option<Quota> {
        match class {
            RouteClass::Read => self.read,
            RouteClass::Write => self.write,
        }
    }

    /// The ceiling of `class` across all clients of the shop, or `None` when there is none.
    pub fn shop_quota(&self, class: RouteClass) -> Option<Quota> {
        match class {
            RouteClass::Read => self.shop_read,
            RouteClass::Write => self.shop_write,
        }
    }

    /// The ceiling across the shop's signed-in shoppers' reads.
    pub fn signed_in_read_quota(&self) -> Option<Quota> {
        self.shop_signed_in_read
    }

    /// The quota of one admin for each class.
    pub fn admin_quota(&self) -> Option<Quota> {
        self.admin
    }

    /// The quota of one admin's picture uploads.
    pub fn upload_quota(&self) -> Option<Quota> {
        self.upload
    }

    fn overridden_by(self, settings: LimitSettings) -> Self {
        Self {
            read: settings.read.map_or(self.read, ClassSetting::quota),
            write: settings.write.map_or(self.write, ClassSetting::quota),
            shop_read: settings
                .shop_read
                .map_or(self.shop_read, ClassSetting::quota),
            shop_write: settings
                .shop_write
                .map_or(self.shop_write, ClassSetting::quota),
            shop_signed_in_read: settings
                .shop_signed_in_read
                .map_or(self.shop_signed_in_read, ClassSetting::quota),
            admin: settings.admin.map_or(self.admin, ClassSetting::quota),
            upload: settings.upload.map_or(self.upload, ClassSetting::quota),
            cooldown: settings.cooldown.unwrap_or(self.cooldown),
            exact_reads: settings.exact_reads.unwrap_or(self.exact_reads),
        }
    }
}

/// What to do when the limiter cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenUnreachable {
    /// Serve the request unlimited (and log it).
    Open,
    /// Refuse it with 503 (and log it).
    Closed,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct UnreachableSettings {
    read: WhenUnreachable,
    write: WhenUnreachable,
}

/// `RATE_LIMIT_WHEN_UNREACHABLE`, by default open for reads and closed for writes: a browsing
/// shopper should not notice a limiter outage, but a flash sale must not run unprotected.
pub fn when_unreachable(env: &Env, class: RouteClass) -> WhenUnreachable {
    let settings = settings::json_var::<UnreachableSettings>(env, UNREACHABLE_VAR).unwrap_or(
        UnreachableSettings {
            read: WhenUnreachable::Open,
            write: WhenUnreachable::Closed,
        },
    );
    match class {
        RouteClass::Read => settings.read,
        RouteClass::Write => settings.write,
    }
}

thread_local! {
    static SHOPS: IsolateMemo<Uuid, ShopLimits> = IsolateMemo::default();
}

/// The limits of `org_id`: its `RATE_LIMITS` entry over the defaults.
pub async fn shop_limits(env: &Env, org_id: Uuid) -> ShopLimits {
    let now = now_ms();
    if let Some(limits) = SHOPS.with(|shops| shops.get(&org_id, now)) {
        return limits;
    }
    let defaults = match settings::json_var::<LimitSettings>(env, DEFAULTS_VAR) {
        Ok(settings) => ShopLimits::BUILT_IN.overridden_by(settings),
        Err(SettingError::Missing) => ShopLimits::BUILT_IN,
        Err(err) => {
            worker::console_error!("{DEFAULTS_VAR} {err}; using the built-in limits");
            ShopLimits::BUILT_IN
        }
    };
    let limits = match shop_overrides(env, org_id).await {
        Ok(Some(overrides)) => defaults.overridden_by(overrides),
        Ok(None) => defaults,
        Err(err) => {
            worker::console_error!("rate limits of {org_id}: {err}; using the defaults");
            defaults
        }
    };
    SHOPS.with(|shops| shops.remember(org_id, limits, now + REMEMBER_MS, now));
    limits
}

async fn shop_overrides(env: &Env, org_id: Uuid) -> Result<Option<LimitSettings>, String> {
    let Ok(kv) = env.kv(KV_BINDING) else {
        return Ok(None);
    };
    let raw = kv
        .get(&org_id.to_string())
        .text()
        .await
        .map_err(|e| e.to_string())?;
    raw.map(|raw| serde_json::from_str(&raw).map_err(|e| e.to_string()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LimitSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_shop_entry_overrides_only_what_it_names() {
        let limits = ShopLimits::BUILT_IN
            .overridden_by(parse(r#"{"write": {"limit": 5, "window_seconds": 10}}"#));
        assert_eq!(
            limits.quota(RouteClass::Write),
            Some(Quota {
                limit: 5,
                window_seconds: 10
            })
        );
        assert_eq!(limits.quota(RouteClass::Read), ShopLimits::BUILT_IN.read);
        assert_eq!(limits.cooldown, ShopLimits::BUILT_IN.cooldown);
    }

    #[test]
    fn a_class_can_be_unlimited() {
        let limits = ShopLimits::BUILT_IN.overridden_by(parse(r#"{"read": "unlimited"}"#));
        assert_eq!(limits.quota(RouteClass::Read), None);
        assert!(limits.quota(RouteClass::Write).is_some());
    }

    #[test]
    fn shop_ceilings_and_exact_reads_can_be_set_per_shop() {
        let limits = ShopLimits::BUILT_IN.overridden_by(parse(
            r#"{"shop_read": {"limit": 50, "window_seconds": 10},
                "shop_write": {"limit": 900, "window_seconds": 60}, "exact_reads": true}"#,
        ));
        assert_eq!(
            limits.shop_quota(RouteClass::Read),
            Some(Quota {
                limit: 50,
                window_seconds: 10
            })
        );
        assert_eq!(
            limits.shop_quota(RouteClass::Write),
            Some(Quota {
                limit: 900,
                window_seconds: 60
            })
        );
        assert!(limits.exact_reads);
        assert_eq!(limits.quota(RouteClass::Read), ShopLimits::BUILT_IN.read);
    }

    #[test]
    fn by_default_a_shops_writes_have_no_ceiling_but_each_shoppers_do() {
        assert_eq!(ShopLimits::BUILT_IN.shop_quota(RouteClass::Write), None);
        assert!(ShopLimits::BUILT_IN.quota(RouteClass::Write).is_some());
    }

    #[test]
    fn audiences_have_ceilings_of_their_own() {
        let limits = ShopLimits::BUILT_IN.overridden_by(parse(
            r#"{"shop_signed_in_read": {"limit": 9, "window_seconds": 10}, "admin": "unlimited"}"#,
        ));
        assert_eq!(
            limits.signed_in_read_quota(),
            Some(Quota {
                limit: 9,
                window_seconds: 10
            })
        );
        assert_eq!(limits.admin_quota(), None);
        assert_eq!(
            limits.shop_quota(RouteClass::Read),
            ShopLimits::BUILT_IN.shop_read
        );
    }

    #[test]
    fn unknown_or_misspelt_settings_are_refused() {
        assert!(serde_json::from_str::<LimitSettings>(r#"{"reads": "unlimited"}"#).is_err());
        assert!(serde_json::from_str::<LimitSettings>(r#"{"read": "none"}"#).is_err());
    }
}
