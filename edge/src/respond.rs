//! The answer the Worker is about to give, with the headers still to be added to it.
//!
//! Responses that come from `fetch()` or the Cache API have immutable headers, so adding one
//! means copying them onto a fresh set. Modules add what they know (rate-limit fields, cache
//! status) and the headers are copied once, when the answer is finished.

use worker::{Headers, Response, Result};

#[derive(Debug)]
pub struct Answer {
    response: Response,
    extra: Vec<(&'static str, String)>,
}

impl Answer {
    /// `response` with `name: value` added (replacing any header of that name).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.response.status_code()
    }

    /// The same answer without its body, as `HEAD` is answered: status and headers (its
    /// `Content-Length` included) stay those of the `GET`.
    pub fn without_body(self) -> Result<Self> {
        let headers = Headers::new();
        for (name, value) in self.response.headers().entries() {
            headers.append(&name, &value)?;
        }
        let response = Response::empty()?
            .with_status(self.response.status_code())
            .with_headers(headers);
        Ok(Self {
            response,
            extra: self.extra,
        })
    }

    /// The response itself, e.g. to copy its body (`Response::cloned`).
    pub fn response_mut(&mut self) -> &mut Response {
        &mut self.response
    }

    pub fn finish(self) -> Result<Response> {
        let headers = Headers::new();
        for (name, value) in self.response.headers().entries() {
            headers.append(&name, &value)?;
        }
        for (name, value) in &self.extra {
            headers.set(name, value)?;
        }
        Ok(self.response.with_headers(headers))
    }
}

impl From<Response> for Answer {
    fn from(response: Response) -> Self {
        Self {
            response,
            extra: Vec::new(),
        }
    }
}
