//! Latency samples and their summary.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let count = samples.len();
    let at = |q: f64| {
        // Nearest-rank percentile.
        let rank = ((q * count as f64).ceil() as usize).clamp(1, count.max(1));
        samples.get(rank - 1).copied().unwrap_or_default()
    };
    let total: Duration = samples.iter().sum();
    Summary {
        mean: total / u32::try_from(count.max(1)).unwrap_or(u32::MAX),
        p50: at(0.50),
        p99: at(0.99),
        max: samples.last().copied().unwrap_or_default(),
    }
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
