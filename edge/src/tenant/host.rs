//! The host a request names, in one spelling: `Chairs.Acme.TEST.:8787` and `chairs.acme.test`
//! are the same shop, so they share one cache entry and one lookup.
//!
//! Only a name that could be a DNS hostname is ever looked up at the origin: anything else
//! (an address with brackets, a name with a slash or a space) is no shop, answered here.

use worker::Request;

/// The longest hostname DNS allows, in bytes.
const MAX_HOSTNAME_BYTES: usize = 253;

/// The request's host, normalised: the `Host` header (else the URL's host) in lower case,
/// without its port and without one trailing dot.
pub fn request_host(req: &Request) -> String {
    let raw = req
        .headers()
        .get("host")
        .ok()
        .flatten()
        .or_else(|| req.url().ok().and_then(|u| u.host_str().map(str::to_owned)))
        .unwrap_or_default();
    normalise(&raw)
}

/// `raw` in lower case, without a `:port` and without one trailing dot.
pub fn normalise(raw: &str) -> String {
    let raw = raw.trim();
    let without_port = match raw.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => raw,
    };
    let without_dot = without_port.strip_suffix('.').unwrap_or(without_port);
    without_dot.to_ascii_lowercase()
}

/// Whether a normalised host could be a DNS hostname at all: labels of letters, digits and
/// hyphens (punycode included), none empty, at most 253 bytes. Only those are worth asking
/// the origin about, and only those may go into the lookup's path.
pub fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOSTNAME_BYTES
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_port_and_one_trailing_dot_do_not_change_the_host() {
        for written in [
            "chairs.acme.test",
            "Chairs.Acme.TEST",
            "Chairs.Acme.TEST.",
            "Chairs.Acme.TEST.:8787",
            "chairs.acme.test:443",
            " chairs.acme.test ",
        ] {
            assert_eq!(normalise(written), "chairs.acme.test", "{written}");
        }
        assert_eq!(normalise("chairs.acme.test.."), "chairs.acme.test.");
    }

    #[test]
    fn only_dns_names_are_hostnames() {
        assert!(is_hostname("chairs.acme.test"));
        assert!(is_hostname("xn--mbel-jua.example"));
        assert!(is_hostname("localhost"));
        for bad in [
            "",
            "chairs..acme.test",
            "chairs.acme.test.",
            "[::1]",
            "a/b.test",
            "a b.test",
            "chairs_acme.test",
            "Chairs.test",
        ] {
            assert!(!is_hostname(bad), "{bad}");
        }
        assert!(!is_hostname(&format!("{}.test", "a".repeat(64))));
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(!is_hostname(&long));
    }
}
