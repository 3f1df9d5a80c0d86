//! Keys derived from `EDGE_SHARED_SECRET`, which the edge and every origin hold: one per
//! purpose (the label), so a MAC made for one use can never be taken for another, and no second
//! secret has to be distributed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

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
