//! Builders for a realistic console `AppState`, made of plain data and no I/O: a fixed clock, a
//! repository with complete, incomplete, stray and drill objects, a run journal with a failed
//! run and verifications, and variants (empty, unreachable, stale, spooled, locked, with jobs).
//! The key-script tests drive `update` from these; the render tests draw them.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Duration as Span, Utc};
use lifeboat::app::history;
use lifeboat::app::state::{AppState, DrillSettings, JobKind, JobState, JobStatus, Snapshot};
use lifeboat::jobs::drill_record::{CheckResult, DrillRecord, ManualStep, Phase, DRILL_FORMAT};
use lifeboat::jobs::inventory::{Inventory, SetEntry};
use lifeboat::jobs::preflight::{Check, PreflightReport};
use lifeboat::jobs::progress::Progress;
use lifeboat::jobs::status::{StatusReport, DEFAULT_STALE_AFTER, DEFAULT_VERIFY_STALE_AFTER};
use lifeboat::jobs::status_preview::StatusPreview;
use lifeboat::jobs::tar_source::TreeSize;
use lifeboat::storage::journal::{
    DrillSummary, JournalView, RunKind, RunRecord, RunStatus, VerificationRecord, VerifyLevel,
};
use lifeboat::storage::lock::LockHolder;
use lifeboat::storage::manifest::{
    Component, ComponentKind, Compression, Encryption, Initiator, Manifest, RepositoryRole,
    SourceFacts, TableCount, MANIFEST_FORMAT,
};
use lifeboat::storage::repository::ObjectInfo;
use lifeboat::storage::setid::SetId;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::time::Duration;

pub const REPO: &str = "file:///var/backups/app";
pub const REMOTE: &str = "s3://acme-backups/app";
pub const CONFIG: &str = "/etc/lifeboat/config.toml";
pub const HOST: &str = "db1";

/// The newest complete set (an operator's backup from this session, job #1 in `with_jobs`).
pub const SET_NEWEST: &str = "20261122T114500Z-3f9a";
pub const SET_NIGHTLY: &str = "20261122T020000Z-8c21";
pub const SET_INCOMPLETE: &str = "20261121T140000Z-c9d0";
pub const SET_VERIFIED_DECRYPT: &str = "20261121T020000Z-a1c4";
pub const SET_DAMAGED: &str = "20261120T020000Z-77e2";
/// Only the repository knows this one (made on a host since rebuilt): no journal record.
pub const SET_REPO_ONLY: &str = "20261119T143000Z-0b5d";

const MIB: u64 = 1024 * 1024;

/// The drill targets and interval (the config's defaults).
pub const RTO_TARGET: Duration = Duration::from_secs(30 * 60);
pub const RPO_TARGET: Duration = Duration::from_secs(24 * 3600);
pub const DRILL_EVERY: Duration = Duration::from_secs(30 * 86_400);
pub const DRILL_ID: &str = "20261121T100000Z-5e21";
pub const DRILL_PATH: &str = "drills/20261121T100000Z-5e21.json";

pub const FAILED_RUN_ERROR: &str = "pg_dump failed (exit status 1): pg_dump: error: connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  password authentication failed for user \"app\"";

/// The console's clock in every fixture.
pub fn now() -> DateTime<Utc> {
    at("2026-11-22T12:00:00Z")
}

/// A fixture's set id, typed.
pub fn id(text: &str) -> SetId {
    SetId::parse(text).expect("a fixture's set id is a set id")
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn sha(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// Sizes of one set's components, as stored.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub db: u64,
    pub files: u64,
    pub secrets: u64,
}

pub const SIZES: Sizes = Sizes {
    db: 182 * MIB + 311_406,
    files: 1_318 * MIB + 70_113,
    secrets: 6_912,
};

fn component(
    set: &str,
    kind: ComponentKind,
    object: &str,
    repository: RepositoryRole,
    stored: u64,
) -> Component {
    Component {
        kind,
        object: object.into(),
        repository,
        stored_bytes: stored,
        stored_sha256: sha(&format!("{set}/{object}/stored")),
        plaintext_bytes: stored - 623,
        plaintext_sha256: sha(&format!("{set}/{object}/plain")),
        source_bytes: stored * 3,
        compression: Compression {
            codec: "zstd".into(),
            level: 3,
        },
        encryption: Encryption {
            mode: "passphrase".into(),
            recipients: vec![],
        },
    }
}

pub fn manifest(set: &str, finished_at: DateTime<Utc>, initiator: Initiator) -> Manifest {
    let started_at = SetId::parse(set).unwrap().time();
    Manifest {
        format: MANIFEST_FORMAT,
        set_id: id(set),
        snapshot_time: started_at + Span::seconds(4),
        started_at,
        finished_at,
        initiator,
        purpose: None,
        host: HOST.into(),
        lifeboat_version: "0.1.0".into(),
        source: SourceFacts {
            database: "app".into(),
            server_version: "16.4".into(),
            pg_dump_version: "16.4".into(),
            database_size_bytes: 1_126 * MIB,
            table_count: 48,
            key_tables: vec![
                TableCount {
                    table: "\"User\"".into(),
                    rows: 1_284,
                },
                TableCount {
                    table: "billing.invoices".into(),
                    rows: 40_211,
                },
            ],
            file_roots: vec!["/var/lib/app/uploads".into()],
            secret_files: vec!["/opt/app/cert.p12".into(), "/opt/app/.env".into()],
            followed_links: Vec::new(),
            roles: None,
        },
        components: vec![
            component(
                set,
                ComponentKind::Db,
                "db.dump.zst.gpg",
                RepositoryRole::Data,
                SIZES.db,
            ),
            component(
                set,
                ComponentKind::Files,
                "files.tar.zst.gpg",
                RepositoryRole::Data,
                SIZES.files,
            ),
            component(
                set,
                ComponentKind::Secrets,
                "secrets.tar.zst.gpg",
                RepositoryRole::Secrets,
                SIZES.secrets,
            ),
        ],
    }
}

fn object(set: &str, name: &str, size: u64, modified: DateTime<Utc>) -> ObjectInfo {
    ObjectInfo {
        path: format!("sets/{set}/{name}"),
        size,
        modified: Some(modified),
    }
}

/// A complete set as a listing sees it: data objects, checksums and the manifest (the secrets
/// component lives in the secrets repository, so it is not listed here).
pub fn complete_set(set: &str, finished_at: DateTime<Utc>, initiator: Initiator) -> SetEntry {
    let m = manifest(set, finished_at, initiator);
    let objects = vec![
        object(
            set,
            "db.dump.zst.gpg",
            SIZES.db,
            finished_at - Span::seconds(150),
        ),
        object(
            set,
            "files.tar.zst.gpg",
            SIZES.files,
            finished_at - Span::seconds(5),
        ),
        object(set, "checksums.sha256", 214, finished_at - Span::seconds(1)),
        object(set, "manifest.json", 2_311, finished_at),
    ];
    SetEntry {
        id: SetId::parse(set).unwrap(),
        objects,
        manifest: Some(m),
        manifest_error: None,
        missing: Vec::new(),
    }
}

/// A set folder a failed run left behind: the dump, no manifest.
pub fn incomplete_set(set: &str) -> SetEntry {
    let started = SetId::parse(set).unwrap().time();
    SetEntry {
        id: SetId::parse(set).unwrap(),
        objects: vec![object(
            set,
            "db.dump.zst.gpg",
            41 * MIB + 9_113,
            started + Span::seconds(38),
        )],
        manifest: None,
        manifest_error: None,
        missing: Vec::new(),
    }
}

/// Five complete sets, one incomplete set, a drill record and a stray object; newest first.
pub fn inventory(repository: &str) -> Inventory {
    Inventory {
        repository: repository.into(),
        sets: vec![
            complete_set(SET_NEWEST, at("2026-11-22T11:49:31Z"), Initiator::Operator),
            complete_set(SET_NIGHTLY, at("2026-11-22T02:04:12Z"), Initiator::Schedule),
            incomplete_set(SET_INCOMPLETE),
            complete_set(
                SET_VERIFIED_DECRYPT,
                at("2026-11-21T02:04:40Z"),
                Initiator::Schedule,
            ),
            complete_set(SET_DAMAGED, at("2026-11-20T02:03:58Z"), Initiator::Schedule),
            complete_set(SET_REPO_ONLY, at("2026-11-19T14:34:02Z"), Initiator::Cli),
        ],
        strays: vec![ObjectInfo {
            path: "old/app-2026-10-01.sql.gz".into(),
            size: 48 * MIB + 1_204,
            modified: Some(at("2026-10-01T03:00:00Z")),
        }],
        drills: vec![ObjectInfo {
            path: DRILL_PATH.into(),
            size: 3_236,
            modified: Some(at("2026-11-21T10:19:02Z")),
        }],
        ..Default::default()
    }
}

pub fn run(
    set: Option<&str>,
    status: RunStatus,
    initiator: Initiator,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    destination: &str,
) -> RunRecord {
    let bytes = (status == RunStatus::Completed).then_some(SIZES.db + SIZES.files + 214 + 2_311);
    RunRecord {
        run_id: format!("run-{}", started_at.format("%Y%m%d%H%M%S")),
        kind: RunKind::Backup,
        status,
        initiator,
        host: HOST.into(),
        pid: 48_213,
        process_start: None,
        started_at,
        finished_at,
        set_id: set.map(str::to_string),
        bytes,
        destination: destination.into(),
        sha256: (status == RunStatus::Completed)
            .then(|| sha(&format!("{}/checksums", set.unwrap_or("")))),
        error: None,
        spooled_at: None,
        purpose: None,
        restore: None,
    }
}

fn verification(
    set: &str,
    when: &str,
    level: VerifyLevel,
    ok: bool,
    repo: &str,
) -> VerificationRecord {
    VerificationRecord {
        set_id: set.into(),
        at: at(when),
        level,
        ok,
        repository: repo.into(),
        problems: if ok {
            vec![]
        } else {
            vec!["db.dump.zst.gpg: stored SHA-256 differs from the manifest".into()]
        },
        initiator: None,
    }
}

/// Completed runs, one failed run with its error, and verifications (one of them failed).
pub fn journal(repository: &str) -> JournalView {
    let mut failed = run(
        Some(SET_INCOMPLETE),
        RunStatus::Failed,
        Initiator::Operator,
        at("2026-11-21T14:00:00Z"),
        Some(at("2026-11-21T14:00:41Z")),
        repository,
    );
    failed.error = Some(FAILED_RUN_ERROR.into());
    JournalView {
        runs: vec![
            run(
                Some(SET_DAMAGED),
                RunStatus::Completed,
                Initiator::Schedule,
                at("2026-11-20T02:00:00Z"),
                Some(at("2026-11-20T02:03:58Z")),
                repository,
            ),
            run(
                Some(SET_VERIFIED_DECRYPT),
                RunStatus::Completed,
                Initiator::Schedule,
                at("2026-11-21T02:00:00Z"),
                Some(at("2026-11-21T02:04:40Z")),
                repository,
            ),
            failed,
            run(
                Some(SET_NIGHTLY),
                RunStatus::Completed,
                Initiator::Schedule,
                at("2026-11-22T02:00:00Z"),
                Some(at("2026-11-22T02:04:12Z")),
                repository,
            ),
            run(
                Some(SET_NEWEST),
                RunStatus::Completed,
                Initiator::Operator,
                at("2026-11-22T11:45:00Z"),
                Some(at("2026-11-22T11:49:31Z")),
                repository,
            ),
        ],
        verifications: vec![
            verification(
                SET_DAMAGED,
                "2026-11-20T09:00:00Z",
                VerifyLevel::Stored,
                false,
                repository,
            ),
            verification(
                SET_VERIFIED_DECRYPT,
                "2026-11-21T09:12:00Z",
                VerifyLevel::Decrypt,
                true,
                repository,
            ),
            verification(
                SET_NIGHTLY,
                "2026-11-22T02:10:00Z",
                VerifyLevel::Stored,
                true,
                repository,
            ),
        ],
        ..Default::default()
    }
}

fn phase(name: &str, from: &str, seconds: i64, detail: &str) -> Phase {
    let started_at = at(from);
    Phase {
        name: name.into(),
        started_at,
        finished_at: started_at + Span::seconds(seconds),
        seconds: seconds as f64,
        ok: true,
        detail: detail.into(),
    }
}

fn drill_check(name: &str, kind: &str, expected: &str, actual: &str) -> CheckResult {
    CheckResult {
        name: name.into(),
        kind: kind.into(),
        ok: true,
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The drill the repository records: set a1c4 restored into a throwaway cluster, all green.
pub fn drill_record() -> DrillRecord {
    let snapshot = manifest(
        SET_VERIFIED_DECRYPT,
        at("2026-11-21T02:04:40Z"),
        Initiator::Schedule,
    )
    .snapshot_time;
    let started_at = at("2026-11-21T10:00:00Z");
    DrillRecord {
        format: DRILL_FORMAT,
        kind: Default::default(),
        rehearsal: false,
        drill_id: DRILL_ID.into(),
        set_id: SET_VERIFIED_DECRYPT.parse().expect("a set id"),
        set_snapshot_time: snapshot,
        started_at,
        finished_at: at("2026-11-21T10:19:02Z"),
        host: HOST.into(),
        initiator: "operator".into(),
        lifeboat_version: "0.1.0".into(),
        pg_restore_version: "16.4".into(),
        target: "ephemeral cluster".into(),
        phases: vec![
            phase("fetch", "2026-11-21T10:00:00Z", 212, "3 objects, 1.5 GiB"),
            phase("restore", "2026-11-21T10:03:32Z", 684, "pg_restore -j 4"),
            phase("files", "2026-11-21T10:14:56Z", 131, "5230 files"),
            phase("checks", "2026-11-21T10:17:07Z", 95, "5 checks"),
        ],
        checks: vec![
            drill_check("\"User\"", "row count", "1284", "1284"),
            drill_check("billing.invoices", "row count", "40211", "40211"),
            drill_check("freshness", "freshness", "< 24h", "7h 58m"),
        ],
        manual: vec![ManualStep {
            step: "log in as admin and open the newest invoice".into(),
            done: true,
            at: Some(at("2026-11-21T10:18:40Z")),
            by: Some("ops".into()),
            note: None,
        }],
        rto_seconds: Some(1_122.0),
        rpo_data_seconds: Some(28_680.0),
        newest_data: Some(at("2026-11-21T02:02:00Z")),
        rpo_snapshot_seconds: (started_at - snapshot).num_seconds() as f64,
        restored_bytes: 1_200_000,
        rto_target_seconds: RTO_TARGET.as_secs_f64(),
        rpo_target_seconds: RPO_TARGET.as_secs_f64(),
        passed: true,
        reasons: Vec::new(),
        cancelled: false,
        freshness_query: None,
    }
}

/// The drill records a listing would read: those whose objects the inventory holds.
pub fn drill_records(inventory: Option<&Inventory>) -> Vec<DrillRecord> {
    inventory
        .filter(|i| i.drills.iter().any(|o| o.path == DRILL_PATH))
        .map(|_| vec![drill_record()])
        .unwrap_or_default()
}

fn drill_summary(repository: &str) -> DrillSummary {
    let r = drill_record();
    DrillSummary {
        rpo_seconds: Some(r.rpo_seconds()),
        drill_id: r.drill_id,
        set_id: r.set_id.to_string(),
        at: r.started_at,
        passed: r.passed,
        rto_seconds: r.rto_seconds,
        repository: repository.into(),
    }
}

/// `status::evaluate_at` with the fixed clock and the lock holder given: the verdict and
/// messages the console would show, deterministically.
pub fn status(
    repository: &str,
    listed: Result<&Inventory, &str>,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    lock_holder: Option<LockHolder>,
) -> StatusReport {
    use lifeboat::jobs::status::{self, StatusSpec};
    use lifeboat::storage::paths::LocalPaths;
    use lifeboat::storage::repository::RepositorySpec;
    let newest_drill = listed
        .ok()
        .filter(|i| i.drills.iter().any(|o| o.path == DRILL_PATH))
        .map(|_| drill_summary(repository));
    let spec = StatusSpec {
        repository: RepositorySpec::new(repository),
        paths: LocalPaths::under(std::path::Path::new("/nonexistent/lifeboat-fixture")),
        spool_dir: None,
        stale_after: DEFAULT_STALE_AFTER,
        drill_every: std::time::Duration::from_secs(30 * 86_400),
        verify_stale_after: DEFAULT_VERIFY_STALE_AFTER,
        wal: None,
    };
    let listed = listed.map_err(str::to_string);
    status::evaluate_at(
        &spec,
        listed,
        journal,
        spooled_sets,
        newest_drill,
        lock_holder,
        now(),
    )
}

/// A snapshot as `runtime::load_snapshot` builds it, from data instead of a listing.
pub fn snapshot(
    repository: &str,
    inventory: Option<Inventory>,
    journal: JournalView,
    status: StatusReport,
) -> Snapshot {
    let history = history::rows_at(inventory.as_ref(), &journal, repository, now());
    let drills = drill_records(inventory.as_ref());
    Snapshot {
        status,
        inventory,
        journal,
        history,
        drills,
        loaded_at: now() - Span::seconds(12),
    }
}

fn state_with(repository: &str, snapshot: Option<Snapshot>) -> AppState {
    let mut state = AppState::new(repository.into(), CONFIG.into(), now());
    state.snapshot = snapshot;
    state.drill_settings = DrillSettings {
        rto_target_seconds: RTO_TARGET.as_secs_f64(),
        rpo_target_seconds: RPO_TARGET.as_secs_f64(),
        every_seconds: DRILL_EVERY.as_secs(),
        manual_steps: vec!["log in as admin and open the newest invoice".into()],
    };
    state
}

/// The realistic console: a local repository with history, nothing running.
pub fn state() -> AppState {
    let inventory = inventory(REPO);
    let journal = journal(REPO);
    let status = status(REPO, Ok(&inventory), &journal, Vec::new(), None);
    state_with(REPO, Some(snapshot(REPO, Some(inventory), journal, status)))
}

/// A new repository: no sets, no journal.
pub fn empty_state() -> AppState {
    let inventory = Inventory {
        repository: REPO.into(),
        ..Default::default()
    };
    let journal = JournalView::default();
    let status = status(REPO, Ok(&inventory), &journal, Vec::new(), None);
    state_with(REPO, Some(snapshot(REPO, Some(inventory), journal, status)))
}

/// A report as `status_preview` sends it: the counts and sizes it does not know left at zero.
fn as_preview(mut status: StatusReport, set_folders: usize) -> StatusPreview {
    status.complete_sets = 0;
    status.incomplete_sets = 0;
    status.repository_bytes = 0;
    StatusPreview {
        status,
        set_folders: Some(set_folders),
        manifests_read: 2,
    }
}

/// The first load of `state()`'s repository, its preview shown while the full listing runs:
/// the verdict from the complete sets it read (no incomplete folder is counted), no snapshot.
pub fn preview_state() -> AppState {
    let mut inventory = inventory(REPO);
    let set_folders = inventory.sets.len();
    inventory.sets.retain(|s| s.is_complete());
    let journal = journal(REPO);
    let status = status(REPO, Ok(&inventory), &journal, Vec::new(), None);
    let mut state = state_with(REPO, None);
    state.loading = true;
    state.preview = Some(as_preview(status, set_folders));
    state
}

/// The preview of `stale_state()`'s repository: an alert found before the full listing.
pub fn stale_preview_state() -> AppState {
    let mut state = stale_state();
    let snapshot = state.snapshot.take().unwrap();
    state.loading = true;
    state.preview = Some(as_preview(snapshot.status, 2));
    state
}

pub const UNREACHABLE_ERROR: &str = "repository s3://acme-backups/app: cannot list ``: Unexpected (temporary) at list, context: { service: s3, path: app/ } => send http request, source: error sending request for url (https://s3.eu-central-003.backblazeb2.com/acme-backups?list-type=2&prefix=app%2F): dns error: failed to lookup address information: Temporary failure in name resolution";

/// The repository cannot be listed: the journal still loads, the verdict is UNKNOWN.
pub fn unreachable_state() -> AppState {
    let journal = journal(REMOTE);
    let status = status(REMOTE, Err(UNREACHABLE_ERROR), &journal, Vec::new(), None);
    state_with(REMOTE, Some(snapshot(REMOTE, None, journal, status)))
}

pub const LOAD_ERROR: &str =
    "cannot read the run journal /var/lib/lifeboat/journal.jsonl: Permission denied (os error 13)";

/// Nothing loaded at all: the first load failed (`load_error`, no snapshot).
pub fn load_error_state() -> AppState {
    let mut state = state_with(REPO, None);
    state.load_error = Some(LOAD_ERROR.into());
    state
}

/// The newest set is three days old: the nightly job has stopped.
pub fn stale_state() -> AppState {
    let inventory = Inventory {
        repository: REPO.into(),
        sets: vec![
            complete_set(
                "20261119T020000Z-0b5d",
                at("2026-11-19T02:04:02Z"),
                Initiator::Schedule,
            ),
            complete_set(
                "20261118T020000Z-19ab",
                at("2026-11-18T02:03:51Z"),
                Initiator::Schedule,
            ),
        ],
        ..Default::default()
    };
    let mut journal = JournalView::default();
    for set in inventory.complete() {
        let m = set.manifest.as_ref().unwrap();
        journal.runs.push(run(
            Some(set.id.as_str()),
            RunStatus::Completed,
            Initiator::Schedule,
            m.started_at,
            Some(m.finished_at),
            REPO,
        ));
    }
    let status = status(REPO, Ok(&inventory), &journal, Vec::new(), None);
    state_with(REPO, Some(snapshot(REPO, Some(inventory), journal, status)))
}

pub const SET_SAFETY: &str = "20261122T115500.120Z-5afe";
pub const SET_FUTURE: &str = "20261125T020000.000Z-f0f0";

/// After a restore of the nightly set, taken with a safety backup, was killed during
/// pg_restore; and a set dated three days ahead (a forged one) sits in the repository.
pub fn restore_interrupted_state() -> AppState {
    use lifeboat::storage::journal::RestoreProgress;
    use lifeboat::storage::manifest::SetPurpose;
    let mut inventory = inventory(REPO);
    let mut safety = complete_set(SET_SAFETY, at("2026-11-22T11:56:10Z"), Initiator::Operator);
    if let Some(m) = &mut safety.manifest {
        m.purpose = Some(SetPurpose::Safety);
    }
    let future = complete_set(SET_FUTURE, at("2026-11-25T02:04:00Z"), Initiator::Schedule);
    inventory.sets.insert(0, safety);
    inventory.sets.insert(0, future);
    let mut journal = journal(REPO);
    let mut safety_run = run(
        Some(SET_SAFETY),
        RunStatus::Completed,
        Initiator::Operator,
        at("2026-11-22T11:55:00.120Z"),
        Some(at("2026-11-22T11:56:10Z")),
        REPO,
    );
    safety_run.purpose = Some(SetPurpose::Safety);
    journal.runs.push(safety_run);
    let mut restore = run(
        Some(SET_NIGHTLY),
        RunStatus::Failed,
        Initiator::Operator,
        at("2026-11-22T11:54:30Z"),
        None,
        REPO,
    );
    restore.run_id = "restore-20261122T115430.000Z-0001".into();
    restore.kind = RunKind::Restore;
    restore.bytes = None;
    restore.sha256 = None;
    restore.error = Some("interrupted: process 48213 ended without finishing the run".into());
    restore.restore = Some(Box::new(RestoreProgress {
        target: "postgresql://app@localhost/app".into(),
        database: Some("app".into()),
        step: "pg_restore".into(),
        step_at: at("2026-11-22T11:56:11Z"),
        target_state: "the database app may be partly restored".into(),
        safety_set: Some(SET_SAFETY.into()),
    }));
    journal.runs.push(restore);
    let status = status(REPO, Ok(&inventory), &journal, Vec::new(), None);
    state_with(REPO, Some(snapshot(REPO, Some(inventory), journal, status)))
}

pub const SPOOL_DIR: &str = "/var/lib/lifeboat/spool/s3-acme-backups-app";

/// A remote repository whose last upload failed: the set waits in the local spool.
pub fn spooled_state() -> AppState {
    let mut inventory = inventory(REMOTE);
    // Today's nightly never reached the bucket.
    inventory.sets.retain(|s| s.id.as_str() != SET_NEWEST);
    let spooled = inventory.sets.remove(0);
    let mut journal = journal(REMOTE);
    journal
        .runs
        .retain(|r| r.set_id.as_deref() != Some(SET_NEWEST));
    let last = journal.runs.last_mut().unwrap();
    last.status = RunStatus::Failed;
    last.bytes = None;
    last.sha256 = None;
    last.spooled_at = Some(format!("{SPOOL_DIR}/sets/{}/", spooled.id));
    last.error = Some(format!(
        "upload to {REMOTE} failed: connection reset by peer; the complete set {} is kept locally at {SPOOL_DIR}/sets/{}/ and will be uploaded by `lifeboat backup --resume` or the next backup",
        spooled.id, spooled.id
    ));
    journal.verifications.retain(|v| v.set_id != SET_NIGHTLY);
    let status = status(
        REMOTE,
        Ok(&inventory),
        &journal,
        vec![spooled.id.to_string()],
        None,
    );
    state_with(
        REMOTE,
        Some(snapshot(REMOTE, Some(inventory), journal, status)),
    )
}

pub fn lock_holder() -> LockHolder {
    LockHolder {
        host: HOST.into(),
        pid: 51_207,
        started_at: at("2026-11-22T11:58:30Z"),
        purpose: "backup".into(),
    }
}

/// Another process (the scheduled job) holds the repository lock and its run is in the journal.
pub fn locked_state() -> AppState {
    let inventory = inventory(REPO);
    let mut journal = journal(REPO);
    journal.runs.push(run(
        None,
        RunStatus::Running,
        Initiator::Schedule,
        at("2026-11-22T11:58:30Z"),
        None,
        REPO,
    ));
    let status = status(
        REPO,
        Ok(&inventory),
        &journal,
        Vec::new(),
        Some(lock_holder()),
    );
    state_with(REPO, Some(snapshot(REPO, Some(inventory), journal, status)))
}

fn job(id: u64, kind: JobKind, started_at: DateTime<Utc>) -> JobState {
    JobState {
        id,
        kind,
        phase: "starting".into(),
        progress: None,
        log: VecDeque::new(),
        status: JobStatus::Running,
        started_at,
        finished_at: None,
        set_id: None,
        phases: Vec::new(),
        checklist: Vec::new(),
        checklist_cursor: 0,
    }
}

pub fn backup_progress() -> Progress {
    Progress {
        phase: "backup".into(),
        done: 612 * MIB + 40_960,
        total: Some(1_126 * MIB + 1_297 * MIB),
        elapsed: Duration::from_secs(84),
        finished: false,
    }
}

/// Jobs of this session, newest first: #3 a running backup with progress, #2 a failed
/// verify+decrypt, #1 the succeeded backup that made the newest set, with its log.
pub fn with_jobs(mut state: AppState) -> AppState {
    let mut done = job(1, JobKind::Backup, at("2026-11-22T11:45:00Z"));
    for line in [
        "== preflight".to_string(),
        "database app (1180696576 bytes, 48 tables), 5230 files (1359998976 bytes), 2 secrets -> file:///var/backups/app".into(),
        "== backup".into(),
        "== manifest".into(),
        format!("set {SET_NEWEST} complete: 1573382925 bytes stored"),
        format!("✓ set {SET_NEWEST} complete"),
    ] {
        done.push_log(line);
    }
    done.phase = "manifest".into();
    done.progress = Some(Progress {
        phase: "backup".into(),
        done: SIZES.db + SIZES.files,
        total: Some(1_126 * MIB + 1_297 * MIB),
        elapsed: Duration::from_secs(262),
        finished: true,
    });
    done.status = JobStatus::Succeeded(format!("set {SET_NEWEST} complete"));
    done.finished_at = Some(at("2026-11-22T11:49:31Z"));
    done.set_id = Some(id(SET_NEWEST));

    let mut failed = job(
        2,
        JobKind::Verify {
            set_id: id(SET_DAMAGED),
            decrypt: true,
        },
        at("2026-11-22T11:52:00Z"),
    );
    let damaged =
        format!("set {SET_DAMAGED} is DAMAGED: db.dump.zst.gpg HashMismatch; files.tar.zst.gpg ok");
    for line in [
        "== list".to_string(),
        format!("== verify {SET_DAMAGED}"),
        format!("✗ {damaged}"),
    ] {
        failed.push_log(line);
    }
    failed.phase = format!("verify {SET_DAMAGED}");
    failed.status = JobStatus::Failed(damaged);
    failed.finished_at = Some(at("2026-11-22T11:53:10Z"));

    let mut running = job(3, JobKind::Backup, at("2026-11-22T11:58:36Z"));
    for line in [
        "== preflight",
        "database app (1180696576 bytes, 48 tables), 5230 files (1359998976 bytes), 2 secrets -> file:///var/backups/app",
        "== backup",
    ] {
        running.push_log(line.into());
    }
    running.phase = "backup".into();
    running.progress = Some(backup_progress());

    state.jobs = vec![running, failed, done];
    state.selected_job = 0;
    state.next_job_id = 4;
    state
}

fn check(name: &str, ok: bool, detail: &str) -> Check {
    Check {
        name: name.into(),
        ok,
        detail: detail.into(),
    }
}

/// Every check passes.
pub fn preflight_ok() -> PreflightReport {
    PreflightReport {
        database: "app".into(),
        database_bytes: 1_126 * MIB,
        server_version: "16.4".into(),
        pg_dump_version: "16.4".into(),
        file_roots: vec![(
            "/var/lib/app/uploads".into(),
            TreeSize {
                files: 5_230,
                bytes: 1_297 * MIB,
            },
        )],
        secrets: vec!["/opt/app/cert.p12".into(), "/opt/app/.env".into()],
        repository: REPO.into(),
        secrets_repository: Some("file:///var/backups/app-secrets".into()),
        encryption: "passphrase".into(),
        checks: vec![
            check("database reachable", true, "app on PostgreSQL 16.4"),
            check("tables present", true, "48 tables"),
            check("pg_dump version", true, "pg_dump 16.4"),
            check("file roots readable", true, "5230 files"),
            check("secrets readable", true, "2 files"),
            check(
                "encryption key usable",
                true,
                "AES256 with the passphrase file",
            ),
            check(
                "repository reachable",
                true,
                "file:///var/backups/app (29 objects)",
            ),
            check(
                "secrets repository reachable",
                true,
                "file:///var/backups/app-secrets (6 objects)",
            ),
        ],
    }
}

/// The database refuses the connection and another backup holds the lock.
pub fn preflight_failing() -> PreflightReport {
    let mut r = preflight_ok();
    r.database = String::new();
    r.database_bytes = 0;
    r.server_version = String::new();
    r.checks = vec![
        check(
            "database reachable",
            false,
            "psql: error: connection to server at \"localhost\" (127.0.0.1), port 5432 failed: Connection refused",
        ),
        check("pg_dump version", true, "pg_dump 16.4"),
        check("file roots readable", true, "5230 files"),
        check("secrets readable", true, "2 files"),
        check(
            "encryption key usable",
            true,
            "AES256 with the passphrase file",
        ),
        check(
            "no other backup running",
            false,
            "locked by backup (pid 51207 on db1, since 2026-11-22 11:58:30 UTC)",
        ),
        check(
            "repository reachable",
            true,
            "file:///var/backups/app (29 objects)",
        ),
        check(
            "secrets repository reachable",
            true,
            "file:///var/backups/app-secrets (6 objects)",
        ),
    ];
    r
}

/// The Retention screen's state for the standard fixture: a real policy and a real plan
/// assembled from the fixture's inventory (a pin on one old set).
pub fn with_retention(mut state: AppState) -> AppState {
    use lifeboat::jobs::pins::Pin;
    use lifeboat::jobs::prune_plan::{self, Facts};
    use lifeboat::storage::retention::{Policy, RetentionConfig};
    let policy = Policy::from_config(&RetentionConfig {
        keep_last: Some(2),
        daily: Some(7),
        timezone: Some("Europe/Bucharest".into()),
        ..Default::default()
    })
    .unwrap();
    let inventory = state
        .snapshot
        .as_ref()
        .and_then(|s| s.inventory.clone())
        .unwrap();
    let oldest = inventory.complete().last().unwrap().id.to_string();
    let pins = vec![Pin {
        set_id: oldest,
        note: "legal hold".into(),
        by: "ana@db1".into(),
        at: now(),
    }];
    let verified = std::collections::HashSet::new();
    let spooled = std::collections::HashSet::new();
    let facts = Facts {
        data: &inventory,
        secrets: None,
        pins: &pins,
        verified: &verified,
        last_passing_drill: None,
        spooled: &spooled,
        writer: None,
        now: now(),
    };
    let plan = prune_plan::assemble(&policy, &facts);
    let candidates = prune_plan::candidates(&facts);
    state.retention.policy = Ok(policy);
    lifeboat::app::retention_state::on_loaded(&mut state, Ok((Box::new(plan), candidates)));
    state
}
