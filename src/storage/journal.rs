//! The local run journal: one JSON object a line, appended and fsynced, in the XDG data
//! directory. Every run is recorded when it starts and again when it ends, so a run that died
//! (SIGKILL, power loss) is seen as interrupted, never as finished. Verification results are
//! remembered here too. Readers fold the lines into the latest state of each run.

use super::manifest::{Initiator, SetPurpose};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Backup,
    Upload,
    Prune,
    Restore,
    Drill,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub initiator: Initiator,
    pub host: String,
    pub pid: u32,
    /// When the process started, in clock ticks since boot (`lock::process_start`): tells a
    /// run whose pid was reused after it died from one still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub set_id: Option<String>,
    /// Bytes stored (all components).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Repository URL the run wrote to (never with credentials).
    pub destination: String,
    /// SHA-256 of the set's `checksums.sha256`: one hash that pins every object of the set.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Where a local copy waits for upload, when the remote write failed.
    #[serde(default)]
    pub spooled_at: Option<String>,
    /// `safety` for the backup a restore takes of its target first (as in its manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<SetPurpose>,
    /// A restore's target, the step it reached and what that leaves the target in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Box<RestoreProgress>>,
}

/// Where a restore got to. A running record is appended at each step, so a restore killed
/// mid-way is remembered with the last step it began and what that step may have left.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreProgress {
    /// The database restored into, as `PgConn::display` shows it (never a password).
    pub target: String,
    /// Its name, when the connection string names one.
    #[serde(default)]
    pub database: Option<String>,
    /// The step begun last: `prepare`, `safety backup`, `pre-restore hook`, `pg_restore`,
    /// `restore files`, `restore secrets`, `post-restore hook`, `health check`, `done`.
    pub step: String,
    /// When that step began.
    pub step_at: DateTime<Utc>,
    /// What the target may be in if the run stops during that step, in words.
    pub target_state: String,
    /// The safety backup taken before the target was touched, if any.
    #[serde(default)]
    pub safety_set: Option<String>,
}

impl RunRecord {
    /// Killed before it recorded its end: `read` found it open and its process gone.
    pub fn interrupted(&self) -> bool {
        self.status == RunStatus::Failed && self.finished_at.is_none()
    }

    pub fn is_safety(&self) -> bool {
        self.purpose == Some(SetPurpose::Safety)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    /// Stored hashes re-computed, no keys needed.
    Stored,
    /// Also decrypted, plaintext hashes checked, `pg_restore --list` run.
    Decrypt,
}

impl VerifyLevel {
    /// As the journal and `--json` spell it: "stored", "decrypt".
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyLevel::Stored => "stored",
            VerifyLevel::Decrypt => "decrypt",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerificationRecord {
    pub set_id: String,
    pub at: DateTime<Utc>,
    pub level: VerifyLevel,
    pub ok: bool,
    pub repository: String,
    #[serde(default)]
    pub problems: Vec<String>,
    /// Who started it (`schedule` for `schedule install`'s job); absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<Initiator>,
}

/// A drill's outcome, for the dashboard and status (the full record is in the repository).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillSummary {
    pub drill_id: String,
    pub set_id: String,
    pub at: DateTime<Utc>,
    pub passed: bool,
    pub rto_seconds: Option<f64>,
    pub rpo_seconds: Option<f64>,
    pub repository: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JournalEntry {
    Run(RunRecord),
    Verification(VerificationRecord),
    Drill(DrillSummary),
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the run journal {path}: {source} (check the directory exists and is writable, or set LIFEBOAT_DATA_DIR)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the run journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The folded journal: the latest state of every run, and every verification, oldest first.
#[derive(Debug, Clone, Default)]
pub struct JournalView {
    pub runs: Vec<RunRecord>,
    pub verifications: Vec<VerificationRecord>,
    pub drills: Vec<DrillSummary>,
    /// Lines that could not be parsed (a torn write at power loss): counted, not fatal.
    pub unreadable_lines: usize,
}

impl JournalView {
    pub fn latest_verification(&self, set_id: &str) -> Option<&VerificationRecord> {
        self.verifications.iter().rev().find(|v| v.set_id == set_id)
    }
}

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Journal { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, entry: &JournalEntry) -> Result<(), JournalError> {
        let fail = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| fail(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(fail)?;
        // One write of a whole line with O_APPEND, so concurrent writers never interleave.
        file.write_all(&line).map_err(fail)?;
        file.sync_data().map_err(fail)
    }

    pub fn read(&self) -> Result<JournalView, JournalError> {
        // Whole, then split: a journal of 20,000 lines is a few MB, and the console waits on it.
        // Bytes, not a String: a line torn inside a UTF-8 character (a full disk mid-append)
        // is one unreadable line, not an unreadable journal.
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalView::default()),
            Err(source) => {
                return Err(JournalError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut view = JournalView::default();
        let mut index: HashMap<String, usize> = HashMap::new();
        for line in bytes.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                view.unreadable_lines += 1;
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(JournalEntry::Run(run)) => match index.get(&run.run_id) {
                    Some(&at) => view.runs[at] = run,
                    None => {
                        index.insert(run.run_id.clone(), view.runs.len());
                        view.runs.push(run);
                    }
                },
                Ok(JournalEntry::Verification(v)) => view.verifications.push(v),
                Ok(JournalEntry::Drill(d)) => view.drills.push(d),
                Err(_) => view.unreadable_lines += 1,
            }
        }
        let host = super::lock::this_host();
        for run in &mut view.runs {
            let open = matches!(run.status, RunStatus::Running | RunStatus::Pending);
            if open
                && run.host == host
                && !super::lock::process_alive_since(run.pid, run.process_start)
            {
                run.status = RunStatus::Failed;
                run.error = Some(format!(
                    "interrupted: process {} ended without finishing the run",
                    run.pid
                ));
            }
        }
        Ok(view)
    }
}

/// One journal line. `append` writes the tag first (`{"type":"run",`); such a line is read
/// straight into its record (the tag is a field the record ignores), three times faster than
/// serde's internally tagged enum, which buffers every field before choosing. Any other line
/// goes that general way.
fn parse_line(line: &str) -> serde_json::Result<JournalEntry> {
    if line.starts_with(r#"{"type":"run","#) {
        serde_json::from_str(line).map(JournalEntry::Run)
    } else if line.starts_with(r#"{"type":"verification","#) {
        serde_json::from_str(line).map(JournalEntry::Verification)
    } else if line.starts_with(r#"{"type":"drill","#) {
        serde_json::from_str(line).map(JournalEntry::Drill)
    } else {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: RunStatus, pid: u32) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            kind: RunKind::Backup,
            status,
            initiator: Initiator::Cli,
            host: super::super::lock::this_host(),
            pid,
            process_start: None,
            started_at: Utc::now(),
            finished_at: None,
            set_id: None,
            bytes: None,
            destination: "file:///x".into(),
            sha256: None,
            error: None,
            spooled_at: None,
            purpose: None,
            restore: None,
        }
    }

    #[test]
    fn folds_runs_and_detects_interrupted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"));
        journal
            .append(&JournalEntry::Run(run(
                "a",
                RunStatus::Running,
                std::process::id(),
            )))
            .unwrap();
        journal
            .append(&JournalEntry::Run(run(
                "a",
                RunStatus::Completed,
                std::process::id(),
            )))
            .unwrap();
        // A pid that cannot exist: the run was killed before recording its end.
        journal
            .append(&JournalEntry::Run(run(
                "b",
                RunStatus::Running,
                0x3fff_fff0,
            )))
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(journal.path())
            .unwrap()
            .write_all(b"{\"type\":\"run\",\"torn")
            .unwrap();
        let view = journal.read().unwrap();
        assert_eq!(view.runs.len(), 2);
        assert_eq!(view.runs[0].status, RunStatus::Completed);
        assert_eq!(view.runs[1].status, RunStatus::Failed);
        assert!(view.runs[1]
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted"));
        assert_eq!(view.unreadable_lines, 1);
    }

    /// A line torn inside a multi-byte character costs that line only.
    #[test]
    fn a_line_torn_inside_a_character_is_one_unreadable_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let journal = Journal::new(path.clone());
        let mut failed = run("r1", RunStatus::Failed, 7);
        failed.error = Some("upload failed: “bucket” gone".into());
        journal.append(&JournalEntry::Run(failed)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let torn = bytes.iter().position(|&b| b == 0xe2).unwrap() + 1;
        bytes.truncate(torn);
        bytes.push(b'\n');
        std::fs::write(&path, &bytes).unwrap();
        journal
            .append(&JournalEntry::Run(run("r2", RunStatus::Completed, 8)))
            .unwrap();
        let view = journal.read().unwrap();
        assert_eq!(view.unreadable_lines, 1);
        assert_eq!(view.runs.len(), 1);
        assert_eq!(view.runs[0].run_id, "r2");
    }

    /// A killed run whose pid now belongs to another process is interrupted, not running.
    #[test]
    fn a_dead_run_whose_pid_was_reused_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("j.jsonl"));
        let me = std::process::id();
        let start = super::super::lock::process_start(me).unwrap();
        let mut alive = run("alive", RunStatus::Running, me);
        alive.process_start = Some(start);
        let mut reused = run("reused", RunStatus::Running, me);
        reused.process_start = Some(start + 1);
        for record in [alive, reused] {
            journal.append(&JournalEntry::Run(record)).unwrap();
        }
        let view = journal.read().unwrap();
        assert_eq!(view.runs[0].status, RunStatus::Running);
        assert_eq!(view.runs[1].status, RunStatus::Failed);
        assert!(view.runs[1]
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted"));
    }

    /// The fast path reads every line `append` writes, and every torn prefix of one, exactly
    /// as the tagged enum does: same record, or unreadable both ways.
    #[test]
    fn lines_parse_as_the_tagged_enum_does() {
        let mut failed = run("r1", RunStatus::Failed, 7);
        failed.error = Some("upload failed: “bucket” gone…".into());
        failed.spooled_at = Some("/var/spool/x".into());
        failed.bytes = Some(123);
        let entries = [
            JournalEntry::Run(run("r0", RunStatus::Completed, 1)),
            JournalEntry::Run(failed),
            JournalEntry::Verification(VerificationRecord {
                set_id: "20261122T020000Z-3f9a".into(),
                at: Utc::now(),
                level: VerifyLevel::Decrypt,
                ok: false,
                repository: "s3://b/p".into(),
                problems: vec!["db.dump.zst.gpg: hash mismatch".into()],
                initiator: None,
            }),
            JournalEntry::Drill(DrillSummary {
                drill_id: "d1".into(),
                set_id: "20261122T020000Z-3f9a".into(),
                at: Utc::now(),
                passed: true,
                rto_seconds: Some(12.5),
                rpo_seconds: None,
                repository: "s3://b/p".into(),
            }),
        ];
        let mut lines: Vec<String> = Vec::new();
        for entry in &entries {
            let line = serde_json::to_string(entry).unwrap();
            assert!(
                line.starts_with("{\"type\":\""),
                "the tag comes first: {line}"
            );
            assert_eq!(parse_line(&line).unwrap(), *entry, "{line}");
            lines.extend(
                line.char_indices()
                    .map(|(i, _)| line[..i].to_string())
                    .filter(|l| !l.is_empty()),
            );
            // Integers where floats are expected, another field order, unknown fields.
            lines.push(line.replace("12.5", "12"));
            lines.push(line.replacen("\"type\":", "\"extra\":1,\"type\":", 1));
        }
        lines.push(r#"{"type":"unknown","x":1}"#.into());
        for line in &lines {
            let fast = parse_line(line).ok();
            let tagged = serde_json::from_str::<JournalEntry>(line).ok();
            assert_eq!(fast, tagged, "line {line:?}");
        }
    }
}
