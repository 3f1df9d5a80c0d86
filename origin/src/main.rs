//! `origin`: serve the API, migrate the schema, manage shops, mint development tokens.

use anyhow::Context;
use api::token::{KeyAlgorithm, Role};
use clap::{Parser, Subcommand, ValueEnum};
use origin::{
    config::{DatabaseArgs, ServeArgs, TokenArgs},
    db::{self, PoolLimits},
    dev_tokens::{self, TokenRequest},
    pools, telemetry, tenants, AppState,
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
    /// Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Token verifications per second for HS256, ES256 and EdDSA.
    Tokens {
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// Row-level security overhead on the inventory listing, app role vs owner.
    Rls {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 3000)]
        iterations: usize,
    },
    /// GET /api/inventory throughput with reads on the primary vs on a streaming replica
    /// (throwaway clusters it makes and removes itself).
    Replica {
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 200)]
        items: usize,
        #[arg(long, default_value_t = 20)]
        pool_size: u32,
    },
    /// Log lines written per 10k requests with sampling off and on.
    LogSampling {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print a fresh key pair: the private JWK (for the issuer) and the public set (JWT_JWKS).
    Generate {
        #[arg(long, value_enum, default_value = "es256")]
        alg: AlgArg,
        /// The key id tokens will name.
        #[arg(long)]
        kid: String,
    },
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

impl From<AlgArg> for KeyAlgorithm {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Hs256 => KeyAlgorithm::Hs256,
            AlgArg::Es256 => KeyAlgorithm::Es256,
            AlgArg::Eddsa => KeyAlgorithm::EdDsa,
        }
    }
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
        Command::Bench { command } => match command {
            BenchCommand::Tokens { seconds } => origin::bench::tokens::run(seconds),
            BenchCommand::Rls {
                database,
                app_user,
                iterations,
            } => {
                let role = db::AppRole {
                    user: app_user,
                    password: None,
                };
                origin::bench::rls::run(database.url(), &role, iterations).await
            }
            BenchCommand::Replica {
                seconds,
                clients,
                items,
                pool_size,
            } => {
                origin::bench::replica::run(origin::bench::replica::ReplicaBench {
                    seconds,
                    clients,
                    items,
                    pool_size,
                })
                .await
            }
            BenchCommand::LogSampling {
                database,
                app_user,
                requests,
                clients,
            } => {
                let role = db::AppRole {
                    user: app_user,
                    password: None,
                };
                origin::bench::log_sampling::run(database.url(), &role, requests, clients).await
            }
        },
        Command::Keys {
            command: KeysCommand::Generate { alg, kid },
        } => {
            let (private, public) = origin::keys::generate(alg.into(), &kid)?;
            println!("private JWK (keep it with the issuer):\n{private}\n");
            println!("public JWK set (JWT_JWKS for edge and origin):\n{public}");
            Ok(())
        }
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
    let owner = owner_pool(&args.database).await?;
    db::MIGRATOR.run(&owner).await.context("migration failed")?;
    owner.close().await;
    let pools = pools::open(&args).await?;
    let listener = TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen_addr))?;
    tracing::info!(addr = %args.listen_addr, "origin listening");
    let state = AppState::new(pools.primary, verifier)
        .with_edge_secret(args.edge_shared_secret.clone())
        .with_replica(pools.replica)
        .with_ops(args.operations.settings());
    origin::serve(listener, state, shutdown_signal()).await?;
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
        algorithm: args.alg.into(),
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
