//! The built Worker (edge/build) under miniflare, one instance per test.

use std::{path::PathBuf, process::Stdio, time::Duration};

use nix::{sys::signal, unistd::Pid};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use uuid::Uuid;

use crate::{shop::Shop, tokens::TestKeys};

/// A running Worker. Dropping it stops miniflare and its workerd.
#[derive(Debug)]
pub struct Edge {
    pub url: String,
    pub http: reqwest::Client,
    /// Where the harness reads the limiter objects' request counts (not the Worker's port).
    limiter_stats_url: Option<String>,
    /// Where the harness lists the stored pictures and runs the scheduled handler.
    harness_url: String,
    child: Child,
    /// Miniflare's storage, when kept in memory; removed after the processes are stopped.
    _storage: Option<tempfile::TempDir>,
}

/// What one shop's limiter object has served since it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct LimiterStats {
    /// Requests from the Worker: each one a billed Durable Object request.
    pub checks: u64,
    /// Alarm invocations (billed as requests too).
    pub alarms: u64,
}

/// What the Worker is started with.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub origin_url: String,
    pub shops: Vec<Shop>,
    pub jwks: String,
    /// More Worker vars, e.g. `INVENTORY_CACHE_TTL_SECONDS` or `RATE_LIMIT_WHEN_UNREACHABLE`.
    pub extra_env: Vec<(String, String)>,
    /// `RATE_LIMIT_DEFAULTS`; the Worker's built-in defaults when `None`.
    pub rate_limit_defaults: Option<Value>,
    /// Entries of the `RATE_LIMITS` KV namespace: a shop's org id -> its overrides.
    pub shop_rate_limits: Vec<(Uuid, Value)>,
    /// Leaves out the limiter's Durable Object binding, as if it could not be reached.
    pub without_rate_limiter: bool,
    /// Keeps miniflare's storage (the Cache API's entries, KV, the Durable Object's SQLite)
    /// in memory instead of the system's temporary directory.
    pub storage_in_memory: bool,
}

impl EdgeConfig {
    /// A Worker in front of `origin_url` serving `shops`, trusting `keys`.
    pub fn new(origin_url: &str, shops: &[Shop], keys: &TestKeys) -> Self {
        Self {
            origin_url: origin_url.to_owned(),
            shops: shops.to_vec(),
            jwks: keys.public_jwks(),
            ..Self::default()
        }
    }

    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra_env.push((name.to_owned(), value.into()));
        self
    }

    pub fn shop_rate_limits(mut self, org_id: Uuid, limits: Value) -> Self {
        self.shop_rate_limits.push((org_id, limits));
        self
    }

    /// Keeps miniflare's storage in memory (`/dev/shm`). workerd reads and writes it on the
    /// thread that runs the Worker, so on a slow disk every cache write and limiter check
    /// stalls every request; Cloudflare's own cache and storage never run on that thread. For
    /// benchmarks of the Worker's code rather than of this machine's disk.
    pub fn storage_in_memory(mut self) -> Self {
        self.storage_in_memory = true;
        self
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

impl Edge {
    /// Starts a Worker in front of `origin_url` serving `shops`.
    pub async fn start(origin_url: &str, shops: &[Shop], keys: &TestKeys) -> Self {
        Self::start_with(EdgeConfig::new(origin_url, shops, keys)).await
    }

    pub async fn start_with(config: EdgeConfig) -> Self {
        let root = workspace_root();
        let shim = root.join("edge/build/worker/shim.mjs");
        assert!(
            shim.exists(),
            "{} is missing: build the Worker first with scripts/build-edge",
            shim.display()
        );
        let domains: serde_json::Map<String, Value> = config
            .shops
            .iter()
            .map(|shop| (shop.domain.clone(), shop.org_id.to_string().into()))
            .collect();
        let rate_limits: serde_json::Map<String, Value> = config
            .shop_rate_limits
            .iter()
            .map(|(org_id, limits)| (org_id.to_string(), limits.clone()))
            .collect();
        let mut command = Command::new("node");
        command
            .arg(root.join("tests/edge/miniflare.mjs"))
            .env("ORIGIN_URL", &config.origin_url)
            .env("DOMAINS", Value::Object(domains).to_string())
            .env("RATE_LIMITS", Value::Object(rate_limits).to_string())
            .env("JWT_JWKS", &config.jwks)
            .envs(config.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(defaults) = &config.rate_limit_defaults {
            command.env("RATE_LIMIT_DEFAULTS", defaults.to_string());
        }
        if config.without_rate_limiter {
            command.env("WITHOUT_RATE_LIMITER", "1");
        }
        // Miniflare keeps its storage under the temporary directory node reports.
        let storage = config
            .storage_in_memory
            .then(|| {
                tempfile::Builder::new()
                    .prefix("miniflare-")
                    .tempdir_in("/dev/shm")
                    .ok()
            })
            .flatten();
        if let Some(storage) = &storage {
            command.env("TMPDIR", storage.path());
        }
        let mut child = command.spawn().expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (url, limiter_stats_url, harness_url) =
            tokio::time::timeout(Duration::from_secs(60), async {
                let mut limiter_stats_url = None;
                let mut harness_url = String::new();
                while let Some(line) = lines.next_line().await.expect("read miniflare output") {
                    if let Some(url) = line.strip_prefix("limiter-stats ") {
                        limiter_stats_url = Some(url.trim().to_owned());
                    }
                    if let Some(url) = line.strip_prefix("harness ") {
                        url.trim().clone_into(&mut harness_url);
                    }
                    if let Some(url) = line.strip_prefix("ready ") {
                        return (url.trim().to_owned(), limiter_stats_url, harness_url);
                    }
                }
                panic!("miniflare exited before it was ready");
            })
            .await
            .expect("miniflare ready within 60 s");
        // Keep draining its output so the Worker never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            url,
            http: reqwest::Client::new(),
            limiter_stats_url,
            harness_url,
            child,
            _storage: storage,
        }
    }

    /// The id of the launcher (node), which leads the process group its workerd runs in: what
    /// a benchmark reads to tell the Worker's CPU time from the rest.
    pub fn process_group(&self) -> Option<u32> {
        self.child.id()
    }

    /// The request counts of `org_id`'s limiter object.
    pub async fn limiter_stats(&self, org_id: Uuid) -> LimiterStats {
        let url = self
            .limiter_stats_url
            .as_deref()
            .expect("the Worker runs with its limiter");
        self.http
            .get(url)
            .query(&[("shop", org_id.to_string())])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("limiter stats")
            .json()
            .await
            .expect("limiter stats are JSON")
    }

    /// Every key stored in the Worker's `IMAGES` bucket, whichever shop's.
    pub async fn stored_images(&self) -> Vec<String> {
        self.http
            .get(format!("{}/images", self.harness_url))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("stored images")
            .json()
            .await
            .expect("stored images are JSON")
    }

    /// Runs the Worker's scheduled handler once (the picture sweep), as its cron would.
    pub async fn run_scheduled(&self) {
        self.http
            .post(format!("{}/scheduled", self.harness_url))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("scheduled handler ran");
    }

    /// A request to `path` on `shop`'s domain.
    pub fn request(&self, method: Method, shop_domain: &str, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("host", shop_domain)
    }

    pub fn get(&self, shop_domain: &str, path: &str) -> RequestBuilder {
        self.request(Method::GET, shop_domain, path)
    }

    pub fn post(&self, shop_domain: &str, path: &str) -> RequestBuilder {
        self.request(Method::POST, shop_domain, path)
    }

    /// `POST /api/buy` of `quantity` of `item_id` as the bearer of `token`, under a fresh
    /// `Idempotency-Key`.
    pub fn buy(
        &self,
        shop_domain: &str,
        token: &str,
        item_id: Uuid,
        quantity: i64,
    ) -> RequestBuilder {
        self.post(shop_domain, "/api/buy")
            .bearer_auth(token)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&serde_json::json!({"item_id": item_id, "quantity": quantity}))
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            // The whole group: node and the workerd it started.
            let _ = signal::killpg(Pid::from_raw(pid), signal::Signal::SIGKILL);
        }
    }
}
