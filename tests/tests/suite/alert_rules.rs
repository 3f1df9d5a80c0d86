//! The Prometheus alert rules in config/alerts/ are valid and fire when they should: each has
//! cases in config/alerts/tests.yml, run by `promtool test rules` (Debian's `prometheus`
//! package, which scripts/setup installs).

use std::{path::PathBuf, process::Command};

fn alerts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/alerts")
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(alerts_dir())
        .output()
        .expect("run promtool (scripts/setup installs the prometheus package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_every_one_is_tested() {
    let checked = promtool(&["check", "rules", "furnitureops.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let rules = std::fs::read_to_string(alerts_dir().join("furnitureops.yml")).unwrap();
    let tests = std::fs::read_to_string(alerts_dir().join("tests.yml")).unwrap();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!("alertname: {name}")),
                "the alert {name} has no case in tests.yml"
            );
        }
    }
    let tested = promtool(&["test", "rules", "tests.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}
