//! The sale's crowd: shoppers buying the hot item through the Worker at full speed, and a
//! reader polling the inventory beside them, every answer written to one journal the phase's
//! checks read afterwards.
//!
//! Each purchase is its own shopper (token, client address, `Idempotency-Key`), sent again with
//! the same key after a 5xx, a `429`, a key-in-flight `409` or a dropped connection, as the
//! storefront does, so every key ends decided and a lost answer is still found by its key.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use api::{purchase::Order, token::Role};
use uuid::Uuid;

use super::{HaStack, DOMAIN};
use crate::TestKeys;

/// How long a shopper waits before sending a purchase again when the answer does not say.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// One answer a shopper got.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub(super) sent: Instant,
    pub(super) latency: Duration,
    /// 0 when the connection to the Worker failed.
    pub(super) status: u16,
    pub(super) retry_after: bool,
}

#[derive(Debug, Default)]
pub(super) struct Journal {
    pub(super) attempts: Vec<Attempt>,
    /// Idempotency-Key -> the order its `201` named.
    pub(super) acknowledged: HashMap<String, Uuid>,
    pub(super) reads: Vec<Attempt>,
}

/// The shoppers and the reader, running until stopped.
pub(super) struct Sale {
    pub(super) journal: Arc<Mutex<Journal>>,
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Sale {
    /// Starts `shoppers` shoppers and one reader against the stack's Worker.
    pub(super) fn start(stack: &HaStack, shoppers: usize) -> Self {
        let journal = Arc::new(Mutex::new(Journal::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Uuid::new_v4().simple().to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let mut tasks = tokio::task::JoinSet::new();
        for shopper in 0..shoppers {
            let buyer = Buyer {
                keys: stack.keys.clone(),
                org_id: stack.shop.org_id,
                phase: phase.clone(),
                shopper,
            };
            tasks.spawn(shop(
                http.clone(),
                stack.edge.url.clone(),
                buyer,
                stack.item_id,
                journal.clone(),
                stop.clone(),
            ));
        }
        tasks.spawn(read(
            http.clone(),
            stack.edge.url.clone(),
            journal.clone(),
            stop.clone(),
        ));
        Self {
            journal,
            stop,
            tasks,
        }
    }

    /// Stops the sale once every purchase in flight is decided; returns what it saw.
    pub(super) async fn finish(mut self) -> Journal {
        self.stop.store(true, Ordering::SeqCst);
        while self.tasks.join_next().await.is_some() {}
        std::mem::take(&mut *self.journal.lock().expect("journal"))
    }
}

/// Who buys: every purchase is a different shopper (its own token and client address), as in
/// a flash sale where each person buys once, so the Worker's per-client limits see real
/// shoppers rather than one client buying hundreds of chairs a second.
struct Buyer {
    keys: TestKeys,
    org_id: Uuid,
    phase: String,
    shopper: usize,
}

impl Buyer {
    fn purchase(&self, n: usize) -> (String, String, String) {
        let key = format!("{}-{}-{n}", self.phase, self.shopper);
        let token = self
            .keys
            .token(self.org_id, Role::Shopper, &format!("shopper-{key}"));
        // A documentation-range IPv6 address, one /64 per purchase (the limiter's unit).
        let address = format!("2001:db8:{:x}:{:x}::1", self.shopper, n % 0xffff);
        (key, token, address)
    }
}

/// One shopper after another: buys one unit; a purchase that got a 5xx, a 429 or no answer is
/// sent again with the same key until it gets a 201 or a 409, even after the stop (for at most
/// 30 s), so every key ends decided.
async fn shop(
    http: reqwest::Client,
    edge: String,
    buyer: Buyer,
    item_id: Uuid,
    journal: Arc<Mutex<Journal>>,
    stop: Arc<AtomicBool>,
) {
    let body = serde_json::json!({"item_id": item_id, "quantity": 1});
    for purchase in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (key, token, address) = buyer.purchase(purchase);
        let mut stopped_at: Option<Instant> = None;
        loop {
            let sent = Instant::now();
            let response = http
                .post(format!("{edge}/api/buy"))
                .header("host", DOMAIN)
                .header("cf-connecting-ip", &address)
                .bearer_auth(&token)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await;
            let answer = Answer::read(response).await;
            record(
                &journal,
                &key,
                sent,
                answer.status,
                answer.retry_after.is_some(),
                answer.order,
            );
            if answer.sold_out {
                return;
            }
            let retry = matches!(answer.status, 0 | 429 | 500..=599) || answer.in_flight;
            if !retry {
                break;
            }
            if stop.load(Ordering::SeqCst)
                && stopped_at.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(30)
            {
                return;
            }
            // Sent again as the answer asks (`Retry-After`, 1 s for a 503), as the storefront
            // does: the Worker allows one client 30 writes a minute, and a purchase sent again
            // every 250 ms through a 10 s outage passed it and was told to wait a minute (429).
            // 250 ms when there was no answer to read.
            let pause = answer.retry_after.unwrap_or(RETRY_PAUSE).max(RETRY_PAUSE);
            tokio::time::sleep(pause).await;
        }
    }
}

/// What a shopper makes of an answer.
struct Answer {
    /// 0 when the Worker could not be reached.
    status: u16,
    retry_after: Option<Duration>,
    order: Option<Uuid>,
    /// A 409 `out-of-stock`: nothing left to buy.
    sold_out: bool,
    /// A 409 `idempotency-key-in-flight`: the same purchase is still being decided.
    in_flight: bool,
}

impl Answer {
    async fn read(response: reqwest::Result<reqwest::Response>) -> Self {
        let Ok(response) = response else {
            return Self {
                status: 0,
                retry_after: None,
                order: None,
                sold_out: false,
                in_flight: false,
            };
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let order = (status == 201)
            .then(|| serde_json::from_value::<Order>(body.clone()).ok())
            .flatten()
            .map(|o| o.order_id);
        let kind = body
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        Self {
            status,
            retry_after,
            order,
            sold_out: status == 409 && kind.ends_with("out-of-stock"),
            in_flight: status == 409 && kind.ends_with("idempotency-key-in-flight"),
        }
    }
}

fn record(
    journal: &Mutex<Journal>,
    key: &str,
    sent: Instant,
    status: u16,
    retry_after: bool,
    order: Option<Uuid>,
) {
    let mut journal = journal.lock().expect("journal");
    journal.attempts.push(Attempt {
        sent,
        latency: sent.elapsed(),
        status,
        retry_after,
    });
    if let Some(order) = order {
        journal.acknowledged.insert(key.to_owned(), order);
    }
}

/// A reader: the inventory through the Worker every 100 ms.
async fn read(
    http: reqwest::Client,
    edge: String,
    journal: Arc<Mutex<Journal>>,
    stop: Arc<AtomicBool>,
) {
    for n in 0u32.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let sent = Instant::now();
        let status = http
            .get(format!("{edge}/api/inventory"))
            .header("host", DOMAIN)
            .header(
                "cf-connecting-ip",
                format!("2001:db8:ffff:{:x}::1", n % 0xffff),
            )
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        journal.lock().expect("journal").reads.push(Attempt {
            sent,
            latency: sent.elapsed(),
            status,
            retry_after: false,
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the first `201` to a purchase sent after the fault: (sent, answered), each
/// measured from the fault.
pub(super) async fn wait_for_first_sale(
    journal: &Mutex<Journal>,
    fault_at: Instant,
    give_up: Duration,
) -> Option<(Duration, Duration)> {
    let deadline = fault_at + give_up;
    loop {
        let first = journal
            .lock()
            .expect("journal")
            .attempts
            .iter()
            .filter(|a| a.status == 201 && a.sent > fault_at)
            .min_by_key(|a| a.sent + a.latency)
            .map(|a| (a.sent, a.sent + a.latency));
        if let Some((sent, answered)) = first {
            return Some((sent - fault_at, answered - fault_at));
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
