//! Typed configuration, read from flags or environment variables (flags win).
//!
//! Secrets (`DATABASE_URL`, `JWT_JWKS`) are held as `SecretString`, so neither `Debug` nor a log
//! line can print them.

pub mod domains;
pub mod operations;
pub mod pooler;
pub mod pools;
mod secrets;
mod settings;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use api::edge_key::EdgeSecret;
use api::token::{
    claim_map::{
        DEFAULT_ADMIN_ROLES, DEFAULT_ORG_CLAIM, DEFAULT_ROLE_CLAIM, DEFAULT_SHOPPER_ROLES,
    },
    Acceptance, ClaimMap, KeySet, TokenVerifier,
};
use clap::Args;
use secrecy::{ExposeSecret, SecretString};

pub use settings::Settings;

use crate::{
    db::{AppRole, PoolLimits},
    events::hub::StreamCaps,
    token_keys::{KeySetUrl, TokenKeys},
};
use operations::OperationsArgs;
use pooler::PoolerArgs;
use secrets::secret;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/furnitureops";

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL of the primary.
    #[arg(long, env = "DATABASE_URL", value_parser = secret, default_value = DEFAULT_DATABASE_URL, hide_env_values = true, hide_default_value = true)]
    pub database_url: SecretString,
}

impl DatabaseArgs {
    pub fn url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The JWK set (JSON `{"keys": [...]}`) tokens are checked against; each key needs a `kid`.
    /// Optional beside `JWT_JWKS_URL`; one of the two is required.
    #[arg(long, env = "JWT_JWKS", value_parser = secret, hide_env_values = true, required_unless_present = "jwt_jwks_url")]
    pub jwt_jwks: Option<SecretString>,
    /// Where the identity provider publishes its JWK set (fetched, cached for its `max-age`,
    /// fetched again on an unknown `kid`; see `token_keys`).
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// A PEM file of CA certificates to trust for `JWT_JWKS_URL` besides the platform's and the
    /// bundled webpki roots (a self-hosted provider with a CA of its own).
    #[arg(long, env = "JWT_JWKS_CA_FILE")]
    pub jwt_jwks_ca_file: Option<PathBuf>,
    /// Required `iss` claim.
    #[arg(long, env = "JWT_ISSUER", default_value = "furnitureops")]
    pub jwt_issuer: String,
    /// Accepted `aud` values, comma-separated: a token passes when its `aud` holds any one.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "furnitureops-shops")]
    pub jwt_audience: String,
    /// Where tokens carry the shop id: a dotted path; a segment in double quotes may hold dots
    /// (`"https://furnitureops.example/org_id"`), see `api::token::claim_path`.
    #[arg(long, env = "JWT_ORG_CLAIM", default_value = DEFAULT_ORG_CLAIM)]
    pub jwt_org_claim: String,
    /// Where tokens carry the role, as `JWT_ORG_CLAIM`.
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = DEFAULT_ROLE_CLAIM)]
    pub jwt_role_claim: String,
    /// Role values that make a shop admin, comma-separated (e.g. Clerk's `org:admin`).
    #[arg(long, env = "JWT_ADMIN_ROLES", default_value = DEFAULT_ADMIN_ROLES)]
    pub jwt_admin_roles: String,
    /// Role values that make a shopper, comma-separated; any other value is refused (403).
    #[arg(long, env = "JWT_SHOPPER_ROLES", default_value = DEFAULT_SHOPPER_ROLES)]
    pub jwt_shopper_roles: String,
}

impl TokenArgs {
    /// The operator's own keys (`JWT_JWKS`; empty when only a URL is given).
    pub fn key_set(&self) -> anyhow::Result<KeySet> {
        let json = self
            .jwt_jwks
            .as_ref()
            .map_or(r#"{"keys":[]}"#, |jwks| jwks.expose_secret());
        KeySet::from_jwks_json(json).context("JWT_JWKS is not usable")
    }

    /// The keys `serve` checks tokens with: `JWT_JWKS`, the provider's set, or both.
    pub async fn token_keys(&self) -> anyhow::Result<TokenKeys> {
        let verifier = self.verifier()?;
        let Some(url) = &self.jwt_jwks_url else {
            return Ok(TokenKeys::from(verifier));
        };
        let extra_ca = self
            .jwt_jwks_ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path)
                    .with_context(|| format!("JWT_JWKS_CA_FILE: cannot read {}", path.display()))
            })
            .transpose()?;
        let url = KeySetUrl::trusting(url.clone(), extra_ca.as_deref())
            .context("JWT_JWKS_URL or JWT_JWKS_CA_FILE is not usable")?;
        let own = self
            .jwt_jwks
            .as_ref()
            .map(|jwks| jwks.expose_secret().to_owned());
        Ok(TokenKeys::with_provider(verifier, own, url).await)
    }

    pub fn verifier(&self) -> anyhow::Result<TokenVerifier> {
        Ok(TokenVerifier::accepting(
            self.key_set()?,
            self.acceptance()?,
        ))
    }

    /// What a token must say: issuer, audiences, where the shop and role live.
    pub fn acceptance(&self) -> anyhow::Result<Acceptance> {
        let claims = ClaimMap::new(
            &self.jwt_org_claim,
            &self.jwt_role_claim,
            &self.jwt_admin_roles,
            &self.jwt_shopper_roles,
        )?;
        Ok(Acceptance::from_settings(
            &self.jwt_issuer,
            &self.jwt_audience,
            claims,
        )?)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
    /// The role requests run as: no BYPASSRLS, owns nothing (made by the migrations).
    #[arg(long, env = "DATABASE_APP_USER", default_value = "furnitureops_app")]
    pub database_app_user: String,
    /// Its password, when the server asks for one.
    #[arg(long, env = "DATABASE_APP_PASSWORD", value_parser = secret, hide_env_values = true)]
    pub database_app_password: Option<SecretString>,
    /// The secret the edge Worker holds too (at least 32 bytes): when set, tenant routes need
    /// the edge's proof on every request, and the claims it sealed are trusted
    /// (`web::edge_trust`). A shorter value, empty included, stops the origin from starting.
    #[arg(long, env = "EDGE_SHARED_SECRET", value_parser = secret, hide_env_values = true)]
    pub edge_shared_secret: Option<SecretString>,
    /// Seconds after a kill-switch flip during which it cannot flip back (without `force`).
    #[arg(long, env = "KILL_SWITCH_COOLDOWN_SECONDS", default_value_t = Settings::DEFAULT_KILL_SWITCH_COOLDOWN_SECONDS)]
    pub kill_switch_cooldown_seconds: i64,
    /// Most buys of one item committed in one transaction.
    #[arg(long, env = "PURCHASE_BATCH_MAX", default_value_t = Settings::DEFAULT_MAX_BATCH)]
    pub purchase_batch_max: usize,
    /// Queue workers run inside `serve` (0 leaves the queue to `origin worker`).
    #[arg(long, env = "QUEUE_WORKERS", default_value_t = Settings::DEFAULT_QUEUE_WORKERS)]
    pub queue_workers: usize,
    /// Most queued purchases one worker transaction claims.
    #[arg(long, env = "QUEUE_BATCH", default_value_t = Settings::DEFAULT_QUEUE_BATCH)]
    pub queue_batch: i32,
    /// Most `GET /api/events` streams one user may hold open at once (per origin process).
    #[arg(long, env = "EVENT_STREAMS_PER_USER", default_value_t = StreamCaps::DEFAULT.per_user)]
    pub event_streams_per_user: usize,
    /// Most `GET /api/events` streams open at once for one shop (per origin process).
    #[arg(long, env = "EVENT_STREAMS_PER_SHOP", default_value_t = StreamCaps::DEFAULT.per_shop)]
    pub event_streams_per_shop: usize,
    /// Most async buys one shop may have waiting in the queue; more are refused with 429.
    #[arg(long, env = "QUEUE_PENDING_PER_SHOP", default_value_t = Settings::DEFAULT_QUEUE_PENDING_CAP)]
    pub queue_pending_per_shop: i64,
    /// Most items one shop may hold; creating more is refused with 409.
    #[arg(long, env = "SHOP_ITEM_CAP", default_value_t = Settings::DEFAULT_ITEM_CAP)]
    pub shop_item_cap: i64,
    /// Hours idempotency keys are kept at least (partitions are dropped once wholly older).
    #[arg(long, env = "IDEMPOTENCY_RETENTION_HOURS", default_value_t = 48)]
    pub idempotency_retention_hours: i64,
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    pub listen_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics` and `/openapi.json` are served on this address only
    /// (keep it private); `LISTEN_ADDR` serves the tenant API alone and answers them 404.
    #[arg(long, env = "OPS_LISTEN_ADDR", default_value = "127.0.0.1:9000")]
    pub ops_listen_addr: SocketAddr,
    /// Most connections the pool opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 500)]
    pub acquire_timeout_ms: u64,
    #[command(flatten)]
    pub operations: OperationsArgs,
    #[command(flatten)]
    pub pooler: PoolerArgs,
    #[command(flatten)]
    pub domains: domains::DomainArgs,
}

impl ServeArgs {
    /// The API's address when it listens beyond loopback without `EDGE_SHARED_SECRET`: then
    /// anyone who reaches it is taken for the edge, which start-up warns about.
    pub fn open_without_edge_secret(&self) -> Option<SocketAddr> {
        let unproven = self.edge_shared_secret.is_none() && !self.listen_addr.ip().is_loopback();
        unproven.then_some(self.listen_addr)
    }

    /// The edge's shared secret, if set: one too short to trust (an empty env-file line
    /// included) is an error naming the variable, never a weak trust root, and its value is
    /// never printed.
    pub fn edge_secret(&self) -> anyhow::Result<Option<EdgeSecret>> {
        self.edge_shared_secret
            .as_ref()
            .map(|raw| EdgeSecret::new(raw.expose_secret()))
            .transpose()
            .map_err(anyhow::Error::from)
    }

    pub fn settings(&self) -> Settings {
        Settings {
            kill_switch_cooldown: chrono::Duration::seconds(self.kill_switch_cooldown_seconds),
            max_batch: self.purchase_batch_max,
            queue_workers: self.queue_workers,
            queue_batch: self.queue_batch,
            stream_caps: StreamCaps {
                per_user: self.event_streams_per_user,
                per_shop: self.event_streams_per_shop,
            },
            item_cap: self.shop_item_cap,
            queue_pending_cap: self.queue_pending_per_shop,
        }
    }

    /// The application role's credentials.
    pub fn app_role(&self) -> AppRole {
        AppRole {
            user: self.database_app_user.clone(),
            password: self.database_app_password.clone(),
        }
    }

    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{ServeArgs, Settings};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn serve_without_options_runs_with_the_default_settings() {
        let cli = Cli::try_parse_from(["origin", "--jwt-jwks", r#"{"keys":[]}"#])
            .expect("serve needs no options but the keys");
        assert_eq!(
            format!("{:?}", cli.serve.settings()),
            format!("{:?}", Settings::default())
        );
    }

    #[test]
    fn the_operations_routes_have_a_private_listener_by_default() {
        let cli = Cli::try_parse_from(["origin", "--jwt-jwks", r#"{"keys":[]}"#]).unwrap();
        assert!(cli.serve.ops_listen_addr.ip().is_loopback());
        assert_ne!(cli.serve.ops_listen_addr, cli.serve.listen_addr);
    }

    #[test]
    fn an_api_beyond_loopback_without_the_edge_secret_is_named_for_a_warning() {
        let parse = |args: &[&str]| {
            let mut all = vec!["origin", "--jwt-jwks", r#"{"keys":[]}"#];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().serve
        };
        let secret = "--edge-shared-secret=0123456789abcdef0123456789abcdef";
        assert_eq!(parse(&[]).open_without_edge_secret(), None);
        let open = parse(&["--listen-addr=0.0.0.0:3000"]).open_without_edge_secret();
        assert_eq!(open, Some("0.0.0.0:3000".parse().unwrap()));
        let proven = parse(&["--listen-addr=0.0.0.0:3000", secret]);
        assert_eq!(proven.open_without_edge_secret(), None);
    }
}
