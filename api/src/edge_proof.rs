//! The edge's proof, on every request it sends an origin, that the request is its own and has
//! not been changed: an HMAC, under a key derived from the shared secret, over the request's
//! method, path and query, body digest, the headers the origin acts on, its request id and the
//! time it was made. The shared secret itself never travels.
//!
//! What someone who sees such a request (a log, a packet capture, a proxy) can do with it:
//!
//! - nothing with another request: any change to the method, path, query, body, token, sealed
//!   claims, idempotency key or request id breaks the MAC;
//! - nothing after `WINDOW_SECONDS`: the origin refuses older proofs (and ones from the future);
//! - not send it again within the window: the origin remembers the proofs it accepted for the
//!   window (`origin::web::edge_trust`) and refuses a second use;
//! - not turn it into sealed claims or write positions: those are MACs under other derived keys,
//!   and HMAC does not reveal its key.
//!
//! Header form (`x-edge-proof`): `v1.<unix ms>.<mac, base64url>`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{
    edge_key::EdgeSecret,
    headers::{EDGE_CLAIMS, REQUEST_ID, WRITE_LSN},
};

/// The header the proof travels in.
pub const HEADER: &str = "x-edge-proof";

/// How far a proof's time may be from the origin's clock: one hop plus clock skew.
pub const WINDOW_SECONDS: i64 = 5;

/// Headers the origin acts on, bound by the proof (an absent one is bound as absent).
pub const BOUND_HEADERS: [&str; 8] = [
    REQUEST_ID,
    EDGE_CLAIMS,
    "authorization",
    "idempotency-key",
    "prefer",
    "content-type",
    WRITE_LSN,
    "cookie",
];

const VERSION: &str = "v1";

/// The values of `BOUND_HEADERS` a request carries, read once (each side reads its own header
/// type: the Worker's `Headers`, the origin's `HeaderMap`).
#[derive(Debug, Clone, Default)]
pub struct BoundHeaders(Vec<(&'static str, Option<String>)>);

impl BoundHeaders {
    /// `value_of(name)` for every bound header.
    pub fn read(value_of: impl Fn(&str) -> Option<String>) -> Self {
        Self(
            BOUND_HEADERS
                .iter()
                .map(|name| (*name, value_of(name)))
                .collect(),
        )
    }

    /// The value of bound header `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(bound, _)| *bound == name)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// Whether `host` (a URL's host, IPv6 in brackets or not) is this machine: where plain `http://`
/// is acceptable for development, and nowhere else.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The key proofs are made and checked with.
#[derive(Clone)]
pub struct EdgeProofKey(Hmac<Sha256>);

impl std::fmt::Debug for EdgeProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeProofKey(..)")
    }
}

/// The parts of a request a proof covers.
#[derive(Debug, Clone, Copy)]
pub struct ProvedRequest<'a> {
    pub method: &'a str,
    /// Path and query as sent to the origin: `/api/tenant/<org>/buy?x=1`.
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// Why a proof is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the request carries no edge proof")]
    Missing,
    #[error("the edge proof is malformed")]
    Malformed,
    #[error("the edge proof is outside its time window")]
    Expired,
    #[error("the edge proof does not match the request")]
    Mismatch,
    #[error("the edge proof was used before")]
    Replayed,
}

/// A proof that checked out: its MAC identifies it for the replay guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub mac: [u8; 32],
    pub made_at_ms: i64,
}

impl EdgeProofKey {
    pub fn new(secret: &EdgeSecret) -> Self {
        Self(secret.key("furnitureops edge request proof v1"))
    }

    fn mac<'h>(
        &self,
        request: ProvedRequest<'_>,
        header: impl Fn(&str) -> Option<&'h str>,
        made_at_ms: i64,
    ) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        let digest = Sha256::digest(request.body);
        let mut canonical = format!(
            "{VERSION}\n{made_at_ms}\n{}\n{}\n{}\n",
            request.method,
            request.path_and_query,
            URL_SAFE_NO_PAD.encode(digest)
        );
        for name in BOUND_HEADERS {
            // A length prefix keeps one header's value from running into the next.
            let value = header(name).unwrap_or("");
            canonical.push_str(&format!("{}:{}\n", value.len(), value));
        }
        mac.update(canonical.as_bytes());
        mac
    }

    /// The proof for `request` with its bound headers as `header` returns them, at `now_ms`.
    pub fn prove<'h>(
        &self,
        request: ProvedRequest<'_>,
        header: impl Fn(&str) -> Option<&'h str>,
        now_ms: i64,
    ) -> String {
        let tag = self.mac(request, header, now_ms).finalize().into_bytes();
        format!("{VERSION}.{now_ms}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks `proof` against `request` as of `now_ms`.
    pub fn check<'h>(
        &self,
        proof: Option<&str>,
        request: ProvedRequest<'_>,
        header: impl Fn(&str) -> Option<&'h str>,
        now_ms: i64,
    ) -> Result<Accepted, ProofError> {
        let proof = proof.ok_or(ProofError::Missing)?;
        let mut parts = proof.trim().splitn(3, '.');
        let (Some(VERSION), Some(made_at), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ProofError::Malformed);
        };
        let made_at_ms: i64 = made_at.parse().map_err(|_| ProofError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| ProofError::Malformed)?;
        if (now_ms - made_at_ms).abs() > WINDOW_SECONDS * 1_000 {
            return Err(ProofError::Expired);
        }
        self.mac(request, header, made_at_ms)
            .verify_slice(&tag)
            .map_err(|_| ProofError::Mismatch)?;
        let mut mac = [0; 32];
        mac.copy_from_slice(&tag);
        Ok(Accepted { mac, made_at_ms })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn key(secret: &str) -> EdgeProofKey {
        EdgeProofKey::new(&EdgeSecret::new(secret).expect("strong"))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn request(body: &[u8]) -> ProvedRequest<'_> {
        ProvedRequest {
            method: "POST",
            path_and_query: "/api/tenant/7/buy",
            body,
        }
    }

    #[test]
    fn a_proof_holds_only_for_its_own_request_key_and_time() {
        let headers: HashMap<&str, &str> =
            HashMap::from([(REQUEST_ID, "r1"), ("idempotency-key", "k1")]);
        let lookup = |name: &str| headers.get(name).copied();
        let key = key(SECRET);
        let proof = key.prove(request(b"{\"item_id\":1}"), lookup, 1_000_000);
        let check = |body: &[u8], lookup: &dyn Fn(&str) -> Option<&'static str>, now| {
            key.check(Some(&proof), request(body), lookup, now)
        };
        assert!(check(b"{\"item_id\":1}", &lookup, 1_004_000).is_ok());
        assert_eq!(
            check(b"{\"item_id\":2}", &lookup, 1_000_000),
            Err(ProofError::Mismatch),
            "another body"
        );
        let other_key = |name: &str| {
            if name == "idempotency-key" {
                Some("k2")
            } else {
                lookup(name)
            }
        };
        assert_eq!(
            check(b"{\"item_id\":1}", &other_key, 1_000_000),
            Err(ProofError::Mismatch),
            "another idempotency key"
        );
        assert_eq!(
            check(b"{\"item_id\":1}", &lookup, 1_005_001),
            Err(ProofError::Expired),
            "too late"
        );
        let get = ProvedRequest {
            method: "GET",
            ..request(b"{\"item_id\":1}")
        };
        assert_eq!(
            key.check(Some(&proof), get, lookup, 1_000_000),
            Err(ProofError::Mismatch),
            "another method"
        );
        let stranger = self::key("another secret of thirty-two bytes!");
        assert_eq!(
            stranger.check(Some(&proof), request(b"{\"item_id\":1}"), lookup, 1_000_000),
            Err(ProofError::Mismatch)
        );
        for junk in ["", "v1", "v1.x.y", "v2.1000000.abc", SECRET] {
            assert!(key
                .check(Some(junk), request(b""), lookup, 1_000_000)
                .is_err());
        }
        assert_eq!(
            key.check(None, request(b""), lookup, 1_000_000),
            Err(ProofError::Missing)
        );
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for host in ["localhost", "127.0.0.1", "127.8.9.1", "[::1]", "::1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.1",
            "[2001:db8::1]",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
