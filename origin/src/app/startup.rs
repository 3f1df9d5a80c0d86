//! The composition root: how `origin serve` and `origin worker` put the process together
//! (telemetry, listeners, the database retried until a primary answers, the state, the
//! background tasks) and run it until a shutdown signal. `main.rs` only parses the command line.

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::{
    app::{serve::serve_split, starting, state::AppState},
    config::{pools, DatabaseArgs, ServeArgs},
    db::{self, PoolLimits},
    idempotency::retention,
    observability::telemetry,
};

/// `origin serve`: the API and the operations routes, until a shutdown signal.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init();
    // Checked before anything starts: an origin that trusts a guessable secret must not run.
    let edge_secret = args.edge_secret()?;
    if let Some(addr) = args.open_without_edge_secret() {
        tracing::warn!(
            %addr,
            "EDGE_SHARED_SECRET is not set and the API listens beyond loopback: tenant routes \
             take requests without the edge's proof from anyone who reaches this address"
        );
    }
    let verifier = args.tokens.token_keys().await?;
    // Installed before the first connection, which records the server it reached.
    crate::observability::recorder::handle();
    // Bound first: while no primary can be written to (none elected yet, a failover), the
    // origin answers probes as alive but not ready instead of exiting (`app::starting`).
    let listener = TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen_addr))?;
    tracing::info!(addr = %args.listen_addr, "origin listening");
    let ops_addr = args.ops_listen_addr;
    let operations = TcpListener::bind(ops_addr)
        .await
        .with_context(|| format!("cannot listen on {ops_addr} (OPS_LISTEN_ADDR)"))?;
    tracing::info!(addr = %ops_addr, "operations routes listening");
    let (pools, owner_for_maintenance) =
        starting::serve_until(&[&listener, &operations], prepare_database(&args)).await?;
    tokio::spawn(retention::run_forever(
        owner_for_maintenance,
        chrono::Duration::hours(args.idempotency_retention_hours),
    ));
    let state = AppState::with_settings(pools.primary, verifier, args.settings())
        .with_edge_secret(edge_secret)
        .with_replica(pools.replica)
        .with_session_db(pools.session)
        .with_ops(args.operations.settings())
        .with_domains(args.domains.settings());
    serve_split(listener, Some(operations), state, shutdown_signal()).await?;
    Ok(())
}

/// Migrations, the start-up retention pass and the pools, retried every second until a
/// writable primary answers.
async fn prepare_database(args: &ServeArgs) -> (pools::Pools, PgPool) {
    let every = std::time::Duration::from_secs(1);
    starting::retry("start-up", every, || async {
        let owner = owner_pool(&args.database).await?;
        db::MIGRATOR.run(&owner).await.context("migration failed")?;
        retention::run_once(
            &owner,
            chrono::Duration::hours(args.idempotency_retention_hours),
        )
        .await?;
        owner.close().await;
        let pools = pools::open(args).await?;
        let owner_for_maintenance = owner_pool(&args.database).await?;
        Ok::<_, anyhow::Error>((pools, owner_for_maintenance))
    })
    .await
}

/// `origin worker`: queue workers only, until a shutdown signal or one of them stops.
pub async fn queue_workers(
    database: &DatabaseArgs,
    app_user: String,
    workers: usize,
    batch: i32,
) -> anyhow::Result<()> {
    let _telemetry = telemetry::init();
    let role = db::AppRole {
        user: app_user,
        password: None,
    };
    let limits = PoolLimits {
        max_connections: u32::try_from(workers.max(1)).unwrap_or(1) + 1,
        acquire_timeout: std::time::Duration::from_secs(5),
    };
    let app = db::connect_with(role.connect_options(&database.url().parse()?), limits).await?;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        set.spawn(crate::purchase::queue::run_worker(app.clone(), batch));
    }
    tracing::info!(workers, batch, "queue workers running");
    tokio::select! {
        () = shutdown_signal() => {},
        _ = set.join_next() => {},
    }
    set.shutdown().await;
    Ok(())
}

/// A small pool as the schema's owner: migrations, maintenance, operator commands.
pub async fn owner_pool(database: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let limits = PoolLimits {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(10),
    };
    db::connect(database.url(), limits)
        .await
        .context("cannot connect to DATABASE_URL")
}

/// Resolves on SIGTERM or Ctrl-C, starting a graceful drain.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
