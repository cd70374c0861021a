//! The runbook of one recovery: `<state dir>/recoveries/<id>.json`, rewritten whole at each
//! step's start and end (temporary file, fsync, rename, fsync of the directory), so a kill -9
//! or a power cut leaves either the previous or the next version, never a torn one. It holds
//! the spec (so `--resume` needs nothing else), the set, the target, each step's state and
//! times, the downloaded objects, and in the end the recovery's record.

use super::RecoverSpec;
use crate::jobs::drill_record::{CheckResult, DrillRecord, ManualStep};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const RUNBOOK_FORMAT: u32 = 1;

/// The steps, in order. Their names are the runbook's and the record's.
pub const STEPS: [&str; 10] = [
    "fetch",
    "decrypt",
    "create target",
    "pg_restore",
    "files",
    "secrets",
    "post_restore hooks",
    "health check",
    "manual steps",
    "write config",
];

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a recovery runbook: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("runbook format {0} is not {RUNBOOK_FORMAT}; use the lifeboat that started it")]
    Format(u32),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds of the attempt that finished it (or failed).
    pub seconds: Option<f64>,
    /// What it did, or why it failed.
    pub detail: String,
    /// How many times it was started (more than one: resumed or redone).
    pub attempts: u32,
}

/// A downloaded (or, for a local repository, in-place) object the later steps read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FetchedObject {
    pub object: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Runbook {
    pub format: u32,
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub spec: RecoverSpec,
    pub set_id: SetId,
    /// The database's name on the old host, and so on the target.
    pub database: String,
    /// The target's libpq URL (no password: one is refused).
    pub target_url: String,
    pub steps: Vec<StepRecord>,
    pub fetched: Vec<FetchedObject>,
    /// The health check's results, and when they all went green (the end of the RTO).
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    #[serde(default)]
    pub health_green_at: Option<DateTime<Utc>>,
    /// The newest data in the restored database (the freshness query), for the RPO.
    #[serde(default)]
    pub newest_data: Option<DateTime<Utc>>,
    #[serde(default)]
    pub manual: Vec<ManualStep>,
    /// Why the recovery stopped, when it did.
    pub error: Option<String>,
    pub record: Option<DrillRecord>,
    /// The new host's configuration, once written.
    pub config_written: Option<PathBuf>,
}

impl Runbook {
    pub fn new(
        id: String,
        spec: RecoverSpec,
        set_id: SetId,
        database: String,
        target_url: String,
    ) -> Runbook {
        Runbook {
            format: RUNBOOK_FORMAT,
            id,
            started_at: Utc::now(),
            finished_at: None,
            spec,
            set_id,
            database,
            target_url,
            steps: STEPS
                .iter()
                .map(|s| StepRecord {
                    name: s.to_string(),
                    state: StepState::Pending,
                    started_at: None,
                    finished_at: None,
                    seconds: None,
                    detail: String::new(),
                    attempts: 0,
                })
                .collect(),
            fetched: Vec::new(),
            checks: Vec::new(),
            health_green_at: None,
            newest_data: None,
            manual: Vec::new(),
            error: None,
            record: None,
            config_written: None,
        }
    }

    pub fn path_in(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("{id}.json"))
    }

    /// Where this recovery keeps its downloads.
    pub fn work_dir(dir: &Path, id: &str) -> PathBuf {
        dir.join(id)
    }

    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn step_mut(&mut self, name: &str) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.name == name)
    }

    pub fn is_done(&self, name: &str) -> bool {
        self.step(name).is_some_and(|s| s.state == StepState::Done)
    }

    /// The first step that did not finish.
    pub fn first_unfinished(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.state != StepState::Done)
    }

    pub fn finished(&self) -> bool {
        self.finished_at.is_some()
    }

    pub fn load(path: &Path) -> Result<Runbook, RunbookError> {
        let bytes = std::fs::read(path)?;
        let book: Runbook = serde_json::from_slice(&bytes)?;
        if book.format != RUNBOOK_FORMAT {
            return Err(RunbookError::Format(book.format));
        }
        Ok(book)
    }

    /// Writes the whole runbook atomically: temporary file, fsync, rename, fsync of the folder.
    pub fn save(&self, dir: &Path) -> Result<(), RunbookError> {
        std::fs::create_dir_all(dir)?;
        let path = Runbook::path_in(dir, &self.id);
        let tmp = dir.join(format!(".{}.json.tmp", self.id));
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// The newest runbook in `dir` that did not finish (by id, which sorts by time).
    pub fn newest_unfinished(dir: &Path) -> Option<(PathBuf, Result<Runbook, RunbookError>)> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        paths.into_iter().rev().find_map(|p| {
            let book = Runbook::load(&p);
            match &book {
                Ok(b) if b.finished() => None,
                _ => Some((p, book)),
            }
        })
    }

    /// Every finished recovery's record in `dir`, newest first.
    pub fn records(dir: &Path) -> Vec<DrillRecord> {
        let mut out: Vec<DrillRecord> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| Runbook::load(&e.path()).ok())
            .filter_map(|b| b.record)
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::recover::{KeySource, RepoArgs, TargetChoice};

    fn spec() -> RecoverSpec {
        RecoverSpec {
            repository: RepoArgs {
                url: "s3://b/p".into(),
                ..Default::default()
            },
            secrets_repository: None,
            key: KeySource::Keyring,
            set: None,
            target: TargetChoice::NewCluster("/srv/pg".into()),
            files_prefix: None,
            config_out: "/etc/lifeboat/config.toml".into(),
            pg_bin_dir: None,
            jobs: 2,
            create_roles: false,
            post_restore: Vec::new(),
            health: None,
            freshness_query: None,
            manual: Vec::new(),
            rehearse: false,
        }
    }

    #[test]
    fn a_saved_runbook_reads_back_and_the_newest_unfinished_one_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let set = SetId::parse("20261204T000000Z-a1b2").unwrap();
        let mut old = Runbook::new(
            "20261204T010000Z-0001".into(),
            spec(),
            set.clone(),
            "app".into(),
            "u".into(),
        );
        old.finished_at = Some(Utc::now());
        old.save(dir.path()).unwrap();
        let mut open = Runbook::new(
            "20261204T000000Z-0002".into(),
            spec(),
            set,
            "app".into(),
            "u".into(),
        );
        open.steps[0].state = StepState::Done;
        open.save(dir.path()).unwrap();
        let (path, found) = Runbook::newest_unfinished(dir.path()).unwrap();
        let found = found.unwrap();
        assert_eq!(path, Runbook::path_in(dir.path(), &open.id));
        assert_eq!(found, open);
        assert_eq!(found.first_unfinished().unwrap().name, "decrypt");
        // No temporary file is left beside them.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
