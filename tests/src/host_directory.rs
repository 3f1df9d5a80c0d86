//! A stand-in for the origin's host lookup (`GET /api/edge/hosts/{hostname}`), for tests of the
//! edge's side of custom domains: the test says what each hostname is (live for a shop, its
//! primary, its pending challenges), and reads back how often the Worker asked about each.
//!
//! It checks the edge's proof as the origin does (a request without a valid one is refused with
//! 401), answers an unknown hostname `200` with no shop and no challenges, can answer slowly
//! (to show concurrent misses share one lookup) or not at all (503, an origin that cannot
//! answer). Served in front of the real origin (`OriginServer::start_in_front`), so the shop's
//! pages and API behind a live hostname are the real ones.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use api::{
    domains::{HostLookup, HOST_LOOKUP},
    edge_proof::{self, EdgeProofKey, ProvedRequest},
};
use axum::{
    extract::{Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use crate::edge_hop::edge_secret;

#[derive(Debug, Default)]
struct Directory {
    answers: HashMap<String, HostLookup>,
    asked: HashMap<String, usize>,
    delay: Duration,
    failing: bool,
}

/// The hostnames the stand-in knows; clones share one directory.
#[derive(Debug, Clone, Default)]
pub struct HostDirectory(Arc<Mutex<Directory>>);

impl HostDirectory {
    fn with<T>(&self, f: impl FnOnce(&mut Directory) -> T) -> T {
        f(&mut self.0.lock().expect("directory lock"))
    }

    /// From now on, `hostname` is answered with `lookup`.
    pub fn set(&self, hostname: &str, lookup: HostLookup) {
        self.with(|d| d.answers.insert(hostname.to_owned(), lookup));
    }

    /// From now on, `hostname` is unknown.
    pub fn remove(&self, hostname: &str) {
        self.with(|d| d.answers.remove(hostname));
    }

    /// Every lookup waits `delay` before it is answered.
    pub fn answer_after(&self, delay: Duration) {
        self.with(|d| d.delay = delay);
    }

    /// While `failing`, every lookup is answered 503, as by an origin that cannot answer.
    pub fn fail(&self, failing: bool) {
        self.with(|d| d.failing = failing);
    }

    /// How many lookups of `hostname` arrived (with a valid proof).
    pub fn asked(&self, hostname: &str) -> usize {
        self.with(|d| d.asked.get(hostname).copied().unwrap_or(0))
    }

    /// How many lookups arrived in all.
    pub fn asked_in_all(&self) -> usize {
        self.with(|d| d.asked.values().sum())
    }

    /// The lookup route, checking proofs made with `secret`.
    pub fn router(&self, secret: &str) -> Router {
        let key = Arc::new(EdgeProofKey::new(&edge_secret(secret)));
        let route = HOST_LOOKUP.replace("{hostname}", "{host}");
        Router::new()
            .route(&route, get(lookup))
            .with_state((self.clone(), key))
    }
}

async fn lookup(
    State((directory, key)): State<(HostDirectory, Arc<EdgeProofKey>)>,
    Path(host): Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let proved = ProvedRequest {
        method: request.method().as_str(),
        path_and_query: request.uri().path_and_query().map_or("", |pq| pq.as_str()),
        body: &[],
    };
    let now = chrono::Utc::now().timestamp_millis();
    if let Err(err) = key.check(header(edge_proof::HEADER), proved, header, now) {
        return (StatusCode::UNAUTHORIZED, err.to_string()).into_response();
    }
    let (delay, failing) = directory.with(|d| {
        *d.asked.entry(host.clone()).or_default() += 1;
        (d.delay, d.failing)
    });
    tokio::time::sleep(delay).await;
    if failing {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let answer = directory.with(|d| d.answers.get(&host).cloned().unwrap_or_default());
    Json(answer).into_response()
}
