//! Phase (c) of the drop: a read flood of unknown item ids from `ADDRESSES` addresses at
//! `FLOOD_PER_SECOND` for `SECONDS` (the 6,000 reads in 50 s, every one a 404), while
//! two admins read the kill switch and the audit log, shoppers read the list, and the owner
//! pauses the sale, restocks and resumes through the edge. It prints how many of each group's
//! requests were answered, and their latency.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use api::{
    headers::{CF_CONNECTING_IP, EDGE_CACHE},
    token::Role,
};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use super::{report::Books, World, DOMAIN};
use crate::{
    edge_storm::pace::{paced, Until},
    stats::summarize,
};

const SECONDS: u64 = 50;
const ADDRESSES: usize = 40;
const FLOOD_PER_SECOND: f64 = 120.0;
const ADMIN_READS_PER_SECOND: f64 = 4.0;
const LIST_READS_PER_SECOND: f64 = 10.0;
const RESTOCK_UNITS: i32 = 100;
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// One request of one group: its status (`None`: no answer), whether it was a stale copy, and
/// how long it took.
#[derive(Debug, Clone, Copy)]
struct Answered {
    status: Option<u16>,
    stale: bool,
    latency: Duration,
}

#[derive(Debug)]
pub struct FloodReport {
    flood: Vec<Answered>,
    admin_reads: Vec<Answered>,
    list_reads: Vec<Answered>,
    owner: Vec<(&'static str, Answered)>,
    pub books: Books,
}

pub async fn run(world: &Arc<World>) -> anyhow::Result<FloodReport> {
    let chair = world.item("CHAIR").await;
    let initial = world.books(chair, 0).await?.left;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let send = {
        let http = http.clone();
        let url = world.edge.url.clone();
        move |method: Method, path: String, token: Option<String>, address: String| {
            let request = http
                .request(method, format!("{url}{path}"))
                .header("host", DOMAIN)
                .header(CF_CONNECTING_IP, address)
                .timeout(GIVE_UP_AFTER);
            match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        }
    };
    let flood = {
        let send = send.clone();
        paced(FLOOD_PER_SECOND, Until::Deadline(deadline), 512, move |n| {
            let path = format!("/api/inventory/{}", Uuid::new_v4());
            let address = format!("203.0.113.{}", n % ADDRESSES + 1);
            answered(send(Method::GET, path, None, address))
        })
    };
    let admins = {
        let send = send.clone();
        let tokens = [
            world.token(Role::Admin, "owner"),
            world.token(Role::Admin, "manager"),
        ];
        paced(
            ADMIN_READS_PER_SECOND,
            Until::Deadline(deadline),
            64,
            move |n| {
                let path = if n % 2 == 0 {
                    "/api/admin/kill-switch".to_owned()
                } else {
                    "/api/admin/audit?order=newest&limit=20".to_owned()
                };
                let token = tokens[(n / 2) % 2].clone();
                let address = format!("192.0.2.{}", (n / 2) % 2 + 1);
                answered(send(Method::GET, path, Some(token), address))
            },
        )
    };
    let lists = {
        let send = send.clone();
        let world = world.clone();
        paced(
            LIST_READS_PER_SECOND,
            Until::Deadline(deadline),
            64,
            move |n| {
                let token = world.token(Role::Shopper, &format!("reader-{n}"));
                let address = format!("198.19.{}.{}", n / 250, n % 250 + 1);
                answered(send(
                    Method::GET,
                    "/api/inventory".to_owned(),
                    Some(token),
                    address,
                ))
            },
        )
    };
    let owner = async {
        let token = world.token(Role::Admin, "owner");
        let at = |seconds: u64| deadline - Duration::from_secs(SECONDS - seconds);
        let mut done = Vec::new();
        let steps: [(&'static str, u64, Method, String, serde_json::Value); 3] = [
            (
                "pause",
                20,
                Method::PUT,
                "/api/admin/kill-switch".to_owned(),
                json!({"engaged": true, "reason": "restocking"}),
            ),
            (
                "restock",
                25,
                Method::PATCH,
                format!("/api/admin/items/{chair}"),
                json!({"stock_delta": RESTOCK_UNITS}),
            ),
            (
                "resume",
                30,
                Method::PUT,
                "/api/admin/kill-switch".to_owned(),
                json!({"engaged": false, "force": true}),
            ),
        ];
        for (name, second, method, path, body) in steps {
            tokio::time::sleep_until(at(second).into()).await;
            let request = send(method, path, Some(token.clone()), "192.0.2.1".to_owned())
                .header("idempotency-key", Uuid::new_v4().to_string())
                .json(&body);
            done.push((name, answered(request).await));
        }
        done
    };
    let (flood, admin_reads, list_reads, owner) = tokio::join!(flood, admins, lists, owner);
    Ok(FloodReport {
        flood: flood.done,
        admin_reads: admin_reads.done,
        list_reads: list_reads.done,
        owner,
        books: Books {
            initial: initial + RESTOCK_UNITS,
            ..world.books(chair, initial + RESTOCK_UNITS).await?
        },
    })
}

async fn answered(request: reqwest::RequestBuilder) -> Answered {
    let sent = Instant::now();
    let response = request.send().await;
    let (status, stale) = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let stale = response
                .headers()
                .get(EDGE_CACHE)
                .is_some_and(|value| value == "stale");
            let _ = response.bytes().await;
            (Some(status), stale)
        }
        Err(_) => (None, false),
    };
    Answered {
        status,
        stale,
        latency: sent.elapsed(),
    }
}

impl FloodReport {
    /// Admin reads answered 200, of all sent.
    pub fn admin_reads(&self) -> (usize, usize) {
        let ok = self
            .admin_reads
            .iter()
            .filter(|a| a.status == Some(200))
            .count();
        (ok, self.admin_reads.len())
    }

    /// Shoppers' list reads answered 200 with the current list (not the last good copy), of
    /// all sent: a stale copy is the edge covering for a refusal, not an answer.
    pub fn honest_list_reads(&self) -> (usize, usize) {
        let ok = self
            .list_reads
            .iter()
            .filter(|a| a.status == Some(200) && !a.stale)
            .count();
        (ok, self.list_reads.len())
    }

    pub fn owner_statuses(&self) -> String {
        let statuses: Vec<String> = self
            .owner
            .iter()
            .map(|(name, answer)| {
                let status = answer
                    .status
                    .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
                format!("{name} {status}")
            })
            .collect();
        statuses.join(", ")
    }

    pub fn owner_all_ok(&self) -> bool {
        !self.owner.is_empty() && self.owner.iter().all(|(_, a)| a.status == Some(200))
    }

    /// Answers of any group with a 5xx status.
    pub fn server_errors(&self) -> usize {
        [&self.flood, &self.admin_reads, &self.list_reads]
            .into_iter()
            .flatten()
            .chain(self.owner.iter().map(|(_, answer)| answer))
            .filter(|a| a.status.is_some_and(|s| s >= 500))
            .count()
    }

    pub fn print(&self) {
        println!(
            "\n-- (c) read flood: {ADDRESSES} addresses, {FLOOD_PER_SECOND} unknown-item reads/s for {SECONDS} s --"
        );
        group("flood (unknown ids)", &self.flood, |s| s == 404);
        group("admin reads (kill switch, audit)", &self.admin_reads, |s| {
            s == 200
        });
        group("shoppers' list reads", &self.list_reads, |s| s == 200);
        let stale = self.list_reads.iter().filter(|a| a.stale).count();
        println!("  list reads answered from the last good copy (stale): {stale}");
        for (name, answer) in &self.owner {
            println!(
                "  owner {name}: {} in {:.1} ms",
                answer
                    .status
                    .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
                answer.latency.as_secs_f64() * 1e3
            );
        }
        println!("  5xx: {}", self.server_errors());
        println!("{}", self.books.line());
    }
}

/// Prints how many of a group's requests got the answer `wanted`, the statuses, and latency.
fn group(name: &str, answers: &[Answered], wanted: impl Fn(u16) -> bool) {
    let good = answers
        .iter()
        .filter(|a| a.status.is_some_and(&wanted))
        .count();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for answer in answers {
        let status = answer
            .status
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        *statuses.entry(status).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    let summary = summarize(&mut latencies);
    println!(
        "  {name}: {good} of {} answered ({:.1} %), statuses {statuses:?}, p50 {:.1} ms, p99 {:.1} ms",
        answers.len(),
        100.0 * good as f64 / answers.len().max(1) as f64,
        summary.p50.as_secs_f64() * 1e3,
        summary.p99.as_secs_f64() * 1e3
    );
}
