//! The built Worker (edge/build) under miniflare, one instance per test.

use std::{path::PathBuf, process::Stdio, time::Duration};

use nix::{sys::signal, unistd::Pid};
use reqwest::{Method, RequestBuilder};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{shop::Shop, tokens::TestKeys};

/// A running Worker. Dropping it stops miniflare and its workerd.
#[derive(Debug)]
pub struct Edge {
    pub url: String,
    pub http: reqwest::Client,
    child: Child,
}

/// What the Worker is started with.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    pub origin_url: String,
    pub shops: Vec<Shop>,
    pub jwks: String,
    pub extra_env: Vec<(String, String)>,
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
        Self::start_with(EdgeConfig {
            origin_url: origin_url.to_owned(),
            shops: shops.to_vec(),
            jwks: keys.public_jwks(),
            extra_env: Vec::new(),
        })
        .await
    }

    pub async fn start_with(config: EdgeConfig) -> Self {
        let root = workspace_root();
        let shim = root.join("edge/build/worker/shim.mjs");
        assert!(
            shim.exists(),
            "{} is missing: build the Worker first with scripts/build-edge",
            shim.display()
        );
        let domains: serde_json::Map<String, serde_json::Value> = config
            .shops
            .iter()
            .map(|shop| (shop.domain.clone(), shop.org_id.to_string().into()))
            .collect();
        let mut command = Command::new("node");
        command
            .arg(root.join("tests/edge/miniflare.mjs"))
            .env("ORIGIN_URL", &config.origin_url)
            .env("DOMAINS", serde_json::Value::Object(domains).to_string())
            .env("JWT_JWKS", &config.jwks)
            .envs(config.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read miniflare output") {
                if let Some(url) = line.strip_prefix("ready ") {
                    return url.trim().to_owned();
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
            child,
        }
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
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            // The whole group: node and the workerd it started.
            let _ = signal::killpg(Pid::from_raw(pid), signal::Signal::SIGKILL);
        }
    }
}
