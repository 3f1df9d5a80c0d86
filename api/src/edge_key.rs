//! The secret the edge and every origin share (`EDGE_SHARED_SECRET`), and the keys derived from
//! it: one per purpose (the label), so a MAC made for one use can never be taken for another,
//! and no second secret has to be distributed.
//!
//! The secret itself never leaves the process that holds it: what travels are MACs under the
//! derived keys (HMAC is a pseudo-random function, so no number of them reveals the key, and a
//! MAC under one derived key says nothing about another). A secret short enough to guess is
//! refused wherever it is loaded: the origin will not start with one, and the Worker answers
//! every API call `500 misconfigured`, since every seal it made could be forged.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The fewest bytes a shared secret may have: 256 bits, as `openssl rand -base64 32` prints.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a configured secret is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("EDGE_SHARED_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {0}); generate one with `openssl rand -base64 32`")]
pub struct WeakSecret(pub usize);

/// A shared secret long enough to trust.
#[derive(Clone)]
pub struct EdgeSecret(Vec<u8>);

impl std::fmt::Debug for EdgeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeSecret([REDACTED])")
    }
}

impl EdgeSecret {
    /// `raw`, if it is at least `MIN_SECRET_BYTES` long once surrounding whitespace (a stray
    /// newline of an env file) is taken off.
    pub fn new(raw: &str) -> Result<Self, WeakSecret> {
        let trimmed = raw.trim();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(trimmed.len()));
        }
        Ok(Self(trimmed.as_bytes().to_vec()))
    }

    /// An HMAC-SHA256 keyed for `purpose`.
    pub fn key(&self, purpose: &str) -> Hmac<Sha256> {
        derive(&self.0, purpose)
    }
}

/// An HMAC-SHA256 keyed for `purpose`: HMAC(HMAC(secret, purpose), ...).
pub fn derive(secret: &[u8], purpose: &str) -> Hmac<Sha256> {
    let mut derive = keyed(secret);
    derive.update(purpose.as_bytes());
    keyed(&derive.finalize().into_bytes())
}

fn keyed(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts a key of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_empty_secrets_are_refused() {
        assert_eq!(EdgeSecret::new("").err(), Some(WeakSecret(0)));
        assert_eq!(EdgeSecret::new("hunter2").err(), Some(WeakSecret(7)));
        let padded = format!("  {}\n", "x".repeat(31));
        assert_eq!(EdgeSecret::new(&padded).err(), Some(WeakSecret(31)));
        assert!(EdgeSecret::new(&"x".repeat(32)).is_ok());
        let message = WeakSecret(7).to_string();
        assert!(message.contains("EDGE_SHARED_SECRET"), "{message}");
    }

    #[test]
    fn keys_of_different_purposes_differ() {
        let secret = EdgeSecret::new(&"s".repeat(40)).expect("strong");
        let tag = |purpose| secret.key(purpose).finalize().into_bytes();
        assert_ne!(tag("a"), tag("b"));
        assert_eq!(tag("a"), tag("a"));
    }
}
