//! `origin`: serve the API, migrate the schema, manage shops, mint development tokens.

use anyhow::Context;
use api::token::{KeyAlgorithm, Role};
use clap::{Parser, Subcommand, ValueEnum};
use origin::{
    config::{DatabaseArgs, ServeArgs, TokenArgs},
    db::{self, PoolLimits},
    dev_tokens::{self, TokenRequest},
    telemetry, tenants, AppState,
};
use sqlx::PgPool;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "origin",
    about = "FurnitureOps origin: API server and operator tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (migrates first).
    Serve(ServeArgs),
    /// Apply pending migrations.
    Migrate(DatabaseArgs),
    /// Manage shops and their domains.
    Tenant {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Print a signed token for a shop (development and tests).
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a shop served on a domain (prints its id; idempotent per domain).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        domain: String,
    },
    /// Print the domain map as `wrangler kv bulk put` JSON.
    ExportKv,
    /// Create the demo shop on demo.furnitureops.test with a few items.
    SeedDemo,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Shopper,
    Admin,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    Hs256,
    Es256,
    Eddsa,
}

#[derive(Debug, clap::Args)]
struct TokenCommand {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    tokens: TokenArgs,
    /// The shop's domain.
    #[arg(long)]
    domain: String,
    #[arg(long, value_enum, default_value = "shopper")]
    role: RoleArg,
    /// The subject (user id).
    #[arg(long)]
    sub: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl_seconds: i64,
    #[arg(long, value_enum, default_value = "hs256")]
    alg: AlgArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(database) => {
            let db = owner_pool(&database).await?;
            db::MIGRATOR.run(&db).await.context("migration failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant { database, command } => {
            tenant(&owner_pool(&database).await?, command).await
        }
        Command::Token(args) => token(args).await,
    }
}

async fn owner_pool(database: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let limits = PoolLimits {
        max_connections: 2,
        acquire_timeout: std::time::Duration::from_secs(10),
    };
    db::connect(database.url(), limits)
        .await
        .context("cannot connect to DATABASE_URL")
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init();
    let verifier = args.tokens.verifier()?;
    let db = db::connect(args.database.url(), args.pool_limits())
        .await
        .context("cannot connect to DATABASE_URL")?;
    db::MIGRATOR.run(&db).await.context("migration failed")?;
    let listener = TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen_addr))?;
    tracing::info!(addr = %args.listen_addr, "origin listening");
    origin::serve(listener, AppState::new(db, verifier), shutdown_signal()).await?;
    Ok(())
}

async fn tenant(db: &PgPool, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Add { name, domain } => {
            println!("{}", tenants::add(db, &name, &domain).await?)
        }
        TenantCommand::ExportKv => println!(
            "{}",
            serde_json::to_string_pretty(&tenants::domain_map(db).await?)?
        ),
        TenantCommand::SeedDemo => println!("{}", tenants::seed_demo(db).await?),
    }
    Ok(())
}

async fn token(args: TokenCommand) -> anyhow::Result<()> {
    let db = owner_pool(&args.database).await?;
    let org_id = tenants::org_for_domain(&db, &args.domain)
        .await?
        .with_context(|| format!("no shop is served on {}", args.domain))?;
    let request = TokenRequest {
        org_id,
        role: match args.role {
            RoleArg::Shopper => Role::Shopper,
            RoleArg::Admin => Role::Admin,
        },
        sub: args.sub,
        issuer: args.tokens.jwt_issuer.clone(),
        audience: args.tokens.jwt_audience.clone(),
        ttl: chrono::Duration::seconds(args.ttl_seconds),
        algorithm: match args.alg {
            AlgArg::Hs256 => KeyAlgorithm::Hs256,
            AlgArg::Es256 => KeyAlgorithm::Es256,
            AlgArg::Eddsa => KeyAlgorithm::EdDsa,
        },
    };
    println!(
        "{}",
        dev_tokens::mint_token(&args.tokens.key_set()?, &request)?
    );
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, starting a graceful drain.
async fn shutdown_signal() {
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
