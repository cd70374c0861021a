//! A restore plan (what the dry run found and what a real restore would do) and a finished
//! restore, as text.

use super::format;
use crate::jobs::restore::{RestoreOutcome, RestorePlan};
use std::fmt::Write;

pub fn plan_text(plan: &RestorePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Restore plan for set {} (snapshot {}) into {}",
        plan.set_id,
        plan.snapshot_time.format("%Y-%m-%d %H:%M:%S UTC"),
        plan.target
    );
    let t = &plan.toc;
    let _ = writeln!(
        out,
        "  dump: {} ({} entries: {} tables, {} indexes, {} sequences; schemas {}; extensions {}; owners {}; grantees {}{})",
        format::bytes(plan.dump_bytes),
        t.entries,
        t.tables,
        t.indexes,
        t.sequences,
        if t.schemas.is_empty() { "-".to_string() } else { t.schemas.join(", ") },
        if t.extensions.is_empty() { "-".to_string() } else { t.extensions.join(", ") },
        if t.owners.is_empty() { "-".to_string() } else { t.owners.join(", ") },
        if t.grantees.is_empty() { "-".to_string() } else { t.grantees.join(", ") },
        if t.missing_roles.is_empty() { String::new() } else { format!("; roles missing on the target: {} (see the roles check)", t.missing_roles.join(", ")) }
    );
    for (label, listing) in [("files", &plan.files), ("secrets", &plan.secrets)] {
        if let Some(l) = listing {
            let _ = writeln!(
                out,
                "  {label}: {} entries, {} files, {}; {} existing paths would be overwritten",
                l.entries,
                l.files,
                format::bytes(l.bytes),
                l.existing.len()
            );
            for p in l.existing.iter().take(5) {
                let _ = writeln!(out, "    overwrites {p}");
            }
            if l.parents_skipped > 0 {
                let _ = writeln!(
                    out,
                    "    {} entries above the roots left as they are on disk",
                    l.parents_skipped
                );
            }
        }
    }
    let _ = writeln!(out, "Checks:");
    for c in &plan.checks {
        let _ = writeln!(
            out,
            "  {} {:<28} {}",
            if c.ok { "✓" } else { "✗" },
            c.name,
            c.detail
        );
    }
    let _ = writeln!(out, "Steps:");
    for (i, s) in plan.steps.iter().enumerate() {
        let projected = s
            .projected_seconds
            .map(|p| {
                format!(
                    "  (~{})",
                    format::age(std::time::Duration::from_secs_f64(p))
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "  {}. {}{projected}", i + 1, s.step);
    }
    if plan.problems.is_empty() {
        let _ = writeln!(out, "✓ the plan can succeed");
    } else {
        for p in &plan.problems {
            let _ = writeln!(out, "✗ {p}");
        }
    }
    out
}

/// A finished restore: the plan it followed, each step it took, then the total time (last,
/// as the console's job log says it: it covers the files and secrets steps too).
pub fn outcome_text(outcome: &RestoreOutcome) -> String {
    let mut out = plan_text(&outcome.plan);
    for step in &outcome.steps_done {
        let _ = writeln!(out, "  ✓ {step}");
    }
    let _ = writeln!(
        out,
        "✓ restored set {} in {}",
        outcome.plan.set_id,
        format::elapsed(outcome.seconds)
    );
    out
}
