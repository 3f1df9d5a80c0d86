//! `bench edge costs`: the Worker's CPU per request of each kind, one at a time on a quiet
//! Worker, held to a budget each, as a ratio to the cheapest request there is in the same run
//! (a host no shop is served on). A ratio, so a slow machine does not fail it, and a change
//! that makes a kind dearer than its budget does. `.ci/run` runs it.
//!
//! The budgets are where the kinds stand today with room for noise between runs (three runs:
//! buy 9.6x to 11.4x the floor); the goals are where they should be (issue 38: a buy at most
//! 4.5x the floor and 2.5 ms). A budget comes down when a cut lands, never up to let a change
//! through.

use std::sync::Arc;

use sqlx::PgPool;

use super::{
    unit_costs::{self, UnitCost, FLOOR},
    world::World,
};

/// Each measured kind's budget and goal, as times the floor's CPU per request.
const BUDGETS: [(&str, f64, f64); 6] = [
    ("anonymous read from the cache", 2.6, 2.0),
    ("cache-busting read (query, position)", 4.0, 3.0),
    ("read near the client's quota (object)", 4.0, 3.0),
    ("read of a cooled-down client", 2.6, 2.0),
    ("shopper's read (token checked)", 4.0, 3.0),
    ("shopper's buy", 13.0, 4.5),
];

pub async fn run(owner: &PgPool) -> anyhow::Result<()> {
    let world = Arc::new(World::open(owner, 0, 0).await?);
    let costs = unit_costs::measure(&world).await?;
    let floor = cost_of(&costs, FLOOR)?;
    println!("Worker CPU per request, one at a time (miniflare's processes, from /proc):");
    println!(
        "  {:<40} {:>9} {:>9} {:>8} {:>6}   answers",
        "kind", "CPU ms", "x floor", "budget", "goal"
    );
    println!(
        "  {:<40} {:>9.2} {:>9} {:>8} {:>6}   ({})",
        FLOOR,
        millis(floor),
        "1.00",
        "-",
        "-",
        answers_of(&costs, FLOOR)
    );
    let mut over = Vec::new();
    for (kind, budget, goal) in BUDGETS {
        let cpu = cost_of(&costs, kind)?;
        let ratio = cpu.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE);
        let verdict = if ratio > budget {
            over.push(format!("{kind}: {ratio:.2}x the floor, budget {budget}x"));
            "OVER BUDGET"
        } else if ratio > goal {
            "within budget, goal missed"
        } else {
            "goal met"
        };
        println!(
            "  {kind:<40} {:>9.2} {ratio:>9.2} {budget:>8.1} {goal:>6.1}   ({}) {verdict}",
            millis(cpu),
            answers_of(&costs, kind)
        );
    }
    anyhow::ensure!(over.is_empty(), "over budget: {}", over.join("; "));
    Ok(())
}

fn cost_of(costs: &[UnitCost], kind: &str) -> anyhow::Result<std::time::Duration> {
    costs
        .iter()
        .find(|cost| cost.kind == kind)
        .and_then(|cost| cost.cpu)
        .ok_or_else(|| anyhow::anyhow!("no CPU figure for {kind}: /proc not readable?"))
}

fn answers_of(costs: &[UnitCost], kind: &str) -> String {
    costs
        .iter()
        .find(|cost| cost.kind == kind)
        .map_or_else(String::new, |cost| cost.answers.clone())
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
