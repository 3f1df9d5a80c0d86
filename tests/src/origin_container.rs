//! The origin image, run as users run it: `podman run` of the image `scripts/test-containers`
//! builds from `origin/Dockerfile`, on the host's network so it reaches the test's database and
//! listens on 127.0.0.1 only. Removed on drop.
//!
//! Podman reads the project's `containers/containers.conf` through `CONTAINERS_CONF`, which the
//! script exports; tests using this are `#[ignore]`d otherwise (they need the image).

use std::process::{Command, Stdio};

use crate::{ports, OriginConfig};

/// One running container of the origin image.
#[derive(Debug)]
pub struct OriginContainer {
    pub url: String,
    /// The operations listener (`OPS_LISTEN_ADDR`), on a port of its own too.
    pub ops_url: String,
    name: String,
}

impl OriginContainer {
    /// `origin serve` from `image` on free ports (the API's and the operations listener's: on
    /// the host's network the image's default would be shared by every container), with
    /// `config`'s variables; waits for `/readyz`.
    pub async fn start(image: &str, config: &OriginConfig) -> Self {
        let (port, ops_port) = (ports::free_port(), ports::free_port());
        let name = format!("furnitureops-origin-test-{port}");
        let mut command = Command::new("podman");
        command
            .args(["run", "--detach", "--rm", "--pull=never", "--network=host"])
            .args(["--name", &name])
            .args(["--env", &format!("DATABASE_URL={}", config.database_url)])
            .args(["--env", &format!("JWT_JWKS={}", config.jwks)])
            .args(["--env", &format!("LISTEN_ADDR=127.0.0.1:{port}")])
            .args(["--env", &format!("OPS_LISTEN_ADDR=127.0.0.1:{ops_port}")])
            .args(["--env", "RUST_LOG=warn"]);
        for (key, value) in &config.env {
            command.args(["--env", &format!("{key}={value}")]);
        }
        let status = command
            .arg(image)
            .arg("serve")
            .stdout(Stdio::null())
            .status()
            .expect("run podman");
        assert!(status.success(), "podman run {image} failed");
        let container = Self {
            url: format!("http://127.0.0.1:{port}"),
            ops_url: format!("http://127.0.0.1:{ops_port}"),
            name,
        };
        let readyz = format!("{}/readyz", container.ops_url);
        let http = reqwest::Client::new();
        crate::wait::until(
            std::time::Duration::from_secs(60),
            "the origin container ready",
            || async {
                let response = http.get(&readyz).send().await.ok()?;
                response.status().is_success().then_some(())
            },
        )
        .await;
        container
    }
}

impl Drop for OriginContainer {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "--force", "--time=5", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
