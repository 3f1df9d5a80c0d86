//! Browser scenarios: a script in `tests/browser/` drives headless Chromium (Debian's
//! `/usr/bin/chromium`, through playwright-core) against a Worker and origin the Rust test has
//! started, and reports through its exit code. The Rust test then checks the database.

use std::{path::PathBuf, process::Stdio, time::Duration};

use nix::{sys::signal, unistd::Pid};
use tokio::process::Command;

/// Where Debian installs Chromium (`scripts/setup` installs it).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What a finished scenario printed, and whether it passed.
#[derive(Debug)]
pub struct ScenarioRun {
    pub passed: bool,
    pub output: String,
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs `tests/browser/{script}` under node with `env`, stopping it after `deadline`.
pub async fn run_scenario(script: &str, env: &[(&str, String)], deadline: Duration) -> ScenarioRun {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium package)"
    );
    let mut command = Command::new("node");
    command
        .arg(workspace_root().join("tests/browser").join(script))
        .envs(env.iter().map(|(name, value)| (*name, value)))
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a scenario that hangs is stopped with its Chromium.
        .process_group(0)
        .kill_on_drop(true);
    let child = command.spawn().expect("start node (is Node.js installed?)");
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let Ok(finished) = tokio::time::timeout(deadline, child.wait_with_output()).await else {
        if let Some(group) = group {
            let _ = signal::killpg(Pid::from_raw(group), signal::Signal::SIGKILL);
        }
        panic!("{script} did not finish within {deadline:?}");
    };
    let output = finished.expect("wait for node");
    ScenarioRun {
        passed: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}
