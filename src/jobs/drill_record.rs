//! The drill record: what a restore drill did and measured, stored in the repository under
//! `drills/<drill-id>.json` (so it survives the host) and rendered for an auditor.

use crate::storage::repository::Repository;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub const DRILL_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub seconds: f64,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub name: String,
    /// `row count`, `sql`, `freshness`, `health`.
    pub kind: String,
    pub ok: bool,
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManualStep {
    pub step: String,
    pub done: bool,
    pub at: Option<DateTime<Utc>>,
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillRecord {
    pub format: u32,
    pub drill_id: String,
    pub set_id: String,
    pub set_snapshot_time: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub host: String,
    pub initiator: String,
    pub lifeboat_version: String,
    pub pg_restore_version: String,
    pub target: String,
    pub phases: Vec<Phase>,
    pub checks: Vec<CheckResult>,
    pub manual: Vec<ManualStep>,
    /// Drill start to all checks green (and manual steps done); None when never green.
    pub rto_seconds: Option<f64>,
    /// Drill start minus the newest data found in the restored database (freshness query).
    pub rpo_data_seconds: Option<f64>,
    pub newest_data: Option<DateTime<Utc>>,
    /// Drill start minus the set's snapshot time.
    pub rpo_snapshot_seconds: f64,
    /// Bytes of the decrypted dump that was restored (to project restore times from).
    #[serde(default)]
    pub restored_bytes: u64,
    pub rto_target_seconds: f64,
    pub rpo_target_seconds: f64,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
    /// Stopped by the operator: no verdict; status and the dashboard look past it.
    #[serde(default)]
    pub cancelled: bool,
    /// The `[drill].freshness_query` that was configured, so the report never says none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness_query: Option<String>,
}

impl DrillRecord {
    /// The RPO that counts: measured from the data when a freshness query ran, else from the
    /// snapshot.
    pub fn rpo_seconds(&self) -> f64 {
        self.rpo_data_seconds.unwrap_or(self.rpo_snapshot_seconds)
    }

    pub fn parse(bytes: &[u8]) -> Result<DrillRecord, String> {
        let record: DrillRecord =
            serde_json::from_slice(bytes).map_err(|e| format!("not a drill record: {e}"))?;
        if record.format != DRILL_FORMAT {
            return Err(format!(
                "drill record format {} is not {DRILL_FORMAT}; upgrade lifeboat",
                record.format
            ));
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Every drill record in the repository, newest first. Unreadable records are reported, not fatal.
pub async fn load_all(repo: &Repository) -> Result<(Vec<DrillRecord>, Vec<String>), String> {
    let inventory = super::inventory::scan(repo)
        .await
        .map_err(|e| e.to_string())?;
    Ok(load_listed(repo, &inventory).await)
}

/// The records named in an inventory already listed.
pub async fn load_listed(
    repo: &Repository,
    inventory: &super::inventory::Inventory,
) -> (Vec<DrillRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for object in &inventory.drills {
        match repo.get_small(&object.path, 4 * 1024 * 1024).await {
            Ok(bytes) => match DrillRecord::parse(&bytes) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("{}: {e}", object.path)),
            },
            Err(e) => problems.push(e.to_string()),
        }
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    (records, problems)
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
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
    let _ = writeln!(out, "# Restore drill {}: {verdict}\n", r.drill_id);
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
