//! What the drop must show to pass, checked after it is printed: a drop that sells nothing, or
//! sells without telling its buyers, or turns its admins away, fails the bench (non-zero exit)
//! and names the check it missed. Stock + units sold = the initial stock alone cannot tell an
//! empty drop from a good one.

use super::{flood::FloodReport, report::PhaseReport};

/// One check: what it requires, what was measured, and whether it held.
struct Check {
    what: String,
    measured: String,
    met: bool,
}

/// The checks of the drop's three phases.
pub fn of(wave: &PhaseReport, crowd: &PhaseReport, flooded: &FloodReport) -> Vec<String> {
    let mut checks = Vec::new();
    for (phase, report) in [("(a)", wave), ("(b)", crowd)] {
        checks.push(Check {
            what: format!("{phase} every unit sold"),
            measured: format!(
                "{} of {} sold, {} left",
                report.books.sold, report.books.initial, report.books.left
            ),
            met: report.books.left == 0 && report.books.add_up(),
        });
        checks.push(Check {
            what: format!("{phase} units sold = buys answered 201"),
            measured: format!(
                "{} sold, {} answered 201",
                report.books.sold,
                report.created()
            ),
            met: usize::try_from(report.books.sold).ok() == Some(report.created()),
        });
    }
    checks.push(Check {
        what: "(a) no 5xx answer".to_owned(),
        measured: wave.server_errors().to_string(),
        met: wave.server_errors() == 0,
    });
    checks.push(Check {
        what: "(a) no shopper refused in the end (429, 503 or no answer)".to_owned(),
        measured: wave.refused().to_string(),
        met: wave.refused() == 0,
    });
    let admins = flooded.admin_reads();
    checks.push(Check {
        what: "(c) every admin read answered 200".to_owned(),
        measured: format!("{} of {}", admins.0, admins.1),
        met: admins.1 > 0 && admins.0 == admins.1,
    });
    let lists = flooded.honest_list_reads();
    checks.push(Check {
        what: "(c) every shopper's list read answered 200, none from a stale copy".to_owned(),
        measured: format!("{} of {}", lists.0, lists.1),
        met: lists.1 > 0 && lists.0 == lists.1,
    });
    checks.push(Check {
        what: "(c) the owner's pause, restock and resume answered 200".to_owned(),
        measured: flooded.owner_statuses(),
        met: flooded.owner_all_ok(),
    });
    checks.push(Check {
        what: "(c) no 5xx answer".to_owned(),
        measured: flooded.server_errors().to_string(),
        met: flooded.server_errors() == 0,
    });
    checks.push(Check {
        what: "(c) stock + units sold = the initial stock".to_owned(),
        measured: flooded.books.line(),
        met: flooded.books.add_up(),
    });

    println!("\n-- checks --");
    let mut missed = Vec::new();
    for check in checks {
        println!(
            "  {}: {} ({})",
            check.what,
            if check.met { "met" } else { "MISSED" },
            check.measured
        );
        if !check.met {
            missed.push(format!("{}: {}", check.what, check.measured));
        }
    }
    missed
}
