//! Log lines written per 10,000 requests with sampling off (every request line) and on (the
//! default policy: 1 % of successes, every error and slow request). The origin runs in-process
//! over a scratch database, logging into a counting in-memory sink; the same numbered request
//! ids are sent in both runs, so the sampled share is the same every time.

use std::{sync::Arc, time::Duration};

use sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

use crate::{
    load::{drive, public_routes_only, BenchServer, MakeRequest, Until},
    scratch::{in_scratch_database, stocked_shop},
};
use origin::{
    config::operations::OpsSettings,
    db::{self, AppRole, PoolLimits, MIGRATOR},
    observability::telemetry,
    observability::{request_log::LogSink, sampling::LogSampling},
    AppState,
};

/// One request in this many asks for an unknown item (`404`), the rest list the inventory.
const NOT_FOUND_EVERY: usize = 50;

pub async fn run(
    owner_url: &str,
    app_role: &AppRole,
    requests: usize,
    clients: usize,
) -> anyhow::Result<()> {
    in_scratch_database(owner_url, "logs", |options| async move {
        measure(&options, app_role, requests, clients).await
    })
    .await
}

async fn measure(
    options: &PgConnectOptions,
    app_role: &AppRole,
    requests: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let limits = PoolLimits {
        max_connections: 10,
        acquire_timeout: Duration::from_secs(5),
    };
    let owner = db::connect_with(options.clone(), limits).await?;
    MIGRATOR.run(&owner).await?;
    let org = stocked_shop(&owner, "bench.test", 20).await?;
    let app = db::connect_with(app_role.connect_options(options), limits).await?;

    let sink = LogSink::memory();
    let _ = telemetry::init_with(sink.clone());
    println!(
        "{requests} requests ({}% GET inventory 200, {}% unknown item 404), {clients} clients, ids bench-0..",
        100 - 100 / NOT_FOUND_EVERY,
        100 / NOT_FOUND_EVERY
    );
    println!(
        "{:<44} {:>8} {:>12} {:>11} {:>9}",
        "sampling", "lines", "lines / 10k", "bytes", "req/s"
    );
    let policies = [
        ("off (every request line)", LogSampling::KEEP_ALL),
        (
            "on (1% of 2xx; every 4xx, 5xx, slow > 500 ms)",
            LogSampling::default(),
        ),
    ];
    for (label, log_sampling) in policies {
        let state = AppState::new(app.clone(), public_routes_only()?).with_ops(OpsSettings {
            log_sampling,
            ..OpsSettings::default()
        });
        let server = BenchServer::start(state).await?;
        let base = format!("{}/api/tenant/{org}", server.url);
        let make: MakeRequest = Arc::new(move |http, i| {
            let path = if i % NOT_FOUND_EVERY == NOT_FOUND_EVERY - 1 {
                format!("{base}/inventory/{}", Uuid::nil())
            } else {
                format!("{base}/inventory")
            };
            http.get(path).header("x-request-id", format!("bench-{i}"))
        });
        let written_before = sink.contents();
        let load = drive(clients, Until::Requests(requests), make).await?;
        let written = sink.contents();
        let new = &written[written_before.len()..];
        let lines = new.lines().count();
        println!(
            "{label:<44} {lines:>8} {:>12.0} {:>11} {:>9.0}",
            lines as f64 * 10_000.0 / requests as f64,
            new.len(),
            load.per_second()
        );
    }
    Ok(())
}
