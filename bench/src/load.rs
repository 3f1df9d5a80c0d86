//! Driving the origin over HTTP: an in-process server on a free port, and a fixed number of
//! concurrent clients sending requests for a while or for a count.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use api::token::{KeySet, TokenVerifier};
use reqwest::RequestBuilder;
use tokio::{net::TcpListener, sync::oneshot, task::JoinSet};

use origin::AppState;

/// `origin::serve` on 127.0.0.1, stopped (gracefully) on drop.
#[derive(Debug)]
pub struct BenchServer {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

impl BenchServer {
    pub async fn start(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(origin::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self { url, _stop: stop })
    }
}

/// A verifier that trusts no key: the benchmarks call public routes only.
pub fn public_routes_only() -> anyhow::Result<TokenVerifier> {
    Ok(TokenVerifier::new(
        KeySet::from_jwks_json(r#"{"keys":[]}"#)?,
        "bench",
        "bench",
    ))
}

/// When the clients stop.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Elapsed(Duration),
    Requests(usize),
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Load {
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
    pub elapsed: Duration,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Request number `i` of a run.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, usize) -> RequestBuilder + Send + Sync>;

/// Runs `clients` concurrent clients, each sending the next numbered request as soon as its
/// previous one is answered, until `until`.
pub async fn drive(clients: usize, until: Until, make: MakeRequest) -> anyhow::Result<Load> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..clients {
        let (http, next, make) = (http.clone(), Arc::clone(&next), Arc::clone(&make));
        workers.spawn(async move {
            let mut load = Load::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let done = match until {
                    Until::Elapsed(budget) => started.elapsed() >= budget,
                    Until::Requests(total) => i >= total,
                };
                if done {
                    return Ok::<_, reqwest::Error>(load);
                }
                let sent = Instant::now();
                let response = make(&http, i).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                load.latencies.push(sent.elapsed());
                *load.statuses.entry(status).or_default() += 1;
            }
        });
    }
    let mut total = Load::default();
    while let Some(worker) = workers.join_next().await {
        let load = worker??;
        total.latencies.extend(load.latencies);
        for (status, count) in load.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
