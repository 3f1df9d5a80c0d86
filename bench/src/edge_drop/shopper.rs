//! One shopper of the drop: their own token and address, one buy under one `Idempotency-Key`,
//! retried with the same key after the `Retry-After` of a `429` or `503`, at most `RETRIES`
//! times, as a well-behaved client would.

use std::time::{Duration, Instant};

use api::headers::{CF_CONNECTING_IP, EDGE_REFUSAL, RETRY_AFTER};
use reqwest::Client;
use serde_json::json;
use uuid::Uuid;

/// Retries after the first attempt, at most.
pub const RETRIES: usize = 3;
/// A request unanswered after this long counts as no answer.
const GIVE_UP_AFTER: Duration = Duration::from_secs(15);
/// The longest `Retry-After` a shopper waits out; a longer one ends their attempts.
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// What kind of answer an attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Sold,
    SoldOutAtEdge,
    SoldOutAtOrigin,
    TooMany,
    Busy,
    OtherServerError,
    Other,
    NoAnswer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sold => "201 sold",
            Self::SoldOutAtEdge => "409 sold out (edge)",
            Self::SoldOutAtOrigin => "409 sold out (origin)",
            Self::TooMany => "429",
            Self::Busy => "503",
            Self::OtherServerError => "other 5xx",
            Self::Other => "other",
            Self::NoAnswer => "no answer",
        }
    }

    fn of(status: u16, edge_refusal: bool) -> Self {
        match status {
            201 => Self::Sold,
            409 if edge_refusal => Self::SoldOutAtEdge,
            409 => Self::SoldOutAtOrigin,
            429 => Self::TooMany,
            503 => Self::Busy,
            500..=599 => Self::OtherServerError,
            _ => Self::Other,
        }
    }
}

/// One request and its answer.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub kind: Kind,
    pub latency: Duration,
    /// When the answer came, from the start of the phase.
    pub answered_at: Duration,
}

/// Where a shopper buys, and as whom.
#[derive(Debug, Clone)]
pub struct Shopper {
    pub edge_url: String,
    pub domain: &'static str,
    pub token: String,
    pub address: String,
    pub item_id: Uuid,
}

impl Shopper {
    /// Buys one unit, retrying as told; every attempt's answer, in order.
    pub async fn buy(&self, http: &Client, phase_start: Instant) -> Vec<Attempt> {
        let key = Uuid::new_v4().to_string();
        let mut attempts = Vec::with_capacity(RETRIES + 1);
        for _ in 0..=RETRIES {
            let sent = Instant::now();
            let answer = http
                .post(format!("{}/api/buy", self.edge_url))
                .header("host", self.domain)
                .header(CF_CONNECTING_IP, &self.address)
                .header("idempotency-key", &key)
                .bearer_auth(&self.token)
                .json(&json!({"item_id": self.item_id, "quantity": 1}))
                .timeout(GIVE_UP_AFTER)
                .send()
                .await;
            let (kind, wait) = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let edge = response.headers().contains_key(EDGE_REFUSAL);
                    let wait = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let _ = response.bytes().await;
                    (Kind::of(status, edge), wait)
                }
                Err(_) => (Kind::NoAnswer, None),
            };
            attempts.push(Attempt {
                kind,
                latency: sent.elapsed(),
                answered_at: phase_start.elapsed(),
            });
            let retry = matches!(kind, Kind::TooMany | Kind::Busy);
            match wait {
                Some(wait) if retry && wait <= LONGEST_WAIT => tokio::time::sleep(wait).await,
                _ => break,
            }
        }
        attempts
    }
}

/// Shopper `n`'s address, one of its own (RFC 2544's benchmarking range).
pub fn address(n: usize) -> String {
    format!("198.18.{}.{}", n / 250, n % 250 + 1)
}
