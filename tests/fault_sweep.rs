//! Fault sweep (issue 7): one storage call fails, for each call in turn, during a backup (to S3
//! and to a local repository), a spool resume, a verify, a prune (S3 and local) and a restore
//! (dry run and real), against real parts (PostgreSQL, s3s-fs, gpg).
//!
//! lifeboat counts its storage calls when `LIFEBOAT_FAULT_LOG` is set and fails the k-th when
//! `LIFEBOAT_FAULT_INJECT=k` (src/storage/fault.rs: what one call is, and why the fault is
//! permanent and outside the retry layer). For each operation an unfaulted run gives the number
//! of calls N and the reference outcome. Then, for each chosen k, the repositories, spool and
//! journal are put back as they were before that run, the run is repeated with fault k, and:
//!
//! - it exits non-zero and stderr carries the injected error (which names the operation, the
//!   object and the repository); or it exits 0 because the failed call was not needed for the
//!   result (the spool's copy next to a good upload, reading the spool before a backup, looking
//!   for extra objects in a set folder, the drill history behind a restore's projected time),
//!   and then a warning names the fault. A fault swallowed without a word fails the test, with
//!   one exception: removing an emptied folder of a local repository (no object, nothing lists
//!   it; the objects are still compared with the unfaulted run's);
//! - every set `lifeboat list` shows is whole (each object checked by the test against the
//!   manifest and checksums.sha256, and `lifeboat verify <set>` for every listed set the run
//!   touched); the sets the operation must keep are byte for byte as they were; every set folder
//!   on disk is in `lifeboat inventory`, those without a manifest as incomplete;
//! - restores leave the target database, the file tree and the scratch directory exactly as they
//!   were (every storage call of a restore happens before pg_restore starts);
//! - a re-run without the fault converges on the unfaulted outcome: `backup` (or `backup
//!   --resume` when the set was spooled), `prune --yes`, `verify --all`, `restore`. Garbage a
//!   faulted run leaves (an incomplete set folder, orphaned secrets) must be held by prune while
//!   it is young and removed by prune once it is older than the 24-hour grace period (the test
//!   ages it with `touch -d`, which s3s-fs reports as the objects' last-modified time); then
//!   no spool copy and no temporary file is left.
//!
//! The CI part sweeps, per operation, the last call and the first call to each place (repository,
//! and manifest or not), then first calls of other operations there while under a budget of 8
//! faulted runs per sweep (7 for a backup, 3 for the real restore, whose storage calls are its
//! dry run's). `LIFEBOAT_FULL=1` sweeps every k = 1..N of every operation (about
//! 330 faulted runs; `--nocapture` shows what each call was and how the run ended).

mod common;

use common::app::{AppOptions, RepoKind, TestApp};
use common::forge::copy_set;
use common::{describe, text};
use lifeboat::storage::fault::{INJECTED, INJECT_ENV, LOG_ENV};

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use lifeboat::jobs::exit_code::{OK as EXIT_OK, SPOOLED as EXIT_SPOOLED};

/// Faulted runs per sweep in the CI part (see [`chosen`]); a backup run costs the most.
const CI_BUDGET: usize = 8;
const CI_BUDGET_BACKUP: usize = 7;
/// The real restore's storage calls are its dry run's, which gets [`CI_BUDGET`].
const CI_BUDGET_REAL_RESTORE: usize = 3;

fn full() -> bool {
    std::env::var("LIFEBOAT_FULL").is_ok_and(|v| v == "1")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

// --- the call log -------------------------------------------------------------------------------

/// One storage call, as lifeboat logged it.
#[derive(Debug, Clone)]
struct Call {
    n: u64,
    op: String,
    repo: String,
    path: String,
}

impl Call {
    fn touches_manifest(&self) -> bool {
        self.path.ends_with("manifest.json")
    }

    /// Which repository it goes to, and whether it touches a manifest (the object whose
    /// presence makes a set complete) or anything else.
    fn place(&self) -> String {
        format!("{} {}", self.repo, self.touches_manifest())
    }

    /// The operation too.
    fn kind(&self) -> String {
        format!("{} {}", self.op, self.place())
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} `{}` in {}",
            self.n, self.op, self.path, self.repo
        )
    }
}

fn read_calls(log: &Path) -> Vec<Call> {
    let mut calls: Vec<Call> = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(4, '\t');
            let mut next = || parts.next().unwrap_or_default().to_string();
            let n = next().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
            Call {
                n,
                op: next(),
                repo: next(),
                path: next(),
            }
        })
        .collect();
    calls.sort_by_key(|c| c.n);
    calls
}

/// The k to sweep: every k with LIFEBOAT_FULL=1. Else, within `budget`: the last call and the
/// first call to each place (repository, manifest or not), then the first call of each other
/// kind (operation and place), thinned evenly to fill the budget.
fn chosen(calls: &[Call], budget: usize) -> Vec<u64> {
    if full() {
        return calls.iter().map(|c| c.n).collect();
    }
    let firsts = |key: &dyn Fn(&Call) -> String| -> BTreeSet<u64> {
        let mut seen = BTreeSet::new();
        calls
            .iter()
            .filter(|c| seen.insert(key(c)))
            .map(|c| c.n)
            .collect()
    };
    let mut ks = firsts(&Call::place);
    ks.extend(calls.last().map(|c| c.n));
    let more: Vec<u64> = firsts(&Call::kind).difference(&ks).copied().collect();
    let room = budget.saturating_sub(ks.len()).min(more.len());
    ks.extend((0..room).map(|i| more[(2 * i + 1) * more.len() / (2 * room)]));
    ks.into_iter().collect()
}

// --- files on disk ----------------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Files by relative path: (size, SHA-256).
type Files = BTreeMap<String, (u64, String)>;

/// Every file under `root`, temporary write folders included.
fn tree(root: &Path) -> Files {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("read a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                out.insert(
                    rel.display().to_string(),
                    (bytes.len() as u64, sha256_hex(&bytes)),
                );
            }
        }
    }
    out
}

/// The relative paths of the files under `root`, without reading them.
fn file_names(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The files of set `id` in both repositories (keys as [`Fixture::files`] makes them).
fn set_files(files: &Files, id: &str) -> Files {
    let (data, secrets) = (format!("data/sets/{id}/"), format!("secrets/sets/{id}/"));
    files
        .iter()
        .filter(|(k, _)| k.starts_with(&data) || k.starts_with(&secrets))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn run_ok(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(out.status.success(), "{what}: {}", describe(&out));
}

/// `cp -a from/. to` into an emptied `to` (keeps modification times, which prune reads).
fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap_or_else(|e| panic!("rm -r {to:?}: {e}"));
    }
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {to:?}: {e}"));
    run_ok(
        "cp -a",
        Command::new("cp").arg("-a").arg(from.join(".")).arg(to),
    );
}

/// Sets the modification time of every file under each of `dirs` to two days ago, past the
/// 24-hour grace period prune gives a folder without a manifest.
fn age(dirs: &[PathBuf]) {
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| file_names(d).into_iter().map(move |f| d.join(f)))
        .collect();
    if !files.is_empty() {
        run_ok(
            "touch",
            Command::new("touch")
                .args(["-d", "2 days ago"])
                .args(&files),
        );
    }
}

// --- the fixture ------------------------------------------------------------------------------

/// A TestApp whose repositories, spool and journal can be put back to a saved state.
struct Fixture {
    app: TestApp,
    saved: tempfile::TempDir,
    log: PathBuf,
    name: String,
}

/// What a faulted run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Exit non-zero, the injected fault on stderr.
    Failed,
    /// Exit 0: the call was not needed for the result, and a warning said so.
    Absorbed,
    /// The run made fewer than k calls this time (concurrent uploads order calls differently).
    NotReached,
    /// Exit 0 without a word, and rightly: the failed call removed an emptied folder of a local
    /// repository (best effort: an empty folder is no object, and nothing lists it). The sweep
    /// still checks the objects are the unfaulted run's.
    Harmless,
}

/// A set's objects by name, per repository: what a set looks like, whatever its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    data: Vec<String>,
    secrets: Vec<String>,
}

/// The repository as lifeboat sees it.
#[derive(Debug, Clone, PartialEq)]
struct RepoState {
    complete: BTreeMap<String, Shape>,
    incomplete: Vec<String>,
    strays: Vec<String>,
    /// Set folders in the secrets repository without a folder in the data repository.
    orphan_secrets: Vec<String>,
}

impl RepoState {
    fn shapes(&self) -> Vec<Shape> {
        let mut shapes: Vec<Shape> = self.complete.values().cloned().collect();
        shapes.sort();
        shapes
    }

    fn has_garbage(&self) -> bool {
        !(self.incomplete.is_empty() && self.strays.is_empty() && self.orphan_secrets.is_empty())
    }
}

impl Fixture {
    fn new(name: &str, repo: RepoKind, retention: &str) -> Fixture {
        let app = TestApp::new(AppOptions {
            repo,
            ..AppOptions::default()
        });
        app.write_raw_config(&format!(
            "{}\n[retention]\n{retention}\n",
            app.config_text()
        ));
        let saved = tempfile::Builder::new()
            .prefix("lifeboat-fault-saved-")
            .tempdir()
            .expect("a directory for saved states");
        let log = saved.path().join("calls.log");
        Fixture {
            app,
            saved,
            log,
            name: format!("{name} ({repo:?})"),
        }
    }

    /// What a reset puts back: both repositories, and the data directory (journal, spool,
    /// scratch).
    fn dirs(&self) -> [PathBuf; 3] {
        [
            self.app.data_repo_root(),
            self.app.secrets_repo_dir(),
            self.app.data_dir(),
        ]
    }

    fn save(&self) {
        for (i, dir) in self.dirs().iter().enumerate() {
            copy_dir(dir, &self.saved.path().join(i.to_string()));
        }
    }

    fn reset(&self) {
        for (i, dir) in self.dirs().iter().enumerate() {
            copy_dir(&self.saved.path().join(i.to_string()), dir);
        }
    }

    /// Both repositories' files, prefixed `data/` and `secrets/`.
    fn files(&self) -> Files {
        let mut all = BTreeMap::new();
        for (label, root) in [
            ("data", self.app.data_repo_root()),
            ("secrets", self.app.secrets_repo_dir()),
        ] {
            all.extend(
                tree(&root)
                    .into_iter()
                    .map(|(k, v)| (format!("{label}/{k}"), v)),
            );
        }
        all
    }

    /// Runs lifeboat with the call log on and, with `fault`, the k-th call failing.
    fn run(&self, args: &[&str], fault: Option<u64>) -> (Output, Vec<Call>) {
        let _ = std::fs::remove_file(&self.log);
        let mut cmd = self.app.command(args);
        cmd.env(LOG_ENV, &self.log);
        if let Some(k) = fault {
            cmd.env(INJECT_ENV, k.to_string());
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run lifeboat {args:?}: {e}"));
        (out, read_calls(&self.log))
    }

    /// The unfaulted run: it must succeed; returns its calls.
    fn counted(&self, args: &[&str]) -> Vec<Call> {
        let (out, calls) = self.run(args, None);
        assert_eq!(
            code(&out),
            EXIT_OK,
            "{}: {args:?}: {}",
            self.name,
            describe(&out)
        );
        assert!(
            !calls.is_empty(),
            "{}: {args:?} made no storage call",
            self.name
        );
        calls
    }

    /// Runs `args` with fault `k` and judges how it ended (see [`Verdict`]).
    fn faulted(&self, args: &[&str], k: u64) -> (Verdict, Output, String) {
        let (out, calls) = self.run(args, Some(k));
        let shown: Vec<&str> = args
            .iter()
            .copied()
            .take_while(|a| !a.starts_with("--target"))
            .collect();
        let what = format!(
            "{}: `lifeboat {}` with fault {k}",
            self.name,
            shown.join(" ")
        );
        let Some(call) = calls.iter().find(|c| c.n == k) else {
            assert_eq!(
                code(&out),
                EXIT_OK,
                "{what}: only {} calls were made, yet the run failed: {}",
                calls.len(),
                describe(&out)
            );
            return (Verdict::NotReached, out, format!("{what} (not reached)"));
        };
        let what = format!("{what} (call {call})");
        let needle = format!("{INJECTED}: storage call {k} (");
        let stderr = text(&out.stderr);
        if code(&out) != EXIT_OK {
            assert!(
                stderr.contains(&needle),
                "{what}: the run failed, but stderr does not carry the injected fault: {}",
                describe(&out)
            );
            return (Verdict::Failed, out, what);
        }
        if call.op == "delete" && call.path.ends_with('/') {
            return (Verdict::Harmless, out, what);
        }
        // A warning on stderr, or in the run's summary on stdout ("! ...", JSON `warnings`).
        let both = format!("{}{stderr}", text(&out.stdout));
        assert!(
            both.contains(&needle),
            "{what}: exit 0 and no warning names the fault: a silent failure: {}",
            describe(&out)
        );
        (Verdict::Absorbed, out, what)
    }

    fn json(&self, args: &[&str], what: &str) -> Value {
        let (status, doc) = self.app.lifeboat_json(args);
        assert_eq!(status, EXIT_OK, "{what}: lifeboat {args:?}: {doc:#}");
        doc
    }

    /// The repository as `inventory --json` shows it, every set folder on disk accounted for.
    fn state(&self, what: &str) -> RepoState {
        let inventory = self.json(&["inventory"], what);
        let data_root = self.app.data_repo_root();
        let secrets_root = self.app.secrets_repo_dir();
        let names =
            |root: &Path, id: &str| -> Vec<String> { file_names(&root.join("sets").join(id)) };
        let mut state = RepoState {
            complete: BTreeMap::new(),
            incomplete: Vec::new(),
            strays: strings(&inventory["strays"], "path"),
            orphan_secrets: Vec::new(),
        };
        let mut listed = BTreeSet::new();
        for set in inventory["sets"].as_array().expect("sets") {
            let id = set["set_id"].as_str().expect("set_id").to_string();
            listed.insert(id.clone());
            if set["complete"] == true {
                let shape = Shape {
                    data: names(&data_root, &id),
                    secrets: names(&secrets_root, &id),
                };
                state.complete.insert(id, shape);
            } else {
                state.incomplete.push(id);
            }
        }
        let folders = |root: &Path| -> BTreeSet<String> {
            std::fs::read_dir(root.join("sets"))
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        for folder in folders(&data_root) {
            // An empty folder is no object at all (S3 has none; the local fs keeps it).
            if !listed.contains(&folder)
                && !file_names(&data_root.join("sets").join(&folder)).is_empty()
            {
                panic!("{what}: set folder {folder} is on disk but not in `lifeboat inventory`: {inventory:#}");
            }
        }
        state.orphan_secrets = folders(&secrets_root)
            .into_iter()
            .filter(|id| !listed.contains(id) && !names(&secrets_root, id).is_empty())
            .collect();
        state
    }

    /// Every set `lifeboat list` shows is whole: each object its manifest names is in `files`
    /// (the repositories as they are now) with the size and SHA-256 the manifest and
    /// checksums.sha256 give, checked by the test itself. A listed set whose files are not
    /// exactly as in `verified` (a state where every set passed `lifeboat verify`) must also
    /// pass `lifeboat verify <set>`; the journal is put back afterwards, so the verification
    /// does not change what the next run decides. Returns the listed ids.
    fn assert_listed_sets_are_whole(
        &self,
        what: &str,
        files: &Files,
        verified: &Files,
    ) -> Vec<String> {
        let list = self.json(&["list"], what);
        let ids: Vec<String> = strings(&list["sets"], "set_id");
        for id in &ids {
            assert_whole(what, &self.app, files, id);
            if set_files(files, id) == set_files(verified, id) {
                continue;
            }
            let journal = self.app.journal_path();
            let saved = std::fs::read(&journal).ok();
            let out = self.app.lifeboat(&["verify", id]);
            match saved {
                Some(bytes) => std::fs::write(&journal, bytes).expect("put the journal back"),
                None => {
                    let _ = std::fs::remove_file(&journal);
                }
            }
            assert_eq!(
                code(&out),
                EXIT_OK,
                "{what}: listed set {id} does not verify: {}",
                describe(&out)
            );
        }
        ids
    }

    /// `lifeboat verify --all` passes (setting up: it records the verifications, as an
    /// operator's would be).
    fn assert_verify_all(&self, what: &str) {
        let out = self.app.lifeboat(&["verify", "--all"]);
        assert_eq!(code(&out), EXIT_OK, "{what}: {}", describe(&out));
    }

    /// Garbage (incomplete set folders, orphaned secrets folders, strays) is held by prune while
    /// young and removed once past the grace period; afterwards there is none. Returns the
    /// state after.
    fn collect_garbage(&self, what: &str) -> RepoState {
        let state = self.state(what);
        if !state.has_garbage() {
            return state;
        }
        let young: Vec<&String> = state
            .incomplete
            .iter()
            .chain(&state.orphan_secrets)
            .collect();
        let plan = self.json(&["prune"], what)["plan"].clone();
        for id in &young {
            let held = plan["held"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| &h["name"] == *id));
            assert!(
                held,
                "{what}: young garbage {id} is not held back: {plan:#}"
            );
        }
        let mut dirs = Vec::new();
        for id in young {
            dirs.push(self.app.set_dir_local(id));
            dirs.push(self.app.secrets_set_dir(id));
        }
        dirs.extend(
            state
                .strays
                .iter()
                .map(|p| self.app.data_repo_root().join(p)),
        );
        age(&dirs);
        let doc = self.json(&["prune", "--yes"], what);
        assert_eq!(
            doc["outcome"]["deleted_sets"],
            Value::Array(vec![]),
            "{what}: collecting garbage deleted a set: {doc:#}"
        );
        let after = self.state(what);
        assert!(
            !after.has_garbage(),
            "{what}: garbage past its grace period is still there after prune: {after:?}\n{doc:#}"
        );
        after
    }

    /// Nothing left behind in the local temporary write folders or in the spool.
    fn assert_no_leftovers(&self, what: &str) {
        let mut roots = vec![
            self.app.secrets_repo_dir(),
            self.app.data_dir().join("spool"),
        ];
        if self.app.s3().is_none() {
            roots.push(self.app.repo_dir());
        }
        for root in roots {
            let left: Vec<String> = file_names(&root)
                .into_iter()
                .filter(|f| f.contains(".tmp/") || root.ends_with("spool"))
                .collect();
            assert!(
                left.is_empty(),
                "{what}: left in {}: {left:?}",
                root.display()
            );
        }
    }
}

/// Set `id` is whole in `files`: every object its manifest names, in its repository, with the
/// manifest's size and SHA-256, and listed so in the data repository's checksums.sha256.
fn assert_whole(what: &str, app: &TestApp, files: &Files, id: &str) {
    let dir = app.set_dir_local(id);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{what}: listed set {id} has no manifest: {e}")),
    )
    .unwrap_or_else(|e| panic!("{what}: manifest of listed set {id}: {e}"));
    let checksums = std::fs::read_to_string(dir.join("checksums.sha256"))
        .unwrap_or_else(|e| panic!("{what}: listed set {id}: checksums.sha256: {e}"));
    for c in manifest["components"].as_array().expect("components") {
        let object = c["object"].as_str().expect("object");
        let repository = c["repository"].as_str().expect("repository");
        let key = format!("{repository}/sets/{id}/{object}");
        let (size, sha) = files.get(&key).unwrap_or_else(|| {
            panic!("{what}: listed set {id} is complete-looking but broken: {key} is missing")
        });
        assert_eq!(
            (*size, sha.as_str()),
            (
                c["stored_bytes"].as_u64().expect("stored_bytes"),
                c["stored_sha256"].as_str().expect("stored_sha256")
            ),
            "{what}: listed set {id} is complete-looking but broken: {key} differs from its manifest"
        );
        if repository == "data" {
            assert!(
                checksums.contains(&format!("{sha}  {object}")),
                "{what}: listed set {id}: checksums.sha256 does not list {object} as {sha}:\n{checksums}"
            );
        }
    }
}

fn strings(array: &Value, field: &str) -> Vec<String> {
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array}"))
        .iter()
        .map(|v| v[field].as_str().expect("a string").to_string())
        .collect()
}

/// Counts of verdicts, printed at the end of a sweep.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, u32>,
    started: Option<Instant>,
}

impl Tally {
    fn start() -> Tally {
        Tally {
            started: Some(Instant::now()),
            ..Tally::default()
        }
    }

    fn add(&mut self, verdict: Verdict, what: &str, out: &Output) {
        let name = match verdict {
            Verdict::Failed => "failed",
            Verdict::Absorbed => "absorbed with a warning",
            Verdict::NotReached => "not reached",
            Verdict::Harmless => "an empty folder left",
        };
        *self.counts.entry(name).or_default() += 1;
        eprintln!("{what}: exit {}, {name}", code(out));
    }

    fn finish(&self, name: &str, n: usize) {
        eprintln!(
            "fault sweep {name}: {n} calls, {:?} in {:.1?}",
            self.counts,
            self.started.map(|s| s.elapsed()).unwrap_or_default()
        );
        assert!(
            self.counts.get("failed").copied().unwrap_or(0) > 0,
            "{name}: no fault failed the run: the sweep did not inject anything"
        );
    }
}

// --- the sweeps -------------------------------------------------------------------------------

/// A backup with one good set already there. Faulted: non-zero (or absorbed), the good set
/// untouched, nothing complete-looking and broken. Re-run: `backup --resume` if the set was
/// spooled, else `backup`; garbage aged and pruned; then the same sets as after an unfaulted
/// backup, nothing in the spool or in temporary folders.
fn backup_sweep(repo: RepoKind) {
    let fx = Fixture::new("backup", repo, "keep_last = 100\nmin_age = \"0s\"");
    let good = fx.app.backup();
    fx.assert_verify_all("the good set");
    let verified = fx.files();
    fx.save();
    let calls = fx.counted(&["backup"]);
    let reference = fx.state("unfaulted backup");
    assert_eq!(reference.complete.len(), 2, "{reference:?}");
    assert!(!reference.has_garbage(), "{reference:?}");
    fx.assert_verify_all("unfaulted backup");

    let mut tally = Tally::start();
    for k in chosen(&calls, CI_BUDGET_BACKUP) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&["backup"], k);
        tally.add(verdict, &what, &out);
        let files = fx.files();
        let listed = fx.assert_listed_sets_are_whole(&what, &files, &verified);
        assert!(
            listed.contains(&good),
            "{what}: the good set {good} is not listed"
        );
        assert_eq!(
            set_files(&files, &good),
            set_files(&verified, &good),
            "{what}: the good set {good} changed"
        );
        fx.state(&what);

        if verdict == Verdict::Failed {
            let rerun: &[&str] = if code(&out) == EXIT_SPOOLED {
                &["backup", "--resume"]
            } else {
                &["backup"]
            };
            let again = fx.app.lifeboat(rerun);
            assert_eq!(
                code(&again),
                EXIT_OK,
                "{what}: re-run {rerun:?}: {}",
                describe(&again)
            );
        }
        let state = fx.collect_garbage(&what);
        assert_eq!(
            state.shapes(),
            reference.shapes(),
            "{what}: after the re-run the sets differ from an unfaulted backup's: {state:?}"
        );
        let files = fx.files();
        for id in state.complete.keys() {
            assert_whole(&what, &fx.app, &files, id);
        }
        fx.assert_no_leftovers(&what);
    }
    tally.finish(&fx.name, calls.len());
}

#[test]
fn backup_to_s3() {
    backup_sweep(RepoKind::S3);
}

#[test]
fn backup_to_a_local_repository() {
    backup_sweep(RepoKind::Local);
}

/// `backup --resume` of a set spooled while S3 was down. Faulted: exit 5 (the set still waits
/// in the spool), nothing complete-looking and broken. Re-run: the set is in S3, whole, and
/// gone from the spool, as after an unfaulted resume.
#[test]
fn resume_of_a_spooled_set() {
    let mut fx = Fixture::new(
        "backup --resume",
        RepoKind::S3,
        "keep_last = 100\nmin_age = \"0s\"",
    );
    fx.app.backup();
    fx.app.s3_mut().expect("S3").stop();
    let out = fx.app.lifeboat(&["backup"]);
    fx.app.s3_mut().expect("S3").restart();
    assert_eq!(code(&out), EXIT_SPOOLED, "{}", describe(&out));
    fx.assert_verify_all("before the resume");
    let verified = fx.files();
    fx.save();
    let calls = fx.counted(&["backup", "--resume"]);
    let reference = fx.state("unfaulted resume");
    fx.assert_no_leftovers("unfaulted resume");
    fx.assert_verify_all("unfaulted resume");

    let mut tally = Tally::start();
    for k in chosen(&calls, CI_BUDGET) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&["backup", "--resume"], k);
        tally.add(verdict, &what, &out);
        fx.assert_listed_sets_are_whole(&what, &fx.files(), &verified);
        fx.state(&what);
        // Also after an absorbed fault: a spool that could not be read still holds the set.
        let again = fx.app.lifeboat(&["backup", "--resume"]);
        assert_eq!(
            code(&again),
            EXIT_OK,
            "{what}: re-run: {}",
            describe(&again)
        );
        let state = fx.collect_garbage(&what);
        assert_eq!(state, reference, "{what}: after the re-run");
        let files = fx.files();
        for id in state.complete.keys() {
            assert_whole(&what, &fx.app, &files, id);
        }
        fx.assert_no_leftovers(&what);
    }
    tally.finish(&fx.name, calls.len());
}

/// `verify --all` over two sets. Faulted: non-zero (the set whose object could not be read is
/// not "verified"), the repository byte for byte as it was. Re-run: both sets verify.
#[test]
fn verify_all_on_s3() {
    let fx = Fixture::new("verify --all", RepoKind::S3, "keep_last = 100");
    fx.app.backup();
    fx.app.backup();
    fx.save();
    let before = fx.files();
    let calls = fx.counted(&["verify", "--all"]);

    let mut tally = Tally::start();
    for k in chosen(&calls, CI_BUDGET) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&["verify", "--all"], k);
        tally.add(verdict, &what, &out);
        assert_eq!(fx.files(), before, "{what}: verify changed the repository");
        if verdict == Verdict::Failed {
            let again = fx.app.lifeboat(&["verify", "--all"]);
            assert_eq!(
                code(&again),
                EXIT_OK,
                "{what}: re-run: {}",
                describe(&again)
            );
        }
    }
    tally.finish(&fx.name, calls.len());
}

/// `prune --yes` with a pinned set, the newest set, two expired sets and an incomplete set
/// past its grace period. Faulted: non-zero; the pinned and the newest set (and the pin)
/// untouched; expired sets gone, untouched, or incomplete, never listed and broken. Re-run:
/// both repositories byte for byte as after an unfaulted prune.
fn prune_sweep(repo: RepoKind) {
    let fx = Fixture::new("prune --yes", repo, "keep_last = 1\nmin_age = \"0s\"");
    let ids: Vec<String> = (0..4).map(|_| fx.app.backup()).collect();
    let out = fx.app.lifeboat(&["pin", &ids[0], "--note", "legal hold"]);
    assert_eq!(code(&out), EXIT_OK, "{}", describe(&out));
    let garbage = "20200101T000000Z-dead";
    copy_set(&fx.app, &ids[1], garbage);
    std::fs::remove_file(fx.app.set_dir_local(garbage).join("manifest.json"))
        .expect("make the copied set incomplete");
    // Everything is older than the grace period, so garbage a faulted prune leaves (a set
    // whose manifest went first) is removed by the very next prune.
    age(&[fx.app.data_repo_root(), fx.app.secrets_repo_dir()]);
    fx.assert_verify_all("before the prune");
    let verified = fx.files();
    fx.save();
    let kept = |files: &Files| {
        let mut kept: Files = files
            .iter()
            .filter(|(k, _)| k.starts_with("data/pins/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        kept.extend(set_files(files, &ids[0]));
        kept.extend(set_files(files, &ids[3]));
        kept
    };
    let kept_before = kept(&verified);
    assert!(kept_before.keys().any(|k| k.starts_with("data/pins/")));

    let (out, calls) = fx.run(&["prune", "--yes", "--json"], None);
    assert_eq!(code(&out), EXIT_OK, "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("prune --json");
    assert_eq!(
        (
            &doc["outcome"]["deleted_sets"],
            &doc["outcome"]["deleted_garbage"]
        ),
        (
            &serde_json::json!([ids[1], ids[2]]),
            &serde_json::json!([garbage])
        ),
        "the unfaulted prune: {doc:#}"
    );
    let reference = fx.files();

    let mut tally = Tally::start();
    for k in chosen(&calls, CI_BUDGET) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&["prune", "--yes"], k);
        tally.add(verdict, &what, &out);
        let files = fx.files();
        assert_eq!(
            kept(&files),
            kept_before,
            "{what}: a kept set or a pin changed"
        );
        let listed = fx.assert_listed_sets_are_whole(&what, &files, &verified);
        for id in [&ids[0], &ids[3]] {
            assert!(listed.contains(id), "{what}: kept set {id} is not listed");
        }
        fx.state(&what);
        if verdict == Verdict::Failed {
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("nothing was deleted") || stderr.contains("prune --yes` again"),
                "{what}: the message says neither that nothing was deleted nor how to finish: {}",
                describe(&out)
            );
            let again = fx.app.lifeboat(&["prune", "--yes"]);
            assert_eq!(
                code(&again),
                EXIT_OK,
                "{what}: re-run: {}",
                describe(&again)
            );
        }
        assert_eq!(fx.files(), reference, "{what}: after the re-run");
    }
    tally.finish(&fx.name, calls.len());
}

#[test]
fn prune_on_s3() {
    prune_sweep(RepoKind::S3);
}

#[test]
fn prune_on_a_local_repository() {
    prune_sweep(RepoKind::Local);
}

/// A fingerprint of every table's rows in database `db` of the app's cluster.
fn db_fingerprint(app: &TestApp, db: &str) -> String {
    app.psql_db(
        db,
        "SELECT string_agg(t || ':' || h, ' ' ORDER BY t) FROM ( \
           SELECT 'User' AS t, md5(string_agg(u::text, ',' ORDER BY id)) AS h FROM \"User\" u \
           UNION ALL SELECT 'documents', md5(string_agg(d::text, ',' ORDER BY id)) FROM documents d \
           UNION ALL SELECT 'audit_log', md5(string_agg(a::text, ',' ORDER BY id)) FROM audit_log a \
           UNION ALL SELECT 'invoices', md5(string_agg(i::text, ',' ORDER BY number)) FROM billing.invoices i) x",
    )
}

/// Restores of one set from S3 into a scratch database and a scratch file tree, both changed
/// since the last restore (a row, a file). `restore --dry-run` and `restore --yes` faulted:
/// non-zero (or absorbed), the repository, the database and the files exactly as they were,
/// nothing left in the scratch directory. Re-run of the real restore: the database and files
/// are the set's again. The CI part runs the real restore at a third of the chosen calls (its
/// storage calls are the dry run's, which is swept at all of them).
#[test]
fn restore_from_s3() {
    let fx = Fixture::new("restore", RepoKind::S3, "keep_last = 100");
    let set = fx.app.backup();
    let target = fx.app.cluster().url("restored");
    let files_to = fx.app.root().join("restored-files");
    let files_arg = files_to.to_str().expect("UTF-8 path").to_string();
    let real: Vec<&str> = vec![
        "restore",
        &set,
        "--yes",
        "--no-safety-backup",
        "--target-url",
        &target,
        "--files-to",
        &files_arg,
        "--secrets-to",
        &files_arg,
    ];
    let dry: Vec<&str> = vec!["restore", &set, "--dry-run", "--target-url", &target];
    let source = db_fingerprint(&fx.app, "app");
    let real_calls = fx.counted(&real);
    assert_eq!(
        db_fingerprint(&fx.app, "restored"),
        source,
        "the unfaulted restore"
    );
    let restored_files = tree(&files_to);
    let marked_file = files_to.join(
        fx.app
            .files_dir()
            .join("README.txt")
            .strip_prefix("/")
            .expect("absolute"),
    );
    let mark = || {
        fx.app.psql_db(
            "restored",
            "UPDATE \"User\" SET name = 'changed since the restore' WHERE id = 1",
        );
        std::fs::write(&marked_file, "changed since the restore\n").expect("change a file");
        (db_fingerprint(&fx.app, "restored"), tree(&files_to))
    };
    let marked = mark();
    assert_ne!(marked.0, source);
    fx.save();
    let repo_before = fx.files();
    let scratch = fx.app.data_dir().join("scratch");
    let untouched = |fx: &Fixture, what: &str| {
        assert_eq!(fx.files(), repo_before, "{what}: the repository changed");
        assert_eq!(
            (db_fingerprint(&fx.app, "restored"), tree(&files_to)),
            marked,
            "{what}: the target changed"
        );
        let left = tree(&scratch);
        assert!(
            left.is_empty(),
            "{what}: left in the scratch directory: {left:?}"
        );
    };
    let dry_calls = fx.counted(&dry);
    untouched(&fx, "unfaulted dry run");

    let mut tally = Tally::start();
    for k in chosen(&dry_calls, CI_BUDGET) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&dry, k);
        tally.add(verdict, &what, &out);
        untouched(&fx, &what);
    }
    for k in chosen(&real_calls, CI_BUDGET_REAL_RESTORE) {
        fx.reset();
        let (verdict, out, what) = fx.faulted(&real, k);
        tally.add(verdict, &what, &out);
        if verdict == Verdict::Failed {
            untouched(&fx, &what);
            let again = fx.app.lifeboat(&real);
            assert_eq!(
                code(&again),
                EXIT_OK,
                "{what}: re-run: {}",
                describe(&again)
            );
        }
        assert_eq!(
            db_fingerprint(&fx.app, "restored"),
            source,
            "{what}: after the re-run"
        );
        assert_eq!(tree(&files_to), restored_files, "{what}: after the re-run");
        assert_eq!(fx.files(), repo_before, "{what}: the repository changed");
        assert_eq!(mark(), marked);
    }
    tally.finish(&fx.name, dry_calls.len() + real_calls.len());
}
