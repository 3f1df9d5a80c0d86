//! Custom domains' flags and environment variables (flattened into `serve`'s), turned into
//! the feature's `DomainSettings`. Cloudflare for SaaS is on when both its zone and its token
//! are set; development leaves them out and the certificate step is skipped.

use std::net::SocketAddr;

use clap::Args;
use secrecy::SecretString;

use super::secrets::secret;
use crate::domains::{CloudflareSettings, DomainSettings};

#[derive(Debug, Clone, Args)]
pub struct DomainArgs {
    /// What owners point their hostname's CNAME at.
    #[arg(long, env = "CUSTOM_DOMAIN_TARGET", default_value = DomainSettings::DEFAULT_CNAME_TARGET)]
    pub custom_domain_target: String,
    /// The platform's own domains, comma-separated: names under them cannot be claimed (a shop
    /// keeps those it was given). The CNAME target's parent domain is added.
    #[arg(long, env = "PLATFORM_DOMAINS", default_value = DomainSettings::DEFAULT_PLATFORM_DOMAINS)]
    pub platform_domains: String,
    /// Most domains, live or claimed, one shop may hold.
    #[arg(long, env = "DOMAIN_CAP_PER_SHOP", default_value_t = DomainSettings::DEFAULT_PER_SHOP_CAP)]
    pub domain_cap_per_shop: i64,
    /// Days an unverified claim waits before it lapses.
    #[arg(long, env = "DOMAIN_CLAIM_DAYS", default_value_t = DomainSettings::DEFAULT_CLAIM_DAYS)]
    pub domain_claim_days: i64,
    /// Where the HTTP check connects instead of resolving the hostname, sending `Host:` (the
    /// local Worker in development: http://127.0.0.1:8787).
    #[arg(long, env = "DOMAIN_CHECK_HTTP_VIA")]
    pub domain_check_http_via: Option<String>,
    /// The DNS server (ip:port) the TXT check asks instead of the system's resolver.
    #[arg(long, env = "DOMAIN_CHECK_DNS")]
    pub domain_check_dns: Option<SocketAddr>,
    /// Longest one domain check (an HTTP fetch, a DNS lookup, a Cloudflare call) may take.
    #[arg(long, env = "DOMAIN_CHECK_TIMEOUT_MS", default_value_t = DomainSettings::DEFAULT_CHECK_TIMEOUT_MS)]
    pub domain_check_timeout_ms: u64,
    /// The Cloudflare zone whose custom hostnames (Cloudflare for SaaS) serve shops' domains.
    #[arg(long, env = "CLOUDFLARE_ZONE_ID", requires = "cloudflare_api_token")]
    pub cloudflare_zone_id: Option<String>,
    /// An API token allowed to edit the zone's custom hostnames.
    #[arg(long, env = "CLOUDFLARE_API_TOKEN", value_parser = secret, hide_env_values = true, requires = "cloudflare_zone_id")]
    pub cloudflare_api_token: Option<SecretString>,
    /// Cloudflare's API (tests point it at a stand-in).
    #[arg(long, env = "CLOUDFLARE_API_BASE", default_value = DomainSettings::CLOUDFLARE_API_BASE)]
    pub cloudflare_api_base: String,
}

impl DomainArgs {
    pub fn settings(&self) -> DomainSettings {
        let mut platform_domains = DomainSettings::parse_domains(&self.platform_domains);
        let target = self
            .custom_domain_target
            .trim()
            .trim_matches('.')
            .to_ascii_lowercase();
        if let Some((_, parent)) = target.split_once('.').filter(|(_, p)| p.contains('.')) {
            if !platform_domains.iter().any(|d| d == parent) {
                platform_domains.push(parent.to_owned());
            }
        }
        let cloudflare = match (&self.cloudflare_zone_id, &self.cloudflare_api_token) {
            (Some(zone_id), Some(api_token)) => Some(CloudflareSettings {
                api_base: self.cloudflare_api_base.clone(),
                zone_id: zone_id.clone(),
                api_token: api_token.clone(),
            }),
            _ => None,
        };
        DomainSettings {
            cname_target: target,
            platform_domains,
            per_shop_cap: self.domain_cap_per_shop,
            claim_lifetime: chrono::Duration::days(self.domain_claim_days),
            http_via: self.domain_check_http_via.clone(),
            dns_server: self.domain_check_dns,
            check_timeout: std::time::Duration::from_millis(self.domain_check_timeout_ms),
            cloudflare,
        }
    }
}
