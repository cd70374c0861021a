//! The retention commands' output: the prune preview (every set with its reasons or
//! "expired", garbage, what is held back, bytes freed per repository), what a `--yes` run
//! deleted, pins, and the retention simulation, as text; and the prune's `--json` document.
//! Meaning rides on words and symbols, never colour.

use super::format::{self, Align};
use crate::jobs::pins::Pin;
use crate::jobs::prune::{PruneError, PruneOutcome, PruneReport};
use crate::jobs::prune_plan::{GarbageKind, PrunePlan};
use crate::jobs::retention_sim::Projection;
use crate::storage::retention::Policy;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::fmt::Write;
use std::time::Duration;

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn garbage_word(kind: GarbageKind) -> &'static str {
    match kind {
        GarbageKind::IncompleteSet => "incomplete set",
        GarbageKind::OrphanSecrets => "secrets folder without a set",
        GarbageKind::Stray => "stray object",
    }
}

pub fn plan_text(plan: &PrunePlan, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Retention for {}: {}", plan.repository, plan.policy);
    if let Some(h) = &plan.lock_holder {
        let _ = writeln!(
            out,
            "! {h} holds the repository lock; sets it may be writing are held back"
        );
    }
    if plan.sets.is_empty() {
        let _ = writeln!(out, "(no complete sets)");
    } else {
        let rows: Vec<Vec<String>> = plan
            .sets
            .iter()
            .map(|s| {
                vec![
                    s.set_id.to_string(),
                    when(s.snapshot_time),
                    format::bytes(s.data_bytes + s.secrets_bytes),
                    if s.keep {
                        format!("✓ keep: {}", s.reasons.join(", "))
                    } else {
                        "✗ expired".to_string()
                    },
                ]
            })
            .collect();
        out.push_str(&format::table(
            &[
                ("set", Align::Left),
                ("snapshot (UTC)", Align::Left),
                ("size", Align::Right),
                ("verdict", Align::Left),
            ],
            &rows,
        ));
    }
    if !plan.garbage.is_empty() {
        let _ = writeln!(
            out,
            "Garbage (not backups; untouched for {}):",
            humantime::format_duration(Duration::from_secs(plan.grace_seconds))
        );
        for g in &plan.garbage {
            let age = g
                .newest_object
                .map(|t| {
                    format!(
                        ", last written {} ago",
                        format::age_secs((now - t).num_seconds())
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  ✗ {} {}: {} object(s), {}{age}",
                garbage_word(g.kind),
                g.name,
                g.objects.len(),
                format::bytes(g.data_bytes + g.secrets_bytes)
            );
        }
    }
    if !plan.held.is_empty() {
        let _ = writeln!(out, "Held back (not deleted):");
        for h in &plan.held {
            let _ = writeln!(out, "  ! {}: {}", h.name, h.why);
        }
    }
    for p in &plan.pins {
        let _ = writeln!(out, "{}", pin_line(p));
    }
    for n in &plan.notes {
        let _ = writeln!(out, "! {n}");
    }
    let f = &plan.freed;
    let _ = write!(
        out,
        "Frees {} in {}",
        format::bytes(f.data_bytes),
        plan.repository
    );
    if let Some(secrets) = &plan.secrets_repository {
        let _ = write!(out, " and {} in {secrets}", format::bytes(f.secrets_bytes));
    }
    let _ = writeln!(
        out,
        ": {} expired set(s), {} garbage item(s)",
        f.sets, f.garbage
    );
    out
}

pub fn outcome_text(plan: &PrunePlan, o: &PruneOutcome) -> String {
    let mut out = String::new();
    for id in &o.skipped {
        let _ = writeln!(out, "! {id} was pinned after the plan was made: kept");
    }
    for upload in &o.aborted_uploads {
        let _ = writeln!(
            out,
            "✓ aborted the multipart upload {upload} left open by an interrupted run"
        );
    }
    let _ = write!(
        out,
        "✓ deleted {} set(s) and {} garbage item(s): {} freed in {}",
        o.deleted_sets.len(),
        o.deleted_garbage.len(),
        format::bytes(o.freed.data_bytes),
        plan.repository
    );
    if let Some(secrets) = &plan.secrets_repository {
        let _ = write!(
            out,
            ", {} in {secrets}",
            format::bytes(o.freed.secrets_bytes)
        );
    }
    let _ = writeln!(out, " (journal run {})", o.run_id);
    out
}

/// A prune run for stdout: the preview, then what was deleted, or how to delete it.
pub fn report_text(report: &PruneReport, now: DateTime<Utc>) -> String {
    let mut out = plan_text(&report.plan, now);
    match &report.outcome {
        Some(o) => out.push_str(&outcome_text(&report.plan, o)),
        None => out.push_str("Nothing was deleted: `lifeboat prune --yes` deletes what is marked expired and the garbage.\n"),
    }
    out
}

/// `prune --json`, and the `"prune"` of `backup --prune --json`.
pub fn json(result: &Result<PruneReport, PruneError>) -> Value {
    match result {
        Ok(r) => json!({ "ok": true, "plan": r.plan, "outcome": r.outcome }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

fn pin_line(p: &Pin) -> String {
    format!(
        "pinned {}: \"{}\" by {} at {} UTC",
        p.set_id,
        p.note,
        p.by,
        when(p.at)
    )
}

pub fn pin_text(set: &str, pinned: bool, pin: Option<&Pin>) -> String {
    match (pinned, pin) {
        (true, Some(p)) => format!("✓ {}\n", pin_line(p)),
        (false, Some(p)) => format!("✓ unpinned {set} (was \"{}\", by {})\n", p.note, p.by),
        _ => format!("✓ unpinned {set} (its pin record was unreadable)\n"),
    }
}

pub fn simulation_text(policy: &Policy, now: DateTime<Utc>, p: &Projection) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Projecting {} for {} day(s) from {} UTC",
        crate::jobs::prune_plan::describe(policy),
        p.days.len(),
        when(now)
    );
    let every = format::age(Duration::from_secs(p.interval_seconds.max(0) as u64));
    let source = match (p.interval_observed, p.interval_raised) {
        (true, false) => "the median interval of the newest sets",
        (true, true) => {
            "the newest sets are closer together; raised to the shortest schedule simulated"
        }
        (false, _) => "assumed: fewer than two sets to measure",
    };
    let stop = p
        .stop_after_days
        .map(|d| format!(", stopping after {d} day(s)"))
        .unwrap_or_default();
    let _ = writeln!(out, "Backups every {every} ({source}){stop}; new sets are assumed never verified, drilled or pinned.");
    let _ = writeln!(
        out,
        "today       {} complete set(s); a prune now keeps {}",
        p.today, p.kept_now
    );
    for d in &p.days {
        let _ = writeln!(
            out,
            "day {:>4}  {}  kept {:>4}  (+{} new, -{} expired; {} of today's)",
            d.day, d.date, d.kept, d.taken, d.expired, d.from_today
        );
    }
    let _ = writeln!(
        out,
        "After {} day(s): {} of today's {} set(s) still kept, {} gone; {} of {} new set(s) kept.",
        p.days.len(),
        p.still_kept.len(),
        p.today,
        p.gone.len(),
        p.new_kept,
        p.new_taken
    );
    if !p.gone.is_empty() {
        let _ = writeln!(out, "Gone by then: {}", p.gone.join(", "));
    }
    out
}
