//! Claims the edge verified, forwarded to the origin under a short-lived MAC, so the origin can
//! trust them in microseconds instead of checking an RS256 or ES256 signature again (hundreds of
//! microseconds, more than a whole purchase).
//!
//! Defence in depth holds: the MAC key is derived from `EDGE_SHARED_SECRET`, which only the edge
//! and the origins know and which never travels (`crate::edge_proof`), and the seal binds the
//! claims to one request (method, origin path, shop and request id) for `LIFETIME_SECONDS` at
//! most (never past the token's own expiry). Opening does not trust what the sealer wrote: an
//! expiry further ahead than `LIFETIME_SECONDS` (plus the clock skew a proof is allowed), an issuer or audience the origin does not
//! accept, or the nil shop (the operators' global row) is refused. A seal that does not open is
//! ignored and the origin checks the bearer token in full, as it does for every direct call.
//!
//! Sealed form (`x-edge-claims`): `<payload, base64url>.<mac, base64url>`, the payload being
//! `{"claims": ..., "exp": <unix s>, "token_exp": <unix s>}`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::{claim_map::Acceptance, claims::TokenClaims, verify::VerifiedToken};
use crate::edge_key::{self, EdgeSecret};

/// The header the sealed claims travel in.
pub const HEADER: &str = crate::headers::EDGE_CLAIMS;

/// How long a seal is honoured: one edge-to-origin hop plus clock skew between them.
pub const LIFETIME_SECONDS: i64 = 5;

const PURPOSE: &str = "furnitureops edge claims v1";

/// The HMAC key, derived from the edge's shared secret.
#[derive(Clone)]
pub struct EdgeClaimsKey(Hmac<Sha256>);

impl std::fmt::Debug for EdgeClaimsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeClaimsKey(..)")
    }
}

/// The request a seal is good for.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub method: &'a str,
    /// The path at the origin: `/api/tenant/<org id>/<rest>`.
    pub path: &'a str,
    pub org_id: Uuid,
    pub request_id: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    claims: TokenClaims,
    exp: i64,
    token_exp: i64,
}

impl EdgeClaimsKey {
    pub fn new(secret: &EdgeSecret) -> Self {
        Self(secret.key(PURPOSE))
    }

    pub fn from_edge_secret(secret: &[u8]) -> Self {
        Self(edge_key::derive(secret, PURPOSE))
    }

    fn mac(&self, binding: Binding<'_>, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        let bound = format!(
            "{}\n{}\n{}\n{}\n",
            binding.method, binding.path, binding.org_id, binding.request_id
        );
        mac.update(bound.as_bytes());
        mac.update(payload.as_bytes());
        mac
    }

    /// Seals `verified` for the request `binding` as of `now`.
    pub fn seal(
        &self,
        binding: Binding<'_>,
        verified: &VerifiedToken,
        now: DateTime<Utc>,
    ) -> String {
        let token_exp = verified.expires_at.timestamp();
        let payload = Payload {
            claims: verified.claims.clone(),
            exp: (now.timestamp() + LIFETIME_SECONDS).min(token_exp),
            token_exp,
        };
        let json = serde_json::to_string(&payload).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self.mac(binding, &payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The claims sealed in `sealed`, if it opens for `binding`, has not expired at `now` (nor
    /// claims to live longer than a seal may), and `acceptance` still accepts its claims.
    pub fn open(
        &self,
        binding: Binding<'_>,
        sealed: &str,
        now: DateTime<Utc>,
        acceptance: &Acceptance,
    ) -> Option<VerifiedToken> {
        let (payload, tag) = sealed.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(binding, payload).verify_slice(&tag).ok()?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let payload: Payload = serde_json::from_slice(&json).ok()?;
        let now = now.timestamp();
        // The sealer's clock may run ahead of ours by as much as a proof allows.
        let latest = now + LIFETIME_SECONDS + crate::edge_proof::WINDOW_SECONDS;
        let fresh = now <= payload.exp && payload.exp <= latest;
        let org_id = payload.claims.app_metadata.org_id;
        if !fresh || org_id != binding.org_id || !acceptance.admits(&payload.claims) {
            return None;
        }
        Some(VerifiedToken {
            claims: payload.claims,
            expires_at: DateTime::from_timestamp(payload.token_exp, 0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{AppMetadata, Audience, Role};

    fn verified(org_id: Uuid, now: DateTime<Utc>) -> VerifiedToken {
        VerifiedToken {
            claims: TokenClaims {
                sub: "alice".into(),
                iss: "i".into(),
                aud: Audience::One("a".into()),
                app_metadata: AppMetadata {
                    org_id,
                    role: Role::Shopper,
                },
            },
            expires_at: now + chrono::Duration::hours(1),
        }
    }

    /// Request `r1`: a purchase at `path`.
    fn buy_binding(path: &str, org_id: Uuid) -> Binding<'_> {
        Binding {
            method: "POST",
            path,
            org_id,
            request_id: "r1",
        }
    }

    #[test]
    fn a_seal_opens_only_for_its_request_key_and_time() {
        let key = EdgeClaimsKey::from_edge_secret(b"edge secret");
        let accepted = Acceptance::new("i", "a");
        let org_id = Uuid::new_v4();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");
        let path = format!("/api/tenant/{org_id}/buy");
        let binding = buy_binding(&path, org_id);
        let sealed = key.seal(binding, &verified(org_id, now), now);
        assert!(key.open(binding, &sealed, now, &accepted).is_some());
        let other_request = Binding {
            request_id: "r2",
            ..binding
        };
        assert!(key.open(other_request, &sealed, now, &accepted).is_none());
        let other_method = Binding {
            method: "GET",
            ..binding
        };
        assert!(key.open(other_method, &sealed, now, &accepted).is_none());
        let later = now + chrono::Duration::seconds(LIFETIME_SECONDS + 1);
        assert!(key.open(binding, &sealed, later, &accepted).is_none());
        let stranger = EdgeClaimsKey::from_edge_secret(b"another secret");
        assert!(stranger.open(binding, &sealed, now, &accepted).is_none());
        let other_issuer = Acceptance::new("another issuer", "a");
        assert!(key.open(binding, &sealed, now, &other_issuer).is_none());
        let other_audience = Acceptance::new("i", "another audience");
        assert!(key.open(binding, &sealed, now, &other_audience).is_none());
    }

    #[test]
    fn a_seal_claiming_a_long_life_is_refused() {
        let key = EdgeClaimsKey::from_edge_secret(b"edge secret");
        let org_id = Uuid::new_v4();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");
        let path = format!("/api/tenant/{org_id}/buy");
        let binding = buy_binding(&path, org_id);
        let payload = Payload {
            claims: verified(org_id, now).claims,
            exp: now.timestamp() + 3_600,
            token_exp: now.timestamp() + 3_600,
        };
        let json = URL_SAFE_NO_PAD.encode(serde_json::to_string(&payload).expect("json"));
        let tag = key.mac(binding, &json).finalize().into_bytes();
        let sealed = format!("{json}.{}", URL_SAFE_NO_PAD.encode(tag));
        let accepted = Acceptance::new("i", "a");
        assert!(key.open(binding, &sealed, now, &accepted).is_none());
    }
}
