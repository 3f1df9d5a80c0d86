//! The key a client sends, its validation, and the fingerprint of the request it names.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::web::error::ApiError;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Keys are kept at least this long (partitions are dropped only once wholly older).
pub const RETENTION_HOURS: i64 = 48;

/// A validated `Idempotency-Key`: 1-255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        ((1..=255).contains(&raw.len()) && printable).then(|| Self(raw.to_owned()))
    }

    /// The key of a request; missing or invalid is a `400`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let value = headers
            .get(HEADER)
            .ok_or_else(|| ApiError::Malformed("the Idempotency-Key header is required".into()))?;
        value.to_str().ok().and_then(Self::parse).ok_or_else(|| {
            ApiError::Malformed(
                "Idempotency-Key must be 1 to 255 printable ASCII characters".into(),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same": a hash of method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize().to_vec()
}

/// Everything that identifies one use of a key.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub org_id: Uuid,
    pub customer_sub: String,
    pub key: IdempotencyKey,
    pub fingerprint: Vec<u8>,
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii() {
        assert!(IdempotencyKey::parse("a").is_some());
        assert!(IdempotencyKey::parse("order 42 / retry").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        assert!(IdempotencyKey::parse("").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_none());
        assert!(IdempotencyKey::parse("tab\there").is_none());
        assert!(IdempotencyKey::parse("caf\u{e9}").is_none());
    }

    #[test]
    fn fingerprints_differ_by_body_and_path() {
        let a = fingerprint("POST", "/buy", b"{}");
        assert_eq!(a, fingerprint("POST", "/buy", b"{}"));
        assert_ne!(a, fingerprint("POST", "/buy", b"{ }"));
        assert_ne!(a, fingerprint("POST", "/other", b"{}"));
    }
}
