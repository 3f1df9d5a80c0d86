//! What a sale phase of the drop prints.

use std::{collections::BTreeMap, time::Duration};

use super::shopper::{Attempt, Kind};
use crate::stats::summarize;

/// The item's books after a phase.
#[derive(Debug, Clone, Copy)]
pub struct Books {
    pub initial: i32,
    pub sold: i64,
    pub left: i32,
}

impl Books {
    /// Stock left + units sold = the initial stock, and nothing below zero.
    pub fn add_up(&self) -> bool {
        self.left >= 0 && i64::from(self.left) + self.sold == i64::from(self.initial)
    }

    pub fn line(&self) -> String {
        format!(
            "stock {} + sold {} = {} (initial {}): {}",
            self.left,
            self.sold,
            i64::from(self.left) + self.sold,
            self.initial,
            if self.add_up() { "ok" } else { "MISMATCH" }
        )
    }
}

/// One sale phase: every shopper's attempts.
#[derive(Debug)]
pub struct PhaseReport {
    pub shoppers: Vec<Vec<Attempt>>,
    pub elapsed: Duration,
    pub reached_origin: usize,
    pub books: Books,
}

impl PhaseReport {
    fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.shoppers.iter().flatten()
    }

    /// Buy attempts answered 201.
    pub fn created(&self) -> usize {
        self.attempts().filter(|a| a.kind == Kind::Sold).count()
    }

    /// Attempts answered with any 5xx, 503 included.
    pub fn server_errors(&self) -> usize {
        self.attempts()
            .filter(|a| matches!(a.kind, Kind::Busy | Kind::OtherServerError))
            .count()
    }

    /// Shoppers whose last attempt was refused (429, 503) or not answered.
    pub fn refused(&self) -> usize {
        self.shoppers
            .iter()
            .filter_map(|attempts| attempts.last())
            .filter(|a| matches!(a.kind, Kind::TooMany | Kind::Busy | Kind::NoAnswer))
            .count()
    }

    pub fn print(&self, title: &str) {
        let attempts: Vec<&Attempt> = self.shoppers.iter().flatten().collect();
        let count = |kind: Kind| attempts.iter().filter(|a| a.kind == kind).count();
        let last_sale = attempts
            .iter()
            .filter(|a| a.kind == Kind::Sold)
            .map(|a| a.answered_at)
            .max();
        let sold_out = self.books.left == 0;
        let refused = self.refused();
        let shoppers = self.shoppers.len();
        println!("\n-- {title} --");
        println!(
            "units sold {} of {}; {}; phase {:.1} s",
            self.books.sold,
            self.books.initial,
            match (sold_out, last_sale) {
                (true, Some(at)) => format!(
                    "sold out after {:.2} s ({:.0} sales/s)",
                    at.as_secs_f64(),
                    self.books.sold as f64 / at.as_secs_f64().max(1e-3)
                ),
                _ => "not sold out".to_owned(),
            },
            self.elapsed.as_secs_f64()
        );
        println!(
            "buy attempts {} by {shoppers} shoppers; reached the origin {}",
            attempts.len(),
            self.reached_origin
        );
        println!(
            "sold-out answers: edge {}, origin {}; 429 {}, 503 {}; other 5xx {}; no answer {}",
            count(Kind::SoldOutAtEdge),
            count(Kind::SoldOutAtOrigin),
            count(Kind::TooMany),
            count(Kind::Busy),
            count(Kind::OtherServerError),
            count(Kind::NoAnswer)
        );
        println!(
            "shoppers refused in the end (429, 503 or no answer after {} retries): {refused} ({:.2} %)",
            super::shopper::RETRIES,
            100.0 * refused as f64 / shoppers.max(1) as f64
        );
        let mut by_kind: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
        for attempt in &attempts {
            by_kind
                .entry(attempt.kind)
                .or_default()
                .push(attempt.latency);
        }
        for (kind, mut latencies) in by_kind {
            let summary = summarize(&mut latencies);
            println!(
                "  {:<22} {:>6}  p50 {:>7.1} ms  p99 {:>7.1} ms",
                kind.name(),
                latencies.len(),
                summary.p50.as_secs_f64() * 1e3,
                summary.p99.as_secs_f64() * 1e3
            );
        }
        println!("{}", self.books.line());
    }
}
