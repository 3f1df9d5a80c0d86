//! A local stand-in for Cloudflare's custom hostnames API (Cloudflare for SaaS), speaking its
//! documented JSON: every answer an envelope of `success`, `errors[]`, `messages[]` and
//! `result`; a custom hostname's `result.status` and `result.ssl.status` apart. A test sets the
//! certificate status new and existing hostnames report, or takes the API down (503).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};

/// The zone and token the origin is configured with.
pub const ZONE_ID: &str = "zone-of-the-test-suite";
pub const API_TOKEN: &str = "token-of-the-test-suite";

#[derive(Debug, Default)]
struct Zone {
    /// id -> (hostname, hostname status, certificate status)
    hostnames: HashMap<String, (String, String, String)>,
    certificate_status: String,
    down: bool,
    created: Vec<String>,
    deleted: Vec<String>,
}

type Shared = Arc<Mutex<Zone>>;

#[derive(Debug)]
pub struct CloudflareStandIn {
    /// What `CLOUDFLARE_API_BASE` is set to.
    pub api_base: String,
    zone: Shared,
    task: JoinHandle<()>,
}

impl CloudflareStandIn {
    pub async fn start() -> Self {
        let zone = Shared::default();
        zone.lock().expect("zone").certificate_status = "pending_validation".to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api_base = format!("http://{}/client/v4", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route(
                "/client/v4/zones/{zone}/custom_hostnames",
                get(list).post(create),
            )
            .route(
                "/client/v4/zones/{zone}/custom_hostnames/{id}",
                get(read).delete(remove),
            )
            .with_state(zone.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            api_base,
            zone,
            task,
        }
    }

    /// The certificate status every hostname reports from now on (`active` once issued).
    pub fn set_certificate_status(&self, status: &str) {
        let mut zone = self.zone.lock().expect("zone");
        zone.certificate_status = status.to_owned();
        for (_, hostname_status, certificate) in zone.hostnames.values_mut() {
            status.clone_into(certificate);
            "active".clone_into(hostname_status);
        }
    }

    /// Takes the API down (every call 503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.zone.lock().expect("zone").down = down;
    }

    /// Hostnames created so far, in order.
    pub fn created(&self) -> Vec<String> {
        self.zone.lock().expect("zone").created.clone()
    }

    /// Hostnames deleted so far, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.zone.lock().expect("zone").deleted.clone()
    }
}

impl Drop for CloudflareStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn envelope(result: Value) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result})).into_response()
}

fn refusal(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null});
    (status, Json(body)).into_response()
}

fn hostname_json(id: &str, (host, status, ssl): &(String, String, String)) -> Value {
    json!({"id": id, "hostname": host, "status": status, "ssl": {"status": ssl, "method": "http", "type": "dv"}})
}

/// The common gate: the API up, the zone and the token right.
fn gate(zone: &Zone, zone_id: &str, headers: &HeaderMap) -> Option<Response> {
    if zone.down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response());
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(API_TOKEN) {
        return Some(refusal(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
        ));
    }
    (zone_id != ZONE_ID).then(|| refusal(StatusCode::NOT_FOUND, 1001, "Invalid zone identifier"))
}

async fn create(
    State(shared): State<Shared>,
    Path(zone_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut zone = shared.lock().expect("zone");
    if let Some(refused) = gate(&zone, &zone_id, &headers) {
        return refused;
    }
    let host = body["hostname"].as_str().unwrap_or_default().to_owned();
    if zone.hostnames.values().any(|(h, _, _)| *h == host) {
        return refusal(
            StatusCode::CONFLICT,
            1406,
            "Duplicate custom hostname found.",
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let entry = (
        host.clone(),
        "pending".to_owned(),
        zone.certificate_status.clone(),
    );
    let answer = hostname_json(&id, &entry);
    zone.hostnames.insert(id, entry);
    zone.created.push(host);
    envelope(answer)
}

async fn list(
    State(shared): State<Shared>,
    Path(zone_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let zone = shared.lock().expect("zone");
    if let Some(refused) = gate(&zone, &zone_id, &headers) {
        return refused;
    }
    let wanted = query.get("hostname");
    let found: Vec<Value> = zone
        .hostnames
        .iter()
        .filter(|(_, entry)| wanted.is_none_or(|w| *w == entry.0))
        .map(|(id, entry)| hostname_json(id, entry))
        .collect();
    envelope(Value::Array(found))
}

async fn read(
    State(shared): State<Shared>,
    Path((zone_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let zone = shared.lock().expect("zone");
    if let Some(refused) = gate(&zone, &zone_id, &headers) {
        return refused;
    }
    match zone.hostnames.get(&id) {
        Some(entry) => envelope(hostname_json(&id, entry)),
        None => refusal(StatusCode::NOT_FOUND, 1436, "Custom hostname not found."),
    }
}

async fn remove(
    State(shared): State<Shared>,
    Path((zone_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut zone = shared.lock().expect("zone");
    if let Some(refused) = gate(&zone, &zone_id, &headers) {
        return refused;
    }
    match zone.hostnames.remove(&id) {
        Some((host, _, _)) => {
            zone.deleted.push(host);
            envelope(json!({"id": id}))
        }
        None => refusal(StatusCode::NOT_FOUND, 1436, "Custom hostname not found."),
    }
}
