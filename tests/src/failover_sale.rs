//! A flash sale through the real Worker while the database's primary fails: the scenario the
//! failover test and `bench failover` share, so the test is the benchmark made short.
//!
//! Shoppers buy one hot item at full speed, each purchase under its own `Idempotency-Key`,
//! sent again with the same key after a 5xx or a dropped connection (what the storefront does).
//! A reader polls the inventory beside them. Then a fault hits the node that leads: its
//! postmaster killed (`SIGKILL`), or the whole node frozen (`SIGSTOP`, as a partition looks)
//! and woken after a new leader exists. Afterwards everything acknowledged is checked against
//! the new primary, read directly rather than through HAProxy.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use api::{purchase::Order, token::Role};
use nix::{sys::signal, unistd::Pid};
use origin::db::{self, PoolLimits};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{ha_cluster::HaCluster, Edge, OriginConfig, OriginProcess, Shop, TestKeys};

pub const DOMAIN: &str = "failover.shop.test";
const SKU: &str = "HOT-CHAIR";
/// The Worker's deadline for a write (docs/edge-resilience.md): no answer may take longer.
pub const EDGE_WRITE_DEADLINE: Duration = Duration::from_secs(11);
/// How long a shopper waits before sending a purchase again after a 5xx.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The whole product on the HA database: the origin writes through HAProxy's primary port and
/// reads through its replica port, the Worker in front.
#[derive(Debug)]
pub struct HaStack {
    pub ha: HaCluster,
    pub origin: OriginProcess,
    pub edge: Edge,
    pub shop: Shop,
    pub keys: TestKeys,
    pub item_id: Uuid,
    pub initial_stock: i64,
}

impl HaStack {
    pub async fn start(stock: i32) -> Self {
        let ha = HaCluster::start().await;
        let keys = TestKeys::new();
        let config = OriginConfig {
            database_url: ha.primary_url("postgres"),
            jwks: keys.public_jwks(),
            env: Vec::new(),
        }
        .var(
            "DATABASE_REPLICA_URL",
            format!("postgres://postgres@127.0.0.1:{}/postgres", ha.replica_port),
        );
        // The origin migrates the fresh cluster as it starts.
        let origin = OriginProcess::start(&config).await;
        let owner = owner_pool(&ha.primary_url("postgres")).await;
        let shop = Shop::create(&owner, DOMAIN, &[(SKU, stock)]).await;
        let item_id = shop.item(&owner, SKU).await.id;
        owner.close().await;
        let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
        Self {
            ha,
            origin,
            edge,
            shop,
            keys,
            item_id,
            initial_stock: i64::from(stock),
        }
    }
}

/// What hits the leading node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `SIGKILL` to its postmaster.
    KillPostmaster,
    /// `SIGSTOP` to its Patroni and every Postgres process, `SIGCONT` once another node leads
    /// and sales go on: a split-brain attempt.
    FreezeNode,
}

#[derive(Debug, Clone, Copy)]
pub struct PhaseOptions {
    pub shoppers: usize,
    /// Selling before the fault.
    pub before: Duration,
    /// Selling after the first `201` that follows the fault.
    pub after: Duration,
    /// Gives up waiting for a `201` after the fault this long.
    pub give_up: Duration,
}

/// One answer a shopper got.
#[derive(Debug, Clone)]
struct Attempt {
    sent: Instant,
    latency: Duration,
    /// 0 when the connection to the Worker failed.
    status: u16,
    retry_after: bool,
}

#[derive(Debug, Default)]
struct Journal {
    attempts: Vec<Attempt>,
    /// Idempotency-Key -> the order its `201` named.
    acknowledged: HashMap<String, Uuid>,
    reads: Vec<Attempt>,
}

/// What one phase showed.
#[derive(Debug)]
pub struct PhaseReport {
    pub fault: Fault,
    pub old_leader: String,
    pub new_leader: String,
    pub shoppers: usize,
    /// Fault -> a new leader in Patroni.
    pub to_new_leader: Duration,
    /// Fault -> the first `201` to a purchase sent after the fault.
    pub to_first_sale: Option<Duration>,
    pub acknowledged: usize,
    /// Acknowledged order ids absent on the new primary.
    pub missing: Vec<Uuid>,
    pub stock_left: i64,
    pub units_sold: i64,
    pub initial_stock: i64,
    /// Keys with more than one order.
    pub keys_with_two_orders: i64,
    /// Acknowledged keys with exactly their one order.
    pub keys_with_their_order: i64,
    /// Answers to purchases sent while no primary took writes: status -> count (0 = no answer).
    pub while_down: BTreeMap<u16, usize>,
    /// Of those, 503s without `Retry-After`.
    pub while_down_503_without_retry_after: usize,
    pub while_down_max_latency: Duration,
    /// Inventory reads through the Worker during the phase: answered 200 / sent.
    pub reads_answered: usize,
    pub reads_sent: usize,
    /// The old leader back as a replica on the new timeline, after the fault.
    pub old_leader_rejoined_after: Option<Duration>,
    /// Split brain only: what a write sent straight to the woken old primary got.
    pub old_primary_write: Option<String>,
}

impl PhaseReport {
    /// Everything the phase promises: nothing acknowledged lost, units accounted for, one order
    /// per key, no answer but a 503 with `Retry-After` (or a 201/409) while down, none past the
    /// edge's deadline.
    pub fn violations(&self) -> Vec<String> {
        let mut bad = Vec::new();
        if !self.missing.is_empty() {
            bad.push(format!(
                "{} acknowledged orders missing: {:?}",
                self.missing.len(),
                self.missing
            ));
        }
        if self.stock_left + self.units_sold != self.initial_stock {
            bad.push(format!(
                "stock {} + sold {} != initial {}",
                self.stock_left, self.units_sold, self.initial_stock
            ));
        }
        if self.keys_with_two_orders != 0 {
            bad.push(format!("{} keys bought twice", self.keys_with_two_orders));
        }
        if self.keys_with_their_order != i64::try_from(self.acknowledged).unwrap_or(i64::MAX) {
            bad.push(format!(
                "{} of {} acknowledged keys have their order",
                self.keys_with_their_order, self.acknowledged
            ));
        }
        if self.to_first_sale.is_none() {
            bad.push("no sale after the fault".to_owned());
        }
        let other: Vec<_> = self
            .while_down
            .keys()
            .filter(|status| **status >= 500 && **status != 503)
            .collect();
        if !other.is_empty() {
            bad.push(format!(
                "5xx other than 503 while down: {:?}",
                self.while_down
            ));
        }
        if self.while_down_503_without_retry_after > 0 {
            bad.push(format!(
                "{} 503s without Retry-After",
                self.while_down_503_without_retry_after
            ));
        }
        if self.while_down_max_latency > EDGE_WRITE_DEADLINE + Duration::from_secs(1) {
            bad.push(format!(
                "an answer took {:?}, past the edge's deadline",
                self.while_down_max_latency
            ));
        }
        if let Some(write) = &self.old_primary_write {
            if write.starts_with("committed") {
                bad.push(format!("the old primary took a write: {write}"));
            }
        }
        bad
    }

    /// The report as printed by `bench failover`.
    pub fn lines(&self) -> Vec<String> {
        let secs = |d: Option<Duration>| {
            d.map_or_else(
                || "never".to_owned(),
                |d| format!("{:.1} s", d.as_secs_f64()),
            )
        };
        let mut lines = vec![
            format!(
                "{:?} on {} ({} shoppers): new leader {} after {}",
                self.fault,
                self.old_leader,
                self.shoppers,
                self.new_leader,
                secs(Some(self.to_new_leader))
            ),
            format!("  fault -> first 201 again       {}", secs(self.to_first_sale)),
            format!(
                "  201s acknowledged              {} ({} missing on the new primary)",
                self.acknowledged,
                self.missing.len()
            ),
            format!(
                "  stock + sold = initial         {} + {} = {} (initial {})",
                self.stock_left,
                self.units_sold,
                self.stock_left + self.units_sold,
                self.initial_stock
            ),
            format!(
                "  keys -> one order              {} of {} acknowledged; {} keys with two",
                self.keys_with_their_order, self.acknowledged, self.keys_with_two_orders
            ),
            format!(
                "  while no primary (status: n)   {:?}; 503 without Retry-After {}; max latency {:.2} s (edge deadline {} s)",
                self.while_down,
                self.while_down_503_without_retry_after,
                self.while_down_max_latency.as_secs_f64(),
                EDGE_WRITE_DEADLINE.as_secs()
            ),
            format!(
                "  inventory reads answered       {} of {}",
                self.reads_answered, self.reads_sent
            ),
            format!(
                "  old leader rejoined (pg_rewind) {}",
                secs(self.old_leader_rejoined_after)
            ),
        ];
        if let Some(write) = &self.old_primary_write {
            lines.push(format!(
                "  write straight to the woken old primary: {write}"
            ));
        }
        lines
    }
}

/// Runs one phase: sale, fault, recovery, checks.
pub async fn run_phase(stack: &HaStack, fault: Fault, options: PhaseOptions) -> PhaseReport {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Uuid::new_v4().simple().to_string();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let mut tasks = tokio::task::JoinSet::new();
    for shopper in 0..options.shoppers {
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
    tokio::time::sleep(options.before).await;

    let old_leader = stack.ha.leader().await.expect("a leader before the fault");
    let fault_at = Instant::now();
    match fault {
        Fault::KillPostmaster => {
            let pid = stack
                .ha
                .postmaster_pid(&old_leader)
                .expect("the leader's postmaster.pid");
            signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL).expect("kill the postmaster");
        }
        Fault::FreezeNode => {
            let frozen = stack.ha.signal_node(&old_leader, signal::Signal::SIGSTOP);
            assert!(frozen > 1, "froze the leader's processes");
        }
    }
    let new_leader = stack
        .ha
        .wait_for_new_leader(&old_leader, options.give_up)
        .await;
    let to_new_leader = fault_at.elapsed();
    let first_sale = wait_for_first_sale(&journal, fault_at, options.give_up).await;
    let mut old_primary_write = None;
    if fault == Fault::FreezeNode {
        stack.ha.signal_node(&old_leader, signal::Signal::SIGCONT);
        old_primary_write = Some(write_to_old_primary(stack, &old_leader).await);
    }
    tokio::time::sleep(options.after).await;
    stop.store(true, Ordering::SeqCst);
    while tasks.join_next().await.is_some() {}
    let old_leader_rejoined_after = tokio::time::timeout(
        Duration::from_secs(90),
        stack
            .ha
            .wait_until_rejoined(&old_leader, Duration::from_secs(90)),
    )
    .await
    .ok()
    .map(|_| fault_at.elapsed());

    let journal = std::mem::take(&mut *journal.lock().expect("journal"));
    // While down: from the fault until the purchase that got the first 201 was sent.
    let first_sale_sent = first_sale.map(|(sent, _)| fault_at + sent);
    let first_sale = first_sale.map(|(_, answered)| answered);
    let down = |a: &&Attempt| a.sent >= fault_at && first_sale_sent.is_none_or(|at| a.sent < at);
    let while_down = journal
        .attempts
        .iter()
        .filter(down)
        .fold(BTreeMap::new(), |mut counts, a| {
            *counts.entry(a.status).or_insert(0) += 1;
            counts
        });
    let new_primary = owner_pool(&stack.ha.node_url(&new_leader, "postgres")).await;
    let checks = check_on(&new_primary, stack, &journal.acknowledged).await;
    new_primary.close().await;
    PhaseReport {
        fault,
        old_leader,
        new_leader,
        shoppers: options.shoppers,
        to_new_leader,
        to_first_sale: first_sale,
        acknowledged: journal.acknowledged.len(),
        missing: checks.missing,
        stock_left: checks.stock_left,
        units_sold: checks.units_sold,
        initial_stock: stack.initial_stock,
        keys_with_two_orders: checks.keys_with_two_orders,
        keys_with_their_order: checks.keys_with_their_order,
        while_down,
        while_down_503_without_retry_after: journal
            .attempts
            .iter()
            .filter(down)
            .filter(|a| a.status == 503 && !a.retry_after)
            .count(),
        while_down_max_latency: journal
            .attempts
            .iter()
            .filter(down)
            .map(|a| a.latency)
            .max()
            .unwrap_or_default(),
        reads_answered: journal.reads.iter().filter(|r| r.status == 200).count(),
        reads_sent: journal.reads.len(),
        old_leader_rejoined_after,
        old_primary_write,
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
            // A 503 is retried at once (every 250 ms), to see the first moment sales resume; a
            // rate limit or a key still in flight is waited out as it asks.
            let pause = match answer.status {
                503 | 0 => RETRY_PAUSE,
                _ => answer.retry_after.unwrap_or(RETRY_PAUSE).max(RETRY_PAUSE),
            };
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

async fn wait_for_first_sale(
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

/// A write straight to the old primary just woken, past HAProxy: what a client that kept its
/// address would try. It must not commit: Patroni demotes the node, and until then its commits
/// wait for a synchronous standby that now follows the new leader.
async fn write_to_old_primary(stack: &HaStack, old_leader: &str) -> String {
    let url = stack.ha.node_url(old_leader, "postgres");
    let attempt = async {
        let pool = owner_pool(&url).await;
        let result = sqlx::query!(
            "UPDATE inventory SET stock = stock - 1 WHERE organization_id = $1",
            stack.shop.org_id
        )
        .execute(&pool)
        .await;
        pool.close().await;
        result
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(done)) => format!("committed ({} rows)", done.rows_affected()),
        Ok(Err(err)) => format!("refused: {err}"),
        Err(_) => "no commit within 10 s (waiting for a synchronous standby), abandoned".to_owned(),
    }
}

struct Checks {
    missing: Vec<Uuid>,
    stock_left: i64,
    units_sold: i64,
    keys_with_two_orders: i64,
    keys_with_their_order: i64,
}

async fn check_on(db: &PgPool, stack: &HaStack, acknowledged: &HashMap<String, Uuid>) -> Checks {
    let present: std::collections::HashSet<Uuid> =
        stack.shop.order_ids(db).await.into_iter().collect();
    let mut missing: Vec<Uuid> = acknowledged
        .values()
        .filter(|id| !present.contains(id))
        .copied()
        .collect();
    missing.sort();
    let (_, units_sold) = stack.shop.order_totals(db).await;
    let stock_left = i64::from(stack.shop.item(db, SKU).await.stock);
    let keys_with_two_orders = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
             SELECT customer_sub, idempotency_key FROM orders
             WHERE organization_id = $1 AND idempotency_key IS NOT NULL
             GROUP BY customer_sub, idempotency_key HAVING count(*) > 1) twice"#,
        stack.shop.org_id
    )
    .fetch_one(db)
    .await
    .expect("keys with two orders");
    let (keys, ids): (Vec<String>, Vec<Uuid>) = acknowledged
        .iter()
        .map(|(key, id)| (key.clone(), *id))
        .unzip();
    let keys_with_their_order = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM orders o
           JOIN unnest($2::text[], $3::uuid[]) AS acked(key, id)
             ON o.idempotency_key = acked.key AND o.id = acked.id
           WHERE o.organization_id = $1"#,
        stack.shop.org_id,
        &keys,
        &ids
    )
    .fetch_one(db)
    .await
    .expect("acknowledged keys with their order");
    Checks {
        missing,
        stock_left,
        units_sold,
        keys_with_two_orders,
        keys_with_their_order,
    }
}

async fn owner_pool(url: &str) -> PgPool {
    let limits = PoolLimits {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let mut last = None;
    for _ in 0..50 {
        match db::connect(url, limits).await {
            Ok(pool) => return pool,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("connect to {url}: {last:?}");
}
