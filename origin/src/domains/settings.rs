//! What the domain feature is told by its operator: where owners point their names, which names
//! are the platform's own, how many a shop may hold and for how long a claim waits, and where
//! the checks look (development points them at the local Worker and a local resolver).

use std::{net::SocketAddr, time::Duration};

/// The feature's settings; `DomainSettings::default()` is development's.
#[derive(Debug, Clone)]
pub struct DomainSettings {
    /// What owners point their CNAME at (`CUSTOM_DOMAIN_TARGET`).
    pub cname_target: String,
    /// The platform's own domains, normalised: names under them cannot be claimed (unless the
    /// shop holds them already).
    pub platform_domains: Vec<String>,
    /// Most domains (live or claimed) one shop may hold.
    pub per_shop_cap: i64,
    /// How long an unverified claim waits before it lapses.
    pub claim_lifetime: chrono::Duration,
    /// Where the HTTP check connects instead of resolving the hostname (`Host:` names it).
    pub http_via: Option<String>,
    /// The resolver the TXT check asks instead of the system's.
    pub dns_server: Option<SocketAddr>,
    /// Longest any one check may take.
    pub check_timeout: Duration,
    /// Cloudflare for SaaS, when configured.
    pub cloudflare: Option<CloudflareSettings>,
}

/// The zone whose custom hostnames the platform manages, and how to reach its API.
#[derive(Debug, Clone)]
pub struct CloudflareSettings {
    pub api_base: String,
    pub zone_id: String,
    pub api_token: secrecy::SecretString,
}

impl DomainSettings {
    pub const DEFAULT_CNAME_TARGET: &'static str = "shops.furnitureops.test";
    pub const DEFAULT_PLATFORM_DOMAINS: &'static str = "furnitureops.test";
    pub const DEFAULT_PER_SHOP_CAP: i64 = 10;
    pub const DEFAULT_CLAIM_DAYS: i64 = 7;
    pub const DEFAULT_CHECK_TIMEOUT_MS: u64 = 5_000;
    pub const CLOUDFLARE_API_BASE: &'static str = "https://api.cloudflare.com/client/v4";

    /// `raw`'s comma-separated domains, lower case, without dots at either end.
    pub fn parse_domains(raw: &str) -> Vec<String> {
        raw.split(',')
            .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect()
    }
}

impl Default for DomainSettings {
    fn default() -> Self {
        Self {
            cname_target: Self::DEFAULT_CNAME_TARGET.to_owned(),
            platform_domains: Self::parse_domains(Self::DEFAULT_PLATFORM_DOMAINS),
            per_shop_cap: Self::DEFAULT_PER_SHOP_CAP,
            claim_lifetime: chrono::Duration::days(Self::DEFAULT_CLAIM_DAYS),
            http_via: None,
            dns_server: None,
            check_timeout: Duration::from_millis(Self::DEFAULT_CHECK_TIMEOUT_MS),
            cloudflare: None,
        }
    }
}
