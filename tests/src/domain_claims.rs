//! A stand-in for the origin's admin domain routes (`/api/tenant/{org_id}/admin/domains...`),
//! for the console's browser test of the edge side: claims are kept in memory, a claim's HTTP
//! challenge is published to the `HostDirectory` the Worker looks hosts up in, and "check now"
//! verifies as the origin does, by asking the Worker for `http://{hostname}{path}` (connecting to
//! the Worker and sending `Host: {hostname}`) and comparing the body. A verified hostname turns
//! live in the directory; the primary, and removal, are published there too. Requests must
//! carry the edge's proof.

use std::sync::{Arc, Mutex};

use api::{
    domains::{
        AddDomain, CnameRecord, Domain, DomainList, DomainStatus, HostLookup, HttpChallenge,
        TxtChallenge, Verification, CHALLENGE_PREFIX,
    },
    edge_proof::{self, EdgeProofKey, ProvedRequest},
};
use axum::{
    body::Bytes,
    extract::{Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
    Json, Router,
};
use uuid::Uuid;

use crate::{edge_hop::edge_secret, HostDirectory};

/// The platform's CNAME target the stand-in tells owners to use.
pub const TARGET: &str = "shops.furnitureops.test";

#[derive(Debug, Default)]
struct Claims {
    domains: Vec<(Uuid, Domain)>,
    worker_url: Option<String>,
}

#[derive(Clone)]
struct Shared {
    claims: Arc<Mutex<Claims>>,
    directory: HostDirectory,
    key: Arc<EdgeProofKey>,
}

/// The admin domain routes; clones share one set of claims.
#[derive(Debug, Clone, Default)]
pub struct DomainClaims(Arc<Mutex<Claims>>);

impl DomainClaims {
    /// Where "check now" reaches the Worker (e.g. `http://127.0.0.1:PORT`).
    pub fn check_via(&self, worker_url: &str) {
        self.0.lock().expect("claims").worker_url = Some(worker_url.to_owned());
    }

    /// The hostnames of `org_id` and their status.
    pub fn of(&self, org_id: Uuid) -> Vec<(String, DomainStatus, bool)> {
        let claims = self.0.lock().expect("claims");
        claims
            .domains
            .iter()
            .filter(|(org, _)| *org == org_id)
            .map(|(_, d)| (d.hostname.clone(), d.status, d.primary))
            .collect()
    }

    /// The routes, publishing to `directory`, checking proofs made with `secret`.
    pub fn router(&self, directory: &HostDirectory, secret: &str) -> Router {
        let shared = Shared {
            claims: self.0.clone(),
            directory: directory.clone(),
            key: Arc::new(EdgeProofKey::new(&edge_secret(secret))),
        };
        let base = "/api/tenant/{org}/admin/domains";
        Router::new()
            .route(base, get(list).post(add))
            .route(&format!("{base}/{{host}}"), delete(remove))
            .route(&format!("{base}/{{host}}/verify"), post(verify))
            .route(&format!("{base}/{{host}}/primary"), put(make_primary))
            .with_state(shared)
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "https://furnitureops.dev/problems/stand-in",
        "title": "Refused",
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        "content-type",
        "application/problem+json".parse().expect("a header value"),
    );
    response
}

/// The request's body, if it carries a valid edge proof.
async fn proved(shared: &Shared, request: Request) -> Result<Bytes, Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|_| problem(StatusCode::BAD_REQUEST, "unreadable body"))?;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let request = ProvedRequest {
        method: parts.method.as_str(),
        path_and_query: parts.uri.path_and_query().map_or("", |pq| pq.as_str()),
        body: &body,
    };
    let now = chrono::Utc::now().timestamp_millis();
    shared
        .key
        .check(header(edge_proof::HEADER), request, header, now)
        .map_err(|err| problem(StatusCode::UNAUTHORIZED, &err.to_string()))?;
    Ok(body)
}

async fn list(State(shared): State<Shared>, Path(org): Path<Uuid>, request: Request) -> Response {
    if let Err(refused) = proved(&shared, request).await {
        return refused;
    }
    let claims = shared.claims.lock().expect("claims");
    let domains = claims
        .domains
        .iter()
        .filter(|(o, _)| *o == org)
        .map(|(_, d)| d.clone())
        .collect();
    Json(DomainList { domains }).into_response()
}

async fn add(State(shared): State<Shared>, Path(org): Path<Uuid>, request: Request) -> Response {
    let body = match proved(&shared, request).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Ok(AddDomain { hostname }) = serde_json::from_slice(&body) else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"hostname\": ...}");
    };
    let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
    let token = Uuid::new_v4().simple().to_string();
    let http = HttpChallenge {
        path: format!("{CHALLENGE_PREFIX}{token}"),
        body: format!("furnitureops-{}", Uuid::new_v4().simple()),
    };
    let domain = Domain {
        hostname: hostname.clone(),
        status: DomainStatus::Pending,
        primary: false,
        cname: CnameRecord {
            name: hostname.clone(),
            target: TARGET.to_owned(),
        },
        verification: Some(Verification {
            http: http.clone(),
            txt: TxtChallenge {
                name: format!("_furnitureops.{hostname}"),
                value: token,
            },
            txt_required: false,
        }),
        certificate: None,
        last_checked_at: None,
        reason: None,
        expires_at: None,
    };
    let mut claims = shared.claims.lock().expect("claims");
    if claims.domains.iter().any(|(_, d)| d.hostname == hostname) {
        return problem(StatusCode::CONFLICT, "that domain is already claimed");
    }
    claims.domains.push((org, domain.clone()));
    let pending = HostLookup {
        challenges: vec![http],
        ..HostLookup::default()
    };
    shared.directory.set(&hostname, pending);
    (StatusCode::CREATED, Json(domain)).into_response()
}

/// The live hosts of `org` into the directory, each with the primary when it is not it.
fn publish(shared: &Shared, claims: &Claims, org: Uuid) {
    let mine = claims.domains.iter().filter(|(o, _)| *o == org);
    let primary = mine
        .clone()
        .find(|(_, d)| d.primary)
        .map(|(_, d)| d.hostname.clone());
    for (_, domain) in mine.filter(|(_, d)| d.status == DomainStatus::Active) {
        let lookup = HostLookup {
            org_id: Some(org),
            primary: primary.clone().filter(|p| *p != domain.hostname),
            challenges: vec![],
        };
        shared.directory.set(&domain.hostname, lookup);
    }
}

async fn verify(
    State(shared): State<Shared>,
    Path((org, host)): Path<(Uuid, String)>,
    request: Request,
) -> Response {
    if let Err(refused) = proved(&shared, request).await {
        return refused;
    }
    let (challenge, via) = {
        let claims = shared.claims.lock().expect("claims");
        let found = claims
            .domains
            .iter()
            .find(|(o, d)| *o == org && d.hostname == host);
        let Some((_, domain)) = found else {
            return problem(StatusCode::NOT_FOUND, "no such domain");
        };
        (domain.verification.clone(), claims.worker_url.clone())
    };
    let (Some(challenge), Some(via)) = (challenge, via) else {
        return problem(StatusCode::CONFLICT, "nothing to verify");
    };
    let seen = reqwest::Client::new()
        .get(format!("{via}{}", challenge.http.path))
        .header("host", &host)
        .send()
        .await;
    let passed = match seen {
        Ok(response) if response.status().is_success() => {
            response.text().await.unwrap_or_default() == challenge.http.body
        }
        _ => false,
    };
    let mut claims = shared.claims.lock().expect("claims");
    let now = chrono::Utc::now().to_rfc3339();
    let Some((_, domain)) = claims
        .domains
        .iter_mut()
        .find(|(o, d)| *o == org && d.hostname == host)
    else {
        return problem(StatusCode::NOT_FOUND, "no such domain");
    };
    domain.last_checked_at = Some(now);
    if !passed {
        let reason = format!(
            "http://{host}{} did not answer the challenge",
            challenge.http.path
        );
        domain.reason = Some(reason.clone());
        return problem(StatusCode::UNPROCESSABLE_ENTITY, &reason);
    }
    domain.status = DomainStatus::Active;
    domain.verification = None;
    domain.reason = None;
    let answer = domain.clone();
    publish(&shared, &claims, org);
    Json(answer).into_response()
}

async fn make_primary(
    State(shared): State<Shared>,
    Path((org, host)): Path<(Uuid, String)>,
    request: Request,
) -> Response {
    if let Err(refused) = proved(&shared, request).await {
        return refused;
    }
    let mut claims = shared.claims.lock().expect("claims");
    let live = |d: &Domain| d.hostname == host && d.status == DomainStatus::Active;
    if !claims.domains.iter().any(|(o, d)| *o == org && live(d)) {
        return problem(StatusCode::NOT_FOUND, "no such live domain");
    }
    for (_, domain) in claims.domains.iter_mut().filter(|(o, _)| *o == org) {
        domain.primary = domain.hostname == host;
    }
    publish(&shared, &claims, org);
    let domain = claims.domains.iter().find(|(_, d)| d.hostname == host);
    Json(domain.map(|(_, d)| d.clone())).into_response()
}

async fn remove(
    State(shared): State<Shared>,
    Path((org, host)): Path<(Uuid, String)>,
    request: Request,
) -> Response {
    if let Err(refused) = proved(&shared, request).await {
        return refused;
    }
    let mut claims = shared.claims.lock().expect("claims");
    let before = claims.domains.len();
    claims
        .domains
        .retain(|(o, d)| !(*o == org && d.hostname == host));
    if claims.domains.len() == before {
        return problem(StatusCode::NOT_FOUND, "no such domain");
    }
    shared.directory.remove(&host);
    publish(&shared, &claims, org);
    StatusCode::NO_CONTENT.into_response()
}
