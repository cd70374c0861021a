//! A set's log as the History detail shows it: what the journal and the repository remember
//! about that set (its backup run, each verification, each restore of it, each drill of it),
//! oldest first, one line each. Built from the loaded snapshot, so it is the same after a
//! reload or a restart of the console; the session's own job log is added by the detail pane.

use crate::jobs::drill_record::DrillRecord;
use crate::report::format;
use crate::storage::journal::{JournalView, RunKind, RunRecord, VerifyLevel};
use chrono::{DateTime, Utc};

/// The log of `set_id`, oldest first.
pub fn lines(journal: &JournalView, drills: &[DrillRecord], set_id: &str) -> Vec<String> {
    let mut entries: Vec<(DateTime<Utc>, String)> = Vec::new();
    for run in journal
        .runs
        .iter()
        .filter(|r| r.set_id.as_deref() == Some(set_id))
    {
        entries.push((run.started_at, run_line(run)));
    }
    for v in journal.verifications.iter().filter(|v| v.set_id == set_id) {
        let level = match v.level {
            VerifyLevel::Stored => "stored hashes",
            VerifyLevel::Decrypt => "decrypted",
        };
        let by = v.initiator.map(|i| i.as_str()).unwrap_or("operator");
        let verdict = if v.ok {
            "✓ every object matches".to_string()
        } else {
            format!("✗ DAMAGED: {}", v.problems.join("; "))
        };
        entries.push((v.at, format!("verify ({level}) by {by}: {verdict}")));
    }
    for d in drills.iter().filter(|d| d.set_id == set_id) {
        let verdict = if d.cancelled {
            "cancelled".to_string()
        } else if d.passed {
            format!(
                "✓ passed, RTO {}",
                d.rto_seconds
                    .map(format::elapsed)
                    .unwrap_or_else(|| "-".into())
            )
        } else {
            format!("✗ FAILED: {}", d.reasons.join("; "))
        };
        entries.push((
            d.started_at,
            format!("drill {} by {}: {verdict}", d.drill_id, d.initiator),
        ));
    }
    entries.sort_by_key(|(at, _)| *at);
    entries
        .into_iter()
        .map(|(at, text)| format!("{} {text}", at.format("%Y-%m-%d %H:%M")))
        .collect()
}

fn run_line(run: &RunRecord) -> String {
    let kind = match run.kind {
        RunKind::Backup => "backup",
        RunKind::Upload => "upload",
        RunKind::Prune => "prune",
        RunKind::Restore => "restore",
        RunKind::Drill => "drill",
    };
    let mut line = format!(
        "{kind} by {}: {}",
        run.initiator.as_str(),
        run.status.as_str()
    );
    if let Some(restore) = &run.restore {
        line.push_str(&format!(" into {} (step {})", restore.target, restore.step));
    }
    // A backup's error is the History row's own, shown above the log.
    if let (Some(e), false) = (&run.error, run.kind == RunKind::Backup) {
        line.push_str(&format!(": {e}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::journal::{RunStatus, VerificationRecord};
    use crate::storage::manifest::Initiator;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn run(set: &str, kind: RunKind, status: RunStatus, started: &str) -> RunRecord {
        RunRecord {
            run_id: format!("run-{started}"),
            kind,
            status,
            initiator: Initiator::Schedule,
            host: "db1".into(),
            pid: 1,
            process_start: None,
            started_at: at(started),
            finished_at: None,
            set_id: Some(set.into()),
            bytes: None,
            destination: "file:///repo".into(),
            sha256: None,
            error: None,
            spooled_at: None,
            purpose: None,
            restore: None,
        }
    }

    #[test]
    fn the_log_is_the_sets_own_history_oldest_first() {
        let set = "20261120T030000Z-ab12";
        let journal = JournalView {
            runs: vec![
                run(
                    set,
                    RunKind::Backup,
                    RunStatus::Completed,
                    "2026-11-20T03:00:00Z",
                ),
                run(
                    "20261121T030000Z-cd34",
                    RunKind::Backup,
                    RunStatus::Completed,
                    "2026-11-21T03:00:00Z",
                ),
            ],
            verifications: vec![VerificationRecord {
                set_id: set.into(),
                at: at("2026-11-20T04:00:00Z"),
                level: VerifyLevel::Decrypt,
                ok: false,
                repository: "file:///repo".into(),
                problems: vec!["db.dump.zst.gpg hash differs".into()],
                initiator: Some(Initiator::Schedule),
            }],
            drills: Vec::new(),
            unreadable_lines: 0,
        };
        assert_eq!(
            lines(&journal, &[], set),
            [
                "2026-11-20 03:00 backup by schedule: completed",
                "2026-11-20 04:00 verify (decrypted) by schedule: ✗ DAMAGED: db.dump.zst.gpg hash differs",
            ]
        );
        assert!(lines(&journal, &[], "20261122T030000Z-ef56").is_empty());
    }
}
