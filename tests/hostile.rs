//! Hostile input (issue 7): crafted archives, crafted manifests and malformed configurations
//! are refused with a clear message, never a panic, and nothing is written.
//!
//! - Archives: a files object that is a crafted tar (`..`, an absolute path, a symlink then a
//!   file through it, a device node, a hard link to outside), compressed with zstd and
//!   encrypted with `gpg --symmetric` and the app's passphrase, in a forged set whose manifest
//!   and checksums agree with it: `restore --dry-run` refuses it naming the entry; nothing is
//!   written.
//! - Manifests: wrong types, sizes of 1e30, an unknown format, object names with `/` or `..`,
//!   a 10 MB manifest: `list`, `inventory`, `verify` and `restore --dry-run` never panic, never
//!   change the repository, and say what is wrong with the set.
//! - Configurations: bad TOML, a wrong type, a relative path: exit 2 naming the file and what
//!   to change.
//! - Roots (issue 12): a set never decides where files go. A forged set whose manifest claims
//!   other roots (one outside the configuration, none, `/`) is refused by the dry run, the
//!   restore and `verify --decrypt`, which never records it as verified; `--map-root` re-maps
//!   explicitly. A symlink planted on disk inside the files root is never followed; directory
//!   entries above a root never touch what exists; owners and set-uid bits come back only
//!   with `--restore-owners`.

mod common;

use common::{describe, text};

use common::forge::{
    copy_set, forge_files_tar, gpg_symmetric, replace_files_object, set_manifest_roots,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::app::{AppOptions, TestApp};
use serde_json::Value;
use sha2::{Digest, Sha256};

use lifeboat::jobs::exit_code::CONFIG as EXIT_CONFIG;
const PANIC_EXIT: i32 = 101;

fn all_output(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn assert_no_panic(what: &str, out: &Output) {
    assert_ne!(
        out.status.code(),
        Some(PANIC_EXIT),
        "{what}: {}",
        describe(out)
    );
    assert!(
        out.status.code().is_some(),
        "{what} died of a signal: {}",
        describe(out)
    );
    assert!(
        !all_output(out).contains("panicked"),
        "{what} panicked: {}",
        describe(out)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn run_ok(what: &str, cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
    out.stdout
}

/// Every file under `root`: path -> SHA-256 of its bytes (or link target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        let path = entry.path().to_path_buf();
        let what = if entry.path_is_symlink() {
            format!("-> {:?}", std::fs::read_link(&path).ok())
        } else if entry.file_type().is_file() {
            sha256_hex(&std::fs::read(&path).unwrap_or_default())
        } else {
            "dir".to_string()
        };
        out.insert(path, what);
    }
    out
}

fn dump(app: &TestApp) -> String {
    let out = run_ok(
        "pg_dump",
        Command::new(app.pg_program("pg_dump"))
            .args(["--no-password", "-d"])
            .arg(app.url()),
    );
    text(&out)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One raw tar entry: the name and link target are written as raw header bytes, which the
/// `tar` crate's safe setters would refuse.
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    let (name, link) = (name.as_bytes(), link.as_bytes());
    assert!(name.len() < 100 && link.len() < 100, "names fit the header");
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_cksum();
    b.append(&h, data).expect("append a tar entry");
}

#[test]
fn crafted_archives_are_refused_naming_the_entry_and_nothing_is_written() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let time = set.split('-').next().expect("set time").to_string();
    let root = app
        .files_dir()
        .to_str()
        .expect("UTF-8 path")
        .trim_start_matches('/')
        .to_string();
    let outside = tempfile::tempdir().expect("a directory outside the roots");
    let out_rel = outside
        .path()
        .to_str()
        .expect("UTF-8")
        .trim_start_matches('/')
        .to_string();
    let files_before = snapshot(&app.files_dir());
    let dump_before = dump(&app);
    use tar::EntryType::*;
    // (suffix, entries, the entry the refusal must name, what the refusal must say)
    type Case = (
        &'static str,
        Vec<(tar::EntryType, String, String)>,
        String,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "0d0d",
            vec![(
                Regular,
                format!("{root}/../../../../{out_rel}/dotdot"),
                String::new(),
            )],
            format!("{root}/../../../../{out_rel}/dotdot"),
            "`..`",
        ),
        (
            "0abc",
            vec![(Regular, format!("/{out_rel}/absolute"), String::new())],
            format!("/{out_rel}/absolute"),
            "absolute",
        ),
        (
            "05e1",
            vec![
                (Symlink, format!("{root}/through"), format!("/{out_rel}")),
                (Regular, format!("{root}/through/planted"), String::new()),
            ],
            // The link itself may point anywhere; nothing may be written through it.
            format!("{root}/through/planted"),
            "symlink",
        ),
        (
            "05e2",
            vec![
                (Directory, format!("{root}/inner"), String::new()),
                (Symlink, format!("{root}/via"), "inner".to_string()),
                (Regular, format!("{root}/via/planted"), String::new()),
            ],
            format!("{root}/via/planted"),
            "symlink",
        ),
        (
            "0dee",
            vec![(Char, format!("{root}/tty"), String::new())],
            format!("{root}/tty"),
            "device",
        ),
        (
            "0b10",
            vec![(Block, format!("{root}/sda"), String::new())],
            format!("{root}/sda"),
            "device",
        ),
        (
            "01a1",
            vec![(Link, format!("{root}/hard"), "etc/shadow".to_string())],
            format!("{root}/hard"),
            "points out",
        ),
        (
            "01a2",
            vec![(
                Link,
                format!("{root}/hard2"),
                format!("{root}/../../../../etc/shadow"),
            )],
            format!("{root}/hard2"),
            "points out",
        ),
    ];
    for (suffix, entries, named, why) in cases {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(
            &mut b,
            Regular,
            &format!("{root}/README.txt"),
            "",
            b"harmless\n",
        );
        for (kind, name, link) in &entries {
            let data: &[u8] = if *kind == Regular { b"planted\n" } else { b"" };
            raw_entry(&mut b, *kind, name, link, data);
        }
        let tar = b.into_inner().expect("finish the tar");
        let compressed = zstd::encode_all(&tar[..], 3).expect("zstd");
        let stored = gpg_symmetric(&app, &compressed);
        let id = format!("{time}-{suffix}");
        copy_set(&app, &set, &id);
        replace_files_object(&app, &id, &stored, &compressed, tar.len() as u64);
        let repo_before = snapshot(&app.repo_dir());

        let out = app.lifeboat(&["restore", &id, "--dry-run"]);
        let what = format!("restore --dry-run of {id} ({entries:?})");
        assert_no_panic(&what, &out);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{what} accepted: {}",
            describe(&out)
        );
        let all = all_output(&out);
        assert!(
            all.contains(&named),
            "{what}: does not name {named}: {}",
            describe(&out)
        );
        assert!(
            all.contains(why),
            "{what}: does not say {why}: {}",
            describe(&out)
        );

        assert_eq!(
            snapshot(&app.files_dir()),
            files_before,
            "{what} wrote into the files"
        );
        assert_eq!(
            snapshot(&app.repo_dir()),
            repo_before,
            "{what} changed the repository"
        );
        assert!(
            std::fs::read_dir(outside.path())
                .expect("list")
                .next()
                .is_none(),
            "{what} wrote outside the roots"
        );
        let scratch = app.data_dir().join("scratch");
        let left: Vec<_> = walkdir::WalkDir::new(&scratch)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .map(|e| e.path().to_path_buf())
            .collect();
        assert!(
            left.is_empty(),
            "{what} left files in the scratch dir: {left:?}"
        );
    }
    assert!(dump(&app) == dump_before, "the database changed");
}

#[test]
fn crafted_manifests_are_reported_never_panic_and_touch_nothing() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let time = set.split('-').next().expect("set time").to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&set).join("manifest.json")).expect("read manifest"),
    )
    .expect("JSON");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut m = manifest.clone();
        edit(&mut m);
        serde_json::to_vec_pretty(&m).expect("render")
    };
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "7001",
            "wrong type",
            with(&|m| m["components"][0]["stored_bytes"] = Value::from("lots")),
        ),
        (
            "7002",
            "wrong type",
            with(&|m| m["components"] = Value::from("db")),
        ),
        (
            "7003",
            "huge size",
            String::from_utf8(with(&|m| {
                m["components"][0]["stored_bytes"] = Value::from(0)
            }))
            .expect("UTF-8")
            .replacen("\"stored_bytes\": 0", "\"stored_bytes\": 1e30", 1)
            .into_bytes(),
        ),
        (
            "7004",
            "unknown format",
            with(&|m| m["format"] = Value::from(99)),
        ),
        (
            "7005",
            "slash in object",
            with(&|m| m["components"][0]["object"] = Value::from("a/db.dump")),
        ),
        (
            "7006",
            "dotdot object",
            with(&|m| m["components"][0]["object"] = Value::from("../../../etc/passwd")),
        ),
        (
            "7007",
            "10 MB manifest",
            with(&|m| m["host"] = Value::from("x".repeat(10 * 1024 * 1024))),
        ),
        ("7008", "not JSON", b"\x00\xff{{{ not json".to_vec()),
    ];
    let ids: Vec<String> = cases
        .iter()
        .map(|(s, _, _)| format!("{time}-{s}"))
        .collect();
    for ((_, _, bytes), id) in cases.iter().zip(&ids) {
        copy_set(&app, &set, id);
        std::fs::write(app.set_dir_local(id).join("manifest.json"), bytes).expect("write");
    }
    let repo_before = snapshot(&app.repo_dir());
    let secrets_before = snapshot(&app.secrets_repo_dir());
    let dump_before = dump(&app);

    for args in [
        &["list"][..],
        &["inventory"],
        &["list", "--json"],
        &["inventory", "--json"],
    ] {
        let out = app.lifeboat(args);
        assert_no_panic(&format!("{args:?}"), &out);
        assert!(
            all_output(&out).contains(&set),
            "{args:?} lost the good set: {}",
            describe(&out)
        );
    }
    for ((_, what, _), id) in cases.iter().zip(&ids) {
        for args in [
            vec!["verify", id.as_str()],
            vec!["restore", id.as_str(), "--dry-run"],
        ] {
            let out = app.lifeboat(&args);
            let context = format!("{what}: lifeboat {args:?}");
            assert_no_panic(&context, &out);
            assert_ne!(
                out.status.code(),
                Some(0),
                "{context} accepted: {}",
                describe(&out)
            );
            let all = all_output(&out);
            assert!(
                all.contains("manifest") || all.contains("incomplete"),
                "{context} does not say the manifest is the problem: {}",
                describe(&out)
            );
            assert!(
                all.len() < 64 * 1024,
                "{context} printed {} bytes",
                all.len()
            );
        }
    }
    let out = app.lifeboat(&["verify", "--all"]);
    assert_no_panic("verify --all", &out);
    assert_eq!(
        snapshot(&app.repo_dir()),
        repo_before,
        "the repository changed"
    );
    assert_eq!(
        snapshot(&app.secrets_repo_dir()),
        secrets_before,
        "the secrets repository changed"
    );
    assert!(dump(&app) == dump_before, "the database changed");
}

#[test]
fn malformed_configs_exit_2_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let repo = dir.path().join("repo");
    let good = format!(
        "[source]\n\
         database_url = \"postgresql://postgres@127.0.0.1:1/app\"\n\
         files = [\"/var/lib/app/uploads\"]\n\
         \n\
         [repository]\n\
         url = \"file://{}\"\n\
         \n\
         [encryption]\n\
         mode = \"none\"\n\
         \n\
         [backup]\n\
         level = 3\n",
        repo.display()
    );
    let cases = [
        ("bad TOML", good.replace("[backup]", "[backup"), "line 11"),
        (
            "unknown key",
            good.replace("level = 3", "levle = 3"),
            "levle",
        ),
        (
            "wrong type",
            good.replace("level = 3", "level = \"three\""),
            "level",
        ),
        (
            "relative path",
            good.replace("/var/lib/app/uploads", "var/lib/app/uploads"),
            "not an absolute path",
        ),
    ];
    for (what, body, fix) in cases {
        std::fs::write(&config, &body).expect("write config");
        for args in [&["list"][..], &["verify", "--all"], &["backup"]] {
            let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                .arg("--config")
                .arg(&config)
                .args(args)
                .env("LIFEBOAT_DATA_DIR", dir.path().join("data"))
                .env("LIFEBOAT_STATE_DIR", dir.path().join("state"))
                .env_remove("LIFEBOAT_CONFIG")
                .stdin(Stdio::null())
                .output()
                .expect("run lifeboat");
            let context = format!("{what}: lifeboat {args:?}");
            assert_no_panic(&context, &out);
            assert_eq!(
                out.status.code(),
                Some(EXIT_CONFIG),
                "{context}: {}",
                describe(&out)
            );
            let err = text(&out.stderr);
            assert!(
                err.contains(&config.display().to_string()),
                "{context}: {err}"
            );
            assert!(err.contains(fix), "{context}: no `{fix}` in {err}");
        }
    }
    assert!(!repo.exists(), "nothing was attempted");
}

/// The verification records the journal holds for `id`: (ok, problems).
fn verifications(app: &TestApp, id: &str) -> Vec<(bool, String)> {
    std::fs::read_to_string(app.journal_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "verification" && v["set_id"] == id)
        .map(|v| (v["ok"] == true, v["problems"].to_string()))
        .collect()
}

fn tar_of(entries: &[(tar::EntryType, String, String)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name, link) in entries {
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"planted\n"
        } else {
            b""
        };
        raw_entry(&mut b, *kind, name, link, data);
    }
    b.into_inner().expect("finish the tar")
}

/// A set from the bucket claims its own roots: one outside the configuration (with an archive
/// that agrees, so only the roots check stands in the way), none at all, or `/`. The dry run,
/// the real restore and `verify --decrypt` all refuse, naming the difference and the fix;
/// nothing is written and no verification is recorded as passed. The operator's explicit
/// `--map-root` then restores the real set's tree somewhere else, end to end.
#[test]
fn a_set_never_decides_where_files_go() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let time = set.split('-').next().expect("set time").to_string();
    let files = app.files_dir();
    let files_str = files.to_str().expect("UTF-8 path").to_string();
    let outside = tempfile::tempdir().expect("a directory outside the roots");
    let out_abs = outside.path().to_str().expect("UTF-8").to_string();
    let out_rel = out_abs.trim_start_matches('/').to_string();
    let files_before = snapshot(&files);
    let dump_before = dump(&app);
    let restore_db = app.cluster().url("must_not_exist");

    // (suffix, manifest roots, archive entries, what the refusal must say)
    type Case = (
        &'static str,
        Vec<String>,
        Vec<(tar::EntryType, String, String)>,
        Vec<String>,
    );
    let cases: Vec<Case> = vec![
        (
            "a001",
            vec![out_abs.clone()],
            vec![
                (tar::EntryType::Directory, out_rel.clone(), String::new()),
                (
                    tar::EntryType::Regular,
                    format!("{out_rel}/planted"),
                    String::new(),
                ),
            ],
            vec![
                format!("only in the set: {out_abs}"),
                format!("only in the configuration: {files_str}"),
                "[source].files".into(),
                "--map-root OLD=NEW".into(),
            ],
        ),
        (
            "a002",
            vec![files_str.clone(), out_abs.clone()],
            vec![(
                tar::EntryType::Regular,
                format!("{out_rel}/planted"),
                String::new(),
            )],
            vec![format!("only in the set: {out_abs}")],
        ),
        (
            "a003",
            vec![],
            vec![(
                tar::EntryType::Regular,
                format!("{out_rel}/planted"),
                String::new(),
            )],
            vec!["lists no files roots".into()],
        ),
        (
            "a004",
            vec!["/".into()],
            vec![(
                tar::EntryType::Regular,
                format!("{out_rel}/planted"),
                String::new(),
            )],
            vec!["`/` is the whole file system".into()],
        ),
        (
            "a005",
            vec![String::new()],
            vec![(
                tar::EntryType::Regular,
                format!("{out_rel}/planted"),
                String::new(),
            )],
            vec!["an empty path".into()],
        ),
    ];
    for (suffix, roots, entries, says) in cases {
        let id = format!("{time}-{suffix}");
        copy_set(&app, &set, &id);
        forge_files_tar(&app, &id, &tar_of(&entries));
        let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
        set_manifest_roots(&app, &id, &roots, None);
        let repo_before = snapshot(&app.repo_dir());
        for args in [
            vec!["restore", &id, "--dry-run"],
            vec![
                "restore",
                &id,
                "--yes",
                "--no-safety-backup",
                "--target-url",
                &restore_db,
            ],
            vec!["verify", &id, "--decrypt"],
        ] {
            let what = format!("{} of {id} (roots {roots:?})", args.join(" "));
            let out = app.lifeboat(&args);
            assert_no_panic(&what, &out);
            assert_ne!(
                out.status.code(),
                Some(0),
                "{what} accepted: {}",
                describe(&out)
            );
            let all = all_output(&out);
            for needle in &says {
                assert!(
                    all.contains(needle.as_str()),
                    "{what}: does not say {needle}: {}",
                    describe(&out)
                );
            }
            assert!(!all.contains("can succeed"), "{what}: {}", describe(&out));
            assert!(
                std::fs::read_dir(outside.path())
                    .expect("list")
                    .next()
                    .is_none(),
                "{what} wrote outside the configured roots"
            );
            assert_eq!(
                snapshot(&files),
                files_before,
                "{what} wrote into the files"
            );
            assert_eq!(
                snapshot(&app.repo_dir()),
                repo_before,
                "{what} changed the repository"
            );
        }
        let records = verifications(&app, &id);
        assert!(
            !records.is_empty(),
            "verify --decrypt of {id} was not journaled"
        );
        assert!(
            records.iter().all(|(ok, _)| !ok),
            "{id} was recorded as verified: {records:?}"
        );
        assert!(
            records.iter().any(|(_, p)| p.contains("refused")),
            "the journal does not say why {id} failed: {records:?}"
        );
    }
    // The drill reads the archive through the same walk: the first forged set fails it in
    // the decrypt phase, with the same reason, before pg_restore.
    let forged = format!("{time}-a001");
    let (code, record) = app.lifeboat_json(&["drill", &forged]);
    assert_ne!(code, 0, "the drill of {forged} passed: {record:#}");
    assert_eq!(record["passed"], false, "{record:#}");
    assert!(
        record["reasons"]
            .to_string()
            .contains(&format!("only in the set: {out_abs}")),
        "the drill does not say why: {record:#}"
    );
    let phases: Vec<(String, bool)> = record["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["ok"] == true,
            )
        })
        .collect();
    assert!(
        phases.contains(&("decrypt".to_string(), false))
            && !phases.iter().any(|(n, _)| n == "restore"),
        "the drill went past the refusal: {phases:?}"
    );
    assert!(dump(&app) == dump_before, "the database changed");
    assert!(
        !app.psql("SELECT datname FROM pg_database")
            .contains("must_not_exist"),
        "a refused restore created the target database"
    );

    // The real set: verify --decrypt passes (same roots as configured), and --map-root puts
    // its tree where the operator says, leaving the configured root alone.
    let out = app.lifeboat(&["verify", &set, "--decrypt"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(verifications(&app, &set).iter().any(|(ok, _)| *ok));
    let elsewhere = app.root().join("re-mapped").join("uploads-root");
    let map = format!("{files_str}={}", elsewhere.display());
    let copy = app.cluster().url("remapped");
    let out = app.lifeboat(&[
        "restore",
        &set,
        "--map-root",
        &map,
        "--dry-run",
        "--target-url",
        &copy,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        all_output(&out).contains(&format!("{files_str} -> {}", elsewhere.display())),
        "the plan shows the re-mapped root: {}",
        describe(&out)
    );
    let out = app.lifeboat(&[
        "restore",
        &set,
        "--map-root",
        &map,
        "--yes",
        "--no-safety-backup",
        "--target-url",
        &copy,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        snapshot(&elsewhere).len(),
        files_before.len(),
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read(elsewhere.join("README.txt")).expect("the re-mapped tree"),
        std::fs::read(files.join("README.txt")).expect("the source tree")
    );
    assert_eq!(
        snapshot(&files),
        files_before,
        "the configured root was touched"
    );
    // A typo in OLD is refused, not silently ignored.
    let out = app.lifeboat(&[
        "restore",
        &set,
        "--map-root",
        "/no/such/root=/tmp/x",
        "--dry-run",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        all_output(&out).contains("no such root"),
        "{}",
        describe(&out)
    );
}

fn mode_of(path: &Path) -> (u32, i64, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.mtime(), m.uid())
}

/// What is already on disk is never taken for part of the set: a directory inside the files
/// root replaced by a symlink to elsewhere (by a local user, say) stops the dry run and the
/// restore, naming it, and nothing lands where it points. Directory entries above a root
/// leave an existing directory's mode, mtime and owner alone. Owners and the set-uid bit come
/// back only with `--restore-owners`.
#[test]
fn what_is_on_disk_is_never_followed_and_owners_need_asking() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let files = app.files_dir();
    let outside = tempfile::tempdir().expect("a directory the link points to");

    // 1. uploads/2024 (which the set holds) is now a link out of the tree.
    let moved = app.root().join("moved-2024");
    std::fs::rename(files.join("uploads/2024"), &moved).expect("move uploads/2024");
    std::os::unix::fs::symlink(outside.path(), files.join("uploads/2024")).expect("plant the link");
    let before = snapshot(&files);
    let named = files.join("uploads/2024").display().to_string();
    for args in [
        vec!["restore", &set, "--dry-run"],
        vec!["restore", &set, "--yes", "--no-safety-backup"],
    ] {
        let what = args.join(" ");
        let out = app.lifeboat(&args);
        assert_no_panic(&what, &out);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{what} accepted: {}",
            describe(&out)
        );
        let all = all_output(&out);
        assert!(
            all.contains(&named),
            "{what}: does not name {named}: {}",
            describe(&out)
        );
        assert!(
            all.contains("symlink on disk"),
            "{what}: {}",
            describe(&out)
        );
        assert!(
            std::fs::read_dir(outside.path())
                .expect("list")
                .next()
                .is_none(),
            "{what} wrote through the planted link"
        );
        assert_eq!(snapshot(&files), before, "{what} changed the files");
    }
    std::fs::remove_file(files.join("uploads/2024")).expect("remove the link");
    std::fs::rename(&moved, files.join("uploads/2024")).expect("put uploads/2024 back");

    // 2. A forged archive with entries for the root's parents and a set-uid file owned by
    //    someone else, restored under a scratch destination with --files-to.
    let time = set.split('-').next().expect("set time").to_string();
    let id = format!("{time}-0a11");
    copy_set(&app, &set, &id);
    let rel = files
        .to_str()
        .expect("UTF-8")
        .trim_start_matches('/')
        .to_string();
    let top = rel
        .split('/')
        .next()
        .expect("a first component")
        .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut entry = |kind: tar::EntryType, name: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_000_000_000);
        h.set_uid(4321);
        h.set_gid(4322);
        h.set_path(name).expect("a tar path");
        h.set_cksum();
        b.append(&h, data).expect("append");
    };
    let mut parent = String::new();
    for part in rel.split('/') {
        parent = if parent.is_empty() {
            part.to_string()
        } else {
            format!("{parent}/{part}")
        };
        if parent != rel {
            entry(tar::EntryType::Directory, &parent, 0o777, b"");
        }
    }
    entry(tar::EntryType::Directory, &rel, 0o755, b"");
    entry(
        tar::EntryType::Regular,
        &format!("{rel}/suid"),
        0o4755,
        b"#!/bin/sh\n",
    );
    forge_files_tar(&app, &id, &b.into_inner().expect("finish the tar"));

    for (n, flag) in [(1, None), (2, Some("--restore-owners"))] {
        let dest = app.root().join(format!("dest-{n}"));
        // Every parent of the root exists already (so creating the root adds nothing to
        // `existing`), with its own mode and an old mtime that a parent entry must not touch.
        let existing = dest.join(&top);
        let root_parent = dest.join(&rel);
        let root_parent = root_parent.parent().expect("the root has a parent");
        std::fs::create_dir_all(root_parent).expect("the existing parents");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
        std::fs::File::open(&existing)
            .and_then(|f| f.set_times(std::fs::FileTimes::new().set_modified(old)))
            .expect("an old mtime");
        let parent_before = mode_of(&existing);
        let dest_arg = dest.to_str().expect("UTF-8").to_string();
        let db = app.cluster().url(&format!("owners_{n}"));
        let mut args = vec![
            "restore",
            &id,
            "--yes",
            "--no-safety-backup",
            "--target-url",
            &db,
            "--files-to",
            &dest_arg,
            "--secrets-to",
            &dest_arg,
        ];
        args.extend(flag);
        let out = app.lifeboat(&args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert_eq!(
            mode_of(&existing),
            parent_before,
            "{args:?}: a parent entry changed {}",
            existing.display()
        );
        let suid = mode_of(&dest.join(&rel).join("suid"));
        match flag {
            None => assert_eq!(
                (suid.0, suid.2),
                (0o755, 0),
                "no set-uid bit, no owner without asking"
            ),
            Some(_) => assert_eq!(
                (suid.0, suid.2),
                (0o4755, 4321),
                "asked: owner and set-uid bit"
            ),
        }
        assert_eq!(suid.1, 1_000_000_000);
    }
}
