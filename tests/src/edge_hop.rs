//! Calling the origin as the edge does: with the edge's proof over the request
//! (`api::edge_proof`), made from the shared secret. Tests that play the edge's part use it;
//! tests that play an attacker's do not, and see what an attacker sees.

use std::future::Future;

use api::{
    edge_key::EdgeSecret,
    edge_proof::{self, EdgeProofKey, ProvedRequest},
    headers::REQUEST_ID,
};

/// A secret long enough for the origin and the Worker to accept.
pub const EDGE_SECRET: &str = "edge-secret-of-the-test-suite-0123456789";

/// The secret's wrapper, for `AppState::with_edge_secret`.
pub fn edge_secret(secret: &str) -> EdgeSecret {
    EdgeSecret::new(secret).expect("a secret of at least 32 bytes")
}

/// Adds the edge's proof for `request`, made with `secret`, as of now (and a request id, as the
/// edge always sends one, if it has none).
pub fn prove(request: &mut reqwest::Request, secret: &str) {
    let key = EdgeProofKey::new(&edge_secret(secret));
    if !request.headers().contains_key(REQUEST_ID) {
        let id = uuid::Uuid::new_v4().to_string();
        request.headers_mut().insert(
            REQUEST_ID,
            id.parse().expect("a uuid is a valid header value"),
        );
    }
    let url = request.url();
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default();
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let proved = ProvedRequest {
        method: request.method().as_str(),
        path_and_query: &path_and_query,
        body,
    };
    let proof = key.prove(proved, header, chrono::Utc::now().timestamp_millis());
    request.headers_mut().insert(
        edge_proof::HEADER,
        proof.parse().expect("a proof is a valid header value"),
    );
}

/// `send`, as the edge sends: with a proof.
pub trait SendAsEdge {
    fn send_as_edge(self, secret: &str)
        -> impl Future<Output = reqwest::Result<reqwest::Response>>;
}

impl SendAsEdge for reqwest::RequestBuilder {
    async fn send_as_edge(self, secret: &str) -> reqwest::Result<reqwest::Response> {
        let (client, request) = self.build_split();
        let mut request = request?;
        prove(&mut request, secret);
        client.execute(request).await
    }
}
