//! One GET of a provider's JWK set, within `FETCH_DEADLINE` and `MAX_JWKS_BYTES`.

use std::time::Duration;

use api::token::key_refresh::{freshness, FETCH_DEADLINE, MAX_JWKS_BYTES};

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
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the provider answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
}

impl KeySetUrl {
    pub fn new(url: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_DEADLINE)
            .connect_timeout(FETCH_DEADLINE)
            .build()?;
        Ok(Self { url, client })
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
        let bytes = response.bytes().await?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(FetchError::TooLarge);
        }
        Ok(Fetched {
            body: String::from_utf8_lossy(&bytes).into_owned(),
            fresh_for,
        })
    }
}
