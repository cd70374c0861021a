//! The repository lock across hosts (issue 16, point 1): two "hosts" are two state and data
//! directories with two `LIFEBOAT_HOSTNAME`s writing one repository, on s3s-fs, on moto (a second
//! S3 implementation), and on a local directory. Backups started together: one runs, the other
//! exits 4 naming the first; a prune on B while A backs up refuses and deletes nothing; a holder
//! killed with SIGKILL leaves a lease that expires, and the next run takes over with a warning.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::app::{AppOptions, Enc, RepoKind, TestApp};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const EXIT_OK: i32 = 0;
const EXIT_LOCKED: i32 = 4;
const LEASE_ENV: &str = "LIFEBOAT_LOCK_LEASE_SECS";

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn app(repo: RepoKind, moto: bool) -> TestApp {
    let opts = AppOptions {
        repo,
        encryption: Enc::None,
        secrets: false,
    };
    if moto {
        TestApp::on_moto(opts)
    } else {
        TestApp::new(opts)
    }
}

/// One simulated host: its own name, and (for B) its own state and data directories.
struct Host<'a> {
    app: &'a TestApp,
    name: &'static str,
    dirs: Option<tempfile::TempDir>,
    lease_secs: Option<u64>,
}

impl<'a> Host<'a> {
    /// Host A: the app's own directories.
    fn a(app: &'a TestApp) -> Host<'a> {
        Host {
            app,
            name: "host-a.test",
            dirs: None,
            lease_secs: None,
        }
    }

    /// Host B: directories of its own.
    fn b(app: &'a TestApp) -> Host<'a> {
        let dirs = tempfile::Builder::new()
            .prefix("lifeboat-host-b-")
            .tempdir()
            .expect("host B's directories");
        Host {
            app,
            name: "host-b.test",
            dirs: Some(dirs),
            lease_secs: None,
        }
    }

    fn with_lease(mut self, secs: u64) -> Host<'a> {
        self.lease_secs = Some(secs);
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.app.command(args);
        cmd.env("LIFEBOAT_HOSTNAME", self.name);
        if let Some(dirs) = &self.dirs {
            cmd.env("LIFEBOAT_DATA_DIR", dirs.path().join("data"))
                .env("LIFEBOAT_STATE_DIR", dirs.path().join("state"));
        }
        if let Some(secs) = self.lease_secs {
            cmd.env(LEASE_ENV, secs.to_string());
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run lifeboat {args:?} on {}: {e}", self.name))
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn lifeboat {args:?} on {}: {e}", self.name))
    }
}

fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!("{what} did not finish within {limit:?}\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The repository's lock object as JSON, if there is one.
fn lock_record(app: &TestApp) -> Option<Value> {
    let bytes = match app.s3() {
        Some(s3) => {
            let key = s3
                .list_keys()
                .into_iter()
                .find(|k| k.ends_with("locks/repository.lock"))?;
            let (status, body) = s3.signed_request("GET", &format!("/{}/{key}", s3.bucket()));
            if status != 200 {
                return None;
            }
            body.into_bytes()
        }
        None => std::fs::read(app.repo_dir().join("locks/repository.lock")).ok()?,
    };
    serde_json::from_slice(&bytes).ok()
}

fn lock_holder_is(app: &TestApp, host: &str) -> bool {
    lock_record(app).is_some_and(|r| r["host"] == host)
}

/// The repository's object keys (S3) or files (local), the lock's own files (which its
/// holder rewrites) left out.
fn repository_objects(app: &TestApp) -> Vec<String> {
    let all: Vec<String> = match app.s3() {
        Some(s3) => s3.list_keys(),
        None => walkdir::WalkDir::new(app.repo_dir())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().display().to_string())
            .collect(),
    };
    all.into_iter().filter(|k| !k.contains("locks/")).collect()
}

/// Complete sets as `lifeboat list --json` shows them.
fn complete_sets(app: &TestApp) -> Vec<String> {
    let (status, list) = app.lifeboat_json(&["list"]);
    assert_eq!(status, EXIT_OK, "list: {list:#}");
    list["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .map(|s| s["set_id"].as_str().expect("set_id").to_string())
        .collect()
}

fn warnings(out: &Output) -> String {
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    format!(
        "{}\n{}",
        json["warnings"],
        String::from_utf8_lossy(&out.stderr)
    )
}

const ADVISORY: &str = "advisory only";

/// Backups on A and B started together: exactly one runs; the other exits 4 naming the first's
/// host and pid. Returns whether the server made the lock advisory (then both may run, and
/// each says the lock is advisory).
fn backups_started_together(app: &TestApp) -> bool {
    app.add_bulk_files(1, 32 * MIB);
    let (a, b) = (Host::a(app), Host::b(app));
    let first = a.spawn(&["backup", "--json"]);
    let second = b.spawn(&["backup", "--json"]);
    let pids = [first.id(), second.id()];
    let outs = [
        wait_output(first, Duration::from_secs(180), "backup on A"),
        wait_output(second, Duration::from_secs(180), "backup on B"),
    ];
    let names = [a.name, b.name];
    let codes: Vec<i32> = outs.iter().map(code).collect();
    if outs.iter().any(|o| warnings(o).contains(ADVISORY)) {
        for (out, name) in outs.iter().zip(names) {
            if code(out) == EXIT_OK {
                assert!(
                    warnings(out).contains(ADVISORY),
                    "{name} ran without saying the lock is advisory only:\n{}",
                    text(out)
                );
            }
        }
        return true;
    }
    let winner = codes.iter().position(|&c| c == EXIT_OK);
    let loser = codes.iter().position(|&c| c == EXIT_LOCKED);
    let (Some(winner), Some(loser)) = (winner, loser) else {
        panic!(
            "expected one 0 and one 4, got {codes:?}\nA:\n{}\nB:\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
    };
    let refused = text(&outs[loser]);
    assert!(
        refused.contains(&format!("pid {} on {}", pids[winner], names[winner])),
        "the refusal names {} and pid {}:\n{refused}",
        names[winner],
        pids[winner]
    );
    assert_eq!(complete_sets(app).len(), 1, "only the winner's set");
    assert_eq!(lock_record(app), None, "the winner released the lock");
    false
}

/// A prune on B while A backs up refuses (exit 4, naming A) and deletes nothing.
fn prune_while_backing_up(app: &TestApp) {
    let (a, b) = (Host::a(app), Host::b(app));
    // Two sets and a policy that keeps one: a prune free to run would delete the older set.
    app.write_raw_config(&format!(
        "{}\n[retention]\nkeep_last = 1\nmin_age = \"0s\"\n",
        app.config_text()
    ));
    for _ in 0..2 {
        let out = a.run(&["backup"]);
        assert_eq!(code(&out), EXIT_OK, "a first backup:\n{}", text(&out));
    }
    let preview = b.run(&["prune", "--json"]);
    assert!(
        String::from_utf8_lossy(&preview.stdout).contains("\"keep\": false"),
        "the policy lets a set go:\n{}",
        text(&preview)
    );
    app.add_bulk_files(1, 48 * MIB);
    let running = a.spawn(&["backup", "--json"]);
    let pid = running.id();
    wait_for(Duration::from_secs(60), "A to hold the lock", || {
        lock_holder_is(app, a.name)
    });
    let before = repository_objects(app);
    let pruned = b.run(&["prune", "--yes", "--json"]);
    let after = repository_objects(app);
    assert_eq!(code(&pruned), EXIT_LOCKED, "prune on B:\n{}", text(&pruned));
    assert!(
        text(&pruned).contains(&format!("pid {pid} on {}", a.name)),
        "the refusal names A's backup:\n{}",
        text(&pruned)
    );
    let gone: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
    assert!(gone.is_empty(), "prune on B deleted {gone:?}");
    let done = wait_output(running, Duration::from_secs(180), "backup on A");
    assert_eq!(code(&done), EXIT_OK, "A's backup:\n{}", text(&done));
    assert_eq!(complete_sets(app).len(), 3, "every set of A's is whole");
}

/// A holder killed with SIGKILL: its lease binds B until it runs out, then B takes over with a
/// warning naming A's run.
fn killed_holder_is_taken_over(app: &TestApp) {
    const LEASE: u64 = 20;
    let (a, b) = (
        Host::a(app).with_lease(LEASE),
        Host::b(app).with_lease(LEASE),
    );
    app.add_bulk_files(2, 48 * MIB);
    let mut running = a.spawn(&["backup"]);
    let pid = running.id();
    wait_for(Duration::from_secs(60), "A to hold the lock", || {
        lock_holder_is(app, a.name)
    });
    running.kill().expect("SIGKILL the backup on A");
    running.wait().expect("reap the backup on A");
    let record = lock_record(app).expect("a killed holder leaves its lock object");
    let expires: DateTime<Utc> = record["lease_expires_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("lease_expires_at in {record:#}"));

    let refused = b.run(&["backup", "--json"]);
    assert!(
        !warnings(&refused).contains(ADVISORY),
        "both servers honour conditional writes:\n{}",
        text(&refused)
    );
    assert!(
        Utc::now() < expires,
        "the check ran after the lease ran out; the machine is too slow for this test"
    );
    assert_eq!(
        code(&refused),
        EXIT_LOCKED,
        "B while A's lease runs:\n{}",
        text(&refused)
    );
    assert!(text(&refused).contains(&format!("pid {pid} on {}", a.name)));

    // Wait out the lease as the record states it (plus a second of clock granularity).
    let left = (expires - Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(left + Duration::from_secs(1));
    let out = b.run(&["backup", "--json"]);
    assert_eq!(
        code(&out),
        EXIT_OK,
        "B after the lease ran out:\n{}",
        text(&out)
    );
    let warned = warnings(&out);
    assert!(
        warned.contains("took over a stale lock left by backup")
            && warned.contains(&format!("pid {pid} on {}", a.name)),
        "B warns it took over A's lock:\n{warned}"
    );
    assert_eq!(lock_record(app), None, "B released the lock");
}

#[test]
fn s3s_fs_backups_started_together_one_runs_the_other_exits_4() {
    let app = app(RepoKind::S3, false);
    assert!(
        !backups_started_together(&app),
        "s3s-fs honours conditional writes: the lock is not advisory"
    );
}

#[test]
fn s3s_fs_prune_on_b_while_a_backs_up_refuses_and_deletes_nothing() {
    prune_while_backing_up(&app(RepoKind::S3, false));
}

#[test]
fn s3s_fs_killed_holders_lease_expires_and_is_taken_over() {
    killed_holder_is_taken_over(&app(RepoKind::S3, false));
}

#[test]
fn moto_backups_started_together_one_runs_the_other_exits_4() {
    // moto implements If-None-Match and If-Match on PUT; a server that ignores them makes the
    // lock advisory, which `lock::remote`'s unit tests check with a store that ignores them.
    let app = app(RepoKind::S3, true);
    assert!(
        !backups_started_together(&app),
        "moto honours conditional writes: the lock is not advisory"
    );
}

#[test]
fn pin_on_b_while_a_backs_up_is_refused_and_goes_through_after() {
    let app = app(RepoKind::S3, false);
    let (a, b) = (Host::a(&app), Host::b(&app));
    let set = app.backup();
    app.add_bulk_files(1, 48 * MIB);
    let running = a.spawn(&["backup"]);
    let pid = running.id();
    wait_for(Duration::from_secs(60), "A to hold the lock", || {
        lock_holder_is(&app, a.name)
    });
    let refused = b.run(&["pin", &set, "--note", "legal hold"]);
    assert_eq!(code(&refused), EXIT_LOCKED, "{}", text(&refused));
    assert!(text(&refused).contains(&format!("pid {pid} on {}", a.name)));
    let done = wait_output(running, Duration::from_secs(180), "backup on A");
    assert_eq!(code(&done), EXIT_OK, "{}", text(&done));
    let pinned = b.run(&["pin", &set, "--note", "legal hold"]);
    assert_eq!(code(&pinned), EXIT_OK, "{}", text(&pinned));
    assert_eq!(lock_record(&app), None, "the pin released the lock");
}

#[test]
fn moto_prune_on_b_while_a_backs_up_refuses_and_deletes_nothing() {
    prune_while_backing_up(&app(RepoKind::S3, true));
}

#[test]
fn moto_killed_holders_lease_expires_and_is_taken_over() {
    killed_holder_is_taken_over(&app(RepoKind::S3, true));
}

#[test]
fn local_backups_started_together_one_runs_the_other_exits_4() {
    let app = app(RepoKind::Local, false);
    assert!(
        !backups_started_together(&app),
        "a local lock is never advisory"
    );
}

#[test]
fn local_prune_on_b_while_a_backs_up_refuses_and_deletes_nothing() {
    prune_while_backing_up(&app(RepoKind::Local, false));
}

#[test]
fn status_on_b_names_the_backup_running_on_a() {
    let app = app(RepoKind::S3, false);
    let (a, b) = (Host::a(&app), Host::b(&app));
    app.add_bulk_files(1, 48 * MIB);
    let running = a.spawn(&["backup"]);
    let pid = running.id();
    wait_for(Duration::from_secs(60), "A to hold the lock", || {
        lock_holder_is(&app, a.name)
    });
    let out = b.run(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["lock_holder"]["host"], a.name, "{status:#}");
    assert_eq!(status["lock_holder"]["pid"], pid, "{status:#}");
    let done = wait_output(running, Duration::from_secs(180), "backup on A");
    assert_eq!(code(&done), EXIT_OK, "{}", text(&done));
}
