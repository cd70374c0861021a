//! Drill records for people: the auditor's Markdown report (`drill report`, and what a headless
//! drill prints) and the `drill list` table (text and JSON).

use super::format::{self, Align};
use crate::jobs::drill_record::DrillRecord;
use std::fmt::Write;

fn duration(seconds: f64) -> String {
    format::elapsed(seconds)
}

/// The auditor's report.
pub fn markdown(r: &DrillRecord) -> String {
    let mut out = String::new();
    let verdict = if r.passed {
        "PASS"
    } else if r.cancelled {
        "CANCELLED"
    } else {
        "FAIL"
    };
    let what = match (r.kind, r.rehearsal) {
        (crate::jobs::drill_record::RecordKind::Drill, _) => "Restore drill",
        (_, true) => "Recovery rehearsal",
        (_, false) => "Recovery",
    };
    let _ = writeln!(out, "# {what} {}: {verdict}\n", r.drill_id);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Backup set | `{}` (snapshot {}) |",
        r.set_id,
        r.set_snapshot_time.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(
        out,
        "| Started | {} |",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(
        out,
        "| Finished | {} |",
        r.finished_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "| Host | {} ({}) |", r.host, r.initiator);
    let _ = writeln!(out, "| Restore target | {} |", r.target);
    let _ = writeln!(
        out,
        "| Versions | lifeboat {}, pg_restore {} |",
        r.lifeboat_version, r.pg_restore_version
    );
    let rto = r
        .rto_seconds
        .map(duration)
        .unwrap_or_else(|| "not reached".into());
    let rto_ok = r.rto_seconds.is_some_and(|s| s <= r.rto_target_seconds);
    let _ = writeln!(
        out,
        "| **RTO measured** | {rto} (target {}) {} |",
        duration(r.rto_target_seconds),
        if rto_ok { "✓" } else { "✗" }
    );
    let rpo_ok = r.rpo_seconds() <= r.rpo_target_seconds;
    match (r.rpo_data_seconds, r.newest_data) {
        (Some(s), Some(newest)) => {
            let _ = writeln!(
                out,
                "| **RPO measured** | {} from the newest restored data ({}) (target {}) {} |",
                duration(s),
                newest.format("%Y-%m-%d %H:%M:%S UTC"),
                duration(r.rpo_target_seconds),
                if rpo_ok { "✓" } else { "✗" }
            );
        }
        _ => {
            let why = match (
                &r.freshness_query,
                r.checks.iter().any(|c| c.kind == "freshness"),
            ) {
                (None, _) => "no freshness query configured",
                (Some(_), true) => {
                    "not measured: the freshness query returned no timestamp (see Checks)"
                }
                (Some(_), false) => {
                    "not measured: the drill stopped before the freshness query ran"
                }
            };
            let _ = writeln!(
                out,
                "| **RPO measured** | {why} (target {}) {} |",
                duration(r.rpo_target_seconds),
                if rpo_ok { "✓" } else { "✗" }
            );
        }
    }
    let _ = writeln!(
        out,
        "| RPO from the snapshot | {} |",
        duration(r.rpo_snapshot_seconds)
    );
    let _ = writeln!(
        out,
        "\n## Phases\n\n| phase | start | seconds | result | detail |\n|---|---|---:|---|---|"
    );
    for p in &r.phases {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {} | {} |",
            p.name,
            p.started_at.format("%H:%M:%S"),
            p.seconds,
            if p.ok { "✓" } else { "✗" },
            p.detail.replace('|', "\\|")
        );
    }
    let _ = writeln!(
        out,
        "\n## Checks\n\n| check | kind | expected | actual | result |\n|---|---|---|---|---|"
    );
    for c in &r.checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.name.replace('|', "\\|"),
            c.kind,
            c.expected.replace('|', "\\|"),
            c.actual.replace('|', "\\|"),
            if c.ok { "✓ pass" } else { "✗ FAIL" }
        );
    }
    if !r.manual.is_empty() {
        let _ = writeln!(
            out,
            "\n## Manual steps\n\n| step | done | when | by | note |\n|---|---|---|---|---|"
        );
        for m in &r.manual {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.step.replace('|', "\\|"),
                if m.done { "✓ yes" } else { "✗ not done" },
                m.at.map(|t| t.format("%H:%M:%S").to_string())
                    .unwrap_or_default(),
                m.by.clone().unwrap_or_default(),
                m.note.clone().unwrap_or_default().replace('|', "\\|")
            );
        }
    }
    if !r.reasons.is_empty() {
        let heading = if r.cancelled {
            "Why it stopped"
        } else {
            "Why it failed"
        };
        let _ = writeln!(out, "\n## {heading}\n");
        for reason in &r.reasons {
            let _ = writeln!(out, "- {reason}");
        }
    }
    out
}

/// `drill list`: one line per drill, newest first, RTO and RPO as measured times.
pub fn list_text(records: &[DrillRecord]) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.drill_id.to_string(),
                r.label().to_string(),
                r.set_id.to_string(),
                if r.passed {
                    "✓ pass"
                } else if r.cancelled {
                    "cancelled"
                } else {
                    "✗ FAIL"
                }
                .to_string(),
                r.rto_seconds
                    .map(format::elapsed)
                    .unwrap_or_else(|| "-".into()),
                format::elapsed(r.rpo_seconds()),
            ]
        })
        .collect();
    format::table(
        &[
            ("drill", Align::Left),
            ("kind", Align::Left),
            ("set", Align::Left),
            ("result", Align::Left),
            ("RTO", Align::Right),
            ("RPO", Align::Right),
        ],
        &rows,
    )
}

/// `drill list --json`: each record as stored, plus `label` (`drill`, `recovery` or
/// `rehearsal`, the text list's kind column), since `kind` alone calls a rehearsal a recovery.
pub fn list_json(records: &[DrillRecord]) -> serde_json::Value {
    records
        .iter()
        .map(|r| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if let Some(fields) = value.as_object_mut() {
                fields.insert("label".into(), r.label().into());
            }
            value
        })
        .collect()
}
