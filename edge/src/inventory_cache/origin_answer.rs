//! An origin answer to an inventory read, read in full, so that every caller sharing the fetch
//! gets its own copy and both cache entries can be made from it.
//!
//! What is read in full is held in the isolate's memory once per caller, so it is capped:
//! an answer over `MAX_BODY_BYTES` (a page of 200 items is about 40 KB) is not buffered but
//! treated as an origin failure.

use futures::StreamExt;
use worker::{Error, Response, Result};

/// The most an inventory answer may weigh before the edge refuses to buffer it.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

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
        let declared = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|length| length.parse::<usize>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(0));
        let mut chunks = response.stream()?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status: response.status_code(),
            headers,
            body,
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// "No such item": cached briefly, like a success (see `not_found`).
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// The answer as a response that caches may keep for `max_age_seconds` (errors other than
    /// a not-found: not at all).
    pub fn response(&self, max_age_seconds: u64) -> Result<Response> {
        let response = Response::from_bytes(self.body.clone())?.with_status(self.status);
        let headers = response.headers();
        for (name, value) in &self.headers {
            headers.set(name, value)?;
        }
        let cache_control = if self.is_success() || self.is_not_found() {
            format!("public, max-age={max_age_seconds}")
        } else {
            "no-store".to_owned()
        };
        headers.set("cache-control", &cache_control)?;
        Ok(response)
    }
}

fn too_large() -> Error {
    Error::RustError(format!(
        "the origin's inventory answer is over {MAX_BODY_BYTES} bytes"
    ))
}
