//! What a token must say to be accepted, and how a provider's claims become ours.
//!
//! Identity providers lay their tokens out differently (Supabase nests the shop and role in
//! `app_metadata`, Auth0 puts custom claims under namespaced keys, Clerk uses top-level `org_id`
//! and `org_role` with values such as `org:admin`), so where the shop id and the role live, and
//! which role values mean what, are settings. The Worker and the origin both build an
//! `Acceptance` from the same settings (`JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_ORG_CLAIM`,
//! `JWT_ROLE_CLAIM`, `JWT_ADMIN_ROLES`, `JWT_SHOPPER_ROLES`), with the defaults below, so they
//! cannot read one token two ways.
//!
//! Whatever the layout, a verified token comes out as `TokenClaims`, in Supabase's layout: that
//! is what the sealed edge claims carry and what Postgres reads through `auth.jwt()`, so
//! row-level security never sees a provider's own layout.

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    claim_path::{ClaimPath, ClaimPathError},
    claims::{AppMetadata, Audience, Role, TokenClaims},
    error::TokenError,
};

/// Supabase's layout, the product's own.
pub const DEFAULT_ORG_CLAIM: &str = "app_metadata.org_id";
pub const DEFAULT_ROLE_CLAIM: &str = "app_metadata.role";
pub const DEFAULT_ADMIN_ROLES: &str = "admin";
pub const DEFAULT_SHOPPER_ROLES: &str = "shopper";

/// The claims of a token as the provider wrote them (besides the time claims).
pub type ProviderClaims = Map<String, Value>;

/// Why the settings could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcceptanceError {
    #[error(transparent)]
    Path(#[from] ClaimPathError),
    #[error("{0} names no value")]
    EmptyList(&'static str),
    #[error("role value {0:?} is both an admin and a shopper role")]
    RoleInBothLists(String),
}

/// Where the shop id and the role live in a token, and which role values mean what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMap {
    org: ClaimPath,
    role: ClaimPath,
    admin_roles: Vec<String>,
    shopper_roles: Vec<String>,
}

impl Default for ClaimMap {
    fn default() -> Self {
        Self::new(
            DEFAULT_ORG_CLAIM,
            DEFAULT_ROLE_CLAIM,
            DEFAULT_ADMIN_ROLES,
            DEFAULT_SHOPPER_ROLES,
        )
        .unwrap_or_else(|err| unreachable!("the defaults parse: {err}"))
    }
}

impl ClaimMap {
    /// From the settings: two claim paths (see `claim_path`) and two comma-separated lists of
    /// role values.
    pub fn new(
        org_claim: &str,
        role_claim: &str,
        admin_roles: &str,
        shopper_roles: &str,
    ) -> Result<Self, AcceptanceError> {
        let admin_roles = list(admin_roles);
        let shopper_roles = list(shopper_roles);
        if admin_roles.is_empty() {
            return Err(AcceptanceError::EmptyList("JWT_ADMIN_ROLES"));
        }
        if shopper_roles.is_empty() {
            return Err(AcceptanceError::EmptyList("JWT_SHOPPER_ROLES"));
        }
        if let Some(both) = admin_roles.iter().find(|r| shopper_roles.contains(r)) {
            return Err(AcceptanceError::RoleInBothLists(both.clone()));
        }
        Ok(Self {
            org: org_claim.parse()?,
            role: role_claim.parse()?,
            admin_roles,
            shopper_roles,
        })
    }

    pub fn org_claim(&self) -> &ClaimPath {
        &self.org
    }

    pub fn role_claim(&self) -> &ClaimPath {
        &self.role
    }

    /// The shop the token names: a string holding the shop's id (a UUID). The nil id is no
    /// shop: it keys the operators' global rows (the platform-wide kill switch), which only the
    /// operator CLI may touch, so a token naming it is refused (403).
    fn org_id(&self, claims: &ProviderClaims) -> Result<Uuid, TokenError> {
        let org_id = self
            .org
            .lookup(claims)
            .and_then(Value::as_str)
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .ok_or_else(|| TokenError::NoShop(self.org.to_string()))?;
        if org_id.is_nil() {
            return Err(TokenError::NilShop);
        }
        Ok(org_id)
    }

    /// The role the token's value means: one string, or a list of them (Auth0 hands roles over
    /// as a list), the highest one found counting. A value in neither list grants nothing.
    fn role(&self, claims: &ProviderClaims) -> Result<Role, TokenError> {
        let values: Vec<&str> = match self.role.lookup(claims) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if values.is_empty() {
            return Err(TokenError::NoRole(self.role.to_string()));
        }
        let holds = |accepted: &[String]| values.iter().any(|v| accepted.iter().any(|a| a == v));
        if holds(&self.admin_roles) {
            Ok(Role::Admin)
        } else if holds(&self.shopper_roles) {
            Ok(Role::Shopper)
        } else {
            Err(TokenError::RoleNotAccepted)
        }
    }
}

/// What a token must say, besides a good signature and times, to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub issuer: String,
    /// A token passes when its `aud` holds any one of these.
    pub audiences: Vec<String>,
    pub claims: ClaimMap,
}

impl Acceptance {
    /// One issuer and one audience, Supabase's layout.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            claims: ClaimMap::default(),
        }
    }

    /// From the settings: `audiences` is a comma-separated list.
    pub fn from_settings(
        issuer: &str,
        audiences: &str,
        claims: ClaimMap,
    ) -> Result<Self, AcceptanceError> {
        let audiences = list(audiences);
        if audiences.is_empty() {
            return Err(AcceptanceError::EmptyList("JWT_AUDIENCE"));
        }
        Ok(Self {
            issuer: issuer.trim().to_owned(),
            audiences,
            claims,
        })
    }

    /// Whether claims in the product's own layout (sealed by the edge) still meet this
    /// acceptance: the issuer, one of the audiences, and a shop that is not the nil id.
    pub fn admits(&self, claims: &TokenClaims) -> bool {
        claims.iss == self.issuer
            && self
                .audiences
                .iter()
                .any(|wanted| claims.aud.contains(wanted))
            && !claims.app_metadata.org_id.is_nil()
    }

    /// Checks issuer and audience, then reads the shop and role where the map says: the
    /// claims in the product's own layout.
    pub fn accept(&self, claims: &ProviderClaims) -> Result<TokenClaims, TokenError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(TokenError::WrongIssuer);
        }
        let aud = claims
            .get("aud")
            .and_then(|aud| Audience::deserialize(aud).ok())
            .ok_or(TokenError::WrongAudience)?;
        if !self.audiences.iter().any(|wanted| aud.contains(wanted)) {
            return Err(TokenError::WrongAudience);
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or(TokenError::Malformed)?;
        Ok(TokenClaims {
            sub: sub.to_owned(),
            iss: self.issuer.clone(),
            aud,
            app_metadata: AppMetadata {
                org_id: self.claims.org_id(claims)?,
                role: self.claims.role(claims)?,
            },
        })
    }
}

/// The non-empty, trimmed items of a comma-separated list.
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORG: &str = "4b7d3c58-0e7e-4d8a-9f51-3a1f0c2d9e11";

    fn claims(value: Value) -> ProviderClaims {
        value.as_object().cloned().expect("an object")
    }

    fn accept(acceptance: &Acceptance, value: Value) -> Result<(Uuid, Role), TokenError> {
        acceptance
            .accept(&claims(value))
            .map(|c| (c.app_metadata.org_id, c.app_metadata.role))
    }

    #[test]
    fn the_nil_shop_is_no_shop() {
        let nil = Uuid::nil().to_string();
        let acceptance = Acceptance::new("iss", "authenticated");
        let token = json!({"sub": "u", "iss": "iss", "aud": "authenticated",
            "app_metadata": {"org_id": nil, "role": "admin"}});
        assert_eq!(accept(&acceptance, token), Err(TokenError::NilShop));
        assert_eq!(TokenError::NilShop.kind(), crate::ProblemKind::Forbidden);
    }

    #[test]
    fn supabase_auth0_and_clerk_layouts() {
        let org = Uuid::parse_str(ORG).expect("a uuid");
        let supabase = Acceptance::new("iss", "authenticated");
        let token = json!({"sub": "u", "iss": "iss", "aud": "authenticated",
            "app_metadata": {"org_id": ORG, "role": "admin"}});
        assert_eq!(accept(&supabase, token), Ok((org, Role::Admin)));

        let auth0 = Acceptance::from_settings(
            "iss",
            "https://api.furnitureops.example",
            ClaimMap::new(
                r#""https://furnitureops.example/org_id""#,
                r#""https://furnitureops.example/roles""#,
                "shop-admin",
                "shop-customer",
            )
            .expect("a valid map"),
        )
        .expect("valid settings");
        let token = json!({"sub": "auth0|1", "iss": "iss",
            "aud": ["https://api.furnitureops.example", "https://tenant.auth0.com/userinfo"],
            "https://furnitureops.example/org_id": ORG,
            "https://furnitureops.example/roles": ["shop-customer", "shop-admin"]});
        assert_eq!(accept(&auth0, token), Ok((org, Role::Admin)));

        let clerk = Acceptance::from_settings(
            "iss",
            "furnitureops",
            ClaimMap::new("org_id", "org_role", "org:admin", "org:member").expect("a valid map"),
        )
        .expect("valid settings");
        let member = json!({"sub": "user_1", "iss": "iss", "aud": "furnitureops",
            "org_id": ORG, "org_role": "org:member"});
        assert_eq!(accept(&clerk, member), Ok((org, Role::Shopper)));
    }

    #[test]
    fn missing_or_unmapped_claims_are_refused() {
        let clerk = Acceptance::from_settings(
            "iss",
            "a, b",
            ClaimMap::new("org_id", "org_role", "org:admin", "org:member").expect("valid"),
        )
        .expect("valid settings");
        let base =
            json!({"sub": "u", "iss": "iss", "aud": "b", "org_id": ORG, "org_role": "org:admin"});
        assert!(accept(&clerk, base.clone()).is_ok(), "any listed audience");
        let with = |field: &str, value: Value| {
            let mut token = base.clone();
            token[field] = value;
            accept(&clerk, token)
        };
        assert_eq!(with("aud", json!("c")), Err(TokenError::WrongAudience));
        assert_eq!(with("iss", json!("other")), Err(TokenError::WrongIssuer));
        assert_eq!(
            with("org_id", json!("org_2abc")),
            Err(TokenError::NoShop("org_id".into()))
        );
        assert_eq!(
            with("org_role", json!("org:billing")),
            Err(TokenError::RoleNotAccepted)
        );
        assert_eq!(
            with("org_role", json!(7)),
            Err(TokenError::NoRole("org_role".into()))
        );
        // The product's default layout means nothing under Clerk's map.
        let supabase = json!({"sub": "u", "iss": "iss", "aud": "a",
            "app_metadata": {"org_id": ORG, "role": "admin"}});
        assert_eq!(
            accept(&clerk, supabase),
            Err(TokenError::NoShop("org_id".into()))
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(ClaimMap::new("a", "b", "admin", "").is_err());
        assert!(ClaimMap::new("a", "b", "x, y", "y").is_err());
        assert!(ClaimMap::new("a..b", "b", "admin", "shopper").is_err());
        assert!(Acceptance::from_settings("i", " , ", ClaimMap::default()).is_err());
        assert_eq!(ClaimMap::default(), {
            ClaimMap::new(
                "app_metadata.org_id",
                "app_metadata.role",
                "admin",
                "shopper",
            )
            .expect("valid")
        });
    }
}
