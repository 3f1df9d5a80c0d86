//! A hostname as an owner types it, turned once into the form everything else compares: lower
//! case, no trailing dot, no port, international names in punycode (IDNA, UTS 46 strict). What
//! cannot be a shop's own name is refused here, with a reason the owner can read: IP literals,
//! `localhost`, wildcards, single labels, names over 253 bytes, malformed labels. Whether a
//! name lies under the platform's own domains is a second question (`is_platform_name`),
//! because the answer depends on who asks.

use std::{fmt, net::IpAddr};

/// A normalised hostname: what the `domains` table and the edge's lookup hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname(String);

impl Hostname {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a hostname cannot be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    #[error("the hostname is empty")]
    Empty,
    #[error("an IP address is not a hostname: point a name at the platform instead")]
    IpLiteral,
    #[error("localhost names only this machine")]
    Localhost,
    #[error("wildcards cannot be claimed: claim each hostname")]
    Wildcard,
    #[error("a hostname needs at least two labels, such as shop.example.com")]
    SingleLabel,
    #[error("the hostname is longer than 253 bytes")]
    TooLong,
    #[error("the hostname is malformed: {0}")]
    Malformed(&'static str),
    #[error("the hostname belongs to the platform")]
    Platform,
}

/// Most bytes of a hostname in its ASCII (punycode) form, without the trailing dot.
pub const MAX_BYTES: usize = 253;

/// Most bytes of one label.
const MAX_LABEL_BYTES: usize = 63;

/// `raw` in its normal form, or why it cannot be a shop's hostname.
pub fn normalise(raw: &str) -> Result<Hostname, HostnameError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(HostnameError::Empty);
    }
    if trimmed.contains('*') {
        return Err(HostnameError::Wildcard);
    }
    if is_ip_literal(trimmed) {
        return Err(HostnameError::IpLiteral);
    }
    let without_port = strip_port(trimmed)?;
    let name = without_port.strip_suffix('.').unwrap_or(without_port);
    if name.is_empty() || name.ends_with('.') {
        return Err(HostnameError::Malformed("empty label"));
    }
    let ascii = idna::domain_to_ascii_strict(name).map_err(|_| {
        if name.len() > MAX_BYTES {
            HostnameError::TooLong
        } else {
            HostnameError::Malformed("not a valid internationalised domain name")
        }
    })?;
    check_ascii(&ascii)?;
    Ok(Hostname(ascii))
}

/// Whether `host` is, or lies under, one of the platform's own domains (`platform`, already
/// normalised).
pub fn is_platform_name(host: &Hostname, platform: &[String]) -> bool {
    platform.iter().any(|domain| {
        host.0 == *domain
            || host
                .0
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.ends_with('.'))
    })
}

fn is_ip_literal(name: &str) -> bool {
    let unbracketed = name
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map_or(name, |(inside, _)| inside);
    unbracketed.parse::<IpAddr>().is_ok() || name.parse::<std::net::SocketAddr>().is_ok()
}

/// `name` without a `:port` suffix (a port must be digits, 1 to 65535).
fn strip_port(name: &str) -> Result<&str, HostnameError> {
    match name.rsplit_once(':') {
        None => Ok(name),
        Some((host, port)) if port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(host),
        Some(_) => Err(HostnameError::Malformed("a port must be a number")),
    }
}

/// The rules IDNA leaves to DNS, checked on the ASCII form.
fn check_ascii(ascii: &str) -> Result<(), HostnameError> {
    if ascii.len() > MAX_BYTES {
        return Err(HostnameError::TooLong);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(HostnameError::Malformed("empty label"));
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err(HostnameError::Malformed("a label is longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(HostnameError::Malformed(
                "only letters, digits and hyphens are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostnameError::Malformed(
                "a label cannot start or end with a hyphen",
            ));
        }
    }
    let last = labels.last().copied().unwrap_or_default();
    if last == "localhost" {
        return Err(HostnameError::Localhost);
    }
    if labels.len() < 2 {
        return Err(HostnameError::SingleLabel);
    }
    // No top-level domain is numeric: `10.1` or `1.2.3.4.5` are addresses in some parsers.
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostnameError::IpLiteral);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalise(raw).expect("a valid hostname").0
    }

    #[test]
    fn case_trailing_dots_and_ports_are_normalised_away() {
        assert_eq!(ok("Chairs.ACME.com"), "chairs.acme.com");
        assert_eq!(ok("chairs.acme.com."), "chairs.acme.com");
        assert_eq!(ok(" chairs.acme.com:8443 "), "chairs.acme.com");
        assert_eq!(ok("CHAIRS.acme.com.:443"), "chairs.acme.com");
    }

    #[test]
    fn international_names_become_punycode() {
        assert_eq!(ok("Möbel.example"), "xn--mbel-5qa.example");
        assert_eq!(ok("xn--mbel-5qa.example"), "xn--mbel-5qa.example");
        assert_eq!(ok("bücher.例え.jp"), "xn--bcher-kva.xn--r8jz45g.jp");
    }

    #[test]
    fn addresses_localhost_and_wildcards_are_refused() {
        assert_eq!(normalise("127.0.0.1"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("10.0.0.1:8080"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("[::1]"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("[::1]:443"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("::1"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("10.1"), Err(HostnameError::IpLiteral));
        assert_eq!(normalise("localhost"), Err(HostnameError::Localhost));
        assert_eq!(normalise("shop.LOCALHOST."), Err(HostnameError::Localhost));
        assert_eq!(normalise("*.acme.com"), Err(HostnameError::Wildcard));
    }

    #[test]
    fn malformed_and_overlong_names_are_refused() {
        assert_eq!(normalise(""), Err(HostnameError::Empty));
        assert_eq!(normalise("   "), Err(HostnameError::Empty));
        assert_eq!(normalise("chairs"), Err(HostnameError::SingleLabel));
        assert!(matches!(
            normalise("a..b.com"),
            Err(HostnameError::Malformed(_))
        ));
        assert!(matches!(
            normalise("-chairs.acme.com"),
            Err(HostnameError::Malformed(_))
        ));
        assert!(matches!(
            normalise("chairs_acme.com"),
            Err(HostnameError::Malformed(_))
        ));
        assert!(matches!(
            normalise("chairs.acme.com:http"),
            Err(HostnameError::Malformed(_))
        ));
        assert!(matches!(
            normalise("chairs.acme.com/path"),
            Err(HostnameError::Malformed(_))
        ));
        assert!(matches!(
            normalise(&format!("{}.com", "a".repeat(64))),
            Err(HostnameError::Malformed(_))
        ));
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert_eq!(normalise(&long), Err(HostnameError::TooLong));
        let longest = format!("{}.com", vec!["a".repeat(61); 4].join("."));
        assert!(longest.len() <= MAX_BYTES, "{}", longest.len());
        assert!(normalise(&longest).is_ok());
    }

    #[test]
    fn platform_names_are_the_domains_and_what_lies_under_them() {
        let platform = vec!["furnitureops.test".to_owned()];
        let name = |raw| normalise(raw).expect("valid");
        assert!(is_platform_name(&name("furnitureops.test"), &platform));
        assert!(is_platform_name(
            &name("demo.FurnitureOps.test."),
            &platform
        ));
        assert!(!is_platform_name(&name("notfurnitureops.test"), &platform));
        assert!(!is_platform_name(&name("chairs.acme.com"), &platform));
    }
}
