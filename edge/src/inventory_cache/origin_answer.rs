//! An origin answer to an inventory read, read in full, so that every caller sharing the fetch
//! gets its own copy and both cache entries can be made from it.

use worker::{Response, Result};

/// Origin headers kept on a shared answer (the rest, like its request id, belong to the caller
/// that made the fetch).
const KEPT_HEADERS: [&str; 2] = ["content-type", "retry-after"];

#[derive(Debug, Clone)]
pub struct OriginAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OriginAnswer {
    pub async fn read(mut response: Response) -> Result<Self> {
        let headers = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(name).ok().flatten()?;
                Some(((*name).to_owned(), value))
            })
            .collect();
        Ok(Self {
            status: response.status_code(),
            headers,
            body: response.bytes().await?,
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The answer as a response that caches may keep for `max_age_seconds` (errors: not at all).
    pub fn response(&self, max_age_seconds: u64) -> Result<Response> {
        let response = Response::from_bytes(self.body.clone())?.with_status(self.status);
        let headers = response.headers();
        for (name, value) in &self.headers {
            headers.set(name, value)?;
        }
        let cache_control = if self.is_success() {
            format!("public, max-age={max_age_seconds}")
        } else {
            "no-store".to_owned()
        };
        headers.set("cache-control", &cache_control)?;
        Ok(response)
    }
}
