//! A stream hoarder: one account opening `GET /api/events` over and over and holding every
//! stream it gets, to use up the origin's connections and memory. Its token lives until just
//! after the attack, as a stolen or a bot's short-lived token would.
//!
//! The origin lets one user hold 3 streams (and a shop 5,000); every other attempt is `429`.
//! A held stream ends when its token expires: after the attack, the bench waits for the held
//! streams to be closed by the other side.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api::{
    headers::CF_CONNECTING_IP,
    token::{KeyAlgorithm, Lifetime, Role},
};
use e2e::{sse::SseReader, tokens::claims};
use reqwest::{header::HOST, StatusCode};

use crate::edge_storm::{
    pace::{paced, Until},
    world::{World, DOMAIN},
};

/// Most attempts outstanding at once (a held stream is no longer outstanding).
const IN_FLIGHT: usize = 32;
/// How long an attempt may take to be answered and, if opened, to say `ready`.
const OPEN_WITHIN: Duration = Duration::from_secs(10);
const ADDRESS: &str = "203.0.113.99";

/// What the hoarder's attempts got.
#[derive(Debug, Clone, Copy, Default)]
pub struct HoarderTally {
    pub sent: usize,
    pub skipped: usize,
    /// Streams opened (and said `ready`); all of them are held.
    pub held: usize,
    pub refused: usize,
    pub other: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Held,
    Refused,
    Other,
}

/// The hoarder: its token, and the streams it holds.
pub struct Hoarder {
    token: String,
    /// When its token expires.
    pub expires: Instant,
    client: reqwest::Client,
    held: Arc<Mutex<Vec<SseReader>>>,
}

impl Hoarder {
    /// A hoarder of `world`'s shop whose token is valid for `lifetime` from now.
    pub fn new(world: &World, lifetime: Duration) -> anyhow::Result<Self> {
        let now = chrono::Utc::now();
        let expires_at = now + chrono::Duration::from_std(lifetime)?;
        let token = world.keys.token_with(
            KeyAlgorithm::Hs256,
            claims(world.shop.org_id, Role::Shopper, "hoarder"),
            Lifetime {
                issued_at: now,
                not_before: None,
                expires_at,
            },
        );
        // The token says its expiry in whole seconds: that second is when it ends.
        let exp_ms = expires_at.timestamp() * 1_000 - now.timestamp_millis();
        Ok(Self {
            token,
            expires: Instant::now() + Duration::from_millis(u64::try_from(exp_ms).unwrap_or(0)),
            // No overall timeout: a held stream is meant to last.
            client: reqwest::Client::new(),
            held: Arc::default(),
        })
    }

    /// Opens streams `per_second` until `deadline`, holding those it gets.
    pub async fn run(
        &self,
        world: &Arc<World>,
        per_second: f64,
        deadline: Instant,
    ) -> HoarderTally {
        let job = |_| {
            let request = self
                .client
                .get(world.url("/api/events"))
                .header(HOST, DOMAIN)
                .header(CF_CONNECTING_IP, ADDRESS)
                .bearer_auth(&self.token);
            let held = self.held.clone();
            async move {
                let opened = tokio::time::timeout(OPEN_WITHIN, async {
                    let response = request.send().await.ok()?;
                    match response.status() {
                        StatusCode::OK => {
                            let mut stream = SseReader::new(response);
                            stream.wait_for("ready", OPEN_WITHIN).await?;
                            Some(Ok(stream))
                        }
                        StatusCode::TOO_MANY_REQUESTS => Some(Err(Attempt::Refused)),
                        _ => Some(Err(Attempt::Other)),
                    }
                })
                .await;
                match opened {
                    Ok(Some(Ok(stream))) => {
                        held.lock().expect("held streams").push(stream);
                        Attempt::Held
                    }
                    Ok(Some(Err(attempt))) => attempt,
                    _ => Attempt::Other,
                }
            }
        };
        let paced = paced(per_second, Until::Deadline(deadline), IN_FLIGHT, job).await;
        let count = |attempt| paced.done.iter().filter(|a| **a == attempt).count();
        HoarderTally {
            sent: paced.done.len(),
            skipped: paced.skipped,
            held: count(Attempt::Held),
            refused: count(Attempt::Refused),
            other: count(Attempt::Other),
        }
    }

    /// Waits until `grace` past the token's expiry for the held streams to end.
    pub async fn streams_ended_after_expiry(&self, grace: Duration) -> StreamsEnded {
        let streams: Vec<SseReader> = std::mem::take(&mut *self.held.lock().expect("held"));
        let until = self.expires + grace;
        let ended = streams.into_iter().map(|mut stream| async move {
            // Events (stock changes) may still come; a stream has ended when it yields none
            // before the time is up.
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if stream.next_event(left).await.is_none() {
                    return (Instant::now() < until).then(Instant::now);
                }
            }
        });
        let expires = self.expires;
        let seconds_from_expiry = futures::future::join_all(ended)
            .await
            .into_iter()
            .flatten()
            .map(|at| {
                if at >= expires {
                    (at - expires).as_secs_f64()
                } else {
                    -(expires - at).as_secs_f64()
                }
            })
            .collect();
        StreamsEnded {
            grace,
            seconds_from_expiry,
        }
    }
}

/// Which held streams ended, each by how long after the token expired (negative: before).
#[derive(Debug, Clone)]
pub struct StreamsEnded {
    pub grace: Duration,
    pub seconds_from_expiry: Vec<f64>,
}
