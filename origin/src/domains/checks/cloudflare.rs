//! Cloudflare for SaaS: the custom hostname that gets a shop's domain its certificate and its
//! traffic at Cloudflare's edge. The origin creates it when a claim is made (or at the first
//! check, if that failed), reads its hostname status and its certificate status separately,
//! and counts the domain live only when both are `active`: a hostname whose certificate is
//! still being issued would answer shoppers with a TLS error.
//!
//! Cloudflare's API answers in one envelope (`success`, `errors[]`, `result`). An answer that
//! does not come, a 5xx, a 429 or an envelope that cannot be read means "could not ask
//! Cloudflare": the claim stays as it was, and the check is answered 503 to try again, never
//! "failed". The base URL is a setting, so tests point it at a local stand-in.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::Failed;
use crate::domains::settings::CloudflareSettings;

/// Certificate statuses after which Cloudflare stops trying: the owner must act.
const CERTIFICATE_GAVE_UP: [&str; 5] = [
    "validation_timed_out",
    "issuance_timed_out",
    "deployment_timed_out",
    "expired",
    "deleted",
];

/// What Cloudflare says of one custom hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostnameState {
    pub id: String,
    pub hostname_status: String,
    pub certificate_status: Option<String>,
}

impl HostnameState {
    /// Whether shoppers can be served on it: both statuses `active`.
    pub fn verdict(&self) -> Result<(), Failed> {
        let certificate = self.certificate_status.as_deref().unwrap_or("none");
        if self.hostname_status == "active" && certificate == "active" {
            return Ok(());
        }
        if CERTIFICATE_GAVE_UP.contains(&certificate) || self.hostname_status == "blocked" {
            return Err(Failed::owner(format!(
                "the certificate authority gave up (hostname {}, certificate {certificate}): \
                 check the CNAME, remove the domain and add it again",
                self.hostname_status
            )));
        }
        Err(Failed::Waiting(format!(
            "the certificate is not ready yet (hostname {}, certificate {certificate}): \
             check again in a few minutes",
            self.hostname_status
        )))
    }
}

/// A client of one zone's custom hostnames.
#[derive(Debug, Clone)]
pub struct Cloudflare {
    http: reqwest::Client,
    zone_url: String,
    token: String,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct CustomHostname {
    id: String,
    #[serde(default)]
    status: String,
    ssl: Option<Ssl>,
}

#[derive(Debug, Deserialize)]
struct Ssl {
    status: Option<String>,
}

impl From<CustomHostname> for HostnameState {
    fn from(found: CustomHostname) -> Self {
        Self {
            id: found.id,
            hostname_status: found.status,
            certificate_status: found.ssl.and_then(|ssl| ssl.status),
        }
    }
}

impl Cloudflare {
    pub fn new(settings: &CloudflareSettings, timeout: Duration) -> Result<Self, Failed> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| Failed::internal(format!("HTTP client: {err}")))?;
        Ok(Self {
            http,
            zone_url: format!(
                "{}/zones/{}/custom_hostnames",
                settings.api_base.trim_end_matches('/'),
                settings.zone_id
            ),
            token: settings.api_token.expose_secret().to_owned(),
        })
    }

    /// Creates the custom hostname, or finds the one made before (a retried claim).
    pub async fn create(&self, host: &str) -> Result<HostnameState, Failed> {
        let body = json!({"hostname": host, "ssl": {"method": "http", "type": "dv"}});
        let request = self.http.post(&self.zone_url).json(&body);
        match self.call::<CustomHostname>(request).await {
            Ok(created) => Ok(created.into()),
            Err(Failed::Owner(reason)) => match self.find(host).await? {
                Some(existing) => Ok(existing),
                None => Err(Failed::Owner(reason)),
            },
            Err(other) => Err(other),
        }
    }

    /// The custom hostname `id` as Cloudflare has it now.
    pub async fn read(&self, id: &str) -> Result<HostnameState, Failed> {
        let request = self.http.get(format!("{}/{id}", self.zone_url));
        Ok(self.call::<CustomHostname>(request).await?.into())
    }

    /// Deletes the custom hostname `id` (a released domain).
    pub async fn remove(&self, id: &str) -> Result<(), Failed> {
        let request = self.http.delete(format!("{}/{id}", self.zone_url));
        self.call::<serde_json::Value>(request).await.map(drop)
    }

    async fn find(&self, host: &str) -> Result<Option<HostnameState>, Failed> {
        let request = self.http.get(&self.zone_url).query(&[("hostname", host)]);
        let found = self.call::<Vec<CustomHostname>>(request).await?;
        Ok(found.into_iter().next().map(HostnameState::from))
    }

    /// Sends `request` and opens the envelope: 5xx, 429, 401/403 (the platform's token) and
    /// unreadable answers are "could not ask"; other refusals are the hostname's, in
    /// Cloudflare's words.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failed> {
        let unreachable = |what: String| {
            tracing::warn!(error = %what, "could not ask Cloudflare");
            Failed::unreachable(
                "could not ask Cloudflare about the certificate; check again shortly",
            )
        };
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        let status = response.status();
        if status.is_server_error()
            || status.as_u16() == 429
            || status.as_u16() == 401
            || status.as_u16() == 403
        {
            return Err(unreachable(format!("Cloudflare answered {status}")));
        }
        let envelope: Envelope<T> = response
            .json()
            .await
            .map_err(|err| unreachable(format!("unreadable answer: {err}")))?;
        match envelope.result {
            Some(result) if envelope.success => Ok(result),
            _ => {
                let words: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{} ({})", e.message, e.code))
                    .collect();
                Err(Failed::owner(format!(
                    "Cloudflare refused the hostname: {}",
                    if words.is_empty() {
                        "no reason given".to_owned()
                    } else {
                        words.join("; ")
                    }
                )))
            }
        }
    }
}
