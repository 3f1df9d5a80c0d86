//! `origin`: serve the API, migrate the schema, manage shops, mint development tokens.

// No function longer than a screen: `too-many-lines-threshold` in clippy.toml.
#![warn(clippy::too_many_lines)]

/// mimalloc rather than the system allocator: a purchase request allocates and frees many small
/// buffers across the runtime's threads, and glibc's malloc spent about a fifth of the server's
/// CPU on them under a flash sale (profiled with `perf` at 15k buys/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use api::token::{KeyAlgorithm, Role};
use clap::{Parser, Subcommand, ValueEnum};
use origin::{
    app::startup::{self, owner_pool},
    config::{DatabaseArgs, ServeArgs, TokenArgs},
    db,
    idempotency::retention,
    kill_switch,
    operator::{
        demo_shop,
        dev_tokens::{self, TokenRequest},
        signing_keys, tenants,
    },
    Settings,
};
use sqlx::PgPool;

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
    Serve(Box<ServeArgs>),
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
    Token(Box<TokenCommand>),
    /// Run queue workers only (no HTTP): apply `Prefer: respond-async` purchases.
    Worker {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
        app_user: String,
        #[arg(long, env = "QUEUE_WORKERS", default_value_t = 2)]
        workers: usize,
        #[arg(long, env = "QUEUE_BATCH", default_value_t = 50)]
        batch: i32,
    },
    /// Create upcoming idempotency-key partitions and drop those past retention.
    Maintain {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, env = "IDEMPOTENCY_RETENTION_HOURS", default_value_t = 48)]
        retention_hours: i64,
    },
    /// The operators' global kill switch (pauses every shop).
    KillSwitch {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Engage (pause all sales) or release.
        #[arg(long, value_enum)]
        set: SwitchArg,
        #[arg(long)]
        reason: Option<String>,
        /// Flip even inside the cooldown.
        #[arg(long)]
        force: bool,
        #[arg(long, env = "KILL_SWITCH_COOLDOWN_SECONDS", default_value_t = Settings::DEFAULT_KILL_SWITCH_COOLDOWN_SECONDS)]
        cooldown_seconds: i64,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
enum SwitchArg {
    Engaged,
    Released,
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
    Rs256,
    Ps256,
}

impl From<AlgArg> for KeyAlgorithm {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Hs256 => KeyAlgorithm::Hs256,
            AlgArg::Es256 => KeyAlgorithm::Es256,
            AlgArg::Eddsa => KeyAlgorithm::EdDsa,
            AlgArg::Rs256 => KeyAlgorithm::Rs256,
            AlgArg::Ps256 => KeyAlgorithm::Ps256,
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
        Command::Serve(args) => startup::serve(*args).await,
        Command::Migrate(database) => {
            let db = owner_pool(&database).await?;
            db::MIGRATOR.run(&db).await.context("migration failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant { database, command } => {
            tenant(&owner_pool(&database).await?, command).await
        }
        Command::Token(args) => token(*args).await,
        Command::Worker {
            database,
            app_user,
            workers,
            batch,
        } => startup::queue_workers(&database, app_user, workers, batch).await,
        Command::Maintain {
            database,
            retention_hours,
        } => {
            let db = owner_pool(&database).await?;
            let report = retention::run_once(&db, chrono::Duration::hours(retention_hours)).await?;
            println!(
                "partitions created: {}, dropped: {:?}",
                report.created, report.dropped
            );
            Ok(())
        }
        Command::KillSwitch {
            database,
            set,
            reason,
            force,
            cooldown_seconds,
        } => {
            let order = kill_switch::FlipOrder {
                org_id: kill_switch::GLOBAL,
                engaged: matches!(set, SwitchArg::Engaged),
                reason: reason.as_deref(),
                force,
                actor: "operator-cli",
                cooldown: chrono::Duration::seconds(cooldown_seconds),
                now: chrono::Utc::now(),
            };
            flip_global_switch(&database, &order).await
        }
        Command::Keys {
            command: KeysCommand::Generate { alg, kid },
        } => {
            let (private, public) = signing_keys::generate(alg.into(), &kid)?;
            println!("private JWK (keep it with the issuer):\n{private}\n");
            println!("public JWK set (JWT_JWKS for edge and origin):\n{public}");
            Ok(())
        }
    }
}

/// `origin kill-switch`: flips the global switch as the operator.
async fn flip_global_switch(
    database: &DatabaseArgs,
    order: &kill_switch::FlipOrder<'_>,
) -> anyhow::Result<()> {
    let db = owner_pool(database).await?;
    let mut tx = db.begin().await?;
    let flip = kill_switch::flip(&mut tx, order).await?;
    tx.commit().await?;
    println!("{flip:?}");
    anyhow::ensure!(
        !matches!(flip, kill_switch::Flip::InCooldown { .. }),
        "the global switch is in its cooldown; pass --force to override"
    );
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
        TenantCommand::SeedDemo => println!("{}", demo_shop::seed(db).await?),
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
        // The first accepted audience; tokens are minted in the product's own layout.
        audience: (args.tokens.acceptance()?.audiences.into_iter().next()).unwrap_or_default(),
        ttl: chrono::Duration::seconds(args.ttl_seconds),
        algorithm: args.alg.into(),
    };
    println!(
        "{}",
        dev_tokens::mint_token(&args.tokens.key_set()?, &request)?
    );
    Ok(())
}
