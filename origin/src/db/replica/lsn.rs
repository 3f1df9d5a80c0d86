//! WAL positions and how a client hands one back.

use std::{convert::Infallible, fmt, str::FromStr};

use api::headers::{WRITE_LSN, WRITE_LSN_COOKIE};
use axum::{
    extract::FromRequestParts,
    http::{header::COOKIE, request::Parts, HeaderMap},
};

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

/// The write a read must see: the latest valid position the caller sent, in the `X-Write-LSN`
/// header or the `furnitureops_write_lsn` cookie. Values that are not positions are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadAfter(pub Option<Lsn>);

impl ReadAfter {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let from_header = headers
            .get_all(WRITE_LSN)
            .iter()
            .filter_map(|value| value.to_str().ok()?.parse().ok());
        let from_cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == WRITE_LSN_COOKIE).then(|| value.parse().ok())?
            });
        Self(from_header.chain(from_cookie).max())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReadAfter {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

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
    fn a_read_takes_the_latest_position_from_header_or_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(ReadAfter::from_headers(&headers), ReadAfter(None));
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; furnitureops_write_lsn=0/3000060; x=y"),
        );
        assert_eq!(
            ReadAfter::from_headers(&headers),
            ReadAfter(Some(lsn("0/3000060")))
        );
        headers.insert(WRITE_LSN, HeaderValue::from_static("0/2000000"));
        assert_eq!(
            ReadAfter::from_headers(&headers),
            ReadAfter(Some(lsn("0/3000060")))
        );
        headers.insert(WRITE_LSN, HeaderValue::from_static("0/4000000"));
        assert_eq!(
            ReadAfter::from_headers(&headers),
            ReadAfter(Some(lsn("0/4000000")))
        );
    }

    #[test]
    fn values_that_are_not_positions_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(WRITE_LSN, HeaderValue::from_static("soon"));
        headers.insert(
            COOKIE,
            HeaderValue::from_static("furnitureops_write_lsn=later"),
        );
        assert_eq!(ReadAfter::from_headers(&headers), ReadAfter(None));
    }
}
