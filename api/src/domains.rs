//! Custom domains: the hostnames a shop brings, what its owner sees of them, and what the edge
//! learns of a hostname from the origin.
//!
//! The origin's `domains` table is the truth; the edge's KV namespace and isolate memory are
//! caches of it. On a miss the edge asks the origin ([`HOST_LOOKUP`], a proved request) and keeps
//! the [`HostLookup`] it gets, so a domain that turns live needs no operator step.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where the origin answers the edge's lookup of one hostname (outside any shop's routes: the
/// shop is what the edge is asking for). Only the edge may ask: the request carries its proof.
pub const HOST_LOOKUP: &str = "/api/edge/hosts/{hostname}";

/// The path under which the edge answers a pending domain's HTTP challenge, on that domain.
pub const CHALLENGE_PREFIX: &str = "/.well-known/furnitureops-domain/";

/// Where a hostname stands, in the owner's words on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Claimed, waiting for DNS (and, where required, the TXT ownership proof).
    Pending,
    /// Verified: serves the shop's pages and API.
    Active,
    /// A check failed for a reason the owner must act on (`reason` says which).
    Failed,
}

/// `POST /api/admin/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddDomain {
    pub hostname: String,
}

/// The HTTP challenge: the edge answers `GET http://{hostname}{path}` with `body` once the
/// hostname's DNS reaches the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HttpChallenge {
    pub path: String,
    pub body: String,
}

/// The TXT ownership record: `name` (e.g. `_furnitureops.chairs.acme.com`) must hold `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxtChallenge {
    pub name: String,
    pub value: String,
}

/// What the owner must put in place for a claimed hostname to go live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub http: HttpChallenge,
    pub txt: TxtChallenge,
    /// Whether the TXT record is required too: the hostname is, or in the last 30 days was,
    /// live for another shop.
    pub txt_required: bool,
}

/// The CNAME the owner creates so the hostname reaches the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CnameRecord {
    pub name: String,
    /// The platform's target (`CUSTOM_DOMAIN_TARGET`).
    pub target: String,
}

/// One hostname of the shop, as `GET /api/admin/domains` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Domain {
    pub hostname: String,
    pub status: DomainStatus,
    /// The shop's primary domain: the others answer `301` to it.
    pub primary: bool,
    pub cname: CnameRecord,
    /// Present until the hostname is active.
    pub verification: Option<Verification>,
    /// The certificate's status as the certificate authority reports it (`None` where the
    /// platform issues none, as in development).
    pub certificate: Option<String>,
    /// RFC 3339; `None` until first checked.
    pub last_checked_at: Option<String>,
    /// Why the last check did not pass, in words the owner can act on.
    pub reason: Option<String>,
    /// RFC 3339: when an unverified claim lapses.
    pub expires_at: Option<String>,
}

/// `GET /api/admin/domains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainList {
    pub domains: Vec<Domain>,
}

/// The origin's answer to the edge's lookup of a hostname. An unknown hostname is an answer too
/// (no shop, no challenges), so the edge can remember it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLookup {
    /// The shop the hostname serves; `Some` only while the hostname is active.
    pub org_id: Option<Uuid>,
    /// The shop's primary hostname, when this active hostname is not it: pages answer `301`.
    pub primary: Option<String>,
    /// The HTTP challenges of pending claims of this hostname, answered by the edge on it.
    pub challenges: Vec<HttpChallenge>,
}
