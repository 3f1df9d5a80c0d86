//! Which request lines are written.
//!
//! A busy shop answers thousands of identical `200`s a second; writing each one costs I/O and log
//! storage and tells nobody anything. So a configurable share of successful requests is kept
//! (1 % by default), while every client error, server error and slow request is kept whole.
//!
//! The share is chosen by hashing the request id, not by a random draw: the edge, every origin
//! instance and every rerun decide the same for the same id, so a request is either visible
//! everywhere or nowhere, and one request's lines are all kept or all dropped.

use std::time::Duration;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

/// The sampling policy for request log lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSampling {
    /// Share (0.0 to 1.0) of successful, fast requests whose lines are written.
    pub success_rate: f64,
    /// Requests that take at least this long are always written.
    pub slow_request: Duration,
}

impl Default for LogSampling {
    fn default() -> Self {
        Self {
            success_rate: 0.01,
            slow_request: Duration::from_millis(500),
        }
    }
}

impl LogSampling {
    /// Every line written: sampling off.
    pub const KEEP_ALL: Self = Self {
        success_rate: 1.0,
        slow_request: Duration::ZERO,
    };

    /// Whether a successful request with this id is in the sampled share. Known as soon as the
    /// request arrives, so sampled requests write their lines straight away.
    pub fn samples_request_id(&self, request_id: &str) -> bool {
        if self.success_rate >= 1.0 {
            return true;
        }
        if self.success_rate <= 0.0 {
            return false;
        }
        self.success_rate > unit_interval_position(request_id)
    }

    /// The final decision, once the outcome is known: sampled ids, errors and slow requests.
    pub fn keeps(&self, id_sampled: bool, status: StatusCode, latency: Duration) -> bool {
        id_sampled
            || status.is_client_error()
            || status.is_server_error()
            || latency >= self.slow_request
    }
}

/// Where the id falls in [0, 1): the top 53 bits of its SHA-256, as a uniform fraction.
fn unit_interval_position(request_id: &str) -> f64 {
    let digest = Sha256::digest(request_id.as_bytes());
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(3);

    fn one_percent() -> LogSampling {
        LogSampling::default()
    }

    #[test]
    fn the_same_id_always_gets_the_same_decision() {
        let sampling = LogSampling {
            success_rate: 0.5,
            ..one_percent()
        };
        for i in 0..1_000 {
            let id = format!("req-{i}");
            let first = sampling.samples_request_id(&id);
            assert!((0..5).all(|_| sampling.samples_request_id(&id) == first));
        }
    }

    #[test]
    fn about_the_configured_share_of_ids_is_sampled() {
        let sampling = one_percent();
        let sampled = (0..100_000)
            .filter(|i| sampling.samples_request_id(&uuid::Uuid::from_u128(*i).to_string()))
            .count();
        // 1 % of 100k is 1,000; the binomial standard deviation is about 31.
        assert!((850..=1_150).contains(&sampled), "sampled {sampled}");
    }

    #[test]
    fn a_higher_rate_keeps_every_id_a_lower_rate_kept() {
        let low = LogSampling {
            success_rate: 0.05,
            ..one_percent()
        };
        let high = LogSampling {
            success_rate: 0.2,
            ..one_percent()
        };
        for i in 0..10_000 {
            let id = format!("id-{i}");
            if low.samples_request_id(&id) {
                assert!(high.samples_request_id(&id), "{id}");
            }
        }
    }

    #[test]
    fn errors_and_slow_requests_are_always_kept() {
        let sampling = one_percent();
        assert!(sampling.keeps(false, StatusCode::NOT_FOUND, FAST));
        assert!(sampling.keeps(false, StatusCode::CONFLICT, FAST));
        assert!(sampling.keeps(false, StatusCode::SERVICE_UNAVAILABLE, FAST));
        assert!(sampling.keeps(false, StatusCode::OK, Duration::from_secs(1)));
        assert!(!sampling.keeps(false, StatusCode::OK, FAST));
        assert!(!sampling.keeps(false, StatusCode::CREATED, FAST));
        assert!(sampling.keeps(true, StatusCode::OK, FAST));
    }

    #[test]
    fn rate_one_keeps_everything_and_rate_zero_only_what_must_be_kept() {
        assert!(LogSampling::KEEP_ALL.samples_request_id("anything"));
        let none = LogSampling {
            success_rate: 0.0,
            ..one_percent()
        };
        assert!((0..1_000).all(|i| !none.samples_request_id(&i.to_string())));
        assert!(none.keeps(false, StatusCode::BAD_REQUEST, FAST));
    }
}
