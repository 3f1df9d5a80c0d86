//! Who a quota belongs to within a shop: the token's subject when the request carried a
//! verified token, else the address Cloudflare saw (`CF-Connecting-IP`), keyed so that
//! rotating addresses buys nothing.
//!
//! An IPv4 address is one client. An IPv6 client is its /64: a single subscriber or host is
//! routinely given a whole /64 and can pick any of its 2^64 addresses per request, so keying
//! the exact address would give each request a fresh quota. An IPv4-mapped IPv6 address is the
//! IPv4 address it maps. A header that is missing or does not parse lands in one shared
//! bucket, never in a key of its own per value. An admin on an admin route is keyed apart
//! (`admin:sub:...`), with the admins' own quota, and apart again for picture uploads
//! (`admin:upload:sub:...`), with the upload budget.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use api::{headers, token::TokenClaims};
use worker::Request;

use super::audience::Audience;

/// The bucket of every request whose address is missing or unreadable.
const UNKNOWN_ADDRESS: &str = "ip:unknown";

/// Who a quota belongs to within a shop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Client(String);

impl Client {
    pub fn of(claims: Option<&TokenClaims>, audience: Audience, req: &Request) -> Self {
        let client = match claims {
            Some(claims) => Self(format!("sub:{}", claims.sub)),
            None => {
                let address = req.headers().get(headers::CF_CONNECTING_IP).ok().flatten();
                Self::from_address(address.as_deref())
            }
        };
        match audience {
            Audience::Admin => client.into_admin(),
            Audience::Uploader => Self(format!("admin:upload:{}", client.0)),
            Audience::Anonymous | Audience::SignedIn => client,
        }
    }

    /// The same caller as an admin on an admin route: a quota of its own, apart from the one
    /// it has as a shopper.
    fn into_admin(self) -> Self {
        Self(format!("admin:{}", self.0))
    }

    /// A client keyed `key`, for tests elsewhere in the Worker.
    #[cfg(test)]
    pub fn test(key: &str) -> Self {
        Self(key.to_owned())
    }

    /// The key the limiter object files this client's log under.
    pub fn key(&self) -> &str {
        &self.0
    }

    fn from_address(address: Option<&str>) -> Self {
        let parsed = address.and_then(|raw| raw.trim().parse::<IpAddr>().ok());
        Self(match parsed {
            Some(IpAddr::V4(v4)) => ipv4_key(v4),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => ipv4_key(v4),
                None => ipv6_network_key(v6),
            },
            None => UNKNOWN_ADDRESS.to_owned(),
        })
    }
}

fn ipv4_key(address: Ipv4Addr) -> String {
    format!("ip:{address}")
}

/// The /64 of `address`, written in its canonical (RFC 5952) form.
fn ipv6_network_key(address: Ipv6Addr) -> String {
    let network = Ipv6Addr::from(address.to_bits() & (u128::MAX << 64));
    format!("ip:{network}/64")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(address: &str) -> String {
        Client::from_address(Some(address)).0
    }

    #[test]
    fn ipv4_addresses_are_exact() {
        assert_eq!(key("198.51.100.7"), "ip:198.51.100.7");
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64_however_written() {
        let expected = "ip:2001:db8:1:2::/64";
        for written in [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:0DB8:0001:0002:0000:0000:0000:0abc",
            " 2001:db8:1:2:dead:beef:0:1 ",
        ] {
            assert_eq!(key(written), expected, "{written}");
        }
        assert_ne!(key("2001:db8:1:3::1"), expected);
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        assert_eq!(key("::ffff:198.51.100.7"), "ip:198.51.100.7");
        assert_eq!(key("::ffff:c633:6407"), "ip:198.51.100.7");
    }

    #[test]
    fn missing_or_garbage_addresses_share_one_bucket() {
        assert_eq!(key("not an address"), UNKNOWN_ADDRESS);
        assert_eq!(key("2001:db8::1::2"), UNKNOWN_ADDRESS);
        assert_eq!(key("198.51.100.7/24"), UNKNOWN_ADDRESS);
        assert_eq!(Client::from_address(None).0, UNKNOWN_ADDRESS);
    }
}
