//! Running the origin in production: the read replica, deadlines and log sampling.
//!
//! `OperationsArgs` are the flags and environment variables (flattened into `serve`'s);
//! `OpsSettings` is what the router needs from them, with defaults tests can start from.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::secrets::secret;
use crate::observability::sampling::LogSampling;

#[derive(Debug, Clone, Args)]
pub struct OperationsArgs {
    /// A streaming replica of the primary for reads (host, port and database are used; requests
    /// run as DATABASE_APP_USER there too). Unset: every read runs on the primary.
    #[arg(long, env = "DATABASE_REPLICA_URL", value_parser = secret, hide_env_values = true)]
    pub database_replica_url: Option<SecretString>,
    /// Most connections the replica pool opens.
    #[arg(long, env = "DATABASE_REPLICA_MAX_CONNECTIONS", default_value_t = 20)]
    pub replica_max_connections: u32,
    /// Longest a single SQL statement may run before Postgres cancels it (0: no limit).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub statement_timeout_ms: u64,
    /// Longest a whole request may take before it is answered 503.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Share of successful, fast requests whose log lines are written (0.0 to 1.0; 1 = all).
    #[arg(long, env = "LOG_SUCCESS_SAMPLE_RATE", default_value_t = 0.01, value_parser = share)]
    pub log_success_sample_rate: f64,
    /// Requests slower than this are always logged.
    #[arg(long, env = "LOG_SLOW_REQUEST_MS", default_value_t = 500)]
    pub log_slow_request_ms: u64,
}

fn share(raw: &str) -> Result<f64, String> {
    let value: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    (0.0..=1.0)
        .contains(&value)
        .then_some(value)
        .ok_or_else(|| format!("{value} is not between 0 and 1"))
}

impl OperationsArgs {
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout_ms > 0).then(|| Duration::from_millis(self.statement_timeout_ms))
    }

    pub fn settings(&self) -> OpsSettings {
        OpsSettings {
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            log_sampling: LogSampling {
                success_rate: self.log_success_sample_rate,
                slow_request: Duration::from_millis(self.log_slow_request_ms),
            },
        }
    }
}

/// What the router applies to every request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpsSettings {
    /// Requests still running after this are answered `503` problem+json.
    pub request_timeout: Duration,
    pub log_sampling: LogSampling,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            log_sampling: LogSampling::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn sample_rates_are_shares() {
        assert_eq!(share("0.01"), Ok(0.01));
        assert_eq!(share("1"), Ok(1.0));
        assert!(share("1.5").is_err());
        assert!(share("-0.1").is_err());
        assert!(share("most").is_err());
    }
}
