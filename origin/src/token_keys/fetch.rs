//! One GET of a provider's JWK set, within `FETCH_DEADLINE` and `MAX_JWKS_BYTES`.
//!
//! Providers publish over HTTPS, and only `https://` is accepted (plain `http://` only to a
//! loopback address, for development): a key set read in the clear could be swapped on the way,
//! and whoever swaps it mints every shop's admin tokens. For the same reason redirects are not
//! followed, and the body is read against `MAX_JWKS_BYTES` as it arrives. The client speaks it with rustls (ring as the crypto provider)
//! and trusts the platform's roots and the bundled webpki roots, so it works in a slim container
//! without `ca-certificates` too, plus any CA the operator names (`JWT_JWKS_CA_FILE`), for a
//! self-hosted provider whose certificate no public root signed. A certificate that does not
//! check out is a failed fetch like any other: the last good set is kept, and with none token
//! checks answer 503.

use std::{error::Error as _, time::Duration};

use api::{
    edge_proof::is_loopback_host,
    token::key_refresh::{freshness, FETCH_DEADLINE, MAX_JWKS_BYTES},
};

/// Where the provider publishes its keys (`JWT_JWKS_URL`).
#[derive(Debug, Clone)]
pub struct KeySetUrl {
    url: String,
    client: reqwest::Client,
}

/// A fetched set and how long it stays fresh.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    pub fresh_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// With every cause, so a TLS refusal says why (`invalid peer certificate: UnknownIssuer`).
    #[error("request failed: {}", chain(.0))]
    Request(#[from] reqwest::Error),
    #[error("the provider answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
}

impl KeySetUrl {
    /// `url`, trusting the platform's and the bundled roots.
    pub fn new(url: String) -> anyhow::Result<Self> {
        Self::trusting(url, None)
    }

    /// `url`, trusting the CA certificates in `extra_ca_pem` (one or more PEM blocks) besides.
    pub fn trusting(url: String, extra_ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(&url)?;
        anyhow::ensure!(
            parsed.scheme() == "https"
                || (parsed.scheme() == "http"
                    && is_loopback_host(parsed.host_str().unwrap_or_default())),
            "JWT_JWKS_URL must be https:// (plain http:// only to a loopback address): a key set \
             read in the clear can be swapped on the way"
        );
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect could lead anywhere, plain http included: the set is read from the
            // configured address or not at all.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_DEADLINE)
            .connect_timeout(FETCH_DEADLINE);
        if let Some(pem) = extra_ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)?;
            anyhow::ensure!(!certificates.is_empty(), "no PEM certificate in it");
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        Ok(Self {
            url,
            client: builder.build()?,
        })
    }

    pub async fn fetch(&self) -> Result<Fetched, FetchError> {
        let response = self.client.get(&self.url).send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let fresh_for = freshness(
            response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|value| value.to_str().ok()),
        );
        if response
            .content_length()
            .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        // Read chunk by chunk, so a body that never ends (or lies about its length) costs at
        // most the cap.
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if bytes.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body: String::from_utf8_lossy(&bytes).into_owned(),
            fresh_for,
        })
    }
}

/// `err` and its causes, outermost first.
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
