//! The write position a client hands back for read-your-writes, sealed so only the origin can
//! issue one.
//!
//! A successful write answers with the primary's WAL position after its commit; a later read
//! that sends it back is served from a database (and an edge cache entry) that has seen that
//! write. Honouring a position costs something (a read past the edge cache, a read on the
//! primary), so a client must not be able to make one up: the origin seals each position with
//! an HMAC over the position, the shop, the user and an expiry, under a key derived from the
//! edge's shared secret, and both the edge and the origin honour only a position that opens
//! under that key, for the shop asked, before it expires. Anything else is ignored, as if no
//! position had been sent.
//!
//! Sealed form: `<lsn>.<org id>.<expiry, unix seconds>.<user, base64url>.<mac, base64url>`.

use std::{fmt, str::FromStr};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::{
    edge_key::{self, EdgeSecret},
    headers::WRITE_LSN_COOKIE,
};

/// How long a position is honoured: far longer than any healthy replica lags, short enough that
/// it does not pin a browser to the primary after a replica outage.
pub const LIFETIME_SECONDS: i64 = 300;

/// Bytes of the HMAC kept in the sealed form (128 bits).
const MAC_BYTES: usize = 16;

/// A position in the primary's write-ahead log, written as Postgres prints it: `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

/// Why a string is not an LSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WAL position (expected two hexadecimal parts such as 0/16B3748)")]
pub struct NotAnLsn;

impl Lsn {
    /// How many bytes of WAL lie between `earlier` and this position (zero if it is not later).
    pub fn bytes_after(self, earlier: Lsn) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl FromStr for Lsn {
    type Err = NotAnLsn;

    fn from_str(text: &str) -> Result<Self, NotAnLsn> {
        let (high, low) = text.trim().split_once('/').ok_or(NotAnLsn)?;
        let half = |part: &str| {
            let valid =
                (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
            valid
                .then(|| u32::from_str_radix(part, 16).ok())
                .flatten()
                .ok_or(NotAnLsn)
        };
        Ok(Self(u64::from(half(high)?) << 32 | u64::from(half(low)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

const PURPOSE: &str = "furnitureops write position v1";

/// The key positions are sealed with, derived from the edge's shared secret so the edge and
/// every origin process hold the same one without another secret to distribute.
#[derive(Clone)]
pub struct WritePositionKey(Hmac<Sha256>);

impl fmt::Debug for WritePositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WritePositionKey([REDACTED])")
    }
}

impl WritePositionKey {
    pub fn new(secret: &EdgeSecret) -> Self {
        Self(secret.key(PURPOSE))
    }

    pub fn from_edge_secret(secret: &[u8]) -> Self {
        Self(edge_key::derive(secret, PURPOSE))
    }

    fn tag(&self, body: &str) -> Vec<u8> {
        let mut mac = self.0.clone();
        mac.update(body.as_bytes());
        mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
    }
}

/// One write's position, for one user of one shop, until an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePosition {
    pub lsn: Lsn,
    pub org_id: Uuid,
    pub sub: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl WritePosition {
    /// `lsn`, written by `sub` in shop `org_id` at `now` (unix seconds).
    pub fn issued(lsn: Lsn, org_id: Uuid, sub: &str, now: i64) -> Self {
        Self {
            lsn,
            org_id,
            sub: sub.to_owned(),
            expires_at: now + LIFETIME_SECONDS,
        }
    }

    pub fn seal(&self, key: &WritePositionKey) -> String {
        let body = format!(
            "{}.{}.{}.{}",
            self.lsn,
            self.org_id,
            self.expires_at,
            URL_SAFE_NO_PAD.encode(self.sub.as_bytes())
        );
        let tag = URL_SAFE_NO_PAD.encode(key.tag(&body));
        format!("{body}.{tag}")
    }

    /// The position `sealed` names, if `key` sealed it for `org_id` and it has not expired.
    pub fn open(sealed: &str, key: &WritePositionKey, org_id: Uuid, now: i64) -> Option<Self> {
        let (body, tag) = sealed.trim().rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != MAC_BYTES {
            return None;
        }
        let mut check = key.0.clone();
        check.update(body.as_bytes());
        // Constant-time comparison of the kept bytes.
        check.verify_truncated_left(&tag).ok()?;
        let mut parts = body.split('.');
        let position = Self {
            lsn: parts.next()?.parse().ok()?,
            org_id: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
            sub: String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?,
        };
        let valid =
            parts.next().is_none() && position.org_id == org_id && now < position.expires_at;
        valid.then_some(position)
    }
}

/// The valid positions among what a client sent for `org_id`: `X-Write-LSN` header values and
/// `Cookie` header values (the `furnitureops_write_lsn` cookie). Invalid ones are ignored.
pub fn sent<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    cookie_headers: impl IntoIterator<Item = &'a str>,
    key: &WritePositionKey,
    org_id: Uuid,
    now: i64,
) -> Vec<WritePosition> {
    let from_cookies = cookie_headers
        .into_iter()
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == WRITE_LSN_COOKIE).then_some(value)
        });
    header_values
        .into_iter()
        .chain(from_cookies)
        .filter_map(|sealed| WritePosition::open(sealed, key, org_id, now))
        .collect()
}

/// The latest of `positions` issued to `reader` (the verified caller's `sub`). Another user's
/// (a position handed to a bot so it may skip the cache) is ignored.
pub fn latest_for(
    positions: impl IntoIterator<Item = WritePosition>,
    reader: Reader<'_>,
) -> Option<WritePosition> {
    positions
        .into_iter()
        .filter(|position| position.org_id == reader.org_id && position.sub == reader.sub)
        .max_by_key(|position| position.lsn)
}

/// The latest valid position among what a client sent (`sent`) that was issued to `reader`.
pub fn latest_sent<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    cookie_headers: impl IntoIterator<Item = &'a str>,
    key: &WritePositionKey,
    reader: Reader<'_>,
    now: i64,
) -> Option<WritePosition> {
    let positions = sent(header_values, cookie_headers, key, reader.org_id, now);
    latest_for(positions, reader)
}

/// Who sends a position back: a verified caller of a shop.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub org_id: Uuid,
    pub sub: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(text: &str) -> Lsn {
        text.parse().expect("valid LSN")
    }

    #[test]
    fn positions_parse_print_and_order_like_postgres() {
        assert_eq!(lsn("0/16B3748").to_string(), "0/16B3748");
        assert_eq!(lsn("16/b374d848").to_string(), "16/B374D848");
        assert!(lsn("1/0") > lsn("0/FFFFFFFF"));
        assert_eq!(lsn("1/10").bytes_after(lsn("1/0")), 16);
        assert_eq!(lsn("1/0").bytes_after(lsn("1/10")), 0);
        for bad in [
            "",
            "0",
            "/1",
            "1/",
            "x/1",
            "123456789/0",
            "0/1/2",
            "-1/0",
            "+1/0",
        ] {
            assert_eq!(bad.parse::<Lsn>(), Err(NotAnLsn), "{bad:?}");
        }
    }

    #[test]
    fn only_an_untouched_unexpired_position_of_the_shop_opens() {
        let key = WritePositionKey::from_edge_secret(b"edge secret");
        let shop = Uuid::new_v4();
        let position = WritePosition::issued(lsn("0/3000060"), shop, "alice.example", 1_000);
        let sealed = position.seal(&key);
        assert_eq!(
            WritePosition::open(&sealed, &key, shop, 1_001),
            Some(position.clone())
        );

        assert_eq!(
            WritePosition::open(&sealed, &key, shop, 1_300),
            None,
            "expired"
        );
        assert_eq!(
            WritePosition::open(&sealed, &key, Uuid::new_v4(), 1_001),
            None,
            "other shop"
        );
        let other_key = WritePositionKey::from_edge_secret(b"another secret");
        assert_eq!(
            WritePosition::open(&sealed, &other_key, shop, 1_001),
            None,
            "other key"
        );
        let raised = sealed.replacen("0/3000060", "FFFFFFFF/FFFFFFFF", 1);
        assert_eq!(
            WritePosition::open(&raised, &key, shop, 1_001),
            None,
            "edited position"
        );
        for forged in ["0/3000060", "FFFFFFFF/FFFFFFFF", "", "....", "a.b.c.d.e"] {
            assert_eq!(
                WritePosition::open(forged, &key, shop, 1_001),
                None,
                "{forged:?}"
            );
        }
    }

    #[test]
    fn the_latest_valid_position_wins_from_header_or_cookie() {
        let key = WritePositionKey::from_edge_secret(b"edge secret");
        let shop = Uuid::new_v4();
        let seal = |at: &str| WritePosition::issued(lsn(at), shop, "alice", 0).seal(&key);
        let (older, newer) = (seal("0/2000000"), seal("0/4000000"));
        let cookie = format!("theme=dark; {WRITE_LSN_COOKIE}={newer}; x=y");
        let alice = Reader {
            org_id: shop,
            sub: "alice",
        };
        let found = latest_sent([older.as_str(), "9/0"], [cookie.as_str()], &key, alice, 1);
        assert_eq!(found.map(|p| p.lsn), Some(lsn("0/4000000")));
        assert_eq!(
            latest_sent(["9/0"], ["furnitureops_write_lsn=soon"], &key, alice, 1),
            None
        );
        let bot = Reader {
            org_id: shop,
            sub: "bot",
        };
        let shared = latest_sent([older.as_str()], [cookie.as_str()], &key, bot, 1);
        assert_eq!(shared, None, "a position is honoured for its own user only");
    }
}
