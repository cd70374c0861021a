//! The drill record: what a restore drill did and measured, stored in the repository under
//! `drills/<drill-id>.json` (so it survives the host). `report::drill` renders it for an auditor.

use crate::storage::repository::{RepoError, Repository};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const DRILL_FORMAT: u32 = 1;

/// Why a stored drill record cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a drill record: {0}")]
    NotARecord(#[from] serde_json::Error),
    /// Written by a newer lifeboat.
    #[error("drill record format {0} is not {DRILL_FORMAT}; upgrade lifeboat")]
    Format(u32),
    /// Lifeboat writes no control character but a newline or tab (a check's output).
    #[error("the drill record has a control character in `{0}`; lifeboat writes none there, so the record was altered: refusing it")]
    ControlCharacter(String),
}

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

impl ManualStep {
    /// A step the operator has yet to tick.
    pub fn pending(step: &str) -> ManualStep {
        ManualStep {
            step: step.to_string(),
            done: false,
            at: None,
            by: None,
            note: None,
        }
    }
}

/// What a record measured: a drill into a throwaway target, or a recovery onto a new host
/// (`jobs::recover`). Records written before recoveries existed say nothing and are drills.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    #[default]
    Drill,
    Recovery,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Drill => "drill",
            RecordKind::Recovery => "recovery",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillRecord {
    pub format: u32,
    #[serde(default)]
    pub kind: RecordKind,
    /// A recovery rehearsed into a throwaway target (`recover --rehearse`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rehearsal: bool,
    pub drill_id: String,
    /// Serialised as the id's text, as before it was typed: stored records read unchanged.
    pub set_id: SetId,
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

    /// What the record is, as lists name it: `drill`, `recovery`, or `rehearsal` (a recovery
    /// rehearsed into a throwaway target: stored as kind `recovery` with `rehearsal` set).
    pub fn label(&self) -> &'static str {
        match (self.kind, self.rehearsal) {
            (RecordKind::Recovery, true) => "rehearsal",
            (kind, _) => kind.as_str(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<DrillRecord, RecordError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        if let Some(field) = crate::storage::control_text::find(&value, &['\n', '\t']) {
            return Err(RecordError::ControlCharacter(field));
        }
        let record = DrillRecord::deserialize(value)?;
        if record.format != DRILL_FORMAT {
            return Err(RecordError::Format(record.format));
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
pub async fn load_all(repo: &Repository) -> Result<(Vec<DrillRecord>, Vec<String>), RepoError> {
    let inventory = super::inventory::scan(repo).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the first drills stored it: the set id as plain text in the older form (no
    /// milliseconds), and none of the fields added since.
    const FIRST_RECORD: &str = r#"{
  "format": 1,
  "drill_id": "20261122T030000Z-0a1b",
  "set_id": "20261122T020000Z-3f9a",
  "set_snapshot_time": "2026-11-22T02:00:00Z",
  "started_at": "2026-11-22T03:00:00Z",
  "finished_at": "2026-11-22T03:04:10Z",
  "host": "db1",
  "initiator": "cli",
  "lifeboat_version": "0.1.0",
  "pg_restore_version": "pg_restore (PostgreSQL) 15.18",
  "target": "ephemeral local cluster",
  "phases": [
    {
      "name": "restore",
      "started_at": "2026-11-22T03:01:00Z",
      "finished_at": "2026-11-22T03:03:00Z",
      "seconds": 120.0,
      "ok": true,
      "detail": "pg_restore -j 2"
    }
  ],
  "checks": [],
  "manual": [],
  "rto_seconds": 245.5,
  "rpo_data_seconds": null,
  "newest_data": null,
  "rpo_snapshot_seconds": 3600.0,
  "rto_target_seconds": 3600.0,
  "rpo_target_seconds": 86400.0,
  "passed": true,
  "reasons": []
}
"#;

    #[test]
    fn a_stored_record_reads_with_its_set_id_typed_and_writes_back_the_same_text() {
        let record = DrillRecord::parse(FIRST_RECORD.as_bytes()).expect("an old record parses");
        assert_eq!(
            record.set_id,
            SetId::parse("20261122T020000Z-3f9a").unwrap()
        );
        assert_eq!(record.set_id.as_str(), "20261122T020000Z-3f9a");
        assert_eq!(record.restored_bytes, 0);
        assert!(!record.cancelled);
        // Records from before recoveries existed are drills.
        assert_eq!(record.kind, RecordKind::Drill);
        assert!(!record.rehearsal);
        let written: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
        assert_eq!(written["set_id"], "20261122T020000Z-3f9a");
        assert_eq!(written["kind"], "drill");

        let newer = FIRST_RECORD.replace("20261122T020000Z-3f9a", "20261122T020000.250Z-3f9a");
        let record = DrillRecord::parse(newer.as_bytes()).expect("a newer id parses");
        assert_eq!(record.set_id.as_str(), "20261122T020000.250Z-3f9a");

        let newer_format = FIRST_RECORD.replace("\"format\": 1", "\"format\": 2");
        let err = DrillRecord::parse(newer_format.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "drill record format 2 is not 1; upgrade lifeboat"
        );

        // Only a set id is one: a record naming something else is reported, not guessed at.
        let bad = FIRST_RECORD.replace("20261122T020000Z-3f9a", "latest");
        let err = DrillRecord::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("not a drill record") && err.contains("`latest`"),
            "{err}"
        );
    }

    #[test]
    fn a_record_with_a_terminal_escape_is_refused_and_a_newline_is_not() {
        let mut record = DrillRecord::parse(FIRST_RECORD.as_bytes()).unwrap();
        record.host = "box\n2".into();
        DrillRecord::parse(&record.to_json()).expect("a newline is a check's output");
        record.host = "box\u{1b}[2J".into();
        let err = DrillRecord::parse(&record.to_json()).unwrap_err();
        assert!(
            matches!(&err, RecordError::ControlCharacter(field) if field == "host"),
            "{err}"
        );
    }

    #[test]
    fn a_recovery_record_says_so_and_reads_back() {
        let mut record = DrillRecord::parse(FIRST_RECORD.as_bytes()).unwrap();
        record.kind = RecordKind::Recovery;
        record.rehearsal = true;
        let back = DrillRecord::parse(&record.to_json()).unwrap();
        assert_eq!(back.kind, RecordKind::Recovery);
        assert!(back.rehearsal);
        assert_eq!(back.label(), "rehearsal");
        record.rehearsal = false;
        assert_eq!(record.label(), "recovery");
        record.kind = RecordKind::Drill;
        assert_eq!(record.label(), "drill");
        let text = FIRST_RECORD.replace(
            "\"format\": 1,",
            "\"format\": 1,\n  \"kind\": \"recovery\",",
        );
        assert_eq!(
            DrillRecord::parse(text.as_bytes()).unwrap().kind,
            RecordKind::Recovery
        );
    }
}
