//! The inventory's page cursor (`next` in a page, sent back as `after`), sealed by the origin so
//! that a client can only hand back a cursor it was given.
//!
//! Every distinct cursor is a distinct cache entry at the edge and a query at the origin, so a
//! cursor a client may invent (a random item id, an edited one) is a free way past the cache:
//! each made-up page is a miss. Sealed, an invented or edited cursor is refused (`400`) by the
//! edge without asking the origin, and by the origin when it is reached directly. A shop has
//! only as many valid cursors as it has items, so the cursors a client can use are few and
//! cached like any page.
//!
//! Sealed form: `<item id>.<mac, base64url>`, the MAC (HMAC-SHA256, 128 bits kept) over the
//! shop and the item, under a key derived from `EDGE_SHARED_SECRET` (`edge_key`), which the
//! edge and every origin hold. A cursor does not expire: a saved "next page" link keeps
//! working, and one shop's cursor never opens for another shop.
//!
//! Without `EDGE_SHARED_SECRET` (development) nothing can be sealed that both sides could
//! check, so cursors are the bare item id, as the origin gave them before sealing: accepted by
//! both sides when well formed. That deployment is unprotected against invented cursors in the
//! same way it is unprotected against forged write positions; production sets the secret.

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::edge_key::{self, EdgeSecret};

/// Bytes of the HMAC kept in the sealed form (128 bits).
const MAC_BYTES: usize = 16;

/// How cursors are issued and checked: sealed under the edge's key, or bare without one.
#[derive(Clone)]
pub struct Cursors(Option<Hmac<Sha256>>);

impl fmt::Debug for Cursors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Cursors(sealed, [REDACTED])"),
            None => f.write_str("Cursors(bare)"),
        }
    }
}

/// Why a client's `after` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("after must be the next cursor of a page of this shop")]
pub struct NotACursor;

const PURPOSE: &str = "furnitureops inventory cursor v1";

impl Cursors {
    /// Sealed under the key derived from the shared secret; bare when there is none.
    pub fn new(secret: Option<&EdgeSecret>) -> Self {
        Self(secret.map(|secret| secret.key(PURPOSE)))
    }

    /// Sealed under the key derived from `EDGE_SHARED_SECRET`; bare when there is none.
    pub fn from_edge_secret(secret: Option<&[u8]>) -> Self {
        Self(secret.map(|secret| edge_key::derive(secret, PURPOSE)))
    }

    /// The cursor of the page after `item_id` in shop `org_id`.
    pub fn issue(&self, org_id: Uuid, item_id: Uuid) -> String {
        match &self.0 {
            Some(key) => {
                let tag = URL_SAFE_NO_PAD.encode(tag(key, org_id, item_id));
                format!("{item_id}.{tag}")
            }
            None => item_id.to_string(),
        }
    }

    /// The item a cursor of shop `org_id` resumes after, if this side could have issued it.
    pub fn open(&self, org_id: Uuid, cursor: &str) -> Result<Uuid, NotACursor> {
        let Some(key) = &self.0 else {
            return Uuid::parse_str(cursor).map_err(|_| NotACursor);
        };
        let (item, mac) = cursor.split_once('.').ok_or(NotACursor)?;
        let item_id = Uuid::parse_str(item).map_err(|_| NotACursor)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| NotACursor)?;
        if mac.len() != MAC_BYTES {
            return Err(NotACursor);
        }
        let mut check = key.clone();
        check.update(&message(org_id, item_id));
        // Constant-time comparison of the kept bytes.
        check.verify_truncated_left(&mac).map_err(|_| NotACursor)?;
        Ok(item_id)
    }
}

fn message(org_id: Uuid, item_id: Uuid) -> Vec<u8> {
    [org_id.as_bytes().as_slice(), item_id.as_bytes()].concat()
}

fn tag(key: &Hmac<Sha256>, org_id: Uuid, item_id: Uuid) -> Vec<u8> {
    let mut mac = key.clone();
    mac.update(&message(org_id, item_id));
    mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cursor_issued_for_the_shop_opens() {
        let cursors = Cursors::from_edge_secret(Some(b"edge secret"));
        let (shop, item) = (Uuid::new_v4(), Uuid::new_v4());
        let cursor = cursors.issue(shop, item);
        assert_eq!(cursors.open(shop, &cursor), Ok(item));
        assert_eq!(cursor, cursors.issue(shop, item), "one spelling per page");

        assert_eq!(cursors.open(Uuid::new_v4(), &cursor), Err(NotACursor));
        let other_key = Cursors::from_edge_secret(Some(b"another secret"));
        assert_eq!(other_key.open(shop, &cursor), Err(NotACursor));
        let other_item = Uuid::new_v4();
        let (_, mac) = cursor.split_once('.').unwrap_or_default();
        let edited = format!("{other_item}.{mac}");
        assert_eq!(cursors.open(shop, &edited), Err(NotACursor));
        for forged in [item.to_string(), format!("{item}."), format!("{item}.AAAA")] {
            assert_eq!(cursors.open(shop, &forged), Err(NotACursor), "{forged}");
        }
    }

    #[test]
    fn without_the_secret_cursors_are_bare_item_ids() {
        let cursors = Cursors::from_edge_secret(None);
        let (shop, item) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(cursors.issue(shop, item), item.to_string());
        assert_eq!(cursors.open(shop, &item.to_string()), Ok(item));
        assert_eq!(cursors.open(shop, "not-an-id"), Err(NotACursor));
    }
}
