//! What reached the origin: a recording layer around `origin::app`, so tests can count origin
//! hits (did the cache answer?) and read the headers the edge sent (request id, trace context).

use std::sync::{Arc, Mutex};

use axum::{extract::Request, http::HeaderMap, middleware::Next, Router};

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, e.g. `/api/tenant/{org_id}/inventory`.
    pub path: String,
    pub headers: HeaderMap,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Every request the origin received, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct OriginLog(Arc<Mutex<Vec<Received>>>);

impl OriginLog {
    /// `app` with every request recorded here before it is served.
    pub fn around(&self, app: Router) -> Router {
        let log = self.clone();
        app.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let log = log.clone();
                async move {
                    log.record(&request);
                    next.run(request).await
                }
            },
        ))
    }

    fn record(&self, request: &Request) {
        let received = Received {
            method: request.method().to_string(),
            path: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
            headers: request.headers().clone(),
        };
        self.0.lock().expect("origin log lock").push(received);
    }

    pub fn received(&self) -> Vec<Received> {
        self.0.lock().expect("origin log lock").clone()
    }

    /// How many requests had a path ending with `suffix` (e.g. `/inventory`).
    pub fn count_ending_with(&self, suffix: &str) -> usize {
        self.0
            .lock()
            .expect("origin log lock")
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .count()
    }

    /// The last request whose path ends with `suffix`.
    pub fn last_ending_with(&self, suffix: &str) -> Option<Received> {
        self.0
            .lock()
            .expect("origin log lock")
            .iter()
            .rev()
            .find(|r| r.path.ends_with(suffix))
            .cloned()
    }
}
